//! Helpers shared by the hypercall handlers and the VMM's own event sources.

use super::XenState;
use crate::vm::VmShared;

/// Arms (or with `None` stops) vCPU `vcpu`'s single-shot timer at Xen system time `timeout`.
pub fn arm_singleshot(shared: &VmShared, xen: &mut XenState, vcpu: u32, timeout: Option<u64>) {
    let Some(x) = xen.vcpus.get_mut(vcpu as usize) else {
        return;
    };
    x.singleshot_ns = timeout;
    let t = &shared.timers[vcpu as usize].singleshot;
    let r = match timeout {
        Some(ns) => t.arm_at(shared.boot_ns.saturating_add(ns), 0),
        None => t.disarm(),
    };
    if let Err(e) = r {
        log::error!("timerfd: {e}");
    }
}
