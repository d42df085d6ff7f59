// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// A token speaks for one thread: it cannot be sent to another.
use vm_lock::{OrderedMutex, Root, VmLock, XenLock};

fn main() {
    let vm = OrderedMutex::<VmLock, ()>::new(());
    let xen = OrderedMutex::<XenLock, ()>::new(());
    let mut root = Root::new().unwrap();
    let (_vm, mut t_vm) = vm.lock(root.token());
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = xen.lock(&mut t_vm);
        });
    });
}
