//! hvm_op: set/get param, upcall vector.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

fn param(e: &Env, index: u32, value: u64) -> u64 {
    e.put(XenHvmParam {
        domid: DOMID_SELF,
        pad: 0,
        index,
        value,
    })
}

#[test]
fn set_callback_irq_types() {
    for w in both() {
        let mut e = Env::new(w);
        let cases = [
            (5u64, HvmCallbackVia::Gsi(5)),
            ((2 << 56) | 0xf3, HvmCallbackVia::Vector(0xf3)),
            (
                (1 << 56) | (3 << 8) | 1,
                HvmCallbackVia::PciIntx {
                    domain: 0,
                    bus: 0,
                    devfn: 3,
                    pin: 1,
                },
            ),
            (0, HvmCallbackVia::None),
        ];
        for (v, via) in cases {
            let a = param(&e, HVM_PARAM_CALLBACK_IRQ, v);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), 0);
            assert_eq!(e.hv.last, Some(Call::SetParam(HvmParam::CallbackIrq(via))));
        }
        let a = param(&e, HVM_PARAM_CALLBACK_IRQ, 7 << 56);
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), neg(EINVAL));
        let a = param(&e, HVM_PARAM_CALLBACK_IRQ, (2 << 56) | 0x1ff);
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), neg(EINVAL));
    }
}

#[test]
fn store_and_console_params_roundtrip() {
    for w in both() {
        let mut e = Env::new(w);
        for (i, v, want) in [
            (HVM_PARAM_STORE_PFN, 0xfeffc, HvmParam::StorePfn(0xfeffc)),
            (HVM_PARAM_STORE_EVTCHN, 3, HvmParam::StoreEvtchn(3)),
            (
                HVM_PARAM_CONSOLE_PFN,
                0xfeffd,
                HvmParam::ConsolePfn(0xfeffd),
            ),
            (HVM_PARAM_CONSOLE_EVTCHN, 4, HvmParam::ConsoleEvtchn(4)),
            (
                HVM_PARAM_TIMER_MODE,
                1,
                HvmParam::Other {
                    index: HVM_PARAM_TIMER_MODE,
                    value: 1,
                },
            ),
        ] {
            let a = param(&e, i, v);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), 0);
            assert_eq!(e.hv.last, Some(Call::SetParam(want)));
            let a = param(&e, i, 0xdead);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), 0);
            let p: XenHvmParam = e.get(ARG);
            assert_eq!(p.value, v);
            assert_eq!(p.index, i, "input fields preserved");
        }
    }
}

#[test]
fn param_invalid() {
    for w in both() {
        let mut e = Env::new(w);
        let a = param(&e, HVM_NR_PARAMS, 1);
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), neg(EINVAL));
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), neg(EINVAL));
        e.put(XenHvmParam {
            domid: 9,
            pad: 0,
            index: 1,
            value: 1,
        });
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, ARG), neg(ESRCH));
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, BAD), neg(EFAULT));
        assert_eq!(e.hv.calls, 0);
    }
}

#[test]
fn upcall_vector() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(XenHvmEvtchnUpcallVector {
            vcpu: 1,
            vector: 0xf3,
            pad: [0; 3],
        });
        assert_eq!(
            e.op(HYPERVISOR_HVM_OP, HVMOP_SET_EVTCHN_UPCALL_VECTOR, ARG),
            0
        );
        assert_eq!(
            e.hv.last,
            Some(Call::SetUpcallVector {
                target: 1,
                vector: 0xf3
            })
        );
        e.put(XenHvmEvtchnUpcallVector {
            vcpu: 1,
            vector: 0x0f,
            pad: [0; 3],
        });
        assert_eq!(
            e.op(HYPERVISOR_HVM_OP, HVMOP_SET_EVTCHN_UPCALL_VECTOR, ARG),
            neg(EINVAL)
        );
        e.put(XenHvmEvtchnUpcallVector {
            vcpu: 2,
            vector: 0xf3,
            pad: [0; 3],
        });
        assert_eq!(
            e.op(HYPERVISOR_HVM_OP, HVMOP_SET_EVTCHN_UPCALL_VECTOR, ARG),
            neg(ENOENT)
        );
        assert_eq!(
            e.op(HYPERVISOR_HVM_OP, HVMOP_SET_EVTCHN_UPCALL_VECTOR, BAD),
            neg(EFAULT)
        );
    }
}
