// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The one error type of this crate.

use std::path::PathBuf;

/// Errors of the VMM (host-side failures; guest mistakes get Xen errnos instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/dev/kvm` could not be opened.
    #[error("cannot open /dev/kvm ({0}); is KVM available and accessible?")]
    NoKvm(#[source] kvm_ioctls::Error),
    /// A KVM ioctl failed.
    #[error("KVM {op} failed: {source}")]
    Kvm {
        /// What was being done.
        op: &'static str,
        /// The errno.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// A required KVM capability is missing.
    #[error("KVM lacks capability {0}")]
    MissingCap(&'static str),
    /// The kernel file could not be read.
    #[error("cannot read kernel {path}: {source}")]
    KernelFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The kernel image is not something we can boot.
    #[error("invalid kernel image: {0}")]
    InvalidKernel(String),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Guest memory could not be set up or accessed.
    #[error("guest memory: {0}")]
    Memory(String),
    /// A host OS call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The lock hierarchy refused (e.g. a second lock root on a thread).
    #[error("lock: {0}")]
    Lock(String),
    /// A vCPU thread panicked or failed.
    #[error("vCPU {0} failed: {1}")]
    Vcpu(u32, String),
    /// A host thread of the VMM (timer, console input) panicked or failed;
    /// the VM was ended.
    #[error("VMM thread `{thread}` failed: {message}")]
    Thread {
        /// The thread's name.
        thread: String,
        /// The panic message or error.
        message: String,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps a KVM error with the name of the operation.
    pub fn kvm(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
        move |source| Error::Kvm { op, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let e = Error::NoKvm(kvm_ioctls::Error::new(libc::ENOENT));
        assert!(e.to_string().contains("/dev/kvm"), "{e}");
        let e = Error::KernelFile {
            path: "/x/k".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert!(e.to_string().starts_with("cannot read kernel /x/k"), "{e}");
    }
}
