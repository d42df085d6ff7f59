// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Guest width and the byte offsets of the Xen structures this crate touches.
//!
//! The numbers follow the Xen public headers for x86_64 and x86_32 guests (the 32-bit
//! layouts are the "compat" ones: `xen_ulong_t` is 4 bytes and `u64` is only 4-byte aligned,
//! which moves fields of `vcpu_runstate_info`). The integration tests cross-check them
//! against the `#[repr(C)]` types of `xen-abi`.

/// Size of a guest page.
pub const PAGE_SIZE: u64 = 4096;
/// Number of `vcpu_info` slots inside `shared_info` (`XEN_LEGACY_MAX_VCPUS`).
pub const LEGACY_MAX_VCPUS: u32 = 32;
/// Size of `struct vcpu_info` (both widths).
pub const VCPU_INFO_SIZE: u64 = 64;
/// Size of `struct vcpu_time_info` (both widths).
pub const VCPU_TIME_INFO_SIZE: u64 = 32;
/// Offset of `evtchn_upcall_pending` in `vcpu_info`.
pub const VCPU_INFO_UPCALL_PENDING: usize = 0;
/// Offset of `evtchn_upcall_mask` in `vcpu_info`.
pub const VCPU_INFO_UPCALL_MASK: usize = 1;
/// Offset of `time` (a `vcpu_time_info`) in `vcpu_info` (both widths).
pub const VCPU_INFO_TIME: usize = 32;
/// The `XEN_RUNSTATE_UPDATE` flag in `state_entry_time`.
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// Offsets inside `vcpu_time_info` (identical for both widths).
pub mod time_info {
    /// `version`.
    pub const VERSION: usize = 0;
    /// `tsc_timestamp`.
    pub const TSC_TIMESTAMP: usize = 8;
    /// `system_time`.
    pub const SYSTEM_TIME: usize = 16;
    /// `tsc_to_system_mul`.
    pub const TSC_TO_SYSTEM_MUL: usize = 24;
    /// `tsc_shift`.
    pub const TSC_SHIFT: usize = 28;
    /// `flags`.
    pub const FLAGS: usize = 29;
}

pub use xen_abi::GuestWidth;

/// Structure layouts per guest width (implemented for [`xen_abi::GuestWidth`]).
pub trait WidthLayout: Copy {
    /// Bytes in a guest `xen_ulong_t`.
    fn long_bytes(self) -> usize;
    /// Bits in a guest `xen_ulong_t` (bits per `evtchn_pending_sel` / pending word).
    fn long_bits(self) -> u32;
    /// Number of 2-level event channels: 4096 for 64-bit guests, 1024 for 32-bit guests.
    fn nr_2l_ports(self) -> u32;
    /// Offset of `evtchn_pending[]` in `shared_info`.
    fn shinfo_evtchn_pending(self) -> usize;
    /// Offset of `evtchn_mask[]` in `shared_info`.
    fn shinfo_evtchn_mask(self) -> usize;
    /// Offset of `wc_version` in `shared_info`.
    fn shinfo_wc_version(self) -> usize;
    /// Offset of `wc_sec` in `shared_info`.
    fn shinfo_wc_sec(self) -> usize;
    /// Offset of `wc_nsec` in `shared_info`.
    fn shinfo_wc_nsec(self) -> usize;
    /// Offset of `wc_sec_hi` (64-bit: right after `wc_nsec`; 32-bit: `arch.wc_sec_hi`).
    fn shinfo_wc_sec_hi(self) -> usize;
    /// Size of `shared_info`.
    fn shinfo_size(self) -> usize;
    /// Offset of `evtchn_pending_sel` in `vcpu_info`.
    fn vcpu_info_pending_sel(self) -> usize;
    /// Alignment a registered `vcpu_info` must have.
    fn vcpu_info_align(self) -> u64;
    /// Offset of `state_entry_time` in `vcpu_runstate_info`.
    fn runstate_entry_time(self) -> usize;
    /// Offset of `time[4]` in `vcpu_runstate_info`.
    fn runstate_time(self) -> usize;
    /// Size of `vcpu_runstate_info`: 48 (64-bit) or 44 (32-bit).
    fn runstate_size(self) -> usize;
}

impl WidthLayout for GuestWidth {
    fn long_bytes(self) -> usize {
        match self {
            GuestWidth::Bits64 => 8,
            GuestWidth::Bits32 => 4,
        }
    }

    fn long_bits(self) -> u32 {
        (self.long_bytes() * 8) as u32
    }

    fn nr_2l_ports(self) -> u32 {
        self.long_bits() * self.long_bits()
    }

    fn shinfo_evtchn_pending(self) -> usize {
        2048
    }

    fn shinfo_evtchn_mask(self) -> usize {
        2048 + self.long_bits() as usize * self.long_bytes()
    }

    fn shinfo_wc_version(self) -> usize {
        2048 + 2 * self.long_bits() as usize * self.long_bytes()
    }

    fn shinfo_wc_sec(self) -> usize {
        self.shinfo_wc_version() + 4
    }

    fn shinfo_wc_nsec(self) -> usize {
        self.shinfo_wc_version() + 8
    }

    fn shinfo_wc_sec_hi(self) -> usize {
        match self {
            GuestWidth::Bits64 => 3084,
            GuestWidth::Bits32 => 2340,
        }
    }

    fn shinfo_size(self) -> usize {
        match self {
            GuestWidth::Bits64 => 3136,
            GuestWidth::Bits32 => 2344,
        }
    }

    fn vcpu_info_pending_sel(self) -> usize {
        self.long_bytes()
    }

    fn vcpu_info_align(self) -> u64 {
        self.long_bytes() as u64
    }

    fn runstate_entry_time(self) -> usize {
        match self {
            GuestWidth::Bits64 => 8,
            GuestWidth::Bits32 => 4,
        }
    }

    fn runstate_time(self) -> usize {
        self.runstate_entry_time() + 8
    }

    fn runstate_size(self) -> usize {
        self.runstate_time() + 32
    }
}
