// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Moving `shared_info` (`Evtchn::shared_info_moved`): the page is copied and the cache
//! retargeted atomically with respect to delivery, so events sent concurrently from another
//! thread are never lost; what is pending is re-raised.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress, GuestAddressSpace};
use xen_abi::DOMID_SELF;
use xen_evtchn::{Delivery, BACKEND_DOMID};
use xen_shinfo_cache::{GuestWidth, WidthLayout};

/// Frames `shared_info` moves between (all inside the fixture's 256 KiB of RAM).
const FRAMES: [u64; 3] = [SHINFO_GFN, 0x20, 0x30];

fn read_u64(vm: &Vm, gpa: u64) -> u64 {
    vm.mem
        .atomic()
        .memory()
        .read_obj(GuestAddress(gpa))
        .unwrap()
}

#[test]
fn concurrent_host_sends_survive_repeated_moves() {
    const PORTS: usize = 1000;
    const TRIALS: usize = 40;
    let mut lost_trials = Vec::new();
    for trial in 0..TRIALS {
        let vm = Arc::new(vm(GuestWidth::Bits64));
        let mut root = Root::new().unwrap();
        let mut ports = Vec::with_capacity(PORTS);
        let mut hosts = Vec::with_capacity(PORTS);
        for _ in 0..PORTS {
            let gp = vm
                .evtchn
                .alloc_unbound(root.token(), DOMID_SELF, BACKEND_DOMID)
                .unwrap();
            let hp = vm.evtchn.host_bind(root.token(), gp).unwrap();
            assert!(!vm.evtchn.is_pending(root.token(), gp).unwrap());
            ports.push(gp);
            hosts.push(hp.id());
        }
        let done = Arc::new(AtomicBool::new(false));
        let sender = {
            let (vm, done) = (vm.clone(), done.clone());
            std::thread::spawn(move || {
                let mut root = Root::new().unwrap();
                for (i, id) in hosts.into_iter().enumerate() {
                    let d = vm.evtchn.host_send(root.token(), id).unwrap();
                    assert!(d.is_some(), "host port {id} not connected");
                    // Spread the sends over many moves.
                    if i % 16 == 15 {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        let mut moves = 0usize;
        let mut i = 0;
        while !done.load(Ordering::SeqCst) || moves < 3 {
            i = (i + 1) % FRAMES.len();
            vm.evtchn
                .shared_info_moved(root.token(), FRAMES[i])
                .unwrap();
            moves += 1;
            // Let the sender in: back-to-back write locks could starve its reads.
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
        sender.join().unwrap();
        assert_eq!(vm.pages.shared_info_gfn(root.token()), Some(FRAMES[i]));
        let lost: Vec<u32> = ports
            .iter()
            .copied()
            .filter(|&p| !vm.evtchn.is_pending(root.token(), p).unwrap())
            .collect();
        if !lost.is_empty() {
            lost_trials.push((trial, moves, lost.len()));
        }
    }
    assert!(
        lost_trials.is_empty(),
        "events lost across shared_info moves (trial, moves, ports lost): {lost_trials:?}"
    );
}

#[test]
fn move_copies_the_page_and_reraises_pending_upcalls() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let w = vm.pages.width();
    let a = vm.evtchn.bind_ipi(t, 0).unwrap();
    let b = vm.evtchn.bind_ipi(t, 3).unwrap();
    guest_mask(&vm, b, true);
    assert_eq!(vm.evtchn.set_pending(t, a).unwrap(), Delivery::Raised);
    assert_eq!(vm.evtchn.set_pending(t, b).unwrap(), Delivery::Masked);
    assert_eq!(vm.sink.raises(0), 1);
    let new = 0x20 * 0x1000;
    // The new frame holds garbage: the move replaces it with the old page.
    vm.mem
        .atomic()
        .memory()
        .write_slice(&[0xa5; 4096], GuestAddress(new))
        .unwrap();
    assert_eq!(vm.evtchn.shared_info_moved(t, 0x20).unwrap(), 0);
    assert_eq!(vm.pages.shared_info_gfn(t), Some(0x20));
    let mut old_page = [0u8; 4096];
    let mut new_page = [0u8; 4096];
    let snap = vm.mem.atomic().memory();
    snap.read_slice(&mut old_page, GuestAddress(SHINFO))
        .unwrap();
    snap.read_slice(&mut new_page, GuestAddress(new)).unwrap();
    assert!(old_page == new_page, "the page was not copied");
    let pend = read_u64(&vm, new + w.shinfo_evtchn_pending() as u64);
    let mask = read_u64(&vm, new + w.shinfo_evtchn_mask() as u64);
    assert_eq!(pend, (1 << a) | (1 << b));
    assert_eq!(mask, 1 << b);
    // vCPU 0's vcpu_info (in the page) has its upcall pending: raised again on the move;
    // vCPU 3 has nothing pending (its port is masked): not raised.
    assert_eq!(vm.sink.raises(0), 2);
    assert_eq!(vm.sink.raises(3), 0);
    // Delivery goes to the new page from now on; the old one is left alone.
    let c = vm.evtchn.bind_ipi(t, 1).unwrap();
    vm.evtchn.send(t, c).unwrap();
    assert_eq!(
        read_u64(&vm, new + w.shinfo_evtchn_pending() as u64) & (1 << c),
        1 << c
    );
    assert!(!pending(&vm, c), "delivered into the old page");
    assert_eq!(vm.sink.raises(1), 1);
    // The same frame again changes nothing and raises nothing.
    vm.evtchn.shared_info_moved(t, 0x20).unwrap();
    assert_eq!(
        read_u64(&vm, new + w.shinfo_evtchn_pending() as u64),
        pend | (1 << c)
    );
    assert_eq!(vm.sink.raises(0), 2);
}

#[test]
fn first_placement_delivers_deferred_events_and_bad_frames_change_nothing() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    vm.pages.set_shared_info_gfn(t, None).unwrap();
    let p = vm.evtchn.bind_ipi(t, 2).unwrap();
    assert_eq!(vm.evtchn.set_pending(t, p).unwrap(), Delivery::Deferred);
    assert_eq!(vm.sink.raises(2), 0);
    // Outside RAM / overflowing: EFAULT, still no shared_info, the event still deferred.
    for bad in [0x1000, u64::MAX / 2] {
        assert_eq!(vm.evtchn.shared_info_moved(t, bad).unwrap_err().errno(), 14);
        assert_eq!(vm.pages.shared_info_gfn(t), None);
        assert!(vm.evtchn.is_pending(t, p).unwrap());
    }
    // The frame holds garbage; the first placement starts zeroed, then gets the event.
    vm.mem
        .atomic()
        .memory()
        .write_slice(&[0xff; 4096], GuestAddress(0x30 * 0x1000))
        .unwrap();
    assert_eq!(vm.evtchn.shared_info_moved(t, 0x30).unwrap(), 1);
    let w = vm.pages.width();
    let base = 0x30 * 0x1000;
    assert_eq!(
        read_u64(&vm, base + w.shinfo_evtchn_pending() as u64),
        1 << p
    );
    assert_eq!(read_u64(&vm, base + w.shinfo_evtchn_mask() as u64), 0);
    assert_eq!(vm.sink.raises(2), 1);
    // The upcall is raised once: by the delivery, not again as a move.
    assert_eq!(vm.sink.raises(0), 0);
}
