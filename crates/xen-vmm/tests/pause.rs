// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Pausing every vCPU (the snapshot hook): `pause_vcpus` returns the proof
//! `lock_all_vcpus` needs to take every vCPU mutex, registers read, and the
//! guest makes no progress until `resume_vcpus`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use iced_x86::code_asm::*;
use vm_lock::{lock_all_vcpus, Root};
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const COUNTER: u64 = DATA;
const STOP: u64 = DATA + 0x40;

fn read(vm: &Vm, gpa: u64) -> u64 {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

fn wait_for(cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out");
        std::thread::sleep(Duration::from_millis(1));
    }
}

struct EndOnDrop<'a>(&'a Vm);

impl Drop for EndOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shared().resume_vcpus();
        self.0.shared().finish(ExitReason::Crash);
    }
}

#[test]
fn pause_lock_all_vcpus_resume() {
    if !require_kvm() {
        return;
    }
    // Both vCPUs count in a loop until STOP is set; vCPU 0 then powers off.
    let mut g = Guest::new64();
    g.hypercall_page();
    let mut top = g.a.create_label();
    let mut out = g.a.create_label();
    g.a.nop().unwrap();
    g.a.set_label(&mut top).unwrap();
    g.a.mov(rcx, COUNTER).unwrap();
    g.a.lock().inc(qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, STOP).unwrap();
    g.a.cmp(qword_ptr(rcx), 0).unwrap();
    g.a.jne(out).unwrap();
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut out).unwrap();
    g.shutdown(0);
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.vcpus = 2;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    let reason = std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        // Whatever happens below, end the VM so the scope can join.
        let _end = EndOnDrop(&vm);
        wait_for(|| read(&vm, COUNTER) > 1000);
        let shared = vm.shared();
        {
            let mut root = Root::new().unwrap();
            let paused = shared.pause_vcpus(root.token());
            let (_slots, mut t) = shared.map_update.lock(root.token());
            let (vcpus, mut t2) = lock_all_vcpus(&mut t, &paused);
            assert_eq!(vcpus.len(), 2);
            for v in &vcpus {
                let regs = v.fd.get_regs().unwrap();
                assert!(
                    regs.rip >= LOAD && regs.rip < LOAD + 0x1000,
                    "{:#x}",
                    regs.rip
                );
            }
            let (m, _t) = shared.mem.read(&mut t2);
            let a: u64 = m.read_obj(GuestAddress(COUNTER)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let b: u64 = m.read_obj(GuestAddress(COUNTER)).unwrap();
            assert_eq!(a, b, "no progress while paused");
        }
        let before = read(&vm, COUNTER);
        shared.resume_vcpus();
        wait_for(|| read(&vm, COUNTER) > before + 1000);
        {
            let mut root = Root::new().unwrap();
            let (m, _t) = shared.mem.read(root.token());
            m.write_obj(1u64, GuestAddress(STOP)).unwrap();
        }
        wait_for(|| h.is_finished());
        h.join().unwrap().unwrap()
    });
    assert_eq!(reason, ExitReason::Shutdown(0));
}
