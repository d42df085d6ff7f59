// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The relations between lock levels: which level may be taken while which is held.
//!
//! All three traits are sealed: only the levels of [`crate::level`] implement them, so code
//! outside this crate cannot add a level or a relation that would break the order.

mod sealed {
    /// Implemented only by the level types of this crate.
    pub trait Sealed {}

    /// A level no token ever has (unnameable outside this crate, never constructed).
    ///
    /// It exists for diagnostics only: `VmLock` would otherwise have exactly one
    /// `LockAfter` impl (`LockAfter<Unlocked>`), and rustc infers a type from a single impl,
    /// reporting "mismatched types" instead of our `on_unimplemented` message for the seed bug.
    /// With this second impl, `VmLock` under `VcpuMutex` reports the lock order violation.
    #[derive(Debug)]
    pub struct NoToken;
}

pub(crate) use sealed::{NoToken, Sealed};

/// A lock level: a zero-sized marker type naming one rung of the VM lock hierarchy.
///
/// Sealed: the levels are exactly those in [`crate::level`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a vm-lock level",
    label = "not a level of the VM lock hierarchy",
    note = "the levels are in `vm_lock::level`: Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> PageCache<0> -> PageCache<1>"
)]
pub trait Level: Sealed + 'static {
    /// Human-readable name of the level (for logs and docs).
    const NAME: &'static str;
    /// Position in the hierarchy: 0 for [`crate::level::Unlocked`], growing inwards.
    const RANK: u8;
}

/// `Self` may be locked while `Held` is the innermost level held on this thread.
///
/// Implemented for every pair where `Held` comes strictly before `Self` in the order
/// `Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> PageCache<0> ->
/// PageCache<1>`; never for the same level or a later one.
#[diagnostic::on_unimplemented(
    message = "lock order violation: cannot take `{Self}` while holding `{Held}`",
    label = "`{Self}` must be taken before `{Held}`, not inside it",
    note = "vm-lock order (outermost first): Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> PageCache<0> -> PageCache<1>; a level may only be taken while holding an EARLIER one",
    note = "several vCPU mutexes at once: use `vm_lock::lock_all_vcpus` under the VmLock"
)]
pub trait LockAfter<Held: Level>: Level {}

/// Levels at which a thread may wait for memory-map readers ([`crate::MemoryMap::synchronize`]).
///
/// Only [`crate::level::Unlocked`], [`crate::level::VmLock`], [`crate::level::VcpuMutex`] and
/// [`crate::level::SlotsLock`]: every level a reader ([`crate::level::MemRead`]) could be
/// waiting for comes after these, so waiting here cannot deadlock.
#[diagnostic::on_unimplemented(
    message = "cannot wait for memory-map readers (`synchronize`) while holding `{Self}`",
    label = "`synchronize` is only allowed at Unlocked, VmLock, VcpuMutex or SlotsLock",
    note = "inside a memory-map read section (MemRead) or under XenLock/PageCache, waiting for readers can deadlock: the reader you wait for may be you, or may wait for a lock you hold; drop the read section / leaf locks first"
)]
pub trait MayWaitForReaders: Level {}
