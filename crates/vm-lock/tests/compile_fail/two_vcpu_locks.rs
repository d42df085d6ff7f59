// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Holding two vCPU mutexes without lock_all_vcpus (two threads could take them in opposite order).
use vm_lock::{OrderedMutex, Root, VcpuMutex, VmLock};

fn main() {
    let vm = OrderedMutex::<VmLock, ()>::new(());
    let vcpus = [
        OrderedMutex::<VcpuMutex, u32>::new(0),
        OrderedMutex::<VcpuMutex, u32>::new(1),
    ];
    let mut root = Root::new().unwrap();
    let (_vm, mut t_vm) = vm.lock(root.token());
    let (_v0, mut t_v0) = vcpus[0].lock(&mut t_vm);
    let (_v1, _t_v1) = vcpus[1].lock(&mut t_v0);
}
