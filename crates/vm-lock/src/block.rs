// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Waiting for other threads: [`blocking`] and the [`Paused`] proof.
//!
//! A thread that waits for another thread (joins it, waits for the vCPU threads to pause,
//! receives from a channel a lock-taking thread sends on) must hold no lock: the thread it
//! waits for may need that lock first. Such waits take the thread's `Unlocked` token
//! ([`MayBlock`]): holding anything, they do not compile.

use std::fmt;

use crate::held;
use crate::level::VcpuMutex;
use crate::mutex::OrderedMutex;
use crate::relation::MayBlock;
use crate::token::Token;

/// Runs `wait`, a blocking wait for other threads (a join, a handshake, a channel receive),
/// with proof that this thread holds no lock.
///
/// `token` must be the thread's `Unlocked` token ([`MayBlock`]): under any lock this does not
/// compile. In debug builds it also checks at run time that nothing is held (see
/// [`crate::held`]).
///
/// ```
/// use vm_lock::{blocking, Root};
/// let mut root = Root::new().unwrap();
/// let h = std::thread::spawn(|| 7);
/// assert_eq!(blocking(root.token(), || h.join()).unwrap(), 7);
/// ```
///
/// ```compile_fail
/// use vm_lock::{blocking, OrderedMutex, Root, XenLock};
/// let xen = OrderedMutex::<XenLock, ()>::new(());
/// let mut root = Root::new().unwrap();
/// let (_g, mut t) = xen.lock(root.token());
/// let h = std::thread::spawn(|| 7);
/// blocking(&mut t, || h.join()); // cannot block waiting for another thread while holding `XenLock`
/// ```
pub fn blocking<P: MayBlock, R>(token: &mut Token<'_, P>, wait: impl FnOnce() -> R) -> R {
    let _ = token;
    held::assert_nothing_held("a blocking wait for another thread");
    wait()
}

/// Debug-build check for APIs that take a [`MayBlock`] token and then block: panics if the
/// runtime backstop sees a lock held (only possible with two roots on one thread). No-op in
/// release builds.
pub fn assert_may_block<P: MayBlock>(token: &mut Token<'_, P>, what: &str) {
    let _ = token;
    held::assert_nothing_held(what);
}

/// Proof that the vCPU threads of one VM are paused (out of their run loop, not holding their
/// vCPU mutexes), naming the VM's one canonical vCPU slice: what [`crate::lock_all_vcpus`]
/// locks.
///
/// A VMM makes it right after its pause handshake (or before any vCPU thread exists), which is
/// a blocking wait, so making one needs the thread's `Unlocked` token; it does not keep the
/// token borrowed. It does not resume anything when dropped: resuming is the VMM's business.
pub struct Paused<'v, T> {
    vcpus: &'v [OrderedMutex<VcpuMutex, T>],
}

impl<'v, T> Paused<'v, T> {
    /// The vCPUs `vcpus` are paused: call only once the VMM's vCPU threads stopped (its pause
    /// handshake returned) or before any of them runs. `vcpus` must be the VM's one vCPU slice.
    pub fn new<P: MayBlock>(
        token: &mut Token<'_, P>,
        vcpus: &'v [OrderedMutex<VcpuMutex, T>],
    ) -> Self {
        assert_may_block(token, "pausing the vCPUs");
        Paused { vcpus }
    }

    /// The paused VM's vCPU mutexes.
    pub fn vcpus(&self) -> &'v [OrderedMutex<VcpuMutex, T>] {
        self.vcpus
    }

    /// Whether this proof is about `vcpus` (the same slice, not a copy of it).
    pub fn is_for(&self, vcpus: &[OrderedMutex<VcpuMutex, T>]) -> bool {
        std::ptr::eq(self.vcpus, vcpus)
    }
}

impl<T> fmt::Debug for Paused<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paused")
            .field("vcpus", &self.vcpus.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{VmLock, XenLock};
    use crate::{lock_all_vcpus, Root};

    #[test]
    fn blocking_runs_the_wait() {
        let mut root = Root::new().unwrap();
        let h = std::thread::spawn(|| 3);
        assert_eq!(blocking(root.token(), || h.join().unwrap()), 3);
    }

    #[test]
    fn paused_names_its_slice() {
        let vcpus: Vec<_> = (0..3u8).map(OrderedMutex::<VcpuMutex, u8>::new).collect();
        let other: Vec<_> = (0..3u8).map(OrderedMutex::<VcpuMutex, u8>::new).collect();
        let mut root = Root::new().unwrap();
        let paused = Paused::new(root.token(), &vcpus);
        assert!(paused.is_for(&vcpus));
        assert!(!paused.is_for(&other));
        assert!(!paused.is_for(&vcpus[..2]));
        let vm = OrderedMutex::<VmLock, ()>::new(());
        let (_g, mut t) = vm.lock(root.token());
        let (all, mut t) = lock_all_vcpus(&mut t, &paused);
        assert_eq!(all.iter().map(|g| **g).collect::<Vec<_>>(), vec![0, 1, 2]);
        let xen = OrderedMutex::<XenLock, ()>::new(());
        let _ = xen.lock(&mut t);
        // The other VM's vCPUs are untouched.
        assert!(other.iter().all(|m| m.try_lock_unordered(&t).is_some()));
    }

    #[cfg(debug_assertions)]
    #[test]
    fn blocking_with_a_lock_from_a_second_root_panics_in_debug() {
        let xen = OrderedMutex::<XenLock, ()>::new(());
        let mut root = Root::new().unwrap();
        // SAFETY: deliberately broken (two roots) to exercise the runtime backstop; the lock is
        // released before anything else happens on this thread.
        let mut second = unsafe { Root::new_unchecked() };
        let (g, _t) = xen.lock(second.token());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            blocking(root.token(), || ())
        }));
        drop(g);
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("blocking wait") && msg.contains("XenLock"),
            "{msg}"
        );
        blocking(root.token(), || ());
    }
}
