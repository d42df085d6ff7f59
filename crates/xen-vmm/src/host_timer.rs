// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Host timers behind the guest's Xen timers: one non-blocking
//! `CLOCK_MONOTONIC` timerfd per vCPU and kind.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub use xen_platform::host::clock_monotonic_ns as monotonic_ns;

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
