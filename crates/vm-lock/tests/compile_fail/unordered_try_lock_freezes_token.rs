// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// A lock taken out of order with try_lock_unordered gives no token and freezes the caller's:
// nothing may be locked (or waited for) while it is held.
use vm_lock::{OrderedMutex, PageCache, Root, VmLock, XenLock};

fn main() {
    let vm = OrderedMutex::<VmLock, u32>::new(0);
    let xen = OrderedMutex::<XenLock, u32>::new(0);
    let pc = OrderedMutex::<PageCache<0>, u32>::new(0);
    let mut root = Root::new().unwrap();
    let (_x, mut t_xen) = xen.lock(root.token());
    let g_vm = vm.try_lock_unordered(&t_xen);
    let (_p, _t) = pc.lock(&mut t_xen);
    drop(g_vm);
}
