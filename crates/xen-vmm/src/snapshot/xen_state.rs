// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Versionize mirrors of the Xen state our VMM emulates in userspace.
//!
//! Pending and mask bits of event channels live in guest memory (shared_info
//! and vcpu_info, including pages the VMM added in holes, which are memory
//! regions of the snapshot); only the VMM-side tables are here, and the
//! ports set pending before shared_info existed, which xen-evtchn keeps
//! host-side (`XenState::deferred_ports`). The mirrors
//! convert to and from the plain states of xen-evtchn (`EvtchnState`),
//! xen-shinfo-cache (`PagesState`) and the devices (console, xenstore, grant
//! table), whose `from_state` check them again on restore.

use versionize::{VersionMap, Versionize, VersionizeResult};
use versionize_derive::Versionize;

use xen_evtchn::{
    Binding, CallbackVia, EvtchnState, FifoState, HostPortState, PortState as EvtchnPortState,
    Remote,
};
use xen_gnttab::GrantTableState;
use xen_shinfo_cache::{GuestWidth, PagesState, VcpuPagesState};
use xen_store::{Watch, XenstoreState as DevXenstoreState};

use super::error::{Error, Result};
use super::memory::{MemoryState, PAGE_SIZE};
use xen_platform::console::ConsoleState;
use xen_platform::state::XenState as PlatformXenState;
use xen_platform::PlatformState;
use xen_platform::{MAX_PERIOD_NS, MAX_SINGLESHOT_AHEAD_NS, MIN_PERIOD_NS};

/// Event-channel ports of a 64-bit guest (2-level ABI: 64 x 64).
pub const EVTCHN_PORTS_64: u32 = 4096;
/// Event-channel ports of a 32-bit guest (2-level ABI: 32 x 32).
pub const EVTCHN_PORTS_32: u32 = 1024;
/// Number of Xen VIRQs (`NR_VIRQS`).
pub const NR_VIRQS: u32 = 24;
/// Most vCPUs a snapshot may describe.
pub const MAX_VCPUS: usize = 512;
/// Most host (backend) event-channel ports.
pub const MAX_HOST_PORTS: usize = 4096;
/// Most HVM params.
pub const MAX_HVM_PARAMS: usize = 64;
/// Most grant-table frames.
pub const MAX_GRANT_FRAMES: usize = 256;
/// Most xenstore nodes (the server's limit).
pub const MAX_XENSTORE_NODES: usize = xen_store::MAX_NODES;
/// Most xenstore watches (the server's limit).
pub const MAX_XENSTORE_WATCHES: usize = xen_store::MAX_WATCHES;
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
    /// Current runstate (`RUNSTATE_*`, 0..=3). Added in format version 3 (older files: 0).
    #[version(start = 2, default_fn = "default_runstate")]
    pub runstate: u32,
    /// Xen system time (ns) when the vCPU entered `runstate`. Added in format version 3
    /// (older files: 0).
    #[version(start = 2, default_fn = "default_runstate_entry_ns")]
    pub runstate_entry_ns: u64,
    /// The vCPU was brought up (PVH secondaries start down).
    pub online: bool,
    /// The vCPU has a context (Xen's `is_initialised`: `VCPUOP_initialise` was done, or
    /// it ran from boot), whether up or not. Added in format version 6 (older files:
    /// false, taken from `online`).
    #[version(start = 3, default_fn = "default_initialised")]
    pub initialised: bool,
    /// Registers given by `VCPUOP_initialise` that the vCPU has not started with yet.
    /// Added in format version 6 (older files: none).
    #[version(start = 3, default_fn = "default_start")]
    pub start: Option<VcpuStartMirror>,
}

/// A segment of a vCPU's start state (mirror of `xen_platform::StartSegment`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Versionize)]
pub struct StartSegmentMirror {
    /// Base.
    pub base: u64,
    /// Limit in bytes.
    pub limit: u32,
    /// Attributes (Xen's packed format).
    pub attr: u16,
}

/// The registers a vCPU starts with after `VCPUOP_initialise` (mirror of
/// `xen_platform::VcpuStart`; checked again by the platform on restore).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct VcpuStartMirror {
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI.
    pub gprs: [u64; 8],
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
    /// CS, DS, SS, ES, TR.
    pub segments: [StartSegmentMirror; 5],
}

impl From<&xen_platform::VcpuStart> for VcpuStartMirror {
    fn from(s: &xen_platform::VcpuStart) -> Self {
        let seg = |g: &xen_platform::StartSegment| StartSegmentMirror {
            base: g.base,
            limit: g.limit,
            attr: g.attr,
        };
        VcpuStartMirror {
            gprs: s.gprs,
            rip: s.rip,
            rflags: s.rflags,
            cr0: s.cr0,
            cr3: s.cr3,
            cr4: s.cr4,
            efer: s.efer,
            segments: [seg(&s.cs), seg(&s.ds), seg(&s.ss), seg(&s.es), seg(&s.tr)],
        }
    }
}

impl From<&VcpuStartMirror> for xen_platform::VcpuStart {
    fn from(m: &VcpuStartMirror) -> Self {
        let [cs, ds, ss, es, tr] = m.segments.map(|g| xen_platform::StartSegment {
            base: g.base,
            limit: g.limit,
            attr: g.attr,
        });
        xen_platform::VcpuStart {
            gprs: m.gprs,
            rip: m.rip,
            rflags: m.rflags,
            cr0: m.cr0,
            cr3: m.cr3,
            cr4: m.cr4,
            efer: m.efer,
            cs,
            ds,
            ss,
            es,
            tr,
        }
    }
}

impl XenVcpuState {
    fn default_initialised(_source_version: u16) -> bool {
        false
    }

    fn default_start(_source_version: u16) -> Option<VcpuStartMirror> {
        None
    }

    fn default_runstate(_source_version: u16) -> u32 {
        0
    }

    fn default_runstate_entry_ns(_source_version: u16) -> u64 {
        0
    }
}

/// One host (backend) event-channel port of the VMM (xen-evtchn's `HostPortState`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct HostPortMirror {
    /// Host port id (>= 1).
    pub id: u32,
    /// Guest port it is connected to, if any.
    pub guest_port: Option<u32>,
}

/// The PV console backend (mirror of `devices::console::ConsoleState`);
/// the ring itself is in guest memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct ConsoleMirror {
    /// Guest frame of the ring page.
    pub ring_gfn: u64,
    /// Host input not yet copied into the guest's ring.
    pub pending_input: Vec<u8>,
    /// Host input bytes dropped (queue full).
    pub dropped_input: u64,
    /// Times the guest broke the ring protocol.
    pub guest_errors: u64,
}

/// One xenstore node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreNode {
    /// Absolute path (or `@introduceDomain` / `@releaseDomain`, from format version 7).
    pub path: String,
    /// Value.
    pub value: Vec<u8>,
    /// Permissions in the wire form (`n0`, `r1` ...; first entry: owner). Added in format
    /// version 7 (older files: none, derived from `XenstoreMirror::writable` on restore).
    #[version(start = 2, default_fn = "default_perms")]
    pub perms: Vec<String>,
    /// Generation (last change of the node or its children). Added in format version 7
    /// (older files: 0).
    #[version(start = 2, default_fn = "default_generation")]
    pub generation: u64,
}

impl XenstoreNode {
    fn default_perms(_source_version: u16) -> Vec<String> {
        Vec::new()
    }

    fn default_generation(_source_version: u16) -> u64 {
        0
    }
}

/// A node a xenstore transaction accessed (format version 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreTxAccess {
    /// Absolute path.
    pub path: String,
    /// Generation at first access (`None`: the node did not exist).
    pub generation: Option<u64>,
}

/// A node a xenstore transaction changed (format version 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreTxChange {
    /// The node's path and new contents (`perms` empty: removed).
    pub node: XenstoreNode,
    /// The transaction removed the node.
    pub removed: bool,
}

/// A watch event a xenstore transaction fires at commit (format version 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreTxEvent {
    /// Absolute path.
    pub path: String,
    /// Only watches on exactly this node fire (a node removed below the one `XS_RM`
    /// named).
    pub exact: bool,
}

/// An open xenstore transaction (mirror of `xen_store::Transaction`, format version 7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreTxMirror {
    /// Transaction id.
    pub id: u32,
    /// The store's generation counter at the start.
    pub start_generation: u64,
    /// Nodes read or written.
    pub accessed: Vec<XenstoreTxAccess>,
    /// Nodes changed.
    pub changes: Vec<XenstoreTxChange>,
    /// Watch events for the commit.
    pub events: Vec<XenstoreTxEvent>,
    /// Known to fail at commit.
    pub doomed: bool,
}

/// The xenstore quotas (mirror of `xen_store::Quotas`, format version 7; the default is
/// xenstored's).
#[derive(Clone, Debug, PartialEq, Eq, Versionize)]
pub struct XenstoreQuotasMirror {
    /// Nodes per domain.
    pub entries_per_domain: u32,
    /// Node size.
    pub node_size: u32,
    /// Watches per connection.
    pub watches_per_connection: u32,
    /// Transactions per connection.
    pub transactions_per_connection: u32,
    /// Path length below the home.
    pub path_length: u32,
    /// Permission entries per node.
    pub perms_per_node: u32,
    /// Nodes per transaction.
    pub nodes_per_transaction: u32,
}

/// One xenstore watch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreWatch {
    /// Watched path.
    pub path: String,
    /// Guest token.
    pub token: String,
}

/// The xenstore server (mirror of `xen_store::XenstoreState`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenstoreMirror {
    /// Guest frame of the ring page.
    pub ring_gfn: u64,
    /// The guest's domain id.
    pub domid: u16,
    /// The store, in path order.
    pub nodes: Vec<XenstoreNode>,
    /// Path prefixes the guest may write.
    pub writable: Vec<String>,
    /// Registered watches.
    pub watches: Vec<XenstoreWatch>,
    /// Open transaction ids.
    pub transactions: Vec<u32>,
    /// Last transaction id handed out.
    pub last_tx_id: u32,
    /// Request bytes read from the ring that do not form a whole message yet.
    pub partial_request: Vec<u8>,
    /// Replies not yet written to the ring (ring full).
    pub pending_replies: Vec<u8>,
    /// Times the guest broke the ring protocol.
    pub guest_errors: u64,
    /// The open transactions in full (ids as in `transactions`). Added in format version
    /// 8 (older files: none; the ids restore as empty transactions).
    #[version(start = 2, default_fn = "default_tx_states")]
    pub transaction_states: Vec<XenstoreTxMirror>,
    /// The store's generation counter. Added in format version 7 (older files: 0).
    #[version(start = 2, default_fn = "default_store_generation")]
    pub generation: u64,
    /// The guest was released (`XS_RELEASE`). Added in format version 7.
    #[version(start = 2, default_fn = "default_released")]
    pub released: bool,
    /// Quotas. Added in format version 7 (older files: xenstored's defaults).
    #[version(start = 2, default_fn = "default_quotas")]
    pub quotas: XenstoreQuotasMirror,
}

impl XenstoreMirror {
    fn default_tx_states(_source_version: u16) -> Vec<XenstoreTxMirror> {
        Vec::new()
    }

    fn default_store_generation(_source_version: u16) -> u64 {
        0
    }

    fn default_released(_source_version: u16) -> bool {
        false
    }

    fn default_quotas(_source_version: u16) -> XenstoreQuotasMirror {
        XenstoreQuotasMirror::from(&xen_store::Quotas::default())
    }
}

impl Default for XenstoreQuotasMirror {
    fn default() -> Self {
        XenstoreQuotasMirror::from(&xen_store::Quotas::default())
    }
}

impl From<&xen_store::Quotas> for XenstoreQuotasMirror {
    fn from(q: &xen_store::Quotas) -> Self {
        XenstoreQuotasMirror {
            entries_per_domain: q.entries_per_domain,
            node_size: q.node_size,
            watches_per_connection: q.watches_per_connection,
            transactions_per_connection: q.transactions_per_connection,
            path_length: q.path_length,
            perms_per_node: q.perms_per_node,
            nodes_per_transaction: q.nodes_per_transaction,
        }
    }
}

impl XenstoreQuotasMirror {
    /// The quotas.
    pub fn to_quotas(&self) -> xen_store::Quotas {
        xen_store::Quotas {
            entries_per_domain: self.entries_per_domain,
            node_size: self.node_size,
            watches_per_connection: self.watches_per_connection,
            transactions_per_connection: self.transactions_per_connection,
            path_length: self.path_length,
            perms_per_node: self.perms_per_node,
            nodes_per_transaction: self.nodes_per_transaction,
        }
    }
}

fn node_mirror(path: &str, n: &xen_store::Node) -> XenstoreNode {
    XenstoreNode {
        path: path.to_string(),
        value: n.value.clone(),
        perms: n.perms.iter().map(|p| p.to_string()).collect(),
        generation: n.generation,
    }
}

fn node_state(n: &XenstoreNode) -> xen_store::Node {
    xen_store::Node {
        value: n.value.clone(),
        // Checked by `XenState::check` (an unparsable entry cannot get here).
        perms: n
            .perms
            .iter()
            .filter_map(|p| xen_store::Perm::parse(p))
            .collect(),
        generation: n.generation,
    }
}

/// The grant table (mirror of `xen_gnttab::GrantTableState`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct GrantState {
    /// Grant table ABI version (1 or 2; 0: default state, read as 1).
    pub version: u8,
    /// Frames the table may grow to.
    pub max_frames: u32,
    /// GFN at which each frame in use is mapped, if mapped (index = frame number).
    pub frames: Vec<Option<u64>>,
    /// Version 2: GFN at which each status frame is mapped, if mapped (one per 8 grant
    /// frames; empty in version 1). Added in format version 5 (older files: none, as
    /// they are all version 1).
    #[version(start = 2, default_fn = "default_status_frames")]
    pub status_frames: Vec<Option<u64>>,
}

impl GrantState {
    fn default_status_frames(_source_version: u16) -> Vec<Option<u64>> {
        Vec::new()
    }
}

/// All Xen state of a guest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct XenState {
    /// Guest RAM size the VM was created with (bytes; 0: not recorded).
    pub mem_bytes: u64,
    /// Hypercalls went through KVM's Xen support (`KVM_EXIT_XEN`) rather
    /// than MSR exits and port-I/O stubs.
    pub kernel_xen: bool,
    /// Guest is 64-bit (long mode hypercall ABI) rather than 32-bit.
    pub long_mode: bool,
    /// Runstate updates use `XEN_RUNSTATE_UPDATE`.
    pub runstate_update_flag: bool,
    /// GFN of shared_info, once mapped (XENMAPSPACE_shared_info).
    pub shared_info_gfn: Option<u64>,
    /// HVM_PARAM_CALLBACK_IRQ encoding of the VM-wide callback
    /// (type in bits 56..64: 0 GSI, 2 vector; 0 = none).
    pub callback_param: u64,
    /// All HVM params (index = param number), including store/console pfn and evtchn.
    pub hvm_params: Vec<u64>,
    /// Reason given to SCHEDOP_shutdown, if the guest already asked.
    pub shutdown: Option<u32>,
    /// Xen system time (ns) when the snapshot was taken; timer deadlines are on this scale.
    pub system_time_ns: u64,
    /// One entry per vCPU, same order as the KVM vCPUs.
    pub vcpus: Vec<XenVcpuState>,
    /// Domain id the event channels were created for.
    pub domid: u16,
    /// Number of PIRQs the guest may bind.
    pub nr_pirqs: u32,
    /// Open event-channel ports.
    pub ports: Vec<PortState>,
    /// Host (backend) ends of event channels.
    pub host_ports: Vec<HostPortMirror>,
    /// Ports set pending before shared_info was placed, which xen-evtchn keeps in a
    /// host-side shadow until it is (ascending; usually empty). A restore delivers them
    /// when shared_info is (or once it gets) placed. Added in format version 4 (older
    /// files: none).
    #[version(start = 2, default_fn = "default_deferred_ports")]
    pub deferred_ports: Vec<u32>,
    /// Guest port of the PV console (toward the backend).
    pub console_port: u32,
    /// Guest port of xenstore (toward the backend).
    pub store_port: u32,
    /// PV console, if the VMM has one.
    pub console: Option<ConsoleMirror>,
    /// Xenstore, if the VMM has one.
    pub xenstore: Option<XenstoreMirror>,
    /// Grant table.
    pub grant: GrantState,
    /// GPAs where the VMM mapped grant frames (index = frame number).
    pub grant_frame_gpas: Vec<Option<u64>>,
    /// Pages the domain has (`XENMEM_current_reservation`; 0: not recorded, the RAM it
    /// was created with). Added in format version 5.
    #[version(start = 3, default_fn = "default_tot_pages")]
    pub tot_pages: u64,
    /// RAM frames without memory (given back with `XENMEM_decrease_reservation` or
    /// `remove_from_physmap`, or under a page Xen placed there), ascending. Added in
    /// format version 5 (older files: none).
    #[version(start = 3, default_fn = "default_absent_gfns")]
    pub absent_gfns: Vec<u64>,
    /// FIFO event channels, if the guest switched to them (`None`: 2-level ABI). Added in
    /// format version 6 (older files: `None`).
    #[version(start = 4, default_fn = "default_fifo")]
    pub fifo: Option<FifoMirror>,
    /// PV block devices, in the order they were configured (`xvda`, `xvdb`, ...): the
    /// image and the backend's state. Added in format version 8 (older files: none).
    #[version(start = 5, default_fn = "default_vbds")]
    pub vbds: Vec<VbdMirror>,
}

/// Most PV block devices a snapshot may name.
pub const MAX_VBDS: usize = 16;
/// Longest image path a snapshot may name (bytes).
pub const MAX_VBD_PATH: usize = 4096;

/// A connected blkif ring (see `xen_blkback::RingState`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct VbdRingMirror {
    /// The ring pages' grant references (1 to 16, a power of two).
    pub refs: Vec<u32>,
    /// The frontend's ABI: 0 `x86_64-abi`, 1 `x86_32-abi`.
    pub protocol: u8,
    /// Next request to consume.
    pub req_cons: u32,
    /// Next response to produce.
    pub rsp_prod_pvt: u32,
}

/// A PV block device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct VbdMirror {
    /// Image file (the restore opens it again).
    pub path: String,
    /// Read-only.
    pub readonly: bool,
    /// Virtual device number.
    pub dev: u32,
    /// Backend xenbus state (1..=6).
    pub state: u8,
    /// The frontend's event channel (0: none).
    pub port: u32,
    /// The backend's host port.
    pub host_port: Option<u32>,
    /// The ring, while connected.
    pub ring: Option<VbdRingMirror>,
}

impl VbdMirror {
    /// The mirror of a platform vbd configured as `disk`.
    pub fn new(disk: &xen_platform::DiskConfig, st: &xen_platform::VbdState) -> Self {
        VbdMirror {
            path: disk.path.to_string_lossy().into_owned(),
            readonly: disk.readonly,
            dev: st.dev,
            state: st.state,
            port: st.port,
            host_port: st.host_port,
            ring: st.ring.as_ref().map(|r| VbdRingMirror {
                refs: r.refs.clone(),
                protocol: match r.protocol {
                    xen_blkback::Protocol::X86_64 => 0,
                    xen_blkback::Protocol::X86_32 => 1,
                },
                req_cons: r.req_cons,
                rsp_prod_pvt: r.rsp_prod_pvt,
            }),
        }
    }

    /// The disk to configure.
    pub fn disk(&self) -> xen_platform::DiskConfig {
        xen_platform::DiskConfig {
            path: self.path.clone().into(),
            readonly: self.readonly,
        }
    }

    /// The platform's state (after [`XenState::validate`]).
    pub fn to_state(&self) -> xen_platform::VbdState {
        xen_platform::VbdState {
            dev: self.dev,
            state: self.state,
            port: self.port,
            host_port: self.host_port,
            ring: self.ring.as_ref().map(|r| xen_blkback::RingState {
                refs: r.refs.clone(),
                protocol: if r.protocol == 1 {
                    xen_blkback::Protocol::X86_32
                } else {
                    xen_blkback::Protocol::X86_64
                },
                req_cons: r.req_cons,
                rsp_prod_pvt: r.rsp_prod_pvt,
            }),
        }
    }

    fn validate(&self, i: usize) -> Result<()> {
        if self.path.is_empty() || self.path.len() > MAX_VBD_PATH {
            return Err(Error::Invalid(format!("vbd {i}: image path length")));
        }
        if !(1..=6).contains(&self.state) {
            return Err(Error::Invalid(format!(
                "vbd {i}: xenbus state {}",
                self.state
            )));
        }
        if let Some(r) = &self.ring {
            let n = r.refs.len();
            if n == 0 || !n.is_power_of_two() || n > 1 << xen_blkback::MAX_RING_PAGE_ORDER {
                return Err(Error::Invalid(format!("vbd {i}: {n} ring pages")));
            }
            if r.protocol > 1 {
                return Err(Error::Invalid(format!("vbd {i}: protocol {}", r.protocol)));
            }
        }
        Ok(())
    }
}

/// One vCPU's FIFO control block and queue tails.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct FifoVcpuMirror {
    /// Control block `(gfn, offset)`, if registered.
    pub control_gfn: Option<u64>,
    /// Offset of the control block in its page.
    pub control_offset: u32,
    /// Per priority (16): the last port linked on the queue (0: empty).
    pub tails: Vec<u32>,
}

/// A port whose FIFO priority or last queue is not the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct FifoPortMirror {
    /// The port.
    pub port: u32,
    /// vCPU of the queue it was last linked on.
    pub vcpu: u32,
    /// Priority (for `priorities`: the port's; for `last_queues`: the queue's).
    pub priority: u8,
}

/// FIFO event-channel state (see `xen_evtchn::FifoState`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Versionize)]
pub struct FifoMirror {
    /// Per vCPU.
    pub vcpus: Vec<FifoVcpuMirror>,
    /// Event-array frames in port order.
    pub event_array: Vec<u64>,
    /// Ports with a priority other than 7 (`vcpu` unused).
    pub priorities: Vec<FifoPortMirror>,
    /// Ports last linked on a queue other than (vCPU 0, priority 7).
    pub last_queues: Vec<FifoPortMirror>,
    /// Ports pending without an event word.
    pub saved_pending: Vec<u32>,
}

impl XenState {
    fn default_fifo(_source_version: u16) -> Option<FifoMirror> {
        None
    }

    fn default_vbds(_source_version: u16) -> Vec<VbdMirror> {
        Vec::new()
    }

    fn default_deferred_ports(_source_version: u16) -> Vec<u32> {
        Vec::new()
    }

    fn default_tot_pages(_source_version: u16) -> u64 {
        0
    }

    fn default_absent_gfns(_source_version: u16) -> Vec<u64> {
        Vec::new()
    }

    /// Number of event-channel ports of the guest's ABI.
    pub fn port_limit(&self) -> u32 {
        if self.fifo.is_some() {
            xen_abi::EVTCHN_FIFO_NR_CHANNELS
        } else if self.long_mode {
            EVTCHN_PORTS_64
        } else {
            EVTCHN_PORTS_32
        }
    }

    /// Checks every port, vCPU index, address and length against the
    /// number of vCPUs and the guest memory layout, with the rules the
    /// hypercalls apply: every page the state points at (shared_info,
    /// vcpu_info, time and runstate areas, rings, grant frames) in guest
    /// memory, timers within the hypercalls' bounds, device buffers within
    /// the devices' limits, at least one vCPU online. What needs the VM's
    /// configuration (table sizes, ring placement, params) is checked again
    /// by `XenPlatform::restore`.
    pub fn validate(&self, nr_vcpus: usize, memory: &MemoryState) -> Result<()> {
        if nr_vcpus > MAX_VCPUS {
            return Err(too_large("vCPUs", nr_vcpus, MAX_VCPUS));
        }
        if self.vbds.len() > MAX_VBDS {
            return Err(too_large("vbds", self.vbds.len(), MAX_VBDS));
        }
        for (i, v) in self.vbds.iter().enumerate() {
            v.validate(i)?;
        }
        if self.vcpus.len() != nr_vcpus {
            return Err(Error::Invalid(format!(
                "{} Xen vCPU entries for {nr_vcpus} vCPUs",
                self.vcpus.len()
            )));
        }
        let in_guest = |what: &str, gpa: u64, len: u64| -> Result<()> {
            if memory.contains(gpa, len) {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "{what} at {gpa:#x} (+{len}) is outside guest memory"
                )))
            }
        };
        // Ends of a registered area (which may span two adjacent pages).
        let ends_in_guest = |what: &str, gpa: u64, len: u64| -> Result<()> {
            let last = gpa.checked_add(len - 1);
            if memory.contains(gpa, 1) && last.is_some_and(|l| memory.contains(l, 1)) {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "{what} at {gpa:#x} (+{len}) is outside guest memory"
                )))
            }
        };
        if let Some(gfn) = self.shared_info_gfn {
            check_gfn("shared_info", gfn)?;
            in_guest("shared_info", gfn * PAGE_SIZE, PAGE_SIZE)?;
        }
        if !self.vcpus.iter().any(|v| v.online) {
            return Err(Error::Invalid(
                "no vCPU is online (a running VM always has one)".into(),
            ));
        }
        let now = self.system_time_ns;
        let cb_type = self.callback_param >> 56;
        if cb_type != 0 && cb_type != 2 {
            return Err(Error::Invalid(format!(
                "callback parameter {:#x} has unsupported type {cb_type}",
                self.callback_param
            )));
        }
        if cb_type == 2 && (self.callback_param & 0xff) < 0x10 {
            return Err(Error::Invalid(format!(
                "callback vector {:#x}",
                self.callback_param & 0xff
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
                if gpa % PAGE_SIZE + VCPU_TIME_INFO_SIZE > PAGE_SIZE {
                    return Err(Error::Invalid(format!(
                        "vCPU {i}: vcpu_time_info at {gpa:#x} crosses a page"
                    )));
                }
                in_guest("vcpu_time_info", gpa, VCPU_TIME_INFO_SIZE)?;
            }
            if let Some(gpa) = v.runstate_gpa {
                ends_in_guest("vcpu_runstate_info", gpa, runstate_size)?;
            }
            if let Some(d) = v.timer_deadline_ns {
                if d > now.saturating_add(MAX_SINGLESHOT_AHEAD_NS) {
                    return Err(Error::Invalid(format!(
                        "vCPU {i}: single-shot timer deadline {d} ns is more than 2^50 ns \
                         after the saved system time {now} ns"
                    )));
                }
            }
            if let Some(period) = v.periodic_period_ns {
                if !(MIN_PERIOD_NS..=MAX_PERIOD_NS).contains(&period) {
                    return Err(Error::Invalid(format!(
                        "vCPU {i}: periodic timer period {period} ns is outside 1 ms..=2^50 ns"
                    )));
                }
                if v.periodic_next_ns > now.saturating_add(period) {
                    return Err(Error::Invalid(format!(
                        "vCPU {i}: periodic timer next expiry {} ns is more than one period \
                         after {now} ns",
                        v.periodic_next_ns
                    )));
                }
            }
            if v.runstate_entry_ns > now {
                return Err(Error::Invalid(format!(
                    "vCPU {i}: runstate entered at {} ns, after the saved system time {now} ns",
                    v.runstate_entry_ns
                )));
            }
            if v.upcall_vector != 0 && v.upcall_vector < 0x10 {
                return Err(Error::Invalid(format!(
                    "vCPU {i}: upcall vector {:#x}",
                    v.upcall_vector
                )));
            }
            if v.runstate > 3 {
                return Err(Error::Invalid(format!("vCPU {i}: runstate {}", v.runstate)));
            }
        }
        self.validate_ports(nr_vcpus)?;
        let limit = self.port_limit();
        for (what, port) in [
            ("console", self.console_port),
            ("xenstore", self.store_port),
        ] {
            if port >= limit {
                return Err(Error::PortOutOfRange { port, limit });
            }
            if port != 0 && !self.ports.iter().any(|p| p.port == port) {
                return Err(Error::Invalid(format!("{what} port {port} is not open")));
            }
        }
        if let Some(c) = &self.console {
            check_gfn("console ring", c.ring_gfn)?;
            in_guest("console ring", c.ring_gfn * PAGE_SIZE, PAGE_SIZE)?;
            check_pending(
                "console input",
                &c.pending_input,
                xen_platform::console::MAX_PENDING_INPUT,
            )?;
        }
        if let Some(x) = &self.xenstore {
            check_gfn("xenstore ring", x.ring_gfn)?;
            in_guest("xenstore ring", x.ring_gfn * PAGE_SIZE, PAGE_SIZE)?;
            check_pending(
                "xenstore request",
                &x.partial_request,
                xen_store::MAX_PARTIAL_REQUEST,
            )?;
            check_pending(
                "xenstore replies",
                &x.pending_replies,
                xen_store::MAX_QUEUED_REPLIES,
            )?;
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
            if x.transactions.len() > xen_store::MAX_TRANSACTIONS
                || x.writable.len() > MAX_XENSTORE_WATCHES
            {
                return Err(Error::Invalid(
                    "too many xenstore transactions or writable paths".into(),
                ));
            }
            let check_node = |n: &XenstoreNode| -> Result<()> {
                if !(n.path.starts_with('/') || n.path.starts_with('@'))
                    || n.value.len() > XENSTORE_PAYLOAD_MAX
                    || n.perms.len() > xen_store::MAX_PERMS
                    || n.perms.iter().any(|p| xen_store::Perm::parse(p).is_none())
                {
                    return Err(Error::Invalid(format!(
                        "xenstore node {:?} ({} bytes, permissions {:?})",
                        n.path,
                        n.value.len(),
                        n.perms
                    )));
                }
                Ok(())
            };
            for n in &x.nodes {
                check_node(n)?;
            }
            if x.transaction_states.len() > xen_store::MAX_TRANSACTIONS {
                return Err(Error::Invalid(
                    "too many xenstore transaction states".into(),
                ));
            }
            for t in &x.transaction_states {
                if t.accessed.len() > xen_store::MAX_TRANSACTION_NODES
                    || t.changes.len() > t.accessed.len()
                    || t.events.len() > t.accessed.len()
                {
                    return Err(Error::Invalid(format!(
                        "xenstore transaction {} accesses {} nodes, changes {}, fires {}",
                        t.id,
                        t.accessed.len(),
                        t.changes.len(),
                        t.events.len()
                    )));
                }
                for c in &t.changes {
                    check_node(&c.node)?;
                }
            }
        }
        if self.grant.version > 2 {
            return Err(Error::Invalid(format!(
                "grant table version {}",
                self.grant.version
            )));
        }
        if self.grant.status_frames.len() > MAX_GRANT_FRAMES / 8 {
            return Err(too_large(
                "grant status frames",
                self.grant.status_frames.len(),
                MAX_GRANT_FRAMES / 8,
            ));
        }
        for &gfn in self.grant.status_frames.iter().flatten() {
            check_gfn("grant status frame", gfn)?;
        }
        // At most every frame of the RAM (4 KiB pages of at most the guest RAM size).
        let ram_pages = (memory.regions.iter().map(|r| r.size).sum::<u64>() / PAGE_SIZE) as usize;
        if self.absent_gfns.len() > ram_pages {
            return Err(too_large(
                "frames given back",
                self.absent_gfns.len(),
                ram_pages,
            ));
        }
        if self.absent_gfns.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Invalid("frames given back are not ascending".into()));
        }
        for &gfn in &self.absent_gfns {
            check_gfn("frame given back", gfn)?;
        }
        if self.grant.max_frames as usize > MAX_GRANT_FRAMES {
            return Err(too_large(
                "grant frames",
                self.grant.max_frames as usize,
                MAX_GRANT_FRAMES,
            ));
        }
        if self.grant.frames.len() > self.grant.max_frames as usize
            || self.grant_frame_gpas.len() > MAX_GRANT_FRAMES
        {
            return Err(Error::Invalid(format!(
                "{} grant frames in use, {} at most",
                self.grant.frames.len(),
                self.grant.max_frames
            )));
        }
        for &gfn in self.grant.frames.iter().flatten() {
            check_gfn("grant frame", gfn)?;
            in_guest("grant frame", gfn * PAGE_SIZE, PAGE_SIZE)?;
        }
        for &gpa in self.grant_frame_gpas.iter().flatten() {
            check_gfn("grant frame", gpa / PAGE_SIZE)?;
            if gpa % PAGE_SIZE != 0 {
                return Err(Error::Invalid(format!(
                    "grant frame at {gpa:#x} is not page aligned"
                )));
            }
            in_guest("grant frame", gpa, PAGE_SIZE)?;
        }
        if self.hvm_params.len() > MAX_HVM_PARAMS {
            return Err(too_large(
                "HVM params",
                self.hvm_params.len(),
                MAX_HVM_PARAMS,
            ));
        }
        if let Some(f) = &self.fifo {
            self.validate_fifo(f, nr_vcpus, &in_guest)?;
        }
        Ok(())
    }

    /// The FIFO state's sizes and pages (`XenPlatform::restore` checks the rest with the
    /// hypercalls' rules).
    fn validate_fifo(
        &self,
        f: &FifoMirror,
        nr_vcpus: usize,
        in_guest: &dyn Fn(&str, u64, u64) -> Result<()>,
    ) -> Result<()> {
        if f.vcpus.len() != nr_vcpus {
            return Err(Error::Invalid(format!(
                "fifo: {} vCPU entries for {nr_vcpus} vCPUs",
                f.vcpus.len()
            )));
        }
        for (i, v) in f.vcpus.iter().enumerate() {
            if v.tails.len() != xen_abi::EVTCHN_FIFO_MAX_QUEUES as usize {
                return Err(Error::Invalid(format!(
                    "fifo: vCPU {i}: {} queue tails",
                    v.tails.len()
                )));
            }
            if let Some(gfn) = v.control_gfn {
                check_gfn("FIFO control block", gfn)?;
                let off = u64::from(v.control_offset);
                if off % 8 != 0 || off + FIFO_CONTROL_BLOCK_SIZE > PAGE_SIZE {
                    return Err(Error::Invalid(format!(
                        "fifo: vCPU {i}: control block offset {off:#x}"
                    )));
                }
                in_guest(
                    "FIFO control block",
                    gfn * PAGE_SIZE + off,
                    FIFO_CONTROL_BLOCK_SIZE,
                )?;
            }
        }
        let max = xen_evtchn::MAX_EVENT_ARRAY_PAGES as usize;
        if f.event_array.len() > max {
            return Err(too_large(
                "FIFO event array pages",
                f.event_array.len(),
                max,
            ));
        }
        for &gfn in &f.event_array {
            check_gfn("FIFO event array page", gfn)?;
            in_guest("FIFO event array page", gfn * PAGE_SIZE, PAGE_SIZE)?;
        }
        let limit = xen_abi::EVTCHN_FIFO_NR_CHANNELS as usize;
        for (what, len) in [
            ("FIFO priorities", f.priorities.len()),
            ("FIFO last queues", f.last_queues.len()),
            ("FIFO saved pending ports", f.saved_pending.len()),
        ] {
            if len > limit {
                return Err(too_large(what, len, limit));
            }
        }
        Ok(())
    }

    fn validate_ports(&self, nr_vcpus: usize) -> Result<()> {
        let limit = self.port_limit();
        if self.ports.len() > limit as usize {
            return Err(too_large("ports", self.ports.len(), limit as usize));
        }
        if self.host_ports.len() > MAX_HOST_PORTS {
            return Err(too_large(
                "host ports",
                self.host_ports.len(),
                MAX_HOST_PORTS,
            ));
        }
        for h in &self.host_ports {
            if h.id == 0 || h.id as usize > MAX_HOST_PORTS {
                return Err(Error::Invalid(format!("host port id {}", h.id)));
            }
            if let Some(gp) = h.guest_port {
                if gp == 0 || gp >= limit {
                    return Err(Error::PortOutOfRange { port: gp, limit });
                }
            }
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
        if self.deferred_ports.len() > limit as usize {
            return Err(too_large(
                "deferred ports",
                self.deferred_ports.len(),
                limit as usize,
            ));
        }
        let mut deferred = vec![false; limit as usize];
        for &port in &self.deferred_ports {
            if port == 0 || port >= limit {
                return Err(Error::PortOutOfRange { port, limit });
            }
            if !seen[port as usize] {
                return Err(Error::Invalid(format!("deferred port {port} is not open")));
            }
            if std::mem::replace(&mut deferred[port as usize], true) {
                return Err(Error::Invalid(format!(
                    "deferred port {port} appears twice"
                )));
            }
        }
        Ok(())
    }
}

/// The plain FIFO state of a mirror (`Evtchn::from_state` checks the values).
fn fifo_state(f: &FifoMirror) -> Result<FifoState> {
    let mut tails = Vec::with_capacity(f.vcpus.len());
    for v in &f.vcpus {
        tails.push(
            <[u32; 16]>::try_from(v.tails.as_slice())
                .map_err(|_| Error::Invalid(format!("fifo: {} queue tails", v.tails.len())))?,
        );
    }
    Ok(FifoState {
        control_blocks: f
            .vcpus
            .iter()
            .map(|v| v.control_gfn.map(|g| (g, v.control_offset)))
            .collect(),
        event_array: f.event_array.clone(),
        tails,
        priorities: f.priorities.iter().map(|p| (p.port, p.priority)).collect(),
        last_queues: f
            .last_queues
            .iter()
            .map(|p| (p.port, p.vcpu, p.priority))
            .collect(),
        saved_pending: f.saved_pending.clone(),
    })
}

fn too_large(what: &'static str, claimed: usize, limit: usize) -> Error {
    Error::TooLarge {
        what,
        claimed: claimed as u64,
        limit: limit as u64,
    }
}

/// Bytes of `evtchn_fifo_control_block`.
const FIFO_CONTROL_BLOCK_SIZE: u64 = std::mem::size_of::<xen_abi::EvtchnFifoControlBlock>() as u64;

fn check_gfn(what: &str, gfn: u64) -> Result<()> {
    if gfn >= MAX_GFN {
        return Err(Error::Invalid(format!("{what} gfn {gfn:#x} out of range")));
    }
    Ok(())
}

fn check_pending(what: &str, bytes: &[u8], limit: usize) -> Result<()> {
    if bytes.len() > limit {
        return Err(Error::Invalid(format!(
            "{what}: {} pending bytes",
            bytes.len()
        )));
    }
    Ok(())
}

// ---- conversions to and from the plain states of the crates ---------------------------------

/// `HVM_PARAM_CALLBACK_IRQ` type of a vector callback.
const CALLBACK_TYPE_VECTOR: u64 = 2;

impl XenState {
    /// Records the event-channel state (ports, host ports, callback, per-vCPU vectors).
    pub fn set_evtchn(&mut self, e: &EvtchnState) {
        self.domid = e.domid;
        self.nr_pirqs = e.nr_pirqs;
        self.callback_param = match e.callback {
            CallbackVia::None => 0,
            CallbackVia::Vector(v) => (CALLBACK_TYPE_VECTOR << 56) | u64::from(v),
            CallbackVia::Gsi(g) => u64::from(g),
        };
        for (v, &vec) in self.vcpus.iter_mut().zip(&e.vcpu_vectors) {
            v.upcall_vector = vec;
        }
        self.ports = e
            .ports
            .iter()
            .map(|p| {
                let mut m = PortState {
                    port: p.port,
                    vcpu: p.vcpu,
                    ..Default::default()
                };
                match p.binding {
                    Binding::Unbound { remote_dom } => {
                        m.kind = PortKind::Unbound as u8;
                        m.remote_domid = remote_dom;
                    }
                    Binding::Interdomain(Remote::Loopback(o)) => {
                        m.kind = PortKind::Interdomain as u8;
                        m.remote_domid = e.domid;
                        m.remote_port = o;
                    }
                    Binding::Interdomain(Remote::Host(id)) => {
                        m.kind = PortKind::Backend as u8;
                        m.irq = id;
                    }
                    Binding::Virq(v) => {
                        m.kind = PortKind::Virq as u8;
                        m.irq = v;
                    }
                    Binding::Ipi => m.kind = PortKind::Ipi as u8,
                    Binding::Pirq(q) => {
                        m.kind = PortKind::Pirq as u8;
                        m.irq = q;
                    }
                }
                m
            })
            .collect();
        self.host_ports = e
            .host_ports
            .iter()
            .map(|h| HostPortMirror {
                id: h.id,
                guest_port: h.guest_port,
            })
            .collect();
        self.deferred_ports = e.deferred.clone();
        self.fifo = e.fifo.as_ref().map(|f| FifoMirror {
            vcpus: f
                .control_blocks
                .iter()
                .zip(&f.tails)
                .map(|(cb, t)| FifoVcpuMirror {
                    control_gfn: cb.map(|c| c.0),
                    control_offset: cb.map_or(0, |c| c.1),
                    tails: t.to_vec(),
                })
                .collect(),
            event_array: f.event_array.clone(),
            priorities: f
                .priorities
                .iter()
                .map(|&(port, priority)| FifoPortMirror {
                    port,
                    vcpu: 0,
                    priority,
                })
                .collect(),
            last_queues: f
                .last_queues
                .iter()
                .map(|&(port, vcpu, priority)| FifoPortMirror {
                    port,
                    vcpu,
                    priority,
                })
                .collect(),
            saved_pending: f.saved_pending.clone(),
        });
    }

    /// The event-channel state to rebuild xen-evtchn from (call after
    /// [`XenState::validate`]; `Evtchn::from_state` checks it again).
    pub fn evtchn_state(&self) -> Result<EvtchnState> {
        let callback = match (self.callback_param >> 56, self.callback_param) {
            (_, 0) => CallbackVia::None,
            (CALLBACK_TYPE_VECTOR, p) => CallbackVia::Vector((p & 0xff) as u8),
            (0, p) => CallbackVia::Gsi(
                u32::try_from(p).map_err(|_| Error::Invalid(format!("callback GSI {p:#x}")))?,
            ),
            (t, _) => {
                return Err(Error::Invalid(format!("callback type {t}")));
            }
        };
        let ports = self
            .ports
            .iter()
            .map(|p| {
                let kind = PortKind::from_u8(p.kind).ok_or_else(|| {
                    Error::Invalid(format!("port {}: unknown type {}", p.port, p.kind))
                })?;
                let binding = match kind {
                    PortKind::Unbound => Binding::Unbound {
                        remote_dom: p.remote_domid,
                    },
                    PortKind::Interdomain => Binding::Interdomain(Remote::Loopback(p.remote_port)),
                    PortKind::Backend => Binding::Interdomain(Remote::Host(p.irq)),
                    PortKind::Virq => Binding::Virq(p.irq),
                    PortKind::Ipi => Binding::Ipi,
                    PortKind::Pirq => Binding::Pirq(p.irq),
                };
                Ok(EvtchnPortState {
                    port: p.port,
                    vcpu: p.vcpu,
                    binding,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EvtchnState {
            domid: self.domid,
            max_vcpus: self.vcpus.len() as u32,
            nr_pirqs: self.nr_pirqs,
            ports,
            host_ports: self
                .host_ports
                .iter()
                .map(|h| HostPortState {
                    id: h.id,
                    guest_port: h.guest_port,
                })
                .collect(),
            callback,
            vcpu_vectors: self.vcpus.iter().map(|v| v.upcall_vector).collect(),
            deferred: self.deferred_ports.clone(),
            fifo: self.fifo.as_ref().map(fifo_state).transpose()?,
        })
    }

    /// Records the page-cache configuration (width, shared_info, per-vCPU areas).
    pub fn set_pages(&mut self, p: &PagesState) {
        self.long_mode = p.width == GuestWidth::Bits64;
        self.runstate_update_flag = p.runstate_update_flag;
        self.shared_info_gfn = p.shared_info_gfn;
        for (v, pv) in self.vcpus.iter_mut().zip(&p.vcpus) {
            v.vcpu_info_gpa = pv.vcpu_info_gpa;
            v.time_info_gpa = pv.time_info_gpa;
            v.runstate_gpa = pv.runstate_gpa;
        }
    }

    /// The page-cache configuration to rebuild xen-shinfo-cache from.
    pub fn pages_state(&self) -> PagesState {
        PagesState {
            width: if self.long_mode {
                GuestWidth::Bits64
            } else {
                GuestWidth::Bits32
            },
            runstate_update_flag: self.runstate_update_flag,
            shared_info_gfn: self.shared_info_gfn,
            vcpus: self
                .vcpus
                .iter()
                .map(|v| VcpuPagesState {
                    vcpu_info_gpa: v.vcpu_info_gpa,
                    time_info_gpa: v.time_info_gpa,
                    runstate_gpa: v.runstate_gpa,
                })
                .collect(),
        }
    }
}

impl XenState {
    /// The platform state this saved state describes, for
    /// `XenPlatform::restore`: `fresh` is the state of the new VM's platform
    /// (what the file does not hold keeps its fresh value: the console and
    /// xenstore of files without them, the params and grant-frame placement
    /// of format v1). Call after [`XenState::validate`]; the platform checks
    /// everything again against its configuration and guest memory.
    ///
    /// # Errors
    /// An event-channel state that does not convert ([`XenState::evtchn_state`]).
    pub fn platform_state(&self, fresh: &PlatformState) -> Result<PlatformState> {
        let mut xen = fresh.xen.clone();
        self.apply_to(&mut xen);
        let periodic_next = self
            .vcpus
            .iter()
            .map(|x| x.periodic_period_ns.map(|_| x.periodic_next_ns))
            .collect();
        Ok(PlatformState::new(
            self.system_time_ns,
            xen,
            self.evtchn_state()?,
            self.pages_state(),
            self.console
                .as_ref()
                .map_or_else(|| fresh.console.clone(), ConsoleMirror::to_state),
            self.xenstore
                .as_ref()
                .map_or_else(|| fresh.store.clone(), XenstoreMirror::to_state),
            self.grant.to_state(),
            periodic_next,
        )
        .with_vbds(self.vbds.iter().map(VbdMirror::to_state).collect()))
    }

    /// Copies this saved state into the platform's `XenState` (the callback
    /// comes with the event-channel state).
    fn apply_to(&self, x: &mut PlatformXenState) {
        x.long_mode = self.long_mode;
        x.shared_info = self.shared_info_gfn.map(|g| g * PAGE_SIZE);
        if self.hvm_params.is_empty() {
            // Files without params (format v1): publish the ports as at creation.
            x.set_backend_ports(self.console_port, self.store_port);
        } else {
            x.params = self.hvm_params.clone();
            x.restore_backend_ports(self.console_port, self.store_port);
        }
        if !self.grant_frame_gpas.is_empty() {
            x.grant_frames = self.grant_frame_gpas.clone();
        }
        x.shutdown = self.shutdown;
        // Files before format 5 recorded no reservation: the RAM as created.
        if self.tot_pages != 0 {
            x.tot_pages = self.tot_pages;
        }
        x.absent = self.absent_gfns.iter().copied().collect();
        for (i, (v, s)) in x.vcpus.iter_mut().zip(&self.vcpus).enumerate() {
            v.vcpu_info = s.vcpu_info_gpa;
            v.upcall_vector = (s.upcall_vector != 0).then_some(s.upcall_vector);
            v.singleshot_ns = s.timer_deadline_ns;
            v.period_ns = s.periodic_period_ns;
            v.runstate = xen_shinfo_cache::Runstate {
                state: s.runstate as i32,
                state_entry_time: s.runstate_entry_ns,
                time: s.runstate_time_ns,
            };
            // Up as the vCPU threads were. Initialised as saved; files before
            // format 6 know only vCPU 0 and those up (not the fresh VM's view:
            // it may have started every vCPU of a flat image).
            v.up = s.online;
            v.initialised = s.initialised || s.online || i == 0;
            v.start = s.start.as_ref().map(Into::into);
        }
    }
}

impl From<&ConsoleState> for ConsoleMirror {
    fn from(c: &ConsoleState) -> Self {
        ConsoleMirror {
            ring_gfn: c.ring_gfn,
            pending_input: c.pending_input.clone(),
            dropped_input: c.dropped_input,
            guest_errors: c.guest_errors,
        }
    }
}

impl ConsoleMirror {
    /// The console device state.
    pub fn to_state(&self) -> ConsoleState {
        ConsoleState {
            ring_gfn: self.ring_gfn,
            pending_input: self.pending_input.clone(),
            dropped_input: self.dropped_input,
            guest_errors: self.guest_errors,
        }
    }
}

impl From<&DevXenstoreState> for XenstoreMirror {
    fn from(x: &DevXenstoreState) -> Self {
        XenstoreMirror {
            ring_gfn: x.ring_gfn,
            domid: x.domid,
            nodes: x
                .nodes
                .iter()
                .map(|(path, n)| node_mirror(path, n))
                .collect(),
            writable: x.writable.clone(),
            watches: x
                .watches
                .iter()
                .map(|w| XenstoreWatch {
                    path: w.path.clone(),
                    token: w.token.clone(),
                })
                .collect(),
            transactions: x.transactions.clone(),
            last_tx_id: x.last_tx_id,
            partial_request: x.partial_request.clone(),
            pending_replies: x.pending_replies.clone(),
            guest_errors: x.guest_errors,
            transaction_states: x
                .transaction_states
                .iter()
                .map(|t| XenstoreTxMirror {
                    id: t.id,
                    start_generation: t.start_generation,
                    accessed: t
                        .accessed
                        .iter()
                        .map(|(p, g)| XenstoreTxAccess {
                            path: p.clone(),
                            generation: *g,
                        })
                        .collect(),
                    changes: t
                        .changes
                        .iter()
                        .map(|(p, n)| match n {
                            Some(n) => XenstoreTxChange {
                                node: node_mirror(p, n),
                                removed: false,
                            },
                            None => XenstoreTxChange {
                                node: XenstoreNode {
                                    path: p.clone(),
                                    ..Default::default()
                                },
                                removed: true,
                            },
                        })
                        .collect(),
                    events: t
                        .events
                        .iter()
                        .map(|(p, r)| XenstoreTxEvent {
                            path: p.clone(),
                            exact: *r,
                        })
                        .collect(),
                    doomed: t.doomed,
                })
                .collect(),
            generation: x.generation,
            released: x.released,
            quotas: XenstoreQuotasMirror::from(&x.quotas),
        }
    }
}

impl XenstoreMirror {
    /// The xenstore device state.
    pub fn to_state(&self) -> DevXenstoreState {
        DevXenstoreState {
            ring_gfn: self.ring_gfn,
            domid: self.domid,
            nodes: self
                .nodes
                .iter()
                .map(|n| (n.path.clone(), node_state(n)))
                .collect(),
            writable: self.writable.clone(),
            watches: self
                .watches
                .iter()
                .map(|w| Watch {
                    path: w.path.clone(),
                    token: w.token.clone(),
                })
                .collect(),
            transactions: self.transactions.clone(),
            last_tx_id: self.last_tx_id,
            partial_request: self.partial_request.clone(),
            pending_replies: self.pending_replies.clone(),
            guest_errors: self.guest_errors,
            transaction_states: self
                .transaction_states
                .iter()
                .map(|t| xen_store::Transaction {
                    id: t.id,
                    start_generation: t.start_generation,
                    accessed: t
                        .accessed
                        .iter()
                        .map(|a| (a.path.clone(), a.generation))
                        .collect(),
                    changes: t
                        .changes
                        .iter()
                        .map(|c| {
                            let n = (!c.removed).then(|| node_state(&c.node));
                            (c.node.path.clone(), n)
                        })
                        .collect(),
                    events: t.events.iter().map(|e| (e.path.clone(), e.exact)).collect(),
                    doomed: t.doomed,
                })
                .collect(),
            generation: self.generation,
            released: self.released,
            quotas: self.quotas.to_quotas(),
        }
    }
}

impl From<&GrantTableState> for GrantState {
    fn from(g: &GrantTableState) -> Self {
        GrantState {
            version: g.version.min(u32::from(u8::MAX)) as u8,
            max_frames: g.max_frames,
            frames: g.frame_gfns.clone(),
            status_frames: g.status_gfns.clone(),
        }
    }
}

impl GrantState {
    /// The grant-table device state.
    pub fn to_state(&self) -> GrantTableState {
        GrantTableState {
            max_frames: self.max_frames,
            nr_frames: self.frames.len() as u32,
            frame_gfns: self.frames.clone(),
            version: u32::from(self.version),
            // The configuration decides (the platform's restore sets it).
            max_version: 0,
            status_gfns: self.status_frames.clone(),
        }
    }
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

    fn online() -> XenVcpuState {
        XenVcpuState {
            online: true,
            ..Default::default()
        }
    }

    fn state() -> XenState {
        XenState {
            long_mode: true,
            shared_info_gfn: Some(0xfe),
            callback_param: (2 << 56) | 0xf3,
            system_time_ns: 1 << 40,
            vcpus: vec![online(), XenVcpuState::default()],
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
        // At the bounds.
        let mut s = state();
        s.vcpus[1].periodic_period_ns = Some(MIN_PERIOD_NS);
        s.vcpus[1].periodic_next_ns = (1 << 40) + MIN_PERIOD_NS;
        s.vcpus[0].timer_deadline_ns = Some((1 << 40) + MAX_SINGLESHOT_AHEAD_NS);
        s.vcpus[0].runstate_entry_ns = 1 << 40;
        s.vcpus[0].time_info_gpa = Some(0xfffe0);
        s.vcpus[0].runstate_gpa = Some(0xfffd0);
        s.grant_frame_gpas = vec![Some(0xff000)];
        s.console = Some(ConsoleMirror {
            ring_gfn: 0xff,
            pending_input: vec![0; xen_platform::console::MAX_PENDING_INPUT],
            ..Default::default()
        });
        s.xenstore = Some(XenstoreMirror {
            ring_gfn: 0xfe,
            partial_request: vec![0; xen_store::MAX_PARTIAL_REQUEST],
            pending_replies: vec![0; xen_store::MAX_QUEUED_REPLIES],
            ..Default::default()
        });
        s.validate(2, &mem()).unwrap();
        let mut s = state();
        s.deferred_ports = vec![1, 4095];
        s.validate(2, &mem()).unwrap();
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
        let mut s = state();
        s.console_port = 5000;
        let e = s.validate(2, &mem()).unwrap_err();
        assert!(e.to_string().contains("port 5000 out of range"), "{e}");
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
            |s| s.vcpus[1].periodic_period_ns = Some(0),
            |s| s.vcpus[1].periodic_period_ns = Some(MIN_PERIOD_NS - 1),
            |s| s.vcpus[1].periodic_period_ns = Some(MAX_PERIOD_NS + 1),
            |s| {
                s.vcpus[1].periodic_period_ns = Some(MIN_PERIOD_NS);
                s.vcpus[1].periodic_next_ns = (1 << 40) + MIN_PERIOD_NS + 1;
            },
            |s| s.vcpus[0].timer_deadline_ns = Some((1 << 40) + MAX_SINGLESHOT_AHEAD_NS + 1),
            |s| s.vcpus[0].runstate_entry_ns = (1 << 40) + 1,
            |s| s.vcpus[0].online = false,
            |s| s.shared_info_gfn = Some(0x100),
            |s| s.vcpus[0].time_info_gpa = Some(0xffff0),
            |s| s.vcpus[0].time_info_gpa = Some(0x200000),
            |s| s.vcpus[0].runstate_gpa = Some(0xffff0),
            |s| s.grant_frame_gpas = vec![Some(0x1000 + 8)],
            |s| s.grant_frame_gpas = vec![Some(0x200000)],
            |s| {
                s.grant.max_frames = 4;
                s.grant.frames = vec![Some(0x200)];
            },
            |s| {
                s.console = Some(ConsoleMirror {
                    ring_gfn: 0x100,
                    ..Default::default()
                })
            },
            |s| {
                s.console = Some(ConsoleMirror {
                    pending_input: vec![0; xen_platform::console::MAX_PENDING_INPUT + 1],
                    ..Default::default()
                })
            },
            |s| {
                s.xenstore = Some(XenstoreMirror {
                    ring_gfn: 0x100,
                    ..Default::default()
                })
            },
            |s| {
                s.xenstore = Some(XenstoreMirror {
                    partial_request: vec![0; xen_store::MAX_PARTIAL_REQUEST + 1],
                    ..Default::default()
                })
            },
            |s| {
                s.xenstore = Some(XenstoreMirror {
                    pending_replies: vec![0; xen_store::MAX_QUEUED_REPLIES + 1],
                    ..Default::default()
                })
            },
            |s| s.vcpus[1].runstate = 4,
            |s| s.callback_param = 7 << 56,
            |s| s.callback_param = 2 << 56 | 3,
            |s| s.grant.version = 3,
            |s| {
                s.grant.max_frames = 4;
                s.grant.frames = vec![None, Some(1 << 41)]
            },
            |s| s.grant.frames = vec![None],
            |s| s.hvm_params = vec![0; 65],
            |s| s.store_port = 7,
            |s| s.deferred_ports = vec![2],
            |s| s.deferred_ports = vec![0],
            |s| s.deferred_ports = vec![5000],
            |s| s.deferred_ports = vec![1, 1],
            |s| {
                s.host_ports = vec![HostPortMirror {
                    id: 0,
                    guest_port: None,
                }]
            },
            |s| {
                s.console = Some(ConsoleMirror {
                    ring_gfn: 1 << 45,
                    ..Default::default()
                })
            },
            |s| {
                s.xenstore = Some(XenstoreMirror {
                    nodes: vec![XenstoreNode {
                        path: "relative".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
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
    fn evtchn_state_round_trips() {
        let e = EvtchnState {
            domid: 1,
            max_vcpus: 2,
            nr_pirqs: 0,
            ports: vec![
                EvtchnPortState {
                    port: 1,
                    vcpu: 0,
                    binding: Binding::Interdomain(Remote::Host(1)),
                },
                EvtchnPortState {
                    port: 2,
                    vcpu: 0,
                    binding: Binding::Unbound { remote_dom: 0 },
                },
                EvtchnPortState {
                    port: 3,
                    vcpu: 1,
                    binding: Binding::Virq(0),
                },
                EvtchnPortState {
                    port: 4,
                    vcpu: 1,
                    binding: Binding::Ipi,
                },
                EvtchnPortState {
                    port: 5,
                    vcpu: 0,
                    binding: Binding::Interdomain(Remote::Loopback(6)),
                },
                EvtchnPortState {
                    port: 6,
                    vcpu: 1,
                    binding: Binding::Interdomain(Remote::Loopback(5)),
                },
            ],
            host_ports: vec![HostPortState {
                id: 1,
                guest_port: Some(1),
            }],
            callback: CallbackVia::Vector(0xf3),
            vcpu_vectors: vec![0, 0xf4],
            deferred: vec![4, 6],
            fifo: None,
        };
        let mut s = XenState {
            vcpus: vec![online(), online()],
            long_mode: true,
            ..Default::default()
        };
        s.set_evtchn(&e);
        s.validate(2, &mem()).unwrap();
        assert_eq!(s.vcpus[1].upcall_vector, 0xf4);
        assert_eq!(s.deferred_ports, vec![4, 6]);
        assert_eq!(s.evtchn_state().unwrap(), e);
        // FIFO state round-trips too, and lifts the port limit to 2^17.
        let mut tails = [0u32; 16];
        tails[7] = 4;
        let fifo = FifoState {
            control_blocks: vec![Some((0x20, 0)), None],
            event_array: vec![0x21, 0x22],
            tails: vec![tails, [0; 16]],
            priorities: vec![(4, 3)],
            last_queues: vec![(4, 1, 3)],
            saved_pending: vec![3],
        };
        let ef = EvtchnState {
            fifo: Some(fifo),
            ..e.clone()
        };
        let mut sf = s.clone();
        sf.set_evtchn(&ef);
        assert_eq!(sf.port_limit(), 1 << 17);
        assert_eq!(sf.evtchn_state().unwrap(), ef);
        sf.validate(2, &mem()).unwrap();
        // The file checks refuse FIFO sizes and pages no hypercall leaves.
        type FifoMutation = fn(&mut FifoMirror);
        let bad: [(&str, FifoMutation); 6] = [
            ("vCPU entries", |f| {
                f.vcpus.pop();
            }),
            ("queue tails", |f| {
                f.vcpus[1].tails.pop();
            }),
            ("outside guest memory", |f| {
                f.vcpus[0].control_gfn = Some(0x100)
            }),
            ("control block offset", |f| f.vcpus[0].control_offset = 4),
            ("FIFO event array pages", |f| {
                f.event_array = vec![0x21; 129]
            }),
            ("outside guest memory", |f| f.event_array.push(0x100)),
        ];
        for (needle, m) in bad {
            let mut s2 = sf.clone();
            m(s2.fifo.as_mut().unwrap());
            let e = s2.validate(2, &mem()).unwrap_err();
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        sf.fifo.as_mut().unwrap().vcpus[0].tails.pop();
        assert!(sf.evtchn_state().is_err(), "15 queue tails");
        s.ports[0].kind = 42;
        assert!(s.evtchn_state().is_err());
        for cb in [CallbackVia::None, CallbackVia::Gsi(5)] {
            let mut s2 = s.clone();
            s2.set_evtchn(&EvtchnState {
                callback: cb,
                ..e.clone()
            });
            assert_eq!(s2.evtchn_state().unwrap().callback, cb);
        }
    }

    #[test]
    fn pages_and_devices_round_trip() {
        let p = PagesState {
            width: GuestWidth::Bits32,
            runstate_update_flag: true,
            shared_info_gfn: Some(0x7f),
            vcpus: vec![
                VcpuPagesState {
                    vcpu_info_gpa: Some(0x5040),
                    time_info_gpa: Some(0x6000),
                    runstate_gpa: Some(0x6100),
                },
                VcpuPagesState::default(),
            ],
        };
        let mut s = XenState {
            vcpus: vec![XenVcpuState::default(); 2],
            ..Default::default()
        };
        s.set_pages(&p);
        assert!(!s.long_mode);
        assert_eq!(s.pages_state(), p);

        let c = ConsoleState {
            ring_gfn: 9,
            pending_input: b"abc".to_vec(),
            dropped_input: 2,
            guest_errors: 1,
        };
        assert_eq!(ConsoleMirror::from(&c).to_state(), c);
        let mut x = DevXenstoreState {
            ring_gfn: 8,
            domid: 1,
            writable: vec!["/local/domain/1/data".into()],
            watches: vec![Watch {
                path: "device".into(),
                token: "t".into(),
            }],
            transactions: vec![3],
            last_tx_id: 3,
            partial_request: vec![1, 2],
            pending_replies: vec![4],
            guest_errors: 5,
            ..Default::default()
        };
        x.nodes.insert(
            "/a".into(),
            xen_store::Node {
                value: b"1".to_vec(),
                ..Default::default()
            },
        );
        x.nodes.insert(
            "/b".into(),
            xen_store::Node {
                value: b"2".to_vec(),
                ..Default::default()
            },
        );
        assert_eq!(XenstoreMirror::from(&x).to_state(), x);
        // Version 8's additions: permissions, generations, open transactions.
        let node = |v: &str, perms: &[&str], generation| xen_store::Node {
            value: v.into(),
            perms: perms
                .iter()
                .map(|p| xen_store::Perm::parse(p).unwrap())
                .collect(),
            generation,
        };
        x.nodes
            .insert("/a".into(), node("1", &["n1", "r0", "b2"], 7));
        x.nodes
            .insert("@releaseDomain".into(), node("", &["n0"], 0));
        let mut t = xen_store::Transaction {
            id: 3,
            start_generation: 5,
            doomed: true,
            ..Default::default()
        };
        t.accessed.insert("/a".into(), Some(7));
        t.accessed.insert("/gone".into(), None);
        t.changes.insert("/a".into(), Some(node("2", &["n1"], 7)));
        t.changes.insert("/gone".into(), None);
        t.events.push(("/gone".into(), true));
        x.transaction_states = vec![t];
        x.generation = 9;
        x.released = true;
        x.quotas.node_size = 1000;
        assert_eq!(XenstoreMirror::from(&x).to_state(), x);
        let g = GrantTableState {
            max_frames: 4,
            nr_frames: 2,
            frame_gfns: vec![Some(0xf0000), None],
            version: 1,
            max_version: 0,
            status_gfns: Vec::new(),
        };
        assert_eq!(GrantState::from(&g).to_state(), g);
        // Version 2 with its status frame.
        let g = GrantTableState {
            max_frames: 64,
            nr_frames: 9,
            frame_gfns: vec![None; 9],
            version: 2,
            max_version: 0,
            status_gfns: vec![Some(0xf0001), None],
        };
        assert_eq!(GrantState::from(&g).to_state(), g);
    }

    #[test]
    fn grant_v2_and_reservation_are_checked() {
        let mut x = state();
        x.grant.version = 2;
        x.grant.status_frames = vec![Some(0x123)];
        x.absent_gfns = vec![0x10, 0x11, 0x40];
        x.validate(x.vcpus.len(), &mem()).unwrap();
        let mut bad = x.clone();
        bad.grant.version = 3;
        assert!(bad.validate(x.vcpus.len(), &mem()).is_err());
        let mut bad = x.clone();
        bad.grant.status_frames = vec![None; MAX_GRANT_FRAMES / 8 + 1];
        assert!(bad.validate(x.vcpus.len(), &mem()).is_err());
        let mut bad = x.clone();
        bad.grant.status_frames = vec![Some(MAX_GFN)];
        assert!(bad.validate(x.vcpus.len(), &mem()).is_err());
        let mut bad = x.clone();
        bad.absent_gfns = vec![0x11, 0x10];
        assert!(
            bad.validate(x.vcpus.len(), &mem()).is_err(),
            "not ascending"
        );
        let mut bad = x.clone();
        bad.absent_gfns = (0..0x101).collect();
        assert!(
            bad.validate(x.vcpus.len(), &mem()).is_err(),
            "more than the RAM"
        );
        let mut bad = x;
        bad.absent_gfns = vec![MAX_GFN];
        assert!(bad.validate(bad.vcpus.len(), &mem()).is_err());
    }
}
