// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Reusing the outer (VmLock) token to take a second vCPU mutex while the first is held.
use vm_lock::{OrderedMutex, Root, VcpuMutex, VmLock};

fn main() {
    let vm = OrderedMutex::<VmLock, ()>::new(());
    let vcpus = [
        OrderedMutex::<VcpuMutex, u32>::new(0),
        OrderedMutex::<VcpuMutex, u32>::new(1),
    ];
    let mut root = Root::new().unwrap();
    let (_vm, mut t_vm) = vm.lock(root.token());
    let (v0, _t_v0) = vcpus[0].lock(&mut t_vm);
    let (v1, _t_v1) = vcpus[1].lock(&mut t_vm);
    drop((v0, v1));
}
