// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Cached, invalidatable host mappings of Xen guest pages: the userspace analogue of KVM's
//! `gfn_to_pfn_cache`, over [`vm_memory`] and the lock levels of [`vm_lock`].
//!
//! * [`GpaCache`] caches the host mapping of one guest-physical range. It is rebuilt after
//!   the memory map changes ([`vm_lock::MemoryMap::generation`]) or after an explicit
//!   [`GpaCache::invalidate`] / [`GpaCache::set_target`]. A mapping owns `Arc`s of the memory
//!   regions it points into ([`RegionArcs`]), so it never points at freed memory: a
//!   [`MappedRange`] clone held by a user keeps a removed region alive.
//! * [`MappedRange`] does the guest-memory accesses: atomic bit operations on arrays of guest
//!   longs (8 bytes for 64-bit guests, 4 for 32-bit), volatile reads/writes, all bounds-checked.
//! * [`XenPages`] is the per-VM set: `shared_info` (lock level `PageCache<0>`), and per vCPU a
//!   registered `vcpu_info` (which must not cross a page), `vcpu_time_info` and runstate area
//!   (which may cross a page), all at `PageCache<1>`. It implements the pvclock version
//!   protocol, the runstate `XEN_RUNSTATE_UPDATE` protocol and the wall-clock protocol, for
//!   both guest widths ([`GuestWidth`]).
//! * [`PagesState`] is the plain configuration for snapshot / restore.
//!
//! # Example
//!
//! ```
//! use vm_lock::{MemoryMap, Root};
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_shinfo_cache::{GuestWidth, WidthLayout, XenPages};
//!
//! let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap());
//! let pages = XenPages::<GuestMemoryMmap>::new(2);
//! let mut root = Root::new().unwrap();
//! let token = root.token();
//!
//! pages.set_shared_info_gfn(token, Some(0x5)).unwrap(); // XENMEM_add_to_physmap
//! let (snap, mut t) = mem.read(token);
//! // Port 70 of a 64-bit guest: bit 6 of evtchn_pending[1].
//! let w = GuestWidth::Bits64;
//! let was_set = pages
//!     .with_shared_info(&mut t, &snap, |sh, _| sh.test_and_set_bit(w, w.shinfo_evtchn_pending(), 70))
//!     .unwrap()
//!     .unwrap();
//! assert!(!was_set);
//! let word: u64 = snap.read_obj(GuestAddress(0x5000 + 2048 + 8)).unwrap();
//! assert_eq!(word, 1 << 6);
//! pages.set_wallclock(&mut t, &snap, 1_700_000_000, 5).unwrap();
//! let wc_version: u32 = snap.read_obj(GuestAddress(0x5000 + 3072)).unwrap();
//! assert_eq!(wc_version % 2, 0);
//! ```

mod cache;
mod error;
pub mod layout;
mod mapping;
mod pages;
mod state;

pub use cache::GpaCache;
pub use error::{Error, Result};
pub use layout::{GuestWidth, WidthLayout};
pub use mapping::{MappedRange, RegionArcs};
pub use pages::{PvclockTime, Runstate, VcpuInfoRef, XenPages};
pub use state::{PagesState, VcpuPagesState};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
