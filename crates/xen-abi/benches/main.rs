// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Criterion benches: reading and writing ABI structs through vm-memory.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::{SharedInfo64, VcpuInfo64, XenHvmParam};

fn bench(c: &mut Criterion) {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
    c.bench_function("read_obj XenHvmParam", |b| {
        b.iter(|| {
            mem.read_obj::<XenHvmParam>(black_box(GuestAddress(0x100)))
                .unwrap()
        })
    });
    c.bench_function("read_obj VcpuInfo64", |b| {
        b.iter(|| {
            mem.read_obj::<VcpuInfo64>(black_box(GuestAddress(0x200)))
                .unwrap()
        })
    });
    c.bench_function("write_obj SharedInfo64", |b| {
        let si = SharedInfo64::default();
        b.iter(|| mem.write_obj(black_box(si), GuestAddress(0x1000)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
