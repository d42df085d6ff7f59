// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benchmarks: moving a grant frame (`XENMEM_add_to_physmap`) in a full
//! table, and reading a grant entry through the guest's mapping.

use criterion::{criterion_group, criterion_main, Criterion};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_gnttab::*;

fn benches(c: &mut Criterion) {
    let mut gt = GrantTable::new(64).unwrap();
    for f in 0..64 {
        gt.add_to_physmap(f, 0x100 + f).unwrap();
    }
    let mut flip = false;
    c.bench_function("gnttab_add_to_physmap_move", |b| {
        b.iter(|| {
            flip = !flip;
            gt.add_to_physmap(63, if flip { 0x1000 } else { 0x13f })
                .unwrap()
        })
    });

    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20000)]).unwrap();
    let mut gt = GrantTable::new(4).unwrap();
    gt.add_to_physmap(1, 0x10).unwrap();
    let e = GrantEntryV1 {
        flags: GTF_PERMIT_ACCESS,
        domid: 0,
        frame: 0x55,
    };
    mem.write_slice(&e.to_bytes(), GuestAddress(0x10000 + 8 * 7))
        .unwrap();
    c.bench_function("gnttab_read_entry", |b| {
        b.iter(|| gt.read_entry(&mem, ENTRIES_PER_FRAME + 7).unwrap())
    });
}

criterion_group!(main_benches, benches);
criterion_main!(main_benches);
