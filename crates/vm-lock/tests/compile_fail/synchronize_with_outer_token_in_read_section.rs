// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Using the outer token to synchronize while the read section (which borrows it) is still live.
use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap());
    let mut root = Root::new().unwrap();
    let token = root.token();
    let (snap, _t_read) = mem.read(token);
    mem.synchronize(token);
    drop(snap);
}
