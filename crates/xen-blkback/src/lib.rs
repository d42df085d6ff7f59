// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen PV block backend (blkif) for a VMM.
//!
//! A Xen guest's `xen-blkfront` (Linux), GRUB's `xen` disk driver or any other blkif
//! frontend shares a ring of requests with its backend through grant references
//! (`ring-ref` or `ring-ref0..N` for `2^ring-page-order` pages) and an event channel.
//! Each request names sectors of the virtual disk and up to
//! [`BLKIF_MAX_SEGMENTS_PER_REQUEST`] segments, each a granted page and the sectors
//! `first_sect..=last_sect` of it. This crate holds:
//!
//! - the wire format ([`proto`]): operations, statuses, the request layouts of 64-bit
//!   guests and of x86_32 guests (64-bit fields only 4-byte aligned, 108-byte entries
//!   instead of 112) and the ring geometry;
//! - backing stores ([`Disk`]): a raw image file ([`FileDisk`], `pread` / `pwrite`) and
//!   memory ([`MemDisk`]);
//! - the backend ([`BlkBack`]): it maps the ring pages with the frontend's
//!   [`GrantTable`](xen_gnttab::GrantTable), serves `BLKIF_OP_READ`, `WRITE`,
//!   `FLUSH_DISKCACHE`, `WRITE_BARRIER` and (if enabled) `DISCARD` and `INDIRECT` by
//!   copying data from
//!   and to the granted pages, at most [`Limits`] per call, and publishes responses
//!   with Xen's notification rule.
//!
//! It touches no KVM, no xenstore and no event channel: the VMM negotiates through
//! xenstore, calls [`BlkBack::connect`] with the frontend's ring references and
//! protocol, calls [`BlkBack::process`] when the frontend's event arrives (and again
//! while [`Processed::more`]), and sends the event back when [`Processed::notify`].
//!
//! # Example
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_gnttab::{GrantEntryV1, GrantTable, GTF_PERMIT_ACCESS};
//! use xen_blkback::*;
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x100000)]).unwrap();
//! let mut gt = GrantTable::new(1).unwrap();
//! gt.add_to_physmap(0, 0x10).unwrap(); // grant frame 0 at GFN 0x10
//! let grant = |gref: u32, gfn: u32| {
//!     let e = GrantEntryV1 { flags: GTF_PERMIT_ACCESS, domid: 0, frame: gfn };
//!     mem.write_slice(&e.to_bytes(), GuestAddress(0x10000 + u64::from(gref) * 8)).unwrap();
//! };
//! grant(1, 0x20); // the ring page
//! grant(2, 0x21); // a data page
//!
//! let mut disk = MemDisk::new(1 << 20);
//! disk.data[512..1024].fill(0xab); // sector 1
//! let mut be = BlkBack::new(disk, false);
//! be.connect(&mut gt, &mem, &[1], Protocol::X86_64).unwrap();
//!
//! // The frontend reads sector 1 into sector 0 of page 0x21.
//! let mut req = Request { operation: BLKIF_OP_READ, nr_segments: 1, id: 7, sector_number: 1, ..Default::default() };
//! req.seg[0] = Segment { gref: 2, first_sect: 0, last_sect: 0 };
//! mem.write_slice(&req.encode(Protocol::X86_64), GuestAddress(0x20000 + RING_HEADER)).unwrap();
//! mem.write_obj(1u32, GuestAddress(0x20000 + REQ_PROD)).unwrap();
//! mem.write_obj(1u32, GuestAddress(0x20000 + RSP_EVENT)).unwrap();
//!
//! let done = be.process(&mut gt, &mem).unwrap();
//! assert_eq!((done.requests, done.notify, done.more), (1, true, false));
//! let mut rsp = [0u8; Response::SIZE];
//! mem.read_slice(&mut rsp, GuestAddress(0x20000 + RING_HEADER)).unwrap();
//! assert_eq!(Response::decode(&rsp), Response { id: 7, operation: BLKIF_OP_READ, status: BLKIF_RSP_OKAY });
//! assert_eq!(mem.read_obj::<u8>(GuestAddress(0x21000)).unwrap(), 0xab);
//! ```
//!
//! # Threat model
//!
//! The frontend is hostile. Every ring index, request field and grant comes from it and
//! may change while the backend works: a request is copied out of the ring once, then
//! checked; nothing panics, overflows, loops without bound or touches memory that is
//! not granted to the backend.
//!
//! | frontend sends | what happens |
//! | --- | --- |
//! | `req_prod` more than a ring ahead of `req_cons` | [`Error::RingOverflow`]: the call stops, nothing more is consumed |
//! | more requests than [`Limits`] allow | the rest waits for the next call ([`Processed::more`]) |
//! | `nr_segments` 0 (read/write) or above 11 | `BLKIF_RSP_ERROR` with the request's id |
//! | `first_sect > last_sect`, `last_sect > 7` | `BLKIF_RSP_ERROR` |
//! | sectors past the end of the disk, or a sector number that overflows | `BLKIF_RSP_ERROR` |
//! | a grant reference out of the table, not granted, granted to another domain, or read-only for a read | `BLKIF_RSP_ERROR` (for a write, nothing reaches the disk) |
//! | a write, barrier with data or discard to a read-only disk | `BLKIF_RSP_ERROR` |
//! | indirect: 0 segments or more than offered, an inner operation other than read/write, a segment page not granted, a bad segment in it | `BLKIF_RSP_ERROR` |
//! | `BLKIF_OP_INDIRECT`, `DISCARD` when not enabled, any other operation | `BLKIF_RSP_EOPNOTSUPP` |
//! | ring pages: 0, not a power of two, above 16, or grants that cannot be mapped writable | [`Error::RingPages`] / [`Error::RingMap`]: no ring |

pub mod backend;
pub mod disk;
mod error;
pub mod proto;

pub use backend::{BlkBack, Limits, Processed, RingState};
pub use disk::{Disk, FileDisk, MemDisk};
pub use error::{Error, Result};
pub use proto::*;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
