// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Grant entries as the guest writes them: `grant_entry_v1 { u16 flags;
//! u16 domid; u32 frame; }`, 512 to a 4 KiB frame.

use xen_abi::GrantEntryV1 as AbiGrantEntryV1;

/// The grant entry flags, from xen-abi.
pub use xen_abi::{GTF_PERMIT_ACCESS, GTF_READONLY};

/// Size of a Xen page (one grant frame).
pub const PAGE_SIZE: u64 = 4096;
/// Size of a `grant_entry_v1`.
pub const GRANT_ENTRY_V1_SIZE: u64 = std::mem::size_of::<AbiGrantEntryV1>() as u64;
/// Grant entries in one v1 frame.
pub const ENTRIES_PER_FRAME: u32 = (PAGE_SIZE / GRANT_ENTRY_V1_SIZE) as u32;

/// One `grant_entry_v1` as read from guest memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV1 {
    /// `GTF_*` flags.
    pub flags: u16,
    /// The domain granted access.
    pub domid: u16,
    /// The granted frame (a GFN of the granting guest).
    pub frame: u32,
}

impl GrantEntryV1 {
    /// Decodes the entry's 8 little-endian bytes.
    pub fn from_bytes(b: [u8; GRANT_ENTRY_V1_SIZE as usize]) -> Self {
        GrantEntryV1 {
            flags: u16::from_le_bytes([b[0], b[1]]),
            domid: u16::from_le_bytes([b[2], b[3]]),
            frame: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The entry's wire bytes.
    pub fn to_bytes(&self) -> [u8; GRANT_ENTRY_V1_SIZE as usize] {
        let mut b = [0u8; GRANT_ENTRY_V1_SIZE as usize];
        b[0..2].copy_from_slice(&self.flags.to_le_bytes());
        b[2..4].copy_from_slice(&self.domid.to_le_bytes());
        b[4..8].copy_from_slice(&self.frame.to_le_bytes());
        b
    }
}

/// Where grant reference `gref` sits: (frame index, byte offset in the frame).
pub fn locate(gref: u32) -> (u32, u64) {
    (
        gref / ENTRIES_PER_FRAME,
        u64::from(gref % ENTRIES_PER_FRAME) * GRANT_ENTRY_V1_SIZE,
    )
}

/// Size of a `grant_entry_v2`.
pub const GRANT_ENTRY_V2_SIZE: u64 = 16;
/// Grant entries in one v2 frame.
pub const ENTRIES_PER_FRAME_V2: u32 = (PAGE_SIZE / GRANT_ENTRY_V2_SIZE) as u32;
/// Status entries (`grant_status_t`, 2 bytes) in one v2 status frame.
pub const STATUS_PER_FRAME: u32 = (PAGE_SIZE / 2) as u32;

/// Where v2 grant reference `gref` sits: (frame index, byte offset in the frame).
pub fn locate_v2(gref: u32) -> (u32, u64) {
    (
        gref / ENTRIES_PER_FRAME_V2,
        u64::from(gref % ENTRIES_PER_FRAME_V2) * GRANT_ENTRY_V2_SIZE,
    )
}

/// Where the status of v2 grant reference `gref` sits: (status frame index, byte offset).
pub fn locate_status(gref: u32) -> (u32, u64) {
    (
        gref / STATUS_PER_FRAME,
        u64::from(gref % STATUS_PER_FRAME) * 2,
    )
}

/// Status frames a v2 table of `grant_frames` frames has (Xen's `grant_to_status_frames`:
/// one status frame per 8 grant frames, rounded up).
pub fn status_frames_for(grant_frames: u32) -> u32 {
    grant_frames.div_ceil(STATUS_PER_FRAME / ENTRIES_PER_FRAME_V2)
}

/// What a grant entry gives access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    /// A whole frame (a v1 entry, or a v2 `full_page` entry).
    Frame(u64),
    /// Bytes `[offset, offset + length)` of `frame` (v2 `GTF_sub_page`: copies only).
    SubPage {
        /// The frame.
        frame: u64,
        /// First byte granted.
        offset: u16,
        /// Bytes granted.
        length: u16,
    },
    /// Grant `gref` of domain `domid`, passed on (v2 `GTF_transitive`: copies only).
    Transitive {
        /// Domain of the original grant.
        domid: u16,
        /// Its grant reference.
        gref: u32,
    },
}

/// A grant entry of either version, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantEntry {
    /// `GTF_*` flags of the entry (for v2 without the status bits, which live in the
    /// status frame).
    pub flags: u16,
    /// The domain granted access.
    pub domid: u16,
    /// What is granted (read by the entry's type: `GTF_transitive` and `GTF_sub_page`
    /// exist in v2 only).
    pub kind: GrantKind,
}

impl GrantEntry {
    /// A v2 entry from its 16 little-endian bytes.
    pub fn from_v2_bytes(b: [u8; GRANT_ENTRY_V2_SIZE as usize]) -> Self {
        let flags = u16::from_le_bytes([b[0], b[1]]);
        let domid = u16::from_le_bytes([b[2], b[3]]);
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let frame = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        let kind = if flags & xen_abi::GTF_TYPE_MASK == xen_abi::GTF_TRANSITIVE {
            GrantKind::Transitive {
                domid: u16_at(4),
                gref: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            }
        } else if flags & xen_abi::GTF_SUB_PAGE != 0 {
            GrantKind::SubPage {
                frame,
                offset: u16_at(4),
                length: u16_at(6),
            }
        } else {
            GrantKind::Frame(frame)
        };
        GrantEntry { flags, domid, kind }
    }

    /// The entry's 16 bytes in the v2 layout (`full_page`, `sub_page` or `transitive`).
    pub fn to_v2_bytes(&self) -> [u8; GRANT_ENTRY_V2_SIZE as usize] {
        let mut b = [0u8; GRANT_ENTRY_V2_SIZE as usize];
        b[0..2].copy_from_slice(&self.flags.to_le_bytes());
        b[2..4].copy_from_slice(&self.domid.to_le_bytes());
        match self.kind {
            GrantKind::Frame(f) => b[8..16].copy_from_slice(&f.to_le_bytes()),
            GrantKind::SubPage {
                frame,
                offset,
                length,
            } => {
                b[4..6].copy_from_slice(&offset.to_le_bytes());
                b[6..8].copy_from_slice(&length.to_le_bytes());
                b[8..16].copy_from_slice(&frame.to_le_bytes());
            }
            GrantKind::Transitive { domid, gref } => {
                b[4..6].copy_from_slice(&domid.to_le_bytes());
                b[8..12].copy_from_slice(&gref.to_le_bytes());
            }
        }
        b
    }
}

impl From<GrantEntryV1> for GrantEntry {
    fn from(e: GrantEntryV1) -> Self {
        GrantEntry {
            flags: e.flags,
            domid: e.domid,
            kind: GrantKind::Frame(u64::from(e.frame)),
        }
    }
}
