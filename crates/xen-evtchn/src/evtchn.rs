// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`Evtchn`]: the per-VM port table, the event-channel operations and 2-level delivery.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use vm_lock::{
    EvtchnLock, Level, LockAfter, MemRead, MemReadGuard, MemoryMap, OrderedRwLock, PageCache, Token,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use xen_abi::{
    DOMID_FIRST_RESERVED, DOMID_SELF, EVTCHNSTAT_CLOSED, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_IPI,
    EVTCHNSTAT_PIRQ, EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ, NR_VIRQS, VIRQ_DEBUG, VIRQ_TIMER,
    VIRQ_XENOPROF, VIRQ_XENPMU,
};
use xen_shinfo_cache::{MappedRange, RegionArcs, WidthLayout, XenPages};

use crate::error::{Error, Result};
use crate::host::{HostPort, HostSlot};
use crate::poll::{PollSlot, MAX_POLL_PORTS};
use crate::port_map::PortMap;
use crate::state::{Binding, EvtchnState, HostPortState, PortState, Remote};
use crate::upcall::{CallbackVia, UpcallKind, UpcallSink};

// FIFO ABI: a child module, so that it sees the table; its hooks below are marked `FIFO:`.
#[path = "fifo.rs"]
pub(crate) mod fifo;

/// Size of the port table: the 2-level limit of a 64-bit guest (a 32-bit guest uses 1024).
pub const MAX_PORTS: u32 = 4096;
/// Most host backend ports per VM.
pub const MAX_HOST_PORTS: u32 = 4096;
/// The domain id of the VMM's own backends ("dom0" as the guest sees it).
pub const BACKEND_DOMID: u16 = 0;
/// Size of the `shared_info` page.
const PAGE_SIZE: u64 = 4096;

/// Whether a VIRQ is global (bound on vCPU 0 only, retargetable with `bind_vcpu`).
pub fn virq_is_global(virq: u32) -> bool {
    !matches!(virq, VIRQ_TIMER | VIRQ_DEBUG | VIRQ_XENOPROF | VIRQ_XENPMU)
}

/// Static configuration of an [`Evtchn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvtchnConfig {
    /// The guest's own domain id (`DOMID_SELF` is always accepted as well).
    pub domid: u16,
    /// How many PIRQs the guest may bind (`0..nr_pirqs`).
    pub nr_pirqs: u32,
}

impl Default for EvtchnConfig {
    fn default() -> Self {
        EvtchnConfig {
            domid: 1,
            nr_pirqs: 256,
        }
    }
}

/// The answer to `EVTCHNOP_status`, in the ABI's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStatus {
    /// `EVTCHNSTAT_*`.
    pub status: u32,
    /// The notified vCPU.
    pub vcpu: u32,
    /// Unbound: `[remote_dom, 0]`; interdomain: `[remote_dom, remote_port]`; PIRQ / VIRQ:
    /// `[pirq / virq, 0]`.
    pub u: [u32; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Port {
    vcpu: u32,
    binding: Binding,
}

/// The state behind the `EvtchnLock`.
#[derive(Debug)]
struct Table {
    /// Index = port; `None` = free. Port 0 is reserved and stays `None`.
    ports: PortMap<Option<Port>>,
    /// Per vCPU, per VIRQ: the bound port (0 = none). Global VIRQs live in vCPU 0's row.
    virqs: Vec<[u32; NR_VIRQS as usize]>,
    /// Per PIRQ: the bound port (0 = none).
    pirqs: Vec<u32>,
    /// Host ports; id = index + 1.
    host: Vec<Option<HostSlot>>,
    callback: CallbackVia,
    vcpu_vectors: Vec<u8>,
}

impl Table {
    fn new(max_vcpus: u32, nr_pirqs: u32) -> Self {
        Table {
            ports: PortMap::new(None, xen_abi::EVTCHN_FIFO_NR_CHANNELS),
            virqs: vec![[0; NR_VIRQS as usize]; max_vcpus as usize],
            pirqs: vec![0; nr_pirqs as usize],
            host: Vec::new(),
            callback: CallbackVia::None,
            vcpu_vectors: vec![0; max_vcpus as usize],
        }
    }

    fn free_port(&self, nr: u32) -> Result<u32> {
        (1..nr)
            .find(|&p| self.ports.get(p).is_none())
            .ok_or(Error::NoFreePort)
    }

    fn port(&self, port: u32, nr: u32) -> Result<Port> {
        if port == 0 || port >= nr {
            return Err(Error::InvalidPort(port));
        }
        match self.ports.get(port) {
            Some(p) => Ok(p),
            None => Err(Error::InvalidPort(port)),
        }
    }

    fn host_slot(&mut self, id: u32) -> Result<&mut HostSlot> {
        id.checked_sub(1)
            .and_then(|i| self.host.get_mut(i as usize))
            .and_then(|s| s.as_mut())
            .ok_or(Error::InvalidHostPort(id))
    }

    fn new_host_slot(&mut self, guest_port: Option<u32>) -> Result<HostPort> {
        let eventfd = EventFd::new(EFD_NONBLOCK).map_err(Error::EventFd)?;
        let copy = eventfd.try_clone().map_err(Error::EventFd)?;
        let idx = match self.host.iter().position(|s| s.is_none()) {
            Some(i) => i,
            None if (self.host.len() as u32) < MAX_HOST_PORTS => {
                self.host.push(None);
                self.host.len() - 1
            }
            None => return Err(Error::NoFreePort),
        };
        self.host[idx] = Some(HostSlot {
            guest_port,
            eventfd,
        });
        Ok(HostPort {
            id: idx as u32 + 1,
            eventfd: copy,
        })
    }

    fn upcall_kind(&self, vcpu: u32) -> UpcallKind {
        match self.vcpu_vectors.get(vcpu as usize) {
            Some(&v) if v != 0 => return UpcallKind::PerVcpuVector(v),
            _ => {}
        }
        match self.callback {
            CallbackVia::Vector(v) => UpcallKind::Vector(v),
            CallbackVia::Gsi(g) if vcpu == 0 => UpcallKind::Gsi(g),
            _ => UpcallKind::Kick,
        }
    }

    /// Unbinds `port` (which must be allocated); returns the port freed.
    fn close(&mut self, port: u32, domid: u16) -> Result<()> {
        let p = self.ports.get(port).ok_or(Error::InvalidPort(port))?;
        match p.binding {
            Binding::Unbound { .. } | Binding::Ipi => {}
            Binding::Virq(virq) => {
                let row = if virq_is_global(virq) { 0 } else { p.vcpu };
                if let Some(slot) = self
                    .virqs
                    .get_mut(row as usize)
                    .and_then(|r| r.get_mut(virq as usize))
                {
                    if *slot == port {
                        *slot = 0;
                    }
                }
            }
            Binding::Pirq(pirq) => {
                if let Some(slot) = self.pirqs.get_mut(pirq as usize) {
                    if *slot == port {
                        *slot = 0;
                    }
                }
            }
            Binding::Interdomain(Remote::Loopback(other)) => {
                if let Some(o) = self.ports.get_mut(other).and_then(|o| o.as_mut()) {
                    o.binding = Binding::Unbound { remote_dom: domid };
                }
            }
            Binding::Interdomain(Remote::Host(id)) => {
                if let Ok(slot) = self.host_slot(id) {
                    slot.guest_port = None;
                }
            }
        }
        self.ports.set(port, None);
        Ok(())
    }
}

/// Outcome of setting a port pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The port was already pending: nothing else happened.
    AlreadyPending,
    /// Now pending, but masked: no upcall.
    Masked,
    /// Now pending; the vCPU's selector or upcall flag was already set (no new upcall).
    Coalesced,
    /// Now pending and `evtchn_upcall_pending` went 0 -> 1: the upcall was raised.
    Raised,
    /// Now pending; the vCPU has no `vcpu_info` yet (a vCPU >= 32 before registering one).
    NoVcpuInfo,
    /// `shared_info` is not placed yet: the port is pending in a host-side shadow and is
    /// delivered (2-level, with the upcall) by [`Evtchn::shared_info_mapped`]. FIFO: the
    /// port has no event word yet; it is linked when `expand_array` adds its page.
    Deferred,
    /// FIFO: now pending, but the notified vCPU has no control block: not linked (as Xen).
    NoControlBlock,
}

/// Where an `EVTCHNOP_send` went ([`Evtchn::send`], [`Evtchn::send_in`]): the
/// binding the send found, so that a caller routing host ports to its devices
/// needs no second lookup of the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// An IPI or loopback port: the event was set pending in the guest.
    Guest(Delivery),
    /// A port bound to the host port with this id: its eventfd was signalled.
    Host(u32),
    /// An unbound port: the send was dropped (as Xen).
    Dropped,
}

/// The event channels of one VM.
///
/// Share it in an `Arc`; every method takes `&self` and a `vm-lock` token and may be
/// called from any thread (vCPU threads for hypercalls, host threads for backends, the
/// timer thread for `VIRQ_TIMER`). Lock order inside: memory-map read section (`MemRead`),
/// the port table (`EvtchnLock`), `shared_info` (`PageCache<0>`), `vcpu_info` (`PageCache<1>`).
/// The port table comes after `XenLock`: a caller holding the platform's Xen state may call
/// every operation that needs no read section of its own (the `_in` forms and the rest).
///
/// Ops that touch guest memory come in two forms: `op(token, ..)` opens its own read
/// section (token level before `MemRead`), `op_in(token, snap, ..)` runs inside the
/// caller's (`snap` is the section's map, `token` its `MemRead` token). A VMM that holds a
/// read section for a whole hypercall uses the `_in` forms; calling a plain form with the
/// `MemRead` token does not compile.
///
/// ```
/// # use std::sync::Arc;
/// # use vm_lock::{MemoryMap, Root};
/// # use vm_memory::{GuestAddress, GuestMemoryMmap};
/// # use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink};
/// # use xen_shinfo_cache::XenPages;
/// # struct Sink;
/// # impl UpcallSink for Sink {
/// #     fn raise(&self, _: u32, _: UpcallKind) {}
/// #     fn poll_wake(&self, _: u32) {}
/// # }
/// # let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap());
/// # let pages = Arc::new(XenPages::new(1));
/// # let evtchn = Evtchn::new(EvtchnConfig::default(), mem.clone(), pages, Sink);
/// let mut root = Root::new().unwrap();
/// // One read section for a whole hypercall.
/// let (snap, mut t) = mem.read(root.token());
/// let port = evtchn.bind_ipi(&mut t, 0).unwrap();
/// evtchn.send_in(&mut t, &snap, port).unwrap();
/// assert!(evtchn.is_pending_in(&mut t, &snap, port).unwrap()); // (deferred: no shared_info)
/// ```
///
/// ```compile_fail
/// # use std::sync::Arc;
/// # use vm_lock::{MemoryMap, Root};
/// # use vm_memory::{GuestAddress, GuestMemoryMmap};
/// # use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink};
/// # use xen_shinfo_cache::XenPages;
/// # struct Sink;
/// # impl UpcallSink for Sink {
/// #     fn raise(&self, _: u32, _: UpcallKind) {}
/// #     fn poll_wake(&self, _: u32) {}
/// # }
/// # let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap());
/// # let pages = Arc::new(XenPages::new(1));
/// # let evtchn = Evtchn::new(EvtchnConfig::default(), mem.clone(), pages, Sink);
/// let mut root = Root::new().unwrap();
/// let (_snap, mut t) = mem.read(root.token());
/// // A second read section inside the first: `MemRead` cannot be taken under `MemRead`.
/// evtchn.send(&mut t, 1).unwrap();
/// ```
pub struct Evtchn<M: RegionArcs, S: UpcallSink> {
    config: EvtchnConfig,
    max_vcpus: u32,
    mem: MemoryMap<M>,
    pages: Arc<XenPages<M>>,
    sink: S,
    table: OrderedRwLock<EvtchnLock, Table>,
    polls: Box<[PollSlot]>,
    pollers: AtomicU32,
    /// Ports set pending while `shared_info` was not placed (one bit per port). Set with the
    /// table read-locked, flushed with it write-locked, so no event slips between the two.
    deferred: Box<[AtomicU64]>,
    /// FIFO ABI state.
    fifo: fifo::Fifo<M::R>,
}

fn new_deferred() -> Box<[AtomicU64]> {
    (0..MAX_PORTS / 64).map(|_| AtomicU64::new(0)).collect()
}

/// The set bits of `word`, lowest first (a zero word costs one test).
pub(crate) fn set_bits(mut word: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        if word == 0 {
            return None;
        }
        let b = word.trailing_zeros();
        word &= word - 1;
        Some(b)
    })
}

impl<M: RegionArcs, S: UpcallSink> std::fmt::Debug for Evtchn<M, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evtchn")
            .field("config", &self.config)
            .field("max_vcpus", &self.max_vcpus)
            .finish()
    }
}

impl<M, S> Evtchn<M, S>
where
    M: RegionArcs + vm_memory::GuestMemory,
    S: UpcallSink,
{
    /// Event channels over guest memory `mem` and the pages `pages` (whose vCPU count is the
    /// VM's), delivering upcalls through `sink`.
    pub fn new(config: EvtchnConfig, mem: MemoryMap<M>, pages: Arc<XenPages<M>>, sink: S) -> Self {
        let max_vcpus = pages.max_vcpus();
        Evtchn {
            config,
            max_vcpus,
            mem,
            pages,
            sink,
            table: OrderedRwLock::new(Table::new(max_vcpus, config.nr_pirqs)),
            polls: (0..max_vcpus).map(|_| PollSlot::default()).collect(),
            pollers: AtomicU32::new(0),
            deferred: new_deferred(),
            fifo: fifo::Fifo::new(),
        }
    }

    /// The pages this uses.
    pub fn pages(&self) -> &Arc<XenPages<M>> {
        &self.pages
    }

    /// The upcall sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The configuration.
    pub fn config(&self) -> EvtchnConfig {
        self.config
    }

    /// Number of usable ports: 2-level, for the current guest width (4096 or 1024); FIFO,
    /// 2^17.
    pub fn nr_ports(&self) -> u32 {
        if self.fifo.is_active() {
            return xen_abi::EVTCHN_FIFO_NR_CHANNELS;
        }
        self.pages.width().nr_2l_ports()
    }

    /// Refuses a read section of another memory map (another VM's): `_in` operations would
    /// otherwise read and write that VM's guest memory through this VM's page caches.
    #[inline]
    fn check_section(&self, snap: &MemReadGuard<'_, M>) -> Result<()> {
        self.mem
            .check(snap)
            .map_err(|_| Error::Page(xen_shinfo_cache::Error::ForeignMap))
    }

    fn is_self(&self, dom: u16) -> bool {
        dom == DOMID_SELF || dom == self.config.domid
    }

    fn check_vcpu(&self, vcpu: u32) -> Result<()> {
        if vcpu < self.max_vcpus {
            Ok(())
        } else {
            Err(Error::NoSuchVcpu(vcpu))
        }
    }

    // ---- delivery -------------------------------------------------------------------------

    /// 2-level `set_pending` (as Xen's `evtchn_2l_set_pending`): set the pending bit; if it
    /// was clear and the port is unmasked, set the selector bit; if that was clear, set
    /// `evtchn_upcall_pending`; if that was clear, raise the upcall. Wakes pollers of the port.
    #[inline]
    fn deliver<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
        vcpu: u32,
    ) -> Result<Delivery>
    where
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        if self.fifo.is_active() {
            // FIFO:
            return self.fifo_deliver(token, snap, port, vcpu);
        }
        let w = self.pages.width();
        let pages = &self.pages;
        // The closure's errors are page errors: a small result, and one flat match below
        // (nested results of the larger `Error` cost a copy on every send).
        let d = pages
            .with_shared_info(
                token,
                snap,
                |sh, t0| -> xen_shinfo_cache::Result<Delivery> {
                    if sh.test_and_set_bit(w, w.shinfo_evtchn_pending(), port)? {
                        return Ok(Delivery::AlreadyPending);
                    }
                    self.wake_pollers(port);
                    if sh.test_bit(w, w.shinfo_evtchn_mask(), port)? {
                        return Ok(Delivery::Masked);
                    }
                    let r = pages.with_vcpu_info_in::<PageCache<0>, _>(
                        Some(sh),
                        t0,
                        snap,
                        vcpu,
                        |vi| {
                            if vi.test_and_set_pending_sel(port / w.long_bits())? {
                                return Ok(Delivery::Coalesced);
                            }
                            Ok(if vi.test_and_set_upcall_pending()? {
                                Delivery::Coalesced
                            } else {
                                Delivery::Raised
                            })
                        },
                    );
                    match r {
                        Err(xen_shinfo_cache::Error::NoVcpuInfo(_)) => Ok(Delivery::NoVcpuInfo),
                        r => r,
                    }
                },
            )
            .and_then(|r| r);
        match d {
            Ok(d) => Ok(d),
            // No shared_info yet: keep the event in the shadow (the caller holds the table
            // read-locked, so `shared_info_mapped` cannot be flushing right now).
            Err(xen_shinfo_cache::Error::Unset) => {
                if self.set_deferred(port) {
                    return Ok(Delivery::AlreadyPending);
                }
                self.wake_pollers(port);
                Ok(Delivery::Deferred)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sets `port`'s shadow pending bit; returns its old value.
    fn set_deferred(&self, port: u32) -> bool {
        let Some(w) = self.deferred.get((port / 64) as usize) else {
            return false;
        };
        let bit = 1u64 << (port % 64);
        w.fetch_or(bit, Ordering::SeqCst) & bit != 0
    }

    /// Clears `port`'s shadow pending bit; returns its old value.
    fn take_deferred(&self, port: u32) -> bool {
        let Some(w) = self.deferred.get((port / 64) as usize) else {
            return false;
        };
        let bit = 1u64 << (port % 64);
        w.fetch_and(!bit, Ordering::SeqCst) & bit != 0
    }

    fn is_deferred(&self, port: u32) -> bool {
        self.deferred
            .get((port / 64) as usize)
            .is_some_and(|w| w.load(Ordering::SeqCst) & (1u64 << (port % 64)) != 0)
    }

    #[inline]
    fn wake_pollers(&self, port: u32) {
        if self.pollers.load(Ordering::SeqCst) == 0 {
            return;
        }
        for (v, slot) in self.polls.iter().enumerate() {
            if slot.wants(port) {
                self.sink.poll_wake(v as u32);
            }
        }
    }

    /// Delivers on `port` (to its notify vCPU) with the table already read-locked.
    #[inline]
    fn deliver_port<P: Level>(
        &self,
        table: &Table,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
    ) -> Result<Delivery>
    where
        PageCache<0>: LockAfter<P>,
        PageCache<1>: LockAfter<P>,
    {
        // `let else`, not `ok_or`: an eagerly built `Error` is dropped on every send.
        let Some(p) = table.ports.get(port) else {
            return Err(Error::InvalidPort(port));
        };
        let d = self.deliver(token, snap, port, p.vcpu)?;
        if d == Delivery::Raised {
            self.sink.raise(p.vcpu, table.upcall_kind(p.vcpu));
        }
        Ok(d)
    }

    /// Sets `port` pending as its binding would (host code, tests). The port must be bound.
    ///
    /// # Errors
    /// [`Error::InvalidPort`] for a free or out-of-range port; page errors (EFAULT) if
    /// `shared_info` is not placed or not RAM.
    pub fn set_pending<P: Level>(&self, token: &mut Token<'_, P>, port: u32) -> Result<Delivery>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.set_pending_in(&mut t, &snap, port)
    }

    /// [`Evtchn::set_pending`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::set_pending`].
    pub fn set_pending_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
    ) -> Result<Delivery>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        let nr = self.nr_ports();
        let (table, mut t) = self.table.read(token);
        table.port(port, nr)?;
        self.deliver_port(&table, &mut t, snap, port)
    }

    // ---- guest operations ----------------------------------------------------------------

    /// `EVTCHNOP_alloc_unbound`: a port that `remote_dom` may bind to. Returns the port.
    ///
    /// # Errors
    /// ESRCH if `dom` is not the guest or `remote_dom` is not a valid domain id; ENOSPC.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn alloc_unbound<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        dom: u16,
        remote_dom: u16,
    ) -> Result<u32>
    where
        EvtchnLock: LockAfter<P>,
    {
        if !self.is_self(dom) {
            return Err(Error::NoSuchDomain(dom));
        }
        let remote_dom = if self.is_self(remote_dom) {
            self.config.domid
        } else if remote_dom < DOMID_FIRST_RESERVED {
            remote_dom
        } else {
            return Err(Error::NoSuchDomain(remote_dom));
        };
        let nr = self.nr_ports();
        let (mut table, _t) = self.table.write(token);
        let port = table.free_port(nr)?;
        table.ports.set(
            port,
            Some(Port {
                vcpu: 0,
                binding: Binding::Unbound { remote_dom },
            }),
        );
        Ok(port)
    }

    /// `EVTCHNOP_bind_interdomain`: connects a new local port to `remote_port` of
    /// `remote_dom` (the guest itself: loopback; [`BACKEND_DOMID`]: a host port id). The new
    /// port is set pending, as Xen does, in case the remote end sent before the bind.
    ///
    /// # Errors
    /// ESRCH for another domain; EINVAL if the remote port is not unbound for us; ENOSPC.
    pub fn bind_interdomain<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        remote_dom: u16,
        remote_port: u32,
    ) -> Result<u32>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.bind_interdomain_in(&mut t, &snap, remote_dom, remote_port)
    }

    /// [`Evtchn::bind_interdomain`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::bind_interdomain`].
    pub fn bind_interdomain_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        remote_dom: u16,
        remote_port: u32,
    ) -> Result<u32>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        let nr = self.nr_ports();
        let loopback = self.is_self(remote_dom);
        if !loopback && remote_dom != BACKEND_DOMID {
            return Err(Error::NoSuchDomain(remote_dom));
        }
        let local = {
            let (mut table, _t) = self.table.write(token);
            let local = table.free_port(nr)?;
            if loopback {
                let r = table.port(remote_port, nr)?;
                if r.binding
                    != (Binding::Unbound {
                        remote_dom: self.config.domid,
                    })
                {
                    return Err(Error::InvalidPort(remote_port));
                }
                table.ports.set(
                    remote_port,
                    Some(Port {
                        vcpu: r.vcpu,
                        binding: Binding::Interdomain(Remote::Loopback(local)),
                    }),
                );
                table.ports.set(
                    local,
                    Some(Port {
                        vcpu: 0,
                        binding: Binding::Interdomain(Remote::Loopback(remote_port)),
                    }),
                );
            } else {
                let slot = table.host_slot(remote_port)?;
                if slot.guest_port.is_some() {
                    return Err(Error::InvalidPort(remote_port));
                }
                slot.guest_port = Some(local);
                table.ports.set(
                    local,
                    Some(Port {
                        vcpu: 0,
                        binding: Binding::Interdomain(Remote::Host(remote_port)),
                    }),
                );
            }
            local
        };
        let (table, mut t) = self.table.read(token);
        if table.ports.get(local).is_some() {
            self.deliver_port(&table, &mut t, snap, local)?;
        }
        Ok(local)
    }

    /// `EVTCHNOP_bind_virq`: binds `virq` on `vcpu`. Returns the port.
    ///
    /// # Errors
    /// EINVAL for a bad VIRQ or a global VIRQ on a vCPU other than 0; ENOENT for a bad vCPU;
    /// EEXIST if already bound; ENOSPC.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn bind_virq<P: Level>(&self, token: &mut Token<'_, P>, virq: u32, vcpu: u32) -> Result<u32>
    where
        EvtchnLock: LockAfter<P>,
    {
        if virq >= NR_VIRQS || (virq_is_global(virq) && vcpu != 0) {
            return Err(Error::InvalidVirq { virq, vcpu });
        }
        self.check_vcpu(vcpu)?;
        let nr = self.nr_ports();
        let (mut table, _t) = self.table.write(token);
        if table.virqs[vcpu as usize][virq as usize] != 0 {
            return Err(Error::AlreadyBound);
        }
        let port = table.free_port(nr)?;
        table.ports.set(
            port,
            Some(Port {
                vcpu,
                binding: Binding::Virq(virq),
            }),
        );
        table.virqs[vcpu as usize][virq as usize] = port;
        Ok(port)
    }

    /// `EVTCHNOP_bind_ipi`: a port that delivers to `vcpu` when the guest sends on it.
    ///
    /// # Errors
    /// ENOENT for a bad vCPU; ENOSPC.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn bind_ipi<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32) -> Result<u32>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_vcpu(vcpu)?;
        let nr = self.nr_ports();
        let (mut table, _t) = self.table.write(token);
        let port = table.free_port(nr)?;
        table.ports.set(
            port,
            Some(Port {
                vcpu,
                binding: Binding::Ipi,
            }),
        );
        Ok(port)
    }

    /// `EVTCHNOP_bind_pirq`: binds `pirq` (notified on vCPU 0). `flags` is accepted and
    /// ignored (`BIND_PIRQ__WILL_SHARE`).
    ///
    /// # Errors
    /// EINVAL for a PIRQ out of range; EEXIST if bound; ENOSPC.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn bind_pirq<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        pirq: u32,
        _flags: u32,
    ) -> Result<u32>
    where
        EvtchnLock: LockAfter<P>,
    {
        if pirq >= self.config.nr_pirqs {
            return Err(Error::InvalidPirq(pirq));
        }
        let nr = self.nr_ports();
        let (mut table, _t) = self.table.write(token);
        if table.pirqs[pirq as usize] != 0 {
            return Err(Error::AlreadyBound);
        }
        let port = table.free_port(nr)?;
        table.ports.set(
            port,
            Some(Port {
                vcpu: 0,
                binding: Binding::Pirq(pirq),
            }),
        );
        table.pirqs[pirq as usize] = port;
        Ok(port)
    }

    /// `EVTCHNOP_bind_vcpu`: changes the notified vCPU of an unbound, interdomain, PIRQ or
    /// global-VIRQ port.
    ///
    /// # Errors
    /// ENOENT for a bad vCPU; EINVAL for a bad port or an IPI / per-vCPU VIRQ port.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn bind_vcpu<P: Level>(&self, token: &mut Token<'_, P>, port: u32, vcpu: u32) -> Result<()>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_vcpu(vcpu)?;
        let nr = self.nr_ports();
        let (mut table, _t) = self.table.write(token);
        let p = table.port(port, nr)?;
        match p.binding {
            Binding::Virq(v) if !virq_is_global(v) => return Err(Error::WrongState(port)),
            Binding::Ipi => return Err(Error::WrongState(port)),
            _ => {}
        }
        table.ports.set(port, Some(Port { vcpu, ..p }));
        Ok(())
    }

    /// `EVTCHNOP_close`: frees `port`; an interdomain peer becomes unbound. The port's pending
    /// bit is cleared.
    ///
    /// # Errors
    /// EINVAL for a free, reserved or out-of-range port.
    pub fn close<P: Level>(&self, token: &mut Token<'_, P>, port: u32) -> Result<()>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.close_in(&mut t, &snap, port)
    }

    /// [`Evtchn::close`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::close`].
    pub fn close_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
    ) -> Result<()>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        let nr = self.nr_ports();
        let (mut table, mut t) = self.table.write(token);
        table.port(port, nr)?;
        table.close(port, self.config.domid)?;
        self.clear_pending(&mut t, snap, port);
        Ok(())
    }

    fn clear_pending(
        &self,
        token: &mut Token<'_, EvtchnLock>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
    ) {
        let w = self.pages.width();
        if self.fifo.is_active() {
            // FIFO:
            return self.fifo_clear_pending(token, snap, port);
        }
        self.take_deferred(port);
        // No shared_info: nothing to clear.
        let _ = self.pages.with_shared_info(token, snap, |sh, _| {
            sh.test_and_clear_bit(w, w.shinfo_evtchn_pending(), port)
        });
    }

    /// `EVTCHNOP_send`: IPI ports deliver to their vCPU, interdomain ports to the peer (a
    /// loopback port, or a host port's eventfd); sends on unbound ports are dropped.
    ///
    /// # Errors
    /// EINVAL for a bad port, or a VIRQ / PIRQ port.
    pub fn send<P: Level>(&self, token: &mut Token<'_, P>, port: u32) -> Result<Sent>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.send_in(&mut t, &snap, port)
    }

    /// [`Evtchn::send`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::send`].
    pub fn send_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
    ) -> Result<Sent>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        let nr = self.nr_ports();
        let (table, mut t) = self.table.read(token);
        let p = table.port(port, nr)?;
        match p.binding {
            Binding::Ipi => Ok(Sent::Guest(self.deliver_port(&table, &mut t, snap, port)?)),
            Binding::Interdomain(Remote::Loopback(other)) => {
                Ok(Sent::Guest(self.deliver_port(&table, &mut t, snap, other)?))
            }
            Binding::Interdomain(Remote::Host(id)) => {
                let slot = id
                    .checked_sub(1)
                    .and_then(|i| table.host.get(i as usize))
                    .and_then(|s| s.as_ref());
                if let Some(slot) = slot {
                    if let Err(e) = slot.eventfd.write(1) {
                        log::warn!("evtchn: host port {id} eventfd write failed: {e}");
                    }
                }
                Ok(Sent::Host(id))
            }
            Binding::Unbound { .. } => Ok(Sent::Dropped),
            Binding::Virq(_) | Binding::Pirq(_) => Err(Error::WrongState(port)),
        }
    }

    /// `EVTCHNOP_status` for `port` of `dom`.
    ///
    /// # Errors
    /// ESRCH if `dom` is not the guest; EINVAL for a port out of range.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn status<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        dom: u16,
        port: u32,
    ) -> Result<PortStatus>
    where
        EvtchnLock: LockAfter<P>,
    {
        if !self.is_self(dom) {
            return Err(Error::NoSuchDomain(dom));
        }
        if port >= self.nr_ports() {
            return Err(Error::InvalidPort(port));
        }
        let (table, _t) = self.table.read(token);
        let Some(p) = table.ports.get(port) else {
            return Ok(PortStatus {
                status: EVTCHNSTAT_CLOSED,
                vcpu: 0,
                u: [0, 0],
            });
        };
        let (status, u) = match p.binding {
            Binding::Unbound { remote_dom } => (EVTCHNSTAT_UNBOUND, [remote_dom as u32, 0]),
            Binding::Interdomain(Remote::Loopback(o)) => {
                (EVTCHNSTAT_INTERDOMAIN, [self.config.domid as u32, o])
            }
            Binding::Interdomain(Remote::Host(id)) => {
                (EVTCHNSTAT_INTERDOMAIN, [BACKEND_DOMID as u32, id])
            }
            Binding::Virq(v) => (EVTCHNSTAT_VIRQ, [v, 0]),
            Binding::Pirq(q) => (EVTCHNSTAT_PIRQ, [q, 0]),
            Binding::Ipi => (EVTCHNSTAT_IPI, [0, 0]),
        };
        Ok(PortStatus {
            status,
            vcpu: p.vcpu,
            u,
        })
    }

    /// `EVTCHNOP_unmask` (2-level, as Xen's `evtchn_2l_unmask`): clears the mask bit; if it
    /// was set and the port is pending, re-raises through the selector / upcall flag.
    ///
    /// # Errors
    /// EINVAL for a port out of range; page errors.
    pub fn unmask<P: Level>(&self, token: &mut Token<'_, P>, port: u32) -> Result<()>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.unmask_in(&mut t, &snap, port)
    }

    /// [`Evtchn::unmask`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::unmask`].
    pub fn unmask_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
    ) -> Result<()>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        let nr = self.nr_ports();
        if port >= nr {
            return Err(Error::InvalidPort(port));
        }
        let w = self.pages.width();
        let (table, mut t) = self.table.read(token);
        if self.fifo.is_active() {
            // FIFO:
            return self.fifo_unmask(&table, &mut t, snap, port);
        }
        let vcpu = table.ports.get(port).map_or(0, |p| p.vcpu);
        let pages = &self.pages;
        let raised = pages.with_shared_info(&mut t, snap, |sh, t0| -> Result<bool> {
            if !sh.test_and_clear_bit(w, w.shinfo_evtchn_mask(), port)?
                || !sh.test_bit(w, w.shinfo_evtchn_pending(), port)?
            {
                return Ok(false);
            }
            let r = pages.with_vcpu_info_in(Some(sh), t0, snap, vcpu, |vi| {
                Ok(!vi.test_and_set_pending_sel(port / w.long_bits())?
                    && !vi.test_and_set_upcall_pending()?)
            });
            match r {
                Err(xen_shinfo_cache::Error::NoVcpuInfo(_)) => Ok(false),
                r => Ok(r?),
            }
        });
        let raised = match raised {
            // No shared_info: no mask bits yet, nothing to re-raise.
            Err(xen_shinfo_cache::Error::Unset) => false,
            r => r??,
        };
        if raised {
            self.sink.raise(vcpu, table.upcall_kind(vcpu));
        }
        Ok(())
    }

    /// `EVTCHNOP_reset`: closes every port of the guest.
    ///
    /// # Errors
    /// ESRCH if `dom` is not the guest.
    pub fn reset<P: Level>(&self, token: &mut Token<'_, P>, dom: u16) -> Result<()>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.reset_in(&mut t, &snap, dom)
    }

    /// [`Evtchn::reset`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::reset`].
    pub fn reset_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        dom: u16,
    ) -> Result<()>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        if !self.is_self(dom) {
            return Err(Error::NoSuchDomain(dom));
        }
        let (mut table, mut t) = self.table.write(token);
        for port in 1..table.ports.stored() {
            if table.ports.get(port).is_some() {
                table.close(port, self.config.domid)?;
                self.clear_pending(&mut t, snap, port);
            }
        }
        // FIFO: back to the 2-level ABI, as Xen's reset.
        self.fifo_destroy(&mut t);
        Ok(())
    }

    /// `shared_info` was placed (after `XENMEM_add_to_physmap` of `XENMAPSPACE_shared_info`,
    /// once [`XenPages::set_shared_info_gfn`] was called): delivers, 2-level with the upcall,
    /// every event that was set pending while there was no `shared_info`
    /// ([`Delivery::Deferred`]). Returns how many ports were delivered. Does nothing if
    /// nothing was deferred or `shared_info` is still not placed.
    ///
    /// # Errors
    /// Page errors (EFAULT if the new `shared_info` is not RAM); the undelivered ports stay
    /// deferred.
    pub fn shared_info_mapped<P: Level>(&self, token: &mut Token<'_, P>) -> Result<u32>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.shared_info_mapped_in(&mut t, &snap)
    }

    /// [`Evtchn::shared_info_mapped`] inside the caller's memory-map read section: `snap` is
    /// the map and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::shared_info_mapped`].
    pub fn shared_info_mapped_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
    ) -> Result<u32>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        if self.deferred.iter().all(|w| w.load(Ordering::SeqCst) == 0) {
            return Ok(0);
        }
        // Write-locked: no delivery can defer a port while the shadow is flushed.
        let (table, mut t) = self.table.write(token);
        self.flush_deferred(&table, &mut t, snap)
    }

    /// Delivers the deferred ports; the caller holds the table write-locked.
    fn flush_deferred(
        &self,
        table: &Table,
        t: &mut Token<'_, EvtchnLock>,
        snap: &MemReadGuard<'_, M>,
    ) -> Result<u32> {
        let nr = self.nr_ports();
        let mut delivered = 0;
        for (i, word) in self.deferred.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::SeqCst);
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                let port = i as u32 * 64 + bit;
                // Closed meanwhile, or beyond the guest's port limit: nothing to deliver.
                if table.port(port, nr).is_err() {
                    continue;
                }
                match self.deliver_port(table, t, snap, port) {
                    Ok(Delivery::Deferred) => {}
                    Ok(_) => delivered += 1,
                    Err(e) => {
                        // Keep this port and the rest of the word for a later call.
                        word.fetch_or(bits | (1 << bit), Ordering::SeqCst);
                        return Err(e);
                    }
                }
            }
        }
        Ok(delivered)
    }

    /// `shared_info` is placed at guest frame `gfn` (`XENMEM_add_to_physmap` of
    /// `XENMAPSPACE_shared_info`), for the first time or moved from where it was.
    ///
    /// Atomic with respect to delivery: with the port table write-locked, so that no send,
    /// VIRQ, PIRQ, host send, unmask or close can write the page meanwhile, the old page is
    /// copied to `gfn` (a first placement starts zeroed; the same frame again is left as
    /// is), the `shared_info` cache of [`XenPages`] is retargeted, and the events deferred
    /// while there was no `shared_info` are delivered (as [`Evtchn::shared_info_mapped`]).
    /// After a move, every vCPU whose `evtchn_upcall_pending` is set on the new page gets its
    /// upcall raised again (its `vcpu_info` may live in the page that moved). No event sent
    /// concurrently from another thread is lost: it lands either in the old page before the
    /// copy or in the new one after the retarget.
    ///
    /// Use this instead of copying the page and calling [`XenPages::set_shared_info_gfn`]
    /// yourself: events delivered between those two steps would be lost. Returns how many
    /// deferred ports were delivered.
    ///
    /// # Errors
    /// EFAULT if the new frame is not RAM or its address overflows (then nothing changed);
    /// EFAULT for deferred ports that could not be delivered (they stay deferred).
    pub fn shared_info_moved<P: Level>(&self, token: &mut Token<'_, P>, gfn: u64) -> Result<u32>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.shared_info_moved_in(&mut t, &snap, gfn)
    }

    /// [`Evtchn::shared_info_moved`] inside the caller's memory-map read section: `snap` is
    /// the map and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::shared_info_moved`].
    pub fn shared_info_moved_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        gfn: u64,
    ) -> Result<u32>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        let gpa = gfn
            .checked_mul(PAGE_SIZE)
            .ok_or(xen_shinfo_cache::Error::AddressOverflow(gfn))?;
        // The new frame must be RAM before anything changes.
        MappedRange::new(&**snap, gpa, PAGE_SIZE as usize)?;
        // Write-locked: every delivery runs with the table read-locked, so none is between
        // the copy and the retarget below.
        let (table, mut t) = self.table.write(token);
        let old = self.pages.shared_info_gfn(&mut t);
        let moved = old.is_some_and(|o| o != gfn);
        if old != Some(gfn) {
            let mut page = [0u8; PAGE_SIZE as usize];
            if moved {
                // An old page that is no longer RAM leaves a zeroed one, as a first placement.
                let _ = self
                    .pages
                    .with_shared_info(&mut t, snap, |sh, _| sh.read_bytes(0, &mut page));
            }
            self.pages.set_shared_info_gfn(&mut t, Some(gfn))?;
            let written = self
                .pages
                .with_shared_info(&mut t, snap, |sh, _| sh.write_bytes(0, &page));
            if let Err(e) = written.map_err(Error::from).and_then(|r| Ok(r?)) {
                // Checked above; should the map have changed meanwhile, put the old one back.
                self.pages.set_shared_info_gfn(&mut t, old)?;
                return Err(e);
            }
        }
        let delivered = self.flush_deferred(&table, &mut t, snap)?;
        if moved {
            for vcpu in 0..self.max_vcpus {
                let pending = self
                    .pages
                    .with_vcpu_info(&mut t, snap, vcpu, |vi| vi.upcall_pending());
                if matches!(pending, Ok(true)) {
                    self.sink.raise(vcpu, table.upcall_kind(vcpu));
                }
            }
        }
        Ok(delivered)
    }

    // ---- host / VMM side ------------------------------------------------------------------

    /// Delivers `virq` for `vcpu` (e.g. `VIRQ_TIMER` on timer expiry). Global VIRQs ignore
    /// `vcpu` and go to the port's notify vCPU. Returns `None` if the VIRQ is not bound.
    ///
    /// # Errors
    /// EINVAL / ENOENT for a bad VIRQ or vCPU; page errors.
    pub fn raise_virq<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        virq: u32,
        vcpu: u32,
    ) -> Result<Option<Delivery>>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.raise_virq_in(&mut t, &snap, virq, vcpu)
    }

    /// [`Evtchn::raise_virq`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::raise_virq`].
    pub fn raise_virq_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        virq: u32,
        vcpu: u32,
    ) -> Result<Option<Delivery>>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        if virq >= NR_VIRQS {
            return Err(Error::InvalidVirq { virq, vcpu });
        }
        self.check_vcpu(vcpu)?;
        let row = if virq_is_global(virq) { 0 } else { vcpu };
        let (table, mut t) = self.table.read(token);
        let port = table.virqs[row as usize][virq as usize];
        if port == 0 {
            return Ok(None);
        }
        self.deliver_port(&table, &mut t, snap, port).map(Some)
    }

    /// Delivers `pirq`. Returns `None` if the PIRQ is not bound.
    ///
    /// # Errors
    /// EINVAL for a PIRQ out of range; page errors.
    pub fn raise_pirq<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        pirq: u32,
    ) -> Result<Option<Delivery>>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.raise_pirq_in(&mut t, &snap, pirq)
    }

    /// [`Evtchn::raise_pirq`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::raise_pirq`].
    pub fn raise_pirq_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        pirq: u32,
    ) -> Result<Option<Delivery>>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        if pirq >= self.config.nr_pirqs {
            return Err(Error::InvalidPirq(pirq));
        }
        let (table, mut t) = self.table.read(token);
        let port = table.pirqs[pirq as usize];
        if port == 0 {
            return Ok(None);
        }
        self.deliver_port(&table, &mut t, snap, port).map(Some)
    }

    /// A backend allocates an unbound host port; the guest connects with
    /// `bind_interdomain(BACKEND_DOMID, id)`.
    ///
    /// # Errors
    /// ENOSPC when [`MAX_HOST_PORTS`] are in use; ENOMEM if no eventfd can be made.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn host_alloc_unbound<P: Level>(&self, token: &mut Token<'_, P>) -> Result<HostPort>
    where
        EvtchnLock: LockAfter<P>,
    {
        let (mut table, _t) = self.table.write(token);
        table.new_host_slot(None)
    }

    /// A backend binds to `guest_port`, which the guest allocated with
    /// `alloc_unbound(DOMID_SELF, BACKEND_DOMID)`. As in Xen, the binding side's own end is
    /// notified (in case the guest sent while the port was unbound): the new host port's
    /// eventfd is signalled once; the guest port is not set pending. Works whether or not
    /// `shared_info` is placed.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    ///
    /// # Errors
    /// EINVAL if the guest port is not unbound for the backend domain; ENOSPC / ENOMEM as
    /// [`Evtchn::host_alloc_unbound`].
    pub fn host_bind<P: Level>(&self, token: &mut Token<'_, P>, guest_port: u32) -> Result<HostPort>
    where
        EvtchnLock: LockAfter<P>,
    {
        let nr = self.nr_ports();
        let (mut table, _t) = self.table.write(token);
        let p = table.port(guest_port, nr)?;
        if p.binding
            != (Binding::Unbound {
                remote_dom: BACKEND_DOMID,
            })
        {
            return Err(Error::InvalidPort(guest_port));
        }
        let hp = table.new_host_slot(Some(guest_port))?;
        table.ports.set(
            guest_port,
            Some(Port {
                vcpu: p.vcpu,
                binding: Binding::Interdomain(Remote::Host(hp.id)),
            }),
        );
        if let Err(e) = hp.eventfd.write(1) {
            log::warn!("evtchn: host port {} eventfd write failed: {e}", hp.id);
        }
        Ok(hp)
    }

    /// A backend notifies the guest through host port `id`. Dropped (Ok, `None`) if the
    /// host port is not connected.
    ///
    /// # Errors
    /// EINVAL for an unknown id; page errors.
    #[inline]
    pub fn host_send<P: Level>(&self, token: &mut Token<'_, P>, id: u32) -> Result<Option<Delivery>>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.host_send_in(&mut t, &snap, id)
    }

    /// [`Evtchn::host_send`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::host_send`].
    #[inline]
    pub fn host_send_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        id: u32,
    ) -> Result<Option<Delivery>>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        let (table, mut t) = self.table.read(token);
        let Some(slot) = id
            .checked_sub(1)
            .and_then(|i| table.host.get(i as usize))
            .and_then(|s| s.as_ref())
        else {
            return Err(Error::InvalidHostPort(id));
        };
        match slot.guest_port {
            Some(port) => self.deliver_port(&table, &mut t, snap, port).map(Some),
            None => Ok(None),
        }
    }

    /// A backend closes host port `id`; the connected guest port becomes unbound.
    ///
    /// # Errors
    /// EINVAL for an unknown id.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn host_close<P: Level>(&self, token: &mut Token<'_, P>, id: u32) -> Result<()>
    where
        EvtchnLock: LockAfter<P>,
    {
        let (mut table, _t) = self.table.write(token);
        let slot = table.host_slot(id)?;
        if let Some(gp) = slot.guest_port {
            if let Some(p) = table.ports.get_mut(gp).and_then(|o| o.as_mut()) {
                p.binding = Binding::Unbound {
                    remote_dom: BACKEND_DOMID,
                };
            }
        }
        table.host[id as usize - 1] = None;
        Ok(())
    }

    /// A new handle (its eventfd shares the counter) for host port `id`, e.g. after restore.
    ///
    /// # Errors
    /// EINVAL for an unknown id; ENOMEM if the eventfd cannot be duplicated.
    ///
    /// Needs no read section: callable inside one (level up to `MemRead`).
    pub fn host_port<P: Level>(&self, token: &mut Token<'_, P>, id: u32) -> Result<HostPort>
    where
        EvtchnLock: LockAfter<P>,
    {
        let (mut table, _t) = self.table.write(token);
        let slot = table.host_slot(id)?;
        Ok(HostPort {
            id,
            eventfd: slot.eventfd.try_clone().map_err(Error::EventFd)?,
        })
    }

    /// Sets the VM-wide callback (`HVM_PARAM_CALLBACK_IRQ`).
    pub fn set_callback<P: Level>(&self, token: &mut Token<'_, P>, via: CallbackVia)
    where
        EvtchnLock: LockAfter<P>,
    {
        let (mut table, _t) = self.table.write(token);
        table.callback = via;
    }

    /// Sets `vcpu`'s own upcall vector (`HVMOP_set_evtchn_upcall_vector`); 0 clears it.
    ///
    /// # Errors
    /// ENOENT for a bad vCPU; EINVAL for a vector in 1..0x10.
    pub fn set_vcpu_upcall_vector<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        vector: u8,
    ) -> Result<()>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_vcpu(vcpu)?;
        if vector != 0 && vector < 0x10 {
            return Err(Error::InvalidArgument("upcall vector below 0x10"));
        }
        let (mut table, _t) = self.table.write(token);
        table.vcpu_vectors[vcpu as usize] = vector;
        Ok(())
    }

    /// The upcall `vcpu` would get now.
    pub fn upcall_kind<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32) -> UpcallKind
    where
        EvtchnLock: LockAfter<P>,
    {
        let (table, _t) = self.table.read(token);
        table.upcall_kind(vcpu)
    }

    /// After `vcpu_info` moved (`VCPUOP_register_vcpu_info`): marks every selector bit and the
    /// upcall flag pending, so no event is lost (the guest gets a spurious scan), as Xen does.
    ///
    /// # Errors
    /// ENOENT for a bad vCPU; page errors.
    pub fn vcpu_info_moved<P: Level>(&self, token: &mut Token<'_, P>, vcpu: u32) -> Result<()>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.vcpu_info_moved_in(&mut t, &snap, vcpu)
    }

    /// [`Evtchn::vcpu_info_moved`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::vcpu_info_moved`].
    pub fn vcpu_info_moved_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        vcpu: u32,
    ) -> Result<()>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        self.check_vcpu(vcpu)?;
        let (table, mut t) = self.table.read(token);
        let raised = self.pages.with_vcpu_info(&mut t, snap, vcpu, |vi| {
            vi.set_all_pending_sel()?;
            Ok(!vi.test_and_set_upcall_pending()?)
        })?;
        if raised {
            self.sink.raise(vcpu, table.upcall_kind(vcpu));
        }
        Ok(())
    }

    /// Whether `port`'s pending bit is set in `shared_info` (before `shared_info` is placed:
    /// in the host-side shadow, see [`Delivery::Deferred`]).
    ///
    /// # Errors
    /// EINVAL for a port out of range; page errors.
    pub fn is_pending<P: Level>(&self, token: &mut Token<'_, P>, port: u32) -> Result<bool>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.is_pending_in(&mut t, &snap, port)
    }

    /// [`Evtchn::is_pending`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::is_pending`].
    pub fn is_pending_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        port: u32,
    ) -> Result<bool>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        if port >= self.nr_ports() {
            return Err(Error::InvalidPort(port));
        }
        let w = self.pages.width();
        let (_table, mut t) = self.table.read(token);
        if self.fifo.is_active() {
            // FIFO:
            return Ok(self.fifo_is_pending(&mut t, snap, port));
        }
        match self.pages.with_shared_info(&mut t, snap, |sh, _| {
            sh.test_bit(w, w.shinfo_evtchn_pending(), port)
        }) {
            // No shared_info yet: the host-side shadow holds the pending bits.
            Err(xen_shinfo_cache::Error::Unset) => Ok(self.is_deferred(port)),
            r => Ok(r??),
        }
    }

    /// `SCHEDOP_poll`, first half: `vcpu` starts waiting on `ports`. Returns `true` if it must
    /// not block (a port is already pending, or an upcall is pending and unmasked); then call
    /// [`Evtchn::poll_end`] at once. Otherwise block the vCPU until
    /// [`UpcallSink::poll_wake`] / [`UpcallSink::raise`] or the timeout, then call
    /// [`Evtchn::poll_end`]. A port becoming pending after this call always wakes the vCPU.
    ///
    /// # Errors
    /// ENOENT for a bad vCPU; EINVAL for more than 128 ports or a port out of range.
    pub fn poll_begin<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        vcpu: u32,
        ports: &[u32],
    ) -> Result<bool>
    where
        MemRead: LockAfter<P>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.poll_begin_in(&mut t, &snap, vcpu, ports)
    }

    /// [`Evtchn::poll_begin`] inside the caller's memory-map read section: `snap` is the map
    /// and `token` the section's `MemRead` token (or any level before `EvtchnLock`).
    ///
    /// # Errors
    /// As [`Evtchn::poll_begin`].
    pub fn poll_begin_in<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        vcpu: u32,
        ports: &[u32],
    ) -> Result<bool>
    where
        EvtchnLock: LockAfter<P>,
    {
        self.check_section(snap)?;
        self.check_vcpu(vcpu)?;
        if ports.len() > MAX_POLL_PORTS {
            return Err(Error::InvalidArgument("more than 128 poll ports"));
        }
        let nr = self.nr_ports();
        if let Some(&bad) = ports.iter().find(|&&p| p >= nr) {
            return Err(Error::InvalidPort(bad));
        }
        let slot = &self.polls[vcpu as usize];
        if slot.begin(ports) {
            self.pollers.fetch_add(1, Ordering::SeqCst);
        }
        let w = self.pages.width();
        let (_table, mut t) = self.table.read(token);
        if self.fifo.is_active() && ports.iter().any(|&p| self.fifo_is_pending(&mut t, snap, p)) {
            // FIFO:
            return Ok(true);
        }
        let ready = self
            .pages
            .with_shared_info(&mut t, snap, |sh, t0| -> Result<bool> {
                // FIFO: 2-level bits left from before the switch do not count.
                for &p in ports.iter().filter(|_| !self.fifo.is_active()) {
                    if sh.test_bit(w, w.shinfo_evtchn_pending(), p)? {
                        return Ok(true);
                    }
                }
                let r = self
                    .pages
                    .with_vcpu_info_in(Some(sh), t0, snap, vcpu, |vi| {
                        Ok(vi.upcall_pending()? && !vi.upcall_mask()?)
                    });
                match r {
                    Err(xen_shinfo_cache::Error::NoVcpuInfo(_)) => Ok(false),
                    r => Ok(r?),
                }
            });
        match ready {
            Ok(r) => r,
            // No shared_info: only the host-side shadow can hold pending ports.
            Err(xen_shinfo_cache::Error::Unset) => Ok(ports.iter().any(|&p| self.is_deferred(p))),
            Err(e) => {
                self.poll_end(vcpu);
                Err(e.into())
            }
        }
    }

    /// `SCHEDOP_poll`, second half: `vcpu` stops waiting.
    pub fn poll_end(&self, vcpu: u32) {
        if let Some(slot) = self.polls.get(vcpu as usize) {
            if slot.end() {
                self.pollers.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    // ---- snapshot ---------------------------------------------------------------------------

    /// The plain state, for snapshots.
    pub fn state<P: Level>(&self, token: &mut Token<'_, P>) -> EvtchnState
    where
        EvtchnLock: LockAfter<P>,
    {
        let (table, mut t) = self.table.read(token);
        EvtchnState {
            // FIFO:
            fifo: self.fifo_state(&mut t),
            domid: self.config.domid,
            max_vcpus: self.max_vcpus,
            nr_pirqs: self.config.nr_pirqs,
            ports: table
                .ports
                .non_default()
                .filter_map(|(port, p)| {
                    p.map(|p| PortState {
                        port,
                        vcpu: p.vcpu,
                        binding: p.binding,
                    })
                })
                .collect(),
            host_ports: table
                .host
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.as_ref().map(|s| HostPortState {
                        id: i as u32 + 1,
                        guest_port: s.guest_port,
                    })
                })
                .collect(),
            callback: table.callback,
            vcpu_vectors: table.vcpu_vectors.clone(),
            // Read with the table locked: a port is deferred with the table read-locked and
            // flushed with it write-locked, so this is a consistent view of the shadow
            // for the ports above (barring sends racing this call, which the VMM quiesces).
            deferred: self
                .deferred
                .iter()
                .enumerate()
                .flat_map(|(i, w)| {
                    set_bits(w.load(Ordering::SeqCst)).map(move |b| i as u32 * 64 + b)
                })
                .collect(),
        }
    }

    /// Rebuilds event channels from `state`. Host ports get new eventfds: backends fetch
    /// them with [`Evtchn::host_port`]. Pending bits live in guest memory and need no restore,
    /// except the deferred ports (`state.deferred`, sent before `shared_info` was placed),
    /// which go back into the host-side shadow: call [`Evtchn::shared_info_mapped`] after the
    /// restore to deliver them at once if `pages` has `shared_info` placed; otherwise they are
    /// delivered when the guest places it.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the state is inconsistent (ports out of range, duplicates,
    /// vCPUs / VIRQs / PIRQs out of range or bound twice, interdomain peers that do not match,
    /// deferred ports that are not allocated).
    pub fn from_state(
        state: &EvtchnState,
        mem: MemoryMap<M>,
        pages: Arc<XenPages<M>>,
        sink: S,
    ) -> Result<Self> {
        let bad = |m: String| Err(Error::InvalidState(m));
        if state.max_vcpus != pages.max_vcpus() {
            return bad(format!(
                "{} vCPUs in state, {} in pages",
                state.max_vcpus,
                pages.max_vcpus()
            ));
        }
        if state.nr_pirqs > 1 << 20 {
            return bad("nr_pirqs too large".into());
        }
        if state.vcpu_vectors.len() != state.max_vcpus as usize {
            return bad("vcpu_vectors length".into());
        }
        if state.vcpu_vectors.iter().any(|&v| v != 0 && v < 0x10) {
            return bad("upcall vector below 0x10".into());
        }
        let config = EvtchnConfig {
            domid: state.domid,
            nr_pirqs: state.nr_pirqs,
        };
        let mut table = Table::new(state.max_vcpus, state.nr_pirqs);
        // FIFO: up to 2^17 ports.
        let fifo = fifo::Fifo::from_state(state.fifo.as_ref(), state.max_vcpus)?;
        let max_ports = if state.fifo.is_some() {
            xen_abi::EVTCHN_FIFO_NR_CHANNELS
        } else {
            MAX_PORTS
        };
        table.callback = state.callback;
        table.vcpu_vectors = state.vcpu_vectors.clone();
        for h in &state.host_ports {
            if h.id == 0 || h.id > MAX_HOST_PORTS {
                return bad(format!("host port id {}", h.id));
            }
            let idx = h.id as usize - 1;
            if table.host.len() <= idx {
                table.host.resize_with(idx + 1, || None);
            }
            if table.host[idx].is_some() {
                return bad(format!("host port {} twice", h.id));
            }
            table.host[idx] = Some(HostSlot {
                guest_port: h.guest_port,
                eventfd: EventFd::new(EFD_NONBLOCK).map_err(Error::EventFd)?,
            });
        }
        for p in &state.ports {
            if p.port == 0 || p.port >= max_ports {
                return bad(format!("port {} out of range", p.port));
            }
            if p.vcpu >= state.max_vcpus {
                return bad(format!("port {} on vCPU {}", p.port, p.vcpu));
            }
            if table.ports.get(p.port).is_some() {
                return bad(format!("port {} twice", p.port));
            }
            match p.binding {
                Binding::Virq(v) => {
                    if v >= NR_VIRQS {
                        return bad(format!("VIRQ {v}"));
                    }
                    // Global VIRQs are recorded in vCPU 0's row whatever their notify vCPU.
                    let row = if virq_is_global(v) { 0 } else { p.vcpu };
                    let slot = &mut table.virqs[row as usize][v as usize];
                    if *slot != 0 {
                        return bad(format!("VIRQ {v} bound twice"));
                    }
                    *slot = p.port;
                }
                Binding::Pirq(q) => {
                    let Some(slot) = table.pirqs.get_mut(q as usize) else {
                        return bad(format!("PIRQ {q}"));
                    };
                    if *slot != 0 {
                        return bad(format!("PIRQ {q} bound twice"));
                    }
                    *slot = p.port;
                }
                Binding::Unbound { remote_dom } => {
                    if remote_dom >= DOMID_FIRST_RESERVED {
                        return bad(format!("remote domain {remote_dom}"));
                    }
                }
                Binding::Ipi | Binding::Interdomain(_) => {}
            }
            table.ports.set(
                p.port,
                Some(Port {
                    vcpu: p.vcpu,
                    binding: p.binding,
                }),
            );
        }
        // Interdomain peers must point at each other.
        for p in &state.ports {
            match p.binding {
                Binding::Interdomain(Remote::Loopback(o)) => {
                    let back = table.ports.get(o);
                    if o == p.port
                        || back.map(|b| b.binding)
                            != Some(Binding::Interdomain(Remote::Loopback(p.port)))
                    {
                        return bad(format!("loopback port {} -> {o} not mutual", p.port));
                    }
                }
                Binding::Interdomain(Remote::Host(id)) => {
                    let ok = id
                        .checked_sub(1)
                        .and_then(|i| table.host.get(i as usize))
                        .and_then(|s| s.as_ref())
                        .is_some_and(|s| s.guest_port == Some(p.port));
                    if !ok {
                        return bad(format!("port {} -> host {id} not mutual", p.port));
                    }
                }
                _ => {}
            }
        }
        for (i, h) in table.host.iter().enumerate() {
            if let Some(gp) = h.as_ref().and_then(|h| h.guest_port) {
                let ok = table
                    .ports
                    .get(gp)
                    .is_some_and(|p| p.binding == Binding::Interdomain(Remote::Host(i as u32 + 1)));
                if !ok {
                    return bad(format!("host port {} -> {gp} not mutual", i + 1));
                }
            }
        }
        let deferred = new_deferred();
        for &p in &state.deferred {
            if p == 0 || p >= MAX_PORTS || table.ports.get(p).is_none() {
                return bad(format!("deferred port {p} is not allocated"));
            }
            let (word, bit) = (&deferred[(p / 64) as usize], 1u64 << (p % 64));
            if word.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
                return bad(format!("deferred port {p} twice"));
            }
        }
        let max_vcpus = state.max_vcpus;
        Ok(Evtchn {
            config,
            max_vcpus,
            mem,
            pages,
            sink,
            table: OrderedRwLock::new(table),
            polls: (0..max_vcpus).map(|_| PollSlot::default()).collect(),
            pollers: AtomicU32::new(0),
            deferred,
            fifo,
        })
    }
}
