// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The server: reads requests from the ring, answers them from the
//! store, queues replies and watch events, and writes them back.

use std::collections::VecDeque;

use log::{debug, warn};
use vm_memory::{Bytes, GuestAddress};

use crate::error::{Error, Result};
use crate::ring::{
    load_idx, page_base, store_idx, ByteRing, REQ_CONS, REQ_OFF, REQ_PROD, RING_SIZE, RSP_CONS,
    RSP_OFF, RSP_PROD,
};
use crate::state::{Watch, XenstoreState};
use crate::toolstack::XenstoreConfig;
use crate::tree;
use crate::wire::*;

/// Most nodes the store holds.
pub const MAX_NODES: usize = 4096;
/// Most watches the guest may hold.
pub const MAX_WATCHES: usize = 128;
/// Most open transactions.
pub const MAX_TRANSACTIONS: usize = 16;
/// Bound on replies waiting for room in the response ring; while it is
/// exceeded no further requests are read (back-pressure).
pub const MAX_PENDING_REPLIES: usize = 64 * 1024;
/// Most messages handled per [`Xenstore::process`] call (bounds the time a
/// guest that keeps producing can hold the caller).
pub const MAX_MESSAGES_PER_CALL: usize = 256;
/// Most rounds (read the ring, answer, write replies) per
/// [`Xenstore::process`] call, resyncs included: a guest that keeps moving
/// `req_prod` cannot hold the caller longer; the rest waits for its next
/// notification.
pub const MAX_ROUNDS_PER_CALL: usize = 256;
/// Most request bytes consumed from the ring per [`Xenstore::process`] call
/// (16 rings' worth), dropped ones (resyncs) included.
pub const MAX_REQUEST_BYTES_PER_CALL: u64 = 16 * RING_SIZE as u64;
/// Longest partial request the server holds: one whole message (it never
/// reads more than the message it is assembling needs).
pub const MAX_PARTIAL_REQUEST: usize = HEADER_SIZE + PAYLOAD_MAX;
/// Most reply bytes the queue can hold: requests are read only below
/// [`MAX_PENDING_REPLIES`], and the last one read may queue its reply and a
/// watch event past it.
pub const MAX_QUEUED_REPLIES: usize = MAX_PENDING_REPLIES + 2 * (HEADER_SIZE + PAYLOAD_MAX);

/// The xenstore server.
#[derive(Debug)]
pub struct Xenstore {
    ring: GuestAddress,
    st: XenstoreState,
    replies: VecDeque<u8>,
    /// Watch events raised while handling a request; sent after its reply.
    deferred: Vec<Vec<u8>>,
}

impl Xenstore {
    /// A server for the ring at guest frame `ring_gfn`, with the store
    /// filled from `config` (see [`crate::toolstack`] for the nodes).
    /// [`Error::Config`] if a configured path is invalid or the nodes do
    /// not fit in [`MAX_NODES`].
    pub fn new(ring_gfn: u64, config: XenstoreConfig) -> Result<Self> {
        let (nodes, writable) = config
            .build()
            .ok_or(Error::Config("invalid xenstore configuration"))?;
        Self::from_state(&XenstoreState {
            ring_gfn,
            domid: config.domid,
            nodes,
            writable,
            ..Default::default()
        })
    }

    /// Restores a server from a snapshot. The state must be within the
    /// server's own limits (what a running server can hold):
    /// [`MAX_NODES`] nodes of at most [`PAYLOAD_MAX`] bytes, [`MAX_WATCHES`]
    /// watches, [`MAX_TRANSACTIONS`] distinct non-zero transactions, a
    /// partial request of at most [`MAX_PARTIAL_REQUEST`] bytes and
    /// [`MAX_QUEUED_REPLIES`] bytes of pending replies; else
    /// [`Error::Config`] naming the field.
    pub fn from_state(state: &XenstoreState) -> Result<Self> {
        let ring = page_base(state.ring_gfn)?;
        if state.nodes.len() > MAX_NODES {
            return Err(Error::Config("too many xenstore nodes"));
        }
        if state.nodes.values().any(|v| v.len() > PAYLOAD_MAX) {
            return Err(Error::Config("xenstore node value longer than a payload"));
        }
        if state.watches.len() > MAX_WATCHES {
            return Err(Error::Config("too many xenstore watches"));
        }
        if state.watches.iter().any(|w| w.token.len() > ABS_PATH_MAX) {
            return Err(Error::Config("xenstore watch token too long"));
        }
        let mut tx = state.transactions.clone();
        tx.sort_unstable();
        tx.dedup();
        if state.transactions.len() > MAX_TRANSACTIONS
            || tx.len() != state.transactions.len()
            || tx.first() == Some(&0)
        {
            return Err(Error::Config("xenstore transactions"));
        }
        if state.partial_request.len() > MAX_PARTIAL_REQUEST {
            return Err(Error::Config(
                "xenstore partial request longer than one message",
            ));
        }
        if state.pending_replies.len() > MAX_QUEUED_REPLIES {
            return Err(Error::Config(
                "xenstore pending replies beyond the reply queue's bound",
            ));
        }
        let mut st = state.clone();
        let replies = std::mem::take(&mut st.pending_replies).into();
        Ok(Xenstore {
            ring,
            st,
            replies,
            deferred: Vec::new(),
        })
    }

    /// The state to snapshot.
    pub fn state(&self) -> XenstoreState {
        let mut st = self.st.clone();
        st.pending_replies = self.replies.iter().copied().collect();
        st
    }

    /// Bytes buffered host-side: (partial request, replies waiting for room
    /// in the response ring); at most [`MAX_PARTIAL_REQUEST`] and
    /// [`MAX_QUEUED_REPLIES`]. Cheaper than [`Xenstore::state`].
    pub fn buffered(&self) -> (usize, usize) {
        (self.st.partial_request.len(), self.replies.len())
    }

    /// The guest's home, `/local/domain/<domid>`.
    pub fn home(&self) -> String {
        tree::home(self.st.domid)
    }

    /// Host side: reads a node (relative paths are under the home).
    /// Directories that exist only as parents of other nodes read as
    /// `None` here (the guest reads them as empty).
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let abs = self.absolute(path)?;
        self.st.nodes.get(&abs).map(|v| v.as_slice())
    }

    /// Host side: the permissions the guest sees for a node, as
    /// `XS_GET_PERMS` returns them (`["n<domid>"]` for a guest-owned node,
    /// `["n0", "r<domid>"]` for one it may only read); `None` if it does
    /// not exist or the path is invalid.
    pub fn perms(&self, path: &str) -> Option<Vec<String>> {
        let abs = self.absolute(path)?;
        if !tree::exists(&self.st.nodes, &abs) {
            return None;
        }
        Some(self.perms_of(&abs))
    }

    fn perms_of(&self, abs: &str) -> Vec<String> {
        let d = self.st.domid;
        if self.writable(abs) {
            vec![format!("n{d}")]
        } else {
            vec!["n0".to_string(), format!("r{d}")]
        }
    }

    /// Host side: writes a node (no permission check), firing watches.
    /// Returns `false` if the path is invalid or the store is full.
    pub fn write(&mut self, path: &str, value: &[u8]) -> bool {
        let Some(abs) = self.absolute(path) else {
            return false;
        };
        if value.len() > PAYLOAD_MAX || !self.insert(&abs, value) {
            return false;
        }
        self.fire_watches(&abs, false);
        self.send_deferred();
        true
    }

    fn absolute(&self, path: &str) -> Option<String> {
        tree::absolute(&self.home(), path)
    }

    fn writable(&self, abs: &str) -> bool {
        tree::writable(&self.st.writable, abs)
    }

    fn exists(&self, abs: &str) -> bool {
        tree::exists(&self.st.nodes, abs)
    }

    /// Inserts or replaces a node; `false` if the store is full.
    fn insert(&mut self, abs: &str, value: &[u8]) -> bool {
        if !self.st.nodes.contains_key(abs) && self.st.nodes.len() >= MAX_NODES {
            warn!("xenstore: store full, refusing {abs}");
            return false;
        }
        self.st.nodes.insert(abs.to_string(), value.to_vec());
        true
    }

    fn queue(&mut self, ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) {
        // Replies are at most PAYLOAD_MAX by construction.
        let len = payload.len().min(PAYLOAD_MAX);
        for v in [ty, req_id, tx_id, len as u32] {
            self.replies.extend(v.to_le_bytes());
        }
        self.replies.extend(&payload[..len]);
    }

    fn fire_watches(&mut self, abs: &str, removed: bool) {
        let home = self.home();
        let mut events = Vec::new();
        for w in &self.st.watches {
            let wabs = if w.path.starts_with('/') {
                w.path.clone()
            } else {
                format!("{home}/{}", w.path)
            };
            // A change fires watches on the node and its ancestors; a
            // removal also fires watches on removed descendants.
            let hit = tree::under(abs, &wabs) || (removed && tree::under(&wabs, abs));
            if !hit {
                continue;
            }
            let report = if removed && tree::under(&wabs, abs) {
                &wabs
            } else {
                abs
            };
            let path = if w.path.starts_with('/') {
                report.to_string()
            } else {
                report
                    .strip_prefix(&format!("{home}/"))
                    .unwrap_or(report)
                    .to_string()
            };
            let mut p = path.into_bytes();
            p.push(0);
            p.extend_from_slice(w.token.as_bytes());
            p.push(0);
            events.push(p);
        }
        self.deferred.extend(events);
    }

    /// Queues the watch events raised so far.
    fn send_deferred(&mut self) {
        for p in std::mem::take(&mut self.deferred) {
            if self.replies.len() >= MAX_PENDING_REPLIES {
                warn!("xenstore: reply queue full, dropping watch event");
                break;
            }
            self.queue(XS_WATCH_EVENT, 0, 0, &p);
        }
    }

    /// Processes the rings: sends queued replies, reads and answers
    /// requests. Returns `true` when the guest must be notified (requests
    /// were consumed or replies produced).
    ///
    /// Bounded per call, whatever the guest does to its indices: at most
    /// [`MAX_ROUNDS_PER_CALL`] rounds (a resync is one),
    /// [`MAX_MESSAGES_PER_CALL`] messages and [`MAX_REQUEST_BYTES_PER_CALL`]
    /// request bytes; what is left is served on the next call (the guest's
    /// next notification).
    pub fn process<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<bool> {
        let mut notify = self.flush_replies(mem)?;
        let mut handled = 0;
        let mut consumed = 0u64;
        for _ in 0..MAX_ROUNDS_PER_CALL {
            if handled >= MAX_MESSAGES_PER_CALL
                || consumed >= MAX_REQUEST_BYTES_PER_CALL
                || self.replies.len() >= MAX_PENDING_REPLIES
            {
                break;
            }
            let read = self.read_requests(mem)?;
            notify |= read > 0;
            consumed = consumed.saturating_add(read);
            let (n, resync) = self.handle_complete();
            handled += n;
            if resync {
                let prod = load_idx(mem, self.gpa(REQ_PROD))?;
                store_idx(mem, self.gpa(REQ_CONS), prod)?;
            }
            if n > 0 {
                notify |= self.flush_replies(mem)?;
            }
            if read == 0 && n == 0 {
                break;
            }
        }
        notify |= self.flush_replies(mem)?;
        Ok(notify)
    }

    fn gpa(&self, off: u64) -> u64 {
        self.ring.0 + off
    }

    /// Copies request bytes into the partial buffer, never more than one
    /// whole message can need. Returns how many bytes were consumed (a
    /// resync drops what the guest claims: counted as a ring's worth).
    fn read_requests<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<u64> {
        let cons = load_idx(mem, self.gpa(REQ_CONS))?;
        let prod = load_idx(mem, self.gpa(REQ_PROD))?;
        let avail = prod.wrapping_sub(cons);
        if avail == 0 {
            return Ok(0);
        }
        if avail > RING_SIZE {
            self.st.guest_errors = self.st.guest_errors.saturating_add(1);
            warn!("xenstore: req_prod {prod:#x} is {avail} bytes ahead of req_cons {cons:#x}; dropping requests");
            self.st.partial_request.clear();
            store_idx(mem, self.gpa(REQ_CONS), prod)?;
            return Ok(u64::from(RING_SIZE));
        }
        let want = MAX_PARTIAL_REQUEST.saturating_sub(self.st.partial_request.len());
        // avail <= RING_SIZE, so it fits in usize and u32.
        let n = (avail as usize).min(want);
        if n == 0 {
            return Ok(0);
        }
        let ring = ByteRing {
            base: GuestAddress(self.gpa(REQ_OFF)),
            size: RING_SIZE,
        };
        let start = self.st.partial_request.len();
        self.st.partial_request.resize(start + n, 0);
        ring.read(mem, cons, &mut self.st.partial_request[start..])?;
        store_idx(mem, self.gpa(REQ_CONS), cons.wrapping_add(n as u32))?;
        Ok(n as u64)
    }

    /// Answers every whole message in the partial buffer; returns how many,
    /// and whether the request stream lost sync.
    fn handle_complete(&mut self) -> (usize, bool) {
        let mut n = 0;
        while self.st.partial_request.len() >= HEADER_SIZE
            && self.replies.len() < MAX_PENDING_REPLIES
        {
            let Some(hdr) = Header::parse(&self.st.partial_request) else {
                break;
            };
            if hdr.len as usize > PAYLOAD_MAX {
                self.st.guest_errors = self.st.guest_errors.saturating_add(1);
                warn!(
                    "xenstore: request type {} with len {} > {PAYLOAD_MAX}; resyncing",
                    hdr.ty, hdr.len
                );
                self.queue(XS_ERROR, hdr.req_id, hdr.tx_id, b"E2BIG\0");
                // Whatever follows cannot be trusted to be a header: drop
                // what we hold; the next message starts at the next fresh
                // producer update (read_requests drains the rest).
                self.st.partial_request.clear();
                return (n + 1, true);
            }
            let total = HEADER_SIZE + hdr.len as usize;
            if self.st.partial_request.len() < total {
                break;
            }
            let payload: Vec<u8> = self.st.partial_request[HEADER_SIZE..total].to_vec();
            self.st.partial_request.drain(..total);
            self.handle(hdr, &payload);
            n += 1;
        }
        (n, false)
    }

    /// Copies queued replies into the response ring as room allows.
    fn flush_replies<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<bool> {
        if self.replies.is_empty() {
            return Ok(false);
        }
        let cons = load_idx(mem, self.gpa(RSP_CONS))?;
        let mut prod = load_idx(mem, self.gpa(RSP_PROD))?;
        let mut fill = prod.wrapping_sub(cons);
        if fill > RING_SIZE {
            self.st.guest_errors = self.st.guest_errors.saturating_add(1);
            warn!("xenstore: rsp_cons {cons:#x} / rsp_prod {prod:#x} out of range; resetting response ring");
            prod = cons;
            fill = 0;
        }
        let n = ((RING_SIZE - fill) as usize).min(self.replies.len());
        if n == 0 {
            return Ok(false);
        }
        let bytes: Vec<u8> = self.replies.drain(..n).collect();
        let ring = ByteRing {
            base: GuestAddress(self.gpa(RSP_OFF)),
            size: RING_SIZE,
        };
        ring.write(mem, prod, &bytes)?;
        store_idx(mem, self.gpa(RSP_PROD), prod.wrapping_add(n as u32))?;
        Ok(true)
    }

    fn handle(&mut self, hdr: Header, payload: &[u8]) {
        debug!(
            "xenstore: request type {} req_id {} tx {} len {}",
            hdr.ty, hdr.req_id, hdr.tx_id, hdr.len
        );
        let reply = if hdr.tx_id != 0
            && hdr.ty != XS_TRANSACTION_START
            && !self.st.transactions.contains(&hdr.tx_id)
        {
            Err(XsErr::Enoent)
        } else {
            self.dispatch(hdr, payload)
        };
        let ok = reply.is_ok();
        match reply {
            Ok(p) => self.queue(hdr.ty, hdr.req_id, hdr.tx_id, &p),
            Err(e) => {
                let mut p = e.name().as_bytes().to_vec();
                p.push(0);
                self.queue(XS_ERROR, hdr.req_id, hdr.tx_id, &p);
            }
        }
        self.send_deferred();
        // The initial watch event goes after the reply, as in xenstored.
        if hdr.ty == XS_WATCH && ok {
            // The payload was "path\0token\0"; echo it as the event.
            self.queue(XS_WATCH_EVENT, 0, 0, payload);
        }
    }

    /// One path argument, NUL-terminated.
    fn one_path(&self, payload: &[u8]) -> std::result::Result<String, XsErr> {
        match nul_strings(payload).as_deref() {
            Some([p]) => self.absolute(p).ok_or(XsErr::Einval),
            _ => Err(XsErr::Einval),
        }
    }

    fn dispatch(&mut self, hdr: Header, payload: &[u8]) -> Reply {
        match hdr.ty {
            XS_READ => {
                let abs = self.one_path(payload)?;
                match self.st.nodes.get(&abs) {
                    Some(v) => Ok(v.clone()),
                    None if self.exists(&abs) => Ok(Vec::new()),
                    None => Err(XsErr::Enoent),
                }
            }
            XS_DIRECTORY => {
                let abs = self.one_path(payload)?;
                if !self.exists(&abs) {
                    return Err(XsErr::Enoent);
                }
                let mut out = Vec::new();
                for c in tree::children(&self.st.nodes, &abs) {
                    out.extend_from_slice(c.as_bytes());
                    out.push(0);
                }
                if out.len() > PAYLOAD_MAX {
                    return Err(XsErr::E2big);
                }
                Ok(out)
            }
            XS_WRITE => {
                let nul = payload.iter().position(|&b| b == 0).ok_or(XsErr::Einval)?;
                let path = std::str::from_utf8(&payload[..nul]).map_err(|_| XsErr::Einval)?;
                let abs = self.absolute(path).ok_or(XsErr::Einval)?;
                if !self.writable(&abs) {
                    return Err(XsErr::Eacces);
                }
                if !self.insert(&abs, &payload[nul + 1..]) {
                    return Err(XsErr::Enospc);
                }
                self.fire_watches(&abs, false);
                Ok(OK.to_vec())
            }
            XS_MKDIR => {
                let abs = self.one_path(payload)?;
                if self.exists(&abs) {
                    return Ok(OK.to_vec());
                }
                if !self.writable(&abs) {
                    return Err(XsErr::Eacces);
                }
                if !self.insert(&abs, b"") {
                    return Err(XsErr::Enospc);
                }
                self.fire_watches(&abs, false);
                Ok(OK.to_vec())
            }
            XS_RM => {
                let abs = self.one_path(payload)?;
                if !self.exists(&abs) {
                    return Err(XsErr::Enoent);
                }
                if !self.writable(&abs) {
                    return Err(XsErr::Eacces);
                }
                let sub = format!("{abs}/");
                self.st
                    .nodes
                    .retain(|k, _| k != &abs && !k.starts_with(sub.as_str()));
                self.fire_watches(&abs, true);
                Ok(OK.to_vec())
            }
            XS_GET_PERMS => {
                let abs = self.one_path(payload)?;
                if !self.exists(&abs) {
                    return Err(XsErr::Enoent);
                }
                let mut out = Vec::new();
                for p in self.perms_of(&abs) {
                    out.extend_from_slice(p.as_bytes());
                    out.push(0);
                }
                Ok(out)
            }
            XS_SET_PERMS => {
                let v = nul_strings(payload).ok_or(XsErr::Einval)?;
                let abs = self
                    .absolute(v.first().ok_or(XsErr::Einval)?)
                    .ok_or(XsErr::Einval)?;
                if !self.exists(&abs) {
                    return Err(XsErr::Enoent);
                }
                if !self.writable(&abs) {
                    return Err(XsErr::Eacces);
                }
                Ok(OK.to_vec())
            }
            XS_WATCH | XS_UNWATCH => {
                let v = nul_strings(payload).ok_or(XsErr::Einval)?;
                let [path, token] = v.as_slice() else {
                    return Err(XsErr::Einval);
                };
                // Special "@..." watches are accepted (they never fire here).
                let special = path.starts_with('@') && tree::valid_path_chars(path);
                if !special && self.absolute(path).is_none() {
                    return Err(XsErr::Einval);
                }
                let pos = self
                    .st
                    .watches
                    .iter()
                    .position(|w| w.path == *path && w.token == *token);
                if hdr.ty == XS_UNWATCH {
                    let i = pos.ok_or(XsErr::Enoent)?;
                    self.st.watches.remove(i);
                } else {
                    if pos.is_some() {
                        return Err(XsErr::Eexist);
                    }
                    if self.st.watches.len() >= MAX_WATCHES || token.len() > ABS_PATH_MAX {
                        return Err(XsErr::Enospc);
                    }
                    self.st.watches.push(Watch {
                        path: path.to_string(),
                        token: token.to_string(),
                    });
                }
                Ok(OK.to_vec())
            }
            XS_RESET_WATCHES => {
                self.st.watches.clear();
                Ok(OK.to_vec())
            }
            XS_TRANSACTION_START => {
                if self.st.transactions.len() >= MAX_TRANSACTIONS {
                    return Err(XsErr::Enospc);
                }
                let mut id = self.st.last_tx_id.wrapping_add(1);
                while id == 0 || self.st.transactions.contains(&id) {
                    id = id.wrapping_add(1);
                }
                self.st.last_tx_id = id;
                self.st.transactions.push(id);
                Ok(format!("{id}\0").into_bytes())
            }
            XS_TRANSACTION_END => {
                match nul_strings(payload).as_deref() {
                    Some(["T"]) | Some(["F"]) => {}
                    _ => return Err(XsErr::Einval),
                }
                let i = self
                    .st
                    .transactions
                    .iter()
                    .position(|&t| t == hdr.tx_id)
                    .ok_or(XsErr::Enoent)?;
                self.st.transactions.remove(i);
                Ok(OK.to_vec())
            }
            XS_GET_DOMAIN_PATH => match nul_strings(payload).as_deref() {
                Some([d]) => {
                    let d: u16 = d.parse().map_err(|_| XsErr::Einval)?;
                    Ok(format!("/local/domain/{d}\0").into_bytes())
                }
                _ => Err(XsErr::Einval),
            },
            XS_CONTROL
            | XS_INTRODUCE
            | XS_RELEASE
            | XS_IS_DOMAIN_INTRODUCED
            | XS_RESUME
            | XS_SET_TARGET => Err(XsErr::Eacces),
            XS_WATCH_EVENT | XS_ERROR => Err(XsErr::Einval),
            _ => Err(XsErr::Enosys),
        }
    }
}
