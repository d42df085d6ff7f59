// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The timer thread: an `event_manager` loop over the guest timers' timerfds
//! ([`crate::host_timer`]) that hands each expiry to the platform, which
//! delivers `VIRQ_TIMER`.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use event_manager::{EventOps, Events, MutEventSubscriber, SubscriberOps};
use vm_lock::Root;
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use crate::vm::VmShared;
use xen_platform::TimerKind;

const STOP_DATA: u32 = u32::MAX;

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
    while !shared.is_done() {
        if let Err(e) = em.run() {
            log::error!("event loop: {e:?}");
            break;
        }
    }
}
