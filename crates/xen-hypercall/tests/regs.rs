// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `X86Regs`: decoding a hypercall exit from the vCPU registers.

use xen_hypercall::{GuestWidth, HypercallRegs, X86Regs};

const EFER_LMA: u64 = 1 << 10;
const EFER_LME: u64 = 1 << 8;
const CR0_PG: u64 = 1 << 31;

fn regs() -> X86Regs {
    X86Regs {
        rax: 0xffff_ffff_0000_0011,
        rbx: 0x1_0000_0001,
        rcx: 0xaaaa_bbbb_0000_0002,
        rdx: 0x3_0000_0003,
        rsi: 0x4_0000_0004,
        rdi: 0x5_0000_0005,
        rbp: 0x6_0000_0006,
        r8: 8,
        r9: 9,
        r10: 10,
        ..Default::default()
    }
}

#[test]
fn long_mode_takes_rdi_rsi_rdx_r10_r8_r9() {
    let x = X86Regs {
        efer: EFER_LMA | EFER_LME,
        cs_l: true,
        ..regs()
    };
    assert!(x.long_mode());
    assert_eq!(x.width(), GuestWidth::Bits64);
    assert_eq!(
        x.hypercall_regs(),
        HypercallRegs::from_regs64(
            0,
            0xffff_ffff_0000_0011,
            0x5_0000_0005,
            0x4_0000_0004,
            0x3_0000_0003,
            10,
            8,
            9
        )
    );
    assert_eq!(x.result_rax(-22), (-22i64) as u64);
    assert_eq!(x.result_rax(0x1_0000_0000), 0x1_0000_0000);
}

#[test]
fn protected_and_compat_mode_take_ebx_ecx_edx_esi_edi_ebp_zero_extended() {
    // Protected mode (no LMA) and compatibility mode (LMA without CS.L) are both 32-bit.
    for (efer, cs_l) in [(0, false), (0, true), (EFER_LMA | EFER_LME, false)] {
        let x = X86Regs {
            efer,
            cs_l,
            ..regs()
        };
        assert!(!x.long_mode(), "efer {efer:#x} cs.l {cs_l}");
        assert_eq!(x.width(), GuestWidth::Bits32);
        let h = x.hypercall_regs();
        assert_eq!(h.mode, GuestWidth::Bits32);
        assert_eq!(h.nr, 0x11);
        assert_eq!(h.args, [1, 2, 3, 4, 5, 6]);
        assert_eq!(x.result_rax(-22), 0xffff_ffea);
        assert_eq!(x.result_rax(0x1_0000_0005), 5);
    }
}

#[test]
fn cpl_is_ss_dpl_and_paging_is_cr0_pg() {
    let x = X86Regs {
        ss_dpl: 3,
        cr0: 0x11,
        ..regs()
    };
    assert_eq!(x.cpl(), 3);
    assert_eq!(x.hypercall_regs().cpl, 3);
    assert!(!x.paging());
    let x = X86Regs {
        ss_dpl: 0,
        cr0: 0x8000_0033,
        efer: EFER_LMA,
        cs_l: true,
        ..regs()
    };
    assert_eq!(x.hypercall_regs().cpl, 0);
    assert!(x.paging());
    assert!(X86Regs {
        cr0: CR0_PG,
        ..Default::default()
    }
    .paging());
}
