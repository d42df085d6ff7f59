// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The backend thread (`xen-backends`): an `event_manager` loop over the
//! eventfds of the backends' host ports (the PV console, the xenstore and
//! each connected vbd, see [`xen_platform::XenPlatform::backend_host_ports`])
//! and the platform's [`xen_platform::XenPlatform::backend_wake`]. When one
//! fires it runs the platform's devices
//! ([`xen_platform::XenPlatform::run_backends`]), so that the guest's
//! `EVTCHNOP_send` only signals an eventfd: [`Vm::run`](crate::vm::Vm::run)
//! turns the platform's inline serving off while this thread runs.
//!
//! Guest memory is touched only inside the [`crate::quiesce::HostGate`]: while
//! a snapshot is taken the thread waits at the gate and the notification
//! stays in its eventfd, served after the resume.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use event_manager::{EventOps, Events, MutEventSubscriber, SubscriberOps};
use vm_lock::Root;
use vmm_sys_util::epoll::EventSet;
use xen_evtchn::HostPort;

use crate::vm::VmShared;

/// Event data of the platform's wake-up eventfd (host port ids are smaller).
const WAKE_DATA: u32 = u32::MAX;
/// How long one wait lasts before the thread checks whether the VM ended.
const WAIT_MS: i32 = 100;

/// The event-manager subscriber of the backend thread.
pub struct BackendSubscriber {
    shared: Arc<VmShared>,
    /// The host ports registered, by id.
    ports: HashMap<u32, HostPort>,
}

impl BackendSubscriber {
    /// A subscriber serving `shared`'s platform backends.
    pub fn new(shared: Arc<VmShared>) -> Self {
        BackendSubscriber {
            shared,
            ports: HashMap::new(),
        }
    }

    /// Runs every backend (inside the host gate).
    fn serve(&self) {
        let Ok(mut root) = Root::new() else {
            log::error!("backend thread already holds a lock root");
            return;
        };
        let Some(_section) = self.shared.host_gate.enter(root.token()) else {
            return; // the VM ended
        };
        self.shared.platform.run_backends(root.token(), None);
        self.shared.backend_runs.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits on the backends' host ports as they are now.
    fn resync(&mut self, ops: &mut EventOps) {
        let now = match Root::new() {
            Ok(mut root) => self.shared.platform.backend_host_ports(root.token()),
            Err(_) => {
                log::error!("backend thread already holds a lock root");
                return;
            }
        };
        let ids: Vec<u32> = now.iter().map(|h| h.id()).collect();
        let gone: Vec<u32> = self
            .ports
            .keys()
            .copied()
            .filter(|id| !ids.contains(id))
            .collect();
        for id in gone {
            if let Some(h) = self.ports.remove(&id) {
                let _ = ops.remove(Events::with_data(h.eventfd(), id, EventSet::IN));
            }
        }
        for h in now {
            let id = h.id();
            if id == WAKE_DATA || self.ports.contains_key(&id) {
                continue;
            }
            match ops.add(Events::with_data(h.eventfd(), id, EventSet::IN)) {
                Ok(()) => {
                    self.ports.insert(id, h);
                }
                Err(e) => log::error!("host port {id} registration failed: {e:?}"),
            }
        }
    }
}

impl MutEventSubscriber for BackendSubscriber {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let data = events.data();
        if data == WAKE_DATA {
            let _ = self.shared.platform.backend_wake().read();
            self.serve();
            self.resync(ops);
        } else if let Some(h) = self.ports.get(&data) {
            // Cleared before the run: a notification during it fires again.
            let _ = h.eventfd().read();
            self.serve();
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        let wake = self.shared.platform.backend_wake().as_raw_fd();
        if let Err(e) = ops.add(Events::with_data_raw(wake, WAKE_DATA, EventSet::IN)) {
            log::error!("backend wake-up registration failed: {e:?}");
        }
        self.resync(ops);
    }
}

/// Serves the backends until the VM is done.
pub fn backend_thread(shared: Arc<VmShared>) {
    let mut em = match event_manager::EventManager::<BackendSubscriber>::new() {
        Ok(em) => em,
        Err(e) => {
            log::error!("event manager: {e:?}");
            return;
        }
    };
    em.add_subscriber(BackendSubscriber::new(shared.clone()));
    while !shared.is_done() {
        if let Err(e) = em.run_with_timeout(WAIT_MS) {
            log::error!("backend event loop: {e:?}");
            break;
        }
    }
}
