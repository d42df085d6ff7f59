// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Upgrading a read lock to a write lock of the same RwLock (self-deadlock).
use vm_lock::{OrderedRwLock, Root, XenLock};

fn main() {
    let l = OrderedRwLock::<XenLock, u32>::new(0);
    let mut root = Root::new().unwrap();
    let (_r, mut t_r) = l.read(root.token());
    let (_w, _t_w) = l.write(&mut t_r);
}
