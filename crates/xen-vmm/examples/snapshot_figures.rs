// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Prints snapshot size and save/restore time for a 256 MiB guest with two
//! vCPUs on real KVM (guest memory laid out as the VMM does: 640 KiB low RAM
//! and RAM from 1 MiB up, every page touched).
//!
//! Run: `cargo run --release -p xen-vmm --example snapshot_figures [MiB] [FILE]`

use std::time::Instant;

use kvm_bindings::{kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use xen_vmm::snapshot::kvm_state::{VcpuState, VmKvmState};
use xen_vmm::snapshot::memory::{MemoryRegionState, MemoryState};
use xen_vmm::snapshot::xen_state::{XenState, XenVcpuState};
use xen_vmm::snapshot::{open_file, save_to_file, VmSnapshot};

fn new_vm(kvm: &Kvm, mem: &GuestMemoryMmap, vcpus: u32) -> (VmFd, Vec<VcpuFd>) {
    let vm = kvm.create_vm().expect("KVM_CREATE_VM");
    vm.create_irq_chip().expect("KVM_CREATE_IRQCHIP");
    for (slot, region) in mem.iter().enumerate() {
        let host = mem
            .get_host_address(region.start_addr())
            .expect("host address");
        let r = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: `mem` maps the region and outlives the VM in this program.
        unsafe { vm.set_user_memory_region(r) }.expect("KVM_SET_USER_MEMORY_REGION");
    }
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .expect("KVM_GET_SUPPORTED_CPUID");
    let fds = (0..vcpus)
        .map(|i| {
            let fd = vm.create_vcpu(u64::from(i)).expect("KVM_CREATE_VCPU");
            fd.set_cpuid2(&cpuid).expect("KVM_SET_CPUID2");
            fd
        })
        .collect();
    (vm, fds)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let path = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("xen-vmm-snapshot-figures.snap"));
    let kvm = match Kvm::new() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("/dev/kvm unavailable ({e}); no figures");
            std::process::exit(1);
        }
    };
    let layout = MemoryState {
        regions: vec![
            MemoryRegionState {
                guest_addr: 0,
                size: 0xA_0000,
            },
            MemoryRegionState {
                guest_addr: 0x10_0000,
                size: (mib << 20) - 0x10_0000,
            },
        ],
    };
    let mem = layout.create_guest_memory().expect("guest memory");
    // Touch every page with distinct data so that all of it is resident.
    let mut page = [0u8; 4096];
    for r in &layout.regions {
        for gpa in (r.guest_addr..r.guest_addr + r.size).step_by(4096) {
            page[..8].copy_from_slice(&gpa.to_le_bytes());
            page[8] = page[8].wrapping_add(1);
            mem.write_slice(&page, GuestAddress(gpa)).expect("write");
        }
    }
    let (vm, vcpus) = new_vm(&kvm, &mem, 2);

    let t0 = Instant::now();
    let state = VmSnapshot {
        memory: MemoryState::of(&mem),
        vm: VmKvmState::capture(&vm).expect("capture VM"),
        vcpus: vcpus
            .iter()
            .enumerate()
            .map(|(i, fd)| VcpuState::capture(fd, &kvm, i as u32).expect("capture vCPU"))
            .collect(),
        xen: XenState {
            long_mode: true,
            vcpus: vec![
                XenVcpuState {
                    online: true,
                    ..Default::default()
                };
                2
            ],
            ..Default::default()
        },
    };
    let capture = t0.elapsed();
    let t1 = Instant::now();
    let stats = save_to_file(&path, &state, &mem).expect("save");
    let save = t1.elapsed();

    let t2 = Instant::now();
    let (restored, mem2) = open_file(&path)
        .expect("open")
        .into_guest_memory()
        .expect("load memory");
    let load = t2.elapsed();
    let t3 = Instant::now();
    let (vm2, vcpus2) = new_vm(&kvm, &mem2, 2);
    restored.vm.restore(&vm2).expect("restore VM");
    for (s, fd) in restored.vcpus.iter().zip(&vcpus2) {
        s.restore(fd).expect("restore vCPU");
    }
    let apply = t3.elapsed();

    // Spot-check the restored memory.
    let mut b = [0u8; 8];
    for gpa in [0u64, 0x9_f000, 0x10_0000, (mib << 20) - 4096] {
        mem2.read_slice(&mut b, GuestAddress(gpa)).expect("read");
        assert_eq!(
            u64::from_le_bytes(b),
            gpa,
            "restored memory differs at {gpa:#x}"
        );
    }

    let secs = |d: std::time::Duration| d.as_secs_f64();
    let mb = stats.memory_len as f64 / (1 << 20) as f64;
    println!("guest: {mib} MiB RAM, 2 vCPUs");
    println!(
        "snapshot file: {} bytes ({:.1} MiB): state {} bytes, memory {} bytes",
        stats.file_len,
        stats.file_len as f64 / (1 << 20) as f64,
        stats.state_len,
        stats.memory_len
    );
    println!(
        "save: capture {:.2} ms + write+fsync {:.0} ms ({:.0} MiB/s)",
        secs(capture) * 1e3,
        secs(save) * 1e3,
        mb / secs(save)
    );
    println!(
        "restore: read+check {:.0} ms ({:.0} MiB/s) + apply {:.2} ms",
        secs(load) * 1e3,
        mb / secs(load),
        secs(apply) * 1e3
    );
    let _ = std::fs::remove_file(&path);
}
