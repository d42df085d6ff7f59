// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`OrderedMutex`]: a `std::sync::Mutex` with a lock level, and [`lock_all_vcpus`].

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use crate::level::{VcpuMutex, VmLock};
use crate::relation::{Level, LockAfter};
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
#[must_use = "if unused the mutex unlocks at once"]
pub struct OrderedMutexGuard<'a, L: Level, T: ?Sized> {
    _level: PhantomData<fn() -> L>,
    guard: MutexGuard<'a, T>,
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
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            OrderedMutexGuard {
                _level: PhantomData,
                guard,
            },
            Token::new(),
        )
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
        let guard = match self.inner.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some((
            OrderedMutexGuard {
                _level: PhantomData,
                guard,
            },
            Token::new(),
        ))
    }

    /// Mutable access without locking (the `&mut` proves no one else holds it).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
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

/// Locks every vCPU mutex of `vcpus`, in index order, under the VM lock.
///
/// The only way to hold several [`VcpuMutex`] locks at once: a `Token<VcpuMutex>` cannot lock
/// another `VcpuMutex`, and this function needs the [`VmLock`] token. Every multi-vCPU locker
/// therefore goes through here and takes the vCPUs in the same (index) order, and any other
/// thread holds at most one vCPU mutex, so no cycle can form. Pass the VM's one canonical vCPU
/// slice: the index-order guarantee is per slice (two different orderings of the same mutexes
/// would defeat it).
pub fn lock_all_vcpus<'a, T>(
    token: &'a mut Token<'_, VmLock>,
    vcpus: &'a [OrderedMutex<VcpuMutex, T>],
) -> (
    Vec<OrderedMutexGuard<'a, VcpuMutex, T>>,
    Token<'a, VcpuMutex>,
) {
    let _ = token;
    let guards = vcpus
        .iter()
        .map(|m| OrderedMutexGuard {
            _level: PhantomData,
            guard: m.inner.lock().unwrap_or_else(PoisonError::into_inner),
        })
        .collect();
    (guards, Token::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::XenLock;
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
        let (_g_vm, mut t_vm) = vm.lock(root.token());
        let (mut guards, mut t_vcpu) = lock_all_vcpus(&mut t_vm, &vcpus);
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
}
