// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A mixed stress test on real KVM (the counterpart of xen-evtchn's `stress_locks`): a 2-vCPU
//! 64-bit guest and the host work on one VM at once for a bounded time, asserting no deadlock
//! (a hang guard: the test fails, it does not hang) and exact event accounting (every event
//! sent is seen by its consumer exactly once).
//!
//! Guest vCPU 0 takes upcalls (callback vector, a Linux-style 2-level scan counting each
//! port it clears), moves `shared_info` round two hole pages and a RAM page, registers its
//! `vcpu_info` once mid-run (Xen allows no second move), masks its IPI port and unmasks it
//! with `EVTCHNOP_unmask`, balloons a page out and in, runs a 2 ms periodic timer
//! (`VIRQ_TIMER`) and sends a stream of IPIs to vCPU 1. Guest vCPU 1 sends a stream of IPIs
//! to vCPU 0, consumes vCPU 0's stream with `SCHEDOP_poll` on a masked port, and churns ports
//! (bind IPI / loopback interdomain / `bind_vcpu`, send, close, status). The host sends a
//! stream through a backend port (inside a `HostGate` section, as a VMM backend), quiesces
//! and snapshots the VM repeatedly (checking that the guest made no progress while stopped
//! and that each file's counters are consistent), and replaces the memory map (same regions,
//! new generation) and synchronizes. At the end the last mid-run snapshot is restored and
//! run to the end: the events in flight in it are delivered after the restore.
//!
//! Accounting: each stream has at most one event in flight (its sender waits for the
//! consumer's count to catch up before the next send), so every send shows up as exactly
//! one pending bit the consumer clears: a lost event stalls its stream (the hang guard
//! names it), a duplicate leaves the count above the number sent. Runs for
//! `XEN_ON_KVM_STRESS_SECS` seconds (default 3).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_vmm::snapshot::open_file;
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const VEC: u64 = 0xf3;
const IDT: u64 = 0x21_0000;
/// Where vCPU 0 puts shared_info, in turn: two pages in a hole (the VMM adds them), one of RAM.
const FRAMES: [u64; 3] = [0xf000_0000, 0xf000_1000, 0x30_0000];
/// vCPU 0's registered vcpu_info.
const VCPU_INFO0: u64 = DATA + 0x3c0;
/// The page vCPU 0 balloons out and in.
const BALLOON: u64 = 0x60_0000;
const MEM_MIB: u64 = 8;
/// vCPU 1's hypercall arguments (vCPU 0 and the common helpers use ARGS .. ARGS + 0x1000).
const ARGS1: u64 = ARGS + 0x1000;

// Guest variables (u64 each).
const SHINFO_CUR: u64 = DATA;
const VI_CUR: u64 = DATA + 0x08;
/// The guest's own lock around shared_info moves and vCPU 1's accesses to shared_info.
const LOCK: u64 = DATA + 0x10;
const READY: u64 = DATA + 0x18;
/// Set by the host: stop sending, drain, shut down.
const STOP: u64 = DATA + 0x20;
/// vCPU 0 sends nothing more.
const STOPPED0: u64 = DATA + 0x28;
/// vCPU 1 has drained its streams.
const DONE1: u64 = DATA + 0x30;
const PORT_A: u64 = DATA + 0x38;
const PORT_P: u64 = DATA + 0x40;
const PORT_T: u64 = DATA + 0x48;
/// Events sent on A (vCPU 1 -> vCPU 0), P (vCPU 0 -> vCPU 1, polled), G (host -> vCPU 0).
const SENT_A: u64 = DATA + 0x50;
const SENT_P: u64 = DATA + 0x58;
const SENT_G: u64 = DATA + 0x60;
const ITER0: u64 = DATA + 0x68;
const ITER1: u64 = DATA + 0x70;
const MOVES: u64 = DATA + 0x78;
const VI_MOVED: u64 = DATA + 0x80;
const UNMASKS: u64 = DATA + 0x88;
const BALLOONS: u64 = DATA + 0x90;
const CHURN: u64 = DATA + 0x98;
const POLLS: u64 = DATA + 0xa0;
const UPCALLS: u64 = DATA + 0xa8;
/// Index in FRAME_TABLE of the frame shared_info is at.
const FRAME_IDX: u64 = DATA + 0xb0;
const FRAME_TABLE: u64 = DATA + 0x100;
/// The last failed result of each hypercall site (by tag), 0 if none failed.
const ERRS: u64 = DATA + 0x200;
const NR_TAGS: u64 = 32;
/// Events the guest consumed, per port.
const COUNT: u64 = DATA + 0x1000;

/// No stream may stall this long (a hang guard, not a speed test).
const HANG: Duration = Duration::from_secs(30);

fn secs() -> u64 {
    std::env::var("XEN_ON_KVM_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Binds `l` to the next instruction (a nop, so that labels never share one).
fn bind(a: &mut CodeAssembler, l: &mut CodeLabel) {
    a.set_label(l).unwrap();
    a.nop().unwrap();
}

/// Records rax at ERRS[tag] unless it is `ok`.
fn check(g: &mut Guest, tag: u64, ok: i32) {
    assert!(tag < NR_TAGS);
    let mut fine = g.a.create_label();
    g.a.cmp(rax, ok).unwrap();
    g.a.je(fine).unwrap();
    g.a.mov(rcx, ERRS + tag * 8).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    bind(&mut g.a, &mut fine);
}

/// rax = [addr]
fn load(g: &mut Guest, addr: u64) {
    g.a.mov(rcx, addr).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
}

/// [addr] = rax
fn save(g: &mut Guest, addr: u64) {
    g.a.mov(rcx, addr).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
}

/// [addr] += 1 (locked)
fn bump(g: &mut Guest, addr: u64) {
    g.a.mov(rcx, addr).unwrap();
    g.a.lock().inc(qword_ptr(rcx)).unwrap();
}

/// Spins (with `pause`) until the u64 at `addr` is non-zero.
fn wait_nonzero(g: &mut Guest, addr: u64) {
    let mut top = g.a.create_label();
    bind(&mut g.a, &mut top);
    g.a.pause().unwrap();
    g.a.mov(rcx, addr).unwrap();
    g.a.cmp(qword_ptr(rcx), 0).unwrap();
    g.a.je(top).unwrap();
}

fn spin_lock(g: &mut Guest) {
    let mut top = g.a.create_label();
    let mut got = g.a.create_label();
    bind(&mut g.a, &mut top);
    g.a.mov(rcx, LOCK).unwrap();
    g.a.lock().bts(qword_ptr(rcx), 0).unwrap();
    g.a.jnc(got).unwrap();
    g.a.pause().unwrap();
    g.a.jmp(top).unwrap();
    bind(&mut g.a, &mut got);
}

fn spin_unlock(g: &mut Guest) {
    g.a.mov(rcx, LOCK).unwrap();
    g.a.mov(qword_ptr(rcx), 0).unwrap();
}

/// EVTCHNOP `op` on the port stored at `slot`, argument struct at `at` (port first).
fn port_op(g: &mut Guest, op: u64, slot: u64, at: u64, tag: u64) {
    load(g, slot);
    g.a.mov(rcx, at).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[op, at]);
    check(g, tag, 0);
}

/// Jumps to `target` unless COUNT[port at `slot`] >= [sent] (an event of that stream is
/// in flight).
fn jump_if_in_flight(g: &mut Guest, slot: u64, sent: u64, target: CodeLabel) {
    load(g, slot);
    g.a.lea(rcx, ptr(rax * 8 + COUNT as i32)).unwrap();
    g.a.mov(rdx, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, sent).unwrap();
    g.a.cmp(rdx, qword_ptr(rcx)).unwrap();
    g.a.jb(target).unwrap();
}

/// vCPU 0's upcall handler: a Linux-style 2-level scan of the words its selector names,
/// clearing each pending unmasked bit and counting the port in COUNT; again while a new
/// upcall came meanwhile.
fn handler(a: &mut CodeAssembler, entry: &mut CodeLabel) {
    let mut top = a.create_label();
    let mut words = a.create_label();
    let mut bits = a.create_label();
    let mut done = a.create_label();
    bind(a, entry);
    for r in [rax, rcx, rdx, rsi, rdi, r8, r9] {
        a.push(r).unwrap();
    }
    a.mov(rcx, UPCALLS).unwrap();
    a.inc(qword_ptr(rcx)).unwrap();
    bind(a, &mut top);
    a.mov(rcx, VI_CUR).unwrap();
    a.mov(rdi, qword_ptr(rcx)).unwrap();
    a.mov(rcx, SHINFO_CUR).unwrap();
    a.mov(rsi, qword_ptr(rcx)).unwrap();
    a.mov(byte_ptr(rdi), 0).unwrap(); // evtchn_upcall_pending
    a.xor(eax, eax).unwrap();
    a.xchg(qword_ptr(rdi + 8), rax).unwrap(); // evtchn_pending_sel
    a.mov(r8, rax).unwrap();
    bind(a, &mut words);
    a.test(r8, r8).unwrap();
    a.jz(done).unwrap();
    a.bsf(rcx, r8).unwrap();
    a.btr(r8, rcx).unwrap();
    // rdx = pending[w] & !mask[w]
    a.mov(rdx, qword_ptr(rsi + rcx * 8 + 2048)).unwrap();
    a.mov(rax, qword_ptr(rsi + rcx * 8 + 2560)).unwrap();
    a.not(rax).unwrap();
    a.and(rdx, rax).unwrap();
    bind(a, &mut bits);
    a.test(rdx, rdx).unwrap();
    a.jz(words).unwrap();
    a.bsf(rax, rdx).unwrap();
    a.btr(rdx, rax).unwrap();
    a.lock().btr(qword_ptr(rsi + rcx * 8 + 2048), rax).unwrap();
    a.jnc(bits).unwrap();
    a.mov(r9, rcx).unwrap();
    a.shl(r9, 6).unwrap();
    a.add(r9, rax).unwrap();
    a.lea(r9, ptr(r9 * 8 + COUNT as i32)).unwrap();
    a.lock().inc(qword_ptr(r9)).unwrap();
    a.jmp(bits).unwrap();
    bind(a, &mut done);
    a.cmp(byte_ptr(rdi), 0).unwrap();
    a.jne(top).unwrap();
    for r in [r9, r8, rdi, rsi, rdx, rcx, rax] {
        a.pop(r).unwrap();
    }
    a.iretq().unwrap();
}

/// vCPU 0 moves shared_info to the next frame (interrupts off, under the guest lock).
fn move_shared_info(g: &mut Guest) {
    let mut wrap = g.a.create_label();
    let mut failed = g.a.create_label();
    let mut vi_stays = g.a.create_label();
    g.a.cli().unwrap();
    spin_lock(g);
    load(g, FRAME_IDX);
    g.a.inc(rax).unwrap();
    g.a.cmp(rax, FRAMES.len() as i32).unwrap();
    g.a.jb(wrap).unwrap();
    g.a.xor(eax, eax).unwrap();
    bind(&mut g.a, &mut wrap);
    save(g, FRAME_IDX);
    g.a.mov(rcx, FRAME_TABLE).unwrap();
    g.a.mov(r13, qword_ptr(rcx + rax * 8)).unwrap();
    let x = ARGS + 0x100;
    g.store32(x, 0x7ff0); // DOMID_SELF, size 0
    g.store32(x + 4, 0); // XENMAPSPACE_shared_info
    g.store64(x + 8, 0);
    g.a.mov(rax, r13).unwrap();
    g.a.shr(rax, 12).unwrap();
    save(g, x + 16);
    g.hcall(12, &[7, x]); // XENMEM_add_to_physmap
    check(g, 8, 0);
    g.a.test(rax, rax).unwrap();
    g.a.jnz(failed).unwrap();
    g.a.mov(rax, r13).unwrap();
    save(g, SHINFO_CUR);
    g.a.mov(rcx, VI_MOVED).unwrap();
    g.a.cmp(qword_ptr(rcx), 0).unwrap();
    g.a.jne(vi_stays).unwrap();
    save(g, VI_CUR);
    bind(&mut g.a, &mut vi_stays);
    bump(g, MOVES);
    bind(&mut g.a, &mut failed);
    spin_unlock(g);
    g.a.sti().unwrap();
}

/// vCPU 1: if vCPU 0's event on P is in flight, polls for it and consumes it (under the
/// guest lock: clears the pending bit where shared_info is now and counts it once).
fn poll_and_take_p(g: &mut Guest) {
    let mut none = g.a.create_label();
    let mut not_pending = g.a.create_label();
    load(g, PORT_P);
    g.a.lea(rcx, ptr(rax * 8 + COUNT as i32)).unwrap();
    g.a.mov(rdx, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, SENT_P).unwrap();
    g.a.cmp(rdx, qword_ptr(rcx)).unwrap();
    g.a.jae(none).unwrap();
    bump(g, POLLS);
    // sched_poll { ports = &port, nr_ports = 1, timeout = 0 (none) }
    load(g, PORT_P);
    g.a.mov(rcx, ARGS1 + 0x40).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.store64(ARGS1 + 0x80, ARGS1 + 0x40);
    g.store64(ARGS1 + 0x88, 1);
    g.store64(ARGS1 + 0x90, 0);
    g.hcall(29, &[3, ARGS1 + 0x80]); // SCHEDOP_poll
    check(g, 17, 0);
    spin_lock(g);
    load(g, SHINFO_CUR);
    g.a.mov(rsi, rax).unwrap();
    // Our own (legacy) vcpu_info: no upcall is wanted here.
    g.a.mov(byte_ptr(rsi + 64), 0).unwrap();
    g.a.xor(edx, edx).unwrap();
    g.a.xchg(qword_ptr(rsi + 72), rdx).unwrap();
    load(g, PORT_P);
    g.a.mov(rdx, rax).unwrap();
    g.a.shr(rdx, 6).unwrap();
    g.a.and(eax, 63).unwrap();
    g.a.lock()
        .btr(qword_ptr(rsi + rdx * 8 + 2048), rax)
        .unwrap();
    g.a.jnc(not_pending).unwrap();
    load(g, PORT_P);
    g.a.lea(rcx, ptr(rax * 8 + COUNT as i32)).unwrap();
    g.a.lock().inc(qword_ptr(rcx)).unwrap();
    bind(&mut g.a, &mut not_pending);
    spin_unlock(g);
    bind(&mut g.a, &mut none);
}

/// vCPU 1's port churn, kind (r12 >> 3) & 3: ports come and go while the streams run.
fn churn(g: &mut Guest) {
    let x = ARGS1 + 0x100;
    let mut kind1 = g.a.create_label();
    let mut kind2 = g.a.create_label();
    let mut kind3 = g.a.create_label();
    let mut out = g.a.create_label();
    g.a.mov(rax, r12).unwrap();
    g.a.shr(rax, 3).unwrap();
    g.a.and(eax, 3).unwrap();
    g.a.cmp(eax, 1).unwrap();
    g.a.je(kind1).unwrap();
    g.a.cmp(eax, 2).unwrap();
    g.a.je(kind2).unwrap();
    g.a.cmp(eax, 3).unwrap();
    g.a.je(kind3).unwrap();
    // 0: an IPI to vCPU 0: bind, send, close.
    g.store32(x, 0);
    g.hcall(32, &[7, x]); // EVTCHNOP_bind_ipi
    check(g, 18, 0);
    port_op(g, 4, x + 4, x + 0x20, 19); // send
    port_op(g, 3, x + 4, x + 0x20, 20); // close
    g.a.jmp(out).unwrap();
    // 1: a loopback interdomain pair: alloc_unbound, bind_interdomain, send, close both.
    bind(&mut g.a, &mut kind1);
    g.store32(x, 0x7ff0_7ff0); // dom, remote_dom = DOMID_SELF
    g.hcall(32, &[6, x]); // EVTCHNOP_alloc_unbound -> x + 4
    check(g, 21, 0);
    g.store32(x + 0x40, 0x7ff0);
    load(g, x + 4);
    g.a.mov(rcx, x + 0x44).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[0, x + 0x40]); // EVTCHNOP_bind_interdomain -> x + 0x48
    check(g, 22, 0);
    port_op(g, 4, x + 0x48, x + 0x20, 23);
    port_op(g, 3, x + 0x48, x + 0x20, 24);
    port_op(g, 3, x + 4, x + 0x20, 25);
    g.a.jmp(out).unwrap();
    // 2: an unbound port moved to vCPU 1 and back (EVTCHNOP_bind_vcpu), bound, sent, closed.
    bind(&mut g.a, &mut kind2);
    g.store32(x, 0x7ff0_7ff0);
    g.hcall(32, &[6, x]);
    check(g, 26, 0);
    for (v, tag) in [(1u32, 27u64), (0, 27)] {
        load(g, x + 4);
        g.a.mov(rcx, x + 0x60).unwrap();
        g.a.mov(dword_ptr(rcx), eax).unwrap();
        g.store32(x + 0x64, v);
        g.hcall(32, &[8, x + 0x60]); // EVTCHNOP_bind_vcpu
        check(g, tag, 0);
    }
    g.store32(x + 0x40, 0x7ff0);
    load(g, x + 4);
    g.a.mov(rcx, x + 0x44).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[0, x + 0x40]);
    check(g, 28, 0);
    port_op(g, 4, x + 0x48, x + 0x20, 29);
    port_op(g, 3, x + 0x48, x + 0x20, 29);
    port_op(g, 3, x + 4, x + 0x20, 29);
    g.a.jmp(out).unwrap();
    // 3: EVTCHNOP_status of A.
    bind(&mut g.a, &mut kind3);
    g.store32(x + 0x80, 0x7ff0);
    load(g, PORT_A);
    g.a.mov(rcx, x + 0x84).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[5, x + 0x80]);
    check(g, 30, 0);
    bind(&mut g.a, &mut out);
    bump(g, CHURN);
}

fn guest() -> Vec<u8> {
    let mut g = Guest::new64();
    let mut h = g.a.create_label();
    let mut start = g.a.create_label();
    let mut vcpu1 = g.a.create_label();
    g.a.jmp(start).unwrap();
    handler(&mut g.a, &mut h);
    bind(&mut g.a, &mut start);
    g.hypercall_page();
    g.a.mov(eax, 0x4000_0004u32).unwrap();
    g.a.xor(ecx, ecx).unwrap();
    g.a.cpuid().unwrap();
    g.a.mov(r15d, ebx).unwrap();
    g.a.test(r15, r15).unwrap();
    g.a.jnz(vcpu1).unwrap();

    // ---- vCPU 0: setup ----
    {
        let a = &mut g.a;
        a.mov(rbx, IDT).unwrap();
        let off = (VEC * 16) as i32;
        a.lea(rax, ptr(h)).unwrap();
        a.mov(word_ptr(rbx + off), ax).unwrap();
        a.mov(word_ptr(rbx + off + 2), 0x08u32).unwrap();
        a.mov(word_ptr(rbx + off + 4), 0x8e00u32).unwrap();
        a.shr(rax, 16).unwrap();
        a.mov(word_ptr(rbx + off + 6), ax).unwrap();
        a.shr(rax, 16).unwrap();
        a.mov(dword_ptr(rbx + off + 8), eax).unwrap();
        a.mov(dword_ptr(rbx + off + 12), 0u32).unwrap();
        a.mov(word_ptr(rbx + 0xff0), 0xfffu32).unwrap();
        a.mov(qword_ptr(rbx + 0xff2), rbx).unwrap();
        a.lidt(ptr(rbx + 0xff0)).unwrap();
    }
    for (i, f) in FRAMES.iter().enumerate() {
        g.store64(FRAME_TABLE + 8 * i as u64, *f);
    }
    g.map_shared_info(FRAMES[0]);
    check(&mut g, 1, 0);
    g.store64(SHINFO_CUR, FRAMES[0]);
    g.store64(VI_CUR, FRAMES[0]);
    g.callback_vector(VEC as u8);
    check(&mut g, 2, 0);
    // A: notifies vCPU 0 (vCPU 1 sends); P: notifies vCPU 1 (vCPU 0 sends), masked.
    for (vcpu, slot, tag) in [(0u32, PORT_A, 3u64), (1, PORT_P, 4)] {
        g.store32(ARGS, vcpu);
        g.hcall(32, &[7, ARGS]); // EVTCHNOP_bind_ipi
        check(&mut g, tag, 0);
        g.a.mov(rcx, ARGS + 4).unwrap();
        g.a.mov(eax, dword_ptr(rcx)).unwrap();
        save(&mut g, slot);
    }
    load(&mut g, PORT_P);
    g.a.mov(rdx, rax).unwrap();
    g.a.shr(rdx, 6).unwrap();
    g.a.and(eax, 63).unwrap();
    g.a.mov(rcx, FRAMES[0]).unwrap();
    g.a.lock()
        .bts(qword_ptr(rcx + rdx * 8 + 2560), rax)
        .unwrap();
    // VIRQ_TIMER on vCPU 0 and a 2 ms periodic timer.
    g.store32(ARGS + 0x20, 0);
    g.store32(ARGS + 0x24, 0);
    g.hcall(32, &[1, ARGS + 0x20]); // EVTCHNOP_bind_virq -> ARGS + 0x28
    check(&mut g, 5, 0);
    g.a.mov(rcx, ARGS + 0x28).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    save(&mut g, PORT_T);
    g.store64(ARGS + 0x40, 2_000_000);
    g.hcall(24, &[6, 0, ARGS + 0x40]); // VCPUOP_set_periodic_timer
    check(&mut g, 6, 0);
    g.store64(READY, 1);
    g.a.sti().unwrap();
    g.a.xor(r12d, r12d).unwrap();

    // ---- vCPU 0: main loop ----
    let mut loop0 = g.a.create_label();
    let mut finish0 = g.a.create_label();
    bind(&mut g.a, &mut loop0);
    g.a.inc(r12).unwrap();
    g.a.mov(rax, r12).unwrap();
    save(&mut g, ITER0);
    g.a.mov(rcx, STOP).unwrap();
    g.a.cmp(qword_ptr(rcx), 0).unwrap();
    g.a.jne(finish0).unwrap();
    // Stream P: the next event once vCPU 1 consumed the previous one.
    let mut no_p = g.a.create_label();
    jump_if_in_flight(&mut g, PORT_P, SENT_P, no_p);
    bump(&mut g, SENT_P);
    port_op(&mut g, 4, PORT_P, ARGS + 0x60, 7); // EVTCHNOP_send
    bind(&mut g.a, &mut no_p);
    // Every 32 rounds: shared_info moves.
    let mut no_move = g.a.create_label();
    g.a.test(r12, 31).unwrap();
    g.a.jnz(no_move).unwrap();
    move_shared_info(&mut g);
    bind(&mut g.a, &mut no_move);
    // Round 200: vcpu_info moves out of shared_info (once, as Xen allows).
    let mut no_vi = g.a.create_label();
    g.a.cmp(r12, 200).unwrap();
    g.a.jne(no_vi).unwrap();
    g.a.cli().unwrap();
    g.store64(ARGS + 0x80, VCPU_INFO0 >> 12);
    g.store32(ARGS + 0x88, (VCPU_INFO0 & 0xfff) as u32);
    g.store32(ARGS + 0x8c, 0);
    g.hcall(24, &[10, 0, ARGS + 0x80]); // VCPUOP_register_vcpu_info
    check(&mut g, 9, 0);
    g.store64(VI_CUR, VCPU_INFO0);
    g.store64(VI_MOVED, 1);
    g.a.sti().unwrap();
    bind(&mut g.a, &mut no_vi);
    // Round 17 mod 64: mask A; round 40 mod 64: EVTCHNOP_unmask(A).
    let mut no_mask = g.a.create_label();
    let mut no_unmask = g.a.create_label();
    g.a.mov(rax, r12).unwrap();
    g.a.and(eax, 63).unwrap();
    g.a.cmp(eax, 17).unwrap();
    g.a.jne(no_mask).unwrap();
    load(&mut g, SHINFO_CUR);
    g.a.mov(rsi, rax).unwrap();
    load(&mut g, PORT_A);
    g.a.mov(rdx, rax).unwrap();
    g.a.shr(rdx, 6).unwrap();
    g.a.and(eax, 63).unwrap();
    g.a.lock()
        .bts(qword_ptr(rsi + rdx * 8 + 2560), rax)
        .unwrap();
    bind(&mut g.a, &mut no_mask);
    g.a.mov(rax, r12).unwrap();
    g.a.and(eax, 63).unwrap();
    g.a.cmp(eax, 40).unwrap();
    g.a.jne(no_unmask).unwrap();
    port_op(&mut g, 9, PORT_A, ARGS + 0x60, 10); // EVTCHNOP_unmask
    bump(&mut g, UNMASKS);
    bind(&mut g.a, &mut no_unmask);
    // Round 100 / 101 mod 256: balloon a page out, then in again.
    let mut no_out = g.a.create_label();
    let mut no_in = g.a.create_label();
    let r = ARGS + 0x200;
    g.a.mov(rax, r12).unwrap();
    g.a.and(eax, 255).unwrap();
    g.a.cmp(eax, 100).unwrap();
    g.a.jne(no_out).unwrap();
    g.store64(r + 0x40, BALLOON >> 12);
    g.store64(r, r + 0x40);
    g.store64(r + 8, 1);
    g.store64(r + 16, 0); // order, flags
    g.store32(r + 24, 0x7ff0);
    g.hcall(12, &[1, r]); // XENMEM_decrease_reservation
    check(&mut g, 11, 1);
    bind(&mut g.a, &mut no_out);
    g.a.mov(rax, r12).unwrap();
    g.a.and(eax, 255).unwrap();
    g.a.cmp(eax, 101).unwrap();
    g.a.jne(no_in).unwrap();
    g.store64(r + 0x40, BALLOON >> 12);
    g.hcall(12, &[6, r]); // XENMEM_populate_physmap
    check(&mut g, 12, 1);
    bump(&mut g, BALLOONS);
    bind(&mut g.a, &mut no_in);
    // Every round: one more hypercall (EVTCHNOP_status of A), which paces the loop.
    g.store32(ARGS + 0x300, 0x7ff0);
    load(&mut g, PORT_A);
    g.a.mov(rcx, ARGS + 0x304).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[5, ARGS + 0x300]);
    check(&mut g, 13, 0);
    g.a.jmp(loop0).unwrap();

    // ---- vCPU 0: the end ----
    bind(&mut g.a, &mut finish0);
    g.store64(STOPPED0, 1);
    port_op(&mut g, 9, PORT_A, ARGS + 0x60, 10);
    wait_nonzero(&mut g, DONE1);
    // The host's last event is consumed too (the host waited for it before STOP, but a
    // restored VM may have it in flight).
    let mut drain0 = g.a.create_label();
    let mut drained0 = g.a.create_label();
    bind(&mut g.a, &mut drain0);
    g.a.mov(rcx, SENT_G).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, GUEST_G_PORT).unwrap();
    g.a.mov(rcx, qword_ptr(rcx)).unwrap();
    g.a.lea(rcx, ptr(rcx * 8 + COUNT as i32)).unwrap();
    g.a.cmp(qword_ptr(rcx), rax).unwrap();
    g.a.jae(drained0).unwrap();
    g.a.pause().unwrap();
    g.a.jmp(drain0).unwrap();
    bind(&mut g.a, &mut drained0);
    g.hcall(24, &[7, 0, 0]); // VCPUOP_stop_periodic_timer
    check(&mut g, 14, 0);
    g.a.cli().unwrap();
    g.shutdown(0);

    // ---- vCPU 1 ----
    bind(&mut g.a, &mut vcpu1);
    g.a.cli().unwrap();
    wait_nonzero(&mut g, READY);
    g.a.xor(r12d, r12d).unwrap();
    let mut loop1 = g.a.create_label();
    let mut finish1 = g.a.create_label();
    bind(&mut g.a, &mut loop1);
    g.a.inc(r12).unwrap();
    g.a.mov(rax, r12).unwrap();
    save(&mut g, ITER1);
    g.a.mov(rcx, STOP).unwrap();
    g.a.cmp(qword_ptr(rcx), 0).unwrap();
    g.a.jne(finish1).unwrap();
    // Stream A: the next IPI once vCPU 0 consumed the previous one.
    let mut no_a = g.a.create_label();
    jump_if_in_flight(&mut g, PORT_A, SENT_A, no_a);
    bump(&mut g, SENT_A);
    port_op(&mut g, 4, PORT_A, ARGS1, 16);
    bind(&mut g.a, &mut no_a);
    poll_and_take_p(&mut g);
    let mut no_churn = g.a.create_label();
    g.a.test(r12, 7).unwrap();
    g.a.jnz(no_churn).unwrap();
    churn(&mut g);
    bind(&mut g.a, &mut no_churn);
    g.a.jmp(loop1).unwrap();
    // The end: vCPU 0 sends nothing more; both streams drained.
    bind(&mut g.a, &mut finish1);
    wait_nonzero(&mut g, STOPPED0);
    let mut drain1 = g.a.create_label();
    let mut a_busy = g.a.create_label();
    bind(&mut g.a, &mut drain1);
    poll_and_take_p(&mut g);
    jump_if_in_flight(&mut g, PORT_A, SENT_A, a_busy);
    jump_if_in_flight(&mut g, PORT_P, SENT_P, a_busy);
    g.store64(DONE1, 1);
    let mut idle = g.a.create_label();
    bind(&mut g.a, &mut idle);
    g.a.pause().unwrap();
    g.a.jmp(idle).unwrap();
    bind(&mut g.a, &mut a_busy);
    g.a.pause().unwrap();
    g.a.jmp(drain1).unwrap();
    g.assemble()
}

/// The guest port of the host stream, written by the host before the guest runs.
const GUEST_G_PORT: u64 = DATA + 0xb8;

fn read_mem(m: &GuestMemoryMmap, gpa: u64) -> u64 {
    m.read_obj(GuestAddress(gpa)).unwrap()
}

fn read(vm: &Vm, root: &mut Root, gpa: u64) -> u64 {
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

fn write(vm: &Vm, root: &mut Root, gpa: u64, v: u64) {
    let (m, _t) = vm.shared().mem.read(root.token());
    m.write_obj(v, GuestAddress(gpa)).unwrap();
}

/// The three accounted streams: (name, port slot, sent counter).
const STREAMS: [(&str, u64, u64); 3] = [
    ("A (vCPU 1 -> vCPU 0 IPI)", PORT_A, SENT_A),
    ("P (vCPU 0 -> vCPU 1, polled)", PORT_P, SENT_P),
    ("G (host backend -> vCPU 0)", GUEST_G_PORT, SENT_G),
];

/// (sent, consumed) of each stream in `m`.
fn streams(m: &GuestMemoryMmap) -> [(u64, u64); 3] {
    STREAMS.map(|(_, slot, sent)| {
        let port = read_mem(m, slot);
        (read_mem(m, sent), read_mem(m, COUNT + port * 8))
    })
}

fn streams_of(vm: &Vm, root: &mut Root) -> [(u64, u64); 3] {
    let (m, _t) = vm.shared().mem.read(root.token());
    streams(&m)
}

/// What the guest and the host know about a stalled VM, for the failure message.
fn diagnose(vm: &Vm, root: &mut Root) -> String {
    let (m, _t) = vm.shared().mem.read(root.token());
    let sh = read_mem(&m, SHINFO_CUR);
    let mut out = format!(
        "iter0 {} iter1 {} shinfo {sh:#x} vcpu_info {:#x} moves {} upcalls {} polls {}; ",
        read_mem(&m, ITER0),
        read_mem(&m, ITER1),
        read_mem(&m, VI_CUR),
        read_mem(&m, MOVES),
        read_mem(&m, UPCALLS),
        read_mem(&m, POLLS),
    );
    for (name, slot, sent) in STREAMS {
        let p = read_mem(&m, slot);
        let w = sh + (p / 64) * 8;
        out += &format!(
            "{name}: port {p} sent {} seen {} pending {} masked {}; ",
            read_mem(&m, sent),
            read_mem(&m, COUNT + p * 8),
            read_mem(&m, w + 2048) >> (p % 64) & 1,
            read_mem(&m, w + 2560) >> (p % 64) & 1,
        );
    }
    out
}

/// Asserts the guest's hypercalls all succeeded.
fn assert_no_errors(vm: &Vm, root: &mut Root, what: &str) {
    let errs: Vec<(u64, i64)> = (0..NR_TAGS)
        .map(|t| (t, read(vm, root, ERRS + t * 8) as i64))
        .filter(|&(_, e)| e != 0)
        .collect();
    assert!(
        errs.is_empty(),
        "{what}: failed hypercalls (tag, result): {errs:?}"
    );
}

/// Runs `f` on a thread named `name`; its panic (or a failure it returns) is reported on
/// `fail`. Not joined on failure: a deadlocked thread must not hang the test.
fn spawn(
    name: &'static str,
    fail: &Sender<String>,
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let fail = fail.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let msg = match r {
                Ok(Ok(())) => return,
                Ok(Err(m)) => m,
                Err(p) => p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            };
            let _ = fail.send(format!("{name}: {msg}"));
        })
        .unwrap()
}

#[derive(Default)]
struct HostCounts {
    sent_g: AtomicU64,
    snapshots: AtomicU64,
    checked_files: AtomicU64,
    replaces: AtomicU64,
}

/// Removes the snapshot file at the end, also when the test fails.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("xen-vmm-stress-{name}-{}.snap", std::process::id()))
}

/// The host backend: one event at a time through the host port, each inside a `HostGate`
/// section (the sent count and the send are one step for a snapshot).
fn backend(vm: &Vm, host_id: u32, stop: &AtomicBool, n: &HostCounts) -> Result<(), String> {
    let shared = vm.shared();
    let mut root = Root::new().unwrap();
    let port = u64::from(read(vm, &mut root, GUEST_G_PORT) as u32);
    let mut sent = 0u64;
    let mut last = Instant::now();
    loop {
        let seen = read(vm, &mut root, COUNT + port * 8);
        if seen < sent {
            if last.elapsed() > HANG {
                return Err(format!(
                    "host event {sent} on port {port} not consumed in {HANG:?} ({})",
                    diagnose(vm, &mut root)
                ));
            }
            if shared.is_done() {
                return Err("the VM ended with a host event in flight".into());
            }
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        if seen > sent {
            return Err(format!("port {port}: {seen} events seen, {sent} sent"));
        }
        last = Instant::now();
        if stop.load(Ordering::SeqCst) {
            n.sent_g.store(sent, Ordering::SeqCst);
            return Ok(());
        }
        let Some(_section) = shared.host_gate.enter(root.token()) else {
            return Err("the VM ended".into());
        };
        sent += 1;
        write(vm, &mut root, SENT_G, sent);
        shared
            .platform
            .evtchn()
            .host_send(root.token(), host_id)
            .map_err(|e| format!("host_send: {e}"))?;
    }
}

/// Quiesces and snapshots the VM again and again: nothing the guest counts moves while it
/// is stopped, and every few files the counters in the file are consistent (at most one
/// event in flight per stream).
fn snapshotter(vm: &Vm, path: &Path, stop: &AtomicBool, n: &HostCounts) -> Result<(), String> {
    let mut root = Root::new().unwrap();
    let progress = |vm: &Vm, root: &mut Root| {
        let s = streams_of(vm, root);
        (read(vm, root, ITER0), read(vm, root, ITER1), s)
    };
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(25));
        let q = vm
            .quiesce(root.token())
            .map_err(|e| format!("quiesce: {e}"))?;
        if vm.shared().is_done() {
            return Err("the VM ended".into());
        }
        let before = progress(vm, &mut root);
        std::thread::sleep(Duration::from_millis(2));
        let after = progress(vm, &mut root);
        if before != after {
            return Err(format!(
                "the guest ran while stopped: {before:?} -> {after:?}"
            ));
        }
        q.snapshot(root.token(), path)
            .map_err(|e| format!("snapshot: {e}"))?;
        q.resume();
        let k = n.snapshots.fetch_add(1, Ordering::SeqCst);
        if k.is_multiple_of(4) {
            let (_, m) = open_file(path)
                .and_then(|r| r.into_guest_memory())
                .map_err(|e| format!("reading the snapshot: {e}"))?;
            for ((name, ..), (sent, seen)) in STREAMS.iter().zip(streams(&m)) {
                if seen > sent || sent > seen + 1 {
                    return Err(format!(
                        "snapshot {k}: stream {name}: {sent} sent, {seen} seen"
                    ));
                }
            }
            n.checked_files.fetch_add(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

/// Replaces the memory map with the same regions (a new generation every cache must
/// notice) and waits for the readers of the old one.
fn remapper(vm: &Vm, stop: &AtomicBool, n: &HostCounts) -> Result<(), String> {
    let shared = vm.shared();
    let mut root = Root::new().unwrap();
    while !stop.load(Ordering::SeqCst) {
        {
            let (_slots, mut t) = shared.map_update.lock(root.token());
            let current = {
                let (m, _t) = shared.mem.read(&mut t);
                (*m).clone()
            };
            shared.mem.replace(&mut t, current);
        }
        shared.mem.synchronize(root.token());
        n.replaces.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_micros(500));
    }
    Ok(())
}

/// Waits until `h` ends (at most HANG).
fn join_within(h: std::thread::JoinHandle<()>, vm: &Vm, root: &mut Root, what: &str) {
    let start = Instant::now();
    while !h.is_finished() {
        if start.elapsed() > HANG {
            let d = diagnose(vm, root);
            vm.shared().finish(ExitReason::Crash);
            panic!("{what} did not end within {HANG:?} (deadlock?): {d}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    h.join().unwrap();
}

#[test]
fn mixed_stress_on_kvm_loses_and_duplicates_no_event() {
    if !require_kvm() {
        return;
    }
    let run_for = Duration::from_secs(secs());
    let path = tmp("live");
    let _cleanup = RemoveOnDrop(path.clone());
    let mut cfg = VmConfig::new(Kernel::Raw64(guest()));
    cfg.vcpus = 2;
    cfg.mem_mib = MEM_MIB;
    cfg.output = Box::new(std::io::sink());
    let vm = Arc::new(Vm::new(cfg).unwrap());
    let mut root = Root::new().unwrap();
    // The host stream's port, bound before the guest runs (as the VMM's own backends).
    let host_id = {
        let shared = vm.shared();
        let gp = shared
            .platform
            .evtchn()
            .alloc_unbound(root.token(), xen_abi::DOMID_SELF, xen_evtchn::BACKEND_DOMID)
            .unwrap();
        let id = shared
            .platform
            .evtchn()
            .host_bind(root.token(), gp)
            .unwrap()
            .id();
        write(&vm, &mut root, GUEST_G_PORT, u64::from(gp));
        id
    };
    let (fail_tx, fail) = channel::<String>();
    let runner = {
        let vm = vm.clone();
        spawn("vm", &fail_tx, move || {
            vm.run().map(|_| ()).map_err(|e| format!("Vm::run: {e}"))
        })
    };
    let start = Instant::now();
    while read(&vm, &mut root, READY) != 1 {
        if let Ok(f) = fail.try_recv() {
            panic!("{f}");
        }
        assert!(start.elapsed() < HANG, "guest not ready");
        std::thread::sleep(Duration::from_millis(1));
    }
    let n = Arc::new(HostCounts::default());
    let stop_backend = Arc::new(AtomicBool::new(false));
    let stop_host = Arc::new(AtomicBool::new(false));
    let backend_t = {
        let (vm, stop, n) = (vm.clone(), stop_backend.clone(), n.clone());
        spawn("backend", &fail_tx, move || {
            backend(&vm, host_id, &stop, &n)
        })
    };
    let snap_t = {
        let (vm, stop, n, path) = (vm.clone(), stop_host.clone(), n.clone(), path.clone());
        spawn("snapshot", &fail_tx, move || {
            snapshotter(&vm, &path, &stop, &n)
        })
    };
    let remap_t = {
        let (vm, stop, n) = (vm.clone(), stop_host.clone(), n.clone());
        spawn("memory map", &fail_tx, move || remapper(&vm, &stop, &n))
    };

    // The watchdog: every stream moves on, no thread fails.
    let started = Instant::now();
    let mut last = streams_of(&vm, &mut root);
    let mut moved = [Instant::now(); 3];
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(f) = fail.try_recv() {
            let d = diagnose(&vm, &mut root);
            vm.shared().finish(ExitReason::Crash);
            panic!("{f} ({d})");
        }
        let now = streams_of(&vm, &mut root);
        for i in 0..3 {
            if now[i].1 != last[i].1 {
                moved[i] = Instant::now();
            } else if moved[i].elapsed() > HANG {
                let d = diagnose(&vm, &mut root);
                vm.shared().finish(ExitReason::Crash);
                panic!("stream {} stalled for {HANG:?}: {d}", STREAMS[i].0);
            }
        }
        last = now;
    }
    // The end: the host stops sending (its last event consumed), the snapshots and memory
    // map updates stop, then the guest drains its streams and shuts down.
    stop_backend.store(true, Ordering::SeqCst);
    join_within(backend_t, &vm, &mut root, "the backend");
    stop_host.store(true, Ordering::SeqCst);
    join_within(snap_t, &vm, &mut root, "the snapshot thread");
    join_within(remap_t, &vm, &mut root, "the memory-map thread");
    if let Ok(f) = fail.try_recv() {
        vm.shared().finish(ExitReason::Crash);
        panic!("{f}");
    }
    write(&vm, &mut root, STOP, 1);
    join_within(runner, &vm, &mut root, "the guest's drain and shutdown");
    if let Ok(f) = fail.try_recv() {
        panic!("{f}");
    }
    assert_eq!(vm.shared().exit_reason(), Some(ExitReason::Shutdown(0)));
    assert_no_errors(&vm, &mut root, "live VM");

    let s = streams_of(&vm, &mut root);
    let sent_g = n.sent_g.load(Ordering::SeqCst);
    let port_t = read(&vm, &mut root, PORT_T);
    let mut g = |at: u64| read(&vm, &mut root, at);
    let timer = g(COUNT + port_t * 8);
    let (moves, vi_moved, unmasks, balloons) = (g(MOVES), g(VI_MOVED), g(UNMASKS), g(BALLOONS));
    let (churn, polls, upcalls, iters) = (g(CHURN), g(POLLS), g(UPCALLS), (g(ITER0), g(ITER1)));
    let snapshots = n.snapshots.load(Ordering::SeqCst);
    let replaces = n.replaces.load(Ordering::SeqCst);
    println!(
        "stress_kvm: {:.1} s, events sent/seen A {:?} P {:?} G {:?} (total sent {}), \
         timer {timer}, upcalls {upcalls}, polls {polls}, rounds {iters:?}, shared_info moves \
         {moves}, vcpu_info moves {vi_moved}, unmasks {unmasks}, balloon rounds {balloons}, \
         churn {churn}, snapshots {snapshots} ({} files checked), memory-map replaces {replaces}",
        started.elapsed().as_secs_f64(),
        s[0],
        s[1],
        s[2],
        s[0].0 + s[1].0 + s[2].0,
        n.checked_files.load(Ordering::SeqCst),
    );
    assert_eq!(s[2].0, sent_g, "host events sent");
    for ((name, ..), (sent, seen)) in STREAMS.iter().zip(s) {
        assert_eq!(seen, sent, "stream {name}: {sent} sent, {seen} seen");
        assert!(sent > 0, "stream {name}: nothing sent");
    }
    assert!(timer > 0, "no VIRQ_TIMER event");
    assert!(moves >= 3, "shared_info moves: {moves}");
    assert_eq!(vi_moved, 1, "vcpu_info never registered");
    assert!(unmasks > 0 && balloons > 0 && churn > 0 && polls > 0);
    assert!(snapshots > 0 && replaces > 0);

    // The last snapshot was taken mid-run, with events in flight: restored and told to
    // stop, the guest drains every stream (an event the snapshot lost stalls it).
    drop(root);
    let vm2 = Arc::new(Vm::restore(&path, Box::new(std::io::sink())).unwrap());
    let mut root = Root::new().unwrap();
    let saved = streams_of(&vm2, &mut root);
    write(&vm2, &mut root, STOP, 1);
    let runner2 = {
        let vm2 = vm2.clone();
        spawn("restored vm", &fail_tx, move || {
            vm2.run().map(|_| ()).map_err(|e| format!("Vm::run: {e}"))
        })
    };
    join_within(
        runner2,
        &vm2,
        &mut root,
        "the restored guest's drain and shutdown",
    );
    if let Ok(f) = fail.try_recv() {
        panic!("{f}");
    }
    assert_eq!(vm2.shared().exit_reason(), Some(ExitReason::Shutdown(0)));
    assert_no_errors(&vm2, &mut root, "restored VM");
    let after = streams_of(&vm2, &mut root);
    for (((name, ..), (sent, seen)), (sent0, _)) in STREAMS.iter().zip(after).zip(saved) {
        // A sender caught between its check of STOP and its send sends once more.
        assert!(
            sent == sent0 || sent == sent0 + 1,
            "stream {name}: {sent0} sent before the restore, {sent} after"
        );
        assert_eq!(
            seen, sent,
            "restored stream {name}: {sent} sent, {seen} seen"
        );
    }
    println!(
        "stress_kvm: restored mid-run snapshot drained: in flight then {:?}",
        saved.map(|(s, c)| s - c)
    );
}
