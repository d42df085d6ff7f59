//! A minimal xenstore server over the guest's xenstore ring.
//!
//! The page at `HVM_PARAM_STORE_PFN` is a `xenstore_domain_interface`: a
//! request ring (`req[1024]`, guest produces) and a response ring
//! (`rsp[1024]`, we produce) with free-running `u32` indices
//! `req_cons`, `req_prod`, `rsp_cons`, `rsp_prod`. Messages on both rings
//! are an `xsd_sockmsg` header (`type`, `req_id`, `tx_id`, `len`, four
//! little-endian `u32`) followed by `len <= 4096` payload bytes; a message
//! may straddle the ring end and arrive in pieces.
//!
//! The store is a flat map of absolute paths to byte values. Paths that do
//! not start with `/` are relative to the domain's home,
//! `/local/domain/<domid>`, which holds `domid` and `name`. Supported:
//! `XS_READ`, `XS_WRITE`, `XS_MKDIR`, `XS_RM`, `XS_DIRECTORY`,
//! `XS_GET_PERMS`, `XS_SET_PERMS` (accepted on writable nodes, ignored),
//! `XS_WATCH` / `XS_UNWATCH` (with the initial event and events on change,
//! as xenstored does), `XS_RESET_WATCHES`, `XS_TRANSACTION_START` /
//! `XS_TRANSACTION_END` (ids handed out; writes apply at once),
//! `XS_GET_DOMAIN_PATH`. Privileged operations get `EACCES`, unknown ones
//! `ENOSYS`, a missing node `ENOENT`, a write outside the guest-writable
//! prefixes `EACCES`.
//!
//! The VMM core calls [`Xenstore::process`] when the guest signals the
//! store event channel (`HVM_PARAM_STORE_EVTCHN`) or yields (GRUB spins on
//! `SCHEDOP_yield` waiting for replies), and raises that event channel when
//! it returns `true`.
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_vmm::devices::xenstore::{Xenstore, XenstoreConfig, REQ_PROD, XS_READ};
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
//! let mut xs = Xenstore::new(0xe, XenstoreConfig::new(1, "guest")).unwrap();
//! // Guest: XS_READ "domid".
//! let mut msg = Vec::new();
//! for v in [XS_READ, 7, 0, 6] { msg.extend_from_slice(&v.to_le_bytes()); }
//! msg.extend_from_slice(b"domid\0");
//! mem.write_slice(&msg, GuestAddress(0xe000)).unwrap();
//! mem.write_obj(msg.len() as u32, GuestAddress(0xe000 + REQ_PROD)).unwrap();
//! assert!(xs.process(&mem).unwrap());
//! let mut rsp = [0u8; 17];
//! mem.read_slice(&mut rsp, GuestAddress(0xe000 + 1024)).unwrap();
//! assert_eq!(&rsp[16..], b"1");
//! ```

use std::collections::{BTreeMap, VecDeque};

use log::{debug, warn};
use vm_memory::{Bytes, GuestAddress};

use std::mem::offset_of;

use xen_abi::{XenstoreDomainInterface, XsdSockmsg, XENSTORE_PAYLOAD_MAX, XENSTORE_RING_SIZE};

use super::{load_idx, page_base, store_idx, ByteRing, Result};

/// Size of each ring.
pub const RING_SIZE: u32 = XENSTORE_RING_SIZE as u32;
/// Offset of `req[]`.
pub const REQ_OFF: u64 = offset_of!(XenstoreDomainInterface, req) as u64;
/// Offset of `rsp[]`.
pub const RSP_OFF: u64 = offset_of!(XenstoreDomainInterface, rsp) as u64;
/// Offset of `req_cons`.
pub const REQ_CONS: u64 = offset_of!(XenstoreDomainInterface, req_cons) as u64;
/// Offset of `req_prod`.
pub const REQ_PROD: u64 = offset_of!(XenstoreDomainInterface, req_prod) as u64;
/// Offset of `rsp_cons`.
pub const RSP_CONS: u64 = offset_of!(XenstoreDomainInterface, rsp_cons) as u64;
/// Offset of `rsp_prod`.
pub const RSP_PROD: u64 = offset_of!(XenstoreDomainInterface, rsp_prod) as u64;
/// Size of the `xsd_sockmsg` header.
pub const HEADER_SIZE: usize = std::mem::size_of::<XsdSockmsg>();
/// Largest payload (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = XENSTORE_PAYLOAD_MAX as usize;
/// Longest absolute path (`XENSTORE_ABS_PATH_MAX`).
pub const ABS_PATH_MAX: usize = 3072;
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

/// The `XS_*` message types, from xen-abi.
pub use xen_abi::{
    XS_CONTROL, XS_DIRECTORY, XS_DIRECTORY_PART, XS_ERROR, XS_GET_DOMAIN_PATH, XS_GET_PERMS,
    XS_INTRODUCE, XS_IS_DOMAIN_INTRODUCED, XS_MKDIR, XS_READ, XS_RELEASE, XS_RESET_WATCHES,
    XS_RESUME, XS_RM, XS_SET_PERMS, XS_SET_TARGET, XS_TRANSACTION_END, XS_TRANSACTION_START,
    XS_UNWATCH, XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
};

/// Nodes a guest may create and write, relative to its home, by default
/// (what a toolstack makes guest-owned).
pub const DEFAULT_WRITABLE: &[&str] = &["data", "device", "control", "drivers", "attr", "error"];

/// What the store starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenstoreConfig {
    /// The guest's domain id.
    pub domid: u16,
    /// The guest's name (`<home>/name`).
    pub name: String,
    /// Extra nodes: (path, value); relative paths are under the home.
    pub entries: Vec<(String, String)>,
    /// Path prefixes the guest may write; relative ones are under the home.
    pub writable: Vec<String>,
}

impl XenstoreConfig {
    /// Home with `domid` and `name`, [`DEFAULT_WRITABLE`] prefixes.
    pub fn new(domid: u16, name: &str) -> Self {
        XenstoreConfig {
            domid,
            name: name.to_string(),
            entries: Vec::new(),
            writable: DEFAULT_WRITABLE.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The path as the guest gave it (relative or absolute).
    pub path: String,
    /// The guest's token.
    pub token: String,
}

/// Snapshot state of the xenstore server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XenstoreState {
    /// Guest frame number of the ring page.
    pub ring_gfn: u64,
    /// The guest's domain id.
    pub domid: u16,
    /// Absolute path -> value.
    pub nodes: BTreeMap<String, Vec<u8>>,
    /// Absolute path prefixes the guest may write.
    pub writable: Vec<String>,
    /// Watches the guest registered.
    pub watches: Vec<Watch>,
    /// Open transaction ids.
    pub transactions: Vec<u32>,
    /// Last transaction id handed out.
    pub last_tx_id: u32,
    /// Request bytes read from the ring that do not form a whole message yet.
    pub partial_request: Vec<u8>,
    /// Reply bytes waiting for room in the response ring.
    pub pending_replies: Vec<u8>,
    /// Times the guest broke the ring protocol.
    pub guest_errors: u64,
}

/// The xenstore server.
#[derive(Debug)]
pub struct Xenstore {
    ring: GuestAddress,
    st: XenstoreState,
    replies: VecDeque<u8>,
    /// Watch events raised while handling a request; sent after its reply.
    deferred: Vec<Vec<u8>>,
}

#[derive(Clone, Copy, Debug)]
struct Header {
    ty: u32,
    req_id: u32,
    tx_id: u32,
    len: u32,
}

impl Header {
    fn parse(b: &[u8]) -> Header {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            ty: w(0),
            req_id: w(4),
            tx_id: w(8),
            len: w(12),
        }
    }
}

/// Errno names used in `XS_ERROR` replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum XsErr {
    Enoent,
    Einval,
    Eacces,
    Enosys,
    E2big,
    Enospc,
    Eexist,
}

impl XsErr {
    fn name(self) -> &'static str {
        match self {
            XsErr::Enoent => "ENOENT",
            XsErr::Einval => "EINVAL",
            XsErr::Eacces => "EACCES",
            XsErr::Enosys => "ENOSYS",
            XsErr::E2big => "E2BIG",
            XsErr::Enospc => "ENOSPC",
            XsErr::Eexist => "EEXIST",
        }
    }
}

type Reply = std::result::Result<Vec<u8>, XsErr>;

const OK: &[u8] = b"OK\0";

fn valid_path_chars(p: &str) -> bool {
    p.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-/_@".contains(&c))
}

/// Splits a payload made of NUL-terminated strings; `None` unless every
/// string is terminated and valid UTF-8.
fn nul_strings(payload: &[u8]) -> Option<Vec<&str>> {
    if payload.last() != Some(&0) {
        return None;
    }
    payload[..payload.len() - 1]
        .split(|&b| b == 0)
        .map(|s| std::str::from_utf8(s).ok())
        .collect()
}

impl Xenstore {
    /// A server for the ring at guest frame `ring_gfn`, with the store
    /// filled from `config`.
    pub fn new(ring_gfn: u64, config: XenstoreConfig) -> Result<Self> {
        let home = format!("/local/domain/{}", config.domid);
        let mut st = XenstoreState {
            ring_gfn,
            domid: config.domid,
            ..Default::default()
        };
        st.nodes.insert(
            format!("{home}/domid"),
            config.domid.to_string().into_bytes(),
        );
        st.nodes
            .insert(format!("{home}/name"), config.name.clone().into_bytes());
        let abs = |p: &str| {
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("{home}/{p}")
            }
        };
        for (k, v) in &config.entries {
            st.nodes.insert(abs(k), v.clone().into_bytes());
        }
        st.writable = config.writable.iter().map(|p| abs(p)).collect();
        Self::from_state(&st)
    }

    /// Restores a server from a snapshot.
    pub fn from_state(state: &XenstoreState) -> Result<Self> {
        let ring = page_base(state.ring_gfn)?;
        let mut st = state.clone();
        let replies = std::mem::take(&mut st.pending_replies).into();
        st.partial_request.truncate(HEADER_SIZE + PAYLOAD_MAX);
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

    /// The guest's home, `/local/domain/<domid>`.
    pub fn home(&self) -> String {
        format!("/local/domain/{}", self.st.domid)
    }

    /// Host side: reads a node (relative paths are under the home).
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let abs = self.absolute(path)?;
        self.st.nodes.get(&abs).map(|v| v.as_slice())
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
        if path.is_empty() || path.len() > ABS_PATH_MAX || !valid_path_chars(path) {
            return None;
        }
        let abs = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{}", self.home(), path)
        };
        if abs.len() > ABS_PATH_MAX
            || abs.contains("//")
            || (abs.len() > 1 && abs.ends_with('/'))
            || abs.contains('@')
        {
            return None;
        }
        Some(abs)
    }

    fn writable(&self, abs: &str) -> bool {
        self.st
            .writable
            .iter()
            .any(|w| abs == w || (abs.starts_with(w.as_str()) && abs[w.len()..].starts_with('/')))
    }

    /// `abs` exists as a node or as the parent of one.
    fn exists(&self, abs: &str) -> bool {
        abs == "/" || self.st.nodes.contains_key(abs) || !self.children(abs).is_empty()
    }

    /// Names of the direct children of `abs`, sorted, deduplicated.
    fn children(&self, abs: &str) -> Vec<String> {
        let prefix = if abs == "/" {
            "/".to_string()
        } else {
            format!("{abs}/")
        };
        let mut out = std::collections::BTreeSet::new();
        for k in self
            .st
            .nodes
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix.as_str()))
        {
            let name = k[prefix.len()..].split('/').next().unwrap_or("");
            if !name.is_empty() {
                out.insert(name.to_string());
            }
        }
        out.into_iter().collect()
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
            let under =
                |a: &str, b: &str| a == b || (a.starts_with(b) && a[b.len()..].starts_with('/'));
            // A change fires watches on the node and its ancestors; a
            // removal also fires watches on removed descendants.
            let hit = under(abs, &wabs) || (removed && under(&wabs, abs));
            if !hit {
                continue;
            }
            let report = if removed && under(&wabs, abs) {
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
    pub fn process<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<bool> {
        let mut notify = self.flush_replies(mem)?;
        let mut handled = 0;
        while handled < MAX_MESSAGES_PER_CALL && self.replies.len() < MAX_PENDING_REPLIES {
            let read = self.read_requests(mem)?;
            notify |= read;
            let (n, resync) = self.handle_complete();
            handled += n;
            if resync {
                let prod = load_idx(mem, self.gpa(REQ_PROD))?;
                store_idx(mem, self.gpa(REQ_CONS), prod)?;
            }
            if n > 0 {
                notify |= self.flush_replies(mem)?;
            }
            if !read && n == 0 {
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
    /// whole message can need. Returns whether any were consumed.
    fn read_requests<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<bool> {
        let cons = load_idx(mem, self.gpa(REQ_CONS))?;
        let prod = load_idx(mem, self.gpa(REQ_PROD))?;
        let avail = prod.wrapping_sub(cons);
        if avail == 0 {
            return Ok(false);
        }
        if avail > RING_SIZE {
            self.st.guest_errors = self.st.guest_errors.saturating_add(1);
            warn!("xenstore: req_prod {prod:#x} is {avail} bytes ahead of req_cons {cons:#x}; dropping requests");
            self.st.partial_request.clear();
            store_idx(mem, self.gpa(REQ_CONS), prod)?;
            return Ok(true);
        }
        let want = HEADER_SIZE + PAYLOAD_MAX - self.st.partial_request.len();
        // avail <= RING_SIZE, so it fits in usize and u32.
        let n = (avail as usize).min(want);
        if n == 0 {
            return Ok(false);
        }
        let ring = ByteRing {
            base: GuestAddress(self.gpa(REQ_OFF)),
            size: RING_SIZE,
        };
        let start = self.st.partial_request.len();
        self.st.partial_request.resize(start + n, 0);
        ring.read(mem, cons, &mut self.st.partial_request[start..])?;
        store_idx(mem, self.gpa(REQ_CONS), cons.wrapping_add(n as u32))?;
        Ok(true)
    }

    /// Answers every whole message in the partial buffer; returns how many,
    /// and whether the request stream lost sync.
    fn handle_complete(&mut self) -> (usize, bool) {
        let mut n = 0;
        while self.st.partial_request.len() >= HEADER_SIZE
            && self.replies.len() < MAX_PENDING_REPLIES
        {
            let hdr = Header::parse(&self.st.partial_request);
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
                for c in self.children(&abs) {
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
                let d = self.st.domid;
                Ok(if self.writable(&abs) {
                    format!("n{d}\0").into_bytes()
                } else {
                    format!("n0\0r{d}\0").into_bytes()
                })
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
                let special = path.starts_with('@') && valid_path_chars(path);
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

#[cfg(test)]
mod tests {
    use super::super::test_util::mem;
    use super::*;
    use vm_memory::GuestMemoryMmap;

    const GFN: u64 = 3;
    const BASE: u64 = GFN * 4096;

    fn get(m: &GuestMemoryMmap, off: u64) -> u32 {
        m.read_obj(GuestAddress(BASE + off)).unwrap()
    }
    fn set(m: &GuestMemoryMmap, off: u64, v: u32) {
        m.write_obj(v, GuestAddress(BASE + off)).unwrap();
    }
    /// Guest: append raw bytes to the request ring (assumes room).
    fn send_raw(m: &GuestMemoryMmap, bytes: &[u8]) {
        let mut prod = get(m, REQ_PROD);
        for &b in bytes {
            let off = u64::from(prod & (RING_SIZE - 1));
            m.write_obj(b, GuestAddress(BASE + REQ_OFF + off)).unwrap();
            prod = prod.wrapping_add(1);
        }
        set(m, REQ_PROD, prod);
    }
    fn msg(ty: u32, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [ty, req_id, tx, payload.len() as u32] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(payload);
        v
    }
    /// Guest: take all reply bytes.
    fn recv_raw(m: &GuestMemoryMmap) -> Vec<u8> {
        let mut cons = get(m, RSP_CONS);
        let prod = get(m, RSP_PROD);
        let mut v = Vec::new();
        if prod.wrapping_sub(cons) > RING_SIZE {
            // Only the random test scribbles indices like this.
            set(m, RSP_CONS, prod);
            return v;
        }
        while cons != prod {
            let off = u64::from(cons & (RING_SIZE - 1));
            v.push(m.read_obj(GuestAddress(BASE + RSP_OFF + off)).unwrap());
            cons = cons.wrapping_add(1);
        }
        set(m, RSP_CONS, cons);
        v
    }
    /// Splits reply bytes into (type, req_id, tx_id, payload).
    fn parse(mut b: &[u8]) -> Vec<(u32, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        while b.len() >= HEADER_SIZE {
            let h = Header::parse(b);
            let end = HEADER_SIZE + h.len as usize;
            out.push((h.ty, h.req_id, h.tx_id, b[HEADER_SIZE..end].to_vec()));
            b = &b[end..];
        }
        assert!(b.is_empty(), "trailing partial reply");
        out
    }
    fn server() -> Xenstore {
        let mut cfg = XenstoreConfig::new(1, "guest1");
        cfg.entries
            .push(("device/vbd/768/backend".into(), "/x".into()));
        cfg.entries.push(("/vm/abc/uuid".into(), "abc".into()));
        Xenstore::new(GFN, cfg).unwrap()
    }
    /// One request, one reply.
    fn call(
        xs: &mut Xenstore,
        m: &GuestMemoryMmap,
        ty: u32,
        tx: u32,
        payload: &[u8],
    ) -> (u32, Vec<u8>) {
        send_raw(m, &msg(ty, 42, tx, payload));
        assert!(xs.process(m).unwrap());
        let r = parse(&recv_raw(m));
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!((r[0].1, r[0].2), (42, tx));
        (r[0].0, r[0].3.clone())
    }

    #[test]
    fn reads() {
        let m = mem();
        let mut xs = server();
        assert_eq!(
            call(&mut xs, &m, XS_READ, 0, b"domid\0"),
            (XS_READ, b"1".to_vec())
        );
        assert_eq!(
            call(&mut xs, &m, XS_READ, 0, b"/local/domain/1/name\0"),
            (XS_READ, b"guest1".to_vec())
        );
        assert_eq!(call(&mut xs, &m, XS_READ, 0, b"/vm/abc/uuid\0").1, b"abc");
        // Intermediate node: empty value.
        assert_eq!(
            call(&mut xs, &m, XS_READ, 0, b"device\0"),
            (XS_READ, vec![])
        );
        assert_eq!(
            call(&mut xs, &m, XS_READ, 0, b"nope\0"),
            (XS_ERROR, b"ENOENT\0".to_vec())
        );
        // GRUB's probe: no disks configured in a bare store.
        let mut bare = Xenstore::new(GFN, XenstoreConfig::new(1, "g")).unwrap();
        assert_eq!(
            call(&mut bare, &m, XS_DIRECTORY, 0, b"device/vbd\0"),
            (XS_ERROR, b"ENOENT\0".to_vec())
        );
    }

    #[test]
    fn directory() {
        let m = mem();
        let mut xs = server();
        xs.write("device/vbd-x", b"1");
        assert_eq!(
            call(&mut xs, &m, XS_DIRECTORY, 0, b""),
            (XS_ERROR, b"EINVAL\0".to_vec()),
            "empty payload is invalid"
        );
        assert_eq!(
            call(&mut xs, &m, XS_DIRECTORY, 0, b"/local/domain/1\0").1,
            b"device\0domid\0name\0"
        );
        assert_eq!(
            call(&mut xs, &m, XS_DIRECTORY, 0, b"device\0").1,
            b"vbd\0vbd-x\0"
        );
        assert_eq!(call(&mut xs, &m, XS_DIRECTORY, 0, b"/\0").1, b"local\0vm\0");
        assert_eq!(call(&mut xs, &m, XS_DIRECTORY, 0, b"domid\0").1, b"");
    }

    #[test]
    fn writes_and_permissions() {
        let m = mem();
        let mut xs = server();
        assert_eq!(
            call(&mut xs, &m, XS_WRITE, 0, b"device/vbd/768/state\x003"),
            (XS_WRITE, b"OK\0".to_vec())
        );
        assert_eq!(xs.read("device/vbd/768/state"), Some(&b"3"[..]));
        assert_eq!(
            call(&mut xs, &m, XS_READ, 0, b"device/vbd/768/state\0").1,
            b"3"
        );
        // Empty value (GRUB clears ring-ref this way).
        assert_eq!(call(&mut xs, &m, XS_WRITE, 0, b"data/x\0").0, XS_WRITE);
        assert_eq!(xs.read("data/x"), Some(&b""[..]));
        for p in [
            &b"domid\x002"[..],
            b"/local/domain/0/x\0v",
            b"/tool\0v",
            b"datax\0v",
        ] {
            assert_eq!(
                call(&mut xs, &m, XS_WRITE, 0, p),
                (XS_ERROR, b"EACCES\0".to_vec())
            );
        }
        assert_eq!(xs.read("domid"), Some(&b"1"[..]));
        for p in [
            &b"no-nul"[..],
            b"data//x\0v",
            b"data/x/\0v",
            b"data/\xff\0v",
            b"data/a b\0v",
        ] {
            assert_eq!(
                call(&mut xs, &m, XS_WRITE, 0, p),
                (XS_ERROR, b"EINVAL\0".to_vec())
            );
        }
        assert_eq!(call(&mut xs, &m, XS_MKDIR, 0, b"data/d\0").1, b"OK\0");
        assert_eq!(
            call(&mut xs, &m, XS_MKDIR, 0, b"name\0").1,
            b"OK\0",
            "exists"
        );
        assert_eq!(call(&mut xs, &m, XS_RM, 0, b"device/vbd\0").1, b"OK\0");
        assert_eq!(xs.read("device/vbd/768/backend"), None);
        assert_eq!(call(&mut xs, &m, XS_RM, 0, b"device/vbd\0").1, b"ENOENT\0");
        assert_eq!(call(&mut xs, &m, XS_RM, 0, b"name\0").1, b"EACCES\0");
        assert_eq!(call(&mut xs, &m, XS_GET_PERMS, 0, b"name\0").1, b"n0\0r1\0");
        assert_eq!(call(&mut xs, &m, XS_GET_PERMS, 0, b"data\0").1, b"n1\0");
        assert_eq!(call(&mut xs, &m, XS_SET_PERMS, 0, b"data\0n1\0").1, b"OK\0");
        assert_eq!(
            call(&mut xs, &m, XS_SET_PERMS, 0, b"name\0n1\0").1,
            b"EACCES\0"
        );
    }

    #[test]
    fn transactions() {
        let m = mem();
        let mut xs = server();
        let (ty, id) = call(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0");
        assert_eq!((ty, id.as_slice()), (XS_TRANSACTION_START, &b"1\0"[..]));
        assert_eq!(call(&mut xs, &m, XS_WRITE, 1, b"data/t\0v").0, XS_WRITE);
        assert_eq!(
            call(&mut xs, &m, XS_READ, 7, b"domid\0").1,
            b"ENOENT\0",
            "unknown tx"
        );
        assert_eq!(
            call(&mut xs, &m, XS_TRANSACTION_END, 1, b"X\0").1,
            b"EINVAL\0"
        );
        assert_eq!(call(&mut xs, &m, XS_TRANSACTION_END, 1, b"T\0").1, b"OK\0");
        assert_eq!(
            call(&mut xs, &m, XS_TRANSACTION_END, 1, b"T\0").1,
            b"ENOENT\0"
        );
        for _ in 0..MAX_TRANSACTIONS {
            assert_eq!(
                call(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0").0,
                XS_TRANSACTION_START
            );
        }
        assert_eq!(
            call(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0").1,
            b"ENOSPC\0"
        );
    }

    #[test]
    fn watches() {
        let m = mem();
        let mut xs = server();
        send_raw(&m, &msg(XS_WATCH, 5, 0, b"data\0tok\0"));
        xs.process(&m).unwrap();
        let r = parse(&recv_raw(&m));
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].0, r[0].1, r[0].3.as_slice()),
            (XS_WATCH, 5, &b"OK\0"[..])
        );
        assert_eq!(
            (r[1].0, r[1].3.as_slice()),
            (XS_WATCH_EVENT, &b"data\0tok\0"[..])
        );
        // A guest write under the watch fires it (reply first, then event).
        send_raw(&m, &msg(XS_WRITE, 6, 0, b"data/a/b\0x"));
        xs.process(&m).unwrap();
        let r = parse(&recv_raw(&m));
        assert_eq!(r[0].0, XS_WRITE);
        assert_eq!(
            (r[1].0, r[1].3.as_slice()),
            (XS_WATCH_EVENT, &b"data/a/b\0tok\0"[..])
        );
        // Host write fires too; unrelated path does not.
        assert!(xs.write("/local/domain/1/data/c", b"1"));
        assert!(xs.write("/other", b"1"));
        xs.process(&m).unwrap();
        let r = parse(&recv_raw(&m));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].3, b"data/c\0tok\0");
        assert_eq!(
            call(&mut xs, &m, XS_WATCH, 0, b"data\0tok\0").1,
            b"EEXIST\0"
        );
        assert_eq!(call(&mut xs, &m, XS_UNWATCH, 0, b"data\0tok\0").1, b"OK\0");
        assert_eq!(
            call(&mut xs, &m, XS_UNWATCH, 0, b"data\0tok\0").1,
            b"ENOENT\0"
        );
        assert_eq!(call(&mut xs, &m, XS_UNWATCH, 0, b"data\0").1, b"EINVAL\0");
        // Special watches are accepted.
        send_raw(&m, &msg(XS_WATCH, 1, 0, b"@releaseDomain\0t\0"));
        xs.process(&m).unwrap();
        assert_eq!(parse(&recv_raw(&m))[0].3, b"OK\0");
        assert_eq!(call(&mut xs, &m, XS_RESET_WATCHES, 0, b"").1, b"OK\0");
        assert!(xs.state().watches.is_empty());
    }

    #[test]
    fn other_ops() {
        let m = mem();
        let mut xs = server();
        assert_eq!(
            call(&mut xs, &m, XS_GET_DOMAIN_PATH, 0, b"1\0").1,
            b"/local/domain/1\0"
        );
        assert_eq!(
            call(&mut xs, &m, XS_GET_DOMAIN_PATH, 0, b"x\0").1,
            b"EINVAL\0"
        );
        assert_eq!(call(&mut xs, &m, XS_INTRODUCE, 0, b"").1, b"EACCES\0");
        assert_eq!(call(&mut xs, &m, 999, 0, b"").1, b"ENOSYS\0");
        assert_eq!(
            call(&mut xs, &m, XS_DIRECTORY_PART, 0, b"\0").1,
            b"ENOSYS\0"
        );
        assert_eq!(call(&mut xs, &m, XS_ERROR, 0, b"").1, b"EINVAL\0");
    }

    #[test]
    fn message_split_across_calls_and_ring_wrap() {
        let m = mem();
        // Start near the end of the ring and near u32 wrap.
        let start = u32::MAX - 3;
        for off in [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD] {
            set(&m, off, start);
        }
        let mut xs = server();
        let req = msg(XS_READ, 9, 0, b"name\0");
        send_raw(&m, &req[..10]);
        assert!(xs.process(&m).unwrap(), "bytes consumed");
        assert!(recv_raw(&m).is_empty());
        send_raw(&m, &req[10..]);
        xs.process(&m).unwrap();
        let r = parse(&recv_raw(&m));
        assert_eq!(
            (r[0].0, r[0].1, r[0].3.as_slice()),
            (XS_READ, 9, &b"guest1"[..])
        );
        assert_eq!(get(&m, REQ_CONS), get(&m, REQ_PROD));
    }

    #[test]
    fn many_messages_and_backpressure() {
        let m = mem();
        let mut xs = server();
        // Small requests with 4 KiB replies; the guest never reads replies.
        let big = vec![b'v'; PAYLOAD_MAX];
        assert!(xs.write("data/big", &big));
        let req = msg(XS_READ, 1, 0, b"data/big\0");
        let mut sent = 0;
        let mut stopped = false;
        while sent < 200 {
            let cons = get(&m, REQ_CONS);
            let prod = get(&m, REQ_PROD);
            if (RING_SIZE - prod.wrapping_sub(cons)) as usize >= req.len() {
                send_raw(&m, &req);
                sent += 1;
                continue;
            }
            xs.process(&m).unwrap();
            if get(&m, REQ_CONS) == cons {
                stopped = true; // server stopped reading
                break;
            }
        }
        assert!(stopped, "back-pressure must stop reading requests");
        // The response ring is full, the rest waits in the queue.
        assert_eq!(get(&m, RSP_PROD).wrapping_sub(get(&m, RSP_CONS)), RING_SIZE);
        let queued = xs.state().pending_replies.len();
        assert!(queued > 0 && queued <= MAX_PENDING_REPLIES + HEADER_SIZE + PAYLOAD_MAX);
        // Guest drains: every request gets exactly one reply, in order.
        let mut all = Vec::new();
        loop {
            let b = recv_raw(&m);
            if b.is_empty() && get(&m, REQ_CONS) == get(&m, REQ_PROD) {
                break;
            }
            all.extend(b);
            xs.process(&m).unwrap();
        }
        let r = parse(&all);
        assert_eq!(r.len(), sent);
        assert!(r.iter().all(|x| x.3 == big));
    }

    #[test]
    fn oversized_header_resyncs() {
        let m = mem();
        let mut xs = server();
        let mut bad = msg(XS_WRITE, 3, 0, b"");
        bad[12..16].copy_from_slice(&(PAYLOAD_MAX as u32 + 1).to_le_bytes());
        send_raw(&m, &bad);
        send_raw(&m, b"garbage that is not a header at all");
        xs.process(&m).unwrap();
        let r = parse(&recv_raw(&m));
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].0, r[0].1, r[0].3.as_slice()),
            (XS_ERROR, 3, &b"E2BIG\0"[..])
        );
        assert_eq!(get(&m, REQ_CONS), get(&m, REQ_PROD));
        // The next message works.
        assert_eq!(call(&mut xs, &m, XS_READ, 0, b"domid\0").1, b"1");
        assert_eq!(xs.state().guest_errors, 1);
    }

    #[test]
    fn bad_indices() {
        let m = mem();
        let mut xs = server();
        set(&m, REQ_PROD, 5000);
        assert!(xs.process(&m).unwrap());
        assert_eq!(get(&m, REQ_CONS), 5000);
        // Response consumer far beyond our producer: ring reset, reply lands.
        set(&m, RSP_CONS, 100_000);
        send_raw(&m, &msg(XS_READ, 2, 0, b"domid\0"));
        xs.process(&m).unwrap();
        assert_eq!(get(&m, RSP_PROD), 100_000 + HEADER_SIZE as u32 + 1);
        assert_eq!(parse(&recv_raw(&m))[0].3, b"1");
        assert_eq!(xs.state().guest_errors, 2);
    }

    #[test]
    fn random_garbage_never_panics() {
        let m = mem();
        let mut xs = server();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2000 {
            let r = next();
            match r % 4 {
                0 => set(
                    &m,
                    [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD][(r >> 8) as usize % 4],
                    next() as u32,
                ),
                1 => {
                    // A header with a random type and small length.
                    let ty = (next() % 25) as u32;
                    let len = (next() % 40) as usize;
                    let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    let cons = get(&m, REQ_CONS);
                    if RING_SIZE.saturating_sub(get(&m, REQ_PROD).wrapping_sub(cons)) >= 60 {
                        send_raw(&m, &msg(ty, 1, (next() % 3) as u32, &payload));
                    }
                }
                2 => {
                    let _ = recv_raw(&m);
                }
                _ => {}
            }
            let _ = xs.process(&m).unwrap();
            assert!(xs.state().partial_request.len() <= HEADER_SIZE + PAYLOAD_MAX);
            assert!(
                xs.state().pending_replies.len()
                    <= MAX_PENDING_REPLIES + 2 * (HEADER_SIZE + PAYLOAD_MAX)
            );
        }
    }

    #[test]
    fn state_round_trip() {
        let m = mem();
        let mut xs = server();
        let req = msg(XS_READ, 9, 0, b"name\0");
        send_raw(&m, &req[..HEADER_SIZE + 2]);
        xs.process(&m).unwrap();
        let st = xs.state();
        assert_eq!(st.partial_request.len(), HEADER_SIZE + 2);
        let mut xs2 = Xenstore::from_state(&st).unwrap();
        assert_eq!(xs2.state(), st);
        send_raw(&m, &req[HEADER_SIZE + 2..]);
        xs2.process(&m).unwrap();
        assert_eq!(parse(&recv_raw(&m))[0].3, b"guest1");
    }
}
