// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `sched_op` sub-ops, shutdown reasons and argument structs (`sched.h`).

/// Yield the physical CPU.
pub const SCHEDOP_YIELD: u32 = 0;
/// Block until an event is pending.
pub const SCHEDOP_BLOCK: u32 = 1;
/// Shut the domain down (`struct sched_shutdown`).
pub const SCHEDOP_SHUTDOWN: u32 = 2;
/// Poll a set of ports with a timeout (`struct sched_poll`).
pub const SCHEDOP_POLL: u32 = 3;
/// Shut down another domain.
pub const SCHEDOP_REMOTE_SHUTDOWN: u32 = 4;
/// Set the shutdown code without shutting down.
pub const SCHEDOP_SHUTDOWN_CODE: u32 = 5;
/// Watchdog.
pub const SCHEDOP_WATCHDOG: u32 = 6;
/// Pin override.
pub const SCHEDOP_PIN_OVERRIDE: u32 = 7;

/// Shutdown: power off.
pub const SHUTDOWN_POWEROFF: u32 = 0;
/// Shutdown: reboot.
pub const SHUTDOWN_REBOOT: u32 = 1;
/// Shutdown: suspend.
pub const SHUTDOWN_SUSPEND: u32 = 2;
/// Shutdown: crash.
pub const SHUTDOWN_CRASH: u32 = 3;
/// Shutdown: watchdog expired.
pub const SHUTDOWN_WATCHDOG: u32 = 4;
/// Shutdown: soft reset.
pub const SHUTDOWN_SOFT_RESET: u32 = 5;
/// Highest valid shutdown reason.
pub const SHUTDOWN_MAX: u32 = 5;

/// `struct sched_shutdown` (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedShutdown {
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// `struct sched_poll` of 64-bit guests (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedPoll64 {
    /// Guest pointer to an array of `u32` ports.
    pub ports: u64,
    /// Number of ports.
    pub nr_ports: u32,
    /// Padding.
    pub pad: u32,
    /// Absolute timeout (system time ns); 0 = none.
    pub timeout: u64,
}

/// `struct sched_poll` of 32-bit guests (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedPoll32 {
    /// Guest pointer to an array of `u32` ports.
    pub ports: u32,
    /// Number of ports.
    pub nr_ports: u32,
    /// Absolute timeout (system time ns); 0 = none.
    pub timeout: u64,
}

/// `struct sched_remote_shutdown` (8 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedRemoteShutdown {
    /// Domain to shut down (looked up by id: `DOMID_SELF` names no domain).
    pub domain_id: u16,
    /// Padding.
    pub pad: u16,
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// `struct sched_watchdog` (8 bytes, both widths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedWatchdog {
    /// Watchdog id (0: allocate one).
    pub id: u32,
    /// Timeout in seconds (0: destroy the watchdog).
    pub timeout: u32,
}

/// `struct sched_pin_override` (4 bytes, both widths; hardware domain only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedPinOverride {
    /// Physical CPU to pin to (negative: undo).
    pub pcpu: i32,
}
