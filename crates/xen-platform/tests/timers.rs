// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen timers: `VCPUOP_set_singleshot_timer`, `set_timer_op`,
//! `VCPUOP_set_periodic_timer` and their stops reach `XenHost::set_timer`
//! with absolute deadlines on the host clock (boot instant + Xen system
//! time); `XenPlatform::timer_fired` delivers `VIRQ_TIMER`.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{TimerArm, TimerKind, UpcallKind};

const VEC: u8 = 0xf3;

fn arm(deadline_ns: u64, period_ns: u64) -> Option<TimerArm> {
    Some(TimerArm {
        deadline_ns,
        period_ns,
    })
}

/// A VM whose Xen system time is 7 ms.
fn vm_at_7ms(nr: u32) -> Vm {
    let vm = Vm::new(nr);
    vm.host.advance(7 * MS);
    assert_eq!(vm.platform.boot_ns(), i128::from(CLOCK_START));
    assert_eq!(vm.platform.system_time_ns(), 7 * MS);
    let _ = vm.events();
    vm
}

#[test]
fn singleshot_arms_at_boot_plus_xen_time() {
    let mut vm = vm_at_7ms(1);
    assert_eq!(vm.singleshot(0, 20 * MS, 0), 0);
    assert_eq!(
        vm.timers(),
        vec![(0, TimerKind::SingleShot, arm(CLOCK_START + 20 * MS, 0))]
    );
    // A deadline in the past is armed as it is (the host fires it at once).
    assert_eq!(vm.singleshot(0, 3 * MS, 0), 0);
    assert_eq!(
        vm.timers(),
        vec![(0, TimerKind::SingleShot, arm(CLOCK_START + 3 * MS, 0))]
    );
    // VCPU_SSHOTTMR_future with a past deadline: -ETIME, nothing armed.
    assert_eq!(
        vm.singleshot(0, 3 * MS, VCPU_SSHOTTMR_FUTURE),
        err(errno::ETIME)
    );
    assert_eq!(vm.timers(), vec![]);
    assert_eq!(vm.singleshot(0, 9 * MS, VCPU_SSHOTTMR_FUTURE), 0);
    assert_eq!(
        vm.timers(),
        vec![(0, TimerKind::SingleShot, arm(CLOCK_START + 9 * MS, 0))]
    );
    // Unknown flags: -EINVAL.
    assert_eq!(vm.singleshot(0, 9 * MS, 2), err(errno::EINVAL));
    assert_eq!(vm.timers(), vec![]);
    // Stop cancels.
    let stop = u64::from(VCPUOP_STOP_SINGLESHOT_TIMER);
    assert_eq!(vm.hc(0, HYPERVISOR_VCPU_OP, &[stop, 0, 0]), 0);
    assert_eq!(vm.timers(), vec![(0, TimerKind::SingleShot, None)]);
}

#[test]
fn singleshot_is_for_the_calling_vcpu_only() {
    let mut vm = vm_at_7ms(2);
    vm.write(
        ARGS,
        VcpuSetSingleshotTimer64 {
            timeout_abs_ns: 20 * MS,
            flags: 0,
            pad: 0,
        },
    );
    let set = u64::from(VCPUOP_SET_SINGLESHOT_TIMER);
    let stop = u64::from(VCPUOP_STOP_SINGLESHOT_TIMER);
    assert_eq!(
        vm.hc(0, HYPERVISOR_VCPU_OP, &[set, 1, ARGS]),
        err(errno::EINVAL)
    );
    assert_eq!(
        vm.hc(0, HYPERVISOR_VCPU_OP, &[stop, 1, 0]),
        err(errno::EINVAL)
    );
    assert_eq!(
        vm.hc(0, HYPERVISOR_VCPU_OP, &[set, 2, ARGS]),
        err(errno::ENOENT)
    );
    assert_eq!(vm.timers(), vec![]);
    // vCPU 1 for itself.
    assert_eq!(vm.hc(1, HYPERVISOR_VCPU_OP, &[set, 1, ARGS]), 0);
    assert_eq!(
        vm.timers(),
        vec![(1, TimerKind::SingleShot, arm(CLOCK_START + 20 * MS, 0))]
    );
}

#[test]
fn set_timer_op_deadlines() {
    let mut vm = vm_at_7ms(1);
    assert_eq!(vm.hc(0, HYPERVISOR_SET_TIMER_OP, &[30 * MS]), 0);
    assert_eq!(
        vm.timers(),
        vec![(0, TimerKind::SingleShot, arm(CLOCK_START + 30 * MS, 0))]
    );
    // 0 cancels.
    assert_eq!(vm.hc(0, HYPERVISOR_SET_TIMER_OP, &[0]), 0);
    assert_eq!(vm.timers(), vec![(0, TimerKind::SingleShot, None)]);
    // "Negative" (Linux's wrapped jiffies) or 2^50 ns ahead: 100 ms from now.
    let soon = arm(CLOCK_START + 7 * MS + 100 * MS, 0);
    for deadline in [u64::MAX, 1 << 63, 7 * MS + (1 << 50)] {
        assert_eq!(vm.hc(0, HYPERVISOR_SET_TIMER_OP, &[deadline]), 0);
        assert_eq!(
            vm.timers(),
            vec![(0, TimerKind::SingleShot, soon)],
            "{deadline:#x}"
        );
    }
    // Just under 2^50 ahead is taken as it is.
    let far = 7 * MS + (1 << 50) - 1;
    assert_eq!(vm.hc(0, HYPERVISOR_SET_TIMER_OP, &[far]), 0);
    assert_eq!(
        vm.timers(),
        vec![(0, TimerKind::SingleShot, arm(CLOCK_START + far, 0))]
    );
    // 32-bit guests pass the deadline in EBX (low) and ECX (high).
    let d = 0x1_0000_0005u64;
    assert_eq!(
        vm.hc32(0, HYPERVISOR_SET_TIMER_OP, &[d & 0xffff_ffff, d >> 32]),
        0
    );
    assert_eq!(
        vm.timers(),
        vec![(0, TimerKind::SingleShot, arm(CLOCK_START + d, 0))]
    );
}

#[test]
fn periodic_timer_arms_with_its_period() {
    let mut vm = vm_at_7ms(2);
    assert_eq!(vm.periodic(0, 0, 10 * MS), 0);
    assert_eq!(
        vm.timers(),
        vec![(
            0,
            TimerKind::Periodic,
            arm(CLOCK_START + 7 * MS + 10 * MS, 10 * MS)
        )]
    );
    // For another vCPU of the domain too.
    assert_eq!(vm.periodic(0, 1, 4 * MS), 0);
    assert_eq!(
        vm.timers(),
        vec![(
            1,
            TimerKind::Periodic,
            arm(CLOCK_START + 7 * MS + 4 * MS, 4 * MS)
        )]
    );
    // Below 1 ms or beyond 2^50 ns: -EINVAL, nothing armed; no such vCPU: -ENOENT.
    assert_eq!(vm.periodic(0, 0, MS - 1), err(errno::EINVAL));
    assert_eq!(vm.periodic(0, 0, (1 << 50) + 1), err(errno::EINVAL));
    assert_eq!(vm.periodic(0, 2, 10 * MS), err(errno::ENOENT));
    assert_eq!(vm.timers(), vec![]);
    // Stop cancels.
    let stop = u64::from(VCPUOP_STOP_PERIODIC_TIMER);
    assert_eq!(vm.hc(0, HYPERVISOR_VCPU_OP, &[stop, 1, 0]), 0);
    assert_eq!(vm.timers(), vec![(1, TimerKind::Periodic, None)]);
}

#[test]
fn timer_fired_delivers_virq_timer() {
    let mut vm = vm_at_7ms(2);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    let p0 = vm.bind_virq(VIRQ_TIMER, 0);
    let p1 = vm.bind_virq(VIRQ_TIMER, 1);
    assert_eq!(vm.singleshot(0, 20 * MS, 0), 0);
    assert_eq!(vm.state().xen.vcpus[0].singleshot_ns, Some(20 * MS));
    let _ = vm.events();

    vm.host.advance(13 * MS);
    vm.platform
        .timer_fired(vm.root.token(), 0, TimerKind::SingleShot);
    assert!(vm.port_pending(p0));
    assert!(!vm.port_pending(p1));
    let events = vm.events();
    assert!(events.contains(&HostEvent::Upcall {
        vcpu: 0,
        how: UpcallKind::Vector(VEC)
    }));
    assert!(events.contains(&HostEvent::Kick { vcpu: 0 }));
    // A fired single shot is no longer armed.
    assert_eq!(vm.state().xen.vcpus[0].singleshot_ns, None);

    // The periodic timer of vCPU 1 raises vCPU 1's port.
    vm.platform
        .timer_fired(vm.root.token(), 1, TimerKind::Periodic);
    assert!(vm.port_pending(p1));
    assert_eq!(vm.upcall_pending_byte(1), 1);
    assert_eq!(vm.pending_upcall(1), Some(UpcallKind::Vector(VEC)));
}

#[test]
fn timer_fired_without_a_port_or_vcpu_is_harmless() {
    let mut vm = vm_at_7ms(1);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    let _ = vm.events();
    vm.platform
        .timer_fired(vm.root.token(), 0, TimerKind::SingleShot);
    vm.platform
        .timer_fired(vm.root.token(), 7, TimerKind::Periodic);
    vm.platform
        .timer_fired(vm.root.token(), u32::MAX, TimerKind::SingleShot);
    let pending: u64 = vm.read(SHINFO + PENDING64);
    assert_eq!(pending, 0);
    assert!(!vm
        .events()
        .iter()
        .any(|e| matches!(e, HostEvent::Upcall { .. })));
}
