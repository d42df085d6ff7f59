// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Plain state for snapshot / restore (vm-superio style): no locks, no file descriptors.

use crate::upcall::CallbackVia;

/// Where an interdomain port's other end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remote {
    /// Another port of the guest itself (loopback).
    Loopback(u32),
    /// A host-side backend port ([`crate::HostPort`]) with this id.
    Host(u32),
}

/// What a guest port is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// Allocated, waiting for `remote_dom` to bind.
    Unbound {
        /// The domain allowed to bind (the guest's own domid, or the backend domain).
        remote_dom: u16,
    },
    /// Connected to `remote`.
    Interdomain(Remote),
    /// Bound to a VIRQ.
    Virq(u32),
    /// An IPI port.
    Ipi,
    /// Bound to a PIRQ.
    Pirq(u32),
}

/// One allocated guest port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortState {
    /// The port number (1 .. nr_ports).
    pub port: u32,
    /// The vCPU notified when it becomes pending.
    pub vcpu: u32,
    /// Its binding.
    pub binding: Binding,
}

/// One host backend port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPortState {
    /// The host port id (>= 1).
    pub id: u32,
    /// The guest port it is connected to, if any.
    pub guest_port: Option<u32>,
}

/// The whole event-channel state of a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EvtchnState {
    /// The guest's own domain id.
    pub domid: u16,
    /// Number of vCPUs.
    pub max_vcpus: u32,
    /// Number of PIRQs the guest may bind.
    pub nr_pirqs: u32,
    /// Allocated guest ports (free ports are omitted).
    pub ports: Vec<PortState>,
    /// Host backend ports.
    pub host_ports: Vec<HostPortState>,
    /// The VM-wide callback.
    pub callback: CallbackVia,
    /// Per-vCPU upcall vectors (0: none), index = vCPU.
    pub vcpu_vectors: Vec<u8>,
    /// Ports set pending while `shared_info` was not placed (the host-side shadow of
    /// [`crate::Delivery::Deferred`]), ascending. Usually empty: they are delivered as soon
    /// as `shared_info` is placed.
    pub deferred: Vec<u32>,
    /// The FIFO ABI's state, `None` while the guest uses the 2-level ABI (the default, so
    /// states made before FIFO support still load).
    pub fifo: Option<FifoState>,
}

/// The FIFO ABI's state (`EVTCHNOP_init_control` / `expand_array` / `set_priority`). Event
/// words and control blocks live in guest memory; this is the hypervisor's side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FifoState {
    /// Per vCPU: its control block `(gfn, offset)`, if registered.
    pub control_blocks: Vec<Option<(u64, u32)>>,
    /// The event-array frames, in port order (1024 ports each).
    pub event_array: Vec<u64>,
    /// Per vCPU, per priority: the last port linked on the queue (0: empty).
    pub tails: Vec<[u32; 16]>,
    /// Ports whose priority is not the default (7): `(port, priority)`.
    pub priorities: Vec<(u32, u8)>,
    /// Ports whose last queue is not (vCPU 0, priority 7): `(port, vcpu, priority)`.
    pub last_queues: Vec<(u32, u32, u8)>,
    /// Ports pending while they had no event word (linked when their page is added).
    pub saved_pending: Vec<u32>,
}
