// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `physdev_op` sub-ops (`physdev.h`). An HVM/PVH domU without PIRQs (as here) gets -ENOSYS
//! for every one of them.

/// EOI a PIRQ.
pub const PHYSDEVOP_EOI: u32 = 12;
/// Register the PIRQ EOI bitmap (v1).
pub const PHYSDEVOP_PIRQ_EOI_GMFN_V1: u32 = 17;
/// Register the PIRQ EOI bitmap (v2).
pub const PHYSDEVOP_PIRQ_EOI_GMFN_V2: u32 = 28;
/// Query the status of an IRQ.
pub const PHYSDEVOP_IRQ_STATUS_QUERY: u32 = 5;
/// Set the I/O privilege level (PV).
pub const PHYSDEVOP_SET_IOPL: u32 = 6;
/// Set the I/O port bitmap (PV).
pub const PHYSDEVOP_SET_IOBITMAP: u32 = 7;
/// Read an IOAPIC register (dom0).
pub const PHYSDEVOP_APIC_READ: u32 = 8;
/// Write an IOAPIC register (dom0).
pub const PHYSDEVOP_APIC_WRITE: u32 = 9;
/// Allocate an IRQ vector (dom0).
pub const PHYSDEVOP_ALLOC_IRQ_VECTOR: u32 = 10;
/// Free an IRQ vector (dom0).
pub const PHYSDEVOP_FREE_IRQ_VECTOR: u32 = 11;
/// Map a PIRQ.
pub const PHYSDEVOP_MAP_PIRQ: u32 = 13;
/// Unmap a PIRQ.
pub const PHYSDEVOP_UNMAP_PIRQ: u32 = 14;
/// Add a PCI device (dom0, old form).
pub const PHYSDEVOP_MANAGE_PCI_ADD: u32 = 15;
/// Remove a PCI device (dom0, old form).
pub const PHYSDEVOP_MANAGE_PCI_REMOVE: u32 = 16;
/// Restore MSI state (dom0).
pub const PHYSDEVOP_RESTORE_MSI: u32 = 19;
/// Add a PCI device, extended (dom0).
pub const PHYSDEVOP_MANAGE_PCI_ADD_EXT: u32 = 20;
/// Set up a GSI (dom0).
pub const PHYSDEVOP_SETUP_GSI: u32 = 21;
/// Get a free PIRQ.
pub const PHYSDEVOP_GET_FREE_PIRQ: u32 = 23;
/// Report a reserved MMCONFIG area (dom0).
pub const PHYSDEVOP_PCI_MMCFG_RESERVED: u32 = 24;
/// Add a PCI device (dom0).
pub const PHYSDEVOP_PCI_DEVICE_ADD: u32 = 25;
/// Remove a PCI device (dom0).
pub const PHYSDEVOP_PCI_DEVICE_REMOVE: u32 = 26;
/// Restore MSI state, extended (dom0).
pub const PHYSDEVOP_RESTORE_MSI_EXT: u32 = 27;
/// Debug port operation (dom0).
pub const PHYSDEVOP_DBGP_OP: u32 = 29;
/// Prepare MSI-X (dom0).
pub const PHYSDEVOP_PREPARE_MSIX: u32 = 30;
/// Release MSI-X (dom0).
pub const PHYSDEVOP_RELEASE_MSIX: u32 = 31;
