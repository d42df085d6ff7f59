// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`MemoryMap`]: the guest memory map with a typed read section and `synchronize`.
//!
//! Built on [`vm_memory::GuestMemoryAtomic`] (an `arc-swap` of the map): readers take a
//! snapshot without blocking writers; writers swap in a new map under the
//! [`SlotsLock`] and retire the old one; [`MemoryMap::synchronize`]
//! waits until no reader holds a retired map (an RCU grace period, like
//! `synchronize_srcu(&kvm->srcu)`).
//!
//! The map is only ever replaced through [`MemoryMap::replace`]: the underlying
//! `GuestMemoryAtomic` is not handed out (except to tests, with the `test-util` feature), so no
//! code can swap the map without the [`SlotsLock`] and the generation bump that page caches rely
//! on, nor hold a raw snapshot across [`MemoryMap::synchronize`].
//!
//! Each `MemoryMap` (with its clones) has an identity, [`MapId`]; every read section records the
//! map it came from, so an operation handed another VM's section can refuse it
//! ([`MemoryMap::check`]).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use vm_memory::{GuestAddressSpace, GuestMemory, GuestMemoryAtomic, GuestMemoryLoadGuard};

use crate::error::Error;
use crate::held;
use crate::level::{MemRead, SlotsLock};
use crate::mutex::OrderedMutex;
use crate::relation::{Level, LockAfter, MayWaitForReaders};
use crate::token::Token;

struct Shared<M> {
    /// The writers' lock: serializes `replace`.
    slots: OrderedMutex<SlotsLock, ()>,
    /// Maps swapped out by `replace` that a reader may still hold. Internal leaf lock, never
    /// held while blocking on anything else.
    retired: Mutex<Vec<Weak<M>>>,
    /// Bumped after each `replace`.
    generation: AtomicU64,
    /// This map's identity.
    id: MapId,
}

/// The identity of a [`MemoryMap`] (shared by its clones): read sections record it, so an
/// operation can check that a section belongs to the map (the VM) it works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapId(u64);

impl MapId {
    fn next() -> MapId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        MapId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number (never 0).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The guest memory map: a shared, replaceable `M` with a typed read section.
///
/// `Clone` shares the map (all clones see the same map, writers' lock, retired list and
/// generation).
pub struct MemoryMap<M: GuestMemory> {
    atomic: GuestMemoryAtomic<M>,
    shared: Arc<Shared<M>>,
}

/// A read section over the memory map: a snapshot of `M` that stays valid (and keeps
/// [`MemoryMap::synchronize`] waiting) until dropped. Derefs to `M`. `!Send`.
#[must_use = "if unused the read section ends at once"]
pub struct MemReadGuard<'a, M: GuestMemory> {
    snapshot: GuestMemoryLoadGuard<M>,
    generation: u64,
    map: MapId,
    _marker: PhantomData<(&'a (), *const ())>,
}

impl<M: GuestMemory> MemoryMap<M> {
    /// Makes a memory map starting with `map`.
    pub fn new(map: M) -> Self {
        MemoryMap {
            atomic: GuestMemoryAtomic::new(map),
            shared: Arc::new(Shared {
                slots: OrderedMutex::new(()),
                retired: Mutex::new(Vec::new()),
                generation: AtomicU64::new(0),
                id: MapId::next(),
            }),
        }
    }

    /// The underlying `GuestMemoryAtomic`, for tests that poke guest memory as the guest would
    /// (feature `test-util`; never enable it in a VMM).
    ///
    /// A bypass of the lock order: a snapshot taken through it is a reader `synchronize` waits
    /// for (never hold one across a `synchronize` on the same thread), and a map replaced
    /// through it skips the `SlotsLock` and the generation bump.
    #[cfg(feature = "test-util")]
    pub fn atomic(&self) -> &GuestMemoryAtomic<M> {
        &self.atomic
    }

    /// This map's identity (the same for all its clones).
    pub fn id(&self) -> MapId {
        self.shared.id
    }

    /// Whether `section` is a read section of this map (or of a clone of it).
    pub fn owns(&self, section: &MemReadGuard<'_, M>) -> bool {
        section.map == self.shared.id
    }

    /// [`MemoryMap::owns`] as a `Result`, for operations that take a caller's read section.
    ///
    /// # Errors
    /// [`Error::ForeignReadSection`] if `section` belongs to another map.
    pub fn check(&self, section: &MemReadGuard<'_, M>) -> Result<(), Error> {
        if self.owns(section) {
            Ok(())
        } else {
            Err(Error::ForeignReadSection)
        }
    }

    /// Enters a read section: a snapshot of the current map and the [`MemRead`] token.
    ///
    /// Never blocks. `token`'s level must come before `MemRead` (so not inside another read
    /// section, nor under `XenLock` or a page-cache lock).
    pub fn read<'a, P: Level>(
        &'a self,
        token: &'a mut Token<'_, P>,
    ) -> (MemReadGuard<'a, M>, Token<'a, MemRead>)
    where
        MemRead: LockAfter<P>,
    {
        let _ = token;
        held::check::<MemRead>();
        // Generation first, then the map: `replace` stores the map before bumping the
        // generation, so the snapshot is at least as new as `generation` says.
        let generation = self.shared.generation.load(Ordering::Acquire);
        let snapshot = self.atomic.memory();
        held::push::<MemRead>(1, false);
        (
            MemReadGuard {
                snapshot,
                generation,
                map: self.shared.id,
                _marker: PhantomData,
            },
            Token::new(),
        )
    }

    /// Replaces the map: takes the [`SlotsLock`], swaps `new_map` in, retires the old map and
    /// bumps the generation. Does not wait for readers (call [`MemoryMap::synchronize`]).
    pub fn replace<P: Level>(&self, token: &mut Token<'_, P>, new_map: M)
    where
        SlotsLock: LockAfter<P>,
    {
        let (_slots, _t) = self.shared.slots.lock(token);
        let exclusive = self.atomic.lock().unwrap_or_else(PoisonError::into_inner);
        let old = Arc::downgrade(&self.atomic.memory().into_inner());
        {
            let mut retired = self.lock_retired();
            retired.retain(|w| w.strong_count() > 0);
            retired.push(old);
        }
        // The store pays arc-swap's outstanding debts: every reader of the old map now holds a
        // strong reference to it, which `synchronize` sees through the `Weak`.
        exclusive.replace(new_map);
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times the map was replaced (through `replace`) since this `MemoryMap` was made.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// How many retired maps are still held by a reader right now.
    pub fn retired_in_use(&self) -> usize {
        let mut retired = self.lock_retired();
        retired.retain(|w| w.strong_count() > 0);
        retired.len()
    }

    /// Waits until no reader holds any map retired before this call (a grace period).
    ///
    /// Only callable at [`Unlocked`](crate::level::Unlocked), [`VmLock`](crate::level::VmLock),
    /// [`VcpuMutex`](crate::level::VcpuMutex) or [`SlotsLock`]: inside a read section, or under
    /// `XenLock`/`PageCache`, it does not compile (the reader waited for could be this thread,
    /// or could be waiting for a lock this thread holds).
    pub fn synchronize<P: MayWaitForReaders>(&self, token: &mut Token<'_, P>) {
        let _ = token;
        held::assert_at_most(SlotsLock::RANK, "MemoryMap::synchronize");
        let mut waiting: Vec<Weak<M>> = {
            let mut retired = self.lock_retired();
            retired.retain(|w| w.strong_count() > 0);
            retired.clone()
        };
        let mut round = 0u32;
        loop {
            waiting.retain(|w| w.strong_count() > 0);
            if waiting.is_empty() {
                // Pairs with the Release decrement of the readers' last `Arc` drops: what the
                // readers did in their read sections happens-before our return.
                fence(Ordering::Acquire);
                return;
            }
            backoff(round);
            round = round.saturating_add(1);
        }
    }

    fn lock_retired(&self) -> std::sync::MutexGuard<'_, Vec<Weak<M>>> {
        self.shared
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Spin-yield first, then sleep with a growing (capped) delay.
fn backoff(round: u32) {
    if round < 64 {
        std::thread::yield_now();
    } else {
        let micros = 10u64 << (round - 64).min(7);
        std::thread::sleep(Duration::from_micros(micros));
    }
}

impl<M: GuestMemory> Clone for MemoryMap<M> {
    fn clone(&self) -> Self {
        MemoryMap {
            atomic: self.atomic.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: GuestMemory> fmt::Debug for MemoryMap<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryMap")
            .field("id", &self.shared.id)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl<M: GuestMemory> MemReadGuard<'_, M> {
    /// The map's generation when this read section started (the snapshot is at least this
    /// new). A cache built from this snapshot is stale once [`MemoryMap::generation`] differs.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The identity of the map this section reads ([`MemoryMap::id`]).
    pub fn map_id(&self) -> MapId {
        self.map
    }
}

#[cfg(debug_assertions)]
impl<M: GuestMemory> Drop for MemReadGuard<'_, M> {
    fn drop(&mut self) {
        held::pop::<MemRead>(false);
    }
}

impl<M: GuestMemory> Deref for MemReadGuard<'_, M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.snapshot
    }
}

impl<M: GuestMemory> fmt::Debug for MemReadGuard<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemReadGuard")
            .field("map", &self.map)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{VcpuMutex, VmLock, XenLock};
    use crate::Root;
    use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

    fn map(size: usize) -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size)]).unwrap()
    }

    #[test]
    fn read_sees_map_and_nests_xen_lock() {
        let mem = MemoryMap::new(map(0x1000));
        let xen = OrderedMutex::<XenLock, u32>::new(0);
        let mut root = Root::new().unwrap();
        let (snap, mut t) = mem.read(root.token());
        snap.write_obj(0xdead_beefu32, GuestAddress(0x10)).unwrap();
        let (mut x, _t) = xen.lock(&mut t);
        *x = snap.read_obj(GuestAddress(0x10)).unwrap();
        assert_eq!(*x, 0xdead_beef);
        assert_eq!(snap.last_addr(), GuestAddress(0xfff));
    }

    #[test]
    fn sections_know_their_map() {
        let a = MemoryMap::new(map(0x1000));
        let a2 = a.clone();
        let b = MemoryMap::new(map(0x1000));
        assert_eq!(a.id(), a2.id());
        assert_ne!(a.id(), b.id());
        let mut root = Root::new().unwrap();
        let (snap, _t) = a2.read(root.token());
        assert_eq!(snap.map_id(), a.id());
        assert!(a.owns(&snap) && a2.owns(&snap));
        assert!(!b.owns(&snap));
        assert_eq!(a.check(&snap), Ok(()));
        assert_eq!(b.check(&snap), Err(Error::ForeignReadSection));
    }

    #[test]
    fn replace_bumps_generation_and_keeps_snapshots() {
        let mem = MemoryMap::new(map(0x1000));
        let mem2 = mem.clone();
        let mut root = Root::new().unwrap();
        assert_eq!(mem.generation(), 0);
        {
            let (snap, _t) = mem.read(root.token());
            assert_eq!(snap.generation(), 0);
        }
        mem2.replace(root.token(), map(0x2000));
        assert_eq!(mem.generation(), 1);
        let (snap, _t) = mem.read(root.token());
        assert_eq!(snap.generation(), 1);
        assert_eq!(snap.last_addr(), GuestAddress(0x1fff));
    }

    #[test]
    fn replace_and_synchronize_under_outer_levels() {
        let mem = MemoryMap::new(map(0x1000));
        let vm = OrderedMutex::<VmLock, ()>::new(());
        let vcpu = OrderedMutex::<VcpuMutex, ()>::new(());
        let mut root = Root::new().unwrap();
        let (_g, mut t_vm) = vm.lock(root.token());
        let (_g2, mut t_vcpu) = vcpu.lock(&mut t_vm);
        mem.replace(&mut t_vcpu, map(0x3000));
        mem.synchronize(&mut t_vcpu);
        assert_eq!(mem.retired_in_use(), 0);
    }

    #[test]
    fn old_snapshot_counts_as_in_use_until_dropped() {
        let mem = MemoryMap::new(map(0x1000));
        let reader = mem.clone();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let mut root = Root::new().unwrap();
            let (snap, _t) = reader.read(root.token());
            held_tx.send(()).unwrap();
            rx.recv().unwrap();
            assert_eq!(snap.last_addr(), GuestAddress(0xfff));
        });
        held_rx.recv().unwrap();
        let mut root = Root::new().unwrap();
        mem.replace(root.token(), map(0x2000));
        assert_eq!(mem.retired_in_use(), 1);
        tx.send(()).unwrap();
        h.join().unwrap();
        assert_eq!(mem.retired_in_use(), 0);
        mem.synchronize(root.token());
    }
}
