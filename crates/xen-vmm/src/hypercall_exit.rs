//! Hypercalls arriving as port-I/O exits from the stubs of the hypercall
//! page: reading the calling convention out of the vCPU registers (64-bit:
//! rdi, rsi, rdx, r10, r8, r9; 32-bit: ebx, ecx, edx, esi, edi, ebp), the
//! privilege level and the paging mode, and writing the result back.

use kvm_bindings::{kvm_regs, kvm_sregs};

/// A decoded hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HypercallRegs {
    /// Hypercall number (rax / eax).
    pub nr: u64,
    /// Arguments (zero-extended from 32 bits for 32-bit callers).
    pub args: [u64; 6],
    /// The caller runs in 64-bit mode.
    pub long_mode: bool,
    /// Current privilege level.
    pub cpl: u8,
    /// Paging enabled (CR0.PG): pointers are virtual.
    pub paging: bool,
}

const EFER_LMA: u64 = 1 << 10;
const CR0_PG: u64 = 1 << 31;

/// Decodes the registers of a vCPU that exited on the hypercall port.
pub fn decode(regs: &kvm_regs, sregs: &kvm_sregs) -> HypercallRegs {
    let long_mode = sregs.efer & EFER_LMA != 0 && sregs.cs.l != 0;
    let m = |v: u64| v & 0xffff_ffff;
    let (nr, args) = if long_mode {
        (
            regs.rax,
            [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
        )
    } else {
        (
            m(regs.rax),
            [
                m(regs.rbx),
                m(regs.rcx),
                m(regs.rdx),
                m(regs.rsi),
                m(regs.rdi),
                m(regs.rbp),
            ],
        )
    };
    HypercallRegs {
        nr,
        args,
        long_mode,
        cpl: sregs.ss.dpl,
        paging: sregs.cr0 & CR0_PG != 0,
    }
}

impl HypercallRegs {
    /// The same registers in xen-hypercall's form.
    pub fn to_crate_regs(&self) -> xen_hypercall::HypercallRegs {
        let a = self.args;
        if self.long_mode {
            xen_hypercall::HypercallRegs::from_regs64(
                self.cpl, self.nr, a[0], a[1], a[2], a[3], a[4], a[5],
            )
        } else {
            xen_hypercall::HypercallRegs::from_regs32(
                self.cpl, self.nr, a[0], a[1], a[2], a[3], a[4], a[5],
            )
        }
    }
}

/// The value to put in rax for `ret` (a 32-bit caller sees eax only).
pub fn result_rax(long_mode: bool, ret: i64) -> u64 {
    if long_mode {
        ret as u64
    } else {
        u64::from(ret as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_widths() {
        let regs = kvm_regs {
            rax: 0xffff_ffff_0000_0011,
            rbx: 0x1_0000_0001,
            rdi: 7,
            rsi: 8,
            rdx: 9,
            r10: 10,
            r8: 11,
            ..Default::default()
        };
        let mut sregs = kvm_sregs {
            efer: EFER_LMA,
            ..Default::default()
        };
        sregs.cs.l = 1;
        let d = decode(&regs, &sregs);
        assert!(d.long_mode);
        assert_eq!(d.args[..5], [7, 8, 9, 10, 11]);
        sregs.cs.l = 0;
        sregs.ss.dpl = 3;
        let d = decode(&regs, &sregs);
        assert!(!d.long_mode);
        assert_eq!(d.nr, 0x11);
        assert_eq!(d.args[0], 1);
        assert_eq!(d.cpl, 3);
        assert_eq!(result_rax(false, -22), 0xffff_ffea);
        assert_eq!(result_rax(true, -22), (-22i64) as u64);
    }
}
