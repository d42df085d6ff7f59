// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `shared_info`, `vcpu_info`, `vcpu_time_info`, `vcpu_runstate_info` and their x86 arch parts,
//! for 64-bit guests (`*64`) and 32-bit guests (`*32`).
//!
//! The 32-bit layouts follow the i386 System V ABI (`uint64_t` is 4-byte aligned, `unsigned long`
//! is 4 bytes), so they differ from the 64-bit ones in size and offsets.

/// `XEN_LEGACY_MAX_VCPUS`: number of `vcpu_info` slots inside `shared_info`.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;
/// `NR_EVENT_CHANNELS` of the 2-level ABI for 64-bit guests (64 * 64).
pub const NR_EVENT_CHANNELS_64: u32 = 4096;
/// `NR_EVENT_CHANNELS` of the 2-level ABI for 32-bit guests (32 * 32).
pub const NR_EVENT_CHANNELS_32: u32 = 1024;

/// `vcpu_time_info.flags`: the TSC is stable across vCPUs.
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// `vcpu_time_info.flags`: guest vDSO may use this clock.
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// Runstate: running on a physical CPU.
pub const RUNSTATE_RUNNING: u32 = 0;
/// Runstate: runnable, waiting for a physical CPU.
pub const RUNSTATE_RUNNABLE: u32 = 1;
/// Runstate: blocked (waiting for an event).
pub const RUNSTATE_BLOCKED: u32 = 2;
/// Runstate: offline / preempted out of the scheduler.
pub const RUNSTATE_OFFLINE: u32 = 3;
/// Bit set in `state_entry_time` while the hypervisor updates the runstate area (if the guest
/// enabled `VMASST_TYPE_runstate_update_flag`).
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// `struct vcpu_time_info` (same layout for both guest widths, 32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuTimeInfo {
    /// Odd while an update is in progress (seqlock).
    pub version: u32,
    /// Padding.
    pub pad0: u32,
    /// TSC at the last update of `system_time`.
    pub tsc_timestamp: u64,
    /// Nanoseconds since boot at `tsc_timestamp`.
    pub system_time: u64,
    /// TSC-to-ns multiplier (32.32 fixed point, after `tsc_shift`).
    pub tsc_to_system_mul: u32,
    /// Shift applied to the TSC delta before multiplying.
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: u8,
    /// Padding.
    pub pad1: [u8; 2],
}

/// `struct arch_vcpu_info` of 64-bit guests (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchVcpuInfo64 {
    /// Page-fault address (PV only).
    pub cr2: u64,
    /// Padding.
    pub pad: u64,
}

/// `struct arch_vcpu_info` of 32-bit guests (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchVcpuInfo32 {
    /// Page-fault address (PV only).
    pub cr2: u32,
    /// Padding.
    pub pad: [u32; 5],
}

/// `struct vcpu_info` of 64-bit guests (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuInfo64 {
    /// Non-zero when an upcall is pending.
    pub evtchn_upcall_pending: u8,
    /// Non-zero masks upcalls (PV only; HVM guests use RFLAGS.IF).
    pub evtchn_upcall_mask: u8,
    /// Padding.
    pub pad0: [u8; 6],
    /// Selector: bit `i` set when word `i` of `evtchn_pending` may have bits set.
    pub evtchn_pending_sel: u64,
    /// Arch part.
    pub arch: ArchVcpuInfo64,
    /// Per-vCPU time.
    pub time: VcpuTimeInfo,
}

/// `struct vcpu_info` of 32-bit guests (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuInfo32 {
    /// Non-zero when an upcall is pending.
    pub evtchn_upcall_pending: u8,
    /// Non-zero masks upcalls.
    pub evtchn_upcall_mask: u8,
    /// Padding.
    pub pad0: [u8; 2],
    /// Selector: bit `i` set when word `i` of `evtchn_pending` may have bits set.
    pub evtchn_pending_sel: u32,
    /// Arch part.
    pub arch: ArchVcpuInfo32,
    /// Per-vCPU time.
    pub time: VcpuTimeInfo,
}

/// `struct arch_shared_info` of 64-bit guests (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchSharedInfo64 {
    /// Max PFN (PV).
    pub max_pfn: u64,
    /// Frame list list (PV).
    pub pfn_to_mfn_frame_list_list: u64,
    /// NMI reason bits.
    pub nmi_reason: u64,
    /// p2m CR3 (PV).
    pub p2m_cr3: u64,
    /// p2m virtual address (PV).
    pub p2m_vaddr: u64,
    /// p2m generation count (PV).
    pub p2m_generation: u64,
}

/// `struct arch_shared_info` of 32-bit guests (28 bytes; `wc_sec_hi` lives here on i386).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchSharedInfo32 {
    /// Max PFN (PV).
    pub max_pfn: u32,
    /// Frame list list (PV).
    pub pfn_to_mfn_frame_list_list: u32,
    /// NMI reason bits.
    pub nmi_reason: u32,
    /// p2m CR3 (PV).
    pub p2m_cr3: u32,
    /// p2m virtual address (PV).
    pub p2m_vaddr: u32,
    /// p2m generation count (PV).
    pub p2m_generation: u32,
    /// Upper 32 bits of the wallclock seconds.
    pub wc_sec_hi: u32,
}

/// `struct shared_info` of 64-bit guests (3136 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedInfo64 {
    /// Legacy per-vCPU info for vCPUs 0..32.
    pub vcpu_info: [VcpuInfo64; XEN_LEGACY_MAX_VCPUS],
    /// 2-level pending bitmap (4096 ports).
    pub evtchn_pending: [u64; 64],
    /// 2-level mask bitmap.
    pub evtchn_mask: [u64; 64],
    /// Wallclock version (seqlock).
    pub wc_version: u32,
    /// Wallclock seconds at system time 0 (low 32 bits).
    pub wc_sec: u32,
    /// Wallclock nanoseconds.
    pub wc_nsec: u32,
    /// Wallclock seconds, high 32 bits.
    pub wc_sec_hi: u32,
    /// Arch part.
    pub arch: ArchSharedInfo64,
}

impl Default for SharedInfo64 {
    fn default() -> Self {
        Self {
            vcpu_info: Default::default(),
            evtchn_pending: [0; 64],
            evtchn_mask: [0; 64],
            wc_version: 0,
            wc_sec: 0,
            wc_nsec: 0,
            wc_sec_hi: 0,
            arch: Default::default(),
        }
    }
}

/// `struct shared_info` of 32-bit guests (2344 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedInfo32 {
    /// Legacy per-vCPU info for vCPUs 0..32.
    pub vcpu_info: [VcpuInfo32; XEN_LEGACY_MAX_VCPUS],
    /// 2-level pending bitmap (1024 ports).
    pub evtchn_pending: [u32; 32],
    /// 2-level mask bitmap.
    pub evtchn_mask: [u32; 32],
    /// Wallclock version (seqlock).
    pub wc_version: u32,
    /// Wallclock seconds at system time 0 (low 32 bits; high bits in `arch.wc_sec_hi`).
    pub wc_sec: u32,
    /// Wallclock nanoseconds.
    pub wc_nsec: u32,
    /// Arch part.
    pub arch: ArchSharedInfo32,
}

/// `struct vcpu_runstate_info` of 64-bit guests (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRunstateInfo64 {
    /// `RUNSTATE_*`.
    pub state: u32,
    /// Padding.
    pub pad0: u32,
    /// System time (ns) of entry into `state`; may carry [`XEN_RUNSTATE_UPDATE`].
    pub state_entry_time: u64,
    /// Cumulative ns spent in each `RUNSTATE_*`.
    pub time: [u64; 4],
}

/// `struct vcpu_runstate_info` of 32-bit guests (44 bytes, 64-bit fields 4-byte aligned).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuRunstateInfo32 {
    /// `RUNSTATE_*`.
    pub state: u32,
    /// System time (ns) of entry into `state`; may carry [`XEN_RUNSTATE_UPDATE`].
    pub state_entry_time: u64,
    /// Cumulative ns spent in each `RUNSTATE_*`.
    pub time: [u64; 4],
}

/// Offset of `vcpu_info` slot `n` inside the 64-bit `shared_info`.
pub const fn shared_info64_vcpu_info_offset(n: usize) -> usize {
    n * core::mem::size_of::<VcpuInfo64>()
}

/// Offset of `vcpu_info` slot `n` inside the 32-bit `shared_info`.
pub const fn shared_info32_vcpu_info_offset(n: usize) -> usize {
    n * core::mem::size_of::<VcpuInfo32>()
}
