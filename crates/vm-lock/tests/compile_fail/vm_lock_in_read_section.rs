// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Taking the VM lock inside a memory-map read section (kvm->lock inside kvm->srcu).
use vm_lock::{MemoryMap, OrderedMutex, Root, VmLock};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let vm = OrderedMutex::<VmLock, u32>::new(0);
    let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap());
    let mut root = Root::new().unwrap();
    let (_snap, mut t_read) = mem.read(root.token());
    let (_vm, _t_vm) = vm.lock(&mut t_read);
}
