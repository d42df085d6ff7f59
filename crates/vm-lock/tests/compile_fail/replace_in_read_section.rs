// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Replacing the memory map (SlotsLock) from inside a read section of it.
use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let map = || GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap();
    let mem = MemoryMap::new(map());
    let mut root = Root::new().unwrap();
    let (_snap, mut t_read) = mem.read(root.token());
    mem.replace(&mut t_read, map());
}
