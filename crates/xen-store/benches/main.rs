// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benchmarks: one request / reply round trip through the rings (the guest
//! writes the request and takes the reply), for a read and for a write
//! that fires a watch; and a new server's state round trip.

use criterion::{criterion_group, criterion_main, Criterion};
use xen_store::*;

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;

fn round_trip(c: &mut Criterion, name: &str, ty: u32, payload: &[u8], watch: bool) {
    let m = mem();
    let mut xs = server();
    if watch {
        send_raw(&m, &msg(XS_WATCH, 1, 0, b"data\0tok\0"));
        xs.process(&m).unwrap();
        recv_raw(&m);
    }
    let req = msg(ty, 7, 0, payload);
    c.bench_function(name, |b| {
        b.iter(|| {
            send_raw(&m, &req);
            assert!(xs.process(&m).unwrap());
            recv_raw(&m)
        })
    });
}

fn benches(c: &mut Criterion) {
    // A new server with the toolstack's tree, its state, and a restore from it: what a VM
    // pays at creation and per snapshot round trip.
    c.bench_function("xenstore_new_state_and_restore", |b| {
        b.iter(|| {
            let xs = server();
            let st = xs.state();
            Xenstore::from_state(&st).unwrap()
        })
    });
    round_trip(
        c,
        "xenstore_read_round_trip",
        XS_READ,
        b"cpu/0/availability\0",
        false,
    );
    round_trip(
        c,
        "xenstore_write_watch_round_trip",
        XS_WRITE,
        b"data/x\0value",
        true,
    );
}

criterion_group!(main_benches, benches);
criterion_main!(main_benches);
