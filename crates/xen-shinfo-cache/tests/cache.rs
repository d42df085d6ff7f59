// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Integration tests over a real GuestMemoryMmap: bit operations, protocols, invalidation.

use vm_lock::{MemoryMap, Root};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_shinfo_cache::{
    Error, GuestWidth, PagesState, PvclockTime, Runstate, VcpuPagesState, WidthLayout, XenPages,
};

type Mem = GuestMemoryMmap;

const SHINFO_GFN: u64 = 0x10;
const SHINFO: u64 = SHINFO_GFN * 0x1000;

fn ram(size: usize) -> Mem {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size)]).unwrap()
}

fn setup(width: GuestWidth) -> (MemoryMap<Mem>, XenPages<Mem>, Root) {
    let mem = MemoryMap::new(ram(0x40000));
    let pages = XenPages::new(40);
    pages.set_width(width);
    let mut root = Root::new().unwrap();
    pages
        .set_shared_info_gfn(root.token(), Some(SHINFO_GFN))
        .unwrap();
    (mem, pages, root)
}

#[test]
fn bit_ops_64_bit_layout() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    let w = GuestWidth::Bits64;
    let (snap, mut t) = mem.read(root.token());
    pages
        .with_shared_info(&mut t, &snap, |sh, _| {
            assert!(!sh
                .test_and_set_bit(w, w.shinfo_evtchn_pending(), 4095)
                .unwrap());
            assert!(sh
                .test_and_set_bit(w, w.shinfo_evtchn_pending(), 4095)
                .unwrap());
            assert!(!sh
                .test_and_set_bit(w, w.shinfo_evtchn_pending(), 65)
                .unwrap());
            assert!(sh.test_bit(w, w.shinfo_evtchn_pending(), 65).unwrap());
            assert!(sh
                .test_and_clear_bit(w, w.shinfo_evtchn_pending(), 65)
                .unwrap());
            assert!(!sh
                .test_and_clear_bit(w, w.shinfo_evtchn_pending(), 65)
                .unwrap());
        })
        .unwrap();
    let last: u64 = snap.read_obj(GuestAddress(SHINFO + 2048 + 63 * 8)).unwrap();
    assert_eq!(last, 1 << 63);
    let word1: u64 = snap.read_obj(GuestAddress(SHINFO + 2048 + 8)).unwrap();
    assert_eq!(word1, 0);
}

#[test]
fn bit_ops_32_bit_layout() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits32);
    let w = GuestWidth::Bits32;
    let (snap, mut t) = mem.read(root.token());
    pages
        .with_shared_info(&mut t, &snap, |sh, _| {
            assert!(!sh
                .test_and_set_bit(w, w.shinfo_evtchn_mask(), 1023)
                .unwrap());
            assert!(!sh
                .test_and_set_bit(w, w.shinfo_evtchn_pending(), 33)
                .unwrap());
        })
        .unwrap();
    // 32-bit: mask array at 2048 + 128, word 31 holds port 1023 in bit 31.
    let m: u32 = snap.read_obj(GuestAddress(SHINFO + 2176 + 31 * 4)).unwrap();
    assert_eq!(m, 1 << 31);
    let p: u32 = snap.read_obj(GuestAddress(SHINFO + 2048 + 4)).unwrap();
    assert_eq!(p, 1 << 1);
    // The neighbouring 32-bit word is untouched (a 64-bit op would have spilled into it).
    let p2: u32 = snap.read_obj(GuestAddress(SHINFO + 2048 + 8)).unwrap();
    assert_eq!(p2, 0);
}

#[test]
fn out_of_range_access_is_an_error() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    let (snap, mut t) = mem.read(root.token());
    pages
        .with_shared_info(&mut t, &snap, |sh, _| {
            assert!(matches!(sh.atomic_u64(4096), Err(Error::OutOfRange { .. })));
            assert!(matches!(sh.atomic_u64(4092), Err(Error::OutOfRange { .. })));
            assert!(matches!(sh.atomic_u64(4), Err(Error::NotAtomic(4))));
            assert!(sh.write_bytes(usize::MAX, &[1]).is_err());
            // Bit beyond the page: offset computed from a huge bit number stays checked.
            assert!(sh
                .test_and_set_bit(GuestWidth::Bits64, 2048, u32::MAX)
                .is_err());
        })
        .unwrap();
}

#[test]
fn unset_and_unmapped_shared_info() {
    let mem = MemoryMap::new(ram(0x10000));
    let pages: XenPages<Mem> = XenPages::new(1);
    let mut root = Root::new().unwrap();
    {
        let (snap, mut t) = mem.read(root.token());
        let e = pages
            .with_shared_info(&mut t, &snap, |_, _| ())
            .unwrap_err();
        assert_eq!(e, Error::Unset);
    }
    // A GFN outside RAM: EFAULT.
    pages
        .set_shared_info_gfn(root.token(), Some(0x100))
        .unwrap();
    let (snap, mut t) = mem.read(root.token());
    let e = pages
        .with_shared_info(&mut t, &snap, |_, _| ())
        .unwrap_err();
    assert!(matches!(e, Error::NotMapped { .. }));
    assert_eq!(e.errno(), 14);
    // A GFN whose address overflows.
    drop(snap);
    assert!(pages
        .set_shared_info_gfn(root.token(), Some(u64::MAX / 2))
        .is_err());
}

#[test]
fn invalidation_on_map_replace_keeps_old_region_alive() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    let w = GuestWidth::Bits64;
    // Map it and keep a user's clone of the mapping (a "guard").
    let guard = {
        let (snap, mut t) = mem.read(root.token());
        pages
            .with_shared_info(&mut t, &snap, |sh, _| {
                sh.test_and_set_bit(w, w.shinfo_evtchn_pending(), 1)
                    .unwrap();
                sh.clone()
            })
            .unwrap()
    };
    assert!(pages.shared_info_is_mapped(root.token()));
    // Hot-replace the memory map with fresh RAM (the old region leaves the map).
    mem.replace(root.token(), ram(0x40000));
    mem.synchronize(root.token());
    assert_eq!(mem.generation(), 1);
    // The guard still reads the old memory: its region is alive.
    assert!(guard.test_bit(w, w.shinfo_evtchn_pending(), 1).unwrap());
    // The cache revalidates: the new page does not have the bit; writes go to the new map.
    {
        let (snap, mut t) = mem.read(root.token());
        let was = pages
            .with_shared_info(&mut t, &snap, |sh, _| {
                sh.test_and_set_bit(w, w.shinfo_evtchn_pending(), 2)
                    .unwrap()
            })
            .unwrap();
        assert!(!was);
        let word: u64 = snap.read_obj(GuestAddress(SHINFO + 2048)).unwrap();
        assert_eq!(word, 1 << 2);
    }
    // The old memory was not written by the revalidated cache.
    assert!(!guard.test_bit(w, w.shinfo_evtchn_pending(), 2).unwrap());
    drop(guard);
}

#[test]
fn region_removal_and_hotplug() {
    let mem = MemoryMap::new(
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x10000),
            (GuestAddress(0x100000), 0x10000),
        ])
        .unwrap(),
    );
    let pages: XenPages<Mem> = XenPages::new(1);
    let mut root = Root::new().unwrap();
    pages
        .set_shared_info_gfn(root.token(), Some(0x101))
        .unwrap();
    {
        let (snap, mut t) = mem.read(root.token());
        pages.with_shared_info(&mut t, &snap, |_, _| ()).unwrap();
    }
    // Unplug the region holding shared_info.
    let (smaller, removed) = {
        let (snap, _t) = mem.read(root.token());
        snap.remove_region(GuestAddress(0x100000), 0x10000).unwrap()
    };
    mem.replace(root.token(), smaller);
    drop(removed);
    {
        let (snap, mut t) = mem.read(root.token());
        let e = pages
            .with_shared_info(&mut t, &snap, |_, _| ())
            .unwrap_err();
        assert!(matches!(e, Error::NotMapped { .. }));
    }
    assert!(!pages.shared_info_is_mapped(root.token()));
    // Plug RAM back in: the cache maps it again.
    let bigger = {
        let (snap, _t) = mem.read(root.token());
        let r =
            vm_memory::GuestRegionMmap::from_range(GuestAddress(0x100000), 0x10000, None).unwrap();
        snap.insert_region(std::sync::Arc::new(r)).unwrap()
    };
    mem.replace(root.token(), bigger);
    let (snap, mut t) = mem.read(root.token());
    pages.with_shared_info(&mut t, &snap, |_, _| ()).unwrap();
}

#[test]
fn shared_info_moved_to_another_gfn() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    let w = GuestWidth::Bits64;
    pages.set_shared_info_gfn(root.token(), Some(0x20)).unwrap();
    assert_eq!(pages.shared_info_gfn(root.token()), Some(0x20));
    let (snap, mut t) = mem.read(root.token());
    pages
        .with_shared_info(&mut t, &snap, |sh, _| {
            assert_eq!(sh.gpa(), 0x20000);
            sh.test_and_set_bit(w, w.shinfo_evtchn_pending(), 0)
                .unwrap();
        })
        .unwrap();
    assert_eq!(
        snap.read_obj::<u64>(GuestAddress(0x20000 + 2048)).unwrap(),
        1
    );
    assert_eq!(
        snap.read_obj::<u64>(GuestAddress(SHINFO + 2048)).unwrap(),
        0
    );
}

#[test]
fn explicit_invalidate_rebuilds() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    {
        let (snap, mut t) = mem.read(root.token());
        pages.with_shared_info(&mut t, &snap, |_, _| ()).unwrap();
    }
    assert!(pages.shared_info_is_mapped(root.token()));
    pages.invalidate_all(root.token());
    assert!(!pages.shared_info_is_mapped(root.token()));
    let (snap, mut t) = mem.read(root.token());
    pages.with_shared_info(&mut t, &snap, |_, _| ()).unwrap();
}

#[test]
fn vcpu_info_default_and_registered() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    let (snap, mut t) = mem.read(root.token());
    // vCPU 3 lives in shared_info slot 3.
    pages
        .with_vcpu_info(&mut t, &snap, 3, |vi| {
            assert!(!vi.test_and_set_upcall_pending()?);
            assert!(!vi.test_and_set_pending_sel(5)?);
            Ok(())
        })
        .unwrap();
    assert_eq!(
        snap.read_obj::<u8>(GuestAddress(SHINFO + 3 * 64)).unwrap(),
        1
    );
    assert_eq!(
        snap.read_obj::<u64>(GuestAddress(SHINFO + 3 * 64 + 8))
            .unwrap(),
        1 << 5
    );
    // vCPU 35 has no slot.
    let e = pages
        .with_vcpu_info(&mut t, &snap, 35, |_| Ok(()))
        .unwrap_err();
    assert_eq!(e, Error::NoVcpuInfo(35));
    assert_eq!(e.errno(), 2);
    let e = pages
        .with_vcpu_info(&mut t, &snap, 40, |_| Ok(()))
        .unwrap_err();
    assert_eq!(e, Error::NoSuchVcpu(40));
    // Register vCPU 3's elsewhere: contents are copied.
    pages
        .set_vcpu_info(&mut t, &snap, 3, Some(0x30040))
        .unwrap();
    assert_eq!(snap.read_obj::<u8>(GuestAddress(0x30040)).unwrap(), 1);
    assert_eq!(snap.read_obj::<u64>(GuestAddress(0x30048)).unwrap(), 1 << 5);
    pages
        .with_vcpu_info(&mut t, &snap, 3, |vi| {
            assert_eq!(vi.location().0.gpa(), 0x30040);
            Ok(())
        })
        .unwrap();
    // Bad addresses: crossing a page, misaligned, not RAM.
    let e = pages
        .set_vcpu_info(&mut t, &snap, 3, Some(0x30fc8))
        .unwrap_err();
    assert!(matches!(e, Error::CrossesPage { .. }));
    assert_eq!(e.errno(), 22);
    let e = pages
        .set_vcpu_info(&mut t, &snap, 3, Some(0x30044))
        .unwrap_err();
    assert!(matches!(e, Error::Misaligned { .. }));
    let e = pages
        .set_vcpu_info(&mut t, &snap, 3, Some(0x900000))
        .unwrap_err();
    assert_eq!(e.errno(), 14);
    // The failed attempts did not move it.
    assert_eq!(pages.vcpu_info_gpa(&mut t, 3).unwrap(), Some(0x30040));
    // vCPU 35 can register one.
    pages
        .set_vcpu_info(&mut t, &snap, 35, Some(0x31000))
        .unwrap();
    pages.with_vcpu_info(&mut t, &snap, 35, |_| Ok(())).unwrap();
}

#[test]
fn a_registered_vcpu_info_needs_no_shared_info_and_unregistering_returns_to_the_slot() {
    let mem = MemoryMap::new(ram(0x40000));
    let pages: XenPages<Mem> = XenPages::new(4);
    let mut root = Root::new().unwrap();
    let (snap, mut t) = mem.read(root.token());
    // No shared_info and nothing registered: no vcpu_info at all.
    let e = pages
        .with_vcpu_info(&mut t, &snap, 3, |_| Ok(()))
        .unwrap_err();
    assert_eq!(e, Error::NoVcpuInfo(3));
    // Registered: used although shared_info is still not placed.
    pages
        .set_vcpu_info(&mut t, &snap, 3, Some(0x30040))
        .unwrap();
    pages
        .with_vcpu_info(&mut t, &snap, 3, |vi| {
            assert_eq!(vi.location().1, 0);
            assert_eq!(vi.location().0.gpa(), 0x30040);
            assert!(!vi.test_and_set_upcall_pending()?);
            Ok(())
        })
        .unwrap();
    assert_eq!(snap.read_obj::<u8>(GuestAddress(0x30040)).unwrap(), 1);
    // Unregistered with shared_info placed: back to vCPU 3's slot in it.
    drop((snap, t));
    pages
        .set_shared_info_gfn(root.token(), Some(SHINFO_GFN))
        .unwrap();
    let (snap, mut t) = mem.read(root.token());
    pages.set_vcpu_info(&mut t, &snap, 3, None).unwrap();
    pages
        .with_vcpu_info(&mut t, &snap, 3, |vi| {
            assert_eq!(vi.location().0.gpa(), SHINFO);
            assert_eq!(vi.location().1, 3 * 64);
            Ok(())
        })
        .unwrap();
    // Registered at a GFN that stops being RAM: EFAULT, not a silent fall back to the slot.
    pages
        .set_vcpu_info(&mut t, &snap, 2, Some(0x3f000))
        .unwrap();
    drop((snap, t));
    mem.replace(root.token(), ram(0x20000));
    let (snap, mut t) = mem.read(root.token());
    let e = pages
        .with_vcpu_info(&mut t, &snap, 2, |_| Ok(()))
        .unwrap_err();
    assert!(matches!(e, Error::NotMapped { .. }), "{e:?}");
}

#[test]
fn vcpu_info_32_bit_selector() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits32);
    let (snap, mut t) = mem.read(root.token());
    pages
        .with_vcpu_info(&mut t, &snap, 1, |vi| {
            vi.test_and_set_pending_sel(31)?;
            assert_eq!(vi.pending_sel()?, 1 << 31);
            Ok(())
        })
        .unwrap();
    assert_eq!(
        snap.read_obj::<u32>(GuestAddress(SHINFO + 64 + 4)).unwrap(),
        1 << 31
    );
    // A 32-bit vcpu_info needs only 4-byte alignment.
    pages
        .set_vcpu_info(&mut t, &snap, 1, Some(0x30044))
        .unwrap();
}

#[test]
fn pvclock_version_protocol_both_copies() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    let (snap, mut t) = mem.read(root.token());
    pages.set_time_info(&mut t, 2, Some(0x32000)).unwrap();
    let time = PvclockTime {
        tsc_timestamp: 0x1122334455,
        system_time: 987654321,
        tsc_to_system_mul: 0xdeadbeef,
        tsc_shift: -1,
        flags: 1,
    };
    snap.write_obj(7u32, GuestAddress(0x32000)).unwrap(); // a guest-chosen odd version
    assert_eq!(pages.update_pvclock(&mut t, &snap, 2, &time).unwrap(), 2);
    for base in [SHINFO + 2 * 64 + 32, 0x32000] {
        let v: u32 = snap.read_obj(GuestAddress(base)).unwrap();
        assert_eq!(v % 2, 0, "version must be even after the update");
        assert_eq!(
            snap.read_obj::<u64>(GuestAddress(base + 8)).unwrap(),
            time.tsc_timestamp
        );
        assert_eq!(
            snap.read_obj::<u64>(GuestAddress(base + 16)).unwrap(),
            time.system_time
        );
        assert_eq!(
            snap.read_obj::<u32>(GuestAddress(base + 24)).unwrap(),
            0xdeadbeef
        );
        assert_eq!(snap.read_obj::<i8>(GuestAddress(base + 28)).unwrap(), -1);
        assert_eq!(snap.read_obj::<u8>(GuestAddress(base + 29)).unwrap(), 1);
    }
    assert_eq!(
        snap.read_obj::<u32>(GuestAddress(SHINFO + 2 * 64 + 32))
            .unwrap(),
        2
    );
    assert_eq!(snap.read_obj::<u32>(GuestAddress(0x32000)).unwrap(), 10);
    // Crossing a page is refused for the time area.
    assert!(matches!(
        pages.set_time_info(&mut t, 2, Some(0x32ff0)),
        Err(Error::CrossesPage { .. })
    ));
}

fn runstate_roundtrip(width: GuestWidth) {
    let (mem, pages, mut root) = setup(width);
    pages.set_runstate_update_flag(true);
    let (snap, mut t) = mem.read(root.token());
    // Crosses the page boundary at 0x33000.
    let gpa = 0x33000 - 20;
    pages.set_runstate_area(&mut t, 0, Some(gpa)).unwrap();
    let rs = Runstate {
        state: 2,
        state_entry_time: 0x0123_4567_89ab_cdef,
        time: [1, 2, 3, 0x0102_0304_0506_0708],
    };
    assert!(pages.update_runstate(&mut t, &snap, 0, &rs).unwrap());
    let et = width.runstate_entry_time() as u64;
    assert_eq!(snap.read_obj::<u32>(GuestAddress(gpa)).unwrap(), 2);
    let entry: u64 = snap.read_obj(GuestAddress(gpa + et)).unwrap();
    assert_eq!(
        entry, rs.state_entry_time,
        "XEN_RUNSTATE_UPDATE must be clear after"
    );
    for i in 0..4u64 {
        let v: u64 = snap
            .read_obj(GuestAddress(gpa + width.runstate_time() as u64 + 8 * i))
            .unwrap();
        assert_eq!(v, rs.time[i as usize]);
    }
    // A vCPU without an area is skipped.
    assert!(!pages.update_runstate(&mut t, &snap, 1, &rs).unwrap());
}

#[test]
fn runstate_64_crossing_page() {
    runstate_roundtrip(GuestWidth::Bits64);
}

#[test]
fn runstate_32_crossing_page() {
    runstate_roundtrip(GuestWidth::Bits32);
}

#[test]
fn wallclock_both_widths() {
    for (w, ver, sec, nsec, hi) in [
        (GuestWidth::Bits64, 3072, 3076, 3080, 3084),
        (GuestWidth::Bits32, 2304, 2308, 2312, 2340),
    ] {
        let (mem, pages, mut root) = setup(w);
        let (snap, mut t) = mem.read(root.token());
        pages
            .set_wallclock(&mut t, &snap, 0x1_2345_6789, 999_999_999)
            .unwrap();
        assert_eq!(snap.read_obj::<u32>(GuestAddress(SHINFO + ver)).unwrap(), 2);
        assert_eq!(
            snap.read_obj::<u32>(GuestAddress(SHINFO + sec)).unwrap(),
            0x2345_6789
        );
        assert_eq!(
            snap.read_obj::<u32>(GuestAddress(SHINFO + nsec)).unwrap(),
            999_999_999
        );
        assert_eq!(snap.read_obj::<u32>(GuestAddress(SHINFO + hi)).unwrap(), 1);
    }
}

#[test]
fn state_roundtrip_and_validation() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits32);
    {
        let (snap, mut t) = mem.read(root.token());
        pages
            .set_vcpu_info(&mut t, &snap, 1, Some(0x30044))
            .unwrap();
        pages.set_runstate_area(&mut t, 2, Some(0x33ff0)).unwrap();
    }
    let state = pages.state(root.token());
    assert_eq!(state.width, GuestWidth::Bits32);
    assert_eq!(state.shared_info_gfn, Some(SHINFO_GFN));
    assert_eq!(state.vcpus[1].vcpu_info_gpa, Some(0x30044));
    let restored: XenPages<Mem> = XenPages::from_state(&state).unwrap();
    assert_eq!(restored.state(root.token()), state);
    // Invalid states.
    let mut bad = state.clone();
    bad.vcpus[0].vcpu_info_gpa = Some(0x30fff);
    assert!(XenPages::<Mem>::from_state(&bad).is_err());
    let mut bad = state.clone();
    bad.shared_info_gfn = Some(u64::MAX);
    assert!(XenPages::<Mem>::from_state(&bad).is_err());
    let bad = PagesState {
        vcpus: vec![],
        ..state.clone()
    };
    assert!(XenPages::<Mem>::from_state(&bad).is_err());
    let bad = PagesState {
        vcpus: vec![VcpuPagesState {
            time_info_gpa: Some(0x1ff0),
            ..Default::default()
        }],
        ..state
    };
    assert!(XenPages::<Mem>::from_state(&bad).is_err());
}

/// Found by the long `hypercall_dispatch` run: a `vcpu_info` registered by a
/// 32-bit guest at a 4-byte (not 8-byte) aligned place, then the guest turned
/// 64-bit; the state must restore (a running VM holds it).
#[test]
fn a_vcpu_info_placed_as_32_bit_restores_after_the_switch_to_64_bit() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits32);
    {
        let (snap, mut t) = mem.read(root.token());
        pages
            .set_vcpu_info(&mut t, &snap, 0, Some(0x31004))
            .unwrap();
    }
    pages.set_width(GuestWidth::Bits64);
    let state = pages.state(root.token());
    assert_eq!(state.vcpus[0].vcpu_info_gpa, Some(0x31004));
    let restored: XenPages<Mem> = XenPages::from_state(&state).unwrap();
    assert_eq!(restored.state(root.token()), state);
    // Still refused: a place no width aligns.
    let mut bad = state;
    bad.vcpus[0].vcpu_info_gpa = Some(0x31002);
    assert!(XenPages::<Mem>::from_state(&bad).is_err());
}

#[test]
fn another_vms_read_section_is_refused() {
    use vm_lock::PageCache;
    use xen_shinfo_cache::GpaCache;

    // VM A's pages, used with A's memory first; VM B has the same layout.
    let (mem_a, pages, mut root) = setup(GuestWidth::Bits64);
    let mem_b = MemoryMap::new(ram(0x40000));
    let w = GuestWidth::Bits64;
    let set_bit = |snap: &vm_lock::MemReadGuard<'_, Mem>, t: &mut vm_lock::Token<'_, _>| {
        pages.with_shared_info(t, snap, |sh, _| {
            sh.test_and_set_bit(w, w.shinfo_evtchn_pending(), 3)
        })
    };
    {
        let (snap, mut t) = mem_a.read(root.token());
        assert_eq!(set_bit(&snap, &mut t), Ok(Ok(false)));
    }
    // B's section: refused, before anything is read or written in either VM.
    {
        let (snap, mut t) = mem_b.read(root.token());
        assert_eq!(set_bit(&snap, &mut t), Err(Error::ForeignMap));
        assert_eq!(Error::ForeignMap.errno(), 14);
        let e = pages
            .set_vcpu_info(&mut t, &snap, 0, Some(0x20000))
            .unwrap_err();
        assert_eq!(e, Error::ForeignMap);
        let time = PvclockTime::default();
        assert_eq!(
            pages.update_pvclock(&mut t, &snap, 0, &time),
            Err(Error::ForeignMap)
        );
        let b: u64 = snap.read_obj(GuestAddress(SHINFO + 2048)).unwrap();
        assert_eq!(b, 0, "VM B's memory was written through VM A's pages");
    }
    assert_eq!(pages.vcpu_info_gpa(root.token(), 0), Ok(None));
    // A's own sections still work.
    {
        let (snap, mut t) = mem_a.read(root.token());
        assert_eq!(set_bit(&snap, &mut t), Ok(Ok(true)));
    }

    // A page cache on its own is bound to the map of its first mapping as well.
    let cache = GpaCache::<PageCache<0>, Mem>::new(Some((SHINFO, 4096)));
    {
        let (snap, mut t) = mem_a.read(root.token());
        assert!(cache.with(&mut t, &snap, |_, _| ()).is_ok());
    }
    let (snap, mut t) = mem_b.read(root.token());
    assert_eq!(
        cache.with(&mut t, &snap, |_, _| ()).unwrap_err(),
        Error::ForeignMap
    );
}

#[test]
fn a_page_cache_rebuilds_only_when_stale_and_its_target_hint_follows_the_target() {
    use vm_lock::PageCache;
    use xen_shinfo_cache::GpaCache;

    let mem = MemoryMap::new(ram(0x40000));
    let mut root = Root::new().unwrap();
    let cache = GpaCache::<PageCache<0>, Mem>::new(None);
    assert!(!cache.maybe_targeted());
    {
        // No target: the closure runs with `None`, nothing is mapped.
        let (snap, mut t) = mem.read(root.token());
        assert_eq!(cache.with_opt(&mut t, &snap, |m, _| m.is_some()), Ok(false));
        assert!(!cache.is_mapped(&mut t));
    }
    cache.set_target(root.token(), Some((SHINFO, 8)));
    assert!(cache.maybe_targeted());
    let host = |cache: &GpaCache<PageCache<0>, Mem>, root: &mut Root| {
        let (snap, mut t) = mem.read(root.token());
        cache
            .with(&mut t, &snap, |m, _| {
                m.atomic_u64(0).unwrap() as *const _ as usize
            })
            .unwrap()
    };
    // Built on first use, then reused as it is while the map does not change.
    let first = host(&cache, &mut root);
    assert!(cache.is_mapped(root.token()));
    assert_eq!(host(&cache, &mut root), first);
    // A new map: rebuilt from it (another host mapping), and the write lands in the new RAM.
    mem.replace(root.token(), ram(0x40000));
    let second = host(&cache, &mut root);
    assert_ne!(second, first);
    {
        let (snap, mut t) = mem.read(root.token());
        cache
            .with(&mut t, &snap, |m, _| m.write_u64(0, 0x5a5a))
            .unwrap()
            .unwrap();
        assert_eq!(snap.read_obj::<u64>(GuestAddress(SHINFO)).unwrap(), 0x5a5a);
    }
    // Invalidated: rebuilt on the next use (same RAM, same host address).
    cache.invalidate(root.token());
    assert!(!cache.is_mapped(root.token()));
    assert_eq!(host(&cache, &mut root), second);
    // Target gone: the hint says so, the closure sees `None`.
    cache.set_target(root.token(), None);
    assert!(!cache.maybe_targeted());
    let (snap, mut t) = mem.read(root.token());
    assert_eq!(cache.with_opt(&mut t, &snap, |m, _| m.is_some()), Ok(false));
    assert_eq!(cache.with(&mut t, &snap, |_, _| ()), Err(Error::Unset));
    // A target that is not RAM: EFAULT, and nothing stays mapped.
    drop((snap, t));
    cache.set_target(root.token(), Some((0x100000, 8)));
    let (snap, mut t) = mem.read(root.token());
    let e = cache.with(&mut t, &snap, |_, _| ()).unwrap_err();
    assert!(matches!(e, Error::NotMapped { .. }), "{e:?}");
    assert!(!cache.is_mapped(&mut t));
    assert!(GpaCache::<PageCache<0>, Mem>::new(Some((SHINFO, 8))).maybe_targeted());
}

#[test]
fn vcpu_info_users_racing_a_re_registration_always_find_one_of_the_two_places() {
    let (mem, pages, mut root) = setup(GuestWidth::Bits64);
    const PLACED: u64 = 0x30040;
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut root = Root::new().unwrap();
            for i in 0..2000 {
                let (snap, mut t) = mem.read(root.token());
                let gpa = (i % 2 == 0).then_some(PLACED);
                pages.set_vcpu_info(&mut t, &snap, 3, gpa).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Release);
        });
        let (mut registered, mut slot) = (0u32, 0u32);
        loop {
            let done = stop.load(std::sync::atomic::Ordering::Acquire);
            let (snap, mut t) = mem.read(root.token());
            // Whichever place is current, the access succeeds: a registration seen by
            // the lock-free hint but gone under the lock falls back to the slot.
            let (gpa, base) = pages
                .with_vcpu_info(&mut t, &snap, 3, |vi| {
                    vi.test_and_set_upcall_pending()?;
                    Ok((vi.location().0.gpa(), vi.location().1))
                })
                .unwrap();
            match (gpa, base) {
                (PLACED, 0) => registered += 1,
                (SHINFO, 192) => slot += 1,
                other => panic!("vcpu_info found at {other:x?}"),
            }
            if done {
                break;
            }
        }
        // The last pass ran after the last change (i = 1999: unregistered, the slot).
        assert!(slot > 0, "{registered} registered, {slot} slot");
    });
}
