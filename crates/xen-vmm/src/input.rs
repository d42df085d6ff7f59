// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The console-input thread: host input (e.g. stdin) for the guest's
//! console, handed to the platform ([`xen_platform::XenPlatform::console_input`]).

use std::io::Read;

use vm_lock::Root;
use xen_platform::XenPlatform;

use crate::quiesce::HostGate;

/// Feeds host input to the console until EOF or the VM ends: to the PV
/// ring, or kept for `CONSOLEIO_read` with `VIRQ_CONSOLE` raised, whichever
/// the guest uses. Guest memory is touched only inside `gate` (a snapshot
/// holds it closed). Runs on its own thread; returns when `input` ends or
/// `done()` says the VM ended.
pub fn console_input(
    platform: &XenPlatform,
    gate: &HostGate,
    done: &dyn Fn() -> bool,
    input: Box<dyn Read + Send>,
) {
    console_input_with(platform, gate, done, &|| {}, input)
}

/// [`console_input`], calling `each` before handling each input (the VM's
/// test hook).
pub(crate) fn console_input_with(
    platform: &XenPlatform,
    gate: &HostGate,
    done: &dyn Fn() -> bool,
    each: &dyn Fn(),
    mut input: Box<dyn Read + Send>,
) {
    let Ok(mut root) = Root::new() else {
        return;
    };
    let mut buf = [0u8; 256];
    while !done() {
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        each();
        // Host-side state only: a snapshot taken now saves the input.
        let route = platform.queue_console_input(root.token(), &buf[..n]);
        // Guest memory: not while a snapshot is taken (the gate waits).
        let Some(_section) = gate.enter(root.token()) else {
            return;
        };
        platform.deliver_input(root.token(), route);
    }
}
