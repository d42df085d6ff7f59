// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercalls of a vCPU with paging on: pointers are guest-virtual and go
//! through `VcpuAccess::translate_gva` (non-canonical ones never do); and
//! the pvclock the platform writes from `VcpuAccess::tsc`.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{pvclock_scale, HypercallExit, NoVcpuAccess, TscReading, VcpuAccess};

/// The kernel's direct map: guest-virtual `KERNEL + gpa` is guest-physical `gpa`.
const KERNEL: u64 = 0xffff_8880_0000_0000;

/// Translates the direct map; counts the lookups; offers a TSC.
#[derive(Default)]
struct Access {
    lookups: Vec<u64>,
    /// Translate anything, dropping the high bits (a careless walker).
    permissive: bool,
    tsc: Option<TscReading>,
}

impl VcpuAccess for Access {
    fn translate_gva(&mut self, gva: u64) -> Option<u64> {
        self.lookups.push(gva);
        if self.permissive {
            return Some(gva & 0xff_ffff);
        }
        gva.checked_sub(KERNEL).filter(|&gpa| gpa < MEM)
    }

    fn tsc(&mut self) -> Option<TscReading> {
        self.tsc
    }
}

fn call(vm: &mut Vm, access: &mut dyn VcpuAccess, nr: u64, args: &[u64]) -> i64 {
    let r = regs64(nr, args);
    match vm.call_with(0, &r, true, access) {
        HypercallExit::Resume { rax } => rax as i64,
        other => panic!("{other:?}"),
    }
}

#[test]
fn pointers_are_translated_with_paging_on() {
    let mut vm = Vm::new(1);
    let mut a = Access::default();
    let extra = u64::from(XENVER_EXTRAVERSION);
    assert_eq!(
        call(
            &mut vm,
            &mut a,
            HYPERVISOR_XEN_VERSION,
            &[extra, KERNEL + BUF]
        ),
        0
    );
    assert_eq!(vm.read_bytes(BUF, 7), b".0-kvm\0");
    assert_eq!(a.lookups, vec![KERNEL + BUF]);
    // Not mapped: -EFAULT, nothing written.
    vm.write_bytes(BUF, &[0; 16]);
    assert_eq!(
        call(&mut vm, &mut a, HYPERVISOR_XEN_VERSION, &[extra, BUF]),
        err(errno::EFAULT)
    );
    assert_eq!(vm.read_bytes(BUF, 16), vec![0; 16]);
    // The same buffer through a paging-off call is guest-physical.
    assert_eq!(vm.hc(0, HYPERVISOR_XEN_VERSION, &[extra, BUF]), 0);
    assert_eq!(vm.read_bytes(BUF, 7), b".0-kvm\0");
    // A VMM without translation supports paging-off guests only.
    let r = regs64(HYPERVISOR_XEN_VERSION, &[extra, KERNEL + BUF]);
    assert_eq!(
        vm.call_with(0, &r, true, &mut NoVcpuAccess),
        HypercallExit::Resume {
            rax: err(errno::EFAULT) as u64
        }
    );
}

#[test]
fn non_canonical_pointers_fault_without_a_lookup() {
    let mut vm = Vm::new(1);
    let mut a = Access {
        permissive: true,
        ..Default::default()
    };
    let extra = u64::from(XENVER_EXTRAVERSION);
    for gva in [1u64 << 47, 0x0000_8000_0000_2000, 0xfff0_0000_0000_2000] {
        assert_eq!(
            call(&mut vm, &mut a, HYPERVISOR_XEN_VERSION, &[extra, gva]),
            err(errno::EFAULT),
            "{gva:#x}"
        );
    }
    assert_eq!(a.lookups, Vec::<u64>::new());
    // Canonical ones are asked for.
    assert_eq!(
        call(
            &mut vm,
            &mut a,
            HYPERVISOR_XEN_VERSION,
            &[extra, 0xffff_ffff_ff00_2000]
        ),
        0
    );
    assert_eq!(a.lookups, vec![0xffff_ffff_ff00_2000]);
}

#[test]
fn argument_structs_and_areas_are_translated() {
    let mut vm = Vm::new(1);
    let mut a = Access::default();
    // add_to_physmap through a virtual pointer (the GFN itself is physical).
    vm.write(
        ARGS,
        XenAddToPhysmap64 {
            domid: DOMID_SELF,
            size: 0,
            space: XENMAPSPACE_SHARED_INFO,
            idx: 0,
            gpfn: SHINFO_GFN,
        },
    );
    let add = u64::from(XENMEM_ADD_TO_PHYSMAP);
    assert_eq!(
        call(&mut vm, &mut a, HYPERVISOR_MEMORY_OP, &[add, KERNEL + ARGS]),
        0
    );
    assert_eq!(vm.read::<u32>(SHINFO + 3072), 2, "wc_version");
    // A runstate area at a virtual address.
    vm.write(ARGS, VcpuRegisterRunstateMemoryArea { addr: KERNEL + BUF });
    vm.write_bytes(BUF, &[0xff; 48]);
    let op = u64::from(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA);
    assert_eq!(
        call(&mut vm, &mut a, HYPERVISOR_VCPU_OP, &[op, 0, KERNEL + ARGS]),
        0
    );
    let rs: VcpuRunstateInfo64 = vm.read(BUF);
    assert_eq!((rs.state, rs.time), (RUNSTATE_RUNNING, [0; 4]));
}

#[test]
fn pvclock_from_the_callers_tsc() {
    let mut vm = Vm::new(2);
    vm.host.advance(7 * MS);
    let reading = TscReading {
        tsc: 123_456_789,
        khz: 2_000_000,
    };
    let mut a = Access {
        tsc: Some(reading),
        ..Default::default()
    };
    let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, SHINFO_GFN);
    assert_eq!(
        vm.call_with(0, &r, false, &mut a),
        HypercallExit::Resume { rax: 0 }
    );
    let (mul, shift) = pvclock_scale(2_000_000);
    for v in 0..2 {
        // vcpu_info.time is at offset 32 of the 64-bit vcpu_info.
        let t: VcpuTimeInfo = vm.read(Vm::vcpu_info(v) + 32);
        assert_eq!(t.version % 2, 0, "vCPU {v}: version even when done");
        assert_ne!(t.version, 0, "vCPU {v}");
        assert_eq!(t.tsc_timestamp, reading.tsc, "vCPU {v}");
        assert_eq!(t.system_time, 7 * MS, "vCPU {v}");
        assert_eq!((t.tsc_to_system_mul, t.tsc_shift), (mul, shift), "vCPU {v}");
        // The default configuration does not claim a stable TSC.
        assert_eq!(t.flags & XEN_PVCLOCK_TSC_STABLE_BIT, 0);
    }
    // A time area gets the same, at once.
    vm.write(ARGS, VcpuRegisterTimeMemoryArea { addr: BUF });
    let op = u64::from(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA);
    vm.host.advance(MS);
    let r = regs64(HYPERVISOR_VCPU_OP, &[op, 1, ARGS]);
    assert_eq!(
        vm.call_with(0, &r, false, &mut a),
        HypercallExit::Resume { rax: 0 }
    );
    let t: VcpuTimeInfo = vm.read(BUF);
    assert_eq!((t.tsc_timestamp, t.system_time), (reading.tsc, 8 * MS));
    // Without a TSC, no pvclock is written. (One VM per thread at a time:
    // `XenPlatform::new` takes the thread's vm-lock root for its own steps.)
    drop(vm);
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    assert_eq!(
        vm.read::<VcpuTimeInfo>(Vm::vcpu_info(0) + 32),
        VcpuTimeInfo::default()
    );
}
