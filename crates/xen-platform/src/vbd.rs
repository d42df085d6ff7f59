// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! PV block devices (`vbd`): the xenbus side of [`xen_blkback`].
//!
//! For each configured disk the platform writes, as a toolstack and a backend
//! driver in domain 0 would, the backend directory
//! `/local/domain/0/backend/vbd/<domid>/<dev>` (`frontend`, `frontend-id`, `dev`,
//! `sectors`, `sector-size` 512, `info` (`VDISK_READONLY`), `mode`,
//! `feature-flush-cache`, `feature-barrier`, `feature-max-indirect-segments` (256),
//! `max-ring-page-order`, `state`
//! InitWait) and the frontend directory `device/vbd/<dev>` (`backend`,
//! `backend-id` 0, `virtual-device`, `device-type`, `state` Initialising), which the
//! guest owns. The platform has no watch of its own on the store: it looks at the
//! frontend's nodes each time the store has run ([`Vbd::poll`]), which is each time
//! the guest wrote to it. When the frontend is Initialised (or Connected) the
//! backend reads `ring-ref` / `ring-page-order` + `ring-ref<N>`, `event-channel`
//! and `protocol`, maps the ring, binds the channel and goes Connected; when the
//! frontend closes, the backend unmaps the ring, closes its end of the channel and
//! goes Closing then Closed; a frontend Initialising again after that finds the
//! backend in InitWait.

use std::path::PathBuf;

use vm_memory::GuestMemoryMmap;
use xen_blkback::{BlkBack, FileDisk, Protocol, RingState};
use xen_gnttab::GrantTable;
use xen_store::Xenstore;

/// `XenbusStateInitialising`.
pub const XENBUS_INITIALISING: u8 = 1;
/// `XenbusStateInitWait`.
pub const XENBUS_INIT_WAIT: u8 = 2;
/// `XenbusStateInitialised`.
pub const XENBUS_INITIALISED: u8 = 3;
/// `XenbusStateConnected`.
pub const XENBUS_CONNECTED: u8 = 4;
/// `XenbusStateClosing`.
pub const XENBUS_CLOSING: u8 = 5;
/// `XenbusStateClosed`.
pub const XENBUS_CLOSED: u8 = 6;

/// A disk to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// Raw image file.
    pub path: PathBuf,
    /// Refuse writes (`info` has `VDISK_READONLY`, `mode` is `r`).
    pub readonly: bool,
}

/// A vbd's state for snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VbdState {
    /// Virtual device number (`202 << 8 | index << 4`: xvda, xvdb, ...).
    pub dev: u32,
    /// The backend's xenbus state.
    pub state: u8,
    /// The frontend's event channel (guest port; 0: none).
    pub port: u32,
    /// The backend's host port bound to it.
    pub host_port: Option<u32>,
    /// The connected ring.
    pub ring: Option<RingState>,
}

/// One PV block device.
#[derive(Debug)]
pub struct Vbd {
    /// Virtual device number.
    pub dev: u32,
    /// Linux-style name (`xvda`).
    pub name: String,
    /// The backend.
    pub blk: BlkBack<FileDisk>,
    /// The backend's xenbus state.
    pub state: u8,
    /// The frontend's event channel (0: none).
    pub port: u32,
    /// The backend's host port bound to it.
    pub host_port: Option<u32>,
    domid: u16,
}

/// What the platform must do with event channels after a [`Vbd::poll`] (it holds
/// the device lock, the channels need theirs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VbdAction {
    /// Bind the backend's end of guest port `port` for vbd `index`.
    Bind {
        /// Index in [`crate::Backends::vbds`].
        index: usize,
        /// The frontend's port.
        port: u32,
    },
    /// Close host port `id`.
    Close {
        /// The host port.
        id: u32,
    },
}

impl Vbd {
    /// The device for disk number `index` of domain `domid`.
    ///
    /// # Errors
    /// The image cannot be opened.
    pub fn open(domid: u16, index: usize, disk: &DiskConfig) -> std::io::Result<Vbd> {
        let file = FileDisk::open(&disk.path, disk.readonly)?;
        let letter = (b'a' + (index % 26) as u8) as char;
        Ok(Vbd {
            dev: (202 << 8) | ((index as u32) << 4),
            name: format!("xvd{letter}"),
            blk: BlkBack::new(file, disk.readonly)
                .with_indirect(xen_blkback::MAX_INDIRECT_SEGMENTS),
            state: XENBUS_INIT_WAIT,
            port: 0,
            host_port: None,
            domid,
        })
    }

    /// The frontend directory, relative to the guest's home.
    pub fn frontend_dir(&self) -> String {
        format!("device/vbd/{}", self.dev)
    }

    /// The backend directory.
    pub fn backend_dir(&self) -> String {
        format!("/local/domain/0/backend/vbd/{}/{}", self.domid, self.dev)
    }

    /// Writes both directories as a toolstack and the backend driver would.
    pub fn publish(&self, store: &mut Xenstore) {
        let be = self.backend_dir();
        let fe = self.frontend_dir();
        let home = store.home();
        let nodes: Vec<(String, String)> = vec![
            (format!("{be}/frontend"), format!("{home}/{fe}")),
            (format!("{be}/frontend-id"), self.domid.to_string()),
            (format!("{be}/online"), "1".into()),
            (format!("{be}/removable"), "0".into()),
            (format!("{be}/bootable"), "1".into()),
            (format!("{be}/dev"), self.name.clone()),
            (format!("{be}/type"), "phy".into()),
            (
                format!("{be}/mode"),
                if self.blk.readonly() { "r" } else { "w" }.into(),
            ),
            (format!("{be}/sectors"), self.blk.sectors().to_string()),
            (format!("{be}/sector-size"), "512".into()),
            (format!("{be}/physical-sector-size"), "512".into()),
            (format!("{be}/info"), self.blk.info().to_string()),
            (format!("{be}/feature-flush-cache"), "1".into()),
            (format!("{be}/feature-barrier"), "1".into()),
            (
                format!("{be}/feature-max-indirect-segments"),
                self.blk.max_indirect_segments().to_string(),
            ),
            (
                format!("{be}/max-ring-page-order"),
                xen_blkback::MAX_RING_PAGE_ORDER.to_string(),
            ),
            (format!("{fe}/backend"), be.clone()),
            (format!("{fe}/backend-id"), "0".into()),
            (format!("{fe}/virtual-device"), self.dev.to_string()),
            (format!("{fe}/device-type"), "disk".into()),
            (format!("{fe}/state"), XENBUS_INITIALISING.to_string()),
            (format!("{be}/state"), self.state.to_string()),
        ];
        for (k, v) in nodes {
            if !store.write(&k, v.as_bytes()) {
                log::warn!("vbd: cannot write {k}");
            }
        }
    }

    fn set_state(&mut self, store: &mut Xenstore, state: u8) {
        self.state = state;
        let path = format!("{}/state", self.backend_dir());
        store.write(&path, state.to_string().as_bytes());
    }

    fn fe_read(&self, store: &Xenstore, node: &str) -> Option<String> {
        let v = store.read(&format!("{}/{node}", self.frontend_dir()))?;
        std::str::from_utf8(v).ok().map(|s| s.trim().to_string())
    }

    fn fe_u32(&self, store: &Xenstore, node: &str) -> Option<u32> {
        self.fe_read(store, node)?.parse().ok()
    }

    /// The frontend's ring: its grant references and ABI. `None` (logged) when a
    /// node is missing or out of range.
    fn ring_config(&self, store: &Xenstore) -> Option<(Vec<u32>, Protocol, u32)> {
        let port = self.fe_u32(store, "event-channel")?;
        let protocol = match self.fe_read(store, "protocol") {
            None => Protocol::X86_64,
            Some(p) if p.is_empty() => Protocol::X86_64,
            Some(p) => Protocol::from_name(&p).or_else(|| {
                log::warn!("vbd {}: unknown protocol {p:?}", self.dev);
                None
            })?,
        };
        let order = self.fe_u32(store, "ring-page-order").unwrap_or(0);
        if order > xen_blkback::MAX_RING_PAGE_ORDER {
            log::warn!("vbd {}: ring-page-order {order} too large", self.dev);
            return None;
        }
        let refs = if order == 0 && self.fe_read(store, "ring-ref").is_some() {
            vec![self.fe_u32(store, "ring-ref")?]
        } else {
            (0..1u32 << order)
                .map(|i| self.fe_u32(store, &format!("ring-ref{i}")))
                .collect::<Option<Vec<u32>>>()?
        };
        Some((refs, protocol, port))
    }

    /// Looks at the frontend's state and follows it; returns what to do with event
    /// channels.
    pub fn poll(
        &mut self,
        index: usize,
        store: &mut Xenstore,
        gnttab: &mut GrantTable,
        mem: &GuestMemoryMmap,
    ) -> Option<VbdAction> {
        let fe = self.fe_u32(store, "state").unwrap_or(0);
        match (fe as u8, self.state) {
            (XENBUS_INITIALISED | XENBUS_CONNECTED, XENBUS_INIT_WAIT) => {
                let Some((refs, protocol, port)) = self.ring_config(store) else {
                    log::warn!("vbd {}: frontend nodes incomplete or invalid", self.dev);
                    self.set_state(store, XENBUS_CLOSING);
                    return None;
                };
                if let Err(e) = self.blk.connect(gnttab, mem, &refs, protocol) {
                    log::warn!("vbd {}: {e}", self.dev);
                    self.set_state(store, XENBUS_CLOSING);
                    return None;
                }
                Some(VbdAction::Bind { index, port })
            }
            (XENBUS_CLOSING | XENBUS_CLOSED, XENBUS_CONNECTED | XENBUS_INIT_WAIT) => {
                self.blk.disconnect(gnttab, mem);
                self.port = 0;
                self.set_state(store, XENBUS_CLOSING);
                self.set_state(store, XENBUS_CLOSED);
                self.host_port.take().map(|id| VbdAction::Close { id })
            }
            (XENBUS_INITIALISING, XENBUS_CLOSED | XENBUS_CLOSING) => {
                // A new frontend (the next boot stage): offer the device again.
                self.set_state(store, XENBUS_INIT_WAIT);
                None
            }
            _ => None,
        }
    }

    /// The channel to the frontend is bound (`Some(host port)`) or could not be: the
    /// device goes Connected, or gives up the ring and closes.
    pub fn bound(
        &mut self,
        store: &mut Xenstore,
        gnttab: &mut GrantTable,
        mem: &GuestMemoryMmap,
        port: u32,
        host_port: Option<u32>,
    ) {
        if let Some(id) = host_port {
            self.port = port;
            self.host_port = Some(id);
            self.set_state(store, XENBUS_CONNECTED);
        } else {
            self.blk.disconnect(gnttab, mem);
            self.set_state(store, XENBUS_CLOSING);
        }
    }

    /// The state for a snapshot.
    pub fn state(&self) -> VbdState {
        VbdState {
            dev: self.dev,
            state: self.state,
            port: self.port,
            host_port: self.host_port,
            ring: self.blk.ring_state(),
        }
    }

    /// Takes over a saved state (after a restore): maps the ring again.
    ///
    /// # Errors
    /// A state that does not fit (unknown xenbus state, a ring that cannot be
    /// mapped).
    pub fn restore(
        &mut self,
        saved: &VbdState,
        gnttab: &mut GrantTable,
        mem: &GuestMemoryMmap,
    ) -> Result<(), String> {
        if !(XENBUS_INITIALISING..=XENBUS_CLOSED).contains(&saved.state) {
            return Err(format!("vbd {}: xenbus state {}", self.dev, saved.state));
        }
        if saved.ring.is_some() != (saved.state == XENBUS_CONNECTED) {
            return Err(format!("vbd {}: a ring only when connected", self.dev));
        }
        if let Some(r) = &saved.ring {
            self.blk
                .restore_ring(gnttab, mem, r)
                .map_err(|e| format!("vbd {}: {e}", self.dev))?;
        }
        self.state = saved.state;
        self.port = saved.port;
        self.host_port = saved.host_port;
        Ok(())
    }
}
