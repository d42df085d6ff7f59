// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The snapshot file layout, its header and trailer, and the versionize
//! [`VersionMap`] of the state section.
//!
//! ```text
//! offset 0   header (48 bytes, little endian)
//!            magic "XKVMSNAP" | format version u16 | header length u16 | flags u32
//!            state length u64 | state CRC64 u64 | memory length u64 | header CRC64 u64
//! 48         state: versionize encoding of `VmSnapshot` at the header's format version
//! 48+S       guest memory: each region's bytes, in region-table order
//! 48+S+M     trailer (16 bytes): memory CRC64 u64 | end magic "XKVMEND\0"
//! ```
//!
//! The header CRC covers the 40 bytes before it. CRCs are crc64-jones
//! (the `crc64` crate). The state is at most [`MAX_STATE_LEN`] bytes, so a
//! reader never allocates more than that before every check has passed.

use versionize::{VersionMap, Versionize};

use super::error::{Error, Result};
use super::kvm_state::VcpuState;
use super::xen_state::{GrantState, XenState, XenVcpuState, XenstoreMirror, XenstoreNode};

/// First bytes of a snapshot.
pub const MAGIC: [u8; 8] = *b"XKVMSNAP";
/// Last bytes of a snapshot.
pub const END_MAGIC: [u8; 8] = *b"XKVMEND\0";
/// Format version 1: the first format.
pub const FORMAT_V1: u16 = 1;
/// Format version 2: adds `VcpuState::tsc_khz`.
pub const FORMAT_V2: u16 = 2;
/// Format version 3: adds `XenVcpuState::runstate` and `XenVcpuState::runstate_entry_ns`
/// (the runstate accounting; older files read them as 0, `RUNSTATE_running` since boot).
pub const FORMAT_V3: u16 = 3;
/// Format version 4: adds `XenState::deferred_ports` (events sent before shared_info was
/// placed, kept by xen-evtchn; older files read it empty).
pub const FORMAT_V4: u16 = 4;
/// Format version 5: adds `GrantState::status_frames` (grant table v2) and
/// `XenState::tot_pages` / `XenState::absent_gfns` (memory reservation; older files read
/// them as "not recorded" and none).
pub const FORMAT_V5: u16 = 5;
/// Format version 6: adds `XenVcpuState::initialised` and `XenVcpuState::start` (SMP
/// through `VCPUOP_initialise`; older files read them as false, taken from `online`, and
/// none) and `XenState::fifo` (FIFO event channels: control blocks, event array, queue
/// tails, priorities; older files read it as `None`, the 2-level ABI).
pub const FORMAT_V6: u16 = 6;
/// Format version 7: the whole xenstore: `XenstoreNode::perms` / `generation` (the
/// special `@` nodes too), `XenstoreMirror::transaction_states` (open transactions with
/// what they accessed and changed), `generation`, `released`, `quotas`. Older files read
/// nodes without permissions (derived from `writable` on restore, as before), their
/// transaction ids as empty transactions, xenstored's default quotas.
pub const FORMAT_V7: u16 = 7;
/// Format version 8: adds `XenState::vbds` (PV block devices: image, xenbus state,
/// channel, blkif ring indexes; older files read it empty, no disks).
pub const FORMAT_V8: u16 = 8;
/// Format version 9: the memory checksum is CRC-64/XZ over the index and bytes of
/// every page that is not all zeros (see [`super::memory::MemoryChecksum`]; older
/// files keep CRC-64/Jones over every byte). The state section is unchanged.
pub const FORMAT_V9: u16 = 9;
/// The version this build writes and the newest it reads.
pub const CURRENT_FORMAT_VERSION: u16 = FORMAT_V9;
/// Header length in bytes.
pub const HEADER_LEN: usize = 48;
/// Trailer length in bytes.
pub const TRAILER_LEN: usize = 16;
/// Largest state section accepted (64 MiB).
pub const MAX_STATE_LEN: u64 = 64 << 20;

/// The versionize map: root version N is format version N.
pub fn version_map() -> VersionMap {
    let mut map = VersionMap::new();
    // Version 2: VcpuState gains tsc_khz.
    map.new_version().set_type_version(VcpuState::type_id(), 2);
    // Version 3: XenVcpuState gains runstate and runstate_entry_ns.
    map.new_version()
        .set_type_version(XenVcpuState::type_id(), 2);
    // Version 4: XenState gains deferred_ports.
    map.new_version().set_type_version(XenState::type_id(), 2);
    // Version 5: GrantState gains status_frames, XenState tot_pages and absent_gfns.
    map.new_version()
        .set_type_version(XenState::type_id(), 3)
        .set_type_version(GrantState::type_id(), 2);
    // Version 6: XenVcpuState gains initialised and start, XenState gains fifo.
    map.new_version()
        .set_type_version(XenVcpuState::type_id(), 3)
        .set_type_version(XenState::type_id(), 4);
    // Version 7: the xenstore's permissions, generations, transactions and quotas.
    map.new_version()
        .set_type_version(XenstoreNode::type_id(), 2)
        .set_type_version(XenstoreMirror::type_id(), 2);
    // Version 8: XenState gains vbds.
    map.new_version().set_type_version(XenState::type_id(), 5);
    // Version 9: the memory checksum only (no type changes).
    map.new_version();
    debug_assert_eq!(map.latest_version(), CURRENT_FORMAT_VERSION);
    map
}

/// The fixed-size file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version of the state section.
    pub format_version: u16,
    /// Bytes of the state section.
    pub state_len: u64,
    /// CRC64 of the state section.
    pub state_crc: u64,
    /// Bytes of the memory section.
    pub memory_len: u64,
}

impl Header {
    /// Encodes the header, computing its own CRC.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.format_version.to_le_bytes());
        b[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        // 12..16: flags, none defined.
        b[16..24].copy_from_slice(&self.state_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.state_crc.to_le_bytes());
        b[32..40].copy_from_slice(&self.memory_len.to_le_bytes());
        let crc = crc64::crc64(0, &b[..40]);
        b[40..48].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header: length, magic, CRC, version, flags, state size.
    pub fn decode(b: &[u8]) -> Result<Header> {
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated {
                section: "header",
                needed: HEADER_LEN as u64,
                available: b.len() as u64,
            });
        }
        let magic: [u8; 8] = b[0..8].try_into().unwrap_or_default();
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        let stored = le_u64(&b[40..48]);
        let computed = crc64::crc64(0, &b[..40]);
        if stored != computed {
            return Err(Error::Crc {
                section: "header",
                stored,
                computed,
            });
        }
        let format_version = u16::from_le_bytes([b[8], b[9]]);
        if format_version == 0 || format_version > CURRENT_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: format_version,
                max: CURRENT_FORMAT_VERSION,
            });
        }
        let header_len = u16::from_le_bytes([b[10], b[11]]);
        if header_len as usize != HEADER_LEN {
            return Err(Error::BadHeader(format!(
                "header length {header_len}, expected {HEADER_LEN}"
            )));
        }
        let flags = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        if flags != 0 {
            return Err(Error::BadHeader(format!("unknown flags {flags:#x}")));
        }
        let h = Header {
            format_version,
            state_len: le_u64(&b[16..24]),
            state_crc: le_u64(&b[24..32]),
            memory_len: le_u64(&b[32..40]),
        };
        if h.state_len > MAX_STATE_LEN {
            return Err(Error::TooLarge {
                what: "state length",
                claimed: h.state_len,
                limit: MAX_STATE_LEN,
            });
        }
        Ok(h)
    }

    /// Total file length this header announces (None on overflow).
    pub fn file_len(&self) -> Option<u64> {
        (HEADER_LEN as u64 + TRAILER_LEN as u64)
            .checked_add(self.state_len)?
            .checked_add(self.memory_len)
    }
}

/// Encodes the trailer.
pub fn encode_trailer(memory_crc: u64) -> [u8; TRAILER_LEN] {
    let mut b = [0u8; TRAILER_LEN];
    b[..8].copy_from_slice(&memory_crc.to_le_bytes());
    b[8..].copy_from_slice(&END_MAGIC);
    b
}

/// Checks a trailer against the CRC of the memory actually read.
pub fn check_trailer(b: &[u8], computed: u64) -> Result<()> {
    if b.len() < TRAILER_LEN {
        return Err(Error::Truncated {
            section: "trailer",
            needed: TRAILER_LEN as u64,
            available: b.len() as u64,
        });
    }
    let end: [u8; 8] = b[8..16].try_into().unwrap_or_default();
    if end != END_MAGIC {
        return Err(Error::BadEndMagic(end));
    }
    let stored = le_u64(&b[..8]);
    if stored != computed {
        return Err(Error::Crc {
            section: "memory",
            stored,
            computed,
        });
    }
    Ok(())
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use versionize::VersionizeResult;
    use versionize_derive::Versionize;

    fn header() -> Header {
        Header {
            format_version: CURRENT_FORMAT_VERSION,
            state_len: 100,
            state_crc: 0x1234,
            memory_len: 0x10000,
        }
    }

    #[test]
    fn header_round_trip() {
        let h = header();
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
        assert_eq!(h.file_len(), Some(48 + 16 + 100 + 0x10000));
    }

    #[test]
    fn header_errors() {
        let good = header().encode();
        assert!(matches!(
            Header::decode(&good[..47]),
            Err(Error::Truncated {
                section: "header",
                ..
            })
        ));
        let mut b = good;
        b[0] = b'Y';
        assert!(matches!(Header::decode(&b), Err(Error::BadMagic(_))));
        let mut b = good;
        b[20] ^= 1;
        assert!(matches!(
            Header::decode(&b),
            Err(Error::Crc {
                section: "header",
                ..
            })
        ));
        let newer = Header {
            format_version: CURRENT_FORMAT_VERSION + 1,
            ..header()
        };
        let e = Header::decode(&newer.encode()).unwrap_err();
        assert!(matches!(
            e,
            Error::UnsupportedVersion {
                found: 10,
                max: CURRENT_FORMAT_VERSION
            }
        ));
        assert!(e.to_string().contains("version 10 is not supported"), "{e}");
        let zero = Header {
            format_version: 0,
            ..header()
        };
        assert!(Header::decode(&zero.encode()).is_err());
        let huge = Header {
            state_len: 1 << 40,
            ..header()
        };
        assert!(matches!(
            Header::decode(&huge.encode()),
            Err(Error::TooLarge {
                claimed: 0x100_0000_0000,
                ..
            })
        ));
        let overflow = Header {
            memory_len: u64::MAX,
            ..header()
        };
        assert_eq!(overflow.file_len(), None);
    }

    #[test]
    fn trailer_checks() {
        let t = encode_trailer(42);
        check_trailer(&t, 42).unwrap();
        assert!(matches!(
            check_trailer(&t, 43),
            Err(Error::Crc {
                section: "memory",
                ..
            })
        ));
        let mut bad = t;
        bad[15] = 1;
        assert!(matches!(
            check_trailer(&bad, 42),
            Err(Error::BadEndMagic(_))
        ));
        assert!(matches!(
            check_trailer(&t[..10], 42),
            Err(Error::Truncated { .. })
        ));
    }

    // How a field added in a later format version is read from an older file,
    // on a small stand-alone type (the real one is VcpuState::tsc_khz, tested
    // end to end in the module tests).
    #[derive(Clone, Debug, PartialEq, Versionize)]
    struct Sample {
        a: u32,
        #[version(start = 2, default_fn = "default_b")]
        b: u64,
    }

    impl Sample {
        fn default_b(_: u16) -> u64 {
            77
        }
    }

    #[test]
    fn field_added_in_v2_defaults_when_reading_v1() {
        let mut map = VersionMap::new();
        map.new_version().set_type_version(Sample::type_id(), 2);
        let s = Sample { a: 5, b: 9 };
        let mut v1 = Vec::new();
        s.serialize(&mut v1, &map, 1).unwrap();
        let mut v2 = Vec::new();
        s.serialize(&mut v2, &map, 2).unwrap();
        assert_eq!(v1.len() + 8, v2.len());
        let r1 = Sample::deserialize(&mut v1.as_slice(), &map, 1).unwrap();
        assert_eq!(r1, Sample { a: 5, b: 77 });
        let r2 = Sample::deserialize(&mut v2.as_slice(), &map, 2).unwrap();
        assert_eq!(r2, s);
    }

    #[test]
    fn version_map_has_every_version() {
        let m = version_map();
        assert_eq!(m.latest_version(), 9);
        assert_eq!(m.get_type_version(6, XenState::type_id()), 4);
        assert_eq!(m.get_type_version(7, XenState::type_id()), 4);
        assert_eq!(m.get_type_version(8, XenState::type_id()), 5);
        assert_eq!(m.get_type_version(9, XenState::type_id()), 5);
        assert_eq!(m.get_type_version(1, VcpuState::type_id()), 1);
        assert_eq!(m.get_type_version(2, VcpuState::type_id()), 2);
        assert_eq!(m.get_type_version(3, VcpuState::type_id()), 2);
        assert_eq!(m.get_type_version(2, XenVcpuState::type_id()), 1);
        assert_eq!(m.get_type_version(3, XenVcpuState::type_id()), 2);
        assert_eq!(m.get_type_version(4, XenVcpuState::type_id()), 2);
        assert_eq!(m.get_type_version(3, XenState::type_id()), 1);
        assert_eq!(m.get_type_version(4, XenState::type_id()), 2);
        assert_eq!(m.get_type_version(5, XenState::type_id()), 3);
        assert_eq!(m.get_type_version(4, GrantState::type_id()), 1);
        assert_eq!(m.get_type_version(5, GrantState::type_id()), 2);
        assert_eq!(m.get_type_version(5, XenVcpuState::type_id()), 2);
        assert_eq!(m.get_type_version(6, XenVcpuState::type_id()), 3);
        assert_eq!(m.get_type_version(6, XenState::type_id()), 4);
        assert_eq!(m.get_type_version(6, GrantState::type_id()), 2);
        assert_eq!(m.get_type_version(6, XenstoreNode::type_id()), 1);
        assert_eq!(m.get_type_version(7, XenstoreNode::type_id()), 2);
        assert_eq!(m.get_type_version(6, XenstoreMirror::type_id()), 1);
        assert_eq!(m.get_type_version(7, XenstoreMirror::type_id()), 2);
    }
}
