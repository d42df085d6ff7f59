// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The error type of snapshot save and restore.

/// Why a snapshot could not be written, read or applied.
///
/// Every check of a snapshot file happens before anything is allocated from
/// a length it claims and before any state reaches a VM, so an `Err` never
/// leaves a half-restored VM behind.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the snapshot file failed.
    #[error("snapshot I/O ({op}): {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends before a section it announces.
    #[error("snapshot truncated: {section} needs {needed} bytes, only {available} present")]
    Truncated {
        /// The section that is cut short.
        section: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// The file has bytes after the trailer.
    #[error("snapshot has {0} unexpected trailing bytes")]
    TrailingBytes(u64),
    /// The file does not start with the snapshot magic.
    #[error("not a xen-vmm snapshot: bad magic {0:02x?}")]
    BadMagic([u8; 8]),
    /// The trailer magic is wrong (file damaged or cut).
    #[error("snapshot trailer damaged: bad end magic {0:02x?}")]
    BadEndMagic([u8; 8]),
    /// The format version is newer than this build understands (or zero).
    #[error("snapshot format version {found} is not supported (this build reads 1..={max})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Newest version this build reads.
        max: u16,
    },
    /// A header field has a value this build does not know.
    #[error("bad snapshot header: {0}")]
    BadHeader(String),
    /// A checksum does not match its data.
    #[error("snapshot {section} CRC64 mismatch: stored {stored:#018x}, computed {computed:#018x}")]
    Crc {
        /// Which section (header, state, memory).
        section: &'static str,
        /// The checksum in the file.
        stored: u64,
        /// The checksum of the data.
        computed: u64,
    },
    /// A length or count exceeds what the format allows.
    #[error("snapshot claims {what} = {claimed}, more than the limit {limit}")]
    TooLarge {
        /// What was claimed.
        what: &'static str,
        /// The claimed value.
        claimed: u64,
        /// The limit.
        limit: u64,
    },
    /// The versioned state could not be decoded.
    #[error("snapshot state cannot be decoded: {0}")]
    Decode(String),
    /// The state could not be encoded.
    #[error("snapshot state cannot be encoded: {0}")]
    Encode(String),
    /// An event-channel port number is outside the guest's port space.
    #[error("snapshot event channel: port {port} out of range (limit {limit})")]
    PortOutOfRange {
        /// The port.
        port: u32,
        /// Number of ports of the guest's ABI.
        limit: u32,
    },
    /// A vCPU index is outside the snapshot's vCPUs.
    #[error("snapshot {what}: vCPU {vcpu} out of range ({nr_vcpus} vCPUs)")]
    VcpuOutOfRange {
        /// Where the index was found.
        what: &'static str,
        /// The index.
        vcpu: u32,
        /// Number of vCPUs.
        nr_vcpus: u32,
    },
    /// A value is inconsistent or invalid.
    #[error("invalid snapshot state: {0}")]
    Invalid(String),
    /// The guest memory does not have the layout the snapshot describes.
    #[error("guest memory layout mismatch: {0}")]
    MemoryLayout(String),
    /// Guest memory could not be read or written.
    #[error("guest memory access: {0}")]
    Memory(String),
    /// A KVM ioctl failed while capturing or restoring.
    #[error("KVM {op} failed: {source}")]
    Kvm {
        /// The ioctl.
        op: &'static str,
        /// The errno.
        #[source]
        source: kvm_ioctls::Error,
    },
}

impl Error {
    /// Wraps a KVM error with the name of the ioctl.
    pub(crate) fn kvm(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
        move |source| Error::Kvm { op, source }
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io { op, source }
    }
}

/// Result alias of the snapshot module.
pub type Result<T> = std::result::Result<T, Error>;
