// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Errors of the backend itself (a bad request is not one: it gets an error response).

use xen_gnttab::GntStatus;

/// What went wrong with the ring or the disk as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The frontend offered a ring of a page count that is zero, not a power of two, or
    /// above `1 << MAX_RING_PAGE_ORDER`.
    #[error("a ring needs 1 to 16 pages, a power of two; the frontend offered {0}")]
    RingPages(usize),
    /// A ring page's grant could not be mapped writable for the backend.
    #[error("ring page grant {gref} cannot be mapped (GNTST {status})")]
    RingMap {
        /// The grant reference.
        gref: u32,
        /// The grant table's answer.
        status: GntStatus,
    },
    /// A mapped ring page is no longer guest memory.
    #[error("ring page is not guest memory")]
    RingMemory,
    /// The frontend published more requests than the ring holds: processing stops
    /// for this call.
    #[error("req_prod {prod} is more than {size} entries ahead of req_cons {cons}")]
    RingOverflow {
        /// The frontend's `req_prod`.
        prod: u32,
        /// The backend's `req_cons`.
        cons: u32,
        /// Ring entries.
        size: u32,
    },
    /// A ring state to restore does not fit its ring (indexes apart by more than the
    /// ring size).
    #[error("ring state does not fit the ring")]
    RingState,
    /// No ring is connected.
    #[error("no ring connected")]
    NotConnected,
    /// A ring is connected already.
    #[error("a ring is connected already")]
    Connected,
    /// The backing store failed (opening it, or its size).
    #[error("backing store: {0}")]
    Io(#[from] std::io::Error),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
