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
