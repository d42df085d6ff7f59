// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Grant table v2 (version switches, status frames) and the use of grants: lookup,
//! map/unmap with GTF_reading/GTF_writing accounting, copies, swap; every GNTST_* path.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::{
    errno, DOMID_SELF, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_BAD_COPY_ARG,
    GNTST_BAD_DOMAIN, GNTST_BAD_GNTREF, GNTST_BAD_HANDLE, GNTST_BAD_PAGE, GNTST_EAGAIN,
    GNTST_GENERAL_ERROR, GNTST_OKAY, GNTST_PERMISSION_DENIED, GTF_ACCEPT_TRANSFER, GTF_READING,
    GTF_SUB_PAGE, GTF_TRANSITIVE, GTF_WRITING,
};
use xen_gnttab::*;

/// 1 MiB of guest RAM at 0.
fn mem() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap()
}

const GRANT_GFN: u64 = 0x80;
const STATUS_GFN: u64 = 0x81;
const DATA_GFN: u64 = 0x10;
const BACKEND: u16 = 0;
const GUEST: u16 = 5;

fn put_v1(m: &GuestMemoryMmap, gref: u32, flags: u16, domid: u16, frame: u32) {
    let e = GrantEntryV1 {
        flags,
        domid,
        frame,
    };
    m.write_slice(
        &e.to_bytes(),
        GuestAddress(GRANT_GFN * 4096 + u64::from(gref) * 8),
    )
    .unwrap();
}

fn put_v2(m: &GuestMemoryMmap, gref: u32, e: GrantEntry) {
    m.write_slice(
        &e.to_v2_bytes(),
        GuestAddress(GRANT_GFN * 4096 + u64::from(gref) * 16),
    )
    .unwrap();
}

fn flags_v1(m: &GuestMemoryMmap, gref: u32) -> u16 {
    m.read_obj(GuestAddress(GRANT_GFN * 4096 + u64::from(gref) * 8))
        .unwrap()
}

fn status(m: &GuestMemoryMmap, gref: u32) -> u16 {
    m.read_obj(GuestAddress(STATUS_GFN * 4096 + u64::from(gref) * 2))
        .unwrap()
}

fn full(flags: u16, domid: u16, frame: u64) -> GrantEntry {
    GrantEntry {
        flags,
        domid,
        kind: GrantKind::Frame(frame),
    }
}

/// A v1 table with frame 0 at GRANT_GFN.
fn v1(m: &GuestMemoryMmap) -> GrantTable {
    let _ = m;
    let mut gt = GrantTable::new(4).unwrap();
    gt.add_to_physmap(0, GRANT_GFN).unwrap();
    gt
}

/// A v2 table with frame 0 at GRANT_GFN and status frame 0 at STATUS_GFN.
fn v2(m: &GuestMemoryMmap) -> GrantTable {
    let mut gt = v1(m);
    assert_eq!(gt.set_version(m, 2).unwrap(), 2);
    let r = gt
        .add_to_physmap(XENMAPIDX_GRANT_TABLE_STATUS, STATUS_GFN)
        .unwrap();
    assert!(r.status);
    gt
}

#[test]
fn v1_to_v2_keeps_reserved_entries_and_clears_the_rest() {
    let m = mem();
    let mut gt = v1(&m);
    put_v1(&m, 0, GTF_PERMIT_ACCESS | GTF_READING, BACKEND, 0x1234);
    put_v1(&m, 7, GTF_PERMIT_ACCESS | GTF_READONLY, 3, 0x99);
    put_v1(&m, 8, GTF_PERMIT_ACCESS, 3, 0x77);
    assert_eq!(gt.set_version(&m, 2).unwrap(), 2);
    assert_eq!(gt.version(), 2);
    assert_eq!(gt.nr_status_frames(), 1);
    assert_eq!(gt.nr_entries(), 256);
    // The status frame is not mapped yet; entries are v2 now.
    assert_eq!(gt.status_gfn_of(0), None);
    assert_eq!(
        gt.entry(&m, 0),
        Some(full(GTF_PERMIT_ACCESS, BACKEND, 0x1234))
    );
    assert_eq!(
        gt.entry(&m, 7),
        Some(full(GTF_PERMIT_ACCESS | GTF_READONLY, 3, 0x99))
    );
    assert_eq!(gt.entry(&m, 8), Some(full(0, 0, 0)), "cleared");
    assert_eq!(gt.read_entry(&m, 0), None, "v1 reader refuses v2");
    // Same version again: nothing happens.
    assert_eq!(gt.set_version(&m, 2).unwrap(), 2);
}

#[test]
fn a_table_without_frames_gets_one_for_v2() {
    let m = mem();
    let mut gt = GrantTable::new(4).unwrap();
    assert_eq!(gt.query_size(), (0, 4));
    gt.set_version(&m, 2).unwrap();
    assert_eq!(gt.query_size(), (1, 4));
    assert_eq!(gt.status_frames(1).unwrap(), vec![None]);
    assert!(gt.status_frames(2).is_err());
    let st = gt.state();
    assert_eq!(GrantTable::from_state(&st).unwrap().state(), st);
}

#[test]
fn status_frames_map_grow_and_displace() {
    let m = mem();
    let mut gt = v2(&m);
    assert_eq!(gt.status_frames(1).unwrap(), vec![Some(STATUS_GFN)]);
    assert_eq!(gt.status_gfn_of(0), Some(STATUS_GFN));
    assert_eq!(gt.frame_at_gfn(STATUS_GFN), Some(Frame::Status(0)));
    // Status frame 1 needs 16 grant frames: beyond max_frames (4), -EINVAL.
    let e = gt
        .add_to_physmap(XENMAPIDX_GRANT_TABLE_STATUS | 1, 0x90)
        .unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    assert_eq!(gt.nr_frames(), 1, "nothing grew");
    // A grant frame onto the status frame's GFN unhooks the status frame.
    let r = gt.add_to_physmap(1, STATUS_GFN).unwrap();
    assert_eq!((r.displaced, r.displaced_status), (None, Some(0)));
    assert_eq!(gt.status_gfn_of(0), None);
    // And back.
    let r = gt
        .add_to_physmap(XENMAPIDX_GRANT_TABLE_STATUS, STATUS_GFN)
        .unwrap();
    assert_eq!((r.displaced, r.displaced_status), (Some(1), None));
    // Moving it reports the old place.
    let r = gt
        .add_to_physmap(XENMAPIDX_GRANT_TABLE_STATUS, 0x91)
        .unwrap();
    assert_eq!(r.old_gfn, Some(STATUS_GFN));
    assert_eq!(gt.remove_gfn(0x91), Some(Frame::Status(0)));

    // A larger table grows to the frames a status frame covers.
    let mut big = GrantTable::new(64).unwrap();
    big.set_version(&m, 2).unwrap();
    big.add_to_physmap(XENMAPIDX_GRANT_TABLE_STATUS | 3, 0x95)
        .unwrap();
    assert_eq!(big.nr_frames(), 32);
    assert_eq!(big.nr_status_frames(), 4);
    let e = big
        .add_to_physmap(XENMAPIDX_GRANT_TABLE_STATUS | 8, 0x96)
        .unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL, "64 frames have 8 status frames");
    big.add_to_physmap(XENMAPIDX_GRANT_TABLE_STATUS | 7, 0x96)
        .unwrap();
    assert_eq!((big.nr_frames(), big.nr_status_frames()), (64, 8));
    let st = big.state();
    assert_eq!(GrantTable::from_state(&st).unwrap().state(), st);
    let mut bad = st;
    bad.status_gfns.pop();
    assert!(GrantTable::from_state(&bad).is_err());
}

#[test]
fn v2_to_v1_folds_status_and_removes_status_frames() {
    let m = mem();
    let mut gt = v2(&m);
    put_v2(&m, 1, full(GTF_PERMIT_ACCESS, BACKEND, 0x4321));
    m.write_obj(GTF_READING, GuestAddress(STATUS_GFN * 4096 + 2))
        .unwrap();
    put_v2(&m, 9, full(GTF_PERMIT_ACCESS, BACKEND, 0x55));
    assert_eq!(gt.set_version(&m, 1).unwrap(), 1);
    assert_eq!(gt.nr_status_frames(), 0);
    assert_eq!(gt.frame_at_gfn(STATUS_GFN), None);
    assert_eq!(status(&m, 1), 0, "the old status frame is cleared");
    assert_eq!(
        gt.read_entry(&m, 1),
        Some(GrantEntryV1 {
            flags: GTF_PERMIT_ACCESS | GTF_READING,
            domid: BACKEND,
            frame: 0x4321
        })
    );
    assert_eq!(gt.read_entry(&m, 18), Some(GrantEntryV1::default()));
}

#[test]
fn v2_to_v1_refuses_unrepresentable_reserved_entries() {
    let m = mem();
    let mut gt = v2(&m);
    put_v2(&m, 2, full(GTF_PERMIT_ACCESS, BACKEND, 1 << 32));
    assert_eq!(gt.set_version(&m, 1).unwrap_err().errno(), errno::ERANGE);
    assert_eq!(gt.version(), 2);
    put_v2(
        &m,
        2,
        GrantEntry {
            flags: GTF_TRANSITIVE,
            domid: BACKEND,
            kind: GrantKind::Transitive { domid: 3, gref: 4 },
        },
    );
    assert_eq!(gt.set_version(&m, 1).unwrap_err().errno(), errno::ERANGE);
    // Beyond the reserved entries a large frame does not matter.
    put_v2(&m, 2, full(0, 0, 0));
    put_v2(&m, 100, full(GTF_PERMIT_ACCESS, BACKEND, 1 << 40));
    gt.set_version(&m, 1).unwrap();
}

#[test]
fn version_change_is_busy_while_grants_are_used() {
    let m = mem();
    let mut gt = v1(&m);
    put_v1(&m, 3, GTF_PERMIT_ACCESS, BACKEND, DATA_GFN as u32);
    put_v1(&m, 30, GTF_PERMIT_ACCESS, BACKEND, DATA_GFN as u32);
    // A reserved entry may stay mapped (console, xenstore).
    let h = gt.map(&m, 3, BACKEND, true).unwrap();
    let h30 = gt.map(&m, 30, BACKEND, true).unwrap();
    assert_eq!(gt.set_version(&m, 2).unwrap_err().errno(), errno::EBUSY);
    gt.unmap(&m, h30.handle).unwrap();
    gt.set_version(&m, 2).unwrap();
    gt.unmap(&m, h.handle).unwrap();
}

#[test]
fn map_v1_sets_and_clears_reading_writing() {
    let m = mem();
    let mut gt = v1(&m);
    put_v1(&m, 10, GTF_PERMIT_ACCESS, BACKEND, DATA_GFN as u32);
    m.write_slice(b"hello", GuestAddress(DATA_GFN * 4096))
        .unwrap();
    assert_eq!(
        gt.lookup(&m, 10, BACKEND).unwrap(),
        full(GTF_PERMIT_ACCESS, BACKEND, DATA_GFN)
    );
    let r = gt.map(&m, 10, BACKEND, true).unwrap();
    assert_eq!((r.gpa, r.len, r.readonly), (DATA_GFN * 4096, 4096, true));
    let mut b = [0u8; 5];
    m.read_slice(&mut b, GuestAddress(r.gpa)).unwrap();
    assert_eq!(&b, b"hello");
    assert_eq!(flags_v1(&m, 10), GTF_PERMIT_ACCESS | GTF_READING);
    let w = gt.map(&m, 10, BACKEND, false).unwrap();
    assert_eq!(
        flags_v1(&m, 10),
        GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING
    );
    assert!(gt.is_pinned(10));
    gt.unmap(&m, w.handle).unwrap();
    assert_eq!(
        flags_v1(&m, 10),
        GTF_PERMIT_ACCESS | GTF_READING,
        "writing cleared with the last writer"
    );
    gt.unmap(&m, r.handle).unwrap();
    assert_eq!(flags_v1(&m, 10), GTF_PERMIT_ACCESS, "reading cleared");
    assert!(!gt.is_pinned(10));
    assert_eq!(gt.unmap(&m, r.handle), Err(GNTST_BAD_HANDLE));
    assert_eq!(gt.nr_mappings(), 0);
}

#[test]
fn map_errors() {
    let m = mem();
    let mut gt = v1(&m);
    // Beyond the table.
    assert_eq!(gt.map(&m, 512, BACKEND, true), Err(GNTST_BAD_GNTREF));
    assert_eq!(gt.lookup(&m, 512, BACKEND), Err(GNTST_BAD_GNTREF));
    // Not granted / granted to another domain.
    assert_eq!(gt.map(&m, 11, BACKEND, true), Err(GNTST_GENERAL_ERROR));
    put_v1(&m, 11, GTF_PERMIT_ACCESS, 9, DATA_GFN as u32);
    assert_eq!(gt.map(&m, 11, BACKEND, true), Err(GNTST_GENERAL_ERROR));
    assert_eq!(gt.lookup(&m, 11, BACKEND), Err(GNTST_GENERAL_ERROR));
    // Read-only grant mapped writable.
    put_v1(&m, 12, GTF_PERMIT_ACCESS | GTF_READONLY, BACKEND, 0x20);
    assert_eq!(gt.map(&m, 12, BACKEND, false), Err(GNTST_GENERAL_ERROR));
    assert_eq!(flags_v1(&m, 12), GTF_PERMIT_ACCESS | GTF_READONLY);
    gt.map(&m, 12, BACKEND, true).unwrap();
    // A frame that is not guest memory: bad page, flags left clean.
    put_v1(&m, 13, GTF_PERMIT_ACCESS, BACKEND, 0x10_0000);
    assert_eq!(gt.map(&m, 13, BACKEND, false), Err(GNTST_BAD_PAGE));
    assert_eq!(flags_v1(&m, 13), GTF_PERMIT_ACCESS);
    assert!(!gt.is_pinned(13));
    // Entry in use by another domain.
    put_v1(&m, 14, GTF_PERMIT_ACCESS, BACKEND, 0x21);
    gt.map(&m, 14, BACKEND, true).unwrap();
    assert_eq!(gt.map(&m, 14, 9, true), Err(GNTST_GENERAL_ERROR));
    // A frame of the table that is not mapped reads as no grant.
    gt.setup_table(2).unwrap();
    assert_eq!(gt.map(&m, 600, BACKEND, true), Err(GNTST_GENERAL_ERROR));
    // Accept-transfer entries are not access grants.
    put_v1(&m, 15, GTF_ACCEPT_TRANSFER, BACKEND, 0x22);
    assert_eq!(gt.map(&m, 15, BACKEND, true), Err(GNTST_GENERAL_ERROR));
}

#[test]
fn pins_are_bounded_as_xens_counters() {
    let m = mem();
    let mut gt = v1(&m);
    put_v1(&m, 20, GTF_PERMIT_ACCESS, BACKEND, DATA_GFN as u32);
    let hs: Vec<_> = (0..MAX_PINS)
        .map(|_| gt.map(&m, 20, BACKEND, true).unwrap().handle)
        .collect();
    assert_eq!(gt.map(&m, 20, BACKEND, true), Err(GNTST_GENERAL_ERROR));
    // Writers have their own count.
    let w = gt.map(&m, 20, BACKEND, false).unwrap();
    gt.unmap(&m, w.handle).unwrap();
    for h in hs {
        gt.unmap(&m, h).unwrap();
    }
    assert_eq!(flags_v1(&m, 20), GTF_PERMIT_ACCESS);
}

#[test]
fn map_v2_uses_the_status_frame() {
    let m = mem();
    let mut gt = v2(&m);
    put_v2(&m, 10, full(GTF_PERMIT_ACCESS, BACKEND, DATA_GFN));
    let r = gt.map(&m, 10, BACKEND, false).unwrap();
    assert_eq!(r.gpa, DATA_GFN * 4096);
    assert_eq!(status(&m, 10), GTF_READING | GTF_WRITING);
    assert_eq!(gt.status(&m, 10), Some(GTF_READING | GTF_WRITING));
    // The entry's own flags are untouched in v2.
    assert_eq!(gt.entry(&m, 10).unwrap().flags, GTF_PERMIT_ACCESS);
    gt.unmap(&m, r.handle).unwrap();
    assert_eq!(status(&m, 10), 0);
    // Sub-page and transitive grants cannot be mapped.
    put_v2(
        &m,
        11,
        GrantEntry {
            flags: GTF_PERMIT_ACCESS | GTF_SUB_PAGE,
            domid: BACKEND,
            kind: GrantKind::SubPage {
                frame: DATA_GFN,
                offset: 16,
                length: 32,
            },
        },
    );
    assert_eq!(gt.map(&m, 11, BACKEND, true), Err(GNTST_GENERAL_ERROR));
    put_v2(
        &m,
        12,
        GrantEntry {
            flags: GTF_TRANSITIVE,
            domid: BACKEND,
            kind: GrantKind::Transitive { domid: 0, gref: 1 },
        },
    );
    assert_eq!(gt.map(&m, 12, BACKEND, true), Err(GNTST_GENERAL_ERROR));
    assert_eq!(status(&m, 11) | status(&m, 12), 0);
    // Read-only grant, writable map: refused, status clean.
    put_v2(
        &m,
        13,
        full(GTF_PERMIT_ACCESS | GTF_READONLY, BACKEND, DATA_GFN),
    );
    assert_eq!(gt.map(&m, 13, BACKEND, false), Err(GNTST_GENERAL_ERROR));
    assert_eq!(status(&m, 13), 0);
    // 256 entries per v2 frame.
    assert_eq!(gt.map(&m, 256, BACKEND, true), Err(GNTST_BAD_GNTREF));
    // Without a mapped status frame the use cannot be recorded: refused.
    gt.remove_gfn(STATUS_GFN);
    assert_eq!(gt.map(&m, 10, BACKEND, true), Err(GNTST_GENERAL_ERROR));
}

#[test]
fn host_copies_respect_ranges_and_rights() {
    let m = mem();
    let mut gt = v2(&m);
    put_v2(
        &m,
        20,
        GrantEntry {
            flags: GTF_PERMIT_ACCESS | GTF_SUB_PAGE,
            domid: BACKEND,
            kind: GrantKind::SubPage {
                frame: DATA_GFN,
                offset: 100,
                length: 50,
            },
        },
    );
    m.write_slice(b"0123456789", GuestAddress(DATA_GFN * 4096 + 100))
        .unwrap();
    let mut b = [0u8; 10];
    gt.copy_from_grant(&m, 20, BACKEND, 100, &mut b).unwrap();
    assert_eq!(&b, b"0123456789");
    assert_eq!(status(&m, 20), 0, "copies pin only while they run");
    // Outside the granted bytes; beyond the page.
    assert_eq!(
        gt.copy_from_grant(&m, 20, BACKEND, 99, &mut b),
        Err(GNTST_GENERAL_ERROR)
    );
    assert_eq!(
        gt.copy_from_grant(&m, 20, BACKEND, 145, &mut b),
        Err(GNTST_GENERAL_ERROR)
    );
    assert_eq!(
        gt.copy_from_grant(&m, 20, BACKEND, 4090, &mut b),
        Err(GNTST_BAD_COPY_ARG)
    );
    gt.copy_to_grant(&m, 20, BACKEND, 140, b"abcdefghij")
        .unwrap();
    let mut c = [0u8; 10];
    m.read_slice(&mut c, GuestAddress(DATA_GFN * 4096 + 140))
        .unwrap();
    assert_eq!(&c, b"abcdefghij");
    // Read-only grants take no writes.
    put_v2(
        &m,
        21,
        full(GTF_PERMIT_ACCESS | GTF_READONLY, BACKEND, DATA_GFN),
    );
    assert_eq!(
        gt.copy_to_grant(&m, 21, BACKEND, 0, b"x"),
        Err(GNTST_GENERAL_ERROR)
    );
    gt.copy_from_grant(&m, 21, BACKEND, 0, &mut c).unwrap();
    // Transitive grants lead to a domain the table cannot reach.
    put_v2(
        &m,
        22,
        GrantEntry {
            flags: GTF_TRANSITIVE,
            domid: BACKEND,
            kind: GrantKind::Transitive { domid: 7, gref: 1 },
        },
    );
    assert_eq!(
        gt.copy_from_grant(&m, 22, BACKEND, 0, &mut c),
        Err(GNTST_GENERAL_ERROR)
    );
    assert_eq!(status(&m, 22), 0);
    assert!(!gt.is_pinned(22));
}

fn env<'a>(exists: &'a dyn Fn(u16) -> bool, ok: &'a dyn Fn(u64) -> bool) -> CopyEnv<'a> {
    CopyEnv {
        domid: GUEST,
        domain_exists: exists,
        frame_ok: ok,
    }
}

fn op(src: (u64, u16, u16), dst: (u64, u16, u16), len: u16, flags: u16) -> CopyOp {
    CopyOp {
        source: CopyPtr {
            gref_or_gfn: src.0,
            domid: src.1,
            offset: src.2,
        },
        dest: CopyPtr {
            gref_or_gfn: dst.0,
            domid: dst.1,
            offset: dst.2,
        },
        len,
        flags,
    }
}

#[test]
fn guest_copy_answers_as_xen() {
    let m = mem();
    let mut gt = v1(&m);
    let exists = |d: u16| d == BACKEND;
    let ok = |g: u64| g != 0x30; // 0x30 is ballooned out
    let e = env(&exists, &ok);
    put_v1(&m, 5, GTF_PERMIT_ACCESS, GUEST, 0x40); // a grant to itself
    m.write_slice(b"grant!", GuestAddress(0x40 * 4096 + 8))
        .unwrap();
    // gref -> own frame.
    let o = op(
        (5, DOMID_SELF, 8),
        (0x41, DOMID_SELF, 0),
        6,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_OKAY);
    let mut b = [0u8; 6];
    m.read_slice(&mut b, GuestAddress(0x41 * 4096)).unwrap();
    assert_eq!(&b, b"grant!");
    assert_eq!(flags_v1(&m, 5), GTF_PERMIT_ACCESS, "released");
    // own frame -> gref, the own domain id instead of DOMID_SELF for the grant.
    let o = op((0x41, DOMID_SELF, 0), (5, GUEST, 100), 6, GNTCOPY_DEST_GREF);
    assert_eq!(gt.copy(&m, &e, &o), GNTST_OKAY);
    // A frame named by domain id rather than DOMID_SELF: permission denied (Xen).
    let o = op((0x41, GUEST, 0), (0x42, DOMID_SELF, 0), 1, 0);
    assert_eq!(gt.copy(&m, &e, &o), GNTST_PERMISSION_DENIED);
    let o = op((0x41, DOMID_SELF, 0), (0x42, BACKEND, 0), 1, 0);
    assert_eq!(gt.copy(&m, &e, &o), GNTST_PERMISSION_DENIED);
    // Unknown domain.
    let o = op((1, 77, 0), (0x42, DOMID_SELF, 0), 1, GNTCOPY_SOURCE_GREF);
    assert_eq!(gt.copy(&m, &e, &o), GNTST_BAD_DOMAIN);
    // A domain that grants nothing.
    let o = op(
        (1, BACKEND, 0),
        (0x42, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_GENERAL_ERROR);
    let o = op(
        (512, BACKEND, 0),
        (0x42, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_BAD_GNTREF);
    // Frames that are not RAM (ballooned out, or beyond memory).
    let o = op((0x30, DOMID_SELF, 0), (0x42, DOMID_SELF, 0), 1, 0);
    assert_eq!(gt.copy(&m, &e, &o), GNTST_BAD_PAGE);
    let o = op((0x41, DOMID_SELF, 0), (1 << 30, DOMID_SELF, 0), 1, 0);
    assert_eq!(gt.copy(&m, &e, &o), GNTST_BAD_PAGE);
    // Beyond the page.
    let o = op((0x41, DOMID_SELF, 4000), (0x42, DOMID_SELF, 0), 200, 0);
    assert_eq!(gt.copy(&m, &e, &o), GNTST_BAD_COPY_ARG);
    // A grant reference beyond the table; one that does not grant to the caller.
    let o = op(
        (600, DOMID_SELF, 0),
        (0x42, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_BAD_GNTREF);
    put_v1(&m, 6, GTF_PERMIT_ACCESS, BACKEND, 0x40);
    let o = op(
        (6, DOMID_SELF, 0),
        (0x42, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_GENERAL_ERROR);
    // Destination claim fails: the source grant is released.
    let o = op(
        (5, DOMID_SELF, 0),
        (600, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_BAD_GNTREF);
    assert!(!gt.is_pinned(5));
    assert_eq!(flags_v1(&m, 5), GTF_PERMIT_ACCESS);
    // Read-only grant as destination.
    put_v1(&m, 7, GTF_PERMIT_ACCESS | GTF_READONLY, GUEST, 0x40);
    let o = op(
        (0x41, DOMID_SELF, 0),
        (7, DOMID_SELF, 0),
        1,
        GNTCOPY_DEST_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_GENERAL_ERROR);
    // A grant in use by the backend cannot be copied by the guest.
    put_v1(&m, 8, GTF_PERMIT_ACCESS, BACKEND, 0x40);
    let h = gt.map(&m, 8, BACKEND, true).unwrap();
    put_v1(&m, 8, GTF_PERMIT_ACCESS | GTF_READING, GUEST, 0x40);
    let o = op(
        (8, DOMID_SELF, 0),
        (0x42, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_GENERAL_ERROR);
    gt.unmap(&m, h.handle).unwrap();
}

#[test]
fn guest_copy_v2_sub_page_and_transitive() {
    let m = mem();
    let mut gt = v2(&m);
    let exists = |d: u16| d == BACKEND;
    let ok = |_: u64| true;
    let e = env(&exists, &ok);
    put_v2(
        &m,
        9,
        GrantEntry {
            flags: GTF_PERMIT_ACCESS | GTF_SUB_PAGE,
            domid: GUEST,
            kind: GrantKind::SubPage {
                frame: 0x40,
                offset: 64,
                length: 64,
            },
        },
    );
    let o = op(
        (9, DOMID_SELF, 64),
        (0x42, DOMID_SELF, 0),
        64,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_OKAY);
    let o = op(
        (9, DOMID_SELF, 65),
        (0x42, DOMID_SELF, 0),
        64,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt.copy(&m, &e, &o), GNTST_GENERAL_ERROR);
    assert_eq!(status(&m, 9), 0);
    let trans = |domid: u16, gref: u32| GrantEntry {
        flags: GTF_TRANSITIVE,
        domid: GUEST,
        kind: GrantKind::Transitive { domid, gref },
    };
    let o = op(
        (10, DOMID_SELF, 0),
        (0x42, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF,
    );
    // Self-referential; unknown domain; a domain that grants nothing.
    for (t, rc) in [
        (trans(GUEST, 1), GNTST_GENERAL_ERROR),
        (trans(66, 1), GNTST_GENERAL_ERROR),
        (trans(BACKEND, 1), GNTST_GENERAL_ERROR),
        (trans(BACKEND, 5000), GNTST_BAD_GNTREF),
    ] {
        put_v2(&m, 10, t);
        assert_eq!(gt.copy(&m, &e, &o), rc, "{t:?}");
        assert_eq!(status(&m, 10), 0);
        assert!(!gt.is_pinned(10));
    }
}

#[test]
fn swap_entries_and_statuses() {
    let m = mem();
    let mut gt = v2(&m);
    put_v2(&m, 1, full(GTF_PERMIT_ACCESS, 3, 0x11));
    put_v2(&m, 2, full(GTF_PERMIT_ACCESS | GTF_READONLY, 4, 0x22));
    m.write_obj(GTF_READING, GuestAddress(STATUS_GFN * 4096 + 2))
        .unwrap();
    assert_eq!(gt.swap(&m, 1, 2), GNTST_OKAY);
    assert_eq!(
        gt.entry(&m, 1),
        Some(full(GTF_PERMIT_ACCESS | GTF_READONLY, 4, 0x22))
    );
    assert_eq!(gt.entry(&m, 2), Some(full(GTF_PERMIT_ACCESS, 3, 0x11)));
    assert_eq!((status(&m, 1), status(&m, 2)), (0, GTF_READING));
    assert_eq!(gt.swap(&m, 1, 1), GNTST_OKAY);
    assert_eq!(gt.swap(&m, 1, 256), GNTST_BAD_GNTREF);
    assert_eq!(gt.swap(&m, u32::MAX, 1), GNTST_BAD_GNTREF);
    put_v2(&m, 3, full(GTF_PERMIT_ACCESS, BACKEND, DATA_GFN));
    let h = gt.map(&m, 3, BACKEND, true).unwrap();
    assert_eq!(gt.swap(&m, 3, 1), GNTST_EAGAIN);
    assert_eq!(gt.swap(&m, 1, 3), GNTST_EAGAIN);
    gt.unmap(&m, h.handle).unwrap();
    assert_eq!(gt.swap(&m, 1, 3), GNTST_OKAY);
}

#[test]
fn entry_v2_encoding() {
    for e in [
        full(GTF_PERMIT_ACCESS, 1, 0x1_2345_6789),
        GrantEntry {
            flags: GTF_PERMIT_ACCESS | GTF_SUB_PAGE,
            domid: 2,
            kind: GrantKind::SubPage {
                frame: 7,
                offset: 0x10,
                length: 0x20,
            },
        },
        GrantEntry {
            flags: GTF_TRANSITIVE,
            domid: 3,
            kind: GrantKind::Transitive {
                domid: 9,
                gref: 0xabcd,
            },
        },
    ] {
        assert_eq!(GrantEntry::from_v2_bytes(e.to_v2_bytes()), e);
    }
    let b = full(5, 6, 0x0807_0605_0403_0201).to_v2_bytes();
    assert_eq!(b, [5, 0, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(entry::status_frames_for(1), 1);
    assert_eq!(entry::status_frames_for(8), 1);
    assert_eq!(entry::status_frames_for(9), 2);
    assert_eq!(entry::status_frames_for(64), 8);
    assert_eq!(no_grant_status(511), GNTST_GENERAL_ERROR);
    assert_eq!(no_grant_status(512), GNTST_BAD_GNTREF);
}
