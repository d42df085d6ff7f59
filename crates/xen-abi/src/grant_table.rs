// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `grant_table_op` sub-ops and structs (`grant_table.h`), v1 and v2 grant entries.

/// Map a grant reference.
pub const GNTTABOP_MAP_GRANT_REF: u32 = 0;
/// Unmap a grant reference.
pub const GNTTABOP_UNMAP_GRANT_REF: u32 = 1;
/// Set up the grant table and get its frame list.
pub const GNTTABOP_SETUP_TABLE: u32 = 2;
/// Dump the table.
pub const GNTTABOP_DUMP_TABLE: u32 = 3;
/// Transfer.
pub const GNTTABOP_TRANSFER: u32 = 4;
/// Copy.
pub const GNTTABOP_COPY: u32 = 5;
/// Query current / maximum table size.
pub const GNTTABOP_QUERY_SIZE: u32 = 6;
/// Unmap and replace.
pub const GNTTABOP_UNMAP_AND_REPLACE: u32 = 7;
/// Set the grant table version.
pub const GNTTABOP_SET_VERSION: u32 = 8;
/// Get status frames (v2).
pub const GNTTABOP_GET_STATUS_FRAMES: u32 = 9;
/// Get the grant table version.
pub const GNTTABOP_GET_VERSION: u32 = 10;
/// Swap the contents of two grant entries.
pub const GNTTABOP_SWAP_GRANT_REF: u32 = 11;
/// Flush the caches of granted pages (Arm).
pub const GNTTABOP_CACHE_FLUSH: u32 = 12;

/// Grant status: normal return.
pub const GNTST_OKAY: i16 = 0;
/// Grant status: general undefined error.
pub const GNTST_GENERAL_ERROR: i16 = -1;
/// Grant status: unrecognised domain id.
pub const GNTST_BAD_DOMAIN: i16 = -2;
/// Grant status: unrecognised or inappropriate grant reference.
pub const GNTST_BAD_GNTREF: i16 = -3;
/// Grant status: unrecognised or inappropriate handle.
pub const GNTST_BAD_HANDLE: i16 = -4;
/// Grant status: inappropriate virtual address to map.
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
/// Grant status: inappropriate device address to unmap.
pub const GNTST_BAD_DEV_ADDR: i16 = -6;
/// Grant status: out of space in the I/O MMU.
pub const GNTST_NO_DEVICE_SPACE: i16 = -7;
/// Grant status: not enough privilege for the operation.
pub const GNTST_PERMISSION_DENIED: i16 = -8;
/// Grant status: the page was invalid for the operation.
pub const GNTST_BAD_PAGE: i16 = -9;
/// Grant status: copy arguments cross a page boundary.
pub const GNTST_BAD_COPY_ARG: i16 = -10;
/// Grant status: transfer page address too large.
pub const GNTST_ADDRESS_TOO_BIG: i16 = -11;
/// Grant status: operation not done; try again.
pub const GNTST_EAGAIN: i16 = -12;
/// Grant status: out of space (handles etc.).
pub const GNTST_NO_SPACE: i16 = -13;

/// Grant entry flags: invalid.
pub const GTF_INVALID: u16 = 0;
/// Grant entry flags: permit access.
pub const GTF_PERMIT_ACCESS: u16 = 1;
/// Grant entry flags: accept transfer.
pub const GTF_ACCEPT_TRANSFER: u16 = 2;
/// Grant entry flags: transitive.
pub const GTF_TRANSITIVE: u16 = 3;
/// Grant entry flags: type mask.
pub const GTF_TYPE_MASK: u16 = 3;
/// Grant entry flags: read-only.
pub const GTF_READONLY: u16 = 1 << 2;
/// Grant entry flags: being read.
pub const GTF_READING: u16 = 1 << 3;
/// Grant entry flags: being written.
pub const GTF_WRITING: u16 = 1 << 4;
/// Grant entry flags (x86): write-through cache attribute for mappings of the grant.
pub const GTF_PWT: u16 = 1 << 5;
/// Grant entry flags (x86): cache-disable attribute for mappings of the grant.
pub const GTF_PCD: u16 = 1 << 6;
/// Grant entry flags (x86): PAT cache attribute for mappings of the grant.
pub const GTF_PAT: u16 = 1 << 7;
/// Grant entry flags (v2): only `[page_off, page_off + length)` of the frame is granted,
/// for copies (no mapping).
pub const GTF_SUB_PAGE: u16 = 1 << 8;
/// Grant entry flags of `GTF_accept_transfer`: Xen committed to the transfer.
pub const GTF_TRANSFER_COMMITTED: u16 = 1 << 2;
/// Grant entry flags of `GTF_accept_transfer`: the transfer is complete.
pub const GTF_TRANSFER_COMPLETED: u16 = 1 << 3;

/// Entries `0..GNTTAB_NR_RESERVED_ENTRIES` are the toolstack's (console, xenstore); they
/// survive a grant table version change.
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// Reserved entry of the PV console ring.
pub const GNTTAB_RESERVED_CONSOLE: u32 = 0;
/// Reserved entry of the xenstore ring.
pub const GNTTAB_RESERVED_XENSTORE: u32 = 1;

/// `GNTTABOP_map_grant_ref` flag: map for device (DMA) access.
pub const GNTMAP_DEVICE_MAP: u32 = 1 << 0;
/// `GNTTABOP_map_grant_ref` flag: map at `host_addr` (for HVM guests a guest-physical
/// address).
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
/// `GNTTABOP_map_grant_ref` flag: read-only mapping.
pub const GNTMAP_READONLY: u32 = 1 << 2;
/// `GNTTABOP_map_grant_ref` flag: the mapping is for user space (PV).
pub const GNTMAP_APPLICATION_MAP: u32 = 1 << 3;
/// `GNTTABOP_map_grant_ref` flag: `host_addr` is the address of a PTE (PV).
pub const GNTMAP_CONTAINS_PTE: u32 = 1 << 4;

/// `GNTTABOP_copy` flag: the source is a grant reference (else a frame of the caller).
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
/// `GNTTABOP_copy` flag: the destination is a grant reference (else a frame of the caller).
pub const GNTCOPY_DEST_GREF: u16 = 1 << 1;

/// `struct grant_entry_v1` (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV1 {
    /// `GTF_*`.
    pub flags: u16,
    /// Domain granted access.
    pub domid: u16,
    /// Frame.
    pub frame: u32,
}

/// v1 grant entries per 4 KiB frame.
pub const GRANT_ENTRIES_V1_PER_FRAME: u32 = 4096 / 8;

/// `struct grant_entry_header` (4 bytes): the prefix v1 and v2 entries share.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryHeader {
    /// `GTF_*`.
    pub flags: u16,
    /// Domain granted access.
    pub domid: u16,
}

/// `union grant_entry_v2` seen as its `full_page` member (16 bytes): a whole frame
/// (`GTF_permit_access` without `GTF_sub_page`, or `GTF_accept_transfer`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV2FullPage {
    /// Header.
    pub hdr: GrantEntryHeader,
    /// Padding.
    pub pad0: u32,
    /// Frame.
    pub frame: u64,
}

/// `union grant_entry_v2` seen as its `sub_page` member (16 bytes): bytes
/// `[page_off, page_off + length)` of `frame` (`GTF_permit_access | GTF_sub_page`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV2SubPage {
    /// Header.
    pub hdr: GrantEntryHeader,
    /// First byte granted.
    pub page_off: u16,
    /// Bytes granted.
    pub length: u16,
    /// Frame.
    pub frame: u64,
}

/// `union grant_entry_v2` seen as its `transitive` member (16 bytes with the union's tail):
/// grant `gref` of domain `trans_domid`, passed on (`GTF_transitive`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV2Transitive {
    /// Header.
    pub hdr: GrantEntryHeader,
    /// Domain whose grant is passed on.
    pub trans_domid: u16,
    /// Padding.
    pub pad0: u16,
    /// Its grant reference.
    pub gref: u32,
    /// The rest of the 16-byte union.
    pub pad1: u32,
}

/// v2 grant entries (16 bytes) per 4 KiB frame.
pub const GRANT_ENTRIES_V2_PER_FRAME: u32 = 4096 / 16;
/// `grant_status_t`: a v2 entry's `GTF_reading` / `GTF_writing`, kept in status frames.
pub type GrantStatus = u16;
/// v2 status entries per 4 KiB status frame.
pub const GRANT_STATUS_PER_FRAME: u32 = 4096 / 2;

/// `struct gnttab_map_grant_ref` (32 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabMapGrantRef {
    /// IN: where to map (a guest-physical address for HVM guests).
    pub host_addr: u64,
    /// IN: `GNTMAP_*`.
    pub flags: u32,
    /// IN: grant reference.
    pub ref_: u32,
    /// IN: granting domain.
    pub dom: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT: handle for the unmap.
    pub handle: u32,
    /// OUT: bus address (device mappings).
    pub dev_bus_addr: u64,
}

/// `struct gnttab_unmap_grant_ref` (24 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabUnmapGrantRef {
    /// IN: the host mapping to remove (0: none).
    pub host_addr: u64,
    /// IN: the device mapping to remove (0: none).
    pub dev_bus_addr: u64,
    /// IN: handle of the mapping.
    pub handle: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Tail padding.
    pub pad: u16,
}

/// `struct gnttab_copy` of 64-bit guests (40 bytes; frames are `u64`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabCopy64 {
    /// IN: source grant reference or frame (`GNTCOPY_source_gref`).
    pub source_u: u64,
    /// IN: source domain.
    pub source_domid: u16,
    /// IN: offset in the source frame.
    pub source_offset: u16,
    /// Padding.
    pub pad0: u32,
    /// IN: destination grant reference or frame (`GNTCOPY_dest_gref`).
    pub dest_u: u64,
    /// IN: destination domain.
    pub dest_domid: u16,
    /// IN: offset in the destination frame.
    pub dest_offset: u16,
    /// Padding.
    pub pad1: u32,
    /// IN: bytes to copy.
    pub len: u16,
    /// IN: `GNTCOPY_*`.
    pub flags: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Tail padding.
    pub pad2: u16,
}

/// `struct gnttab_copy` of 32-bit guests (24 bytes; frames are `u32`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabCopy32 {
    /// IN: source grant reference or frame (`GNTCOPY_source_gref`).
    pub source_u: u32,
    /// IN: source domain.
    pub source_domid: u16,
    /// IN: offset in the source frame.
    pub source_offset: u16,
    /// IN: destination grant reference or frame (`GNTCOPY_dest_gref`).
    pub dest_u: u32,
    /// IN: destination domain.
    pub dest_domid: u16,
    /// IN: offset in the destination frame.
    pub dest_offset: u16,
    /// IN: bytes to copy.
    pub len: u16,
    /// IN: `GNTCOPY_*`.
    pub flags: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Tail padding.
    pub pad: u16,
}

/// `struct gnttab_get_status_frames` of 64-bit guests (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabGetStatusFrames64 {
    /// IN: frames wanted.
    pub nr_frames: u32,
    /// IN: domain.
    pub dom: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// IN: guest pointer to an array of `nr_frames` `u64` GFNs (OUT contents).
    pub frame_list: u64,
}

/// `struct gnttab_get_status_frames` of 32-bit guests (12 bytes; the list is still `u64`s).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabGetStatusFrames32 {
    /// IN: frames wanted.
    pub nr_frames: u32,
    /// IN: domain.
    pub dom: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// IN: guest pointer to an array of `nr_frames` `u64` GFNs (OUT contents).
    pub frame_list: u32,
}

/// `struct gnttab_swap_grant_ref` (12 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabSwapGrantRef {
    /// IN: first reference.
    pub ref_a: u32,
    /// IN: second reference.
    pub ref_b: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Tail padding.
    pub pad: u16,
}

/// `struct gnttab_setup_table` of 64-bit guests (24 bytes). Frame list entries are `u64`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabSetupTable64 {
    /// IN: domain.
    pub dom: u16,
    /// Padding.
    pub pad0: u16,
    /// IN: number of frames wanted.
    pub nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding.
    pub pad1: [u16; 3],
    /// IN: guest pointer to an array of `nr_frames` `u64` GFNs (OUT contents).
    pub frame_list: u64,
}

/// `struct gnttab_setup_table` of 32-bit guests (16 bytes). Frame list entries are `u32`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabSetupTable32 {
    /// IN: domain.
    pub dom: u16,
    /// Padding.
    pub pad0: u16,
    /// IN: number of frames wanted.
    pub nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding.
    pub pad1: u16,
    /// IN: guest pointer to an array of `nr_frames` `u32` GFNs (OUT contents).
    pub frame_list: u32,
}

/// `struct gnttab_query_size` (16 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabQuerySize {
    /// IN: domain.
    pub dom: u16,
    /// Padding.
    pub pad0: u16,
    /// OUT: current frames.
    pub nr_frames: u32,
    /// OUT: maximum frames.
    pub max_nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding.
    pub pad1: u16,
}

/// `struct gnttab_set_version` (4 bytes). IN/OUT: version.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabSetVersion {
    /// Requested version (IN), resulting version (OUT).
    pub version: u32,
}

/// `struct gnttab_get_version` (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GnttabGetVersion {
    /// IN: domain.
    pub dom: u16,
    /// Padding.
    pub pad: u16,
    /// OUT: version.
    pub version: u32,
}
