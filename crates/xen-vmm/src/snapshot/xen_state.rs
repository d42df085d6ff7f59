//! Versionize mirrors of the Xen state our VMM emulates in userspace.
//!
//! Pending and mask bits of event channels live in guest memory (shared_info
//! and vcpu_info), so they travel with guest memory or with
//! [`XenState::overlay_pages`]; only the VMM-side tables are here.

use versionize::{VersionMap, Versionize, VersionizeResult};
use versionize_derive::Versionize;

use super::error::{Error, Result};
use super::memory::{MemoryState, PAGE_SIZE};

/// Event-channel ports of a 64-bit guest (2-level ABI: 64 x 64).
pub const EVTCHN_PORTS_64: u32 = 4096;
/// Event-channel ports of a 32-bit guest (2-level ABI: 32 x 32).
pub const EVTCHN_PORTS_32: u32 = 1024;
/// Number of Xen VIRQs (`NR_VIRQS`).
pub const NR_VIRQS: u32 = 24;
/// Most vCPUs a snapshot may describe.
pub const MAX_VCPUS: usize = 512;
/// Most pages saved outside guest RAM.
pub const MAX_OVERLAY_PAGES: usize = 256;
/// Most HVM params.
pub const MAX_HVM_PARAMS: usize = 64;
/// Most grant-table frames.
pub const MAX_GRANT_FRAMES: usize = 256;
/// Most xenstore nodes.
pub const MAX_XENSTORE_NODES: usize = 65536;
/// Most xenstore watches.
pub const MAX_XENSTORE_WATCHES: usize = 1024;
/// Largest xenstore payload (`XENSTORE_PAYLOAD_MAX`).
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Highest guest frame number we accept (2^52 / 4096).
pub const MAX_GFN: u64 = 1 << 40;

/// Bytes of a `vcpu_info` (same for 32- and 64-bit guests).
const VCPU_INFO_SIZE: u64 = 64;
/// Bytes of a `vcpu_time_info`.
const VCPU_TIME_INFO_SIZE: u64 = 32;
/// Bytes of a `vcpu_runstate_info` of a 64-bit guest (32-bit: 44).
const RUNSTATE_SIZE_64: u64 = 48;
/// Bytes of a `vcpu_runstate_info` of a 32-bit guest.
const RUNSTATE_SIZE_32: u64 = 44;

/// Kind of an open event channel, numbered like `EVTCHNSTAT_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PortKind {
    /// Allocated, waiting for a remote end.
    Unbound = 1,
    /// Connected to a port of another (or the same) domain.
    Interdomain = 2,
    /// Bound to a physical IRQ.
    Pirq = 3,
    /// Bound to a virtual IRQ of one vCPU.
    Virq = 4,
    /// Inter-processor interrupt.
    Ipi = 5,
    /// Connected to a device of the VMM (console, xenstore); `irq` holds
    /// the device number. Our extension: Xen would show an interdomain port.
    Backend = 6,
}

impl PortKind {
    /// Decodes an `EVTCHNSTAT_*` value (closed ports are not saved).
    pub fn from_u8(v: u8) -> Option<PortKind> {
        Some(match v {
            1 => PortKind::Unbound,
            2 => PortKind::Interdomain,
            3 => PortKind::Pirq,
            4 => PortKind::Virq,
            5 => PortKind::Ipi,
            6 => PortKind::Backend,
            _ => return None,
        })
    }
}

/// One open event-channel port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct PortState {
    /// Port number.
    pub port: u32,
    /// [`PortKind`] as `EVTCHNSTAT_*`.
    pub kind: u8,
    /// vCPU the port notifies.
    pub vcpu: u32,
    /// Remote domain (unbound / interdomain).
    pub remote_domid: u16,
    /// Remote port (interdomain).
    pub remote_port: u32,
    /// VIRQ number (virq), PIRQ number (pirq) or device number (backend).
    pub irq: u32,
}

/// Per-vCPU Xen state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenVcpuState {
    /// GPA of the registered `vcpu_info` (None: the one in shared_info).
    pub vcpu_info_gpa: Option<u64>,
    /// GPA of the secondary `vcpu_time_info`, if registered.
    pub time_info_gpa: Option<u64>,
    /// GPA of the `vcpu_runstate_info`, if registered.
    pub runstate_gpa: Option<u64>,
    /// Per-vCPU upcall vector (HVMOP_set_evtchn_upcall_vector), 0 if none.
    pub upcall_vector: u8,
    /// Single-shot timer: absolute deadline in Xen system time (ns).
    pub timer_deadline_ns: Option<u64>,
    /// Periodic timer period (ns), if running.
    pub periodic_period_ns: Option<u64>,
    /// Next periodic expiry, absolute Xen system time (ns).
    pub periodic_next_ns: u64,
    /// Runstate accounting: ns spent in running, runnable, blocked, offline.
    pub runstate_time_ns: [u64; 4],
}

/// A page that is not guest RAM (e.g. shared_info or grant frames placed in
/// an e820 hole) and whose contents the VMM keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct OverlayPage {
    /// Guest frame number the page is mapped at.
    pub gfn: u64,
    /// The 4096 bytes of the page.
    pub data: Vec<u8>,
}

/// A PV ring shared with a backend in the VMM (console or xenstore).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct RingState {
    /// Guest frame of the ring page.
    pub gfn: u64,
    /// Event-channel port of the guest end.
    pub port: u32,
    /// Bytes the backend consumed from the ring but has not processed yet.
    pub pending: Vec<u8>,
}

/// One xenstore node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreNode {
    /// Absolute path.
    pub path: String,
    /// Value.
    pub value: Vec<u8>,
}

/// One xenstore watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreWatch {
    /// Watched path.
    pub path: String,
    /// Guest token.
    pub token: String,
}

/// The xenstore backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreState {
    /// The ring.
    pub ring: RingState,
    /// The store.
    pub nodes: Vec<XenstoreNode>,
    /// Registered watches.
    pub watches: Vec<XenstoreWatch>,
    /// Replies not yet written to the ring (ring full).
    pub pending_replies: Vec<u8>,
}

/// The grant table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct GrantState {
    /// Grant table ABI version (1 or 2; 0: not set up).
    pub version: u8,
    /// GFN at which each grant frame is mapped, if mapped (index = frame number).
    pub frames: Vec<Option<u64>>,
}

/// All Xen state of a guest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenState {
    /// Guest is 64-bit (long mode hypercall ABI) rather than 32-bit.
    pub long_mode: bool,
    /// GPA of the hypercall page, once the guest wrote the hypercall MSR.
    pub hypercall_page_gpa: Option<u64>,
    /// GFN of shared_info, once mapped (XENMAPSPACE_shared_info).
    pub shared_info_gfn: Option<u64>,
    /// HVM_PARAM_CALLBACK_IRQ.
    pub callback_param: u64,
    /// All HVM params (index = param number), including store/console pfn and evtchn.
    pub hvm_params: Vec<u64>,
    /// Reason given to SCHEDOP_shutdown, if the guest already asked.
    pub shutdown: Option<u32>,
    /// Xen system time (ns) when the snapshot was taken; timer deadlines are on this scale.
    pub system_time_ns: u64,
    /// One entry per vCPU, same order as the KVM vCPUs.
    pub vcpus: Vec<XenVcpuState>,
    /// Open event-channel ports.
    pub ports: Vec<PortState>,
    /// PV console ring, if set up.
    pub console: Option<RingState>,
    /// Xenstore, if set up.
    pub xenstore: Option<XenstoreState>,
    /// Grant table.
    pub grant: GrantState,
    /// Contents of Xen pages that are not guest RAM.
    pub overlay_pages: Vec<OverlayPage>,
}

impl XenState {
    /// Number of event-channel ports of the guest's ABI.
    pub fn port_limit(&self) -> u32 {
        if self.long_mode {
            EVTCHN_PORTS_64
        } else {
            EVTCHN_PORTS_32
        }
    }

    /// Checks every port, vCPU index, address and length against the
    /// number of vCPUs and the guest memory layout.
    pub fn validate(&self, nr_vcpus: usize, memory: &MemoryState) -> Result<()> {
        if nr_vcpus > MAX_VCPUS {
            return Err(too_large("vCPUs", nr_vcpus, MAX_VCPUS));
        }
        if self.vcpus.len() != nr_vcpus {
            return Err(Error::Invalid(format!(
                "{} Xen vCPU entries for {nr_vcpus} vCPUs",
                self.vcpus.len()
            )));
        }
        let overlay_ok = |gfn: u64| self.overlay_pages.iter().any(|p| p.gfn == gfn);
        let in_guest = |what: &str, gpa: u64, len: u64| -> Result<()> {
            if memory.contains(gpa, len) || overlay_ok(gpa / PAGE_SIZE) {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "{what} at {gpa:#x} (+{len}) is outside guest memory"
                )))
            }
        };
        if let Some(gpa) = self.hypercall_page_gpa {
            in_guest("hypercall page", gpa, PAGE_SIZE)?;
        }
        if let Some(gfn) = self.shared_info_gfn {
            check_gfn("shared_info", gfn)?;
        }
        let cb_type = self.callback_param >> 56;
        if cb_type > 3 {
            return Err(Error::Invalid(format!(
                "callback parameter {:#x} has unknown type {cb_type}",
                self.callback_param
            )));
        }
        let runstate_size = if self.long_mode {
            RUNSTATE_SIZE_64
        } else {
            RUNSTATE_SIZE_32
        };
        for (i, v) in self.vcpus.iter().enumerate() {
            if let Some(gpa) = v.vcpu_info_gpa {
                if gpa % PAGE_SIZE + VCPU_INFO_SIZE > PAGE_SIZE {
                    return Err(Error::Invalid(format!(
                        "vCPU {i}: vcpu_info at {gpa:#x} crosses a page"
                    )));
                }
                in_guest("vcpu_info", gpa, VCPU_INFO_SIZE)?;
            }
            if let Some(gpa) = v.time_info_gpa {
                in_guest("vcpu_time_info", gpa, VCPU_TIME_INFO_SIZE)?;
            }
            if let Some(gpa) = v.runstate_gpa {
                in_guest("vcpu_runstate_info", gpa, runstate_size)?;
            }
            if v.upcall_vector != 0 && v.upcall_vector < 0x10 {
                return Err(Error::Invalid(format!(
                    "vCPU {i}: upcall vector {:#x}",
                    v.upcall_vector
                )));
            }
            if v.periodic_period_ns == Some(0) {
                return Err(Error::Invalid(format!(
                    "vCPU {i}: periodic timer with period 0"
                )));
            }
        }
        self.validate_ports(nr_vcpus)?;
        let limit = self.port_limit();
        let check_port = |port: u32| {
            if port >= limit || port == 0 {
                Err(Error::PortOutOfRange { port, limit })
            } else {
                Ok(())
            }
        };
        if let Some(c) = &self.console {
            check_port(c.port)?;
            check_gfn("console ring", c.gfn)?;
            check_pending("console", &c.pending)?;
        }
        if let Some(x) = &self.xenstore {
            check_port(x.ring.port)?;
            check_gfn("xenstore ring", x.ring.gfn)?;
            check_pending("xenstore", &x.ring.pending)?;
            check_pending("xenstore replies", &x.pending_replies)?;
            if x.nodes.len() > MAX_XENSTORE_NODES {
                return Err(too_large(
                    "xenstore nodes",
                    x.nodes.len(),
                    MAX_XENSTORE_NODES,
                ));
            }
            if x.watches.len() > MAX_XENSTORE_WATCHES {
                return Err(too_large(
                    "xenstore watches",
                    x.watches.len(),
                    MAX_XENSTORE_WATCHES,
                ));
            }
            for n in &x.nodes {
                if !n.path.starts_with('/') || n.value.len() > XENSTORE_PAYLOAD_MAX {
                    return Err(Error::Invalid(format!(
                        "xenstore node {:?} ({} bytes)",
                        n.path,
                        n.value.len()
                    )));
                }
            }
        }
        if self.grant.version > 2 {
            return Err(Error::Invalid(format!(
                "grant table version {}",
                self.grant.version
            )));
        }
        if self.grant.frames.len() > MAX_GRANT_FRAMES {
            return Err(too_large(
                "grant frames",
                self.grant.frames.len(),
                MAX_GRANT_FRAMES,
            ));
        }
        for &gfn in self.grant.frames.iter().flatten() {
            check_gfn("grant frame", gfn)?;
        }
        if self.hvm_params.len() > MAX_HVM_PARAMS {
            return Err(too_large(
                "HVM params",
                self.hvm_params.len(),
                MAX_HVM_PARAMS,
            ));
        }
        if self.overlay_pages.len() > MAX_OVERLAY_PAGES {
            return Err(too_large(
                "overlay pages",
                self.overlay_pages.len(),
                MAX_OVERLAY_PAGES,
            ));
        }
        for (i, p) in self.overlay_pages.iter().enumerate() {
            check_gfn("overlay page", p.gfn)?;
            if p.data.len() as u64 != PAGE_SIZE {
                return Err(Error::Invalid(format!(
                    "overlay page at gfn {:#x}: {} bytes",
                    p.gfn,
                    p.data.len()
                )));
            }
            if self.overlay_pages[..i].iter().any(|q| q.gfn == p.gfn) {
                return Err(Error::Invalid(format!(
                    "overlay page gfn {:#x} twice",
                    p.gfn
                )));
            }
        }
        Ok(())
    }

    fn validate_ports(&self, nr_vcpus: usize) -> Result<()> {
        let limit = self.port_limit();
        if self.ports.len() > limit as usize {
            return Err(too_large("ports", self.ports.len(), limit as usize));
        }
        // Bitmap of seen ports: `limit` is at most 4096, so this is small.
        let mut seen = vec![false; limit as usize];
        let mut virqs = vec![false; nr_vcpus * NR_VIRQS as usize];
        for p in &self.ports {
            if p.port == 0 || p.port >= limit {
                return Err(Error::PortOutOfRange {
                    port: p.port,
                    limit,
                });
            }
            if std::mem::replace(&mut seen[p.port as usize], true) {
                return Err(Error::Invalid(format!("port {} appears twice", p.port)));
            }
            if p.vcpu as usize >= nr_vcpus {
                return Err(Error::VcpuOutOfRange {
                    what: "event channel",
                    vcpu: p.vcpu,
                    nr_vcpus: nr_vcpus as u32,
                });
            }
            let kind = PortKind::from_u8(p.kind).ok_or_else(|| {
                Error::Invalid(format!("port {}: unknown type {}", p.port, p.kind))
            })?;
            match kind {
                PortKind::Virq => {
                    if p.irq >= NR_VIRQS {
                        return Err(Error::Invalid(format!(
                            "port {}: VIRQ {} out of range",
                            p.port, p.irq
                        )));
                    }
                    let slot = p.vcpu as usize * NR_VIRQS as usize + p.irq as usize;
                    if std::mem::replace(&mut virqs[slot], true) {
                        return Err(Error::Invalid(format!(
                            "VIRQ {} of vCPU {} bound twice",
                            p.irq, p.vcpu
                        )));
                    }
                }
                PortKind::Interdomain => {
                    if p.remote_port >= limit {
                        return Err(Error::PortOutOfRange {
                            port: p.remote_port,
                            limit,
                        });
                    }
                }
                PortKind::Unbound | PortKind::Pirq | PortKind::Ipi | PortKind::Backend => {}
            }
        }
        Ok(())
    }
}

fn too_large(what: &'static str, claimed: usize, limit: usize) -> Error {
    Error::TooLarge {
        what,
        claimed: claimed as u64,
        limit: limit as u64,
    }
}

fn check_gfn(what: &str, gfn: u64) -> Result<()> {
    if gfn >= MAX_GFN {
        return Err(Error::Invalid(format!("{what} gfn {gfn:#x} out of range")));
    }
    Ok(())
}

fn check_pending(what: &str, bytes: &[u8]) -> Result<()> {
    if bytes.len() > XENSTORE_PAYLOAD_MAX * 4 {
        return Err(Error::Invalid(format!(
            "{what}: {} pending bytes",
            bytes.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::memory::MemoryRegionState;

    fn mem() -> MemoryState {
        MemoryState {
            regions: vec![MemoryRegionState {
                guest_addr: 0,
                size: 0x100000,
            }],
        }
    }

    fn state() -> XenState {
        XenState {
            long_mode: true,
            hypercall_page_gpa: Some(0x2000),
            shared_info_gfn: Some(0xfeffe),
            callback_param: (2 << 56) | 0xf3,
            vcpus: vec![XenVcpuState::default(), XenVcpuState::default()],
            ports: vec![
                PortState {
                    port: 1,
                    kind: PortKind::Virq as u8,
                    vcpu: 1,
                    irq: 0,
                    ..Default::default()
                },
                PortState {
                    port: 4095,
                    kind: PortKind::Ipi as u8,
                    vcpu: 0,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn valid_state_passes() {
        state().validate(2, &mem()).unwrap();
    }

    #[test]
    fn ports_out_of_range_are_rejected() {
        let mut s = state();
        s.ports[1].port = 4096;
        assert!(matches!(
            s.validate(2, &mem()),
            Err(Error::PortOutOfRange {
                port: 4096,
                limit: 4096
            })
        ));
        // A 32-bit guest has only 1024 ports.
        let mut s = state();
        s.long_mode = false;
        assert!(matches!(
            s.validate(2, &mem()),
            Err(Error::PortOutOfRange { port: 4095, .. })
        ));
        let mut s = state();
        s.ports[0].port = 0;
        assert!(matches!(
            s.validate(2, &mem()),
            Err(Error::PortOutOfRange { port: 0, .. })
        ));
    }

    #[test]
    fn bad_values_are_rejected() {
        let cases: Vec<fn(&mut XenState)> = vec![
            |s| s.ports[0].vcpu = 2,
            |s| s.ports[0].irq = NR_VIRQS,
            |s| s.ports[0].kind = 9,
            |s| s.ports[1].port = 1,
            |s| s.vcpus.pop().map(drop).unwrap_or(()),
            |s| s.vcpus[0].vcpu_info_gpa = Some(0xffff_0000),
            |s| s.vcpus[0].vcpu_info_gpa = Some(0x1fe0),
            |s| s.vcpus[1].upcall_vector = 3,
            |s| s.callback_param = 7 << 56,
            |s| s.grant.version = 3,
            |s| s.grant.frames = vec![None, Some(1 << 41)],
            |s| s.hvm_params = vec![0; 65],
            |s| {
                s.overlay_pages = vec![OverlayPage {
                    gfn: 5,
                    data: vec![0; 12],
                }]
            },
            |s| {
                s.console = Some(RingState {
                    gfn: 3,
                    port: 5000,
                    pending: vec![],
                })
            },
        ];
        for (i, f) in cases.into_iter().enumerate() {
            let mut s = state();
            f(&mut s);
            assert!(s.validate(2, &mem()).is_err(), "case {i}");
        }
    }

    #[test]
    fn overlay_page_makes_gpa_valid() {
        let mut s = state();
        s.vcpus[0].vcpu_info_gpa = Some(0xfeffe040);
        assert!(s.validate(2, &mem()).is_err());
        s.overlay_pages.push(OverlayPage {
            gfn: 0xfeffe,
            data: vec![0; 4096],
        });
        s.validate(2, &mem()).unwrap();
    }
}
