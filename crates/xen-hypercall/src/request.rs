// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Typed hypercall requests produced by [`decode`](crate::decode).
//!
//! Guest addresses named `out` are guest-virtual addresses where the dispatcher writes the
//! results back; handlers never need them.

use xen_abi::HvmCallbackVia;

/// Maximum number of ports accepted by `SCHEDOP_poll` (Xen's limit).
pub const MAX_POLL_PORTS: usize = 128;
/// Maximum number of grant frames accepted by `GNTTABOP_setup_table`.
pub const MAX_GRANT_FRAMES: usize = 64;
/// Maximum number of e820 entries returned by `XENMEM_memory_map`.
pub const MAX_E820_ENTRIES: usize = 128;
/// Maximum byte count of one `CONSOLEIO_write` (larger writes fail with -EINVAL).
pub const MAX_CONSOLE_WRITE: u32 = 1 << 20;
/// Maximum byte count returned by one `CONSOLEIO_read`.
pub const MAX_CONSOLE_READ: usize = 1024;
/// Maximum number of entries of one `HYPERVISOR_multicall` (more: -E2BIG, none run).
///
/// Xen takes any count and cuts a long multicall into pieces with hypercall continuations
/// (the guest re-enters it for the rest). This crate has no continuations; it bounds the
/// work of one call instead. Guests batch far fewer (Linux: 32).
pub const MAX_MULTICALL_CALLS: u32 = 512;
/// Largest build id `XENVER_build_id` copies out.
pub const MAX_BUILD_ID: usize = 64;
/// Maximum number of operations of one batched `grant_table_op` (`map_grant_ref`,
/// `unmap_grant_ref`, `copy`, `swap_grant_ref`); more: -E2BIG, none run.
///
/// Xen takes any count and cuts a long batch into pieces with hypercall continuations;
/// this crate has none and bounds the work of one call instead (as for multicalls).
pub const MAX_GRANT_OPS: u32 = 4096;
/// Largest extent order a domU may use in `XENMEM_increase_reservation`,
/// `decrease_reservation` and `populate_physmap` (Xen's `CONFIG_DOMU_MAX_ORDER` on x86:
/// 2 MiB extents).
pub const MAX_DOMU_EXTENT_ORDER: u32 = 9;
/// Bits of a `memory_op` command holding the sub-op; the bits above hold the extent a
/// continued call starts at (Xen's `MEMOP_EXTENT_SHIFT`).
pub const MEMOP_EXTENT_SHIFT: u32 = 6;

/// A decoded hypercall.
// Poll ports are held inline to keep the hot path free of heap allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `xen_version`.
    XenVersion(XenVersionReq),
    /// `memory_op`.
    Memory(MemoryReq),
    /// `hvm_op`.
    Hvm(HvmReq),
    /// `vcpu_op` on vCPU `target` (already checked `< nr_vcpus`).
    Vcpu {
        /// The vCPU the operation applies to.
        target: u32,
        /// The operation.
        op: VcpuReq,
    },
    /// `set_timer_op`: one-shot timer at an absolute system time; `None` cancels it.
    SetTimer {
        /// Deadline in ns of Xen system time.
        deadline_ns: Option<u64>,
    },
    /// `sched_op`.
    Sched(SchedReq),
    /// `event_channel_op`.
    Evtchn(EvtchnReq),
    /// `grant_table_op`.
    Gnttab(GnttabReq),
    /// `console_io`.
    Console(ConsoleReq),
    /// `vm_assist`.
    VmAssist(VmAssistReq),
    /// `multicall`: `nr_calls` entries (`MulticallEntry64` or `MulticallEntry32`, by the
    /// guest's width) at `list`, each run as a hypercall of its own and its result written
    /// back to its `result` field.
    Multicall {
        /// Guest address of the entry array.
        list: u64,
        /// Number of entries (`<=` [`MAX_MULTICALL_CALLS`]).
        nr_calls: u32,
    },
    /// `sysctl` with the right interface version: a toolstack operation.
    Sysctl {
        /// `XEN_SYSCTL_*`.
        cmd: u32,
    },
    /// `domctl` with the right interface version: a toolstack operation on `domain`.
    Domctl {
        /// `XEN_DOMCTL_*`.
        cmd: u32,
        /// Target domain.
        domain: u16,
    },
}

/// `vm_assist(cmd, type)`: the command was checked to be `VMASST_CMD_enable` or
/// `VMASST_CMD_disable` and the type to be `< 64`; whether the type is supported is the
/// handler's call ([`VmAssistHandler`](crate::VmAssistHandler)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VmAssistReq {
    /// `true` for `VMASST_CMD_enable`, `false` for `VMASST_CMD_disable`.
    pub enable: bool,
    /// `VMASST_TYPE_*`.
    pub vm_type: u32,
}

/// `xen_version` sub-ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XenVersionReq {
    /// `XENVER_version`: returns `major << 16 | minor`.
    Version,
    /// `XENVER_extraversion`: 16-byte string.
    Extraversion {
        /// Output buffer.
        out: u64,
    },
    /// `XENVER_compile_info`: 144-byte struct.
    CompileInfo {
        /// Output buffer.
        out: u64,
    },
    /// `XENVER_capabilities`: 1024-byte string.
    Capabilities {
        /// Output buffer.
        out: u64,
    },
    /// `XENVER_changeset`: 64-byte string.
    Changeset {
        /// Output buffer.
        out: u64,
    },
    /// `XENVER_get_features`: feature word `submap_idx`.
    GetFeatures {
        /// Index of the 32-bit feature word.
        submap_idx: u32,
        /// Address of the `xen_feature_info`.
        out: u64,
    },
    /// `XENVER_pagesize` with a NULL argument: returns 4096.
    Pagesize,
    /// `XENVER_platform_parameters`: `xen_platform_parameters` (8 or 4 bytes by width).
    PlatformParameters {
        /// Output buffer.
        out: u64,
    },
    /// `XENVER_guest_handle`: the 16-byte domain handle.
    GuestHandle {
        /// Output buffer.
        out: u64,
    },
    /// `XENVER_commandline`: Xen's command line (1024 bytes), or `"<denied>"`.
    Commandline {
        /// Output buffer.
        out: u64,
    },
    /// `XENVER_build_id`: `arg` is NULL (size query) or a `xen_build_id` header with the
    /// buffer after it.
    BuildId {
        /// The argument.
        arg: u64,
    },
}

/// Map spaces of `XENMEM_add_to_physmap` we support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapSpace {
    /// The shared_info page.
    SharedInfo,
    /// Grant table frame `frame` (`status`: a v2 status frame was requested).
    GrantTable {
        /// Frame index.
        frame: u32,
        /// Bit 31 of idx (`XENMAPIDX_grant_table_status`).
        status: bool,
    },
}

/// The three reservation sub-ops of `memory_op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationOp {
    /// `XENMEM_increase_reservation`: allocate extents to the domain (a translated guest
    /// gets no frame numbers back: the pages are not mapped anywhere).
    Increase,
    /// `XENMEM_decrease_reservation`: give the extents at these GFNs back (balloon out).
    Decrease,
    /// `XENMEM_populate_physmap`: back these GFNs with new (zeroed) extents.
    Populate,
}

/// A `struct xen_memory_reservation` whose checks passed (domain, order, flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Guest address of the extent array (`xen_pfn_t`s: `u64`, or `u32` for 32-bit
    /// guests); 0 (NULL) is allowed for `increase_reservation` only.
    pub extent_start: u64,
    /// Number of extents (`<= u32::MAX >> MEMOP_EXTENT_SHIFT`).
    pub nr_extents: u64,
    /// Each extent is `2^extent_order` pages (`<=` [`MAX_DOMU_EXTENT_ORDER`]).
    pub extent_order: u32,
}

/// `memory_op` sub-ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryReq {
    /// `XENMEM_add_to_physmap`: place `space` at guest frame `gfn` (may be outside RAM).
    AddToPhysmap {
        /// What to map.
        space: MapSpace,
        /// Destination GFN.
        gfn: u64,
    },
    /// `XENMEM_memory_map`: copy up to `capacity` e820 entries to `buffer`.
    MemoryMap {
        /// Capacity of the guest buffer in entries.
        capacity: u32,
        /// Guest address of the `E820Entry` array.
        buffer: u64,
        /// Address of the `xen_memory_map` (for `nr_entries` write-back).
        out: u64,
    },
    /// `XENMEM_increase_reservation` / `decrease_reservation` / `populate_physmap`, run
    /// from extent `start_extent` (the command's upper bits). The result is the number
    /// of extents done, never an errno: an argument Xen refuses (unreadable, another
    /// domain, a bad order or flags) leaves `res` `None` and the result `start_extent`.
    Reservation {
        /// Which sub-op.
        op: ReservationOp,
        /// First extent to process.
        start_extent: u64,
        /// The checked reservation, or `None`: done at once.
        res: Option<Reservation>,
    },
    /// `XENMEM_maximum_ram_page`.
    MaximumRamPage,
    /// `XENMEM_current_reservation` (`maximum: false`) or `XENMEM_maximum_reservation` of
    /// domain `domid` (as the guest named it).
    ReservationSize {
        /// `maximum_reservation`.
        maximum: bool,
        /// Domain.
        domid: u16,
    },
    /// `XENMEM_remove_from_physmap` of `gfn` in domain `domid` (as the guest named it).
    RemoveFromPhysmap {
        /// Domain.
        domid: u16,
        /// The GFN.
        gfn: u64,
    },
    /// `XENMEM_add_to_physmap_batch`: `size` entries from `start` (the command's upper
    /// bits, `< size`), each `idxs[i]` of `space` placed at `gpfns[i]`, its result in
    /// `errs[i]`.
    AddToPhysmapBatch {
        /// Domain (as the guest named it).
        domid: u16,
        /// `XENMAPSPACE_*` (not `gmfn_range`, not `dev_mmio`).
        space: u32,
        /// Number of entries.
        size: u16,
        /// First entry to process.
        start: u16,
        /// Guest address of the `xen_ulong_t` indexes.
        idxs: u64,
        /// Guest address of the `xen_pfn_t` GFNs.
        gpfns: u64,
        /// Guest address of the `int` results.
        errs: u64,
    },
}

/// A typed HVM parameter for `HVMOP_set_param`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HvmParam {
    /// `HVM_PARAM_CALLBACK_IRQ`, decoded as Xen does ([`HvmCallbackVia::from_param`]: any
    /// value decodes; the handler refuses what it cannot deliver).
    CallbackIrq(HvmCallbackVia),
    /// `HVM_PARAM_STORE_PFN`.
    StorePfn(u64),
    /// `HVM_PARAM_STORE_EVTCHN`.
    StoreEvtchn(u64),
    /// `HVM_PARAM_CONSOLE_PFN`.
    ConsolePfn(u64),
    /// `HVM_PARAM_CONSOLE_EVTCHN`.
    ConsoleEvtchn(u64),
    /// Any other index `< HVM_NR_PARAMS`.
    Other {
        /// `HVM_PARAM_*`.
        index: u32,
        /// Raw value.
        value: u64,
    },
}

/// `hvm_op` sub-ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HvmReq {
    /// `HVMOP_set_param`.
    SetParam(HvmParam),
    /// `HVMOP_get_param` of `index` (`< HVM_NR_PARAMS`).
    GetParam {
        /// `HVM_PARAM_*`.
        index: u32,
        /// Address of the `xen_hvm_param` (value write-back).
        out: u64,
    },
    /// `HVMOP_set_evtchn_upcall_vector` (vector `>= 0x10`, vCPU checked).
    SetEvtchnUpcallVector {
        /// Target vCPU.
        vcpu: u32,
        /// Vector.
        vector: u8,
    },
}

/// A guest area registered by address (runstate / time area).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestArea {
    /// Address the guest passed (guest-virtual).
    pub gva: u64,
    /// Guest-physical address of the first byte.
    pub gpa: u64,
    /// Size of the area for this guest width.
    pub len: usize,
    /// If the area crosses a page boundary: bytes in the first page and GPA of the second.
    pub split: Option<(usize, u64)>,
}

/// `vcpu_op` sub-ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VcpuReq {
    /// `VCPUOP_register_vcpu_info`: `vcpu_info` at `gfn`/`offset` (offset fits in the page).
    RegisterVcpuInfo {
        /// Guest frame.
        gfn: u64,
        /// Offset in the frame.
        offset: u32,
    },
    /// `VCPUOP_register_runstate_memory_area`; `None` (NULL address) unregisters.
    RegisterRunstateArea(Option<GuestArea>),
    /// `VCPUOP_register_vcpu_time_memory_area`; `None` (NULL address) unregisters.
    RegisterTimeArea(Option<GuestArea>),
    /// `VCPUOP_set_singleshot_timer`.
    SetSingleshotTimer {
        /// Absolute deadline (ns of system time).
        timeout_abs_ns: u64,
        /// `VCPU_SSHOTTMR_future`: fail with -ETIME if already past.
        future: bool,
    },
    /// `VCPUOP_stop_singleshot_timer`.
    StopSingleshotTimer,
    /// `VCPUOP_set_periodic_timer` (period `>=` 1 ms).
    SetPeriodicTimer {
        /// Period in ns.
        period_ns: u64,
    },
    /// `VCPUOP_stop_periodic_timer`.
    StopPeriodicTimer,
    /// `VCPUOP_initialise` of an HVM/PVH guest: the `vcpu_hvm_context` as read from the
    /// guest (checked by the handler, after whether the vCPU is already initialised).
    Initialise(xen_abi::VcpuHvmContext),
    /// `VCPUOP_up`.
    Up,
    /// `VCPUOP_down`.
    Down,
    /// `VCPUOP_is_up`.
    IsUp,
    /// `VCPUOP_get_runstate_info`: the dispatcher writes the `vcpu_runstate_info` of the
    /// caller's width at `out`.
    GetRunstateInfo {
        /// Guest address of the output struct.
        out: u64,
    },
}

/// Ports of a `SCHEDOP_poll`, held inline (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollPorts {
    ports: [u32; MAX_POLL_PORTS],
    len: usize,
}

impl PollPorts {
    /// Builds from a slice of at most [`MAX_POLL_PORTS`] ports.
    pub fn new(ports: &[u32]) -> Option<Self> {
        if ports.len() > MAX_POLL_PORTS {
            return None;
        }
        let mut p = Self {
            ports: [0; MAX_POLL_PORTS],
            len: ports.len(),
        };
        p.ports[..ports.len()].copy_from_slice(ports);
        Some(p)
    }

    /// The ports.
    pub fn as_slice(&self) -> &[u32] {
        &self.ports[..self.len]
    }
}

/// `sched_op` sub-ops.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchedReq {
    /// `SCHEDOP_yield`.
    Yield,
    /// `SCHEDOP_block`: sleep until an event is pending.
    Block,
    /// `SCHEDOP_shutdown`: the guest's reason truncated to 8 bits, as Xen does; it may be
    /// above `SHUTDOWN_MAX` (see [`HypercallOutcome::Shutdown`](crate::HypercallOutcome)).
    Shutdown(u32),
    /// `SCHEDOP_poll`: sleep until one of `ports` is pending or `timeout_ns` passes.
    Poll {
        /// Ports (each `< NR_EVENT_CHANNELS` for the guest width).
        ports: PollPorts,
        /// Absolute timeout, `None` = no timeout.
        timeout_ns: Option<u64>,
    },
    /// `SCHEDOP_shutdown_code`: the reason (truncated to 8 bits, as Xen) a later shutdown
    /// of the domain reports, unless one was set already.
    ShutdownCode(u32),
    /// `SCHEDOP_remote_shutdown` of domain `domid` (by id: `DOMID_SELF` names none) with
    /// `reason` (truncated to 8 bits).
    RemoteShutdown {
        /// Target domain.
        domid: u16,
        /// `SHUTDOWN_*`.
        reason: u32,
    },
}

/// `event_channel_op` sub-ops (2-level and FIFO ABIs). `dom` fields were checked to be the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvtchnReq {
    /// `EVTCHNOP_alloc_unbound`.
    AllocUnbound {
        /// Domain allowed to bind.
        remote_dom: u16,
        /// Struct address (port write-back).
        out: u64,
    },
    /// `EVTCHNOP_bind_interdomain`.
    BindInterdomain {
        /// Remote domain.
        remote_dom: u16,
        /// Remote port.
        remote_port: u32,
        /// Struct address (port write-back).
        out: u64,
    },
    /// `EVTCHNOP_bind_virq` (virq `< NR_VIRQS`, vcpu checked).
    BindVirq {
        /// `VIRQ_*`.
        virq: u32,
        /// vCPU.
        vcpu: u32,
        /// Struct address (port write-back).
        out: u64,
    },
    /// `EVTCHNOP_bind_pirq`.
    BindPirq {
        /// PIRQ.
        pirq: u32,
        /// Flags.
        flags: u32,
        /// Struct address (port write-back).
        out: u64,
    },
    /// `EVTCHNOP_bind_ipi` (vcpu checked).
    BindIpi {
        /// vCPU.
        vcpu: u32,
        /// Struct address (port write-back).
        out: u64,
    },
    /// `EVTCHNOP_close`.
    Close {
        /// Port.
        port: u32,
    },
    /// `EVTCHNOP_send`.
    Send {
        /// Port.
        port: u32,
    },
    /// `EVTCHNOP_status`.
    Status {
        /// Port.
        port: u32,
        /// Struct address (status write-back).
        out: u64,
    },
    /// `EVTCHNOP_bind_vcpu` (vcpu checked).
    BindVcpu {
        /// Port.
        port: u32,
        /// New vCPU.
        vcpu: u32,
    },
    /// `EVTCHNOP_unmask`.
    Unmask {
        /// Port.
        port: u32,
    },
    /// `EVTCHNOP_reset` of the caller.
    Reset,
    /// `EVTCHNOP_init_control` (FIFO ABI; vcpu checked).
    InitControl {
        /// Guest frame of the control block.
        control_gfn: u64,
        /// Offset of the control block in the frame (checked by the handler, as Xen).
        offset: u32,
        /// vCPU whose control block it is.
        vcpu: u32,
        /// Struct address (`link_bits` write-back on success).
        out: u64,
    },
    /// `EVTCHNOP_expand_array` (FIFO ABI).
    ExpandArray {
        /// Guest frame of the new event-array page.
        array_gfn: u64,
    },
    /// `EVTCHNOP_set_priority` (FIFO ABI).
    SetPriority {
        /// Port.
        port: u32,
        /// Priority (checked by the handler: `<= EVTCHN_FIFO_PRIORITY_MIN`).
        priority: u32,
    },
}

/// `grant_table_op` sub-ops. Batched ones carry the guest array and its length
/// (`<=` [`MAX_GRANT_OPS`]); the dispatcher runs them one by one, writing each status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GnttabReq {
    /// `GNTTABOP_query_size` of domain `dom` (as the guest named it).
    QuerySize {
        /// Struct address.
        out: u64,
        /// Domain.
        dom: u16,
    },
    /// `GNTTABOP_setup_table`.
    SetupTable {
        /// Frames wanted.
        nr_frames: u32,
        /// Guest array of frames (u64 for 64-bit guests, u32 for 32-bit ones).
        frame_list: u64,
        /// Struct address (status write-back).
        out: u64,
        /// Domain (as the guest named it).
        dom: u16,
    },
    /// `GNTTABOP_set_version` (any number: the dispatcher refuses all but 1 and 2 with
    /// -EINVAL, after which the current version is still written back, as in Xen).
    SetVersion {
        /// Requested version.
        version: u32,
        /// Struct address (version write-back).
        out: u64,
    },
    /// `GNTTABOP_get_version` of domain `dom` (as the guest named it).
    GetVersion {
        /// Domain.
        dom: u16,
        /// Struct address (version write-back).
        out: u64,
    },
    /// `GNTTABOP_get_status_frames` (only if the handler offers it:
    /// [`GnttabHandler::get_status_frames_offered`](crate::GnttabHandler)).
    GetStatusFrames {
        /// Frames wanted.
        nr_frames: u32,
        /// Guest array of `u64` frames.
        frame_list: u64,
        /// Domain (as the guest named it).
        dom: u16,
        /// Struct address (status write-back).
        out: u64,
    },
    /// `GNTTABOP_map_grant_ref`: `count` `gnttab_map_grant_ref`s at `list`.
    MapGrantRef {
        /// Guest array.
        list: u64,
        /// Entries.
        count: u32,
    },
    /// `GNTTABOP_unmap_grant_ref`: `count` `gnttab_unmap_grant_ref`s at `list`.
    UnmapGrantRef {
        /// Guest array.
        list: u64,
        /// Entries.
        count: u32,
    },
    /// `GNTTABOP_copy`: `count` `gnttab_copy`s (by the guest's width) at `list`.
    Copy {
        /// Guest array.
        list: u64,
        /// Entries.
        count: u32,
    },
    /// `GNTTABOP_swap_grant_ref`: `count` `gnttab_swap_grant_ref`s at `list`.
    SwapGrantRef {
        /// Guest array.
        list: u64,
        /// Entries.
        count: u32,
    },
}

/// One operation of a guest's `GNTTABOP_map_grant_ref` that passed the dispatcher's
/// checks (flags, domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantMapReq {
    /// The granting domain (an existing one, named by id).
    pub dom: u16,
    /// Grant reference.
    pub gref: u32,
    /// `GNTMAP_*`: `GNTMAP_host_map`, maybe `GNTMAP_readonly` (device, application and
    /// PTE mappings are refused for HVM guests) and guest-available bits.
    pub flags: u32,
    /// Guest-physical address where the frame is to appear.
    pub host_addr: u64,
}

/// One side of a `GNTTABOP_copy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantCopyPtr {
    /// Grant reference or frame.
    pub gref_or_gfn: u64,
    /// Domain.
    pub domid: u16,
    /// Offset in the frame.
    pub offset: u16,
}

/// One operation of a guest's `GNTTABOP_copy` that passed the dispatcher's domain checks
/// (a frame only of `DOMID_SELF`: `GNTST_permission_denied`; a grant of an existing
/// domain: `GNTST_bad_domain`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantCopyReq {
    /// Source.
    pub source: GrantCopyPtr,
    /// Destination.
    pub dest: GrantCopyPtr,
    /// Bytes.
    pub len: u16,
    /// `GNTCOPY_*`.
    pub flags: u16,
}

/// `console_io` sub-ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleReq {
    /// `CONSOLEIO_write` of `count` bytes at `buffer` (`count <= MAX_CONSOLE_WRITE`).
    Write {
        /// Byte count.
        count: u32,
        /// Guest buffer.
        buffer: u64,
    },
    /// `CONSOLEIO_read` of at most `count` bytes into `buffer`.
    Read {
        /// Capacity.
        count: u32,
        /// Guest buffer.
        buffer: u64,
    },
}
