// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Requests through the ring as a frontend writes them: both ABIs, one- and multi-page
//! rings, and a hostile frontend.

mod common;

use common::*;
use vm_memory::Bytes;
use xen_blkback::*;

const PROTOS: [Protocol; 2] = [Protocol::X86_64, Protocol::X86_32];

fn ok(id: u64, op: u8) -> Response {
    Response {
        id,
        operation: op,
        status: BLKIF_RSP_OKAY,
    }
}

fn pattern(page: u32, seed: u8) -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i as u8).wrapping_mul(7) ^ seed ^ page as u8)
        .collect()
}

#[test]
fn read_write_flush_discard_both_widths() {
    for proto in PROTOS {
        for pages in [1u32, 4] {
            let mut f = Front::new(proto, pages);
            let mut be = BlkBack::new(MemDisk::new(1 << 20), false).with_discard(true);
            f.connect(&mut be);
            // Pages 0 and 1 hold data; write them to sectors 8..24.
            for p in 0..2 {
                f.mem
                    .write_slice(&pattern(p, 0x5a), Front::data_gpa(p))
                    .unwrap();
            }
            f.queue(&rw(BLKIF_OP_WRITE, 0x1111_2222_3333_4444, 8, &[0, 1]));
            // Read them back into pages 2 and 3.
            f.queue(&rw(BLKIF_OP_READ, 2, 8, &[2, 3]));
            // A partial segment: sectors 2..=5 of page 4 from disk sector 9.
            let mut r = rw(BLKIF_OP_READ, 3, 9, &[4]);
            r.seg[0].first_sect = 2;
            r.seg[0].last_sect = 5;
            f.queue(&r);
            f.queue(&Request {
                operation: BLKIF_OP_FLUSH_DISKCACHE,
                id: 4,
                ..Default::default()
            });
            // A barrier with data: page 0 again to sectors 100..108.
            f.queue(&rw(BLKIF_OP_WRITE_BARRIER, 5, 100, &[0]));
            f.queue(&Request {
                operation: BLKIF_OP_DISCARD,
                id: 6,
                sector_number: 8,
                nr_sectors: 4,
                ..Default::default()
            });
            f.publish();
            let p = be.process(&mut f.gt, &f.mem).unwrap();
            assert_eq!(
                (p.requests, p.notify, p.more),
                (6, true, false),
                "{proto:?}"
            );
            assert_eq!(
                f.responses(),
                vec![
                    ok(0x1111_2222_3333_4444, BLKIF_OP_WRITE),
                    ok(2, BLKIF_OP_READ),
                    ok(3, BLKIF_OP_READ),
                    ok(4, BLKIF_OP_FLUSH_DISKCACHE),
                    ok(5, BLKIF_OP_WRITE_BARRIER),
                    ok(6, BLKIF_OP_DISCARD),
                ],
                "{proto:?} {pages}"
            );
            let mut got = vec![0u8; 4096];
            for p in 0..2 {
                f.mem.read_slice(&mut got, Front::data_gpa(2 + p)).unwrap();
                assert_eq!(got, pattern(p, 0x5a), "{proto:?} page {p}");
            }
            // Sector 9 is bytes 512.. of page 0; it went to bytes 1024.. of page 4.
            f.mem.read_slice(&mut got, Front::data_gpa(4)).unwrap();
            assert_eq!(&got[1024..3072], &pattern(0, 0x5a)[512..2560]);
            assert_eq!(&got[..1024], &[0u8; 1024][..]);
            let d = be.disk();
            assert_eq!(&d.data[100 * 512..108 * 512], &pattern(0, 0x5a)[..]);
            assert_eq!(&d.data[8 * 512..12 * 512], &[0u8; 2048][..]);
            assert_eq!(&d.data[12 * 512..16 * 512], &pattern(0, 0x5a)[2048..]);
            // Flush, and the barrier's flush before and after.
            assert_eq!(d.flushes, 3);
            // req_event asks for the next request.
            assert_eq!(f.index(REQ_EVENT), 7);
        }
    }
}

#[test]
fn ring_wraps_many_times() {
    for proto in PROTOS {
        let mut f = Front::new(proto, 1);
        let mut be = BlkBack::new(MemDisk::new(1 << 20), false);
        f.connect(&mut be);
        for round in 0..20u64 {
            for i in 0..24u64 {
                f.queue(&rw(BLKIF_OP_READ, round * 100 + i, i * 8, &[i as u32]));
            }
            f.publish();
            let p = be.process(&mut f.gt, &f.mem).unwrap();
            assert_eq!(p.requests, 24);
            let r = f.responses();
            assert_eq!(r.len(), 24);
            assert!(r
                .iter()
                .enumerate()
                .all(|(i, x)| x.id == round * 100 + i as u64 && x.status == BLKIF_RSP_OKAY));
        }
    }
}

/// Every kind of malformed request gets an error (or EOPNOTSUPP) with its own id, and
/// none of them changes the disk.
#[test]
fn hostile_requests_get_errors() {
    for proto in PROTOS {
        let mut f = Front::new(proto, 1);
        // Grant 200: data page 60 to domain 5; grant 201: page 61 read-only.
        f.grant(200, DATA_GFN + 60, 5, false);
        f.grant(201, DATA_GFN + 61, 0, true);
        let sectors = 256u64;
        let mut be = BlkBack::new(MemDisk::new(sectors as usize * 512), false);
        f.connect(&mut be);
        let mut bad: Vec<(Request, i16)> = Vec::new();
        let e = BLKIF_RSP_ERROR;
        // Segment counts.
        let mut r = rw(BLKIF_OP_READ, 1, 0, &[0]);
        r.nr_segments = 0;
        bad.push((r, e));
        let mut r = rw(BLKIF_OP_WRITE, 2, 0, &[0; 11]);
        r.nr_segments = 12;
        bad.push((r, e));
        let mut r = rw(BLKIF_OP_READ, 3, 0, &[0]);
        r.nr_segments = 255;
        bad.push((r, e));
        // Sectors in the page.
        let mut r = rw(BLKIF_OP_WRITE, 4, 0, &[0]);
        r.seg[0].first_sect = 5;
        r.seg[0].last_sect = 4;
        bad.push((r, e));
        let mut r = rw(BLKIF_OP_READ, 5, 0, &[0]);
        r.seg[0].last_sect = 8;
        bad.push((r, e));
        let mut r = rw(BLKIF_OP_READ, 6, 0, &[0, 1]);
        r.seg[1].first_sect = 200;
        r.seg[1].last_sect = 255;
        bad.push((r, e));
        // Sector ranges past the end, and overflowing.
        bad.push((rw(BLKIF_OP_WRITE, 7, sectors - 7, &[0]), e));
        bad.push((rw(BLKIF_OP_READ, 8, sectors, &[0]), e));
        bad.push((rw(BLKIF_OP_READ, 9, u64::MAX - 3, &[0]), e));
        bad.push((
            Request {
                operation: BLKIF_OP_DISCARD,
                id: 10,
                ..Default::default()
            },
            BLKIF_RSP_EOPNOTSUPP,
        ));
        // Grants: out of the table, not granted, another domain's, read-only for a read.
        let mut r = rw(BLKIF_OP_READ, 11, 0, &[0]);
        r.seg[0].gref = 100_000;
        bad.push((r, e));
        let mut r = rw(BLKIF_OP_WRITE, 12, 0, &[0, 1]);
        r.seg[1].gref = 300;
        bad.push((r, e));
        let mut r = rw(BLKIF_OP_WRITE, 13, 0, &[0]);
        r.seg[0].gref = 200;
        bad.push((r, e));
        let mut r = rw(BLKIF_OP_READ, 14, 0, &[0]);
        r.seg[0].gref = 201;
        bad.push((r, e));
        // Operations.
        for (id, op) in [(15, 4u8), (16, BLKIF_OP_INDIRECT), (17, 7), (18, 0xff)] {
            bad.push((
                Request {
                    operation: op,
                    id,
                    nr_segments: 1,
                    ..Default::default()
                },
                BLKIF_RSP_EOPNOTSUPP,
            ));
        }
        // Put something on the disk first to see nothing overwrites it.
        be.process(&mut f.gt, &f.mem).unwrap();
        let before = be.disk().data.clone();
        for (r, _) in &bad {
            f.queue(r);
        }
        f.publish();
        let p = be.process(&mut f.gt, &f.mem).unwrap();
        assert_eq!(p.requests as usize, bad.len());
        let got = f.responses();
        let want: Vec<Response> = bad
            .iter()
            .map(|(r, s)| Response {
                id: r.id,
                operation: r.operation,
                status: *s,
            })
            .collect();
        assert_eq!(got, want, "{proto:?}");
        assert!(be.disk().data == before);
        // No grant stays pinned.
        assert_eq!(f.gt.nr_mappings(), 1);
        for g in [100, 101, 200, 201] {
            assert!(!f.gt.is_pinned(g));
        }
    }
}

#[test]
fn readonly_disk_refuses_writes() {
    let mut f = Front::new(Protocol::X86_64, 1);
    let mut disk = MemDisk::new(1 << 16);
    disk.data.fill(0x11);
    let mut be = BlkBack::new(disk, true).with_discard(true);
    assert_eq!(be.info(), VDISK_READONLY);
    f.connect(&mut be);
    f.queue(&rw(BLKIF_OP_WRITE, 1, 0, &[0]));
    f.queue(&rw(BLKIF_OP_WRITE_BARRIER, 2, 0, &[0]));
    f.queue(&rw(BLKIF_OP_FLUSH_DISKCACHE, 3, 0, &[0]));
    f.queue(&Request {
        operation: BLKIF_OP_DISCARD,
        id: 4,
        nr_sectors: 1,
        ..Default::default()
    });
    f.queue(&rw(BLKIF_OP_READ, 5, 0, &[0]));
    f.publish();
    be.process(&mut f.gt, &f.mem).unwrap();
    let st: Vec<(u64, i16)> = f.responses().iter().map(|r| (r.id, r.status)).collect();
    assert_eq!(
        st,
        vec![(1, -1), (2, -1), (3, -1), (4, -1), (5, BLKIF_RSP_OKAY)]
    );
    assert!(be.disk().data.iter().all(|&b| b == 0x11));
    let mut got = vec![0u8; 4096];
    f.mem.read_slice(&mut got, Front::data_gpa(0)).unwrap();
    assert!(got.iter().all(|&b| b == 0x11));
}

#[test]
fn req_prod_beyond_the_ring_stops_the_call() {
    for proto in PROTOS {
        let mut f = Front::new(proto, 1);
        let mut be = BlkBack::new(MemDisk::new(1 << 16), false);
        f.connect(&mut be);
        f.queue(&rw(BLKIF_OP_READ, 1, 0, &[0]));
        f.set_index(REQ_PROD, f.size + 1);
        match be.process(&mut f.gt, &f.mem) {
            Err(Error::RingOverflow { prod, cons, size }) => {
                assert_eq!((prod, cons, size), (33, 0, 32))
            }
            r => panic!("{r:?}"),
        }
        assert_eq!(be.ring_state().unwrap().req_cons, 0);
        assert_eq!(f.index(RSP_PROD), 0);
        // u32::MAX ahead (a req_prod behind req_cons) too.
        f.set_index(REQ_PROD, u32::MAX);
        assert!(matches!(
            be.process(&mut f.gt, &f.mem),
            Err(Error::RingOverflow { .. })
        ));
        // A sane req_prod again works.
        f.publish();
        assert_eq!(be.process(&mut f.gt, &f.mem).unwrap().requests, 1);
    }
}

#[test]
fn limits_leave_the_rest_for_the_next_call() {
    let mut f = Front::new(Protocol::X86_64, 1);
    let mut be = BlkBack::new(MemDisk::new(1 << 20), false).with_limits(Limits {
        max_requests: 4,
        max_bytes: 1 << 20,
    });
    f.connect(&mut be);
    for i in 0..10 {
        f.queue(&rw(BLKIF_OP_READ, i, 0, &[0]));
    }
    f.publish();
    let n: Vec<(u32, bool)> = (0..3)
        .map(|_| {
            let p = be.process(&mut f.gt, &f.mem).unwrap();
            (p.requests, p.more)
        })
        .collect();
    assert_eq!(n, vec![(4, true), (4, true), (2, false)]);
    assert_eq!(f.responses().len(), 10);

    // Bytes: 3 pages per call with an 8 KiB budget that the first request exceeds
    // alone (it is served, being the first), then two per call.
    let mut be = BlkBack::new(MemDisk::new(1 << 20), false).with_limits(Limits {
        max_requests: 100,
        max_bytes: 8192,
    });
    let mut f = Front::new(Protocol::X86_64, 1);
    f.connect(&mut be);
    f.queue(&rw(BLKIF_OP_READ, 0, 0, &[0, 1, 2]));
    for i in 1..5 {
        f.queue(&rw(BLKIF_OP_READ, i, 0, &[0]));
    }
    f.publish();
    let n: Vec<u32> = (0..3)
        .map(|_| be.process(&mut f.gt, &f.mem).unwrap().requests)
        .collect();
    assert_eq!(n, vec![1, 2, 2]);
}

#[test]
fn notification_follows_rsp_event() {
    let mut f = Front::new(Protocol::X86_64, 1);
    let mut be = BlkBack::new(MemDisk::new(1 << 20), false);
    f.connect(&mut be);
    f.queue(&rw(BLKIF_OP_READ, 0, 0, &[0]));
    f.publish();
    assert!(be.process(&mut f.gt, &f.mem).unwrap().notify);
    // The frontend does not consume (rsp_event stays 1): no new notification.
    f.queue(&rw(BLKIF_OP_READ, 1, 0, &[0]));
    f.publish();
    let p = be.process(&mut f.gt, &f.mem).unwrap();
    assert_eq!((p.requests, p.notify), (1, false));
    // Nothing published: nothing to do.
    assert_eq!(be.process(&mut f.gt, &f.mem).unwrap(), Processed::default());
}

#[test]
fn bad_rings_are_refused() {
    let mut f = Front::new(Protocol::X86_64, 4);
    let mut be = BlkBack::new(MemDisk::new(1 << 16), false);
    for refs in [&[][..], &[10, 11, 12][..], &[10; 32][..]] {
        assert!(matches!(
            be.connect(&mut f.gt, &f.mem, refs, Protocol::X86_64),
            Err(Error::RingPages(_))
        ));
    }
    // The last page is not granted to us: the first three are unmapped again.
    f.grant(13, 0x100, 7, false);
    match be.connect(&mut f.gt, &f.mem, &[10, 11, 12, 13], Protocol::X86_64) {
        Err(Error::RingMap { gref: 13, .. }) => {}
        r => panic!("{r:?}"),
    }
    assert_eq!(f.gt.nr_mappings(), 0);
    assert!(!be.connected());
    // A read-only ring page cannot be a ring.
    f.grant(14, 0x300, 0, true);
    assert!(matches!(
        be.connect(&mut f.gt, &f.mem, &[14], Protocol::X86_64),
        Err(Error::RingMap { gref: 14, .. })
    ));
    assert!(matches!(
        be.process(&mut f.gt, &f.mem),
        Err(Error::NotConnected)
    ));
}

#[test]
fn disconnect_and_restore_continue_the_ring() {
    let mut f = Front::new(Protocol::X86_32, 2);
    let mut be = BlkBack::new(MemDisk::new(1 << 20), false);
    f.connect(&mut be);
    for i in 0..50 {
        f.queue(&rw(BLKIF_OP_READ, i, 0, &[0]));
        f.publish();
        be.process(&mut f.gt, &f.mem).unwrap();
    }
    f.responses();
    let st = be.disconnect(&mut f.gt, &f.mem).unwrap();
    assert_eq!((st.req_cons, st.rsp_prod_pvt), (50, 50));
    assert_eq!(f.gt.nr_mappings(), 0);
    let mut be2 = BlkBack::new(MemDisk::new(1 << 20), false);
    be2.restore_ring(&mut f.gt, &f.mem, &st).unwrap();
    f.queue(&rw(BLKIF_OP_READ, 77, 0, &[0]));
    f.publish();
    assert_eq!(be2.process(&mut f.gt, &f.mem).unwrap().requests, 1);
    assert_eq!(f.responses()[0].id, 77);
    // A state whose indexes do not fit is refused.
    be2.disconnect(&mut f.gt, &f.mem);
    let bad = RingState {
        req_cons: 1000,
        ..st
    };
    assert!(matches!(
        be2.restore_ring(&mut f.gt, &f.mem, &bad),
        Err(Error::RingState)
    ));
}

#[test]
fn file_disk() {
    let path = std::env::temp_dir().join(format!("xen-blkback-test-{}.img", std::process::id()));
    std::fs::write(&path, vec![0x33u8; 1 << 16]).unwrap();
    let mut f = Front::new(Protocol::X86_64, 1);
    let mut be = BlkBack::new(FileDisk::open(&path, false).unwrap(), false).with_discard(true);
    assert_eq!(be.sectors(), 128);
    f.connect(&mut be);
    f.mem
        .write_slice(&pattern(0, 1), Front::data_gpa(0))
        .unwrap();
    f.queue(&rw(BLKIF_OP_WRITE, 1, 120, &[0]));
    f.queue(&rw(BLKIF_OP_READ, 2, 0, &[1]));
    f.queue(&Request {
        operation: BLKIF_OP_FLUSH_DISKCACHE,
        id: 3,
        ..Default::default()
    });
    f.queue(&rw(BLKIF_OP_WRITE, 4, 121, &[0]));
    f.publish();
    be.process(&mut f.gt, &f.mem).unwrap();
    let st: Vec<i16> = f.responses().iter().map(|r| r.status).collect();
    assert_eq!(st, vec![0, 0, 0, -1]);
    let img = std::fs::read(&path).unwrap();
    assert_eq!(&img[120 * 512..], &pattern(0, 1)[..]);
    let mut got = vec![0u8; 4096];
    f.mem.read_slice(&mut got, Front::data_gpa(1)).unwrap();
    assert!(got.iter().all(|&b| b == 0x33));
    // Read-only file: writes refused.
    let mut be = BlkBack::new(FileDisk::open(&path, true).unwrap(), true);
    let mut f = Front::new(Protocol::X86_64, 1);
    f.connect(&mut be);
    f.queue(&rw(BLKIF_OP_WRITE, 5, 0, &[0]));
    f.publish();
    be.process(&mut f.gt, &f.mem).unwrap();
    assert_eq!(f.responses()[0].status, BLKIF_RSP_ERROR);
    std::fs::remove_file(&path).unwrap();
}

/// An indirect request of `segs` whole pages, its segment list in data page `list`.
fn indirect(f: &Front, op: u8, id: u64, sector: u64, list: u32, segs: &[Segment]) -> Request {
    let mut b = Vec::new();
    for s in segs {
        b.extend_from_slice(&s.encode());
    }
    f.mem.write_slice(&b, Front::data_gpa(list)).unwrap();
    Request {
        operation: BLKIF_OP_INDIRECT,
        indirect_op: op,
        nr_indirect_segments: segs.len() as u16,
        id,
        sector_number: sector,
        indirect_grefs: [DATA_REF + list, 0, 0, 0, 0, 0, 0, 0],
        ..Default::default()
    }
}

fn whole(page: u32) -> Segment {
    Segment {
        gref: DATA_REF + page,
        first_sect: 0,
        last_sect: 7,
    }
}

#[test]
fn indirect_reads_and_writes_both_widths() {
    for proto in PROTOS {
        let mut f = Front::new(proto, 1);
        let mut be = BlkBack::new(MemDisk::new(1 << 20), false).with_indirect(64);
        assert_eq!(be.max_indirect_segments(), 64);
        f.connect(&mut be);
        // 20 pages out (pages 0..20), back into pages 20..40.
        for p in 0..20 {
            f.mem
                .write_slice(&pattern(p, 0x33), Front::data_gpa(p))
                .unwrap();
        }
        let out: Vec<Segment> = (0..20).map(whole).collect();
        let back: Vec<Segment> = (20..40).map(whole).collect();
        let w = indirect(&f, BLKIF_OP_WRITE, 1, 64, 60, &out);
        f.queue(&w);
        f.publish();
        be.process(&mut f.gt, &f.mem).unwrap();
        let r = indirect(&f, BLKIF_OP_READ, 2, 64, 61, &back);
        f.queue(&r);
        f.publish();
        be.process(&mut f.gt, &f.mem).unwrap();
        assert_eq!(
            f.responses(),
            vec![ok(1, BLKIF_OP_INDIRECT), ok(2, BLKIF_OP_INDIRECT)],
            "{proto:?}"
        );
        let mut got = vec![0u8; 4096];
        for p in 0..20 {
            f.mem.read_slice(&mut got, Front::data_gpa(20 + p)).unwrap();
            assert_eq!(got, pattern(p, 0x33), "{proto:?} page {p}");
        }
        assert_eq!(&be.disk().data[64 * 512..72 * 512], &pattern(0, 0x33)[..]);
    }
}

#[test]
fn hostile_indirect_requests_get_errors() {
    let mut f = Front::new(Protocol::X86_64, 1);
    f.grant(200, DATA_GFN + 50, 9, false);
    let mut be = BlkBack::new(MemDisk::new(1 << 20), false).with_indirect(32);
    f.connect(&mut be);
    let e = BLKIF_RSP_ERROR;
    let segs: Vec<Segment> = (0..4).map(whole).collect();
    let mut bad = Vec::new();
    // No segments; more than offered.
    bad.push(indirect(&f, BLKIF_OP_READ, 1, 0, 60, &[]));
    let many: Vec<Segment> = (0..33).map(|i| whole(i % 8)).collect();
    bad.push(indirect(&f, BLKIF_OP_READ, 2, 0, 61, &many));
    // Not a read or write inside.
    bad.push(indirect(&f, BLKIF_OP_FLUSH_DISKCACHE, 3, 0, 62, &segs));
    bad.push(indirect(&f, BLKIF_OP_INDIRECT, 4, 0, 62, &segs));
    // The segment page: not granted, granted to another domain.
    let mut r = indirect(&f, BLKIF_OP_READ, 5, 0, 62, &segs);
    r.indirect_grefs[0] = 300;
    bad.push(r);
    let mut r = indirect(&f, BLKIF_OP_READ, 6, 0, 62, &segs);
    r.indirect_grefs[0] = 200;
    bad.push(r);
    // A bad segment in the page; past the end of the disk.
    let mut s2 = segs.clone();
    s2[3].last_sect = 9;
    bad.push(indirect(&f, BLKIF_OP_WRITE, 7, 0, 63, &s2));
    bad.push(indirect(&f, BLKIF_OP_WRITE, 8, 2048 - 31, 62, &segs));
    for r in &bad {
        f.queue(r);
    }
    f.publish();
    be.process(&mut f.gt, &f.mem).unwrap();
    let got: Vec<(u64, i16)> = f.responses().iter().map(|r| (r.id, r.status)).collect();
    let want: Vec<(u64, i16)> = (1..=8).map(|i| (i, e)).collect();
    assert_eq!(got, want);
    assert!(be.disk().data.iter().all(|&b| b == 0));
    // Read-only disk: an indirect write is refused.
    let mut f = Front::new(Protocol::X86_64, 1);
    let mut be = BlkBack::new(MemDisk::new(1 << 20), true).with_indirect(32);
    f.connect(&mut be);
    let w = indirect(&f, BLKIF_OP_WRITE, 9, 0, 60, &segs);
    f.queue(&w);
    f.publish();
    be.process(&mut f.gt, &f.mem).unwrap();
    assert_eq!(f.responses()[0].status, e);
}
