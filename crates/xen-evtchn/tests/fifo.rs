// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! FIFO event channels: errnos, the queue protocol as a guest sees it, switching from the
//! 2-level ABI, snapshot.

mod common;

use common::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress, GuestAddressSpace};
use xen_abi::errno::{EINVAL, ENOENT, ENOSPC, ENOSYS, EOPNOTSUPP};
use xen_abi::{DOMID_SELF, VIRQ_TIMER};
use xen_evtchn::{Delivery, Evtchn};
use xen_shinfo_cache::GuestWidth;

const CB_GFN: u64 = 0x20;
const ARRAY_GFN: u64 = 0x21;
const P: u32 = 1 << 31;
const M: u32 = 1 << 30;
const L: u32 = 1 << 29;
const B: u32 = 1 << 28;
const LINK: u32 = (1 << 17) - 1;

fn cb_gpa(vcpu: u32) -> u64 {
    CB_GFN * 0x1000 + vcpu as u64 * 0x100
}

fn rd(vm: &Vm, gpa: u64) -> u32 {
    vm.mem
        .atomic()
        .memory()
        .read_obj(GuestAddress(gpa))
        .unwrap()
}

fn wr(vm: &Vm, gpa: u64, v: u32) {
    vm.mem
        .atomic()
        .memory()
        .write_obj(v, GuestAddress(gpa))
        .unwrap()
}

/// Event word of `port` (array pages at ARRAY_GFN..).
fn word_gpa(port: u32) -> u64 {
    ARRAY_GFN * 0x1000 + port as u64 * 4
}

fn word(vm: &Vm, port: u32) -> u32 {
    rd(vm, word_gpa(port))
}

fn ready(vm: &Vm, vcpu: u32) -> u32 {
    rd(vm, cb_gpa(vcpu))
}

fn head(vm: &Vm, vcpu: u32, q: u32) -> u32 {
    rd(vm, cb_gpa(vcpu) + 8 + 4 * q as u64)
}

/// The guest's consumer (as Linux's `consume_one_event`): a local head per queue.
#[derive(Default)]
struct Consumer {
    heads: [u32; 16],
}

impl Consumer {
    /// Pops the next event of queue `q` of `vcpu`: `Some(port)` if it was pending and
    /// unmasked (P is cleared, as the guest's handler does), `Some(0)` for a skipped one.
    fn pop(&mut self, vm: &Vm, vcpu: u32, q: u32) -> Option<u32> {
        let mut port = self.heads[q as usize];
        if port == 0 {
            // The queue is consumed only while its ready bit is set.
            if ready(vm, vcpu) & (1 << q) == 0 {
                return None;
            }
            port = head(vm, vcpu, q);
        }
        if port == 0 {
            return None;
        }
        // clear_linked: atomically, as the guest does.
        let snap = vm.mem.atomic().memory();
        let range = xen_shinfo_cache::MappedRange::new(&*snap, word_gpa(port), 4).unwrap();
        let a = range.atomic_u32(0).unwrap();
        let mut w = a.load(std::sync::atomic::Ordering::SeqCst);
        let next = loop {
            let new = w & !(L | LINK);
            match a.compare_exchange(
                w,
                new,
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
            ) {
                Ok(_) => break w & LINK,
                Err(cur) => w = cur,
            }
        };
        if next == 0 {
            let r = rd(vm, cb_gpa(vcpu));
            wr(vm, cb_gpa(vcpu), r & !(1 << q));
        }
        self.heads[q as usize] = next;
        if w & P != 0 && w & M == 0 {
            a.fetch_and(!P, std::sync::atomic::Ordering::SeqCst);
            Some(port)
        } else {
            Some(0)
        }
    }

    fn drain(&mut self, vm: &Vm, vcpu: u32, q: u32) -> Vec<u32> {
        std::iter::from_fn(|| self.pop(vm, vcpu, q)).collect()
    }
}

/// A 64-bit VM switched to FIFO with a control block for vCPUs 0 and 1 and `pages` event
/// array pages.
fn fifo_vm(pages: u64) -> Vm {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    assert_eq!(vm.evtchn.init_control(t, CB_GFN, 0, 0).unwrap(), 17);
    assert_eq!(vm.evtchn.init_control(t, CB_GFN, 0x100, 1).unwrap(), 17);
    for i in 0..pages {
        vm.evtchn.expand_array(t, ARRAY_GFN + i).unwrap();
    }
    vm
}

fn errno<T: std::fmt::Debug>(r: xen_evtchn::Result<T>) -> i32 {
    r.unwrap_err().errno()
}

#[test]
fn init_control_errnos() {
    let vm = vm(GuestWidth::Bits64);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    assert_eq!(errno(e.init_control(t, CB_GFN, 0, VCPUS)), ENOENT);
    // The block (72 bytes) must end inside the page; the offset must be 8-byte aligned.
    assert_eq!(errno(e.init_control(t, CB_GFN, 4096 - 72 + 8, 0)), EINVAL);
    assert_eq!(errno(e.init_control(t, CB_GFN, u32::MAX, 0)), EINVAL);
    assert_eq!(errno(e.init_control(t, CB_GFN, 4, 0)), EINVAL);
    // Not RAM, or a frame number whose address overflows.
    assert_eq!(errno(e.init_control(t, 0x1000, 0, 0)), EINVAL);
    assert_eq!(errno(e.init_control(t, u64::MAX, 0, 0)), EINVAL);
    // A failed first call leaves the 2-level ABI.
    assert!(!e.fifo_active());
    let ipi = e.bind_ipi(t, 0).unwrap();
    assert_eq!(errno(e.set_priority(t, ipi, 1)), ENOSYS);
    assert_eq!(errno(e.expand_array(t, ARRAY_GFN)), EOPNOTSUPP);
    // The last offset that fits.
    assert_eq!(e.init_control(t, CB_GFN, 4096 - 72, 0).unwrap(), 17);
    assert!(e.fifo_active());
    // Twice for the same vCPU: EINVAL; another vCPU: fine, with Xen's checks.
    assert_eq!(errno(e.init_control(t, CB_GFN, 0, 0)), EINVAL);
    assert_eq!(errno(e.init_control(t, 0x1000, 0, 1)), EINVAL);
    assert_eq!(e.init_control(t, CB_GFN, 0x100, 1).unwrap(), 17);
}

#[test]
fn expand_array_and_set_priority_errnos() {
    let vm = fifo_vm(0);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    assert_eq!(errno(e.expand_array(t, 0x1000)), EINVAL);
    assert_eq!(errno(e.expand_array(t, u64::MAX)), EINVAL);
    for _ in 0..128 {
        e.expand_array(t, ARRAY_GFN).unwrap();
    }
    assert_eq!(errno(e.expand_array(t, ARRAY_GFN)), ENOSPC);
    let ipi = e.bind_ipi(t, 0).unwrap();
    assert_eq!(errno(e.set_priority(t, ipi, 16)), EINVAL);
    assert_eq!(errno(e.set_priority(t, 1 << 17, 0)), EINVAL);
    // A port that is not allocated (never bound, closed, port 0): EINVAL.
    assert_eq!(errno(e.set_priority(t, ipi + 1, 0)), EINVAL);
    assert_eq!(errno(e.set_priority(t, 0, 0)), EINVAL);
    assert_eq!(errno(e.set_priority(t, 5000, 0)), EINVAL);
    let closed = e.bind_ipi(t, 0).unwrap();
    e.close(t, closed).unwrap();
    assert_eq!(errno(e.set_priority(t, closed, 0)), EINVAL);
    e.set_priority(t, ipi, 0).unwrap();
    e.set_priority(t, ipi, 15).unwrap();
    // An unbound (alloc_unbound) port is allocated: it takes a priority.
    let unbound = e.alloc_unbound(t, DOMID_SELF, 0).unwrap();
    e.set_priority(t, unbound, 3).unwrap();
    assert_eq!(e.nr_ports(), 1 << 17);
}

#[test]
fn events_are_linked_in_order_and_raise_once() {
    let vm = fifo_vm(1);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let ports: Vec<u32> = (0..3).map(|_| e.bind_ipi(t, 0).unwrap()).collect();
    assert_eq!(e.set_pending(t, ports[0]).unwrap(), Delivery::Raised);
    assert_eq!(e.set_pending(t, ports[1]).unwrap(), Delivery::Coalesced);
    assert_eq!(e.set_pending(t, ports[2]).unwrap(), Delivery::Coalesced);
    assert_eq!(
        e.set_pending(t, ports[2]).unwrap(),
        Delivery::AlreadyPending
    );
    assert_eq!(vm.sink.raises(0), 1);
    assert_eq!(upcall_pending(&vm, 0), 1);
    assert_eq!(ready(&vm, 0), 1 << 7, "default priority 7");
    assert_eq!(head(&vm, 0, 7), ports[0]);
    assert_eq!(word(&vm, ports[0]), P | L | ports[1]);
    assert_eq!(word(&vm, ports[1]), P | L | ports[2]);
    assert_eq!(word(&vm, ports[2]), P | L);
    assert!(e.is_pending(t, ports[1]).unwrap());
    let mut c = Consumer::default();
    assert_eq!(c.drain(&vm, 0, 7), ports);
    assert_eq!(ready(&vm, 0), 0);
    // The queue is empty: the next event is a new head (its old tail is unlinked).
    wr(&vm, cb_gpa(0) + 8 + 4 * 7, 0);
    wr(&vm, SHINFO, 0); // the guest clears evtchn_upcall_pending of vCPU 0
    assert_eq!(e.set_pending(t, ports[1]).unwrap(), Delivery::Raised);
    assert_eq!(head(&vm, 0, 7), ports[1]);
    assert_eq!(word(&vm, ports[2]), 0, "the old tail was not relinked");
    assert_eq!(c.drain(&vm, 0, 7), vec![ports[1]]);
}

#[test]
fn priorities_use_their_own_queues() {
    let vm = fifo_vm(1);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let lo = e.bind_ipi(t, 1).unwrap();
    let hi = e.bind_ipi(t, 1).unwrap();
    let hi2 = e.bind_ipi(t, 1).unwrap();
    e.set_priority(t, hi, 2).unwrap();
    e.set_priority(t, hi2, 2).unwrap();
    e.set_pending(t, lo).unwrap();
    e.set_pending(t, hi).unwrap();
    e.set_pending(t, hi2).unwrap();
    assert_eq!(ready(&vm, 1), 1 << 7 | 1 << 2);
    assert_eq!((head(&vm, 1, 7), head(&vm, 1, 2)), (lo, hi));
    assert_eq!(ready(&vm, 0), 0, "vCPU 0's queues untouched");
    let mut c = Consumer::default();
    assert_eq!(c.drain(&vm, 1, 2), vec![hi, hi2]);
    assert_eq!(c.drain(&vm, 1, 7), vec![lo]);
    // A changed priority applies to the next event only; the port moved queue.
    e.set_priority(t, lo, 15).unwrap();
    e.set_pending(t, lo).unwrap();
    assert_eq!(head(&vm, 1, 15), lo);
    // The old queue (7) forgot its tail `lo` (now linked on queue 15): a new event there
    // is its head, not linked behind `lo` (which would corrupt queue 15).
    e.set_priority(t, hi, 7).unwrap();
    e.set_pending(t, hi).unwrap();
    assert_eq!(head(&vm, 1, 7), hi);
    assert_eq!(word(&vm, lo) & LINK, 0);
    assert_eq!(c.drain(&vm, 1, 15), vec![lo]);
    assert_eq!(c.drain(&vm, 1, 7), vec![hi]);
}

#[test]
fn masked_events_are_linked_on_unmask() {
    let vm = fifo_vm(1);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let p = e.bind_ipi(t, 0).unwrap();
    wr(&vm, word_gpa(p), M);
    assert_eq!(e.set_pending(t, p).unwrap(), Delivery::Masked);
    assert_eq!(word(&vm, p), P | M, "pending, not linked");
    assert_eq!((ready(&vm, 0), vm.sink.raises(0)), (0, 0));
    e.unmask(t, p).unwrap();
    assert_eq!(word(&vm, p), P | L);
    assert_eq!(head(&vm, 0, 7), p);
    assert_eq!(vm.sink.raises(0), 1);
    // Unmasking a non-pending event links nothing.
    let q = e.bind_ipi(t, 0).unwrap();
    wr(&vm, word_gpa(q), M);
    e.unmask(t, q).unwrap();
    assert_eq!(word(&vm, q), 0);
}

#[test]
fn busy_tail_and_unlinked_tail() {
    let vm = fifo_vm(1);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let a = e.bind_ipi(t, 0).unwrap();
    let b = e.bind_ipi(t, 0).unwrap();
    let c = e.bind_ipi(t, 0).unwrap();
    e.set_pending(t, a).unwrap();
    // The tail word has BUSY left over: linking clears it with the LINK update.
    wr(&vm, word_gpa(a), word(&vm, a) | B);
    e.set_pending(t, b).unwrap();
    assert_eq!(word(&vm, a), P | L | b);
    // The guest consumed the tail `b` (unlinked) before `c` came: `c` becomes the head.
    let mut cons = Consumer::default();
    assert_eq!(cons.drain(&vm, 0, 7), vec![a, b]);
    wr(&vm, cb_gpa(0) + 8 + 4 * 7, 0);
    e.set_pending(t, c).unwrap();
    assert_eq!(head(&vm, 0, 7), c);
    assert_eq!(
        word(&vm, b) & (L | LINK | B),
        0,
        "nothing linked to an unlinked word"
    );
    assert_eq!(ready(&vm, 0), 1 << 7);
}

#[test]
fn switching_keeps_pending_2_level_events() {
    let vm = vm(GuestWidth::Bits64);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let a = e.bind_ipi(t, 0).unwrap();
    let b = e.bind_ipi(t, 0).unwrap();
    let v = e.bind_virq(t, VIRQ_TIMER, 1).unwrap();
    e.set_pending(t, b).unwrap();
    assert!(pending(&vm, b));
    e.init_control(t, CB_GFN, 0, 0).unwrap();
    e.init_control(t, CB_GFN, 0x100, 1).unwrap();
    // Pending before its event word exists: kept, and linked when the page comes.
    assert!(e.is_pending(t, b).unwrap());
    assert!(!e.is_pending(t, a).unwrap());
    assert_eq!(
        e.raise_virq(t, VIRQ_TIMER, 1).unwrap(),
        Some(Delivery::Deferred)
    );
    e.expand_array(t, ARRAY_GFN).unwrap();
    assert_eq!(head(&vm, 0, 7), b);
    assert_eq!(word(&vm, b), P | L);
    assert_eq!(head(&vm, 1, 7), v);
    assert_eq!(word(&vm, a), 0);
    assert_eq!((vm.sink.raises(0), vm.sink.raises(1)), (1, 1));
    // Consumed on FIFO, `b` is no longer pending, whatever its old 2-level bit says.
    let mut c = Consumer::default();
    assert_eq!(c.drain(&vm, 0, 7), vec![b]);
    wr(&vm, SHINFO, 0); // evtchn_upcall_pending of vCPU 0
    assert!(pending(&vm, b), "the 2-level bit is left as it was");
    assert!(!e.is_pending(t, b).unwrap());
    assert!(!e.poll_begin(t, 0, &[b]).unwrap());
    e.poll_end(0);
}

#[test]
fn ports_above_4096_after_the_switch() {
    let vm = fifo_vm(5);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let mut last = 0;
    for _ in 0..4500 {
        last = e.bind_ipi(t, 0).unwrap();
    }
    assert_eq!(last, 4500);
    e.set_pending(t, last).unwrap();
    assert_eq!(head(&vm, 0, 7), last);
    assert_eq!(word(&vm, last), P | L);
    assert_eq!(e.status(t, DOMID_SELF, last).unwrap().status, 5);
    e.close(t, last).unwrap();
    assert_eq!(word(&vm, last), L, "close clears P only");
    // Reset closes everything and goes back to 2-level.
    e.reset(t, DOMID_SELF).unwrap();
    assert!(!e.fifo_active());
    assert_eq!(e.nr_ports(), 4096);
    assert_eq!(errno(e.set_priority(t, 1, 1)), ENOSYS);
}

#[test]
fn close_restores_default_priority_and_poll_sees_fifo() {
    let vm = fifo_vm(1);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let p = e.bind_ipi(t, 0).unwrap();
    e.set_priority(t, p, 3).unwrap();
    e.close(t, p).unwrap();
    let p2 = e.bind_ipi(t, 0).unwrap();
    assert_eq!(p2, p);
    assert!(!e.poll_begin(t, 0, &[p2]).unwrap());
    e.set_pending(t, p2).unwrap();
    e.poll_end(0);
    assert_eq!(vm.sink.wakes(0), 1);
    assert_eq!(head(&vm, 0, 7), p2);
    assert!(e.poll_begin(t, 0, &[p2]).unwrap());
    e.poll_end(0);
}

#[test]
fn snapshot_keeps_queues() {
    let vm = fifo_vm(1);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    let a = e.bind_ipi(t, 1).unwrap();
    let b = e.bind_ipi(t, 1).unwrap();
    let late = e.bind_ipi(t, 1).unwrap();
    e.set_priority(t, b, 4).unwrap();
    e.set_pending(t, a).unwrap();
    let state = e.state(t);
    let fifo = state.fifo.clone().unwrap();
    assert_eq!(fifo.control_blocks[1], Some((CB_GFN, 0x100)));
    assert_eq!(fifo.event_array, vec![ARRAY_GFN]);
    assert_eq!(fifo.tails[1][7], a);
    assert_eq!(fifo.priorities, vec![(b, 4)]);
    let r = Evtchn::from_state(&state, vm.mem.clone(), vm.pages.clone(), vm.sink.clone()).unwrap();
    assert!(r.fifo_active());
    assert_eq!(r.state(t), state);
    // The restored side links behind the remembered tail, and keeps priorities.
    r.set_pending(t, late).unwrap();
    assert_eq!(word(&vm, a), P | L | late);
    r.set_pending(t, b).unwrap();
    assert_eq!(head(&vm, 1, 4), b);
    // Bad FIFO states are refused.
    for bad in [
        xen_evtchn::FifoState {
            tails: vec![],
            ..fifo.clone()
        },
        xen_evtchn::FifoState {
            priorities: vec![(1, 16)],
            ..fifo.clone()
        },
        xen_evtchn::FifoState {
            event_array: vec![0; 129],
            ..fifo.clone()
        },
    ] {
        let s = xen_evtchn::EvtchnState {
            fifo: Some(bad),
            ..state.clone()
        };
        let e = Evtchn::from_state(&s, vm.mem.clone(), vm.pages.clone(), vm.sink.clone());
        assert_eq!(e.unwrap_err().errno(), EINVAL);
    }
}

#[test]
fn the_last_of_2_to_the_17_ports_links_with_a_17_bit_link() {
    let vm = fifo_vm(0);
    let e = &vm.evtchn;
    let mut root = Root::new().unwrap();
    let t = root.token();
    // 128 pages (the array's limit): pages 0..127 alias a scratch frame, page 127 is
    // ARRAY_GFN, so port 127 * 1024 + i has the word of port i in `word()`.
    for _ in 0..127 {
        e.expand_array(t, 0x3f).unwrap();
    }
    e.expand_array(t, ARRAY_GFN).unwrap();
    assert_eq!(errno(e.expand_array(t, ARRAY_GFN)), ENOSPC);
    assert_eq!(e.nr_ports(), 1 << 17);
    // Binding 2^17 - 1 ports one by one is slow in a debug build: a restored table has the
    // last two bound.
    let mut state = e.state(t);
    let (last, before) = ((1 << 17) - 1, (1 << 17) - 2);
    for port in [last, before] {
        state.ports.push(xen_evtchn::PortState {
            port,
            vcpu: 0,
            binding: xen_evtchn::Binding::Ipi,
        });
    }
    let r = Evtchn::from_state(&state, vm.mem.clone(), vm.pages.clone(), vm.sink.clone()).unwrap();
    assert_eq!(r.set_pending(t, last).unwrap(), Delivery::Raised);
    assert_eq!(head(&vm, 0, 7), last);
    assert_eq!(word(&vm, 1023), P | L);
    r.set_pending(t, before).unwrap();
    assert_eq!(word(&vm, 1023), P | L | before, "LINK holds 17 bits");
    assert_eq!(word(&vm, 1022), P | L);
    // Port 2^17 does not exist.
    assert_eq!(errno(r.set_pending(t, 1 << 17)), EINVAL);
    assert_eq!(errno(r.send(t, 1 << 17)), EINVAL);
}
