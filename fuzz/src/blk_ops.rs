// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Input layout and harness of the `blkif_ring` target: a hostile blkif frontend (any ring
//! bytes, any index, any grant entry) against `xen_blkback::BlkBack` serving a memory disk
//! through a real grant table.
//!
//! Set-up: guest RAM of [`PAGES`] pages, a v1 grant table (one frame at gfn 60), ring pages
//! at gfns 4.. granted to domain 0 (refs 8..), data pages at gfns 20..36 granted to domain 0
//! (refs 16..32, the odd ones read-only), a disk of [`DISK_BYTES`].
//!
//! The first byte picks the ring: pages 1, 2 or 4 (bits 0-1), the 32-bit ABI (bit 2), a
//! read-only disk (bit 3). Then operations (at most [`MAX_OPS`]), an opcode byte (mod 8)
//! and operands (missing bytes read as 0):
//! * 0 a request at `req_prod`'s slot, built from `op` u8, `nr_segments` u8, `id` u64,
//!   `sector` u16, then per segment `gref` u8 (mod 40), `first` u8, `last` u8; `req_prod`
//!   moves on;
//! * 1 raw bytes (`len` u8) at byte `off` u16 of the ring;
//! * 2 `req_prod` += `k` u8, or set to `v` u32 when `k` is 255;
//! * 3 `process()`;
//! * 4 the guest rewrites grant entry `gref` u8 (mod 40): `flags` u16, `domid` u16,
//!   `frame` u32 (mod 70);
//! * 5 disconnect and reconnect at the saved ring state (a restore);
//! * 6 a well-formed read of `sectors` u8 (mod 8, at least 1) at sector `s` u16 into data
//!   page `p` u8 (mod 16), then `process()`;
//! * 7 the guest writes `rsp_prod` / `rsp_event`: `which` u8, `v` u32.
//!
//! Invariants: nothing panics; `process` either fails with a ring error (nothing consumed
//! past what it reports) or answers each consumed request exactly once, in order, with
//! a blkif status and the request's id (unless the guest granted its ring pages as data
//! buffers, so that reads rewrote its later requests and earlier responses); the disk never changes size, a read-only disk
//! never changes; a well-formed read of a good grant succeeds and puts the disk's bytes in
//! the page; after a disconnect nothing is mapped or pinned. The ring checks are skipped
//! while the guest grants a ring page (or the table) under another ref or points a ring
//! ref at another frame: the backend's ring is then not (only) what the harness reads.

use crate::cursor::Cursor;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_blkback::{
    BlkBack, Disk, MemDisk, Protocol, Request, Segment, BLKIF_OP_INDIRECT, BLKIF_OP_READ,
    BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY, MAX_INDIRECT_SEGMENTS, REQ_PROD,
    RING_HEADER, RSP_EVENT, RSP_PROD, SEGMENTS_PER_INDIRECT_PAGE,
};
use xen_gnttab::{GrantTable, PAGE_SIZE};

/// Operations per input at most.
pub const MAX_OPS: usize = 64;
/// Guest RAM pages.
pub const PAGES: u64 = 72;
/// Disk size.
pub const DISK_BYTES: usize = 64 << 10;
const TABLE_GFN: u64 = 60;
const RING_GFN: u64 = 4;
const RING_REF: u32 = 8;
const DATA_GFN: u64 = 20;
const DATA_REF: u32 = 16;

/// What one run did (for the seed tests).
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests answered `BLKIF_RSP_OKAY`.
    pub ok: u32,
    /// Requests answered with an error.
    pub errors: u32,
    /// `process` calls that reported a ring error.
    pub ring_errors: u32,
}

fn write_grant(mem: &GuestMemoryMmap, gref: u32, flags: u16, domid: u16, frame: u32) {
    let at = GuestAddress(TABLE_GFN * PAGE_SIZE + u64::from(gref) * 8);
    let mut e = [0u8; 8];
    e[0..2].copy_from_slice(&flags.to_le_bytes());
    e[2..4].copy_from_slice(&domid.to_le_bytes());
    e[4..8].copy_from_slice(&frame.to_le_bytes());
    mem.write_slice(&e, at).expect("grant entry");
}

/// The disk's initial bytes (built once: the fuzzer runs millions of inputs).
fn disk_pattern() -> &'static [u8] {
    static PATTERN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        (0..DISK_BYTES)
            .map(|i| (i / 512) as u8 ^ (i as u8).rotate_left(3))
            .collect()
    })
}

/// Runs one input.
pub fn run(data: &[u8]) -> Stats {
    let mut c = Cursor(data);
    let cfg = c.u8();
    let pages = 1usize << (cfg & 3).min(2);
    let proto = if cfg & 4 != 0 {
        Protocol::X86_32
    } else {
        Protocol::X86_64
    };
    let readonly = cfg & 8 != 0;
    let mem =
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), (PAGES * PAGE_SIZE) as usize)])
            .expect("guest memory");
    let mut gt = GrantTable::new(4).expect("grant table");
    gt.setup_table(1).expect("setup_table");
    gt.add_to_physmap(0, TABLE_GFN).expect("table frame");
    let refs: Vec<u32> = (0..pages as u32).map(|i| RING_REF + i).collect();
    for (i, &r) in refs.iter().enumerate() {
        write_grant(&mem, r, 1, 0, (RING_GFN + i as u64) as u32);
    }
    for i in 0..16u32 {
        let flags = if i % 2 == 1 { 1 | 4 } else { 1 };
        write_grant(
            &mem,
            DATA_REF + i,
            flags,
            0,
            (DATA_GFN + u64::from(i)) as u32,
        );
    }
    let mut disk = MemDisk::new(DISK_BYTES);
    disk.data.copy_from_slice(disk_pattern());
    let original = disk.data.clone();
    let mut back = BlkBack::new(disk, readonly).with_indirect(64);
    back.connect(&mut gt, &mem, &refs, proto).expect("connect");
    let size = proto.ring_entries(pages as u64);
    let ring_base = RING_GFN * PAGE_SIZE;
    let slot =
        |idx: u32| ring_base + RING_HEADER + u64::from(idx & (size - 1)) * proto.entry_size();
    let (id_off, sector_off) = match proto {
        Protocol::X86_64 => (8u64, 16u64),
        Protocol::X86_32 => (4, 12),
    };
    let seg_off = sector_off + 8;
    let req_prod =
        |m: &GuestMemoryMmap| -> u32 { m.read_obj(GuestAddress(ring_base + REQ_PROD)).unwrap() };
    let set_req_prod =
        |m: &GuestMemoryMmap, v: u32| m.write_obj(v, GuestAddress(ring_base + REQ_PROD)).unwrap();
    let mut table_dirty = false;
    let mut stats = Stats::default();

    // One `process` call with the ordering and id checks.
    let process =
        |back: &mut BlkBack<MemDisk>, gt: &mut GrantTable, stats: &mut Stats| -> Vec<i16> {
            let Some(before) = back.ring_state() else {
                return Vec::new();
            };
            assert_eq!(
                before.req_cons, before.rsp_prod_pvt,
                "a consumed request went unanswered"
            );
            let prod = req_prod(&mem);
            let pending = prod.wrapping_sub(before.req_cons).min(size);
            let ids: Vec<u64> = (0..pending)
                .map(|k| {
                    mem.read_obj(GuestAddress(slot(before.req_cons.wrapping_add(k)) + id_off))
                        .unwrap()
                })
                .collect();
            // A grant (other than the ring's own) of a ring page, or of the
            // grant table (through which a read can grant anything): reads
            // may rewrite requests before they are consumed, even where
            // only the id bytes change (long-run crash-eb6faf21).
            let ring_gfns = RING_GFN..RING_GFN + pages as u64;
            let mut table = vec![0u8; PAGE_SIZE as usize];
            mem.read_slice(&mut table, GuestAddress(TABLE_GFN * PAGE_SIZE))
                .unwrap();
            // Likewise when a ring ref names another frame than the harness's
            // ring page: after a reconnect the backend's ring is elsewhere
            // (long-run crash-7063a58f).
            let ring_granted = table.chunks_exact(8).enumerate().any(|(r, e)| {
                let frame = u64::from(u32::from_le_bytes([e[4], e[5], e[6], e[7]]));
                let own = (RING_REF as usize..RING_REF as usize + pages).contains(&r);
                let moved = own && frame != RING_GFN + (r - RING_REF as usize) as u64;
                (ring_gfns.contains(&frame) && !own) || frame == TABLE_GFN || moved
            });
            // A pending request whose data page is a ring page, the table or an
            // indirect page (through the ring's own refs too): its read may put
            // back, byte for byte, what a response overwrote, so the copies
            // below compare equal (long-run crash-63961164).
            let frame_of = |gref: u32| -> Option<u64> {
                let e = table.get(gref as usize * 8..gref as usize * 8 + 8)?;
                Some(u64::from(u32::from_le_bytes([e[4], e[5], e[6], e[7]])))
            };
            let mut data_frames = Vec::new();
            let mut sensitive: Vec<u64> = ring_gfns.clone().chain([TABLE_GFN]).collect();
            for k in 0..pending {
                let mut e = vec![0u8; proto.entry_size() as usize];
                mem.read_slice(&mut e, GuestAddress(slot(before.req_cons.wrapping_add(k))))
                    .unwrap();
                let req = Request::decode(proto, &e);
                if req.operation == BLKIF_OP_INDIRECT {
                    let n = usize::from(req.nr_indirect_segments.min(MAX_INDIRECT_SEGMENTS));
                    for (i, &g) in req.indirect_grefs.iter().enumerate() {
                        let first = i * SEGMENTS_PER_INDIRECT_PAGE;
                        let Some(f) = frame_of(g).filter(|&f| f < PAGES && first < n) else {
                            continue;
                        };
                        sensitive.push(f);
                        let count = (n - first).min(SEGMENTS_PER_INDIRECT_PAGE);
                        let mut page = vec![0u8; count * Segment::SIZE];
                        mem.read_slice(&mut page, GuestAddress(f * PAGE_SIZE))
                            .unwrap();
                        data_frames.extend(
                            page.chunks_exact(Segment::SIZE)
                                .filter_map(|b| frame_of(Segment::decode(b).gref)),
                        );
                    }
                } else {
                    let n = usize::from(req.nr_segments).min(req.seg.len());
                    data_frames.extend(req.seg[..n].iter().filter_map(|s| frame_of(s.gref)));
                }
            }
            let ring_granted = ring_granted || data_frames.iter().any(|f| sensitive.contains(f));
            let ring_len = pages * PAGE_SIZE as usize;
            let mut ring_before = vec![0u8; ring_len];
            mem.read_slice(&mut ring_before, GuestAddress(ring_base))
                .unwrap();
            let r = back.process(gt, &mem);
            let after = back.ring_state().expect("still connected");
            // The backend writes only responses and indexes into the ring, unless the
            // guest granted its own ring pages as data buffers (then reads land there
            // too, and later requests are what the disk put there).
            let mut ring_after = vec![0u8; ring_len];
            mem.read_slice(&mut ring_after, GuestAddress(ring_base))
                .unwrap();
            // Blank what the backend may write (the header and one response per
            // consumed request) in both copies; what differs then is data.
            let done_now = after.req_cons.wrapping_sub(before.req_cons);
            let header = RING_HEADER as usize;
            for copy in [&mut ring_before, &mut ring_after] {
                copy[..header].fill(0);
                for k in 0..done_now.min(size) {
                    let at = (slot(before.req_cons.wrapping_add(k)) - ring_base) as usize;
                    copy[at..at + 16].fill(0);
                }
            }
            let ring_as_data = ring_granted || ring_before != ring_after;
            assert_eq!(after.req_cons, after.rsp_prod_pvt);
            let done = after.req_cons.wrapping_sub(before.req_cons);
            assert!(done <= pending, "consumed {done} of {pending}");
            match &r {
                Ok(p) => assert_eq!(p.requests, done),
                Err(_) => stats.ring_errors += 1,
            }
            let mut statuses = Vec::new();
            for k in 0..done {
                let at = slot(before.req_cons.wrapping_add(k));
                let id: u64 = mem.read_obj(GuestAddress(at)).unwrap();
                let status: i16 = mem.read_obj(GuestAddress(at + 10)).unwrap();
                if !ring_as_data {
                    assert_eq!(id, ids[k as usize], "response {k} has another request's id");
                    assert!(
                        [BLKIF_RSP_OKAY, BLKIF_RSP_ERROR, BLKIF_RSP_EOPNOTSUPP].contains(&status),
                        "status {status}"
                    );
                }
                if status == BLKIF_RSP_OKAY {
                    stats.ok += 1;
                } else {
                    stats.errors += 1;
                }
                statuses.push(status);
            }
            if r.is_ok() && !ring_as_data {
                let published: u32 = mem.read_obj(GuestAddress(ring_base + RSP_PROD)).unwrap();
                assert_eq!(published, after.rsp_prod_pvt, "responses not published");
            }
            statuses
        };

    for _ in 0..MAX_OPS {
        if c.0.is_empty() {
            break;
        }
        match c.u8() % 8 {
            0 => {
                let prod = req_prod(&mem);
                let at = slot(prod);
                let mut e = vec![0u8; proto.entry_size() as usize];
                e[0] = c.u8();
                e[1] = c.u8();
                let id = c.u64();
                e[id_off as usize..id_off as usize + 8].copy_from_slice(&id.to_le_bytes());
                let sector = u64::from(c.u16());
                e[sector_off as usize..sector_off as usize + 8]
                    .copy_from_slice(&sector.to_le_bytes());
                for s in 0..usize::from(e[1].min(11)) {
                    let o = seg_off as usize + 8 * s;
                    let gref = u32::from(c.u8() % 40);
                    e[o..o + 4].copy_from_slice(&gref.to_le_bytes());
                    e[o + 4] = c.u8();
                    e[o + 5] = c.u8();
                }
                mem.write_slice(&e, GuestAddress(at)).unwrap();
                set_req_prod(&mem, prod.wrapping_add(1));
            }
            1 => {
                let len = u64::from(c.u8());
                let off = u64::from(c.u16()) % (pages as u64 * PAGE_SIZE);
                let len = len.min(pages as u64 * PAGE_SIZE - off);
                let bytes: Vec<u8> = (0..len).map(|_| c.u8()).collect();
                mem.write_slice(&bytes, GuestAddress(ring_base + off))
                    .unwrap();
            }
            2 => {
                let k = c.u8();
                let v = if k == 255 {
                    c.u32()
                } else {
                    req_prod(&mem).wrapping_add(u32::from(k))
                };
                set_req_prod(&mem, v);
            }
            3 => {
                process(&mut back, &mut gt, &mut stats);
            }
            4 => {
                let gref = u32::from(c.u8() % 40);
                let (flags, domid, frame) = (c.u16(), c.u16(), c.u32() % 70);
                write_grant(&mem, gref, flags, domid, frame);
                table_dirty = true;
            }
            5 => {
                let st = back.disconnect(&mut gt, &mem).expect("connected");
                assert_eq!(gt.nr_mappings(), 0, "a mapping outlived the ring");
                for g in 0..gt.nr_entries() {
                    assert!(!gt.is_pinned(g), "gref {g} pinned after disconnect");
                }
                if back.restore_ring(&mut gt, &mem, &st).is_err() {
                    // The guest broke a ring grant: the frontend is gone.
                    assert!(table_dirty);
                    break;
                }
            }
            6 => {
                let n = u64::from(c.u8() % 8).max(1);
                let sector = u64::from(c.u16()) % (DISK_BYTES as u64 / 512 - n + 1);
                let page = u32::from(c.u8() % 16) & !1; // a writable data page
                let prod = req_prod(&mem);
                let at = slot(prod);
                let mut e = vec![0u8; proto.entry_size() as usize];
                e[0] = BLKIF_OP_READ;
                e[1] = 1;
                let id = 0xb10c_0000_0000 | u64::from(prod);
                e[id_off as usize..id_off as usize + 8].copy_from_slice(&id.to_le_bytes());
                e[sector_off as usize..sector_off as usize + 8]
                    .copy_from_slice(&sector.to_le_bytes());
                let o = seg_off as usize;
                e[o..o + 4].copy_from_slice(&(DATA_REF + page).to_le_bytes());
                e[o + 4] = 0;
                e[o + 5] = (n - 1) as u8;
                mem.write_slice(&e, GuestAddress(at)).unwrap();
                let was = back.ring_state().expect("connected");
                let clean = !table_dirty && was.req_cons == prod;
                set_req_prod(&mem, prod.wrapping_add(1));
                let statuses = process(&mut back, &mut gt, &mut stats);
                if clean {
                    assert_eq!(statuses, [BLKIF_RSP_OKAY], "a good read failed");
                    let mut got = vec![0u8; (n * 512) as usize];
                    let gpa = (DATA_GFN + u64::from(page)) * PAGE_SIZE;
                    mem.read_slice(&mut got, GuestAddress(gpa)).unwrap();
                    let mut want = vec![0u8; got.len()];
                    back.disk().read_at(&mut want, sector * 512).unwrap();
                    assert_eq!(got, want, "read data differs from the disk");
                }
            }
            _ => {
                let which = if c.u8() & 1 == 0 { RSP_PROD } else { RSP_EVENT };
                let v = c.u32();
                mem.write_obj(v, GuestAddress(ring_base + which)).unwrap();
            }
        }
        assert_eq!(
            back.disk().len(),
            DISK_BYTES as u64,
            "the disk changed size"
        );
        if readonly {
            assert!(back.disk().data == original, "a read-only disk was written");
        }
    }
    if back.connected() {
        back.disconnect(&mut gt, &mem);
        assert_eq!(gt.nr_mappings(), 0);
    }
    stats
}

/// Seeds: good reads both ABIs, a write, malformed requests, an overflowing `req_prod`.
pub mod seed {
    /// `(name, input)` pairs.
    pub fn all() -> Vec<(&'static str, Vec<u8>)> {
        let good_reads = |cfg: u8| vec![cfg, 6, 3, 10, 0, 2, 6, 7, 0, 40, 0, 6, 1, 5, 0, 4];
        let mut write = vec![0u8, 0, 1, 1];
        write.extend_from_slice(&7u64.to_le_bytes());
        write.extend_from_slice(&[2, 0, 16, 0, 7, 3]);
        let mut bad = vec![5u8];
        // Too many segments, unknown op, bad sectors, a read-only grant for a read.
        for (op, nr, gref, first, last) in [
            (0u8, 12u8, 16u8, 0u8, 7u8),
            (9, 1, 16, 0, 0),
            (0, 1, 18, 5, 2),
            (0, 1, 17, 0, 7),
        ] {
            bad.extend_from_slice(&[0, op, nr]);
            bad.extend_from_slice(&1u64.to_le_bytes());
            bad.extend_from_slice(&[4, 0]);
            for _ in 0..nr.min(11) {
                bad.extend_from_slice(&[gref, first, last]);
            }
        }
        bad.push(3);
        vec![
            ("read-64", good_reads(0)),
            ("read-32-2pages", good_reads(5)),
            ("write-then-read", {
                let mut w = write.clone();
                w.extend_from_slice(&[3, 6, 1, 2, 0, 0]);
                w
            }),
            ("malformed", bad),
            ("overflow", vec![2, 2, 255, 0, 1, 0, 0, 3]),
            (
                "hostile-grant",
                vec![0, 4, 16, 1, 0, 0, 0, 65, 0, 0, 0, 6, 1, 0, 0, 0, 5],
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds get good reads through, errors for the malformed requests and a ring
    /// error for the overflow.
    #[test]
    fn seeds_reach_the_backend() {
        let s = seed::all();
        let r = run(&s[0].1);
        assert_eq!((r.ok, r.errors), (3, 0), "{r:?}");
        let r = run(&s[1].1);
        assert_eq!((r.ok, r.errors), (3, 0), "{r:?}");
        let r = run(&s[2].1);
        assert_eq!((r.ok, r.errors), (2, 0), "{r:?}");
        let r = run(&s[3].1);
        assert_eq!((r.ok, r.errors), (0, 4), "{r:?}");
        let r = run(&s[4].1);
        assert_eq!(r.ring_errors, 1, "{r:?}");
        run(&s[5].1);
    }
}
