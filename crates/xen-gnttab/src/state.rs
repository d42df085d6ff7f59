// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The plain state of the table, for snapshots (`state()` / `from_state()`).

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
