// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! event_channel_op: all 2-level ops.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;

fn ev(e: &mut Env, cmd: u32, arg: u64) -> i64 {
    e.op(HYPERVISOR_EVENT_CHANNEL_OP, cmd, arg)
}

#[test]
fn alloc_unbound_writes_port() {
    for w in both() {
        let mut e = Env::new(w);
        e.hv.next_port = 42;
        e.put(EvtchnAllocUnbound {
            dom: DOMID_SELF,
            remote_dom: 0,
            port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_ALLOC_UNBOUND, ARG), 0);
        let out: EvtchnAllocUnbound = e.get(ARG);
        assert_eq!(
            out,
            EvtchnAllocUnbound {
                dom: DOMID_SELF,
                remote_dom: 0,
                port: 42
            }
        );
        e.put(EvtchnAllocUnbound {
            dom: 5,
            remote_dom: 0,
            port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_ALLOC_UNBOUND, ARG), neg(ESRCH));
        assert_eq!(ev(&mut e, EVTCHNOP_ALLOC_UNBOUND, BAD), neg(EFAULT));
        e.hv.fail_with = Some(xen_hypercall::Errno::ENOSPC);
        e.put(EvtchnAllocUnbound {
            dom: DOMID_SELF,
            remote_dom: 0,
            port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_ALLOC_UNBOUND, ARG), neg(ENOSPC));
        assert_eq!(
            e.get::<EvtchnAllocUnbound>(ARG).port,
            0,
            "no write-back on error"
        );
    }
}

#[test]
fn bind_interdomain() {
    for w in both() {
        let mut e = Env::new(w);
        e.hv.next_port = 3;
        e.put(EvtchnBindInterdomain {
            remote_dom: 0,
            pad: 0,
            remote_port: 7,
            local_port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_INTERDOMAIN, ARG), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::BindInterdomain {
                remote_dom: 0,
                remote_port: 7
            })
        );
        assert_eq!(e.get::<EvtchnBindInterdomain>(ARG).local_port, 3);
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_INTERDOMAIN, BAD), neg(EFAULT));
    }
}

#[test]
fn bind_virq() {
    for w in both() {
        let mut e = Env::new(w);
        e.hv.next_port = 9;
        e.put(EvtchnBindVirq {
            virq: VIRQ_TIMER,
            vcpu: 1,
            port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_VIRQ, ARG), 0);
        assert_eq!(e.hv.last, Some(Call::BindVirq { virq: 0, target: 1 }));
        assert_eq!(e.get::<EvtchnBindVirq>(ARG).port, 9);
        e.put(EvtchnBindVirq {
            virq: NR_VIRQS,
            vcpu: 0,
            port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_VIRQ, ARG), neg(EINVAL));
        e.put(EvtchnBindVirq {
            virq: VIRQ_TIMER,
            vcpu: 2,
            port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_VIRQ, ARG), neg(ENOENT));
    }
}

#[test]
fn bind_pirq_default_eperm() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(EvtchnBindPirq {
            pirq: 1,
            flags: 0,
            port: 0,
        });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_PIRQ, ARG), neg(EPERM));
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_PIRQ, BAD), neg(EFAULT));
    }
}

#[test]
fn bind_ipi() {
    for w in both() {
        let mut e = Env::new(w);
        e.hv.next_port = 11;
        e.put(EvtchnBindIpi { vcpu: 0, port: 0 });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_IPI, ARG), 0);
        assert_eq!(e.get::<EvtchnBindIpi>(ARG).port, 11);
        e.put(EvtchnBindIpi { vcpu: 99, port: 0 });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_IPI, ARG), neg(ENOENT));
    }
}

#[test]
fn close_send_unmask() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(EvtchnClose { port: 5 });
        assert_eq!(ev(&mut e, EVTCHNOP_CLOSE, ARG), 0);
        assert_eq!(e.hv.last, Some(Call::Close(5)));
        assert_eq!(ev(&mut e, EVTCHNOP_SEND, ARG), 0);
        assert_eq!(e.hv.last, Some(Call::Send(5)));
        assert_eq!(ev(&mut e, EVTCHNOP_UNMASK, ARG), 0);
        assert_eq!(e.hv.last, Some(Call::Unmask(5)));
        for cmd in [EVTCHNOP_CLOSE, EVTCHNOP_SEND, EVTCHNOP_UNMASK] {
            assert_eq!(ev(&mut e, cmd, BAD), neg(EFAULT));
        }
        e.hv.fail_with = Some(xen_hypercall::Errno::EINVAL);
        assert_eq!(ev(&mut e, EVTCHNOP_SEND, ARG), neg(EINVAL));
    }
}

#[test]
fn status_written_back() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(EvtchnStatus {
            dom: DOMID_SELF,
            port: 4,
            ..Default::default()
        });
        assert_eq!(ev(&mut e, EVTCHNOP_STATUS, ARG), 0);
        let s: EvtchnStatus = e.get(ARG);
        assert_eq!(s.status, EVTCHNSTAT_INTERDOMAIN);
        assert_eq!(s.vcpu, 1);
        assert_eq!(s.u, [0, 104]);
        assert_eq!((s.dom, s.port), (DOMID_SELF, 4));
        e.put(EvtchnStatus {
            dom: 3,
            port: 4,
            ..Default::default()
        });
        assert_eq!(ev(&mut e, EVTCHNOP_STATUS, ARG), neg(ESRCH));
        assert_eq!(ev(&mut e, EVTCHNOP_STATUS, BAD), neg(EFAULT));
    }
}

#[test]
fn bind_vcpu_and_reset() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(EvtchnBindVcpu { port: 3, vcpu: 1 });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_VCPU, ARG), 0);
        assert_eq!(e.hv.last, Some(Call::BindVcpu { port: 3, target: 1 }));
        e.put(EvtchnBindVcpu { port: 3, vcpu: 2 });
        assert_eq!(ev(&mut e, EVTCHNOP_BIND_VCPU, ARG), neg(ENOENT));
        e.put(EvtchnReset { dom: DOMID_SELF });
        assert_eq!(ev(&mut e, EVTCHNOP_RESET, ARG), 0);
        assert_eq!(e.hv.last, Some(Call::Reset));
        e.put(EvtchnReset { dom: 0 });
        assert_eq!(ev(&mut e, EVTCHNOP_RESET, ARG), neg(ESRCH));
    }
}
