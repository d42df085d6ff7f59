// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The grant table through its public API.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::errno;
use xen_gnttab::*;

/// 64 KiB of guest RAM at 0.
fn mem() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap()
}

#[test]
fn limits() {
    assert!(GrantTable::new(0).is_err());
    assert!(GrantTable::new(MAX_FRAMES_LIMIT + 1).is_err());
    let mut gt = GrantTable::new(2).unwrap();
    assert_eq!(gt.query_size(), (0, 2));
    for (idx, gfn) in [
        (2, 0x10),
        (u64::MAX, 0x10),
        // v1: the status bit is part of the index, as in Xen.
        (XENMAPIDX_GRANT_TABLE_STATUS, 0x10),
        (0, MAX_GFN),
        (0, u64::MAX),
    ] {
        let e = gt.add_to_physmap(idx, gfn).unwrap_err();
        assert_eq!(e.errno(), errno::EINVAL, "idx {idx:#x} gfn {gfn:#x}");
    }
    assert_eq!(gt.nr_frames(), 0, "failed calls change nothing");
    assert!(gt.setup_table(3).is_err());
}

#[test]
fn map_move_and_displace() {
    let mut gt = GrantTable::new(4).unwrap();
    let r = gt.add_to_physmap(1, 0xa0).unwrap();
    assert_eq!(
        r,
        Remap {
            frame: 1,
            status: false,
            gfn: 0xa0,
            old_gfn: None,
            displaced: None,
            displaced_status: None,
        }
    );
    assert_eq!(gt.nr_frames(), 2, "table grows to idx + 1");
    assert_eq!(gt.gfn_of(0), None);
    // Move frame 1.
    let r = gt.add_to_physmap(1, 0xb0).unwrap();
    assert_eq!(r.old_gfn, Some(0xa0));
    assert_eq!(gt.frame_at(0xa0), None);
    // Same place again: nothing to unmap.
    assert_eq!(gt.add_to_physmap(1, 0xb0).unwrap().old_gfn, None);
    // Frame 0 onto frame 1's GFN displaces frame 1.
    let r = gt.add_to_physmap(0, 0xb0).unwrap();
    assert_eq!(r.displaced, Some(1));
    assert_eq!(gt.gfn_of(1), None);
    assert_eq!(gt.frame_at(0xb0), Some(0));
    assert_eq!(gt.remove_gfn(0xb0), Some(Frame::Grant(0)));
    assert_eq!(gt.remove_gfn(0xb0), None);
}

#[test]
fn setup_and_version() {
    let mut gt = GrantTable::new(4).unwrap();
    gt.add_to_physmap(0, 0x55).unwrap();
    assert_eq!(gt.setup_table(2).unwrap(), vec![Some(0x55), None]);
    assert_eq!(gt.query_size(), (2, 4));
    // Asking for fewer frames does not shrink the table.
    assert_eq!(gt.setup_table(1).unwrap(), vec![Some(0x55)]);
    assert_eq!(gt.nr_frames(), 2);
    let m = mem();
    assert_eq!(gt.set_version(&m, 1).unwrap(), 1);
    // Xen: a version other than 1 and 2 is -EINVAL.
    assert_eq!(gt.set_version(&m, 0).unwrap_err().errno(), errno::EINVAL);
    assert_eq!(gt.set_version(&m, 3).unwrap_err().errno(), errno::EINVAL);
    assert_eq!(gt.version(), 1);
    // v2 on a table limited to v1: -ENOSYS, Xen's answer with v2 disabled.
    let mut v1only = GrantTable::new(4).unwrap().with_max_version(1).unwrap();
    assert_eq!(
        v1only.set_version(&m, 2).unwrap_err().errno(),
        errno::ENOSYS
    );
    assert_eq!(v1only.version(), 1);
}

#[test]
fn state_round_trip_and_validation() {
    let mut gt = GrantTable::new(4).unwrap();
    gt.add_to_physmap(2, 0x99).unwrap();
    let st = gt.state();
    let gt2 = GrantTable::from_state(&st).unwrap();
    assert_eq!(gt2.state(), st);
    let mut bad = st.clone();
    bad.nr_frames = 9;
    assert!(GrantTable::from_state(&bad).is_err());
    let mut bad = st.clone();
    bad.frame_gfns[0] = Some(0x99); // two frames at one GFN
    assert!(GrantTable::from_state(&bad).is_err());
    let mut bad = st.clone();
    bad.version = 2; // v2 needs its status frames
    assert!(GrantTable::from_state(&bad).is_err());
    let mut bad = st.clone();
    bad.version = 3;
    assert!(GrantTable::from_state(&bad).is_err());
    let mut bad = st;
    bad.max_version = 1;
    bad.version = 2;
    bad.status_gfns = vec![None];
    assert!(
        GrantTable::from_state(&bad).is_err(),
        "version above max_version"
    );
}

#[test]
fn reads_entries_through_mapping() {
    let m = mem();
    let mut gt = GrantTable::new(2).unwrap();
    assert_eq!(gt.read_entry(&m, 3), None, "nothing mapped");
    gt.add_to_physmap(0, 0x3).unwrap();
    let e: [u8; 8] = [1, 0, 7, 0, 0x34, 0x12, 0, 0];
    m.write_slice(&e, GuestAddress(0x3000 + 3 * 8)).unwrap();
    assert_eq!(
        gt.read_entry(&m, 3),
        Some(GrantEntryV1 {
            flags: GTF_PERMIT_ACCESS,
            domid: 7,
            frame: 0x1234
        })
    );
    assert_eq!(
        gt.read_entry(&m, ENTRIES_PER_FRAME),
        None,
        "frame 1 not in use"
    );
    assert_eq!(gt.read_entry(&m, u32::MAX), None);
    gt.add_to_physmap(1, 0x100).unwrap(); // outside the 64 KiB of RAM
    assert_eq!(gt.read_entry(&m, ENTRIES_PER_FRAME), None);
}

#[test]
fn frames_above_4g_and_at_the_gfn_limit() {
    // Linux's unpopulated-memory allocator hands out GFNs above 4 GiB.
    let mut gt = GrantTable::new(4).unwrap();
    let r = gt.add_to_physmap(0, 0x14_0000).unwrap();
    assert_eq!((r.frame, r.gfn), (0, 0x14_0000));
    gt.add_to_physmap(1, MAX_GFN - 1).unwrap();
    assert_eq!(
        gt.setup_table(2).unwrap(),
        vec![Some(0x14_0000), Some(MAX_GFN - 1)]
    );
    assert_eq!(
        GrantTable::from_state(&gt.state()).unwrap().state(),
        gt.state()
    );
}

#[test]
fn entry_encoding() {
    let e = GrantEntryV1 {
        flags: GTF_PERMIT_ACCESS | GTF_READONLY,
        domid: 0x7ff0,
        frame: 0xdead_beef,
    };
    assert_eq!(e.to_bytes(), [5, 0, 0xf0, 0x7f, 0xef, 0xbe, 0xad, 0xde]);
    assert_eq!(GrantEntryV1::from_bytes(e.to_bytes()), e);
    assert_eq!(ENTRIES_PER_FRAME, 512);
    assert_eq!(entry::locate(513), (1, 8));
    assert_eq!(entry::locate(u32::MAX), (u32::MAX / 512, 511 * 8));
}

#[test]
fn config_errors_are_einval() {
    let e = GrantTable::new(0).unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    assert_eq!(e.errno(), errno::EINVAL);
    let st = GrantTableState {
        max_frames: 2,
        nr_frames: 1,
        frame_gfns: vec![Some(MAX_GFN)],
        version: 1,
        max_version: 2,
        status_gfns: Vec::new(),
    };
    assert!(GrantTable::from_state(&st).is_err());
    assert_eq!(
        GrantTable::new(MAX_FRAMES_LIMIT).unwrap().max_frames(),
        MAX_FRAMES_LIMIT
    );
}
