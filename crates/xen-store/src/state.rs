// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The plain state of the server, for snapshots (`state()` / `from_state()`),
//! and the value types it is made of: nodes with their permissions, watches,
//! open transactions and quotas.

use std::collections::BTreeMap;
use std::fmt;

/// Access a permission entry grants (`XS_PERM_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PermKind {
    /// `n`: no access.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: read and write.
    Both,
}

impl PermKind {
    /// The letter of the wire format.
    pub fn letter(self) -> char {
        match self {
            PermKind::None => 'n',
            PermKind::Read => 'r',
            PermKind::Write => 'w',
            PermKind::Both => 'b',
        }
    }

    /// Grants read access.
    pub fn read(self) -> bool {
        matches!(self, PermKind::Read | PermKind::Both)
    }

    /// Grants write access.
    pub fn write(self) -> bool {
        matches!(self, PermKind::Write | PermKind::Both)
    }
}

/// One entry of a node's permission list. The first entry of a list names
/// the owner (who has full access) and gives the access of every domain
/// not listed; the others give a domain's access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// Domain id.
    pub domid: u16,
    /// Access.
    pub kind: PermKind,
}

impl Perm {
    /// Parses the wire form (`n0`, `r5`, `b12` ...); `None` if it is not a
    /// letter among `nrwb` followed by a decimal domain id.
    pub fn parse(s: &str) -> Option<Perm> {
        let mut chars = s.chars();
        let kind = match chars.next()? {
            'n' => PermKind::None,
            'r' => PermKind::Read,
            'w' => PermKind::Write,
            'b' => PermKind::Both,
            _ => return None,
        };
        let id = chars.as_str();
        if id.is_empty() || !id.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(Perm {
            domid: id.parse().ok()?,
            kind,
        })
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.letter(), self.domid)
    }
}

/// A node of the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Value.
    pub value: Vec<u8>,
    /// Permissions (first entry: owner and default). Empty only in a state
    /// from an older snapshot, where [`XenstoreState::writable`] gives them.
    pub perms: Vec<Perm>,
    /// Generation: the store's counter when the node or its list of
    /// children last changed (`XS_DIRECTORY_PART`'s generation count, and
    /// what a transaction checks at commit).
    pub generation: u64,
}

/// A registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The path as the guest gave it (relative, absolute or `@special`).
    pub path: String,
    /// The guest's token.
    pub token: String,
}

/// An open transaction: what it read and wrote, applied at commit if
/// nothing it accessed changed in between.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// Transaction id (non-zero).
    pub id: u32,
    /// The store's generation counter when the transaction started: a node
    /// first accessed with a newer generation was changed since, and the
    /// commit fails with `EAGAIN`.
    pub start_generation: u64,
    /// Nodes the transaction read or wrote: path -> generation at first
    /// access (`None`: the node did not exist).
    pub accessed: BTreeMap<String, Option<u64>>,
    /// Nodes the transaction changed: path -> new node (`None`: removed).
    pub changes: BTreeMap<String, Option<Node>>,
    /// Watch events to fire at commit: (absolute path, only watches on
    /// exactly this node: a node removed below the one `XS_RM` named).
    pub events: Vec<(String, bool)>,
    /// Already known to fail at commit (a node it read changed after it
    /// started).
    pub doomed: bool,
}

/// Limits on what one domain may make the server hold (xenstored's quotas,
/// with its defaults). Privileged connections (dom0's) are not limited by
/// the per-domain ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Nodes a domain may own (`-E`, 1000): `ENOSPC` beyond.
    pub entries_per_domain: u32,
    /// Size of a node, value, permissions (8 bytes each), children's names
    /// and a 12-byte header as xenstored counts it (`-S`, 2048): `ENOSPC`
    /// at or beyond.
    pub node_size: u32,
    /// Watches per connection (`-W`, 128): `E2BIG` beyond.
    pub watches_per_connection: u32,
    /// Open transactions per connection (`-t`, 10): `ENOSPC` beyond.
    pub transactions_per_connection: u32,
    /// Length of a path below the domain's home (`-M`, 2048,
    /// `XENSTORE_REL_PATH_MAX`): `EINVAL` beyond.
    pub path_length: u32,
    /// Permission entries per node (`-A`, 5): `ENOSPC` beyond.
    pub perms_per_node: u32,
    /// Nodes one transaction may access (`transaction-nodes`, 1024):
    /// `ENOSPC` beyond.
    pub nodes_per_transaction: u32,
}

impl Default for Quotas {
    /// xenstored's defaults.
    fn default() -> Self {
        Quotas {
            entries_per_domain: 1000,
            node_size: 2048,
            watches_per_connection: 128,
            transactions_per_connection: 10,
            path_length: 2048,
            perms_per_node: 5,
            nodes_per_transaction: 1024,
        }
    }
}

/// Snapshot state of the xenstore server: the store and the guest's
/// connection (watches, transactions, ring buffers). Host-side connections
/// (`Xenstore::connect`) are not part of it: their clients reconnect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XenstoreState {
    /// Guest frame number of the ring page.
    pub ring_gfn: u64,
    /// The guest's domain id.
    pub domid: u16,
    /// Absolute path (or `@introduceDomain` / `@releaseDomain`) -> node.
    pub nodes: BTreeMap<String, Node>,
    /// Absolute path prefixes the guest may write: in a state from an
    /// older snapshot, whose nodes have no permissions, the permissions
    /// of each node (guest-owned under these, else owned by dom0 and
    /// readable by the guest). Unused once every node has permissions.
    pub writable: Vec<String>,
    /// Watches the guest registered.
    pub watches: Vec<Watch>,
    /// Open transaction ids (a state from an older snapshot has only
    /// these; they restore as empty transactions).
    pub transactions: Vec<u32>,
    /// The open transactions in full (ids as in `transactions`).
    pub transaction_states: Vec<Transaction>,
    /// Last transaction id handed out.
    pub last_tx_id: u32,
    /// The store's generation counter (0 in older snapshots: restored as
    /// one past the newest node's).
    pub generation: u64,
    /// The guest was released (`XS_RELEASE`): `XS_IS_DOMAIN_INTRODUCED`
    /// answers `F`.
    pub released: bool,
    /// Quotas.
    pub quotas: Quotas,
    /// Request bytes read from the ring that do not form a whole message yet.
    pub partial_request: Vec<u8>,
    /// Reply bytes waiting for room in the response ring.
    pub pending_replies: Vec<u8>,
    /// Times the guest broke the ring protocol.
    pub guest_errors: u64,
}
