// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Using grants: what a backend (device model) does with the grants a guest gives it
//! ([`GrantTable::lookup`], [`GrantTable::map`] / [`GrantTable::unmap`],
//! [`GrantTable::copy_from_grant`] / [`GrantTable::copy_to_grant`]), and the guest's own
//! `GNTTABOP_copy` ([`GrantTable::copy`]) and `GNTTABOP_swap_grant_ref`
//! ([`GrantTable::swap`]), with Xen's checks and `GNTST_*` answers.
//!
//! While a grant is in use its entry is *pinned*: Xen's `GTF_reading` (and `GTF_writing`
//! for a writable use) are set in the entry's flags (v1) or in its status (v2), where the
//! granting guest looks before it takes the grant back. They are cleared when the last
//! use of each kind ends.

use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, VolatileMemory};
use xen_abi::{
    DOMID_SELF, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_BAD_COPY_ARG, GNTST_BAD_DOMAIN,
    GNTST_BAD_GNTREF, GNTST_BAD_HANDLE, GNTST_BAD_PAGE, GNTST_EAGAIN, GNTST_GENERAL_ERROR,
    GNTST_NO_SPACE, GNTST_PERMISSION_DENIED, GRANT_ENTRIES_V1_PER_FRAME, GTF_PERMIT_ACCESS,
    GTF_READING, GTF_READONLY, GTF_SUB_PAGE, GTF_TRANSITIVE, GTF_TYPE_MASK, GTF_WRITING,
};

use crate::entry::{GrantEntry, GrantKind, GRANT_ENTRY_V2_SIZE, PAGE_SIZE};
use crate::error::GntStatus;
use crate::table::{GrantTable, MAX_GFN};

/// Most mappings a table tracks at once (then `GNTST_no_space`).
pub const MAX_MAPPINGS: usize = 1 << 16;
/// Most concurrent read (or write) uses of one entry: Xen keeps each count in 8 bits and
/// refuses the use that would set the top one (`GNTST_general_error`).
pub const MAX_PINS: u32 = 127;
/// Times a flags update is retried when the guest keeps changing the entry (Xen: 5).
const RETRIES: u32 = 5;

/// An entry in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Active {
    /// The domain using it.
    domid: u16,
    /// Read-only uses.
    readers: u32,
    /// Writable uses.
    writers: u32,
    /// The granted frame and range.
    gfn: u64,
    start: u16,
    length: u16,
    /// Pinned as a sub-page grant (copies only; blocks mappings).
    sub_page: bool,
}

impl Active {
    fn new(domid: u16, gfn: u64, start: u16, length: u16, sub_page: bool) -> Self {
        Active {
            domid,
            readers: 0,
            writers: 0,
            gfn,
            start,
            length,
            sub_page,
        }
    }

    fn add(&mut self, readonly: bool) {
        if readonly {
            self.readers += 1;
        } else {
            self.writers += 1;
        }
    }

    fn pins(&self) -> u32 {
        self.readers + self.writers
    }
}

/// A mapping of a grant, by handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MapTrack {
    gref: u32,
    readonly: bool,
}

/// A grant mapped by a backend ([`GrantTable::map`]): the granted frame, which the
/// backend reaches as guest memory, e.g. `mem.get_slice(GuestAddress(m.gpa), m.len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantMapping {
    /// Handle for [`GrantTable::unmap`].
    pub handle: u32,
    /// The grant reference.
    pub gref: u32,
    /// Guest-physical address of the granted frame.
    pub gpa: u64,
    /// Bytes mapped (a page).
    pub len: usize,
    /// Read-only mapping.
    pub readonly: bool,
}

/// One side of a guest's `GNTTABOP_copy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyPtr {
    /// Grant reference (if the op's flag says so) or frame of the caller.
    pub gref_or_gfn: u64,
    /// Domain of the grant, or `DOMID_SELF` for a frame.
    pub domid: u16,
    /// Offset in the frame.
    pub offset: u16,
}

/// A guest's `GNTTABOP_copy` operation (width-independent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyOp {
    /// Source.
    pub source: CopyPtr,
    /// Destination.
    pub dest: CopyPtr,
    /// Bytes to copy.
    pub len: u16,
    /// `GNTCOPY_*`.
    pub flags: u16,
}

/// What [`GrantTable::copy`] needs to know about the world besides the table.
pub struct CopyEnv<'a> {
    /// The caller's domain, whose table this is.
    pub domid: u16,
    /// Whether another domain id names a domain. Such domains grant the caller nothing
    /// ([`no_grant_status`]).
    pub domain_exists: &'a dyn Fn(u16) -> bool,
    /// Whether the caller's frame `gfn` is RAM it has now (not ballooned out).
    pub frame_ok: &'a dyn Fn(u64) -> bool,
}

impl std::fmt::Debug for CopyEnv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyEnv")
            .field("domid", &self.domid)
            .finish_non_exhaustive()
    }
}

/// Xen's answer for grant `gref` of a domain that grants the caller nothing: its table
/// has Xen's initial size (one v1 frame, 512 entries): a reference beyond it is
/// `GNTST_bad_gntref`, one inside it an entry that does not grant (`GNTST_general_error`).
pub fn no_grant_status(gref: u32) -> GntStatus {
    if gref >= GRANT_ENTRIES_V1_PER_FRAME {
        GNTST_BAD_GNTREF
    } else {
        GNTST_GENERAL_ERROR
    }
}

/// The granted frame and range of a use.
#[derive(Clone, Copy, Debug)]
struct Buf {
    gfn: u64,
    start: u16,
    length: u16,
}

/// Whether a use asks for a mapping (no sub-page or transitive grant) or a copy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Map,
    Copy,
}

/// An atomic view of a guest `u32` / `u16` (the entry header, a status).
fn atomic32<M: GuestMemoryBackend + ?Sized>(mem: &M, gpa: u64, f: impl FnOnce(&AtomicU32)) -> bool {
    let Ok(s) = mem.get_slice(GuestAddress(gpa), 4) else {
        return false;
    };
    match s.get_atomic_ref::<AtomicU32>(0) {
        Ok(a) => {
            f(a);
            true
        }
        Err(_) => false,
    }
}

fn atomic16<M: GuestMemoryBackend + ?Sized>(mem: &M, gpa: u64, f: impl FnOnce(&AtomicU16)) -> bool {
    let Ok(s) = mem.get_slice(GuestAddress(gpa), 2) else {
        return false;
    };
    match s.get_atomic_ref::<AtomicU16>(0) {
        Ok(a) => {
            f(a);
            true
        }
        Err(_) => false,
    }
}

fn frame_in<M: GuestMemoryBackend + ?Sized>(mem: &M, gfn: u64) -> bool {
    gfn < MAX_GFN
        && mem
            .get_slice(GuestAddress(gfn * PAGE_SIZE), PAGE_SIZE as usize)
            .is_ok()
}

impl GrantTable {
    /// Reads grant `gref` as a backend of domain `domid` would use it: the entry must be
    /// in the table (`GNTST_bad_gntref`), grant access (`GTF_permit_access`, or a v2
    /// transitive grant) to `domid` (`GNTST_general_error`). Nothing is pinned: use
    /// [`GrantTable::map`] or the copies to access it.
    pub fn lookup<M: Bytes<GuestAddress> + ?Sized>(
        &self,
        mem: &M,
        gref: u32,
        domid: u16,
    ) -> Result<GrantEntry, GntStatus> {
        if gref >= self.nr_entries() {
            return Err(GNTST_BAD_GNTREF);
        }
        let e = self.entry(mem, gref).ok_or(GNTST_GENERAL_ERROR)?;
        let ty = e.flags & GTF_TYPE_MASK;
        let ok = ty == GTF_PERMIT_ACCESS || (self.version() == 2 && ty == GTF_TRANSITIVE);
        if !ok || e.domid != domid {
            return Err(GNTST_GENERAL_ERROR);
        }
        Ok(e)
    }

    /// Whether entry `gref` is in use (mapped or being copied).
    pub fn is_pinned(&self, gref: u32) -> bool {
        self.active.contains_key(&gref)
    }

    /// Mappings held.
    pub fn nr_mappings(&self) -> usize {
        self.maps.len()
    }

    /// Maps grant `gref` for domain `domid` (e.g. 0, a backend), read-only or writable,
    /// as Xen's `GNTTABOP_map_grant_ref`: the grant must be a full-page
    /// `GTF_permit_access` grant to `domid` (`GNTST_general_error`; sub-page and
    /// transitive grants cannot be mapped), writable unless `readonly` (`GTF_readonly`:
    /// `GNTST_general_error`), of a frame that is guest memory (`GNTST_bad_page`); an
    /// entry in use by another domain, or used [`MAX_PINS`] times already, is
    /// `GNTST_general_error`. `GTF_reading` (and `GTF_writing`) are set while mapped.
    pub fn map<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        gref: u32,
        domid: u16,
        readonly: bool,
    ) -> Result<GrantMapping, GntStatus> {
        if self.maps.len() >= MAX_MAPPINGS {
            return Err(GNTST_NO_SPACE);
        }
        let ok = |g: u64| frame_in(mem, g);
        let b = match self.pin(mem, gref, domid, readonly, Use::Map, &ok) {
            Ok(b) => b,
            Err(Pinned::Status(s)) => return Err(s),
            // Not a grant a mapping accepts (never pinned for one).
            Err(Pinned::Transitive { .. }) => {
                self.unpin(mem, gref, readonly);
                return Err(GNTST_GENERAL_ERROR);
            }
        };
        let handle = (0..=MAX_MAPPINGS as u32)
            .find(|h| !self.maps.contains_key(h))
            .unwrap_or(0);
        self.maps.insert(handle, MapTrack { gref, readonly });
        Ok(GrantMapping {
            handle,
            gref,
            gpa: b.gfn * PAGE_SIZE,
            len: PAGE_SIZE as usize,
            readonly,
        })
    }

    /// Ends mapping `handle` (`GNTST_bad_handle` if there is none); the entry's
    /// `GTF_reading` / `GTF_writing` are cleared when its last use of that kind ends.
    pub fn unmap<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        handle: u32,
    ) -> Result<(), GntStatus> {
        let m = self.maps.remove(&handle).ok_or(GNTST_BAD_HANDLE)?;
        self.unpin(mem, m.gref, m.readonly);
        Ok(())
    }

    /// Copies from grant `gref` (to `domid`), at `offset` in the granted frame, into
    /// `buf`, as `GNTTABOP_copy` with a grant source does: the range must lie in the page
    /// (`GNTST_bad_copy_arg`) and in what is granted (a v2 sub-page grant:
    /// `GNTST_general_error`). Transitive grants name a domain this table cannot reach
    /// (`GNTST_general_error`).
    pub fn copy_from_grant<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        gref: u32,
        domid: u16,
        offset: u16,
        buf: &mut [u8],
    ) -> Result<(), GntStatus> {
        let b = self.host_copy_pin(mem, gref, domid, true, offset, buf.len())?;
        let r = mem.read_slice(buf, GuestAddress(b.gfn * PAGE_SIZE + u64::from(offset)));
        self.unpin(mem, gref, true);
        r.map_err(|_| GNTST_BAD_PAGE)
    }

    /// Copies `buf` into grant `gref` (to `domid`) at `offset`, as
    /// [`GrantTable::copy_from_grant`]; the grant must be writable.
    pub fn copy_to_grant<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        gref: u32,
        domid: u16,
        offset: u16,
        buf: &[u8],
    ) -> Result<(), GntStatus> {
        let b = self.host_copy_pin(mem, gref, domid, false, offset, buf.len())?;
        let r = mem.write_slice(buf, GuestAddress(b.gfn * PAGE_SIZE + u64::from(offset)));
        self.unpin(mem, gref, false);
        r.map_err(|_| GNTST_BAD_PAGE)
    }

    fn host_copy_pin<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        gref: u32,
        domid: u16,
        readonly: bool,
        offset: u16,
        len: usize,
    ) -> Result<Buf, GntStatus> {
        let end = usize::from(offset) + len;
        if end > PAGE_SIZE as usize {
            return Err(GNTST_BAD_COPY_ARG);
        }
        let ok = |g: u64| frame_in(mem, g);
        let b = match self.pin(mem, gref, domid, readonly, Use::Copy, &ok) {
            Ok(b) => b,
            Err(Pinned::Status(s)) => return Err(s),
            Err(Pinned::Transitive { .. }) => {
                self.unpin(mem, gref, readonly);
                return Err(GNTST_GENERAL_ERROR);
            }
        };
        if offset < b.start || end > usize::from(b.start) + usize::from(b.length) {
            self.unpin(mem, gref, readonly);
            return Err(GNTST_GENERAL_ERROR);
        }
        Ok(b)
    }

    /// The guest's `GNTTABOP_copy` of `op`, as Xen runs it for a domain `env.domid` that
    /// owns this table; returns the op's `GNTST_*` status. In order:
    ///
    /// 1. a frame (not a grant) of a domain other than `DOMID_SELF`:
    ///    `GNTST_permission_denied`; an unknown domain: `GNTST_bad_domain` (source, then
    ///    destination);
    /// 2. the source, then the destination is claimed: a grant of the caller's own table
    ///    as for [`GrantTable::copy_from_grant`] / [`GrantTable::copy_to_grant`] (a
    ///    transitive grant may pass on a grant of another domain; one naming the caller's
    ///    own domain or none is `GNTST_general_error`), a grant of another domain as that
    ///    domain answers ([`no_grant_status`]), a frame that is not RAM `GNTST_bad_page`;
    /// 3. a range beyond the page: `GNTST_bad_copy_arg`; beyond the granted sub-page:
    ///    `GNTST_general_error`.
    pub fn copy<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        env: &CopyEnv<'_>,
        op: &CopyOp,
    ) -> GntStatus {
        #[derive(Clone, Copy, PartialEq)]
        enum Dom {
            Own,
            Other,
        }
        let lock = |p: &CopyPtr, gref: bool| -> Result<Dom, GntStatus> {
            if p.domid != DOMID_SELF && !gref {
                return Err(GNTST_PERMISSION_DENIED);
            }
            if p.domid == DOMID_SELF || p.domid == env.domid {
                Ok(Dom::Own)
            } else if (env.domain_exists)(p.domid) {
                Ok(Dom::Other)
            } else {
                Err(GNTST_BAD_DOMAIN)
            }
        };
        let src_gref = op.flags & GNTCOPY_SOURCE_GREF != 0;
        let dst_gref = op.flags & GNTCOPY_DEST_GREF != 0;
        let (sd, dd) = match (lock(&op.source, src_gref), lock(&op.dest, dst_gref)) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let frame_ok = |g: u64| (env.frame_ok)(g) && frame_in(mem, g);
        // (frame, range, pinned gref) of a side.
        let claim = |t: &mut GrantTable, p: &CopyPtr, gref: bool, d: Dom, ro: bool| {
            if !gref {
                let gfn = p.gref_or_gfn;
                return if frame_ok(gfn) {
                    Ok((
                        Buf {
                            gfn,
                            start: 0,
                            length: PAGE_SIZE as u16,
                        },
                        None,
                    ))
                } else {
                    Err(GNTST_BAD_PAGE)
                };
            }
            let Ok(r) = u32::try_from(p.gref_or_gfn) else {
                return Err(GNTST_BAD_GNTREF);
            };
            if d == Dom::Other {
                return Err(no_grant_status(r));
            }
            match t.pin(mem, r, env.domid, ro, Use::Copy, &frame_ok) {
                Ok(b) => Ok((b, Some(r))),
                Err(Pinned::Status(s)) => Err(s),
                Err(Pinned::Transitive { domid, gref: tg }) => {
                    let rc = if domid == env.domid || !(env.domain_exists)(domid) {
                        GNTST_GENERAL_ERROR
                    } else {
                        no_grant_status(tg)
                    };
                    t.unpin(mem, r, ro);
                    Err(rc)
                }
            }
        };
        let (sb, sref) = match claim(self, &op.source, src_gref, sd, true) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let (db, dref) = match claim(self, &op.dest, dst_gref, dd, false) {
            Ok(x) => x,
            Err(e) => {
                if let Some(r) = sref {
                    self.unpin(mem, r, true);
                }
                return e;
            }
        };
        let len = usize::from(op.len);
        let (so, doff) = (usize::from(op.source.offset), usize::from(op.dest.offset));
        let within = |o: usize, b: &Buf| {
            o >= usize::from(b.start) && o + len <= usize::from(b.start) + usize::from(b.length)
        };
        let rc = if so + len > PAGE_SIZE as usize || doff + len > PAGE_SIZE as usize {
            GNTST_BAD_COPY_ARG
        } else if !within(so, &sb) || !within(doff, &db) {
            GNTST_GENERAL_ERROR
        } else {
            let mut tmp = [0u8; PAGE_SIZE as usize];
            let t = &mut tmp[..len];
            let from = GuestAddress(sb.gfn * PAGE_SIZE + so as u64);
            let to = GuestAddress(db.gfn * PAGE_SIZE + doff as u64);
            match mem
                .read_slice(t, from)
                .and_then(|()| mem.write_slice(t, to))
            {
                Ok(()) => xen_abi::GNTST_OKAY,
                Err(_) => GNTST_BAD_PAGE,
            }
        };
        if let Some(r) = sref {
            self.unpin(mem, r, true);
        }
        if let Some(r) = dref {
            self.unpin(mem, r, false);
        }
        rc
    }

    /// The guest's `GNTTABOP_swap_grant_ref` of entries `a` and `b` (and their v2
    /// statuses): `GNTST_bad_gntref` for a reference beyond the table, `GNTST_eagain` for
    /// an entry in use; the same reference twice does nothing.
    pub fn swap<M: GuestMemoryBackend + ?Sized>(&mut self, mem: &M, a: u32, b: u32) -> GntStatus {
        let n = self.nr_entries();
        if a >= n || b >= n {
            return GNTST_BAD_GNTREF;
        }
        if a == b {
            return xen_abi::GNTST_OKAY;
        }
        if self.is_pinned(a) || self.is_pinned(b) {
            return GNTST_EAGAIN;
        }
        let size = if self.version() == 2 {
            GRANT_ENTRY_V2_SIZE as usize
        } else {
            crate::entry::GRANT_ENTRY_V1_SIZE as usize
        };
        let read = |g: Option<u64>, n: usize| {
            let mut v = [0u8; GRANT_ENTRY_V2_SIZE as usize];
            if let Some(g) = g {
                let _ = mem.read_slice(&mut v[..n], GuestAddress(g));
            }
            v
        };
        let (ga, gb) = (self.entry_gpa(a), self.entry_gpa(b));
        let (ea, eb) = (read(ga, size), read(gb, size));
        let (sa, sb) = (self.status_gpa(a), self.status_gpa(b));
        let (xa, xb) = (read(sa, 2), read(sb, 2));
        for (g, v, n) in [(ga, eb, size), (gb, ea, size), (sa, xb, 2), (sb, xa, 2)] {
            if let Some(g) = g {
                let _ = mem.write_slice(&v[..n], GuestAddress(g));
            }
        }
        xen_abi::GNTST_OKAY
    }

    /// Takes one use of entry `gref` for domain `ldom`: Xen's `acquire_grant_for_copy` /
    /// the pinning half of `map_grant_ref`.
    fn pin<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        mem: &M,
        gref: u32,
        ldom: u16,
        readonly: bool,
        usage: Use,
        frame_ok: &dyn Fn(u64) -> bool,
    ) -> Result<Buf, Pinned> {
        if gref >= self.nr_entries() {
            return Err(Pinned::Status(GNTST_BAD_GNTREF));
        }
        let act = self.active.get(&gref).copied();
        if let Some(a) = act {
            let count = if readonly { a.readers } else { a.writers };
            if a.domid != ldom || count >= MAX_PINS || (usage == Use::Map && a.sub_page) {
                return Err(Pinned::Status(GNTST_GENERAL_ERROR));
            }
        }
        let need_status = act.map_or(true, |a| !readonly && a.writers == 0);
        let buf = if need_status {
            let e = self.set_status(mem, gref, ldom, readonly, usage, act.is_some())?;
            match act {
                Some(a) => Buf {
                    gfn: a.gfn,
                    start: a.start,
                    length: a.length,
                },
                None => {
                    let (gfn, start, length, sub) = match e.kind {
                        GrantKind::Frame(f) => (f, 0, PAGE_SIZE as u16, false),
                        GrantKind::SubPage {
                            frame,
                            offset,
                            length,
                        } => (frame, offset, length, true),
                        GrantKind::Transitive { domid, gref: tg } => {
                            // Pinned while the caller resolves it (then unpinned).
                            let mut a = Active::new(ldom, 0, 0, 0, true);
                            a.add(readonly);
                            self.active.insert(gref, a);
                            return Err(Pinned::Transitive { domid, gref: tg });
                        }
                    };
                    if !frame_ok(gfn) {
                        self.clear_status(mem, gref, readonly);
                        return Err(Pinned::Status(GNTST_BAD_PAGE));
                    }
                    self.active
                        .insert(gref, Active::new(ldom, gfn, start, length, sub));
                    Buf { gfn, start, length }
                }
            }
        } else {
            let a = act.expect("pinned");
            Buf {
                gfn: a.gfn,
                start: a.start,
                length: a.length,
            }
        };
        if let Some(a) = self.active.get_mut(&gref) {
            a.add(readonly);
        }
        Ok(buf)
    }

    /// Gives back one use of `gref`; clears the status bits no use needs any more.
    fn unpin<M: GuestMemoryBackend + ?Sized>(&mut self, mem: &M, gref: u32, readonly: bool) {
        let Some(a) = self.active.get_mut(&gref) else {
            return;
        };
        if readonly {
            a.readers = a.readers.saturating_sub(1);
        } else {
            a.writers = a.writers.saturating_sub(1);
        }
        let a = *a;
        if a.pins() == 0 {
            self.active.remove(&gref);
        }
        // Xen's reduce_status_for_pin.
        let mut clear = if a.pins() == 0 { GTF_READING } else { 0 };
        if !readonly && a.writers == 0 {
            clear |= GTF_WRITING;
        }
        if clear != 0 {
            self.clear_bits(mem, gref, clear);
        }
    }

    /// Undoes [`GrantTable::set_status`] of a first use that failed afterwards.
    fn clear_status<M: GuestMemoryBackend + ?Sized>(&mut self, mem: &M, gref: u32, readonly: bool) {
        let mut clear = GTF_READING;
        if !readonly {
            clear |= GTF_WRITING;
        }
        self.clear_bits(mem, gref, clear);
    }

    fn clear_bits<M: GuestMemoryBackend + ?Sized>(&self, mem: &M, gref: u32, bits: u16) {
        let gpa = if self.version() == 2 {
            self.status_gpa(gref)
        } else {
            self.entry_gpa(gref)
        };
        if let Some(gpa) = gpa {
            atomic16(mem, gpa, |a| {
                a.fetch_and(!bits, Ordering::SeqCst);
            });
        }
    }

    /// Checks the entry grants the use and sets `GTF_reading` / `GTF_writing` (Xen's
    /// `_set_status_v1` / `_v2`); returns the entry.
    fn set_status<M: GuestMemoryBackend + ?Sized>(
        &self,
        mem: &M,
        gref: u32,
        ldom: u16,
        readonly: bool,
        usage: Use,
        pinned: bool,
    ) -> Result<GrantEntry, Pinned> {
        let fail = Err(Pinned::Status(GNTST_GENERAL_ERROR));
        let mask = GTF_TYPE_MASK | if usage == Use::Map { GTF_SUB_PAGE } else { 0 };
        let grants = |flags: u16, domid: u16, v2: bool| {
            let ty = flags & mask;
            (ty == GTF_PERMIT_ACCESS || (v2 && usage == Use::Copy && ty == GTF_TRANSITIVE))
                && domid == ldom
        };
        // An entry whose frame is not mapped reads as zeros: no grant, nowhere to record
        // a use (a pinned one stays pinned, as Xen does not look again).
        let Some(egpa) = self.entry_gpa(gref) else {
            return if pinned {
                self.entry_or_zero(mem, gref)
            } else {
                fail
            };
        };
        if self.version() == 1 {
            let mut res = Err(Pinned::Status(GNTST_GENERAL_ERROR));
            atomic32(mem, egpa, |w| {
                let mut cur = w.load(Ordering::SeqCst);
                for _ in 0..RETRIES {
                    let (flags, domid) = (cur as u16, (cur >> 16) as u16);
                    if !pinned && !grants(flags, domid, false) {
                        return;
                    }
                    let mut new = flags | GTF_READING;
                    if !readonly {
                        if flags & GTF_READONLY != 0 {
                            return;
                        }
                        new |= GTF_WRITING;
                    }
                    let new = (cur & 0xffff_0000) | u32::from(new);
                    match w.compare_exchange(cur, new, Ordering::SeqCst, Ordering::SeqCst) {
                        Ok(_) => {
                            res = Ok(());
                            return;
                        }
                        Err(prev) => cur = prev,
                    }
                }
            });
            res?;
            return self.entry_or_zero(mem, gref);
        }
        // v2: the status lives in the status frame.
        let hdr = |m: &M| {
            let mut h = 0u32;
            atomic32(m, egpa, |w| h = w.load(Ordering::SeqCst));
            (h as u16, (h >> 16) as u16)
        };
        let (flags, domid) = hdr(mem);
        if !pinned && !grants(flags, domid, true) {
            return fail;
        }
        let Some(sgpa) = self.status_gpa(gref) else {
            // Status frame not mapped: the use cannot be recorded where the guest looks.
            return fail;
        };
        let set = if readonly {
            GTF_READING
        } else {
            if flags & GTF_READONLY != 0 {
                return fail;
            }
            GTF_READING | GTF_WRITING
        };
        if !atomic16(mem, sgpa, |s| {
            s.fetch_or(set, Ordering::SeqCst);
        }) {
            return fail;
        }
        // The guest may have changed the entry meanwhile: check again.
        let (flags, domid) = hdr(mem);
        let unstable = if pinned {
            flags & GTF_READONLY != 0
        } else {
            !grants(flags, domid, true) || (!readonly && flags & GTF_READONLY != 0)
        };
        if unstable {
            let clear = if pinned {
                GTF_WRITING
            } else {
                GTF_READING | GTF_WRITING
            };
            atomic16(mem, sgpa, |s| {
                s.fetch_and(!clear, Ordering::SeqCst);
            });
            return fail;
        }
        self.entry_or_zero(mem, gref)
    }

    fn entry_or_zero<M: Bytes<GuestAddress> + ?Sized>(
        &self,
        mem: &M,
        gref: u32,
    ) -> Result<GrantEntry, Pinned> {
        Ok(self.entry(mem, gref).unwrap_or(GrantEntry {
            flags: 0,
            domid: 0,
            kind: GrantKind::Frame(0),
        }))
    }
}

/// Why [`GrantTable::pin`] did not give a frame.
enum Pinned {
    /// Failed with this status.
    Status(GntStatus),
    /// A v2 transitive grant (pinned as one read use until the caller unpins it): the
    /// caller resolves grant `gref` of `domid`.
    Transitive { domid: u16, gref: u32 },
}
