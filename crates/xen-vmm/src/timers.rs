// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The timer thread: an `event_manager` loop over the guest timers' timerfds
//! ([`crate::host_timer`]) that hands each expiry to the platform, which
//! delivers `VIRQ_TIMER`. With the in-kernel irqchip it also waits for the
//! callback GSI's resample eventfds (asserting the line again while vCPU 0's
//! `evtchn_upcall_pending` is set, see [`crate::irqchip`]) and kicks vCPUs
//! that stay in `KVM_RUN`, so that a HLT with interrupts disabled is seen
//! (see [`crate::vcpu`]).

use std::os::fd::AsRawFd;
use std::sync::Arc;

use event_manager::{EventOps, Events, MutEventSubscriber, SubscriberOps};
use vm_lock::Root;
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use crate::vm::VmShared;
use xen_platform::TimerKind;

const STOP_DATA: u32 = u32::MAX;
/// Event data of IOAPIC pin `n`'s resample eventfd: this plus `n`.
const RESAMPLE_DATA: u32 = 0x8000_0000;

/// The event-manager subscriber of the timer thread.
pub struct TimerSubscriber {
    shared: Arc<VmShared>,
    stop: EventFd,
}

impl TimerSubscriber {
    /// A subscriber for every vCPU timer of `shared`; `stop` ends the loop.
    pub fn new(shared: Arc<VmShared>, stop: EventFd) -> Self {
        TimerSubscriber { shared, stop }
    }
}

impl MutEventSubscriber for TimerSubscriber {
    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        let data = events.data();
        if data == STOP_DATA {
            let _ = self.stop.read();
            return;
        }
        if let (Some(gsi), Some(chip)) = (data.checked_sub(RESAMPLE_DATA), &self.shared.irqchip) {
            if !chip.take_resample(gsi) {
                return;
            }
            // The guest EOIed the line and KVM lowered it: up again while
            // vCPU 0 still has an upcall pending through it. Reading
            // vcpu_info waits while a snapshot is taken.
            let Ok(mut root) = Root::new() else {
                log::error!("timer thread already holds a lock root");
                return;
            };
            let Some(_section) = self.shared.host_gate.enter(root.token()) else {
                return;
            };
            let pending = self.shared.platform.pending_upcall(root.token(), 0);
            if pending == Some(xen_evtchn::UpcallKind::Gsi(gsi)) {
                chip.assert_gsi(gsi);
            }
            return;
        }
        self.shared
            .debug_panic_point(crate::vm::PANIC_TIMER_THREAD, "xen-timers");
        let vcpu = data / 2;
        let Some(t) = self.shared.timers.get(vcpu as usize) else {
            return;
        };
        // While a snapshot is taken, wait here: the expiry stays unread in
        // the timerfd (saved as due) and is delivered after the resume.
        let section = match Root::new() {
            Ok(mut root) => self.shared.host_gate.enter(root.token()),
            Err(_) => {
                log::error!("timer thread already holds a lock root");
                return;
            }
        };
        let Some(_section) = section else {
            return; // the VM ended
        };
        let timer = if data.is_multiple_of(2) {
            &t.singleshot
        } else {
            &t.periodic
        };
        if timer.read() > 0 {
            let kind = if data.is_multiple_of(2) {
                TimerKind::SingleShot
            } else {
                TimerKind::Periodic
            };
            match Root::new() {
                Ok(mut root) => self.shared.platform.timer_fired(root.token(), vcpu, kind),
                Err(_) => log::error!("timer thread already holds a lock root"),
            }
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        for (i, t) in self.shared.timers.iter().enumerate() {
            let i = i as u32;
            for (k, fd) in [(0, t.singleshot.as_raw_fd()), (1, t.periodic.as_raw_fd())] {
                if let Err(e) = ops.add(Events::with_data_raw(fd, i * 2 + k, EventSet::IN)) {
                    log::error!("timer registration failed: {e:?}");
                }
            }
        }
        if let Some(chip) = &self.shared.irqchip {
            for (gsi, fd) in chip.resample_fds() {
                if let Err(e) = ops.add(Events::with_data(fd, RESAMPLE_DATA + gsi, EventSet::IN)) {
                    log::error!("resample eventfd registration failed: {e:?}");
                }
            }
        }
        if let Err(e) = ops.add(Events::with_data(&self.stop, STOP_DATA, EventSet::IN)) {
            log::error!("timer stop registration failed: {e:?}");
        }
    }
}

/// Runs the timer loop until the VM is done. `stop` must be written to wake it.
pub fn timer_thread(shared: Arc<VmShared>, stop: EventFd) {
    let mut em = match event_manager::EventManager::<Box<dyn MutEventSubscriber + Send>>::new() {
        Ok(em) => em,
        Err(e) => {
            log::error!("event manager: {e:?}");
            return;
        }
    };
    em.add_subscriber(Box::new(TimerSubscriber::new(shared.clone(), stop)));
    let period = std::time::Duration::from_millis(crate::vcpu::HALT_CHECK_MS);
    let mut exits_seen: Vec<u64> = vec![u64::MAX; shared.ctl.len()];
    let mut last_check = std::time::Instant::now();
    while !shared.is_done() {
        let r = if shared.irqchip.is_some() {
            em.run_with_timeout(crate::vcpu::HALT_CHECK_MS as i32)
        } else {
            em.run()
        };
        if let Err(e) = r {
            log::error!("event loop: {e:?}");
            break;
        }
        if shared.irqchip.is_some() && last_check.elapsed() >= period {
            last_check = std::time::Instant::now();
            kick_idle_vcpus(&shared, &mut exits_seen);
        }
    }
}

/// Kicks each online vCPU that has not left `KVM_RUN` since the last call
/// (its exit count did not move): KVM may hold it halted with interrupts
/// disabled, which its thread checks when the kick brings it out.
fn kick_idle_vcpus(shared: &VmShared, exits_seen: &mut [u64]) {
    for (i, (c, seen)) in shared.ctl.iter().zip(exits_seen.iter_mut()).enumerate() {
        let exits = c.exits.load(std::sync::atomic::Ordering::Relaxed);
        if exits == *seen && c.online.load(std::sync::atomic::Ordering::Acquire) {
            shared.kick(i as u32);
        }
        *seen = exits;
    }
}
