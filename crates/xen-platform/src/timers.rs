// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen timers: the platform keeps each vCPU's deadlines in its Xen state and
//! has the host arm a timer for them ([`crate::XenHost::set_timer`]); an
//! expiry comes back as [`crate::XenPlatform::timer_fired`].

use crate::host::{TimerArm, TimerKind};
use crate::platform::XenPlatform;
use crate::state::XenState;

/// Arms (or with `None` stops) vCPU `vcpu`'s single-shot timer at Xen system
/// time `timeout`.
pub fn arm_singleshot(p: &XenPlatform, xen: &mut XenState, vcpu: u32, timeout: Option<u64>) {
    let Some(x) = xen.vcpus.get_mut(vcpu as usize) else {
        return;
    };
    x.singleshot_ns = timeout;
    let arm = timeout.map(|ns| TimerArm {
        deadline_ns: p.monotonic_of(ns),
        period_ns: 0,
    });
    p.set_host_timer(vcpu, TimerKind::SingleShot, arm);
}
