// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benchmarks: events delivered per second from a host thread into guest memory, and the
//! latency of one guest `EVTCHNOP_send` (IPI and to a host backend); the same host send and
//! guest acknowledgement on the FIFO ABI, in the same run, for the ratio (also with the
//! vCPU's `vcpu_info` registered, as Linux guests have it); and the floor of
//! a send + ack: its atomic operations alone on a host page (`atomic_floor_send_and_ack`);
//! and the cost of a FIFO switch plus a snapshot round trip of the table
//! (`fifo_switch_state_and_restore`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vm_lock::{MemoryMap, Root};
use vm_memory::GuestAddressSpace;
use vm_memory::{GuestAddress, GuestMemoryMmap};
use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink, BACKEND_DOMID};
use xen_shinfo_cache::{MappedRange, WidthLayout, XenPages};

struct NullSink;
impl UpcallSink for NullSink {
    fn raise(&self, _vcpu: u32, _how: UpcallKind) {}
    fn poll_wake(&self, _vcpu: u32) {}
}

fn setup() -> (
    Evtchn<GuestMemoryMmap, NullSink>,
    MemoryMap<GuestMemoryMmap>,
    Root,
) {
    let mem = MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40000)]).unwrap());
    let pages = Arc::new(XenPages::new(4));
    let mut root = Root::new().unwrap();
    pages.set_shared_info_gfn(root.token(), Some(0x10)).unwrap();
    (
        Evtchn::new(EvtchnConfig::default(), mem.clone(), pages, NullSink),
        mem,
        root,
    )
}

fn benches(c: &mut Criterion) {
    let (evtchn, mem, mut root) = setup();
    let t = root.token();
    let hp = evtchn.host_alloc_unbound(t).unwrap();
    let gp = evtchn.bind_interdomain(t, BACKEND_DOMID, hp.id()).unwrap();
    let ipi = evtchn.bind_ipi(t, 1).unwrap();
    let w = evtchn.pages().width();
    // The guest's view of shared_info, for its acknowledgements: the guest's own atomics
    // on its page, with none of the VMM's read sections or locks (as the FIFO row's).
    let sh = MappedRange::new(&*mem.atomic().memory(), 0x10 << 12, 4096).unwrap();

    let mut g = c.benchmark_group("evtchn");
    g.throughput(Throughput::Elements(1));
    // A host thread delivers a fresh event (pending 0->1, selector, upcall 0->1) and the
    // guest acknowledges it (clears upcall flag, selector and pending bit).
    g.bench_function("host_send_fresh_event_and_guest_ack", |b| {
        b.iter(|| {
            evtchn.host_send(t, hp.id()).unwrap();
            // Every send delivers a fresh event (the bit it set is cleared here).
            assert!(sh
                .test_and_clear_bit(w, w.shinfo_evtchn_pending(), gp)
                .unwrap());
            assert_eq!(sh.atomic_u8(0).unwrap().swap(0, Ordering::SeqCst), 1);
            sh.atomic_u64(8).unwrap().store(0, Ordering::SeqCst);
        })
    });
    // The floor of the two rows above: only the atomic operations the 2-level protocol
    // makes on shared memory (host: set pending, read mask, set selector, set upcall
    // flag; guest: clear pending, upcall flag and selector), on a host page, with no
    // lookup, lock or mapping. Sequentially consistent, as the guest's locked ones are.
    let page: Vec<std::sync::atomic::AtomicU64> = (0..512).map(|_| 0.into()).collect();
    let (pending, mask, sel, upcall) = (&page[0], &page[64], &page[500], &page[501]);
    g.bench_function("atomic_floor_send_and_ack", |b| {
        b.iter(|| {
            let bit = 1u64 << (std::hint::black_box(gp) % 64);
            if pending.fetch_or(bit, Ordering::SeqCst) & bit == 0
                && mask.load(Ordering::SeqCst) & bit == 0
            {
                sel.fetch_or(1, Ordering::SeqCst);
                upcall.swap(1, Ordering::SeqCst);
            }
            pending.fetch_and(!bit, Ordering::SeqCst);
            upcall.swap(0, Ordering::SeqCst);
            sel.swap(0, Ordering::SeqCst);
        })
    });
    g.bench_function("host_send_coalesced", |b| {
        b.iter(|| evtchn.host_send(t, hp.id()).unwrap())
    });
    g.bench_function("guest_send_ipi", |b| {
        b.iter(|| evtchn.send(t, ipi).unwrap())
    });
    g.bench_function("guest_send_to_host_eventfd", |b| {
        b.iter(|| {
            evtchn.send(t, gp).unwrap();
        })
    });
    g.finish();
    fifo(c, root.token());
}

/// FIFO: a host send links a fresh event into an empty queue (P, L, head, ready 0->1,
/// upcall 0->1); the guest consumes it (unlinks, clears P, ready and the upcall flag).
fn fifo(c: &mut Criterion, t: &mut vm_lock::Token<'_, vm_lock::Unlocked>) {
    let (evtchn, mem) = setup_unrooted();
    evtchn.pages().set_shared_info_gfn(t, Some(0x10)).unwrap();
    evtchn.init_control(t, 0x20, 0, 0).unwrap();
    evtchn.expand_array(t, 0x21).unwrap();
    let hp = evtchn.host_alloc_unbound(t).unwrap();
    let gp = evtchn.bind_interdomain(t, BACKEND_DOMID, hp.id()).unwrap();
    let guard = mem.atomic().memory();
    let cb = MappedRange::new(&*guard, 0x20 << 12, 72).unwrap();
    let word = MappedRange::new(&*guard, (0x21 << 12) + 4 * gp as u64, 4).unwrap();
    let shinfo = MappedRange::new(&*guard, 0x10 << 12, 64).unwrap();
    drop(guard);
    let mut g = c.benchmark_group("evtchn");
    g.throughput(Throughput::Elements(1));
    g.bench_function("fifo_host_send_fresh_event_and_guest_ack", |b| {
        b.iter(|| {
            evtchn.host_send(t, hp.id()).unwrap();
            assert_eq!(cb.read_u32(8 + 4 * 7).unwrap(), gp);
            word.atomic_u32(0).unwrap().store(0, Ordering::SeqCst);
            cb.atomic_u32(0).unwrap().store(0, Ordering::SeqCst);
            shinfo.atomic_u8(0).unwrap().store(0, Ordering::SeqCst);
        })
    });
    // The same with the vCPU's own `vcpu_info` registered, as Linux guests do: the upcall
    // flag is in that page, and delivery needs no `shared_info` at all.
    {
        let (snap, mut t2) = mem.read(t);
        evtchn
            .pages()
            .set_vcpu_info(&mut t2, &snap, 0, Some(0x22 << 12))
            .unwrap();
    }
    let vi = MappedRange::new(&*mem.atomic().memory(), 0x22 << 12, 64).unwrap();
    g.bench_function(
        "fifo_host_send_fresh_event_and_guest_ack_vcpu_info_registered",
        |b| {
            b.iter(|| {
                evtchn.host_send(t, hp.id()).unwrap();
                assert_eq!(cb.read_u32(8 + 4 * 7).unwrap(), gp);
                word.atomic_u32(0).unwrap().store(0, Ordering::SeqCst);
                cb.atomic_u32(0).unwrap().store(0, Ordering::SeqCst);
                assert_eq!(vi.atomic_u8(0).unwrap().swap(0, Ordering::SeqCst), 1);
            })
        },
    );
    // The life of a FIFO guest's table around a snapshot: switch to FIFO, bind a few
    // ports, take the state and restore it (what a VM pays per switch and per snapshot
    // whatever the number of ports it uses).
    g.throughput(Throughput::Elements(1));
    g.bench_function("fifo_switch_state_and_restore", |b| {
        b.iter(|| {
            let (e, mem) = setup_unrooted();
            e.pages().set_shared_info_gfn(t, Some(0x10)).unwrap();
            e.init_control(t, 0x20, 0, 0).unwrap();
            for _ in 0..4 {
                e.bind_ipi(t, 0).unwrap();
            }
            let st = e.state(t);
            let pages = Arc::new(XenPages::new(4));
            let back = Evtchn::from_state(&st, mem, pages, NullSink).unwrap();
            assert!(back.fifo_active());
        })
    });
    g.finish();
}

/// [`setup`] for a thread that already has its root (the FIFO group runs in `benches`).
fn setup_unrooted() -> (
    Evtchn<GuestMemoryMmap, NullSink>,
    MemoryMap<GuestMemoryMmap>,
) {
    let mem = MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40000)]).unwrap());
    let pages = Arc::new(XenPages::new(4));
    (
        Evtchn::new(EvtchnConfig::default(), mem.clone(), pages, NullSink),
        mem,
    )
}

criterion_group!(main_benches, benches);
criterion_main!(main_benches);
