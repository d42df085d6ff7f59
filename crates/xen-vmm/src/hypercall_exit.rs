// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercalls arriving as port-I/O exits from the stubs of the hypercall
//! page: the vCPU registers are copied into xen-hypercall's [`X86Regs`],
//! which decodes them (width, calling convention, privilege level, paging)
//! and encodes the result written back to RAX.

use kvm_bindings::{kvm_regs, kvm_sregs};
use xen_hypercall::{GuestWidth, HypercallRegs, X86Regs};

/// A hypercall exit: the decoded registers and whether the caller runs with
/// paging on (its pointers are then guest-virtual).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HypercallExit {
    /// The hypercall in xen-hypercall's form.
    pub regs: HypercallRegs,
    /// Paging enabled (CR0.PG).
    pub paging: bool,
    /// The caller's paging registers at the exit (the platform walks
    /// long-mode page tables itself with them).
    pub paging_regs: xen_platform::PagingRegs,
}

impl HypercallExit {
    /// The caller runs in 64-bit mode.
    pub fn long_mode(&self) -> bool {
        self.regs.mode == GuestWidth::Bits64
    }
}

/// Copies the fields xen-hypercall decodes from KVM's registers.
pub fn x86_regs(regs: &kvm_regs, sregs: &kvm_sregs) -> X86Regs {
    X86Regs {
        rax: regs.rax,
        rbx: regs.rbx,
        rcx: regs.rcx,
        rdx: regs.rdx,
        rsi: regs.rsi,
        rdi: regs.rdi,
        rbp: regs.rbp,
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        efer: sregs.efer,
        cs_l: sregs.cs.l != 0,
        ss_dpl: sregs.ss.dpl,
        cr0: sregs.cr0,
    }
}

/// Whether the vCPU with these special registers runs in 64-bit mode.
pub fn long_mode(sregs: &kvm_sregs) -> bool {
    x86_regs(&kvm_regs::default(), sregs).long_mode()
}

/// Decodes the registers of a vCPU that exited on the hypercall port.
pub fn decode(regs: &kvm_regs, sregs: &kvm_sregs) -> HypercallExit {
    let x = x86_regs(regs, sregs);
    HypercallExit {
        regs: x.hypercall_regs(),
        paging: x.paging(),
        paging_regs: paging_regs(sregs),
    }
}

/// The paging registers of `sregs` (1 GiB pages: see
/// [`crate::cpuid::has_page_1g`]; the vCPU loop sets that).
pub fn paging_regs(sregs: &kvm_sregs) -> xen_platform::PagingRegs {
    xen_platform::PagingRegs {
        cr0: sregs.cr0,
        cr3: sregs.cr3,
        cr4: sregs.cr4,
        efer: sregs.efer,
        page_1g: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_fields_xen_hypercall_decodes() {
        let regs = kvm_regs {
            rax: 0x11,
            rbx: 1,
            rcx: 2,
            rdx: 3,
            rsi: 4,
            rdi: 5,
            rbp: 6,
            r8: 8,
            r9: 9,
            r10: 10,
            r11: 11,
            ..Default::default()
        };
        let mut sregs = kvm_sregs {
            efer: 1 << 10,
            cr0: 1 << 31,
            ..Default::default()
        };
        sregs.cs.l = 1;
        sregs.ss.dpl = 3;
        let d = decode(&regs, &sregs);
        assert!(d.long_mode() && long_mode(&sregs) && d.paging);
        assert_eq!(d.regs.cpl, 3);
        assert_eq!(d.regs.args, [5, 4, 3, 10, 8, 9]);
        sregs.cs.l = 0;
        let d = decode(&regs, &sregs);
        assert!(!d.long_mode() && !long_mode(&sregs));
        assert_eq!(d.regs.args, [1, 2, 3, 4, 5, 6]);
    }
}
