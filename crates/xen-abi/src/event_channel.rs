// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Event channel ops (`event_channel.h`), VIRQ numbers and status codes.

/// Event channel port number.
pub type EvtchnPort = u32;
/// Domain id.
pub type DomId = u16;

/// The calling domain.
pub const DOMID_SELF: DomId = 0x7ff0;
/// First reserved domain id.
pub const DOMID_FIRST_RESERVED: DomId = 0x7ff0;
/// Pseudo-domain of I/O memory.
pub const DOMID_IO: DomId = 0x7ff1;
/// Pseudo-domain of Xen's own pages.
pub const DOMID_XEN: DomId = 0x7ff2;
/// Pseudo-domain owning sharable pages.
pub const DOMID_COW: DomId = 0x7ff3;
/// Invalid domain id (pages of unknown owner).
pub const DOMID_INVALID: DomId = 0x7ff4;
/// Idle domain id.
pub const DOMID_IDLE: DomId = 0x7fff;

/// Bind to a remote domain's unbound port.
pub const EVTCHNOP_BIND_INTERDOMAIN: u32 = 0;
/// Bind a VIRQ to a vCPU.
pub const EVTCHNOP_BIND_VIRQ: u32 = 1;
/// Bind a physical IRQ.
pub const EVTCHNOP_BIND_PIRQ: u32 = 2;
/// Close a port.
pub const EVTCHNOP_CLOSE: u32 = 3;
/// Send an event.
pub const EVTCHNOP_SEND: u32 = 4;
/// Query status of a port.
pub const EVTCHNOP_STATUS: u32 = 5;
/// Allocate an unbound port.
pub const EVTCHNOP_ALLOC_UNBOUND: u32 = 6;
/// Bind an IPI port to a vCPU.
pub const EVTCHNOP_BIND_IPI: u32 = 7;
/// Re-target a port to another vCPU.
pub const EVTCHNOP_BIND_VCPU: u32 = 8;
/// Unmask a port (and re-deliver if pending).
pub const EVTCHNOP_UNMASK: u32 = 9;
/// Close all ports of a domain.
pub const EVTCHNOP_RESET: u32 = 10;
/// FIFO ABI: init control block.
pub const EVTCHNOP_INIT_CONTROL: u32 = 11;
/// FIFO ABI: expand array.
pub const EVTCHNOP_EXPAND_ARRAY: u32 = 12;
/// FIFO ABI: set priority.
pub const EVTCHNOP_SET_PRIORITY: u32 = 13;
/// Continuation of reset.
pub const EVTCHNOP_RESET_CONT: u32 = 14;

/// Status: channel not in use.
pub const EVTCHNSTAT_CLOSED: u32 = 0;
/// Status: waiting for an interdomain connection.
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
/// Status: connected to a remote domain.
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
/// Status: bound to a physical IRQ.
pub const EVTCHNSTAT_PIRQ: u32 = 3;
/// Status: bound to a VIRQ.
pub const EVTCHNSTAT_VIRQ: u32 = 4;
/// Status: bound to an IPI.
pub const EVTCHNSTAT_IPI: u32 = 5;

/// Per-vCPU timer.
pub const VIRQ_TIMER: u32 = 0;
/// Debug dump request.
pub const VIRQ_DEBUG: u32 = 1;
/// Emergency console input (dom0).
pub const VIRQ_CONSOLE: u32 = 2;
/// Domain exception (dom0).
pub const VIRQ_DOM_EXC: u32 = 3;
/// Trace buffer (dom0).
pub const VIRQ_TBUF: u32 = 4;
/// Debugger (dom0).
pub const VIRQ_DEBUGGER: u32 = 6;
/// Xenoprof sample.
pub const VIRQ_XENOPROF: u32 = 7;
/// Console ring (dom0).
pub const VIRQ_CON_RING: u32 = 8;
/// PCPU state (dom0).
pub const VIRQ_PCPU_STATE: u32 = 9;
/// Memory event (dom0).
pub const VIRQ_MEM_EVENT: u32 = 10;
/// Argo notification.
pub const VIRQ_ARGO: u32 = 11;
/// Low on heap memory (dom0).
pub const VIRQ_ENOMEM: u32 = 12;
/// PMU interrupt.
pub const VIRQ_XENPMU: u32 = 13;
/// First arch-specific VIRQ.
pub const VIRQ_ARCH_0: u32 = 16;
/// Number of VIRQs (`NR_VIRQS`).
pub const NR_VIRQS: u32 = 24;

/// `struct evtchn_alloc_unbound` (8 bytes). OUT: `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnAllocUnbound {
    /// IN: domain (usually `DOMID_SELF`).
    pub dom: DomId,
    /// IN: remote domain allowed to bind.
    pub remote_dom: DomId,
    /// OUT: allocated port.
    pub port: EvtchnPort,
}

/// `struct evtchn_bind_interdomain` (12 bytes). OUT: `local_port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindInterdomain {
    /// IN: remote domain.
    pub remote_dom: DomId,
    /// Padding.
    pub pad: u16,
    /// IN: remote port.
    pub remote_port: EvtchnPort,
    /// OUT: local port.
    pub local_port: EvtchnPort,
}

/// `struct evtchn_bind_virq` (12 bytes). OUT: `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindVirq {
    /// IN: `VIRQ_*`.
    pub virq: u32,
    /// IN: vCPU.
    pub vcpu: u32,
    /// OUT: port.
    pub port: EvtchnPort,
}

/// `struct evtchn_bind_pirq` (12 bytes). OUT: `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindPirq {
    /// IN: physical IRQ.
    pub pirq: u32,
    /// IN: `BIND_PIRQ__WILL_SHARE`.
    pub flags: u32,
    /// OUT: port.
    pub port: EvtchnPort,
}

/// `struct evtchn_bind_ipi` (8 bytes). OUT: `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindIpi {
    /// IN: vCPU.
    pub vcpu: u32,
    /// OUT: port.
    pub port: EvtchnPort,
}

/// `struct evtchn_close` (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnClose {
    /// IN: port.
    pub port: EvtchnPort,
}

/// `struct evtchn_send` (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnSend {
    /// IN: port.
    pub port: EvtchnPort,
}

/// `struct evtchn_status` (24 bytes). OUT: `status`, `vcpu`, `u`.
///
/// `u` is a union: `EVTCHNSTAT_UNBOUND`: `u[0]` = remote domid; `EVTCHNSTAT_INTERDOMAIN`:
/// `u[0]` = remote domid, `u[1]` = remote port; `EVTCHNSTAT_PIRQ` / `EVTCHNSTAT_VIRQ`: `u[0]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnStatus {
    /// IN: domain.
    pub dom: DomId,
    /// Padding.
    pub pad: u16,
    /// IN: port.
    pub port: EvtchnPort,
    /// OUT: `EVTCHNSTAT_*`.
    pub status: u32,
    /// OUT: vCPU the port is bound to.
    pub vcpu: u32,
    /// OUT: status-specific union (see type docs).
    pub u: [u32; 2],
}

/// `struct evtchn_bind_vcpu` (8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindVcpu {
    /// IN: port.
    pub port: EvtchnPort,
    /// IN: new target vCPU.
    pub vcpu: u32,
}

/// `struct evtchn_unmask` (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnUnmask {
    /// IN: port.
    pub port: EvtchnPort,
}

/// `struct evtchn_reset` (2 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnReset {
    /// IN: domain.
    pub dom: DomId,
}

/// `struct evtchn_init_control` (24 bytes): `EVTCHNOP_init_control`, switch to the FIFO ABI
/// and register `vcpu`'s control block.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnInitControl {
    /// IN: guest frame of the control block's page.
    pub control_gfn: u64,
    /// IN: offset of the control block in the page (8-byte aligned, block inside the page).
    pub offset: u32,
    /// IN: vCPU.
    pub vcpu: u32,
    /// OUT: bits in the event word's LINK field ([`EVTCHN_FIFO_LINK_BITS`]).
    pub link_bits: u8,
    /// Padding.
    pub pad: [u8; 7],
}

/// `struct evtchn_expand_array` (8 bytes): `EVTCHNOP_expand_array`, add a page to the event
/// array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnExpandArray {
    /// IN: guest frame of the new event-array page.
    pub array_gfn: u64,
}

/// `struct evtchn_set_priority` (8 bytes): `EVTCHNOP_set_priority`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnSetPriority {
    /// IN: port.
    pub port: EvtchnPort,
    /// IN: priority, [`EVTCHN_FIFO_PRIORITY_MAX`] (highest) ..= [`EVTCHN_FIFO_PRIORITY_MIN`].
    pub priority: u32,
}

/// FIFO ABI: an event word (one per port in the event array).
pub type EventWord = u32;

/// FIFO ABI: the highest priority.
pub const EVTCHN_FIFO_PRIORITY_MAX: u32 = 0;
/// FIFO ABI: the priority of a new port.
pub const EVTCHN_FIFO_PRIORITY_DEFAULT: u32 = 7;
/// FIFO ABI: the lowest priority.
pub const EVTCHN_FIFO_PRIORITY_MIN: u32 = 15;
/// FIFO ABI: queues per vCPU (one per priority).
pub const EVTCHN_FIFO_MAX_QUEUES: u32 = EVTCHN_FIFO_PRIORITY_MIN + 1;
/// FIFO ABI: event word bit number: the event is pending (P).
pub const EVTCHN_FIFO_PENDING: u32 = 31;
/// FIFO ABI: event word bit number: the event is masked (M).
pub const EVTCHN_FIFO_MASKED: u32 = 30;
/// FIFO ABI: event word bit number: the event is on a queue (L).
pub const EVTCHN_FIFO_LINKED: u32 = 29;
/// FIFO ABI: event word bit number: the hypervisor is changing LINK, the guest must not
/// unmask (B).
pub const EVTCHN_FIFO_BUSY: u32 = 28;
/// FIFO ABI: bits of the LINK field (the next port on the queue).
pub const EVTCHN_FIFO_LINK_BITS: u32 = 17;
/// FIFO ABI: mask of the LINK field.
pub const EVTCHN_FIFO_LINK_MASK: u32 = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
/// FIFO ABI: number of ports (2^17).
pub const EVTCHN_FIFO_NR_CHANNELS: u32 = 1 << EVTCHN_FIFO_LINK_BITS;

/// `struct evtchn_fifo_control_block` (72 bytes): per vCPU, in a guest page.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnFifoControlBlock {
    /// Bit `q` set: queue `q` may have events (the hypervisor sets, the guest clears).
    pub ready: u32,
    /// Reserved.
    pub rsvd: u32,
    /// Per priority: the first port on the queue (the hypervisor sets it when it links an
    /// event into an empty queue; the guest consumes).
    pub head: [EventWord; EVTCHN_FIFO_MAX_QUEUES as usize],
}
