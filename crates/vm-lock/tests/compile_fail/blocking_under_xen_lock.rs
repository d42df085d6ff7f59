// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Waiting for another thread (here a join) while holding XenLock: that thread may need it.
use vm_lock::{blocking, OrderedMutex, Root, XenLock};

fn main() {
    let xen = OrderedMutex::<XenLock, u32>::new(0);
    let mut root = Root::new().unwrap();
    std::thread::scope(|s| {
        let (_x, mut t_xen) = xen.lock(root.token());
        let h = s.spawn(|| {
            let mut root = Root::new().unwrap();
            *xen.lock(root.token()).0 += 1;
        });
        blocking(&mut t_xen, || h.join()).unwrap();
    });
}
