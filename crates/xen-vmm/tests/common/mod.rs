// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Test support: KVM availability, guest assembly with iced-x86, running a
//! VM with a time limit and reading back guest memory.
#![allow(dead_code)]

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::{ExitReason, Irqchip, Kernel, Vm, VmConfig};

/// Hypercall page GPA used by test guests.
pub const PAGE: u64 = 0x1f_f000;
/// Result area.
pub const DATA: u64 = 0x20_0000;
/// shared_info GPA used by test guests.
pub const SHINFO: u64 = 0x30_0000;
/// Scratch area for hypercall argument structs.
pub const ARGS: u64 = 0x28_0000;
/// Where guest images are loaded.
pub const LOAD: u64 = 0x10_0000;

/// True if /dev/kvm can be used. Without it: panics when
/// XEN_ON_KVM_REQUIRE_KVM=1 (CI), otherwise prints a skip message.
pub fn require_kvm() -> bool {
    let ok = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !ok {
        if std::env::var("XEN_ON_KVM_REQUIRE_KVM").as_deref() == Ok("1") {
            panic!("/dev/kvm is not usable and XEN_ON_KVM_REQUIRE_KVM=1");
        }
        eprintln!("SKIPPED: /dev/kvm is not available");
    }
    ok
}

/// A guest program under construction.
pub struct Guest {
    /// The assembler (64 or 32 bits).
    pub a: CodeAssembler,
    /// Bitness.
    pub bits: u32,
}

impl Guest {
    /// A 64-bit guest (long mode, identity map).
    pub fn new64() -> Guest {
        Guest {
            a: CodeAssembler::new(64).unwrap(),
            bits: 64,
        }
    }

    /// A 32-bit guest (flat protected mode, no paging).
    pub fn new32() -> Guest {
        Guest {
            a: CodeAssembler::new(32).unwrap(),
            bits: 32,
        }
    }

    /// Writes the hypercall MSR so the page is filled at [`PAGE`].
    pub fn hypercall_page(&mut self) {
        self.a.mov(ecx, 0x4000_0000u32).unwrap();
        self.a.mov(eax, PAGE as u32).unwrap();
        self.a.xor(edx, edx).unwrap();
        self.a.wrmsr().unwrap();
    }

    /// Calls hypercall `nr` through the page (arguments already in registers).
    pub fn call(&mut self, nr: u64) {
        self.a.call(PAGE + nr * 32).unwrap();
    }

    /// Loads up to 3 arguments in the registers of this bitness.
    pub fn args(&mut self, args: &[u64]) {
        for (i, &v) in args.iter().enumerate() {
            if self.bits == 64 {
                let r = [rdi, rsi, rdx][i];
                self.a.mov(r, v).unwrap();
            } else {
                let r = [ebx, ecx, edx][i];
                self.a.mov(r, v as u32).unwrap();
            }
        }
    }

    /// Hypercall with arguments; result in rax/eax.
    pub fn hcall(&mut self, nr: u64, args: &[u64]) {
        self.args(args);
        self.call(nr);
    }

    /// Stores rax (64-bit) or eax (32-bit) at `addr`.
    pub fn store_result(&mut self, addr: u64) {
        if self.bits == 64 {
            self.a.mov(rcx, addr).unwrap();
            self.a.mov(qword_ptr(rcx), rax).unwrap();
        } else {
            self.a.mov(ecx, addr as u32).unwrap();
            self.a.mov(dword_ptr(ecx), eax).unwrap();
        }
    }

    /// Stores a 32-bit immediate at `addr`.
    pub fn store32(&mut self, addr: u64, v: u32) {
        if self.bits == 64 {
            self.a.mov(rcx, addr).unwrap();
            self.a.mov(dword_ptr(rcx), v).unwrap();
        } else {
            self.a.mov(ecx, addr as u32).unwrap();
            self.a.mov(dword_ptr(ecx), v).unwrap();
        }
    }

    /// Stores a 64-bit immediate at `addr`.
    pub fn store64(&mut self, addr: u64, v: u64) {
        self.store32(addr, v as u32);
        self.store32(addr + 4, (v >> 32) as u32);
    }

    /// `SCHEDOP_shutdown(reason)`; never returns.
    pub fn shutdown(&mut self, reason: u32) {
        self.store32(ARGS + 0xff0, reason);
        self.hcall(29, &[2, ARGS + 0xff0]);
        self.a.hlt().unwrap();
    }

    /// Maps shared_info at [`SHINFO`] (XENMEM_add_to_physmap).
    pub fn map_shared_info(&mut self, gpa: u64) {
        let x = ARGS + 0xe00;
        self.store32(x, 0x7ff0); // domid DOMID_SELF, size 0
        self.store32(x + 4, 0); // XENMAPSPACE_shared_info
        if self.bits == 64 {
            self.store64(x + 8, 0);
            self.store64(x + 16, gpa >> 12);
        } else {
            self.store32(x + 8, 0);
            self.store32(x + 12, (gpa >> 12) as u32);
        }
        self.hcall(12, &[7, x]);
    }

    /// Sets HVM_PARAM_CALLBACK_IRQ to vector `v`.
    pub fn callback_vector(&mut self, v: u8) {
        let x = ARGS + 0xd00;
        self.store32(x, 0x7ff0);
        self.store32(x + 4, 0);
        self.store64(x + 8, (2u64 << 56) | u64::from(v));
        self.hcall(34, &[0, x]);
    }

    /// Assembles at [`LOAD`].
    pub fn assemble(&mut self) -> Vec<u8> {
        self.a.assemble(LOAD).unwrap()
    }
}

/// Guest output sink for tests.
pub struct Capture(pub mpsc::Sender<Vec<u8>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A finished run.
pub struct Run {
    /// The VM (memory still readable).
    pub vm: Vm,
    /// How it ended.
    pub reason: ExitReason,
    /// Console output.
    pub output: String,
}

impl Run {
    /// Reads a u64 of guest memory.
    pub fn u64(&self, gpa: u64) -> u64 {
        let mut root = Root::new().unwrap();
        let (m, _t) = self.vm.shared().mem.read(root.token());
        m.read_obj(GuestAddress(gpa)).unwrap()
    }

    /// Reads a u32 of guest memory.
    pub fn u32(&self, gpa: u64) -> u32 {
        self.u64(gpa) as u32
    }

    /// Reads a result as a signed value.
    pub fn i64(&self, gpa: u64) -> i64 {
        self.u64(gpa) as i64
    }
}

/// Builds and runs a VM with `kernel`, failing the test after `limit`.
pub fn run_vm(kernel: Kernel, vcpus: u32, limit: Duration) -> Run {
    run_vm_with(kernel, vcpus, limit, |_| {})
}

/// [`run_vm`] with the configuration changed by `f` first.
pub fn run_vm_with(
    kernel: Kernel,
    vcpus: u32,
    limit: Duration,
    f: impl FnOnce(&mut VmConfig),
) -> Run {
    run_vm_hooked(kernel, vcpus, limit, f, |_| {})
}

/// [`run_vm_with`], with `hook` called on the VM before it runs (test hooks).
pub fn run_vm_hooked(
    kernel: Kernel,
    vcpus: u32,
    limit: Duration,
    f: impl FnOnce(&mut VmConfig),
    hook: impl FnOnce(&Vm),
) -> Run {
    let (tx, rx) = mpsc::channel();
    let mut cfg = VmConfig::new(kernel);
    cfg.vcpus = vcpus;
    f(&mut cfg);
    cfg.output = Box::new(Capture(tx));
    let vm = Vm::new(cfg).expect("VM creation");
    hook(&vm);
    let (done_tx, done_rx) = mpsc::channel();
    let reason = std::thread::scope(|s| {
        let vmr = &vm;
        s.spawn(move || {
            let r = vmr.run();
            let _ = done_tx.send(());
            r
        });
        match done_rx.recv_timeout(limit) {
            Ok(()) => None,
            Err(_) => {
                vm.shared().finish(ExitReason::Crash);
                Some("timeout")
            }
        }
    });
    assert!(reason.is_none(), "guest did not finish within {limit:?}");
    let mut output = Vec::new();
    while let Ok(b) = rx.try_recv() {
        output.extend(b);
    }
    let reason = vm.shared().exit_reason().expect("VM ended");
    Run {
        vm,
        reason,
        output: String::from_utf8_lossy(&output).into_owned(),
    }
}

/// Runs a raw 64-bit guest image.
pub fn run64(image: Vec<u8>, vcpus: u32) -> Run {
    run_vm(Kernel::Raw64(image), vcpus, Duration::from_secs(30))
}

/// Runs a raw 64-bit guest image with the interrupt controller `irqchip`.
pub fn run64_with(image: Vec<u8>, vcpus: u32, irqchip: Irqchip) -> Run {
    run_vm_with(Kernel::Raw64(image), vcpus, Duration::from_secs(30), |c| {
        c.irqchip = irqchip
    })
}

/// Runs a raw 32-bit guest image.
pub fn run32(image: Vec<u8>, vcpus: u32) -> Run {
    run_vm(Kernel::Raw32(image), vcpus, Duration::from_secs(30))
}

/// Stores `bytes` at `addr`, 4 bytes at a time (the last word zero-padded).
pub fn put_bytes(g: &mut Guest, addr: u64, bytes: &[u8]) {
    for (i, c) in bytes.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        g.store32(addr + 4 * i as u64, u32::from_le_bytes(w));
    }
}

/// `HVMOP_get_param` of `index` for DOMID_SELF; the value goes to `out`.
pub fn get_param(g: &mut Guest, index: u32, out: u64) {
    g.store32(ARGS, 0x7ff0);
    g.store32(ARGS + 4, index);
    g.hcall(34, &[1, ARGS]);
    g.a.mov(rcx, ARGS + 8).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, out).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
}

/// `EVTCHNOP_send` on the port stored at `port_slot`.
pub fn send(g: &mut Guest, port_slot: u64) {
    g.a.mov(rcx, port_slot).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, ARGS + 0x100).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0x100]);
}

/// Yields until the u32 at `addr` is at least `n`.
pub fn yield_until(g: &mut Guest, addr: u64, n: u32) {
    let mut top = g.a.create_label();
    let mut out = g.a.create_label();
    g.a.nop().unwrap();
    g.a.set_label(&mut top).unwrap();
    g.a.mov(rcx, addr).unwrap();
    g.a.cmp(dword_ptr(rcx), n as i32).unwrap();
    g.a.jae(out).unwrap();
    g.hcall(29, &[0, 0]);
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut out).unwrap();
    g.a.nop().unwrap();
}
