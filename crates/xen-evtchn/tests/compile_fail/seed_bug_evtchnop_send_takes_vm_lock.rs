// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// The seed bug, written against the real API: the EVTCHNOP_send path of a vCPU thread (vCPU
// mutex, then one memory-map read section for the whole hypercall) takes the VM lock, here to
// look at the VM's configuration after sending. In KVM this was vcpu->mutex + kvm->srcu, then
// kvm->lock: a deadlock with any VM-wide path that takes kvm->lock and then the vCPUs.
use std::sync::Arc;

use vm_lock::{MemoryMap, OrderedMutex, Root, VcpuMutex, VmLock};
use vm_memory::{GuestAddress, GuestMemoryMmap};
use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink};
use xen_shinfo_cache::XenPages;

struct Sink;
impl UpcallSink for Sink {
    fn raise(&self, _vcpu: u32, _how: UpcallKind) {}
    fn poll_wake(&self, _vcpu: u32) {}
}

struct Vm {
    config: OrderedMutex<VmLock, u32>,
    vcpus: Vec<OrderedMutex<VcpuMutex, ()>>,
    mem: MemoryMap<GuestMemoryMmap>,
    evtchn: Evtchn<GuestMemoryMmap, Sink>,
}

fn evtchnop_send(vm: &Vm, root: &mut Root, vcpu: usize, port: u32) -> u32 {
    let (_vcpu, mut t_vcpu) = vm.vcpus[vcpu].lock(root.token());
    let (snap, mut t) = vm.mem.read(&mut t_vcpu);
    vm.evtchn.send_in(&mut t, &snap, port).unwrap();
    let (config, _t) = vm.config.lock(&mut t);
    *config
}

fn main() {
    let mem = MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap());
    let pages = Arc::new(XenPages::new(1));
    let evtchn = Evtchn::new(EvtchnConfig::default(), mem.clone(), pages, Sink);
    let vm = Vm { config: OrderedMutex::new(0), vcpus: vec![OrderedMutex::new(())], mem, evtchn };
    let mut root = Root::new().unwrap();
    let port = vm.evtchn.bind_ipi(root.token(), 0).unwrap();
    evtchnop_send(&vm, &mut root, 0, port);
}
