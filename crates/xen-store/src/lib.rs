// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A xenstore server for one Xen guest, over the guest's xenstore ring.
//!
//! The page at `HVM_PARAM_STORE_PFN` is a `xenstore_domain_interface`: a
//! request ring (`req[1024]`, the guest produces) and a response ring
//! (`rsp[1024]`, we produce) with free-running `u32` indices
//! ([`ring`]). Messages on both rings are an `xsd_sockmsg` header followed
//! by up to 4096 payload bytes, and may straddle the ring end and arrive
//! in pieces ([`wire`]).
//!
//! The store holds nodes with values, permissions and generations
//! (`store`), with Xen 4.17 xenstored's semantics: per-node permission
//! lists (owner first; dom0 privileged), transactions isolated from the
//! live store that fail with `EAGAIN` at commit on a conflict, watches
//! (initial event, children, removals, `@introduceDomain` /
//! `@releaseDomain`), `XS_DIRECTORY_PART`, and quotas ([`Quotas`], with
//! xenstored's defaults) so a guest cannot make the host hold much. Paths
//! that do not start with `/` are relative to the caller's home,
//! `/local/domain/<domid>`. At creation it holds what a toolstack writes
//! for a new domain ([`toolstack`]: `domid`, `name`, `vm`,
//! `cpu/<n>/availability`, `memory/target`, `control/...`). Every `XS_*`
//! message is answered; the privileged ones (`XS_INTRODUCE`,
//! `XS_RELEASE`, `XS_IS_DOMAIN_INTRODUCED` ...) only on the host-side
//! connections of the toolstack domain ([`Xenstore::connect`]), the guest
//! gets `EACCES`. Errors are `XENSTORE_ERROR_*` names ([`XsErr`]).
//!
//! The server is plain logic over guest memory: it reads and writes the
//! ring through [`vm_memory::Bytes<GuestAddress>`](vm_memory::Bytes) and
//! touches no KVM, thread, file descriptor or event channel. The VMM calls
//! [`Xenstore::process`] when the guest signals the store event channel
//! (`HVM_PARAM_STORE_EVTCHN`) or yields (GRUB spins on `SCHEDOP_yield`
//! waiting for replies), and raises that event channel when it returns
//! `true`. As in vm-superio, what a snapshot needs is a plain struct,
//! [`XenstoreState`], with [`Xenstore::state`] / [`Xenstore::from_state`].
//!
//! # Example
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_store::{encode, Xenstore, XenstoreConfig, REQ_PROD, RSP_OFF, XS_READ};
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
//! let cfg = XenstoreConfig::new(1, "guest").with_vcpus(2);
//! let mut xs = Xenstore::new(0xe, cfg).unwrap();
//! // Guest: XS_READ "cpu/1/availability" into the request ring, then req_prod.
//! let msg = encode(XS_READ, 7, 0, b"cpu/1/availability\0");
//! mem.write_slice(&msg, GuestAddress(0xe000)).unwrap();
//! mem.write_obj(msg.len() as u32, GuestAddress(0xe000 + REQ_PROD)).unwrap();
//! // VMM: the guest kicked the store port.
//! assert!(xs.process(&mem).unwrap(), "notify the guest");
//! let mut rsp = [0u8; 16 + 6];
//! mem.read_slice(&mut rsp, GuestAddress(0xe000 + RSP_OFF)).unwrap();
//! assert_eq!(&rsp[16..], b"online");
//! ```
//!
//! # Threat model
//!
//! The guest owns the ring page and may write anything at any time,
//! concurrently with the VMM. Every index is read once per pass with an
//! atomic load, all index arithmetic wraps, ring offsets are masked, and
//! nothing the guest writes makes the server panic, allocate without
//! bound or loop forever.
//!
//! | guest sends | what happens |
//! | --- | --- |
//! | `req_prod` ahead of `req_cons` by more than the ring size | logged; the pending data is dropped and `req_cons` jumps to `req_prod` |
//! | `rsp_cons` that runs ahead of our `rsp_prod` | logged; the response ring is treated as empty |
//! | header with `len > 4096` | `XS_ERROR "E2BIG"`, the rest of the request ring is dropped (resync) |
//! | garbage payload (no NUL, bad UTF-8, bad path) | `XS_ERROR "EINVAL"` |
//! | replies never consumed | requests stop being read once replies reach [`MAX_PENDING_REPLIES`] (back-pressure) |
//! | a flood of requests | at most [`MAX_MESSAGES_PER_CALL`] per [`Xenstore::process`] |
//! | many or big nodes, many watches or transactions, long paths | the [`Quotas`]: `ENOSPC`, `E2BIG`, `EINVAL` |
//! | access its nodes' permissions do not give | `EACCES` |

pub mod error;
pub mod ring;
pub mod server;
pub mod state;
mod store;
pub mod toolstack;
mod tree;
pub mod wire;

pub use error::{Error, Result};
pub use ring::{PAGE_SIZE, REQ_CONS, REQ_OFF, REQ_PROD, RING_SIZE, RSP_CONS, RSP_OFF, RSP_PROD};
pub use server::{
    ConnId, Xenstore, MAX_HOST_CONNECTIONS, MAX_MESSAGES_PER_CALL, MAX_NODES, MAX_PARTIAL_REQUEST,
    MAX_PENDING_REPLIES, MAX_PERMS, MAX_QUEUED_REPLIES, MAX_REQUEST_BYTES_PER_CALL,
    MAX_ROUNDS_PER_CALL, MAX_TRANSACTIONS, MAX_TRANSACTION_NODES, MAX_WATCHES,
};
pub use state::{Node, Perm, PermKind, Quotas, Transaction, Watch, XenstoreState};
pub use toolstack::{XenstoreConfig, DEFAULT_WRITABLE};
pub use wire::*;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
