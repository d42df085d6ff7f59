// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The lock levels, outermost first.
//!
//! ```text
//! Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> EvtchnLock
//!          -> PageCache<0> -> PageCache<1> -> Devices -> Output
//! ```
//!
//! Each level is a zero-sized, uninhabited-in-practice marker type. The order is total: a level
//! may be taken while holding any earlier level (levels may be skipped), never while holding the
//! same or a later one. A VMM adds its own levels between these with [`crate::declare_levels!`].

use crate::relation::{
    Level, LockAfter, MayBlock, MayLockAllVcpus, MayWaitForReaders, NoToken, Sealed,
};
use crate::token::Token;

/// Nothing held: the level of a thread's [`crate::Root`] token. The only level at which a
/// thread may block waiting for another thread ([`MayBlock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unlocked;

/// The VM-wide lock (like `kvm->lock`): VM configuration, vCPU creation, global Xen setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VmLock;

/// One vCPU's mutex (like `vcpu->mutex`). At most one at a time, except through
/// [`crate::lock_all_vcpus`] (or [`crate::OrderedMutex::lock_both`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VcpuMutex;

/// The memory-map writers' lock (like `kvm->slots_lock`): serializes [`crate::MemoryMap::replace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SlotsLock;

/// A read section over the guest memory map (like `kvm->srcu`): see [`crate::MemoryMap::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MemRead;

/// The platform's Xen state (timers, HVM params, where the guest placed its pages; like
/// `kvm->arch.xen.xen_lock`). Before [`EvtchnLock`]: a handler may hold both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct XenLock;

/// The event-channel port table (xen-evtchn). After [`XenLock`], before the page caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EvtchnLock;

/// Page-cache locks (like `gfn_to_pfn_cache` locks): `shared_info` at `PageCache<0>`, the
/// per-vCPU pages at `PageCache<1>`. `PageCache<0>` comes before `PageCache<1>`; only `N` = 0
/// and 1 are levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PageCache<const N: u8>;

/// Device models (PV console, xenstore, grant table, a serial port): a leaf, after every Xen
/// lock; only [`Output`] may be taken inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Devices;

/// The console output sink: the innermost level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Output;

/// Distance between the ranks of two consecutive built-in levels: the ranks in between are for
/// levels declared with [`crate::declare_levels!`].
pub const RANK_STEP: u8 = 16;

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
        levels!(@level $rank + RANK_STEP; $( ($rest, $rname) ),*);
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
    (EvtchnLock, "EvtchnLock"),
    (PageCache<0>, "PageCache<0>"),
    (PageCache<1>, "PageCache<1>"),
    (Devices, "Devices"),
    (Output, "Output"),
];

// Diagnostics only (see `NoToken`): no `Token<NoToken>` exists, so these allow nothing.
impl Sealed for NoToken {}
impl Level for NoToken {
    const NAME: &'static str = "NoToken";
    const RANK: u8 = u8::MAX;
}
#[doc(hidden)]
impl LockAfter<NoToken> for VmLock {}
#[doc(hidden)]
impl MayBlock for NoToken {
    fn unlocked<'a, 't>(_: &'a mut Token<'t, Self>) -> &'a mut Token<'t, Unlocked> {
        unreachable!("no Token<NoToken> is ever made")
    }
}
#[doc(hidden)]
impl MayLockAllVcpus for NoToken {}

impl MayWaitForReaders for Unlocked {}
impl MayWaitForReaders for VmLock {}
impl MayWaitForReaders for VcpuMutex {}
impl MayWaitForReaders for SlotsLock {}

impl MayBlock for Unlocked {
    fn unlocked<'a, 't>(token: &'a mut Token<'t, Self>) -> &'a mut Token<'t, Unlocked> {
        token
    }
}

impl MayLockAllVcpus for VmLock {}

/// Declares lock levels of your own between two built-in levels, without forking vm-lock.
///
/// ```
/// vm_lock::declare_levels! {
///     after XenLock, before EvtchnLock;
///     /// The VMM's block-device queues.
///     pub struct BlockQueues;
///     /// The VMM's network queues (taken inside `BlockQueues`).
///     pub struct NetQueues;
/// }
///
/// use vm_lock::{EvtchnLock, OrderedMutex, Root, XenLock};
/// let xen = OrderedMutex::<XenLock, ()>::new(());
/// let blk = OrderedMutex::<BlockQueues, u32>::new(0);
/// let net = OrderedMutex::<NetQueues, u32>::new(0);
/// let evtchn = OrderedMutex::<EvtchnLock, ()>::new(());
/// let mut root = Root::new().unwrap();
/// let (_x, mut t) = xen.lock(root.token());
/// let (_b, mut t) = blk.lock(&mut t);
/// let (_n, mut t) = net.lock(&mut t);
/// let (_e, _t) = evtchn.lock(&mut t);
/// ```
///
/// Each declared level may be taken while holding `after`'s level or any earlier built-in
/// level, or a level declared before it in the same invocation; `before`'s level and every
/// later built-in level may be taken while holding it. That is all: levels declared in
/// *separate* invocations are unordered (neither may be taken while holding the other), and a
/// declared level is never [`MayBlock`] or [`MayWaitForReaders`]. The relations are
/// generated, never written by hand, so they cannot form a cycle. `after` and `before` are
/// built-in level names (`PageCache<0>` included); `before` must come after `after`, and at
/// most 15 levels fit in one gap (both checked at compile time).
///
/// Taking a built-in level that lies between `after` and `before` while holding a declared
/// level (or the other way round) does not compile:
///
/// ```compile_fail
/// vm_lock::declare_levels! {
///     after XenLock, before PageCache<0>;
///     /// A level parallel to EvtchnLock.
///     pub struct Side;
/// }
/// use vm_lock::{EvtchnLock, OrderedMutex, Root};
/// let side = OrderedMutex::<Side, ()>::new(());
/// let evtchn = OrderedMutex::<EvtchnLock, ()>::new(());
/// let mut root = Root::new().unwrap();
/// let (_s, mut t) = side.lock(root.token());
/// let _ = evtchn.lock(&mut t); // EvtchnLock is not ordered after Side
/// ```
#[macro_export]
macro_rules! declare_levels {
    (
        after $a:ident $(<$an:tt>)?, before $b:ident $(<$bn:tt>)?;
        $( $(#[$m:meta])* $vis:vis struct $name:ident; )+
    ) => {
        $crate::__declare_levels!(
            @each [$a $(<$an>)?] [$b $(<$bn>)?] [] 1u8;
            $( $(#[$m])* $vis struct $name; )+
        );
    };
}

/// Implementation of [`declare_levels!`]; not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __declare_levels {
    (
        @each [$($a:tt)+] [$($b:tt)+] [$($prev:ident)*] $i:expr;
        $(#[$m:meta])* $vis:vis struct $name:ident;
        $( $rest:tt )*
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        $vis struct $name;
        impl $crate::__private::Sealed for $name {}
        impl $crate::Level for $name {
            const NAME: &'static str = stringify!($name);
            const RANK: u8 = <$crate::level::$($a)+ as $crate::Level>::RANK + $i;
        }
        const _: () = assert!(
            <$crate::level::$($a)+ as $crate::Level>::RANK
                < <$crate::level::$($b)+ as $crate::Level>::RANK,
            "declare_levels!: `before` must come after `after`"
        );
        const _: () = assert!(
            <$name as $crate::Level>::RANK
                < <$crate::level::$($a)+ as $crate::Level>::RANK + $crate::level::RANK_STEP,
            "declare_levels!: too many levels in one gap"
        );
        $( impl $crate::LockAfter<$prev> for $name {} )*
        $crate::__at_or_before!([$($a)+] $name);
        $crate::__at_or_after!([$($b)+] $name);
        $crate::__declare_levels!(@each [$($a)+] [$($b)+] [$($prev)* $name] $i + 1u8; $($rest)*);
    };
    (@each [$($a:tt)+] [$($b:tt)+] [$($prev:ident)*] $i:expr;) => {};
}

/// `impl LockAfter<X> for $name` for every built-in `X` up to and including the given level.
#[doc(hidden)]
#[macro_export]
macro_rules! __at_or_before {
    ([Unlocked] $n:ident) => { $crate::__impl_after!($n; Unlocked); };
    ([VmLock] $n:ident) => { $crate::__impl_after!($n; Unlocked VmLock); };
    ([VcpuMutex] $n:ident) => { $crate::__impl_after!($n; Unlocked VmLock VcpuMutex); };
    ([SlotsLock] $n:ident) => { $crate::__impl_after!($n; Unlocked VmLock VcpuMutex SlotsLock); };
    ([MemRead] $n:ident) => {
        $crate::__impl_after!($n; Unlocked VmLock VcpuMutex SlotsLock MemRead);
    };
    ([XenLock] $n:ident) => {
        $crate::__impl_after!($n; Unlocked VmLock VcpuMutex SlotsLock MemRead XenLock);
    };
    ([EvtchnLock] $n:ident) => {
        $crate::__at_or_before!([XenLock] $n);
        $crate::__impl_after!($n; EvtchnLock);
    };
    ([PageCache<0>] $n:ident) => {
        $crate::__at_or_before!([EvtchnLock] $n);
        impl $crate::LockAfter<$crate::level::PageCache<0>> for $n {}
    };
    ([PageCache<1>] $n:ident) => {
        $crate::__at_or_before!([PageCache<0>] $n);
        impl $crate::LockAfter<$crate::level::PageCache<1>> for $n {}
    };
    ([Devices] $n:ident) => {
        $crate::__at_or_before!([PageCache<1>] $n);
        $crate::__impl_after!($n; Devices);
    };
    ([Output] $n:ident) => {
        $crate::__at_or_before!([Devices] $n);
        $crate::__impl_after!($n; Output);
    };
}

/// `impl LockAfter<$name> for X` for every built-in `X` from the given level on.
#[doc(hidden)]
#[macro_export]
macro_rules! __at_or_after {
    ([Output] $n:ident) => { $crate::__impl_before!($n; Output); };
    ([Devices] $n:ident) => { $crate::__impl_before!($n; Devices Output); };
    ([PageCache<1>] $n:ident) => {
        $crate::__at_or_after!([Devices] $n);
        impl $crate::LockAfter<$n> for $crate::level::PageCache<1> {}
    };
    ([PageCache<0>] $n:ident) => {
        $crate::__at_or_after!([PageCache<1>] $n);
        impl $crate::LockAfter<$n> for $crate::level::PageCache<0> {}
    };
    ([EvtchnLock] $n:ident) => {
        $crate::__at_or_after!([PageCache<0>] $n);
        $crate::__impl_before!($n; EvtchnLock);
    };
    ([XenLock] $n:ident) => {
        $crate::__at_or_after!([EvtchnLock] $n);
        $crate::__impl_before!($n; XenLock);
    };
    ([MemRead] $n:ident) => {
        $crate::__at_or_after!([XenLock] $n);
        $crate::__impl_before!($n; MemRead);
    };
    ([SlotsLock] $n:ident) => {
        $crate::__at_or_after!([MemRead] $n);
        $crate::__impl_before!($n; SlotsLock);
    };
    ([VcpuMutex] $n:ident) => {
        $crate::__at_or_after!([SlotsLock] $n);
        $crate::__impl_before!($n; VcpuMutex);
    };
    ([VmLock] $n:ident) => {
        $crate::__at_or_after!([VcpuMutex] $n);
        $crate::__impl_before!($n; VmLock);
    };
}

/// `impl LockAfter<level> for $name` for each listed level.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_after {
    ($n:ident; $($l:ident)*) => { $( impl $crate::LockAfter<$crate::level::$l> for $n {} )* };
}

/// `impl LockAfter<$name> for level` for each listed level.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_before {
    ($n:ident; $($l:ident)*) => { $( impl $crate::LockAfter<$n> for $crate::level::$l {} )* };
}

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
            EvtchnLock::RANK,
            <PageCache<0>>::RANK,
            <PageCache<1>>::RANK,
            Devices::RANK,
            Output::RANK,
        ];
        let expected: Vec<u8> = (0..11).map(|i| i * RANK_STEP).collect();
        assert_eq!(ranks.to_vec(), expected);
        assert_eq!(<PageCache<1>>::NAME, "PageCache<1>");
        assert_eq!(XenLock::NAME, "XenLock");
        assert_eq!(EvtchnLock::NAME, "EvtchnLock");
    }

    #[test]
    fn skipping_levels_is_allowed() {
        assert!(after::<PageCache<1>, Unlocked>());
        assert!(after::<XenLock, VmLock>());
        assert!(after::<MemRead, VcpuMutex>());
        assert!(after::<PageCache<1>, PageCache<0>>());
        assert!(after::<EvtchnLock, XenLock>());
        assert!(after::<PageCache<0>, EvtchnLock>());
        assert!(after::<Devices, PageCache<1>>());
        assert!(after::<Output, Devices>());
        assert!(after::<Output, Unlocked>());
    }

    mod declared {
        crate::declare_levels! {
            after XenLock, before EvtchnLock;
            /// First.
            pub struct Gap1;
            /// Second.
            pub struct Gap2;
        }
        crate::declare_levels! {
            after PageCache<0>, before Output;
            /// Parallel to PageCache<1> and Devices.
            pub struct Side;
        }
    }

    #[test]
    fn declared_levels_sit_in_their_gap() {
        use declared::{Gap1, Gap2, Side};
        assert!(after::<Gap1, XenLock>());
        assert!(after::<Gap1, Unlocked>());
        assert!(after::<Gap2, Gap1>());
        assert!(after::<EvtchnLock, Gap2>());
        assert!(after::<Output, Gap1>());
        assert!(after::<Side, PageCache<0>>());
        assert!(after::<Output, Side>());
        assert_eq!(Gap1::RANK, XenLock::RANK + 1);
        assert_eq!(Gap2::RANK, XenLock::RANK + 2);
        assert_eq!(Side::NAME, "Side");
        const { assert!(Side::RANK > <PageCache<0>>::RANK && Side::RANK < <PageCache<1>>::RANK) };
    }
}
