// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Panic containment: a panic on any VMM thread (a vCPU thread, the timer
//! thread, the console-input thread) ends the VM promptly with a VMM error
//! naming the thread; the other threads stop, and pausing or snapshotting
//! the VM afterwards never waits for the dead thread. The panics come from
//! the VMM's test hook (`VmShared::debug_panic`).

mod common;

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::vm::{PANIC_INPUT_THREAD, PANIC_TIMER_THREAD};
use xen_vmm::{Error, ExitReason, Kernel, Vm, VmConfig};

const COUNTER: u64 = DATA;

fn read(vm: &Vm, gpa: u64) -> u64 {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

/// Both vCPUs count in a loop forever.
fn spinning_guest() -> Vec<u8> {
    let mut g = Guest::new64();
    let mut top = g.a.create_label();
    g.a.set_label(&mut top).unwrap();
    g.a.mov(rcx, COUNTER).unwrap();
    g.a.lock().inc(qword_ptr(rcx)).unwrap();
    g.a.jmp(top).unwrap();
    g.assemble()
}

/// vCPU 0 runs a 1 ms periodic timer; every vCPU idles in HLT.
fn timer_guest() -> Vec<u8> {
    let mut g = Guest::new64();
    g.hypercall_page();
    g.store64(ARGS, 1_000_000);
    g.hcall(24, &[6, 0, ARGS]); // VCPUOP_set_periodic_timer(vCPU 0)
    let mut idle = g.a.create_label();
    g.a.set_label(&mut idle).unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();
    g.assemble()
}

fn vm(image: Vec<u8>, input: Option<Box<dyn Read + Send>>) -> Vm {
    let mut cfg = VmConfig::new(Kernel::Raw64(image));
    cfg.vcpus = 2;
    cfg.mem_mib = 16;
    cfg.output = Box::new(std::io::sink());
    cfg.console_input = input;
    Vm::new(cfg).unwrap()
}

/// Runs `vm`, calls `during` while it runs, and returns what `Vm::run`
/// returned; a run that does not end within the hang guard fails the test.
fn run_and(vm: &Vm, during: impl FnOnce()) -> xen_vmm::Result<ExitReason> {
    std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        during();
        let start = Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(60) {
                vm.shared().finish(ExitReason::Crash);
                let _ = h.join();
                panic!("the VM did not end after a VMM thread panicked");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().unwrap()
    })
}

/// Pausing and snapshotting the ended VM return (nothing waits for the
/// dead thread).
fn pause_and_snapshot_return(vm: &Vm) {
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut root = vm_lock::Root::new().unwrap();
            let _paused = vm.shared().pause_vcpus(root.token());
            vm.shared().resume_vcpus();
            let path = std::env::temp_dir().join(format!(
                "xen-vmm-panic-{}-{:?}.snap",
                std::process::id(),
                std::thread::current().id()
            ));
            let r = vm.snapshot(root.token(), &path);
            let _ = std::fs::remove_file(&path);
            r.map(|_| ())
        });
        let start = Instant::now();
        while !h.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "pause / snapshot waits for a dead thread"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().unwrap().unwrap();
    });
}

#[test]
fn a_panicking_vcpu_thread_ends_a_2_vcpu_vm_with_a_vmm_error() {
    if !require_kvm() {
        return;
    }
    let vm = vm(spinning_guest(), None);
    let r = run_and(&vm, || {
        let start = Instant::now();
        while read(&vm, COUNTER) < 10_000 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "guest not running"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        vm.shared()
            .debug_panic
            .store(1 << 1, std::sync::atomic::Ordering::SeqCst);
        vm.shared().kick(1);
    });
    match r {
        Err(Error::Vcpu(1, msg)) => {
            assert!(msg.contains("vcpu1") && msg.contains("panicked"), "{msg}");
        }
        other => panic!("expected a vCPU 1 error, got {other:?}"),
    }
    let f = vm.shared().vmm_failure().expect("failure recorded");
    assert_eq!(f.thread, "vcpu1");
    assert!(f.to_string().contains("debug_panic"), "{f}");
    // Both threads have counted themselves out.
    assert_eq!(
        vm.shared()
            .running
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(vm.shared().exit_reason(), Some(ExitReason::Crash));
    pause_and_snapshot_return(&vm);
}

#[test]
fn a_panicking_timer_thread_ends_the_vm_with_a_vmm_error() {
    if !require_kvm() {
        return;
    }
    let vm = vm(timer_guest(), None);
    vm.shared()
        .debug_panic
        .store(PANIC_TIMER_THREAD, std::sync::atomic::Ordering::SeqCst);
    match run_and(&vm, || {}) {
        Err(Error::Thread { thread, message }) => {
            assert_eq!(thread, "xen-timers");
            assert!(message.contains("panicked"), "{message}");
        }
        other => panic!("expected a timer-thread error, got {other:?}"),
    }
    pause_and_snapshot_return(&vm);
}

/// Console input fed by the test.
struct Input(mpsc::Receiver<Vec<u8>>);

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.recv() {
            Ok(b) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                Ok(n)
            }
            Err(_) => Ok(0),
        }
    }
}

#[test]
fn a_panicking_console_input_thread_ends_the_vm_with_a_vmm_error() {
    if !require_kvm() {
        return;
    }
    let (tx, rx) = mpsc::channel();
    // Halted vCPUs and no timer: only the failure can end this VM.
    let mut g = Guest::new64();
    let mut idle = g.a.create_label();
    g.a.set_label(&mut idle).unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();
    let vm = vm(g.assemble(), Some(Box::new(Input(rx))));
    vm.shared()
        .debug_panic
        .store(PANIC_INPUT_THREAD, std::sync::atomic::Ordering::SeqCst);
    let r = run_and(&vm, || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send(b"x".to_vec()).unwrap();
    });
    match r {
        Err(Error::Thread { thread, message }) => {
            assert_eq!(thread, "console-input");
            assert!(message.contains("panicked"), "{message}");
        }
        other => panic!("expected a console-input error, got {other:?}"),
    }
    pause_and_snapshot_return(&vm);
}
