// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! PVH boot: `hvm_start_info`, module list and memory map entries
//! (`arch-x86/hvm/start_info.h`). Same layout for both widths.

/// `hvm_start_info.magic` value ("xEn3" with bit 7 of 'E' set).
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;
/// Memory map type: RAM.
pub const XEN_HVM_MEMMAP_TYPE_RAM: u32 = 1;
/// Memory map type: reserved.
pub const XEN_HVM_MEMMAP_TYPE_RESERVED: u32 = 2;
/// Memory map type: ACPI reclaimable.
pub const XEN_HVM_MEMMAP_TYPE_ACPI: u32 = 3;
/// Memory map type: ACPI NVS.
pub const XEN_HVM_MEMMAP_TYPE_NVS: u32 = 4;
/// Memory map type: unusable.
pub const XEN_HVM_MEMMAP_TYPE_UNUSABLE: u32 = 5;
/// Memory map type: disabled.
pub const XEN_HVM_MEMMAP_TYPE_DISABLED: u32 = 6;
/// Memory map type: persistent memory.
pub const XEN_HVM_MEMMAP_TYPE_PMEM: u32 = 7;

/// `start_info.flags` / `hvm_start_info.flags`: the domain is privileged.
pub const SIF_PRIVILEGED: u32 = 1 << 0;
/// Flags: the domain is the initial control domain.
pub const SIF_INITDOMAIN: u32 = 1 << 1;
/// Flags: `mod_start` is a multiboot module.
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
/// Flags: `mod_start` is a PFN.
pub const SIF_MOD_START_PFN: u32 = 1 << 3;
/// Flags: the tools understand a virtually mapped p2m list.
pub const SIF_VIRT_P2M_4TOOLS: u32 = 1 << 4;
/// Flags: byte reserved for power-management options.
pub const SIF_PM_MASK: u32 = 0xff << 8;

/// `struct hvm_start_info` (56 bytes). Pointed to by EBX at the PVH entry point.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmStartInfo {
    /// [`XEN_HVM_START_MAGIC_VALUE`].
    pub magic: u32,
    /// Structure version (1 includes the memory map fields).
    pub version: u32,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Number of modules.
    pub nr_modules: u32,
    /// GPA of an array of [`HvmModlistEntry`].
    pub modlist_paddr: u64,
    /// GPA of the NUL-terminated command line.
    pub cmdline_paddr: u64,
    /// GPA of the ACPI RSDP.
    pub rsdp_paddr: u64,
    /// GPA of an array of [`HvmMemmapTableEntry`] (version >= 1).
    pub memmap_paddr: u64,
    /// Number of memory map entries.
    pub memmap_entries: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// `struct hvm_modlist_entry` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmModlistEntry {
    /// GPA of the module.
    pub paddr: u64,
    /// Size in bytes.
    pub size: u64,
    /// GPA of the module's command line.
    pub cmdline_paddr: u64,
    /// Reserved.
    pub reserved: u64,
}

/// `struct hvm_memmap_table_entry` (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HvmMemmapTableEntry {
    /// Start address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// `XEN_HVM_MEMMAP_TYPE_*`.
    pub kind: u32,
    /// Must be zero.
    pub reserved: u32,
}
