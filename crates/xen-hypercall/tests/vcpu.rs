// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! vcpu_op and set_timer_op.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

fn vop(e: &mut Env, cmd: u32, target: u64, arg: u64) -> i64 {
    match e
        .call(HYPERVISOR_VCPU_OP, [cmd.into(), target, arg, 0, 0, 0])
        .outcome
    {
        HypercallOutcome::Done(v) => v,
        o => panic!("{o:?}"),
    }
}

#[test]
fn register_vcpu_info() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(VcpuRegisterVcpuInfo {
            mfn: 0x123,
            offset: 4096 - 64,
            rsvd: 0,
        });
        assert_eq!(vop(&mut e, VCPUOP_REGISTER_VCPU_INFO, 1, ARG), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::RegisterVcpuInfo {
                target: 1,
                gfn: 0x123,
                offset: 4032
            })
        );
        e.put(VcpuRegisterVcpuInfo {
            mfn: 0x123,
            offset: 4096 - 63,
            rsvd: 0,
        });
        assert_eq!(vop(&mut e, VCPUOP_REGISTER_VCPU_INFO, 0, ARG), neg(EINVAL));
        e.put(VcpuRegisterVcpuInfo {
            mfn: 0x123,
            offset: 0,
            rsvd: 0,
        });
        assert_eq!(vop(&mut e, VCPUOP_REGISTER_VCPU_INFO, 2, ARG), neg(ENOENT));
        assert_eq!(vop(&mut e, VCPUOP_REGISTER_VCPU_INFO, 0, BAD), neg(EFAULT));
    }
}

/// Xen never reads `rsvd` and Linux 5.10 leaves it uninitialised on the stack: garbage
/// there must not fail the registration (regression: it gave -EINVAL).
#[test]
fn register_vcpu_info_ignores_rsvd() {
    for w in both() {
        let mut e = Env::new(w);
        for rsvd in [1, 0xdead_beef, u32::MAX] {
            e.put(VcpuRegisterVcpuInfo {
                mfn: 0x456,
                offset: 64,
                rsvd,
            });
            assert_eq!(
                vop(&mut e, VCPUOP_REGISTER_VCPU_INFO, 1, ARG),
                0,
                "{rsvd:#x}"
            );
            assert_eq!(
                e.hv.last,
                Some(Call::RegisterVcpuInfo {
                    target: 1,
                    gfn: 0x456,
                    offset: 64
                })
            );
        }
    }
}

#[test]
fn register_runstate_area_sizes_and_split() {
    for (w, len) in [(GuestWidth::Bits64, 48usize), (GuestWidth::Bits32, 44)] {
        let mut e = Env::new(w);
        e.put(VcpuRegisterRunstateMemoryArea { addr: 0x3000 });
        assert_eq!(vop(&mut e, VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, ARG), 0);
        let want = GuestArea {
            gva: 0x3000,
            gpa: 0x3000,
            len,
            split: None,
        };
        assert_eq!(
            e.hv.last,
            Some(Call::RegisterRunstate {
                target: 0,
                area: Some(want)
            })
        );
        // Crossing a page.
        e.put(VcpuRegisterRunstateMemoryArea { addr: 0x3ff0 });
        assert_eq!(vop(&mut e, VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 1, ARG), 0);
        let want = GuestArea {
            gva: 0x3ff0,
            gpa: 0x3ff0,
            len,
            split: Some((16, 0x4000)),
        };
        assert_eq!(
            e.hv.last,
            Some(Call::RegisterRunstate {
                target: 1,
                area: Some(want)
            })
        );
        // NULL unregisters.
        e.put(VcpuRegisterRunstateMemoryArea { addr: 0 });
        assert_eq!(vop(&mut e, VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, ARG), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::RegisterRunstate {
                target: 0,
                area: None
            })
        );
    }
}

#[test]
fn runstate_area_32bit_ignores_garbage_upper_half() {
    let mut e = Env::new(GuestWidth::Bits32);
    e.put(VcpuRegisterRunstateMemoryArea {
        addr: 0xdead_beef_0000_3000,
    });
    assert_eq!(vop(&mut e, VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, ARG), 0);
    let want = GuestArea {
        gva: 0x3000,
        gpa: 0x3000,
        len: 44,
        split: None,
    };
    assert_eq!(
        e.hv.last,
        Some(Call::RegisterRunstate {
            target: 0,
            area: Some(want)
        })
    );
    // For a 64-bit guest the same value is an unmappable address.
    let mut e = Env::new(GuestWidth::Bits64);
    e.hv.gva_offset = 0x1000; // make translation fallible for low addresses
    e.put_at(VcpuRegisterRunstateMemoryArea { addr: 0x800 }, ARG - 0x1000);
    assert_eq!(
        vop(&mut e, VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, ARG),
        neg(EFAULT)
    );
}

#[test]
fn register_time_area() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(VcpuRegisterTimeMemoryArea { addr: 0x5000 });
        assert_eq!(
            vop(&mut e, VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 0, ARG),
            0
        );
        let want = GuestArea {
            gva: 0x5000,
            gpa: 0x5000,
            len: 32,
            split: None,
        };
        assert_eq!(
            e.hv.last,
            Some(Call::RegisterTime {
                target: 0,
                area: Some(want)
            })
        );
        assert_eq!(
            vop(&mut e, VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 5, ARG),
            neg(ENOENT)
        );
        assert_eq!(
            vop(&mut e, VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 0, BAD),
            neg(EFAULT)
        );
    }
}

#[test]
fn singleshot_timer() {
    for w in both() {
        let mut e = Env::new(w);
        let put = |e: &Env, t: u64, f: u32| match e.width {
            GuestWidth::Bits64 => {
                e.put(VcpuSetSingleshotTimer64 {
                    timeout_abs_ns: t,
                    flags: f,
                    pad: 0,
                });
            }
            GuestWidth::Bits32 => {
                e.put(VcpuSetSingleshotTimer32 {
                    timeout_abs_ns: t,
                    flags: f,
                });
            }
        };
        put(&e, 5000, VCPU_SSHOTTMR_FUTURE);
        assert_eq!(vop(&mut e, VCPUOP_SET_SINGLESHOT_TIMER, 0, ARG), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::SetSingleshot {
                target: 0,
                timeout: 5000,
                future: true
            })
        );
        put(&e, 10, VCPU_SSHOTTMR_FUTURE);
        assert_eq!(vop(&mut e, VCPUOP_SET_SINGLESHOT_TIMER, 0, ARG), neg(ETIME));
        put(&e, 10, 0);
        assert_eq!(vop(&mut e, VCPUOP_SET_SINGLESHOT_TIMER, 0, ARG), 0);
        put(&e, 10, 2);
        assert_eq!(
            vop(&mut e, VCPUOP_SET_SINGLESHOT_TIMER, 0, ARG),
            neg(EINVAL)
        );
        assert_eq!(
            vop(&mut e, VCPUOP_SET_SINGLESHOT_TIMER, 0, BAD),
            neg(EFAULT)
        );
        assert_eq!(vop(&mut e, VCPUOP_STOP_SINGLESHOT_TIMER, 1, 0), 0);
        assert_eq!(e.hv.last, Some(Call::StopSingleshot { target: 1 }));
        assert_eq!(vop(&mut e, VCPUOP_STOP_SINGLESHOT_TIMER, 9, 0), neg(ENOENT));
    }
}

#[test]
fn periodic_timer() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(VcpuSetPeriodicTimer {
            period_ns: 10_000_000,
        });
        assert_eq!(vop(&mut e, VCPUOP_SET_PERIODIC_TIMER, 1, ARG), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::SetPeriodic {
                target: 1,
                period: 10_000_000
            })
        );
        e.put(VcpuSetPeriodicTimer { period_ns: 999_999 });
        assert_eq!(vop(&mut e, VCPUOP_SET_PERIODIC_TIMER, 1, ARG), neg(EINVAL));
        assert_eq!(vop(&mut e, VCPUOP_SET_PERIODIC_TIMER, 1, BAD), neg(EFAULT));
        assert_eq!(vop(&mut e, VCPUOP_STOP_PERIODIC_TIMER, 0, 0), 0);
        assert_eq!(e.hv.last, Some(Call::StopPeriodic { target: 0 }));
        assert_eq!(
            vop(&mut e, VCPUOP_STOP_PERIODIC_TIMER, u64::from(u32::MAX), 0),
            neg(ENOENT)
        );
    }
}

#[test]
fn set_timer_op_both_widths() {
    let mut e = Env::new(GuestWidth::Bits64);
    let r = e.call(HYPERVISOR_SET_TIMER_OP, [0x1_2345_6789, 0, 0, 0, 0, 0]);
    assert_eq!(r.outcome, HypercallOutcome::Done(0));
    assert_eq!(e.hv.last, Some(Call::SetTimerOp(Some(0x1_2345_6789))));
    e.call(HYPERVISOR_SET_TIMER_OP, [0; 6]);
    assert_eq!(e.hv.last, Some(Call::SetTimerOp(None)));
    // 32-bit: low half in EBX, high half in ECX.
    let mut e = Env::new(GuestWidth::Bits32);
    e.call(HYPERVISOR_SET_TIMER_OP, [0x2345_6789, 0x1, 0, 0, 0, 0]);
    assert_eq!(e.hv.last, Some(Call::SetTimerOp(Some(0x1_2345_6789))));
    e.hv.fail_with = Some(Errno::EINVAL);
    assert_eq!(e.op(HYPERVISOR_SET_TIMER_OP, 5, 0), neg(EINVAL));
}
