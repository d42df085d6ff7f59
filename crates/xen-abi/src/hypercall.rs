// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercall numbers (`__HYPERVISOR_*` in `xen.h`), the hypercall MSR and CPUID leaves.

/// `set_trap_table` (PV only).
pub const HYPERVISOR_SET_TRAP_TABLE: u64 = 0;
/// `mmu_update` (PV only).
pub const HYPERVISOR_MMU_UPDATE: u64 = 1;
/// `sched_op_compat`: the pre-3.1 scheduler op (argument is a plain value).
pub const HYPERVISOR_SCHED_OP_COMPAT: u64 = 6;
/// `platform_op` (dom0 only).
pub const HYPERVISOR_PLATFORM_OP: u64 = 7;
/// `memory_op`: `XENMEM_*` sub-ops.
pub const HYPERVISOR_MEMORY_OP: u64 = 12;
/// `multicall`.
pub const HYPERVISOR_MULTICALL: u64 = 13;
/// `set_timer_op`: one-shot timer at an absolute system time (ns).
pub const HYPERVISOR_SET_TIMER_OP: u64 = 15;
/// `event_channel_op_compat`: the pre-3.2 form taking a `struct evtchn_op`.
pub const HYPERVISOR_EVENT_CHANNEL_OP_COMPAT: u64 = 16;
/// `xen_version`: `XENVER_*` sub-ops.
pub const HYPERVISOR_XEN_VERSION: u64 = 17;
/// `console_io`: `CONSOLEIO_*` sub-ops.
pub const HYPERVISOR_CONSOLE_IO: u64 = 18;
/// `physdev_op_compat`.
pub const HYPERVISOR_PHYSDEV_OP_COMPAT: u64 = 19;
/// `grant_table_op`: `GNTTABOP_*` sub-ops.
pub const HYPERVISOR_GRANT_TABLE_OP: u64 = 20;
/// `vm_assist`: `(cmd, type)` with `VMASST_CMD_*` and `VMASST_TYPE_*`.
pub const HYPERVISOR_VM_ASSIST: u64 = 21;
/// `vm_assist` command: turn the assist on.
pub const VMASST_CMD_ENABLE: u32 = 0;
/// `vm_assist` command: turn the assist off.
pub const VMASST_CMD_DISABLE: u32 = 1;
/// `vm_assist` type: runstate updates set [`XEN_RUNSTATE_UPDATE`](crate::XEN_RUNSTATE_UPDATE)
/// in `state_entry_time` while the area is being written (the only type HVM guests may use).
pub const VMASST_TYPE_RUNSTATE_UPDATE_FLAG: u32 = 5;
/// `vcpu_op`: `VCPUOP_*` sub-ops.
pub const HYPERVISOR_VCPU_OP: u64 = 24;
/// `mmuext_op` (PV only).
pub const HYPERVISOR_MMUEXT_OP: u64 = 26;
/// `xsm_op`.
pub const HYPERVISOR_XSM_OP: u64 = 27;
/// `nmi_op`.
pub const HYPERVISOR_NMI_OP: u64 = 28;
/// `sched_op`: `SCHEDOP_*` sub-ops.
pub const HYPERVISOR_SCHED_OP: u64 = 29;
/// `callback_op`.
pub const HYPERVISOR_CALLBACK_OP: u64 = 30;
/// `xenoprof_op`.
pub const HYPERVISOR_XENOPROF_OP: u64 = 31;
/// `event_channel_op`: `EVTCHNOP_*` sub-ops.
pub const HYPERVISOR_EVENT_CHANNEL_OP: u64 = 32;
/// `physdev_op`.
pub const HYPERVISOR_PHYSDEV_OP: u64 = 33;
/// `hvm_op`: `HVMOP_*` sub-ops.
pub const HYPERVISOR_HVM_OP: u64 = 34;
/// `sysctl` (toolstack only).
pub const HYPERVISOR_SYSCTL: u64 = 35;
/// `domctl` (toolstack only).
pub const HYPERVISOR_DOMCTL: u64 = 36;
/// `kexec_op`.
pub const HYPERVISOR_KEXEC_OP: u64 = 37;
/// `argo_op`.
pub const HYPERVISOR_ARGO_OP: u64 = 39;
/// `xenpmu_op`.
pub const HYPERVISOR_XENPMU_OP: u64 = 40;
/// `dm_op`.
pub const HYPERVISOR_DM_OP: u64 = 41;
/// `hypfs_op`.
pub const HYPERVISOR_HYPFS_OP: u64 = 42;

/// Bytes per hypercall-page entry: entry `nr` starts at `nr * HYPERCALL_ENTRY_SIZE`.
pub const HYPERCALL_ENTRY_SIZE: usize = 32;
/// Size of the hypercall page (one 4 KiB page, 128 entries).
pub const HYPERCALL_PAGE_SIZE: usize = 4096;
/// Number of entries in the hypercall page.
pub const HYPERCALL_PAGE_ENTRIES: usize = HYPERCALL_PAGE_SIZE / HYPERCALL_ENTRY_SIZE;

/// MSR the guest writes the hypercall-page GPA to (as advertised in CPUID leaf base+2, EBX).
///
/// The written value is `gpa | page_index` (page index in the low 12 bits).
pub const XEN_HYPERCALL_MSR: u32 = 0x4000_0000;

/// First Xen CPUID leaf (may be moved to `+0x100` when Viridian leaves are present).
pub const XEN_CPUID_FIRST_LEAF: u32 = 0x4000_0000;
/// Offset of the signature leaf: EAX = largest Xen leaf, EBX/ECX/EDX = "XenVMMXenVMM".
pub const XEN_CPUID_LEAF_SIGNATURE: u32 = 0;
/// Offset of the version leaf: EAX = `major << 16 | minor`.
pub const XEN_CPUID_LEAF_VERSION: u32 = 1;
/// Offset of the hypercall leaf: EAX = number of hypercall pages, EBX = MSR base.
pub const XEN_CPUID_LEAF_HYPERCALL: u32 = 2;
/// Offset of the time leaf (TSC mode, frequency).
pub const XEN_CPUID_LEAF_TIME: u32 = 3;
/// Offset of the HVM feature leaf: EAX = `XEN_HVM_CPUID_*`, EBX = vCPU id, ECX = domid.
pub const XEN_CPUID_LEAF_HVM: u32 = 4;
/// Offset of the PV feature leaf.
pub const XEN_CPUID_LEAF_PV: u32 = 5;
/// Number of Xen CPUID leaves we describe (`XEN_CPUID_MAX_NUM_LEAVES`).
pub const XEN_CPUID_MAX_NUM_LEAVES: u32 = 5;
/// Signature EBX ("XenV").
pub const XEN_CPUID_SIGNATURE_EBX: u32 = 0x566e_6558;
/// Signature ECX ("MMXe").
pub const XEN_CPUID_SIGNATURE_ECX: u32 = 0x6558_4d4d;
/// Signature EDX ("nVMM").
pub const XEN_CPUID_SIGNATURE_EDX: u32 = 0x4d4d_566e;
/// HVM leaf EAX: virtualized APIC registers.
pub const XEN_HVM_CPUID_APIC_ACCESS_VIRT: u32 = 1 << 0;
/// HVM leaf EAX: virtualized x2APIC accesses.
pub const XEN_HVM_CPUID_X2APIC_VIRT: u32 = 1 << 1;
/// HVM leaf EAX: IOMMU mappings available.
pub const XEN_HVM_CPUID_IOMMU_MAPPINGS: u32 = 1 << 2;
/// HVM leaf EAX: EBX holds the vCPU id.
pub const XEN_HVM_CPUID_VCPU_ID_PRESENT: u32 = 1 << 3;
/// HVM leaf EAX: ECX holds the domain id.
pub const XEN_HVM_CPUID_DOMID_PRESENT: u32 = 1 << 4;
/// HVM leaf EAX: extended destination id in MSI addresses.
pub const XEN_HVM_CPUID_EXT_DEST_ID: u32 = 1 << 5;
/// HVM leaf EAX: per-vCPU upcall vector (`HVMOP_set_evtchn_upcall_vector`) supported.
pub const XEN_HVM_CPUID_UPCALL_VECTOR: u32 = 1 << 6;

/// ELF note type of the 32-bit PVH entry point (`XEN_ELFNOTE_PHYS32_ENTRY`).
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
/// ELF note type of the hypercall page virtual address (`XEN_ELFNOTE_HYPERCALL_PAGE`).
pub const XEN_ELFNOTE_HYPERCALL_PAGE: u32 = 2;
/// ELF note type of the supported-features bitmap (`XEN_ELFNOTE_SUPPORTED_FEATURES`).
pub const XEN_ELFNOTE_SUPPORTED_FEATURES: u32 = 17;
/// Owner name of Xen ELF notes (without the NUL).
pub const XEN_ELFNOTE_NAME: &[u8] = b"Xen";

/// `struct multicall_entry` of 64-bit guests (64 bytes): one call of `HYPERVISOR_multicall`.
///
/// Xen writes back only `result` (a `-errno` is stored as its two's complement).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MulticallEntry64 {
    /// Hypercall number (`HYPERVISOR_*`).
    pub op: u64,
    /// OUT: the call's return value.
    pub result: u64,
    /// Arguments, in the order of the hypercall's registers.
    pub args: [u64; 6],
}

/// `struct multicall_entry` of 32-bit guests (32 bytes; `compat_multicall_entry` in Xen).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MulticallEntry32 {
    /// Hypercall number (`HYPERVISOR_*`).
    pub op: u32,
    /// OUT: the call's return value (a `-errno` as its two's complement).
    pub result: u32,
    /// Arguments, in the order of the hypercall's registers.
    pub args: [u32; 6],
}
