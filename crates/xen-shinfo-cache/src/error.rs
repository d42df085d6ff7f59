// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The crate's error type.

/// Errors of the page cache. Every variant maps to a Xen errno with [`Error::errno`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No guest address has been set for this page (e.g. shared_info not yet placed).
    #[error("no guest address is set for this page")]
    Unset,
    /// The guest range is not (entirely) backed by guest RAM in the current memory map.
    #[error("guest range {gpa:#x}+{len:#x} is not backed by guest RAM")]
    NotMapped {
        /// Start of the range.
        gpa: u64,
        /// Length of the range.
        len: u64,
    },
    /// The guest address is not aligned as the structure requires.
    #[error("guest address {gpa:#x} is not {align}-byte aligned")]
    Misaligned {
        /// The offending address.
        gpa: u64,
        /// Required alignment.
        align: u64,
    },
    /// The structure would cross a page boundary but must not.
    #[error("structure at {gpa:#x} ({len} bytes) crosses a page boundary")]
    CrossesPage {
        /// The offending address.
        gpa: u64,
        /// Structure size.
        len: u64,
    },
    /// The address is out of the guest physical address space (overflows).
    #[error("guest address {0:#x} is out of range")]
    AddressOverflow(u64),
    /// An access inside a mapped range is out of its bounds (internal misuse).
    #[error("access at offset {offset}+{len} is outside a range of {size} bytes")]
    OutOfRange {
        /// Offset in the range.
        offset: usize,
        /// Access size.
        len: usize,
        /// Size of the mapped range.
        size: usize,
    },
    /// An atomic access would straddle two host mappings or is misaligned on the host.
    #[error("atomic access at offset {0} is not contiguous and aligned on the host")]
    NotAtomic(usize),
    /// The range spans more host regions than supported (two).
    #[error("guest range {0:#x} spans more than two memory regions")]
    Fragmented(u64),
    /// The vCPU index is not below the configured number of vCPUs.
    #[error("vCPU {0} does not exist")]
    NoSuchVcpu(u32),
    /// The vCPU has neither a registered vcpu_info nor a slot in shared_info.
    #[error("vCPU {0} has no vcpu_info (not registered and beyond the legacy slots)")]
    NoVcpuInfo(u32),
    /// A restored state is inconsistent.
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The read section passed in belongs to another memory map (another VM's) than the one
    /// this cache maps (a VMM bug; the guest gets EFAULT).
    #[error("the read section belongs to another VM's memory map")]
    ForeignMap,
}

/// Xen errno values used here (same numbers as Linux on x86).
pub(crate) mod errno {
    pub const ENOENT: i32 = 2;
    pub const EFAULT: i32 = 14;
    pub const EINVAL: i32 = 22;
}

impl Error {
    /// The positive Xen errno for this error; a hypercall returns `-errno`.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Unset | Error::NotMapped { .. } | Error::OutOfRange { .. } => errno::EFAULT,
            Error::NotAtomic(_) | Error::Fragmented(_) | Error::AddressOverflow(_) => errno::EFAULT,
            Error::ForeignMap => errno::EFAULT,
            Error::Misaligned { .. } | Error::CrossesPage { .. } | Error::InvalidState(_) => {
                errno::EINVAL
            }
            Error::NoSuchVcpu(_) | Error::NoVcpuInfo(_) => errno::ENOENT,
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
