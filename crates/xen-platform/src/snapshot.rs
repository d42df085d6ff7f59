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
        }
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
        let bad = |what: &str, e: &dyn std::fmt::Display| Error::Config(format!("{what}: {e}"));
        let mut root = vm_lock::Root::new().map_err(|e| Error::Config(e.to_string()))?;
        {
            let (m, _t) = mem.read(root.token());
            crate::validate::check(&config, &m, saved)?;
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
            let be = p.backends_mut();
            be.console =
                Console::from_state(&saved.console, Vec::new()).map_err(|e| bad("console", &e))?;
            be.store = Xenstore::from_state(&saved.store).map_err(|e| bad("xenstore", &e))?;
            be.gnttab =
                GrantTable::from_state(&saved.gnttab).map_err(|e| bad("grant table", &e))?;
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
        {
            let (mem, mut t) = p.memory().read(root.token());
            p.sync_all(&mut t);
            drop(mem);
        }
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
        if let Err(e) = p.evtchn().shared_info_mapped(root.token()) {
            log::warn!("restore: deferred events: {e}");
        }
        if !saved.console.pending_input.is_empty() {
            let route = {
                let (be, _t) = p.backends().lock(root.token());
                be.console.input_route()
            };
            p.deliver_input(root.token(), route);
        }
        Ok(p)
    }
}
