// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `vcpu_op` sub-ops and argument structs (`vcpu.h`).

/// Initialise a vCPU (PV).
pub const VCPUOP_INITIALISE: u32 = 0;
/// Bring a vCPU up.
pub const VCPUOP_UP: u32 = 1;
/// Take a vCPU down.
pub const VCPUOP_DOWN: u32 = 2;
/// Query whether a vCPU is up.
pub const VCPUOP_IS_UP: u32 = 3;
/// Copy the runstate info out.
pub const VCPUOP_GET_RUNSTATE_INFO: u32 = 4;
/// Register a runstate area (guest address).
pub const VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA: u32 = 5;
/// Set a periodic timer.
pub const VCPUOP_SET_PERIODIC_TIMER: u32 = 6;
/// Stop the periodic timer.
pub const VCPUOP_STOP_PERIODIC_TIMER: u32 = 7;
/// Set a single-shot timer.
pub const VCPUOP_SET_SINGLESHOT_TIMER: u32 = 8;
/// Stop the single-shot timer.
pub const VCPUOP_STOP_SINGLESHOT_TIMER: u32 = 9;
/// Move `vcpu_info` out of `shared_info`.
pub const VCPUOP_REGISTER_VCPU_INFO: u32 = 10;
/// Send an NMI.
pub const VCPUOP_SEND_NMI: u32 = 11;
/// Get physical CPU id.
pub const VCPUOP_GET_PHYSID: u32 = 12;
/// Register a secondary `vcpu_time_info` area.
pub const VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA: u32 = 13;

/// Single-shot timer flag: fail with `-ETIME` if the timeout is already in the past.
pub const VCPU_SSHOTTMR_FUTURE: u32 = 1 << 0;

/// `struct vcpu_register_vcpu_info` (16 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRegisterVcpuInfo {
    /// Guest frame number of the page holding the `vcpu_info`.
    pub mfn: u64,
    /// Offset inside that page.
    pub offset: u32,
    /// Reserved. Xen ignores it (guests such as Linux 5.10 leave it uninitialised).
    pub rsvd: u32,
}

/// `struct vcpu_set_periodic_timer` (8 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSetPeriodicTimer {
    /// Period in ns.
    pub period_ns: u64,
}

/// `struct vcpu_set_singleshot_timer` of 64-bit guests (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSetSingleshotTimer64 {
    /// Absolute system time (ns) of expiry.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
    /// Tail padding.
    pub pad: u32,
}

/// `struct vcpu_set_singleshot_timer` of 32-bit guests (12 bytes).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuSetSingleshotTimer32 {
    /// Absolute system time (ns) of expiry.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
}

/// `struct vcpu_register_runstate_memory_area` (8 bytes, both widths).
///
/// A union of a guest handle and a `uint64_t`. 32-bit guests often fill only the low 4 bytes
/// (the handle), so only `addr as u32` is meaningful for them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRegisterRunstateMemoryArea {
    /// Guest address of the area.
    pub addr: u64,
}

/// `struct vcpu_register_time_memory_area` (8 bytes, both widths; same union caveat as
/// [`VcpuRegisterRunstateMemoryArea`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRegisterTimeMemoryArea {
    /// Guest address of the area.
    pub addr: u64,
}
