// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The toolstack's hypercalls `sysctl` and `domctl` (`sysctl.h`, `domctl.h`): only the
//! header a domU's call is judged by. Xen reads the whole struct, checks the interface
//! version (-EACCES), then the caller's privilege (-EPERM for a domU).

/// `xen_sysctl.interface_version` of Xen 4.17.
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x0000_0015;
/// `xen_domctl.interface_version` of Xen 4.17.
pub const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x0000_0015;

/// `domctl`: create a domain (no target domain).
pub const XEN_DOMCTL_CREATEDOMAIN: u32 = 1;
/// `domctl`: get a domain's info (xenstore's privilege).
pub const XEN_DOMCTL_GETDOMAININFO: u32 = 5;
/// `domctl`: assign a device (target may be `DOMID_IO`).
pub const XEN_DOMCTL_ASSIGN_DEVICE: u32 = 37;
/// `domctl`: bind a passed-through IRQ (device model's privilege).
pub const XEN_DOMCTL_BIND_PT_IRQ: u32 = 38;
/// `domctl`: map MMIO (device model's privilege).
pub const XEN_DOMCTL_MEMORY_MAPPING: u32 = 39;
/// `domctl`: map I/O ports (device model's privilege).
pub const XEN_DOMCTL_IOPORT_MAPPING: u32 = 40;
/// `domctl`: test whether a device can be assigned (target may be `DOMID_INVALID`).
pub const XEN_DOMCTL_TEST_ASSIGN_DEVICE: u32 = 45;
/// `domctl`: deassign a device (target may be `DOMID_IO`).
pub const XEN_DOMCTL_DEASSIGN_DEVICE: u32 = 47;
/// `domctl`: unbind a passed-through IRQ (device model's privilege).
pub const XEN_DOMCTL_UNBIND_PT_IRQ: u32 = 48;
/// `domctl`: vm_event operation (target may be `DOMID_INVALID`).
pub const XEN_DOMCTL_VM_EVENT_OP: u32 = 56;

/// Size of the union of `struct xen_sysctl` / `struct xen_domctl` (its `pad` member).
pub const XEN_CONTROL_UNION_SIZE: usize = 128;

/// `struct xen_sysctl` (136 bytes, both widths): the header and the command's union as raw
/// bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenSysctl {
    /// `XEN_SYSCTL_*`.
    pub cmd: u32,
    /// Must be [`XEN_SYSCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// The command's arguments.
    pub u: [u8; XEN_CONTROL_UNION_SIZE],
}

impl Default for XenSysctl {
    fn default() -> Self {
        Self {
            cmd: 0,
            interface_version: 0,
            u: [0; XEN_CONTROL_UNION_SIZE],
        }
    }
}

/// `struct xen_domctl` (144 bytes, both widths): the header and the command's union as raw
/// bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenDomctl {
    /// `XEN_DOMCTL_*`.
    pub cmd: u32,
    /// Must be [`XEN_DOMCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// Target domain (looked up by id: `DOMID_SELF` names no domain).
    pub domain: u16,
    /// Padding.
    pub pad: [u16; 3],
    /// The command's arguments.
    pub u: [u8; XEN_CONTROL_UNION_SIZE],
}

impl Default for XenDomctl {
    fn default() -> Self {
        Self {
            cmd: 0,
            interface_version: 0,
            domain: 0,
            pad: [0; 3],
            u: [0; XEN_CONTROL_UNION_SIZE],
        }
    }
}
