// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `memory_op` sub-ops and argument structs (`memory.h`), e820 entries.

/// Populate physmap etc. (subset of XENMEM_* used by HVM guests.)
pub const XENMEM_INCREASE_RESERVATION: u32 = 0;
/// Decrease reservation (balloon).
pub const XENMEM_DECREASE_RESERVATION: u32 = 1;
/// Maximum RAM page.
pub const XENMEM_MAXIMUM_RAM_PAGE: u32 = 2;
/// Current reservation.
pub const XENMEM_CURRENT_RESERVATION: u32 = 3;
/// Maximum reservation.
pub const XENMEM_MAXIMUM_RESERVATION: u32 = 4;
/// Populate physmap.
pub const XENMEM_POPULATE_PHYSMAP: u32 = 6;
/// Map a special page (shared_info, grant table frame...) at a GFN.
pub const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
/// Get the guest's e820 memory map.
pub const XENMEM_MEMORY_MAP: u32 = 9;
/// Machine memory map (dom0).
pub const XENMEM_MACHINE_MEMORY_MAP: u32 = 10;
/// Maximum GPFN.
pub const XENMEM_MAXIMUM_GPFN: u32 = 14;
/// Remove from physmap.
pub const XENMEM_REMOVE_FROM_PHYSMAP: u32 = 15;
/// Batched add_to_physmap.
pub const XENMEM_ADD_TO_PHYSMAP_BATCH: u32 = 23;

/// Map space: the shared_info page (`idx` must be 0).
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
/// Map space: grant table frame `idx` (bit 31 of idx selects status frames, v2).
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;
/// Map space: a GMFN.
pub const XENMAPSPACE_GMFN: u32 = 2;
/// Map space: a GMFN range.
pub const XENMAPSPACE_GMFN_RANGE: u32 = 3;
/// Map space: a foreign GMFN.
pub const XENMAPSPACE_GMFN_FOREIGN: u32 = 4;
/// Map space: device MMIO.
pub const XENMAPSPACE_DEV_MMIO: u32 = 5;
/// `idx` flag of `XENMAPSPACE_GRANT_TABLE`: map a status frame.
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 1 << 31;

/// `struct xen_add_to_physmap` of 64-bit guests (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenAddToPhysmap64 {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// Number of pages for `XENMAPSPACE_GMFN_RANGE`.
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index into the space.
    pub idx: u64,
    /// GFN where the page is to appear.
    pub gpfn: u64,
}

/// `struct xen_add_to_physmap` of 32-bit guests (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenAddToPhysmap32 {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// Number of pages for `XENMAPSPACE_GMFN_RANGE`.
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index into the space.
    pub idx: u32,
    /// GFN where the page is to appear.
    pub gpfn: u32,
}

/// `struct xen_memory_map` of 64-bit guests (16 bytes).
///
/// IN: `nr_entries` = capacity of `buffer` (in e820 entries); OUT: entries written.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryMap64 {
    /// Entry count (in/out).
    pub nr_entries: u32,
    /// Padding.
    pub pad: u32,
    /// Guest pointer to an array of [`E820Entry`].
    pub buffer: u64,
}

/// `struct xen_memory_map` of 32-bit guests (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryMap32 {
    /// Entry count (in/out).
    pub nr_entries: u32,
    /// Guest pointer to an array of [`E820Entry`].
    pub buffer: u32,
}

/// e820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// e820 type: reserved.
pub const E820_RESERVED: u32 = 2;
/// e820 type: ACPI reclaimable.
pub const E820_ACPI: u32 = 3;
/// e820 type: ACPI NVS.
pub const E820_NVS: u32 = 4;
/// e820 type: unusable.
pub const E820_UNUSABLE: u32 = 5;

/// Packed e820 entry as returned by `XENMEM_memory_map` (20 bytes, both widths).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct E820Entry {
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// `E820_*` type.
    pub kind: u32,
}
