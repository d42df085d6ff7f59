// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Input layout and harness of the `grant_backend` target: a hostile guest writing its
//! grant table (v1 and v2 entries, status frames, any bytes at any time) while a backend
//! (a device model of domain 0) looks grants up, maps, unmaps and copies through
//! `xen_gnttab`'s backend side, and the guest grows, moves, swaps and re-versions its table.
//!
//! Operations (at most [`MAX_OPS`]) are an opcode byte (mod 12) and operands (missing
//! bytes read as 0):
//! * 0 `setup_table`: `n` u8 (mod 8);
//! * 1 `add_to_physmap`: `idx` u8 (bit 7: a v2 status frame), `gfn` u8 (mod [`GFNS`]+4:
//!   some beyond RAM);
//! * 2 the guest writes an entry through the table's frame: `gref` u16, `flags` u16,
//!   `domid` u8 (mod 3), `frame` u32 (mod [`GFNS`]+4), then v2 sub-page `offset` u16 and
//!   `length` u16;
//! * 3 the guest writes `len` u8 raw bytes at `off` u16 of grant or status frame `f` u8;
//! * 4 `set_version`: `v` u8 (mod 4);
//! * 5 backend `map`: `gref` u16, `domid` u8 (mod 3), `readonly` u8 (bit 0);
//! * 6 backend `unmap`: `k` u8 (a held mapping, or a made-up handle when none);
//! * 7 backend `copy_from_grant`: `gref` u16, `domid` u8, `offset` u16 (mod 4200),
//!   `len` u16 (mod 4200);
//! * 8 backend `copy_to_grant`: as 7, with the bytes `0x5a`;
//! * 9 `lookup`: `gref` u16, `domid` u8;
//! * 10 `swap`: `a` u16, `b` u16;
//! * 11 `state()` -> `from_state()` round trip.
//!
//! Invariants: nothing panics; a mapping is a whole page of guest RAM and its handle is
//! unique; a `copy_to_grant` that succeeds really wrote the granted data page; every state round-trips; once every mapping is unmapped nothing is
//! pinned.

use crate::cursor::Cursor;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_gnttab::{GrantKind, GrantMapping, GrantTable, PAGE_SIZE, XENMAPIDX_GRANT_TABLE_STATUS};

/// Operations per input at most.
pub const MAX_OPS: usize = 96;
/// Guest RAM frames (gfn 0 to `GFNS - 1`).
pub const GFNS: u64 = 24;
/// Grant frames the table may grow to.
pub const MAX_FRAMES: u32 = 8;

/// What one run did (for the seed tests).
#[derive(Debug, Default)]
pub struct Stats {
    /// Successful backend maps.
    pub maps: usize,
    /// Successful backend copies (either direction).
    pub copies: usize,
    /// Successful lookups.
    pub lookups: usize,
    /// The table's version at the end.
    pub version: u32,
}

/// Runs one input.
pub fn run(data: &[u8]) -> Stats {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), (GFNS * PAGE_SIZE) as usize)])
        .expect("guest memory");
    let mut t = GrantTable::new(MAX_FRAMES).expect("table");
    let mut held: Vec<GrantMapping> = Vec::new();
    let mut stats = Stats::default();
    let mut c = Cursor(data);
    for _ in 0..MAX_OPS {
        if c.0.is_empty() {
            break;
        }
        let op = c.u8() % 12;
        match op {
            0 => {
                let _ = t.setup_table(u32::from(c.u8() % 8));
            }
            1 => {
                let i = c.u8();
                let idx = u64::from(i & 0x7f)
                    | if i & 0x80 != 0 {
                        XENMAPIDX_GRANT_TABLE_STATUS
                    } else {
                        0
                    };
                let gfn = u64::from(c.u8()) % (GFNS + 4);
                let _ = t.add_to_physmap(idx, gfn);
            }
            2 => {
                let gref = u32::from(c.u16());
                let flags = c.u16();
                let domid = u16::from(c.u8() % 3);
                let frame = u64::from(c.u32()) % (GFNS + 4);
                let (sub_off, sub_len) = (c.u16(), c.u16());
                write_entry(&t, &mem, gref, flags, domid, frame, sub_off, sub_len);
            }
            3 => {
                let f = c.u8();
                let off = u64::from(c.u16()) % PAGE_SIZE;
                let len = u64::from(c.u8()).min(PAGE_SIZE - off);
                let gfn = if f & 0x80 != 0 {
                    t.status_gfn_of(u32::from(f & 0x7f))
                } else {
                    t.gfn_of(u32::from(f))
                };
                let bytes: Vec<u8> = (0..len).map(|_| c.u8()).collect();
                if let Some(g) = gfn {
                    let _ = mem.write_slice(&bytes, GuestAddress(g * PAGE_SIZE + off));
                }
            }
            4 => {
                let _ = t.set_version(&mem, u32::from(c.u8() % 4));
            }
            5 => {
                let gref = u32::from(c.u16());
                let domid = u16::from(c.u8() % 3);
                let ro = c.u8() & 1 == 1;
                if let Ok(m) = t.map(&mem, gref, domid, ro) {
                    assert_eq!(m.len, PAGE_SIZE as usize);
                    assert_eq!(m.gpa % PAGE_SIZE, 0);
                    assert!(m.gpa < GFNS * PAGE_SIZE, "{m:?}");
                    assert!(held.iter().all(|h| h.handle != m.handle), "{m:?}");
                    assert_eq!((m.gref, m.readonly), (gref, ro));
                    assert!(t.is_pinned(gref));
                    held.push(m);
                    stats.maps += 1;
                }
                assert_eq!(t.nr_mappings(), held.len());
            }
            6 => {
                let k = usize::from(c.u8());
                if held.is_empty() {
                    assert!(t.unmap(&mem, u32::from(c.u8())).is_err());
                } else {
                    let m = held.swap_remove(k % held.len());
                    t.unmap(&mem, m.handle).expect("unmap a held mapping");
                    assert!(t.unmap(&mem, m.handle).is_err(), "unmapped twice");
                }
                assert_eq!(t.nr_mappings(), held.len());
            }
            7 | 8 => {
                let to = op == 8;
                let gref = u32::from(c.u16());
                let domid = u16::from(c.u8() % 3);
                let off = c.u16() % 4200;
                let len = usize::from(c.u16() % 4200);
                let was_pinned = t.is_pinned(gref);
                if to {
                    // The frame the entry grants now, when it is a plain data page (a
                    // guest may grant its own table frames: then the entry itself changes)
                    // and the entry is not in use (a mapped entry keeps the frame it had
                    // when it was pinned, whatever the guest writes into it since, as in
                    // Xen's active entries).
                    let data_frame = match t.lookup(&mem, gref, domid).map(|e| e.kind) {
                        Ok(GrantKind::Frame(f))
                            if t.frame_at_gfn(f).is_none() && !t.is_pinned(gref) =>
                        {
                            Some(f)
                        }
                        _ => None,
                    };
                    let buf = vec![0x5au8; len];
                    if t.copy_to_grant(&mem, gref, domid, off, &buf).is_ok() {
                        stats.copies += 1;
                        assert!(u64::from(off) + len as u64 <= PAGE_SIZE);
                        if let Some(f) = data_frame {
                            let mut back = vec![0u8; len];
                            mem.read_slice(&mut back, GuestAddress(f * PAGE_SIZE + u64::from(off)))
                                .expect("granted frame is RAM");
                            assert_eq!(back, buf, "copy_to_grant did not write frame {f}");
                        }
                    }
                } else {
                    let mut buf = vec![0u8; len];
                    if t.copy_from_grant(&mem, gref, domid, off, &mut buf).is_ok() {
                        stats.copies += 1;
                        assert!(u64::from(off) + len as u64 <= PAGE_SIZE);
                    }
                }
                // A copy never leaves a pin behind.
                assert_eq!(t.is_pinned(gref), was_pinned, "gref {gref}");
            }
            9 => {
                let gref = u32::from(c.u16());
                let domid = u16::from(c.u8() % 3);
                if let Ok(e) = t.lookup(&mem, gref, domid) {
                    assert_eq!(e.domid, domid);
                    assert!(gref < t.nr_entries());
                    stats.lookups += 1;
                }
            }
            10 => {
                let (a, b) = (u32::from(c.u16()), u32::from(c.u16()));
                let _ = t.swap(&mem, a, b);
            }
            _ => {
                let st = t.state();
                let back = GrantTable::from_state(&st).expect("a live table's state restores");
                assert_eq!(back.state(), st);
            }
        }
    }
    for m in held.drain(..) {
        t.unmap(&mem, m.handle).expect("unmap at the end");
    }
    assert_eq!(t.nr_mappings(), 0);
    for g in 0..t.nr_entries() {
        assert!(!t.is_pinned(g), "gref {g} pinned with nothing mapped");
    }
    stats.version = t.version();
    stats
}

/// Writes entry `gref` as the guest would, in the layout of the table's version.
#[allow(clippy::too_many_arguments)]
fn write_entry(
    t: &GrantTable,
    mem: &GuestMemoryMmap,
    gref: u32,
    flags: u16,
    domid: u16,
    frame: u64,
    sub_off: u16,
    sub_len: u16,
) {
    let (idx, off) = if t.version() == 2 {
        xen_gnttab::entry::locate_v2(gref)
    } else {
        xen_gnttab::entry::locate(gref)
    };
    let Some(g) = t.gfn_of(idx) else {
        return;
    };
    let at = GuestAddress(g * PAGE_SIZE + off);
    let mut e = [0u8; 16];
    e[0..2].copy_from_slice(&flags.to_le_bytes());
    e[2..4].copy_from_slice(&domid.to_le_bytes());
    if t.version() == 2 {
        // full_page: frame u64 at 8; sub_page: page_off u16 at 4, length u16 at 6, frame at 8.
        e[4..6].copy_from_slice(&sub_off.to_le_bytes());
        e[6..8].copy_from_slice(&sub_len.to_le_bytes());
        e[8..16].copy_from_slice(&frame.to_le_bytes());
        let _ = mem.write_slice(&e, at);
    } else {
        e[4..8].copy_from_slice(&(frame as u32).to_le_bytes());
        let _ = mem.write_slice(&e[..8], at);
    }
}

/// Seeds: a v1 and a v2 backend session, a hostile rewrite while mapped.
pub mod seed {
    /// v1: one frame at gfn 20, grant 8 to domain 0 of frame 5, map it, copy both ways,
    /// unmap.
    pub fn v1_session() -> Vec<u8> {
        let mut d = vec![0, 1, 1, 0, 20];
        d.extend_from_slice(&[2, 8, 0, 0x01, 0x00, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
        d.extend_from_slice(&[9, 8, 0, 0]);
        d.extend_from_slice(&[5, 8, 0, 0, 0]);
        d.extend_from_slice(&[7, 8, 0, 0, 16, 0, 64, 0]);
        d.extend_from_slice(&[8, 8, 0, 0, 32, 0, 32, 0]);
        d.extend_from_slice(&[6, 0]);
        d.extend_from_slice(&[11]);
        d
    }

    /// v2: switch, map the status frame, grant 9 and map it read-only, swap, copy.
    pub fn v2_session() -> Vec<u8> {
        let mut d = vec![0, 1, 4, 2, 1, 0, 20, 1, 0x80, 21];
        d.extend_from_slice(&[2, 9, 0, 0x01, 0x00, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
        d.extend_from_slice(&[5, 9, 0, 0, 1]);
        d.extend_from_slice(&[10, 9, 0, 10, 0]);
        d.extend_from_slice(&[7, 9, 0, 0, 0, 0, 128, 0]);
        d.extend_from_slice(&[11, 6, 0]);
        d
    }

    /// The guest rewrites the mapped entry's flags and domain under the backend, then
    /// switches version while it is mapped.
    pub fn hostile_rewrite() -> Vec<u8> {
        let mut d = v1_session();
        d.truncate(d.len() - 3);
        d.extend_from_slice(&[
            3, 0, 64, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        d.extend_from_slice(&[4, 2, 7, 8, 0, 0, 8, 0, 8, 0, 11, 6, 0]);
        d
    }

    /// `(name, input)` pairs.
    pub fn all() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("v1-session", v1_session()),
            ("v2-session", v2_session()),
            ("hostile-rewrite", hostile_rewrite()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session seeds really map, copy and look up (so the target starts past the
    /// table set-up), and the hostile one still ends with nothing pinned.
    #[test]
    fn seeds_reach_the_backend() {
        let v1 = run(&seed::v1_session());
        assert_eq!((v1.maps, v1.lookups, v1.version), (1, 1, 1), "{v1:?}");
        assert!(v1.copies >= 1, "{v1:?}");
        let v2 = run(&seed::v2_session());
        assert_eq!((v2.maps, v2.version), (1, 2), "{v2:?}");
        run(&seed::hostile_rewrite());
    }
}
