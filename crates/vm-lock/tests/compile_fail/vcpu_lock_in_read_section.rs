// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Taking a vCPU mutex inside a memory-map read section.
use vm_lock::{MemoryMap, OrderedMutex, Root, VcpuMutex};
use vm_memory::{GuestAddress, GuestMemoryMmap};

fn main() {
    let vcpu = OrderedMutex::<VcpuMutex, u32>::new(0);
    let mem = MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap());
    let mut root = Root::new().unwrap();
    let (_snap, mut t_read) = mem.read(root.token());
    let (_vcpu, _t_vcpu) = vcpu.lock(&mut t_read);
}
