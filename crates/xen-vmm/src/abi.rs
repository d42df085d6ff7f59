//! The Xen ABI as this crate uses it: `xen_abi` re-exported, plus the errno
//! values as the `i64` a hypercall handler returns negated.

pub use xen_abi::*;

/// Xen errno values (positive) as `i64`.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i64 = xen_abi::errno::EPERM as i64;
    /// No such entry.
    pub const ENOENT: i64 = xen_abi::errno::ENOENT as i64;
    /// Bad address.
    pub const EFAULT: i64 = xen_abi::errno::EFAULT as i64;
    /// Busy.
    pub const EBUSY: i64 = xen_abi::errno::EBUSY as i64;
    /// Already exists.
    pub const EEXIST: i64 = xen_abi::errno::EEXIST as i64;
    /// Invalid argument.
    pub const EINVAL: i64 = xen_abi::errno::EINVAL as i64;
    /// No space left (no free event channel).
    pub const ENOSPC: i64 = xen_abi::errno::ENOSPC as i64;
    /// Not implemented.
    pub const ENOSYS: i64 = xen_abi::errno::ENOSYS as i64;
    /// Not supported.
    pub const EOPNOTSUPP: i64 = xen_abi::errno::EOPNOTSUPP as i64;
    /// Out of memory.
    pub const ENOMEM: i64 = xen_abi::errno::ENOMEM as i64;
    /// Timer expired (`VCPU_SSHOTTMR_future` with a past deadline).
    pub const ETIME: i64 = 62;
}
