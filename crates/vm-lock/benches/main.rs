// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Uncontended lock/unlock: `OrderedMutex` against `std::sync::Mutex`.

use std::hint::black_box;
use std::sync::Mutex;

use criterion::{criterion_group, criterion_main, Criterion};
use vm_lock::{OrderedMutex, OrderedRwLock, Root, VcpuMutex, XenLock};

fn lock_unlock(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended_lock_unlock");

    let std_mutex = Mutex::new(0u64);
    group.bench_function("std_mutex", |b| {
        b.iter(|| {
            let mut g = black_box(&std_mutex).lock().unwrap();
            *g += 1;
        })
    });

    let ordered = OrderedMutex::<XenLock, u64>::new(0);
    let mut root = Root::new().unwrap();
    group.bench_function("ordered_mutex", |b| {
        b.iter(|| {
            let (mut g, _t) = black_box(&ordered).lock(root.token());
            *g += 1;
        })
    });

    let outer = OrderedMutex::<VcpuMutex, u64>::new(0);
    group.bench_function("std_mutex_nested_2", |b| {
        let inner = Mutex::new(0u64);
        let outer = Mutex::new(0u64);
        b.iter(|| {
            let mut o = black_box(&outer).lock().unwrap();
            let mut i = black_box(&inner).lock().unwrap();
            *o += 1;
            *i += 1;
        })
    });
    group.bench_function("ordered_mutex_nested_2", |b| {
        b.iter(|| {
            let (mut o, mut t) = black_box(&outer).lock(root.token());
            let (mut i, _t) = black_box(&ordered).lock(&mut t);
            *o += 1;
            *i += 1;
        })
    });

    let std_rw = std::sync::RwLock::new(0u64);
    let ordered_rw = OrderedRwLock::<XenLock, u64>::new(0);
    group.bench_function("std_rwlock_read", |b| {
        b.iter(|| *black_box(&std_rw).read().unwrap())
    });
    group.bench_function("ordered_rwlock_read", |b| {
        b.iter(|| *black_box(&ordered_rw).read(root.token()).0)
    });
    // A memory-map read section (`GuestMemoryAtomic`'s arc-swap load), entered and left:
    // what every event a host thread sends pays once.
    let map = vm_lock::MemoryMap::new(
        vm_memory::GuestMemoryMmap::<()>::from_ranges(&[(vm_memory::GuestAddress(0), 0x1000)])
            .unwrap(),
    );
    group.bench_function("memory_map_read_section", |b| {
        b.iter(|| black_box(&map).read(root.token()).0.generation())
    });
    group.finish();
}

criterion_group!(benches, lock_unlock);
criterion_main!(benches);
