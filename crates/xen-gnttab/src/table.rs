// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The table: which frame sits at which guest frame number, how many
//! frames are in use, and the answers to `GNTTABOP_*` and
//! `XENMEM_add_to_physmap(XENMAPSPACE_grant_table)`.

use log::debug;
use vm_memory::{Bytes, GuestAddress};

use crate::entry::{locate, GrantEntryV1, GRANT_ENTRY_V1_SIZE, PAGE_SIZE};
use crate::error::{Error, Result};
use crate::state::GrantTableState;

/// Bit of the `add_to_physmap` index that asks for a v2 status frame.
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 1 << 31;
/// Largest `max_frames` accepted (Xen's default limit is 64).
pub const MAX_FRAMES_LIMIT: u32 = 1024;
/// GFNs must stay below 2^40 (52-bit guest physical addresses).
pub const MAX_GFN: u64 = 1 << 40;

/// What the VMM core must change in the guest memory map after
/// [`GrantTable::add_to_physmap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remap {
    /// The grant frame to map.
    pub frame: u32,
    /// Where to map it.
    pub gfn: u64,
    /// Where the frame was mapped before (unmap it there), if anywhere.
    pub old_gfn: Option<u64>,
    /// Another grant frame that was at `gfn` and is now unmapped.
    pub displaced: Option<u32>,
}

/// Grant table v1 bookkeeping.
#[derive(Clone, Debug)]
pub struct GrantTable {
    st: GrantTableState,
}

impl GrantTable {
    /// A table that may grow to `max_frames` frames (1..=[`MAX_FRAMES_LIMIT`]).
    /// No frame is in use until the guest asks for one.
    pub fn new(max_frames: u32) -> Result<Self> {
        Self::from_state(&GrantTableState {
            max_frames,
            nr_frames: 0,
            frame_gfns: Vec::new(),
            version: 1,
        })
    }

    /// Restores the table from a snapshot, checking its consistency.
    pub fn from_state(state: &GrantTableState) -> Result<Self> {
        if state.max_frames == 0 || state.max_frames > MAX_FRAMES_LIMIT {
            return Err(Error::Config("grant table max_frames out of range"));
        }
        if state.nr_frames > state.max_frames || state.frame_gfns.len() != state.nr_frames as usize
        {
            return Err(Error::Config("grant table frame count inconsistent"));
        }
        if state.version != 1 {
            return Err(Error::Version(state.version));
        }
        let mut seen = std::collections::BTreeSet::new();
        for g in state.frame_gfns.iter().flatten() {
            if *g >= MAX_GFN || !seen.insert(*g) {
                return Err(Error::Config("grant table frame GFNs invalid"));
            }
        }
        Ok(GrantTable { st: state.clone() })
    }

    /// The state to snapshot.
    pub fn state(&self) -> GrantTableState {
        self.st.clone()
    }

    /// Frames the table may grow to.
    pub fn max_frames(&self) -> u32 {
        self.st.max_frames
    }

    /// Frames in use.
    pub fn nr_frames(&self) -> u32 {
        self.st.nr_frames
    }

    /// `GNTTABOP_query_size`: (`nr_frames`, `max_nr_frames`).
    pub fn query_size(&self) -> (u32, u32) {
        (self.st.nr_frames, self.st.max_frames)
    }

    /// `GNTTABOP_get_version`.
    pub fn version(&self) -> u32 {
        self.st.version
    }

    /// `GNTTABOP_set_version`: 1 (or 0, "keep") succeeds and the current
    /// version is returned (the caller writes it back into the argument);
    /// anything else is [`Error::Version`] (v2 is not offered).
    pub fn set_version(&mut self, version: u32) -> Result<u32> {
        match version {
            0 | 1 => Ok(self.st.version),
            v => Err(Error::Version(v)),
        }
    }

    fn grow(&mut self, nr: u32) {
        if nr > self.st.nr_frames {
            debug!("grant table: growing to {nr} frames");
            self.st.nr_frames = nr;
            self.st.frame_gfns.resize(nr as usize, None);
        }
    }

    /// `GNTTABOP_setup_table` for `nr_frames` frames: grows the table and
    /// returns, for each frame, the GFN it is mapped at (`None`: not mapped
    /// yet; a translated guest maps frames with `add_to_physmap`, so the
    /// caller writes an invalid frame number there). More than `max_frames`
    /// is [`Error::Invalid`]; Xen reports it as
    /// `status = GNTST_general_error` with the hypercall returning 0.
    pub fn setup_table(&mut self, nr_frames: u32) -> Result<Vec<Option<u64>>> {
        if nr_frames > self.st.max_frames {
            return Err(Error::Invalid("setup_table: too many frames"));
        }
        self.grow(nr_frames);
        Ok(self.st.frame_gfns[..nr_frames as usize].to_vec())
    }

    /// `XENMEM_add_to_physmap` with `XENMAPSPACE_grant_table`: puts frame
    /// `idx` at `gfn`, growing the table to `idx + 1` frames. Errors
    /// (`-EINVAL`): a v2 status frame index, `idx >= max_frames`, `gfn`
    /// beyond [`MAX_GFN`]. The returned [`Remap`] says what the core must
    /// change in the memory map.
    pub fn add_to_physmap(&mut self, idx: u64, gfn: u64) -> Result<Remap> {
        if idx & XENMAPIDX_GRANT_TABLE_STATUS != 0 {
            return Err(Error::Invalid("status frames need grant table v2"));
        }
        if idx >= u64::from(self.st.max_frames) {
            return Err(Error::Invalid("frame index beyond max_frames"));
        }
        if gfn >= MAX_GFN {
            return Err(Error::Invalid("gfn out of range"));
        }
        // idx < max_frames <= MAX_FRAMES_LIMIT.
        let frame = idx as u32;
        self.grow(frame + 1);
        let displaced = self.frame_at(gfn).filter(|&f| f != frame);
        if let Some(d) = displaced {
            self.st.frame_gfns[d as usize] = None;
        }
        let old = self.st.frame_gfns[frame as usize].replace(gfn);
        Ok(Remap {
            frame,
            gfn,
            old_gfn: old.filter(|&o| o != gfn),
            displaced,
        })
    }

    /// `XENMEM_remove_from_physmap` of `gfn`: if a grant frame is mapped
    /// there it is unmapped and returned (the core removes the region).
    pub fn remove_gfn(&mut self, gfn: u64) -> Option<u32> {
        let f = self.frame_at(gfn)?;
        self.st.frame_gfns[f as usize] = None;
        Some(f)
    }

    /// The grant frame mapped at `gfn`, if any.
    pub fn frame_at(&self, gfn: u64) -> Option<u32> {
        self.st
            .frame_gfns
            .iter()
            .position(|g| *g == Some(gfn))
            .map(|i| i as u32)
    }

    /// The GFN frame `frame` is mapped at, if any.
    pub fn gfn_of(&self, frame: u32) -> Option<u64> {
        self.st.frame_gfns.get(frame as usize).copied().flatten()
    }

    /// Reads grant entry `gref` through the guest's mapping of its frame.
    /// `None` if the reference is beyond the frames in use, the frame is
    /// not mapped, or the memory cannot be read.
    pub fn read_entry<M: Bytes<GuestAddress> + ?Sized>(
        &self,
        mem: &M,
        gref: u32,
    ) -> Option<GrantEntryV1> {
        let (frame, off) = locate(gref);
        let gpa = self.gfn_of(frame)? * PAGE_SIZE + off;
        let mut b = [0u8; GRANT_ENTRY_V1_SIZE as usize];
        mem.read_slice(&mut b, GuestAddress(gpa)).ok()?;
        Some(GrantEntryV1::from_bytes(b))
    }
}
