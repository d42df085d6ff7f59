// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Kicking vCPU threads: the per-vCPU control block other threads use
//! ([`VcpuControl`]) and the kick itself ([`kick_ctl`]): `kvm_run.immediate_exit`,
//! a signal that ends `KVM_RUN` with `EINTR`, and an unpark.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::thread::Thread;

use crate::error::{Error, Result};

/// Cross-thread control of one vCPU (atomics only).
#[derive(Debug, Default)]
pub struct VcpuControl {
    /// `kvm_run.immediate_exit` of this vCPU (set once at creation).
    pub immediate_exit: AtomicPtr<u8>,
    /// pthread of the vCPU thread while it runs (0 otherwise).
    pub pthread: AtomicU64,
    /// The vCPU thread, for unpark.
    pub thread: OnceLock<Thread>,
    /// The vCPU runs (PVH secondary vCPUs stay down).
    pub online: AtomicBool,
    /// Exits handled (statistics).
    pub exits: AtomicU64,
    /// Kicks so far: a thread polling before it parks ([`crate::halt_poll`])
    /// watches it change.
    pub kicks: AtomicU64,
    /// The thread is in its wait (polling or parked, outside `KVM_RUN`): a
    /// kick unparks it and sends no signal. It re-checks why it waits after
    /// clearing this (see [`kick_ctl`]).
    pub waiting: AtomicBool,
}

/// The signal used to kick vCPU threads out of `KVM_RUN`.
pub fn kick_signal() -> libc::c_int {
    vmm_sys_util::signal::SIGRTMIN() + 4
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Installs the (empty) kick signal handler once per process.
pub fn install_kick_handler() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut res = Ok(());
    ONCE.call_once(|| {
        if let Err(e) = vmm_sys_util::signal::register_signal_handler(kick_signal(), on_kick) {
            res = Err(Error::Io {
                op: "register kick signal handler",
                source: std::io::Error::from_raw_os_error(e.errno()),
            });
        }
    });
    res
}

/// Kicks one vCPU: `immediate_exit`, the kick signal, unpark. The signal
/// is skipped while the thread is in its wait ([`VcpuControl::waiting`]):
/// the unpark wakes it, and a signal would only interrupt its futex. A kick
/// from the vCPU's own thread only counts (see the body).
///
/// Ordering: the caller changed what the vCPU must see (a pending event, the
/// pause or end of the VM) before kicking. The fence below and the one the
/// thread executes after clearing `waiting` make a Dekker pair: either this
/// kick sees `waiting` clear and signals, or the thread, leaving its wait,
/// sees the change.
pub fn kick_ctl(c: &VcpuControl) {
    std::sync::atomic::fence(Ordering::SeqCst);
    c.kicks.fetch_add(1, Ordering::SeqCst);
    let t = c.pthread.load(Ordering::Acquire);
    // SAFETY: pthread_self has no preconditions and only reads the calling
    // thread's descriptor.
    if t != 0 && t == unsafe { libc::pthread_self() } as u64 {
        // The vCPU's own thread (a send to itself, a timer it fired): it is
        // outside KVM_RUN, running this, and checks the end, the pause and its
        // pending upcalls before it enters again (and clears `immediate_exit`
        // first). A signal to itself would only run the empty handler.
        return;
    }
    let p = c.immediate_exit.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: `p` points into the vCPU's kvm_run mapping, which lives as
        // long as the VcpuFd inside the VM's `vcpus`, i.e. as long as any
        // holder of the control block can run (threads are joined first).
        let a = unsafe { &*(p as *const std::sync::atomic::AtomicU8) };
        a.store(1, Ordering::SeqCst);
    }
    std::sync::atomic::fence(Ordering::SeqCst);
    if t != 0 && !c.waiting.load(Ordering::SeqCst) {
        // SAFETY: `t` is the pthread of a vCPU thread that has not been joined
        // (it clears `pthread` before returning); the signal has a no-op handler.
        unsafe { libc::pthread_kill(t as libc::pthread_t, kick_signal()) };
    }
    if let Some(th) = c.thread.get() {
        th.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kick from another thread sets `immediate_exit`; one from the vCPU's own
    /// thread (outside `KVM_RUN` by construction) only counts.
    #[test]
    fn a_kick_from_the_vcpu_thread_itself_only_counts() {
        let mut exit_flag = 0u8;
        let c = VcpuControl::default();
        c.immediate_exit
            .store(std::ptr::addr_of_mut!(exit_flag), Ordering::Release);
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as u64;
        c.pthread.store(me, Ordering::Release);
        kick_ctl(&c);
        assert_eq!(c.kicks.load(Ordering::SeqCst), 1);
        // SAFETY: the flag outlives `c`'s use; read back through the same pointer.
        let set = unsafe { *c.immediate_exit.load(Ordering::Acquire) };
        assert_eq!(set, 0, "a self-kick set immediate_exit");
        // Another thread's kick of a vCPU thread that is not running (pthread 0).
        c.pthread.store(0, Ordering::Release);
        std::thread::scope(|s| {
            s.spawn(|| kick_ctl(&c));
        });
        assert_eq!(c.kicks.load(Ordering::SeqCst), 2);
        // SAFETY: as above.
        let set = unsafe { *c.immediate_exit.load(Ordering::Acquire) };
        assert_eq!(set, 1);
    }
}
