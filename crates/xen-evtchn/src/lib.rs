// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen event channels for a KVM-based VMM: the per-VM port table, the `EVTCHNOP_*`
//! operations, 2-level delivery into guest memory exactly as Xen does it, host-side backend
//! ports with eventfds, and `SCHEDOP_poll` wake-ups.
//!
//! * [`Evtchn`] holds the port table (lock level `EvtchnLock`) and delivers through the
//!   `shared_info` / `vcpu_info` caches of [`xen_shinfo_cache::XenPages`]. Its methods take
//!   plain arguments (ports, vCPU ids, domids) and return [`Result`]; [`Error::errno`] is the
//!   Xen errno for the hypercall return value.
//! * [`UpcallSink`] is the VMM's injection hook ([`UpcallKind`]: per-vCPU vector, global
//!   vector, GSI, or a plain kick) plus the poll wake-up hook.
//! * [`HostPort`] is a backend's end of an interdomain channel: the guest's sends signal its
//!   eventfd; the backend sends with [`Evtchn::host_send`] from any thread.
//! * [`EvtchnState`] is the plain state for snapshot / restore.
//!
//! Both ABIs: 2-level (4096 ports for 64-bit guests, 1024 for 32-bit) and FIFO
//! ([`Evtchn::init_control`], [`Evtchn::expand_array`], [`Evtchn::set_priority`]: 2^17
//! ports, 16 priority queues per vCPU, the event word protocol of Xen's `event_fifo.c`).
//!
//! # Example
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use vm_lock::{MemoryMap, Root};
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink, BACKEND_DOMID};
//! use xen_shinfo_cache::XenPages;
//!
//! #[derive(Default)]
//! struct Sink(AtomicU32);
//! impl UpcallSink for Sink {
//!     fn raise(&self, _vcpu: u32, _how: UpcallKind) {
//!         self.0.fetch_add(1, Ordering::SeqCst);
//!     }
//!     fn poll_wake(&self, _vcpu: u32) {}
//! }
//!
//! let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap());
//! let pages = Arc::new(XenPages::new(1));
//! let mut root = Root::new().unwrap();
//! let token = root.token();
//! pages.set_shared_info_gfn(token, Some(1)).unwrap();
//! let evtchn = Evtchn::new(EvtchnConfig::default(), mem.clone(), pages, Sink::default());
//!
//! // The guest offers a port to the backend domain, the backend binds it.
//! let port = evtchn.alloc_unbound(token, xen_abi::DOMID_SELF, BACKEND_DOMID).unwrap();
//! let backend = evtchn.host_bind(token, port).unwrap(); // notifies the backend once, as Xen
//! // The guest notifies the backend ...
//! evtchn.send(token, port).unwrap();
//! assert_eq!(backend.eventfd().read().unwrap(), 2);
//! // ... and the backend notifies the guest (an upcall on vCPU 0).
//! evtchn.host_send(token, backend.id()).unwrap();
//! assert!(evtchn.is_pending(token, port).unwrap());
//! assert_eq!(evtchn.sink().0.load(Ordering::SeqCst), 1);
//! // Bad input gets Xen errnos.
//! assert_eq!(evtchn.close(token, 4095).unwrap_err().errno(), xen_abi::errno::EINVAL);
//! ```

mod error;
mod evtchn;
mod host;
mod poll;
mod port_map;
mod state;
mod upcall;

pub use error::{Error, Result};
pub use evtchn::fifo::{EVENT_WORDS_PER_PAGE, MAX_EVENT_ARRAY_PAGES};
pub use evtchn::{
    virq_is_global, Delivery, Evtchn, EvtchnConfig, PortStatus, Sent, BACKEND_DOMID,
    MAX_HOST_PORTS, MAX_PORTS,
};
pub use host::HostPort;
pub use poll::MAX_POLL_PORTS;
pub use state::{Binding, EvtchnState, FifoState, HostPortState, PortState, Remote};
pub use upcall::{CallbackVia, UpcallKind, UpcallSink};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
