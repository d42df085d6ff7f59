// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The devices the guest reaches through event channels: the PV console
//! ring (`HVM_PARAM_CONSOLE_PFN/EVTCHN`), the xenstore ring
//! (`HVM_PARAM_STORE_PFN/EVTCHN`), the grant table, and Xen's own console
//! (`console_io`). The device logic lives in [`crate::console`] and the
//! `xen-store` and `xen-gnttab` crates; this module is the plumbing: when to
//! run them, where output goes, which port to raise.
//!
//! The backends' guest ports are recorded in [`crate::state::XenState`]
//! (saved by snapshots with the rest of that state) and published in
//! `HVM_PARAM_CONSOLE_EVTCHN` / `HVM_PARAM_STORE_EVTCHN`. They are bound
//! when the platform is created and bound again after the guest's
//! `EVTCHNOP_reset` closed them ([`rebind_after_reset`]).

use vm_lock::{Devices, EvtchnLock, Level, LockAfter, MemRead, MemReadGuard, Token, XenLock};
use vm_memory::GuestMemoryMmap;

use xen_gnttab::GrantTable;
use xen_store::{Xenstore, XenstoreConfig};

use crate::console::{Console, HypervisorConsole};
use crate::error::{Error, Result};
use crate::platform::{PlatformConfig, PlatformEvtchn, XenPlatform};
use crate::vbd::{Vbd, VbdAction};

/// A device reachable through an event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The PV console.
    Console,
    /// The xenstore ring.
    Store,
    /// A PV block device's ring ([`crate::vbd`]).
    Block,
}

/// The backend devices (lock level `Devices`).
#[derive(Debug)]
pub struct Backends {
    /// PV console; output collects in the `Vec` until drained to the sink.
    pub console: Console<Vec<u8>>,
    /// Xenstore server.
    pub store: Xenstore,
    /// Grant-table frames.
    pub gnttab: GrantTable,
    /// Xen's console as `CONSOLEIO_write` reaches it (line-buffered, `(dN) ` prefixed).
    pub hv_console: HypervisorConsole,
    /// PV block devices, one per [`PlatformConfig::disks`] entry.
    pub vbds: Vec<Vbd>,
}

impl Backends {
    /// Devices for a domain configured as `config`. The store starts with
    /// the nodes a toolstack writes for a new domain
    /// (`xen_store::toolstack`) and the rings' frames; the ports follow when
    /// they are bound ([`Backends::publish_ports`]).
    pub fn new(config: &PlatformConfig) -> Result<Self> {
        let mut store = XenstoreConfig::new(config.domid, &config.name)
            .with_vcpus(config.nr_vcpus)
            .with_memory_kib(config.ram_bytes >> 10);
        store.entries.extend([
            ("store/ring-ref".to_string(), config.store_gfn.to_string()),
            (
                "console/ring-ref".to_string(),
                config.console_gfn.to_string(),
            ),
        ]);
        let err = |e: &dyn std::fmt::Display| Error::Config(format!("device setup: {e}"));
        let vbds = config
            .disks
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Vbd::open(config.domid, i, d)
                    .map_err(|e| Error::Config(format!("disk {}: {e}", d.path.display())))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut store = Xenstore::with_quotas(config.store_gfn, store, config.xenstore_quotas)
            .map_err(|e| err(&e))?;
        for v in &vbds {
            v.publish(&mut store);
        }
        Ok(Backends {
            console: Console::new(config.console_gfn, Vec::new()).map_err(|e| err(&e))?,
            store,
            gnttab: GrantTable::new(config.grant_frames)
                .and_then(|g| g.with_max_version(config.grant_max_version))
                .map_err(|e| err(&e))?,
            hv_console: HypervisorConsole::new(config.domid),
            vbds,
        })
    }

    /// Writes the channels' ports where a toolstack writes them
    /// (`console/port`, `store/port`).
    pub fn publish_ports(&mut self, console: u32, store: u32) {
        self.store
            .write("console/port", console.to_string().as_bytes());
        self.store.write("store/port", store.to_string().as_bytes());
    }

    /// Whether guest port `port` is a connected vbd's channel.
    pub fn is_vbd_port(&self, port: u32) -> bool {
        port != 0
            && self
                .vbds
                .iter()
                .any(|v| v.host_port.is_some() && v.port == port)
    }
}

/// Allocates the xenstore and then the console channel toward the backend
/// domain and binds the backend's end of each (interdomain to dom0, as
/// xenstored / xenconsoled leave them). Returns (console, store) guest ports.
///
/// # Errors
/// xen-evtchn's (no free port, no eventfd).
pub fn bind_ports<P: Level>(
    evtchn: &PlatformEvtchn,
    token: &mut Token<'_, P>,
) -> xen_evtchn::Result<(u32, u32)>
where
    EvtchnLock: LockAfter<P>,
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
pub fn rebind_after_reset<P: Level>(
    p: &XenPlatform,
    token: &mut Token<'_, P>,
) -> xen_evtchn::Result<()>
where
    XenLock: LockAfter<P>,
    EvtchnLock: LockAfter<P>,
{
    let evtchn = p.evtchn();
    let stale: Vec<u32> = evtchn
        .state(token)
        .host_ports
        .iter()
        .filter(|h| h.guest_port.is_none())
        .map(|h| h.id)
        .collect();
    for id in stale {
        if let Err(e) = evtchn.host_close(token, id) {
            log::debug!("closing host port {id}: {e}");
        }
    }
    let bound = bind_ports(evtchn, token);
    p.wake_backends();
    let (console, store) = *bound.as_ref().unwrap_or(&(0, 0));
    let (mut xen, mut t) = p.xen_state().lock(token);
    xen.set_backend_ports(console, store);
    // As a toolstack would after a soft reset: the store's copies follow.
    let (mut be, _t) = p.backends().lock(&mut t);
    be.publish_ports(console, store);
    bound.map(|_| ())
}

/// Runs the device(s) after the guest notified `which` (None: the guest
/// yielded, run them all), writes console output, and raises the device's port
/// if it has something for the guest. After the store ran, the vbds look at
/// their frontends' xenstore nodes ([`Vbd::poll`]).
pub fn notify(
    p: &XenPlatform,
    token: &mut Token<'_, MemRead>,
    mem: &MemReadGuard<'_, GuestMemoryMmap>,
    which: Option<Backend>,
) {
    let run_console = matches!(which, None | Some(Backend::Console));
    let run_store = matches!(which, None | Some(Backend::Store));
    let run_blk = matches!(which, None | Some(Backend::Block));
    let (raise_console, raise_store, actions) = {
        let (mut be, mut t) = p.backends().lock(token);
        let mut rc = false;
        let mut rs = false;
        let mut actions = Vec::new();
        if run_console {
            rc = be.console.process(&**mem).unwrap_or_else(|e| {
                log::warn!("console: {e}");
                false
            });
        }
        if run_store {
            rs = be.store.process(&**mem).unwrap_or_else(|e| {
                log::warn!("xenstore: {e}");
                false
            });
            let Backends {
                vbds,
                store,
                gnttab,
                ..
            } = &mut *be;
            for (i, v) in vbds.iter_mut().enumerate() {
                actions.extend(v.poll(i, store, gnttab, mem));
            }
        }
        let out = std::mem::take(be.console.output_mut());
        if !out.is_empty() {
            p.write_output(&mut t, &out);
        }
        (rc, rs, actions)
    };
    if !actions.is_empty() {
        // A thread serving the backends waits on other host ports now.
        p.wake_backends();
    }
    let mut bound = Vec::new();
    for a in actions {
        match a {
            VbdAction::Bind { index, port } => {
                let hp = p.evtchn().host_bind(token, port);
                if let Err(e) = &hp {
                    log::warn!("vbd: binding the frontend's port {port}: {e}");
                }
                bound.push((index, port, hp.ok().map(|h| h.id())));
            }
            VbdAction::Close { id } => {
                if let Err(e) = p.evtchn().host_close(token, id) {
                    log::debug!("vbd: closing host port {id}: {e}");
                }
            }
        }
    }
    if !bound.is_empty() {
        let (mut be, _t) = p.backends().lock(token);
        let Backends {
            vbds,
            store,
            gnttab,
            ..
        } = &mut *be;
        for (i, port, id) in bound {
            if let Some(v) = vbds.get_mut(i) {
                v.bound(store, gnttab, mem, port, id);
            }
        }
    }
    let flushed = run_store && flush_store(p, token, mem);
    let raise_store = raise_store || flushed;
    let raise_blk = if run_blk || run_store {
        run_vbds(p, token, mem)
    } else {
        Vec::new()
    };
    let (console_port, store_port) = {
        let (xen, _t) = p.xen_state().lock(token);
        (xen.console_port(), xen.store_port())
    };
    if raise_console && connected(p, token, console_port) {
        p.raise_port_in(token, mem, console_port);
    }
    if raise_store && connected(p, token, store_port) {
        p.raise_port_in(token, mem, store_port);
    }
    for port in raise_blk {
        if connected(p, token, port) {
            p.raise_port_in(token, mem, port);
        }
    }
}

/// Sends what the store queued since it ran (watch events of the backends' writes).
fn flush_store(
    p: &XenPlatform,
    token: &mut Token<'_, MemRead>,
    mem: &MemReadGuard<'_, GuestMemoryMmap>,
) -> bool {
    let (mut be, _t) = p.backends().lock(token);
    if be.store.buffered().1 == 0 {
        return false;
    }
    be.store.process(&**mem).unwrap_or_else(|e| {
        log::warn!("xenstore: {e}");
        false
    })
}

/// Rounds of [`xen_blkback::BlkBack::process`] per vbd and notification.
const VBD_ROUNDS: u32 = 8;

/// Serves the connected vbds' rings; the ports to raise.
fn run_vbds(
    p: &XenPlatform,
    token: &mut Token<'_, MemRead>,
    mem: &MemReadGuard<'_, GuestMemoryMmap>,
) -> Vec<u32> {
    let (mut be, _t) = p.backends().lock(token);
    let Backends { vbds, gnttab, .. } = &mut *be;
    let mut raise = Vec::new();
    for v in vbds.iter_mut().filter(|v| v.host_port.is_some()) {
        let mut notify = false;
        for _ in 0..VBD_ROUNDS {
            match v.blk.process(gnttab, &**mem) {
                Ok(r) => {
                    notify |= r.notify;
                    if !r.more {
                        break;
                    }
                }
                Err(e) => {
                    log::warn!("vbd {}: {e}", v.dev);
                    break;
                }
            }
        }
        if notify {
            raise.push(v.port);
        }
    }
    raise
}

/// Whether guest port `port` is still an interdomain channel to the
/// backends' domain. The guest may close a backend's channel and reuse the
/// port number (an IPI, a VIRQ, ...): as in Xen, the backend's notifications
/// then go nowhere and the guest's sends on that port are not the device's.
pub fn connected<P: Level>(p: &XenPlatform, token: &mut Token<'_, P>, port: u32) -> bool
where
    vm_lock::EvtchnLock: LockAfter<P>,
{
    port != 0
        && p.evtchn()
            .status(token, xen_abi::DOMID_SELF, port)
            .is_ok_and(|s| {
                s.status == xen_abi::EVTCHNSTAT_INTERDOMAIN
                    && s.u[0] == u32::from(xen_evtchn::BACKEND_DOMID)
            })
}

/// Writes `CONSOLEIO_write` bytes to Xen's console: complete lines go to the
/// output sink, prefixed `(dN) `.
pub fn console_io_write<P: Level>(p: &XenPlatform, token: &mut Token<'_, P>, bytes: &[u8])
where
    Devices: LockAfter<P>,
{
    let (mut be, mut t) = p.backends().lock(token);
    let mut out = Vec::new();
    be.hv_console.write(bytes, &mut out);
    if !out.is_empty() {
        p.write_output(&mut t, &out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_gets_the_configured_quotas() {
        let mut config = PlatformConfig::new(1, 16 << 20);
        assert_eq!(
            Backends::new(&config).unwrap().store.quotas(),
            xen_store::Quotas::default()
        );
        config.xenstore_quotas.watches_per_connection = 3;
        let be = Backends::new(&config).unwrap();
        assert_eq!(be.store.quotas().watches_per_connection, 3);
        config.xenstore_quotas.watches_per_connection = 0;
        assert!(Backends::new(&config).is_err(), "out of range");
    }
}
