// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
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
            (0, HvmCallbackVia::None),
        ];
        for (v, via) in cases {
            let a = param(&e, HVM_PARAM_CALLBACK_IRQ, v);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), 0);
            assert_eq!(e.hv.last, Some(Call::SetParam(HvmParam::CallbackIrq(via))));
            let a = param(&e, HVM_PARAM_CALLBACK_IRQ, 0xdead);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), 0);
            assert_eq!(e.get::<XenHvmParam>(ARG).value, v);
        }
    }
}

/// `RecordingHypervisor` answers as the reference VMM (xen-vmm's `set_param`) does: it has
/// no PCI device, so a PCI INTx callback is refused, as are a GSI it has no pin for and a
/// vector below 0x10. Regression: it accepted them all, unlike any real VMM here.
#[test]
fn callback_irq_the_vmm_cannot_deliver_is_refused() {
    for w in both() {
        let mut e = Env::new(w);
        let a = param(&e, HVM_PARAM_CALLBACK_IRQ, (2 << 56) | 0xf3);
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), 0);
        for (v, via) in [
            (
                (1u64 << 56) | (3 << 8) | 1,
                HvmCallbackVia::PciIntx {
                    domain: 0,
                    bus: 0,
                    devfn: 3,
                    pin: 1,
                },
            ),
            (48, HvmCallbackVia::Gsi(48)),
            ((2 << 56) | 0x0f, HvmCallbackVia::Vector(0x0f)),
        ] {
            let a = param(&e, HVM_PARAM_CALLBACK_IRQ, v);
            assert_eq!(
                e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a),
                neg(EINVAL),
                "{v:#x}"
            );
            assert_eq!(e.hv.last, Some(Call::SetParam(HvmParam::CallbackIrq(via))));
            // The callback in place is kept.
            let a = param(&e, HVM_PARAM_CALLBACK_IRQ, 0);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), 0);
            assert_eq!(e.get::<XenHvmParam>(ARG).value, (2 << 56) | 0xf3);
        }
    }
}

/// `HVM_PARAM_CALLBACK_IRQ` is decoded as Xen's `hvm_set_callback_via` does: the type is
/// bits 63:56, a GSI is bits 55:0, a vector bits 7:0, a PCI INTx line keeps only its
/// fields, and Xen never fails the call: an unknown type or a GSI that cannot exist
/// disables the callback (`None`). Regression: these gave -EINVAL without reaching the
/// handler.
#[test]
fn callback_irq_decodes_like_xen() {
    for w in both() {
        let mut e = Env::new(w);
        for (v, via) in [
            // GSI type: bits 55:0 are the GSI; one above 32 bits exists nowhere.
            ((1u64 << 40) | 5, HvmCallbackVia::None),
            (0x00ff_ffff_ffff_ffff, HvmCallbackVia::None),
            (0x1f, HvmCallbackVia::Gsi(0x1f)),
            // Vector type: bits 55:8 are ignored.
            (
                (2 << 56) | 0x00ab_cdef_0000_01f3,
                HvmCallbackVia::Vector(0xf3),
            ),
            // Unknown types disable the callback.
            (3 << 56, HvmCallbackVia::None),
            ((7 << 56) | 5, HvmCallbackVia::None),
            ((0xff << 56) | 0x1234, HvmCallbackVia::None),
        ] {
            e.hv.last = None;
            let a = param(&e, HVM_PARAM_CALLBACK_IRQ, v);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), 0, "{v:#x}");
            assert_eq!(
                e.hv.last,
                Some(Call::SetParam(HvmParam::CallbackIrq(via))),
                "{v:#x}"
            );
        }
        // PCI INTx: bits 55:48 and 7:2 are ignored; the handler gets the line (and refuses
        // or accepts it: that is the VMM's call).
        e.hv.last = None;
        let v = (1u64 << 56) | (0xff << 48) | (0x1234 << 32) | (0x56 << 16) | (0x18 << 8) | 0xfe;
        let a = param(&e, HVM_PARAM_CALLBACK_IRQ, v);
        e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a);
        assert_eq!(
            e.hv.last,
            Some(Call::SetParam(HvmParam::CallbackIrq(
                HvmCallbackVia::PciIntx {
                    domain: 0x1234,
                    bus: 0x56,
                    devfn: 0x18,
                    pin: 2
                }
            )))
        );
    }
}

/// The xenstore and console parameters are the VMM's: a guest reads them, and setting one
/// is refused with -EPERM as in the reference VMM (regression: `RecordingHypervisor` let the
/// guest overwrite them).
#[test]
fn store_and_console_pages_are_read_only_their_ports_are_not() {
    for w in both() {
        let mut e = Env::new(w);
        for (i, v, want) in [
            (HVM_PARAM_STORE_PFN, 0xfeffc, HvmParam::StorePfn(0xfeffc)),
            (
                HVM_PARAM_CONSOLE_PFN,
                0xfeffd,
                HvmParam::ConsolePfn(0xfeffd),
            ),
        ] {
            e.hv.params[i as usize] = 0x77;
            let a = param(&e, i, v);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), neg(EPERM));
            assert_eq!(e.hv.last, Some(Call::SetParam(want)));
            let a = param(&e, i, 0xdead);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), 0);
            let p: XenHvmParam = e.get(ARG);
            assert_eq!(p.value, 0x77, "param {i} unchanged");
            assert_eq!(p.index, i, "input fields preserved");
        }
        // Xen lets a guest set its own store / console event-channel params.
        for (i, v, want) in [
            (HVM_PARAM_STORE_EVTCHN, 3, HvmParam::StoreEvtchn(3)),
            (HVM_PARAM_CONSOLE_EVTCHN, 4, HvmParam::ConsoleEvtchn(4)),
        ] {
            let a = param(&e, i, v);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), 0);
            assert_eq!(e.hv.last, Some(Call::SetParam(want)));
            let a = param(&e, i, 0xdead);
            assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), 0);
            let p: XenHvmParam = e.get(ARG);
            assert_eq!(p.value, v, "param {i} set");
        }
    }
}

#[test]
fn other_params_roundtrip() {
    for w in both() {
        let mut e = Env::new(w);
        let a = param(&e, HVM_PARAM_TIMER_MODE, 1);
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::SetParam(HvmParam::Other {
                index: HVM_PARAM_TIMER_MODE,
                value: 1,
            }))
        );
        let a = param(&e, HVM_PARAM_TIMER_MODE, 0xdead);
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), 0);
        assert_eq!(e.get::<XenHvmParam>(ARG).value, 1);
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
