// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Behaviour of the operations and of 2-level delivery over real guest memory.

mod common;

use common::*;
use vm_lock::Root;
use xen_abi::{
    DOMID_SELF, EVTCHNSTAT_CLOSED, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_IPI, EVTCHNSTAT_PIRQ,
    EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ, VIRQ_CONSOLE, VIRQ_TIMER,
};
use xen_evtchn::{Binding, CallbackVia, Delivery, Evtchn, Remote, Sent, BACKEND_DOMID};
use xen_shinfo_cache::GuestWidth;

#[test]
fn ipi_delivery_raises_only_on_0_to_1() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let p = vm.evtchn.bind_ipi(t, 2).unwrap();
    assert_eq!(p, 1, "lowest free port, 0 is reserved");
    vm.evtchn.send(t, p).unwrap();
    assert!(pending(&vm, p));
    assert_eq!(pending_sel(&vm, 2), 1);
    assert_eq!(upcall_pending(&vm, 2), 1);
    assert_eq!(vm.sink.raises(2), 1);
    // Again: already pending, no new upcall.
    vm.evtchn.send(t, p).unwrap();
    assert_eq!(vm.sink.raises(2), 1);
    // Another port in the same word: selector already set, no new upcall.
    let p2 = vm.evtchn.bind_ipi(t, 2).unwrap();
    assert_eq!(vm.evtchn.set_pending(t, p2).unwrap(), Delivery::Coalesced);
    assert_eq!(vm.sink.raises(2), 1);
    // The guest acks the upcall only: a port in a new word sets a new selector bit and raises.
    clear_upcall_pending(&vm, 2);
    let far = (3..200)
        .map(|_| vm.evtchn.bind_ipi(t, 2).unwrap())
        .last()
        .unwrap();
    assert!(far >= 64);
    assert_eq!(vm.evtchn.set_pending(t, far).unwrap(), Delivery::Raised);
    assert_eq!(vm.sink.raises(2), 2);
    assert_eq!(pending_sel(&vm, 2), 1 | (1 << (far / 64)));
    // Other vCPUs untouched.
    assert_eq!(vm.sink.raises(0), 0);
    assert_eq!(upcall_pending(&vm, 0), 0);
}

#[test]
fn masked_port_then_unmask_reraises() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let p = vm.evtchn.bind_ipi(t, 1).unwrap();
    guest_mask(&vm, p, true);
    assert_eq!(vm.evtchn.set_pending(t, p).unwrap(), Delivery::Masked);
    assert!(pending(&vm, p));
    assert_eq!(pending_sel(&vm, 1), 0);
    assert_eq!(vm.sink.raises(1), 0);
    vm.evtchn.unmask(t, p).unwrap();
    assert_eq!(pending_sel(&vm, 1), 1);
    assert_eq!(upcall_pending(&vm, 1), 1);
    assert_eq!(vm.sink.raises(1), 1);
    // Unmasking an unmasked port does nothing more.
    vm.evtchn.unmask(t, p).unwrap();
    assert_eq!(vm.sink.raises(1), 1);
    // Unmask of a masked, not pending port: no upcall.
    let q = vm.evtchn.bind_ipi(t, 1).unwrap();
    guest_mask(&vm, q, true);
    clear_upcall_pending(&vm, 1);
    vm.evtchn.unmask(t, q).unwrap();
    assert_eq!(vm.sink.raises(1), 1);
    assert_eq!(upcall_pending(&vm, 1), 0);
}

#[test]
fn loopback_interdomain_and_close() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let a = vm.evtchn.alloc_unbound(t, DOMID_SELF, DOMID_SELF).unwrap();
    let st = vm.evtchn.status(t, DOMID_SELF, a).unwrap();
    assert_eq!((st.status, st.u[0]), (EVTCHNSTAT_UNBOUND, 1));
    // Sends on an unbound port are dropped silently.
    vm.evtchn.send(t, a).unwrap();
    assert!(!pending(&vm, a));
    let b = vm.evtchn.bind_interdomain(t, 1, a).unwrap();
    assert!(pending(&vm, b), "Xen sets the new local port pending");
    let st = vm.evtchn.status(t, 1, b).unwrap();
    assert_eq!((st.status, st.u), (EVTCHNSTAT_INTERDOMAIN, [1, a]));
    vm.evtchn.bind_vcpu(t, a, 3).unwrap();
    vm.evtchn.send(t, b).unwrap();
    assert!(pending(&vm, a));
    assert_eq!(vm.sink.raises(3), 1);
    // Closing one end makes the other unbound again, and clears the closed port's pending bit.
    vm.evtchn.close(t, b).unwrap();
    assert!(!pending(&vm, b));
    let st = vm.evtchn.status(t, DOMID_SELF, b).unwrap();
    assert_eq!(st.status, EVTCHNSTAT_CLOSED);
    let st = vm.evtchn.status(t, DOMID_SELF, a).unwrap();
    assert_eq!((st.status, st.vcpu), (EVTCHNSTAT_UNBOUND, 3));
    // And it can be bound again.
    let c = vm.evtchn.bind_interdomain(t, DOMID_SELF, a).unwrap();
    assert_eq!(c, b, "the freed port is reused");
}

#[test]
fn host_backend_ports() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    // Guest offers, backend binds.
    let gp = vm
        .evtchn
        .alloc_unbound(t, DOMID_SELF, BACKEND_DOMID)
        .unwrap();
    let hp = vm.evtchn.host_bind(t, gp).unwrap();
    // As Xen: the binder's end (the backend) is notified, the guest port is not.
    assert!(!pending(&vm, gp));
    assert_eq!(hp.eventfd().read().unwrap(), 1);
    let st = vm.evtchn.status(t, DOMID_SELF, gp).unwrap();
    assert_eq!((st.status, st.u), (EVTCHNSTAT_INTERDOMAIN, [0, hp.id()]));
    for _ in 0..3 {
        vm.evtchn.send(t, gp).unwrap();
    }
    assert_eq!(hp.eventfd().read().unwrap(), 3);
    // Backend allocates, guest binds.
    let hp2 = vm.evtchn.host_alloc_unbound(t).unwrap();
    assert_eq!(
        vm.evtchn.host_send(t, hp2.id()).unwrap(),
        None,
        "not connected: dropped"
    );
    let gp2 = vm
        .evtchn
        .bind_interdomain(t, BACKEND_DOMID, hp2.id())
        .unwrap();
    // As Xen: the new local port is set pending by the bind (with its upcall).
    assert!(pending(&vm, gp2));
    assert_eq!(vm.sink.raises(0), 1);
    // The guest handles it: pending bit, selector and upcall flag cleared in memory.
    guest_ack_all(&vm, 0);
    assert!(!pending(&vm, gp2));
    // The guest's send reaches the backend only; the guest port stays clear.
    vm.evtchn.send(t, gp2).unwrap();
    assert_eq!(hp2.eventfd().read().unwrap(), 1);
    assert!(!pending(&vm, gp2));
    assert_eq!(vm.sink.raises(0), 1);
    // The backend's send sets the guest port pending and raises the upcall once more.
    assert_eq!(
        vm.evtchn.host_send(t, hp2.id()).unwrap(),
        Some(Delivery::Raised)
    );
    assert!(pending(&vm, gp2));
    assert_eq!(upcall_pending(&vm, 0), 1);
    assert_eq!(vm.sink.raises(0), 2);
    // Again while pending: nothing new, and the backend's eventfd is not touched.
    assert_eq!(
        vm.evtchn.host_send(t, hp2.id()).unwrap(),
        Some(Delivery::AlreadyPending)
    );
    assert_eq!(vm.sink.raises(0), 2);
    assert!(
        hp2.eventfd().read().is_err(),
        "eventfd signalled by a host send"
    );
    // Host closes: guest port becomes unbound (to the backend domain).
    vm.evtchn.host_close(t, hp.id()).unwrap();
    let st = vm.evtchn.status(t, DOMID_SELF, gp).unwrap();
    assert_eq!((st.status, st.u[0]), (EVTCHNSTAT_UNBOUND, 0));
    assert!(vm.evtchn.host_send(t, hp.id()).is_err());
    // Guest closes: host port becomes unconnected.
    vm.evtchn.close(t, gp2).unwrap();
    assert_eq!(vm.evtchn.host_send(t, hp2.id()).unwrap(), None);
    // A new handle shares the counter.
    let again = vm.evtchn.host_port(t, hp2.id()).unwrap();
    let gp3 = vm
        .evtchn
        .bind_interdomain(t, BACKEND_DOMID, hp2.id())
        .unwrap();
    vm.evtchn.send(t, gp3).unwrap();
    assert_eq!(again.eventfd().read().unwrap(), 1);
}

#[test]
fn host_send_from_other_thread() {
    let vm = std::sync::Arc::new(vm(GuestWidth::Bits64));
    let mut root = Root::new().unwrap();
    let hp = vm.evtchn.host_alloc_unbound(root.token()).unwrap();
    let gp = vm
        .evtchn
        .bind_interdomain(root.token(), 0, hp.id())
        .unwrap();
    // The bind set the port pending (as Xen) and raised vCPU 0: the guest handles that.
    assert!(pending(&vm, gp));
    assert_eq!(vm.sink.raises(0), 1);
    guest_ack_all(&vm, 0);
    assert!(!pending(&vm, gp));
    assert_eq!(upcall_pending(&vm, 0), 0);
    let vm2 = vm.clone();
    let id = hp.id();
    let d = std::thread::spawn(move || {
        let mut root = Root::new().unwrap();
        vm2.evtchn.host_send(root.token(), id).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(d, Some(Delivery::Raised));
    assert!(pending(&vm, gp));
    assert_eq!(pending_sel(&vm, 0), 1 << (gp / 64));
    assert_eq!(upcall_pending(&vm, 0), 1);
    assert_eq!(vm.sink.raises(0), 2);
    // The guest's own send on the port goes to the backend's eventfd, not back to the guest.
    guest_ack_all(&vm, 0);
    vm.evtchn.send(root.token(), gp).unwrap();
    assert_eq!(hp.eventfd().read().unwrap(), 1);
    assert!(!pending(&vm, gp));
}

#[test]
fn virqs_per_vcpu_and_global() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let t0 = vm.evtchn.bind_virq(t, VIRQ_TIMER, 0).unwrap();
    let t5 = vm.evtchn.bind_virq(t, VIRQ_TIMER, 5).unwrap();
    assert_eq!(
        vm.evtchn.raise_virq(t, VIRQ_TIMER, 5).unwrap(),
        Some(Delivery::Raised)
    );
    assert!(pending(&vm, t5));
    assert!(!pending(&vm, t0));
    assert_eq!(vm.sink.raises(5), 1);
    assert_eq!(vm.evtchn.raise_virq(t, VIRQ_TIMER, 6).unwrap(), None);
    let st = vm.evtchn.status(t, DOMID_SELF, t5).unwrap();
    assert_eq!(
        (st.status, st.vcpu, st.u[0]),
        (EVTCHNSTAT_VIRQ, 5, VIRQ_TIMER)
    );
    // A global VIRQ, retargeted to vCPU 7.
    let c = vm.evtchn.bind_virq(t, VIRQ_CONSOLE, 0).unwrap();
    vm.evtchn.bind_vcpu(t, c, 7).unwrap();
    vm.evtchn.raise_virq(t, VIRQ_CONSOLE, 0).unwrap();
    assert_eq!(vm.sink.raises(7), 1);
    // Per-vCPU VIRQs can't be moved.
    assert_eq!(vm.evtchn.bind_vcpu(t, t5, 1).unwrap_err().errno(), 22);
    // Close unbinds: the VIRQ can be bound again.
    vm.evtchn.close(t, t5).unwrap();
    assert_eq!(vm.evtchn.raise_virq(t, VIRQ_TIMER, 5).unwrap(), None);
    vm.evtchn.bind_virq(t, VIRQ_TIMER, 5).unwrap();
}

#[test]
fn pirqs() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let p = vm.evtchn.bind_pirq(t, 10, 0).unwrap();
    let st = vm.evtchn.status(t, DOMID_SELF, p).unwrap();
    assert_eq!((st.status, st.u[0]), (EVTCHNSTAT_PIRQ, 10));
    assert_eq!(vm.evtchn.raise_pirq(t, 10).unwrap(), Some(Delivery::Raised));
    assert_eq!(vm.evtchn.raise_pirq(t, 11).unwrap(), None);
    vm.evtchn.bind_vcpu(t, p, 4).unwrap();
    assert_eq!(vm.evtchn.status(t, DOMID_SELF, p).unwrap().vcpu, 4);
    let ipi = vm.evtchn.bind_ipi(t, 0).unwrap();
    assert_eq!(
        vm.evtchn.status(t, DOMID_SELF, ipi).unwrap().status,
        EVTCHNSTAT_IPI
    );
}

#[test]
fn width_32_has_1024_ports_and_32_bit_words() {
    let vm = vm(GuestWidth::Bits32);
    let mut root = Root::new().unwrap();
    let t = root.token();
    assert_eq!(vm.evtchn.nr_ports(), 1024);
    let ports: Vec<u32> = (1..1024)
        .map(|_| vm.evtchn.bind_ipi(t, 1).unwrap())
        .collect();
    assert_eq!(*ports.last().unwrap(), 1023);
    assert_eq!(vm.evtchn.bind_ipi(t, 1).unwrap_err().errno(), 28, "ENOSPC");
    vm.evtchn.send(t, 1023).unwrap();
    assert!(pending(&vm, 1023));
    assert_eq!(pending_sel(&vm, 1), 1 << 31);
    vm.evtchn.send(t, 33).unwrap();
    assert_eq!(pending_sel(&vm, 1), (1 << 31) | (1 << 1));
    assert_eq!(
        vm.evtchn.status(t, DOMID_SELF, 1024).unwrap_err().errno(),
        22
    );
}

#[test]
fn width_64_has_4096_ports() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    for _ in 1..4096 {
        vm.evtchn.bind_ipi(t, 0).unwrap();
    }
    assert_eq!(vm.evtchn.bind_ipi(t, 0).unwrap_err().errno(), 28);
    vm.evtchn.send(t, 4095).unwrap();
    assert_eq!(pending_sel(&vm, 0), 1 << 63);
}

#[test]
fn upcall_kinds() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let p0 = vm.evtchn.bind_ipi(t, 0).unwrap();
    let p1 = vm.evtchn.bind_ipi(t, 1).unwrap();
    vm.evtchn.send(t, p0).unwrap();
    assert_eq!(vm.sink.kind(0), 1, "no callback: kick");
    vm.evtchn.set_callback(t, CallbackVia::Gsi(28));
    guest_ack_all(&vm, 0);
    vm.evtchn.send(t, p0).unwrap();
    assert_eq!(vm.sink.kind(0), 0x10000 | 28);
    vm.evtchn.send(t, p1).unwrap();
    assert_eq!(vm.sink.kind(1), 1, "GSI only for vCPU 0");
    vm.evtchn.set_callback(t, CallbackVia::Vector(0xf3));
    vm.evtchn.set_vcpu_upcall_vector(t, 1, 0xe0).unwrap();
    guest_ack_all(&vm, 1);
    vm.evtchn.send(t, p1).unwrap();
    assert_eq!(vm.sink.kind(1), 0x200 | 0xe0);
    assert_eq!(
        vm.evtchn
            .set_vcpu_upcall_vector(t, 1, 5)
            .unwrap_err()
            .errno(),
        22
    );
    assert_eq!(
        vm.evtchn
            .set_vcpu_upcall_vector(t, 99, 0x40)
            .unwrap_err()
            .errno(),
        2
    );
}

#[test]
fn poll_wakeups() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let a = vm.evtchn.bind_ipi(t, 3).unwrap();
    let b = vm.evtchn.bind_ipi(t, 3).unwrap();
    guest_mask(&vm, a, true);
    guest_mask(&vm, b, true);
    // vCPU 2 polls port a (masked: polling works on masked ports).
    assert!(!vm.evtchn.poll_begin(t, 2, &[a]).unwrap());
    vm.evtchn.send(t, b).unwrap();
    assert_eq!(vm.sink.wakes(2), 0);
    vm.evtchn.send(t, a).unwrap();
    assert_eq!(vm.sink.wakes(2), 1);
    vm.evtchn.poll_end(2);
    // Already pending: poll_begin says do not block.
    assert!(vm.evtchn.poll_begin(t, 2, &[b]).unwrap());
    vm.evtchn.poll_end(2);
    // After poll_end, no wake.
    vm.evtchn.close(t, a).unwrap();
    let a = vm.evtchn.bind_ipi(t, 3).unwrap();
    guest_mask(&vm, a, true);
    vm.evtchn.send(t, a).unwrap();
    assert_eq!(vm.sink.wakes(2), 1);
}

#[test]
fn vcpu_beyond_legacy_slots_and_vcpu_info_moved() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let p = vm.evtchn.bind_ipi(t, 35).unwrap();
    assert_eq!(vm.evtchn.set_pending(t, p).unwrap(), Delivery::NoVcpuInfo);
    assert!(pending(&vm, p));
    {
        let (snap, mut tm) = vm.mem.read(t);
        vm.pages
            .set_vcpu_info(&mut tm, &snap, 35, Some(0x30000))
            .unwrap();
    }
    vm.evtchn.vcpu_info_moved(t, 35).unwrap();
    assert_eq!(vm.sink.raises(35), 1);
    let snap = vm.mem.atomic().memory();
    use vm_memory::{Bytes, GuestAddressSpace};
    assert_eq!(
        snap.read_obj::<u8>(vm_memory::GuestAddress(0x30000))
            .unwrap(),
        1
    );
    assert_eq!(
        snap.read_obj::<u64>(vm_memory::GuestAddress(0x30008))
            .unwrap(),
        u64::MAX
    );
}

#[test]
fn reset_closes_everything() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let hp = vm.evtchn.host_alloc_unbound(t).unwrap();
    vm.evtchn.bind_interdomain(t, 0, hp.id()).unwrap();
    vm.evtchn.bind_virq(t, VIRQ_TIMER, 1).unwrap();
    vm.evtchn.bind_pirq(t, 3, 0).unwrap();
    vm.evtchn.reset(t, DOMID_SELF).unwrap();
    let st = vm.evtchn.state(t);
    assert!(st.ports.is_empty());
    assert_eq!(st.host_ports[0].guest_port, None);
    vm.evtchn.bind_virq(t, VIRQ_TIMER, 1).unwrap();
    vm.evtchn.bind_pirq(t, 3, 0).unwrap();
}

#[test]
fn state_roundtrip_and_validation() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let a = vm.evtchn.alloc_unbound(t, DOMID_SELF, DOMID_SELF).unwrap();
    let b = vm.evtchn.bind_interdomain(t, DOMID_SELF, a).unwrap();
    let hp = vm.evtchn.host_alloc_unbound(t).unwrap();
    let h = vm.evtchn.bind_interdomain(t, 0, hp.id()).unwrap();
    let v = vm.evtchn.bind_virq(t, VIRQ_TIMER, 4).unwrap();
    vm.evtchn.bind_pirq(t, 9, 0).unwrap();
    vm.evtchn.set_callback(t, CallbackVia::Vector(0xf0));
    let state = vm.evtchn.state(t);
    assert_eq!(state.ports.len(), 5);
    let restored =
        Evtchn::from_state(&state, vm.mem.clone(), vm.pages.clone(), vm.sink.clone()).unwrap();
    assert_eq!(restored.state(t), state);
    // The restored table works: the timer VIRQ is still bound, the host port too.
    assert!(restored.raise_virq(t, VIRQ_TIMER, 4).unwrap().is_some());
    let hp2 = restored.host_port(t, hp.id()).unwrap();
    restored.send(t, h).unwrap();
    assert_eq!(hp2.eventfd().read().unwrap(), 1);
    let _ = (b, v);

    let check_bad = |f: &dyn Fn(&mut xen_evtchn::EvtchnState)| {
        let mut s = state.clone();
        f(&mut s);
        let r = Evtchn::from_state(&s, vm.mem.clone(), vm.pages.clone(), vm.sink.clone());
        assert_eq!(r.unwrap_err().errno(), 22);
    };
    check_bad(&|s| s.ports[0].port = 4096);
    check_bad(&|s| s.ports[0].port = 0);
    check_bad(&|s| s.ports[1].port = s.ports[0].port);
    check_bad(&|s| s.ports[0].vcpu = 99);
    check_bad(&|s| s.max_vcpus = 3);
    check_bad(&|s| s.ports.retain(|p| p.port != a)); // loopback peer missing
    check_bad(&|s| s.host_ports.clear()); // host peer missing
    check_bad(&|s| {
        let p = s.ports.iter_mut().find(|p| p.port == v).unwrap();
        p.binding = Binding::Virq(99);
    });
    check_bad(&|s| {
        let p = s.ports.iter_mut().find(|p| p.port == a).unwrap();
        p.binding = Binding::Interdomain(Remote::Loopback(a));
    });
    check_bad(&|s| s.vcpu_vectors[0] = 3);
    check_bad(&|s| {
        let mut dup = s.ports.iter().find(|p| p.port == v).copied().unwrap();
        dup.port = 100;
        s.ports.push(dup);
    });
}

#[test]
fn ops_inside_one_read_section() {
    // A VMM opens one read section per hypercall and runs every op inside it with the
    // section's MemRead token (the `*_in` forms and the ops that need no memory).
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let (snap, mut t) = vm.mem.read(root.token());
    let t = &mut t;
    let a = vm.evtchn.alloc_unbound(t, DOMID_SELF, DOMID_SELF).unwrap();
    let b = vm
        .evtchn
        .bind_interdomain_in(t, &snap, DOMID_SELF, a)
        .unwrap();
    assert!(pending(&vm, b), "a new interdomain port is set pending");
    let ipi = vm.evtchn.bind_ipi(t, 1).unwrap();
    let virq = vm.evtchn.bind_virq(t, VIRQ_TIMER, 0).unwrap();
    vm.evtchn.bind_vcpu(t, a, 1).unwrap();
    assert_eq!(
        vm.evtchn.status(t, DOMID_SELF, b).unwrap().status,
        EVTCHNSTAT_INTERDOMAIN
    );
    let raised = vm.sink.raises(1);
    assert_eq!(
        vm.evtchn.send_in(t, &snap, b).unwrap(),
        Sent::Guest(Delivery::Raised),
        "a loopback send delivers in the guest"
    );
    assert!(pending(&vm, a));
    assert!(vm.evtchn.is_pending_in(t, &snap, a).unwrap());
    assert_eq!(vm.sink.raises(1), raised + 1, "delivered to a's vCPU 1");
    assert!(matches!(
        vm.evtchn.send_in(t, &snap, ipi).unwrap(),
        Sent::Guest(_)
    ));
    assert!(pending(&vm, ipi));
    assert_eq!(
        vm.evtchn.raise_virq_in(t, &snap, VIRQ_TIMER, 0).unwrap(),
        Some(Delivery::Coalesced),
        "vCPU 0's upcall is still pending from b"
    );
    assert!(pending(&vm, virq));
    assert!(vm.evtchn.poll_begin_in(t, &snap, 0, &[virq]).unwrap());
    vm.evtchn.poll_end(0);
    guest_mask(&vm, ipi, true);
    vm.evtchn.unmask_in(t, &snap, ipi).unwrap();
    vm.evtchn.close_in(t, &snap, ipi).unwrap();
    assert!(!pending(&vm, ipi), "close clears the pending bit");
    let gp = vm
        .evtchn
        .alloc_unbound(t, DOMID_SELF, BACKEND_DOMID)
        .unwrap();
    let hp = vm.evtchn.host_bind(t, gp).unwrap();
    assert_eq!(
        vm.evtchn.send_in(t, &snap, gp).unwrap(),
        Sent::Host(hp.id()),
        "a send on a host-bound port names the host port"
    );
    assert_eq!(hp.eventfd().read().unwrap(), 2, "bind + send");
    let unbound = vm
        .evtchn
        .alloc_unbound(t, DOMID_SELF, BACKEND_DOMID)
        .unwrap();
    assert_eq!(
        vm.evtchn.send_in(t, &snap, unbound).unwrap(),
        Sent::Dropped,
        "a send on an unbound port is dropped"
    );
    assert!(!pending(&vm, unbound));
    vm.evtchn.close_in(t, &snap, unbound).unwrap();
    assert!(vm.evtchn.host_send_in(t, &snap, hp.id()).unwrap().is_some());
    assert_eq!(
        vm.evtchn.set_pending_in(t, &snap, gp).unwrap(),
        Delivery::AlreadyPending
    );
    vm.evtchn.vcpu_info_moved_in(t, &snap, 0).unwrap();
    // The section's token still orders the Xen leaf lock after it.
    let _ = vm.evtchn.upcall_kind(t, 0);
    vm.evtchn.reset_in(t, &snap, DOMID_SELF).unwrap();
    assert_eq!(
        vm.evtchn.status(t, DOMID_SELF, a).unwrap().status,
        EVTCHNSTAT_CLOSED
    );
}

#[test]
fn events_before_shared_info_are_deferred_not_lost() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    vm.pages.set_shared_info_gfn(t, None).unwrap();
    // The backend binds before the guest placed shared_info: no EFAULT.
    let gp = vm
        .evtchn
        .alloc_unbound(t, DOMID_SELF, BACKEND_DOMID)
        .unwrap();
    let hp = vm.evtchn.host_bind(t, gp).unwrap();
    let st = vm.evtchn.status(t, DOMID_SELF, gp).unwrap();
    assert_eq!((st.status, st.u), (EVTCHNSTAT_INTERDOMAIN, [0, hp.id()]));
    assert!(!vm.evtchn.is_pending(t, gp).unwrap());
    // The backend notifies the guest before shared_info exists: kept in the shadow.
    assert_eq!(
        vm.evtchn.host_send(t, hp.id()).unwrap(),
        Some(Delivery::Deferred)
    );
    assert_eq!(
        vm.evtchn.host_send(t, hp.id()).unwrap(),
        Some(Delivery::AlreadyPending)
    );
    assert!(vm.evtchn.is_pending(t, gp).unwrap());
    // A polling vCPU sees the shadow and is not put to sleep.
    assert!(vm.evtchn.poll_begin(t, 0, &[gp]).unwrap());
    vm.evtchn.poll_end(0);
    // A deferred port that is closed is dropped; a later port is kept.
    let ipi = vm.evtchn.bind_ipi(t, 0).unwrap();
    vm.evtchn.send(t, ipi).unwrap();
    vm.evtchn.close(t, ipi).unwrap();
    let ipi2 = vm.evtchn.bind_ipi(t, 0).unwrap();
    assert_eq!(ipi, ipi2, "the freed port is reused");
    assert!(!vm.evtchn.is_pending(t, ipi2).unwrap());
    assert_eq!(vm.sink.raises(0), 0, "nothing injected without shared_info");
    assert!(!pending(&vm, gp));
    // Still not placed: flushing keeps everything.
    assert_eq!(vm.evtchn.shared_info_mapped(t).unwrap(), 0);
    assert!(vm.evtchn.is_pending(t, gp).unwrap());
    // The guest places shared_info: the event arrives, with its upcall.
    vm.pages.set_shared_info_gfn(t, Some(SHINFO_GFN)).unwrap();
    assert_eq!(vm.evtchn.shared_info_mapped(t).unwrap(), 1);
    assert!(pending(&vm, gp));
    assert!(!pending(&vm, ipi2));
    assert_eq!(vm.sink.raises(0), 1);
    // Nothing left in the shadow.
    assert_eq!(vm.evtchn.shared_info_mapped(t).unwrap(), 0);
    assert_eq!(vm.sink.raises(0), 1);
}

#[test]
fn deferred_events_survive_state_and_from_state() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    vm.pages.set_shared_info_gfn(t, None).unwrap();
    let p = vm.evtchn.bind_ipi(t, 1).unwrap();
    let q = vm.evtchn.bind_ipi(t, 1).unwrap();
    let far = (0..100)
        .map(|_| vm.evtchn.bind_ipi(t, 2).unwrap())
        .last()
        .unwrap();
    assert_eq!(vm.evtchn.set_pending(t, p).unwrap(), Delivery::Deferred);
    assert_eq!(vm.evtchn.set_pending(t, far).unwrap(), Delivery::Deferred);
    let state = vm.evtchn.state(t);
    assert_eq!(state.deferred, vec![p, far]);

    let restore = |s: &xen_evtchn::EvtchnState| {
        let pages = std::sync::Arc::new(xen_shinfo_cache::XenPages::new(VCPUS));
        let sink = std::sync::Arc::new(Recorder::new(VCPUS));
        let e = Evtchn::from_state(s, vm.mem.clone(), pages, sink.clone());
        (e, sink)
    };

    // Restored without shared_info: still deferred, delivered when the guest places it.
    let (r, sink) = restore(&state);
    let r = r.unwrap();
    assert_eq!(r.state(t), state);
    assert!(r.is_pending(t, p).unwrap() && r.is_pending(t, far).unwrap());
    assert!(!r.is_pending(t, q).unwrap());
    assert_eq!(r.shared_info_mapped(t).unwrap(), 0);
    assert_eq!(r.shared_info_moved(t, SHINFO_GFN).unwrap(), 2);
    assert!(pending(&vm, p) && pending(&vm, far) && !pending(&vm, q));
    assert_eq!((sink.raises(1), sink.raises(2)), (1, 1));
    assert!(r.state(t).deferred.is_empty());

    // Restored with shared_info already placed: delivered at once by shared_info_mapped.
    let (r, sink) = restore(&state);
    let r = r.unwrap();
    r.pages().set_shared_info_gfn(t, Some(0x20)).unwrap();
    assert_eq!(r.shared_info_mapped(t).unwrap(), 2);
    assert!(r.is_pending(t, p).unwrap() && r.is_pending(t, far).unwrap());
    assert_eq!((sink.raises(1), sink.raises(2)), (1, 1));

    // Deferred ports must be allocated, in range and listed once.
    for bad in [vec![0], vec![4096], vec![far + 1], vec![p, p]] {
        let s = xen_evtchn::EvtchnState {
            deferred: bad.clone(),
            ..state.clone()
        };
        let e = restore(&s).0.unwrap_err();
        assert_eq!(e.errno(), 22, "{bad:?}");
    }
}
