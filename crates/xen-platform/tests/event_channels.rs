// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Event channels end to end through hypercalls: the pending bit, the
//! selector and `evtchn_upcall_pending` in guest memory, the upcall the host
//! is asked to deliver (`XenHost::upcall`) and `XenPlatform::pending_upcall`,
//! with the global callback vector, a per-vCPU upcall vector, a GSI, masks,
//! and the host side (`XenPlatform::raise_port`).

mod common;

use common::*;
use xen_abi::*;
use xen_platform::UpcallKind;

const VEC: u8 = 0xf3;
const PERCPU: u8 = 0xe0;

#[test]
fn ipi_through_the_callback_vector() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    assert_eq!(
        vm.get_param(HVM_PARAM_CALLBACK_IRQ),
        (2 << 56) | u64::from(VEC)
    );
    let _ = vm.events();
    let port = vm.bind_ipi(1);
    assert_eq!(vm.pending_upcall(1), None, "nothing pending yet");

    assert_eq!(vm.send(0, port), 0);
    assert!(vm.port_pending(port));
    assert_eq!(vm.pending_sel(1), 1 << (port / 64));
    assert_eq!(vm.upcall_pending_byte(1), 1);
    assert_eq!(vm.upcall_pending_byte(0), 0, "vCPU 0 is not the target");
    assert_eq!(vm.upcalls(), vec![(1, UpcallKind::Vector(VEC))]);
    // Level-like: offered on every entry while upcall_pending is set.
    assert_eq!(vm.pending_upcall(1), Some(UpcallKind::Vector(VEC)));
    assert_eq!(vm.pending_upcall(1), Some(UpcallKind::Vector(VEC)));
    assert_eq!(vm.pending_upcall(0), None);

    // Sending again while pending raises nothing new.
    assert_eq!(vm.send(0, port), 0);
    assert_eq!(vm.upcalls(), vec![]);

    // The guest's handler clears upcall_pending: nothing more to inject.
    vm.write(Vm::vcpu_info(1), 0u8);
    assert_eq!(vm.pending_upcall(1), None);

    // It clears the selector and the pending bit: the next send upcalls again.
    vm.write(Vm::vcpu_info(1) + 8, 0u64);
    vm.write(SHINFO + PENDING64, 0u64);
    assert_eq!(vm.send(1, port), 0);
    assert_eq!(vm.upcalls(), vec![(1, UpcallKind::Vector(VEC))]);
    assert_eq!(vm.pending_upcall(1), Some(UpcallKind::Vector(VEC)));
}

#[test]
fn per_vcpu_upcall_vector() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    assert_eq!(vm.upcall_vector(1, PERCPU), 0);
    let _ = vm.events();
    let p1 = vm.bind_ipi(1);
    let p0 = vm.bind_ipi(0);
    assert_eq!(vm.send(0, p1), 0);
    assert_eq!(vm.upcalls(), vec![(1, UpcallKind::PerVcpuVector(PERCPU))]);
    assert_eq!(
        vm.pending_upcall(1),
        Some(UpcallKind::PerVcpuVector(PERCPU))
    );
    // vCPU 0 keeps the global vector.
    assert_eq!(vm.send(1, p0), 0);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Vector(VEC)));
    vm.write(Vm::vcpu_info(1), 0u8);
    assert_eq!(vm.pending_upcall(1), None);
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Vector(VEC)));

    // Vectors below 0x10 and vCPUs that do not exist are refused.
    assert_eq!(vm.upcall_vector(0, 0x0f), err(errno::EINVAL));
    vm.write(
        ARGS,
        XenHvmEvtchnUpcallVector {
            vcpu: 2,
            vector: PERCPU,
            pad: [0; 3],
        },
    );
    let op = u64::from(HVMOP_SET_EVTCHN_UPCALL_VECTOR);
    assert_eq!(vm.hc(0, HYPERVISOR_HVM_OP, &[op, ARGS]), err(errno::ENOENT));
}

#[test]
fn per_vcpu_vector_without_a_callback() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    // No HVM_PARAM_CALLBACK_IRQ: only a kick, nothing to inject.
    let port = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port), 0);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Kick)]);
    assert_eq!(vm.pending_upcall(0), None);
    vm.write(Vm::vcpu_info(0), 0u8);
    vm.write(Vm::vcpu_info(0) + 8, 0u64);
    vm.write(SHINFO + PENDING64, 0u64);
    // Now a per-vCPU vector: it is used.
    assert_eq!(vm.upcall_vector(0, PERCPU), 0);
    let _ = vm.events();
    assert_eq!(vm.send(0, port), 0);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::PerVcpuVector(PERCPU))]);
    assert_eq!(
        vm.pending_upcall(0),
        Some(UpcallKind::PerVcpuVector(PERCPU))
    );
}

#[test]
fn gsi_callback_is_for_vcpu_0_only() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    assert_eq!(vm.set_param(HVM_PARAM_CALLBACK_IRQ, 5), 0);
    assert_eq!(vm.get_param(HVM_PARAM_CALLBACK_IRQ), 5);
    let _ = vm.events();
    let p0 = vm.bind_ipi(0);
    let p1 = vm.bind_ipi(1);
    assert_eq!(vm.send(0, p0), 0);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Gsi(5))]);
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Gsi(5)));
    assert_eq!(vm.send(0, p1), 0);
    assert_eq!(vm.upcalls(), vec![(1, UpcallKind::Kick)]);
    assert_eq!(vm.pending_upcall(1), None);
    // A GSI beyond the IOAPIC's 48 pins, and vectors below 0x10: -EINVAL.
    assert_eq!(vm.set_param(HVM_PARAM_CALLBACK_IRQ, 48), err(errno::EINVAL));
    let vector = |v: u64| (u64::from(HVM_PARAM_CALLBACK_TYPE_VECTOR) << 56) | v;
    assert_eq!(
        vm.set_param(HVM_PARAM_CALLBACK_IRQ, vector(0x0f)),
        err(errno::EINVAL)
    );
    assert_eq!(vm.get_param(HVM_PARAM_CALLBACK_IRQ), 5, "unchanged");
}

#[test]
fn masked_ports_pend_without_an_upcall_until_unmasked() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    let port = vm.bind_ipi(0);
    vm.set_mask(port, true);
    let _ = vm.events();
    assert_eq!(vm.send(0, port), 0);
    assert!(vm.port_pending(port));
    assert_eq!(vm.upcall_pending_byte(0), 0);
    assert_eq!(vm.pending_sel(0), 0);
    assert_eq!(vm.upcalls(), vec![]);
    assert_eq!(vm.pending_upcall(0), None);
    // EVTCHNOP_unmask clears the mask and delivers what is pending.
    assert_eq!(vm.unmask(port), 0);
    let mask: u64 = vm.read(SHINFO + MASK64);
    assert_eq!(mask & (1 << port), 0);
    assert_eq!(vm.upcall_pending_byte(0), 1);
    assert_eq!(vm.pending_sel(0), 1);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);
}

#[test]
fn host_side_raise_of_a_backend_port() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    let console = vm.get_param(HVM_PARAM_CONSOLE_EVTCHN) as u32;
    let _ = vm.events();
    vm.platform.raise_port(vm.root.token(), console);
    assert!(vm.port_pending(console));
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);
    // A host raise of a free or out-of-range port does nothing.
    vm.write(Vm::vcpu_info(0), 0u8);
    vm.platform.raise_port(vm.root.token(), 4000);
    vm.platform.raise_port(vm.root.token(), u32::MAX);
    assert_eq!(vm.upcalls(), vec![]);
    assert_eq!(vm.upcall_pending_byte(0), 0);
}

#[test]
fn events_sent_before_shared_info_are_delivered_when_it_is_placed() {
    let mut vm = Vm::new(1);
    vm.callback_vector(VEC);
    let port = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port), 0);
    assert_eq!(vm.upcalls(), vec![]);
    vm.map_shared_info(SHINFO_GFN);
    assert!(vm.port_pending(port));
    assert_eq!(vm.upcall_pending_byte(0), 1);
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Vector(VEC)));
}

#[test]
fn status_close_and_loopback_interdomain() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    let ipi = vm.bind_ipi(1);
    let (r, st) = vm.status(ipi);
    assert_eq!((r, st.status, st.vcpu), (0, EVTCHNSTAT_IPI, 1));
    let timer = vm.bind_virq(VIRQ_TIMER, 1);
    let (r, st) = vm.status(timer);
    assert_eq!(
        (r, st.status, st.vcpu, st.u[0]),
        (0, EVTCHNSTAT_VIRQ, 1, VIRQ_TIMER)
    );
    // A second binding of the same VIRQ on the same vCPU: -EEXIST.
    vm.write(
        ARGS,
        EvtchnBindVirq {
            virq: VIRQ_TIMER,
            vcpu: 1,
            port: 0,
        },
    );
    let bind_virq = u64::from(EVTCHNOP_BIND_VIRQ);
    assert_eq!(
        vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[bind_virq, ARGS]),
        err(errno::EEXIST)
    );

    // Loopback: an unbound port of our own, bound from our other end.
    vm.write(
        ARGS,
        EvtchnAllocUnbound {
            dom: DOMID_SELF,
            remote_dom: DOMID_SELF,
            port: 0,
        },
    );
    let alloc = u64::from(EVTCHNOP_ALLOC_UNBOUND);
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[alloc, ARGS]), 0);
    let a = vm.read::<EvtchnAllocUnbound>(ARGS).port;
    assert_eq!(vm.status(a).1.status, EVTCHNSTAT_UNBOUND);
    vm.write(
        ARGS,
        EvtchnBindInterdomain {
            remote_dom: DOMID_SELF,
            remote_port: a,
            ..Default::default()
        },
    );
    let bind = u64::from(EVTCHNOP_BIND_INTERDOMAIN);
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[bind, ARGS]), 0);
    let b = vm.read::<EvtchnBindInterdomain>(ARGS).local_port;
    let (_, st) = vm.status(b);
    assert_eq!((st.status, st.u[1]), (EVTCHNSTAT_INTERDOMAIN, a));
    // As Xen, the new local port starts pending (no notification lost).
    assert!(vm.port_pending(b));
    assert!(!vm.port_pending(a));
    vm.write(SHINFO + PENDING64, 0u64);
    // Sending on one end pends the other.
    assert_eq!(vm.send(0, b), 0);
    assert!(vm.port_pending(a));
    assert!(!vm.port_pending(b));
    // EVTCHNOP_bind_vcpu moves it to vCPU 1 (IPIs cannot be moved).
    vm.write(ARGS, EvtchnBindVcpu { port: a, vcpu: 1 });
    let bind_vcpu = u64::from(EVTCHNOP_BIND_VCPU);
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[bind_vcpu, ARGS]), 0);
    assert_eq!(vm.status(a).1.vcpu, 1);
    vm.write(ARGS, EvtchnBindVcpu { port: ipi, vcpu: 0 });
    assert_eq!(
        vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[bind_vcpu, ARGS]),
        err(errno::EINVAL)
    );

    // Close: the port is free, sending on it fails.
    vm.write(ARGS, EvtchnClose { port: ipi });
    let close = u64::from(EVTCHNOP_CLOSE);
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[close, ARGS]), 0);
    assert_eq!(vm.status(ipi).1.status, EVTCHNSTAT_CLOSED);
    assert_eq!(vm.send(0, ipi), err(errno::EINVAL));
}

#[test]
fn registered_vcpu_info_takes_the_upcall() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    let vi = 0x10040;
    vm.write(
        ARGS,
        VcpuRegisterVcpuInfo {
            mfn: vi >> 12,
            offset: (vi & 0xfff) as u32,
            rsvd: 0,
        },
    );
    let op = u64::from(VCPUOP_REGISTER_VCPU_INFO);
    assert_eq!(vm.hc(0, HYPERVISOR_VCPU_OP, &[op, 0, ARGS]), 0);
    // As Xen, everything may be pending at the new place: the guest scans.
    assert_eq!(vm.read::<u8>(vi), 1);
    assert_eq!(vm.read::<u64>(vi + 8), u64::MAX);
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Vector(VEC)));
    vm.write(vi, 0u8);
    vm.write(vi + 8, 0u64);
    assert_eq!(vm.pending_upcall(0), None);
    let port = vm.bind_ipi(0);
    let _ = vm.events();
    assert_eq!(vm.send(0, port), 0);
    assert_eq!(
        vm.read::<u8>(vi),
        1,
        "evtchn_upcall_pending at the new place"
    );
    assert_eq!(vm.read::<u64>(vi + 8), 1, "evtchn_pending_sel");
    assert_eq!(
        vm.upcall_pending_byte(0),
        0,
        "the legacy slot is no longer used"
    );
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Vector(VEC)));
    vm.write(vi, 0u8);
    assert_eq!(vm.pending_upcall(0), None);
}

#[test]
fn callback_none_only_kicks() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    assert_eq!(vm.set_param(HVM_PARAM_CALLBACK_IRQ, 0), 0);
    assert_eq!(vm.get_param(HVM_PARAM_CALLBACK_IRQ), 0);
    let port = vm.bind_ipi(0);
    let _ = vm.events();
    assert_eq!(vm.send(0, port), 0);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Kick)]);
    assert_eq!(vm.upcall_pending_byte(0), 1);
    assert_eq!(vm.pending_upcall(0), None);
}
