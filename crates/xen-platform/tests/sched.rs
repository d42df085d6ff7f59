// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `SCHEDOP_block` and `SCHEDOP_poll`: the `HypercallExit::Block` a vCPU
//! loop gets, and when `XenPlatform::wait_ready` lets the vCPU run again
//! (an event, a timer, the poll's deadline on the host clock the test
//! drives, any upcall for the polling vCPU).

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{HypercallExit, TimerKind, Wait};

const VEC: u8 = 0xf3;

fn block(vm: &mut Vm, vcpu: u32) -> HypercallExit {
    vm.call(
        vcpu,
        &regs64(HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_BLOCK)]),
    )
}

/// `SCHEDOP_poll` of `vcpu` on `ports` with absolute `timeout` (0: none).
fn poll(vm: &mut Vm, vcpu: u32, ports: &[u32], timeout: u64) -> HypercallExit {
    for (i, p) in ports.iter().enumerate() {
        vm.write(BUF + 4 * i as u64, *p);
    }
    vm.write(
        ARGS,
        SchedPoll64 {
            ports: BUF,
            nr_ports: ports.len() as u32,
            pad: 0,
            timeout,
        },
    );
    vm.call(
        vcpu,
        &regs64(HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_POLL), ARGS]),
    )
}

fn blocked(exit: HypercallExit) -> Wait {
    match exit {
        HypercallExit::Block { rax: 0, wait } => wait,
        other => panic!("not blocked: {other:?}"),
    }
}

fn ready(vm: &mut Vm, vcpu: u32, wait: &Wait) -> bool {
    vm.platform.wait_ready(vm.root.token(), vcpu, wait)
}

/// A VM with shared_info, the callback vector, and an IPI port on each vCPU.
fn setup(nr: u32) -> (Vm, Vec<u32>) {
    let mut vm = Vm::new(nr);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    let ports = (0..nr).map(|v| vm.bind_ipi(v)).collect();
    let _ = vm.events();
    (vm, ports)
}

#[test]
fn block_waits_for_an_event() {
    let (mut vm, ports) = setup(1);
    // The guest blocks with upcalls masked: blocking unmasks them.
    vm.write(Vm::vcpu_info(0) + 1, 1u8);
    let wait = blocked(block(&mut vm, 0));
    assert_eq!(wait.deadline_ns, None);
    assert_eq!(wait.poll, None);
    assert_eq!(vm.read::<u8>(Vm::vcpu_info(0) + 1), 0, "evtchn_upcall_mask");
    assert_eq!(vm.platform.wait_timeout_ns(&wait), None);
    assert!(!ready(&mut vm, 0, &wait));
    vm.host.advance(10_000 * MS);
    assert!(!ready(&mut vm, 0, &wait), "no deadline");
    // The host raises the port: the vCPU may run.
    vm.platform.raise_port(vm.root.token(), ports[0]);
    assert!(ready(&mut vm, 0, &wait));
    vm.platform.wait_end(0, &wait);
    // With the event still pending, block returns at once.
    assert_eq!(block(&mut vm, 0), HypercallExit::Resume { rax: 0 });
}

#[test]
fn block_ends_on_a_timer() {
    let (mut vm, _) = setup(1);
    vm.bind_virq(VIRQ_TIMER, 0);
    let wait = blocked(block(&mut vm, 0));
    assert!(!ready(&mut vm, 0, &wait));
    vm.platform
        .timer_fired(vm.root.token(), 0, TimerKind::SingleShot);
    assert!(ready(&mut vm, 0, &wait));
}

#[test]
fn block_of_one_vcpu_ignores_events_for_another() {
    let (mut vm, ports) = setup(2);
    let wait = blocked(block(&mut vm, 0));
    assert_eq!(vm.send(1, ports[1]), 0);
    assert!(!ready(&mut vm, 0, &wait));
    assert_eq!(vm.send(1, ports[0]), 0);
    assert!(ready(&mut vm, 0, &wait));
}

#[test]
fn poll_times_out_on_the_host_clock() {
    let (mut vm, ports) = setup(1);
    let now = vm.platform.system_time_ns();
    let wait = blocked(poll(&mut vm, 0, &[ports[0]], now + 5 * MS));
    assert_eq!(wait.deadline_ns, Some(now + 5 * MS));
    assert_eq!(
        wait.poll.as_ref().map(|p| p.0.clone()),
        Some(vec![ports[0]])
    );
    assert_eq!(vm.platform.wait_timeout_ns(&wait), Some(5 * MS));
    assert!(!ready(&mut vm, 0, &wait));
    vm.host.advance(5 * MS - 1);
    assert!(!ready(&mut vm, 0, &wait));
    assert_eq!(vm.platform.wait_timeout_ns(&wait), Some(1));
    vm.host.advance(1);
    assert!(ready(&mut vm, 0, &wait));
    assert_eq!(vm.platform.wait_timeout_ns(&wait), Some(0));
    vm.platform.wait_end(0, &wait);
}

#[test]
fn poll_ends_on_a_polled_port() {
    let (mut vm, ports) = setup(1);
    let wait = blocked(poll(&mut vm, 0, &[ports[0]], 0));
    assert_eq!(wait.deadline_ns, None);
    assert!(!ready(&mut vm, 0, &wait));
    vm.platform.raise_port(vm.root.token(), ports[0]);
    assert!(ready(&mut vm, 0, &wait));
    vm.platform.wait_end(0, &wait);
    // Already pending: the poll returns at once.
    assert_eq!(
        poll(&mut vm, 0, &[ports[0]], 0),
        HypercallExit::Resume { rax: 0 }
    );
}

#[test]
fn poll_ends_on_a_masked_polled_port_and_the_vcpu_is_kicked() {
    let (mut vm, ports) = setup(1);
    vm.set_mask(ports[0], true);
    let wait = blocked(poll(&mut vm, 0, &[ports[0]], 0));
    let _ = vm.events();
    assert_eq!(vm.send(0, ports[0]), 0);
    // Masked: no upcall, but the poll sees the port and the host is told.
    assert_eq!(vm.upcall_pending_byte(0), 0);
    let events = vm.events();
    assert!(events.contains(&HostEvent::Kick { vcpu: 0 }), "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, HostEvent::Upcall { .. })));
    assert!(ready(&mut vm, 0, &wait));
}

#[test]
fn poll_ends_on_any_upcall_for_the_vcpu() {
    let (mut vm, ports) = setup(2);
    let other = vm.bind_ipi(0);
    let wait = blocked(poll(&mut vm, 0, &[ports[0]], 0));
    // An event for vCPU 1 does not end vCPU 0's poll.
    assert_eq!(vm.send(1, ports[1]), 0);
    assert!(!ready(&mut vm, 0, &wait));
    // An event on a port vCPU 0 does not poll, but that upcalls vCPU 0, does.
    assert_eq!(vm.send(1, other), 0);
    assert!(!vm.port_pending(ports[0]));
    assert!(ready(&mut vm, 0, &wait));
}

#[test]
fn poll_with_a_past_timeout_returns_at_once() {
    let (mut vm, ports) = setup(1);
    vm.host.advance(50 * MS);
    let now = vm.platform.system_time_ns();
    assert_eq!(now, 50 * MS);
    assert_eq!(
        poll(&mut vm, 0, &[ports[0]], now),
        HypercallExit::Resume { rax: 0 }
    );
    assert_eq!(
        poll(&mut vm, 0, &[ports[0]], 1),
        HypercallExit::Resume { rax: 0 }
    );
}

#[test]
fn bad_polls_fail() {
    let (mut vm, ports) = setup(1);
    let einval = HypercallExit::Resume {
        rax: err(errno::EINVAL) as u64,
    };
    // More ports than Xen takes, a port beyond the 2-level ABI's 4096.
    let many: Vec<u32> = (0..129).map(|_| ports[0]).collect();
    assert_eq!(poll(&mut vm, 0, &many, 0), einval);
    assert_eq!(poll(&mut vm, 0, &[ports[0], 4096], 0), einval);
    assert_eq!(poll(&mut vm, 0, &[u32::MAX], 0), einval);
    // A free port below 4096 is polled, as Xen does (it checks the range only).
    let wait = blocked(poll(&mut vm, 0, &[4000], 0));
    assert!(!ready(&mut vm, 0, &wait));
    vm.platform.wait_end(0, &wait);
    // The port list outside RAM.
    vm.write(
        ARGS,
        SchedPoll64 {
            ports: MEM - 2,
            nr_ports: 1,
            pad: 0,
            timeout: 0,
        },
    );
    let r = regs64(HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_POLL), ARGS]);
    assert_eq!(vm.ret(0, &r), err(errno::EFAULT));
    // After all that, a good poll still blocks and ends on its port.
    let wait = blocked(poll(&mut vm, 0, &[ports[0]], 0));
    assert!(!ready(&mut vm, 0, &wait));
    vm.platform.raise_port(vm.root.token(), ports[0]);
    assert!(ready(&mut vm, 0, &wait));
}

#[test]
fn shutdown_reports_the_reason() {
    let mut vm = Vm::new(1);
    vm.write(ARGS, SchedShutdown { reason: 1 });
    let r = regs64(HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_SHUTDOWN), ARGS]);
    assert_eq!(
        vm.call(0, &r),
        HypercallExit::Shutdown { rax: 0, reason: 1 }
    );
    // As Xen, the first reason sticks (domain_shutdown keeps shutdown_code).
    vm.write(ARGS, SchedShutdown { reason: 2 });
    assert_eq!(
        vm.call(0, &r),
        HypercallExit::Shutdown { rax: 0, reason: 1 }
    );
    // As Xen, the reason is taken as a u8 (a new VM: one root per thread).
    drop(vm);
    let mut vm = Vm::new(1);
    vm.write(ARGS, SchedShutdown { reason: 0x302 });
    assert_eq!(
        vm.call(0, &r),
        HypercallExit::Shutdown { rax: 0, reason: 2 }
    );
}

#[test]
fn poll_of_a_32bit_guest() {
    let mut vm = Vm::new(1);
    vm.write(
        ARGS,
        XenAddToPhysmap32 {
            domid: DOMID_SELF,
            size: 0,
            space: XENMAPSPACE_SHARED_INFO,
            idx: 0,
            gpfn: SHINFO_GFN as u32,
        },
    );
    let add = u64::from(XENMEM_ADD_TO_PHYSMAP);
    assert_eq!(vm.hc32(0, HYPERVISOR_MEMORY_OP, &[add, ARGS]), 0);
    let port = vm.bind_ipi(0);
    vm.write(BUF, port);
    vm.write(
        ARGS,
        SchedPoll32 {
            ports: BUF as u32,
            nr_ports: 1,
            timeout: 3 * MS,
        },
    );
    let r = regs32(HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_POLL), ARGS]);
    let wait = blocked(vm.call(0, &r));
    assert_eq!(wait.deadline_ns, Some(3 * MS));
    assert!(!ready(&mut vm, 0, &wait));
    vm.platform.raise_port(vm.root.token(), port);
    assert_eq!(vm.read::<u32>(SHINFO + 2048), 1 << port);
    assert!(ready(&mut vm, 0, &wait));
    vm.platform.wait_end(0, &wait);
    // A port beyond the 32-bit ABI's 1024.
    vm.write(BUF, 1024u32);
    assert_eq!(vm.ret(0, &r), err(errno::EINVAL));
}
