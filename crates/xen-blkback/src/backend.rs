// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The backend: a connected ring ([`BlkBack::connect`]), requests served from it
//! ([`BlkBack::process`]) within [`Limits`], and the ring's state for snapshots
//! ([`RingState`]).

use std::sync::atomic::{fence, Ordering};

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};
use xen_gnttab::{GrantMapping, GrantTable};

use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::proto::*;

/// Rounds of [`BlkBack::process`] before it leaves the rest for the next call.
const ROUNDS: u32 = 4;

/// How much one [`BlkBack::process`] call does at most; the rest waits for the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests consumed.
    pub max_requests: u32,
    /// Data bytes moved (a request that would cross it waits, unless it is the first).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_requests: 64,
            max_bytes: 1 << 20,
        }
    }
}

/// The ring's state: what a snapshot keeps to reconnect after a restore (the grant
/// mappings are not kept: [`BlkBack::restore_ring`] maps the pages again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingState {
    /// The ring pages' grant references (`ring-ref` or `ring-ref0..N`).
    pub refs: Vec<u32>,
    /// The frontend's ABI.
    pub protocol: Protocol,
    /// Next request to consume.
    pub req_cons: u32,
    /// Next response to produce.
    pub rsp_prod_pvt: u32,
}

/// What a [`BlkBack::process`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Processed {
    /// Requests answered.
    pub requests: u32,
    /// The frontend asked to be notified of these responses (send its event).
    pub notify: bool,
    /// Requests are left (a limit was reached): call again, the frontend will not
    /// necessarily notify.
    pub more: bool,
}

#[derive(Debug)]
struct Ring {
    refs: Vec<u32>,
    maps: Vec<GrantMapping>,
    protocol: Protocol,
    size: u32,
    req_cons: u32,
    rsp_prod_pvt: u32,
}

impl Ring {
    fn gpa(&self, off: u64) -> u64 {
        let page = (off / PAGE_SIZE) as usize;
        self.maps[page].gpa + off % PAGE_SIZE
    }

    /// Reads `buf` at byte `off` of the ring (entries may cross pages).
    fn read<M: GuestMemoryBackend + ?Sized>(
        &self,
        mem: &M,
        off: u64,
        buf: &mut [u8],
    ) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let o = off + done as u64;
            let n = ((PAGE_SIZE - o % PAGE_SIZE) as usize).min(buf.len() - done);
            mem.read_slice(&mut buf[done..done + n], GuestAddress(self.gpa(o)))
                .map_err(|_| Error::RingMemory)?;
            done += n;
        }
        Ok(())
    }

    fn write<M: GuestMemoryBackend + ?Sized>(&self, mem: &M, off: u64, buf: &[u8]) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let o = off + done as u64;
            let n = ((PAGE_SIZE - o % PAGE_SIZE) as usize).min(buf.len() - done);
            mem.write_slice(&buf[done..done + n], GuestAddress(self.gpa(o)))
                .map_err(|_| Error::RingMemory)?;
            done += n;
        }
        Ok(())
    }

    fn index<M: GuestMemoryBackend + ?Sized>(&self, mem: &M, off: u64) -> Result<u32> {
        mem.read_obj::<u32>(GuestAddress(self.maps[0].gpa + off))
            .map_err(|_| Error::RingMemory)
    }

    fn set_index<M: GuestMemoryBackend + ?Sized>(&self, mem: &M, off: u64, v: u32) -> Result<()> {
        mem.write_obj(v, GuestAddress(self.maps[0].gpa + off))
            .map_err(|_| Error::RingMemory)
    }

    fn slot(&self, idx: u32) -> u64 {
        RING_HEADER + u64::from(idx & (self.size - 1)) * self.protocol.entry_size()
    }
}

/// A blkif backend for one virtual disk of one frontend.
///
/// The frontend's grant table is passed to each call that touches the ring or data
/// (the backend holds no lock); the backend acts as domain `backend_domid` (0 unless
/// [`BlkBack::with_backend_domid`]): grants to any other domain are refused.
#[derive(Debug)]
pub struct BlkBack<D> {
    disk: D,
    readonly: bool,
    discard: bool,
    indirect: u16,
    backend_domid: u16,
    limits: Limits,
    ring: Option<Ring>,
    buf: Vec<u8>,
}

impl<D: Disk> BlkBack<D> {
    /// A backend for `disk`; a `readonly` one refuses writes and discards.
    pub fn new(disk: D, readonly: bool) -> Self {
        BlkBack {
            disk,
            readonly,
            discard: false,
            indirect: 0,
            backend_domid: 0,
            limits: Limits::default(),
            ring: None,
            buf: Vec::new(),
        }
    }

    /// Sets the per-call limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves `BLKIF_OP_DISCARD` (advertise `feature-discard`); otherwise it is
    /// `BLKIF_RSP_EOPNOTSUPP`.
    pub fn with_discard(mut self, discard: bool) -> Self {
        self.discard = discard;
        self
    }

    /// Serves `BLKIF_OP_INDIRECT` with up to `max_segments` segments (capped at
    /// [`MAX_INDIRECT_SEGMENTS`]; advertise it as `feature-max-indirect-segments`);
    /// 0 (the default): `BLKIF_RSP_EOPNOTSUPP`.
    pub fn with_indirect(mut self, max_segments: u16) -> Self {
        self.indirect = max_segments.min(MAX_INDIRECT_SEGMENTS);
        self
    }

    /// Most segments of an indirect request served (0: none).
    pub fn max_indirect_segments(&self) -> u16 {
        self.indirect
    }

    /// The domain the backend runs as (grants must be to it).
    pub fn with_backend_domid(mut self, domid: u16) -> Self {
        self.backend_domid = domid;
        self
    }

    /// The backing store.
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// Whether writes are refused.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    /// Whether discards are served.
    pub fn discard(&self) -> bool {
        self.discard
    }

    /// 512-byte sectors of the disk (xenstore `sectors`).
    pub fn sectors(&self) -> u64 {
        self.disk.len() / SECTOR_SIZE
    }

    /// The xenstore `info` bits.
    pub fn info(&self) -> u32 {
        if self.readonly {
            VDISK_READONLY
        } else {
            0
        }
    }

    /// Whether a ring is connected.
    pub fn connected(&self) -> bool {
        self.ring.is_some()
    }

    /// Maps the ring pages `refs` (granted by the frontend, writable) and starts with
    /// empty indexes as a fresh frontend does.
    pub fn connect<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        refs: &[u32],
        protocol: Protocol,
    ) -> Result<()> {
        self.restore_ring(
            gt,
            mem,
            &RingState {
                refs: refs.to_vec(),
                protocol,
                req_cons: 0,
                rsp_prod_pvt: 0,
            },
        )
    }

    /// Maps the ring pages of `state` and continues at its indexes (after a restore).
    pub fn restore_ring<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        state: &RingState,
    ) -> Result<()> {
        if self.ring.is_some() {
            return Err(Error::Connected);
        }
        let n = state.refs.len();
        if n == 0 || !n.is_power_of_two() || n > 1 << MAX_RING_PAGE_ORDER {
            return Err(Error::RingPages(n));
        }
        let size = state.protocol.ring_entries(n as u64);
        if state.req_cons.wrapping_sub(state.rsp_prod_pvt) > size {
            return Err(Error::RingState);
        }
        let mut maps = Vec::with_capacity(n);
        for &gref in &state.refs {
            match gt.map(mem, gref, self.backend_domid, false) {
                Ok(m) => maps.push(m),
                Err(status) => {
                    for m in maps {
                        let _ = gt.unmap(mem, m.handle);
                    }
                    return Err(Error::RingMap { gref, status });
                }
            }
        }
        self.ring = Some(Ring {
            refs: state.refs.clone(),
            maps,
            protocol: state.protocol,
            size,
            req_cons: state.req_cons,
            rsp_prod_pvt: state.rsp_prod_pvt,
        });
        Ok(())
    }

    /// Unmaps the ring (frontend closing, or before a snapshot's grant state is taken);
    /// returns its state.
    pub fn disconnect<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
    ) -> Option<RingState> {
        let state = self.ring_state();
        if let Some(r) = self.ring.take() {
            for m in r.maps {
                let _ = gt.unmap(mem, m.handle);
            }
        }
        state
    }

    /// The connected ring's state.
    pub fn ring_state(&self) -> Option<RingState> {
        self.ring.as_ref().map(|r| RingState {
            refs: r.refs.clone(),
            protocol: r.protocol,
            req_cons: r.req_cons,
            rsp_prod_pvt: r.rsp_prod_pvt,
        })
    }

    /// Serves the requests the frontend published, up to the [`Limits`], answers each
    /// (a malformed one with `BLKIF_RSP_ERROR` / `BLKIF_RSP_EOPNOTSUPP` and its id),
    /// publishes the responses and says whether to notify the frontend. A `req_prod`
    /// more than a ring ahead is [`Error::RingOverflow`]: nothing is consumed.
    pub fn process<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
    ) -> Result<Processed> {
        let ring = self.ring.as_ref().ok_or(Error::NotConnected)?;
        let (size, proto) = (ring.size, ring.protocol);
        let mut out = Processed::default();
        let mut bytes = 0u64;
        let mut entry = vec![0u8; proto.entry_size() as usize];
        // A few rounds of "serve, ask for an event, look again": a frontend that keeps
        // moving req_prod back and forth cannot hold the call.
        let mut rounds = 0;
        'outer: loop {
            rounds += 1;
            let ring = self.ring.as_ref().ok_or(Error::NotConnected)?;
            let prod = ring.index(mem, REQ_PROD)?;
            fence(Ordering::Acquire);
            let pending = prod.wrapping_sub(ring.req_cons);
            if pending > size {
                let cons = ring.req_cons;
                self.push(mem, &mut out)?;
                return Err(Error::RingOverflow { prod, cons, size });
            }
            let mut cons = ring.req_cons;
            while cons != prod {
                if out.requests >= self.limits.max_requests {
                    out.more = true;
                    break 'outer;
                }
                let ring = self.ring.as_ref().ok_or(Error::NotConnected)?;
                ring.read(mem, ring.slot(cons), &mut entry)?;
                let req = Request::decode(proto, &entry);
                let cost = data_bytes(&req);
                if out.requests > 0 && bytes + cost > self.limits.max_bytes {
                    out.more = true;
                    break 'outer;
                }
                bytes += cost;
                let status = self.serve(gt, mem, &req);
                let ring = self.ring.as_mut().ok_or(Error::NotConnected)?;
                cons = cons.wrapping_add(1);
                ring.req_cons = cons;
                let rsp = Response {
                    id: req.id,
                    operation: req.operation,
                    status,
                };
                ring.write(mem, ring.slot(ring.rsp_prod_pvt), &rsp.encode())?;
                ring.rsp_prod_pvt = ring.rsp_prod_pvt.wrapping_add(1);
                out.requests += 1;
            }
            // Ask for a notification of the next request, then look again (the
            // frontend may have published one before it saw req_event).
            let ring = self.ring.as_ref().ok_or(Error::NotConnected)?;
            ring.set_index(mem, REQ_EVENT, cons.wrapping_add(1))?;
            fence(Ordering::SeqCst);
            if ring.index(mem, REQ_PROD)? == cons {
                break;
            }
            if rounds >= ROUNDS {
                out.more = true;
                break;
            }
        }
        self.push(mem, &mut out)?;
        Ok(out)
    }

    /// Publishes the responses and decides on the notification.
    fn push<M: GuestMemoryBackend + ?Sized>(&self, mem: &M, out: &mut Processed) -> Result<()> {
        let ring = self.ring.as_ref().ok_or(Error::NotConnected)?;
        let old = ring.index(mem, RSP_PROD)?;
        let new = ring.rsp_prod_pvt;
        if old == new {
            return Ok(());
        }
        fence(Ordering::Release);
        ring.set_index(mem, RSP_PROD, new)?;
        fence(Ordering::SeqCst);
        let event = ring.index(mem, RSP_EVENT)?;
        out.notify |= new.wrapping_sub(event) < new.wrapping_sub(old);
        Ok(())
    }

    /// Serves one request; its response status.
    fn serve<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        req: &Request,
    ) -> i16 {
        match req.operation {
            BLKIF_OP_READ => self.direct(gt, mem, req, false),
            BLKIF_OP_WRITE => self.direct(gt, mem, req, true),
            BLKIF_OP_INDIRECT if self.indirect > 0 => self.indirect_rw(gt, mem, req),
            BLKIF_OP_WRITE_BARRIER | BLKIF_OP_FLUSH_DISKCACHE => {
                if req.nr_segments == 0 {
                    return self.flush();
                }
                if self.flush() != BLKIF_RSP_OKAY && req.operation == BLKIF_OP_WRITE_BARRIER {
                    return BLKIF_RSP_ERROR;
                }
                match self.direct(gt, mem, req, true) {
                    BLKIF_RSP_OKAY => self.flush(),
                    s => s,
                }
            }
            BLKIF_OP_DISCARD => self.do_discard(req),
            // Indirect requests when not enabled, reserved and unknown operations.
            _ => BLKIF_RSP_EOPNOTSUPP,
        }
    }

    fn flush(&mut self) -> i16 {
        match self.disk.flush() {
            Ok(()) => BLKIF_RSP_OKAY,
            Err(e) => {
                log::warn!("blkback: flush: {e}");
                BLKIF_RSP_ERROR
            }
        }
    }

    /// The byte range of `sectors` sectors at `start`, if inside the disk.
    fn range(&self, start: u64, sectors: u64) -> Option<(u64, u64)> {
        let end = start.checked_add(sectors)?;
        if end > self.sectors() {
            return None;
        }
        Some((start * SECTOR_SIZE, sectors * SECTOR_SIZE))
    }

    fn do_discard(&mut self, req: &Request) -> i16 {
        if !self.discard {
            return BLKIF_RSP_EOPNOTSUPP;
        }
        if self.readonly {
            return BLKIF_RSP_ERROR;
        }
        let Some((off, len)) = self.range(req.sector_number, req.nr_sectors) else {
            return BLKIF_RSP_ERROR;
        };
        if len == 0 {
            return BLKIF_RSP_OKAY;
        }
        match self.disk.discard(off, len) {
            Ok(()) => BLKIF_RSP_OKAY,
            Err(e) => {
                log::warn!("blkback: discard: {e}");
                BLKIF_RSP_ERROR
            }
        }
    }

    /// A direct read or write: 1 to 11 segments in the request.
    fn direct<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        req: &Request,
        write: bool,
    ) -> i16 {
        let n = usize::from(req.nr_segments);
        if n == 0 || n > usize::from(BLKIF_MAX_SEGMENTS_PER_REQUEST) {
            return BLKIF_RSP_ERROR;
        }
        self.rw(gt, mem, req.sector_number, &req.seg[..n], write)
    }

    /// An indirect read or write: its segments are read from the granted indirect
    /// pages (once, then checked as direct ones).
    fn indirect_rw<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        req: &Request,
    ) -> i16 {
        let write = match req.indirect_op {
            BLKIF_OP_READ => false,
            BLKIF_OP_WRITE => true,
            _ => return BLKIF_RSP_ERROR,
        };
        let n = usize::from(req.nr_indirect_segments);
        if n == 0 || n > usize::from(self.indirect) {
            return BLKIF_RSP_ERROR;
        }
        let mut segs = Vec::with_capacity(n);
        let mut page = vec![0u8; SEGMENTS_PER_INDIRECT_PAGE * Segment::SIZE];
        for (i, &gref) in req.indirect_grefs.iter().enumerate() {
            let first = i * SEGMENTS_PER_INDIRECT_PAGE;
            if first >= n {
                break;
            }
            let count = (n - first).min(SEGMENTS_PER_INDIRECT_PAGE);
            let bytes = &mut page[..count * Segment::SIZE];
            if gt
                .copy_from_grant(mem, gref, self.backend_domid, 0, bytes)
                .is_err()
            {
                return BLKIF_RSP_ERROR;
            }
            segs.extend(bytes.chunks_exact(Segment::SIZE).map(Segment::decode));
        }
        self.rw(gt, mem, req.sector_number, &segs, write)
    }

    /// A read (disk to grants) or write (grants to disk) of `segs` (at least one)
    /// from sector `sector`. The request is checked whole before any data moves; a
    /// write reaches the disk only when every segment was read from its grant.
    fn rw<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        sector: u64,
        segs: &[Segment],
        write: bool,
    ) -> i16 {
        if write && self.readonly {
            return BLKIF_RSP_ERROR;
        }
        if segs.is_empty()
            || segs
                .iter()
                .any(|s| s.first_sect > s.last_sect || s.last_sect > SECTORS_PER_PAGE_MAX)
        {
            return BLKIF_RSP_ERROR;
        }
        let sectors: u64 = segs
            .iter()
            .map(|s| u64::from(s.last_sect - s.first_sect) + 1)
            .sum();
        let Some((off, len)) = self.range(sector, sectors) else {
            return BLKIF_RSP_ERROR;
        };
        let len = len as usize;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(len, 0);
        let status = if write {
            self.write_segs(gt, mem, segs, &mut buf[..len], off)
        } else {
            self.read_segs(gt, mem, segs, &mut buf[..len], off)
        };
        self.buf = buf;
        status
    }

    fn read_segs<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        segs: &[Segment],
        buf: &mut [u8],
        off: u64,
    ) -> i16 {
        if let Err(e) = self.disk.read_at(buf, off) {
            log::warn!("blkback: read at {off}: {e}");
            return BLKIF_RSP_ERROR;
        }
        let mut at = 0usize;
        for s in segs {
            let (o, l) = seg_bytes(s);
            if gt
                .copy_to_grant(mem, s.gref, self.backend_domid, o, &buf[at..at + l])
                .is_err()
            {
                return BLKIF_RSP_ERROR;
            }
            at += l;
        }
        BLKIF_RSP_OKAY
    }

    fn write_segs<M: GuestMemoryBackend + ?Sized>(
        &mut self,
        gt: &mut GrantTable,
        mem: &M,
        segs: &[Segment],
        buf: &mut [u8],
        off: u64,
    ) -> i16 {
        let mut at = 0usize;
        for s in segs {
            let (o, l) = seg_bytes(s);
            if gt
                .copy_from_grant(mem, s.gref, self.backend_domid, o, &mut buf[at..at + l])
                .is_err()
            {
                return BLKIF_RSP_ERROR;
            }
            at += l;
        }
        match self.disk.write_at(buf, off) {
            Ok(()) => BLKIF_RSP_OKAY,
            Err(e) => {
                log::warn!("blkback: write at {off}: {e}");
                BLKIF_RSP_ERROR
            }
        }
    }
}

/// Offset in the page and length of a validated segment.
fn seg_bytes(s: &Segment) -> (u16, usize) {
    let first = u16::from(s.first_sect) * SECTOR_SIZE as u16;
    let len = (usize::from(s.last_sect - s.first_sect) + 1) * SECTOR_SIZE as usize;
    (first, len)
}

/// Data a request may move (for the byte limit; 0 for malformed counts).
fn data_bytes(req: &Request) -> u64 {
    match req.operation {
        BLKIF_OP_READ | BLKIF_OP_WRITE | BLKIF_OP_WRITE_BARRIER | BLKIF_OP_FLUSH_DISKCACHE => {
            let n = usize::from(req.nr_segments).min(usize::from(BLKIF_MAX_SEGMENTS_PER_REQUEST));
            req.seg[..n]
                .iter()
                .map(|s| u64::from(s.last_sect.saturating_sub(s.first_sect)) + 1)
                .sum::<u64>()
                * SECTOR_SIZE
        }
        // At most a page per segment (the segments are not read yet).
        BLKIF_OP_INDIRECT => {
            u64::from(req.nr_indirect_segments.min(MAX_INDIRECT_SEGMENTS)) * PAGE_SIZE
        }
        _ => 0,
    }
}
