// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The server: the guest's connection over the ring, host-side connections
//! of the privileged toolstack domain ([`Xenstore::connect`]), and the
//! dispatch of every `XS_*` request to the store.

use std::collections::{BTreeMap, VecDeque};

use log::{debug, warn};
use vm_memory::{Bytes, GuestAddress};

use crate::error::{Error, Result};
use crate::ring::{
    load_idx, page_base, store_idx, ByteRing, REQ_CONS, REQ_OFF, REQ_PROD, RING_SIZE, RSP_CONS,
    RSP_OFF, RSP_PROD,
};
use crate::state::{Node, Perm, Quotas, Transaction, Watch, XenstoreState};
use crate::store::{self, Caller, Need, Store};
use crate::toolstack::XenstoreConfig;
use crate::tree;
use crate::wire::*;

pub use crate::store::MAX_NODES;

/// Most watches a connection may hold whatever the quotas (the bound on
/// [`Quotas::watches_per_connection`]).
pub const MAX_WATCHES: usize = 1024;
/// Most open transactions of a connection whatever the quotas (the bound
/// on [`Quotas::transactions_per_connection`]).
pub const MAX_TRANSACTIONS: usize = 64;
/// Most nodes a transaction may access whatever the quotas (the bound on
/// [`Quotas::nodes_per_transaction`]).
pub const MAX_TRANSACTION_NODES: usize = MAX_NODES;
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

/// A host-side connection ([`Xenstore::connect`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u64);

/// Which connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Guest,
    Host(ConnId),
}

/// One client connection: its domain, watches, transactions and buffers.
#[derive(Clone, Debug)]
struct Conn {
    caller: Caller,
    watches: Vec<Watch>,
    txs: Vec<Transaction>,
    last_tx_id: u32,
    partial: Vec<u8>,
    replies: VecDeque<u8>,
    /// Watch events raised while handling a request; sent after its reply.
    deferred: Vec<Vec<u8>>,
}

impl Conn {
    fn new(caller: Caller) -> Self {
        Conn {
            caller,
            watches: Vec::new(),
            txs: Vec::new(),
            last_tx_id: 0,
            partial: Vec::new(),
            replies: VecDeque::new(),
            deferred: Vec::new(),
        }
    }

    fn home(&self) -> String {
        tree::home(self.caller.domid)
    }

    fn queue(&mut self, ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) {
        // Replies are at most PAYLOAD_MAX by construction.
        let len = payload.len().min(PAYLOAD_MAX);
        for v in [ty, req_id, tx_id, len as u32] {
            self.replies.extend(v.to_le_bytes());
        }
        self.replies.extend(&payload[..len]);
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
}

/// The xenstore server.
#[derive(Debug)]
pub struct Xenstore {
    ring: GuestAddress,
    ring_gfn: u64,
    domid: u16,
    writable: Vec<String>,
    store: Store,
    guest: Conn,
    hosts: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    released: bool,
    guest_errors: u64,
}

fn bad(what: &'static str) -> Error {
    Error::Config(what)
}

impl Xenstore {
    /// A server for the ring at guest frame `ring_gfn`, with the store
    /// filled from `config` (see [`crate::toolstack`] for the nodes) and
    /// xenstored's default quotas. [`Error::Config`] if a configured path
    /// is invalid or the nodes do not fit in [`MAX_NODES`].
    pub fn new(ring_gfn: u64, config: XenstoreConfig) -> Result<Self> {
        Self::with_quotas(ring_gfn, config, Quotas::default())
    }

    /// [`Xenstore::new`] with other quotas; [`Error::Config`] if one is 0
    /// or beyond the server's bounds ([`MAX_WATCHES`],
    /// [`MAX_TRANSACTIONS`], [`MAX_TRANSACTION_NODES`], [`MAX_NODES`]
    /// entries, a payload per node, [`ABS_PATH_MAX`] of path).
    pub fn with_quotas(ring_gfn: u64, config: XenstoreConfig, quotas: Quotas) -> Result<Self> {
        let (nodes, writable) = config
            .build()
            .ok_or(Error::Config("invalid xenstore configuration"))?;
        Self::from_state(&XenstoreState {
            ring_gfn,
            domid: config.domid,
            nodes: nodes
                .into_iter()
                .map(|(k, value)| {
                    (
                        k,
                        Node {
                            value,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            writable,
            quotas,
            ..Default::default()
        })
    }

    /// Restores a server from a snapshot. The state must be within the
    /// server's own limits (what a running server can hold):
    /// [`MAX_NODES`] nodes of at most [`PAYLOAD_MAX`] bytes with valid
    /// paths and permissions, quotas within the server's bounds, at most
    /// the quota of watches and transactions (distinct, non-zero ids), a
    /// partial request of at most [`MAX_PARTIAL_REQUEST`] bytes and
    /// [`MAX_QUEUED_REPLIES`] bytes of pending replies; else
    /// [`Error::Config`] naming the field.
    ///
    /// A state from an older snapshot (nodes without permissions,
    /// transactions as bare ids, missing parent nodes) is completed: the
    /// permissions follow [`XenstoreState::writable`], parents are
    /// created, transactions restore empty.
    pub fn from_state(state: &XenstoreState) -> Result<Self> {
        let ring = page_base(state.ring_gfn)?;
        if state.domid == 0 {
            // The guest would own every node dom0 owns.
            return Err(bad("xenstore guest domain id 0 (dom0's)"));
        }
        let q = state.quotas;
        if q.entries_per_domain == 0
            || q.entries_per_domain as usize > MAX_NODES
            || q.node_size == 0
            || q.node_size as usize > 2 * PAYLOAD_MAX
            || q.watches_per_connection == 0
            || q.watches_per_connection as usize > MAX_WATCHES
            || q.transactions_per_connection == 0
            || q.transactions_per_connection as usize > MAX_TRANSACTIONS
            || q.path_length == 0
            || q.path_length as usize > ABS_PATH_MAX
            || q.perms_per_node == 0
            || q.perms_per_node as usize > MAX_PERMS
            || q.nodes_per_transaction == 0
            || q.nodes_per_transaction as usize > MAX_TRANSACTION_NODES
        {
            return Err(bad("xenstore quotas out of range"));
        }
        if state.nodes.len() > MAX_NODES {
            return Err(bad("too many xenstore nodes"));
        }
        if state.writable.len() > MAX_WATCHES {
            return Err(bad("too many xenstore writable paths"));
        }
        let check_node = |p: &str, n: &Node| -> Result<()> {
            if n.value.len() > PAYLOAD_MAX {
                return Err(bad("xenstore node value longer than a payload"));
            }
            if n.perms.len() > MAX_PERMS {
                return Err(bad("xenstore node permissions"));
            }
            if !tree::is_special(p) && tree::absolute("/", p).as_deref() != Some(p) {
                return Err(bad("xenstore node path"));
            }
            Ok(())
        };
        let mut nodes = BTreeMap::new();
        for (p, n) in &state.nodes {
            check_node(p, n)?;
            let mut n = n.clone();
            if n.perms.is_empty() {
                n.perms = store::derived_perms(state.domid, &state.writable, p);
            }
            nodes.insert(p.clone(), n);
        }
        // Older states: implicit parents and the special nodes.
        // A parent that is a node has its own ancestors checked when its turn
        // comes, so each walk stops at the first one present.
        let mut extra = Vec::new();
        for p in nodes.keys() {
            let mut a = p.as_str();
            while a != "/" && !tree::is_special(a) {
                a = tree::parent(a);
                if nodes.contains_key(a) {
                    break;
                }
                extra.push(a.to_string());
            }
        }
        extra.push("/".into());
        extra.extend(tree::SPECIAL_NODES.iter().map(|s| s.to_string()));
        for p in extra {
            let perms = store::derived_perms(state.domid, &state.writable, &p);
            nodes.entry(p).or_insert_with(|| Node {
                perms,
                ..Default::default()
            });
        }
        if nodes.len() > MAX_NODES {
            return Err(bad("too many xenstore nodes"));
        }
        if state.watches.len() > q.watches_per_connection as usize {
            return Err(bad("too many xenstore watches"));
        }
        if state.watches.iter().any(|w| w.token.len() > PAYLOAD_MAX) {
            return Err(bad("xenstore watch token too long"));
        }
        if state.watches.iter().any(|w| {
            !tree::is_special(&w.path) && tree::absolute("/local/domain/0", &w.path).is_none()
        }) {
            return Err(bad("xenstore watch path"));
        }
        let mut tx = state.transactions.clone();
        tx.sort_unstable();
        tx.dedup();
        if state.transactions.len() > q.transactions_per_connection as usize
            || tx.len() != state.transactions.len()
            || tx.first() == Some(&0)
        {
            return Err(bad("xenstore transactions"));
        }
        let mut txs = Vec::new();
        for &id in &state.transactions {
            let t = match state.transaction_states.iter().find(|t| t.id == id) {
                Some(t) => t.clone(),
                None => Transaction {
                    id,
                    start_generation: u64::MAX,
                    ..Default::default()
                },
            };
            // Each event is a node the transaction changed, once or twice: a
            // write (its watches and those above) and a removal below an
            // `XS_RM` (exactly its own) are two.
            if t.accessed.len() > q.nodes_per_transaction as usize
                || t.changes.len() > t.accessed.len()
                || t.events.len() > 2 * t.accessed.len()
            {
                return Err(bad("xenstore transaction size"));
            }
            for (p, n) in &t.changes {
                if let Some(n) = n {
                    check_node(p, n)?;
                }
                if !t.accessed.contains_key(p) {
                    return Err(bad("xenstore transaction change not accessed"));
                }
            }
            txs.push(t);
        }
        if state.transaction_states.len() != txs.len() && !state.transaction_states.is_empty() {
            return Err(bad("xenstore transaction states"));
        }
        if state.partial_request.len() > MAX_PARTIAL_REQUEST {
            return Err(bad("xenstore partial request longer than one message"));
        }
        if state.pending_replies.len() > MAX_QUEUED_REPLIES {
            return Err(bad(
                "xenstore pending replies beyond the reply queue's bound",
            ));
        }
        let mut guest = Conn::new(Caller {
            domid: state.domid,
            privileged: false,
        });
        guest.watches = state.watches.clone();
        guest.txs = txs;
        guest.last_tx_id = state.last_tx_id;
        guest.partial = state.partial_request.clone();
        guest.replies = state.pending_replies.iter().copied().collect();
        let mut store = Store::new(nodes, state.generation, q);
        // Transactions of an older snapshot start now.
        for t in &mut guest.txs {
            if t.start_generation == u64::MAX {
                t.start_generation = store.generation;
            }
        }
        store.fired.clear();
        Ok(Xenstore {
            ring,
            ring_gfn: state.ring_gfn,
            domid: state.domid,
            writable: state.writable.clone(),
            store,
            guest,
            hosts: BTreeMap::new(),
            next_conn: 1,
            released: state.released,
            guest_errors: state.guest_errors,
        })
    }

    /// The state to snapshot (the store and the guest's connection).
    pub fn state(&self) -> XenstoreState {
        XenstoreState {
            ring_gfn: self.ring_gfn,
            domid: self.domid,
            nodes: self.store.nodes.clone(),
            writable: self.writable.clone(),
            watches: self.guest.watches.clone(),
            transactions: self.guest.txs.iter().map(|t| t.id).collect(),
            transaction_states: self.guest.txs.clone(),
            last_tx_id: self.guest.last_tx_id,
            generation: self.store.generation,
            released: self.released,
            quotas: self.store.quotas,
            partial_request: self.guest.partial.clone(),
            pending_replies: self.guest.replies.iter().copied().collect(),
            guest_errors: self.guest_errors,
        }
    }

    /// Bytes buffered host-side for the guest: (partial request, replies
    /// waiting for room in the response ring); at most
    /// [`MAX_PARTIAL_REQUEST`] and [`MAX_QUEUED_REPLIES`]. Cheaper than
    /// [`Xenstore::state`].
    pub fn buffered(&self) -> (usize, usize) {
        (self.guest.partial.len(), self.guest.replies.len())
    }

    /// The quotas in force.
    pub fn quotas(&self) -> Quotas {
        self.store.quotas
    }

    /// The guest's home, `/local/domain/<domid>`.
    pub fn home(&self) -> String {
        tree::home(self.domid)
    }

    /// Host side: reads a node (relative paths are under the home).
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let abs = self.absolute(path)?;
        self.store.nodes.get(&abs).map(|n| n.value.as_slice())
    }

    /// Host side: a node's permissions as `XS_GET_PERMS` returns them
    /// (`["n<domid>"]` for a guest-owned node, `["n0", "r<domid>"]` for
    /// one it may only read); `None` if it does not exist or the path is
    /// invalid.
    pub fn perms(&self, path: &str) -> Option<Vec<String>> {
        let abs = if tree::is_special(path) {
            path.to_string()
        } else {
            self.absolute(path)?
        };
        let n = self.store.nodes.get(&abs)?;
        Some(n.perms.iter().map(|p| p.to_string()).collect())
    }

    /// Host side: writes a node as dom0 (no permission check; a new node
    /// gets its parent's permissions), firing watches. Returns `false` if
    /// the path is invalid or the store is full.
    pub fn write(&mut self, path: &str, value: &[u8]) -> bool {
        let Some(abs) = self.absolute(path) else {
            return false;
        };
        if value.len() > PAYLOAD_MAX {
            return false;
        }
        let ok = self.store.write(None, DOM0, &abs, value, false).is_ok();
        self.distribute();
        ok
    }

    /// Host side: sets a node's permissions as dom0; `false` if the path
    /// is invalid, the node is missing or `perms` is empty.
    pub fn set_perms(&mut self, path: &str, perms: &[Perm]) -> bool {
        let abs = if tree::is_special(path) {
            path.to_string()
        } else {
            match self.absolute(path) {
                Some(a) => a,
                None => return false,
            }
        };
        if perms.len() > MAX_PERMS {
            return false;
        }
        let ok = self
            .store
            .set_perms(None, DOM0, &abs, perms.to_vec())
            .is_ok();
        self.distribute();
        ok
    }

    /// Host side: the domain is gone (`XS_RELEASE` from the toolstack):
    /// fires `@releaseDomain`, and `XS_IS_DOMAIN_INTRODUCED` answers `F`.
    pub fn release_domain(&mut self) {
        if !self.released {
            self.released = true;
            self.store.fire_special("@releaseDomain");
            self.distribute();
        }
    }

    fn absolute(&self, path: &str) -> Option<String> {
        tree::absolute(&self.home(), path)
    }

    /// Opens a host-side connection of the privileged toolstack domain
    /// (dom0): requests go in with [`Xenstore::feed`], replies and watch
    /// events come out with [`Xenstore::take_output`]. `None` when
    /// [`MAX_HOST_CONNECTIONS`] are open.
    pub fn connect(&mut self) -> Option<ConnId> {
        if self.hosts.len() >= MAX_HOST_CONNECTIONS {
            return None;
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.hosts.insert(id, Conn::new(DOM0));
        Some(id)
    }

    /// Closes a host-side connection: its watches and transactions go.
    pub fn disconnect(&mut self, id: ConnId) {
        self.hosts.remove(&id);
    }

    /// Feeds bytes a host-side client sent; answers every whole message.
    /// `Err` (the caller closes the connection) for an unknown connection
    /// or a message longer than a payload (after queueing an `E2BIG`
    /// error reply); requests are not read while [`MAX_PENDING_REPLIES`]
    /// of output wait (`Ok(n)`: bytes taken, maybe fewer than given).
    pub fn feed(&mut self, id: ConnId, bytes: &[u8]) -> std::result::Result<usize, XsErr> {
        let mut taken = 0;
        loop {
            let conn = self.hosts.get_mut(&id).ok_or(XsErr::Enoent)?;
            if conn.replies.len() >= MAX_PENDING_REPLIES {
                return Ok(taken);
            }
            let want = if conn.partial.len() < HEADER_SIZE {
                HEADER_SIZE - conn.partial.len()
            } else {
                let h = Header::parse(&conn.partial).unwrap_or_default();
                if h.len as usize > PAYLOAD_MAX {
                    conn.queue(XS_ERROR, h.req_id, h.tx_id, b"E2BIG\0");
                    conn.partial.clear();
                    return Err(XsErr::E2big);
                }
                HEADER_SIZE + h.len as usize - conn.partial.len()
            };
            let n = want.min(bytes.len() - taken);
            conn.partial.extend_from_slice(&bytes[taken..taken + n]);
            taken += n;
            if conn.partial.len() >= HEADER_SIZE {
                let h = Header::parse(&conn.partial).unwrap_or_default();
                if h.len as usize <= PAYLOAD_MAX
                    && conn.partial.len() == HEADER_SIZE + h.len as usize
                {
                    let msg = std::mem::take(&mut conn.partial);
                    self.handle(Who::Host(id), h, &msg[HEADER_SIZE..]);
                    continue;
                }
            }
            if n == 0 || taken == bytes.len() {
                // A header announcing too much is caught on the next call.
                if let Some(c) = self.hosts.get(&id) {
                    if c.partial.len() >= HEADER_SIZE {
                        let h = Header::parse(&c.partial).unwrap_or_default();
                        if h.len as usize > PAYLOAD_MAX {
                            continue;
                        }
                    }
                }
                return Ok(taken);
            }
        }
    }

    /// Takes what a host-side connection has to read (replies and watch
    /// events); empty for an unknown connection.
    pub fn take_output(&mut self, id: ConnId) -> Vec<u8> {
        self.hosts
            .get_mut(&id)
            .map(|c| c.replies.drain(..).collect())
            .unwrap_or_default()
    }

    /// The guest has replies or watch events queued that the next
    /// [`Xenstore::process`] writes to the ring (after a host-side change).
    pub fn guest_output_pending(&self) -> bool {
        !self.guest.replies.is_empty()
    }

    fn conn(&mut self, who: Who) -> Option<&mut Conn> {
        match who {
            Who::Guest => Some(&mut self.guest),
            Who::Host(id) => self.hosts.get_mut(&id),
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
                || self.guest.replies.len() >= MAX_PENDING_REPLIES
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
            self.guest_errors = self.guest_errors.saturating_add(1);
            warn!("xenstore: req_prod {prod:#x} is {avail} bytes ahead of req_cons {cons:#x}; dropping requests");
            self.guest.partial.clear();
            store_idx(mem, self.gpa(REQ_CONS), prod)?;
            return Ok(u64::from(RING_SIZE));
        }
        let want = MAX_PARTIAL_REQUEST.saturating_sub(self.guest.partial.len());
        // avail <= RING_SIZE, so it fits in usize and u32.
        let n = (avail as usize).min(want);
        if n == 0 {
            return Ok(0);
        }
        let ring = ByteRing {
            base: GuestAddress(self.gpa(REQ_OFF)),
            size: RING_SIZE,
        };
        let start = self.guest.partial.len();
        self.guest.partial.resize(start + n, 0);
        ring.read(mem, cons, &mut self.guest.partial[start..])?;
        store_idx(mem, self.gpa(REQ_CONS), cons.wrapping_add(n as u32))?;
        Ok(n as u64)
    }

    /// Answers every whole message in the partial buffer; returns how many,
    /// and whether the request stream lost sync.
    fn handle_complete(&mut self) -> (usize, bool) {
        let mut n = 0;
        while self.guest.partial.len() >= HEADER_SIZE
            && self.guest.replies.len() < MAX_PENDING_REPLIES
        {
            let Some(hdr) = Header::parse(&self.guest.partial) else {
                break;
            };
            if hdr.len as usize > PAYLOAD_MAX {
                self.guest_errors = self.guest_errors.saturating_add(1);
                warn!(
                    "xenstore: request type {} with len {} > {PAYLOAD_MAX}; resyncing",
                    hdr.ty, hdr.len
                );
                self.guest
                    .queue(XS_ERROR, hdr.req_id, hdr.tx_id, b"E2BIG\0");
                // Whatever follows cannot be trusted to be a header: drop
                // what we hold; the next message starts at the next fresh
                // producer update (read_requests drains the rest).
                self.guest.partial.clear();
                return (n + 1, true);
            }
            let total = HEADER_SIZE + hdr.len as usize;
            if self.guest.partial.len() < total {
                break;
            }
            let payload: Vec<u8> = self.guest.partial[HEADER_SIZE..total].to_vec();
            self.guest.partial.drain(..total);
            self.handle(Who::Guest, hdr, &payload);
            n += 1;
        }
        (n, false)
    }

    /// Copies queued replies into the response ring as room allows.
    fn flush_replies<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<bool> {
        if self.guest.replies.is_empty() {
            return Ok(false);
        }
        let cons = load_idx(mem, self.gpa(RSP_CONS))?;
        let mut prod = load_idx(mem, self.gpa(RSP_PROD))?;
        let mut fill = prod.wrapping_sub(cons);
        if fill > RING_SIZE {
            self.guest_errors = self.guest_errors.saturating_add(1);
            warn!("xenstore: rsp_cons {cons:#x} / rsp_prod {prod:#x} out of range; resetting response ring");
            prod = cons;
            fill = 0;
        }
        let n = ((RING_SIZE - fill) as usize).min(self.guest.replies.len());
        if n == 0 {
            return Ok(false);
        }
        let bytes: Vec<u8> = self.guest.replies.drain(..n).collect();
        let ring = ByteRing {
            base: GuestAddress(self.gpa(RSP_OFF)),
            size: RING_SIZE,
        };
        ring.write(mem, prod, &bytes)?;
        store_idx(mem, self.gpa(RSP_PROD), prod.wrapping_add(n as u32))?;
        Ok(true)
    }

    /// Hands the watch events the store raised to every connection whose
    /// watches they hit (and that may read the node).
    fn distribute(&mut self) {
        let fired = std::mem::take(&mut self.store.fired);
        if fired.is_empty() {
            return;
        }
        let conns = std::iter::once(&mut self.guest).chain(self.hosts.values_mut());
        for c in conns {
            let home = c.home();
            for f in &fired {
                if !store::access(&f.perms, c.caller).0 {
                    continue;
                }
                for w in &c.watches {
                    let report = if tree::is_special(&f.path) || tree::is_special(&w.path) {
                        if w.path != f.path {
                            continue;
                        }
                        f.path.clone()
                    } else {
                        let wabs = if w.path.starts_with('/') {
                            w.path.clone()
                        } else {
                            format!("{home}/{}", w.path)
                        };
                        // A change fires watches on the node and its
                        // ancestors; a node removed below the one removed
                        // fires those on exactly it.
                        let hit = if f.exact {
                            wabs == f.path
                        } else {
                            tree::under(&f.path, &wabs)
                        };
                        if !hit {
                            continue;
                        }
                        f.path.clone()
                    };
                    let path = if w.path.starts_with('/') || tree::is_special(&w.path) {
                        report
                    } else {
                        report
                            .strip_prefix(&format!("{home}/"))
                            .map_or(report.clone(), str::to_string)
                    };
                    let mut p = path.into_bytes();
                    p.push(0);
                    p.extend_from_slice(w.token.as_bytes());
                    p.push(0);
                    if p.len() <= PAYLOAD_MAX {
                        c.deferred.push(p);
                    }
                }
            }
            c.send_deferred();
        }
    }

    fn handle(&mut self, who: Who, hdr: Header, payload: &[u8]) {
        debug!(
            "xenstore: {who:?} request type {} req_id {} tx {} len {}",
            hdr.ty, hdr.req_id, hdr.tx_id, hdr.len
        );
        let reply = self.dispatch(who, hdr, payload);
        let ok = reply.is_ok();
        let Some(conn) = self.conn(who) else {
            return;
        };
        match reply {
            Ok(p) if p.len() > PAYLOAD_MAX => {
                conn.queue(XS_ERROR, hdr.req_id, hdr.tx_id, b"E2BIG\0");
            }
            Ok(p) => conn.queue(hdr.ty, hdr.req_id, hdr.tx_id, &p),
            Err(e) => {
                let mut p = e.name().as_bytes().to_vec();
                p.push(0);
                conn.queue(XS_ERROR, hdr.req_id, hdr.tx_id, &p);
            }
        }
        // The initial watch event goes after the reply, as in xenstored.
        if hdr.ty == XS_WATCH && ok {
            // The payload was "path\0token\0"; echo it as the event.
            conn.queue(XS_WATCH_EVENT, 0, 0, payload);
        }
        self.distribute();
    }

    fn one_arg(payload: &[u8]) -> std::result::Result<&str, XsErr> {
        match nul_strings(payload).as_deref() {
            Some([p]) => Ok(p),
            _ => Err(XsErr::Einval),
        }
    }

    fn domid_arg(s: &str) -> std::result::Result<u16, XsErr> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(XsErr::Einval);
        }
        s.parse().map_err(|_| XsErr::Einval)
    }

    fn dispatch(&mut self, who: Who, hdr: Header, payload: &[u8]) -> Reply {
        let Some(conn) = self.conn(who) else {
            return Err(XsErr::Einval);
        };
        let caller = conn.caller;
        // Requests outside the store's data ignore the transaction id.
        let notid = matches!(
            hdr.ty,
            XS_WATCH
                | XS_UNWATCH
                | XS_RESET_WATCHES
                | XS_GET_DOMAIN_PATH
                | XS_IS_DOMAIN_INTRODUCED
                | XS_INTRODUCE
                | XS_RELEASE
                | XS_RESUME
                | XS_SET_TARGET
                | XS_CONTROL
        );
        let txi = if hdr.tx_id != 0 && !notid {
            Some(
                conn.txs
                    .iter()
                    .position(|t| t.id == hdr.tx_id)
                    .ok_or(XsErr::Enoent)?,
            )
        } else {
            None
        };
        let priv_only = matches!(
            hdr.ty,
            XS_IS_DOMAIN_INTRODUCED
                | XS_INTRODUCE
                | XS_RELEASE
                | XS_RESUME
                | XS_SET_TARGET
                | XS_CONTROL
        );
        if priv_only && !caller.privileged {
            return Err(XsErr::Eacces);
        }
        match hdr.ty {
            XS_READ | XS_DIRECTORY | XS_GET_PERMS | XS_WRITE | XS_MKDIR | XS_RM | XS_SET_PERMS
            | XS_DIRECTORY_PART => self.data_op(who, txi, hdr.ty, payload),
            XS_WATCH | XS_UNWATCH => {
                let v = nul_strings(payload).ok_or(XsErr::Einval)?;
                let [path, token] = v.as_slice() else {
                    return Err(XsErr::Einval);
                };
                quota_path(&self.store.quotas, caller, path, true)?;
                let quota = self.store.quotas.watches_per_connection as usize;
                let conn = self.conn(who).ok_or(XsErr::Einval)?;
                let pos = conn
                    .watches
                    .iter()
                    .position(|w| w.path == *path && w.token == *token);
                if hdr.ty == XS_UNWATCH {
                    let i = pos.ok_or(XsErr::Enoent)?;
                    conn.watches.remove(i);
                } else {
                    if pos.is_some() {
                        return Err(XsErr::Eexist);
                    }
                    if conn.watches.len() >= quota {
                        return Err(XsErr::E2big);
                    }
                    conn.watches.push(Watch {
                        path: path.to_string(),
                        token: token.to_string(),
                    });
                }
                Ok(OK.to_vec())
            }
            XS_RESET_WATCHES => {
                let conn = self.conn(who).ok_or(XsErr::Einval)?;
                conn.watches.clear();
                conn.txs.clear();
                Ok(OK.to_vec())
            }
            XS_TRANSACTION_START => {
                if txi.is_some() {
                    return Err(XsErr::Ebusy);
                }
                let quota = self.store.quotas.transactions_per_connection as usize;
                let generation = self.store.generation;
                let conn = self.conn(who).ok_or(XsErr::Einval)?;
                if conn.txs.len() >= quota {
                    return Err(XsErr::Enospc);
                }
                let mut id = conn.last_tx_id.wrapping_add(1);
                while id == 0 || conn.txs.iter().any(|t| t.id == id) {
                    id = id.wrapping_add(1);
                }
                conn.last_tx_id = id;
                conn.txs.push(Transaction {
                    id,
                    start_generation: generation,
                    ..Default::default()
                });
                Ok(format!("{id}\0").into_bytes())
            }
            XS_TRANSACTION_END => {
                let commit = match nul_strings(payload).as_deref() {
                    Some(["T"]) => true,
                    Some(["F"]) => false,
                    _ => return Err(XsErr::Einval),
                };
                let i = txi.ok_or(XsErr::Enoent)?;
                let conn = self.conn(who).ok_or(XsErr::Einval)?;
                let t = conn.txs.remove(i);
                if commit {
                    self.store.commit(t, caller)?;
                }
                Ok(OK.to_vec())
            }
            XS_GET_DOMAIN_PATH => {
                let d = Self::domid_arg(Self::one_arg(payload)?)?;
                Ok(format!("{}\0", tree::home(d)).into_bytes())
            }
            XS_IS_DOMAIN_INTRODUCED => {
                let d = Self::domid_arg(Self::one_arg(payload)?)?;
                let yes = d == 0 || (d == self.domid && !self.released);
                Ok(if yes {
                    b"T\0".to_vec()
                } else {
                    b"F\0".to_vec()
                })
            }
            XS_INTRODUCE => {
                let v = nul_strings(payload).ok_or(XsErr::Einval)?;
                let [d, gfn, port] = v.as_slice() else {
                    return Err(XsErr::Einval);
                };
                let d = Self::domid_arg(d)?;
                gfn.parse::<u64>().map_err(|_| XsErr::Einval)?;
                port.parse::<u32>().map_err(|_| XsErr::Einval)?;
                // Only our guest can be (re)introduced: there is no other
                // domain whose ring we could map.
                if d != self.domid || d == 0 {
                    return Err(XsErr::Einval);
                }
                if self.released {
                    self.released = false;
                    self.store.fire_special("@introduceDomain");
                }
                Ok(OK.to_vec())
            }
            XS_RELEASE => {
                let d = Self::domid_arg(Self::one_arg(payload)?)?;
                if d == 0 {
                    return Err(XsErr::Einval);
                }
                if d != self.domid || self.released {
                    return Err(XsErr::Enoent);
                }
                self.released = true;
                self.store.fire_special("@releaseDomain");
                Ok(OK.to_vec())
            }
            XS_RESUME => {
                let d = Self::domid_arg(Self::one_arg(payload)?)?;
                if d != self.domid || self.released {
                    return Err(XsErr::Enoent);
                }
                Ok(OK.to_vec())
            }
            // One unprivileged domain: none can be made another's target
            // holder; no control commands are implemented.
            XS_SET_TARGET | XS_CONTROL => Err(XsErr::Einval),
            XS_WATCH_EVENT | XS_ERROR => Err(XsErr::Einval),
            _ => Err(XsErr::Enosys),
        }
    }

    /// The requests on the store's data, in or outside a transaction.
    fn data_op(&mut self, who: Who, txi: Option<usize>, ty: u32, payload: &[u8]) -> Reply {
        let conn = match who {
            Who::Guest => &mut self.guest,
            Who::Host(id) => self.hosts.get_mut(&id).ok_or(XsErr::Einval)?,
        };
        let caller = conn.caller;
        let mut tx = txi.and_then(|i| conn.txs.get_mut(i));
        let st = &mut self.store;
        let quota_path = |p: &str, special: bool| quota_path(&st.quotas, caller, p, special);
        match ty {
            XS_READ => {
                let abs = quota_path(Self::one_arg(payload)?, false)?;
                Ok(st.get(tx, caller, &abs, Need::Read)?.value)
            }
            XS_GET_PERMS => {
                let abs = quota_path(Self::one_arg(payload)?, true)?;
                let n = st.get(tx, caller, &abs, Need::Read)?;
                let mut out = Vec::new();
                for p in &n.perms {
                    out.extend_from_slice(p.to_string().as_bytes());
                    out.push(0);
                }
                Ok(out)
            }
            XS_DIRECTORY => {
                let abs = quota_path(Self::one_arg(payload)?, false)?;
                st.get(tx.as_deref_mut(), caller, &abs, Need::Read)?;
                let mut out = Vec::new();
                for c in st.children(tx.as_deref(), &abs) {
                    out.extend_from_slice(c.as_bytes());
                    out.push(0);
                }
                if out.len() > PAYLOAD_MAX {
                    return Err(XsErr::E2big);
                }
                Ok(out)
            }
            XS_DIRECTORY_PART => {
                let v = nul_strings(payload).ok_or(XsErr::Einval)?;
                let [path, off] = v.as_slice() else {
                    return Err(XsErr::Einval);
                };
                if off.is_empty() || !off.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(XsErr::Einval);
                }
                let off: usize = off.parse().map_err(|_| XsErr::Einval)?;
                let abs = quota_path(path, false)?;
                let n = st.get(tx.as_deref_mut(), caller, &abs, Need::Read)?;
                let mut list = Vec::new();
                for c in st.children(tx.as_deref(), &abs) {
                    list.extend_from_slice(c.as_bytes());
                    list.push(0);
                }
                let mut out = format!("{}\0", n.generation).into_bytes();
                if off >= list.len() {
                    // Past the end: an empty list.
                    out.push(0);
                    return Ok(out);
                }
                // Whole names from `off` while they fit, then the empty
                // string that ends the list if it was reached.
                let room = PAYLOAD_MAX - out.len() - 1;
                let mut end = off;
                while end < list.len() {
                    let next = list[end..]
                        .iter()
                        .position(|&b| b == 0)
                        .map_or(list.len(), |i| end + i + 1);
                    if next - off > room {
                        break;
                    }
                    end = next;
                }
                out.extend_from_slice(&list[off..end]);
                if end == list.len() {
                    out.push(0);
                }
                Ok(out)
            }
            XS_WRITE | XS_MKDIR => {
                let (path, value) = if ty == XS_WRITE {
                    let nul = payload.iter().position(|&b| b == 0).ok_or(XsErr::Einval)?;
                    let path = std::str::from_utf8(&payload[..nul]).map_err(|_| XsErr::Einval)?;
                    (path, &payload[nul + 1..])
                } else {
                    (Self::one_arg(payload)?, &[][..])
                };
                let abs = quota_path(path, false)?;
                st.write(tx, caller, &abs, value, ty == XS_MKDIR)?;
                Ok(OK.to_vec())
            }
            XS_RM => {
                let abs = quota_path(Self::one_arg(payload)?, false)?;
                st.rm(tx, caller, &abs)?;
                Ok(OK.to_vec())
            }
            XS_SET_PERMS => {
                let v = nul_strings(payload).ok_or(XsErr::Einval)?;
                let (path, perms) = v.split_first().ok_or(XsErr::Einval)?;
                let abs = quota_path(path, true)?;
                if perms.len() > MAX_PERMS {
                    return Err(XsErr::Enospc);
                }
                let perms = store::parse_perms(perms)?;
                st.set_perms(tx, caller, &abs, perms)?;
                Ok(OK.to_vec())
            }
            _ => Err(XsErr::Enosys),
        }
    }
}

/// The privileged toolstack domain.
const DOM0: Caller = Caller {
    domid: 0,
    privileged: true,
};

/// Most permission entries a node may have whatever the quotas (and a
/// privileged caller may set).
pub const MAX_PERMS: usize = 64;

/// Most host-side connections open at once.
pub const MAX_HOST_CONNECTIONS: usize = 64;

/// A node path argument, made absolute (relative paths are under the
/// caller's home) and within the path quota for an unprivileged caller
/// (counted below `/local/domain/<id>/`); special paths only where
/// `special`. `EINVAL` otherwise.
fn quota_path(
    quotas: &Quotas,
    caller: Caller,
    p: &str,
    special: bool,
) -> std::result::Result<String, XsErr> {
    if tree::is_special(p) {
        return if special {
            Ok(p.to_string())
        } else {
            Err(XsErr::Einval)
        };
    }
    let abs = tree::absolute(&tree::home(caller.domid), p).ok_or(XsErr::Einval)?;
    if !caller.privileged {
        let rel = abs
            .strip_prefix("/local/domain/")
            .and_then(|r| {
                let d = r.find('/')?;
                r[..d]
                    .bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| &r[d + 1..])
            })
            .unwrap_or(&abs);
        if rel.len() > quotas.path_length as usize {
            return Err(XsErr::Einval);
        }
    }
    Ok(abs)
}
