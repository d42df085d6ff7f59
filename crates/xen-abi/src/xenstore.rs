// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xenstore ring and wire protocol (`io/xs_wire.h`).

/// Size of each xenstore ring.
pub const XENSTORE_RING_SIZE: usize = 1024;
/// Maximum payload of one message.
pub const XENSTORE_PAYLOAD_MAX: u32 = 4096;
/// Maximum absolute path length.
pub const XENSTORE_ABS_PATH_MAX: u32 = 3072;
/// Maximum relative path length.
pub const XENSTORE_REL_PATH_MAX: u32 = 2048;
/// `connection` value: connected.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `connection` value: reconnect in progress.
pub const XENSTORE_RECONNECT: u32 = 1;
/// `server_features` bit: the server supports reconnection.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `server_features` bit: the server reports errors in `error`.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;

/// `error` value: no error.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `error` value: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `error` value: invalid ring index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `error` value: protocol violation (e.g. payload too long).
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// `struct xenstore_domain_interface` (2076 bytes), at `HVM_PARAM_STORE_PFN`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenstoreDomainInterface {
    /// Requests (guest produces).
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Responses and watch events (server produces).
    pub rsp: [u8; XENSTORE_RING_SIZE],
    /// Request consumer index.
    pub req_cons: u32,
    /// Request producer index.
    pub req_prod: u32,
    /// Response consumer index.
    pub rsp_cons: u32,
    /// Response producer index.
    pub rsp_prod: u32,
    /// `XENSTORE_SERVER_FEATURE_*`.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` / `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// Error code.
    pub error: u32,
}

impl Default for XenstoreDomainInterface {
    fn default() -> Self {
        Self {
            req: [0; XENSTORE_RING_SIZE],
            rsp: [0; XENSTORE_RING_SIZE],
            req_cons: 0,
            req_prod: 0,
            rsp_cons: 0,
            rsp_prod: 0,
            server_features: 0,
            connection: 0,
            error: 0,
        }
    }
}

/// `struct xsd_sockmsg` (16 bytes): header preceding each message payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XsdSockmsg {
    /// `XS_*`.
    pub kind: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0 = none).
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

/// Control (alias debug).
pub const XS_CONTROL: u32 = 0;
/// List a directory.
pub const XS_DIRECTORY: u32 = 1;
/// Read a node.
pub const XS_READ: u32 = 2;
/// Get permissions.
pub const XS_GET_PERMS: u32 = 3;
/// Add a watch.
pub const XS_WATCH: u32 = 4;
/// Remove a watch.
pub const XS_UNWATCH: u32 = 5;
/// Start a transaction.
pub const XS_TRANSACTION_START: u32 = 6;
/// End a transaction.
pub const XS_TRANSACTION_END: u32 = 7;
/// Introduce a domain.
pub const XS_INTRODUCE: u32 = 8;
/// Release a domain.
pub const XS_RELEASE: u32 = 9;
/// Get a domain's home path.
pub const XS_GET_DOMAIN_PATH: u32 = 10;
/// Write a node.
pub const XS_WRITE: u32 = 11;
/// Make a directory.
pub const XS_MKDIR: u32 = 12;
/// Remove a node.
pub const XS_RM: u32 = 13;
/// Set permissions.
pub const XS_SET_PERMS: u32 = 14;
/// Watch event (server to guest).
pub const XS_WATCH_EVENT: u32 = 15;
/// Error reply (payload: errno name, e.g. "ENOENT").
pub const XS_ERROR: u32 = 16;
/// Is domain introduced.
pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
/// Resume.
pub const XS_RESUME: u32 = 18;
/// Set target.
pub const XS_SET_TARGET: u32 = 19;
/// Reset watches.
pub const XS_RESET_WATCHES: u32 = 21;
/// Partial directory listing.
pub const XS_DIRECTORY_PART: u32 = 22;
/// Number of valid types.
pub const XS_TYPE_COUNT: u32 = 23;
/// Never a valid type.
pub const XS_INVALID: u32 = 0xffff;

/// Field of an `XS_WATCH_EVENT` payload: the path that changed.
pub const XS_WATCH_PATH: u32 = 0;
/// Field of an `XS_WATCH_EVENT` payload: the watch's token.
pub const XS_WATCH_TOKEN: u32 = 1;

/// `xsd_errors`: the errno values an `XS_ERROR` reply may carry and the strings that name
/// them on the wire, in Xen's order (the first, `EINVAL`, is the fallback for an errno
/// without a name here). Values are Xen's (and Linux's) x86 errno numbers.
pub const XSD_ERRORS: [(i32, &str); 16] = [
    (crate::errno::EINVAL, "EINVAL"),
    (crate::errno::EACCES, "EACCES"),
    (crate::errno::EEXIST, "EEXIST"),
    (crate::errno::EISDIR, "EISDIR"),
    (crate::errno::ENOENT, "ENOENT"),
    (crate::errno::ENOMEM, "ENOMEM"),
    (crate::errno::ENOSPC, "ENOSPC"),
    (crate::errno::EIO, "EIO"),
    (crate::errno::ENOTEMPTY, "ENOTEMPTY"),
    (crate::errno::ENOSYS, "ENOSYS"),
    (crate::errno::EROFS, "EROFS"),
    (crate::errno::EBUSY, "EBUSY"),
    (crate::errno::EAGAIN, "EAGAIN"),
    (crate::errno::EISCONN, "EISCONN"),
    (crate::errno::E2BIG, "E2BIG"),
    (crate::errno::EPERM, "EPERM"),
];
