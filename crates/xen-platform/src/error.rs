// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The platform's errors.

use xen_abi::Errno;

/// Errors of the platform.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration or saved state the platform cannot take.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A guest-memory access at this guest physical address failed (e.g. a
    /// ring page not backed by RAM).
    #[error("guest memory access failed at {0:#x}")]
    GuestMemory(u64),
    /// Writing console output to the host sink failed; the guest's data was
    /// consumed (and lost) so that the guest does not stall.
    #[error("console output: {0}")]
    Output(#[source] std::io::Error),
    /// An event-channel operation failed.
    #[error("event channels: {0}")]
    Evtchn(#[from] xen_evtchn::Error),
}

impl Error {
    /// The Xen errno a hypercall gets for this error.
    pub fn errno(&self) -> Errno {
        match self {
            Error::Config(_) => Errno::EINVAL,
            Error::GuestMemory(_) => Errno::EFAULT,
            Error::Output(_) => Errno::EIO,
            Error::Evtchn(e) => Errno(e.errno()),
        }
    }
}

impl From<Error> for Errno {
    fn from(e: Error) -> Errno {
        e.errno()
    }
}

/// Result of the platform's operations.
pub type Result<T> = std::result::Result<T, Error>;
