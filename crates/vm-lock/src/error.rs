// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The crate's error type.

/// Errors of `vm-lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// [`crate::Root::new`] was called on a thread that already holds a root.
    #[error("this thread already holds a vm-lock Root; drop it before making another")]
    RootExists,
}
