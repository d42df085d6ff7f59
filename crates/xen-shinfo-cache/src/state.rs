// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Plain configuration state for snapshot / restore (no locks, no mappings).

use crate::layout::GuestWidth;

/// One vCPU's registered areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcpuPagesState {
    /// Registered `vcpu_info` (None: the slot in `shared_info`).
    pub vcpu_info_gpa: Option<u64>,
    /// Registered separate `vcpu_time_info`.
    pub time_info_gpa: Option<u64>,
    /// Registered runstate area.
    pub runstate_gpa: Option<u64>,
}

/// The configuration of a [`crate::XenPages`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PagesState {
    /// Guest width.
    pub width: GuestWidth,
    /// Whether runstate updates use `XEN_RUNSTATE_UPDATE`.
    pub runstate_update_flag: bool,
    /// Guest frame of `shared_info`.
    pub shared_info_gfn: Option<u64>,
    /// Per-vCPU areas, index = vCPU id.
    pub vcpus: Vec<VcpuPagesState>,
}
