// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Bringing vCPUs up and down through hypercalls (`VCPUOP_initialise`, `up`,
//! `down`, `is_up`), as Xen does for HVM/PVH guests: a secondary vCPU is not
//! initialised at first and stays down; `VCPUOP_initialise` gives it a
//! `vcpu_hvm_context` (checked here as Xen's `arch_set_info_hvm_guest` checks
//! it, into a [`VcpuStart`]), `VCPUOP_up` makes it run from there.
//!
//! The VMM learns of it through [`XenHost::vcpu_up`](crate::XenHost::vcpu_up)
//! / [`XenHost::vcpu_down`](crate::XenHost::vcpu_down) and loads the
//! registers [`XenPlatform::take_vcpu_start`](crate::XenPlatform::take_vcpu_start)
//! hands it when the vCPU's thread starts it.

use xen_abi::{VcpuHvmContext, VCPU_HVM_MODE_32B, VCPU_HVM_MODE_64B};
use xen_hypercall::{Errno, XenResult};

/// CR0.PE.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.NW.
pub const CR0_NW: u64 = 1 << 29;
/// CR0.CD.
pub const CR0_CD: u64 = 1 << 30;
/// CR0.PG.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// EFER.SCE.
pub const EFER_SCE: u64 = 1 << 0;
/// EFER.LME.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.NXE.
pub const EFER_NXE: u64 = 1 << 11;

/// EFLAGS bits a guest may set (Xen's `X86_EFLAGS_ALL`): CF, PF, AF, ZF, SF, TF,
/// IF, DF, OF, IOPL, NT, RF, VM, AC, VIF, VIP, ID.
const EFLAGS_ALL: u64 = 0x003f_7fd5;
/// EFLAGS bit 1, always set.
const EFLAGS_MBS: u64 = 1 << 1;

/// CR0 bits that exist (PE MP EM TS ET NE, WP, AM, NW CD PG).
const CR0_VALID: u64 = 0x3f | (1 << 16) | (1 << 18) | CR0_NW | CR0_CD | CR0_PG;
/// CR4 bits a guest may start with: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR
/// OSXMMEXCPT UMIP LA57, FSGSBASE PCIDE OSXSAVE, SMEP SMAP PKE (not VMXE, SMXE,
/// CET or PKS, which Xen offers only with the matching features).
const CR4_VALID: u64 = 0x1fff | (0x7 << 16) | (0x7 << 20);
/// EFER bits a guest may start with.
const EFER_VALID: u64 = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;

/// Segment attribute bits (Xen's packed `segment_register.attr`): type 0-3,
/// S 4, DPL 5-6, P 7, AVL 8, L 9, D/B 10, G 11; bits 12-15 must be 0.
pub mod attr {
    /// Type (4 bits).
    pub const TYPE: u16 = 0xf;
    /// Code or data (not system).
    pub const S: u16 = 1 << 4;
    /// Shift of the DPL.
    pub const DPL_SHIFT: u16 = 5;
    /// Present.
    pub const P: u16 = 1 << 7;
    /// Available to software.
    pub const AVL: u16 = 1 << 8;
    /// 64-bit code.
    pub const L: u16 = 1 << 9;
    /// Default operand size / big.
    pub const DB: u16 = 1 << 10;
    /// Granularity (limit in 4 KiB units).
    pub const G: u16 = 1 << 11;
}

/// A segment register a vCPU starts with (selector 0, as Xen sets it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartSegment {
    /// Base.
    pub base: u64,
    /// Limit in bytes (as the hidden part of the register holds it).
    pub limit: u32,
    /// Attributes, packed as in [`attr`] (0: a null segment, DS and ES only).
    pub attr: u16,
}

impl StartSegment {
    fn dpl(&self) -> u16 {
        (self.attr >> attr::DPL_SHIFT) & 3
    }

    fn present(&self) -> bool {
        self.attr & attr::P != 0
    }
}

/// The register state a vCPU starts in after `VCPUOP_initialise` and
/// `VCPUOP_up`, checked: everything a VMM needs to load (general registers,
/// RIP, RFLAGS, CR0/3/4, EFER with LMA set when LME is, CS DS SS ES TR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuStart {
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI (in that order, Xen's).
    pub gprs: [u64; 8],
    /// RIP.
    pub rip: u64,
    /// RFLAGS (only the architectural bits, bit 1 set).
    pub rflags: u64,
    /// CR0.
    pub cr0: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// EFER.
    pub efer: u64,
    /// CS.
    pub cs: StartSegment,
    /// DS.
    pub ds: StartSegment,
    /// SS.
    pub ss: StartSegment,
    /// ES.
    pub es: StartSegment,
    /// TR.
    pub tr: StartSegment,
}

/// Which segment a check is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seg {
    Cs,
    Ds,
    Ss,
    Es,
    Tr,
}

/// Xen's `check_segment`, plus the limit/granularity consistency VM entry
/// needs (Xen would crash the domain at entry; we refuse it up front).
fn check_segment(s: &StartSegment, seg: Seg) -> XenResult<()> {
    if s.attr & 0xf000 != 0 {
        return Err(Errno::EINVAL);
    }
    if s.attr == 0 {
        return if matches!(seg, Seg::Ds | Seg::Es) {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        };
    }
    let ty = s.attr & attr::TYPE;
    if seg == Seg::Tr {
        // A busy 32-bit TSS (the busy bit is set by the caller).
        if s.attr & attr::S != 0 || ty != 0xb {
            return Err(Errno::EINVAL);
        }
    } else if s.attr & attr::S == 0 {
        return Err(Errno::EINVAL);
    }
    if !s.present() {
        return Err(Errno::EINVAL);
    }
    let ok = match seg {
        Seg::Cs => ty & 0x8 != 0,
        Seg::Ss => ty & 0x8 == 0 && ty & 0x2 != 0,
        Seg::Ds | Seg::Es => !(ty & 0x8 != 0 && ty & 0x2 == 0),
        Seg::Tr => true,
    };
    if !ok {
        return Err(Errno::EINVAL);
    }
    // VM entry: with G the low 12 bits of the limit are all ones, without it
    // the limit fits in 20 bits.
    let g = s.attr & attr::G != 0;
    if (g && s.limit & 0xfff != 0xfff) || (!g && s.limit > 0xf_ffff) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A segment of a 32-bit context with its accessed (busy for TR) bit set if
/// present, as Xen sets it.
fn seg32(base: u32, limit: u32, ar: u16, tr: bool) -> StartSegment {
    let mut s = StartSegment {
        base: u64::from(base),
        limit,
        attr: ar,
    };
    if s.present() {
        s.attr |= if tr { 2 } else { 1 };
    }
    s
}

impl VcpuStart {
    /// A `vcpu_hvm_context` that gives this state again: 64-bit mode for a
    /// long-mode CS with EFER.LMA, else 32-bit mode (values beyond 32 bits
    /// are cut, so that state does not come back). A saved state is checked
    /// by giving it back to [`VcpuStart::from_hvm_context`].
    pub fn to_hvm_context(&self) -> VcpuHvmContext {
        let [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi] = self.gprs;
        if self.cs.attr & attr::L != 0 && self.efer & EFER_LMA != 0 {
            return VcpuHvmContext::with_regs64(&xen_abi::VcpuHvmX86Regs64 {
                rax,
                rcx,
                rdx,
                rbx,
                rsp,
                rbp,
                rsi,
                rdi,
                rip: self.rip,
                rflags: self.rflags,
                cr0: self.cr0,
                cr3: self.cr3,
                cr4: self.cr4,
                efer: self.efer,
            });
        }
        let lo = |v: u64| v as u32;
        VcpuHvmContext::with_regs32(&xen_abi::VcpuHvmX86Regs32 {
            eax: lo(rax),
            ecx: lo(rcx),
            edx: lo(rdx),
            ebx: lo(rbx),
            esp: lo(rsp),
            ebp: lo(rbp),
            esi: lo(rsi),
            edi: lo(rdi),
            eip: lo(self.rip),
            eflags: lo(self.rflags),
            cr0: lo(self.cr0),
            cr3: lo(self.cr3),
            cr4: lo(self.cr4),
            pad1: 0,
            efer: self.efer,
            cs_base: lo(self.cs.base),
            ds_base: lo(self.ds.base),
            ss_base: lo(self.ss.base),
            es_base: lo(self.es.base),
            tr_base: lo(self.tr.base),
            cs_limit: self.cs.limit,
            ds_limit: self.ds.limit,
            ss_limit: self.ss.limit,
            es_limit: self.es.limit,
            tr_limit: self.tr.limit,
            cs_ar: self.cs.attr,
            ds_ar: self.ds.attr,
            ss_ar: self.ss.attr,
            es_ar: self.es.attr,
            tr_ar: self.tr.attr,
            pad2: [0; 3],
        })
    }

    /// Checks a `vcpu_hvm_context` as Xen's `arch_set_info_hvm_guest` does and
    /// gives the state the vCPU starts in; -EINVAL for anything it refuses: a
    /// non-zero pad, an unknown mode, in 32-bit mode bad segments (null CS, SS
    /// or TR, a system segment for CS/SS/DS/ES, a non-TSS TR, not present, CS
    /// not code, SS not writable, DS/ES execute-only), EIP beyond the CS limit,
    /// SS.DPL != CS.DPL, DS/ES DPL above CS's, EFER.LMA without LME; in 64-bit
    /// mode a non-canonical RIP, CR0.PG, CR4.PAE or EFER.LME clear; in both,
    /// CR4 or EFER bits the guest may not set. Also refused (where Xen would
    /// fail the VM entry, or the hardware would fault): CR0 bits that do not
    /// exist, PG without PE, NW without CD, LME without paging or PAE,
    /// a CR3 beyond `phys_addr_bits` in long mode, and segment limits that do
    /// not fit their granularity.
    pub fn from_hvm_context(ctx: &VcpuHvmContext, phys_addr_bits: u8) -> XenResult<Self> {
        if ctx.pad != 0 {
            return Err(Errno::EINVAL);
        }
        let mut s = match ctx.mode {
            VCPU_HVM_MODE_32B => {
                let r = ctx.regs32();
                if r.pad1 != 0 || r.pad2 != [0; 3] {
                    return Err(Errno::EINVAL);
                }
                let s = VcpuStart {
                    gprs: [r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi].map(u64::from),
                    rip: u64::from(r.eip),
                    rflags: u64::from(r.eflags),
                    cr0: u64::from(r.cr0),
                    cr3: u64::from(r.cr3),
                    cr4: u64::from(r.cr4),
                    efer: r.efer,
                    cs: seg32(r.cs_base, r.cs_limit, r.cs_ar, false),
                    ds: seg32(r.ds_base, r.ds_limit, r.ds_ar, false),
                    ss: seg32(r.ss_base, r.ss_limit, r.ss_ar, false),
                    es: seg32(r.es_base, r.es_limit, r.es_ar, false),
                    tr: seg32(r.tr_base, r.tr_limit, r.tr_ar, true),
                };
                check_segment(&s.cs, Seg::Cs)?;
                check_segment(&s.ds, Seg::Ds)?;
                check_segment(&s.ss, Seg::Ss)?;
                check_segment(&s.es, Seg::Es)?;
                check_segment(&s.tr, Seg::Tr)?;
                // Xen's check, in 32-bit arithmetic.
                let mut limit = s.cs.limit;
                if s.cs.attr & attr::G != 0 {
                    limit = (limit << 12) | 0xfff;
                }
                if r.eip > limit {
                    return Err(Errno::EINVAL);
                }
                let cpl = s.cs.dpl();
                if s.ss.dpl() != cpl
                    || (s.ds.present() && s.ds.dpl() > cpl)
                    || (s.es.present() && s.es.dpl() > cpl)
                {
                    return Err(Errno::EINVAL);
                }
                if r.efer & EFER_LMA != 0 && r.efer & EFER_LME == 0 {
                    return Err(Errno::EINVAL);
                }
                s
            }
            VCPU_HVM_MODE_64B => {
                let r = ctx.regs64();
                // Canonical with 48 address bits.
                if ((r.rip as i64) << 16 >> 16) as u64 != r.rip {
                    return Err(Errno::EINVAL);
                }
                if r.cr0 & CR0_PG == 0 || r.cr4 & CR4_PAE == 0 || r.efer & EFER_LME == 0 {
                    return Err(Errno::EINVAL);
                }
                let flat = |attr: u16| StartSegment {
                    base: 0,
                    limit: u32::MAX,
                    attr,
                };
                VcpuStart {
                    gprs: [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi],
                    rip: r.rip,
                    rflags: r.rflags,
                    cr0: r.cr0,
                    cr3: r.cr3,
                    cr4: r.cr4,
                    efer: r.efer,
                    // 64-bit code; flat data; a busy 64-bit TSS.
                    cs: flat(0xa9b),
                    ds: flat(0xc93),
                    ss: flat(0xc93),
                    es: flat(0xc93),
                    tr: StartSegment {
                        base: 0,
                        limit: 0x67,
                        attr: 0x8b,
                    },
                }
            }
            _ => return Err(Errno::EINVAL),
        };
        s.rflags = (s.rflags & EFLAGS_ALL) | EFLAGS_MBS;
        if s.efer & EFER_LME != 0 {
            s.efer |= EFER_LMA;
        }
        if s.cr4 & !CR4_VALID != 0 || s.efer & !EFER_VALID != 0 {
            return Err(Errno::EINVAL);
        }
        let paging = s.cr0 & CR0_PG != 0;
        if s.cr0 & !CR0_VALID != 0
            || (paging && s.cr0 & CR0_PE == 0)
            || (s.cr0 & CR0_NW != 0 && s.cr0 & CR0_CD == 0)
        {
            return Err(Errno::EINVAL);
        }
        // Xen's EFER check: LMA (set from LME) needs paging; long mode needs PAE.
        if s.efer & EFER_LMA != 0 && (!paging || s.cr4 & CR4_PAE == 0) {
            return Err(Errno::EINVAL);
        }
        if s.efer & EFER_LMA != 0 && s.cr3 >> phys_addr_bits.min(63) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(s)
    }
}
