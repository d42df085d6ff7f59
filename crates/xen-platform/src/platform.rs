// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`XenPlatform`]: the Xen a guest sees, and the handful of entry points a
//! VMM calls from its vCPU loop and its host threads.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use vm_lock::{
    Devices, EvtchnLock, Level, LockAfter, MemRead, MemReadGuard, MemoryMap, OrderedMutex, Output,
    PageCache, Token, XenLock,
};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use xen_abi::{E820Entry, GuestWidth};
use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink};
use xen_hypercall::{HypercallOutcome, HypercallRegs};
use xen_shinfo_cache::XenPages;

use crate::backends::{Backend, Backends};
use crate::error::{Error, Result};
use crate::handlers::XenHv;
use crate::host::{TimerKind, VcpuAccess, XenHost};
use crate::state::XenState;

/// Xen version the platform reports by default (major, minor).
pub const XEN_VERSION: (u16, u16) = (4, 17);

/// What the platform needs to know about the domain.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PlatformConfig {
    /// Number of vCPUs (1..=[`PlatformConfig::MAX_VCPUS`]).
    pub nr_vcpus: u32,
    /// The guest's domain id (not 0, which is the backends' domain).
    pub domid: u16,
    /// The guest's name (xenstore `name`).
    pub name: String,
    /// RAM in bytes (xenstore `memory/target`; 0: no memory nodes).
    pub ram_bytes: u64,
    /// The guest's memory map (`XENMEM_memory_map`).
    pub memory_map: Vec<E820Entry>,
    /// Guest frame of the PV console ring (`HVM_PARAM_CONSOLE_PFN`), in RAM.
    pub console_gfn: u64,
    /// Guest frame of the xenstore ring (`HVM_PARAM_STORE_PFN`), in RAM.
    pub store_gfn: u64,
    /// Grant-table frames the guest may map (1..=[`PlatformConfig::MAX_GRANT_FRAMES`]).
    pub grant_frames: u32,
    /// Highest grant table version the guest may select (1 or 2; default 2). With 1,
    /// `GNTTABOP_set_version(2)` is -ENOSYS, as in Xen with v2 disabled.
    pub grant_max_version: u32,
    /// Pages the domain may have (`XENMEM_maximum_reservation`); `None`: the RAM pages
    /// of [`PlatformConfig::memory_map`], which the domain starts with.
    pub max_pages: Option<u64>,
    /// Guest physical address width (CPUID 0x8000_0008 `EAX[7:0]`): pages the
    /// guest places outside RAM must lie below it.
    pub phys_addr_bits: u8,
    /// The guest's TSC frequency in kHz (e.g. KVM's `KVM_GET_TSC_KHZ`; 0:
    /// unknown): CPUID leaf `0x4000_0003`. The pvclock uses the frequency of
    /// each [`crate::TscReading`].
    pub tsc_khz: u32,
    /// The TSC is invariant and the same on every vCPU (host `constant_tsc`
    /// and `nonstop_tsc`): the pvclock carries `XEN_PVCLOCK_TSC_STABLE_BIT`
    /// and CPUID `0x4000_0003` says the TSC is safe. Default `false`.
    pub tsc_stable: bool,
    /// The xenstore's quotas (default: xenstored's, `xen_store::Quotas::default`).
    pub xenstore_quotas: xen_store::Quotas,
    /// PV block devices (`xvda`, `xvdb`, ...), each a raw image file.
    pub disks: Vec<crate::vbd::DiskConfig>,
    /// The backends (PV console, xenstore, vbds) run on the guest's
    /// notification, on the thread that made the hypercall (default `true`).
    /// With `false` the guest's `EVTCHNOP_send` only signals the backend's
    /// host-port eventfd (and a yield [`XenPlatform::backend_wake`]): a VMM
    /// thread waits on those and calls [`XenPlatform::run_backends`]. Can be
    /// changed later with [`XenPlatform::set_serve_backends_inline`].
    pub serve_backends_inline: bool,
}

impl PlatformConfig {
    /// Largest number of vCPUs (one 64-bit word of the 2-level selector).
    pub const MAX_VCPUS: u32 = 32;
    /// Largest number of grant-table frames (Xen's default `gnttab_max_frames`).
    pub const MAX_GRANT_FRAMES: u32 = xen_hypercall::MAX_GRANT_FRAMES as u32;

    /// Pages of RAM in [`PlatformConfig::memory_map`] (`E820_RAM` entries, whole pages).
    pub fn ram_pages(&self) -> u64 {
        crate::memory::ram_ranges(&self.memory_map)
            .map(|(first, end)| end - first)
            .sum()
    }

    /// [`PlatformConfig::max_pages`] or, if unset, [`PlatformConfig::ram_pages`].
    pub fn max_pages(&self) -> u64 {
        self.max_pages.unwrap_or_else(|| self.ram_pages())
    }

    /// A configuration for `nr_vcpus` vCPUs and `ram_bytes` of RAM laid out
    /// as one range from 0 (memory map: that range), rings in the two pages
    /// at the top of RAM, domain 1, 4 grant frames, 48 address bits.
    pub fn new(nr_vcpus: u32, ram_bytes: u64) -> Self {
        let top = ram_bytes / 4096;
        PlatformConfig {
            nr_vcpus,
            domid: 1,
            name: "domu".into(),
            ram_bytes,
            memory_map: vec![E820Entry {
                addr: 0,
                size: ram_bytes,
                kind: xen_abi::E820_RAM,
            }],
            console_gfn: top.saturating_sub(1),
            store_gfn: top.saturating_sub(2),
            grant_frames: 4,
            grant_max_version: 2,
            max_pages: None,
            phys_addr_bits: 48,
            tsc_khz: 0,
            tsc_stable: false,
            xenstore_quotas: xen_store::Quotas::default(),
            disks: Vec::new(),
            serve_backends_inline: true,
        }
    }
}

/// Per-vCPU atomics the vCPU loop reads without a lock (mirrors of the
/// event-channel and page-cache state, see [`XenPlatform::sync_vcpu`]).
#[derive(Debug, Default)]
pub(crate) struct VcpuXen {
    /// How to deliver the upcall while `evtchn_upcall_pending` is set:
    /// 0 none, `VECTOR | v`, `PER_VCPU | v` or `GSI | gsi` (see [`encode`]).
    pub upcall: AtomicU64,
    /// GPA of the vCPU's vcpu_info (`u64::MAX`: none).
    pub vcpu_info: AtomicU64,
    /// Upcalls raised for the vCPU (`evtchn_upcall_pending` 0 -> 1):
    /// `SCHEDOP_poll` ends when this changes, as Xen's poll ends on any event.
    pub upcalls: AtomicU64,
    /// The vCPU's `SCHEDOP_yield`s (see [`YIELD_CLOCK_EVERY`]).
    pub yields: AtomicU64,
}

/// `v` as a u64, saturating at 0 and `u64::MAX`.
fn clamp_u64(v: i128) -> u64 {
    u64::try_from(v.max(0)).unwrap_or(u64::MAX)
}

const VECTOR: u64 = 1 << 32;
const PER_VCPU: u64 = 2 << 32;
const GSI: u64 = 3 << 32;

/// `UpcallKind` as one word (0: nothing to deliver).
fn encode(k: UpcallKind) -> u64 {
    match k {
        UpcallKind::Vector(v) => VECTOR | u64::from(v),
        UpcallKind::PerVcpuVector(v) => PER_VCPU | u64::from(v),
        UpcallKind::Gsi(g) => GSI | u64::from(g),
        _ => 0,
    }
}

fn decode(w: u64) -> Option<UpcallKind> {
    let low = w as u32;
    match w & !0xffff_ffff {
        VECTOR => Some(UpcallKind::Vector(low as u8)),
        PER_VCPU => Some(UpcallKind::PerVcpuVector(low as u8)),
        GSI => Some(UpcallKind::Gsi(low)),
        _ => None,
    }
}

/// The platform's hook into xen-evtchn: counts upcalls for polls and hands
/// delivery to the host.
pub struct PlatformSink {
    host: Arc<dyn XenHost>,
    vcpus: Arc<[VcpuXen]>,
}

impl PlatformSink {
    pub(crate) fn new(host: Arc<dyn XenHost>, vcpus: Arc<[VcpuXen]>) -> Self {
        PlatformSink { host, vcpus }
    }
}

impl std::fmt::Debug for PlatformSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSink").finish_non_exhaustive()
    }
}

impl UpcallSink for PlatformSink {
    fn raise(&self, vcpu: u32, how: UpcallKind) {
        if let Some(v) = self.vcpus.get(vcpu as usize) {
            // Counted before the host is told: a vCPU in a poll sees the change.
            v.upcalls.fetch_add(1, Ordering::SeqCst);
            self.host.upcall(vcpu, how);
        }
    }

    fn poll_wake(&self, vcpu: u32) {
        self.host.kick(vcpu);
    }
}

/// With the backends served off the guest's notification, the shortest time
/// between two backend wake-ups signalled by `SCHEDOP_yield` (ns): 10 ms, a
/// host scheduler tick.
///
/// The wake-up is a courtesy. A guest that notifies its ring (as the Xen ABI
/// asks) is served on the notification; only one that spins on yield over a
/// ring it never notified needs it, and Xen itself would never serve that
/// one. Each wake-up costs the yielding vCPU about 30 µs on a nested host
/// (an eventfd write that wakes a thread on an idle CPU), so a guest spinning
/// on yield at 1 ms paid about 3% of its yields' time for it; at 10 ms, 0.3%.
pub const YIELD_WAKE_INTERVAL_NS: u64 = 10_000_000;

/// With the backends served off the guest's notification, a vCPU's
/// `SCHEDOP_yield` reads the host clock for [`YIELD_WAKE_INTERVAL_NS`] only
/// once in this many (its first included): the read (about 80 ns on the
/// nested host of docs/architecture.md, run 7, where it follows a guest exit)
/// was most of what a yield cost the VMM, and a guest spinning on yield makes
/// this many in well under a millisecond. A spinning guest's backends are thus woken within the
/// interval plus this many yields.
pub const YIELD_CLOCK_EVERY: u64 = 16;

/// The event-channel table the platform uses.
pub type PlatformEvtchn = Evtchn<GuestMemoryMmap, PlatformSink>;

/// What the VMM does after [`XenPlatform::on_hypercall`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HypercallExit {
    /// Write `rax` to RAX and resume the vCPU.
    Resume {
        /// The result.
        rax: u64,
    },
    /// Write `rax` to RAX, then keep the vCPU from running until
    /// [`XenPlatform::wait_ready`] says so (`SCHEDOP_block` / `SCHEDOP_poll`);
    /// then call [`XenPlatform::wait_end`].
    Block {
        /// The result.
        rax: u64,
        /// What ends the wait.
        wait: Wait,
    },
    /// Back guest-physical page `gpa` with memory (the guest placed a page
    /// outside RAM), then call [`XenPlatform::on_hypercall`] again with the
    /// same registers and [`Retry::PageAdded`] (or [`Retry::PageRefused`]).
    /// RAX is not written.
    MapPage {
        /// The page.
        gpa: u64,
    },
    /// Write `rax`; the guest asked to shut down with this `SHUTDOWN_*`
    /// reason (unknown reasons: stop the VM for good).
    Shutdown {
        /// The result (0).
        rax: u64,
        /// The reason.
        reason: u32,
    },
}

/// Whether this call of [`XenPlatform::on_hypercall`] repeats one that asked
/// for a page ([`HypercallExit::MapPage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retry {
    /// A new hypercall.
    #[default]
    No,
    /// The VMM backed the page.
    PageAdded,
    /// The VMM refused (the guest gets -ENOMEM).
    PageRefused,
}

/// What ends a blocked vCPU's wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// Xen system time at which the wait ends anyway.
    pub deadline_ns: Option<u64>,
    /// `SCHEDOP_poll`: the ports, and the vCPU's upcall count when it began.
    pub poll: Option<(Vec<u32>, u64)>,
}

/// What the VMM does after the guest wrote an MSR ([`XenPlatform::on_msr_write`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MsrWrite {
    /// Not an MSR of the platform's.
    NotXen,
    /// Done (the hypercall page is in place).
    Done,
    /// Refused: inject #GP.
    Fault,
}

/// The Xen a guest sees: event channels, shared_info / vcpu_info, timers,
/// HVM params, grant table, PV console and xenstore, and every hypercall.
///
/// Lock levels (vm-lock): hypercalls run inside one memory-map read section
/// (`MemRead`); Xen state is at `XenLock`, the event-channel table at
/// `EvtchnLock` (so a handler may hold both), the page caches at
/// `PageCache<0/1>`, devices at `Devices` and console output at `Output`.
/// Entry points take the caller's token and compile only where that order
/// holds.
pub struct XenPlatform {
    config: PlatformConfig,
    host: Arc<dyn XenHost>,
    /// Host monotonic ns at Xen system time 0: below 0 after a restore on a
    /// host whose clock is behind the saved system time.
    boot_ns: i128,
    mem: MemoryMap<GuestMemoryMmap>,
    pages: Arc<XenPages<GuestMemoryMmap>>,
    evtchn: PlatformEvtchn,
    vcpus: Arc<[VcpuXen]>,
    xen: OrderedMutex<XenLock, XenState>,
    backends: OrderedMutex<Devices, Backends>,
    output: OrderedMutex<Output, Box<dyn Write + Send>>,
    /// See [`PlatformConfig::serve_backends_inline`].
    inline_backends: AtomicBool,
    /// See [`XenPlatform::backend_wake`].
    backend_wake: EventFd,
    /// Backend runs on the guest's hypercall path (test hook).
    inline_runs: AtomicU64,
    /// `SCHEDOP_yield`s that gave up the host CPU ([`XenPlatform::host_yields`]).
    pub(crate) host_yields: AtomicU64,
    /// Host monotonic time of the last backend wake-up a `SCHEDOP_yield`
    /// signalled ([`YIELD_WAKE_INTERVAL_NS`]).
    last_yield_wake: AtomicU64,
}

impl std::fmt::Debug for XenPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XenPlatform")
            .field("config", &self.config)
            .field("boot_ns", &self.boot_ns)
            .finish_non_exhaustive()
    }
}

impl XenPlatform {
    /// A platform for a new domain over guest memory `mem`: binds the console
    /// and xenstore channels (interdomain to the backends' domain 0), fills
    /// the store with what a toolstack writes, and starts Xen system time now.
    /// Guest console output goes to `output`.
    ///
    /// # Errors
    /// [`Error::Config`] for a configuration out of range.
    pub fn new(
        config: PlatformConfig,
        mem: MemoryMap<GuestMemoryMmap>,
        host: Arc<dyn XenHost>,
        output: Box<dyn Write + Send>,
    ) -> Result<Self> {
        let mut root = vm_lock::Root::new().map_err(|e| Error::Config(e.to_string()))?;
        Self::new_in(root.token(), config, mem, host, output)
    }

    /// [`XenPlatform::new`] for a thread that already holds its vm-lock
    /// root: takes the platform's locks after `token`.
    ///
    /// # Errors
    /// As [`XenPlatform::new`].
    pub fn new_in<P: Level>(
        token: &mut Token<'_, P>,
        config: PlatformConfig,
        mem: MemoryMap<GuestMemoryMmap>,
        host: Arc<dyn XenHost>,
        output: Box<dyn Write + Send>,
    ) -> Result<Self>
    where
        MemRead: LockAfter<P>,
    {
        let p = Self::build(config, mem, host, output)?;
        {
            let (_mem, mut t) = p.mem.read(token);
            let (console, store) = crate::backends::bind_ports(&p.evtchn, &mut t)
                .map_err(|e| Error::Config(format!("event channel setup: {e}")))?;
            let (mut xen, mut t) = p.xen.lock(&mut t);
            xen.set_backend_ports(console, store);
            let (mut be, _t) = p.backends.lock(&mut t);
            be.publish_ports(console, store);
        }
        Ok(p)
    }

    /// The platform without its backend channels (restore fills them in).
    pub(crate) fn build(
        config: PlatformConfig,
        mem: MemoryMap<GuestMemoryMmap>,
        host: Arc<dyn XenHost>,
        output: Box<dyn Write + Send>,
    ) -> Result<Self> {
        if config.nr_vcpus == 0 || config.nr_vcpus > PlatformConfig::MAX_VCPUS {
            return Err(Error::Config(format!(
                "{} vCPUs; 1 to {} are supported",
                config.nr_vcpus,
                PlatformConfig::MAX_VCPUS
            )));
        }
        if config.domid == 0 || config.domid >= xen_abi::DOMID_FIRST_RESERVED {
            return Err(Error::Config(format!("domain id {}", config.domid)));
        }
        if config.grant_frames == 0 || config.grant_frames > PlatformConfig::MAX_GRANT_FRAMES {
            return Err(Error::Config(format!(
                "{} grant frames; 1 to {} are supported",
                config.grant_frames,
                PlatformConfig::MAX_GRANT_FRAMES
            )));
        }
        if config.max_pages() < config.ram_pages() {
            return Err(Error::Config(format!(
                "max_pages {} below the {} pages of RAM",
                config.max_pages(),
                config.ram_pages()
            )));
        }
        let vcpus: Arc<[VcpuXen]> = (0..config.nr_vcpus)
            .map(|_| VcpuXen {
                vcpu_info: AtomicU64::new(u64::MAX),
                ..Default::default()
            })
            .collect();
        let pages = Arc::new(XenPages::new(config.nr_vcpus));
        let evtchn = Evtchn::new(
            EvtchnConfig {
                domid: config.domid,
                nr_pirqs: 0,
            },
            mem.clone(),
            pages.clone(),
            PlatformSink {
                host: host.clone(),
                vcpus: vcpus.clone(),
            },
        );
        let backends = Backends::new(&config)?;
        let xen = XenState::new(&config);
        let backend_wake = EventFd::new(EFD_NONBLOCK)
            .map_err(|e| Error::Config(format!("backend eventfd: {e}")))?;
        Ok(XenPlatform {
            inline_backends: AtomicBool::new(config.serve_backends_inline),
            backend_wake,
            inline_runs: AtomicU64::new(0),
            host_yields: AtomicU64::new(0),
            last_yield_wake: AtomicU64::new(0),
            boot_ns: i128::from(host.monotonic_ns()),
            config,
            host,
            mem,
            pages,
            evtchn,
            vcpus,
            xen: OrderedMutex::new(xen),
            backends: OrderedMutex::new(backends),
            output: OrderedMutex::new(output),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// Whether the backends run on the guest's notification, on the
    /// hypercall's thread ([`PlatformConfig::serve_backends_inline`]).
    pub fn serve_backends_inline(&self) -> bool {
        self.inline_backends.load(Ordering::Acquire)
    }

    /// Turns serving the backends on the guest's notification on or off,
    /// e.g. off while a VMM thread serves them from the host-port eventfds
    /// and [`XenPlatform::backend_wake`], on again when that thread ends.
    pub fn set_serve_backends_inline(&self, on: bool) {
        self.inline_backends.store(on, Ordering::Release);
        if !on {
            // The thread that takes over looks at everything once.
            self.wake_backends();
        }
    }

    /// Readable when a thread serving the backends (with
    /// [`XenPlatform::serve_backends_inline`] off) must run them all
    /// ([`XenPlatform::run_backends`] with `None`: the guest yielded) and
    /// look at the backends' host ports again (ports were bound or closed).
    /// The thread reads it to clear it.
    pub fn backend_wake(&self) -> &EventFd {
        &self.backend_wake
    }

    pub(crate) fn wake_backends(&self) {
        if let Err(e) = self.backend_wake.write(1) {
            log::warn!("backend wake-up eventfd: {e}");
        }
    }

    /// The host ports of the backends' channels (each with its eventfd,
    /// signalled when the guest notifies the channel): what a thread serving
    /// the backends waits on. Ports whose guest end was closed are left out.
    pub fn backend_host_ports<P: Level>(
        &self,
        token: &mut Token<'_, P>,
    ) -> Vec<xen_evtchn::HostPort>
    where
        EvtchnLock: LockAfter<P>,
    {
        let ids: Vec<u32> = self
            .evtchn
            .state(token)
            .host_ports
            .iter()
            .filter(|h| h.guest_port.is_some())
            .map(|h| h.id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.evtchn.host_port(token, id).ok())
            .collect()
    }

    /// How many times the backends ran on the guest's hypercall path (with
    /// [`XenPlatform::serve_backends_inline`] on): a test hook.
    pub fn inline_backend_runs(&self) -> u64 {
        self.inline_runs.load(Ordering::Relaxed)
    }

    /// How many `SCHEDOP_yield`s gave up the host CPU (`sched_yield`). As
    /// KVM's in-kernel `SCHEDOP_yield` (a directed yield to another vCPU), a
    /// yield gives it up only while another vCPU of the VM is up and not
    /// blocked, or when it woke the backend thread. A test hook.
    pub fn host_yields(&self) -> u64 {
        self.host_yields.load(Ordering::Relaxed)
    }

    /// Number of vCPUs.
    pub fn nr_vcpus(&self) -> u32 {
        self.config.nr_vcpus
    }

    /// The host.
    pub fn host(&self) -> &Arc<dyn XenHost> {
        &self.host
    }

    /// Guest memory.
    pub fn memory(&self) -> &MemoryMap<GuestMemoryMmap> {
        &self.mem
    }

    /// The event-channel table (xen-evtchn).
    pub fn evtchn(&self) -> &PlatformEvtchn {
        &self.evtchn
    }

    /// The shared_info / vcpu_info page caches (xen-shinfo-cache).
    pub fn pages(&self) -> &Arc<XenPages<GuestMemoryMmap>> {
        &self.pages
    }

    /// The platform's Xen state (timers, params, where pages are).
    pub fn xen_state(&self) -> &OrderedMutex<XenLock, XenState> {
        &self.xen
    }

    /// The devices: PV console, xenstore, grant table.
    pub fn backends(&self) -> &OrderedMutex<Devices, Backends> {
        &self.backends
    }

    /// Host monotonic ns at Xen system time 0 (negative when the VM was
    /// restored on a host whose monotonic clock is behind the saved Xen
    /// system time, e.g. a host rebooted since the snapshot).
    pub fn boot_ns(&self) -> i128 {
        self.boot_ns
    }

    /// Xen system time in ns.
    pub fn system_time_ns(&self) -> u64 {
        clamp_u64(i128::from(self.host.monotonic_ns()) - self.boot_ns)
    }

    /// The host monotonic time of Xen system time `ns` (0 if that was
    /// before the host clock started: due at once).
    pub fn monotonic_of(&self, ns: u64) -> u64 {
        clamp_u64(self.boot_ns + i128::from(ns))
    }

    /// The pvclock record for the TSC of the vCPU behind `access` now (`None`
    /// if it cannot tell its TSC).
    pub(crate) fn pvclock_now(
        &self,
        access: &mut dyn VcpuAccess,
    ) -> Option<xen_shinfo_cache::PvclockTime> {
        let reading = access.tsc().filter(|r| r.khz > 0)?;
        // Right after the TSC reading: the pair describes one instant.
        let now = self.system_time_ns();
        Some(crate::time::pvclock_time(
            reading,
            now,
            self.config.tsc_stable,
        ))
    }

    /// Writes the wall clock into shared_info (if placed) with the
    /// `wc_version` protocol: the host's Unix time at Xen system time 0.
    pub(crate) fn write_wallclock<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        mem: &MemReadGuard<'_, GuestMemoryMmap>,
    ) where
        vm_lock::PageCache<0>: LockAfter<P>,
    {
        let now = self.system_time_ns();
        let (sec, nsec) = crate::time::wallclock_base(crate::time::unix_now_ns(), now);
        if let Err(e) = self.pages.set_wallclock(token, mem, sec, nsec) {
            log::debug!("wall clock: {e}");
        }
    }

    /// Refreshes vCPU `vcpu`'s pvclock (its `vcpu_info.time` and its
    /// registered time area, with the version protocol) from the TSC of
    /// the vCPU behind `access`, which must be `vcpu` itself. A VMM calls
    /// it where Xen updates a vCPU's system time: before the vCPU first
    /// runs or runs again after a restore, and when it wakes from HLT,
    /// `SCHEDOP_block` or `SCHEDOP_poll`. Nothing happens if the guest has
    /// placed neither copy or `access` cannot read the TSC.
    pub fn update_vcpu_time<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        access: &mut dyn VcpuAccess,
    ) where
        MemRead: LockAfter<P>,
    {
        if vcpu >= self.nr_vcpus() {
            return;
        }
        let Some(time) = self.pvclock_now(access) else {
            return;
        };
        let (mem, mut t) = self.mem.read(token);
        if let Err(e) = self.pages.update_pvclock(&mut t, &mem, vcpu, &time) {
            log::debug!("vCPU {vcpu}: pvclock: {e}");
        }
    }

    /// The Xen CPUID leaves for vCPU `vcpu` (see [`crate::cpuid`]), the
    /// time leaf from [`PlatformConfig::tsc_khz`] and
    /// [`PlatformConfig::tsc_stable`].
    pub fn cpuid_leaves(&self, vcpu: u32) -> Vec<crate::cpuid::CpuidLeaf> {
        let (major, minor) = XEN_VERSION;
        let mut leaves = crate::cpuid::xen_leaves(
            vcpu,
            self.config.domid,
            (u32::from(major) << 16) | u32::from(minor),
        );
        crate::cpuid::set_time_leaf(
            &mut leaves,
            &crate::cpuid::TimeLeaf {
                tsc_khz: self.config.tsc_khz,
                tsc_stable: self.config.tsc_stable,
                rdtscp: false,
            },
        );
        leaves
    }

    /// The guest wrote `value` to MSR `msr` on vCPU `vcpu`, running in long
    /// mode or not: the hypercall MSR installs the hypercall page (port-I/O
    /// stubs on `port`) and latches the guest's ABI width.
    pub fn on_msr_write<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        msr: u32,
        value: u64,
        long_mode: bool,
        port: u8,
    ) -> MsrWrite
    where
        MemRead: LockAfter<P>,
    {
        let _ = vcpu;
        if msr != xen_abi::XEN_HYPERCALL_MSR {
            return MsrWrite::NotXen;
        }
        let (mem, mut t) = self.mem.read(token);
        let ok = xen_hypercall::write_hypercall_page(
            &*mem,
            value,
            xen_hypercall::HypercallPageKind::PortIo { port },
        )
        .is_ok();
        if !ok {
            return MsrWrite::Fault;
        }
        self.pages.set_width(if long_mode {
            GuestWidth::Bits64
        } else {
            GuestWidth::Bits32
        });
        let (mut xen, _t) = self.xen.lock(&mut t);
        xen.long_mode = long_mode;
        MsrWrite::Done
    }

    /// Runs hypercall `regs` of vCPU `vcpu` (`paging`: CR0.PG, its pointers
    /// are virtual and go through `access`). Opens one memory-map read
    /// section for the whole call; the devices the guest notified run before
    /// it returns. With the log target [`crate::trace::HYPERCALL_TARGET`]
    /// enabled at trace level, logs the call, its decoded arguments and the
    /// result.
    ///
    /// A `HYPERVISOR_multicall` runs all its entries in that one call and
    /// never returns [`HypercallExit::MapPage`] (retrying would run its
    /// earlier entries again): an entry that would need a new page gets
    /// -ENOMEM.
    pub fn on_hypercall<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        regs: &HypercallRegs,
        paging: bool,
        access: &mut dyn VcpuAccess,
        retry: Retry,
    ) -> HypercallExit
    where
        MemRead: LockAfter<P>,
    {
        if !log::log_enabled!(target: crate::trace::HYPERCALL_TARGET, log::Level::Trace) {
            return self.hypercall(token, vcpu, regs, paging, access, retry, None);
        }
        let mut decoded = None;
        let exit = self.hypercall(token, vcpu, regs, paging, access, retry, Some(&mut decoded));
        log::trace!(
            target: crate::trace::HYPERCALL_TARGET,
            "{}",
            crate::trace::format(vcpu, regs, decoded.as_ref(), &exit)
        );
        exit
    }

    /// [`XenPlatform::on_hypercall`]; with `decoded`, the request decoded
    /// from `regs` (read-only, before the call runs) is stored there.
    #[allow(clippy::too_many_arguments)]
    fn hypercall<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        regs: &HypercallRegs,
        paging: bool,
        access: &mut dyn VcpuAccess,
        retry: Retry,
        decoded: Option<&mut Option<xen_hypercall::XenResult<xen_hypercall::Request>>>,
    ) -> HypercallExit
    where
        MemRead: LockAfter<P>,
    {
        let long_mode = regs.mode == GuestWidth::Bits64;
        let (result, effects) = {
            let (mem, mut t) = self.mem.read(token);
            let ram = crate::guest::GuestRam(&mem);
            let mut hv = XenHv::new(self, access, paging, long_mode, &mem, &mut t);
            // Inside a multicall a page cannot be asked for: the retry would run
            // the entries before it again. Such an entry gets -ENOMEM.
            hv.no_new_pages =
                retry == Retry::PageRefused || regs.nr == xen_abi::HYPERVISOR_MULTICALL;
            if let Some(out) = decoded {
                let ctx =
                    xen_hypercall::DecodeContext::new(vcpu, self.config().domid, self.nr_vcpus());
                *out = Some(xen_hypercall::decode(regs, &ctx, &ram, &mut hv));
            }
            let r = xen_hypercall::dispatch(regs, vcpu, &ram, &mut hv);
            (r, hv.effects)
        };
        for k in &effects.kicks {
            self.host.kick(*k);
        }
        if let Some(gpa) = effects.map_page {
            return HypercallExit::MapPage { gpa };
        }
        if let Some(reason) = effects.shutdown {
            return HypercallExit::Shutdown {
                rax: result.rax,
                reason,
            };
        }
        match result.outcome {
            HypercallOutcome::Block { deadline_ns } => HypercallExit::Block {
                rax: result.rax,
                wait: Wait {
                    deadline_ns,
                    poll: effects.poll,
                },
            },
            HypercallOutcome::Shutdown(reason) => HypercallExit::Shutdown {
                rax: result.rax,
                reason,
            },
            _ => {
                if effects.backend.is_some() || effects.yielded {
                    if self.serve_backends_inline() {
                        self.inline_runs.fetch_add(1, Ordering::Relaxed);
                        let (mem, mut t) = self.mem.read(token);
                        crate::backends::notify(self, &mut t, &mem, effects.backend);
                    } else if effects.yielded {
                        // A send already signalled its host port's eventfd. A
                        // guest spinning on yield (polling a ring it did not
                        // notify) wakes the backend thread at most once per
                        // interval: it is served within it (and
                        // `YIELD_CLOCK_EVERY` yields), and each yield is not an
                        // eventfd write and a thread wake-up more.
                        if self.yield_reads_clock(vcpu) {
                            self.wake_after_yield();
                        }
                    }
                }
                HypercallExit::Resume { rax: result.rax }
            }
        }
    }

    /// Whether this `SCHEDOP_yield` of vCPU `vcpu` is one of those that read
    /// the host clock ([`YIELD_CLOCK_EVERY`]). The count is the vCPU's own
    /// (its hypercalls run on one thread at a time): a plain load and store.
    fn yield_reads_clock(&self, vcpu: u32) -> bool {
        let Some(v) = self.vcpus.get(vcpu as usize) else {
            return true;
        };
        let n = v.yields.load(Ordering::Relaxed);
        v.yields.store(n.wrapping_add(1), Ordering::Relaxed);
        n % YIELD_CLOCK_EVERY == 0
    }

    /// After a `SCHEDOP_yield`: wakes the thread serving the backends if the
    /// last such wake-up is [`YIELD_WAKE_INTERVAL_NS`] old.
    fn wake_after_yield(&self) {
        let now = self.host.monotonic_ns();
        let last = self.last_yield_wake.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= YIELD_WAKE_INTERVAL_NS)
            && self
                .last_yield_wake
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.wake_backends();
            // The woken backend thread may be waiting for this CPU.
            self.host_yields.fetch_add(1, Ordering::Relaxed);
            std::thread::yield_now();
        }
    }

    /// The upcall to deliver to vCPU `vcpu` now: while its
    /// `evtchn_upcall_pending` is set (level-like, as Xen's callback vector),
    /// how the guest asked for it (its per-vCPU vector, the callback vector,
    /// or the callback GSI, which Xen asserts for vCPU 0 only). A VMM that
    /// injects from its vCPU loop calls this before each entry. `None` with no
    /// callback configured or nothing pending.
    pub fn pending_upcall<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
    ) -> Option<UpcallKind>
    where
        MemRead: LockAfter<P>,
    {
        let v = self.vcpus.get(vcpu as usize)?;
        let how = decode(v.upcall.load(Ordering::Acquire))?;
        self.upcall_pending(token, vcpu).then_some(how)
    }

    /// Whether vCPU `vcpu`'s `evtchn_upcall_pending` is set (an event waits
    /// for it: a halted vCPU wakes).
    pub fn upcall_pending<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32) -> bool
    where
        MemRead: LockAfter<P>,
    {
        let Some(v) = self.vcpus.get(vcpu as usize) else {
            return false;
        };
        let vi = v.vcpu_info.load(Ordering::Acquire);
        if vi == u64::MAX {
            return false;
        }
        let (mem, _t) = self.mem.read(token);
        crate::guest::load_u8(&mem, vi).is_some_and(|b| b != 0)
    }

    /// Whether the wait of a blocked vCPU ends now: for `SCHEDOP_block`, an
    /// event is pending; for `SCHEDOP_poll`, a polled port is pending or any
    /// event raised the vCPU's upcall since the poll began; for both, the
    /// deadline passed.
    pub fn wait_ready<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32, wait: &Wait) -> bool
    where
        MemRead: LockAfter<P>,
    {
        if wait.deadline_ns.is_some_and(|d| self.system_time_ns() >= d) {
            return true;
        }
        match &wait.poll {
            None => self.upcall_pending(token, vcpu),
            Some((ports, upcalls)) => {
                let moved = self
                    .vcpus
                    .get(vcpu as usize)
                    .is_some_and(|v| v.upcalls.load(Ordering::SeqCst) != *upcalls);
                if moved {
                    return true;
                }
                let (mem, mut t) = self.mem.read(token);
                ports
                    .iter()
                    .any(|&p| self.evtchn.is_pending_in(&mut t, &mem, p).unwrap_or(false))
            }
        }
    }

    /// How long (ns) a blocked vCPU may sleep before [`XenPlatform::wait_ready`]
    /// must be asked again because of its deadline (`None`: until kicked).
    pub fn wait_timeout_ns(&self, wait: &Wait) -> Option<u64> {
        wait.deadline_ns
            .map(|d| d.saturating_sub(self.system_time_ns()))
    }

    /// The wait of `vcpu` is over (ended or abandoned).
    pub fn wait_end(&self, vcpu: u32, wait: &Wait) {
        if wait.poll.is_some() {
            self.evtchn.poll_end(vcpu);
        }
    }

    /// vCPU `vcpu`'s host timer `kind` fired: delivers `VIRQ_TIMER`.
    pub fn timer_fired<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32, kind: TimerKind)
    where
        MemRead: LockAfter<P>,
    {
        let (mem, mut t) = self.mem.read(token);
        if kind == TimerKind::SingleShot {
            let (mut xen, _t) = self.xen.lock(&mut t);
            if let Some(x) = xen.vcpus.get_mut(vcpu as usize) {
                x.singleshot_ns = None;
            }
        }
        if let Err(e) = self
            .evtchn
            .raise_virq_in(&mut t, &mem, xen_abi::VIRQ_TIMER, vcpu)
        {
            log::debug!("VIRQ_TIMER on vCPU {vcpu}: {e}");
        }
        // A poll with a timeout ends when the single-shot timer fires.
        self.host.kick(vcpu);
    }

    /// vCPU `vcpu` runs from VM start, at an entry point the VMM gave it (e.g.
    /// every vCPU of a flat image): it is initialised and up, as vCPU 0 is
    /// anyway. Call it before the guest runs. The other secondary vCPUs stay
    /// down (runstate offline) until the guest brings them up with
    /// `VCPUOP_initialise` and `VCPUOP_up`.
    pub fn boot_vcpu<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32)
    where
        XenLock: LockAfter<P>,
    {
        let now = self.system_time_ns();
        let (mut xen, _t) = self.xen.lock(token);
        if let Some(v) = xen.vcpus.get_mut(vcpu as usize) {
            v.initialised = true;
            if !v.up {
                v.up = true;
                crate::runstate::advance(&mut v.runstate, xen_abi::RUNSTATE_RUNNING, now);
            }
        }
    }

    /// Whether vCPU `vcpu` is up (`VCPUOP_is_up`): the VMM runs it.
    pub fn is_vcpu_up<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32) -> bool
    where
        XenLock: LockAfter<P>,
    {
        let (xen, _t) = self.xen.lock(token);
        xen.vcpus.get(vcpu as usize).is_some_and(|v| v.up)
    }

    /// The registers vCPU `vcpu` starts with, once: after `VCPUOP_initialise`,
    /// when the VMM starts it following `VCPUOP_up` ([`XenHost::vcpu_up`]); `None`
    /// when it goes on with the registers it has (brought down and up again,
    /// or started by the VMM).
    pub fn take_vcpu_start<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
    ) -> Option<crate::smp::VcpuStart>
    where
        XenLock: LockAfter<P>,
    {
        let (mut xen, _t) = self.xen.lock(token);
        xen.vcpus.get_mut(vcpu as usize)?.start.take()
    }

    /// Records that vCPU `vcpu` is now in runstate `state` (`RUNSTATE_*`)
    /// and updates its runstate area, if the guest registered one.
    /// `RUNSTATE_offline` is [`XenPlatform::vcpu_offline`] without its answer.
    pub fn set_runstate<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32, state: u32)
    where
        MemRead: LockAfter<P>,
    {
        crate::runstate::set_runstate(self, token, vcpu, state);
    }

    /// The VMM reports vCPU `vcpu` gone offline (HLT with interrupts
    /// disabled, Xen's `hvm_vcpu_down`): it is down, as after `VCPUOP_down`
    /// (`VCPUOP_up` brings it back). The last vCPU up is not taken down: as
    /// the last `VCPUOP_down`, it shuts the domain down instead, and this
    /// returns the `SHUTDOWN_*` reason (poweroff unless the guest gave a
    /// code before) for the VMM to act on. `None`: other vCPUs are up (or
    /// `vcpu` was not up).
    pub fn vcpu_offline<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32) -> Option<u32>
    where
        MemRead: LockAfter<P>,
    {
        crate::runstate::set_runstate(self, token, vcpu, xen_abi::RUNSTATE_OFFLINE)
    }

    /// Host console input (e.g. stdin) for the guest: to the PV console ring
    /// or kept for `CONSOLEIO_read` (with `VIRQ_CONSOLE`), whichever the
    /// guest uses. [`XenPlatform::queue_console_input`] then
    /// [`XenPlatform::deliver_input`].
    pub fn console_input<P: Level>(&self, token: &mut Token<'_, P>, bytes: &[u8])
    where
        MemRead: LockAfter<P>,
    {
        let (mem, mut t) = self.mem.read(token);
        let route = self.queue_console_input(&mut t, bytes);
        self.deliver_input_in(&mut t, &mem, route);
    }

    /// Queues host console input in the console device without touching
    /// guest memory (a snapshot taken now saves it); returns where it must
    /// go ([`XenPlatform::deliver_input`]).
    pub fn queue_console_input<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        bytes: &[u8],
    ) -> crate::console::InputRoute
    where
        Devices: LockAfter<P>,
    {
        let (mut be, _t) = self.backends.lock(token);
        be.console.queue_input(bytes);
        be.console.input_route()
    }

    /// Delivers console input already queued (after
    /// [`XenPlatform::queue_console_input`], or after a restore): to the
    /// ring, or `VIRQ_CONSOLE` for a guest that reads with `CONSOLEIO_read`.
    pub fn deliver_input<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        route: crate::console::InputRoute,
    ) where
        MemRead: LockAfter<P>,
    {
        let (mem, mut t) = self.mem.read(token);
        self.deliver_input_in(&mut t, &mem, route);
    }

    pub(crate) fn deliver_input_in(
        &self,
        t: &mut Token<'_, MemRead>,
        mem: &MemReadGuard<'_, GuestMemoryMmap>,
        route: crate::console::InputRoute,
    ) {
        match route {
            crate::console::InputRoute::Ring => {
                crate::backends::notify(self, t, mem, Some(Backend::Console))
            }
            crate::console::InputRoute::ConsoleIo => {
                if let Err(e) = self.evtchn.raise_virq_in(t, mem, xen_abi::VIRQ_CONSOLE, 0) {
                    log::debug!("VIRQ_CONSOLE: {e}");
                }
            }
        }
    }

    /// Runs the device(s) after the guest notified `which` (`None`: run
    /// both), writes console output, and raises the device's port if it has
    /// something for the guest.
    pub fn run_backends<P: Level>(&self, token: &mut Token<'_, P>, which: Option<Backend>)
    where
        MemRead: LockAfter<P>,
    {
        let (mem, mut t) = self.mem.read(token);
        crate::backends::notify(self, &mut t, &mem, which);
    }

    /// Opens a xenstore connection of the privileged toolstack domain (dom0),
    /// e.g. for a client of the VMM's xenstored socket; `None` when
    /// [`xen_store::MAX_HOST_CONNECTIONS`] are open.
    pub fn xenstore_connect<P: Level>(&self, token: &mut Token<'_, P>) -> Option<xen_store::ConnId>
    where
        Devices: LockAfter<P>,
    {
        let (mut be, _t) = self.backends.lock(token);
        be.store.connect()
    }

    /// Hands wire-protocol bytes a toolstack client sent to the xenstore
    /// ([`xen_store::Xenstore::feed`]) and takes what the client has to
    /// read. Touches no guest memory: when [`StoreIo::guest_pending`] says
    /// the guest has replies or watch events queued, the caller runs
    /// [`XenPlatform::run_backends`] for [`Backend::Store`] where guest
    /// memory may be touched.
    pub fn xenstore_feed<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        id: xen_store::ConnId,
        bytes: &[u8],
    ) -> StoreIo
    where
        Devices: LockAfter<P>,
    {
        let (mut be, _t) = self.backends.lock(token);
        let taken = be.store.feed(id, bytes);
        StoreIo {
            taken,
            output: be.store.take_output(id),
            guest_pending: be.store.guest_output_pending(),
        }
    }

    /// What a toolstack connection has to read (watch events raised since,
    /// e.g. by the guest's writes).
    pub fn xenstore_output<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        id: xen_store::ConnId,
    ) -> Vec<u8>
    where
        Devices: LockAfter<P>,
    {
        let (mut be, _t) = self.backends.lock(token);
        be.store.take_output(id)
    }

    /// Closes a toolstack connection (its watches and transactions go).
    pub fn xenstore_disconnect<P: Level>(&self, token: &mut Token<'_, P>, id: xen_store::ConnId)
    where
        Devices: LockAfter<P>,
    {
        let (mut be, _t) = self.backends.lock(token);
        be.store.disconnect(id);
    }

    /// Writes guest console output (e.g. from the VMM's serial port) to the
    /// platform's output.
    pub fn write_output<P: Level>(&self, token: &mut Token<'_, P>, bytes: &[u8])
    where
        Output: LockAfter<P>,
    {
        let (mut out, _t) = self.output.lock(token);
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// Takes the console output sink out of the platform (leaving a sink
    /// that drops everything), e.g. to hand it to a platform restored in its
    /// place.
    pub fn take_output(&mut self) -> Box<dyn Write + Send> {
        std::mem::replace(self.output.get_mut(), Box::new(std::io::sink()))
    }

    /// Writes what is left of a `console_io` line (the VM ends).
    pub fn flush_console<P: Level>(&self, token: &mut Token<'_, P>)
    where
        Devices: LockAfter<P>,
        Output: LockAfter<P>,
    {
        let (mut be, mut t) = self.backends.lock(token);
        let mut rest = Vec::new();
        be.hv_console.flush(&mut rest);
        if !rest.is_empty() {
            Self::write_output::<Devices>(self, &mut t, &rest);
        }
    }

    /// Raises event channel `port` from the backend side: sets it pending as
    /// its binding would, waking the vCPU it targets.
    pub fn raise_port<P: Level>(&self, token: &mut Token<'_, P>, port: u32)
    where
        MemRead: LockAfter<P>,
    {
        let (mem, mut t) = self.mem.read(token);
        self.raise_port_in(&mut t, &mem, port);
    }

    /// [`XenPlatform::raise_port`] inside the caller's read section.
    pub fn raise_port_in(
        &self,
        token: &mut Token<'_, MemRead>,
        mem: &MemReadGuard<'_, GuestMemoryMmap>,
        port: u32,
    ) {
        if let Err(e) = self.evtchn.set_pending_in(token, mem, port) {
            log::debug!("raise port {port}: {e}");
        }
    }

    /// Re-reads, from the event-channel and page-cache state, the upcall
    /// vector and vcpu_info address of vCPU `v` that the lock-free paths
    /// ([`XenPlatform::pending_upcall`]) use.
    pub(crate) fn sync_vcpu<P: Level>(&self, token: &mut Token<'_, P>, v: u32)
    where
        EvtchnLock: LockAfter<P>,
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        let Some(c) = self.vcpus.get(v as usize) else {
            return;
        };
        let how = encode(self.evtchn.upcall_kind(token, v));
        let explicit = self.pages.vcpu_info_gpa(token, v).ok().flatten();
        let legacy = if v < 32 {
            self.pages
                .shared_info_gfn(token)
                .map(|g| g * 4096 + 64 * u64::from(v))
        } else {
            None
        };
        c.upcall.store(how, Ordering::Release);
        c.vcpu_info
            .store(explicit.or(legacy).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// [`XenPlatform::sync_vcpu`] for every vCPU.
    pub(crate) fn sync_all<P: Level>(&self, token: &mut Token<'_, P>)
    where
        EvtchnLock: LockAfter<P>,
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        for v in 0..self.config.nr_vcpus {
            self.sync_vcpu(token, v);
        }
    }

    /// Xen placed one of its pages (shared_info, a grant frame) at `gfn`: a RAM
    /// page there is freed, as Xen frees the domain page it replaces.
    pub(crate) fn covered(&self, xen: &mut XenState, gfn: u64) {
        if crate::memory::is_ram(&self.config.memory_map, gfn) && xen.absent.insert(gfn) {
            xen.tot_pages = xen.tot_pages.saturating_sub(1);
        }
    }

    /// The upcall count of vCPU `vcpu` (see [`Wait::poll`]).
    pub(crate) fn upcalls(&self, vcpu: u32) -> u64 {
        self.vcpus
            .get(vcpu as usize)
            .map_or(0, |v| v.upcalls.load(Ordering::SeqCst))
    }

    /// The vcpu_info GPA the lock-free paths use for `vcpu` (`None`: none).
    pub(crate) fn vcpu_info_gpa(&self, vcpu: u32) -> Option<u64> {
        let vi = self
            .vcpus
            .get(vcpu as usize)?
            .vcpu_info
            .load(Ordering::Acquire);
        (vi != u64::MAX).then_some(vi)
    }

    pub(crate) fn vcpu_atomics(&self) -> Arc<[VcpuXen]> {
        self.vcpus.clone()
    }

    pub(crate) fn backends_mut(&mut self) -> &mut Backends {
        self.backends.get_mut()
    }

    pub(crate) fn xen_state_mut(&mut self) -> &mut XenState {
        self.xen.get_mut()
    }

    pub(crate) fn replace_evtchn(
        &mut self,
        pages: Arc<XenPages<GuestMemoryMmap>>,
        evtchn: PlatformEvtchn,
    ) {
        self.pages = pages;
        self.evtchn = evtchn;
    }

    /// Continues Xen system time from `system_time_ns` now.
    pub(crate) fn continue_time_from(&mut self, system_time_ns: u64) {
        self.boot_ns = i128::from(self.host.monotonic_ns()) - i128::from(system_time_ns);
    }

    /// Arms or cancels the host timer behind a Xen timer.
    pub(crate) fn set_host_timer(
        &self,
        vcpu: u32,
        kind: TimerKind,
        arm: Option<crate::host::TimerArm>,
    ) {
        self.host.set_timer(vcpu, kind, arm);
    }
}

/// What a toolstack client's bytes produced ([`XenPlatform::xenstore_feed`]).
#[derive(Debug)]
pub struct StoreIo {
    /// Bytes taken (fewer than given while the client's output waits), or
    /// the error after which the client is disconnected (a message longer
    /// than a payload: `E2BIG`, also sent in `output`).
    pub taken: std::result::Result<usize, xen_store::XsErr>,
    /// Replies and watch events for the client.
    pub output: Vec<u8>,
    /// The guest has replies or watch events to be written to its ring.
    pub guest_pending: bool,
}
