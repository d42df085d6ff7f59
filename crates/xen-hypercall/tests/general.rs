// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Cross-cutting dispatcher behaviour: privilege, unknown calls, result encoding, pointers.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

#[test]
fn cpl_above_zero_gets_eperm() {
    for w in both() {
        let mut e = Env::new(w);
        e.cpl = 3;
        let r = e.call(HYPERVISOR_SCHED_OP, [SCHEDOP_YIELD.into(), 0, 0, 0, 0, 0]);
        assert_eq!(r.outcome, HypercallOutcome::Done(neg(EPERM)));
        assert_eq!(e.hv.calls, 0, "handler must not run");
    }
}

#[test]
fn unknown_hypercall_and_subops_get_enosys() {
    for w in both() {
        let mut e = Env::new(w);
        for nr in [0u64, 6, 14, 16, 38, 99, 1 << 40] {
            assert_eq!(e.op(nr, 0, 0), neg(ENOSYS), "nr {nr}");
        }
        assert_eq!(e.op(HYPERVISOR_XEN_VERSION, 99, 0), neg(ENOSYS));
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, 99, 0), neg(ENOSYS));
        assert_eq!(e.op(HYPERVISOR_HVM_OP, 99, 0), neg(ENOSYS));
        assert_eq!(e.op(HYPERVISOR_SCHED_OP, 99, 0), neg(ENOSYS));
        assert_eq!(
            e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_INIT_CONTROL, ARG),
            neg(ENOSYS)
        );
        // Xen's HVM filter: ops that "need auditing" (get_status_frames included).
        for cmd in [
            GNTTABOP_TRANSFER,
            GNTTABOP_DUMP_TABLE,
            GNTTABOP_UNMAP_AND_REPLACE,
            GNTTABOP_GET_STATUS_FRAMES,
            GNTTABOP_CACHE_FLUSH,
            99,
        ] {
            assert_eq!(
                e.op(HYPERVISOR_GRANT_TABLE_OP, cmd, ARG),
                neg(ENOSYS),
                "{cmd}"
            );
        }
        assert_eq!(e.op(HYPERVISOR_CONSOLE_IO, 7, 0), neg(ENOSYS));
        assert_eq!(e.op(HYPERVISOR_VCPU_OP, VCPUOP_UP, 0), neg(ENOSYS));
        assert_eq!(e.hv.calls, 0);
    }
}

#[test]
fn result_encoding_per_width() {
    let mut e = Env::new(GuestWidth::Bits64);
    let r = e.call(HYPERVISOR_HVM_OP, [99, 0, 0, 0, 0, 0]);
    assert_eq!(r.rax, (-38i64) as u64);
    let mut e = Env::new(GuestWidth::Bits32);
    let r = e.call(HYPERVISOR_HVM_OP, [99, 0, 0, 0, 0, 0]);
    assert_eq!(r.rax, 0xffff_ffda);
}

#[test]
fn regs32_drop_upper_halves() {
    let r = HypercallRegs::from_regs32(0, 0xdead_0000_0000_0011, 1 << 32 | 5, 0, 0, 0, 0, 0);
    assert_eq!(r.nr, 17);
    assert_eq!(r.args[0], 5);
    let r = HypercallRegs::from_regs64(0, 17, 1 << 32 | 5, 2, 3, 4, 5, 6);
    assert_eq!(r.args, [1 << 32 | 5, 2, 3, 4, 5, 6]);
}

#[test]
fn bad_pointers_get_efault() {
    for w in both() {
        let mut e = Env::new(w);
        for ptr in [BAD, RAM - 2, u64::MAX - 3] {
            assert_eq!(
                e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, ptr),
                neg(EFAULT),
                "{ptr:#x}"
            );
        }
        assert_eq!(e.hv.calls, 0);
    }
}

#[test]
fn thirty_two_bit_pointer_wraps_to_low_half() {
    // A 32-bit guest's EBX upper half is ignored: 0x1_0000_2000 means 0x2000.
    let mut e = Env::new(GuestWidth::Bits32);
    e.put(EvtchnSend { port: 7 });
    let r = e.call(
        HYPERVISOR_EVENT_CHANNEL_OP,
        [u64::from(EVTCHNOP_SEND), (1 << 32) | ARG, 0, 0, 0, 0],
    );
    assert_eq!(r.outcome, HypercallOutcome::Done(0));
    assert_eq!(e.hv.last, Some(Call::Send(7)));
}

#[test]
fn pointers_are_translated_per_page() {
    let mut e = Env::new(GuestWidth::Bits64);
    e.hv.gva_offset = 0x8000_0000;
    // Struct straddling a page boundary in GVA space: translated page by page.
    let gva = 0x8000_0000 + 0x1ffc;
    e.put_at(EvtchnBindVcpu { port: 9, vcpu: 1 }, 0x1ffc);
    assert_eq!(
        e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_BIND_VCPU, gva),
        0
    );
    assert_eq!(e.hv.last, Some(Call::BindVcpu { port: 9, target: 1 }));
    // Below the offset: unmapped.
    assert_eq!(
        e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, 0x2000),
        neg(EFAULT)
    );
}

#[test]
fn handler_errors_propagate() {
    for w in both() {
        let mut e = Env::new(w);
        e.hv.fail_with = Some(Errno::EINVAL);
        e.put(EvtchnSend { port: 4095 });
        assert_eq!(
            e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, ARG),
            neg(EINVAL)
        );
    }
}

#[test]
fn decode_alone_gives_typed_request() {
    let e = Env::new(GuestWidth::Bits64);
    e.put(EvtchnUnmask { port: 12 });
    let regs = e.regs(
        HYPERVISOR_EVENT_CHANNEL_OP,
        [EVTCHNOP_UNMASK.into(), ARG, 0, 0, 0, 0],
    );
    let ctx = DecodeContext::new(0, 1, 2);
    struct Id;
    impl AddressTranslate for Id {}
    let req = decode(&regs, &ctx, &e.mem, &mut Id).unwrap();
    assert_eq!(req, Request::Evtchn(EvtchnReq::Unmask { port: 12 }));
}
