// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! What the platform needs from the VMM: [`XenHost`] (VM-wide: clock, timers,
//! waking vCPUs) and [`VcpuAccess`] (the calling vCPU, for one hypercall).
//!
//! Every method has a default, so a VMM implements only what it has. None of
//! them may take a vm-lock lock or block: the platform calls them with its
//! own locks held (they get no token, so they cannot take vm-lock locks).

use xen_evtchn::UpcallKind;

/// The two Xen timers of a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimerKind {
    /// `VCPUOP_set_singleshot_timer` / `set_timer_op`.
    SingleShot,
    /// `VCPUOP_set_periodic_timer`.
    Periodic,
}

impl TimerKind {
    /// Both kinds, in a fixed order (for loops over a vCPU's timers).
    pub const ALL: [TimerKind; 2] = [TimerKind::SingleShot, TimerKind::Periodic];
}

/// When a host timer must fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerArm {
    /// Absolute deadline on the host's monotonic clock ([`XenHost::monotonic_ns`]).
    pub deadline_ns: u64,
    /// Period in ns for a periodic timer, 0 for a single shot.
    pub period_ns: u64,
}

/// `CLOCK_MONOTONIC` in ns.
pub fn clock_monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The VMM side of the platform, VM-wide. Called from any thread.
pub trait XenHost: Send + Sync {
    /// The host's monotonic clock in ns. Xen system time is this minus the
    /// platform's boot instant. Default: `CLOCK_MONOTONIC`.
    fn monotonic_ns(&self) -> u64 {
        clock_monotonic_ns()
    }

    /// Arms (`Some`) or cancels (`None`) the host timer behind vCPU `vcpu`'s
    /// Xen timer `kind`. When it fires, call
    /// [`XenPlatform::timer_fired`](crate::XenPlatform::timer_fired). Default:
    /// nothing, so Xen timers never fire: a VMM whose guests use them (Linux
    /// does) implements it.
    fn set_timer(&self, vcpu: u32, kind: TimerKind, arm: Option<TimerArm>) {
        let _ = (vcpu, kind, arm);
    }

    /// An event made vCPU `vcpu`'s `evtchn_upcall_pending` go from 0 to 1:
    /// deliver the upcall as `how` says (e.g. `KVM_SIGNAL_MSI` of the vector to
    /// the vCPU's APIC, or assert the GSI) and wake the vCPU if it waits.
    /// A VMM that injects from its vCPU loop instead (see
    /// [`XenPlatform::pending_upcall`](crate::XenPlatform::pending_upcall))
    /// only kicks. Default: [`XenHost::kick`].
    fn upcall(&self, vcpu: u32, how: UpcallKind) {
        let _ = how;
        self.kick(vcpu);
    }

    /// Make vCPU `vcpu` leave `KVM_RUN` or its wait and look at its events
    /// (a poll wake-up, a timer, a shutdown). Default: nothing (a VMM whose
    /// waits time out on their own).
    fn kick(&self, vcpu: u32) {
        let _ = vcpu;
    }

    /// The guest brought vCPU `vcpu` up (`VCPUOP_up`): let its thread run it.
    /// Before it enters the guest it calls
    /// [`XenPlatform::take_vcpu_start`](crate::XenPlatform::take_vcpu_start)
    /// and loads the registers it gets, if any (a vCPU brought up for the
    /// first time after `VCPUOP_initialise`; one brought down and up again
    /// goes on where it stopped). Return `false` if this host cannot run more
    /// vCPUs than those it started itself (the default): the vCPU stays down
    /// and the guest gets -ENOSYS.
    fn vcpu_up(&self, vcpu: u32) -> bool {
        let _ = vcpu;
        false
    }

    /// The guest took vCPU `vcpu` down (`VCPUOP_down`): stop running it once
    /// the exit it is in (if any) is handled, until [`XenHost::vcpu_up`].
    /// Default: [`XenHost::kick`] (for a host that checks
    /// [`XenPlatform::is_vcpu_up`](crate::XenPlatform::is_vcpu_up) itself).
    fn vcpu_down(&self, vcpu: u32) {
        self.kick(vcpu);
    }

    /// The guest gave back (`XENMEM_decrease_reservation`) its RAM pages
    /// `[gpa, gpa + count * 4096)`, all inside one range of guest RAM (the
    /// platform checked them against the memory map): give their memory back to
    /// the host (e.g. `madvise(MADV_DONTNEED)` on a private anonymous mapping)
    /// so that they read as zero from now on. Return `false` if that cannot be
    /// done (the pages are not RAM the host can release): the guest keeps them
    /// and its call ends there. Default: `false` (no ballooning).
    fn release_pages(&self, gpa: u64, count: u64) -> bool {
        let _ = (gpa, count);
        false
    }

    /// The guest asked for new pages at its RAM frames `[gpa, gpa + count * 4096)`
    /// (`XENMEM_populate_physmap`): back them with zeroed memory (the guest may
    /// have written to them since they were released; a page that is still there
    /// is replaced, as in Xen). Return `false` if that cannot be done. Default:
    /// `false`.
    fn populate_pages(&self, gpa: u64, count: u64) -> bool {
        let _ = (gpa, count);
        false
    }
}

/// A TSC reading of the calling vCPU, for pvclock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TscReading {
    /// The guest TSC now.
    pub tsc: u64,
    /// Its frequency in kHz.
    pub khz: u32,
}

/// The calling vCPU, for the duration of one hypercall.
pub trait VcpuAccess {
    /// Translates a guest virtual address of the caller (paging on) to a
    /// guest physical one; `None` if it is not mapped. Default: `None`
    /// (such a VMM supports guests that run with paging off only).
    fn translate_gva(&mut self, gva: u64) -> Option<u64> {
        let _ = gva;
        None
    }

    /// The caller's TSC and its frequency, for the pvclock the platform writes
    /// into vcpu_info and the time areas. Default: `None` (no pvclock).
    fn tsc(&mut self) -> Option<TscReading> {
        None
    }

    /// The caller's paging registers, if the VMM has them at hand (e.g. from
    /// the registers KVM synced into `kvm_run`): in long mode the platform
    /// then walks the page tables itself ([`crate::paging`]) and asks
    /// [`VcpuAccess::translate_gva`] only in other modes. Default: `None`.
    fn paging(&mut self) -> Option<crate::paging::PagingRegs> {
        None
    }
}

/// A [`VcpuAccess`] with only the defaults: no paging, no pvclock.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoVcpuAccess;

impl VcpuAccess for NoVcpuAccess {}
