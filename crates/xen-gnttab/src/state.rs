// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The plain state of the table, for snapshots (`state()` / `from_state()`).

/// Snapshot state of the grant table bookkeeping.
///
/// Mappings a backend holds ([`GrantTable::map`](crate::GrantTable::map)) are not part of
/// it: a VMM takes a snapshot with no grant mapped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantTableState {
    /// Frames the table may grow to.
    pub max_frames: u32,
    /// Frames in use (`nr_frames` of `GNTTABOP_query_size`).
    pub nr_frames: u32,
    /// For each frame in use: the GFN it is mapped at, if any.
    pub frame_gfns: Vec<Option<u64>>,
    /// Grant table version (1 or 2).
    pub version: u32,
    /// Highest version the guest may select (1 or 2; 0 reads as 2, the default).
    pub max_version: u32,
    /// Version 2: for each status frame (one per 8 grant frames, rounded up), the GFN it
    /// is mapped at, if any. Empty in version 1.
    pub status_gfns: Vec<Option<u64>>,
}
