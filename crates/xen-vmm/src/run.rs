// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Running a [`Vm`]: one thread per vCPU ([`crate::vcpu`]) and the timer
//! thread ([`crate::timers`]) and the backend thread
//! ([`crate::backend_thread`]), until the guest shuts down or a vCPU fails.

use vm_lock::{blocking, Root};

use crate::error::{Error, Result};
use crate::vm::{ExitReason, Vm};

impl Vm {
    /// Runs until the guest shuts down or a vCPU fails.
    ///
    /// Waits for the threads it starts: call it from a thread that holds no
    /// vm-lock [`Root`] (it makes its own, and fails if the thread has one,
    /// so it never joins the vCPU threads while holding a lock they need).
    ///
    /// # Errors
    /// A VMM error ended the VM (never a guest crash, which is
    /// [`ExitReason::Crash`]): a vCPU thread failed or panicked
    /// ([`Error::Vcpu`], naming the thread), or the timer or console-input
    /// thread panicked ([`Error::Thread`]). A panic on any VMM thread stops
    /// every thread and returns promptly; it never hangs the VM or a pause.
    pub fn run(&self) -> Result<ExitReason> {
        let mut root = Root::new().map_err(|e| Error::Lock(e.to_string()))?;
        crate::kick::install_kick_handler()?;
        let stop = self
            .shared()
            .stop_evt
            .try_clone()
            .map_err(|source| Error::Io {
                op: "eventfd clone",
                source,
            })?;
        // The scope joins every thread it started: a wait for them, with
        // nothing held.
        let errors: Vec<Error> = blocking(root.token(), || {
            std::thread::scope(|s| {
                let timer_shared = self.shared().clone();
                let timer = std::thread::Builder::new()
                    .name("xen-timers".into())
                    .spawn_scoped(s, move || {
                        let shared = timer_shared.clone();
                        // A panic ends the VM as a VMM error naming the thread.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            crate::timers::timer_thread(timer_shared, stop)
                        }));
                        if let Err(p) = r {
                            shared.fail(
                                "xen-timers",
                                format!("panicked: {}", crate::vm::panic_message(&*p)),
                            );
                        }
                    })
                    .map_err(|source| Error::Io {
                        op: "spawn timer thread",
                        source,
                    });
                // The backends are served by their own thread: the guest's
                // notification only signals an eventfd.
                let backend_shared = self.shared().clone();
                self.shared().platform.set_serve_backends_inline(false);
                let backends = std::thread::Builder::new()
                    .name("xen-backends".into())
                    .spawn_scoped(s, move || {
                        let shared = backend_shared.clone();
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            crate::backend_thread::backend_thread(backend_shared)
                        }));
                        if let Err(p) = r {
                            shared.fail(
                                "xen-backends",
                                format!("panicked: {}", crate::vm::panic_message(&*p)),
                            );
                        }
                    })
                    .map_err(|source| Error::Io {
                        op: "spawn backend thread",
                        source,
                    });
                if backends.is_err() {
                    self.shared().platform.set_serve_backends_inline(true);
                }
                let mut handles = Vec::new();
                for id in 0..self.shared().vcpus.len() as u32 {
                    let shared = self.shared();
                    let h = std::thread::Builder::new()
                        .name(format!("vcpu{id}"))
                        .spawn_scoped(s, move || crate::vcpu::vcpu_thread(shared, id));
                    match h {
                        Ok(h) => handles.push((id, h)),
                        Err(source) => {
                            self.shared().finish(ExitReason::Crash);
                            return vec![Error::Io {
                                op: "spawn vCPU thread",
                                source,
                            }];
                        }
                    }
                }
                let mut errors = Vec::new();
                for (id, h) in handles {
                    match h.join() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => errors.push(e),
                        // Not reached: the thread contains its panics.
                        Err(p) => errors.push(Error::Vcpu(
                            id,
                            format!("thread panicked: {}", crate::vm::panic_message(&*p)),
                        )),
                    }
                }
                self.shared().finish(ExitReason::Crash);
                if let Ok(t) = timer {
                    let _ = t.join();
                }
                if let Ok(t) = backends {
                    let _ = t.join();
                }
                self.shared().platform.set_serve_backends_inline(true);
                errors
            })
        });
        // What the guest notified before it ended and the backend thread
        // did not serve yet (e.g. console output just before a shutdown).
        self.shared().platform.run_backends(root.token(), None);
        self.shared().platform.flush_console(root.token());
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        if let Some(f) = self.shared().vmm_failure() {
            return Err(Error::Thread {
                thread: f.thread.clone(),
                message: f.message.clone(),
            });
        }
        Ok(self.shared().exit_reason().unwrap_or(ExitReason::Crash))
    }
}
