// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The relations between lock levels: which level may be taken while which is held, and at
//! which levels a thread may wait.
//!
//! All traits are sealed: only the levels of [`crate::level`] and those declared with
//! [`crate::declare_levels!`] implement them, and their relations are generated, so code
//! outside this crate cannot add a relation that would break the order.

pub(crate) mod sealed {
    /// Implemented only by the level types of this crate and by [`crate::declare_levels!`].
    pub trait Sealed {}

    /// A level no token ever has (unnameable outside this crate, never constructed).
    ///
    /// It exists for diagnostics only: `VmLock` would otherwise have exactly one
    /// `LockAfter` impl (`LockAfter<Unlocked>`), and rustc infers a type from a single impl,
    /// reporting "mismatched types" instead of our `on_unimplemented` message for the seed bug.
    /// With this second impl, `VmLock` under `VcpuMutex` reports the lock order violation.
    /// The same holds for [`super::MayBlock`] and [`super::MayLockAllVcpus`].
    #[derive(Debug)]
    pub struct NoToken;
}

pub(crate) use sealed::{NoToken, Sealed};

/// A lock level: a zero-sized marker type naming one rung of the VM lock hierarchy.
///
/// Sealed: the levels are those in [`crate::level`] and those declared with
/// [`crate::declare_levels!`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a vm-lock level",
    label = "not a level of the VM lock hierarchy",
    note = "the levels are in `vm_lock::level`: Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> EvtchnLock -> PageCache<0> -> PageCache<1> -> Devices -> Output; add your own with `vm_lock::declare_levels!`"
)]
pub trait Level: Sealed + 'static {
    /// Human-readable name of the level (for logs and docs).
    const NAME: &'static str;
    /// Position in the hierarchy: 0 for [`crate::level::Unlocked`], growing inwards (built-in
    /// levels are [`crate::level::RANK_STEP`] apart; declared levels sit in between).
    const RANK: u8;
}

/// `Self` may be locked while `Held` is the innermost level held on this thread.
///
/// Implemented for every pair where `Held` comes strictly before `Self` in the order
/// `Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> EvtchnLock ->
/// PageCache<0> -> PageCache<1> -> Devices -> Output`; never for the same level or a later one.
#[diagnostic::on_unimplemented(
    message = "lock order violation: cannot take `{Self}` while holding `{Held}`",
    label = "`{Self}` must be taken before `{Held}`, not inside it",
    note = "vm-lock order (outermost first): Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> EvtchnLock -> PageCache<0> -> PageCache<1> -> Devices -> Output; a level may only be taken while holding an EARLIER one",
    note = "several locks of one level at once: `vm_lock::lock_all_vcpus` (vCPUs, under the VmLock) or `OrderedMutex::lock_both`"
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
    note = "inside a memory-map read section (MemRead) or under XenLock/EvtchnLock/PageCache/Devices/Output, waiting for readers can deadlock: the reader you wait for may be you, or may wait for a lock you hold; drop the read section / leaf locks first"
)]
pub trait MayWaitForReaders: Level {}

/// Levels at which a thread may block waiting for *another thread* to make progress: joining
/// it, a pause handshake with the vCPU threads, a snapshot that quiesces them, a channel
/// receive from a thread that takes locks.
///
/// Only [`crate::level::Unlocked`]: the thread waited for may need any lock, so the waiter
/// must hold none (as `synchronize` must hold no lock a reader may need). APIs that wait take
/// a `&mut Token<P>` with `P: MayBlock`; [`crate::blocking`] wraps any other wait.
#[diagnostic::on_unimplemented(
    message = "cannot block waiting for another thread while holding `{Self}`",
    label = "a blocking wait (pause, snapshot, join, handshake) needs the thread's `Unlocked` token",
    note = "the thread you wait for may need a lock you hold (e.g. a vCPU thread stops at `XenLock` before it can pause): drop every guard and pass your `Root::token()`"
)]
pub trait MayBlock: Level + Sized {
    /// The token as what it is: the thread's `Unlocked` token (see [`crate::Token::unlocked`]).
    #[doc(hidden)]
    fn unlocked<'a, 't>(
        token: &'a mut crate::Token<'t, Self>,
    ) -> &'a mut crate::Token<'t, crate::level::Unlocked>;
}

/// Levels whose token may lock every vCPU mutex at once ([`crate::lock_all_vcpus`]): only
/// [`crate::level::VmLock`].
#[diagnostic::on_unimplemented(
    message = "`lock_all_vcpus` needs the `VmLock` token, not `{Self}`",
    label = "take every vCPU with the VM lock held innermost (no vCPU mutex, read section or inner lock)",
    note = "holding a vCPU mutex (or anything inside the VM lock) while collecting the others can deadlock with a thread that collects them in index order; lock the VM lock, then call `lock_all_vcpus(&mut vm_token, &paused)`"
)]
pub trait MayLockAllVcpus: Level {}
