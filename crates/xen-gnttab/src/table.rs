// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The table: which frame sits at which guest frame number, how many
//! frames are in use, the version, and the answers to `GNTTABOP_*` and
//! `XENMEM_add_to_physmap(XENMAPSPACE_grant_table)`.

use std::collections::BTreeMap;

use log::debug;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};
use xen_abi::{
    GNTTAB_NR_RESERVED_ENTRIES, GRANT_ENTRIES_V1_PER_FRAME, GTF_PERMIT_ACCESS, GTF_READING,
    GTF_TRANSITIVE, GTF_TYPE_MASK, GTF_WRITING,
};

use crate::access::{Active, MapTrack};
use crate::entry::{
    locate, locate_status, locate_v2, status_frames_for, GrantEntry, GrantEntryV1, GrantKind,
    ENTRIES_PER_FRAME_V2, GRANT_ENTRY_V1_SIZE, GRANT_ENTRY_V2_SIZE, PAGE_SIZE, STATUS_PER_FRAME,
};
use crate::error::{Error, Result};
use crate::state::GrantTableState;

/// Bit of the `add_to_physmap` index that asks for a v2 status frame.
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 1 << 31;
/// Largest `max_frames` accepted (Xen's default limit is 64).
pub const MAX_FRAMES_LIMIT: u32 = 1024;
/// GFNs must stay below 2^40 (52-bit guest physical addresses).
pub const MAX_GFN: u64 = 1 << 40;

/// A frame of the table: a grant frame or a v2 status frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Grant frame (entries).
    Grant(u32),
    /// Status frame (v2).
    Status(u32),
}

/// What the VMM core must change in the guest memory map after
/// [`GrantTable::add_to_physmap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remap {
    /// The frame to map (a grant frame, or a status frame if `status`).
    pub frame: u32,
    /// `frame` is a v2 status frame.
    pub status: bool,
    /// Where to map it.
    pub gfn: u64,
    /// Where the frame was mapped before (unmap it there), if anywhere.
    pub old_gfn: Option<u64>,
    /// Another grant frame that was at `gfn` and is now unmapped.
    pub displaced: Option<u32>,
    /// A status frame that was at `gfn` and is now unmapped.
    pub displaced_status: Option<u32>,
}

/// Grant table (v1 and v2) bookkeeping, and the grants in use by backends.
#[derive(Clone, Debug)]
pub struct GrantTable {
    pub(crate) st: GrantTableState,
    /// Pinned entries (mapped by a backend or being copied): gref -> pins.
    pub(crate) active: BTreeMap<u32, Active>,
    /// Mappings by handle.
    pub(crate) maps: BTreeMap<u32, MapTrack>,
}

impl GrantTable {
    /// A table that may grow to `max_frames` frames (1..=[`MAX_FRAMES_LIMIT`]), version 1,
    /// version 2 allowed. No frame is in use until the guest asks for one.
    pub fn new(max_frames: u32) -> Result<Self> {
        Self::from_state(&GrantTableState {
            max_frames,
            nr_frames: 0,
            frame_gfns: Vec::new(),
            version: 1,
            max_version: 2,
            status_gfns: Vec::new(),
        })
    }

    /// Limits the versions the guest may select to `1..=max_version` (1 or 2). With 1,
    /// `set_version(2)` fails with -ENOSYS, as in Xen with v2 disabled.
    pub fn with_max_version(mut self, max_version: u32) -> Result<Self> {
        if !(1..=2).contains(&max_version) || self.st.version > max_version {
            return Err(Error::Config("grant table max_version out of range"));
        }
        self.st.max_version = max_version;
        Ok(self)
    }

    /// Restores the table from a snapshot, checking its consistency.
    pub fn from_state(state: &GrantTableState) -> Result<Self> {
        let mut st = state.clone();
        if st.max_version == 0 {
            st.max_version = 2;
        }
        if st.max_frames == 0 || st.max_frames > MAX_FRAMES_LIMIT {
            return Err(Error::Config("grant table max_frames out of range"));
        }
        if st.nr_frames > st.max_frames || st.frame_gfns.len() != st.nr_frames as usize {
            return Err(Error::Config("grant table frame count inconsistent"));
        }
        if !(1..=2).contains(&st.max_version) {
            return Err(Error::Config("grant table max_version out of range"));
        }
        if !(1..=st.max_version).contains(&st.version) {
            return Err(Error::Version(st.version));
        }
        let status = if st.version == 2 {
            if st.nr_frames == 0 {
                return Err(Error::Config("grant table v2 without frames"));
            }
            status_frames_for(st.nr_frames) as usize
        } else {
            0
        };
        if st.status_gfns.len() != status {
            return Err(Error::Config("grant table status frame count inconsistent"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for g in st.frame_gfns.iter().chain(&st.status_gfns).flatten() {
            if *g >= MAX_GFN || !seen.insert(*g) {
                return Err(Error::Config("grant table frame GFNs invalid"));
            }
        }
        Ok(GrantTable {
            st,
            active: BTreeMap::new(),
            maps: BTreeMap::new(),
        })
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

    /// Status frames (v2; 0 in v1).
    pub fn nr_status_frames(&self) -> u32 {
        self.st.status_gfns.len() as u32
    }

    /// Grant entries of the frames in use.
    pub fn nr_entries(&self) -> u32 {
        let per = if self.st.version == 2 {
            ENTRIES_PER_FRAME_V2
        } else {
            GRANT_ENTRIES_V1_PER_FRAME
        };
        self.st.nr_frames.saturating_mul(per)
    }

    /// `GNTTABOP_query_size`: (`nr_frames`, `max_nr_frames`).
    pub fn query_size(&self) -> (u32, u32) {
        (self.st.nr_frames, self.st.max_frames)
    }

    /// `GNTTABOP_get_version`.
    pub fn version(&self) -> u32 {
        self.st.version
    }

    /// Highest version the guest may select.
    pub fn max_version(&self) -> u32 {
        self.st.max_version
    }

    /// `GNTTABOP_set_version`, with Xen's rules. Returns the version now in effect (the
    /// caller writes it back to the guest's argument, also when this fails).
    ///
    /// - a version other than 1 or 2: [`Error::Version`] (-EINVAL); 2 on a table limited
    ///   to v1: [`Error::Version`] (-ENOSYS);
    /// - the current version: nothing happens;
    /// - an entry beyond the first [`GNTTAB_NR_RESERVED_ENTRIES`] in use (mapped or being
    ///   copied): [`Error::Busy`] (-EBUSY);
    /// - v2 to v1 with a reserved entry v1 cannot hold (transitive, frame above 2^32):
    ///   [`Error::Range`] (-ERANGE).
    ///
    /// Otherwise every mapped grant frame is cleared except the reserved entries, which
    /// are converted (their v2 status bits go into the v1 flags and back). Going to v2
    /// creates the status frames (one per 8 grant frames; a table without frames gets
    /// its first one, as Xen's always has one), unmapped until the guest maps them with
    /// `add_to_physmap`; going back to v1 removes them: their GFNs are cleared in guest
    /// memory and forgotten.
    pub fn set_version<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        version: u32,
    ) -> Result<u32> {
        if !(1..=2).contains(&version) || version > self.st.max_version {
            return Err(Error::Version(version));
        }
        let old = self.st.version;
        if version == old {
            return Ok(old);
        }
        if self.active.keys().any(|&g| g >= GNTTAB_NR_RESERVED_ENTRIES) {
            return Err(Error::Busy);
        }
        let n = GNTTAB_NR_RESERVED_ENTRIES.min(self.nr_entries());
        let mut reserved = Vec::with_capacity(n as usize);
        for gref in 0..n {
            let e = self.entry(mem, gref);
            let status = self.status(mem, gref).unwrap_or(0);
            reserved.push((e, status));
        }
        if old == 2 {
            for (e, _) in &reserved {
                match e.map(|e| (e.flags & GTF_TYPE_MASK, e.kind)) {
                    Some((
                        GTF_PERMIT_ACCESS,
                        GrantKind::Frame(f) | GrantKind::SubPage { frame: f, .. },
                    )) if f >> 32 != 0 => return Err(Error::Range),
                    Some((GTF_TRANSITIVE, _)) => return Err(Error::Range),
                    _ => {}
                }
            }
        }
        // Reserved entries in v1 form (v2 status bits folded into the flags).
        let v1: Vec<GrantEntryV1> = reserved
            .iter()
            .map(|(e, status)| match e {
                Some(e) if e.flags & GTF_TYPE_MASK == GTF_PERMIT_ACCESS => {
                    let frame = match e.kind {
                        GrantKind::Frame(f) | GrantKind::SubPage { frame: f, .. } => f as u32,
                        GrantKind::Transitive { .. } => 0,
                    };
                    GrantEntryV1 {
                        flags: if old == 2 { e.flags | *status } else { e.flags },
                        domid: e.domid,
                        frame,
                    }
                }
                Some(e) if old == 1 => GrantEntryV1 {
                    flags: e.flags,
                    domid: e.domid,
                    frame: match e.kind {
                        GrantKind::Frame(f) => f as u32,
                        _ => 0,
                    },
                },
                _ => GrantEntryV1::default(),
            })
            .collect();
        let zero = [0u8; PAGE_SIZE as usize];
        if old == 2 {
            for g in std::mem::take(&mut self.st.status_gfns)
                .into_iter()
                .flatten()
            {
                let _ = mem.write_slice(&zero, GuestAddress(g * PAGE_SIZE));
            }
        }
        for g in self.st.frame_gfns.iter().flatten() {
            let _ = mem.write_slice(&zero, GuestAddress(g * PAGE_SIZE));
        }
        self.st.version = version;
        if version == 2 {
            if self.st.nr_frames == 0 {
                self.grow(1);
            }
            self.st.status_gfns = vec![None; status_frames_for(self.st.nr_frames) as usize];
        }
        for (gref, e) in (0..n).zip(v1) {
            if version == 1 {
                if let Some(gpa) = self.entry_gpa(gref) {
                    let _ = mem.write_slice(&e.to_bytes(), GuestAddress(gpa));
                }
            } else {
                let v2 = GrantEntry {
                    flags: e.flags & !(GTF_READING | GTF_WRITING),
                    domid: e.domid,
                    kind: GrantKind::Frame(u64::from(e.frame)),
                };
                if let Some(gpa) = self.entry_gpa(gref) {
                    let _ = mem.write_slice(&v2.to_v2_bytes(), GuestAddress(gpa));
                }
                if let Some(gpa) = self.status_gpa(gref) {
                    let s = e.flags & (GTF_READING | GTF_WRITING);
                    let _ = mem.write_obj(s, GuestAddress(gpa));
                }
            }
        }
        debug!("grant table: version {old} -> {version}");
        Ok(version)
    }

    pub(crate) fn grow(&mut self, nr: u32) {
        if nr > self.st.nr_frames {
            debug!("grant table: growing to {nr} frames");
            self.st.nr_frames = nr;
            self.st.frame_gfns.resize(nr as usize, None);
            if self.st.version == 2 {
                self.st
                    .status_gfns
                    .resize(status_frames_for(nr) as usize, None);
            }
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

    /// `GNTTABOP_get_status_frames` for `nr_frames` frames: the GFN of each status frame
    /// (`None`: not mapped). More than the table has (all of them in v1) is
    /// [`Error::Invalid`]; Xen reports it as `GNTST_general_error`.
    pub fn status_frames(&self, nr_frames: u32) -> Result<Vec<Option<u64>>> {
        if nr_frames > self.nr_status_frames() {
            return Err(Error::Invalid("get_status_frames: too many frames"));
        }
        Ok(self.st.status_gfns[..nr_frames as usize].to_vec())
    }

    /// `XENMEM_add_to_physmap` with `XENMAPSPACE_grant_table`: puts frame `idx` at `gfn`,
    /// growing the table to `idx + 1` frames. In v2, an index with
    /// [`XENMAPIDX_GRANT_TABLE_STATUS`] names status frame `idx & !bit`: the table grows
    /// to the 8 grant frames per status frame it needs if `max_frames` allows, and the
    /// index must then be below the status frames it has.
    ///
    /// Errors (`-EINVAL`): an index beyond those limits (in v1 any index with the status
    /// bit, as in Xen), `gfn` beyond [`MAX_GFN`]. The returned [`Remap`] says what the
    /// core must change in the memory map; a frame of the table already at `gfn` is
    /// unmapped (Xen unhooks it).
    pub fn add_to_physmap(&mut self, idx: u64, gfn: u64) -> Result<Remap> {
        if gfn >= MAX_GFN {
            return Err(Error::Invalid("gfn out of range"));
        }
        let status = self.st.version == 2 && idx & XENMAPIDX_GRANT_TABLE_STATUS != 0;
        let frame = if status {
            let sidx = idx & !XENMAPIDX_GRANT_TABLE_STATUS;
            // Grant frames needed for status frame `sidx` to exist.
            let need = (sidx + 1).saturating_mul(u64::from(STATUS_PER_FRAME))
                / u64::from(ENTRIES_PER_FRAME_V2);
            if need <= u64::from(self.st.max_frames) {
                self.grow(need as u32);
            }
            if sidx >= u64::from(self.nr_status_frames()) {
                return Err(Error::Invalid("status frame index beyond the table"));
            }
            sidx as u32
        } else {
            if idx >= u64::from(self.st.max_frames) {
                return Err(Error::Invalid("frame index beyond max_frames"));
            }
            // idx < max_frames <= MAX_FRAMES_LIMIT.
            let f = idx as u32;
            self.grow(f + 1);
            f
        };
        let at = self.frame_at_gfn(gfn);
        let (displaced, displaced_status) = match at {
            Some(Frame::Grant(f)) if status || f != frame => {
                self.st.frame_gfns[f as usize] = None;
                (Some(f), None)
            }
            Some(Frame::Status(f)) if !status || f != frame => {
                self.st.status_gfns[f as usize] = None;
                (None, Some(f))
            }
            _ => (None, None),
        };
        let slot = if status {
            &mut self.st.status_gfns[frame as usize]
        } else {
            &mut self.st.frame_gfns[frame as usize]
        };
        let old = slot.replace(gfn);
        Ok(Remap {
            frame,
            status,
            gfn,
            old_gfn: old.filter(|&o| o != gfn),
            displaced,
            displaced_status,
        })
    }

    /// `XENMEM_remove_from_physmap` of `gfn`: if a frame of the table is mapped
    /// there it is unmapped and returned (the core removes the region).
    pub fn remove_gfn(&mut self, gfn: u64) -> Option<Frame> {
        let f = self.frame_at_gfn(gfn)?;
        match f {
            Frame::Grant(i) => self.st.frame_gfns[i as usize] = None,
            Frame::Status(i) => self.st.status_gfns[i as usize] = None,
        }
        Some(f)
    }

    /// The frame of the table (grant or status) mapped at `gfn`, if any.
    pub fn frame_at_gfn(&self, gfn: u64) -> Option<Frame> {
        let pos = |v: &[Option<u64>]| v.iter().position(|g| *g == Some(gfn)).map(|i| i as u32);
        pos(&self.st.frame_gfns)
            .map(Frame::Grant)
            .or_else(|| pos(&self.st.status_gfns).map(Frame::Status))
    }

    /// The GFNs where frames of the table (grant and status frames) are mapped.
    pub fn mapped_gfns(&self) -> impl Iterator<Item = u64> + '_ {
        self.st
            .frame_gfns
            .iter()
            .chain(&self.st.status_gfns)
            .flatten()
            .copied()
    }

    /// The grant frame mapped at `gfn`, if any.
    pub fn frame_at(&self, gfn: u64) -> Option<u32> {
        match self.frame_at_gfn(gfn) {
            Some(Frame::Grant(f)) => Some(f),
            _ => None,
        }
    }

    /// The GFN grant frame `frame` is mapped at, if any.
    pub fn gfn_of(&self, frame: u32) -> Option<u64> {
        self.st.frame_gfns.get(frame as usize).copied().flatten()
    }

    /// The GFN status frame `frame` is mapped at, if any (v2).
    pub fn status_gfn_of(&self, frame: u32) -> Option<u64> {
        self.st.status_gfns.get(frame as usize).copied().flatten()
    }

    /// Guest-physical address of entry `gref` (in the current version's layout), if the
    /// reference is in the table and its frame is mapped.
    pub fn entry_gpa(&self, gref: u32) -> Option<u64> {
        if gref >= self.nr_entries() {
            return None;
        }
        let (frame, off) = if self.st.version == 2 {
            locate_v2(gref)
        } else {
            locate(gref)
        };
        Some(self.gfn_of(frame)? * PAGE_SIZE + off)
    }

    /// Guest-physical address of the status of v2 entry `gref`, if its status frame is
    /// mapped (`None` in v1).
    pub fn status_gpa(&self, gref: u32) -> Option<u64> {
        if self.st.version != 2 || gref >= self.nr_entries() {
            return None;
        }
        let (frame, off) = locate_status(gref);
        Some(self.status_gfn_of(frame)? * PAGE_SIZE + off)
    }

    /// Reads v1 grant entry `gref` through the guest's mapping of its frame.
    /// `None` if the table is v2, the reference is beyond the frames in use, the frame is
    /// not mapped, or the memory cannot be read. See [`GrantTable::entry`] for both
    /// versions.
    pub fn read_entry<M: Bytes<GuestAddress> + ?Sized>(
        &self,
        mem: &M,
        gref: u32,
    ) -> Option<GrantEntryV1> {
        if self.st.version != 1 {
            return None;
        }
        let gpa = self.entry_gpa(gref)?;
        let mut b = [0u8; GRANT_ENTRY_V1_SIZE as usize];
        mem.read_slice(&mut b, GuestAddress(gpa)).ok()?;
        Some(GrantEntryV1::from_bytes(b))
    }

    /// Reads grant entry `gref` in the table's version. `None` as for
    /// [`GrantTable::read_entry`]. A v2 entry's status bits are in
    /// [`GrantTable::status`].
    pub fn entry<M: Bytes<GuestAddress> + ?Sized>(&self, mem: &M, gref: u32) -> Option<GrantEntry> {
        if self.st.version == 1 {
            return self.read_entry(mem, gref).map(GrantEntry::from);
        }
        let gpa = self.entry_gpa(gref)?;
        let mut b = [0u8; GRANT_ENTRY_V2_SIZE as usize];
        mem.read_slice(&mut b, GuestAddress(gpa)).ok()?;
        Some(GrantEntry::from_v2_bytes(b))
    }

    /// The status (`GTF_reading` / `GTF_writing`) of v2 entry `gref` from its status
    /// frame; `None` in v1 (the bits are in the entry's flags) or if the frame is not
    /// mapped.
    pub fn status<M: Bytes<GuestAddress> + ?Sized>(&self, mem: &M, gref: u32) -> Option<u16> {
        let gpa = self.status_gpa(gref)?;
        mem.read_obj::<u16>(GuestAddress(gpa)).ok()
    }
}
