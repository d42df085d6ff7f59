//! Error types: [`Errno`] for results given to the guest, [`Error`] for VMM-facing failures.

use xen_abi::errno;

/// A Xen errno returned to the guest (positive value; the guest sees `-errno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// Operation not permitted.
    pub const EPERM: Self = Self(errno::EPERM);
    /// No such entry.
    pub const ENOENT: Self = Self(errno::ENOENT);
    /// No such domain.
    pub const ESRCH: Self = Self(errno::ESRCH);
    /// Bad port / handle.
    pub const EBADF: Self = Self(errno::EBADF);
    /// Try again.
    pub const EAGAIN: Self = Self(errno::EAGAIN);
    /// Out of memory.
    pub const ENOMEM: Self = Self(errno::ENOMEM);
    /// Bad guest address.
    pub const EFAULT: Self = Self(errno::EFAULT);
    /// Busy.
    pub const EBUSY: Self = Self(errno::EBUSY);
    /// Already exists.
    pub const EEXIST: Self = Self(errno::EEXIST);
    /// Invalid argument.
    pub const EINVAL: Self = Self(errno::EINVAL);
    /// No space left.
    pub const ENOSPC: Self = Self(errno::ENOSPC);
    /// Not implemented.
    pub const ENOSYS: Self = Self(errno::ENOSYS);
    /// Timer already expired.
    pub const ETIME: Self = Self(errno::ETIME);
    /// Operation not supported.
    pub const EOPNOTSUPP: Self = Self(errno::EOPNOTSUPP);

    /// The value returned to the guest (`-errno`).
    pub const fn to_return(self) -> i64 {
        -(self.0 as i64)
    }
}

/// Result type of handler methods and decoding.
pub type XenResult<T> = Result<T, Errno>;

/// VMM-facing errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hypercall MSR value selects a page other than page 0 (we provide one page).
    #[error("hypercall MSR value {0:#x} selects non-zero page index {idx}", idx = .0 & 0xfff)]
    InvalidPageIndex(u64),
    /// The hypercall page GPA is not backed by guest memory.
    #[error("cannot write the hypercall page at GPA {0:#x}")]
    PageWrite(u64),
}
