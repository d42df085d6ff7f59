// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Snapshot capture/restore of KVM vCPU and VM state on real KVM.
//!
//! Runs where /dev/kvm works; with XEN_ON_KVM_REQUIRE_KVM=1 (CI) a missing
//! /dev/kvm fails the test instead of skipping it.

use std::io::Cursor;

use kvm_bindings::{kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES, KVM_MP_STATE_RUNNABLE};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use xen_vmm::snapshot::kvm_state::{VcpuState, VmKvmState};
use xen_vmm::snapshot::memory::MemoryState;
use xen_vmm::snapshot::xen_state::XenVcpuState;
use xen_vmm::snapshot::{write_snapshot, SnapshotReader, VmSnapshot};

const MSR_IA32_SYSENTER_CS: u32 = 0x174;
const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const MSR_IA32_TSC: u32 = 0x10;

fn kvm() -> Option<Kvm> {
    match Kvm::new() {
        Ok(k) => Some(k),
        Err(e) => {
            if std::env::var("XEN_ON_KVM_REQUIRE_KVM").is_ok_and(|v| v == "1") {
                panic!("XEN_ON_KVM_REQUIRE_KVM=1 but /dev/kvm cannot be opened: {e}");
            }
            eprintln!("SKIPPED: /dev/kvm unavailable ({e})");
            None
        }
    }
}

/// A VM with in-kernel irqchip and PIT, guest memory, and one vCPU with the
/// host-supported CPUID.
fn new_vm(kvm: &Kvm, mem: &GuestMemoryMmap) -> (VmFd, VcpuFd) {
    let vm = kvm.create_vm().unwrap();
    vm.create_irq_chip().unwrap();
    vm.create_pit2(kvm_bindings::kvm_pit_config::default())
        .unwrap();
    for (slot, region) in mem.iter().enumerate() {
        let host = mem.get_host_address(region.start_addr()).unwrap();
        let r = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the region is a live mmap of `region.len()` bytes owned by `mem`,
        // which outlives the VM in every test.
        unsafe { vm.set_user_memory_region(r) }.unwrap();
    }
    let vcpu = vm.create_vcpu(0).unwrap();
    let cpuid = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).unwrap();
    vcpu.set_cpuid2(&cpuid).unwrap();
    (vm, vcpu)
}

fn layout() -> MemoryState {
    MemoryState {
        regions: vec![xen_vmm::snapshot::memory::MemoryRegionState {
            guest_addr: 0,
            size: 0x10000,
        }],
    }
}

/// Real-mode guest at 0x1000: `xor ax,ax; l: inc ax; out 0x10,al; jmp l`.
const GUEST: [u8; 7] = [0x31, 0xc0, 0x40, 0xe6, 0x10, 0xeb, 0xfb];

fn setup_real_mode(vcpu: &VcpuFd) {
    let mut sregs = vcpu.get_sregs().unwrap();
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.set_sregs(&sregs).unwrap();
    let mut regs = vcpu.get_regs().unwrap();
    regs.rip = 0x1000;
    regs.rflags = 2;
    vcpu.set_regs(&regs).unwrap();
}

fn next_out(vcpu: &mut VcpuFd) -> u8 {
    loop {
        match vcpu.run().unwrap() {
            VcpuExit::IoOut(0x10, data) => return data[0],
            VcpuExit::IoOut(..) | VcpuExit::IoIn(..) => {}
            other => panic!("unexpected exit {other:?}"),
        }
    }
}

fn msr(state: &VcpuState, index: u32) -> Option<u64> {
    state.msrs.iter().find(|m| m.index == index).map(|m| m.data)
}

#[test]
fn vcpu_state_capture_restore_on_real_kvm() {
    let Some(kvm) = kvm() else { return };
    let mem = layout().create_guest_memory().unwrap();
    let (vm, vcpu) = new_vm(&kvm, &mem);

    let mut regs = vcpu.get_regs().unwrap();
    regs.rax = 0x1111;
    regs.r15 = 0xdead_beef_cafe;
    regs.rip = 0x4321;
    regs.rflags = 0x202;
    vcpu.set_regs(&regs).unwrap();
    let mut sregs = vcpu.get_sregs().unwrap();
    sregs.cs.base = 0x10000;
    sregs.cs.selector = 0x1000;
    sregs.ds.base = 0x2000;
    sregs.gdt.base = 0x500;
    sregs.gdt.limit = 0x27;
    sregs.cr2 = 0xabcd;
    vcpu.set_sregs(&sregs).unwrap();
    let mut fpu = vcpu.get_fpu().unwrap();
    fpu.xmm[3] = [0x5a; 16];
    fpu.fcw = 0x37f;
    vcpu.set_fpu(&fpu).unwrap();
    let msrs = kvm_bindings::Msrs::from_entries(&[
        kvm_bindings::kvm_msr_entry {
            index: MSR_IA32_SYSENTER_CS,
            data: 0x10,
            ..Default::default()
        },
        kvm_bindings::kvm_msr_entry {
            index: MSR_IA32_SYSENTER_ESP,
            data: 0x8000_1234,
            ..Default::default()
        },
        kvm_bindings::kvm_msr_entry {
            index: MSR_KERNEL_GS_BASE,
            data: 0xffff_8000_0000_1000,
            ..Default::default()
        },
    ])
    .unwrap();
    assert_eq!(vcpu.set_msrs(&msrs).unwrap(), 3);
    let mut lapic = vcpu.get_lapic().unwrap();
    // Task priority register (offset 0x80).
    lapic.regs[0x80] = 0x20;
    vcpu.set_lapic(&lapic).unwrap();

    let captured = VcpuState::capture(&vcpu, &kvm, 0).unwrap();
    captured.validate().unwrap();
    assert_eq!(captured.regs.gprs[0], 0x1111);
    assert_eq!(captured.regs.gprs[15], 0xdead_beef_cafe);
    assert_eq!(captured.regs.rip, 0x4321);
    assert_eq!(captured.sregs.segments[0].base, 0x10000);
    assert_eq!(captured.sregs.cr[1], 0xabcd);
    assert_eq!(msr(&captured, MSR_IA32_SYSENTER_CS), Some(0x10));
    assert_eq!(
        msr(&captured, MSR_KERNEL_GS_BASE),
        Some(0xffff_8000_0000_1000)
    );
    assert!(msr(&captured, MSR_IA32_TSC).is_some());
    assert!(captured.msrs.len() > 10, "{} MSRs", captured.msrs.len());
    assert_eq!(captured.lapic.as_ref().unwrap()[0x80], 0x20);
    assert!(!captured.cpuid.is_empty());
    let vm_state = VmKvmState::capture(&vm).unwrap();
    assert_eq!(vm_state.irqchips.len(), 3);
    assert!(vm_state.pit.is_some());

    // Restore into a fresh VM and compare what KVM reports back.
    let (vm2, vcpu2) = new_vm(&kvm, &mem);
    vm_state.restore(&vm2).unwrap();
    captured.restore(&vcpu2).unwrap();
    let again = VcpuState::capture(&vcpu2, &kvm, 0).unwrap();
    assert_eq!(again.regs, captured.regs);
    assert_eq!(again.sregs, captured.sregs);
    assert_eq!(again.fpu.xmm[3], [0x5a; 16]);
    assert_eq!(again.xsave, captured.xsave);
    assert_eq!(again.xcrs, captured.xcrs);
    assert_eq!(again.lapic, captured.lapic);
    assert_eq!(again.events, captured.events);
    assert_eq!(again.mp_state, captured.mp_state);
    assert_eq!(again.cpuid, captured.cpuid);
    for m in &captured.msrs {
        if m.index == MSR_IA32_TSC {
            continue; // advances
        }
        assert_eq!(msr(&again, m.index), Some(m.data), "MSR {:#x}", m.index);
    }
    let vm_again = VmKvmState::capture(&vm2).unwrap();
    assert_eq!(vm_again.irqchips, vm_state.irqchips);

    // A state KVM refuses gives an error, not a panic.
    let mut bad = captured.clone();
    bad.sregs.cr[3] = u64::MAX; // reserved CR3 bits
    bad.sregs.cr[0] |= 0x8000_0001; // paging
    bad.sregs.efer = 0x500; // LME|LMA
    let (_vm3, vcpu3) = new_vm(&kvm, &mem);
    assert!(bad.restore(&vcpu3).is_err());
}

#[test]
fn running_guest_continues_after_restore_in_fresh_vm() {
    let Some(kvm) = kvm() else { return };
    let mem = layout().create_guest_memory().unwrap();
    mem.write_slice(&GUEST, GuestAddress(0x1000)).unwrap();
    let (vm, mut vcpu) = new_vm(&kvm, &mem);
    setup_real_mode(&vcpu);
    for expected in 1..=5u8 {
        assert_eq!(next_out(&mut vcpu), expected);
    }
    // Snapshot mid-run, then change the guest code in the original memory:
    // the restored VM must run what was snapshotted.
    let state = VmSnapshot {
        memory: MemoryState::of(&mem),
        vm: VmKvmState::capture(&vm).unwrap(),
        vcpus: vec![VcpuState::capture(&vcpu, &kvm, 0).unwrap()],
        xen: xen_vmm::snapshot::xen_state::XenState {
            vcpus: vec![XenVcpuState {
                online: true,
                ..Default::default()
            }],
            ..Default::default()
        },
    };
    assert_eq!(state.vcpus[0].mp_state, KVM_MP_STATE_RUNNABLE);
    let mut file = Vec::new();
    write_snapshot(&mut file, &state, &mem).unwrap();
    mem.write_slice(&[0xf4; 7], GuestAddress(0x1000)).unwrap();
    drop(vcpu);
    drop(vm);

    let reader = SnapshotReader::open(Cursor::new(&file)).unwrap();
    let (restored, mem2) = reader.into_guest_memory().unwrap();
    let (vm2, mut vcpu2) = new_vm(&kvm, &mem2);
    restored.vm.restore(&vm2).unwrap();
    restored.vcpus[0].restore(&vcpu2).unwrap();
    for expected in 6..=20u8 {
        assert_eq!(next_out(&mut vcpu2), expected);
    }
}

/// The VMM core runs without an in-kernel irqchip (it injects with
/// KVM_INTERRUPT): capture must then report no LAPIC/irqchip/PIT, and the
/// state must still restore into a fresh VM of the same kind.
#[test]
fn capture_restore_without_in_kernel_irqchip() {
    let Some(kvm) = kvm() else { return };
    let mem = layout().create_guest_memory().unwrap();
    let new_plain_vm = || {
        let vm = kvm.create_vm().unwrap();
        let vcpu = vm.create_vcpu(0).unwrap();
        let cpuid = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).unwrap();
        vcpu.set_cpuid2(&cpuid).unwrap();
        (vm, vcpu)
    };
    let (vm, vcpu) = new_plain_vm();
    let mut sregs = vcpu.get_sregs().unwrap();
    sregs.interrupt_bitmap[0] = 1 << 0x31; // a pending external interrupt
    vcpu.set_sregs(&sregs).unwrap();
    let vm_state = VmKvmState::capture(&vm).unwrap();
    assert!(vm_state.irqchips.is_empty());
    assert!(vm_state.pit.is_none());
    let state = VcpuState::capture(&vcpu, &kvm, 0).unwrap();
    assert!(state.lapic.is_none());
    assert_eq!(state.sregs.interrupt_bitmap[0], 1 << 0x31);

    let (vm2, vcpu2) = new_plain_vm();
    vm_state.restore(&vm2).unwrap();
    state.restore(&vcpu2).unwrap();
    let again = VcpuState::capture(&vcpu2, &kvm, 0).unwrap();
    assert_eq!(again.sregs, state.sregs);
    assert_eq!(again.regs, state.regs);
    drop(mem);
}
