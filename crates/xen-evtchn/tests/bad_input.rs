// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Every operation with bad input gets the Xen errno (never a panic).

mod common;

use common::*;
use vm_lock::Root;
use xen_abi::errno::{EEXIST, EINVAL, ENOENT, ENOSPC, ENOSYS, EOPNOTSUPP, ESRCH};
use xen_abi::{DOMID_SELF, NR_VIRQS, VIRQ_CONSOLE, VIRQ_TIMER};
use xen_evtchn::Delivery;
use xen_shinfo_cache::GuestWidth;

#[test]
fn errnos() {
    let vm = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let t = root.token();
    let e = &vm.evtchn;
    let errno = |r: Result<u32, xen_evtchn::Error>| r.unwrap_err().errno();
    let errno0 = |r: Result<(), xen_evtchn::Error>| r.unwrap_err().errno();

    // Ports: out of range, reserved 0, free, huge.
    for port in [0, 7, 4096, u32::MAX] {
        assert_eq!(errno0(e.close(t, port)), EINVAL, "close {port}");
        assert_eq!(errno0(e.send(t, port).map(drop)), EINVAL, "send {port}");
        assert_eq!(errno0(e.bind_vcpu(t, port, 0)), EINVAL, "bind_vcpu {port}");
        assert!(e.set_pending(t, port).is_err());
    }
    for port in [4096, u32::MAX] {
        assert_eq!(errno0(e.unmask(t, port)), EINVAL);
        assert_eq!(e.status(t, DOMID_SELF, port).unwrap_err().errno(), EINVAL);
        assert_eq!(e.is_pending(t, port).unwrap_err().errno(), EINVAL);
    }
    // Double close.
    let p = e.bind_ipi(t, 0).unwrap();
    e.close(t, p).unwrap();
    assert_eq!(errno0(e.close(t, p)), EINVAL);
    // Wrong vCPU.
    assert_eq!(errno(e.bind_ipi(t, VCPUS)), ENOENT);
    assert_eq!(errno(e.bind_virq(t, VIRQ_TIMER, u32::MAX)), ENOENT);
    let p = e.alloc_unbound(t, DOMID_SELF, 0).unwrap();
    assert_eq!(errno0(e.bind_vcpu(t, p, VCPUS)), ENOENT);
    assert_eq!(
        e.raise_virq(t, VIRQ_TIMER, VCPUS).unwrap_err().errno(),
        ENOENT
    );
    assert_eq!(e.poll_begin(t, VCPUS, &[1]).unwrap_err().errno(), ENOENT);
    // VIRQs: out of range, global on vCPU != 0, double bind.
    assert_eq!(errno(e.bind_virq(t, NR_VIRQS, 0)), EINVAL);
    assert_eq!(errno(e.bind_virq(t, u32::MAX, 0)), EINVAL);
    assert_eq!(errno(e.bind_virq(t, VIRQ_CONSOLE, 1)), EINVAL);
    e.bind_virq(t, VIRQ_TIMER, 1).unwrap();
    assert_eq!(errno(e.bind_virq(t, VIRQ_TIMER, 1)), EEXIST);
    assert_eq!(e.raise_virq(t, NR_VIRQS, 0).unwrap_err().errno(), EINVAL);
    // PIRQs.
    assert_eq!(errno(e.bind_pirq(t, 256, 0)), EINVAL);
    e.bind_pirq(t, 1, 0).unwrap();
    assert_eq!(errno(e.bind_pirq(t, 1, 0)), EEXIST);
    assert_eq!(e.raise_pirq(t, u32::MAX).unwrap_err().errno(), EINVAL);
    // Domains.
    assert_eq!(errno(e.alloc_unbound(t, 5, DOMID_SELF)), ESRCH);
    assert_eq!(errno(e.alloc_unbound(t, DOMID_SELF, 0x7ff5)), ESRCH);
    assert_eq!(errno(e.bind_interdomain(t, 9, 1)), ESRCH);
    assert_eq!(e.status(t, 9, 1).unwrap_err().errno(), ESRCH);
    assert_eq!(errno0(e.reset(t, 9)), ESRCH);
    // Interdomain to ports that are not unbound-for-us.
    let ipi = e.bind_ipi(t, 0).unwrap();
    assert_eq!(errno(e.bind_interdomain(t, DOMID_SELF, ipi)), EINVAL);
    assert_eq!(
        errno(e.bind_interdomain(t, DOMID_SELF, p)),
        EINVAL,
        "p is for dom 0"
    );
    assert_eq!(errno(e.bind_interdomain(t, DOMID_SELF, 4000)), EINVAL);
    assert_eq!(
        errno(e.bind_interdomain(t, 0, 77)),
        EINVAL,
        "no such host port"
    );
    let hp = e.host_alloc_unbound(t).unwrap();
    e.bind_interdomain(t, 0, hp.id()).unwrap();
    assert_eq!(
        errno(e.bind_interdomain(t, 0, hp.id())),
        EINVAL,
        "host port taken"
    );
    assert!(e.host_bind(t, ipi).is_err());
    assert!(e.host_send(t, 0).is_err());
    assert!(e.host_close(t, 999).is_err());
    // Send on VIRQ / PIRQ ports; bind_vcpu of IPI.
    let v = e.bind_virq(t, VIRQ_TIMER, 0).unwrap();
    assert_eq!(errno0(e.send(t, v).map(drop)), EINVAL);
    assert_eq!(errno0(e.bind_vcpu(t, ipi, 1)), EINVAL);
    // Poll sets.
    assert_eq!(e.poll_begin(t, 0, &[1; 129]).unwrap_err().errno(), EINVAL);
    assert_eq!(e.poll_begin(t, 0, &[4096]).unwrap_err().errno(), EINVAL);
    // FIFO ops on the 2-level ABI (the FIFO paths: tests/fifo.rs).
    assert_eq!(e.set_priority(t, ipi, 3).unwrap_err().errno(), ENOSYS);
    assert_eq!(e.expand_array(t, 0x20).unwrap_err().errno(), EOPNOTSUPP);
}

#[test]
fn exhausted_ports_and_no_shared_info() {
    let vm = vm(GuestWidth::Bits32);
    let mut root = Root::new().unwrap();
    let t = root.token();
    while vm.evtchn.alloc_unbound(t, DOMID_SELF, DOMID_SELF).is_ok() {}
    assert_eq!(
        vm.evtchn.bind_virq(t, VIRQ_TIMER, 0).unwrap_err().errno(),
        ENOSPC
    );
    assert_eq!(
        vm.evtchn
            .bind_interdomain(t, DOMID_SELF, 1)
            .unwrap_err()
            .errno(),
        ENOSPC
    );
    // Without shared_info delivery is deferred (host-side shadow), not EFAULT nor a panic.
    vm.pages.set_shared_info_gfn(t, None).unwrap();
    assert_eq!(vm.evtchn.set_pending(t, 1).unwrap(), Delivery::Deferred);
    assert_eq!(
        vm.evtchn.set_pending(t, 1).unwrap(),
        Delivery::AlreadyPending
    );
    assert!(vm.evtchn.is_pending(t, 1).unwrap());
    assert_eq!(vm.evtchn.set_pending(t, 0).unwrap_err().errno(), EINVAL);
    // No mask bits without shared_info: unmask has nothing to do.
    vm.evtchn.unmask(t, 1).unwrap();
    // shared_info outside RAM: EFAULT too.
    vm.pages.set_shared_info_gfn(t, Some(0xfffff)).unwrap();
    assert_eq!(vm.evtchn.unmask(t, 1).unwrap_err().errno(), 14);
}
