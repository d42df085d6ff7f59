// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Pausing the vCPUs (a handshake with their threads) while holding XenLock.
use vm_lock::{OrderedMutex, Paused, Root, VcpuMutex, XenLock};

fn main() {
    let xen = OrderedMutex::<XenLock, u32>::new(0);
    let vcpus: Vec<OrderedMutex<VcpuMutex, u32>> = (0..2).map(OrderedMutex::new).collect();
    let mut root = Root::new().unwrap();
    let (_x, mut t_xen) = xen.lock(root.token());
    let _paused = Paused::new(&mut t_xen, &vcpus);
}
