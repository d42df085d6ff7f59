// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The guest side of the xenstore ring, for tests and benches: a page of
//! guest RAM and the ring protocol as a guest driver runs it.
#![allow(dead_code)]

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_store::*;

/// Ring page frame.
pub const GFN: u64 = 3;
/// Ring page address.
pub const BASE: u64 = GFN * 4096;

/// 64 KiB of guest RAM at 0.
pub fn mem() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap()
}

/// Reads a ring index.
pub fn get(m: &GuestMemoryMmap, off: u64) -> u32 {
    m.read_obj(GuestAddress(BASE + off)).unwrap()
}

/// Writes a ring index.
pub fn set(m: &GuestMemoryMmap, off: u64, v: u32) {
    m.write_obj(v, GuestAddress(BASE + off)).unwrap();
}

/// Guest: appends raw bytes to the request ring (assumes room).
pub fn send_raw(m: &GuestMemoryMmap, bytes: &[u8]) {
    let mut prod = get(m, REQ_PROD);
    for &b in bytes {
        let off = u64::from(prod & (RING_SIZE - 1));
        m.write_obj(b, GuestAddress(BASE + REQ_OFF + off)).unwrap();
        prod = prod.wrapping_add(1);
    }
    set(m, REQ_PROD, prod);
}

/// A request message.
pub fn msg(ty: u32, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    encode(ty, req_id, tx, payload)
}

/// Guest: takes all reply bytes.
pub fn recv_raw(m: &GuestMemoryMmap) -> Vec<u8> {
    let mut cons = get(m, RSP_CONS);
    let prod = get(m, RSP_PROD);
    let mut v = Vec::new();
    if prod.wrapping_sub(cons) > RING_SIZE {
        // Only the random test scribbles indices like this.
        set(m, RSP_CONS, prod);
        return v;
    }
    while cons != prod {
        let off = u64::from(cons & (RING_SIZE - 1));
        v.push(m.read_obj(GuestAddress(BASE + RSP_OFF + off)).unwrap());
        cons = cons.wrapping_add(1);
    }
    set(m, RSP_CONS, cons);
    v
}

/// Splits reply bytes into (type, req_id, tx_id, payload).
pub fn parse(mut b: &[u8]) -> Vec<(u32, u32, u32, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(h) = Header::parse(b) {
        let end = HEADER_SIZE + h.len as usize;
        out.push((h.ty, h.req_id, h.tx_id, b[HEADER_SIZE..end].to_vec()));
        b = &b[end..];
    }
    assert!(b.is_empty(), "trailing partial reply");
    out
}

/// A server for domain 1 ("guest1") with a disk and an extra /vm node.
pub fn server() -> Xenstore {
    let mut cfg = XenstoreConfig::new(1, "guest1");
    cfg.entries
        .push(("device/vbd/768/backend".into(), "/x".into()));
    cfg.entries.push(("/vm/abc/uuid".into(), "abc".into()));
    Xenstore::new(GFN, cfg).unwrap()
}

/// One request, one reply: (type, payload).
pub fn call(
    xs: &mut Xenstore,
    m: &GuestMemoryMmap,
    ty: u32,
    tx: u32,
    payload: &[u8],
) -> (u32, Vec<u8>) {
    send_raw(m, &msg(ty, 42, tx, payload));
    assert!(xs.process(m).unwrap());
    let r = parse(&recv_raw(m));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].1, r[0].2), (42, tx));
    (r[0].0, r[0].3.clone())
}
