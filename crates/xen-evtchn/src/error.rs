// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The crate's error type; every variant maps to a Xen errno.

use xen_abi::errno;

/// Errors of event-channel operations. [`Error::errno`] gives the Xen errno.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The port is out of range, reserved, free, or in the wrong state for the op (EINVAL).
    #[error("invalid port {0}")]
    InvalidPort(u32),
    /// The port is in a state the operation does not accept (EINVAL).
    #[error("port {0} is in the wrong state for this operation")]
    WrongState(u32),
    /// The vCPU does not exist (ENOENT).
    #[error("vCPU {0} does not exist")]
    NoSuchVcpu(u32),
    /// A VIRQ number is out of range, or a global VIRQ is bound to a vCPU other than 0 (EINVAL).
    #[error("invalid VIRQ {virq} for vCPU {vcpu}")]
    InvalidVirq {
        /// The VIRQ.
        virq: u32,
        /// The vCPU.
        vcpu: u32,
    },
    /// A PIRQ number is out of range (EINVAL).
    #[error("invalid PIRQ {0}")]
    InvalidPirq(u32),
    /// The VIRQ or PIRQ is already bound (EEXIST).
    #[error("already bound")]
    AlreadyBound,
    /// No free port below the guest's limit (ENOSPC).
    #[error("no free event channel port")]
    NoFreePort,
    /// The domain is neither the guest itself nor the backend domain (ESRCH).
    #[error("no such domain {0}")]
    NoSuchDomain(u16),
    /// Too many ports in a poll set, or other bad argument (EINVAL).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A FIFO-only operation on the 2-level ABI (`EVTCHNOP_set_priority`: ENOSYS, as Xen).
    #[error("not supported by the 2-level ABI")]
    NotSupported,
    /// A FIFO operation before `EVTCHNOP_init_control` (EOPNOTSUPP).
    #[error("the guest has not switched to FIFO event channels")]
    FifoNotActive,
    /// The FIFO event array already has its 128 pages (ENOSPC).
    #[error("the FIFO event array is full")]
    EventArrayFull,
    /// The host port id is unknown (EINVAL).
    #[error("invalid host port {0}")]
    InvalidHostPort(u32),
    /// Guest page access failed (the page-cache error's errno, usually EFAULT).
    #[error("guest page: {0}")]
    Page(#[from] xen_shinfo_cache::Error),
    /// Creating an eventfd for a host port failed (ENOMEM).
    #[error("eventfd: {0}")]
    EventFd(#[source] std::io::Error),
    /// A restored state is inconsistent (EINVAL).
    #[error("invalid state: {0}")]
    InvalidState(String),
}

impl Error {
    /// The positive Xen errno; a hypercall returns `-errno`.
    pub fn errno(&self) -> i32 {
        match self {
            Error::InvalidPort(_)
            | Error::WrongState(_)
            | Error::InvalidVirq { .. }
            | Error::InvalidPirq(_)
            | Error::InvalidArgument(_)
            | Error::InvalidHostPort(_)
            | Error::InvalidState(_) => errno::EINVAL,
            Error::NoSuchVcpu(_) => errno::ENOENT,
            Error::AlreadyBound => errno::EEXIST,
            Error::NoFreePort | Error::EventArrayFull => errno::ENOSPC,
            Error::FifoNotActive => errno::EOPNOTSUPP,
            Error::NoSuchDomain(_) => errno::ESRCH,
            Error::NotSupported => errno::ENOSYS,
            Error::Page(e) => e.errno(),
            Error::EventFd(_) => errno::ENOMEM,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for xen_abi::Errno {
    /// The Xen errno a hypercall gets for this error ([`Error::errno`]).
    fn from(e: Error) -> xen_abi::Errno {
        xen_abi::Errno(e.errno())
    }
}
