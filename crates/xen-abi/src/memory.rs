// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `memory_op` sub-ops and argument structs (`memory.h`), e820 entries.

/// Give extents back to the domain (`struct xen_memory_reservation`).
pub const XENMEM_INCREASE_RESERVATION: u32 = 0;
/// Release extents of the domain (balloon out; `struct xen_memory_reservation`).
pub const XENMEM_DECREASE_RESERVATION: u32 = 1;
/// Highest machine frame of the host (returned in RAX).
pub const XENMEM_MAXIMUM_RAM_PAGE: u32 = 2;
/// Current page count of a domain (argument: a `domid_t`; returned in RAX).
pub const XENMEM_CURRENT_RESERVATION: u32 = 3;
/// Maximum page count of a domain (argument: a `domid_t`; returned in RAX).
pub const XENMEM_MAXIMUM_RESERVATION: u32 = 4;
/// Machine-to-physical table frames (PV).
pub const XENMEM_MACHPHYS_MFN_LIST: u32 = 5;
/// Populate guest frames (`struct xen_memory_reservation`, extents are GFNs).
pub const XENMEM_POPULATE_PHYSMAP: u32 = 6;
/// Map a special page (shared_info, grant table frame...) at a GFN.
pub const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
/// Get the guest's e820 memory map.
pub const XENMEM_MEMORY_MAP: u32 = 9;
/// Machine memory map (dom0).
pub const XENMEM_MACHINE_MEMORY_MAP: u32 = 10;
/// Exchange extents (PV).
pub const XENMEM_EXCHANGE: u32 = 11;
/// Machine-to-physical mapping address (PV).
pub const XENMEM_MACHPHYS_MAPPING: u32 = 12;
/// Set a domain's memory map (toolstack).
pub const XENMEM_SET_MEMORY_MAP: u32 = 13;
/// Maximum GPFN of a domain (argument: a `domid_t`; returned in RAX).
pub const XENMEM_MAXIMUM_GPFN: u32 = 14;
/// Remove a page from the physmap (`struct xen_remove_from_physmap`).
pub const XENMEM_REMOVE_FROM_PHYSMAP: u32 = 15;
/// Set the populate-on-demand target (toolstack).
pub const XENMEM_SET_POD_TARGET: u32 = 16;
/// Get the populate-on-demand target (toolstack).
pub const XENMEM_GET_POD_TARGET: u32 = 17;
/// Sharing: freed pages.
pub const XENMEM_GET_SHARING_FREED_PAGES: u32 = 18;
/// Sharing: shared pages.
pub const XENMEM_GET_SHARING_SHARED_PAGES: u32 = 19;
/// Paging op (toolstack).
pub const XENMEM_PAGING_OP: u32 = 20;
/// Memory access op.
pub const XENMEM_ACCESS_OP: u32 = 21;
/// Sharing op.
pub const XENMEM_SHARING_OP: u32 = 22;
/// Batched add_to_physmap (`struct xen_add_to_physmap_batch`, per-entry errors).
pub const XENMEM_ADD_TO_PHYSMAP_BATCH: u32 = 23;
/// Claim pages (toolstack).
pub const XENMEM_CLAIM_PAGES: u32 = 24;
/// Compat machine-to-physical table frames (PV).
pub const XENMEM_MACHPHYS_COMPAT_MFN_LIST: u32 = 25;
/// vNUMA topology of the domain.
pub const XENMEM_GET_VNUMAINFO: u32 = 26;
/// Reserved device memory map.
pub const XENMEM_RESERVED_DEVICE_MEMORY_MAP: u32 = 27;
/// Acquire a resource's frames (device models).
pub const XENMEM_ACQUIRE_RESOURCE: u32 = 28;

/// `mem_flags`: populate-on-demand allocation.
pub const XENMEMF_POPULATE_ON_DEMAND: u32 = 1 << 16;
/// `mem_flags`: allocate on exactly the node given by `XENMEMF_node`.
pub const XENMEMF_EXACT_NODE_REQUEST: u32 = 1 << 17;
/// `mem_flags`: the node given is a virtual NUMA node.
pub const XENMEMF_VNODE: u32 = 1 << 18;
/// `mem_flags`: mask of the address-bits field (`XENMEMF_address_bits`).
pub const XENMEMF_ADDRESS_BITS_MASK: u32 = 0xff;

/// `struct xen_memory_reservation` of 64-bit guests (32 bytes): `increase_reservation`,
/// `decrease_reservation` and `populate_physmap`. OUT: the number of extents done, as the
/// hypercall's result.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryReservation64 {
    /// Guest pointer to an array of `nr_extents` `xen_pfn_t` (`u64`); may be NULL for
    /// `increase_reservation`.
    pub extent_start: u64,
    /// Number of extents.
    pub nr_extents: u64,
    /// Each extent is `2^extent_order` pages.
    pub extent_order: u32,
    /// `XENMEMF_*`.
    pub mem_flags: u32,
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// Tail padding.
    pub pad: [u16; 3],
}

/// `struct xen_memory_reservation` of 32-bit guests (20 bytes; `xen_pfn_t` is `u32`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryReservation32 {
    /// Guest pointer to an array of `nr_extents` `u32` frames.
    pub extent_start: u32,
    /// Number of extents.
    pub nr_extents: u32,
    /// Each extent is `2^extent_order` pages.
    pub extent_order: u32,
    /// `XENMEMF_*`.
    pub mem_flags: u32,
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// Tail padding.
    pub pad: u16,
}

/// `struct xen_memory_domain` (2 bytes): the argument of `XENMEM_current_reservation`,
/// `XENMEM_maximum_reservation` and `XENMEM_maximum_gpfn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenMemoryDomain {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
}

/// `struct xen_remove_from_physmap` of 64-bit guests (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenRemoveFromPhysmap64 {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// Padding.
    pub pad: [u16; 3],
    /// GFN to remove.
    pub gpfn: u64,
}

/// `struct xen_remove_from_physmap` of 32-bit guests (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenRemoveFromPhysmap32 {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// Padding.
    pub pad: u16,
    /// GFN to remove.
    pub gpfn: u32,
}

/// `struct xen_add_to_physmap_batch` of 64-bit guests (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenAddToPhysmapBatch64 {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// `XENMAPSPACE_*`.
    pub space: u16,
    /// Number of pages.
    pub size: u16,
    /// Union: `foreign_domid` for `XENMAPSPACE_gmfn_foreign`, else must be 0.
    pub u: u16,
    /// Guest pointer to `size` `xen_ulong_t` indexes.
    pub idxs: u64,
    /// Guest pointer to `size` `xen_pfn_t` GFNs.
    pub gpfns: u64,
    /// Guest pointer to `size` `int` per-entry results (OUT).
    pub errs: u64,
}

/// `struct xen_add_to_physmap_batch` of 32-bit guests (20 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenAddToPhysmapBatch32 {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// `XENMAPSPACE_*`.
    pub space: u16,
    /// Number of pages.
    pub size: u16,
    /// Union: `foreign_domid` for `XENMAPSPACE_gmfn_foreign`, else must be 0.
    pub u: u16,
    /// Guest pointer to `size` `u32` indexes.
    pub idxs: u32,
    /// Guest pointer to `size` `u32` GFNs.
    pub gpfns: u32,
    /// Guest pointer to `size` `int` per-entry results (OUT).
    pub errs: u32,
}

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
