// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Taking PageCache<0> while holding PageCache<1> (the page-cache locks nest 0 then 1).
use vm_lock::{OrderedMutex, PageCache, Root};

fn main() {
    let pc0 = OrderedMutex::<PageCache<0>, u64>::new(0);
    let pc1 = OrderedMutex::<PageCache<1>, u64>::new(0);
    let mut root = Root::new().unwrap();
    let (_g1, mut t1) = pc1.lock(root.token());
    let (_g0, _t0) = pc0.lock(&mut t1);
}
