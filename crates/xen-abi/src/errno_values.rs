// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen errno values (`xen/errno.h`). Hypercalls return them negated.
//!
//! On x86 they coincide with the Linux values.

/// Operation not permitted.
pub const EPERM: i32 = 1;
/// No such file or directory / entry.
pub const ENOENT: i32 = 2;
/// No such process.
pub const ESRCH: i32 = 3;
/// Interrupted system call.
pub const EINTR: i32 = 4;
/// I/O error.
pub const EIO: i32 = 5;
/// Argument list too long.
pub const E2BIG: i32 = 7;
/// Bad file number (e.g. bad event channel port).
pub const EBADF: i32 = 9;
/// Try again.
pub const EAGAIN: i32 = 11;
/// Out of memory.
pub const ENOMEM: i32 = 12;
/// Permission denied.
pub const EACCES: i32 = 13;
/// Bad address.
pub const EFAULT: i32 = 14;
/// Device or resource busy.
pub const EBUSY: i32 = 16;
/// File exists.
pub const EEXIST: i32 = 17;
/// Cross-device link.
pub const EXDEV: i32 = 18;
/// No such device.
pub const ENODEV: i32 = 19;
/// Is a directory.
pub const EISDIR: i32 = 21;
/// Invalid argument.
pub const EINVAL: i32 = 22;
/// No space left on device.
pub const ENOSPC: i32 = 28;
/// Read-only file system.
pub const EROFS: i32 = 30;
/// Argument out of the domain of the function (e.g. a continuation index too large).
pub const EDOM: i32 = 33;
/// Result not representable.
pub const ERANGE: i32 = 34;
/// Function not implemented.
pub const ENOSYS: i32 = 38;
/// Directory not empty.
pub const ENOTEMPTY: i32 = 39;
/// Timer expired (single-shot timer in the past with `VCPU_SSHOTTMR_future`).
pub const ETIME: i32 = 62;
/// No data available.
pub const ENODATA: i32 = 61;
/// Illegal byte sequence (e.g. a continuation index beyond the batch).
pub const EILSEQ: i32 = 84;
/// Operation not supported.
pub const EOPNOTSUPP: i32 = 95;
/// No buffer space available.
pub const ENOBUFS: i32 = 105;
/// Already connected.
pub const EISCONN: i32 = 106;
/// Not connected.
pub const ENOTCONN: i32 = 107;
/// Timed out.
pub const ETIMEDOUT: i32 = 110;
