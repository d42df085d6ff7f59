// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! How an event reaches a vCPU: the [`UpcallSink`] trait the VMM implements.

use std::sync::Arc;

/// How the VMM must deliver an upcall to a vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpcallKind {
    /// Inject this vector on the vCPU: its own upcall vector (`HVMOP_set_evtchn_upcall_vector`).
    PerVcpuVector(u8),
    /// Inject this vector on the vCPU: the VM-wide callback vector
    /// (`HVM_PARAM_CALLBACK_IRQ` type vector).
    Vector(u8),
    /// Assert this GSI (level; `HVM_PARAM_CALLBACK_IRQ` type GSI). Only for vCPU 0, as in Xen;
    /// the VMM deasserts it when vCPU 0's `evtchn_upcall_pending` is clear again.
    Gsi(u32),
    /// No interrupt to inject (no callback configured, or a vCPU other than 0 with a GSI
    /// callback): only wake the vCPU if it is blocked (`SCHEDOP_block`).
    Kick,
}

/// The VM-wide callback configuration (`HVM_PARAM_CALLBACK_IRQ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CallbackVia {
    /// No callback set.
    #[default]
    None,
    /// A vector injected on the notified vCPU.
    Vector(u8),
    /// A GSI asserted for vCPU 0.
    Gsi(u32),
}

/// The VMM's side of delivery. Callable from any thread, possibly while the event-channel
/// code holds page-cache locks: implementations must not block and must not lock anything
/// of `vm-lock` (they have no token, so they cannot).
pub trait UpcallSink: Send + Sync {
    /// `evtchn_upcall_pending` of `vcpu` went 0 -> 1: deliver an upcall as `how` says and
    /// wake the vCPU if it is blocked.
    fn raise(&self, vcpu: u32, how: UpcallKind);

    /// A port that `vcpu` polls (`SCHEDOP_poll`, see [`crate::Evtchn::poll_begin`]) became
    /// pending: wake the vCPU.
    fn poll_wake(&self, vcpu: u32);
}

impl<T: UpcallSink + ?Sized> UpcallSink for Arc<T> {
    fn raise(&self, vcpu: u32, how: UpcallKind) {
        (**self).raise(vcpu, how)
    }

    fn poll_wake(&self, vcpu: u32) {
        (**self).poll_wake(vcpu)
    }
}
