// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Quiescing the VMM's host threads that write guest memory (the timer
//! thread, the console-input thread) for a snapshot.
//!
//! Such a thread does its guest-memory work inside a *section*
//! ([`HostGate::enter`]); a snapshot closes the gate ([`HostGate::pause`]),
//! which waits until every section in progress has ended (the last one
//! out acknowledges through an eventfd) and keeps new ones from starting:
//! a thread that arrives at the closed gate blocks, before touching guest
//! memory or consuming its input (timer expiries stay in their timerfds),
//! until [`HostGate::resume`]. A thread blocked elsewhere (reading stdin,
//! waiting in epoll) needs no acknowledgement: it cannot start a section.
//!
//! The handshake is a Dekker pair of sequentially consistent atomics: a
//! thread counts itself in, then checks the gate; the pauser closes the
//! gate, then waits for the count to reach zero. Either the thread sees the
//! gate closed (and counts itself out before touching anything) or the
//! pauser sees it counted in (and waits for its acknowledgement). No lock
//! is held while waiting: [`HostGate::enter`] takes the thread's
//! [`Unlocked`] token as proof.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use vm_lock::{MayBlock, Token, Unlocked};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// How long one wait on an eventfd lasts before the state is looked at
/// again (a safety net: wake-ups come through the eventfds).
const WAIT_MS: i32 = 100;

/// The gate of the host threads that write guest memory (see the module
/// documentation).
#[derive(Debug)]
pub struct HostGate {
    /// A pause is requested: no new section may start.
    closed: AtomicBool,
    /// The VM ended: no section starts, nobody waits any more.
    shut: AtomicBool,
    /// Threads inside a section.
    inside: AtomicU32,
    /// Threads blocked at the closed gate.
    waiting: AtomicU32,
    /// Readable while the gate is open again: threads at the gate wait on it.
    opened: EventFd,
    /// Signalled by the last thread leaving a section while the gate is
    /// closed: the pauser waits on it.
    ack: EventFd,
}

/// A thread's guest-memory section; ends when dropped.
#[derive(Debug)]
#[must_use = "the section ends when this is dropped"]
pub struct HostSection<'a> {
    gate: &'a HostGate,
}

impl Drop for HostSection<'_> {
    fn drop(&mut self) {
        self.gate.leave();
    }
}

/// Blocks until `fd` is readable or [`WAIT_MS`] passed.
fn wait_readable(fd: &EventFd) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for an eventfd this gate owns; poll only
    // writes `revents`.
    unsafe { libc::poll(&mut p, 1, WAIT_MS) };
}

impl HostGate {
    /// An open gate.
    pub fn new() -> std::io::Result<Self> {
        Ok(HostGate {
            closed: AtomicBool::new(false),
            shut: AtomicBool::new(false),
            inside: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
            opened: EventFd::new(EFD_NONBLOCK)?,
            ack: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// Starts a guest-memory section of the calling host thread, blocking
    /// while the gate is closed. `None` once the VM has ended
    /// ([`HostGate::shut_down`]). The token proves the thread holds no lock
    /// while it may block; the section does not borrow it.
    pub fn enter(&self, unlocked: &mut Token<'_, Unlocked>) -> Option<HostSection<'_>> {
        vm_lock::assert_may_block(unlocked, "HostGate::enter");
        loop {
            if self.shut.load(Ordering::SeqCst) {
                return None;
            }
            self.inside.fetch_add(1, Ordering::SeqCst);
            if !self.closed.load(Ordering::SeqCst) {
                return Some(HostSection { gate: self });
            }
            // Closed: count out again (acknowledging the pause) and wait.
            self.leave();
            self.waiting.fetch_add(1, Ordering::SeqCst);
            while self.closed.load(Ordering::SeqCst) && !self.shut.load(Ordering::SeqCst) {
                wait_readable(&self.opened);
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn leave(&self) {
        if self.inside.fetch_sub(1, Ordering::SeqCst) == 1 && self.closed.load(Ordering::SeqCst) {
            let _ = self.ack.write(1);
        }
    }

    /// Closes the gate and waits until no host thread is inside a section
    /// (or the VM ended). From then until [`HostGate::resume`] no host
    /// thread touches guest memory. Returns false, doing nothing, if the
    /// gate is already closed (one pauser at a time). A wait for the host
    /// threads, which take locks: `token` is the caller's `Unlocked` token.
    pub fn pause<P: MayBlock>(&self, token: &mut Token<'_, P>) -> bool {
        vm_lock::assert_may_block(token, "HostGate::pause");
        // Not readable any more: threads that find the gate closed block.
        let _ = self.opened.read();
        let _ = self.ack.read();
        if self.closed.swap(true, Ordering::SeqCst) {
            return false;
        }
        while self.inside.load(Ordering::SeqCst) != 0 && !self.shut.load(Ordering::SeqCst) {
            wait_readable(&self.ack);
            let _ = self.ack.read();
        }
        true
    }

    /// Opens the gate: blocked threads go on.
    pub fn resume(&self) {
        self.closed.store(false, Ordering::SeqCst);
        let _ = self.opened.write(1);
    }

    /// The VM ended: sections are refused and nobody waits any more.
    pub fn shut_down(&self) {
        self.shut.store(true, Ordering::SeqCst);
        let _ = self.opened.write(1);
        let _ = self.ack.write(1);
    }

    /// Whether the gate is closed.
    pub fn is_paused(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Host threads blocked at the closed gate right now.
    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Host threads inside a section right now.
    pub fn inside(&self) -> u32 {
        self.inside.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use vm_lock::Root;

    fn wait_for(what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(20), "timeout: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn pause_waits_for_sections_and_blocks_new_ones() {
        let gate = Arc::new(HostGate::new().unwrap());
        let work = Arc::new(AtomicU32::new(0));
        let release = Arc::new(AtomicBool::new(false));
        // A thread in a long section.
        let h1 = {
            let (gate, work, release) = (gate.clone(), work.clone(), release.clone());
            std::thread::spawn(move || {
                let mut root = Root::new().unwrap();
                let _s = gate.enter(root.token()).unwrap();
                work.fetch_add(1, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                work.fetch_add(1, Ordering::SeqCst);
            })
        };
        wait_for("first section", || work.load(Ordering::SeqCst) == 1);
        let pauser = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let mut root = Root::new().unwrap();
                assert!(gate.pause(root.token()))
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!pauser.is_finished(), "pause returned with a section open");
        release.store(true, Ordering::SeqCst);
        pauser.join().unwrap();
        h1.join().unwrap();
        assert_eq!(work.load(Ordering::SeqCst), 2);
        let mut root = Root::new().unwrap();
        assert!(!gate.pause(root.token()), "second pauser");
        // Paused: a new section blocks, and runs after resume.
        let h2 = {
            let (gate, work) = (gate.clone(), work.clone());
            std::thread::spawn(move || {
                let mut root = Root::new().unwrap();
                let _s = gate.enter(root.token()).unwrap();
                work.fetch_add(1, Ordering::SeqCst);
            })
        };
        wait_for("thread at the gate", || gate.waiting() == 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(work.load(Ordering::SeqCst), 2);
        assert_eq!(gate.inside(), 0);
        gate.resume();
        h2.join().unwrap();
        assert_eq!(work.load(Ordering::SeqCst), 3);
        // Closed again and shut down: waiters leave without a section.
        assert!(gate.pause(root.token()));
        let h3 = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let mut root = Root::new().unwrap();
                gate.enter(root.token()).is_none()
            })
        };
        wait_for("thread at the gate", || gate.waiting() == 1);
        gate.shut_down();
        assert!(h3.join().unwrap());
    }
}
