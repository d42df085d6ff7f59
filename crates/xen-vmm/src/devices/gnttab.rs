//! Grant table (version 1) frame bookkeeping.
//!
//! A Xen guest shares its pages with other domains through a grant table:
//! frames of `grant_entry_v1 { u16 flags; u16 domid; u32 frame; }` (512
//! entries per 4 KiB frame). The hypervisor owns the frames; an HVM/PVH
//! guest puts them into its physical address space with
//! `XENMEM_add_to_physmap(space = XENMAPSPACE_grant_table, idx, gpfn)`,
//! usually at GFNs in an e820 hole, i.e. where there is no RAM. GRUB, for
//! one, picks the first hole of the e820 map below 4 GiB.
//!
//! This module is the pure bookkeeping: which frame sits at which GFN, how
//! many frames are in use, query/setup/version answers, and the errors.
//! The host memory behind the frames belongs to the VMM core, which must:
//!
//! 1. at start, allocate `max_frames` page-sized host buffers that outlive
//!    any mapping, e.g. one `memfd` (or anonymous shared mapping) of
//!    `max_frames * 4096` bytes, frame `i` at offset `i * 4096`;
//! 2. on each [`GrantTable::add_to_physmap`] that returns a [`Remap`]:
//!    remove the region at `old_gfn` (if any) and the region of the
//!    `displaced` frame / any RAM page at `gfn` (Xen replaces whatever was
//!    there), then map frame `frame` at `gfn`: a new
//!    `GuestRegionMmap` over the same host page (from the memfd at the
//!    frame's offset, so the contents survive a move) inserted into the
//!    guest memory map (`GuestMemoryMmap::insert_region` /
//!    `remove_region`, published with `vm_lock::MemoryMap::replace` and
//!    `synchronize`) plus a KVM memory slot
//!    (`KVM_SET_USER_MEMORY_REGION`, freeing the old slot);
//! 3. snapshot the frame contents with the rest of guest memory and
//!    [`GrantTableState`] with the device state.
//!
//! ```
//! use xen_vmm::devices::gnttab::GrantTable;
//!
//! let mut gt = GrantTable::new(4).unwrap();
//! let r = gt.add_to_physmap(0, 0xa0).unwrap(); // frame 0 at GFN 0xa0
//! assert_eq!((r.frame, r.gfn, r.old_gfn), (0, 0xa0, None));
//! assert_eq!(gt.query_size(), (1, 4));
//! assert_eq!(gt.frame_at(0xa0), Some(0));
//! ```

use log::debug;
use vm_memory::{Bytes, GuestAddress};

use super::{Error, Result, XEN_PAGE_SIZE};

/// Size of a `grant_entry_v1`.
pub const GRANT_ENTRY_V1_SIZE: u64 = std::mem::size_of::<xen_abi::GrantEntryV1>() as u64;
/// Grant entries in one v1 frame.
pub const ENTRIES_PER_FRAME: u32 = (XEN_PAGE_SIZE / GRANT_ENTRY_V1_SIZE) as u32;
/// Bit of the `add_to_physmap` index that asks for a v2 status frame.
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 1 << 31;
/// Largest `max_frames` accepted (Xen's default limit is 64).
pub const MAX_FRAMES_LIMIT: u32 = 1024;
/// GFNs must stay below 2^40 (52-bit guest physical addresses).
pub const MAX_GFN: u64 = 1 << 40;

/// The grant entry flags, from xen-abi.
pub use xen_abi::{GTF_PERMIT_ACCESS, GTF_READONLY};

/// Snapshot state of the grant table bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantTableState {
    /// Frames the table may grow to.
    pub max_frames: u32,
    /// Frames in use (`nr_frames` of `GNTTABOP_query_size`).
    pub nr_frames: u32,
    /// For each frame in use: the GFN it is mapped at, if any.
    pub frame_gfns: Vec<Option<u64>>,
    /// Grant table version (always 1 here).
    pub version: u32,
}

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
            return Err(Error::GrantVersion(state.version));
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
    /// anything else is [`Error::GrantVersion`] (v2 is not offered).
    pub fn set_version(&mut self, version: u32) -> Result<u32> {
        match version {
            0 | 1 => Ok(self.st.version),
            v => Err(Error::GrantVersion(v)),
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
    /// is [`Error::GrantInvalid`]; Xen reports it as
    /// `status = GNTST_general_error` with the hypercall returning 0.
    pub fn setup_table(&mut self, nr_frames: u32) -> Result<Vec<Option<u64>>> {
        if nr_frames > self.st.max_frames {
            return Err(Error::GrantInvalid("setup_table: too many frames"));
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
            return Err(Error::GrantInvalid("status frames need grant table v2"));
        }
        if idx >= u64::from(self.st.max_frames) {
            return Err(Error::GrantInvalid("frame index beyond max_frames"));
        }
        if gfn >= MAX_GFN {
            return Err(Error::GrantInvalid("gfn out of range"));
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
        let gfn = self.gfn_of(gref / ENTRIES_PER_FRAME)?;
        let gpa = gfn * XEN_PAGE_SIZE + u64::from(gref % ENTRIES_PER_FRAME) * GRANT_ENTRY_V1_SIZE;
        let mut b = [0u8; GRANT_ENTRY_V1_SIZE as usize];
        mem.read_slice(&mut b, GuestAddress(gpa)).ok()?;
        Some(GrantEntryV1 {
            flags: u16::from_le_bytes([b[0], b[1]]),
            domid: u16::from_le_bytes([b[2], b[3]]),
            frame: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::mem;
    use super::*;

    #[test]
    fn limits() {
        assert!(GrantTable::new(0).is_err());
        assert!(GrantTable::new(MAX_FRAMES_LIMIT + 1).is_err());
        let mut gt = GrantTable::new(2).unwrap();
        assert_eq!(gt.query_size(), (0, 2));
        for (idx, gfn) in [
            (2, 0x10),
            (u64::MAX, 0x10),
            (XENMAPIDX_GRANT_TABLE_STATUS, 0x10),
            (0, MAX_GFN),
            (0, u64::MAX),
        ] {
            let e = gt.add_to_physmap(idx, gfn).unwrap_err();
            assert_eq!(e.xen_errno(), -22, "idx {idx:#x} gfn {gfn:#x}");
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
                gfn: 0xa0,
                old_gfn: None,
                displaced: None
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
        assert_eq!(gt.remove_gfn(0xb0), Some(0));
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
        assert_eq!(gt.set_version(1).unwrap(), 1);
        assert_eq!(gt.set_version(0).unwrap(), 1);
        assert_eq!(gt.set_version(2).unwrap_err().xen_errno(), -95);
        assert_eq!(gt.version(), 1);
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
        let mut bad = st;
        bad.version = 2;
        assert!(GrantTable::from_state(&bad).is_err());
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
}
