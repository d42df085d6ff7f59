// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`GpaCache`]: one cached, invalidatable mapping of a guest-physical range.

use std::sync::atomic::{AtomicBool, Ordering};

use vm_lock::{
    Level, LockAfter, MapId, MemReadGuard, OrderedReadGuard, OrderedRwLock, OrderedWriteGuard,
    Token,
};

use crate::error::{Error, Result};
use crate::mapping::{MappedRange, RegionArcs};

/// The state behind a [`GpaCache`]'s lock.
#[derive(Debug)]
struct Slot<R> {
    /// The guest range to map: `(gpa, len)`.
    target: Option<(u64, usize)>,
    /// The current mapping, if built and not invalidated.
    mapped: Option<MappedRange<R>>,
    /// The memory-map generation `mapped` was built at.
    generation: u64,
    /// The memory map (the VM) this cache maps from, fixed by its first mapping: a read
    /// section of any other map is refused.
    map: Option<MapId>,
}

impl<R> Slot<R> {
    #[inline]
    fn check_map<M: vm_memory::GuestMemory>(&self, snap: &MemReadGuard<'_, M>) -> Result<()> {
        match self.map {
            Some(m) if m != snap.map_id() => Err(Error::ForeignMap),
            _ => Ok(()),
        }
    }
}

/// The slot, read- or write-locked: what [`GpaCache::with_opt`] hands its closure.
enum SlotGuard<'a, L: Level, R> {
    Read(OrderedReadGuard<'a, L, Slot<R>>),
    Write(OrderedWriteGuard<'a, L, Slot<R>>),
}

/// A locked slot and the token of its level.
type Locked<'a, L, R> = (SlotGuard<'a, L, R>, Token<'a, L>);

impl<L: Level, R> SlotGuard<'_, L, R> {
    #[inline]
    fn mapped(&self) -> Option<&MappedRange<R>> {
        match self {
            SlotGuard::Read(s) => s.mapped.as_ref(),
            SlotGuard::Write(s) => s.mapped.as_ref(),
        }
    }
}

/// A cached host mapping of one guest-physical range, the userspace analogue of KVM's
/// `gfn_to_pfn_cache`.
///
/// The mapping is built on first use, reused while the memory-map generation has not
/// changed, dropped by [`GpaCache::invalidate`] or [`GpaCache::set_target`], and rebuilt on
/// the next use. Its lock is at level `L` (a `vm_lock::PageCache<N>`).
pub struct GpaCache<L: Level, M: RegionArcs> {
    slot: OrderedRwLock<L, Slot<M::R>>,
    /// Whether a target is set, written under the write lock: a hint read without the lock.
    targeted: AtomicBool,
}

impl<L: Level, M: RegionArcs> std::fmt::Debug for GpaCache<L, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpaCache").field("level", &L::NAME).finish()
    }
}

impl<L: Level, M: RegionArcs> Default for GpaCache<L, M> {
    fn default() -> Self {
        Self::new(None)
    }
}

impl<L: Level, M: RegionArcs> GpaCache<L, M> {
    /// A cache for `target` (`(gpa, len)`), not mapped yet.
    pub fn new(target: Option<(u64, usize)>) -> Self {
        GpaCache {
            slot: OrderedRwLock::new(Slot {
                target,
                mapped: None,
                generation: 0,
                map: None,
            }),
            targeted: AtomicBool::new(target.is_some()),
        }
    }

    /// The guest range this cache maps.
    pub fn target<P: Level>(&self, token: &mut Token<'_, P>) -> Option<(u64, usize)>
    where
        L: LockAfter<P>,
    {
        let (slot, _t) = self.slot.read(token);
        slot.target
    }

    /// Points the cache at another range (or none) and drops the current mapping.
    pub fn set_target<P: Level>(&self, token: &mut Token<'_, P>, target: Option<(u64, usize)>)
    where
        L: LockAfter<P>,
    {
        let (mut slot, _t) = self.slot.write(token);
        slot.target = target;
        slot.mapped = None;
        self.targeted.store(target.is_some(), Ordering::Relaxed);
    }

    /// Whether a target was set, read without the lock: a hint to choose a path that then
    /// looks under the lock (it may be out of date by the time the caller takes it).
    #[inline]
    pub fn maybe_targeted(&self) -> bool {
        self.targeted.load(Ordering::Relaxed)
    }

    /// Drops the current mapping (and with it this cache's hold on the memory region); the
    /// next use rebuilds it from the memory map.
    pub fn invalidate<P: Level>(&self, token: &mut Token<'_, P>)
    where
        L: LockAfter<P>,
    {
        let (mut slot, _t) = self.slot.write(token);
        slot.mapped = None;
    }

    /// Whether a mapping is currently cached (for tests and statistics).
    pub fn is_mapped<P: Level>(&self, token: &mut Token<'_, P>) -> bool
    where
        L: LockAfter<P>,
    {
        let (slot, _t) = self.slot.read(token);
        slot.mapped.is_some()
    }

    /// Runs `f` on the mapping (`None` if no target is set), revalidating it first if the
    /// memory map changed since it was built.
    ///
    /// # Errors
    /// [`Error::NotMapped`] (and friends) if the target is not backed by guest RAM in
    /// `snap`'s memory map; [`Error::ForeignMap`] if `snap` is a read section of another
    /// memory map than the one this cache mapped from before.
    #[inline]
    pub fn with_opt<P: Level, T>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        f: impl FnOnce(Option<&MappedRange<M::R>>, &mut Token<'_, L>) -> T,
    ) -> Result<T>
    where
        L: LockAfter<P>,
    {
        // One call of `f` for both paths, so the compiler can inline it into the caller.
        let (slot, mut t) = {
            let (slot, t) = self.slot.read(token);
            slot.check_map(snap)?;
            let current = slot.target.is_none()
                || (slot.mapped.is_some() && slot.generation >= snap.generation());
            if current {
                (SlotGuard::Read(slot), t)
            } else {
                drop((slot, t));
                self.rebuild(token, snap)?
            }
        };
        Ok(f(slot.mapped(), &mut t))
    }

    /// Write-locks the slot and (re)builds its mapping from `snap` if it is missing or stale.
    #[cold]
    fn rebuild<'a, P: Level>(
        &'a self,
        token: &'a mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
    ) -> Result<Locked<'a, L, M::R>>
    where
        L: LockAfter<P>,
    {
        let (mut slot, t) = self.slot.write(token);
        slot.check_map(snap)?;
        let Some((gpa, len)) = slot.target else {
            return Ok((SlotGuard::Write(slot), t));
        };
        let fresh = slot.mapped.is_none() || slot.generation < snap.generation();
        if fresh {
            // Drop the old mapping first: never keep a stale region alive on failure.
            slot.mapped = None;
            let mapped = MappedRange::new(&**snap, gpa, len)?;
            log::trace!(
                "page cache: mapped {gpa:#x}+{len:#x} at generation {}",
                snap.generation()
            );
            slot.mapped = Some(mapped);
            slot.generation = snap.generation();
            slot.map = Some(snap.map_id());
        }
        Ok((SlotGuard::Write(slot), t))
    }

    /// Like [`GpaCache::with_opt`], but a missing target is [`Error::Unset`].
    #[inline]
    pub fn with<P: Level, T>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
        f: impl FnOnce(&MappedRange<M::R>, &mut Token<'_, L>) -> T,
    ) -> Result<T>
    where
        L: LockAfter<P>,
    {
        self.with_opt(token, snap, |m, t| m.map(|m| f(m, t)))?
            .ok_or(Error::Unset)
    }

    /// A clone of the (revalidated) mapping. The clone keeps the memory it maps alive even
    /// after the region is removed from the guest memory map and the cache is invalidated.
    pub fn get<P: Level>(
        &self,
        token: &mut Token<'_, P>,
        snap: &MemReadGuard<'_, M>,
    ) -> Result<MappedRange<M::R>>
    where
        L: LockAfter<P>,
    {
        self.with(token, snap, |m, _| m.clone())
    }
}
