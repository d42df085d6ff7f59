//! The console-input thread: host input (e.g. stdin) for the guest's
//! console, handed to the platform ([`xen_platform::XenPlatform::console_input`]).

use std::io::Read;
use std::sync::Arc;

use vm_lock::Root;

use crate::vm::VmShared;

/// Feeds host input to the console until EOF or the VM ends: to the PV
/// ring, or kept for `CONSOLEIO_read` with `VIRQ_CONSOLE` raised, whichever
/// the guest uses. Runs on its own thread; returns when `input` ends.
pub fn console_input(shared: Arc<VmShared>, mut input: Box<dyn Read + Send>) {
    let Ok(mut root) = Root::new() else {
        return;
    };
    let mut buf = [0u8; 256];
    while !shared.is_done() {
        let n = match input.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Host-side state only: a snapshot taken now saves the input.
        let route = shared.platform.queue_console_input(root.token(), &buf[..n]);
        // Guest memory: not while a snapshot is taken (the gate waits).
        let Some(_section) = shared.host_gate.enter(root.token()) else {
            return;
        };
        shared.platform.deliver_input(root.token(), route);
    }
}
