// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Every hypercall family, driven with good and hostile arguments (bad
//! pointers, huge lengths, bad ports, bad vCPUs, unknown sub-ops): the guest
//! gets Xen errnos and the VMM keeps running.

mod common;

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::ExitReason;

const EPERM: i64 = -1;
const ENOENT: i64 = -2;
const ESRCH: i64 = -3;
const EFAULT: i64 = -14;
const EEXIST: i64 = -17;
const ENODEV: i64 = -19;
const EINVAL: i64 = -22;
const ENOSYS: i64 = -38;
const ETIME: i64 = -62;

const HOLE_SHINFO: u64 = 0xf000_0000;
const HOLE_GRANT: u64 = 0xf000_1000;
const RES: u64 = DATA + 0x1000;

/// A guest that records each hypercall result with what the test expects.
struct Script {
    g: Guest,
    expect: Vec<(i64, &'static str)>,
}

impl Script {
    fn check(&mut self, expect: i64, what: &'static str) {
        self.g.store_result(RES + 8 * self.expect.len() as u64);
        self.expect.push((expect, what));
    }

    fn evtchn(&mut self, cmd: u64, words: &[u32], expect: i64, what: &'static str) {
        for (i, w) in words.iter().enumerate() {
            self.g.store32(ARGS + 4 * i as u64, *w);
        }
        self.g.hcall(32, &[cmd, ARGS]);
        self.check(expect, what);
    }

    fn hvm_param(&mut self, cmd: u64, index: u32, value: u64, expect: i64, what: &'static str) {
        self.g.store32(ARGS, 0x7ff0);
        self.g.store32(ARGS + 4, index);
        self.g.store64(ARGS + 8, value);
        self.g.hcall(34, &[cmd, ARGS]);
        self.check(expect, what);
    }

    fn physmap(&mut self, space: u32, idx: u64, gpfn: u64, expect: i64, what: &'static str) {
        self.g.store32(ARGS, 0x7ff0);
        self.g.store32(ARGS + 4, space);
        self.g.store64(ARGS + 8, idx);
        self.g.store64(ARGS + 16, gpfn);
        self.g.hcall(12, &[7, ARGS]);
        self.check(expect, what);
    }

    /// Copies the u64 at `from` to `to`.
    fn copy64(&mut self, from: u64, to: u64) {
        self.g.a.mov(rcx, from).unwrap();
        self.g.a.mov(rax, qword_ptr(rcx)).unwrap();
        self.g.a.mov(rcx, to).unwrap();
        self.g.a.mov(qword_ptr(rcx), rax).unwrap();
    }

    /// Copies the u32 at `from` to `to`.
    fn copy32(&mut self, from: u64, to: u64) {
        self.g.a.mov(rcx, from).unwrap();
        self.g.a.mov(eax, dword_ptr(rcx)).unwrap();
        self.g.a.mov(rcx, to).unwrap();
        self.g.a.mov(dword_ptr(rcx), eax).unwrap();
    }
}

const PORT_A: u64 = DATA + 0x10;
const PORT_B: u64 = DATA + 0x18;

#[test]
fn hostile_arguments_get_errnos() {
    if !require_kvm() {
        return;
    }
    let mut s = Script {
        g: Guest::new64(),
        expect: Vec::new(),
    };
    s.g.hypercall_page();
    // shared_info and a grant frame at GFNs in a hole (the VMM adds pages).
    s.physmap(0, 0, HOLE_SHINFO >> 12, 0, "shared_info in a hole");
    s.physmap(1, 0, HOLE_GRANT >> 12, 0, "grant frame 0 in a hole");
    s.physmap(0, 1, 0x400, EINVAL, "shared_info idx 1");
    s.physmap(1, 100, 0x400, EINVAL, "grant frame 100");
    s.physmap(0, 0, 0xffff_ffff_ffff, EINVAL, "absurd gpfn");
    s.physmap(0, 0, 0xfee00, EINVAL, "gpfn in the MMIO range");
    s.physmap(99, 0, 0x400, EINVAL, "unknown map space");
    s.g.store64(HOLE_SHINFO + 3000, 0x5a5a_1234);

    // Event channels: loopback interdomain pair.
    s.evtchn(6, &[0x7ff0 | (0x7ff0 << 16)], 0, "alloc_unbound");
    s.copy32(ARGS + 4, PORT_A);
    s.evtchn(
        6,
        &[5 | (0x7ff0 << 16)],
        ESRCH,
        "alloc_unbound for another domain",
    );
    s.g.store32(ARGS, 0x7ff0);
    s.copy32(PORT_A, ARGS + 4);
    s.g.hcall(32, &[0, ARGS]);
    s.check(0, "bind_interdomain");
    s.copy32(ARGS + 8, PORT_B);
    s.evtchn(
        0,
        &[0x7ff0, 4000],
        EINVAL,
        "bind_interdomain to a free port",
    );
    s.copy32(PORT_B, ARGS);
    s.g.hcall(32, &[4, ARGS]);
    s.check(0, "send on the bound port");
    s.g.store32(ARGS, 0x7ff0);
    s.copy32(PORT_A, ARGS + 4);
    s.g.hcall(32, &[5, ARGS]);
    s.check(0, "status");
    s.copy32(ARGS + 8, DATA + 0x20);
    s.copy32(PORT_B, ARGS);
    s.g.hcall(32, &[3, ARGS]);
    s.check(0, "close");
    s.g.store32(ARGS, 0x7ff0);
    s.copy32(PORT_A, ARGS + 4);
    s.g.hcall(32, &[5, ARGS]);
    s.check(0, "status after close");
    s.copy32(ARGS + 8, DATA + 0x28);
    s.evtchn(4, &[9999], EINVAL, "send on port 9999");
    s.evtchn(4, &[0], EINVAL, "send on port 0");
    s.evtchn(3, &[0], EINVAL, "close port 0");
    s.evtchn(3, &[u32::MAX], EINVAL, "close port 2^32-1");
    s.evtchn(1, &[99, 0], EINVAL, "bind_virq 99");
    s.evtchn(1, &[0, 7], ENOENT, "bind_virq on vCPU 7");
    s.evtchn(1, &[0, 0], 0, "bind_virq timer");
    s.evtchn(1, &[0, 0], EEXIST, "bind_virq timer twice");
    s.evtchn(7, &[u32::MAX], ENOENT, "bind_ipi on a bad vCPU");
    s.evtchn(9, &[100_000], EINVAL, "unmask a huge port");
    s.evtchn(8, &[1, 3], ENOENT, "bind_vcpu to a bad vCPU");
    s.evtchn(77, &[0], ENOSYS, "unknown evtchn op");
    s.g.hcall(32, &[4, 0xdead_0000]);
    s.check(EFAULT, "evtchn arg not mapped");
    s.g.hcall(32, &[4, 0x8000_0000_0000_0000]);
    s.check(EFAULT, "evtchn arg non-canonical");
    s.g.hcall(32, &[4, u64::MAX - 1]);
    s.check(EFAULT, "evtchn arg wrapping");

    // HVM params.
    s.hvm_param(1, 1, 0, 0, "get STORE_PFN");
    s.copy32(ARGS + 8, DATA + 0x30);
    s.hvm_param(1, 1000, 0, EINVAL, "get param 1000");
    s.hvm_param(0, 1, 5, EPERM, "set STORE_PFN");
    // As Xen: an unknown callback type is accepted and turns the callback off.
    s.hvm_param(0, 0, 5 << 56, 0, "callback of type 5");
    s.hvm_param(0, 0, (2 << 56) | 3, EINVAL, "callback vector 3");
    s.g.store32(ARGS, 9);
    s.g.store32(ARGS + 4, 0xe0);
    s.g.hcall(34, &[23, ARGS]);
    s.check(ENOENT, "upcall vector for vCPU 9");
    s.g.store32(ARGS, 0);
    s.g.store32(ARGS + 4, 2);
    s.g.hcall(34, &[23, ARGS]);
    s.check(EINVAL, "upcall vector 2");
    s.g.hcall(34, &[0x1234, ARGS]);
    s.check(ENOSYS, "unknown hvm op");

    // Memory ops.
    s.g.store32(ARGS, 10);
    s.g.store64(ARGS + 8, DATA + 0x400);
    s.g.hcall(12, &[9, ARGS]);
    s.check(0, "memory_map");
    s.copy32(ARGS, DATA + 0x38);
    s.g.store32(ARGS, 5);
    s.g.hcall(12, &[3, ARGS]);
    s.check(ESRCH, "current_reservation of a domain that does not exist");
    s.g.store32(ARGS, 0x7ff0);
    s.g.hcall(12, &[14, ARGS]);
    s.check(ENOSYS, "maximum_gpfn (not implemented)");
    s.g.hcall(12, &[55, ARGS]);
    s.check(ENOSYS, "unknown memory op");

    // vCPU ops.
    s.g.store64(ARGS, 0x300);
    s.g.store32(ARGS + 8, 4090);
    s.g.hcall(24, &[10, 0, ARGS]);
    s.check(EINVAL, "vcpu_info crossing a page");
    s.g.store64(ARGS, u64::MAX);
    s.g.store32(ARGS + 8, 0);
    s.g.hcall(24, &[10, 0, ARGS]);
    s.check(EINVAL, "vcpu_info at an absurd mfn");
    s.g.hcall(24, &[10, 5, ARGS]);
    s.check(ENOENT, "vcpu_info for vCPU 5");
    s.g.store64(ARGS, 10);
    s.g.hcall(24, &[6, 0, ARGS]);
    s.check(EINVAL, "10 ns periodic timer");
    s.g.store64(ARGS, 1);
    s.g.store32(ARGS + 8, 1);
    s.g.hcall(24, &[8, 0, ARGS]);
    s.check(ETIME, "past single-shot with VCPU_SSHOTTMR_future");
    s.g.hcall(24, &[99, 0, ARGS]);
    s.check(ENOSYS, "unknown vcpu op");
    s.g.hcall(24, &[3, 0, 0]);
    s.check(ENOSYS, "is_up (not implemented)");

    // Scheduler: poll.
    s.g.store64(ARGS + 0x100, PORT_A);
    s.g.store64(ARGS, ARGS + 0x100 - 0x100 + 0x100);
    s.g.store64(ARGS, PORT_A);
    s.g.store32(ARGS + 8, 1000);
    s.g.store64(ARGS + 16, 0);
    s.g.hcall(29, &[3, ARGS]);
    s.check(EINVAL, "poll 1000 ports");
    s.g.store32(ARGS + 8, 1);
    s.g.hcall(29, &[3, ARGS]);
    s.check(0, "poll a pending port");
    s.g.store32(ARGS + 0x200, 99_999);
    s.g.store64(ARGS, ARGS + 0x200);
    s.g.hcall(29, &[3, ARGS]);
    s.check(EINVAL, "poll port 99999");
    s.g.store32(ARGS + 0x200, 1);
    s.g.store64(ARGS + 16, 1);
    s.g.hcall(29, &[3, ARGS]);
    s.check(0, "poll an idle port with an expired timeout");
    s.g.store64(ARGS, 0xdead_0000);
    s.g.hcall(29, &[3, ARGS]);
    s.check(EFAULT, "poll with an unmapped port list");
    s.g.hcall(29, &[99, ARGS]);
    s.check(ENOSYS, "unknown sched op");
    s.g.hcall(29, &[0, 0]);
    s.check(0, "yield");

    // Grant table.
    s.g.store32(ARGS, 0x7ff0);
    s.g.hcall(20, &[6, ARGS, 1]);
    s.check(0, "query_size");
    s.copy32(ARGS + 4, DATA + 0x40);
    s.g.hcall(20, &[6, ARGS, 1 << 40]);
    s.check(EINVAL, "query_size with a huge count");
    s.g.store32(ARGS, 3);
    s.g.hcall(20, &[8, ARGS, 1]);
    s.check(EINVAL, "grant table v3");
    s.g.hcall(20, &[1234, ARGS, 1]);
    s.check(ENOSYS, "unknown grant op");

    // Console and version with bad buffers.
    s.g.hcall(18, &[0, 16, 0xdead_0000]);
    s.check(EFAULT, "console_io from an unmapped buffer");
    s.g.hcall(18, &[0, u64::MAX, DATA]);
    s.check(EINVAL, "console_io with 2^32-1 bytes");
    s.g.hcall(17, &[3, 0xffff_ffff_ffff_f000]);
    s.check(EFAULT, "capabilities into an unmapped buffer");
    s.g.hcall(17, &[1000, 0]);
    s.check(ENOSYS, "unknown xen_version op");
    s.g.hcall(15, &[0]);
    s.check(0, "set_timer_op(0)");
    s.g.hcall(0, &[0]);
    s.check(ENOSYS, "hypercall 0");
    s.g.hcall(127, &[0]);
    s.check(ENOSYS, "hypercall 127");

    s.g.shutdown(0);
    let r = run64(s.g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    let mut bad = Vec::new();
    for (i, (want, what)) in s.expect.iter().enumerate() {
        let got = r.i64(RES + 8 * i as u64);
        if got != *want {
            bad.push(format!("{what}: got {got}, want {want}"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    // The hole page really backs shared_info: the guest's write is there,
    // and the send set port A pending in its bitmap.
    assert_eq!(r.u64(HOLE_SHINFO + 3000), 0x5a5a_1234);
    let a = r.u64(PORT_A);
    assert_ne!(r.u64(HOLE_SHINFO + 2048) & (1 << a), 0);
    assert_eq!(r.u32(DATA + 0x20), 2, "status: interdomain");
    assert_eq!(r.u32(DATA + 0x28), 1, "status after close: unbound");
    assert_eq!(r.u32(DATA + 0x30), (64 << 20) / 4096 - 2, "store pfn");
    // RAM, the ACPI page, RAM, the special pages.
    assert_eq!(r.u32(DATA + 0x38), 4, "memory map entries");
    assert_eq!(
        r.u32(DATA + 0x40),
        1,
        "grant frames in use (frame 0 mapped)"
    );
}

#[test]
fn hvm_params_follow_xens_guest_policy() {
    if !require_kvm() {
        return;
    }
    const VALUES: u64 = DATA + 0x100;
    let mut s = Script {
        g: Guest::new64(),
        expect: Vec::new(),
    };
    let (set, get) = (0, 1);
    s.g.hypercall_page();
    // Deprecated: -EINVAL both ways.
    s.hvm_param(set, 4, 1, EINVAL, "set PAE_ENABLED");
    s.hvm_param(get, 4, 0, EINVAL, "get PAE_ENABLED");
    s.hvm_param(set, 24, 1, EINVAL, "set NESTEDHVM");
    // Read-only for the guest.
    s.hvm_param(set, 35, 1, EEXIST, "set ALTP2M");
    s.hvm_param(get, 35, 7, 0, "get ALTP2M");
    s.copy64(ARGS + 8, VALUES);
    // The toolstack's: -EPERM.
    for (index, what) in [
        (1, "STORE_PFN"),
        (5, "IOREQ_PFN"),
        (10, "TIMER_MODE"),
        (12, "IDENT_PT"),
        (14, "ACPI_S_STATE"),
        (17, "CONSOLE_PFN"),
        (38, "MCA_CAP"),
    ] {
        s.hvm_param(set, index, 3, EPERM, what);
    }
    for (index, what) in [(5, "IOREQ_PFN"), (12, "IDENT_PT"), (14, "ACPI_S_STATE")] {
        s.hvm_param(get, index, 0, EPERM, what);
    }
    // The guest's own, with their values checked.
    s.hvm_param(set, 36, 5, EINVAL, "set X87_FIP_WIDTH 5");
    s.hvm_param(set, 36, 8, 0, "set X87_FIP_WIDTH 8");
    s.hvm_param(get, 36, 0, 0, "get X87_FIP_WIDTH");
    s.copy64(ARGS + 8, VALUES + 8);
    s.hvm_param(set, 15, 1 << 32, EINVAL, "set VM86_TSS above 4 GiB");
    s.hvm_param(set, 15, 0x9000, 0, "set VM86_TSS");
    s.hvm_param(get, 15, 0, 0, "get VM86_TSS");
    s.copy64(ARGS + 8, VALUES + 16);
    s.hvm_param(get, 37, 0, 0, "get VM86_TSS_SIZED");
    s.copy64(ARGS + 8, VALUES + 24);
    s.hvm_param(
        set,
        37,
        (8 << 32) | 0x9000,
        EINVAL,
        "VM86_TSS_SIZED too small",
    );
    s.hvm_param(set, 34, 0x1234_5000, 0, "set VM_GENERATION_ID_ADDR");
    s.hvm_param(get, 34, 0, 0, "get VM_GENERATION_ID_ADDR");
    s.copy64(ARGS + 8, VALUES + 32);
    s.hvm_param(set, 19, 1, ENODEV, "ACPI_IOPORTS_LOCATION: no PM timer");
    s.hvm_param(set, 2, 77, 0, "set STORE_EVTCHN");
    s.hvm_param(get, 2, 0, 0, "get STORE_EVTCHN");
    s.copy64(ARGS + 8, VALUES + 40);
    s.g.shutdown(0);
    let r = run64(s.g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    let mut bad = Vec::new();
    for (i, (want, what)) in s.expect.iter().enumerate() {
        let got = r.i64(RES + 8 * i as u64);
        if got != *want {
            bad.push(format!("{what}: got {got}, want {want}"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(r.u64(VALUES), 0, "ALTP2M");
    assert_eq!(r.u64(VALUES + 8), 8, "X87_FIP_WIDTH");
    assert_eq!(r.u64(VALUES + 16), 0x9000, "VM86_TSS");
    assert_eq!(r.u64(VALUES + 24), (128 << 32) | 0x9000, "VM86_TSS_SIZED");
    assert_eq!(r.u64(VALUES + 32), 0x1234_5000, "VM_GENERATION_ID_ADDR");
    assert_eq!(r.u64(VALUES + 40), 77, "STORE_EVTCHN");
}

#[test]
fn sched_block_sleeps_until_an_event() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    // VIRQ_TIMER + periodic 2 ms timer, no callback: events only wake SCHEDOP_block.
    g.store32(ARGS, 0);
    g.store32(ARGS + 4, 0);
    g.hcall(32, &[1, ARGS]);
    g.store64(ARGS + 0x40, 2_000_000);
    g.hcall(24, &[6, 0, ARGS + 0x40]);
    for i in 0..3u64 {
        // Clear upcall_pending, the selector and the pending bits, block,
        // record upcall_pending after the wake-up.
        g.a.mov(rcx, SHINFO).unwrap();
        g.a.mov(byte_ptr(rcx), 0).unwrap();
        g.a.xor(eax, eax).unwrap();
        g.a.xchg(qword_ptr(rcx + 8), rax).unwrap();
        g.a.xor(eax, eax).unwrap();
        g.a.xchg(qword_ptr(rcx + 2048), rax).unwrap();
        g.hcall(29, &[1, 0]);
        g.store_result(DATA + 8 * i);
        g.a.mov(rcx, SHINFO).unwrap();
        g.a.movzx(eax, byte_ptr(rcx)).unwrap();
        g.a.mov(rcx, DATA + 0x100 + 8 * i).unwrap();
        g.a.mov(qword_ptr(rcx), rax).unwrap();
    }
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0));
    for i in 0..3 {
        assert_eq!(r.i64(DATA + 8 * i), 0);
        assert_eq!(r.u64(DATA + 0x100 + 8 * i), 1, "woken by an event");
    }
}

#[test]
fn user_mode_hypercalls_get_eperm() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    let mut user = g.a.create_label();
    let mut gp_handler = g.a.create_label();
    let mut main = g.a.create_label();
    g.a.jmp(main).unwrap();
    // #GP from user mode (its `hlt`): back in ring 0, power off.
    g.a.set_label(&mut gp_handler).unwrap();
    g.shutdown(0);
    // Ring 3: a hypercall (IOPL 3 lets the stub's `out` exit), store rax, then
    // a privileged instruction to get back to ring 0.
    g.a.set_label(&mut user).unwrap();
    g.hcall(17, &[0, 0]);
    g.store_result(DATA);
    g.a.hlt().unwrap();

    g.a.set_label(&mut main).unwrap();
    g.hypercall_page();
    // User code/data segments (DPL 3) after the VMM's GDT at 0x1000; reload it.
    g.store64(0x1030, 0x00cf_f300_0000_ffff);
    g.store64(0x1038, 0x00af_fb00_0000_ffff);
    g.store32(ARGS + 0x800, 0x3f | (0x1000 << 16));
    g.store32(ARGS + 0x804, 0);
    g.a.mov(rcx, ARGS + 0x800).unwrap();
    g.a.lgdt(ptr(rcx)).unwrap();
    // User bit on the identity map entries covering the first 4 MiB.
    for a in [0x2000u64, 0x3000, 0x4000, 0x4008] {
        g.a.mov(rcx, a).unwrap();
        g.a.or(qword_ptr(rcx), 4).unwrap();
    }
    g.a.mov(rax, cr3).unwrap();
    g.a.mov(cr3, rax).unwrap();
    // TSS.rsp0 for the fault back to ring 0; IDT with the #GP handler.
    g.store64(0x1800 + 4, 0x7_0000);
    let idt = 0x21_0000u64;
    g.a.lea(rax, ptr(gp_handler)).unwrap();
    g.a.mov(rbx, idt).unwrap();
    let off = 13 * 16;
    g.a.mov(word_ptr(rbx + off), ax).unwrap();
    g.a.mov(word_ptr(rbx + off + 2), 0x08u32).unwrap();
    g.a.mov(word_ptr(rbx + off + 4), 0x8e00u32).unwrap();
    g.a.shr(rax, 16).unwrap();
    g.a.mov(word_ptr(rbx + off + 6), ax).unwrap();
    g.a.shr(rax, 16).unwrap();
    g.a.mov(dword_ptr(rbx + off + 8), eax).unwrap();
    g.a.mov(dword_ptr(rbx + off + 12), 0u32).unwrap();
    g.a.mov(word_ptr(rbx + 0xff0), 0xfffu32).unwrap();
    g.a.mov(qword_ptr(rbx + 0xff2), rbx).unwrap();
    g.a.lidt(ptr(rbx + 0xff0)).unwrap();
    // iretq to ring 3 with IOPL 3.
    g.store64(DATA, 0x1234);
    g.a.push(0x33).unwrap();
    g.a.push(0x7_f000).unwrap();
    g.a.push(0x3002).unwrap();
    g.a.push(0x3b).unwrap();
    g.a.lea(rax, ptr(user)).unwrap();
    g.a.push(rax).unwrap();
    g.a.iretq().unwrap();

    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    assert_eq!(r.i64(DATA), EPERM, "hypercall from CPL 3");
}

#[test]
fn hole_pages_are_bounded() {
    if !require_kvm() {
        return;
    }
    // shared_info moved to 70 different GFNs in a hole: the VMM backs at most
    // 64 pages, then answers -ENOMEM (and the vCPU keeps running).
    let mut g = Guest::new64();
    g.hypercall_page();
    g.a.xor(r12d, r12d).unwrap();
    let mut top = g.a.create_label();
    g.a.set_label(&mut top).unwrap();
    g.a.mov(rcx, ARGS).unwrap();
    g.a.mov(dword_ptr(rcx), 0x7ff0u32).unwrap();
    g.a.mov(dword_ptr(rcx + 4), 0u32).unwrap();
    g.a.mov(qword_ptr(rcx + 8), 0i32).unwrap();
    g.a.mov(rax, 0xf_0000u64).unwrap();
    g.a.add(rax, r12).unwrap();
    g.a.mov(qword_ptr(rcx + 16), rax).unwrap();
    g.hcall(12, &[7, ARGS]);
    g.a.mov(rcx, RES).unwrap();
    g.a.mov(qword_ptr(rcx + r12 * 8), rax).unwrap();
    g.a.inc(r12).unwrap();
    g.a.cmp(r12, 70).unwrap();
    g.a.jb(top).unwrap();
    g.shutdown(0);
    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0));
    let results: Vec<i64> = (0..70).map(|i| r.i64(RES + 8 * i)).collect();
    assert!(results[..64].iter().all(|&v| v == 0), "{results:?}");
    assert!(results[64..].iter().all(|&v| v == -12), "{results:?}");
}
