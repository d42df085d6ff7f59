// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// The seed bug: taking the VM lock while holding a vCPU mutex (vcpu->mutex, then kvm->lock).
use vm_lock::{OrderedMutex, Root, VcpuMutex, VmLock};

fn main() {
    let vm = OrderedMutex::<VmLock, u32>::new(0);
    let vcpu = OrderedMutex::<VcpuMutex, u32>::new(0);
    let mut root = Root::new().unwrap();
    let (_vcpu, mut t_vcpu) = vcpu.lock(root.token());
    let (_vm, _t_vm) = vm.lock(&mut t_vcpu);
}
