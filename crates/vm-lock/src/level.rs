// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The lock levels, outermost first.
//!
//! ```text
//! Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> PageCache<0> -> PageCache<1>
//! ```
//!
//! Each level is a zero-sized, uninhabited-in-practice marker type. The order is total: a level
//! may be taken while holding any earlier level (levels may be skipped), never while holding the
//! same or a later one.

use crate::relation::{Level, LockAfter, MayWaitForReaders, NoToken, Sealed};

/// Nothing held: the level of a thread's [`crate::Root`] token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unlocked;

/// The VM-wide lock (like `kvm->lock`): VM configuration, vCPU creation, global Xen setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VmLock;

/// One vCPU's mutex (like `vcpu->mutex`). At most one at a time, except through
/// [`crate::lock_all_vcpus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VcpuMutex;

/// The memory-map writers' lock (like `kvm->slots_lock`): serializes [`crate::MemoryMap::replace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SlotsLock;

/// A read section over the guest memory map (like `kvm->srcu`): see [`crate::MemoryMap::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MemRead;

/// The leaf lock for Xen emulation state (like `kvm->arch.xen.xen_lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct XenLock;

/// Page-cache locks (like `gfn_to_pfn_cache` locks), innermost. `PageCache<0>` comes before
/// `PageCache<1>`; only `N` = 0 and 1 are levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PageCache<const N: u8>;

macro_rules! levels {
    // Entry: a list of (type, name), outermost first.
    ($( ($ty:ty, $name:expr) ),+ $(,)?) => {
        levels!(@level 0u8; $( ($ty, $name) ),+);
        levels!(@after []; $( $ty ),+);
    };
    (@level $rank:expr; ($ty:ty, $name:expr) $(, ($rest:ty, $rname:expr))*) => {
        impl Sealed for $ty {}
        impl Level for $ty {
            const NAME: &'static str = $name;
            const RANK: u8 = $rank;
        }
        levels!(@level $rank + 1u8; $( ($rest, $rname) ),*);
    };
    (@level $rank:expr;) => {};
    // `$held` are the levels before `$ty`: implement LockAfter<each> for $ty.
    (@after [$($held:ty),*]; $ty:ty $(, $rest:ty)*) => {
        $( impl LockAfter<$held> for $ty {} )*
        levels!(@after [$($held,)* $ty]; $($rest),*);
    };
    (@after [$($held:ty),*];) => {};
}

levels![
    (Unlocked, "Unlocked"),
    (VmLock, "VmLock"),
    (VcpuMutex, "VcpuMutex"),
    (SlotsLock, "SlotsLock"),
    (MemRead, "MemRead"),
    (XenLock, "XenLock"),
    (PageCache<0>, "PageCache<0>"),
    (PageCache<1>, "PageCache<1>"),
];

// Diagnostics only (see `NoToken`): no `Token<NoToken>` exists, so this allows nothing.
impl Sealed for NoToken {}
impl Level for NoToken {
    const NAME: &'static str = "NoToken";
    const RANK: u8 = u8::MAX;
}
#[doc(hidden)]
impl LockAfter<NoToken> for VmLock {}

impl MayWaitForReaders for Unlocked {}
impl MayWaitForReaders for VmLock {}
impl MayWaitForReaders for VcpuMutex {}
impl MayWaitForReaders for SlotsLock {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only if `A: LockAfter<B>`; checks the ranks agree.
    fn after<A: LockAfter<B>, B: Level>() -> bool {
        A::RANK > B::RANK
    }

    #[test]
    fn ranks_are_in_order() {
        let ranks = [
            Unlocked::RANK,
            VmLock::RANK,
            VcpuMutex::RANK,
            SlotsLock::RANK,
            MemRead::RANK,
            XenLock::RANK,
            <PageCache<0>>::RANK,
            <PageCache<1>>::RANK,
        ];
        assert_eq!(ranks, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(<PageCache<1>>::NAME, "PageCache<1>");
        assert_eq!(XenLock::NAME, "XenLock");
    }

    #[test]
    fn skipping_levels_is_allowed() {
        assert!(after::<PageCache<1>, Unlocked>());
        assert!(after::<XenLock, VmLock>());
        assert!(after::<MemRead, VcpuMutex>());
        assert!(after::<PageCache<1>, PageCache<0>>());
    }
}
