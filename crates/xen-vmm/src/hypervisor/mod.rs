//! The Xen side of the VM: state the hypercalls change (shared_info,
//! vcpu_info, upcall routing, event channels, timers, parameters), kept in
//! [`XenState`] behind the `XenLock` level of vm-lock, and the hypercall
//! handlers in [`hypercalls`].

pub mod evtchn;
pub mod hypercalls;
pub mod xen_hv;

use evtchn::{Backend, Bitmaps, PortKind, PortTable};

/// How upcalls reach a vCPU (`HVM_PARAM_CALLBACK_IRQ`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Callback {
    /// Not configured: events are only visible by polling.
    #[default]
    None,
    /// The global callback vector (injected into the vCPU the event targets).
    Vector(u8),
    /// A GSI; without an emulated IOAPIC it is injected into vCPU 0 as
    /// vector `GSI_VECTOR_BASE + gsi`.
    Gsi(u32),
}

/// Vector used for a GSI callback (as a legacy PIC remapped to 0x20 would).
pub const GSI_VECTOR_BASE: u32 = 0x20;

/// Per-vCPU Xen state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenVcpu {
    /// GPA registered with `VCPUOP_register_vcpu_info`.
    pub vcpu_info: Option<u64>,
    /// `HVMOP_set_evtchn_upcall_vector`.
    pub upcall_vector: Option<u8>,
    /// Single-shot deadline (Xen system time, ns).
    pub singleshot_ns: Option<u64>,
    /// Periodic timer period (ns).
    pub period_ns: Option<u64>,
}

/// Number of grant-table frames the guest may map.
pub const GRANT_FRAMES: u32 = 4;

/// Xen state of the VM (lock level `XenLock`).
#[derive(Clone, Debug, Default)]
pub struct XenState {
    /// The guest was in long mode when it set up the hypercall page (ABI width).
    pub long_mode: bool,
    /// shared_info GPA.
    pub shared_info: Option<u64>,
    /// Per-vCPU state.
    pub vcpus: Vec<XenVcpu>,
    /// Upcall routing.
    pub callback: Callback,
    /// HVM params: store pfn, store evtchn, console pfn, console evtchn.
    pub params: Vec<u64>,
    /// Event channels.
    pub ports: PortTable,
    /// GPAs where grant frames are mapped.
    pub grant_frames: Vec<Option<u64>>,
    /// Shutdown reason once `SCHEDOP_shutdown` was called.
    pub shutdown: Option<u32>,
}

impl XenState {
    /// Fresh state for `nr_vcpus`, with the console and xenstore channels bound to the VMM.
    pub fn new(nr_vcpus: u32, mem_bytes: u64) -> Self {
        let mut s = XenState {
            long_mode: true,
            vcpus: vec![XenVcpu::default(); nr_vcpus as usize],
            grant_frames: vec![None; GRANT_FRAMES as usize],
            params: vec![0; xen_abi::HVM_NR_PARAMS as usize],
            ..Default::default()
        };
        let store = s
            .ports
            .alloc(PortKind::Backend(Backend::Store), 0, false)
            .unwrap_or(0);
        let console = s
            .ports
            .alloc(PortKind::Backend(Backend::Console), 0, false)
            .unwrap_or(0);
        s.params[xen_abi::HVM_PARAM_STORE_PFN as usize] =
            crate::memory::store_page(mem_bytes) >> 12;
        s.params[xen_abi::HVM_PARAM_STORE_EVTCHN as usize] = u64::from(store);
        s.params[xen_abi::HVM_PARAM_CONSOLE_PFN as usize] =
            crate::memory::console_page(mem_bytes) >> 12;
        s.params[xen_abi::HVM_PARAM_CONSOLE_EVTCHN as usize] = u64::from(console);
        s
    }

    /// Where vCPU `v`'s vcpu_info is (registered area, else the legacy slot in shared_info).
    pub fn vcpu_info_gpa(&self, v: u32) -> Option<u64> {
        let x = self.vcpus.get(v as usize)?;
        if let Some(g) = x.vcpu_info {
            return Some(g);
        }
        if v < 32 {
            self.shared_info.map(|s| s + 64 * u64::from(v))
        } else {
            None
        }
    }

    /// The 2-level bitmaps, once shared_info is mapped.
    pub fn bitmaps(&self) -> Option<Bitmaps> {
        self.shared_info.map(|s| Bitmaps {
            shared_info: s,
            long_mode: self.long_mode,
        })
    }

    /// The vector to inject into vCPU `v` when it has an upcall pending.
    pub fn upcall_vector(&self, v: u32) -> Option<u8> {
        let x = self.vcpus.get(v as usize)?;
        if let Some(vec) = x.upcall_vector {
            return Some(vec);
        }
        match self.callback {
            Callback::None => None,
            Callback::Vector(vec) => Some(vec),
            Callback::Gsi(g) if v == 0 => Some((GSI_VECTOR_BASE + g) as u8),
            Callback::Gsi(_) => None,
        }
    }
}
