// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Input layouts and harnesses of the `xenstore_ring` and `console_ring`
//! targets: a guest (well-behaved or not) and the host driving the
//! xenstore server and the PV console over their shared pages.
//!
//! Both read operations as an opcode byte and operands (missing bytes read
//! as 0), at most [`MAX_OPS`].
//!
//! `xenstore_ring` opcodes (mod 8):
//! * 0 a message: `type` u8 (mod 32), `req_id` u8, `tx` u8 (0, 1, 2 or
//!   `u32::MAX`), `len` u8, payload — appended to the request ring;
//! * 1 raw request bytes: `len` u8, bytes;
//! * 2 an index: `which` u8 (req_cons, req_prod, rsp_cons, rsp_prod), `value` u32;
//! * 3 `process()`;
//! * 4 the guest takes every reply;
//! * 5 host write: `plen` u8, path, `vlen` u8, value;
//! * 6 `state()` -> `from_state()` round trip (at most [`MAX_ROUND_TRIPS`] per input);
//! * 7 host read and permissions of a path: `plen` u8, path.
//!
//! Invariants: `process` never fails on RAM and stays within the server's
//! limits (partial request, reply queue); the replies the guest reads are
//! whole, well-formed messages unless it scribbled on the response indices;
//! every state round-trips.
//!
//! `console_ring` opcodes (mod 9):
//! * 0 guest output: `len` u16 (mod 4096), bytes — appended to `out`;
//! * 1 an index: `which` u8 (in_cons, in_prod, out_cons, out_prod), `value` u32;
//! * 2 host input: `len` u16, bytes (`queue_input`);
//! * 3 `process()`;
//! * 4 `CONSOLEIO_read`: `n` u8;
//! * 5 the guest signals its console channel (`use_ring`);
//! * 6 the guest takes its input;
//! * 7 `state()` -> `from_state()` round trip;
//! * 8 `CONSOLEIO_write` to Xen's console: `len` u8, bytes, then a flush
//!   half of the time.
//!
//! Invariants: after `process` the guest's output is consumed and, when it
//! wrote input, at most one ring of input is outstanding; output reaches the sink byte for byte
//! unless the guest scribbled on `out` indices; input is never given twice
//! nor lost (queue, ring, `CONSOLEIO_read`) unless it scribbled on `in`
//! indices or the queue overflowed; Xen's console prints only prefixed,
//! bounded lines of printable bytes; every state round-trips.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_platform::console::{
    Console, HypervisorConsole, InputRoute, IN_CONS, IN_OFF, IN_PROD, IN_SIZE, MAX_LINE,
    MAX_PENDING_INPUT, OUT_CONS, OUT_OFF, OUT_PROD, OUT_SIZE,
};
use xen_store::{
    Header, Xenstore, XenstoreConfig, HEADER_SIZE, MAX_PARTIAL_REQUEST, MAX_QUEUED_REPLIES,
    PAYLOAD_MAX, REQ_CONS, REQ_OFF, REQ_PROD, RING_SIZE, RSP_CONS, RSP_OFF, RSP_PROD,
};

/// Operations per input at most.
pub const MAX_OPS: usize = 128;
/// xenstore snapshot round trips (opcode 6) per input at most; later ones are
/// skipped (each costs as much as a long script and a second finds nothing new).
pub const MAX_ROUND_TRIPS: usize = 1;
/// The ring page's frame.
pub const GFN: u64 = 3;
const BASE: u64 = GFN * 4096;

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b.to_vec()
    }
}

fn mem() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x1_0000)]).expect("guest memory")
}

fn get(m: &GuestMemoryMmap, off: u64) -> u32 {
    m.read_obj(GuestAddress(BASE + off)).expect("ring index")
}

fn set(m: &GuestMemoryMmap, off: u64, v: u32) {
    m.write_obj(v, GuestAddress(BASE + off))
        .expect("ring index");
}

/// Appends `bytes` to a byte ring of `size` at `data` with producer at `prod`.
fn produce(m: &GuestMemoryMmap, data: u64, size: u32, prod: u64, bytes: &[u8]) {
    let mut p = get(m, prod);
    let mut rest = bytes;
    while !rest.is_empty() {
        // Up to the end of the ring, then from its start.
        let off = p & (size - 1);
        let n = rest.len().min((size - off) as usize);
        m.write_slice(&rest[..n], GuestAddress(BASE + data + u64::from(off)))
            .expect("ring");
        p = p.wrapping_add(n as u32);
        rest = &rest[n..];
    }
    set(m, prod, p);
}

/// Takes everything between `cons` and `prod` of a byte ring (nothing if
/// the indices say more than the ring holds).
fn consume(m: &GuestMemoryMmap, data: u64, size: u32, cons: u64, prod: u64) -> Vec<u8> {
    let mut c = get(m, cons);
    let p = get(m, prod);
    let mut out = Vec::new();
    if p.wrapping_sub(c) > size {
        set(m, cons, p);
        return out;
    }
    while c != p {
        let off = c & (size - 1);
        let n = p.wrapping_sub(c).min(size - off);
        let at = out.len();
        out.resize(at + n as usize, 0);
        m.read_slice(&mut out[at..], GuestAddress(BASE + data + u64::from(off)))
            .expect("ring");
        c = c.wrapping_add(n);
    }
    set(m, cons, c);
    out
}

/// Runs one `xenstore_ring` input.
pub fn xenstore(data: &[u8]) {
    let m = mem();
    let mut cfg = XenstoreConfig::new(1, "fuzz");
    cfg.entries
        .push(("device/vbd/768/backend".into(), "/x".into()));
    let mut xs = Xenstore::new(GFN, cfg).expect("server");
    let mut c = Cursor(data);
    // Reply bytes the guest read and has not parsed yet; cleared when it
    // scribbles on the response indices (the stream is then not whole).
    let mut replies: Vec<u8> = Vec::new();
    let mut rsp_scribbled = false;
    let mut round_trips = 0;
    let mut ops = 0;
    while !c.0.is_empty() && ops < MAX_OPS {
        ops += 1;
        match c.u8() % 8 {
            0 => {
                let ty = u32::from(c.u8() % 32);
                let req_id = u32::from(c.u8());
                let tx = match c.u8() % 4 {
                    3 => u32::MAX,
                    t => u32::from(t),
                };
                let len = usize::from(c.u8());
                let payload = c.bytes(len);
                let msg = xen_store::encode(ty, req_id, tx, &payload);
                produce(&m, REQ_OFF, RING_SIZE, REQ_PROD, &msg);
            }
            1 => {
                let len = usize::from(c.u8());
                let b = c.bytes(len);
                produce(&m, REQ_OFF, RING_SIZE, REQ_PROD, &b);
            }
            2 => {
                let which = [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD][usize::from(c.u8() % 4)];
                set(&m, which, c.u32());
                if which == RSP_CONS || which == RSP_PROD {
                    rsp_scribbled = true;
                }
            }
            3 => {
                xs.process(&m).expect("process over RAM");
                let (partial, replies) = xs.buffered();
                assert!(partial <= MAX_PARTIAL_REQUEST, "{partial} bytes of request");
                assert!(replies <= MAX_QUEUED_REPLIES, "{replies} bytes of replies");
            }
            4 => {
                let b = consume(&m, RSP_OFF, RING_SIZE, RSP_CONS, RSP_PROD);
                if rsp_scribbled {
                    replies.clear();
                    continue;
                }
                replies.extend(b);
                // Whole messages, each well formed.
                while let Some(h) = Header::parse(&replies) {
                    assert!(h.len as usize <= PAYLOAD_MAX, "reply of {} bytes", h.len);
                    let end = HEADER_SIZE + h.len as usize;
                    if replies.len() < end {
                        break;
                    }
                    replies.drain(..end);
                }
            }
            5 => {
                let plen = usize::from(c.u8());
                let path = String::from_utf8_lossy(&c.bytes(plen)).into_owned();
                let vlen = usize::from(c.u8());
                let v = c.bytes(vlen);
                let _ = xs.write(&path, &v);
            }
            6 => {
                if round_trips == MAX_ROUND_TRIPS {
                    continue;
                }
                round_trips += 1;
                let st = xs.state();
                let r = Xenstore::from_state(&st).expect("a server's own state restores");
                assert_eq!(r.state(), st);
                xs = r;
            }
            _ => {
                let plen = usize::from(c.u8());
                let path = String::from_utf8_lossy(&c.bytes(plen)).into_owned();
                let _ = xs.read(&path);
                let _ = xs.perms(&path);
            }
        }
    }
}

/// Runs one `console_ring` input.
pub fn console(data: &[u8]) {
    let m = mem();
    let mut con = Console::new(GFN, Vec::new()).expect("console");
    let mut hv = HypervisorConsole::new(1);
    let mut c = Cursor(data);
    // Expected output, while the guest keeps the out indices sane.
    let mut out_sane = true;
    let mut expected_out: Vec<u8> = Vec::new();
    // Input accounting, while the guest keeps the in indices sane and
    // nothing was dropped: queued = pending + in ring + taken.
    let mut in_sane = true;
    let mut queued_in = 0usize;
    let mut taken_in = 0usize;
    let mut ops = 0;
    while !c.0.is_empty() && ops < MAX_OPS {
        ops += 1;
        match c.u8() % 9 {
            0 => {
                let len = usize::from(c.u16()) % 4096;
                let b = c.bytes(len);
                let fill = get(&m, OUT_PROD).wrapping_sub(get(&m, OUT_CONS));
                if fill as usize + b.len() > OUT_SIZE as usize {
                    out_sane = false; // the guest overwrites unread output
                }
                produce(&m, OUT_OFF, OUT_SIZE, OUT_PROD, &b);
                expected_out.extend_from_slice(&b);
            }
            1 => {
                let which = [IN_CONS, IN_PROD, OUT_CONS, OUT_PROD][usize::from(c.u8() % 4)];
                set(&m, which, c.u32());
                if which == IN_CONS || which == IN_PROD {
                    in_sane = false;
                } else {
                    out_sane = false;
                }
            }
            2 => {
                let len = usize::from(c.u16());
                let b = c.bytes(len);
                let n = con.queue_input(&b);
                if n < b.len() {
                    in_sane = false;
                }
                queued_in += n;
            }
            3 => {
                let pushes = con.pending_input() > 0 && con.input_route() == InputRoute::Ring;
                let _ = con.process(&m).expect("process over RAM");
                assert_eq!(get(&m, OUT_CONS), get(&m, OUT_PROD), "output left");
                // When it writes input, the console leaves at most a ring's
                // worth outstanding (the guest's own indices are its business
                // otherwise).
                let in_fill = get(&m, IN_PROD).wrapping_sub(get(&m, IN_CONS));
                assert!(
                    !pushes || in_fill <= IN_SIZE,
                    "{in_fill} bytes of input outstanding"
                );
                assert!(con.pending_input() <= MAX_PENDING_INPUT);
                if out_sane {
                    assert_eq!(con.output(), &expected_out, "output changed on its way");
                }
            }
            4 => {
                let n = usize::from(c.u8());
                let mut buf = vec![0u8; n];
                taken_in += con.read_input(&mut buf);
            }
            5 => con.use_ring(),
            6 => {
                taken_in += consume(&m, IN_OFF, IN_SIZE, IN_CONS, IN_PROD).len();
            }
            7 => {
                let st = con.state();
                let mut r = Console::from_state(&st, std::mem::take(con.output_mut()))
                    .expect("a console's own state restores");
                assert_eq!(r.state(), st);
                // The route is not saved: a restored console starts on the ring.
                r.use_ring();
                con = r;
            }
            _ => {
                let len = usize::from(c.u8());
                let b = c.bytes(len);
                let mut out = Vec::new();
                hv.write(&b, &mut out);
                if c.u8() & 1 == 0 {
                    hv.flush(&mut out);
                }
                for line in out.split(|&x| x == b'\n').filter(|l| !l.is_empty()) {
                    assert!(line.starts_with(b"(d1) "), "{line:?}");
                    assert!(line.len() <= 5 + MAX_LINE, "line of {}", line.len());
                    assert!(
                        line.iter().all(|&x| x == b'\t' || x >= 0x20 && x != 0x7f),
                        "{line:?}"
                    );
                }
            }
        }
        if in_sane {
            let in_ring = get(&m, IN_PROD).wrapping_sub(get(&m, IN_CONS)) as usize;
            assert_eq!(
                queued_in,
                con.pending_input() + in_ring + taken_in,
                "input lost or duplicated"
            );
        }
    }
}

/// Seeds: (target, name, input).
pub mod seed {
    use xen_store::*;

    fn msg(ty: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0, ty as u8, 7, 0, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    /// `xenstore_ring` seeds: each request type, watches and transactions,
    /// back-pressure, a resync, scribbled indices, a state round trip.
    pub fn xenstore() -> Vec<(String, Vec<u8>)> {
        let process = vec![3u8];
        let take = vec![4u8];
        let mut out = Vec::new();
        let single: Vec<(&str, u32, &[u8])> = vec![
            ("read", XS_READ, b"domid\0"),
            ("directory", XS_DIRECTORY, b"device\0"),
            ("write", XS_WRITE, b"data/x\0value"),
            ("write-denied", XS_WRITE, b"/local/domain/0/x\0v"),
            ("mkdir", XS_MKDIR, b"data/dir\0"),
            ("rm", XS_RM, b"data\0"),
            ("get-perms", XS_GET_PERMS, b"name\0"),
            ("set-perms", XS_SET_PERMS, b"data\0n1\0"),
            ("watch", XS_WATCH, b"device\0tok\0"),
            ("unwatch", XS_UNWATCH, b"device\0tok\0"),
            ("reset-watches", XS_RESET_WATCHES, b""),
            ("tx-start", XS_TRANSACTION_START, b"\0"),
            ("tx-end", XS_TRANSACTION_END, b"T\0"),
            ("domain-path", XS_GET_DOMAIN_PATH, b"1\0"),
            ("introduce", XS_INTRODUCE, b"1\0"),
            ("directory-part", XS_DIRECTORY_PART, b"device\x000\0"),
            ("set-perms-owner", XS_SET_PERMS, b"data\0n2\0"),
            ("is-introduced", XS_IS_DOMAIN_INTRODUCED, b"1\0"),
            ("unknown", 31, b"x\0"),
        ];
        for (name, ty, payload) in single {
            let mut s = msg(ty, payload);
            s.extend(&process);
            s.extend(&take);
            out.push((format!("seed-{name}"), s));
        }
        // A session: watch, write under it (event), transaction, snapshot.
        let mut s = Vec::new();
        for (ty, p) in [
            (XS_WATCH, &b"data\0w\0"[..]),
            (XS_WRITE, b"data/a\0one"),
            (XS_TRANSACTION_START, b"\0"),
        ] {
            s.extend(msg(ty, p));
            s.extend(&process);
            s.extend(&take);
        }
        s.extend([6]); // round trip
        s.extend([5, 6]);
        s.extend(b"data/b");
        s.extend([2, b'h', b'i']);
        s.extend(&process);
        s.extend(&take);
        out.push(("seed-session".into(), s));
        // Back-pressure: many reads of a big value, the guest reads late.
        let mut s = vec![5, 8];
        s.extend(b"data/big");
        s.push(255);
        s.extend([b'v'; 255]);
        for _ in 0..40 {
            s.extend(msg(XS_READ, b"data/big\0"));
            s.extend(&process);
        }
        s.extend(&take);
        s.extend(&process);
        s.extend(&take);
        out.push(("seed-backpressure".into(), s));
        // A header claiming a huge payload (resync), then a good request.
        let mut s = vec![1, 16];
        for w in [XS_READ, 1, 0, 0x10_0000u32] {
            s.extend(w.to_le_bytes());
        }
        s.extend(&process);
        s.extend(msg(XS_READ, b"domid\0"));
        s.extend(&process);
        s.extend(&take);
        out.push(("seed-resync".into(), s));
        // req_prod far ahead; rsp_cons far ahead.
        let mut s = vec![2, 1];
        s.extend(5000u32.to_le_bytes());
        s.extend(&process);
        s.extend([2, 2]);
        s.extend(100_000u32.to_le_bytes());
        s.extend(msg(XS_READ, b"name\0"));
        s.extend(&process);
        s.extend(&take);
        out.push(("seed-bad-indices".into(), s));
        // Half a message, a snapshot, the rest.
        let m = msg(XS_READ, b"name\0");
        let mut s = vec![1, 10];
        s.extend(&encode(XS_READ, 1, 0, b"name\0")[..10]);
        s.extend(&process);
        s.push(6);
        s.push(1);
        s.push(11);
        s.extend(&encode(XS_READ, 1, 0, b"name\0")[10..]);
        s.extend(&process);
        s.extend(&take);
        drop(m);
        out.push(("seed-split".into(), s));
        out
    }

    /// `console_ring` seeds.
    pub fn console() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let put = |b: &[u8]| {
            let mut v = vec![0u8];
            v.extend((b.len() as u16).to_le_bytes());
            v.extend_from_slice(b);
            v
        };
        let input = |b: &[u8]| {
            let mut v = vec![2u8];
            v.extend((b.len() as u16).to_le_bytes());
            v.extend_from_slice(b);
            v
        };
        let mut s = put(b"hello\n");
        s.extend(input(b"ls\n"));
        s.push(3);
        s.push(6);
        out.push(("seed-echo".into(), s));
        let mut s = put(&[b'x'; 2048]);
        s.push(3);
        s.extend(put(&[b'y'; 100]));
        s.push(3);
        out.push(("seed-full-out".into(), s));
        let mut s = input(&[b'k'; 1500]);
        s.push(3);
        s.push(6);
        s.push(3);
        s.push(7);
        s.push(6);
        out.push(("seed-input-wraps".into(), s));
        let mut s = input(b"abcdef");
        s.extend([4, 3, 3, 5, 3, 6]);
        out.push(("seed-consoleio-read".into(), s));
        let mut s = vec![1, 3];
        s.extend(5000u32.to_le_bytes());
        s.push(3);
        s.extend([1, 0]);
        s.extend(7000u32.to_le_bytes());
        s.extend(input(b"z"));
        s.push(3);
        out.push(("seed-bad-indices".into(), s));
        let mut s = vec![8, 12];
        s.extend(b"line\n\x1b[2Jx\ty");
        s.push(0);
        out.push(("seed-hv-console".into(), s));
        out
    }
}
