// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benchmarks: sequential 4 KiB reads through a one-page ring against a memory disk.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_blkback::*;
use xen_gnttab::{GrantEntryV1, GrantTable, GTF_PERMIT_ACCESS};

fn benches(c: &mut Criterion) {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x100000)]).unwrap();
    let mut gt = GrantTable::new(1).unwrap();
    gt.add_to_physmap(0, 0x10).unwrap();
    let grant = |gref: u32, gfn: u32| {
        let e = GrantEntryV1 {
            flags: GTF_PERMIT_ACCESS,
            domid: 0,
            frame: gfn,
        };
        mem.write_slice(&e.to_bytes(), GuestAddress(0x10000 + u64::from(gref) * 8))
            .unwrap();
    };
    grant(1, 0x20);
    for i in 0..32 {
        grant(2 + i, 0x40 + i);
    }
    let disk = MemDisk::new(64 << 20);
    let sectors = disk.data.len() as u64 / 512;
    let mut be = BlkBack::new(disk, true);
    be.connect(&mut gt, &mem, &[1], Protocol::X86_64).unwrap();
    let ring = 0x20000u64;
    let mut prod = 0u32;
    let mut sector = 0u64;

    let mut g = c.benchmark_group("blkback");
    // One batch: a full ring of 32 sequential 4 KiB reads.
    g.throughput(Throughput::Bytes(32 * 4096));
    g.bench_function("seq_read_4k_x32", |b| {
        b.iter(|| {
            for i in 0..32u32 {
                let mut r = Request {
                    operation: BLKIF_OP_READ,
                    nr_segments: 1,
                    id: u64::from(prod),
                    sector_number: sector,
                    ..Default::default()
                };
                r.seg[0] = Segment {
                    gref: 2 + i,
                    first_sect: 0,
                    last_sect: 7,
                };
                let slot = RING_HEADER + u64::from(prod % 32) * 112;
                mem.write_slice(&r.encode(Protocol::X86_64), GuestAddress(ring + slot))
                    .unwrap();
                prod = prod.wrapping_add(1);
                sector = (sector + 8) % sectors;
            }
            mem.write_obj(prod, GuestAddress(ring + REQ_PROD)).unwrap();
            let p = be.process(&mut gt, &mem).unwrap();
            assert_eq!(p.requests, 32);
        })
    });
    g.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
