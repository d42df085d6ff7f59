// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercall registers and result encoding.

pub use xen_abi::GuestWidth;

/// Registers of a hypercall exit, already in Xen's argument order.
///
/// 64-bit guests: `nr` = RAX, `args` = RDI, RSI, RDX, R10, R8, R9.
/// 32-bit guests: `nr` = EAX, `args` = EBX, ECX, EDX, ESI, EDI, EBP (zero-extended).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HypercallRegs {
    /// Guest width: selects pointer size and struct layouts.
    pub mode: GuestWidth,
    /// Current privilege level (CS.RPL / SS.DPL); hypercalls from CPL > 0 fail with -EPERM.
    pub cpl: u8,
    /// Hypercall number.
    pub nr: u64,
    /// Arguments.
    pub args: [u64; 6],
}

impl HypercallRegs {
    /// Builds the registers of a 64-bit guest hypercall.
    #[allow(clippy::too_many_arguments)]
    pub fn from_regs64(
        cpl: u8,
        rax: u64,
        rdi: u64,
        rsi: u64,
        rdx: u64,
        r10: u64,
        r8: u64,
        r9: u64,
    ) -> Self {
        Self {
            mode: GuestWidth::Bits64,
            cpl,
            nr: rax,
            args: [rdi, rsi, rdx, r10, r8, r9],
        }
    }

    /// Builds the registers of a 32-bit guest hypercall (upper register halves are dropped).
    #[allow(clippy::too_many_arguments)]
    pub fn from_regs32(
        cpl: u8,
        eax: u64,
        ebx: u64,
        ecx: u64,
        edx: u64,
        esi: u64,
        edi: u64,
        ebp: u64,
    ) -> Self {
        let l = |r: u64| r & 0xffff_ffff;
        Self {
            mode: GuestWidth::Bits32,
            cpl,
            nr: l(eax),
            args: [l(ebx), l(ecx), l(edx), l(esi), l(edi), l(ebp)],
        }
    }

    /// Argument `i` as the guest sees it: full for 64-bit guests, low 32 bits for 32-bit ones.
    pub fn arg(&self, i: usize) -> u64 {
        let v = self.args[i];
        match self.mode {
            GuestWidth::Bits64 => v,
            GuestWidth::Bits32 => v & 0xffff_ffff,
        }
    }

    /// Encodes a return value for RAX: 64-bit guests get the `i64` as `u64`; 32-bit guests get
    /// it truncated to EAX (zero-extended).
    pub fn encode_result(&self, ret: i64) -> u64 {
        match self.mode {
            GuestWidth::Bits64 => ret as u64,
            GuestWidth::Bits32 => u64::from(ret as i32 as u32),
        }
    }
}

/// `EFER.LMA`: long mode is active.
const EFER_LMA: u64 = 1 << 10;
/// `CR0.PG`: paging is on.
const CR0_PG: u64 = 1 << 31;

/// The x86 vCPU state a VMM copies at a hypercall exit (e.g. from KVM's `kvm_regs` and
/// `kvm_sregs`), from which [`X86Regs::hypercall_regs`] decodes the call: no VMM needs to
/// know the calling conventions.
///
/// - Width: the caller is 64-bit when `EFER.LMA` and `CS.L` are both set, else 32-bit
///   (protected mode, or compatibility mode under a 64-bit kernel).
/// - 64-bit: number in RAX, arguments in RDI, RSI, RDX, R10, R8, R9.
/// - 32-bit: number in EAX, arguments in EBX, ECX, EDX, ESI, EDI, EBP (upper halves
///   dropped).
/// - CPL: `SS.DPL`. Paging: `CR0.PG` (hypercall pointers are then guest-virtual).
///
/// ```
/// use xen_hypercall::{GuestWidth, X86Regs};
///
/// let x = X86Regs { rax: 29, rbx: 2, rcx: 0x1000, cr0: 0x11, ..Default::default() };
/// let regs = x.hypercall_regs();
/// assert_eq!(regs.mode, GuestWidth::Bits32);
/// assert_eq!((regs.nr, regs.args[0], regs.args[1]), (29, 2, 0x1000));
/// assert!(!x.paging());
/// assert_eq!(x.result_rax(-22), 0xffff_ffea); // a 32-bit caller sees EAX only
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X86Regs {
    /// RAX (hypercall number).
    pub rax: u64,
    /// RBX (32-bit argument 1).
    pub rbx: u64,
    /// RCX (32-bit argument 2).
    pub rcx: u64,
    /// RDX (argument 3 of both widths).
    pub rdx: u64,
    /// RSI (64-bit argument 2, 32-bit argument 4).
    pub rsi: u64,
    /// RDI (64-bit argument 1, 32-bit argument 5).
    pub rdi: u64,
    /// RBP (32-bit argument 6).
    pub rbp: u64,
    /// R8 (64-bit argument 5).
    pub r8: u64,
    /// R9 (64-bit argument 6).
    pub r9: u64,
    /// R10 (64-bit argument 4).
    pub r10: u64,
    /// `IA32_EFER`.
    pub efer: u64,
    /// `CS.L`: the code segment is a 64-bit one.
    pub cs_l: bool,
    /// `SS.DPL`: the current privilege level.
    pub ss_dpl: u8,
    /// `CR0`.
    pub cr0: u64,
}

impl X86Regs {
    /// The caller runs in 64-bit mode: `EFER.LMA` and `CS.L`.
    pub fn long_mode(&self) -> bool {
        self.efer & EFER_LMA != 0 && self.cs_l
    }

    /// The caller's width ([`GuestWidth::Bits64`] in 64-bit mode, else 32-bit).
    pub fn width(&self) -> GuestWidth {
        if self.long_mode() {
            GuestWidth::Bits64
        } else {
            GuestWidth::Bits32
        }
    }

    /// The current privilege level (`SS.DPL`).
    pub fn cpl(&self) -> u8 {
        self.ss_dpl
    }

    /// Paging is on (`CR0.PG`): hypercall pointers are guest-virtual addresses.
    pub fn paging(&self) -> bool {
        self.cr0 & CR0_PG != 0
    }

    /// The hypercall in Xen's argument order for the caller's width.
    pub fn hypercall_regs(&self) -> HypercallRegs {
        if self.long_mode() {
            HypercallRegs::from_regs64(
                self.cpl(),
                self.rax,
                self.rdi,
                self.rsi,
                self.rdx,
                self.r10,
                self.r8,
                self.r9,
            )
        } else {
            HypercallRegs::from_regs32(
                self.cpl(),
                self.rax,
                self.rbx,
                self.rcx,
                self.rdx,
                self.rsi,
                self.rdi,
                self.rbp,
            )
        }
    }

    /// The value to write back to RAX for the return value `ret`: a 32-bit caller sees EAX
    /// only (zero-extended). The same as [`HypercallResult::rax`](crate::HypercallResult).
    pub fn result_rax(&self, ret: i64) -> u64 {
        self.hypercall_regs().encode_result(ret)
    }
}
