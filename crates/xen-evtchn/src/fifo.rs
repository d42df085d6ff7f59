// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! FIFO event channels (`EVTCHNOP_init_control`, `expand_array`, `set_priority`), as Xen's
//! `event_fifo.c` does them.
//!
//! Guest memory: one control block per vCPU (`ready` bits and the `head` of each of the 16
//! priority queues) and an event array of up to 128 pages of 1024 32-bit event words (P
//! pending, M masked, L linked, B busy, LINK = the next port on the queue). The hypervisor
//! side remembers the tail of each queue; it links a newly pending, unmasked, unlinked
//! event behind the tail (compare-exchange on the tail word, which must still be LINKED;
//! BUSY keeps the guest from unmasking it meanwhile) or, if the queue was empty, writes the
//! queue's `head`, sets the queue's `ready` bit and, if that was clear, `evtchn_upcall_pending`
//! (and raises the upcall through the [`crate::UpcallSink`] if that was clear too).
//!
//! Locking: the FIFO state (tails, priorities, page mappings) is behind one mutex at level
//! `PageCache<0>`, taken inside the port table's lock (`EvtchnLock`) (read-locked for deliveries, as the
//! 2-level path, write-locked for `init_control` / `expand_array`) and released before the
//! `vcpu_info` is touched. Event words and control blocks are only changed with atomics, as
//! the guest changes them concurrently.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use vm_lock::{
    EvtchnLock, Level, LockAfter, MemRead, MemReadGuard, OrderedMutex, PageCache, Token,
};
use xen_abi::{
    EvtchnFifoControlBlock, EVTCHN_FIFO_BUSY, EVTCHN_FIFO_LINKED, EVTCHN_FIFO_LINK_BITS,
    EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_MASKED, EVTCHN_FIFO_MAX_QUEUES, EVTCHN_FIFO_NR_CHANNELS,
    EVTCHN_FIFO_PENDING, EVTCHN_FIFO_PRIORITY_DEFAULT, EVTCHN_FIFO_PRIORITY_MIN,
};
use xen_shinfo_cache::{MappedRange, RegionArcs, WidthLayout};

use super::{Delivery, Evtchn, Table, MAX_PORTS};
use crate::error::{Error, Result};
use crate::port_map::PortMap;
use crate::state::FifoState;
use crate::upcall::UpcallSink;

/// Event words per event-array page.
pub const EVENT_WORDS_PER_PAGE: u32 = 1024;
/// Most event-array pages (2^17 ports).
pub const MAX_EVENT_ARRAY_PAGES: u32 = EVTCHN_FIFO_NR_CHANNELS / EVENT_WORDS_PER_PAGE;
const PAGE_SIZE: u64 = 4096;
const CB_SIZE: usize = std::mem::size_of::<EvtchnFifoControlBlock>();
const QUEUES: usize = EVTCHN_FIFO_MAX_QUEUES as usize;
const P: u32 = 1 << EVTCHN_FIFO_PENDING;
const M: u32 = 1 << EVTCHN_FIFO_MASKED;
const L: u32 = 1 << EVTCHN_FIFO_LINKED;
const B: u32 = 1 << EVTCHN_FIFO_BUSY;

/// One vCPU's FIFO state.
#[derive(Debug)]
struct VcpuFifo<R> {
    /// Control block `(gfn, offset)`.
    control: Option<(u64, u32)>,
    /// Its mapping (`None` if the frame is no longer RAM).
    map: Option<MappedRange<R>>,
    /// Per priority: the last port linked (0: the queue is empty).
    tails: [u32; QUEUES],
}

impl<R> Default for VcpuFifo<R> {
    fn default() -> Self {
        VcpuFifo {
            control: None,
            map: None,
            tails: [0; QUEUES],
        }
    }
}

/// The FIFO state behind the mutex.
#[derive(Debug)]
pub(super) struct FifoInner<R> {
    vcpus: Vec<VcpuFifo<R>>,
    /// Event-array frames, in port order.
    array: Vec<u64>,
    /// Their mappings.
    array_maps: Vec<Option<MappedRange<R>>>,
    /// Memory-map generation the mappings were built at (`None`: not built yet).
    mapped_at: Option<u64>,
    /// Per port: its priority (no ports while 2-level).
    priority: PortMap<u8>,
    /// Per port: the queue it was last linked on, `vcpu << 4 | priority`.
    lastq: PortMap<u32>,
    /// Per port: pending while it had no event word (Xen's `evtchn->pending`).
    saved: PortMap<bool>,
}

impl<R> FifoInner<R> {
    fn empty() -> Self {
        FifoInner {
            vcpus: Vec::new(),
            array: Vec::new(),
            array_maps: Vec::new(),
            mapped_at: None,
            priority: PortMap::new(EVTCHN_FIFO_PRIORITY_DEFAULT as u8, 0),
            lastq: PortMap::new(default_lastq(), 0),
            saved: PortMap::new(false, 0),
        }
    }
}

/// The FIFO part of [`Evtchn`]: whether the guest switched, and the state.
#[derive(Debug)]
pub(super) struct Fifo<R> {
    /// Set (and cleared) with the port table write-locked.
    active: AtomicBool,
    inner: OrderedMutex<PageCache<0>, FifoInner<R>>,
}

impl<R> Fifo<R> {
    pub(super) fn new() -> Self {
        Fifo {
            active: AtomicBool::new(false),
            inner: OrderedMutex::new(FifoInner::empty()),
        }
    }

    /// Whether the guest uses the FIFO ABI (stable while the port table is locked).
    pub(super) fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }
}

fn default_lastq() -> u32 {
    EVTCHN_FIFO_PRIORITY_DEFAULT
}

impl<R: vm_memory::GuestMemoryRegion> FifoInner<R> {
    fn reset_to(&mut self, max_vcpus: u32) {
        *self = FifoInner::empty();
        self.vcpus = (0..max_vcpus).map(|_| VcpuFifo::default()).collect();
        let n = EVTCHN_FIFO_NR_CHANNELS;
        self.priority = PortMap::new(EVTCHN_FIFO_PRIORITY_DEFAULT as u8, n);
        self.lastq = PortMap::new(default_lastq(), n);
        self.saved = PortMap::new(false, n);
    }

    /// Rebuilds the mappings if the memory map changed (a frame that is no longer RAM
    /// loses its mapping: its events are kept as if it had no page).
    fn revalidate<M2: RegionArcs<R = R>>(&mut self, snap: &MemReadGuard<'_, M2>) {
        if self.mapped_at.is_some_and(|g| g >= snap.generation()) {
            return;
        }
        self.mapped_at = Some(snap.generation());
        for (gfn, map) in self.array.iter().zip(self.array_maps.iter_mut()) {
            *map = MappedRange::new(&**snap, gfn * PAGE_SIZE, PAGE_SIZE as usize).ok();
        }
        for v in &mut self.vcpus {
            v.map = v
                .control
                .and_then(|(gfn, off)| map_cb(&**snap, gfn, off).ok());
        }
    }

    fn word(&self, port: u32) -> Option<&AtomicU32> {
        word_in(&self.array_maps, port)
    }

    fn set_saved(&mut self, port: u32, on: bool) -> bool {
        self.saved.set(port, on)
    }

    fn is_saved(&self, port: u32) -> bool {
        self.saved.get(port)
    }

    /// Xen's `evtchn_fifo_set_pending` up to (and including) the `ready` bit.
    fn set_pending(&mut self, port: u32, vcpu: u32) -> Outcome {
        let Some(word) = word_in(&self.array_maps, port) else {
            let was = self.saved.set(port, true);
            return Outcome {
                was_pending: was,
                how: How::NoWord,
            };
        };
        let prio = self.priority.get(port) as u32;
        let was_pending = word.fetch_or(P, Ordering::SeqCst) & P != 0;
        let out = |how| Outcome { was_pending, how };
        if self
            .vcpus
            .get(vcpu as usize)
            .is_none_or(|v| v.map.is_none())
        {
            // As Xen: the guest must not unmask before its control block exists.
            return out(How::NoControlBlock);
        }
        if word.load(Ordering::SeqCst) & M != 0 {
            return out(How::Masked);
        }
        if word.fetch_or(L, Ordering::SeqCst) & L != 0 {
            return out(How::AlreadyLinked);
        }
        // If this event was the tail of the queue it was last linked on, that queue is
        // empty now: forget the tail, or linking to it would corrupt the new queue.
        let old = self.lastq.get(port);
        let (old_v, old_p) = ((old >> 4) as usize, (old & 0xf) as usize);
        if let Some(t) = self.vcpus.get_mut(old_v).map(|v| &mut v.tails[old_p]) {
            if *t == port {
                *t = 0;
            }
        }
        self.lastq.set(port, vcpu << 4 | prio);
        let v = &mut self.vcpus[vcpu as usize];
        let tail = v.tails[prio as usize];
        let linked =
            tail != 0 && word_in(&self.array_maps, tail).is_some_and(|tw| set_link(tw, port));
        v.tails[prio as usize] = port;
        if linked {
            return out(How::LinkedBehind);
        }
        let Some(cb) = v.map.as_ref() else {
            return out(How::NoControlBlock);
        };
        // The queue was empty: the event is its new head.
        let _ = cb
            .atomic_u32(8 + 4 * prio as usize)
            .map(|h| h.store(port, Ordering::SeqCst));
        let ready_was = cb
            .atomic_u32(0)
            .map(|r| r.fetch_or(1 << prio, Ordering::SeqCst) & (1 << prio) != 0)
            .unwrap_or(true);
        out(How::LinkedHead { ready_was })
    }
}

fn word_in<R: vm_memory::GuestMemoryRegion>(
    maps: &[Option<MappedRange<R>>],
    port: u32,
) -> Option<&AtomicU32> {
    let page = (port / EVENT_WORDS_PER_PAGE) as usize;
    let off = (port % EVENT_WORDS_PER_PAGE) as usize * 4;
    maps.get(page)?.as_ref()?.atomic_u32(off).ok()
}

/// The control block of `(gfn, offset)`, mapped.
fn map_cb<M2: RegionArcs>(mem: &M2, gfn: u64, offset: u32) -> Result<MappedRange<M2::R>> {
    let gpa = gfn
        .checked_mul(PAGE_SIZE)
        .and_then(|g| g.checked_add(offset as u64))
        .ok_or(Error::InvalidArgument("control block frame out of range"))?;
    MappedRange::new(mem, gpa, CB_SIZE)
        .map_err(|_| Error::InvalidArgument("control block frame is not RAM"))
}

/// Xen's `try_set_link`: LINK := `link` (clearing BUSY) iff the word is still LINKED.
/// `Some(true)`: linked; `Some(false)`: not linked (the guest unlinked it); `None`: the word
/// changed under us.
fn try_set_link(word: &AtomicU32, w: &mut u32, link: u32) -> Option<bool> {
    if *w & L == 0 {
        return Some(false);
    }
    let new = (*w & !(B | EVTCHN_FIFO_LINK_MASK)) | link;
    match word.compare_exchange(*w, new, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => Some(true),
        Err(cur) => {
            *w = cur;
            None
        }
    }
}

/// Xen's `evtchn_fifo_set_link`: bounded, whatever the guest writes to the word meanwhile.
fn set_link(word: &AtomicU32, link: u32) -> bool {
    let mut w = word.load(Ordering::SeqCst);
    if let Some(r) = try_set_link(word, &mut w, link) {
        return r;
    }
    // BUSY keeps a well-behaved guest from unmasking: at most 4 more changes (clear P, set
    // M, clear M, clear L) can make the exchange fail.
    word.fetch_or(B, Ordering::SeqCst);
    w = word.load(Ordering::SeqCst);
    for _ in 0..4 {
        if let Some(r) = try_set_link(word, &mut w, link) {
            if !r {
                word.fetch_and(!B, Ordering::SeqCst);
            }
            return r;
        }
    }
    log::warn!("evtchn fifo: port {link} not linked (event word keeps changing)");
    word.fetch_and(!B, Ordering::SeqCst);
    true
}

#[derive(Debug, Clone, Copy)]
enum How {
    NoWord,
    NoControlBlock,
    Masked,
    AlreadyLinked,
    LinkedBehind,
    LinkedHead { ready_was: bool },
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    was_pending: bool,
    how: How,
}

impl<Mm, S> Evtchn<Mm, S>
where
    Mm: RegionArcs + vm_memory::GuestMemory,
    S: UpcallSink,
{
    /// FIFO delivery of `port` to `vcpu` (the table is locked by the caller). Wakes pollers;
    /// the caller raises the upcall on [`Delivery::Raised`].
    pub(super) fn fifo_deliver<P0: Level>(
        &self,
        token: &mut Token<'_, P0>,
        snap: &MemReadGuard<'_, Mm>,
        port: u32,
        vcpu: u32,
    ) -> Result<Delivery>
    where
        PageCache<0>: LockAfter<P0>,
        PageCache<1>: LockAfter<P0>,
    {
        let out = {
            let (mut f, _t) = self.fifo.inner.lock(token);
            f.revalidate(snap);
            f.set_pending(port, vcpu)
        };
        if !out.was_pending {
            self.wake_pollers(port);
        }
        Ok(match out.how {
            How::NoWord if out.was_pending => Delivery::AlreadyPending,
            How::NoWord => Delivery::Deferred,
            How::NoControlBlock => Delivery::NoControlBlock,
            How::Masked | How::AlreadyLinked if out.was_pending => Delivery::AlreadyPending,
            How::Masked => Delivery::Masked,
            How::AlreadyLinked | How::LinkedBehind => Delivery::Coalesced,
            How::LinkedHead { ready_was: true } => Delivery::Coalesced,
            How::LinkedHead { ready_was: false } => {
                let r = self
                    .pages
                    .with_vcpu_info(token, snap, vcpu, |vi| vi.test_and_set_upcall_pending());
                match r {
                    Ok(false) => Delivery::Raised,
                    Ok(true) => Delivery::Coalesced,
                    Err(xen_shinfo_cache::Error::NoVcpuInfo(_))
                    | Err(xen_shinfo_cache::Error::Unset) => Delivery::NoVcpuInfo,
                    Err(e) => return Err(e.into()),
                }
            }
        })
    }

    /// FIFO `clear_pending` (close): clears P (the guest unlinks the event itself).
    pub(super) fn fifo_clear_pending<P0: Level>(
        &self,
        token: &mut Token<'_, P0>,
        snap: &MemReadGuard<'_, Mm>,
        port: u32,
    ) where
        PageCache<0>: LockAfter<P0>,
    {
        let (mut f, _t) = self.fifo.inner.lock(token);
        f.revalidate(snap);
        f.set_saved(port, false);
        if let Some(w) = f.word(port) {
            w.fetch_and(!P, Ordering::SeqCst);
        }
        f.priority.set(port, EVTCHN_FIFO_PRIORITY_DEFAULT as u8);
    }

    /// FIFO unmask: clears M and, if the event is pending, sets it pending again (links it).
    pub(super) fn fifo_unmask(
        &self,
        table: &Table,
        token: &mut Token<'_, EvtchnLock>,
        snap: &MemReadGuard<'_, Mm>,
        port: u32,
    ) -> Result<()> {
        let pending = {
            let (mut f, _t) = self.fifo.inner.lock(token);
            f.revalidate(snap);
            match f.word(port) {
                None => false,
                Some(w) => {
                    w.fetch_and(!M, Ordering::SeqCst);
                    w.load(Ordering::SeqCst) & P != 0
                }
            }
        };
        if pending {
            let vcpu = table.ports.get(port).map_or(0, |p| p.vcpu);
            if self.fifo_deliver(token, snap, port, vcpu)? == Delivery::Raised {
                self.sink.raise(vcpu, table.upcall_kind(vcpu));
            }
        }
        Ok(())
    }

    /// FIFO `is_pending`: P of the event word, or pending without one.
    pub(super) fn fifo_is_pending<P0: Level>(
        &self,
        token: &mut Token<'_, P0>,
        snap: &MemReadGuard<'_, Mm>,
        port: u32,
    ) -> bool
    where
        PageCache<0>: LockAfter<P0>,
    {
        let (mut f, _t) = self.fifo.inner.lock(token);
        f.revalidate(snap);
        f.is_saved(port)
            || f.word(port)
                .is_some_and(|w| w.load(Ordering::SeqCst) & P != 0)
    }

    /// `EVTCHNOP_init_control`: registers `vcpu`'s control block at `offset` in frame
    /// `control_gfn`; the first call switches the guest to the FIFO ABI (ports set pending
    /// on the 2-level ABI stay pending: they are linked when their event-array page is
    /// added). Returns the LINK field width (17) for `link_bits`.
    ///
    /// # Errors
    /// ENOENT for a bad vCPU; EINVAL for an offset that puts the block across the page end
    /// or is not 8-byte aligned, a frame that is not RAM, or a vCPU whose control block is
    /// already registered.
    pub fn init_control<P0: Level>(
        &self,
        token: &mut Token<'_, P0>,
        control_gfn: u64,
        offset: u32,
        vcpu: u32,
    ) -> Result<u8>
    where
        MemRead: LockAfter<P0>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.init_control_in(&mut t, &snap, control_gfn, offset, vcpu)
    }

    /// [`Evtchn::init_control`] inside the caller's memory-map read section.
    ///
    /// # Errors
    /// As [`Evtchn::init_control`].
    pub fn init_control_in<P0: Level>(
        &self,
        token: &mut Token<'_, P0>,
        snap: &MemReadGuard<'_, Mm>,
        control_gfn: u64,
        offset: u32,
        vcpu: u32,
    ) -> Result<u8>
    where
        EvtchnLock: LockAfter<P0>,
    {
        self.check_section(snap)?;
        self.check_vcpu(vcpu)?;
        if offset as usize > PAGE_SIZE as usize - CB_SIZE {
            return Err(Error::InvalidArgument("control block crosses the page end"));
        }
        if offset % 8 != 0 {
            return Err(Error::InvalidArgument("control block not 8-byte aligned"));
        }
        let (table, mut t) = self.table.write(token);
        if !self.fifo.is_active() {
            // Ports pending on the 2-level ABI (or in its host-side shadow) stay pending.
            let nr = self.nr_ports();
            let w = self.pages.width();
            let mut pending = Vec::new();
            let _ = self.pages.with_shared_info(&mut t, snap, |sh, _| {
                for port in 1..nr {
                    if table.ports.get(port).is_some()
                        && sh
                            .test_bit(w, w.shinfo_evtchn_pending(), port)
                            .unwrap_or(false)
                    {
                        pending.push(port);
                    }
                }
            });
            let map = map_cb(&**snap, control_gfn, offset)?;
            for port in 1..MAX_PORTS {
                if self.take_deferred(port) && table.ports.get(port).is_some() {
                    pending.push(port);
                }
            }
            let (mut f, _t) = self.fifo.inner.lock(&mut t);
            f.reset_to(self.max_vcpus);
            f.mapped_at = Some(snap.generation());
            f.vcpus[vcpu as usize].control = Some((control_gfn, offset));
            f.vcpus[vcpu as usize].map = Some(map);
            for p in pending {
                f.set_saved(p, true);
            }
            drop(f);
            self.fifo.active.store(true, Ordering::SeqCst);
            return Ok(EVTCHN_FIFO_LINK_BITS as u8);
        }
        let (mut f, _t) = self.fifo.inner.lock(&mut t);
        f.revalidate(snap);
        if f.vcpus[vcpu as usize].control.is_some() {
            return Err(Error::InvalidArgument("control block already registered"));
        }
        let map = map_cb(&**snap, control_gfn, offset)?;
        f.vcpus[vcpu as usize].control = Some((control_gfn, offset));
        f.vcpus[vcpu as usize].map = Some(map);
        Ok(EVTCHN_FIFO_LINK_BITS as u8)
    }

    /// `EVTCHNOP_expand_array`: adds frame `array_gfn` as the next event-array page (1024
    /// more event words); events that became pending on those ports without a word are
    /// linked now.
    ///
    /// # Errors
    /// EOPNOTSUPP before `init_control`; ENOSPC when the array has 128 pages; EINVAL for a
    /// frame that is not RAM.
    pub fn expand_array<P0: Level>(&self, token: &mut Token<'_, P0>, array_gfn: u64) -> Result<()>
    where
        MemRead: LockAfter<P0>,
    {
        let (snap, mut t) = self.mem.read(token);
        self.expand_array_in(&mut t, &snap, array_gfn)
    }

    /// [`Evtchn::expand_array`] inside the caller's memory-map read section.
    ///
    /// # Errors
    /// As [`Evtchn::expand_array`].
    pub fn expand_array_in<P0: Level>(
        &self,
        token: &mut Token<'_, P0>,
        snap: &MemReadGuard<'_, Mm>,
        array_gfn: u64,
    ) -> Result<()>
    where
        EvtchnLock: LockAfter<P0>,
    {
        self.check_section(snap)?;
        if !self.fifo.is_active() {
            return Err(Error::FifoNotActive);
        }
        let (table, mut t) = self.table.write(token);
        if !self.fifo.is_active() {
            return Err(Error::FifoNotActive);
        }
        let first = {
            let (mut f, _t) = self.fifo.inner.lock(&mut t);
            f.revalidate(snap);
            if f.array.len() as u32 >= MAX_EVENT_ARRAY_PAGES {
                return Err(Error::EventArrayFull);
            }
            let map = array_gfn
                .checked_mul(PAGE_SIZE)
                .and_then(|gpa| MappedRange::new(&**snap, gpa, PAGE_SIZE as usize).ok())
                .ok_or(Error::InvalidArgument("event array frame is not RAM"))?;
            f.array.push(array_gfn);
            f.array_maps.push(Some(map));
            (f.array.len() as u32 - 1) * EVENT_WORDS_PER_PAGE
        };
        // Re-raise what was pending while these ports had no event word.
        for port in first..first + EVENT_WORDS_PER_PAGE {
            let Some(p) = table.ports.get(port) else {
                continue;
            };
            let was = {
                let (mut f, _t) = self.fifo.inner.lock(&mut t);
                f.set_saved(port, false)
            };
            if was && self.fifo_deliver(&mut t, snap, port, p.vcpu)? == Delivery::Raised {
                self.sink.raise(p.vcpu, table.upcall_kind(p.vcpu));
            }
        }
        Ok(())
    }

    /// `EVTCHNOP_set_priority`: the queue `port`'s future events go to (an event already
    /// linked stays where it is).
    ///
    /// # Errors
    /// EINVAL for a port out of range, then ENOSYS on the 2-level ABI, then EINVAL for a port
    /// that is not allocated (closed, or port 0; Xen's -EACCES for a free port inside an
    /// allocated bucket has no equivalent here: ports are not allocated in buckets) or a
    /// priority above `EVTCHN_FIFO_PRIORITY_MIN` (15).
    pub fn set_priority<P0: Level>(
        &self,
        token: &mut Token<'_, P0>,
        port: u32,
        priority: u32,
    ) -> Result<()>
    where
        EvtchnLock: LockAfter<P0>,
    {
        if port >= self.nr_ports() {
            return Err(Error::InvalidPort(port));
        }
        let (table, mut t) = self.table.read(token);
        if !self.fifo.is_active() {
            return Err(Error::NotSupported);
        }
        table.port(port, self.nr_ports())?;
        if priority > EVTCHN_FIFO_PRIORITY_MIN {
            return Err(Error::InvalidArgument(
                "priority above EVTCHN_FIFO_PRIORITY_MIN",
            ));
        }
        let (mut f, _t) = self.fifo.inner.lock(&mut t);
        f.priority.set(port, priority as u8);
        Ok(())
    }

    /// Whether the guest switched to the FIFO ABI.
    pub fn fifo_active(&self) -> bool {
        self.fifo.is_active()
    }

    /// Back to the 2-level ABI (`EVTCHNOP_reset`); the table is write-locked by the caller.
    pub(super) fn fifo_destroy(&self, token: &mut Token<'_, EvtchnLock>) {
        if !self.fifo.is_active() {
            return;
        }
        let (mut f, _t) = self.fifo.inner.lock(token);
        *f = FifoInner::empty();
        self.fifo.active.store(false, Ordering::SeqCst);
    }

    /// The FIFO state for snapshots (`None` on the 2-level ABI).
    pub(super) fn fifo_state(&self, token: &mut Token<'_, EvtchnLock>) -> Option<FifoState> {
        if !self.fifo.is_active() {
            return None;
        }
        let (f, _t) = self.fifo.inner.lock(token);
        Some(FifoState {
            control_blocks: f.vcpus.iter().map(|v| v.control).collect(),
            event_array: f.array.clone(),
            tails: f.vcpus.iter().map(|v| v.tails).collect(),
            priorities: f.priority.non_default().collect(),
            last_queues: f
                .lastq
                .non_default()
                .map(|(p, q)| (p, q >> 4, (q & 0xf) as u8))
                .collect(),
            saved_pending: f.saved.non_default().map(|(p, _)| p).collect(),
        })
    }
}

impl<R: vm_memory::GuestMemoryRegion> Fifo<R> {
    /// The FIFO part of a restored [`Evtchn`] (mappings are built on first use).
    pub(super) fn from_state(state: Option<&FifoState>, max_vcpus: u32) -> Result<Self> {
        let Some(state) = state else {
            return Ok(Fifo::new());
        };
        let bad = |m: &str| Err(Error::InvalidState(format!("fifo: {m}")));
        if state.control_blocks.len() != max_vcpus as usize
            || state.tails.len() != max_vcpus as usize
        {
            return bad("per-vCPU lengths");
        }
        if state.event_array.len() as u32 > MAX_EVENT_ARRAY_PAGES {
            return bad("event array too long");
        }
        let mut f = FifoInner::empty();
        f.reset_to(max_vcpus);
        for (i, cb) in state.control_blocks.iter().enumerate() {
            if let Some((gfn, off)) = *cb {
                if off as usize > PAGE_SIZE as usize - CB_SIZE || off % 8 != 0 {
                    return bad("control block offset");
                }
                f.vcpus[i].control = Some((gfn, off));
            }
        }
        for (i, t) in state.tails.iter().enumerate() {
            if t.iter().any(|&p| p >= EVTCHN_FIFO_NR_CHANNELS) {
                return bad("tail out of range");
            }
            f.vcpus[i].tails = *t;
        }
        f.array = state.event_array.clone();
        f.array_maps = (0..f.array.len()).map(|_| None).collect();
        for &(p, prio) in &state.priorities {
            if p >= EVTCHN_FIFO_NR_CHANNELS || prio as u32 > EVTCHN_FIFO_PRIORITY_MIN {
                return bad("priority");
            }
            f.priority.set(p, prio);
        }
        for &(p, v, prio) in &state.last_queues {
            if p >= EVTCHN_FIFO_NR_CHANNELS
                || v >= max_vcpus
                || prio as u32 > EVTCHN_FIFO_PRIORITY_MIN
            {
                return bad("last queue");
            }
            f.lastq.set(p, v << 4 | prio as u32);
        }
        for &p in &state.saved_pending {
            if p >= EVTCHN_FIFO_NR_CHANNELS {
                return bad("saved pending port");
            }
            f.set_saved(p, true);
        }
        Ok(Fifo {
            active: AtomicBool::new(true),
            inner: OrderedMutex::new(f),
        })
    }
}
