// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Collecting every vCPU while holding one vCPU's mutex (instead of the VM lock).
use vm_lock::{lock_all_vcpus, OrderedMutex, Paused, Root, VcpuMutex};

fn main() {
    let vcpus: Vec<OrderedMutex<VcpuMutex, u32>> = (0..2).map(OrderedMutex::new).collect();
    let mut root = Root::new().unwrap();
    let paused = Paused::new(root.token(), &vcpus);
    let (_v0, mut t_v0) = vcpus[0].lock(root.token());
    let (_all, _t) = lock_all_vcpus(&mut t_v0, &paused);
}
