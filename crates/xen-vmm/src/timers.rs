//! Host timers for the Xen guest timers: one non-blocking `timerfd` per vCPU
//! and kind (single-shot, periodic), serviced by an `event_manager` loop on
//! the timer thread, which delivers `VIRQ_TIMER`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use event_manager::{EventOps, Events, MutEventSubscriber, SubscriberOps};
use vm_lock::Root;
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

use crate::vm::VmShared;
use xen_platform::TimerKind;

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn ns_to_timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

/// A non-blocking `CLOCK_MONOTONIC` timerfd.
#[derive(Debug)]
pub struct HostTimer {
    fd: OwnedFd,
}

impl HostTimer {
    /// Creates a disarmed timer.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(HostTimer { fd })
    }

    fn settime(&self, flags: i32, value_ns: u64, interval_ns: u64) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: ns_to_timespec(interval_ns),
            it_value: ns_to_timespec(value_ns),
        };
        // SAFETY: valid fd and itimerspec; the old value pointer may be null.
        let r = unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), flags, &spec, std::ptr::null_mut())
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Arms at absolute monotonic time `deadline_ns` (a past deadline fires
    /// at once), repeating every `interval_ns` if non-zero.
    pub fn arm_at(&self, deadline_ns: u64, interval_ns: u64) -> io::Result<()> {
        self.settime(libc::TFD_TIMER_ABSTIME, deadline_ns.max(1), interval_ns)
    }

    /// Disarms.
    pub fn disarm(&self) -> io::Result<()> {
        self.settime(0, 0, 0)
    }

    /// Expirations since the last read (0 if none).
    pub fn read(&self) -> u64 {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into `v` from our own fd.
        let r = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut v as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if r == 8 {
            v
        } else {
            0
        }
    }
}

impl AsRawFd for HostTimer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The Xen timers of one vCPU.
#[derive(Debug)]
pub struct VcpuTimers {
    /// `VCPUOP_set_singleshot_timer` / `set_timer_op`.
    pub singleshot: HostTimer,
    /// `VCPUOP_set_periodic_timer`.
    pub periodic: HostTimer,
}

impl VcpuTimers {
    /// Creates both timers, disarmed.
    pub fn new() -> io::Result<Self> {
        Ok(VcpuTimers {
            singleshot: HostTimer::new()?,
            periodic: HostTimer::new()?,
        })
    }
}

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
        let timer = if data % 2 == 0 {
            &t.singleshot
        } else {
            &t.periodic
        };
        if timer.read() > 0 {
            let kind = if data % 2 == 0 {
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
