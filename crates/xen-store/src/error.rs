// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The crate's error type.

use xen_abi::errno;

/// Errors of the xenstore server.
///
/// Errors in what the guest sends over the ring are not errors of this
/// type: the guest gets an `XS_ERROR` reply and the server carries on.
/// These are failures the VMM must see.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A guest-memory access at this guest physical address failed (the
    /// ring page is not backed by guest RAM).
    #[error("guest memory access failed at {0:#x}")]
    GuestMemory(u64),
    /// A configuration or snapshot value given by the VMM is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

impl Error {
    /// The Xen errno (positive, `xen_abi::errno`) for this error, for a
    /// caller that reports it to the guest.
    pub fn errno(&self) -> i32 {
        match self {
            Error::GuestMemory(_) => errno::EFAULT,
            Error::Config(_) => errno::EINVAL,
        }
    }
}

/// Result of the server's operations.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for xen_abi::Errno {
    /// The Xen errno a hypercall gets for this error ([`Error::errno`]).
    fn from(e: Error) -> xen_abi::Errno {
        xen_abi::Errno(e.errno())
    }
}
