// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! xenstored's semantics: permissions, transactions, watches (children,
//! removals, special watches, the initial event), quotas, DIRECTORY_PART,
//! dom0 connections, and hostile input. The guest talks over the ring;
//! the privileged toolstack domain over a host-side connection.

mod common;

use common::*;
use vm_memory::GuestMemoryMmap;
use xen_store::*;

/// One request from dom0 on host connection `c`: (type, payload) of the
/// reply; watch events queued behind it are returned by [`events`].
fn hcall(xs: &mut Xenstore, c: ConnId, ty: u32, tx: u32, payload: &[u8]) -> (u32, Vec<u8>) {
    let m = msg(ty, 77, tx, payload);
    assert_eq!(xs.feed(c, &m), Ok(m.len()));
    let r = parse(&xs.take_output(c));
    let mut out = None;
    for e in r {
        if e.0 == XS_WATCH_EVENT {
            // Kept for `events`.
            PENDING.with(|p| p.borrow_mut().push(e.3));
        } else {
            assert!(out.is_none(), "two replies");
            assert_eq!((e.1, e.2), (77, tx));
            out = Some((e.0, e.3));
        }
    }
    out.expect("no reply")
}

thread_local! {
    static PENDING: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Watch events dom0's connection received so far.
fn events(xs: &mut Xenstore, c: ConnId) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for e in parse(&xs.take_output(c)) {
        assert_eq!(e.0, XS_WATCH_EVENT);
        v.push(e.3);
    }
    v
}

thread_local! {
    static GUEST_PENDING: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Everything the guest receives until `stop` says it has what it waits
/// for (the ring is smaller than a reply: read, let the server refill).
fn guest_recv(
    xs: &mut Xenstore,
    m: &GuestMemoryMmap,
    stop: impl Fn(&[(u32, u32, u32, Vec<u8>)]) -> bool,
) -> Vec<(u32, u32, u32, Vec<u8>)> {
    let mut buf = Vec::new();
    for _ in 0..64 {
        xs.process(m).unwrap();
        buf.extend(recv_raw(m));
        // Whole messages so far.
        let mut off = 0;
        while let Some(h) = Header::parse(&buf[off..]) {
            if buf.len() - off < HEADER_SIZE + h.len as usize {
                break;
            }
            off += HEADER_SIZE + h.len as usize;
        }
        let msgs = parse(&buf[..off]);
        if off == buf.len() && stop(&msgs) {
            return msgs;
        }
    }
    panic!("no reply");
}

/// Watch events the guest received.
fn guest_events(xs: &mut Xenstore, m: &GuestMemoryMmap) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = GUEST_PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for e in guest_recv(xs, m, |_| true) {
        assert_eq!(e.0, XS_WATCH_EVENT);
        v.push(e.3);
    }
    v
}

/// Guest request: the reply (`!NAME` for an error); watch events around
/// it are kept for [`guest_events`].
fn gcall(xs: &mut Xenstore, m: &GuestMemoryMmap, ty: u32, tx: u32, p: &[u8]) -> Vec<u8> {
    // A request longer than the ring goes in as the server makes room.
    let req = msg(ty, 42, tx, p);
    let mut sent = 0;
    while sent < req.len() {
        let room = (RING_SIZE - get(m, REQ_PROD).wrapping_sub(get(m, REQ_CONS))) as usize;
        let n = room.min(req.len() - sent);
        send_raw(m, &req[sent..sent + n]);
        sent += n;
        if sent < req.len() {
            xs.process(m).unwrap();
        }
    }
    let r = guest_recv(xs, m, |r| r.iter().any(|e| e.0 != XS_WATCH_EVENT));
    let mut out = None;
    for e in r {
        if e.0 == XS_WATCH_EVENT {
            GUEST_PENDING.with(|p| p.borrow_mut().push(e.3));
        } else {
            assert!(out.is_none(), "two replies");
            assert_eq!((e.1, e.2), (42, tx));
            let mut v = e.3;
            if e.0 == XS_ERROR {
                v.insert(0, b'!');
            }
            out = Some(v);
        }
    }
    out.unwrap()
}

fn err(name: &str) -> Vec<u8> {
    format!("!{name}\0").into_bytes()
}

fn perm(s: &str) -> Perm {
    Perm::parse(s).unwrap()
}

#[test]
fn permissions_owner_and_acls() {
    let m = mem();
    let mut xs = server();
    let d0 = xs.connect().unwrap();
    // A dom0 node the guest has no access to.
    assert!(xs.write("/local/domain/0/secret", b"s"));
    assert!(xs.set_perms("/local/domain/0/secret", &[perm("n0")]));
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, b"/local/domain/0/secret\0"),
        err("EACCES")
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_WRITE, 0, b"/local/domain/0/secret\0x"),
        err("EACCES")
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_GET_PERMS, 0, b"/local/domain/0/secret\0"),
        err("EACCES")
    );
    // Below an unreadable node: EACCES, not ENOENT (no probing).
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, b"/local/domain/0/secret/x\0"),
        err("EACCES")
    );
    // Dom0 always may.
    assert_eq!(
        hcall(&mut xs, d0, XS_READ, 0, b"/local/domain/0/secret\0").1,
        b"s"
    );
    // The owner (dom0) grants read: the guest reads, still may not write.
    assert_eq!(
        hcall(
            &mut xs,
            d0,
            XS_SET_PERMS,
            0,
            b"/local/domain/0/secret\0n0\0r1\0"
        ),
        (XS_SET_PERMS, b"OK\0".to_vec())
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, b"/local/domain/0/secret\0"),
        b"s"
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_WRITE, 0, b"/local/domain/0/secret\0x"),
        err("EACCES")
    );
    // Write-only, then both.
    hcall(
        &mut xs,
        d0,
        XS_SET_PERMS,
        0,
        b"/local/domain/0/secret\0n0\0w1\0",
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, b"/local/domain/0/secret\0"),
        err("EACCES")
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_WRITE, 0, b"/local/domain/0/secret\0x"),
        b"OK\0"
    );
    hcall(
        &mut xs,
        d0,
        XS_SET_PERMS,
        0,
        b"/local/domain/0/secret\0n0\0b1\0",
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, b"/local/domain/0/secret\0"),
        b"x"
    );
    // Not the owner: may not change permissions even with write access.
    assert_eq!(
        gcall(
            &mut xs,
            &m,
            XS_SET_PERMS,
            0,
            b"/local/domain/0/secret\0n1\0"
        ),
        err("EACCES")
    );
    // The first entry is the default for others: "r0" then lets any
    // domain not listed read.
    hcall(
        &mut xs,
        d0,
        XS_SET_PERMS,
        0,
        b"/local/domain/0/secret\0r0\0n1\0",
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, b"/local/domain/0/secret\0"),
        err("EACCES")
    );
    hcall(
        &mut xs,
        d0,
        XS_SET_PERMS,
        0,
        b"/local/domain/0/secret\0r0\0",
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, b"/local/domain/0/secret\0"),
        b"x"
    );

    // What the guest creates it owns, with its parent's other entries.
    assert_eq!(
        gcall(&mut xs, &m, XS_WRITE, 0, b"data/mine/deep\0v"),
        b"OK\0"
    );
    assert_eq!(gcall(&mut xs, &m, XS_GET_PERMS, 0, b"data/mine\0"), b"n1\0");
    assert_eq!(
        gcall(&mut xs, &m, XS_GET_PERMS, 0, b"data/mine/deep\0"),
        b"n1\0"
    );
    // The owner sets permissions on its node but may not give it away.
    assert_eq!(
        gcall(&mut xs, &m, XS_SET_PERMS, 0, b"data/mine\0n1\0r0\0"),
        b"OK\0"
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_SET_PERMS, 0, b"data/mine\0n2\0"),
        err("EPERM")
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_GET_PERMS, 0, b"data/mine\0"),
        b"n1\0r0\0"
    );
    // Dom0 may (and reads a guest node that grants others nothing).
    assert_eq!(
        hcall(&mut xs, d0, XS_READ, 0, b"/local/domain/1/data/mine/deep\0").1,
        b"v"
    );
    hcall(
        &mut xs,
        d0,
        XS_SET_PERMS,
        0,
        b"/local/domain/1/data/mine\0n0\0",
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_DIRECTORY, 0, b"data/mine\0"),
        err("EACCES")
    );
    assert_eq!(gcall(&mut xs, &m, XS_RM, 0, b"data/mine\0"), err("EACCES"));
    // The guest-owned child is still its own.
    assert_eq!(gcall(&mut xs, &m, XS_READ, 0, b"data/mine/deep\0"), b"v");
    // A read-only toolstack node.
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, b"name\0x"), err("EACCES"));
    assert_eq!(gcall(&mut xs, &m, XS_RM, 0, b"cpu\0"), err("EACCES"));
    assert_eq!(
        gcall(&mut xs, &m, XS_SET_PERMS, 0, b"name\0n1\0"),
        err("EACCES")
    );
    // Bad permission strings.
    for p in [
        &b"data\0x1\0"[..],
        b"data\0r\0",
        b"data\0r-1\0",
        b"data\0r70000\0",
        b"data\0",
    ] {
        assert_eq!(
            gcall(&mut xs, &m, XS_SET_PERMS, 0, p),
            err("EINVAL"),
            "{p:?}"
        );
    }
}

#[test]
fn transactions_conflict_with_eagain() {
    let m = mem();
    let mut xs = server();
    let d0 = xs.connect().unwrap();
    xs.write("data/a", b"1");
    // T1 reads data/a; dom0 then changes it: T1's commit fails.
    let t1 = gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0");
    assert_eq!(t1, b"1\0");
    assert_eq!(gcall(&mut xs, &m, XS_READ, 1, b"data/a\0"), b"1");
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 1, b"data/b\0t1"), b"OK\0");
    // Isolation: not visible outside before commit, visible inside.
    assert_eq!(gcall(&mut xs, &m, XS_READ, 0, b"data/b\0"), err("ENOENT"));
    assert_eq!(gcall(&mut xs, &m, XS_READ, 1, b"data/b\0"), b"t1");
    assert_eq!(gcall(&mut xs, &m, XS_DIRECTORY, 1, b"data\0"), b"a\0b\0");
    assert_eq!(gcall(&mut xs, &m, XS_DIRECTORY, 0, b"data\0"), b"a\0");
    hcall(&mut xs, d0, XS_WRITE, 0, b"/local/domain/1/data/a\x002");
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_END, 1, b"T\0"),
        err("EAGAIN")
    );
    assert_eq!(xs.read("data/b"), None, "nothing applied");
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_END, 1, b"T\0"),
        err("ENOENT"),
        "gone"
    );

    // A transaction that touches nothing another changed commits.
    let t2 = gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0");
    assert_eq!(t2, b"2\0");
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 2, b"data/c\0t2"), b"OK\0");
    assert_eq!(gcall(&mut xs, &m, XS_RM, 2, b"data/a\0"), b"OK\0");
    assert_eq!(gcall(&mut xs, &m, XS_READ, 2, b"data/a\0"), err("ENOENT"));
    assert_eq!(gcall(&mut xs, &m, XS_READ, 0, b"data/a\0"), b"2");
    // Others change unrelated nodes meanwhile.
    hcall(&mut xs, d0, XS_WRITE, 0, b"/local/domain/1/device/x\0y");
    assert_eq!(gcall(&mut xs, &m, XS_TRANSACTION_END, 2, b"T\0"), b"OK\0");
    assert_eq!(xs.read("data/c"), Some(&b"t2"[..]));
    assert_eq!(xs.read("data/a"), None);

    // Two transactions writing the same node: the second to commit fails.
    let a = gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0");
    let b = gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0");
    let (a, b) = (id(&a), id(&b));
    gcall(&mut xs, &m, XS_WRITE, a, b"data/c\0a");
    gcall(&mut xs, &m, XS_WRITE, b, b"data/c\0b");
    assert_eq!(gcall(&mut xs, &m, XS_TRANSACTION_END, b, b"T\0"), b"OK\0");
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_END, a, b"T\0"),
        err("EAGAIN")
    );
    assert_eq!(xs.read("data/c"), Some(&b"b"[..]));

    // A node first read after another changed it since the start: EAGAIN
    // (the transaction would have seen a state that did not exist at its
    // start).
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    xs.write("data/c", b"late");
    assert_eq!(gcall(&mut xs, &m, XS_READ, t, b"data/c\0"), b"late");
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_END, t, b"T\0"),
        err("EAGAIN")
    );
    // Also for a node created after the start.
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    xs.write("data/new", b"n");
    assert_eq!(gcall(&mut xs, &m, XS_READ, t, b"data/new\0"), b"n");
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_END, t, b"T\0"),
        err("EAGAIN")
    );

    // Abort discards.
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    gcall(&mut xs, &m, XS_WRITE, t, b"data/aborted\0x");
    assert_eq!(gcall(&mut xs, &m, XS_TRANSACTION_END, t, b"F\0"), b"OK\0");
    assert_eq!(xs.read("data/aborted"), None);
    // A transaction inside a transaction: EBUSY.
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_START, t, b"\0"),
        err("EBUSY")
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_START, 999, b"\0"),
        err("ENOENT")
    );
    // Dom0's transactions are its own: the guest's id is unknown there.
    assert_eq!(hcall(&mut xs, d0, XS_READ, t, b"/local\0").1, b"ENOENT\0");
}

fn id(reply: &[u8]) -> u32 {
    std::str::from_utf8(&reply[..reply.len() - 1])
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn watches_fire_on_children_removals_and_commit() {
    let m = mem();
    let mut xs = server();
    let d0 = xs.connect().unwrap();
    // Initial event, even for a path that does not exist.
    send_raw(&m, &msg(XS_WATCH, 1, 0, b"data/w/x\0below\0"));
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!((r[0].0, r[0].3.as_slice()), (XS_WATCH, &b"OK\0"[..]));
    assert_eq!(
        (r[1].0, r[1].3.as_slice()),
        (XS_WATCH_EVENT, &b"data/w/x\0below\0"[..])
    );
    send_raw(&m, &msg(XS_WATCH, 1, 0, b"data\0up\0"));
    xs.process(&m).unwrap();
    assert_eq!(parse(&recv_raw(&m)).len(), 2);
    // Dom0 watches the guest's tree, absolute.
    assert_eq!(
        hcall(&mut xs, d0, XS_WATCH, 0, b"/local/domain/1/data\0d0\0").1,
        b"OK\0"
    );
    assert_eq!(
        events(&mut xs, d0),
        [b"/local/domain/1/data\0d0\0".to_vec()]
    );

    // A write below fires the watch above, with the written path.
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, b"data/w/x/y\0v"), b"OK\0");
    let mut ev = guest_events(&mut xs, &m);
    ev.sort();
    assert_eq!(
        ev,
        [
            b"data/w/x/y\0below\0".to_vec(),
            b"data/w/x/y\0up\0".to_vec()
        ]
    );
    assert_eq!(
        events(&mut xs, d0),
        [b"/local/domain/1/data/w/x/y\0d0\0".to_vec()]
    );
    // Removing a parent fires watches below it (with their own path) and
    // above it.
    // A watch on a path below that is no node: no event for it (xenstored
    // fires watches on exactly each removed node).
    send_raw(&m, &msg(XS_WATCH, 1, 0, b"data/w/none/deep\0none\0"));
    xs.process(&m).unwrap();
    assert_eq!(parse(&recv_raw(&m)).len(), 2, "reply and initial event");
    assert_eq!(gcall(&mut xs, &m, XS_RM, 0, b"data/w\0"), b"OK\0");
    let mut ev = guest_events(&mut xs, &m);
    ev.sort();
    assert_eq!(
        ev,
        [b"data/w\0up\0".to_vec(), b"data/w/x\0below\0".to_vec()]
    );
    assert_eq!(
        events(&mut xs, d0),
        [b"/local/domain/1/data/w\0d0\0".to_vec()]
    );
    // Sibling paths do not fire.
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, b"device/z\0v"), b"OK\0");
    assert!(guest_events(&mut xs, &m).is_empty());

    // In a transaction: nothing until the commit.
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, t, b"data/t\0v"), b"OK\0");
    assert!(guest_events(&mut xs, &m).is_empty());
    assert!(events(&mut xs, d0).is_empty());
    send_raw(&m, &msg(XS_TRANSACTION_END, 3, t, b"T\0"));
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!(r[0].0, XS_TRANSACTION_END);
    assert_eq!(r[1].3, b"data/t\0up\0");
    assert_eq!(
        events(&mut xs, d0),
        [b"/local/domain/1/data/t\0d0\0".to_vec()]
    );
    // An aborted one fires nothing.
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    gcall(&mut xs, &m, XS_WRITE, t, b"data/t2\0v");
    assert_eq!(gcall(&mut xs, &m, XS_TRANSACTION_END, t, b"F\0"), b"OK\0");
    assert!(guest_events(&mut xs, &m).is_empty());

    // The guest does not hear about nodes it may not read.
    send_raw(&m, &msg(XS_WATCH, 1, 0, b"/local/domain/0\0d\0"));
    xs.process(&m).unwrap();
    recv_raw(&m);
    assert!(xs.write("/local/domain/0/p", b"1"));
    assert_eq!(
        guest_events(&mut xs, &m).len(),
        1,
        "readable (inherited r1)"
    );
    assert!(xs.set_perms("/local/domain/0/p", &[perm("n0")]));
    assert!(xs.write("/local/domain/0/p", b"2"));
    assert!(guest_events(&mut xs, &m).is_empty());

    // RESET_WATCHES drops the guest's watches and transactions.
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    assert_eq!(gcall(&mut xs, &m, XS_RESET_WATCHES, 0, b""), b"OK\0");
    assert_eq!(gcall(&mut xs, &m, XS_READ, t, b"data\0"), err("ENOENT"));
    assert!(xs.write("data/after", b"1"));
    assert!(guest_events(&mut xs, &m).is_empty());
    // Disconnecting dom0 drops its watches.
    xs.disconnect(d0);
    assert!(xs.write("data/after2", b"1"));
    assert!(xs.take_output(d0).is_empty());
}

#[test]
fn special_watches_and_domain_ops() {
    let m = mem();
    let mut xs = server();
    let d0 = xs.connect().unwrap();
    for w in [&b"@releaseDomain\0r\0"[..], b"@introduceDomain\0i\0"] {
        assert_eq!(hcall(&mut xs, d0, XS_WATCH, 0, w).1, b"OK\0");
    }
    assert_eq!(events(&mut xs, d0).len(), 2, "initial events");
    // The guest gets the initial event but, without permission on the
    // special node, never the domain events.
    send_raw(&m, &msg(XS_WATCH, 1, 0, b"@releaseDomain\0g\0"));
    xs.process(&m).unwrap();
    assert_eq!(parse(&recv_raw(&m))[1].3, b"@releaseDomain\0g\0");
    assert_eq!(
        hcall(&mut xs, d0, XS_IS_DOMAIN_INTRODUCED, 0, b"1\0").1,
        b"T\0"
    );
    assert_eq!(
        hcall(&mut xs, d0, XS_IS_DOMAIN_INTRODUCED, 0, b"0\0").1,
        b"T\0"
    );
    assert_eq!(
        hcall(&mut xs, d0, XS_IS_DOMAIN_INTRODUCED, 0, b"9\0").1,
        b"F\0"
    );
    assert_eq!(hcall(&mut xs, d0, XS_RELEASE, 0, b"1\0").1, b"OK\0");
    assert_eq!(events(&mut xs, d0), [b"@releaseDomain\0r\0".to_vec()]);
    assert!(guest_events(&mut xs, &m).is_empty());
    assert_eq!(
        hcall(&mut xs, d0, XS_IS_DOMAIN_INTRODUCED, 0, b"1\0").1,
        b"F\0"
    );
    assert_eq!(hcall(&mut xs, d0, XS_RELEASE, 0, b"1\0").1, b"ENOENT\0");
    assert_eq!(
        hcall(&mut xs, d0, XS_INTRODUCE, 0, b"1\x0012\x003\0").1,
        b"OK\0"
    );
    assert_eq!(events(&mut xs, d0), [b"@introduceDomain\0i\0".to_vec()]);
    assert_eq!(
        hcall(&mut xs, d0, XS_IS_DOMAIN_INTRODUCED, 0, b"1\0").1,
        b"T\0"
    );
    assert_eq!(
        hcall(&mut xs, d0, XS_INTRODUCE, 0, b"7\x0012\x003\0").1,
        b"EINVAL\0"
    );
    assert_eq!(hcall(&mut xs, d0, XS_RESUME, 0, b"1\0").1, b"OK\0");
    assert_eq!(hcall(&mut xs, d0, XS_RESUME, 0, b"8\0").1, b"ENOENT\0");
    // Dom0 grants the guest read on @releaseDomain: it now hears it.
    assert_eq!(
        hcall(&mut xs, d0, XS_GET_PERMS, 0, b"@releaseDomain\0").1,
        b"n0\0"
    );
    assert_eq!(
        hcall(&mut xs, d0, XS_SET_PERMS, 0, b"@releaseDomain\0n0\0r1\0").1,
        b"OK\0"
    );
    xs.release_domain();
    assert_eq!(guest_events(&mut xs, &m), [b"@releaseDomain\0g\0".to_vec()]);
    // The privileged operations are dom0's.
    for (ty, p) in [
        (XS_IS_DOMAIN_INTRODUCED, &b"1\0"[..]),
        (XS_INTRODUCE, b"1\x002\x003\0"),
        (XS_RELEASE, b"1\0"),
        (XS_RESUME, b"1\0"),
        (XS_SET_TARGET, b"1\x002\0"),
        (XS_CONTROL, b"print\0"),
    ] {
        assert_eq!(gcall(&mut xs, &m, ty, 0, p), err("EACCES"), "{ty}");
    }
    assert_eq!(
        gcall(&mut xs, &m, XS_GET_DOMAIN_PATH, 0, b"7\0"),
        b"/local/domain/7\0"
    );
    assert_eq!(
        hcall(&mut xs, d0, XS_GET_DOMAIN_PATH, 0, b"1\0").1,
        b"/local/domain/1\0"
    );
}

#[test]
fn quotas_give_xenstoreds_errors() {
    let m = mem();
    let q = Quotas {
        entries_per_domain: 30,
        watches_per_connection: 3,
        transactions_per_connection: 2,
        path_length: 40,
        nodes_per_transaction: 4,
        ..Quotas::default()
    };
    let mut cfg = XenstoreConfig::new(1, "guest1");
    cfg.entries
        .push(("device/vbd/768/backend".into(), "/x".into()));
    let mut xs = Xenstore::with_quotas(GFN, cfg, q).unwrap();
    let d0 = xs.connect().unwrap();
    // Entries per domain: ENOSPC once the guest owns 30 nodes.
    let owned = |xs: &Xenstore| {
        xs.state()
            .nodes
            .values()
            .filter(|n| n.perms[0].domid == 1)
            .count()
    };
    let start = owned(&xs);
    for i in 0..30 - start {
        assert_eq!(
            gcall(&mut xs, &m, XS_WRITE, 0, format!("data/n{i}\0").as_bytes()),
            b"OK\0"
        );
    }
    assert_eq!(owned(&xs), 30);
    assert_eq!(
        gcall(&mut xs, &m, XS_WRITE, 0, b"data/over\0"),
        err("ENOSPC")
    );
    assert_eq!(
        gcall(&mut xs, &m, XS_MKDIR, 0, b"data/over\0"),
        err("ENOSPC")
    );
    // Overwriting is fine; removing frees.
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, b"data/n0\0x"), b"OK\0");
    assert_eq!(gcall(&mut xs, &m, XS_RM, 0, b"data/n0\0"), b"OK\0");
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, b"data/over\0"), b"OK\0");
    // Dom0 is not limited, also below the guest's nodes.
    assert_eq!(
        hcall(&mut xs, d0, XS_WRITE, 0, b"/local/domain/1/data/d0\0").1,
        b"OK\0"
    );
    gcall(&mut xs, &m, XS_RM, 0, b"data/n1\0");
    gcall(&mut xs, &m, XS_RM, 0, b"data/n2\0");

    // Node size: the value with the node's header and permissions.
    let mut big = b"data/big\0".to_vec();
    big.extend(vec![b'v'; 2048]);
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, &big), err("ENOSPC"));
    big.truncate(9 + 2000);
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, &big), b"OK\0");
    let mut huge = b"/local/domain/1/data/big\0".to_vec();
    huge.extend(vec![b'v'; 4000]);
    assert_eq!(
        hcall(&mut xs, d0, XS_WRITE, 0, &huge).1,
        b"OK\0",
        "dom0 is not limited"
    );

    // Path length below the home.
    let long = format!("data/{}\0", "p".repeat(36));
    assert_eq!(
        gcall(&mut xs, &m, XS_READ, 0, long.as_bytes()),
        err("EINVAL")
    );
    let ok = format!("data/{}\0", "p".repeat(35));
    assert_eq!(gcall(&mut xs, &m, XS_READ, 0, ok.as_bytes()), err("ENOENT"));

    // Watches per connection: E2BIG.
    for i in 0..3 {
        send_raw(&m, &msg(XS_WATCH, 1, 0, format!("data\0t{i}\0").as_bytes()));
        xs.process(&m).unwrap();
        assert_eq!(parse(&recv_raw(&m))[0].3, b"OK\0");
    }
    assert_eq!(gcall(&mut xs, &m, XS_WATCH, 0, b"data\0t3\0"), err("E2BIG"));
    gcall(&mut xs, &m, XS_RESET_WATCHES, 0, b"");

    // Transactions per connection: ENOSPC.
    let t1 = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0");
    assert_eq!(
        gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"),
        err("ENOSPC")
    );
    // Nodes one transaction may access: ENOSPC.
    for p in ["data\0", "domid\0", "name\0", "vm\0"] {
        let r = gcall(&mut xs, &m, XS_READ, t1, p.as_bytes());
        assert!(!r.starts_with(b"!"), "{p}: {r:?}");
    }
    assert_eq!(gcall(&mut xs, &m, XS_READ, t1, b"error\0"), err("ENOSPC"));

    // Permissions per node: ENOSPC beyond 5.
    assert_eq!(
        gcall(
            &mut xs,
            &m,
            XS_SET_PERMS,
            0,
            b"data/over\0n1\0r2\0r3\0r4\0r5\0"
        ),
        b"OK\0"
    );
    assert_eq!(
        gcall(
            &mut xs,
            &m,
            XS_SET_PERMS,
            0,
            b"data/over\0n1\0r2\0r3\0r4\0r5\0r6\0"
        ),
        err("ENOSPC")
    );
    // Quotas out of the server's range are refused.
    for bad in [
        Quotas {
            watches_per_connection: 0,
            ..q
        },
        Quotas {
            transactions_per_connection: MAX_TRANSACTIONS as u32 + 1,
            ..q
        },
        Quotas {
            entries_per_domain: MAX_NODES as u32 + 1,
            ..q
        },
    ] {
        assert!(Xenstore::with_quotas(GFN, XenstoreConfig::new(1, "g"), bad).is_err());
    }
    assert_eq!(
        Xenstore::new(GFN, XenstoreConfig::new(1, "g"))
            .unwrap()
            .quotas(),
        Quotas::default()
    );
}

#[test]
fn directory_part_pages_with_a_generation() {
    let m = mem();
    let mut xs = server();
    let names: Vec<String> = (0..300)
        .map(|i| format!("child-with-a-long-name-{i:04}"))
        .collect();
    for n in &names {
        assert!(xs.write(&format!("data/many/{n}"), b""));
    }
    assert_eq!(
        gcall(&mut xs, &m, XS_DIRECTORY, 0, b"data/many\0"),
        err("E2BIG")
    );
    let mut all = Vec::new();
    let mut gen = None;
    let mut parts = 0;
    loop {
        let p = gcall(
            &mut xs,
            &m,
            XS_DIRECTORY_PART,
            0,
            format!("data/many\0{}\0", all.len()).as_bytes(),
        );
        assert_ne!(p[0], b'!');
        assert!(p.len() <= PAYLOAD_MAX);
        let nul = p.iter().position(|&b| b == 0).unwrap();
        let g = std::str::from_utf8(&p[..nul]).unwrap().to_string();
        assert_eq!(
            *gen.get_or_insert(g.clone()),
            g,
            "same generation while unchanged"
        );
        let body = &p[nul + 1..];
        parts += 1;
        if body.ends_with(b"\0\0") || body == b"\0" {
            all.extend_from_slice(&body[..body.len() - 1]);
            break;
        }
        all.extend_from_slice(body);
        assert!(parts < 10);
    }
    assert!(parts >= 3, "{parts} parts");
    let mut want = Vec::new();
    for n in &names {
        want.extend_from_slice(n.as_bytes());
        want.push(0);
    }
    assert_eq!(all, want);
    // Past the end: the generation and an empty list.
    let p = gcall(&mut xs, &m, XS_DIRECTORY_PART, 0, b"data/many\x00999999\0");
    assert!(p.ends_with(b"\0\0") && p.starts_with(gen.clone().unwrap().as_bytes()));
    // A new child changes the generation.
    xs.write("data/many/new", b"");
    let p = gcall(&mut xs, &m, XS_DIRECTORY_PART, 0, b"data/many\x000\0");
    assert!(!p.starts_with(format!("{}\0", gen.unwrap()).as_bytes()));
    // A small directory in one part.
    assert_eq!(
        &gcall(&mut xs, &m, XS_DIRECTORY_PART, 0, b"control\x000\0")[..],
        {
            let p = gcall(&mut xs, &m, XS_DIRECTORY_PART, 0, b"control\x000\0");
            let nul = p.iter().position(|&b| b == 0).unwrap();
            let mut v = p[..=nul].to_vec();
            v.extend_from_slice(b"feature-poweroff\0feature-reboot\0feature-suspend\0platform-feature-multiprocessor-suspend\0platform-feature-xs_reset_watches\0shutdown\0sysrq\0\0");
            v
        }
    );
    for bad in [
        &b"data/many\0x\0"[..],
        b"data/many\0\0",
        b"data/many\x0099999999999999999999999\0",
        b"data/many\0",
    ] {
        assert_eq!(gcall(&mut xs, &m, XS_DIRECTORY_PART, 0, bad), err("EINVAL"));
    }
    assert_eq!(
        gcall(&mut xs, &m, XS_DIRECTORY_PART, 0, b"data/none\x000\0"),
        err("ENOENT")
    );
}

#[test]
fn hostile_input_gets_error_replies() {
    let m = mem();
    let mut xs = server();
    // Unterminated or missing strings.
    for (ty, p) in [
        (XS_READ, &b"domid"[..]),
        (XS_READ, b""),
        (XS_READ, b"domid\0extra\0"),
        (XS_DIRECTORY, b"data"),
        (XS_GET_PERMS, b"data"),
        (XS_SET_PERMS, b"data\0n1"),
        (XS_MKDIR, b"data/x"),
        (XS_RM, b"data"),
        (XS_WRITE, b"data/x"),
        (XS_WATCH, b"data\0tok"),
        (XS_UNWATCH, b"data"),
        (XS_TRANSACTION_END, b"T"),
        (XS_GET_DOMAIN_PATH, b"1"),
        (XS_GET_DOMAIN_PATH, b"-1\0"),
        (XS_GET_DOMAIN_PATH, b"65536\0"),
        (XS_DIRECTORY_PART, b"data\x000"),
        (XS_RM, b"/\0"),
        (XS_WRITE, b"@releaseDomain\0x"),
        (XS_READ, b"@releaseDomain\0"),
    ] {
        assert_eq!(gcall(&mut xs, &m, ty, 0, p), err("EINVAL"), "{ty} {p:?}");
    }
    // Unknown transaction ids.
    for ty in [
        XS_READ,
        XS_WRITE,
        XS_RM,
        XS_DIRECTORY,
        XS_SET_PERMS,
        XS_TRANSACTION_END,
    ] {
        assert_eq!(
            gcall(&mut xs, &m, ty, 12345, b"data\0T\0"),
            err("ENOENT"),
            "{ty}"
        );
    }
    // Requests outside the data ignore it.
    send_raw(&m, &msg(XS_WATCH, 1, 12345, b"data\0tok\0"));
    xs.process(&m).unwrap();
    assert_eq!(parse(&recv_raw(&m))[0].3, b"OK\0");
    assert_eq!(gcall(&mut xs, &m, 999, 0, b""), err("ENOSYS"));
    assert_eq!(
        gcall(&mut xs, &m, XS_WATCH_EVENT, 0, b"a\0b\0"),
        err("EINVAL")
    );

    // Dom0's connection: a header announcing more than a payload is
    // answered E2BIG and the connection refused.
    let d0 = xs.connect().unwrap();
    let mut bad = msg(XS_READ, 5, 0, b"");
    bad[12..16].copy_from_slice(&(PAYLOAD_MAX as u32 + 1).to_le_bytes());
    assert_eq!(xs.feed(d0, &bad), Err(XsErr::E2big));
    assert_eq!(parse(&xs.take_output(d0))[0].3, b"E2BIG\0");
    xs.disconnect(d0);
    assert_eq!(xs.feed(d0, b"x"), Err(XsErr::Enoent));
    // Byte by byte works.
    let d0 = xs.connect().unwrap();
    for b in msg(XS_READ, 6, 0, b"/local/domain/1/domid\0") {
        assert_eq!(xs.feed(d0, &[b]), Ok(1));
    }
    assert_eq!(parse(&xs.take_output(d0))[0].3, b"1");
    for _ in 1..MAX_HOST_CONNECTIONS {
        xs.connect().unwrap();
    }
    assert!(xs.connect().is_none());
}

#[test]
fn random_requests_never_panic_and_state_restores() {
    let m = mem();
    let mut xs = server();
    let d0 = xs.connect().unwrap();
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let paths = [
        "data",
        "data/a",
        "data/a/b",
        "device/vbd",
        "/local/domain/0/x",
        "name",
        "/",
        "@releaseDomain",
        "control/shutdown",
        "data/a/b/c/d",
    ];
    let types = [
        XS_READ,
        XS_WRITE,
        XS_MKDIR,
        XS_RM,
        XS_DIRECTORY,
        XS_DIRECTORY_PART,
        XS_GET_PERMS,
        XS_SET_PERMS,
        XS_WATCH,
        XS_UNWATCH,
        XS_TRANSACTION_START,
        XS_TRANSACTION_END,
        XS_RESET_WATCHES,
        XS_RELEASE,
        XS_INTRODUCE,
        XS_IS_DOMAIN_INTRODUCED,
    ];
    for i in 0..4000 {
        let ty = types[(next() % types.len() as u64) as usize];
        let p = paths[(next() % paths.len() as u64) as usize];
        let payload: Vec<u8> = match ty {
            XS_WRITE => format!("{p}\0v{i}").into_bytes(),
            XS_SET_PERMS => {
                format!("{p}\0{}\0r{}\0", ["n1", "n0", "b1", "r2"][i % 4], i % 3).into_bytes()
            }
            XS_WATCH | XS_UNWATCH => format!("{p}\0t{}\0", i % 2).into_bytes(),
            XS_DIRECTORY_PART => format!("{p}\0{}\0", next() % 8).into_bytes(),
            XS_TRANSACTION_END => {
                if next() % 2 == 0 {
                    b"T\0".to_vec()
                } else {
                    b"F\0".to_vec()
                }
            }
            XS_RELEASE | XS_IS_DOMAIN_INTRODUCED => b"1\0".to_vec(),
            XS_INTRODUCE => b"1\x001\x001\0".to_vec(),
            _ => format!("{p}\0").into_bytes(),
        };
        let tx = (next() % 4) as u32;
        if next() % 3 == 0 {
            let mm = msg(ty, 1, tx, &payload);
            assert_eq!(xs.feed(d0, &mm), Ok(mm.len()));
            xs.take_output(d0);
        } else {
            send_raw(&m, &msg(ty, 1, tx, &payload));
            xs.process(&m).unwrap();
            recv_raw(&m);
        }
        if i % 500 == 0 {
            let st = xs.state();
            let back = Xenstore::from_state(&st).unwrap();
            assert_eq!(back.state(), st);
        }
    }
}

/// Found by the long `xenstore_ring` fuzz run: in a transaction, a node
/// written and then removed below an `XS_RM` raises two events (its watches
/// and those above; exactly its own), more events than nodes accessed; the
/// state must restore.
#[test]
fn a_transaction_with_more_events_than_nodes_restores() {
    let m = mem();
    let mut xs = server();
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    gcall(&mut xs, &m, XS_WRITE, t, b"data/a\0v");
    gcall(&mut xs, &m, XS_WRITE, t, b"data/w\0v");
    gcall(&mut xs, &m, XS_RM, t, b"data\0");
    let st = xs.state();
    let tx = &st.transaction_states[0];
    assert!(tx.events.len() > tx.accessed.len(), "{tx:?}");
    let back = Xenstore::from_state(&st).expect("a server's own state restores");
    assert_eq!(back.state(), st);
}

#[test]
fn snapshot_keeps_permissions_watches_and_open_transactions() {
    let m = mem();
    let mut xs = server();
    gcall(&mut xs, &m, XS_WRITE, 0, b"data/x\0v");
    gcall(&mut xs, &m, XS_SET_PERMS, 0, b"data/x\0n1\0r0\0");
    send_raw(&m, &msg(XS_WATCH, 1, 0, b"data\0tok\0"));
    xs.process(&m).unwrap();
    recv_raw(&m);
    let t = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    gcall(&mut xs, &m, XS_READ, t, b"data/x\0");
    gcall(&mut xs, &m, XS_WRITE, t, b"data/y\0in-tx");
    let t2 = id(&gcall(&mut xs, &m, XS_TRANSACTION_START, 0, b"\0"));
    gcall(&mut xs, &m, XS_WRITE, t2, b"data/z\0z");
    let st = xs.state();
    let mut xs = Xenstore::from_state(&st).unwrap();
    assert_eq!(xs.state(), st);
    assert_eq!(
        gcall(&mut xs, &m, XS_GET_PERMS, 0, b"data/x\0"),
        b"n1\0r0\0"
    );
    assert_eq!(gcall(&mut xs, &m, XS_READ, t, b"data/y\0"), b"in-tx");
    assert_eq!(gcall(&mut xs, &m, XS_READ, 0, b"data/y\0"), err("ENOENT"));
    // The restored transaction still sees conflicts: t read data/x.
    xs.write("data/x", b"changed");
    let r = gcall(&mut xs, &m, XS_TRANSACTION_END, t, b"T\0");
    assert_eq!(r, err("EAGAIN"));
    // The watch fired for that write (after the reply above).
    // t2 commits, and its watch event comes.
    send_raw(&m, &msg(XS_TRANSACTION_END, 2, t2, b"T\0"));
    xs.process(&m).unwrap();
    let r = parse(&recv_raw(&m));
    assert_eq!(r[0].3, b"OK\0");
    assert_eq!(r.last().unwrap().3, b"data/z\0tok\0");
    assert_eq!(xs.read("data/z"), Some(&b"z"[..]));

    // An older state (no permissions, bare transaction ids, implicit
    // parents) restores with derived permissions and empty transactions.
    let mut old = XenstoreState {
        ring_gfn: GFN,
        domid: 1,
        writable: vec!["/local/domain/1/data".into()],
        transactions: vec![4],
        last_tx_id: 4,
        ..Default::default()
    };
    for (p, v) in [
        ("/local/domain/1/data/a", "1"),
        ("/local/domain/1/name", "n"),
    ] {
        old.nodes.insert(
            p.into(),
            Node {
                value: v.into(),
                ..Default::default()
            },
        );
    }
    let mut xs = Xenstore::from_state(&old).unwrap();
    assert_eq!(xs.perms("data/a").unwrap(), ["n1"]);
    assert_eq!(xs.perms("name").unwrap(), ["n0", "r1"]);
    assert_eq!(xs.perms("/local").unwrap(), ["n0", "r1"]);
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 4, b"data/b\0x"), b"OK\0");
    assert_eq!(gcall(&mut xs, &m, XS_TRANSACTION_END, 4, b"T\0"), b"OK\0");
    assert_eq!(xs.read("data/b"), Some(&b"x"[..]));
    assert_eq!(gcall(&mut xs, &m, XS_WRITE, 0, b"name\0x"), err("EACCES"));
}
