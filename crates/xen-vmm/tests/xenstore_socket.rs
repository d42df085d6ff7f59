// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The xenstored socket (`VmConfig::xenstore_socket`, `--xenstore-socket`):
//! a plain Rust client speaks the wire protocol to a running guest's store
//! as the privileged toolstack domain: it reads a node the guest wrote
//! over its ring, writes one the guest watches (the guest's ring gets the
//! event and the guest ends), and uses transactions, permissions and
//! watches of its own.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use xen_store::{Header, HEADER_SIZE, XS_ERROR, XS_WATCH_EVENT};
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const MEM: u64 = 64 << 20;
const STORE: u64 = MEM - 0x2000;

/// Ends the VM when dropped by a panic.
struct EndOnPanic<'a>(&'a Vm);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.shared().finish(ExitReason::Crash);
        }
    }
}

fn msg(ty: u32, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    xen_store::encode(ty, req_id, tx, payload)
}

/// A dom0 client of the socket.
struct Client {
    s: UnixStream,
    events: Vec<Vec<u8>>,
}

impl Client {
    fn connect(path: &std::path::Path) -> Client {
        let s = UnixStream::connect(path).expect("connect to the xenstore socket");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Client {
            s,
            events: Vec::new(),
        }
    }

    fn read_msg(&mut self) -> (Header, Vec<u8>) {
        let mut h = [0u8; HEADER_SIZE];
        self.s.read_exact(&mut h).expect("a reply");
        let h = Header::parse(&h).unwrap();
        let mut p = vec![0u8; h.len as usize];
        self.s.read_exact(&mut p).unwrap();
        (h, p)
    }

    /// One request: the reply's payload (`!NAME` for an error); watch
    /// events read meanwhile are kept.
    fn call(&mut self, ty: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
        self.s.write_all(&msg(ty, 9, tx, payload)).unwrap();
        loop {
            let (h, p) = self.read_msg();
            if h.ty == XS_WATCH_EVENT {
                self.events.push(p);
                continue;
            }
            assert_eq!((h.req_id, h.tx_id), (9, tx));
            if h.ty == XS_ERROR {
                let mut v = b"!".to_vec();
                v.extend(p);
                return v;
            }
            assert_eq!(h.ty, ty);
            return p;
        }
    }

    fn event(&mut self) -> Vec<u8> {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        let (h, p) = self.read_msg();
        assert_eq!(h.ty, XS_WATCH_EVENT);
        p
    }
}

#[test]
fn dom0_client_over_the_socket_talks_to_a_running_guest() {
    if !require_kvm() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("xen-vmm-xs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("socket");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());

    // Guest: XS_WRITE data/guest = hello, XS_WATCH data/host, then wait
    // for the replies, the initial event and the event of dom0's write.
    let mut g = Guest::new64();
    g.hypercall_page();
    get_param(&mut g, 2, DATA + 0x38); // STORE_EVTCHN
    let mut req = msg(xen_store::XS_WRITE, 1, 0, b"data/guest\0hello");
    req.extend(msg(xen_store::XS_WATCH, 2, 0, b"data/host\0tok\0"));
    put_bytes(&mut g, STORE, &req);
    g.store32(STORE + 2052, req.len() as u32);
    send(&mut g, DATA + 0x38);
    let event = msg(XS_WATCH_EVENT, 0, 0, b"data/host\0tok\0");
    let want = 2 * (HEADER_SIZE + 3) + 2 * event.len();
    yield_until(&mut g, STORE + 2060, want as u32);
    // Then one more write, which dom0's watch hears about.
    let done = msg(xen_store::XS_WRITE, 3, 0, b"data/done\0bye");
    put_bytes(&mut g, STORE + req.len() as u64, &done);
    g.store32(STORE + 2052, (req.len() + done.len()) as u32);
    send(&mut g, DATA + 0x38);
    yield_until(&mut g, STORE + 2060, (want + HEADER_SIZE + 3) as u32);
    g.shutdown(0);

    let (tx, _rx) = mpsc::channel();
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(Capture(tx));
    cfg.xenstore_socket = Some(path.clone());
    let vm = Vm::new(cfg).unwrap();
    let reason = std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        // A failed assertion ends the VM (else the scope waits for it).
        let _end = EndOnPanic(&vm);
        let mut c = Client::connect(&path);
        // The node the guest wrote over its ring (poll: it may not yet have).
        let start = Instant::now();
        loop {
            let r = c.call(xen_store::XS_READ, 0, b"/local/domain/1/data/guest\0");
            if r == b"hello" {
                break;
            }
            assert_eq!(r, b"!ENOENT\0");
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "guest never wrote"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            c.call(xen_store::XS_GET_PERMS, 0, b"/local/domain/1/data/guest\0"),
            b"n1\0"
        );
        // Dom0's own watch, its initial event, and its transaction.
        assert_eq!(
            c.call(xen_store::XS_WATCH, 0, b"/local/domain/1/data\0d0\0"),
            b"OK\0"
        );
        assert_eq!(c.event(), b"/local/domain/1/data\0d0\0");
        let t = c.call(xen_store::XS_TRANSACTION_START, 0, b"\0");
        let t: u32 = std::str::from_utf8(&t[..t.len() - 1])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(c.call(xen_store::XS_WRITE, t, b"/tool/x\0y"), b"OK\0");
        assert_eq!(c.call(xen_store::XS_READ, 0, b"/tool/x\0"), b"!ENOENT\0");
        assert_eq!(c.call(xen_store::XS_TRANSACTION_END, t, b"T\0"), b"OK\0");
        assert_eq!(c.call(xen_store::XS_READ, 0, b"/tool/x\0"), b"y");
        assert_eq!(
            c.call(xen_store::XS_IS_DOMAIN_INTRODUCED, 0, b"1\0"),
            b"T\0"
        );
        // A second client at the same time.
        let mut c2 = Client::connect(&path);
        let dir = c2.call(xen_store::XS_DIRECTORY, 0, b"/local/domain/1/control\0");
        assert!(dir.starts_with(b"feature-poweroff\0"), "{dir:?}");
        drop(c2);
        // Write the node the guest watches: its event ends the guest.
        assert_eq!(
            c.call(
                xen_store::XS_WRITE,
                0,
                b"/local/domain/1/data/host\0from dom0"
            ),
            b"OK\0"
        );
        assert_eq!(c.event(), b"/local/domain/1/data/host\0d0\0");
        // The guest's next write reaches dom0's watch through the socket
        // thread (an event no request of this client produced).
        assert_eq!(c.event(), b"/local/domain/1/data/done\0d0\0");
        let start = Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(120) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not see the watch event");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().unwrap().unwrap()
    });
    assert_eq!(reason, ExitReason::Shutdown(0));
    // The guest's ring holds the event for dom0's write, then the reply to
    // its last write.
    let mut root = vm_lock::Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    let mut ring = vec![0u8; want];
    vm_memory::Bytes::read_slice(&*m, &mut ring, vm_memory::GuestAddress(STORE + 1024)).unwrap();
    assert_eq!(&ring[want - event.len()..], &event[..]);
    drop(m);
    assert_eq!(
        vm.shared()
            .platform
            .backends()
            .lock(root.token())
            .0
            .store
            .read("data/done"),
        Some(&b"bye"[..])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
