// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The crate's error type.

use xen_abi::errno;

/// Errors of the grant table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A grant table operation was given an invalid argument (Xen: -EINVAL).
    #[error("grant table: invalid argument: {0}")]
    Invalid(&'static str),
    /// The requested grant table version is not supported (Xen:
    /// -EOPNOTSUPP, as for v2 when it is disabled).
    #[error("grant table version {0} is not supported")]
    Version(u32),
    /// A configuration or snapshot value given by the VMM is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

impl Error {
    /// The Xen errno (positive, `xen_abi::errno`) a hypercall handler
    /// returns (negated) for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Config(_) => errno::EINVAL,
            Error::Version(_) => errno::EOPNOTSUPP,
        }
    }
}

/// Result of the grant table operations.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for xen_abi::Errno {
    /// The Xen errno a hypercall gets for this error ([`Error::errno`]).
    fn from(e: Error) -> xen_abi::Errno {
        xen_abi::Errno(e.errno())
    }
}
