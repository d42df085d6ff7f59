// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The crate's error type.

/// Errors of `vm-lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// [`crate::Root::new`] was called on a thread that already holds a root.
    #[error("this thread already holds a vm-lock Root; drop it before making another")]
    RootExists,
    /// [`crate::OrderedMutex::lock_both`] was given the same mutex twice.
    #[error("lock_both: both arguments are the same mutex")]
    SameLock,
    /// A read section ([`crate::MemReadGuard`]) of another memory map was passed to an operation
    /// on this one.
    #[error("the read section belongs to another memory map (another VM)")]
    ForeignReadSection,
}
