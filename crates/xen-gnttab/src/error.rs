// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The crate's error type.

use xen_abi::errno;

/// Errors of the grant table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A grant table operation was given an invalid argument (Xen: -EINVAL).
    #[error("grant table: invalid argument: {0}")]
    Invalid(&'static str),
    /// The requested grant table version is not offered: v2 on a table limited to v1
    /// (Xen: -ENOSYS, its answer when v2 is disabled), any other number (-EINVAL).
    #[error("grant table version {0} is not supported")]
    Version(u32),
    /// `set_version` while grants beyond the reserved entries are in use (Xen: -EBUSY).
    #[error("grant table in use")]
    Busy,
    /// `set_version(1)` from v2 with a reserved entry v1 cannot represent (a frame above
    /// 2^32, a transitive grant) (Xen: -ERANGE).
    #[error("reserved grant entry not representable in v1")]
    Range,
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
            Error::Version(2) => errno::ENOSYS,
            Error::Version(_) => errno::EINVAL,
            Error::Busy => errno::EBUSY,
            Error::Range => errno::ERANGE,
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

/// The answer of a per-grant operation that failed: a negative `GNTST_*` (`xen_abi`),
/// which Xen writes to the operation's `status` field.
pub type GntStatus = i16;
