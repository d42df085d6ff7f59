// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! vCPU runstate: `VCPUOP_register_runstate_memory_area` fills the area at
//! once; `XenPlatform::set_runstate` accounts the time spent in the state
//! left on the host clock; `VMASST_TYPE_runstate_update_flag` is offered.

mod common;

use common::*;
use xen_abi::*;

fn register(vm: &mut Vm, vcpu: u32, addr: u64) -> i64 {
    vm.write(ARGS, VcpuRegisterRunstateMemoryArea { addr });
    let op = u64::from(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA);
    vm.hc(vcpu, HYPERVISOR_VCPU_OP, &[op, u64::from(vcpu), ARGS])
}

fn set(vm: &mut Vm, vcpu: u32, state: u32) {
    vm.platform.set_runstate(vm.root.token(), vcpu, state);
}

#[test]
fn runstate_area_follows_the_vcpu_loop() {
    let mut vm = Vm::new(2);
    vm.host.advance(5 * MS);
    set(&mut vm, 1, RUNSTATE_RUNNABLE);
    vm.write_bytes(BUF, &[0xff; 48]);
    assert_eq!(register(&mut vm, 1, BUF), 0);
    // Filled at once with what was accounted so far.
    let rs: VcpuRunstateInfo64 = vm.read(BUF);
    assert_eq!(rs.state, RUNSTATE_RUNNABLE);
    assert_eq!(rs.state_entry_time, 5 * MS);
    assert_eq!(rs.time, [5 * MS, 0, 0, 0]);

    vm.host.advance(2 * MS);
    set(&mut vm, 1, RUNSTATE_RUNNING);
    vm.host.advance(3 * MS);
    set(&mut vm, 1, RUNSTATE_BLOCKED);
    let rs: VcpuRunstateInfo64 = vm.read(BUF);
    assert_eq!(rs.state, RUNSTATE_BLOCKED);
    assert_eq!(rs.state_entry_time, 10 * MS);
    assert_eq!(rs.time, [8 * MS, 2 * MS, 0, 0]);
    // The same state again changes nothing.
    vm.host.advance(MS);
    set(&mut vm, 1, RUNSTATE_BLOCKED);
    assert_eq!(vm.read::<VcpuRunstateInfo64>(BUF), rs);
    // vCPU 0 has no area: its changes write nothing here.
    set(&mut vm, 0, RUNSTATE_BLOCKED);
    assert_eq!(vm.read::<VcpuRunstateInfo64>(BUF), rs);
}

#[test]
fn runstate_update_flag() {
    let mut vm = Vm::new(1);
    let enable = u64::from(VMASST_CMD_ENABLE);
    let flag = u64::from(VMASST_TYPE_RUNSTATE_UPDATE_FLAG);
    assert_eq!(vm.hc(0, HYPERVISOR_VM_ASSIST, &[enable, flag]), 0);
    // Other types are not offered to HVM guests; types beyond 63 are invalid.
    for t in [0u64, 1, 4, 6, 63, 64, u64::from(u32::MAX)] {
        assert_eq!(
            vm.hc(0, HYPERVISOR_VM_ASSIST, &[enable, t]),
            err(errno::EINVAL),
            "type {t}"
        );
    }
    // Updates still end with the flag clear.
    assert_eq!(register(&mut vm, 0, BUF), 0);
    vm.host.advance(MS);
    set(&mut vm, 0, RUNSTATE_BLOCKED);
    let rs: VcpuRunstateInfo64 = vm.read(BUF);
    assert_eq!(rs.state_entry_time, MS, "XEN_RUNSTATE_UPDATE cleared");
}

#[test]
fn bad_runstate_areas() {
    let mut vm = Vm::new(1);
    // Outside RAM, straddling its end.
    assert_eq!(register(&mut vm, 0, MEM), err(errno::EFAULT));
    assert_eq!(register(&mut vm, 0, MEM - 8), err(errno::EFAULT));
    // Across a page boundary is fine (adjacent guest-physical pages).
    assert_eq!(register(&mut vm, 0, BUF + 0x1000 - 8), 0);
    vm.host.advance(MS);
    set(&mut vm, 0, RUNSTATE_BLOCKED);
    let rs: VcpuRunstateInfo64 = vm.read(BUF + 0x1000 - 8);
    assert_eq!((rs.state, rs.state_entry_time), (RUNSTATE_BLOCKED, MS));
    // 0 unregisters: later changes are not written.
    assert_eq!(register(&mut vm, 0, 0), 0);
    set(&mut vm, 0, RUNSTATE_RUNNING);
    assert_eq!(vm.read::<VcpuRunstateInfo64>(BUF + 0x1000 - 8), rs);
}
