// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `xen_version` sub-ops, their fixed-size result buffers and `XENFEAT_*` bits
//! (`version.h`, `features.h`).

/// Returns `major << 16 | minor` in the result register (no argument).
pub const XENVER_VERSION: u32 = 0;
/// Writes a 16-byte [`XenExtraversion`].
pub const XENVER_EXTRAVERSION: u32 = 1;
/// Writes a 144-byte [`XenCompileInfo`].
pub const XENVER_COMPILE_INFO: u32 = 2;
/// Writes a 1024-byte [`XenCapabilitiesInfo`].
pub const XENVER_CAPABILITIES: u32 = 3;
/// Writes a 64-byte [`XenChangesetInfo`].
pub const XENVER_CHANGESET: u32 = 4;
/// Platform parameters (virt start).
pub const XENVER_PLATFORM_PARAMETERS: u32 = 5;
/// Reads/writes a [`XenFeatureInfo`].
pub const XENVER_GET_FEATURES: u32 = 6;
/// Returns the page size in the result register.
pub const XENVER_PAGESIZE: u32 = 7;
/// Guest handle.
pub const XENVER_GUEST_HANDLE: u32 = 8;
/// Command line.
pub const XENVER_COMMANDLINE: u32 = 9;
/// Build id.
pub const XENVER_BUILD_ID: u32 = 10;

/// Length of the extraversion string buffer.
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// Length of the capabilities string buffer.
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;
/// Length of the changeset string buffer.
pub const XEN_CHANGESET_INFO_LEN: usize = 64;

/// Length of the command line buffer (`xen_commandline_t`).
pub const XEN_COMMANDLINE_LEN: usize = 1024;
/// Length of the domain handle (`xen_domain_handle_t`, a UUID).
pub const XEN_DOMAIN_HANDLE_LEN: usize = 16;

/// `xen_commandline_t`: Xen's NUL-terminated command line (`XENVER_commandline`).
pub type XenCommandline = [u8; XEN_COMMANDLINE_LEN];
/// `xen_domain_handle_t`: the domain's UUID (`XENVER_guest_handle`).
pub type XenDomainHandle = [u8; XEN_DOMAIN_HANDLE_LEN];

/// `xen_extraversion_t`: NUL-terminated string (e.g. ".0").
pub type XenExtraversion = [u8; XEN_EXTRAVERSION_LEN];
/// `xen_capabilities_info_t`: NUL-terminated string (e.g. "hvm-3.0-x86_64 hvm-3.0-x86_32").
pub type XenCapabilitiesInfo = [u8; XEN_CAPABILITIES_INFO_LEN];
/// `xen_changeset_info_t`: NUL-terminated string.
pub type XenChangesetInfo = [u8; XEN_CHANGESET_INFO_LEN];

/// `struct xen_compile_info` (144 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenCompileInfo {
    /// Compiler string.
    pub compiler: [u8; 64],
    /// Built by.
    pub compile_by: [u8; 16],
    /// Build domain.
    pub compile_domain: [u8; 32],
    /// Build date.
    pub compile_date: [u8; 32],
}

impl Default for XenCompileInfo {
    fn default() -> Self {
        Self {
            compiler: [0; 64],
            compile_by: [0; 16],
            compile_domain: [0; 32],
            compile_date: [0; 32],
        }
    }
}

/// `struct xen_platform_parameters` of 64-bit guests (8 bytes, `XENVER_platform_parameters`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenPlatformParameters64 {
    /// Start of the hypervisor's virtual address range.
    pub virt_start: u64,
}

/// `struct xen_platform_parameters` of 32-bit guests (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenPlatformParameters32 {
    /// Start of the hypervisor's virtual address range.
    pub virt_start: u32,
}

/// Header of `struct xen_build_id` (4 bytes, `XENVER_build_id`): `len` bytes of build id
/// follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenBuildId {
    /// IN: size of the buffer after this header; OUT (as the result): bytes written.
    pub len: u32,
}

/// `struct xen_feature_info` (8 bytes). IN: `submap_idx`; OUT: `submap`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenFeatureInfo {
    /// Index of the 32-bit feature word.
    pub submap_idx: u32,
    /// Feature bits of that word.
    pub submap: u32,
}

/// Number of feature submaps (`XENFEAT_NR_SUBMAPS`).
pub const XENFEAT_NR_SUBMAPS: u32 = 1;
/// Feature: writable page tables (PV).
pub const XENFEAT_WRITABLE_PAGE_TABLES: u32 = 0;
/// Feature: writable descriptor tables (PV).
pub const XENFEAT_WRITABLE_DESCRIPTOR_TABLES: u32 = 1;
/// Feature: auto-translated physmap (always for HVM).
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
/// Feature: supervisor mode kernel.
pub const XENFEAT_SUPERVISOR_MODE_KERNEL: u32 = 3;
/// Feature: PAE page directories above 4 GiB.
pub const XENFEAT_PAE_PGDIR_ABOVE_4GB: u32 = 4;
/// Feature: mmu_update preserves A/D bits.
pub const XENFEAT_MMU_PT_UPDATE_PRESERVE_AD: u32 = 5;
/// Feature: highmem assist.
pub const XENFEAT_HIGHMEM_ASSIST: u32 = 6;
/// Feature: grant map available bits.
pub const XENFEAT_GNTTAB_MAP_AVAIL_BITS: u32 = 7;
/// Feature: HVM callback via direct vector (`HVM_PARAM_CALLBACK_TYPE_VECTOR`).
pub const XENFEAT_HVM_CALLBACK_VECTOR: u32 = 8;
/// Feature: safe PV clock for HVM.
pub const XENFEAT_HVM_SAFE_PVCLOCK: u32 = 9;
/// Feature: HVM PIRQs.
pub const XENFEAT_HVM_PIRQS: u32 = 10;
/// Feature: domain is dom0.
pub const XENFEAT_DOM0: u32 = 11;
/// Feature: identity grant map.
pub const XENFEAT_GRANT_MAP_IDENTITY: u32 = 12;
/// Feature: vNUMA memory_op supported.
pub const XENFEAT_MEMORY_OP_VNODE_SUPPORTED: u32 = 13;
/// Feature: ARM SMCCC.
pub const XENFEAT_ARM_SMCCC_SUPPORTED: u32 = 14;
/// Feature: Linux RSDP unrestricted.
pub const XENFEAT_LINUX_RSDP_UNRESTRICTED: u32 = 15;
/// Feature: not direct mapped.
pub const XENFEAT_NOT_DIRECT_MAPPED: u32 = 16;
/// Feature: direct mapped.
pub const XENFEAT_DIRECT_MAPPED: u32 = 17;

/// `HYPERVISOR_VIRT_START` of the x86_64 ABI: where Xen's virtual address range starts.
/// Xen 4.17 reports it in `XENVER_platform_parameters` to every 64-bit caller; 32-bit HVM
/// callers get 0 (their domain has no compat range).
pub const HYPERVISOR_VIRT_START_64: u64 = 0xffff_8000_0000_0000;
