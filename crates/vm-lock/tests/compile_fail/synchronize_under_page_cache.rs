// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Waiting for memory-map readers under a page-cache lock (a reader may be waiting for it).
use vm_lock::{MemoryMap, OrderedRwLock, PageCache, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let cache = OrderedRwLock::<PageCache<0>, u64>::new(0);
    let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap());
    let mut root = Root::new().unwrap();
    let (_c, mut t_pc) = cache.write(root.token());
    mem.synchronize(&mut t_pc);
}
