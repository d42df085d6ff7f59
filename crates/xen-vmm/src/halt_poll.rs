// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Adaptive polling before a vCPU thread parks in HLT / `SCHEDOP_block` /
//! `SCHEDOP_poll`, as KVM's halt polling does for a halted vCPU: waking a
//! parked thread costs a futex wake and a scheduler hop (on a virtualised
//! host, an IPI through the hypervisor), which is most of an event-channel
//! IPI round trip. A thread that expects its wait to be short spins on its
//! kick counter ([`crate::kick::VcpuControl::kicks`]) for a while first.
//!
//! The spin window adapts per vCPU: a wait that ended within the window keeps
//! it; a wait that parked but ended within [`HaltPoll::max_ns`] doubles it
//! (from [`GROW_START_NS`]); a longer wait (an idle guest, a timer tick
//! away) drops it to zero. So an idle guest burns at most one window per
//! long wait, and a window never exceeds `max_ns` (0 turns polling off).

use std::time::Duration;

/// The first window after a short wait that parked.
pub const GROW_START_NS: u64 = 10_000;

/// Default upper bound of the window (KVM's default `halt_poll_ns`).
pub const DEFAULT_MAX_NS: u64 = 200_000;

/// One vCPU's polling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HaltPoll {
    /// Current window.
    pub ns: u64,
    /// Upper bound (0: never poll).
    pub max_ns: u64,
}

impl HaltPoll {
    /// A window starting closed, bounded by `max_ns`.
    pub fn new(max_ns: u64) -> Self {
        HaltPoll { ns: 0, max_ns }
    }

    /// The window to spin for before parking.
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.ns.min(self.max_ns))
    }

    /// Adapts the window to a wait that took `waited`; `parked`: the wait
    /// outlasted the spin and the thread parked.
    pub fn update(&mut self, waited: Duration, parked: bool) {
        let waited = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        if waited > self.max_ns {
            self.ns = 0;
        } else if parked {
            self.ns = (self.ns.saturating_mul(2))
                .max(GROW_START_NS)
                .min(self.max_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_waits_open_the_window_and_long_ones_close_it() {
        let mut p = HaltPoll::new(DEFAULT_MAX_NS);
        assert_eq!(p.window(), Duration::ZERO);
        // Short waits that parked: 10, 20, 40, ... up to the bound.
        let mut seen = Vec::new();
        for _ in 0..8 {
            p.update(Duration::from_micros(30), true);
            seen.push(p.ns);
        }
        assert_eq!(
            seen,
            [10_000, 20_000, 40_000, 80_000, 160_000, 200_000, 200_000, 200_000]
        );
        // A wait that ended inside the window keeps it.
        p.update(Duration::from_micros(5), false);
        assert_eq!(p.ns, 200_000);
        // An idle wait closes it at once.
        p.update(Duration::from_millis(4), true);
        assert_eq!(p.window(), Duration::ZERO);
    }

    #[test]
    fn a_zero_bound_never_polls() {
        let mut p = HaltPoll::new(0);
        for _ in 0..4 {
            p.update(Duration::ZERO, true);
            assert_eq!(p.window(), Duration::ZERO);
        }
    }
}
