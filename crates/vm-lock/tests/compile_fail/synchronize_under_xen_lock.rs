// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Waiting for memory-map readers under the Xen leaf lock (a reader may be waiting for it).
use vm_lock::{MemoryMap, OrderedMutex, Root, XenLock};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let xen = OrderedMutex::<XenLock, u32>::new(0);
    let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap());
    let mut root = Root::new().unwrap();
    let (_xen, mut t_xen) = xen.lock(root.token());
    mem.synchronize(&mut t_xen);
}
