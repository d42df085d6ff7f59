// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The server through its public API, driven as a guest drives the ring.

mod common;

use common::*;
use xen_store::*;

#[test]
fn reads() {
    let m = mem();
    let mut xs = server();
    assert_eq!(
        call(&mut xs, &m, XS_READ, 0, b"domid\0"),
        (XS_READ, b"1".to_vec())
    );
    assert_eq!(
        call(&mut xs, &m, XS_READ, 0, b"/local/domain/1/name\0"),
        (XS_READ, b"guest1".to_vec())
    );
    assert_eq!(call(&mut xs, &m, XS_READ, 0, b"/vm/abc/uuid\0").1, b"abc");
    // Intermediate node: empty value.
    assert_eq!(
        call(&mut xs, &m, XS_READ, 0, b"device\0"),
        (XS_READ, vec![])
    );
    assert_eq!(
        call(&mut xs, &m, XS_READ, 0, b"nope\0"),
        (XS_ERROR, b"ENOENT\0".to_vec())
    );
    // GRUB's probe: no disks configured in a bare store.
    let mut bare = Xenstore::new(GFN, XenstoreConfig::new(1, "g")).unwrap();
    assert_eq!(
        call(&mut bare, &m, XS_DIRECTORY, 0, b"device/vbd\0"),
        (XS_ERROR, b"ENOENT\0".to_vec())
    );
}

#[test]
fn directory() {
    let m = mem();
    let mut xs = server();
    xs.write("device/vbd-x", b"1");
    assert_eq!(
        call(&mut xs, &m, XS_DIRECTORY, 0, b""),
        (XS_ERROR, b"EINVAL\0".to_vec()),
        "empty payload is invalid"
    );
    assert_eq!(
        call(&mut xs, &m, XS_DIRECTORY, 0, b"/local/domain/1\0").1,
        b"attr\0control\0cpu\0data\0device\0domid\0drivers\0error\0feature\0name\0vm\0"
    );
    assert_eq!(
        call(&mut xs, &m, XS_DIRECTORY, 0, b"device\0").1,
        b"suspend\0vbd\0vbd-x\0"
    );
    assert_eq!(call(&mut xs, &m, XS_DIRECTORY, 0, b"/\0").1, b"local\0vm\0");
    assert_eq!(call(&mut xs, &m, XS_DIRECTORY, 0, b"domid\0").1, b"");
}

#[test]
fn writes_and_permissions() {
    let m = mem();
    let mut xs = server();
    assert_eq!(
        call(&mut xs, &m, XS_WRITE, 0, b"device/vbd/768/state\x003"),
        (XS_WRITE, b"OK\0".to_vec())
    );
    assert_eq!(xs.read("device/vbd/768/state"), Some(&b"3"[..]));
    assert_eq!(
        call(&mut xs, &m, XS_READ, 0, b"device/vbd/768/state\0").1,
        b"3"
    );
    // Empty value (GRUB clears ring-ref this way).
    assert_eq!(call(&mut xs, &m, XS_WRITE, 0, b"data/x\0").0, XS_WRITE);
    assert_eq!(xs.read("data/x"), Some(&b""[..]));
    for p in [
        &b"domid\x002"[..],
        b"/local/domain/0/x\0v",
        b"/tool\0v",
        b"datax\0v",
    ] {
        assert_eq!(
            call(&mut xs, &m, XS_WRITE, 0, p),
            (XS_ERROR, b"EACCES\0".to_vec())
        );
    }
    assert_eq!(xs.read("domid"), Some(&b"1"[..]));
    for p in [
        &b"no-nul"[..],
        b"data//x\0v",
        b"data/x/\0v",
        b"data/\xff\0v",
        b"data/a b\0v",
    ] {
        assert_eq!(
            call(&mut xs, &m, XS_WRITE, 0, p),
            (XS_ERROR, b"EINVAL\0".to_vec())
        );
    }
    assert_eq!(call(&mut xs, &m, XS_MKDIR, 0, b"data/d\0").1, b"OK\0");
    assert_eq!(
        call(&mut xs, &m, XS_MKDIR, 0, b"data/d\0").1,
        b"OK\0",
        "exists"
    );
    // xenstored: an existing node the caller may not write is EACCES.
    assert_eq!(call(&mut xs, &m, XS_MKDIR, 0, b"name\0").1, b"EACCES\0");
    assert_eq!(call(&mut xs, &m, XS_RM, 0, b"device/vbd\0").1, b"OK\0");
    assert_eq!(xs.read("device/vbd/768/backend"), None);
    // Already gone with its parent there: OK; without the parent: ENOENT.
    assert_eq!(call(&mut xs, &m, XS_RM, 0, b"device/vbd\0").1, b"OK\0");
    assert_eq!(
        call(&mut xs, &m, XS_RM, 0, b"device/vbd/x\0").1,
        b"ENOENT\0"
    );
    assert_eq!(call(&mut xs, &m, XS_RM, 0, b"name\0").1, b"EACCES\0");
    assert_eq!(call(&mut xs, &m, XS_GET_PERMS, 0, b"name\0").1, b"n0\0r1\0");
    assert_eq!(call(&mut xs, &m, XS_GET_PERMS, 0, b"data\0").1, b"n1\0");
    assert_eq!(call(&mut xs, &m, XS_SET_PERMS, 0, b"data\0n1\0").1, b"OK\0");
    assert_eq!(
        call(&mut xs, &m, XS_SET_PERMS, 0, b"name\0n1\0").1,
        b"EACCES\0"
    );
}

#[test]
fn transactions() {
    let m = mem();
    let mut xs = server();
    let (ty, id) = call(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0");
    assert_eq!((ty, id.as_slice()), (XS_TRANSACTION_START, &b"1\0"[..]));
    assert_eq!(call(&mut xs, &m, XS_WRITE, 1, b"data/t\0v").0, XS_WRITE);
    assert_eq!(
        call(&mut xs, &m, XS_READ, 7, b"domid\0").1,
        b"ENOENT\0",
        "unknown tx"
    );
    assert_eq!(
        call(&mut xs, &m, XS_TRANSACTION_END, 1, b"X\0").1,
        b"EINVAL\0"
    );
    assert_eq!(call(&mut xs, &m, XS_TRANSACTION_END, 1, b"T\0").1, b"OK\0");
    assert_eq!(
        call(&mut xs, &m, XS_TRANSACTION_END, 1, b"T\0").1,
        b"ENOENT\0"
    );
    for _ in 0..Quotas::default().transactions_per_connection {
        assert_eq!(
            call(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0").0,
            XS_TRANSACTION_START
        );
    }
    assert_eq!(
        call(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0").1,
        b"ENOSPC\0"
    );
}

#[test]
fn watches() {
    let m = mem();
    let mut xs = server();
    send_raw(&m, &msg(XS_WATCH, 5, 0, b"data\0tok\0"));
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].0, r[0].1, r[0].3.as_slice()),
        (XS_WATCH, 5, &b"OK\0"[..])
    );
    assert_eq!(
        (r[1].0, r[1].3.as_slice()),
        (XS_WATCH_EVENT, &b"data\0tok\0"[..])
    );
    // A guest write under the watch fires it (reply first, then event).
    send_raw(&m, &msg(XS_WRITE, 6, 0, b"data/a/b\0x"));
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!(r[0].0, XS_WRITE);
    assert_eq!(
        (r[1].0, r[1].3.as_slice()),
        (XS_WATCH_EVENT, &b"data/a/b\0tok\0"[..])
    );
    // Host write fires too; unrelated path does not.
    assert!(xs.write("/local/domain/1/data/c", b"1"));
    assert!(xs.write("/other", b"1"));
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].3, b"data/c\0tok\0");
    assert_eq!(
        call(&mut xs, &m, XS_WATCH, 0, b"data\0tok\0").1,
        b"EEXIST\0"
    );
    assert_eq!(call(&mut xs, &m, XS_UNWATCH, 0, b"data\0tok\0").1, b"OK\0");
    assert_eq!(
        call(&mut xs, &m, XS_UNWATCH, 0, b"data\0tok\0").1,
        b"ENOENT\0"
    );
    assert_eq!(call(&mut xs, &m, XS_UNWATCH, 0, b"data\0").1, b"EINVAL\0");
    // Special watches are accepted.
    send_raw(&m, &msg(XS_WATCH, 1, 0, b"@releaseDomain\0t\0"));
    xs.process(&m).unwrap();
    assert_eq!(parse(&recv_raw(&m))[0].3, b"OK\0");
    assert_eq!(call(&mut xs, &m, XS_RESET_WATCHES, 0, b"").1, b"OK\0");
    assert!(xs.state().watches.is_empty());
}

#[test]
fn other_ops() {
    let m = mem();
    let mut xs = server();
    assert_eq!(
        call(&mut xs, &m, XS_GET_DOMAIN_PATH, 0, b"1\0").1,
        b"/local/domain/1\0"
    );
    assert_eq!(
        call(&mut xs, &m, XS_GET_DOMAIN_PATH, 0, b"x\0").1,
        b"EINVAL\0"
    );
    assert_eq!(call(&mut xs, &m, XS_INTRODUCE, 0, b"").1, b"EACCES\0");
    assert_eq!(call(&mut xs, &m, 999, 0, b"").1, b"ENOSYS\0");
    assert_eq!(
        call(&mut xs, &m, XS_DIRECTORY_PART, 0, b"\0").1,
        b"EINVAL\0",
        "no offset"
    );
    assert_eq!(call(&mut xs, &m, XS_ERROR, 0, b"").1, b"EINVAL\0");
}

#[test]
fn message_split_across_calls_and_ring_wrap() {
    let m = mem();
    // Start near the end of the ring and near u32 wrap.
    let start = u32::MAX - 3;
    for off in [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD] {
        set(&m, off, start);
    }
    let mut xs = server();
    let req = msg(XS_READ, 9, 0, b"name\0");
    send_raw(&m, &req[..10]);
    assert!(xs.process(&m).unwrap(), "bytes consumed");
    assert!(recv_raw(&m).is_empty());
    send_raw(&m, &req[10..]);
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!(
        (r[0].0, r[0].1, r[0].3.as_slice()),
        (XS_READ, 9, &b"guest1"[..])
    );
    assert_eq!(get(&m, REQ_CONS), get(&m, REQ_PROD));
}

#[test]
fn many_messages_and_backpressure() {
    let m = mem();
    let mut xs = server();
    // Small requests with 4 KiB replies; the guest never reads replies.
    let big = vec![b'v'; PAYLOAD_MAX];
    assert!(xs.write("data/big", &big));
    let req = msg(XS_READ, 1, 0, b"data/big\0");
    let mut sent = 0;
    let mut stopped = false;
    while sent < 200 {
        let cons = get(&m, REQ_CONS);
        let prod = get(&m, REQ_PROD);
        if (RING_SIZE - prod.wrapping_sub(cons)) as usize >= req.len() {
            send_raw(&m, &req);
            sent += 1;
            continue;
        }
        xs.process(&m).unwrap();
        if get(&m, REQ_CONS) == cons {
            stopped = true; // server stopped reading
            break;
        }
    }
    assert!(stopped, "back-pressure must stop reading requests");
    // The response ring is full, the rest waits in the queue.
    assert_eq!(get(&m, RSP_PROD).wrapping_sub(get(&m, RSP_CONS)), RING_SIZE);
    let queued = xs.state().pending_replies.len();
    assert!(queued > 0 && queued <= MAX_PENDING_REPLIES + HEADER_SIZE + PAYLOAD_MAX);
    // Guest drains: every request gets exactly one reply, in order.
    let mut all = Vec::new();
    loop {
        let b = recv_raw(&m);
        if b.is_empty() && get(&m, REQ_CONS) == get(&m, REQ_PROD) {
            break;
        }
        all.extend(b);
        xs.process(&m).unwrap();
    }
    let r = parse(&all);
    assert_eq!(r.len(), sent);
    assert!(r.iter().all(|x| x.3 == big));
}

#[test]
fn oversized_header_resyncs() {
    let m = mem();
    let mut xs = server();
    let mut bad = msg(XS_WRITE, 3, 0, b"");
    bad[12..16].copy_from_slice(&(PAYLOAD_MAX as u32 + 1).to_le_bytes());
    send_raw(&m, &bad);
    send_raw(&m, b"garbage that is not a header at all");
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].0, r[0].1, r[0].3.as_slice()),
        (XS_ERROR, 3, &b"E2BIG\0"[..])
    );
    assert_eq!(get(&m, REQ_CONS), get(&m, REQ_PROD));
    // The next message works.
    assert_eq!(call(&mut xs, &m, XS_READ, 0, b"domid\0").1, b"1");
    assert_eq!(xs.state().guest_errors, 1);
}

#[test]
fn bad_indices() {
    let m = mem();
    let mut xs = server();
    set(&m, REQ_PROD, 5000);
    assert!(xs.process(&m).unwrap());
    assert_eq!(get(&m, REQ_CONS), 5000);
    // Response consumer far beyond our producer: ring reset, reply lands.
    set(&m, RSP_CONS, 100_000);
    send_raw(&m, &msg(XS_READ, 2, 0, b"domid\0"));
    xs.process(&m).unwrap();
    assert_eq!(get(&m, RSP_PROD), 100_000 + HEADER_SIZE as u32 + 1);
    assert_eq!(parse(&recv_raw(&m))[0].3, b"1");
    assert_eq!(xs.state().guest_errors, 2);
}

#[test]
fn random_garbage_never_panics() {
    let m = mem();
    let mut xs = server();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let r = next();
        match r % 4 {
            0 => set(
                &m,
                [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD][(r >> 8) as usize % 4],
                next() as u32,
            ),
            1 => {
                // A header with a random type and small length.
                let ty = (next() % 25) as u32;
                let len = (next() % 40) as usize;
                let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let cons = get(&m, REQ_CONS);
                if RING_SIZE.saturating_sub(get(&m, REQ_PROD).wrapping_sub(cons)) >= 60 {
                    send_raw(&m, &msg(ty, 1, (next() % 3) as u32, &payload));
                }
            }
            2 => {
                let _ = recv_raw(&m);
            }
            _ => {}
        }
        let _ = xs.process(&m).unwrap();
        assert!(xs.state().partial_request.len() <= HEADER_SIZE + PAYLOAD_MAX);
        assert!(
            xs.state().pending_replies.len()
                <= MAX_PENDING_REPLIES + 2 * (HEADER_SIZE + PAYLOAD_MAX)
        );
    }
}

#[test]
fn state_round_trip() {
    let m = mem();
    let mut xs = server();
    let req = msg(XS_READ, 9, 0, b"name\0");
    send_raw(&m, &req[..HEADER_SIZE + 2]);
    xs.process(&m).unwrap();
    let st = xs.state();
    assert_eq!(st.partial_request.len(), HEADER_SIZE + 2);
    assert_eq!(xs.buffered(), (HEADER_SIZE + 2, 0));
    let mut xs2 = Xenstore::from_state(&st).unwrap();
    assert_eq!(xs2.state(), st);
    send_raw(&m, &req[HEADER_SIZE + 2..]);
    xs2.process(&m).unwrap();
    assert_eq!(parse(&recv_raw(&m))[0].3, b"guest1");
}

/// Guest memory whose guest, before every read of `req_prod`, either moves
/// it by more than the ring size (`refill: None`: the resync a hostile guest
/// can provoke forever) or fills the ring with copies of a message; gives up
/// (panics) after `limit` reads.
struct MovingProd {
    mem: vm_memory::GuestMemoryMmap,
    reads: std::cell::Cell<u32>,
    limit: u32,
    refill: Option<Vec<u8>>,
}

impl vm_memory::Bytes<vm_memory::GuestAddress> for MovingProd {
    type E = vm_memory::GuestMemoryError;
    fn write(
        &self,
        buf: &[u8],
        addr: vm_memory::GuestAddress,
    ) -> std::result::Result<usize, Self::E> {
        self.mem.write(buf, addr)
    }
    fn read(
        &self,
        buf: &mut [u8],
        addr: vm_memory::GuestAddress,
    ) -> std::result::Result<usize, Self::E> {
        self.mem.read(buf, addr)
    }
    fn write_slice(
        &self,
        buf: &[u8],
        addr: vm_memory::GuestAddress,
    ) -> std::result::Result<(), Self::E> {
        self.mem.write_slice(buf, addr)
    }
    fn read_slice(
        &self,
        buf: &mut [u8],
        addr: vm_memory::GuestAddress,
    ) -> std::result::Result<(), Self::E> {
        self.mem.read_slice(buf, addr)
    }
    fn read_volatile_from<F: vm_memory::ReadVolatile>(
        &self,
        addr: vm_memory::GuestAddress,
        src: &mut F,
        count: usize,
    ) -> std::result::Result<usize, Self::E> {
        self.mem.read_volatile_from(addr, src, count)
    }
    fn read_exact_volatile_from<F: vm_memory::ReadVolatile>(
        &self,
        addr: vm_memory::GuestAddress,
        src: &mut F,
        count: usize,
    ) -> std::result::Result<(), Self::E> {
        self.mem.read_exact_volatile_from(addr, src, count)
    }
    fn write_volatile_to<F: vm_memory::WriteVolatile>(
        &self,
        addr: vm_memory::GuestAddress,
        dst: &mut F,
        count: usize,
    ) -> std::result::Result<usize, Self::E> {
        self.mem.write_volatile_to(addr, dst, count)
    }
    fn write_all_volatile_to<F: vm_memory::WriteVolatile>(
        &self,
        addr: vm_memory::GuestAddress,
        dst: &mut F,
        count: usize,
    ) -> std::result::Result<(), Self::E> {
        self.mem.write_all_volatile_to(addr, dst, count)
    }
    fn store<T: vm_memory::AtomicAccess>(
        &self,
        val: T,
        addr: vm_memory::GuestAddress,
        order: std::sync::atomic::Ordering,
    ) -> std::result::Result<(), Self::E> {
        self.mem.store(val, addr, order)
    }
    fn load<T: vm_memory::AtomicAccess>(
        &self,
        addr: vm_memory::GuestAddress,
        order: std::sync::atomic::Ordering,
    ) -> std::result::Result<T, Self::E> {
        if addr.0 == BASE + REQ_PROD {
            let n = self.reads.get() + 1;
            self.reads.set(n);
            assert!(n <= self.limit, "{n} reads of req_prod in one call");
            match &self.refill {
                None => {
                    let prod = get(&self.mem, REQ_PROD);
                    set(&self.mem, REQ_PROD, prod.wrapping_add(2 * RING_SIZE + 1));
                }
                Some(m) => {
                    let room = |g: &Self| {
                        RING_SIZE - get(&g.mem, REQ_PROD).wrapping_sub(get(&g.mem, REQ_CONS))
                    };
                    while room(self) as usize >= m.len() {
                        send_raw(&self.mem, m);
                    }
                }
            }
        }
        self.mem.load(addr, order)
    }
}

#[test]
fn a_guest_moving_req_prod_cannot_hold_process() {
    // Without a bound on rounds, each resync counts as progress and the
    // call never returns (the issue measured 1,000,000 rounds).
    let g = MovingProd {
        mem: mem(),
        reads: std::cell::Cell::new(0),
        limit: 100_000,
        refill: None,
    };
    let mut xs = server();
    assert!(xs.process(&g).unwrap());
    let reads = g.reads.get();
    // Two reads of req_prod per round at most (read, resync).
    assert!(
        reads as usize <= 2 * MAX_ROUNDS_PER_CALL,
        "{reads} reads of req_prod"
    );
    assert!(xs.state().guest_errors >= 1);
    assert!(xs.state().guest_errors <= MAX_ROUNDS_PER_CALL as u64);
    // The next notification is served again (and bounded again).
    g.reads.set(0);
    assert!(xs.process(&g).unwrap());
    assert!(g.reads.get() as usize <= 2 * MAX_ROUNDS_PER_CALL);
    // Once the guest behaves, requests are answered.
    let m = g.mem;
    set(&m, REQ_CONS, get(&m, REQ_PROD));
    assert_eq!(call(&mut xs, &m, XS_READ, 0, b"domid\0").1, b"1");
}

#[test]
fn request_bytes_per_call_are_bounded() {
    // A guest that refills the ring with 1 KiB writes as fast as the server
    // reads them: one call consumes at most its byte budget (plus the
    // message being read when it ran out).
    let mut payload = b"data/x\0".to_vec();
    payload.resize(1000, b'v');
    let g = MovingProd {
        mem: mem(),
        reads: std::cell::Cell::new(0),
        limit: 100_000,
        refill: Some(msg(XS_WRITE, 5, 0, &payload)),
    };
    let mut xs = server();
    assert!(xs.process(&g).unwrap());
    let consumed = u64::from(get(&g.mem, REQ_CONS));
    assert!(consumed > 0);
    assert!(
        consumed <= MAX_REQUEST_BYTES_PER_CALL + MAX_PARTIAL_REQUEST as u64,
        "{consumed} request bytes in one call"
    );
    // The rest is served on the next call.
    assert!(xs.process(&g).unwrap());
    assert!(u64::from(get(&g.mem, REQ_CONS)) > consumed);
}

#[test]
fn restore_refuses_states_beyond_the_servers_limits() {
    let ok = server().state();
    Xenstore::from_state(&ok).unwrap();
    type Case = (&'static str, fn(&mut XenstoreState));
    let cases: Vec<Case> = vec![
        ("partial request", |s| {
            s.partial_request = vec![0; MAX_PARTIAL_REQUEST + 1]
        }),
        ("pending replies", |s| {
            s.pending_replies = vec![0; MAX_QUEUED_REPLIES + 1]
        }),
        ("watches", |s| {
            s.watches = (0..=MAX_WATCHES)
                .map(|i| Watch {
                    path: format!("w{i}"),
                    token: "t".into(),
                })
                .collect()
        }),
        ("token", |s| {
            s.watches = vec![Watch {
                path: "w".into(),
                token: "t".repeat(PAYLOAD_MAX + 1),
            }]
        }),
        ("transactions", |s| {
            s.transactions = (1..=Quotas::default().transactions_per_connection + 1).collect()
        }),
        ("transactions", |s| s.transactions = vec![0]),
        ("domain id 0", |s| s.domid = 0),
        ("quotas", |s| s.quotas.watches_per_connection = 0),
        ("node path", |s| {
            s.nodes.insert("relative".into(), Node::default());
        }),
        ("transactions", |s| s.transactions = vec![3, 3]),
        ("node value", |s| {
            s.nodes.insert(
                "/x".into(),
                Node {
                    value: vec![0; PAYLOAD_MAX + 1],
                    ..Default::default()
                },
            );
        }),
    ];
    for (needle, f) in cases {
        let mut s = ok.clone();
        f(&mut s);
        let e = Xenstore::from_state(&s).expect_err(needle);
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    // At the limits, accepted.
    let mut s = ok;
    s.partial_request = vec![0; MAX_PARTIAL_REQUEST];
    s.pending_replies = vec![0; MAX_QUEUED_REPLIES];
    Xenstore::from_state(&s).unwrap();
}
