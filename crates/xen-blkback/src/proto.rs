// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The blkif wire format: operation and status numbers, the request and response
//! layouts of the two ABIs a backend meets (64-bit guests, and x86_32 guests whose
//! 64-bit fields are only 4-byte aligned), and the shared ring's geometry.
//!
//! Requests are decoded from the bytes the guest wrote ([`Request::decode`]): nothing
//! here trusts a value, it only places fields; [`crate::BlkBack`] validates them.

/// `BLKIF_OP_READ`: disk to guest pages.
pub const BLKIF_OP_READ: u8 = 0;
/// `BLKIF_OP_WRITE`: guest pages to disk.
pub const BLKIF_OP_WRITE: u8 = 1;
/// `BLKIF_OP_WRITE_BARRIER`: a write ordered after everything before it.
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
/// `BLKIF_OP_FLUSH_DISKCACHE`: make completed writes durable (optionally with data).
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
/// `BLKIF_OP_DISCARD`: the guest no longer needs a sector range.
pub const BLKIF_OP_DISCARD: u8 = 5;
/// `BLKIF_OP_INDIRECT`: a read or write whose segments are in granted pages
/// (served when enabled with [`crate::BlkBack::with_indirect`]).
pub const BLKIF_OP_INDIRECT: u8 = 6;
/// Most indirect pages of a request.
pub const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;
/// Segments in one indirect page (8 bytes each).
pub const SEGMENTS_PER_INDIRECT_PAGE: usize = 512;
/// Most segments of an indirect request this backend accepts (its
/// `feature-max-indirect-segments`).
pub const MAX_INDIRECT_SEGMENTS: u16 = 256;

/// Most segments of a direct request.
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: u8 = 11;
/// Last sector index in a 4 KiB page of 512-byte sectors.
pub const SECTORS_PER_PAGE_MAX: u8 = 7;
/// Bytes in a blkif sector (always 512, whatever the disk's `sector-size`).
pub const SECTOR_SIZE: u64 = 512;
/// Bytes in a ring page.
pub const PAGE_SIZE: u64 = 4096;

/// `BLKIF_RSP_OKAY`.
pub const BLKIF_RSP_OKAY: i16 = 0;
/// `BLKIF_RSP_ERROR`.
pub const BLKIF_RSP_ERROR: i16 = -1;
/// `BLKIF_RSP_EOPNOTSUPP`.
pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;

/// `info` bit: read-only disk.
pub const VDISK_READONLY: u32 = 0x4;

/// Bytes before the first ring entry: the four indexes and padding to 64.
pub const RING_HEADER: u64 = 64;
/// Offsets of the shared ring's indexes.
pub const REQ_PROD: u64 = 0;
/// `req_event`.
pub const REQ_EVENT: u64 = 4;
/// `rsp_prod`.
pub const RSP_PROD: u64 = 8;
/// `rsp_event`.
pub const RSP_EVENT: u64 = 12;

/// Largest ring order this backend offers (`max-ring-page-order`): 16 pages.
pub const MAX_RING_PAGE_ORDER: u32 = 4;

/// The frontend's ABI, from its xenstore `protocol` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `x86_64-abi` (and the default when the node is absent on a 64-bit host).
    X86_64,
    /// `x86_32-abi`: 64-bit fields are 4-byte aligned.
    X86_32,
}

impl Protocol {
    /// The protocol named by a frontend's `protocol` node (`None`: unknown).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "x86_64-abi" => Some(Protocol::X86_64),
            "x86_32-abi" => Some(Protocol::X86_32),
            _ => None,
        }
    }

    /// The xenstore name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::X86_64 => "x86_64-abi",
            Protocol::X86_32 => "x86_32-abi",
        }
    }

    /// Bytes of a ring entry (the union of request and response).
    pub fn entry_size(self) -> u64 {
        match self {
            // 24-byte header + 11 eight-byte segments.
            Protocol::X86_64 => 112,
            // 20-byte header (id at 4) + 11 segments.
            Protocol::X86_32 => 108,
        }
    }

    /// Entries in a ring of `pages` pages: the largest power of two that fits.
    pub fn ring_entries(self, pages: u64) -> u32 {
        let n = (pages * PAGE_SIZE - RING_HEADER) / self.entry_size();
        if n == 0 {
            return 0;
        }
        1u32 << (63 - n.leading_zeros())
    }

    /// Offsets of `id` and `sector_number` in a request (all kinds).
    fn id_sector(self) -> (usize, usize) {
        match self {
            Protocol::X86_64 => (8, 16),
            Protocol::X86_32 => (4, 12),
        }
    }

    /// Offset of `indirect_grefs` in an indirect request (after the 2-byte handle
    /// that follows `sector_number`, 4-byte aligned).
    fn indirect_grefs(self) -> usize {
        match self {
            Protocol::X86_64 => 28,
            Protocol::X86_32 => 24,
        }
    }
}

/// One segment of a direct request: sectors `first_sect..=last_sect` of a granted page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Grant reference of the page.
    pub gref: u32,
    /// First sector in the page (inclusive).
    pub first_sect: u8,
    /// Last sector in the page (inclusive).
    pub last_sect: u8,
}

/// A request as the guest wrote it (width-independent, unvalidated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `BLKIF_OP_*`.
    pub operation: u8,
    /// `nr_segments`, or the discard's `flag`.
    pub nr_segments: u8,
    /// Virtual device handle.
    pub handle: u16,
    /// The guest's id, echoed in the response.
    pub id: u64,
    /// First sector on the disk.
    pub sector_number: u64,
    /// Segments (the first `nr_segments` are meaningful).
    pub seg: [Segment; BLKIF_MAX_SEGMENTS_PER_REQUEST as usize],
    /// Sectors to discard (`BLKIF_OP_DISCARD` only).
    pub nr_sectors: u64,
    /// `BLKIF_OP_INDIRECT` only: the operation (`READ` or `WRITE`).
    pub indirect_op: u8,
    /// `BLKIF_OP_INDIRECT` only: segments in the indirect pages.
    pub nr_indirect_segments: u16,
    /// `BLKIF_OP_INDIRECT` only: grant references of the indirect pages.
    pub indirect_grefs: [u32; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(a)
}

impl Segment {
    /// Bytes of a segment in an indirect page.
    pub const SIZE: usize = 8;

    /// The segment at the start of `b` (at least [`Segment::SIZE`] bytes).
    pub fn decode(b: &[u8]) -> Segment {
        Segment {
            gref: u32_at(b, 0),
            first_sect: b[4],
            last_sect: b[5],
        }
    }

    /// The segment's bytes in an indirect page.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.gref.to_le_bytes());
        b[4] = self.first_sect;
        b[5] = self.last_sect;
        b
    }
}

impl Request {
    /// Places the fields of a ring entry of `proto` (`b` is at least its entry size;
    /// shorter input decodes as a zeroed request).
    pub fn decode(proto: Protocol, b: &[u8]) -> Request {
        let mut r = Request::default();
        if (b.len() as u64) < proto.entry_size() {
            return r;
        }
        let (id, sector) = proto.id_sector();
        r.operation = b[0];
        r.nr_segments = b[1];
        r.handle = u16::from_le_bytes([b[2], b[3]]);
        r.id = u64_at(b, id);
        r.sector_number = u64_at(b, sector);
        if r.operation == BLKIF_OP_DISCARD {
            r.nr_sectors = u64_at(b, sector + 8);
            return r;
        }
        if r.operation == BLKIF_OP_INDIRECT {
            r.indirect_op = b[1];
            r.nr_segments = 0;
            r.nr_indirect_segments = u16::from_le_bytes([b[2], b[3]]);
            r.handle = u16::from_le_bytes([b[sector + 8], b[sector + 9]]);
            let g = proto.indirect_grefs();
            for (i, x) in r.indirect_grefs.iter_mut().enumerate() {
                *x = u32_at(b, g + 4 * i);
            }
            return r;
        }
        let base = sector + 8;
        for (i, s) in r.seg.iter_mut().enumerate() {
            let o = base + i * 8;
            *s = Segment {
                gref: u32_at(b, o),
                first_sect: b[o + 4],
                last_sect: b[o + 5],
            };
        }
        r
    }

    /// The bytes of this request as a frontend of `proto` writes them (tests, benches).
    pub fn encode(&self, proto: Protocol) -> Vec<u8> {
        let mut b = vec![0u8; proto.entry_size() as usize];
        let (id, sector) = proto.id_sector();
        b[0] = self.operation;
        b[1] = self.nr_segments;
        b[2..4].copy_from_slice(&self.handle.to_le_bytes());
        b[id..id + 8].copy_from_slice(&self.id.to_le_bytes());
        b[sector..sector + 8].copy_from_slice(&self.sector_number.to_le_bytes());
        if self.operation == BLKIF_OP_INDIRECT {
            b[1] = self.indirect_op;
            b[2..4].copy_from_slice(&self.nr_indirect_segments.to_le_bytes());
            b[sector + 8..sector + 10].copy_from_slice(&self.handle.to_le_bytes());
            let g = proto.indirect_grefs();
            for (i, x) in self.indirect_grefs.iter().enumerate() {
                b[g + 4 * i..g + 4 * i + 4].copy_from_slice(&x.to_le_bytes());
            }
            return b;
        }
        if self.operation == BLKIF_OP_DISCARD {
            b[sector + 8..sector + 16].copy_from_slice(&self.nr_sectors.to_le_bytes());
            return b;
        }
        for (i, s) in self.seg.iter().enumerate() {
            let o = sector + 8 + i * 8;
            b[o..o + 4].copy_from_slice(&s.gref.to_le_bytes());
            b[o + 4] = s.first_sect;
            b[o + 5] = s.last_sect;
        }
        b
    }
}

/// A response: `id` at 0, `operation` at 8, `status` at 10 (both ABIs; 16 bytes on
/// 64-bit, 12 on x86_32, in a slot of the ring's entry size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// The request's operation.
    pub operation: u8,
    /// `BLKIF_RSP_*`.
    pub status: i16,
}

impl Response {
    /// Bytes written into the ring slot.
    pub const SIZE: usize = 12;

    /// The response's bytes (padding zeroed).
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.id.to_le_bytes());
        b[8] = self.operation;
        b[10..12].copy_from_slice(&self.status.to_le_bytes());
        b
    }

    /// Decodes a response (tests, frontends).
    pub fn decode(b: &[u8; Self::SIZE]) -> Response {
        Response {
            id: u64_at(b, 0),
            operation: b[8],
            status: i16::from_le_bytes([b[10], b[11]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes() {
        // One page: 4032 / 112 = 36 -> 32; 4032 / 108 = 37 -> 32.
        assert_eq!(Protocol::X86_64.ring_entries(1), 32);
        assert_eq!(Protocol::X86_32.ring_entries(1), 32);
        // Four pages: 16320 / 112 = 145 -> 128; 16320 / 108 = 151 -> 128.
        assert_eq!(Protocol::X86_64.ring_entries(4), 128);
        assert_eq!(Protocol::X86_32.ring_entries(4), 128);
        assert_eq!(Protocol::X86_64.ring_entries(16), 512);
    }

    #[test]
    fn layouts_differ() {
        let mut r = Request {
            operation: BLKIF_OP_READ,
            nr_segments: 1,
            handle: 0x51,
            id: 0x1122334455667788,
            sector_number: 0x99,
            ..Default::default()
        };
        r.seg[0] = Segment {
            gref: 0xabcd,
            first_sect: 1,
            last_sect: 6,
        };
        let b64 = r.encode(Protocol::X86_64);
        let b32 = r.encode(Protocol::X86_32);
        assert_eq!(b64.len(), 112);
        assert_eq!(b32.len(), 108);
        assert_eq!(&b64[8..16], &0x1122334455667788u64.to_le_bytes());
        assert_eq!(&b32[4..12], &0x1122334455667788u64.to_le_bytes());
        assert_eq!(&b64[24..28], &0xabcdu32.to_le_bytes());
        assert_eq!(&b32[20..24], &0xabcdu32.to_le_bytes());
        assert_eq!(Request::decode(Protocol::X86_64, &b64), r);
        assert_eq!(Request::decode(Protocol::X86_32, &b32), r);
        // The same bytes read with the other ABI are another request.
        assert_ne!(Request::decode(Protocol::X86_32, &b64).id, r.id);
    }

    #[test]
    fn indirect_layouts() {
        let r = Request {
            operation: BLKIF_OP_INDIRECT,
            indirect_op: BLKIF_OP_WRITE,
            nr_indirect_segments: 300,
            handle: 7,
            id: 0xabcdef,
            sector_number: 42,
            indirect_grefs: [11, 12, 13, 14, 15, 16, 17, 18],
            ..Default::default()
        };
        let b64 = r.encode(Protocol::X86_64);
        let b32 = r.encode(Protocol::X86_32);
        // Offsets as in Xen's blkif.h (checked with offsetof, -m64 and -m32).
        assert_eq!(&b64[2..4], &300u16.to_le_bytes());
        assert_eq!(&b64[24..26], &7u16.to_le_bytes());
        assert_eq!(&b64[28..32], &11u32.to_le_bytes());
        assert_eq!(&b64[56..60], &18u32.to_le_bytes());
        assert_eq!(&b32[20..22], &7u16.to_le_bytes());
        assert_eq!(&b32[24..28], &11u32.to_le_bytes());
        assert_eq!(&b32[52..56], &18u32.to_le_bytes());
        assert_eq!(Request::decode(Protocol::X86_64, &b64), r);
        assert_eq!(Request::decode(Protocol::X86_32, &b32), r);
    }
}
