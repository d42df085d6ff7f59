// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Versionize mirrors of KVM's x86 vCPU and VM state, and helpers that
//! capture it from / restore it into real KVM file descriptors.
//!
//! versionize cannot serialize kvm-bindings' `FamStructWrapper`s (it is built
//! against another vmm-sys-util), and the bindgen structs carry unions and
//! padding, so every piece of state has a plain mirror type here with
//! conversions both ways.

use kvm_bindings::{
    kvm_clock_data, kvm_cpuid_entry2, kvm_debugregs, kvm_dtable, kvm_fpu, kvm_irqchip,
    kvm_lapic_state, kvm_mp_state, kvm_msr_entry, kvm_pit_channel_state, kvm_pit_state2, kvm_regs,
    kvm_segment, kvm_sregs, kvm_vcpu_events, kvm_xcr, kvm_xcrs, kvm_xsave2, CpuId, Msrs, Xsave,
    KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_MAX_CPUID_ENTRIES,
    KVM_VCPUEVENT_VALID_NMI_PENDING, KVM_VCPUEVENT_VALID_SIPI_VECTOR,
};
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};
use versionize::{VersionMap, Versionize, VersionizeResult};
use versionize_derive::Versionize;

use super::error::{Error, Result};

/// Size of the local APIC register page KVM exchanges.
pub const LAPIC_REGS_LEN: usize = 1024;
/// Size, in 32-bit words, of the legacy `kvm_xsave` region.
pub const XSAVE_LEGACY_WORDS: usize = 1024;
/// Most 32-bit words of XSAVE state a snapshot may carry (64 KiB).
pub const XSAVE_MAX_WORDS: usize = 16384;
/// Most MSRs a snapshot may carry per vCPU.
pub const MAX_MSRS: usize = 4096;
/// Most XCRs (`kvm_xcrs` holds 16).
pub const MAX_XCRS: usize = 16;
/// Size of one irqchip state blob (`kvm_irqchip.chip`).
pub const IRQCHIP_LEN: usize = 512;

/// Highest `KVM_MP_STATE_*` value (SUSPENDED).
const MAX_MP_STATE: u32 = 9;
/// Words of XSAVE buffer handed to `KVM_SET_XSAVE`: the kernel copies its own
/// uabi size, which is at most ~11 KiB even with AMX tiles, so 16 KiB is always enough.
const XSAVE_RESTORE_WORDS: usize = 4096;

/// General purpose registers (`kvm_regs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct RegsState {
    /// rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8..r15 in this order.
    pub gprs: [u64; 16],
    /// Instruction pointer.
    pub rip: u64,
    /// Flags.
    pub rflags: u64,
}

impl From<&kvm_regs> for RegsState {
    fn from(r: &kvm_regs) -> Self {
        RegsState {
            gprs: [
                r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15,
            ],
            rip: r.rip,
            rflags: r.rflags,
        }
    }
}

impl From<&RegsState> for kvm_regs {
    fn from(s: &RegsState) -> Self {
        let g = &s.gprs;
        kvm_regs {
            rax: g[0],
            rbx: g[1],
            rcx: g[2],
            rdx: g[3],
            rsi: g[4],
            rdi: g[5],
            rsp: g[6],
            rbp: g[7],
            r8: g[8],
            r9: g[9],
            r10: g[10],
            r11: g[11],
            r12: g[12],
            r13: g[13],
            r14: g[14],
            r15: g[15],
            rip: s.rip,
            rflags: s.rflags,
        }
    }
}

/// One segment register (`kvm_segment`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct SegmentState {
    /// Base.
    pub base: u64,
    /// Limit.
    pub limit: u32,
    /// Selector.
    pub selector: u16,
    /// Type.
    pub type_: u8,
    /// Present.
    pub present: u8,
    /// Privilege level.
    pub dpl: u8,
    /// Default operand size.
    pub db: u8,
    /// Code/data (not system).
    pub s: u8,
    /// Long mode.
    pub l: u8,
    /// Granularity.
    pub g: u8,
    /// Available.
    pub avl: u8,
    /// Unusable.
    pub unusable: u8,
}

impl From<&kvm_segment> for SegmentState {
    fn from(s: &kvm_segment) -> Self {
        SegmentState {
            base: s.base,
            limit: s.limit,
            selector: s.selector,
            type_: s.type_,
            present: s.present,
            dpl: s.dpl,
            db: s.db,
            s: s.s,
            l: s.l,
            g: s.g,
            avl: s.avl,
            unusable: s.unusable,
        }
    }
}

impl From<&SegmentState> for kvm_segment {
    fn from(s: &SegmentState) -> Self {
        kvm_segment {
            base: s.base,
            limit: s.limit,
            selector: s.selector,
            type_: s.type_,
            present: s.present,
            dpl: s.dpl,
            db: s.db,
            s: s.s,
            l: s.l,
            g: s.g,
            avl: s.avl,
            unusable: s.unusable,
            padding: 0,
        }
    }
}

/// A descriptor table register (`kvm_dtable`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct DtableState {
    /// Base.
    pub base: u64,
    /// Limit.
    pub limit: u16,
}

impl From<&kvm_dtable> for DtableState {
    fn from(d: &kvm_dtable) -> Self {
        DtableState {
            base: d.base,
            limit: d.limit,
        }
    }
}

impl From<&DtableState> for kvm_dtable {
    fn from(d: &DtableState) -> Self {
        kvm_dtable {
            base: d.base,
            limit: d.limit,
            padding: [0; 3],
        }
    }
}

/// Special registers (`kvm_sregs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct SregsState {
    /// cs, ds, es, fs, gs, ss, tr, ldt in this order.
    pub segments: [SegmentState; 8],
    /// GDT.
    pub gdt: DtableState,
    /// IDT.
    pub idt: DtableState,
    /// cr0, cr2, cr3, cr4, cr8 in this order.
    pub cr: [u64; 5],
    /// EFER.
    pub efer: u64,
    /// IA32_APIC_BASE.
    pub apic_base: u64,
    /// Pending external interrupt bitmap (without in-kernel irqchip).
    pub interrupt_bitmap: [u64; 4],
}

impl From<&kvm_sregs> for SregsState {
    fn from(s: &kvm_sregs) -> Self {
        SregsState {
            segments: [
                (&s.cs).into(),
                (&s.ds).into(),
                (&s.es).into(),
                (&s.fs).into(),
                (&s.gs).into(),
                (&s.ss).into(),
                (&s.tr).into(),
                (&s.ldt).into(),
            ],
            gdt: (&s.gdt).into(),
            idt: (&s.idt).into(),
            cr: [s.cr0, s.cr2, s.cr3, s.cr4, s.cr8],
            efer: s.efer,
            apic_base: s.apic_base,
            interrupt_bitmap: s.interrupt_bitmap,
        }
    }
}

impl From<&SregsState> for kvm_sregs {
    fn from(s: &SregsState) -> Self {
        let seg = &s.segments;
        kvm_sregs {
            cs: (&seg[0]).into(),
            ds: (&seg[1]).into(),
            es: (&seg[2]).into(),
            fs: (&seg[3]).into(),
            gs: (&seg[4]).into(),
            ss: (&seg[5]).into(),
            tr: (&seg[6]).into(),
            ldt: (&seg[7]).into(),
            gdt: (&s.gdt).into(),
            idt: (&s.idt).into(),
            cr0: s.cr[0],
            cr2: s.cr[1],
            cr3: s.cr[2],
            cr4: s.cr[3],
            cr8: s.cr[4],
            efer: s.efer,
            apic_base: s.apic_base,
            interrupt_bitmap: s.interrupt_bitmap,
        }
    }
}

/// A 128-bit register as bytes.
pub type Reg128 = [u8; 16];

/// Legacy FPU/SSE state (`kvm_fpu`), used when XSAVE is unavailable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct FpuState {
    /// x87 registers, 16 bytes each.
    pub fpr: [Reg128; 8],
    /// Control word.
    pub fcw: u16,
    /// Status word.
    pub fsw: u16,
    /// Abridged tag word.
    pub ftwx: u8,
    /// Last opcode.
    pub last_opcode: u16,
    /// Last instruction pointer.
    pub last_ip: u64,
    /// Last data pointer.
    pub last_dp: u64,
    /// xmm0..xmm15.
    pub xmm: [Reg128; 16],
    /// MXCSR.
    pub mxcsr: u32,
}

impl From<&kvm_fpu> for FpuState {
    fn from(f: &kvm_fpu) -> Self {
        FpuState {
            fpr: f.fpr,
            fcw: f.fcw,
            fsw: f.fsw,
            ftwx: f.ftwx,
            last_opcode: f.last_opcode,
            last_ip: f.last_ip,
            last_dp: f.last_dp,
            xmm: f.xmm,
            mxcsr: f.mxcsr,
        }
    }
}

impl From<&FpuState> for kvm_fpu {
    fn from(f: &FpuState) -> Self {
        kvm_fpu {
            fpr: f.fpr,
            fcw: f.fcw,
            fsw: f.fsw,
            ftwx: f.ftwx,
            pad1: 0,
            last_opcode: f.last_opcode,
            last_ip: f.last_ip,
            last_dp: f.last_dp,
            xmm: f.xmm,
            mxcsr: f.mxcsr,
            pad2: 0,
        }
    }
}

/// XSAVE area (`kvm_xsave` region plus any `KVM_GET_XSAVE2` extension).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XsaveState {
    /// The area as 32-bit words; at least [`XSAVE_LEGACY_WORDS`].
    pub region: Vec<u32>,
}

/// One extended control register (`kvm_xcr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XcrState {
    /// Register number (0 = XCR0).
    pub xcr: u32,
    /// Value.
    pub value: u64,
}

/// Debug registers (`kvm_debugregs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct DebugRegsState {
    /// DR0..DR3.
    pub db: [u64; 4],
    /// DR6.
    pub dr6: u64,
    /// DR7.
    pub dr7: u64,
    /// Flags.
    pub flags: u64,
}

/// One MSR (`kvm_msr_entry`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct MsrState {
    /// MSR index.
    pub index: u32,
    /// Value.
    pub data: u64,
}

/// One CPUID leaf (`kvm_cpuid_entry2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct CpuidEntryState {
    /// Leaf.
    pub function: u32,
    /// Sub-leaf.
    pub index: u32,
    /// KVM_CPUID_FLAG_*.
    pub flags: u32,
    /// eax, ebx, ecx, edx.
    pub regs: [u32; 4],
}

/// Pending exceptions, interrupts, NMIs, SMIs (`kvm_vcpu_events`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct VcpuEventsState {
    /// exception: injected, nr, has_error_code, pending.
    pub exception: [u8; 4],
    /// Exception error code.
    pub exception_error_code: u32,
    /// Exception has a payload.
    pub exception_has_payload: u8,
    /// Exception payload (CR2/DR6).
    pub exception_payload: u64,
    /// interrupt: injected, nr, soft, shadow.
    pub interrupt: [u8; 4],
    /// nmi: injected, pending, masked.
    pub nmi: [u8; 3],
    /// SIPI vector.
    pub sipi_vector: u32,
    /// KVM_VCPUEVENT_VALID_* flags as captured.
    pub flags: u32,
    /// smi: smm, pending, smm_inside_nmi, latched_init.
    pub smi: [u8; 4],
    /// Triple fault pending.
    pub triple_fault_pending: u8,
}

impl From<&kvm_vcpu_events> for VcpuEventsState {
    fn from(e: &kvm_vcpu_events) -> Self {
        VcpuEventsState {
            exception: [
                e.exception.injected,
                e.exception.nr,
                e.exception.has_error_code,
                e.exception.pending,
            ],
            exception_error_code: e.exception.error_code,
            exception_has_payload: e.exception_has_payload,
            exception_payload: e.exception_payload,
            interrupt: [
                e.interrupt.injected,
                e.interrupt.nr,
                e.interrupt.soft,
                e.interrupt.shadow,
            ],
            nmi: [e.nmi.injected, e.nmi.pending, e.nmi.masked],
            sipi_vector: e.sipi_vector,
            flags: e.flags,
            smi: [
                e.smi.smm,
                e.smi.pending,
                e.smi.smm_inside_nmi,
                e.smi.latched_init,
            ],
            triple_fault_pending: e.triple_fault.pending,
        }
    }
}

impl From<&VcpuEventsState> for kvm_vcpu_events {
    fn from(s: &VcpuEventsState) -> Self {
        let mut e = kvm_vcpu_events::default();
        e.exception.injected = s.exception[0];
        e.exception.nr = s.exception[1];
        e.exception.has_error_code = s.exception[2];
        e.exception.pending = s.exception[3];
        e.exception.error_code = s.exception_error_code;
        e.exception_has_payload = s.exception_has_payload;
        e.exception_payload = s.exception_payload;
        e.interrupt.injected = s.interrupt[0];
        e.interrupt.nr = s.interrupt[1];
        e.interrupt.soft = s.interrupt[2];
        e.interrupt.shadow = s.interrupt[3];
        e.nmi.injected = s.nmi[0];
        e.nmi.pending = s.nmi[1];
        e.nmi.masked = s.nmi[2];
        e.sipi_vector = s.sipi_vector;
        // Pending NMIs and the SIPI vector are only applied when flagged.
        e.flags = s.flags | KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
        e.smi.smm = s.smi[0];
        e.smi.pending = s.smi[1];
        e.smi.smm_inside_nmi = s.smi[2];
        e.smi.latched_init = s.smi[3];
        e.triple_fault.pending = s.triple_fault_pending;
        e
    }
}

/// Everything KVM holds for one x86 vCPU.
///
/// Format version 2 added [`VcpuState::tsc_khz`]; a version-1 snapshot reads
/// it as 0 ("keep the host default").
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct VcpuState {
    /// vCPU index.
    pub id: u32,
    /// CPUID the guest saw (restored first, before any other state).
    pub cpuid: Vec<CpuidEntryState>,
    /// General purpose registers.
    pub regs: RegsState,
    /// Special registers.
    pub sregs: SregsState,
    /// Legacy FPU state (always captured; used when there is no XSAVE).
    pub fpu: FpuState,
    /// XSAVE area, when the host supports XSAVE.
    pub xsave: Option<XsaveState>,
    /// Extended control registers, when the host supports them.
    pub xcrs: Vec<XcrState>,
    /// Debug registers.
    pub debugregs: DebugRegsState,
    /// MSRs that KVM reported in its index list and could read.
    pub msrs: Vec<MsrState>,
    /// Local APIC registers ([`LAPIC_REGS_LEN`] bytes), with an in-kernel LAPIC.
    pub lapic: Option<Vec<u8>>,
    /// Pending events.
    pub events: VcpuEventsState,
    /// KVM_MP_STATE_*.
    pub mp_state: u32,
    /// Guest TSC frequency in kHz (0: keep the host default). Added in format version 2.
    #[version(start = 2, default_fn = "default_tsc_khz")]
    pub tsc_khz: u32,
}

impl VcpuState {
    fn default_tsc_khz(_source_version: u16) -> u32 {
        0
    }

    /// Reads the whole state of a vCPU that is not running.
    ///
    /// The caller must hold the vCPU (e.g. through `vm_lock::lock_all_vcpus`) so that it
    /// is outside `KVM_RUN`. `kvm` supplies the MSR index list and XSAVE size.
    pub fn capture(vcpu: &VcpuFd, kvm: &Kvm, id: u32) -> Result<Self> {
        let cpuid = vcpu
            .get_cpuid2(KVM_MAX_CPUID_ENTRIES)
            .map_err(Error::kvm("KVM_GET_CPUID2"))?
            .as_slice()
            .iter()
            .map(|e| CpuidEntryState {
                function: e.function,
                index: e.index,
                flags: e.flags,
                regs: [e.eax, e.ebx, e.ecx, e.edx],
            })
            .collect();
        let regs = (&vcpu.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?).into();
        let sregs = (&vcpu.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?).into();
        let fpu = (&vcpu.get_fpu().map_err(Error::kvm("KVM_GET_FPU"))?).into();
        let xsave = if kvm.check_extension(Cap::Xsave) {
            Some(capture_xsave(vcpu, kvm)?)
        } else {
            None
        };
        let xcrs = if kvm.check_extension(Cap::Xcrs) {
            let x = vcpu.get_xcrs().map_err(Error::kvm("KVM_GET_XCRS"))?;
            let n = (x.nr_xcrs as usize).min(MAX_XCRS);
            x.xcrs[..n]
                .iter()
                .map(|x| XcrState {
                    xcr: x.xcr,
                    value: x.value,
                })
                .collect()
        } else {
            Vec::new()
        };
        let d = vcpu
            .get_debug_regs()
            .map_err(Error::kvm("KVM_GET_DEBUGREGS"))?;
        let debugregs = DebugRegsState {
            db: d.db,
            dr6: d.dr6,
            dr7: d.dr7,
            flags: d.flags,
        };
        let msrs = capture_msrs(vcpu, kvm)?;
        let lapic = match vcpu.get_lapic() {
            Ok(l) => Some(l.regs.iter().map(|&b| b as u8).collect()),
            // No in-kernel LAPIC.
            Err(e) if e.errno() == libc::ENXIO || e.errno() == libc::EINVAL => None,
            Err(e) => return Err(Error::kvm("KVM_GET_LAPIC")(e)),
        };
        let events = (&vcpu
            .get_vcpu_events()
            .map_err(Error::kvm("KVM_GET_VCPU_EVENTS"))?)
            .into();
        let mp_state = vcpu
            .get_mp_state()
            .map_err(Error::kvm("KVM_GET_MP_STATE"))?
            .mp_state;
        let tsc_khz = if kvm.check_extension(Cap::GetTscKhz) {
            vcpu.get_tsc_khz().map_err(Error::kvm("KVM_GET_TSC_KHZ"))?
        } else {
            0
        };
        Ok(VcpuState {
            id,
            cpuid,
            regs,
            sregs,
            fpu,
            xsave,
            xcrs,
            debugregs,
            msrs,
            lapic,
            events,
            mp_state,
            tsc_khz,
        })
    }

    /// Checks every length and value that does not come from KVM's own validation.
    pub fn validate(&self) -> Result<()> {
        if self.cpuid.len() > KVM_MAX_CPUID_ENTRIES {
            return Err(Error::TooLarge {
                what: "CPUID entries",
                claimed: self.cpuid.len() as u64,
                limit: KVM_MAX_CPUID_ENTRIES as u64,
            });
        }
        if let Some(x) = &self.xsave {
            if x.region.len() < XSAVE_LEGACY_WORDS || x.region.len() > XSAVE_MAX_WORDS {
                return Err(Error::Invalid(format!(
                    "vCPU {}: XSAVE area of {} words (expected {}..={})",
                    self.id,
                    x.region.len(),
                    XSAVE_LEGACY_WORDS,
                    XSAVE_MAX_WORDS
                )));
            }
        }
        if self.xcrs.len() > MAX_XCRS {
            return Err(Error::TooLarge {
                what: "XCRs",
                claimed: self.xcrs.len() as u64,
                limit: MAX_XCRS as u64,
            });
        }
        if self.msrs.len() > MAX_MSRS {
            return Err(Error::TooLarge {
                what: "MSRs",
                claimed: self.msrs.len() as u64,
                limit: MAX_MSRS as u64,
            });
        }
        if let Some(l) = &self.lapic {
            if l.len() != LAPIC_REGS_LEN {
                return Err(Error::Invalid(format!(
                    "vCPU {}: LAPIC state of {} bytes (expected {LAPIC_REGS_LEN})",
                    self.id,
                    l.len()
                )));
            }
        }
        if self.mp_state > MAX_MP_STATE {
            return Err(Error::Invalid(format!(
                "vCPU {}: unknown MP state {}",
                self.id, self.mp_state
            )));
        }
        Ok(())
    }

    /// Writes the state into a vCPU that has not run yet (or is held outside `KVM_RUN`).
    ///
    /// Order: CPUID, sregs, regs, FPU/XCRs/XSAVE, debug registers, MSRs, LAPIC,
    /// TSC frequency, events, MP state. The state is validated first.
    pub fn restore(&self, vcpu: &VcpuFd) -> Result<()> {
        self.validate()?;
        if !self.cpuid.is_empty() {
            let entries: Vec<kvm_cpuid_entry2> = self
                .cpuid
                .iter()
                .map(|e| kvm_cpuid_entry2 {
                    function: e.function,
                    index: e.index,
                    flags: e.flags,
                    eax: e.regs[0],
                    ebx: e.regs[1],
                    ecx: e.regs[2],
                    edx: e.regs[3],
                    padding: [0; 3],
                })
                .collect();
            let cpuid = CpuId::from_entries(&entries)
                .map_err(|e| Error::Invalid(format!("CPUID entries: {e:?}")))?;
            vcpu.set_cpuid2(&cpuid)
                .map_err(Error::kvm("KVM_SET_CPUID2"))?;
        }
        vcpu.set_sregs(&(&self.sregs).into())
            .map_err(Error::kvm("KVM_SET_SREGS"))?;
        vcpu.set_regs(&(&self.regs).into())
            .map_err(Error::kvm("KVM_SET_REGS"))?;
        vcpu.set_fpu(&(&self.fpu).into())
            .map_err(Error::kvm("KVM_SET_FPU"))?;
        if !self.xcrs.is_empty() {
            let mut x = kvm_xcrs {
                nr_xcrs: self.xcrs.len() as u32,
                ..Default::default()
            };
            for (dst, src) in x.xcrs.iter_mut().zip(&self.xcrs) {
                *dst = kvm_xcr {
                    xcr: src.xcr,
                    reserved: 0,
                    value: src.value,
                };
            }
            vcpu.set_xcrs(&x).map_err(Error::kvm("KVM_SET_XCRS"))?;
        }
        if let Some(xs) = &self.xsave {
            restore_xsave(vcpu, xs)?;
        }
        let d = kvm_debugregs {
            db: self.debugregs.db,
            dr6: self.debugregs.dr6,
            dr7: self.debugregs.dr7,
            flags: self.debugregs.flags,
            reserved: [0; 9],
        };
        vcpu.set_debug_regs(&d)
            .map_err(Error::kvm("KVM_SET_DEBUGREGS"))?;
        restore_msrs(vcpu, &self.msrs)?;
        if let Some(l) = &self.lapic {
            let mut lapic = kvm_lapic_state::default();
            for (dst, &src) in lapic.regs.iter_mut().zip(l) {
                *dst = src as _;
            }
            vcpu.set_lapic(&lapic)
                .map_err(Error::kvm("KVM_SET_LAPIC"))?;
        }
        if self.tsc_khz != 0 {
            // Best effort: hosts without TSC scaling keep their own frequency.
            if let Err(e) = vcpu.set_tsc_khz(self.tsc_khz) {
                log::warn!(
                    "vCPU {}: cannot set TSC to {} kHz: {e}",
                    self.id,
                    self.tsc_khz
                );
            }
        }
        vcpu.set_vcpu_events(&(&self.events).into())
            .map_err(Error::kvm("KVM_SET_VCPU_EVENTS"))?;
        vcpu.set_mp_state(kvm_mp_state {
            mp_state: self.mp_state,
        })
        .map_err(Error::kvm("KVM_SET_MP_STATE"))?;
        Ok(())
    }
}

fn capture_xsave(vcpu: &VcpuFd, kvm: &Kvm) -> Result<XsaveState> {
    let size = kvm.check_extension_int(Cap::Xsave2);
    let legacy_bytes = XSAVE_LEGACY_WORDS * 4;
    if size > legacy_bytes as i32 {
        let extra = (size as usize - legacy_bytes).div_ceil(4);
        if XSAVE_LEGACY_WORDS + extra > XSAVE_MAX_WORDS {
            return Err(Error::Invalid(format!(
                "host XSAVE size {size} exceeds the snapshot limit"
            )));
        }
        let mut xsave = Xsave::new(extra).map_err(|e| Error::Invalid(format!("{e:?}")))?;
        // SAFETY: `xsave` holds the size KVM_CAP_XSAVE2 reported for this process, and
        // this process enables no XSTATE feature dynamically afterwards.
        unsafe { vcpu.get_xsave2(&mut xsave) }.map_err(Error::kvm("KVM_GET_XSAVE2"))?;
        let fam: &kvm_xsave2 = xsave.as_fam_struct_ref();
        let mut region = fam.xsave.region.to_vec();
        region.extend_from_slice(xsave.as_slice());
        Ok(XsaveState { region })
    } else {
        let x = vcpu.get_xsave().map_err(Error::kvm("KVM_GET_XSAVE"))?;
        Ok(XsaveState {
            region: x.region.to_vec(),
        })
    }
}

fn restore_xsave(vcpu: &VcpuFd, xs: &XsaveState) -> Result<()> {
    // A buffer at least as large as any uabi XSAVE size, so the kernel never
    // reads past it whatever features this host enabled.
    let words = xs.region.len().max(XSAVE_RESTORE_WORDS);
    let mut xsave =
        Xsave::new(words - XSAVE_LEGACY_WORDS).map_err(|e| Error::Invalid(format!("{e:?}")))?;
    let (legacy, extra) = xs.region.split_at(XSAVE_LEGACY_WORDS.min(xs.region.len()));
    // SAFETY: only the plain-data `region` array of the header is written.
    unsafe { xsave.as_mut_fam_struct() }.xsave.region[..legacy.len()].copy_from_slice(legacy);
    xsave.as_mut_slice()[..extra.len()].copy_from_slice(extra);
    // SAFETY: the buffer holds `words` >= XSAVE_RESTORE_WORDS words, more than the
    // largest XSAVE layout KVM copies in (its uabi size).
    unsafe { vcpu.set_xsave2(&xsave) }.map_err(Error::kvm("KVM_SET_XSAVE"))
}

fn capture_msrs(vcpu: &VcpuFd, kvm: &Kvm) -> Result<Vec<MsrState>> {
    let list = kvm
        .get_msr_index_list()
        .map_err(Error::kvm("KVM_GET_MSR_INDEX_LIST"))?;
    let mut pending: &[u32] = list.as_slice();
    let mut out = Vec::with_capacity(pending.len());
    // KVM_GET_MSRS stops at the first MSR it cannot read: skip that one and go on.
    while !pending.is_empty() {
        let chunk = &pending[..pending.len().min(256)];
        let entries: Vec<kvm_msr_entry> = chunk
            .iter()
            .map(|&index| kvm_msr_entry {
                index,
                ..Default::default()
            })
            .collect();
        let mut msrs =
            Msrs::from_entries(&entries).map_err(|e| Error::Invalid(format!("{e:?}")))?;
        let n = vcpu
            .get_msrs(&mut msrs)
            .map_err(Error::kvm("KVM_GET_MSRS"))?;
        out.extend(msrs.as_slice()[..n].iter().map(|e| MsrState {
            index: e.index,
            data: e.data,
        }));
        let consumed = if n < chunk.len() { n + 1 } else { n };
        pending = &pending[consumed..];
    }
    if out.len() > MAX_MSRS {
        out.truncate(MAX_MSRS);
    }
    Ok(out)
}

fn restore_msrs(vcpu: &VcpuFd, msrs: &[MsrState]) -> Result<()> {
    let mut pending = msrs;
    while !pending.is_empty() {
        let chunk = &pending[..pending.len().min(256)];
        let entries: Vec<kvm_msr_entry> = chunk
            .iter()
            .map(|m| kvm_msr_entry {
                index: m.index,
                reserved: 0,
                data: m.data,
            })
            .collect();
        let k = Msrs::from_entries(&entries).map_err(|e| Error::Invalid(format!("{e:?}")))?;
        let n = vcpu.set_msrs(&k).map_err(Error::kvm("KVM_SET_MSRS"))?;
        if n < chunk.len() {
            // KVM lists some MSRs it can read but refuses to write in this VM's
            // configuration (e.g. MSR_KVM_ASYNC_PF_INT without an in-kernel
            // LAPIC). Nothing is lost if the vCPU already holds the value.
            let refused = chunk[n];
            if read_msr(vcpu, refused.index) != Some(refused.data) {
                return Err(Error::Invalid(format!(
                    "KVM refused MSR {:#x} (value {:#x})",
                    refused.index, refused.data
                )));
            }
            pending = &pending[n + 1..];
        } else {
            pending = &pending[n..];
        }
    }
    Ok(())
}

fn read_msr(vcpu: &VcpuFd, index: u32) -> Option<u64> {
    let mut m = Msrs::from_entries(&[kvm_msr_entry {
        index,
        ..Default::default()
    }])
    .ok()?;
    match vcpu.get_msrs(&mut m) {
        Ok(1) => m.as_slice().first().map(|e| e.data),
        _ => None,
    }
}

/// State of one in-kernel interrupt controller (`kvm_irqchip`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct IrqchipState {
    /// KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE or _IOAPIC.
    pub chip_id: u32,
    /// The raw chip state ([`IRQCHIP_LEN`] bytes).
    pub data: Vec<u8>,
}

/// One i8254 channel (`kvm_pit_channel_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct PitChannelState {
    /// Count.
    pub count: u32,
    /// Latched count.
    pub latched_count: u16,
    /// count_latched, status_latched, status, read_state, write_state,
    /// write_latch, rw_mode, mode, bcd, gate.
    pub bytes: [u8; 10],
    /// Load time.
    pub count_load_time: i64,
}

/// In-kernel i8254 PIT (`kvm_pit_state2`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct PitState {
    /// The three channels.
    pub channels: [PitChannelState; 3],
    /// Flags.
    pub flags: u32,
}

/// VM-wide KVM state: kvmclock and in-kernel interrupt controllers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct VmKvmState {
    /// kvmclock value (ns) at capture time, if the VM has a clock.
    pub clock_ns: Option<u64>,
    /// In-kernel PIC/IOAPIC state, empty without an in-kernel irqchip.
    pub irqchips: Vec<IrqchipState>,
    /// In-kernel PIT, if created.
    pub pit: Option<PitState>,
}

impl VmKvmState {
    /// Reads the VM-wide state; all vCPUs must be paused.
    pub fn capture(vm: &VmFd) -> Result<Self> {
        let clock_ns = match vm.get_clock() {
            Ok(c) => Some(c.clock),
            Err(e) if e.errno() == libc::ENOTTY || e.errno() == libc::EINVAL => None,
            Err(e) => return Err(Error::kvm("KVM_GET_CLOCK")(e)),
        };
        let mut irqchips = Vec::new();
        for chip_id in [
            KVM_IRQCHIP_PIC_MASTER,
            KVM_IRQCHIP_PIC_SLAVE,
            KVM_IRQCHIP_IOAPIC,
        ] {
            let mut chip = kvm_irqchip {
                chip_id,
                ..Default::default()
            };
            match vm.get_irqchip(&mut chip) {
                Ok(()) => {
                    // SAFETY: every member of the union is plain data; the byte view
                    // covers the whole union, and any byte value is valid.
                    let bytes = unsafe { chip.chip.dummy };
                    irqchips.push(IrqchipState {
                        chip_id,
                        data: bytes.iter().map(|&b| b as u8).collect(),
                    });
                }
                // No in-kernel irqchip (or a split one without PIC/IOAPIC).
                Err(e) if e.errno() == libc::ENXIO || e.errno() == libc::EINVAL => {}
                Err(e) => return Err(Error::kvm("KVM_GET_IRQCHIP")(e)),
            }
        }
        let pit = match vm.get_pit2() {
            Ok(p) => Some(PitState {
                channels: p.channels.map(|c| PitChannelState {
                    count: c.count,
                    latched_count: c.latched_count,
                    bytes: [
                        c.count_latched,
                        c.status_latched,
                        c.status,
                        c.read_state,
                        c.write_state,
                        c.write_latch,
                        c.rw_mode,
                        c.mode,
                        c.bcd,
                        c.gate,
                    ],
                    count_load_time: c.count_load_time,
                }),
                flags: p.flags,
            }),
            Err(e) if e.errno() == libc::ENXIO || e.errno() == libc::EINVAL => None,
            Err(e) => return Err(Error::kvm("KVM_GET_PIT2")(e)),
        };
        Ok(VmKvmState {
            clock_ns,
            irqchips,
            pit,
        })
    }

    /// Checks lengths and chip ids.
    pub fn validate(&self) -> Result<()> {
        if self.irqchips.len() > 3 {
            return Err(Error::TooLarge {
                what: "irqchips",
                claimed: self.irqchips.len() as u64,
                limit: 3,
            });
        }
        for c in &self.irqchips {
            if c.chip_id > KVM_IRQCHIP_IOAPIC || c.data.len() != IRQCHIP_LEN {
                return Err(Error::Invalid(format!(
                    "irqchip {} with {} bytes of state",
                    c.chip_id,
                    c.data.len()
                )));
            }
        }
        Ok(())
    }

    /// Writes the VM-wide state into a VM created with the same devices
    /// (irqchip, PIT) as the one captured, before its vCPUs run.
    pub fn restore(&self, vm: &VmFd) -> Result<()> {
        self.validate()?;
        for c in &self.irqchips {
            let mut chip = kvm_irqchip {
                chip_id: c.chip_id,
                ..Default::default()
            };
            let mut bytes = [0 as std::os::raw::c_char; IRQCHIP_LEN];
            for (d, &s) in bytes.iter_mut().zip(&c.data) {
                *d = s as _;
            }
            chip.chip.dummy = bytes;
            vm.set_irqchip(&chip)
                .map_err(Error::kvm("KVM_SET_IRQCHIP"))?;
        }
        if let Some(p) = &self.pit {
            let state = kvm_pit_state2 {
                channels: p.channels.map(|c| kvm_pit_channel_state {
                    count: c.count,
                    latched_count: c.latched_count,
                    count_latched: c.bytes[0],
                    status_latched: c.bytes[1],
                    status: c.bytes[2],
                    read_state: c.bytes[3],
                    write_state: c.bytes[4],
                    write_latch: c.bytes[5],
                    rw_mode: c.bytes[6],
                    mode: c.bytes[7],
                    bcd: c.bytes[8],
                    gate: c.bytes[9],
                    count_load_time: c.count_load_time,
                }),
                flags: p.flags,
                reserved: [0; 9],
            };
            vm.set_pit2(&state).map_err(Error::kvm("KVM_SET_PIT2"))?;
        }
        if let Some(ns) = self.clock_ns {
            let clock = kvm_clock_data {
                clock: ns,
                flags: 0,
                ..Default::default()
            };
            vm.set_clock(&clock).map_err(Error::kvm("KVM_SET_CLOCK"))?;
        }
        Ok(())
    }
}
