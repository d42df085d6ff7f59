// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Host-side (backend) ports.

use vmm_sys_util::eventfd::EventFd;

/// A host backend's end of an interdomain channel.
///
/// Its eventfd is signalled each time the guest sends on the connected guest port; send to
/// the guest with [`crate::Evtchn::host_send`] from any thread.
#[derive(Debug)]
pub struct HostPort {
    pub(crate) id: u32,
    pub(crate) eventfd: EventFd,
}

impl HostPort {
    /// The host port id (what the guest passes as `remote_port` with the backend domain).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Signalled (counter += 1) when the guest sends on the connected port.
    pub fn eventfd(&self) -> &EventFd {
        &self.eventfd
    }
}

/// The table's record of a host port.
#[derive(Debug)]
pub(crate) struct HostSlot {
    pub(crate) guest_port: Option<u32>,
    pub(crate) eventfd: EventFd,
}
