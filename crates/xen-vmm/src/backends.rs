//! VMM backends reached through event channels (PV console, xenstore).

use vm_lock::Root;

use crate::hypervisor::evtchn::Backend;
use crate::vm::VmShared;

/// The guest sent on a backend's event channel.
pub fn notify(shared: &VmShared, root: &mut Root, backend: Backend) {
    let _ = (shared, root.token());
    log::debug!("guest notified backend {backend:?}");
}
