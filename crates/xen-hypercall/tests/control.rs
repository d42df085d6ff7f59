// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! What a domU gets from the toolstack's and dom0's hypercalls: `physdev_op`, `sysctl`,
//! `domctl` (Xen 4.17's `hvm_physdev_op`, `do_sysctl`, `do_domctl` with the default XSM
//! policy).

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;

/// Every `physdev_op` is -ENOSYS for an HVM domain without PIRQs that is not the hardware
/// domain, before its argument is read.
#[test]
fn physdev_op_is_enosys() {
    for w in both() {
        let mut e = Env::new(w);
        for cmd in [
            PHYSDEVOP_MAP_PIRQ,
            PHYSDEVOP_UNMAP_PIRQ,
            PHYSDEVOP_EOI,
            PHYSDEVOP_IRQ_STATUS_QUERY,
            PHYSDEVOP_GET_FREE_PIRQ,
            PHYSDEVOP_PCI_DEVICE_ADD,
            PHYSDEVOP_DBGP_OP,
            PHYSDEVOP_SET_IOPL,
            99,
        ] {
            for arg in [ARG, BAD] {
                assert_eq!(e.op(HYPERVISOR_PHYSDEV_OP, cmd, arg), neg(ENOSYS), "{cmd}");
            }
        }
        // The pre-3.2 form is not an HVM hypercall at all.
        assert_eq!(e.op(HYPERVISOR_PHYSDEV_OP_COMPAT, 0, ARG), neg(ENOSYS));
        assert_eq!(e.hv.calls, 0);
    }
}

fn sysctl(e: &mut Env, cmd: u32, version: u32) -> i64 {
    e.put(XenSysctl {
        cmd,
        interface_version: version,
        ..Default::default()
    });
    e.call(HYPERVISOR_SYSCTL, [ARG, 0, 0, 0, 0, 0]).rax as i32 as i64
}

/// `do_sysctl`: the whole struct is read (-EFAULT), the interface version checked
/// (-EACCES), then a domU is refused (-EPERM).
#[test]
fn sysctl_order_of_checks() {
    for w in both() {
        let mut e = Env::new(w);
        for cmd in [0, 1, 3, 0xffff_ffff] {
            assert_eq!(
                sysctl(&mut e, cmd, XEN_SYSCTL_INTERFACE_VERSION),
                neg(EPERM)
            );
            assert_eq!(
                sysctl(&mut e, cmd, XEN_SYSCTL_INTERFACE_VERSION - 1),
                neg(EACCES)
            );
        }
        // The pointer is the first argument.
        assert_eq!(
            e.call(HYPERVISOR_SYSCTL, [BAD, 0, 0, 0, 0, 0]).rax as i32,
            -(EFAULT)
        );
        // A struct whose tail (the union) runs off the end of RAM faults, even with a good
        // header: Xen copies all of it.
        let at = RAM - 8;
        e.put_at(XEN_SYSCTL_INTERFACE_VERSION, at + 4);
        assert_eq!(
            e.call(HYPERVISOR_SYSCTL, [at, 0, 0, 0, 0, 0]).rax as i32,
            -(EFAULT)
        );
        assert_eq!(e.hv.calls, 0);
    }
}

fn domctl(e: &mut Env, cmd: u32, domain: u16, version: u32) -> i64 {
    e.put(XenDomctl {
        cmd,
        interface_version: version,
        domain,
        ..Default::default()
    });
    e.call(HYPERVISOR_DOMCTL, [ARG, 0, 0, 0, 0, 0]).rax as i32 as i64
}

/// `do_domctl`: read (-EFAULT), version (-EACCES), the target domain looked up by id
/// (-ESRCH; `DOMID_SELF` names none), then -EPERM for a domU whatever the command.
#[test]
fn domctl_order_of_checks() {
    for w in both() {
        let mut e = Env::new(w);
        let me = e.hv.domid;
        let v = XEN_DOMCTL_INTERFACE_VERSION;
        for cmd in [
            XEN_DOMCTL_GETDOMAININFO,
            XEN_DOMCTL_IOPORT_MAPPING,
            XEN_DOMCTL_MEMORY_MAPPING,
            XEN_DOMCTL_BIND_PT_IRQ,
            XEN_DOMCTL_UNBIND_PT_IRQ,
            XEN_DOMCTL_ASSIGN_DEVICE,
            XEN_DOMCTL_TEST_ASSIGN_DEVICE,
            2,
            0xffff,
        ] {
            assert_eq!(domctl(&mut e, cmd, me, v), neg(EPERM), "cmd {cmd}");
            assert_eq!(domctl(&mut e, cmd, 0, v), neg(EPERM), "cmd {cmd}");
            assert_eq!(domctl(&mut e, cmd, me, v + 1), neg(EACCES), "cmd {cmd}");
            // A bad version is refused before the domain is looked up.
            assert_eq!(domctl(&mut e, cmd, 77, 0), neg(EACCES), "cmd {cmd}");
        }
        for dom in [DOMID_SELF, 77, DOMID_XEN] {
            assert_eq!(domctl(&mut e, 2, dom, v), neg(ESRCH), "domain {dom:#x}");
        }
        // getdomaininfo of a missing domain still reaches the privilege check.
        assert_eq!(domctl(&mut e, XEN_DOMCTL_GETDOMAININFO, 77, v), neg(EPERM));
        // createdomain has no target domain.
        assert_eq!(domctl(&mut e, XEN_DOMCTL_CREATEDOMAIN, 77, v), neg(EPERM));
        // Device assignment: DOMID_IO is a domain, DOMID_INVALID is not.
        for cmd in [XEN_DOMCTL_ASSIGN_DEVICE, XEN_DOMCTL_DEASSIGN_DEVICE] {
            assert_eq!(domctl(&mut e, cmd, DOMID_IO, v), neg(EPERM));
            assert_eq!(domctl(&mut e, cmd, DOMID_INVALID, v), neg(ESRCH));
            assert_eq!(domctl(&mut e, cmd, 77, v), neg(ESRCH));
        }
        // test_assign_device and vm_event_op take DOMID_INVALID as "no domain".
        for cmd in [XEN_DOMCTL_TEST_ASSIGN_DEVICE, XEN_DOMCTL_VM_EVENT_OP] {
            assert_eq!(domctl(&mut e, cmd, DOMID_INVALID, v), neg(EPERM));
            assert_eq!(domctl(&mut e, cmd, DOMID_IO, v), neg(ESRCH));
        }
        assert_eq!(
            e.call(HYPERVISOR_DOMCTL, [BAD, 0, 0, 0, 0, 0]).rax as i32,
            -(EFAULT)
        );
        let at = RAM - 16;
        e.put_at(v, at + 4);
        assert_eq!(
            e.call(HYPERVISOR_DOMCTL, [at, 0, 0, 0, 0, 0]).rax as i32,
            -(EFAULT)
        );
        assert_eq!(e.hv.calls, 0);
    }
}
