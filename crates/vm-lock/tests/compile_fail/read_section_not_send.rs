// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// A read section speaks for the thread that entered it: it cannot move to another thread.
use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap());
    let mut root = Root::new().unwrap();
    let (snap, _t) = mem.read(root.token());
    std::thread::scope(|s| {
        s.spawn(move || drop(snap));
    });
}
