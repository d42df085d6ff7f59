// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Several threads take VmLock -> vCPU -> XenLock (and read-section, page-cache, all-vCPU and
//! memory-map-replace) paths at random; the run must finish (no deadlock) with every increment
//! accounted for (mutual exclusion held).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use vm_lock::{
    lock_all_vcpus, MemoryMap, OrderedMutex, OrderedRwLock, PageCache, Paused, Root, VcpuMutex,
    VmLock, XenLock,
};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

const THREADS: usize = 6;
const VCPUS: usize = 4;
const ITERATIONS: u64 = 20_000;
/// A hang guard, not a speed check: a deadlock turns into a failure instead of a stuck CI run.
const HANG_GUARD: Duration = Duration::from_secs(300);

struct Vm {
    vm: OrderedMutex<VmLock, u64>,
    vcpus: Vec<OrderedMutex<VcpuMutex, u64>>,
    xen: OrderedMutex<XenLock, u64>,
    pc0: OrderedRwLock<PageCache<0>, u64>,
    pc1: OrderedMutex<PageCache<1>, u64>,
    mem: MemoryMap<GuestMemoryMmap>,
    replaced: AtomicU64,
}

fn map(size: usize) -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size)]).unwrap()
}

/// xorshift64: deterministic per-thread choice of paths.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Expected increments per counter, returned by each worker.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    vm: u64,
    vcpu: [u64; VCPUS],
    xen: u64,
    pc0: u64,
    pc1: u64,
}

fn worker(vm: &Vm, seed: u64) -> Counts {
    let mut root = Root::new().unwrap();
    let mut rng = seed | 1;
    let mut c = Counts::default();
    // No vCPU threads here: the vCPU mutexes are only held briefly by the workers.
    let paused = Paused::new(root.token(), &vm.vcpus);
    for _ in 0..ITERATIONS {
        let r = next(&mut rng);
        let i = (r >> 8) as usize % VCPUS;
        match r % 6 {
            // VmLock -> vCPU -> XenLock.
            0 => {
                let (mut g_vm, mut t_vm) = vm.vm.lock(root.token());
                let (mut g_v, mut t_v) = vm.vcpus[i].lock(&mut t_vm);
                let (mut g_x, _t_x) = vm.xen.lock(&mut t_v);
                *g_vm += 1;
                *g_v += 1;
                *g_x += 1;
                c.vm += 1;
                c.vcpu[i] += 1;
                c.xen += 1;
            }
            // vCPU -> read section -> XenLock -> PageCache<0> -> PageCache<1>.
            1 => {
                let (mut g_v, mut t_v) = vm.vcpus[i].lock(root.token());
                let (snap, mut t_r) = vm.mem.read(&mut t_v);
                let v: u64 = snap.read_obj(GuestAddress(0x100)).unwrap();
                let (mut g_x, mut t_x) = vm.xen.lock(&mut t_r);
                let (mut p0, mut t_p0) = vm.pc0.write(&mut t_x);
                let (mut p1, _t_p1) = vm.pc1.lock(&mut t_p0);
                snap.write_obj(v.wrapping_add(1), GuestAddress(0x100))
                    .unwrap();
                *g_v += 1;
                *g_x += 1;
                *p0 += 1;
                *p1 += 1;
                c.vcpu[i] += 1;
                c.xen += 1;
                c.pc0 += 1;
                c.pc1 += 1;
            }
            // VmLock -> every vCPU -> XenLock.
            2 => {
                let (mut g_vm, mut t_vm) = vm.vm.lock(root.token());
                let (mut guards, mut t_v) = lock_all_vcpus(&mut t_vm, &paused);
                let (mut g_x, _t_x) = vm.xen.lock(&mut t_v);
                for (k, g) in guards.iter_mut().enumerate() {
                    **g += 1;
                    c.vcpu[k] += 1;
                }
                *g_vm += 1;
                *g_x += 1;
                c.vm += 1;
                c.xen += 1;
            }
            // Memory-map writer: VmLock -> (slots) replace -> synchronize under the VM lock.
            3 if r % 64 == 3 => {
                let (mut g_vm, mut t_vm) = vm.vm.lock(root.token());
                vm.mem.replace(&mut t_vm, map(0x1000));
                vm.mem.synchronize(&mut t_vm);
                vm.replaced.fetch_add(1, Ordering::Relaxed);
                *g_vm += 1;
                c.vm += 1;
            }
            // Read section -> page caches (readers of the page cache).
            3 | 4 => {
                let (snap, mut t_r) = vm.mem.read(root.token());
                let (p0, mut t_p0) = vm.pc0.read(&mut t_r);
                let (mut p1, _t) = vm.pc1.lock(&mut t_p0);
                assert!(snap.check_address(GuestAddress(0xfff)).is_some());
                let _ = *p0;
                *p1 += 1;
                c.pc1 += 1;
            }
            // XenLock alone (skipping levels).
            _ => {
                let (mut g_x, _t) = vm.xen.lock(root.token());
                *g_x += 1;
                c.xen += 1;
            }
        }
    }
    c
}

#[test]
fn lock_paths_from_many_threads_finish_without_deadlock() {
    let vm = Arc::new(Vm {
        vm: OrderedMutex::new(0),
        vcpus: (0..VCPUS).map(|_| OrderedMutex::new(0)).collect(),
        xen: OrderedMutex::new(0),
        pc0: OrderedRwLock::new(0),
        pc1: OrderedMutex::new(0),
        mem: MemoryMap::new(map(0x1000)),
        replaced: AtomicU64::new(0),
    });

    let (tx, rx) = channel();
    for t in 0..THREADS {
        let vm = Arc::clone(&vm);
        let tx = tx.clone();
        thread::spawn(move || {
            let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t as u64 + 1);
            tx.send(worker(&vm, seed)).unwrap();
        });
    }
    drop(tx);

    let mut total = Counts::default();
    for _ in 0..THREADS {
        let c = rx
            .recv_timeout(HANG_GUARD)
            .expect("a worker did not finish: deadlock (or a worker panicked)");
        total.vm += c.vm;
        total.xen += c.xen;
        total.pc0 += c.pc0;
        total.pc1 += c.pc1;
        for k in 0..VCPUS {
            total.vcpu[k] += c.vcpu[k];
        }
    }

    let mut root = Root::new().unwrap();
    assert_eq!(*vm.vm.lock(root.token()).0, total.vm);
    assert_eq!(*vm.xen.lock(root.token()).0, total.xen);
    assert_eq!(*vm.pc0.read(root.token()).0, total.pc0);
    assert_eq!(*vm.pc1.lock(root.token()).0, total.pc1);
    for k in 0..VCPUS {
        assert_eq!(*vm.vcpus[k].lock(root.token()).0, total.vcpu[k]);
    }
    // The paths all ran.
    assert!(total.vm > 0 && total.pc0 > 0 && total.pc1 > 0);
    assert!(
        vm.replaced.load(Ordering::Relaxed) > 0,
        "no map replace ran"
    );
    assert_eq!(vm.mem.generation(), vm.replaced.load(Ordering::Relaxed));
    vm.mem.synchronize(root.token());
    assert_eq!(vm.mem.retired_in_use(), 0);
}
