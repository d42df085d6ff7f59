// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen grant table (versions 1 and 2) for a VMM: the bookkeeping, and the use of
//! grants by backends.
//!
//! A Xen guest shares its pages with other domains through a grant table:
//! frames of grant entries, `grant_entry_v1 { u16 flags; u16 domid; u32 frame; }`
//! (512 per 4 KiB frame) or, after `GNTTABOP_set_version(2)`, 16-byte
//! `grant_entry_v2`s (256 per frame: full-page, sub-page or transitive grants) whose
//! `GTF_reading` / `GTF_writing` bits live apart, in *status frames* (2048
//! `grant_status_t` each, one status frame per 8 grant frames) ([`entry`]). The
//! hypervisor owns the frames; an HVM/PVH guest puts them into its physical address
//! space with `XENMEM_add_to_physmap(space = XENMAPSPACE_grant_table, idx, gpfn)`
//! (status frames: `idx | XENMAPIDX_grant_table_status`), at GFNs where there is no
//! RAM: GRUB takes the first e820 hole below 4 GiB, Linux takes pages from its
//! unpopulated-memory allocator, above the top of RAM (often above 4 GiB).
//!
//! This crate holds:
//!
//! - the bookkeeping ([`GrantTable`], [`table`]): which frame sits at which GFN, how
//!   many frames are in use, the version and its switches with Xen's rules, the
//!   answers to `GNTTABOP_query_size` / `setup_table` / `set_version` /
//!   `get_version` / `get_status_frames` and the errors;
//! - the use of grants ([`access`]): what a backend needs (look a grant up, map it to
//!   guest memory and unmap it with `GTF_reading` / `GTF_writing` accounting, copy
//!   from and to it), and the guest's own `GNTTABOP_copy` / `swap_grant_ref`, with
//!   Xen's `GNTST_*` answers.
//!
//! It touches no KVM and no memory map. The frame contents live in guest memory at the
//! GFNs the guest chose (a frame that is not mapped has no entries: it reads as zeros,
//! a use of it cannot be recorded). The VMM must:
//!
//! 1. on each [`GrantTable::add_to_physmap`] that returns a [`Remap`]:
//!    back `gfn` with a page if nothing is there yet (Xen replaces
//!    whatever was there; the `displaced` frame is unmapped), and make the
//!    frame's contents appear there (e.g. copy them from `old_gfn`, or map
//!    the same host page at the new GFN);
//! 2. snapshot the frame contents with the rest of guest memory and
//!    [`GrantTableState`] with the device state (mappings held by backends are not
//!    part of it: snapshot with none).
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
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x2000000)]).unwrap();
//! let e = GrantEntryV1 { flags: GTF_PERMIT_ACCESS, domid: 0, frame: 0x1234 };
//! mem.write_slice(&e.to_bytes(), GuestAddress(0xa000 + 3 * 8)).unwrap();
//! assert_eq!(gt.read_entry(&mem, 3), Some(e));
//!
//! // A backend of domain 0 maps it: GTF_reading is set while it is mapped.
//! let m = gt.map(&mem, 3, 0, true).unwrap();
//! assert_eq!(m.gpa, 0x1234 << 12);
//! let flags: u16 = mem.read_obj(GuestAddress(0xa000 + 3 * 8)).unwrap();
//! assert_eq!(flags, GTF_PERMIT_ACCESS | xen_abi::GTF_READING);
//! gt.unmap(&mem, m.handle).unwrap();
//! ```
//!
//! # Threat model
//!
//! Every argument comes from the guest, and so does every entry and status in guest
//! memory, which it may change at any time (flags are updated with atomic operations,
//! as Xen does, and checked again after a v2 status is set). Nothing here panics,
//! overflows or allocates beyond `max_frames` frames and [`MAX_MAPPINGS`] mappings.
//!
//! | guest sends | what happens |
//! | --- | --- |
//! | frame index `>= max_frames`; in v1 any index with the status bit; a status frame the table cannot have | [`Error::Invalid`] (`-EINVAL`), nothing changes |
//! | GFN `>=` [`MAX_GFN`] | [`Error::Invalid`] (`-EINVAL`) |
//! | two frames at one GFN | the older one is unmapped ([`Remap::displaced`] / [`Remap::displaced_status`]) |
//! | `setup_table` / `get_status_frames` for more frames than there are | [`Error::Invalid`] (Xen: `GNTST_general_error`) |
//! | `set_version` of another number; of 2 on a table limited to v1 | [`Error::Version`] (`-EINVAL`; `-ENOSYS`) |
//! | `set_version` with grants in use; v2 to v1 with reserved entries v1 cannot hold | [`Error::Busy`] (`-EBUSY`); [`Error::Range`] (`-ERANGE`) |
//! | a grant reference beyond the table, not granting, read-only for a write, of a frame that is not RAM, in use by another domain | `GNTST_bad_gntref` / `GNTST_general_error` / `GNTST_bad_page` |
//! | a copy range beyond the page / beyond a sub-page grant | `GNTST_bad_copy_arg` / `GNTST_general_error` |
//! | grant reference past the frames in use / frame not mapped / not RAM | [`GrantTable::read_entry`] gives `None` |
//!
//! Whether a GFN is a place the guest may put a frame (inside its
//! physical address width, not over MMIO) is the VMM's call: it knows the
//! memory map.

pub mod access;
pub mod entry;
pub mod error;
pub mod state;
pub mod table;

pub use access::{no_grant_status, CopyEnv, CopyOp, CopyPtr, GrantMapping, MAX_MAPPINGS, MAX_PINS};
pub use entry::{
    GrantEntry, GrantEntryV1, GrantKind, ENTRIES_PER_FRAME, ENTRIES_PER_FRAME_V2,
    GRANT_ENTRY_V1_SIZE, GRANT_ENTRY_V2_SIZE, GTF_PERMIT_ACCESS, GTF_READONLY, PAGE_SIZE,
    STATUS_PER_FRAME,
};
pub use error::{Error, GntStatus, Result};
pub use state::GrantTableState;
pub use table::{
    Frame, GrantTable, Remap, MAX_FRAMES_LIMIT, MAX_GFN, XENMAPIDX_GRANT_TABLE_STATUS,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
