// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Taking a vCPU mutex while holding the Xen state lock (a hypercall handler reaching back for its vCPU).
use vm_lock::{OrderedMutex, Root, VcpuMutex, XenLock};

fn main() {
    let xen = OrderedMutex::<XenLock, u32>::new(0);
    let vcpu = OrderedMutex::<VcpuMutex, u32>::new(0);
    let mut root = Root::new().unwrap();
    let (_xen, mut t_xen) = xen.lock(root.token());
    let (_vcpu, _t) = vcpu.lock(&mut t_xen);
}
