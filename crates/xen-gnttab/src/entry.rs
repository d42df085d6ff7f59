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
