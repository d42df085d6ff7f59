// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen timers: the platform keeps each vCPU's deadlines in its Xen state and
//! has the host arm a timer for them ([`crate::XenHost::set_timer`]); an
//! expiry comes back as [`crate::XenPlatform::timer_fired`].
//!
//! The bounds below are the ones the hypercalls apply, and the ones
//! [`crate::XenPlatform::restore`] applies to a saved state: a restored
//! timer is one a running guest could have armed.

use crate::host::{TimerArm, TimerKind};
use crate::platform::XenPlatform;
use crate::state::XenState;

/// Shortest period `VCPUOP_set_periodic_timer` accepts (1 ms, as Xen).
pub const MIN_PERIOD_NS: u64 = 1_000_000;
/// Longest period `VCPUOP_set_periodic_timer` accepts (2^50 ns, about 13 days).
pub const MAX_PERIOD_NS: u64 = 1 << 50;
/// Furthest a single-shot deadline lies ahead of Xen system time: 2^50 ns
/// (about 13 days), the horizon past which `set_timer_op` treats a deadline
/// as wrapped (`timer_op_deadline`). `VCPUOP_set_singleshot_timer` clamps a
/// later deadline to it (no guest can tell: Linux asks at most ~4.3 s
/// ahead), so a saved deadline further than this past the saved system time
/// is one no running VM reaches.
pub const MAX_SINGLESHOT_AHEAD_NS: u64 = 1 << 50;

/// The deadline `VCPUOP_set_singleshot_timer(timeout)` arms at system time
/// `now`: a deadline negative as an s64 fires at once (Xen's `s_time_t` puts
/// it in the past), one more than [`MAX_SINGLESHOT_AHEAD_NS`] ahead is
/// clamped to that horizon.
pub fn singleshot_deadline(timeout: u64, now: u64) -> u64 {
    if (timeout as i64) < 0 {
        now
    } else {
        timeout.min(now.saturating_add(MAX_SINGLESHOT_AHEAD_NS))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singleshot_deadlines_stay_within_the_horizon() {
        let now = 7_000_000_000u64;
        assert_eq!(singleshot_deadline(now + 5, now), now + 5);
        assert_eq!(singleshot_deadline(1, now), 1, "past: fires at once");
        let far = now + MAX_SINGLESHOT_AHEAD_NS;
        assert_eq!(singleshot_deadline(far, now), far);
        assert_eq!(singleshot_deadline(far + 1, now), far);
        assert_eq!(singleshot_deadline(i64::MAX as u64, now), far);
        assert_eq!(singleshot_deadline(1 << 63, now), now, "negative s_time_t");
        assert_eq!(singleshot_deadline(u64::MAX, now), now);
    }
}
