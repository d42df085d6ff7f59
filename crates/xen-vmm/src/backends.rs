//! VMM backends reached through event channels: the PV console ring
//! (`HVM_PARAM_CONSOLE_PFN/EVTCHN`) with input from the host, the xenstore
//! ring (`HVM_PARAM_STORE_PFN/EVTCHN`), and the grant-table bookkeeping.
//! The device logic lives in [`crate::devices`] and the `xen-store` and
//! `xen-gnttab` crates; this module is the host plumbing: when to run it,
//! where output goes, which port to raise.
//!
//! The backends' guest ports are recorded in [`crate::hypervisor::XenState`]
//! (saved by snapshots with the rest of that state) and published in
//! `HVM_PARAM_CONSOLE_EVTCHN` / `HVM_PARAM_STORE_EVTCHN`. They are bound
//! at VM creation and bound again after the guest's `EVTCHNOP_reset`
//! closed them ([`rebind_after_reset`]).

use std::io::Read;
use std::sync::Arc;

use vm_lock::{LockAfter, Root, Token, XenLock};
use vm_memory::GuestMemoryMmap;
use xen_evtchn::Evtchn;

use xen_gnttab::GrantTable;
use xen_store::{Xenstore, XenstoreConfig};

use crate::devices::console::{Console, HypervisorConsole, InputRoute};
use crate::error::{Error, Result};
use crate::hypervisor::GRANT_FRAMES;
use crate::vm::{VmShared, VmmSink};

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
    /// Xen's console as `CONSOLEIO_write` reaches it (line-buffered, `(dN) ` prefixed).
    pub hv_console: HypervisorConsole,
}

impl Backends {
    /// Devices for a guest with `mem_bytes` of RAM (ring pages at the top
    /// of RAM) and `vcpus` vCPUs. The store starts with the nodes a
    /// toolstack writes for a new domain (`xen_store::toolstack`), plus
    /// `store/*` and `console/*` (ports and ring frames, as libxl writes them).
    pub fn new(
        mem_bytes: u64,
        vcpus: u32,
        domid: u16,
        name: &str,
        store_port: u32,
        console_port: u32,
    ) -> Result<Self> {
        let console_gfn = crate::memory::console_page(mem_bytes) >> 12;
        let store_gfn = crate::memory::store_page(mem_bytes) >> 12;
        let mut store = XenstoreConfig::new(domid, name)
            .with_vcpus(vcpus)
            .with_memory_kib(mem_bytes >> 10);
        store.entries.extend([
            ("store/port".to_string(), store_port.to_string()),
            ("store/ring-ref".to_string(), store_gfn.to_string()),
            ("console/port".to_string(), console_port.to_string()),
            ("console/ring-ref".to_string(), console_gfn.to_string()),
        ]);
        let err = |e: &dyn std::fmt::Display| Error::Config(format!("device setup: {e}"));
        Ok(Backends {
            console: Console::new(console_gfn, Vec::new()).map_err(|e| err(&e))?,
            store: Xenstore::new(store_gfn, store).map_err(|e| err(&e))?,
            gnttab: GrantTable::new(GRANT_FRAMES).map_err(|e| err(&e))?,
            hv_console: HypervisorConsole::new(domid),
        })
    }
}

/// Allocates the xenstore and then the console channel toward the backend
/// domain and binds the backend's end of each (interdomain to dom0, as
/// xenstored / xenconsoled leave them). Returns (console, store) guest ports.
///
/// # Errors
/// xen-evtchn's (no free port, no eventfd).
pub fn bind_ports<P: vm_lock::Level>(
    evtchn: &Evtchn<GuestMemoryMmap, VmmSink>,
    token: &mut Token<'_, P>,
) -> xen_evtchn::Result<(u32, u32)>
where
    XenLock: LockAfter<P>,
{
    let bind = |t: &mut Token<'_, P>| {
        let port = evtchn.alloc_unbound(t, xen_abi::DOMID_SELF, xen_evtchn::BACKEND_DOMID)?;
        evtchn.host_bind(t, port)?;
        Ok::<u32, xen_evtchn::Error>(port)
    };
    let store = bind(token)?;
    Ok((bind(token)?, store))
}

/// The guest's `EVTCHNOP_reset` closed every port, the backends' too (their
/// host ends are left unconnected). As Xen's toolstack and QEMU do on a soft
/// reset, the VMM re-establishes the console and xenstore channels: it
/// frees the stale host ends (every host port is a backend's), binds new
/// channels and records their ports in `HVM_PARAM_CONSOLE_EVTCHN` /
/// `HVM_PARAM_STORE_EVTCHN`, where the guest reads them again. Rings and
/// queued data are kept: they live in guest memory and in the devices.
///
/// # Errors
/// As [`bind_ports`]; the parameters then read 0 (no channel).
pub fn rebind_after_reset<P: vm_lock::Level>(
    shared: &VmShared,
    token: &mut Token<'_, P>,
) -> xen_evtchn::Result<()>
where
    XenLock: LockAfter<P>,
{
    let stale: Vec<u32> = shared
        .evtchn
        .state(token)
        .host_ports
        .iter()
        .filter(|h| h.guest_port.is_none())
        .map(|h| h.id)
        .collect();
    for id in stale {
        if let Err(e) = shared.evtchn.host_close(token, id) {
            log::debug!("closing host port {id}: {e}");
        }
    }
    let bound = bind_ports(&shared.evtchn, token);
    let (console, store) = *bound.as_ref().unwrap_or(&(0, 0));
    let (mut xen, mut t) = shared.xen.lock(token);
    xen.set_backend_ports(console, store);
    // As a toolstack would after a soft reset: the store's copies follow.
    let (mut be, _t) = shared.backends.lock(&mut t);
    be.store
        .write("console/port", console.to_string().as_bytes());
    be.store.write("store/port", store.to_string().as_bytes());
    bound.map(|_| ())
}

/// Runs the device(s) after the guest notified `which` (None: the guest
/// yielded, run both), writes console output, and raises the device's port
/// if it has something for the guest.
pub fn notify(shared: &VmShared, root: &mut Root, which: Option<Backend>) {
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
    let (console_port, store_port) = {
        let (xen, _t) = shared.xen.lock(root.token());
        (xen.console_port(), xen.store_port())
    };
    if raise_console {
        shared.raise_port(root.token(), console_port);
    }
    if raise_store {
        shared.raise_port(root.token(), store_port);
    }
}

/// Writes `CONSOLEIO_write` bytes to Xen's console: complete lines go to the
/// output sink, prefixed `(dN) `.
pub fn console_io_write<P: vm_lock::Level>(
    shared: &VmShared,
    token: &mut Token<'_, P>,
    bytes: &[u8],
) where
    vm_lock::PageCache<0>: LockAfter<P>,
{
    let (mut be, mut t) = shared.backends.lock(token);
    let mut out = Vec::new();
    be.hv_console.write(bytes, &mut out);
    if !out.is_empty() {
        shared.write_output(&mut t, &out);
    }
}

/// Writes out what is left of the console outputs (a `CONSOLEIO_write` line
/// without its newline); the VM calls it when it ends.
pub fn flush_output(shared: &VmShared, root: &mut Root) {
    let (mut be, mut t) = shared.backends.lock(root.token());
    let mut out = Vec::new();
    be.hv_console.flush(&mut out);
    if !out.is_empty() {
        shared.write_output(&mut t, &out);
    }
}

/// Feeds host input (e.g. stdin) to the console until EOF or the VM ends:
/// to the PV ring, or kept for `CONSOLEIO_read` with `VIRQ_CONSOLE` raised
/// (as Xen does for the domain that has console input), whichever the
/// guest uses (see [`crate::devices::console`]).
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
        let route = {
            let (mut be, _t) = shared.backends.lock(root.token());
            be.console.queue_input(&buf[..n]);
            be.console.input_route()
        };
        // Guest memory: not while a snapshot is taken (the gate waits).
        let Some(_section) = shared.host_gate.enter(root.token()) else {
            return;
        };
        match route {
            InputRoute::Ring => notify(&shared, &mut root, Some(Backend::Console)),
            InputRoute::ConsoleIo => {
                if let Err(e) = shared
                    .evtchn
                    .raise_virq(root.token(), xen_abi::VIRQ_CONSOLE, 0)
                {
                    log::debug!("VIRQ_CONSOLE: {e}");
                }
            }
        }
    }
}
