//! VMM backends reached through event channels: the PV console ring
//! (`HVM_PARAM_CONSOLE_PFN/EVTCHN`) with input from the host, the xenstore
//! ring (`HVM_PARAM_STORE_PFN/EVTCHN`), and the grant-table bookkeeping.
//! The device logic lives in [`crate::devices`]; this module is the host
//! plumbing: when to run it, where output goes, which port to raise.

use std::io::Read;
use std::sync::Arc;

use vm_lock::Root;

use crate::devices::console::Console;
use crate::devices::gnttab::GrantTable;
use crate::devices::xenstore::{Xenstore, XenstoreConfig};
use crate::error::{Error, Result};
use crate::hypervisor::GRANT_FRAMES;
use crate::vm::VmShared;

/// VMM-side devices reachable through an event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The PV console.
    Console,
    /// The xenstore ring.
    Store,
}

/// The backend devices (lock level `PageCache<0>`).
pub struct Backends {
    /// PV console; output collects in the `Vec` until drained to the sink.
    pub console: Console<Vec<u8>>,
    /// Xenstore server.
    pub store: Xenstore,
    /// Grant-table frames.
    pub gnttab: GrantTable,
}

impl Backends {
    /// Devices for a guest with `mem_bytes` of RAM (ring pages at the top of RAM).
    pub fn new(mem_bytes: u64, domid: u16, name: &str) -> Result<Self> {
        let err = |e: crate::devices::Error| Error::Config(format!("device setup: {e}"));
        Ok(Backends {
            console: Console::new(crate::memory::console_page(mem_bytes) >> 12, Vec::new())
                .map_err(err)?,
            store: Xenstore::new(
                crate::memory::store_page(mem_bytes) >> 12,
                XenstoreConfig::new(domid, name),
            )
            .map_err(err)?,
            gnttab: GrantTable::new(GRANT_FRAMES).map_err(err)?,
        })
    }
}

/// Runs the device(s) after the guest notified `which` (None: the guest
/// yielded, run both), writes console output, and raises the device's port
/// if it has something for the guest.
pub fn notify(shared: &VmShared, root: &mut Root, which: Option<Backend>) {
    let (console_port, store_port) = (shared.console_port, shared.store_port);
    let (raise_console, raise_store) = {
        let (mem, mut t) = shared.mem.read(root.token());
        let (mut be, mut t) = shared.backends.lock(&mut t);
        let mut rc = false;
        let mut rs = false;
        if which != Some(Backend::Store) {
            rc = be.console.process(&*mem).unwrap_or_else(|e| {
                log::warn!("console: {e}");
                false
            });
        }
        if which != Some(Backend::Console) {
            rs = be.store.process(&*mem).unwrap_or_else(|e| {
                log::warn!("xenstore: {e}");
                false
            });
        }
        let out = std::mem::take(be.console.output_mut());
        if !out.is_empty() {
            shared.write_output(&mut t, &out);
        }
        (rc, rs)
    };
    if raise_console {
        shared.raise_port(root.token(), console_port);
    }
    if raise_store {
        shared.raise_port(root.token(), store_port);
    }
}

/// Feeds host input (e.g. stdin) to the PV console until EOF or the VM ends.
/// Runs on its own thread; returns when `input` ends.
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
        {
            let (mut be, _t) = shared.backends.lock(root.token());
            be.console.queue_input(&buf[..n]);
        }
        // Guest memory: not while a snapshot is taken (the gate waits).
        let Some(_section) = shared.host_gate.enter(root.token()) else {
            return;
        };
        notify(&shared, &mut root, Some(Backend::Console));
    }
}
