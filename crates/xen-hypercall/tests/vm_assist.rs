// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! vm_assist: enable/disable of `VMASST_TYPE_runstate_update_flag`, bad types and commands.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

fn vm_assist(e: &mut Env, cmd: u64, vm_type: u64) -> i64 {
    match e
        .call(HYPERVISOR_VM_ASSIST, [cmd, vm_type, 0, 0, 0, 0])
        .outcome
    {
        HypercallOutcome::Done(v) => v,
        o => panic!("unexpected outcome {o:?}"),
    }
}

#[test]
fn enable_and_disable_runstate_update_flag() {
    for w in both() {
        let mut e = Env::new(w);
        let t = VMASST_TYPE_RUNSTATE_UPDATE_FLAG.into();
        assert_eq!(vm_assist(&mut e, VMASST_CMD_ENABLE.into(), t), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::VmAssist {
                vm_type: VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
                enable: true
            })
        );
        assert_eq!(vm_assist(&mut e, VMASST_CMD_DISABLE.into(), t), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::VmAssist {
                vm_type: VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
                enable: false
            })
        );
        assert_eq!(e.hv.calls, 2);
    }
}

#[test]
fn upper_register_bits_are_ignored() {
    // Xen takes cmd and type as C unsigned ints.
    let mut e = Env::new(GuestWidth::Bits64);
    let t = u64::from(VMASST_TYPE_RUNSTATE_UPDATE_FLAG) | 0xffff_0000_0000_0000;
    assert_eq!(vm_assist(&mut e, 0xdead_0000_0000_0000, t), 0);
    assert_eq!(
        e.hv.last,
        Some(Call::VmAssist {
            vm_type: VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
            enable: true
        })
    );
}

#[test]
fn bad_type_gets_einval_and_bad_cmd_enosys() {
    for w in both() {
        let mut e = Env::new(w);
        let good = VMASST_TYPE_RUNSTATE_UPDATE_FLAG.into();
        // Types the handler does not offer (PV-only ones, unknown ones).
        for t in [0u64, 1, 2, 3, 4, 6, 32, 63] {
            assert_eq!(vm_assist(&mut e, VMASST_CMD_ENABLE.into(), t), neg(EINVAL));
        }
        // Types beyond the 64-bit mask are rejected before the handler runs.
        for t in [64u64, 0xffff_ffff] {
            assert_eq!(vm_assist(&mut e, VMASST_CMD_ENABLE.into(), t), neg(EINVAL));
            // Xen checks the type before the command.
            assert_eq!(vm_assist(&mut e, 7, t), neg(EINVAL));
        }
        for cmd in [2u64, 7, 0xffff_ffff] {
            assert_eq!(vm_assist(&mut e, cmd, good), neg(ENOSYS));
        }
        assert_eq!(e.hv.calls, 0);
        assert_eq!(e.hv.last, None);
    }
}

#[test]
fn default_handler_offers_nothing() {
    struct NoAssists;
    impl VmAssistHandler for NoAssists {}
    let mut h = NoAssists;
    for t in [0, VMASST_TYPE_RUNSTATE_UPDATE_FLAG, 63] {
        assert_eq!(h.vm_assist(0, t, true), Err(Errno::EINVAL));
        assert_eq!(h.vm_assist(0, t, false), Err(Errno::EINVAL));
    }
}

#[test]
fn cpl3_cannot_enable() {
    for w in both() {
        let mut e = Env::new(w);
        e.cpl = 3;
        let t = VMASST_TYPE_RUNSTATE_UPDATE_FLAG.into();
        assert_eq!(vm_assist(&mut e, VMASST_CMD_ENABLE.into(), t), neg(EPERM));
        assert_eq!(e.hv.calls, 0);
    }
}
