// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The wire protocol: `xsd_sockmsg` framing, message types, the errno
//! names of `XS_ERROR` replies and payload parsing.
//!
//! A message is a 16-byte header (`type`, `req_id`, `tx_id`, `len`, four
//! little-endian `u32`) followed by `len <= 4096` payload bytes. Request
//! payloads are NUL-terminated strings (a path, then a value, token, ...).

use xen_abi::{XsdSockmsg, XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX};

/// The `XS_*` message types, from xen-abi.
pub use xen_abi::{
    XS_CONTROL, XS_DIRECTORY, XS_DIRECTORY_PART, XS_ERROR, XS_GET_DOMAIN_PATH, XS_GET_PERMS,
    XS_INTRODUCE, XS_IS_DOMAIN_INTRODUCED, XS_MKDIR, XS_READ, XS_RELEASE, XS_RESET_WATCHES,
    XS_RESUME, XS_RM, XS_SET_PERMS, XS_SET_TARGET, XS_TRANSACTION_END, XS_TRANSACTION_START,
    XS_UNWATCH, XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
};

/// Size of the `xsd_sockmsg` header.
pub const HEADER_SIZE: usize = std::mem::size_of::<XsdSockmsg>();
/// Largest payload (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = XENSTORE_PAYLOAD_MAX as usize;
/// Longest absolute path (`XENSTORE_ABS_PATH_MAX`).
pub const ABS_PATH_MAX: usize = XENSTORE_ABS_PATH_MAX as usize;

/// A message header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `XS_*` message type.
    pub ty: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0: none).
    pub tx_id: u32,
    /// Payload length (the server refuses more than [`PAYLOAD_MAX`]).
    pub len: u32,
}

impl Header {
    /// Parses the header at the start of `b`; `None` if `b` is shorter
    /// than [`HEADER_SIZE`].
    pub fn parse(b: &[u8]) -> Option<Header> {
        let w = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
        };
        Some(Header {
            ty: w(0)?,
            req_id: w(4)?,
            tx_id: w(8)?,
            len: w(12)?,
        })
    }

    /// The header's wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        for (i, v) in [self.ty, self.req_id, self.tx_id, self.len]
            .into_iter()
            .enumerate()
        {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

/// A whole message: header (with `len = payload.len()`) and payload.
/// Payloads longer than `u32::MAX` are cut (the server never builds one
/// longer than [`PAYLOAD_MAX`]).
pub fn encode(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut v = Vec::with_capacity(HEADER_SIZE + len as usize);
    v.extend_from_slice(
        &Header {
            ty,
            req_id,
            tx_id,
            len,
        }
        .to_bytes(),
    );
    v.extend_from_slice(&payload[..len as usize]);
    v
}

/// The errors of `XS_ERROR` replies (`XENSTORE_ERROR_*`: the errno names
/// xenstored sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsErr {
    /// Invalid argument.
    Einval,
    /// Permission denied.
    Eacces,
    /// Already exists.
    Eexist,
    /// Is a directory.
    Eisdir,
    /// No such node.
    Enoent,
    /// Out of memory.
    Enomem,
    /// Quota or space exhausted.
    Enospc,
    /// I/O error.
    Eio,
    /// Directory not empty.
    Enotempty,
    /// Unknown message type.
    Enosys,
    /// Read-only.
    Erofs,
    /// Busy (a transaction started inside a transaction).
    Ebusy,
    /// Transaction conflict: retry.
    Eagain,
    /// Already connected.
    Eisconn,
    /// Too big (payload, watches).
    E2big,
    /// Not permitted (an unprivileged domain changing a node's owner).
    Eperm,
}

impl XsErr {
    /// The name xenstored sends (`XS_ERROR` payload, without the NUL).
    pub fn name(self) -> &'static str {
        match self {
            XsErr::Einval => "EINVAL",
            XsErr::Eacces => "EACCES",
            XsErr::Eexist => "EEXIST",
            XsErr::Eisdir => "EISDIR",
            XsErr::Enoent => "ENOENT",
            XsErr::Enomem => "ENOMEM",
            XsErr::Enospc => "ENOSPC",
            XsErr::Eio => "EIO",
            XsErr::Enotempty => "ENOTEMPTY",
            XsErr::Enosys => "ENOSYS",
            XsErr::Erofs => "EROFS",
            XsErr::Ebusy => "EBUSY",
            XsErr::Eagain => "EAGAIN",
            XsErr::Eisconn => "EISCONN",
            XsErr::E2big => "E2BIG",
            XsErr::Eperm => "EPERM",
        }
    }
}

/// A reply payload or the error to send instead.
pub(crate) type Reply = std::result::Result<Vec<u8>, XsErr>;

/// Payload of a successful write-like request.
pub(crate) const OK: &[u8] = b"OK\0";

/// Splits a payload made of NUL-terminated strings; `None` unless every
/// string is terminated and valid UTF-8.
pub(crate) fn nul_strings(payload: &[u8]) -> Option<Vec<&str>> {
    let body = payload.strip_suffix(&[0])?;
    body.split(|&b| b == 0)
        .map(|s| std::str::from_utf8(s).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_strings_needs_terminators_and_utf8() {
        assert_eq!(nul_strings(b"a\0b\0"), Some(vec!["a", "b"]));
        assert_eq!(nul_strings(b"\0"), Some(vec![""]));
        assert_eq!(nul_strings(b""), None);
        assert_eq!(nul_strings(b"a\0b"), None);
        assert_eq!(nul_strings(b"\xff\0"), None);
    }
}
