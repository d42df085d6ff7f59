// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `SCHEDOP_poll` bookkeeping: which ports each vCPU waits on (lock-free).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::evtchn::MAX_PORTS;

/// Most ports one `SCHEDOP_poll` may wait on (Xen's limit).
pub const MAX_POLL_PORTS: usize = 128;

const WORDS: usize = MAX_PORTS as usize / 64;

/// One vCPU's poll set.
#[derive(Debug)]
pub(crate) struct PollSlot {
    pub(crate) active: AtomicBool,
    mask: [AtomicU64; WORDS],
}

impl Default for PollSlot {
    fn default() -> Self {
        PollSlot {
            active: AtomicBool::new(false),
            mask: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl PollSlot {
    /// Records the set (ports already checked to be `< MAX_PORTS`) and marks the vCPU polling.
    pub(crate) fn begin(&self, ports: &[u32]) -> bool {
        for w in self.mask.iter() {
            w.store(0, Ordering::Relaxed);
        }
        for &p in ports {
            self.mask[(p / 64) as usize].fetch_or(1 << (p % 64), Ordering::Relaxed);
        }
        // SeqCst store pairs with the sender's SeqCst pending-bit RMW and its SeqCst load of
        // `active`: either the sender sees us polling, or we see its pending bit.
        !self.active.swap(true, Ordering::SeqCst)
    }

    /// Ends polling; returns whether it was active.
    pub(crate) fn end(&self) -> bool {
        self.active.swap(false, Ordering::SeqCst)
    }

    /// Whether this vCPU polls `port` right now.
    pub(crate) fn wants(&self, port: u32) -> bool {
        self.active.load(Ordering::SeqCst)
            && self
                .mask
                .get((port / 64) as usize)
                .is_some_and(|w| w.load(Ordering::SeqCst) & (1 << (port % 64)) != 0)
    }
}
