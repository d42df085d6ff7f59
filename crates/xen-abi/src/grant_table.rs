//! `grant_table_op` sub-ops and structs (`grant_table.h`), v1 grant entries.

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
