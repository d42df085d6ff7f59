// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Taking the VM lock while holding the Xen state lock.
use vm_lock::{OrderedMutex, Root, VmLock, XenLock};

fn main() {
    let vm = OrderedMutex::<VmLock, u32>::new(0);
    let xen = OrderedMutex::<XenLock, u32>::new(0);
    let mut root = Root::new().unwrap();
    let (_xen, mut t_xen) = xen.lock(root.token());
    let (_vm, _t) = vm.lock(&mut t_xen);
}
