// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! FIFO event channels in a real 64-bit guest: `EVTCHNOP_init_control`, `expand_array`,
//! three IPIs and VIRQ_TIMER, a priority, sends, the guest consuming the queues from
//! HEAD through the LINK fields, masking and unmask, and a timer event through the queue.

mod common;

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::ExitReason;

const CB: u64 = 0x31_0000;
const ARR: u64 = 0x32_0000;
const R: u64 = DATA + 0x400;
const PORTS: u64 = R + 0x200; // u32 ports at +0, +8, +0x10 (IPIs), +0x18 (VIRQ_TIMER)
const LIST: u64 = R + 0x300; // consumed ports, u32 each, in order
const LINK_MASK: u32 = (1 << 17) - 1;

fn copy32(g: &mut Guest, from: u64, to: u64) {
    g.a.mov(rcx, from).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, to).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
}

/// rax := address of the event word of the port stored (u32) at `slot`.
fn word_addr(g: &mut Guest, slot: u64) {
    g.a.mov(rcx, slot).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, ARR).unwrap();
    g.a.lea(rax, ptr(rcx + rax * 4)).unwrap();
}

/// Copies the event word of the port at `slot` to `to`.
fn copy_word(g: &mut Guest, slot: u64, to: u64) {
    word_addr(g, slot);
    g.a.mov(eax, dword_ptr(rax)).unwrap();
    g.a.mov(rcx, to).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
}

/// Consumes queue `q` as Linux does: from HEAD along the LINK fields, unlinking each
/// event (and clearing P), appending its port to LIST (index in r12), then clears the
/// queue's ready bit and evtchn_upcall_pending.
fn consume(g: &mut Guest, q: u32) {
    let mut top = g.a.create_label();
    let mut done = g.a.create_label();
    g.a.mov(rcx, CB + 8 + 4 * u64::from(q)).unwrap();
    g.a.mov(r8d, dword_ptr(rcx)).unwrap();
    g.a.set_label(&mut top).unwrap();
    g.a.test(r8d, r8d).unwrap();
    g.a.jz(done).unwrap();
    g.a.mov(r9, ARR).unwrap();
    g.a.lea(r9, ptr(r9 + r8 * 4)).unwrap();
    g.a.xor(eax, eax).unwrap();
    g.a.xchg(dword_ptr(r9), eax).unwrap();
    g.a.mov(r13, LIST).unwrap();
    g.a.mov(dword_ptr(r13 + r12 * 4), r8d).unwrap();
    g.a.inc(r12).unwrap();
    g.a.mov(r8d, eax).unwrap();
    g.a.and(r8d, LINK_MASK).unwrap();
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut done).unwrap();
    g.a.mov(rcx, CB).unwrap();
    g.a.lock().btr(dword_ptr(rcx), q).unwrap();
    g.a.mov(rcx, SHINFO).unwrap();
    g.a.mov(byte_ptr(rcx), 0u32).unwrap();
}

fn send(g: &mut Guest, slot: u64, result: u64) {
    copy32(g, slot, ARGS + 0xc0);
    g.hcall(32, &[4, ARGS + 0xc0]); // EVTCHNOP_send
    g.store_result(result);
}

#[test]
fn fifo_ipis_priorities_masking_and_timer_in_a_64bit_guest() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.a.xor(r12, r12).unwrap();
    // EVTCHNOP_init_control { control_gfn, offset 0, vcpu 0 }.
    g.store64(ARGS, CB >> 12);
    g.store64(ARGS + 8, 0);
    g.store64(ARGS + 16, 0);
    g.hcall(32, &[11, ARGS]);
    g.store_result(R);
    copy32(&mut g, ARGS + 16, R + 0x100); // link_bits
                                          // EVTCHNOP_expand_array { array_gfn }.
    g.store64(ARGS + 0x20, ARR >> 12);
    g.hcall(32, &[12, ARGS + 0x20]);
    g.store_result(R + 8);
    // Three IPIs to vCPU 0 and VIRQ_TIMER.
    for i in 0..3 {
        g.store64(ARGS + 0x40, 0);
        g.hcall(32, &[7, ARGS + 0x40]); // EVTCHNOP_bind_ipi
        copy32(&mut g, ARGS + 0x44, PORTS + 8 * i);
    }
    g.store64(ARGS + 0x80, 0); // VIRQ_TIMER, vCPU 0
    g.store64(ARGS + 0x88, 0);
    g.hcall(32, &[1, ARGS + 0x80]); // EVTCHNOP_bind_virq
    g.store_result(R + 0x10);
    copy32(&mut g, ARGS + 0x88, PORTS + 0x18);
    // The third IPI gets priority 2.
    copy32(&mut g, PORTS + 0x10, ARGS + 0xa0);
    g.store32(ARGS + 0xa4, 2);
    g.hcall(32, &[13, ARGS + 0xa0]); // EVTCHNOP_set_priority
    g.store_result(R + 0x18);
    for i in 0..3 {
        send(&mut g, PORTS + 8 * i, R + 0x20 + 8 * i);
    }
    copy32(&mut g, CB, R + 0x120); // ready
    copy32(&mut g, CB + 8 + 4 * 7, R + 0x128); // head[7]
    copy32(&mut g, CB + 8 + 4 * 2, R + 0x130); // head[2]
    g.a.mov(rcx, SHINFO).unwrap();
    g.a.movzx(eax, byte_ptr(rcx)).unwrap();
    g.a.mov(rcx, R + 0x138).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    // The guest takes the highest priority first.
    consume(&mut g, 2);
    consume(&mut g, 7);
    // Masked: the send leaves it pending, not linked; unmask links it.
    word_addr(&mut g, PORTS);
    g.a.lock().or(dword_ptr(rax), 1 << 30).unwrap();
    send(&mut g, PORTS, R + 0x40);
    copy_word(&mut g, PORTS, R + 0x140);
    copy32(&mut g, CB, R + 0x144);
    copy32(&mut g, PORTS, ARGS + 0xe0);
    g.hcall(32, &[9, ARGS + 0xe0]); // EVTCHNOP_unmask
    g.store_result(R + 0x48);
    copy_word(&mut g, PORTS, R + 0x148);
    copy32(&mut g, CB + 8 + 4 * 7, R + 0x14c);
    copy32(&mut g, CB, R + 0x150);
    consume(&mut g, 7);
    // A single-shot timer in the past: VIRQ_TIMER comes through queue 7.
    g.store64(ARGS + 0x100, 1);
    g.store64(ARGS + 0x108, 0);
    g.hcall(24, &[8, 0, ARGS + 0x100]); // VCPUOP_set_singleshot_timer
    g.store_result(R + 0x50);
    let mut spin = g.a.create_label();
    let mut got = g.a.create_label();
    g.a.mov(rbx, 2_000_000_000u64).unwrap(); // hang guard, not a speed test
    g.a.set_label(&mut spin).unwrap();
    g.a.mov(rcx, CB).unwrap();
    g.a.test(dword_ptr(rcx), 1 << 7).unwrap();
    g.a.jnz(got).unwrap();
    g.a.pause().unwrap();
    g.a.dec(rbx).unwrap();
    g.a.jnz(spin).unwrap();
    g.a.set_label(&mut got).unwrap();
    g.a.mov(rcx, R + 0x158).unwrap();
    g.a.mov(qword_ptr(rcx), rbx).unwrap();
    consume(&mut g, 7);
    g.a.mov(rcx, R + 0x160).unwrap();
    g.a.mov(qword_ptr(rcx), r12).unwrap();
    g.shutdown(0);

    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    for off in [0, 8, 0x10, 0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50] {
        assert_eq!(r.i64(R + off), 0, "hypercall result at +{off:#x}");
    }
    assert_eq!(r.u32(R + 0x100) & 0xff, 17, "link_bits");
    let p: Vec<u32> = (0..4).map(|i| r.u32(PORTS + 8 * i)).collect();
    assert!(p.iter().all(|&x| x > 0));
    // After the sends: queues 7 (p0 -> p1) and 2 (p2), one upcall flag.
    assert_eq!(r.u32(R + 0x120), 1 << 7 | 1 << 2, "ready");
    assert_eq!(r.u32(R + 0x128), p[0], "head[7]");
    assert_eq!(r.u32(R + 0x130), p[2], "head[2]");
    assert_eq!(r.u32(R + 0x138), 1, "evtchn_upcall_pending");
    // Masked send: P|M, nothing ready; unmask: P|L, the head of queue 7 again.
    assert_eq!(r.u32(R + 0x140), 0xc000_0000, "masked word");
    assert_eq!(r.u32(R + 0x144), 0, "ready while masked");
    assert_eq!(r.u32(R + 0x148), 0xa000_0000, "unmasked word");
    assert_eq!(r.u32(R + 0x14c), p[0]);
    assert_eq!(r.u32(R + 0x150), 1 << 7);
    assert_ne!(r.u64(R + 0x158), 0, "the timer event came");
    let n = r.u64(R + 0x160) as u32;
    let list: Vec<u32> = (0..n).map(|i| r.u32(LIST + 4 * u64::from(i))).collect();
    assert_eq!(
        list,
        vec![p[2], p[0], p[1], p[0], p[3]],
        "consumed in order"
    );
}

// ---- 32-bit flat guest --------------------------------------------------------------------

fn copy32_32(g: &mut Guest, from: u64, to: u64) {
    g.a.mov(ecx, from as u32).unwrap();
    g.a.mov(eax, dword_ptr(ecx)).unwrap();
    g.a.mov(ecx, to as u32).unwrap();
    g.a.mov(dword_ptr(ecx), eax).unwrap();
}

/// As [`consume`], with 32-bit registers (list index in ebp).
fn consume32(g: &mut Guest, q: u32) {
    let mut top = g.a.create_label();
    let mut done = g.a.create_label();
    g.a.mov(ecx, (CB + 8 + 4 * u64::from(q)) as u32).unwrap();
    g.a.mov(esi, dword_ptr(ecx)).unwrap();
    g.a.set_label(&mut top).unwrap();
    g.a.test(esi, esi).unwrap();
    g.a.jz(done).unwrap();
    g.a.mov(edi, ARR as u32).unwrap();
    g.a.lea(edi, ptr(edi + esi * 4)).unwrap();
    g.a.xor(eax, eax).unwrap();
    g.a.xchg(dword_ptr(edi), eax).unwrap();
    g.a.mov(ecx, LIST as u32).unwrap();
    g.a.mov(dword_ptr(ecx + ebp * 4), esi).unwrap();
    g.a.inc(ebp).unwrap();
    g.a.mov(esi, eax).unwrap();
    g.a.and(esi, LINK_MASK).unwrap();
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut done).unwrap();
    g.a.mov(ecx, CB as u32).unwrap();
    g.a.lock().btr(dword_ptr(ecx), q).unwrap();
    g.a.mov(ecx, SHINFO as u32).unwrap();
    g.a.mov(byte_ptr(ecx), 0u32).unwrap();
}

#[test]
fn fifo_ipis_priorities_and_masking_in_a_32bit_flat_guest() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new32();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.a.xor(ebp, ebp).unwrap();
    g.store64(ARGS, CB >> 12);
    g.store64(ARGS + 8, 0);
    g.store64(ARGS + 16, 0);
    g.hcall(32, &[11, ARGS]); // EVTCHNOP_init_control
    g.store_result(R);
    copy32_32(&mut g, ARGS + 16, R + 0x100);
    g.store64(ARGS + 0x20, ARR >> 12);
    g.hcall(32, &[12, ARGS + 0x20]); // EVTCHNOP_expand_array
    g.store_result(R + 8);
    for i in 0..3 {
        g.store64(ARGS + 0x40, 0);
        g.hcall(32, &[7, ARGS + 0x40]); // EVTCHNOP_bind_ipi
        copy32_32(&mut g, ARGS + 0x44, PORTS + 8 * i);
    }
    copy32_32(&mut g, PORTS + 0x10, ARGS + 0xa0);
    g.store32(ARGS + 0xa4, 0);
    g.hcall(32, &[13, ARGS + 0xa0]); // EVTCHNOP_set_priority(p2, 0)
    g.store_result(R + 0x18);
    // Mask p1 before the sends: it stays off the queue.
    g.a.mov(ecx, PORTS as u32 + 8).unwrap();
    g.a.mov(eax, dword_ptr(ecx)).unwrap();
    g.a.mov(ecx, ARR as u32).unwrap();
    g.a.lock().or(dword_ptr(ecx + eax * 4), 1 << 30).unwrap();
    for i in 0..3 {
        copy32_32(&mut g, PORTS + 8 * i, ARGS + 0xc0);
        g.hcall(32, &[4, ARGS + 0xc0]); // EVTCHNOP_send
        g.store_result(R + 0x20 + 8 * i);
    }
    copy32_32(&mut g, CB, R + 0x120);
    consume32(&mut g, 0);
    consume32(&mut g, 7);
    copy32_32(&mut g, PORTS + 8, ARGS + 0xe0);
    g.hcall(32, &[9, ARGS + 0xe0]); // EVTCHNOP_unmask(p1): linked now
    g.store_result(R + 0x48);
    consume32(&mut g, 7);
    g.a.mov(ecx, R as u32 + 0x160).unwrap();
    g.a.mov(dword_ptr(ecx), ebp).unwrap();
    g.shutdown(0);

    let r = run32(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    for off in [0, 8, 0x18, 0x20, 0x28, 0x30, 0x48] {
        assert_eq!(r.u32(R + off), 0, "hypercall result at +{off:#x}");
    }
    assert_eq!(r.u32(R + 0x100) & 0xff, 17, "link_bits");
    let p: Vec<u32> = (0..3).map(|i| r.u32(PORTS + 8 * i)).collect();
    assert_eq!(r.u32(R + 0x120), 1 << 7 | 1, "ready: queues 0 and 7");
    let n = r.u32(R + 0x160);
    let list: Vec<u32> = (0..n).map(|i| r.u32(LIST + 4 * u64::from(i))).collect();
    assert_eq!(list, vec![p[2], p[0], p[1]], "consumed in order");
}

/// FIFO state survives a snapshot and a restore through the file format: two pending
/// events linked on their queues (one at priority 3) in guest memory, the control block,
/// the event array, the queue tails and priorities on the VMM side; after the restore a
/// new event links behind the restored tail without a second upcall.
#[test]
fn fifo_state_and_pending_events_survive_snapshot() {
    use std::time::{Duration, Instant};
    use vm_memory::{Bytes, GuestAddress};
    use xen_vmm::{Kernel, Vm, VmConfig};
    if !require_kvm() {
        return;
    }
    const READY: u64 = DATA + 0x100;
    let read = |vm: &Vm, gpa: u64| -> u32 {
        let mut root = vm_lock::Root::new().unwrap();
        let (m, _t) = vm.shared().mem.read(root.token());
        m.read_obj(GuestAddress(gpa)).unwrap()
    };
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.store64(ARGS, CB >> 12);
    g.store64(ARGS + 8, 0);
    g.store64(ARGS + 16, 0);
    g.hcall(32, &[11, ARGS]); // EVTCHNOP_init_control
    g.store_result(R);
    g.store64(ARGS + 0x20, ARR >> 12);
    g.hcall(32, &[12, ARGS + 0x20]); // EVTCHNOP_expand_array
    g.store_result(R + 8);
    for i in 0..3 {
        g.store64(ARGS + 0x40, 0);
        g.hcall(32, &[7, ARGS + 0x40]); // EVTCHNOP_bind_ipi
        copy32(&mut g, ARGS + 0x44, PORTS + 8 * i);
    }
    copy32(&mut g, PORTS + 8, ARGS + 0xa0);
    g.store32(ARGS + 0xa4, 3);
    g.hcall(32, &[13, ARGS + 0xa0]); // EVTCHNOP_set_priority
    g.store_result(R + 0x10);
    send(&mut g, PORTS, R + 0x18);
    send(&mut g, PORTS + 8, R + 0x20);
    g.store64(READY, 1);
    // Interrupts enabled (none comes): a HLT with IF clear would take the
    // vCPU offline and power the domain off, as Xen does.
    g.a.sti().unwrap();
    let idle = g.a.create_label();
    g.a.set_label(&mut { idle }).unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    let path = std::env::temp_dir().join(format!("xen-vmm-fifo-{}.snap", std::process::id()));
    std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let start = Instant::now();
        while read(&vm, READY) != 1 {
            assert!(start.elapsed() < Duration::from_secs(30), "guest set up");
            std::thread::sleep(Duration::from_millis(5));
        }
        vm.snapshot(vm_lock::Root::new().unwrap().token(), &path)
            .unwrap();
        vm.shared().finish(ExitReason::Shutdown(0));
    });
    for off in [0, 8, 0x10, 0x18, 0x20] {
        assert_eq!(read(&vm, R + off), 0, "hypercall result at +{off:#x}");
    }
    let p: Vec<u32> = (0..3).map(|i| read(&vm, PORTS + 8 * i)).collect();
    let before = {
        let mut root = vm_lock::Root::new().unwrap();
        vm.shared().platform.state(root.token())
    };
    // In the file (current format; FIFO state since format 6).
    let file = xen_vmm::snapshot::open_file(&path).unwrap();
    assert_eq!(
        file.header().format_version,
        xen_vmm::snapshot::format::CURRENT_FORMAT_VERSION
    );
    let f = file
        .state()
        .xen
        .fifo
        .clone()
        .expect("FIFO state in the file");
    assert_eq!(f.vcpus[0].control_gfn, Some(CB >> 12));
    assert_eq!(f.event_array, vec![ARR >> 12]);
    assert_eq!((f.vcpus[0].tails[7], f.vcpus[0].tails[3]), (p[0], p[1]));
    // Restored: the same FIFO state, the pending events still linked in guest memory.
    let vm2 = Vm::restore(&path, Box::new(std::io::sink())).unwrap();
    let _ = std::fs::remove_file(&path);
    let after = {
        let mut root = vm_lock::Root::new().unwrap();
        vm2.shared().platform.state(root.token())
    };
    assert!(after.evtchn.fifo.is_some());
    assert_eq!(after.evtchn.fifo, before.evtchn.fifo);
    let (pl, link) = (0xa000_0000u32, LINK_MASK);
    assert_eq!(read(&vm2, ARR + 4 * u64::from(p[0])), pl, "pending, linked");
    assert_eq!(read(&vm2, ARR + 4 * u64::from(p[1])), pl);
    assert_eq!(read(&vm2, CB), 1 << 7 | 1 << 3, "ready");
    assert_eq!(read(&vm2, CB + 8 + 4 * 7), p[0], "head[7]");
    assert_eq!(read(&vm2, CB + 8 + 4 * 3), p[1], "head[3]");
    // A new event on queue 7 links behind the restored tail.
    {
        let mut root = vm_lock::Root::new().unwrap();
        let evtchn = vm2.shared().platform.evtchn();
        evtchn.set_pending(root.token(), p[2]).unwrap();
    }
    assert_eq!(read(&vm2, ARR + 4 * u64::from(p[0])) & link, p[2]);
    assert_eq!(read(&vm2, ARR + 4 * u64::from(p[2])), pl);
}
