// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! [`OrderedRwLock`]: a `std::sync::RwLock` with a lock level.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::held;
use crate::relation::{Level, LockAfter};
use crate::token::Token;

/// A reader-writer lock at lock level `L`.
///
/// Same size as `std::sync::RwLock<T>`. [`read`](Self::read) and [`write`](Self::write) both
/// count as holding level `L` (a reader may block a writer, and a writer blocks readers, so
/// both take part in the order). Poisoning is recovered.
pub struct OrderedRwLock<L: Level, T: ?Sized> {
    _level: PhantomData<fn() -> L>,
    inner: RwLock<T>,
}

/// Shared guard of an [`OrderedRwLock`]; derefs to `T`.
#[must_use = "if unused the lock is released at once"]
pub struct OrderedReadGuard<'a, L: Level, T: ?Sized> {
    _level: PhantomData<fn() -> L>,
    guard: RwLockReadGuard<'a, T>,
}

/// Exclusive guard of an [`OrderedRwLock`]; derefs (mutably) to `T`.
#[must_use = "if unused the lock is released at once"]
pub struct OrderedWriteGuard<'a, L: Level, T: ?Sized> {
    _level: PhantomData<fn() -> L>,
    guard: RwLockWriteGuard<'a, T>,
}

impl<L: Level, T> OrderedRwLock<L, T> {
    /// Makes an unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        OrderedRwLock {
            _level: PhantomData,
            inner: RwLock::new(value),
        }
    }

    /// Consumes the lock and returns the value (recovering it if poisoned).
    pub fn into_inner(self) -> T {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<L: Level, T: ?Sized> OrderedRwLock<L, T> {
    /// Takes the lock shared. `token`'s level `P` must come before `L`.
    pub fn read<'a, P: Level>(
        &'a self,
        token: &'a mut Token<'_, P>,
    ) -> (OrderedReadGuard<'a, L, T>, Token<'a, L>)
    where
        L: LockAfter<P>,
    {
        let _ = token;
        held::check::<L>();
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        held::push::<L>(1, false);
        (
            OrderedReadGuard {
                _level: PhantomData,
                guard,
            },
            Token::new(),
        )
    }

    /// Takes the lock exclusive. `token`'s level `P` must come before `L`.
    pub fn write<'a, P: Level>(
        &'a self,
        token: &'a mut Token<'_, P>,
    ) -> (OrderedWriteGuard<'a, L, T>, Token<'a, L>)
    where
        L: LockAfter<P>,
    {
        let _ = token;
        held::check::<L>();
        let guard = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        held::push::<L>(1, false);
        (
            OrderedWriteGuard {
                _level: PhantomData,
                guard,
            },
            Token::new(),
        )
    }

    /// Mutable access without locking (the `&mut` proves no one else holds it).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<L: Level, T: Default> Default for OrderedRwLock<L, T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<L: Level, T> From<T> for OrderedRwLock<L, T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<L: Level, T: ?Sized + fmt::Debug> fmt::Debug for OrderedRwLock<L, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedRwLock")
            .field("level", &L::NAME)
            .field("inner", &&self.inner)
            .finish()
    }
}

#[cfg(debug_assertions)]
impl<L: Level, T: ?Sized> Drop for OrderedReadGuard<'_, L, T> {
    fn drop(&mut self) {
        held::pop::<L>(false);
    }
}

#[cfg(debug_assertions)]
impl<L: Level, T: ?Sized> Drop for OrderedWriteGuard<'_, L, T> {
    fn drop(&mut self) {
        held::pop::<L>(false);
    }
}

impl<L: Level, T: ?Sized> Deref for OrderedReadGuard<'_, L, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<L: Level, T: ?Sized> Deref for OrderedWriteGuard<'_, L, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<L: Level, T: ?Sized> DerefMut for OrderedWriteGuard<'_, L, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<L: Level, T: ?Sized + fmt::Debug> fmt::Debug for OrderedReadGuard<'_, L, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedReadGuard")
            .field("level", &L::NAME)
            .field("value", &&*self.guard)
            .finish()
    }
}

impl<L: Level, T: ?Sized + fmt::Debug> fmt::Debug for OrderedWriteGuard<'_, L, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedWriteGuard")
            .field("level", &L::NAME)
            .field("value", &&*self.guard)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{PageCache, VmLock, XenLock};
    use crate::{OrderedMutex, Root};
    use std::sync::Arc;

    #[test]
    fn read_write_nest() {
        let vm = OrderedRwLock::<VmLock, Vec<u32>>::new(vec![1]);
        let pc0 = OrderedRwLock::<PageCache<0>, u32>::new(0);
        let pc1 = OrderedMutex::<PageCache<1>, u32>::new(0);
        let mut root = Root::new().unwrap();
        {
            let (mut w, mut t) = vm.write(root.token());
            w.push(2);
            let (mut p0, mut t0) = pc0.write(&mut t);
            *p0 = 5;
            let (mut p1, _t1) = pc1.lock(&mut t0);
            *p1 = 6;
        }
        let (r, mut t) = vm.read(root.token());
        assert_eq!(*r, vec![1, 2]);
        let (p0, _t0) = pc0.read(&mut t);
        assert_eq!(*p0, 5);
    }

    #[test]
    fn readers_share_writer_excludes() {
        let l = Arc::new(OrderedRwLock::<XenLock, u32>::new(9));
        let mut root = Root::new().unwrap();
        let (r, _t) = l.read(root.token());
        let l2 = Arc::clone(&l);
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            let mut root = Root::new().unwrap();
            // A second reader gets in while we read.
            tx.send(*l2.read(root.token()).0).unwrap();
            let (mut w, _t) = l2.write(root.token());
            *w += 1;
        });
        assert_eq!(rx.recv().unwrap(), 9);
        drop(r);
        h.join().unwrap();
        assert_eq!(*l.read(root.token()).0, 10);
    }

    #[test]
    fn poison_is_recovered() {
        let l = Arc::new(OrderedRwLock::<VmLock, u32>::new(1));
        let l2 = Arc::clone(&l);
        assert!(std::thread::spawn(move || {
            let mut root = Root::new().unwrap();
            let (mut w, _t) = l2.write(root.token());
            *w = 2;
            panic!("poison it");
        })
        .join()
        .is_err());
        let mut l = Arc::try_unwrap(l).unwrap();
        *l.get_mut() += 1;
        assert_eq!(l.into_inner(), 3);
    }
}
