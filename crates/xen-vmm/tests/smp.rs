// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! SMP through Xen hypercalls on KVM: secondary vCPUs created down, started
//! with `VCPUOP_initialise` (a `vcpu_hvm_context`, 64- and 32-bit) and
//! `VCPUOP_up`, stopped with `VCPUOP_down`; `is_up`, `get_runstate_info` and
//! the errnos as a guest sees them.

mod common;

use std::time::Duration;

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::{ExitReason, Kernel};

/// Where each AP writes its report-in marker (one u64 per vCPU).
const REPORT: u64 = DATA;
/// Each AP's RSP as it started.
const AP_RSP: u64 = DATA + 0x40;
/// Each AP's loop counter.
const COUNTER: u64 = DATA + 0x80;
/// vCPU 0's results, one u64 each.
const R: u64 = DATA + 0x100;
/// The `vcpu_hvm_context` vCPU 0 fills.
const CTX: u64 = ARGS + 0x100;
/// `VCPUOP_get_runstate_info` output.
const RUNSTATE: u64 = ARGS + 0x400;
/// Report-in marker of the 64-bit guest: this plus the vCPU id.
const MAGIC: u64 = 0x5250_0000_0000;
/// Report-in marker of the 32-bit guest.
const MAGIC32: u32 = 0x3232_0000;

const VCPU_OP: u64 = 24;
const INITIALISE: u64 = 0;
const UP: u64 = 1;
const DOWN: u64 = 2;
const IS_UP: u64 = 3;
const GET_RUNSTATE_INFO: u64 = 4;

const EINVAL: i64 = -22;
const ENOENT: i64 = -2;
const EEXIST: i64 = -17;

/// Top of vCPU `v`'s stack.
fn stack(v: u64) -> u64 {
    0x50_0000 + v * 0x1000
}

/// Offset of a 64-bit register in the context (`cpu_regs` at 8).
fn r64(i: u64) -> u64 {
    CTX + 8 + i * 8
}

/// `vcpu_op(cmd, v, arg)`, result stored in slot `slot`.
fn vop(g: &mut Guest, cmd: u64, v: u64, arg: u64, slot: u64) {
    g.hcall(VCPU_OP, &[cmd, v, arg]);
    g.store_result(R + slot * 8);
}

/// Spins about 10^8 TSC ticks (tens of ms; a delay, not a measurement).
fn delay(g: &mut Guest) {
    let a = &mut g.a;
    a.rdtsc().unwrap();
    a.shl(rdx, 32).unwrap();
    a.or(rax, rdx).unwrap();
    a.mov(r8, rax).unwrap();
    a.mov(rax, 100_000_000u64).unwrap();
    a.add(r8, rax).unwrap();
    let mut top = a.create_label();
    a.set_label(&mut top).unwrap();
    a.pause().unwrap();
    a.rdtsc().unwrap();
    a.shl(rdx, 32).unwrap();
    a.or(rax, rdx).unwrap();
    a.cmp(rax, r8).unwrap();
    a.jb(top).unwrap();
}

/// Spins until the u64 at `addr` differs from `r9`.
fn wait_change(g: &mut Guest, addr: u64) {
    let a = &mut g.a;
    a.mov(rcx, addr).unwrap();
    let mut top = a.create_label();
    a.set_label(&mut top).unwrap();
    a.pause().unwrap();
    a.cmp(qword_ptr(rcx), r9).unwrap();
    a.je(top).unwrap();
}

/// A 64-bit guest of 4 vCPUs whose vCPU 0 starts vCPUs 1-3.
fn guest64() -> Vec<u8> {
    let mut g = Guest::new64();
    let mut ap = g.a.create_label();
    g.hypercall_page();
    // Before: secondaries are down and offline; errnos.
    for v in 1..4 {
        vop(&mut g, IS_UP, v, 0, v - 1);
    }
    vop(&mut g, UP, 1, 0, 3);
    vop(&mut g, INITIALISE, 4, CTX, 4);
    vop(&mut g, INITIALISE, 0, CTX, 5);
    g.store32(CTX, 5); // no such mode
    vop(&mut g, INITIALISE, 1, CTX, 6);
    vop(&mut g, GET_RUNSTATE_INFO, 1, RUNSTATE, 7);
    g.a.mov(rcx, RUNSTATE).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.store_result(R + 7 * 8);

    // Start vCPUs 1-3 in long mode at `ap`, each with its stack and its id in RDI.
    for v in 1..4 {
        for i in 0..16 {
            g.store64(CTX + i * 8, 0);
        }
        g.store32(CTX, 1); // VCPU_HVM_MODE_64B
        g.store64(r64(4), stack(v)); // rsp
        g.store64(r64(7), v); // rdi
        g.a.lea(rax, ptr(ap)).unwrap();
        g.a.mov(rcx, r64(8)).unwrap();
        g.a.mov(qword_ptr(rcx), rax).unwrap(); // rip
        g.store64(r64(9), 0x2); // rflags
        for (i, cr) in [(10, cr0), (11, cr3), (12, cr4)] {
            g.a.mov(rax, cr).unwrap();
            g.a.mov(rcx, r64(i)).unwrap();
            g.a.mov(qword_ptr(rcx), rax).unwrap();
        }
        g.store64(r64(13), 0x100); // EFER.LME (LMA follows)
        vop(&mut g, INITIALISE, v, CTX, 7 + v);
        vop(&mut g, UP, v, 0, 10 + v);
    }
    vop(&mut g, INITIALISE, 1, CTX, 14);
    // Each reports in with its own marker.
    for v in 1..4 {
        g.a.mov(rcx, REPORT + v * 8).unwrap();
        g.a.mov(rax, MAGIC | v).unwrap();
        let mut top = g.a.create_label();
        g.a.set_label(&mut top).unwrap();
        g.a.pause().unwrap();
        g.a.cmp(qword_ptr(rcx), rax).unwrap();
        g.a.jne(top).unwrap();
    }
    g.store64(R + 15 * 8, 1);
    for v in 1..4 {
        vop(&mut g, IS_UP, v, 0, 15 + v);
    }
    // vCPU 3 counts; taken down it stops (once the kick lands), is not up and
    // is offline.
    g.a.mov(rcx, COUNTER + 3 * 8).unwrap();
    g.a.mov(r9, qword_ptr(rcx)).unwrap();
    wait_change(&mut g, COUNTER + 3 * 8);
    vop(&mut g, DOWN, 3, 0, 19);
    vop(&mut g, IS_UP, 3, 0, 20);
    vop(&mut g, GET_RUNSTATE_INFO, 3, RUNSTATE, 21);
    g.a.mov(rcx, RUNSTATE).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.store_result(R + 21 * 8);
    delay(&mut g);
    g.a.mov(rcx, COUNTER + 3 * 8).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.store_result(R + 22 * 8);
    delay(&mut g);
    g.a.mov(rcx, COUNTER + 3 * 8).unwrap();
    g.a.mov(r9, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, R + 23 * 8).unwrap();
    g.a.mov(qword_ptr(rcx), r9).unwrap();
    // Up again: it goes on counting where it stopped (no new context needed).
    vop(&mut g, UP, 3, 0, 24);
    wait_change(&mut g, COUNTER + 3 * 8);
    g.store64(R + 25 * 8, 1);
    vop(&mut g, IS_UP, 3, 0, 26);
    // -ENOENT for a vCPU the domain does not have.
    vop(&mut g, GET_RUNSTATE_INFO, 4, RUNSTATE, 27);
    vop(&mut g, UP, 4, 0, 28);
    vop(&mut g, DOWN, 4, 0, 29);
    vop(&mut g, IS_UP, 4, 0, 30);
    // vCPU 1 spins: running or runnable.
    vop(&mut g, GET_RUNSTATE_INFO, 1, RUNSTATE, 31);
    g.a.mov(rcx, RUNSTATE).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.store_result(R + 31 * 8);
    g.shutdown(0);

    // The APs: report in, note the stack they got, count for ever.
    g.a.set_label(&mut ap).unwrap();
    g.a.mov(rax, MAGIC).unwrap();
    g.a.or(rax, rdi).unwrap();
    g.a.mov(rcx, REPORT).unwrap();
    g.a.mov(qword_ptr(rcx + rdi * 8), rax).unwrap();
    g.a.mov(rcx, AP_RSP).unwrap();
    g.a.mov(qword_ptr(rcx + rdi * 8), rsp).unwrap();
    g.a.mov(rcx, COUNTER).unwrap();
    let mut lp = g.a.create_label();
    g.a.set_label(&mut lp).unwrap();
    g.a.lock().inc(qword_ptr(rcx + rdi * 8)).unwrap();
    g.a.pause().unwrap();
    g.a.jmp(lp).unwrap();
    g.assemble()
}

fn run_smp(kernel: Kernel, vcpus: u32) -> Run {
    run_vm_with(kernel, vcpus, Duration::from_secs(60), |c| {
        c.secondaries_down = true
    })
}

#[test]
fn four_vcpus_started_with_initialise_and_up_report_in() {
    if !require_kvm() {
        return;
    }
    let r = run_smp(Kernel::Raw64(guest64()), 4);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    let res = |i: u64| r.i64(R + i * 8);
    for v in 1..4 {
        assert_eq!(res(v - 1), 0, "is_up({v}) before");
        assert_eq!(res(7 + v), 0, "initialise({v})");
        assert_eq!(res(10 + v), 0, "up({v})");
        assert_eq!(r.u64(REPORT + v * 8), MAGIC | v, "vCPU {v} reported in");
        assert_eq!(r.u64(AP_RSP + v * 8), stack(v), "vCPU {v} stack");
        assert_eq!(res(15 + v), 1, "is_up({v}) after");
    }
    assert_eq!(res(3), EINVAL, "up before initialise");
    assert_eq!(res(4), ENOENT, "initialise of vCPU 4");
    assert_eq!(res(5), EEXIST, "initialise of vCPU 0");
    assert_eq!(res(6), EINVAL, "initialise with a bad mode");
    assert_eq!(res(7), 3, "runstate of vCPU 1 before: offline");
    assert_eq!(res(14), EEXIST, "second initialise");
    assert_eq!(res(15), 1, "the guest saw every marker");
    assert_eq!(res(19), 0, "down(3)");
    assert_eq!(res(20), 0, "is_up(3) after down");
    assert_eq!(res(21), 3, "runstate of vCPU 3 after down: offline");
    assert_eq!(res(22), res(23), "vCPU 3 counted while down");
    assert_eq!(res(24), 0, "up(3) again");
    assert_eq!(res(25), 1, "vCPU 3 counts again");
    assert_eq!(res(26), 1, "is_up(3) after up");
    for i in 27..31 {
        assert_eq!(res(i), ENOENT, "slot {i}");
    }
    assert!(res(31) <= 1, "vCPU 1 running or runnable: {}", res(31));
}

/// A 32-bit flat guest of 2 vCPUs whose vCPU 0 starts vCPU 1 in
/// `VCPU_HVM_MODE_32B`.
fn guest32() -> Vec<u8> {
    let mut g = Guest::new32();
    let mut ap = g.a.create_label();
    // vCPU 1 starts at the image's entry too (a 32-bit `lea` of a label is
    // no absolute address): the vCPU id (CPUID leaf 0x4000_0004 EBX) tells.
    g.a.mov(eax, 0x4000_0004u32).unwrap();
    g.a.xor(ecx, ecx).unwrap();
    g.a.cpuid().unwrap();
    g.a.test(ebx, ebx).unwrap();
    g.a.jnz(ap).unwrap();
    g.hypercall_page();
    vop(&mut g, IS_UP, 1, 0, 0);
    for i in 0..32 {
        g.store32(CTX + i * 4, 0);
    }
    // mode VCPU_HVM_MODE_32B (0); registers from CTX + 8.
    let reg = |off: u64| CTX + 8 + off;
    g.store32(reg(16), stack(1) as u32); // esp
    g.store32(reg(32), LOAD as u32); // eip
    g.store32(reg(36), 0x2); // eflags
    g.a.mov(eax, cr0).unwrap();
    g.a.mov(ecx, reg(40) as u32).unwrap();
    g.a.mov(dword_ptr(ecx), eax).unwrap(); // cr0
    for i in 0..4 {
        g.store32(reg(84 + i * 4), u32::MAX); // cs ds ss es limits
    }
    g.store32(reg(100), 0x67); // tr limit
    g.store32(reg(104), 0x0c93_0c9b); // cs_ar, ds_ar
    g.store32(reg(108), 0x0c93_0c93); // ss_ar, es_ar
    g.store32(reg(112), 0x8b); // tr_ar (busy 32-bit TSS)
    vop(&mut g, INITIALISE, 1, CTX, 1);
    vop(&mut g, UP, 1, 0, 2);
    g.a.mov(ecx, REPORT as u32 + 4).unwrap();
    let mut top = g.a.create_label();
    g.a.set_label(&mut top).unwrap();
    g.a.pause().unwrap();
    g.a.cmp(dword_ptr(ecx), MAGIC32 | 1).unwrap();
    g.a.jne(top).unwrap();
    vop(&mut g, IS_UP, 1, 0, 3);
    vop(&mut g, DOWN, 1, 0, 4);
    vop(&mut g, IS_UP, 1, 0, 5);
    vop(&mut g, GET_RUNSTATE_INFO, 1, RUNSTATE, 6);
    g.shutdown(0);

    // The AP: report in, note its stack, spin.
    g.a.set_label(&mut ap).unwrap();
    g.a.mov(eax, MAGIC32).unwrap();
    g.a.or(eax, ebx).unwrap();
    g.a.mov(ecx, REPORT as u32).unwrap();
    g.a.mov(dword_ptr(ecx + ebx * 4), eax).unwrap();
    g.a.mov(ecx, AP_RSP as u32).unwrap();
    g.a.mov(dword_ptr(ecx + ebx * 4), esp).unwrap();
    let mut lp = g.a.create_label();
    g.a.set_label(&mut lp).unwrap();
    g.a.pause().unwrap();
    g.a.jmp(lp).unwrap();
    g.assemble()
}

#[test]
fn a_32bit_guest_starts_a_vcpu_in_32bit_mode() {
    if !require_kvm() {
        return;
    }
    let r = run_smp(Kernel::Raw32(guest32()), 2);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    let res = |i: u64| i64::from(r.u32(R + i * 8) as i32);
    assert_eq!(res(0), 0, "is_up before");
    assert_eq!(res(1), 0, "initialise");
    assert_eq!(res(2), 0, "up");
    assert_eq!(r.u32(REPORT + 4), MAGIC32 | 1, "vCPU 1 reported in");
    assert_eq!(u64::from(r.u32(AP_RSP + 4)), stack(1), "vCPU 1 stack");
    assert_eq!(res(3), 1, "is_up after up");
    assert_eq!(res(4), 0, "down");
    assert_eq!(res(5), 0, "is_up after down");
    // The 44-byte compat runstate: offline.
    assert_eq!(r.u32(RUNSTATE), 3, "runstate after down");
}

#[test]
fn flat_images_still_start_every_vcpu_unless_asked() {
    if !require_kvm() {
        return;
    }
    // Without `secondaries_down` every vCPU of a flat image runs from the
    // start: vCPU 1 is up (and initialised: -EEXIST) at once.
    let mut g = Guest::new64();
    g.hypercall_page();
    g.a.mov(eax, 0x4000_0004u32).unwrap();
    g.a.xor(ecx, ecx).unwrap();
    g.a.cpuid().unwrap();
    g.a.test(ebx, ebx).unwrap();
    let mut idle = g.a.create_label();
    g.a.jnz(idle).unwrap();
    vop(&mut g, IS_UP, 1, 0, 0);
    vop(&mut g, INITIALISE, 1, CTX, 1);
    g.shutdown(0);
    g.a.set_label(&mut idle).unwrap();
    g.a.cli().unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();
    let r = run64(g.assemble(), 2);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    assert_eq!(r.i64(R), 1);
    assert_eq!(r.i64(R + 8), EEXIST);
}

/// `file` (a whole snapshot) at format `version`.
fn as_version(file: &[u8], version: u16) -> Vec<u8> {
    xen_vmm::snapshot::convert(file, version).unwrap()
}

/// Runs `vm` (restored) until the guest shuts down, with a hang guard.
fn run_to_end(vm: &xen_vmm::Vm) -> ExitReason {
    std::thread::scope(|s| {
        let h = s.spawn(|| vm.run().unwrap());
        let start = std::time::Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(60) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not finish");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        h.join().unwrap()
    })
}

fn guest_u64(vm: &xen_vmm::Vm, gpa: u64) -> u64 {
    use vm_memory::{Bytes, GuestAddress};
    let mut root = vm_lock::Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

fn set_guest_u64(vm: &xen_vmm::Vm, gpa: u64, v: u64) {
    use vm_memory::{Bytes, GuestAddress};
    let mut root = vm_lock::Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.write_obj(v, GuestAddress(gpa)).unwrap();
}

#[test]
fn an_initialised_vcpu_and_its_context_survive_a_snapshot() {
    if !require_kvm() {
        return;
    }
    const READY: u64 = DATA + 0x800;
    const GO: u64 = DATA + 0x808;
    // vCPU 0 initialises vCPU 1 (64-bit, at `ap`), is snapshotted before it
    // brings it up, and brings it up once restored.
    let mut g = Guest::new64();
    let mut ap = g.a.create_label();
    g.hypercall_page();
    for i in 0..16 {
        g.store64(CTX + i * 8, 0);
    }
    g.store32(CTX, 1);
    g.store64(r64(4), stack(1));
    g.store64(r64(7), 1);
    g.a.lea(rax, ptr(ap)).unwrap();
    g.a.mov(rcx, r64(8)).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.store64(r64(9), 0x2);
    for (i, cr) in [(10, cr0), (11, cr3), (12, cr4)] {
        g.a.mov(rax, cr).unwrap();
        g.a.mov(rcx, r64(i)).unwrap();
        g.a.mov(qword_ptr(rcx), rax).unwrap();
    }
    g.store64(r64(13), 0x100);
    vop(&mut g, INITIALISE, 1, CTX, 0);
    g.store64(READY, 1);
    g.a.mov(rcx, GO).unwrap();
    let mut wait = g.a.create_label();
    g.a.set_label(&mut wait).unwrap();
    g.a.pause().unwrap();
    g.a.cmp(qword_ptr(rcx), 0).unwrap();
    g.a.je(wait).unwrap();
    vop(&mut g, UP, 1, 0, 1);
    // The restored vCPU 1 reports in only if it was brought up (hang guard).
    g.a.test(rax, rax).unwrap();
    let mut skip = g.a.create_label();
    g.a.jnz(skip).unwrap();
    g.a.mov(rcx, REPORT + 8).unwrap();
    g.a.mov(rax, MAGIC | 1).unwrap();
    let mut top = g.a.create_label();
    g.a.set_label(&mut top).unwrap();
    g.a.pause().unwrap();
    g.a.cmp(qword_ptr(rcx), rax).unwrap();
    g.a.jne(top).unwrap();
    g.a.set_label(&mut skip).unwrap();
    vop(&mut g, IS_UP, 1, 0, 2);
    vop(&mut g, INITIALISE, 1, CTX, 3);
    g.shutdown(0);
    g.a.set_label(&mut ap).unwrap();
    g.a.mov(rax, MAGIC).unwrap();
    g.a.or(rax, rdi).unwrap();
    g.a.mov(rcx, REPORT).unwrap();
    g.a.mov(qword_ptr(rcx + rdi * 8), rax).unwrap();
    let mut lp = g.a.create_label();
    g.a.set_label(&mut lp).unwrap();
    g.a.pause().unwrap();
    g.a.jmp(lp).unwrap();
    let image = g.assemble();

    let dir = std::env::temp_dir();
    let p = dir.join(format!("xen-vmm-smp-{}.snap", std::process::id()));
    let p5 = dir.join(format!("xen-vmm-smp-{}-v5.snap", std::process::id()));
    let mut cfg = xen_vmm::VmConfig::new(Kernel::Raw64(image));
    cfg.vcpus = 2;
    cfg.secondaries_down = true;
    cfg.output = Box::new(std::io::sink());
    let vm = xen_vmm::Vm::new(cfg).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let start = std::time::Instant::now();
        while guest_u64(&vm, READY) != 1 {
            if start.elapsed() > Duration::from_secs(60) {
                vm.shared().finish(ExitReason::Crash);
                panic!("vCPU 0 did not initialise vCPU 1");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let r = vm.snapshot(vm_lock::Root::new().unwrap().token(), &p);
        vm.shared().finish(ExitReason::Shutdown(0));
        r.unwrap();
    });
    assert_eq!(guest_u64(&vm, R) as i64, 0, "initialise");
    let st = xen_vmm::snapshot::open_file(&p).unwrap().state().clone();
    assert!(!st.xen.vcpus[1].online);
    assert!(st.xen.vcpus[1].initialised);
    let start = st.xen.vcpus[1].start.clone().expect("start context saved");
    assert_eq!((start.gprs[4], start.gprs[7]), (stack(1), 1));

    let vm2 = xen_vmm::Vm::restore(&p, Box::new(std::io::sink())).unwrap();
    set_guest_u64(&vm2, GO, 1);
    assert_eq!(run_to_end(&vm2), ExitReason::Shutdown(0));
    assert_eq!(guest_u64(&vm2, R + 8) as i64, 0, "up after restore");
    assert_eq!(guest_u64(&vm2, REPORT + 8), MAGIC | 1, "vCPU 1 reported in");
    assert_eq!(guest_u64(&vm2, R + 16), 1, "is_up");
    assert_eq!(guest_u64(&vm2, R + 24) as i64, EEXIST, "initialise again");

    // A format 5 file does not know vCPU 1 was initialised: up is -EINVAL.
    std::fs::write(&p5, as_version(&std::fs::read(&p).unwrap(), 5)).unwrap();
    let vm5 = xen_vmm::Vm::restore(&p5, Box::new(std::io::sink())).unwrap();
    set_guest_u64(&vm5, GO, 1);
    assert_eq!(run_to_end(&vm5), ExitReason::Shutdown(0));
    assert_eq!(
        guest_u64(&vm5, R + 8) as i64,
        EINVAL,
        "up after a v5 restore"
    );
    assert_eq!(guest_u64(&vm5, R + 16), 0, "is_up after a v5 restore");
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_file(&p5);
}
