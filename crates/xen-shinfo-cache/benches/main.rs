// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benchmarks: a cached shared_info access (revalidation check + atomic bit op), and a
//! pvclock update.

use criterion::{criterion_group, criterion_main, Criterion};
use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};
use xen_shinfo_cache::{GuestWidth, PvclockTime, WidthLayout, XenPages};

fn benches(c: &mut Criterion) {
    let mem = MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40000)]).unwrap());
    let pages: XenPages<GuestMemoryMmap> = XenPages::new(2);
    let mut root = Root::new().unwrap();
    let t = root.token();
    pages.set_shared_info_gfn(t, Some(0x10)).unwrap();
    let w = GuestWidth::Bits64;
    c.bench_function("shinfo_cached_test_and_set_bit", |b| {
        b.iter(|| {
            let (snap, mut tm) = mem.read(t);
            pages
                .with_shared_info(&mut tm, &snap, |sh, _| {
                    sh.test_and_set_bit(w, w.shinfo_evtchn_pending(), 77)
                        .unwrap()
                })
                .unwrap()
        })
    });
    let time = PvclockTime::default();
    c.bench_function("pvclock_update", |b| {
        b.iter(|| {
            let (snap, mut tm) = mem.read(t);
            pages.update_pvclock(&mut tm, &snap, 0, &time).unwrap()
        })
    });
}

criterion_group!(main_benches, benches);
criterion_main!(main_benches);
