// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! memory_op: add_to_physmap and memory_map.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::{Call, RecordingHypervisor};
use xen_hypercall::*;

fn atp(e: &Env, domid: u16, space: u32, idx: u64, gpfn: u64) -> u64 {
    match e.width {
        GuestWidth::Bits64 => e.put(XenAddToPhysmap64 {
            domid,
            size: 0,
            space,
            idx,
            gpfn,
        }),
        GuestWidth::Bits32 => e.put(XenAddToPhysmap32 {
            domid,
            size: 0,
            space,
            idx: idx as u32,
            gpfn: gpfn as u32,
        }),
    }
}

#[test]
fn add_to_physmap_shared_info_outside_ram() {
    for w in both() {
        let mut e = Env::new(w);
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, 0xfeff0);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::AddToPhysmap {
                space: MapSpace::SharedInfo,
                gfn: 0xfeff0
            })
        );
        // Own domid is accepted too.
        let a = atp(&e, 1, XENMAPSPACE_SHARED_INFO, 0, 0x10);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
    }
}

#[test]
fn add_to_physmap_grant_table() {
    for w in both() {
        let mut e = Env::new(w);
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_GRANT_TABLE, 3, 0xfeff1);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::AddToPhysmap {
                space: MapSpace::GrantTable {
                    frame: 3,
                    status: false
                },
                gfn: 0xfeff1
            })
        );
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_GRANT_TABLE, (1 << 31) | 1, 0x20);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::AddToPhysmap {
                space: MapSpace::GrantTable {
                    frame: 1,
                    status: true
                },
                gfn: 0x20
            })
        );
    }
}

#[test]
fn add_to_physmap_invalid() {
    for w in both() {
        let mut e = Env::new(w);
        let a = atp(&e, 7, XENMAPSPACE_SHARED_INFO, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(ESRCH)
        );
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 1, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(EINVAL)
        );
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_GMFN, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(EOPNOTSUPP)
        );
        let a = atp(&e, DOMID_SELF, 77, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(EINVAL)
        );
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, BAD),
            neg(EFAULT)
        );
        assert_eq!(e.hv.calls, 0);
    }
    let mut e = Env::new(GuestWidth::Bits64);
    let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, u64::MAX);
    assert_eq!(
        e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
        neg(EINVAL)
    );
    let a = atp(&e, DOMID_SELF, XENMAPSPACE_GRANT_TABLE, 1 << 40, 1);
    assert_eq!(
        e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
        neg(EINVAL)
    );
    // Handler refusal propagates.
    e.hv.fail_with = Some(Errno::EBUSY);
    let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, 5);
    assert_eq!(
        e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
        neg(EBUSY)
    );
}

fn mmap(e: &Env, nr: u32, buf: u64) -> u64 {
    match e.width {
        GuestWidth::Bits64 => e.put(XenMemoryMap64 {
            nr_entries: nr,
            pad: 0,
            buffer: buf,
        }),
        GuestWidth::Bits32 => e.put(XenMemoryMap32 {
            nr_entries: nr,
            buffer: buf as u32,
        }),
    }
}

#[test]
fn memory_map_copies_min_entries() {
    for w in both() {
        let mut e = Env::new(w);
        let a = mmap(&e, 8, BUF);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, a), 0);
        assert_eq!(e.get::<u32>(ARG), 2);
        let e1: E820Entry = e.get(BUF + 20);
        assert_eq!({ e1.addr }, 0xfc00_0000);
        assert_eq!({ e1.kind }, E820_RESERVED);
        // Room for one.
        e.put_at(0xffu8, BUF + 20);
        let a = mmap(&e, 1, BUF);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, a), 0);
        assert_eq!(e.get::<u32>(ARG), 1);
        assert_eq!(
            e.get::<u8>(BUF + 20),
            0xff,
            "second entry must not be written"
        );
    }
}

#[test]
fn memory_map_bad_buffer() {
    for w in both() {
        let mut e = Env::new(w);
        let a = mmap(&e, 2, BAD);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, a),
            neg(EFAULT)
        );
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, BAD),
            neg(EFAULT)
        );
    }
}

#[test]
fn add_to_physmap_foreign_and_mmio_as_xen() {
    for w in both() {
        let mut e = Env::new(w);
        // Foreign frames only through the batch: -ENOSYS, before the domain check.
        let a = atp(&e, 77, XENMAPSPACE_GMFN_FOREIGN, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(ENOSYS)
        );
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_DEV_MMIO, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(EACCES)
        );
    }
    // A continuation index that does not fit `size` (u16): -EDOM.
    let mut e = Env::new(GuestWidth::Bits64);
    let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, 1);
    let cmd = u64::from(XENMEM_ADD_TO_PHYSMAP) | (0x1_0000 << 6);
    let r = e.call(HYPERVISOR_MEMORY_OP, [cmd, a, 0, 0, 0, 0]);
    assert_eq!(r.outcome, HypercallOutcome::Done(neg(EDOM)));
    // Extent bits are ignored otherwise.
    let cmd = u64::from(XENMEM_ADD_TO_PHYSMAP) | (5 << 6);
    let r = e.call(HYPERVISOR_MEMORY_OP, [cmd, a, 0, 0, 0, 0]);
    assert_eq!(r.outcome, HypercallOutcome::Done(0));
    // memory_map is an arch sub-op matched with its extent bits: unknown then.
    let m = mmap(&e, 8, BUF);
    let cmd = u64::from(XENMEM_MEMORY_MAP) | (1 << 6);
    let r = e.call(HYPERVISOR_MEMORY_OP, [cmd, m, 0, 0, 0, 0]);
    assert_eq!(r.outcome, HypercallOutcome::Done(neg(ENOSYS)));
}

/// Writes a reservation at ARG and the extent list at BUF.
fn reservation(e: &Env, extents: &[u64], nr: u64, order: u32, flags: u32, domid: u16) -> u64 {
    for (i, x) in extents.iter().enumerate() {
        match e.width {
            GuestWidth::Bits64 => e.put_at(*x, BUF + i as u64 * 8),
            GuestWidth::Bits32 => e.put_at(*x as u32, BUF + i as u64 * 4),
        }
    }
    match e.width {
        GuestWidth::Bits64 => e.put(XenMemoryReservation64 {
            extent_start: BUF,
            nr_extents: nr,
            extent_order: order,
            mem_flags: flags,
            domid,
            pad: [0; 3],
        }),
        GuestWidth::Bits32 => e.put(XenMemoryReservation32 {
            extent_start: BUF as u32,
            nr_extents: nr as u32,
            extent_order: order,
            mem_flags: flags,
            domid,
            pad: 0,
        }),
    }
}

fn memop(e: &mut Env, cmd: u32, start: u64, arg: u64) -> i64 {
    let cmd = u64::from(cmd) | (start << MEMOP_EXTENT_SHIFT);
    match e.call(HYPERVISOR_MEMORY_OP, [cmd, arg, 0, 0, 0, 0]).outcome {
        HypercallOutcome::Done(v) => v,
        o => panic!("{o:?}"),
    }
}

#[test]
fn reservation_counts_extents_done() {
    for w in both() {
        let mut e = Env::new(w);
        let pages = RecordingHypervisor::RAM_PAGES;
        // Balloon out three pages; the fourth is not RAM: the call stops there.
        let a = reservation(&e, &[0x10, 0x11, 0x12, pages, 0x13], 5, 0, 0, DOMID_SELF);
        assert_eq!(memop(&mut e, XENMEM_DECREASE_RESERVATION, 0, a), 3);
        assert_eq!(e.hv.pages, pages - 3);
        assert_eq!(
            e.hv.last,
            Some(Call::Reservation {
                op: ReservationOp::Decrease,
                gfn: Some(pages),
                order: 0
            })
        );
        // Continue from extent 4 (the upper bits of the command).
        assert_eq!(memop(&mut e, XENMEM_DECREASE_RESERVATION, 4, a), 5);
        assert_eq!(e.hv.pages, pages - 4);
        // Back in: populate two of them; the own domain id works as DOMID_SELF.
        let a = reservation(&e, &[0x10, 0x11], 2, 0, 0, 1);
        assert_eq!(memop(&mut e, XENMEM_POPULATE_PHYSMAP, 0, a), 2);
        // increase_reservation reads no list (a NULL one is fine) until the maximum.
        let a = reservation(&e, &[], 5, 0, 0, DOMID_SELF);
        let mut r: XenMemoryReservation64 = e.get(ARG);
        if w == GuestWidth::Bits64 {
            r.extent_start = 0;
            e.put(r);
        }
        assert_eq!(memop(&mut e, XENMEM_INCREASE_RESERVATION, 0, a), 2);
        assert_eq!(e.hv.pages, pages);
        // A 2 MiB extent (order 9) is allowed for a domU; order 10 is not.
        let a = reservation(&e, &[0], 1, 9, 0, DOMID_SELF);
        assert_eq!(
            memop(&mut e, XENMEM_DECREASE_RESERVATION, 0, a),
            0,
            "beyond RAM"
        );
        let calls = e.hv.calls;
        let a = reservation(&e, &[0], 1, MAX_DOMU_EXTENT_ORDER + 1, 0, DOMID_SELF);
        assert_eq!(memop(&mut e, XENMEM_DECREASE_RESERVATION, 0, a), 0);
        assert_eq!(e.hv.calls, calls, "refused before any extent");
    }
}

#[test]
fn reservation_refusals_return_the_start_extent() {
    for w in both() {
        let mut e = Env::new(w);
        let calls = e.hv.calls;
        for cmd in [
            XENMEM_INCREASE_RESERVATION,
            XENMEM_DECREASE_RESERVATION,
            XENMEM_POPULATE_PHYSMAP,
        ] {
            // Unreadable argument: start_extent, never an errno.
            assert_eq!(memop(&mut e, cmd, 0, BAD), 0);
            assert_eq!(memop(&mut e, cmd, 3, BAD), 3);
            // Another domain (domain 0 exists; 9 does not).
            for d in [0, 9] {
                let a = reservation(&e, &[0x10], 1, 0, 0, d);
                assert_eq!(memop(&mut e, cmd, 0, a), 0);
            }
            // start_extent at or beyond nr_extents.
            let a = reservation(&e, &[0x10], 1, 0, 0, DOMID_SELF);
            assert_eq!(memop(&mut e, cmd, 1, a), 1);
            assert_eq!(memop(&mut e, cmd, 7, a), 7);
            // Address bits 1..=12; a node insisted on.
            for flags in [1, 12, XENMEMF_EXACT_NODE_REQUEST | (3 << 8)] {
                let a = reservation(&e, &[0x10], 1, 0, flags, DOMID_SELF);
                assert_eq!(memop(&mut e, cmd, 0, a), 0, "flags {flags:#x}");
            }
            // Too many extents to encode a continuation.
            if w == GuestWidth::Bits64 {
                let a = reservation(&e, &[0x10], u64::from(u32::MAX >> 6) + 1, 0, 0, DOMID_SELF);
                assert_eq!(memop(&mut e, cmd, 0, a), 0);
            }
        }
        // Populate-on-demand on oneself.
        let a = reservation(&e, &[0x10], 1, 0, XENMEMF_POPULATE_ON_DEMAND, DOMID_SELF);
        assert_eq!(memop(&mut e, XENMEM_POPULATE_PHYSMAP, 0, a), 0);
        assert_eq!(e.hv.calls, calls, "no extent reached the handler");
        // Flags that are fine: address bits above a page, a node without insisting.
        for flags in [
            32,
            3 << 8,
            XENMEMF_VNODE | XENMEMF_EXACT_NODE_REQUEST | (1 << 8),
        ] {
            let a = reservation(&e, &[0x10], 1, 0, flags, DOMID_SELF);
            assert_eq!(memop(&mut e, XENMEM_DECREASE_RESERVATION, 0, a), 1);
        }
        // An extent list that cannot be read ends the call there.
        let a = reservation(&e, &[0x20], 2, 0, 0, DOMID_SELF);
        let mut r = e.get::<XenMemoryReservation32>(ARG);
        if w == GuestWidth::Bits32 {
            r.extent_start = (RAM - 4) as u32;
            e.put(r);
            assert_eq!(memop(&mut e, XENMEM_DECREASE_RESERVATION, 0, a), 1);
        }
    }
}

#[test]
fn reservation_sizes_and_max_ram_page() {
    for w in both() {
        let mut e = Env::new(w);
        let pages = RecordingHypervisor::RAM_PAGES as i64;
        assert_eq!(memop(&mut e, XENMEM_MAXIMUM_RAM_PAGE, 0, 0), pages);
        assert_eq!(memop(&mut e, XENMEM_MAXIMUM_RAM_PAGE, 1, 0), neg(EINVAL));
        for (cmd, want) in [
            (XENMEM_CURRENT_RESERVATION, pages - 1),
            (XENMEM_MAXIMUM_RESERVATION, pages),
        ] {
            e.hv.pages = pages as u64 - 1;
            e.put(XenMemoryDomain { domid: DOMID_SELF });
            assert_eq!(memop(&mut e, cmd, 0, ARG), want);
            e.put(XenMemoryDomain { domid: 1 });
            assert_eq!(memop(&mut e, cmd, 0, ARG), want);
            e.put(XenMemoryDomain { domid: 0 });
            assert_eq!(memop(&mut e, cmd, 0, ARG), neg(EPERM));
            e.put(XenMemoryDomain { domid: 5 });
            assert_eq!(memop(&mut e, cmd, 0, ARG), neg(ESRCH));
            assert_eq!(memop(&mut e, cmd, 0, BAD), neg(EFAULT));
            assert_eq!(memop(&mut e, cmd, 2, ARG), neg(EINVAL));
        }
    }
}

fn rfp(e: &Env, domid: u16, gpfn: u64) -> u64 {
    match e.width {
        GuestWidth::Bits64 => e.put(XenRemoveFromPhysmap64 {
            domid,
            pad: [0; 3],
            gpfn,
        }),
        GuestWidth::Bits32 => e.put(XenRemoveFromPhysmap32 {
            domid,
            pad: 0,
            gpfn: gpfn as u32,
        }),
    }
}

#[test]
fn remove_from_physmap_checks() {
    for w in both() {
        let mut e = Env::new(w);
        let a = rfp(&e, DOMID_SELF, 0x10);
        assert_eq!(memop(&mut e, XENMEM_REMOVE_FROM_PHYSMAP, 0, a), 0);
        assert_eq!(e.hv.last, Some(Call::RemoveFromPhysmap(0x10)));
        let a = rfp(&e, DOMID_SELF, 0x1000);
        assert_eq!(memop(&mut e, XENMEM_REMOVE_FROM_PHYSMAP, 0, a), neg(ENOENT));
        let a = rfp(&e, 0, 0x10);
        assert_eq!(memop(&mut e, XENMEM_REMOVE_FROM_PHYSMAP, 0, a), neg(EPERM));
        let a = rfp(&e, 4, 0x10);
        assert_eq!(memop(&mut e, XENMEM_REMOVE_FROM_PHYSMAP, 0, a), neg(ESRCH));
        assert_eq!(
            memop(&mut e, XENMEM_REMOVE_FROM_PHYSMAP, 0, BAD),
            neg(EFAULT)
        );
        assert_eq!(memop(&mut e, XENMEM_REMOVE_FROM_PHYSMAP, 1, a), neg(EINVAL));
    }
}

const IDXS: u64 = 0x6000;
const GPFNS: u64 = 0x7000;
const ERRS: u64 = 0x8000;

fn batch(e: &Env, domid: u16, space: u16, entries: &[(u64, u64)]) -> u64 {
    for (i, (idx, gpfn)) in entries.iter().enumerate() {
        let i = i as u64;
        match e.width {
            GuestWidth::Bits64 => {
                e.put_at(*idx, IDXS + i * 8);
                e.put_at(*gpfn, GPFNS + i * 8);
            }
            GuestWidth::Bits32 => {
                e.put_at(*idx as u32, IDXS + i * 4);
                e.put_at(*gpfn as u32, GPFNS + i * 4);
            }
        }
        e.put_at(0x5a5a_5a5au32, ERRS + i * 4);
    }
    let size = entries.len() as u16;
    match e.width {
        GuestWidth::Bits64 => e.put(XenAddToPhysmapBatch64 {
            domid,
            space,
            size,
            u: 0,
            idxs: IDXS,
            gpfns: GPFNS,
            errs: ERRS,
        }),
        GuestWidth::Bits32 => e.put(XenAddToPhysmapBatch32 {
            domid,
            space,
            size,
            u: 0,
            idxs: IDXS as u32,
            gpfns: GPFNS as u32,
            errs: ERRS as u32,
        }),
    }
}

fn errs(e: &Env, n: usize) -> Vec<i32> {
    (0..n).map(|i| e.get(ERRS + i as u64 * 4)).collect()
}

#[test]
fn add_to_physmap_batch_per_entry_errors() {
    for w in both() {
        let mut e = Env::new(w);
        let gt = XENMAPSPACE_GRANT_TABLE as u16;
        let a = batch(
            &e,
            DOMID_SELF,
            gt,
            &[(0, 0xfe000), (1 << 31, 0xfe001), (3, 1 << 52)],
        );
        assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a), 0);
        // A GFN beyond 52-bit addresses (a 32-bit guest cannot name one).
        let big = if w == GuestWidth::Bits64 { -EINVAL } else { 0 };
        assert_eq!(errs(&e, 3), vec![0, 0, big]);
        let a = batch(&e, DOMID_SELF, gt, &[(0, 0xfe000), (1 << 31, 0xfe001)]);
        assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::AddToPhysmap {
                space: MapSpace::GrantTable {
                    frame: 0,
                    status: true
                },
                gfn: 0xfe001
            })
        );
        // shared_info with idx != 0, gmfn (not offered), foreign (hardware domain only),
        // an unknown space.
        for (space, want) in [
            (XENMAPSPACE_SHARED_INFO, -EINVAL),
            (XENMAPSPACE_GMFN, -EOPNOTSUPP),
            (XENMAPSPACE_GMFN_FOREIGN, -EPERM),
            (77, -EINVAL),
        ] {
            let a = batch(&e, DOMID_SELF, space as u16, &[(1, 0x10)]);
            assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a), 0);
            assert_eq!(errs(&e, 1), vec![want], "space {space}");
        }
        // A handler failure is an entry's result, not the call's.
        e.hv.fail_with = Some(Errno::EBUSY);
        let a = batch(&e, DOMID_SELF, 0, &[(0, 0x10), (0, 0x11)]);
        assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a), 0);
        assert_eq!(errs(&e, 2), vec![-EBUSY, -EBUSY]);
        e.hv.fail_with = None;
        // Continuation index: entries before it are skipped; == size is -EILSEQ unless 0.
        let a = batch(&e, DOMID_SELF, 0, &[(1, 0x10), (0, 0x11)]);
        assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 1, a), 0);
        assert_eq!(errs(&e, 2), vec![0x5a5a_5a5a, 0]);
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 2, a),
            neg(EILSEQ)
        );
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 3, a),
            neg(EILSEQ)
        );
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0x1_0000, a),
            neg(EDOM)
        );
        let a = batch(&e, DOMID_SELF, 0, &[]);
        assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a), 0);
        // Whole-call errors: range space, domain, device MMIO, unreadable arrays.
        let a = batch(&e, DOMID_SELF, XENMAPSPACE_GMFN_RANGE as u16, &[(0, 1)]);
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a),
            neg(EOPNOTSUPP)
        );
        let a = batch(&e, 9, 0, &[(0, 1)]);
        assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a), neg(ESRCH));
        let a = batch(&e, 0, 0, &[(0, 1)]);
        assert_eq!(memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a), neg(EPERM));
        let a = batch(&e, 0, XENMAPSPACE_DEV_MMIO as u16, &[(0, 1)]);
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a),
            neg(EACCES)
        );
        let a = batch(&e, DOMID_SELF, XENMAPSPACE_DEV_MMIO as u16, &[(0, 1)]);
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a),
            neg(EACCES)
        );
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, BAD),
            neg(EFAULT)
        );
        let a = batch(&e, DOMID_SELF, 0, &[(0, 1)]);
        let mut b: XenAddToPhysmapBatch32 = e.get(ARG);
        match w {
            GuestWidth::Bits64 => {
                let mut b: XenAddToPhysmapBatch64 = e.get(ARG);
                b.errs = BAD;
                e.put(b);
            }
            GuestWidth::Bits32 => {
                b.errs = BAD as u32;
                e.put(b);
            }
        }
        assert_eq!(
            memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a),
            neg(EFAULT)
        );
    }
    // INVALID_GFN ends a 64-bit batch with -EINVAL (the entries before it are done).
    let mut e = Env::new(GuestWidth::Bits64);
    let a = batch(&e, DOMID_SELF, 0, &[(0, 0x10), (0, u64::MAX), (0, 0x11)]);
    assert_eq!(
        memop(&mut e, XENMEM_ADD_TO_PHYSMAP_BATCH, 0, a),
        neg(EINVAL)
    );
    assert_eq!(errs(&e, 3), vec![0, 0x5a5a_5a5a, 0x5a5a_5a5a]);
}
