// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `hvm_op` sub-ops, HVM parameters (`hvm/params.h`) and the callback-IRQ encoding.

/// Set an HVM parameter (`struct xen_hvm_param`).
pub const HVMOP_SET_PARAM: u32 = 0;
/// Get an HVM parameter (`struct xen_hvm_param`).
pub const HVMOP_GET_PARAM: u32 = 1;
/// Pagetable dying hint.
pub const HVMOP_PAGETABLE_DYING: u32 = 9;
/// Get current time.
pub const HVMOP_GET_TIME: u32 = 10;
/// Get memory type of a GFN.
pub const HVMOP_GET_MEM_TYPE: u32 = 15;
/// Per-vCPU upcall vector (`struct xen_hvm_evtchn_upcall_vector`).
pub const HVMOP_SET_EVTCHN_UPCALL_VECTOR: u32 = 23;

/// How event-channel upcalls are delivered (see [`HvmCallbackVia`]).
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// Xenstore ring GFN.
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// Xenstore event channel port.
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// PAE enabled.
pub const HVM_PARAM_PAE_ENABLED: u32 = 4;
/// ioreq page GFN.
pub const HVM_PARAM_IOREQ_PFN: u32 = 5;
/// Buffered ioreq page GFN.
pub const HVM_PARAM_BUFIOREQ_PFN: u32 = 6;
/// Timer mode.
pub const HVM_PARAM_TIMER_MODE: u32 = 10;
/// HPET enabled.
pub const HVM_PARAM_HPET_ENABLED: u32 = 11;
/// Identity page table address.
pub const HVM_PARAM_IDENT_PT: u32 = 12;
/// ACPI S state.
pub const HVM_PARAM_ACPI_S_STATE: u32 = 14;
/// VM86 TSS address.
pub const HVM_PARAM_VM86_TSS: u32 = 15;
/// Virtual platform timer alignment.
pub const HVM_PARAM_VPT_ALIGN: u32 = 16;
/// PV console ring GFN.
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// PV console event channel port.
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// Number of HVM parameters (`HVM_NR_PARAMS`); indices `>=` this are invalid.
pub const HVM_NR_PARAMS: u32 = 39;

/// Mask of the type field of the `HVM_PARAM_CALLBACK_IRQ` value (bits 63..56).
pub const HVM_PARAM_CALLBACK_IRQ_TYPE_MASK: u64 = 0xff00_0000_0000_0000;
/// Shift of the type field of the `HVM_PARAM_CALLBACK_IRQ` value.
pub const HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT: u32 = 56;
/// Callback type: GSI in bits 55..0 (0 disables the callback).
pub const HVM_PARAM_CALLBACK_TYPE_GSI: u8 = 0;
/// Callback type: PCI INTx (domain 47..32, bus 31..16, devfn 15..8, pin 1..0).
pub const HVM_PARAM_CALLBACK_TYPE_PCI_INTX: u8 = 1;
/// Callback type: direct vector in bits 7..0.
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u8 = 2;

/// `struct xen_hvm_param` (16 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenHvmParam {
    /// Domain (`DOMID_SELF`).
    pub domid: u16,
    /// Padding.
    pub pad: u16,
    /// `HVM_PARAM_*`.
    pub index: u32,
    /// Value (IN for set, OUT for get).
    pub value: u64,
}

/// `struct xen_hvm_evtchn_upcall_vector` (8 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenHvmEvtchnUpcallVector {
    /// Target vCPU.
    pub vcpu: u32,
    /// Vector to inject (must be >= 0x10).
    pub vector: u8,
    /// Padding.
    pub pad: [u8; 3],
}

/// Decoded value of `HVM_PARAM_CALLBACK_IRQ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HvmCallbackVia {
    /// Upcalls disabled (GSI type with value 0).
    None,
    /// Level-triggered GSI.
    Gsi(u32),
    /// PCI INTx line of a device.
    PciIntx {
        /// PCI segment.
        domain: u16,
        /// Bus.
        bus: u16,
        /// Device/function.
        devfn: u8,
        /// INTx pin (0 = INTA .. 3 = INTD).
        pin: u8,
    },
    /// Direct vector injected on any vCPU (the per-vCPU upcall in Linux's sense).
    Vector(u8),
}

impl HvmCallbackVia {
    /// Decodes an `HVM_PARAM_CALLBACK_IRQ` value the way Xen's `hvm_set_callback_via` reads
    /// it. The type is bits 63:56:
    ///
    /// - [`HVM_PARAM_CALLBACK_TYPE_GSI`]: bits 55:0 are the GSI. 0 gives [`Self::None`] (the
    ///   whole value is 0: callbacks off); a GSI above `u32::MAX` exists on no platform and
    ///   gives [`Self::None`], as Xen disables the callback for a GSI it does not have.
    /// - [`HVM_PARAM_CALLBACK_TYPE_PCI_INTX`]: domain 47:32, bus 31:16, devfn 15:8, pin 1:0;
    ///   the other bits are ignored.
    /// - [`HVM_PARAM_CALLBACK_TYPE_VECTOR`]: bits 7:0 are the vector; bits 55:8 are ignored.
    /// - any other type gives [`Self::None`].
    ///
    /// It never fails: Xen accepts every value of this parameter (the set succeeds and an
    /// unusable value turns the callback off); whether the VMM can deliver a given GSI,
    /// vector or INTx line is its own decision.
    pub fn from_param(value: u64) -> Self {
        let ty = (value >> HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT) as u8;
        let payload = value & !HVM_PARAM_CALLBACK_IRQ_TYPE_MASK;
        match ty {
            HVM_PARAM_CALLBACK_TYPE_GSI => match u32::try_from(payload) {
                Ok(0) | Err(_) => Self::None,
                Ok(gsi) => Self::Gsi(gsi),
            },
            HVM_PARAM_CALLBACK_TYPE_PCI_INTX => Self::PciIntx {
                domain: (payload >> 32) as u16,
                bus: (payload >> 16) as u16,
                devfn: (payload >> 8) as u8,
                pin: (payload & 3) as u8,
            },
            HVM_PARAM_CALLBACK_TYPE_VECTOR => Self::Vector(payload as u8),
            _ => Self::None,
        }
    }

    /// Encodes back to the `HVM_PARAM_CALLBACK_IRQ` value.
    pub fn to_param(self) -> u64 {
        let t = |ty: u8| u64::from(ty) << HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT;
        match self {
            Self::None => 0,
            Self::Gsi(gsi) => t(HVM_PARAM_CALLBACK_TYPE_GSI) | u64::from(gsi),
            Self::PciIntx {
                domain,
                bus,
                devfn,
                pin,
            } => {
                t(HVM_PARAM_CALLBACK_TYPE_PCI_INTX)
                    | u64::from(domain) << 32
                    | u64::from(bus) << 16
                    | u64::from(devfn) << 8
                    | u64::from(pin & 3)
            }
            Self::Vector(v) => t(HVM_PARAM_CALLBACK_TYPE_VECTOR) | u64::from(v),
        }
    }
}

/// `vcpu_hvm_context.mode`: the 32-bit register set ([`VcpuHvmX86Regs32`]) is used.
pub const VCPU_HVM_MODE_32B: u32 = 0;
/// `vcpu_hvm_context.mode`: the 64-bit register set ([`VcpuHvmX86Regs64`]) is used.
pub const VCPU_HVM_MODE_64B: u32 = 1;

/// `struct vcpu_hvm_x86_32` (120 bytes, both widths; `hvm/hvm_vcpu.h`): the state a vCPU
/// starts in with [`VCPU_HVM_MODE_32B`] (`VCPUOP_initialise` of an HVM/PVH guest).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuHvmX86Regs32 {
    /// EAX.
    pub eax: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
    /// EBX.
    pub ebx: u32,
    /// ESP.
    pub esp: u32,
    /// EBP.
    pub ebp: u32,
    /// ESI.
    pub esi: u32,
    /// EDI.
    pub edi: u32,
    /// EIP.
    pub eip: u32,
    /// EFLAGS.
    pub eflags: u32,
    /// CR0.
    pub cr0: u32,
    /// CR3.
    pub cr3: u32,
    /// CR4.
    pub cr4: u32,
    /// Padding.
    pub pad1: u32,
    /// EFER (NXE, or LME/LMA to start in compatibility mode).
    pub efer: u64,
    /// CS base.
    pub cs_base: u32,
    /// DS base.
    pub ds_base: u32,
    /// SS base.
    pub ss_base: u32,
    /// ES base.
    pub es_base: u32,
    /// TR base.
    pub tr_base: u32,
    /// CS limit.
    pub cs_limit: u32,
    /// DS limit.
    pub ds_limit: u32,
    /// SS limit.
    pub ss_limit: u32,
    /// ES limit.
    pub es_limit: u32,
    /// TR limit.
    pub tr_limit: u32,
    /// CS access rights.
    pub cs_ar: u16,
    /// DS access rights.
    pub ds_ar: u16,
    /// SS access rights.
    pub ss_ar: u16,
    /// ES access rights.
    pub es_ar: u16,
    /// TR access rights.
    pub tr_ar: u16,
    /// Padding.
    pub pad2: [u16; 3],
}

/// `struct vcpu_hvm_x86_64` (112 bytes, both widths): the state a vCPU starts in with
/// [`VCPU_HVM_MODE_64B`] (directly in long mode, flat segments).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuHvmX86Regs64 {
    /// RAX.
    pub rax: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// RBX.
    pub rbx: u64,
    /// RSP.
    pub rsp: u64,
    /// RBP.
    pub rbp: u64,
    /// RSI.
    pub rsi: u64,
    /// RDI.
    pub rdi: u64,
    /// RIP.
    pub rip: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// CR0.
    pub cr0: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// EFER.
    pub efer: u64,
}

/// Size of the `cpu_regs` union of `struct vcpu_hvm_context` (its larger member).
pub const VCPU_HVM_CPU_REGS_SIZE: usize = core::mem::size_of::<VcpuHvmX86Regs32>();

/// `struct vcpu_hvm_context` (128 bytes, both widths): `mode` selects which member of the
/// `cpu_regs` union is meant. The union is kept as bytes so that every byte of the value is
/// initialised; read it with [`VcpuHvmContext::regs32`] / [`VcpuHvmContext::regs64`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuHvmContext {
    /// `VCPU_HVM_MODE_*`.
    pub mode: u32,
    /// Padding.
    pub pad: u32,
    /// The `cpu_regs` union: a [`VcpuHvmX86Regs32`] or a [`VcpuHvmX86Regs64`].
    pub cpu_regs: [u8; VCPU_HVM_CPU_REGS_SIZE],
}

impl Default for VcpuHvmContext {
    fn default() -> Self {
        Self {
            mode: 0,
            pad: 0,
            cpu_regs: [0; VCPU_HVM_CPU_REGS_SIZE],
        }
    }
}

impl VcpuHvmContext {
    /// `cpu_regs` read as the 32-bit register set.
    pub fn regs32(&self) -> VcpuHvmX86Regs32 {
        let mut r = VcpuHvmX86Regs32::default();
        let b = vm_memory::ByteValued::as_mut_slice(&mut r);
        let n = b.len();
        b.copy_from_slice(&self.cpu_regs[..n]);
        r
    }

    /// `cpu_regs` read as the 64-bit register set.
    pub fn regs64(&self) -> VcpuHvmX86Regs64 {
        let mut r = VcpuHvmX86Regs64::default();
        let b = vm_memory::ByteValued::as_mut_slice(&mut r);
        let n = b.len();
        b.copy_from_slice(&self.cpu_regs[..n]);
        r
    }

    /// A context in [`VCPU_HVM_MODE_32B`] with registers `r`.
    pub fn with_regs32(r: &VcpuHvmX86Regs32) -> Self {
        let mut c = Self {
            mode: VCPU_HVM_MODE_32B,
            ..Self::default()
        };
        let b = vm_memory::ByteValued::as_slice(r);
        c.cpu_regs[..b.len()].copy_from_slice(b);
        c
    }

    /// A context in [`VCPU_HVM_MODE_64B`] with registers `r` (the union's tail is zero).
    pub fn with_regs64(r: &VcpuHvmX86Regs64) -> Self {
        let mut c = Self {
            mode: VCPU_HVM_MODE_64B,
            ..Self::default()
        };
        let b = vm_memory::ByteValued::as_slice(r);
        c.cpu_regs[..b.len()].copy_from_slice(b);
        c
    }
}
