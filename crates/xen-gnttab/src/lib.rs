// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen grant table (version 1) bookkeeping for a VMM.
//!
//! A Xen guest shares its pages with other domains through a grant table:
//! frames of `grant_entry_v1 { u16 flags; u16 domid; u32 frame; }` (512
//! entries per 4 KiB frame, [`entry`]). The hypervisor owns the frames; an
//! HVM/PVH guest puts them into its physical address space with
//! `XENMEM_add_to_physmap(space = XENMAPSPACE_grant_table, idx, gpfn)`,
//! at GFNs where there is no RAM: GRUB takes the first e820 hole below
//! 4 GiB, Linux takes pages from its unpopulated-memory allocator, above
//! the top of RAM (often above 4 GiB).
//!
//! This crate is the pure bookkeeping ([`GrantTable`]): which frame sits
//! at which GFN, how many frames are in use, the answers to
//! `GNTTABOP_query_size` / `setup_table` / `set_version` / `get_version`,
//! and the errors. It touches no KVM and no memory map. The host memory
//! behind the frames belongs to the VMM, which must:
//!
//! 1. on each [`GrantTable::add_to_physmap`] that returns a [`Remap`]:
//!    back `gfn` with a page if nothing is there yet (Xen replaces
//!    whatever was there; the `displaced` frame is unmapped), and make the
//!    frame's contents appear there (e.g. copy them from `old_gfn`, or map
//!    the same host page at the new GFN);
//! 2. snapshot the frame contents with the rest of guest memory and
//!    [`GrantTableState`] with the device state.
//!
//! # Example
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_gnttab::{GrantEntryV1, GrantTable, GTF_PERMIT_ACCESS};
//!
//! let mut gt = GrantTable::new(4).unwrap();
//! let r = gt.add_to_physmap(0, 0xa).unwrap(); // frame 0 at GFN 0xa
//! assert_eq!((r.frame, r.gfn, r.old_gfn), (0, 0xa, None));
//! assert_eq!(gt.query_size(), (1, 4));
//! assert_eq!(gt.frame_at(0xa), Some(0));
//!
//! // The guest grants its page 0x1234 to domain 0 in entry 3.
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
//! let e = GrantEntryV1 { flags: GTF_PERMIT_ACCESS, domid: 0, frame: 0x1234 };
//! mem.write_slice(&e.to_bytes(), GuestAddress(0xa000 + 3 * 8)).unwrap();
//! assert_eq!(gt.read_entry(&mem, 3), Some(e));
//! ```
//!
//! # Threat model
//!
//! Every argument comes from the guest. Nothing here panics, overflows or
//! allocates beyond `max_frames` entries.
//!
//! | guest sends | what happens |
//! | --- | --- |
//! | frame index `>= max_frames`, a v2 status frame index | [`Error::Invalid`] (`-EINVAL`), nothing changes |
//! | GFN `>=` [`MAX_GFN`] | [`Error::Invalid`] (`-EINVAL`) |
//! | two frames at one GFN | the older one is unmapped ([`Remap::displaced`]) |
//! | `setup_table` for more than `max_frames` | [`Error::Invalid`] (Xen: `GNTST_general_error`) |
//! | `set_version(2)` | [`Error::Version`] (`-EOPNOTSUPP`) |
//! | grant reference beyond the frames in use, frame not mapped | [`GrantTable::read_entry`] gives `None` |
//!
//! Whether a GFN is a place the guest may put a frame (inside its
//! physical address width, not over MMIO) is the VMM's call: it knows the
//! memory map.

pub mod entry;
pub mod error;
pub mod state;
pub mod table;

pub use entry::{
    GrantEntryV1, ENTRIES_PER_FRAME, GRANT_ENTRY_V1_SIZE, GTF_PERMIT_ACCESS, GTF_READONLY,
    PAGE_SIZE,
};
pub use error::{Error, Result};
pub use state::GrantTableState;
pub use table::{GrantTable, Remap, MAX_FRAMES_LIMIT, MAX_GFN, XENMAPIDX_GRANT_TABLE_STATUS};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
