// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Error types: [`Errno`] for results given to the guest, [`Error`] for VMM-facing failures.

/// A Xen errno returned to the guest (positive value; the guest sees `-errno`). Defined in
/// xen-abi, re-exported here.
pub use xen_abi::Errno;

/// Result type of handler methods and decoding.
pub type XenResult<T> = Result<T, Errno>;

/// VMM-facing errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The hypercall MSR value selects a page other than page 0 (we provide one page).
    #[error("hypercall MSR value {0:#x} selects non-zero page index {idx}", idx = .0 & 0xfff)]
    InvalidPageIndex(u64),
    /// The hypercall page GPA is not backed by guest memory.
    #[error("cannot write the hypercall page at GPA {0:#x}")]
    PageWrite(u64),
}

impl From<Error> for Errno {
    /// A bad hypercall page index is the guest's -EINVAL, a page outside
    /// memory its -EFAULT.
    fn from(e: Error) -> Errno {
        match e {
            Error::InvalidPageIndex(_) => Errno::EINVAL,
            Error::PageWrite(_) => Errno::EFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_convert_to_the_guests_errno() {
        assert_eq!(Errno::from(Error::InvalidPageIndex(0x5001)), Errno::EINVAL);
        assert_eq!(Errno::from(Error::PageWrite(1 << 40)), Errno::EFAULT);
    }
}
