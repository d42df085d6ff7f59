// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The xenstored socket: a Unix stream socket speaking the xenstore wire
//! protocol (`xsd_sockmsg` messages, as `/run/xenstored/socket`), whose
//! clients are the privileged toolstack domain (dom0). Served by its own
//! thread ([`serve`]): a non-blocking accept-and-poll loop over the
//! listener and its clients, every store access through the platform's
//! locks; the guest's ring is updated (and its store port raised) inside
//! the host gate when a client's request left replies or watch events for
//! it.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use vm_lock::Root;
use xen_platform::{Backend, XenPlatform};

use crate::quiesce::HostGate;

/// Most clients served at once (the store's own bound).
pub const MAX_CLIENTS: usize = xen_store::MAX_HOST_CONNECTIONS;
/// Output a client may leave unread before the server stops reading its
/// requests (it reads on once the client has caught up).
pub const MAX_CLIENT_OUTPUT: usize = 1 << 20;
/// How long the loop sleeps when nothing happened.
const IDLE: Duration = Duration::from_millis(5);

/// Binds the socket at `path`, replacing a stale socket file there (not
/// any other kind of file), non-blocking.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let l = UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

struct Client {
    stream: UnixStream,
    id: xen_store::ConnId,
    /// Bytes read and not yet taken by the store.
    input: Vec<u8>,
    /// Bytes for the client not yet written.
    output: Vec<u8>,
    closed: bool,
}

/// Serves the socket until `done()` says the VM ended: accepts clients
/// (at most [`MAX_CLIENTS`]; more are closed at once), hands their
/// requests to the store, writes back replies and the watch events raised
/// meanwhile (also by the guest). A client that sends a message longer
/// than a payload gets `E2BIG` and is closed. Guest memory is touched only
/// inside `gate`.
pub fn serve(
    platform: &XenPlatform,
    gate: &HostGate,
    done: &dyn Fn() -> bool,
    listener: UnixListener,
) {
    let Ok(mut root) = Root::new() else {
        return;
    };
    let mut clients: Vec<Client> = Vec::new();
    let mut buf = vec![0u8; 8192];
    while !done() {
        let mut busy = false;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    busy = true;
                    if clients.len() >= MAX_CLIENTS || stream.set_nonblocking(true).is_err() {
                        log::warn!("xenstore socket: refusing a client");
                        continue;
                    }
                    match platform.xenstore_connect(root.token()) {
                        Some(id) => clients.push(Client {
                            stream,
                            id,
                            input: Vec::new(),
                            output: Vec::new(),
                            closed: false,
                        }),
                        None => log::warn!("xenstore socket: no connection left"),
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("xenstore socket: accept: {e}");
                    break;
                }
            }
        }
        let mut kick_guest = false;
        for c in &mut clients {
            if c.output.len() < MAX_CLIENT_OUTPUT && c.input.is_empty() {
                match c.stream.read(&mut buf) {
                    Ok(0) => c.closed = true,
                    Ok(n) => {
                        busy = true;
                        c.input.extend_from_slice(&buf[..n]);
                    }
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                    Err(_) => c.closed = true,
                }
            }
            if !c.input.is_empty() && !c.closed {
                let io = platform.xenstore_feed(root.token(), c.id, &c.input);
                c.output.extend_from_slice(&io.output);
                kick_guest |= io.guest_pending;
                match io.taken {
                    Ok(n) => {
                        c.input.drain(..n.min(c.input.len()));
                    }
                    Err(e) => {
                        log::warn!("xenstore socket: closing a client: {}", e.name());
                        c.input.clear();
                        c.closed = true;
                    }
                }
            }
            // Watch events raised since (by the guest or another client).
            let events = platform.xenstore_output(root.token(), c.id);
            c.output.extend_from_slice(&events);
            while !c.output.is_empty() {
                match c.stream.write(&c.output) {
                    Ok(0) => {
                        c.closed = true;
                        break;
                    }
                    Ok(n) => {
                        busy = true;
                        c.output.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        c.closed = true;
                        break;
                    }
                }
            }
        }
        for c in clients.iter().filter(|c| c.closed) {
            platform.xenstore_disconnect(root.token(), c.id);
        }
        clients.retain(|c| !c.closed);
        if kick_guest {
            // Guest memory: not while a snapshot is taken (the gate waits).
            let Some(_section) = gate.enter(root.token()) else {
                break;
            };
            platform.run_backends(root.token(), Some(Backend::Store));
        }
        if !busy {
            std::thread::sleep(IDLE);
        }
    }
    // The VM ended: what the clients still have to read (e.g. the events
    // of the guest's last writes) goes out as far as their sockets take it.
    for c in &mut clients {
        let events = platform.xenstore_output(root.token(), c.id);
        c.output.extend_from_slice(&events);
        let _ = c.stream.write(&c.output);
        platform.xenstore_disconnect(root.token(), c.id);
    }
}
