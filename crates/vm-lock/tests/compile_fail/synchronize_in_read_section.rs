// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Waiting for memory-map readers while being one (synchronize_srcu inside srcu_read_lock).
use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap());
    let mut root = Root::new().unwrap();
    let (_snap, mut t_read) = mem.read(root.token());
    mem.synchronize(&mut t_read);
}
