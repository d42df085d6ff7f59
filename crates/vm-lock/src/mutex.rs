// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`OrderedMutex`]: a `std::sync::Mutex` with a lock level, [`lock_all_vcpus`] and
//! [`OrderedMutex::lock_both`].

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use crate::block::Paused;
use crate::error::Error;
use crate::held;
use crate::level::VcpuMutex;
use crate::relation::{Level, LockAfter, MayLockAllVcpus};
use crate::token::Token;

/// A mutex at lock level `L`.
///
/// Same size and layout cost as `std::sync::Mutex<T>` (checked at compile time), `Send`/`Sync`
/// exactly when `Mutex<T>` is. Locking needs the token of an earlier level and gives back a
/// token of level `L`; poisoning is recovered (the data is handed out as is).
pub struct OrderedMutex<L: Level, T: ?Sized> {
    _level: PhantomData<fn() -> L>,
    inner: Mutex<T>,
}

/// Guard of an [`OrderedMutex`]; derefs to `T`. Unlocks on drop.
///
/// Same size as `std::sync::MutexGuard` in release builds (in debug builds it also records
/// whether it was taken out of order, for the runtime check of [`crate::held`]).
#[must_use = "if unused the mutex unlocks at once"]
pub struct OrderedMutexGuard<'a, L: Level, T: ?Sized> {
    _level: PhantomData<fn() -> L>,
    guard: MutexGuard<'a, T>,
    #[cfg(debug_assertions)]
    unordered: bool,
}

impl<'a, L: Level, T: ?Sized> OrderedMutexGuard<'a, L, T> {
    /// Wraps a std guard just taken (and recorded by the runtime check).
    fn wrap(guard: MutexGuard<'a, T>, unordered: bool) -> Self {
        let _ = unordered;
        OrderedMutexGuard {
            _level: PhantomData,
            guard,
            #[cfg(debug_assertions)]
            unordered,
        }
    }
}

#[cfg(debug_assertions)]
impl<L: Level, T: ?Sized> Drop for OrderedMutexGuard<'_, L, T> {
    fn drop(&mut self) {
        held::pop::<L>(self.unordered);
    }
}

impl<L: Level, T> OrderedMutex<L, T> {
    /// Makes an unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        OrderedMutex {
            _level: PhantomData,
            inner: Mutex::new(value),
        }
    }

    /// Consumes the mutex and returns the value (recovering it if poisoned).
    pub fn into_inner(self) -> T {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<L: Level, T: ?Sized> OrderedMutex<L, T> {
    fn lock_inner(&self) -> MutexGuard<'_, T> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_lock_inner(&self) -> Option<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Locks the mutex, blocking until it is free.
    ///
    /// `token` proves the innermost level this thread holds is `P`, which must come before `L`.
    /// It stays borrowed as long as the guard or the returned `Token<L>` lives.
    pub fn lock<'a, P: Level>(
        &'a self,
        token: &'a mut Token<'_, P>,
    ) -> (OrderedMutexGuard<'a, L, T>, Token<'a, L>)
    where
        L: LockAfter<P>,
    {
        let _ = token;
        held::check::<L>();
        let guard = self.lock_inner();
        held::push::<L>(1, false);
        (OrderedMutexGuard::wrap(guard, false), Token::new())
    }

    /// Locks the mutex if it is free, without blocking; `None` if it is held.
    pub fn try_lock<'a, P: Level>(
        &'a self,
        token: &'a mut Token<'_, P>,
    ) -> Option<(OrderedMutexGuard<'a, L, T>, Token<'a, L>)>
    where
        L: LockAfter<P>,
    {
        let _ = token;
        held::check::<L>();
        let guard = self.try_lock_inner()?;
        held::push::<L>(1, false);
        Some((OrderedMutexGuard::wrap(guard, false), Token::new()))
    }

    /// Locks the mutex if it is free, *whatever this thread holds* (even a later level, or
    /// another lock of level `L`); `None` if it is held. Never blocks.
    ///
    /// A try-lock cannot deadlock, so the order does not apply to it; in exchange it gives no
    /// token, and the guard keeps `token` (and every token it came from) *shared*-borrowed:
    /// while the guard lives this thread cannot lock anything else, wait for readers or block,
    /// so it never waits while holding a lock out of order.
    pub fn try_lock_unordered<'a, P: Level>(
        &'a self,
        token: &'a Token<'_, P>,
    ) -> Option<OrderedMutexGuard<'a, L, T>> {
        let _ = token;
        let guard = self.try_lock_inner()?;
        held::push::<L>(1, true);
        Some(OrderedMutexGuard::wrap(guard, true))
    }

    /// Mutable access without locking (the `&mut` proves no one else holds it).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks two mutexes of the same level, in address order (whatever the argument order), and
    /// returns their guards in argument order with the token of level `L`.
    ///
    /// The only way to hold two locks of one level at once besides [`lock_all_vcpus`]: every
    /// thread that holds two takes them lowest address first, so no two threads wait for each
    /// other. (The vCPUs of [`lock_all_vcpus`] are a slice: index order is address order too.)
    ///
    /// # Errors
    /// [`Error::SameLock`] if `first` and `second` are the same mutex (it would deadlock).
    #[allow(clippy::type_complexity)]
    pub fn lock_both<'a, P: Level>(
        first: &'a Self,
        second: &'a Self,
        token: &'a mut Token<'_, P>,
    ) -> Result<
        (
            OrderedMutexGuard<'a, L, T>,
            OrderedMutexGuard<'a, L, T>,
            Token<'a, L>,
        ),
        Error,
    >
    where
        L: LockAfter<P>,
    {
        let _ = token;
        let (a, b) = (
            first as *const Self as *const u8,
            second as *const Self as *const u8,
        );
        if a == b {
            return Err(Error::SameLock);
        }
        held::check::<L>();
        let (g1, g2) = if a < b {
            let g1 = first.lock_inner();
            (g1, second.lock_inner())
        } else {
            let g2 = second.lock_inner();
            (first.lock_inner(), g2)
        };
        held::push::<L>(2, false);
        Ok((
            OrderedMutexGuard::wrap(g1, false),
            OrderedMutexGuard::wrap(g2, false),
            Token::new(),
        ))
    }
}

impl<L: Level, T: Default> Default for OrderedMutex<L, T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<L: Level, T> From<T> for OrderedMutex<L, T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<L: Level, T: ?Sized + fmt::Debug> fmt::Debug for OrderedMutex<L, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedMutex")
            .field("level", &L::NAME)
            .field("inner", &&self.inner)
            .finish()
    }
}

impl<L: Level, T: ?Sized> Deref for OrderedMutexGuard<'_, L, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<L: Level, T: ?Sized> DerefMut for OrderedMutexGuard<'_, L, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<L: Level, T: ?Sized + fmt::Debug> fmt::Debug for OrderedMutexGuard<'_, L, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedMutexGuard")
            .field("level", &L::NAME)
            .field("value", &&*self.guard)
            .finish()
    }
}

/// Locks every vCPU mutex of the paused VM, in index order, under the VM lock.
///
/// The only way to hold several [`VcpuMutex`] locks at once (besides
/// [`OrderedMutex::lock_both`]): a `Token<VcpuMutex>` cannot lock another `VcpuMutex`, and this
/// function needs the [`VmLock`](crate::level::VmLock) token (a vCPU mutex or anything inside
/// the VM lock held: does not compile, see [`MayLockAllVcpus`]). Every multi-vCPU locker
/// therefore takes the vCPUs in the same (index) order, and any other thread holds at most one
/// vCPU mutex, so no cycle can form.
///
/// `paused` proves the VMM's vCPU threads were stopped (so none sits in its run loop holding
/// its mutex indefinitely) and names the VM's one canonical vCPU slice, which is what gets
/// locked: another VM's vCPUs cannot be passed by mistake.
pub fn lock_all_vcpus<'a, P: MayLockAllVcpus, T>(
    token: &'a mut Token<'_, P>,
    paused: &'a Paused<'_, T>,
) -> (
    Vec<OrderedMutexGuard<'a, VcpuMutex, T>>,
    Token<'a, VcpuMutex>,
) {
    let _ = token;
    held::check::<VcpuMutex>();
    let vcpus = paused.vcpus();
    let guards: Vec<_> = vcpus
        .iter()
        .map(|m| OrderedMutexGuard::wrap(m.lock_inner(), false))
        .collect();
    held::push::<VcpuMutex>(guards.len(), false);
    (guards, Token::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{PageCache, VmLock, XenLock};
    use crate::Root;
    use std::sync::Arc;

    #[test]
    fn lock_nested_and_mutate() {
        let vm = OrderedMutex::<VmLock, u32>::new(1);
        let vcpu = OrderedMutex::<VcpuMutex, Vec<u8>>::new(vec![]);
        let xen = OrderedMutex::<XenLock, u64>::new(0);
        let mut root = Root::new().unwrap();
        {
            let (mut g_vm, mut t_vm) = vm.lock(root.token());
            let (mut g_vcpu, mut t_vcpu) = vcpu.lock(&mut t_vm);
            let (mut g_xen, _t_xen) = xen.lock(&mut t_vcpu);
            *g_vm += 1;
            g_vcpu.push(7);
            *g_xen = 42;
        }
        // Skipping levels: straight to XenLock.
        let (g, _t) = xen.lock(root.token());
        assert_eq!(*g, 42);
        drop(g);
        assert_eq!(*vm.lock(root.token()).0, 2);
        assert_eq!(vcpu.into_inner(), vec![7]);
    }

    #[test]
    fn try_lock_sees_contention() {
        let m = Arc::new(OrderedMutex::<XenLock, u8>::new(3));
        let mut root = Root::new().unwrap();
        let (g, _t) = m.lock(root.token());
        let m2 = Arc::clone(&m);
        let busy = std::thread::spawn(move || {
            let mut root = Root::new().unwrap();
            let busy = m2.try_lock(root.token()).is_none();
            busy
        })
        .join()
        .unwrap();
        assert!(busy);
        drop(g);
        let (g, _t) = m.try_lock(root.token()).expect("free now");
        assert_eq!(*g, 3);
    }

    #[test]
    fn poison_is_recovered() {
        let m = Arc::new(OrderedMutex::<VmLock, u32>::new(5));
        let m2 = Arc::clone(&m);
        let r = std::thread::spawn(move || {
            let mut root = Root::new().unwrap();
            let (mut g, _t) = m2.lock(root.token());
            *g = 6;
            panic!("poison it");
        })
        .join();
        assert!(r.is_err());
        let mut root = Root::new().unwrap();
        assert_eq!(*m.lock(root.token()).0, 6);
        let mut m = Arc::try_unwrap(m).unwrap();
        *m.get_mut() += 1;
        assert_eq!(m.into_inner(), 7);
    }

    #[test]
    fn lock_all_vcpus_holds_every_vcpu() {
        let vm = OrderedMutex::<VmLock, ()>::new(());
        let vcpus: Vec<_> = (0..4u32).map(OrderedMutex::<VcpuMutex, u32>::new).collect();
        let xen = OrderedMutex::<XenLock, u32>::new(0);
        let mut root = Root::new().unwrap();
        let paused = Paused::new(root.token(), &vcpus);
        let (_g_vm, mut t_vm) = vm.lock(root.token());
        let (mut guards, mut t_vcpu) = lock_all_vcpus(&mut t_vm, &paused);
        assert_eq!(guards.len(), 4);
        for (i, g) in guards.iter_mut().enumerate() {
            assert_eq!(**g, i as u32);
            **g += 10;
        }
        // Every vCPU mutex is really held.
        for v in &vcpus {
            assert!(v.inner.try_lock().is_err());
        }
        let (mut x, _t) = xen.lock(&mut t_vcpu);
        *x = guards.iter().map(|g| **g).sum();
        assert_eq!(*x, 10 + 11 + 12 + 13);
    }

    #[test]
    fn debug_shows_level() {
        let m = OrderedMutex::<XenLock, u8>::default();
        assert!(format!("{m:?}").contains("XenLock"));
    }

    #[test]
    fn lock_both_takes_address_order_and_returns_argument_order() {
        let pair: Vec<_> = (0..2u32).map(OrderedMutex::<XenLock, u32>::new).collect();
        let inner = OrderedMutex::<PageCache<0>, u32>::new(0);
        let mut root = Root::new().unwrap();
        {
            // Reversed arguments: still locks both, guards in argument order.
            let (a, b, mut t) = OrderedMutex::lock_both(&pair[1], &pair[0], root.token()).unwrap();
            assert_eq!((*a, *b), (1, 0));
            assert!(pair.iter().all(|m| m.inner.try_lock().is_err()));
            let (_p, _t) = inner.lock(&mut t);
        }
        assert!(matches!(
            OrderedMutex::lock_both(&pair[0], &pair[0], root.token()),
            Err(Error::SameLock)
        ));
        // Two threads locking the pair in opposite argument orders never deadlock.
        let pair = Arc::new(pair);
        let hs: Vec<_> = (0..2)
            .map(|k| {
                let pair = Arc::clone(&pair);
                std::thread::spawn(move || {
                    let mut root = Root::new().unwrap();
                    for _ in 0..20_000 {
                        let (x, y) = if k == 0 { (0, 1) } else { (1, 0) };
                        let (mut a, mut b, _t) =
                            OrderedMutex::lock_both(&pair[x], &pair[y], root.token()).unwrap();
                        *a += 1;
                        *b += 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*pair[0].lock(root.token()).0, 40_000);
    }

    #[test]
    fn try_lock_unordered_ignores_the_order_but_never_blocks() {
        let vm = OrderedMutex::<VmLock, u32>::new(5);
        let xen = OrderedMutex::<XenLock, u32>::new(0);
        let mut root = Root::new().unwrap();
        {
            let (mut x, t_xen) = xen.lock(root.token());
            // VmLock under XenLock: refused by `lock`, allowed as a try without a token.
            {
                let g = vm.try_lock_unordered(&t_xen).expect("free");
                *x = *g;
                // Held: a second try fails instead of blocking.
                assert!(vm.try_lock_unordered(&t_xen).is_none());
            }
            assert_eq!(*x, 5);
        }
        assert_eq!(*vm.lock(root.token()).0, 5);
    }

    #[cfg(debug_assertions)]
    #[test]
    fn runtime_backstop_tracks_levels_and_catches_a_second_root() {
        let vm = OrderedMutex::<VmLock, ()>::new(());
        let xen = OrderedMutex::<XenLock, ()>::new(());
        let mut root = Root::new().unwrap();
        {
            let (_g, mut t) = vm.lock(root.token());
            let (_x, t) = xen.lock(&mut t);
            assert_eq!(crate::held_levels(), vec!["VmLock", "XenLock"]);
            let _u = vm.try_lock_unordered(&t);
        }
        assert!(crate::held_levels().is_empty());
        // Two roots on one thread: the types cannot see it, the backstop can.
        // SAFETY: deliberately broken to exercise the check; the panic happens before the VM
        // lock is taken (no deadlock, nothing else locked afterwards).
        let mut second = unsafe { Root::new_unchecked() };
        let (g, _t) = xen.lock(root.token());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = vm.lock(second.token());
        }));
        drop(g);
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("taking `VmLock` while holding [XenLock]"),
            "{msg}"
        );
        assert!(crate::held_levels().is_empty());
    }
}
