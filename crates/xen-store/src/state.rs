// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The plain state of the server, for snapshots (`state()` / `from_state()`).

use std::collections::BTreeMap;

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
