// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The platform's state for snapshots: plain values ([`PlatformState`]),
//! with no file format. The VMM persists it as it likes (xen-vmm uses
//! versionize) and builds a platform from it with [`XenPlatform::restore`],
//! which validates every value again through the crates' `from_state`.

use std::io::Write;
use std::sync::Arc;

use vm_lock::{Level, LockAfter, MemRead, MemoryMap, Token};
use vm_memory::GuestMemoryMmap;
use xen_evtchn::{Evtchn, EvtchnState};
use xen_gnttab::{GrantTable, GrantTableState};
use xen_shinfo_cache::{PagesState, XenPages};
use xen_store::{Xenstore, XenstoreState};

use crate::console::{Console, ConsoleState};
use crate::error::{Error, Result};
use crate::host::{TimerArm, TimerKind, XenHost};
use crate::platform::{PlatformConfig, PlatformSink, XenPlatform};
use crate::state::XenState;
use crate::vbd::VbdState;

/// Everything the platform holds, at one instant.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PlatformState {
    /// Xen system time when the state was taken.
    pub system_time_ns: u64,
    /// Timers, params, page placement, callback, backend ports.
    pub xen: XenState,
    /// The event-channel table (and events deferred before shared_info).
    pub evtchn: EvtchnState,
    /// shared_info / vcpu_info / time / runstate page placement.
    pub pages: PagesState,
    /// The PV console.
    pub console: ConsoleState,
    /// The xenstore tree, watches and transactions.
    pub store: XenstoreState,
    /// The grant table.
    pub gnttab: GrantTableState,
    /// Per vCPU, the Xen system time of the next periodic expiry (the host
    /// timer knows it; [`XenPlatform::state`] leaves `None`, due at once).
    pub periodic_next_ns: Vec<Option<u64>>,
    /// The PV block devices (xenbus state, channel, ring), by virtual device.
    pub vbds: Vec<VbdState>,
}

impl PlatformState {
    /// A state with the given parts (for VMMs that persist them apart).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        system_time_ns: u64,
        xen: XenState,
        evtchn: EvtchnState,
        pages: PagesState,
        console: ConsoleState,
        store: XenstoreState,
        gnttab: GrantTableState,
        periodic_next_ns: Vec<Option<u64>>,
    ) -> Self {
        PlatformState {
            system_time_ns,
            xen,
            evtchn,
            pages,
            console,
            store,
            gnttab,
            periodic_next_ns,
            vbds: Vec::new(),
        }
    }

    /// The same state with the PV block devices' `vbds`.
    pub fn with_vbds(mut self, vbds: Vec<VbdState>) -> Self {
        self.vbds = vbds;
        self
    }
}

impl XenPlatform {
    /// The platform's state. Take it with every vCPU stopped and the host's
    /// timer and input threads held off, so that nothing changes under it.
    pub fn state<P: Level>(&self, token: &mut Token<'_, P>) -> PlatformState
    where
        MemRead: LockAfter<P>,
    {
        let system_time_ns = self.system_time_ns();
        let (_mem, mut t) = self.memory().read(token);
        let evtchn = self.evtchn().state(&mut t);
        let pages = self.pages().state(&mut t);
        let xen = self.xen_state().lock(&mut t).0.clone();
        let (be, _t) = self.backends().lock(&mut t);
        PlatformState {
            system_time_ns,
            periodic_next_ns: vec![None; xen.vcpus.len()],
            xen,
            evtchn,
            pages,
            console: be.console.state(),
            store: be.store.state(),
            gnttab: be.gnttab.state(),
            vbds: be.vbds.iter().map(|v| v.state()).collect(),
        }
    }

    /// A platform restored from `saved` over guest memory `mem` (already
    /// loaded): Xen system time continues from the saved instant, timers are
    /// re-armed through the host at their absolute deadlines, events
    /// deferred before shared_info and queued console input are delivered
    /// again. Every value is checked; an error leaves nothing behind.
    ///
    /// The state must be one a running platform configured as `config`
    /// could have reached over this memory, judged with the hypercalls'
    /// rules: every page it points at (shared_info, vcpu_info, time and
    /// runstate areas, console and xenstore rings, grant frames) backed,
    /// timers within the hypercalls' bounds ([`crate::MIN_PERIOD_NS`],
    /// [`crate::MAX_PERIOD_NS`], [`crate::MAX_SINGLESHOT_AHEAD_NS`]), table
    /// sizes as configured, HVM params with values the guest could set, the
    /// platform's mirrors consistent with the crates' states (guest width,
    /// placements, vectors, grant frames); the devices' own limits are
    /// checked by their `from_state`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field, for a state that does not fit
    /// `config` or that no running platform can reach.
    pub fn restore(
        config: PlatformConfig,
        mem: MemoryMap<GuestMemoryMmap>,
        host: Arc<dyn XenHost>,
        output: Box<dyn Write + Send>,
        saved: &PlatformState,
    ) -> Result<Self> {
        let mut root = vm_lock::Root::new().map_err(|e| Error::Config(e.to_string()))?;
        Self::restore_in(root.token(), config, mem, host, output, saved)
    }

    /// [`XenPlatform::restore`] for a thread that already holds its vm-lock
    /// root: takes the platform's locks after `token`.
    ///
    /// # Errors
    /// As [`XenPlatform::restore`].
    pub fn restore_in<P: Level>(
        token: &mut Token<'_, P>,
        config: PlatformConfig,
        mem: MemoryMap<GuestMemoryMmap>,
        host: Arc<dyn XenHost>,
        output: Box<dyn Write + Send>,
        saved: &PlatformState,
    ) -> Result<Self>
    where
        MemRead: LockAfter<P>,
    {
        let bad = |what: &str, e: &dyn std::fmt::Display| Error::Config(format!("{what}: {e}"));
        {
            let (m, _t) = mem.read(token);
            crate::validate::check(&config, &m, saved)?;
        }
        if saved.gnttab.max_frames > config.grant_frames {
            return Err(Error::Config(format!(
                "a grant table of {} frames saved, {} configured",
                saved.gnttab.max_frames, config.grant_frames
            )));
        }
        if saved.gnttab.version > config.grant_max_version {
            return Err(Error::Config(format!(
                "grant table version {} saved, at most {} configured",
                saved.gnttab.version, config.grant_max_version
            )));
        }
        if saved.xen.tot_pages > config.max_pages() {
            return Err(Error::Config(format!(
                "{} pages saved, at most {} configured",
                saved.xen.tot_pages,
                config.max_pages()
            )));
        }
        if let Some(g) = saved
            .xen
            .absent
            .iter()
            .find(|&&g| !crate::memory::is_ram(&config.memory_map, g))
        {
            return Err(Error::Config(format!(
                "frame {g:#x} saved as given back is not RAM"
            )));
        }
        let shared_info = saved
            .pages
            .shared_info_gfn
            .map(|g| g.checked_mul(crate::memory::PAGE_SIZE));
        if saved.xen.shared_info.map(Some) != shared_info {
            return Err(Error::Config(format!(
                "shared_info at {:#x?} in the Xen state, at GFN {:#x?} in the page caches",
                saved.xen.shared_info, saved.pages.shared_info_gfn
            )));
        }
        let mut p = XenPlatform::build(config, mem, host, output)?;
        let pages = Arc::new(
            XenPages::from_state(&saved.pages)
                .map_err(|e| bad("shared_info/vcpu_info pages", &e))?,
        );
        let evtchn = Evtchn::from_state(
            &saved.evtchn,
            p.memory().clone(),
            pages.clone(),
            PlatformSink::new(p.host().clone(), p.vcpu_atomics()),
        )
        .map_err(|e| bad("event channels", &e))?;
        {
            let max_version = p.config().grant_max_version;
            let be = p.backends_mut();
            be.console =
                Console::from_state(&saved.console, Vec::new()).map_err(|e| bad("console", &e))?;
            be.store = Xenstore::from_state(&saved.store).map_err(|e| bad("xenstore", &e))?;
            let mut gnttab = saved.gnttab.clone();
            gnttab.max_version = max_version;
            be.gnttab = GrantTable::from_state(&gnttab).map_err(|e| bad("grant table", &e))?;
        }
        let mut xen = saved.xen.clone();
        xen.callback = saved.evtchn.callback;
        xen.grant_frames
            .resize(p.config().grant_frames as usize, None);
        *p.xen_state_mut() = xen;
        p.replace_evtchn(pages, evtchn);
        // Xen time goes on from the saved instant, even on a host whose
        // clock is behind it (rebooted since the snapshot).
        p.continue_time_from(saved.system_time_ns);
        // Pages the guest had given back: their memory goes back to the host again (the
        // snapshot restored them as zeros). Not the frames where a Xen page sits now
        // (shared_info, grant and status frames placed over RAM): those are live.
        let placed: Vec<u64> = saved
            .gnttab
            .frame_gfns
            .iter()
            .chain(&saved.gnttab.status_gfns)
            .flatten()
            .copied()
            .chain(saved.pages.shared_info_gfn)
            .collect();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &g in saved.xen.absent.iter().filter(|g| !placed.contains(g)) {
            match runs.last_mut() {
                Some((first, n)) if *first + *n == g => *n += 1,
                _ => runs.push((g, 1)),
            }
        }
        for (first, n) in runs {
            if !p.host().release_pages(first * crate::memory::PAGE_SIZE, n) {
                log::debug!("restore: {n} pages at frame {first:#x} not released");
            }
        }
        let (mem, mut t) = p.memory().read(token);
        {
            // The vbds: the configured disks, each taking over its saved state (a
            // snapshot without one, e.g. of an older format, starts it afresh).
            let (mut be, _t) = p.backends().lock(&mut t);
            let crate::Backends { vbds, gnttab, .. } = &mut *be;
            for s in &saved.vbds {
                let Some(v) = vbds.iter_mut().find(|v| v.dev == s.dev) else {
                    return Err(Error::Config(format!(
                        "vbd {} saved but no such disk configured",
                        s.dev
                    )));
                };
                v.restore(s, gnttab, &mem).map_err(Error::Config)?;
            }
        }
        p.sync_all(&mut t);
        // System time goes on from the saved instant: the wall clock moves by the
        // time the VM spent saved, so that wall clock + system time is the host's
        // time again. The vCPUs' pvclocks are refreshed as they start
        // (`XenPlatform::update_vcpu_time`).
        p.write_wallclock(&mut t, &mem);
        // Timers at their absolute deadlines on the restored clock (a past
        // one fires at once).
        for (v, x) in saved.xen.vcpus.iter().enumerate() {
            let v = v as u32;
            if let Some(d) = x.singleshot_ns {
                let arm = TimerArm {
                    deadline_ns: p.monotonic_of(d),
                    period_ns: 0,
                };
                p.host().set_timer(v, TimerKind::SingleShot, Some(arm));
            }
            if let Some(period_ns) = x.period_ns {
                let next = saved
                    .periodic_next_ns
                    .get(v as usize)
                    .copied()
                    .flatten()
                    .unwrap_or(saved.system_time_ns);
                let arm = TimerArm {
                    deadline_ns: p.monotonic_of(next),
                    period_ns,
                };
                p.host().set_timer(v, TimerKind::Periodic, Some(arm));
            }
        }
        // What was pending is raised again: events deferred before
        // shared_info (delivered now if it is placed), queued console input.
        if let Err(e) = p.evtchn().shared_info_mapped_in(&mut t, &mem) {
            log::warn!("restore: deferred events: {e}");
        }
        if !saved.console.pending_input.is_empty() {
            let route = {
                let (be, _t) = p.backends().lock(&mut t);
                be.console.input_route()
            };
            p.deliver_input_in(&mut t, &mem, route);
        }
        drop(mem);
        Ok(p)
    }
}
