// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! sched_op: yield, block, poll, shutdown.

mod common;
use common::*;
use vm_memory::Bytes;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

fn sched(e: &mut Env, cmd: u32, arg: u64) -> HypercallResult {
    e.call(HYPERVISOR_SCHED_OP, [cmd.into(), arg, 0, 0, 0, 0])
}

#[test]
fn yield_and_block() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            sched(&mut e, SCHEDOP_YIELD, 0).outcome,
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.hv.last, Some(Call::Yield));
        let r = sched(&mut e, SCHEDOP_BLOCK, 0);
        assert_eq!(r.outcome, HypercallOutcome::Block { deadline_ns: None });
        assert_eq!(r.rax, 0);
        e.hv.event_pending = true;
        assert_eq!(
            sched(&mut e, SCHEDOP_BLOCK, 0).outcome,
            HypercallOutcome::Done(0)
        );
    }
}

#[test]
fn shutdown_reasons() {
    for w in both() {
        let mut e = Env::new(w);
        for reason in 0..=SHUTDOWN_MAX {
            e.put(SchedShutdown { reason });
            let r = sched(&mut e, SCHEDOP_SHUTDOWN, ARG);
            assert_eq!(r.outcome, HypercallOutcome::Shutdown(reason));
            assert_eq!(r.rax, 0);
        }
        assert_eq!(
            sched(&mut e, SCHEDOP_SHUTDOWN, BAD).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
    }
}

/// Xen accepts any reason: `domain_shutdown` takes it as a `u8` (the upper bits are dropped)
/// and the toolstack decides what an unknown one means. Regression: reasons above
/// `SHUTDOWN_MAX` gave -EINVAL and the guest kept running.
#[test]
fn shutdown_unknown_reason_is_passed_on() {
    for w in both() {
        let mut e = Env::new(w);
        for (reason, want) in [
            (SHUTDOWN_MAX + 1, 6),
            (0xff, 0xff),
            (0x100 | SHUTDOWN_REBOOT, SHUTDOWN_REBOOT),
            (u32::MAX, 0xff),
        ] {
            e.put(SchedShutdown { reason });
            let r = sched(&mut e, SCHEDOP_SHUTDOWN, ARG);
            assert_eq!(r.outcome, HypercallOutcome::Shutdown(want), "{reason:#x}");
            assert_eq!(r.rax, 0);
            assert_eq!(e.hv.last, Some(Call::Shutdown(want)));
        }
    }
}

fn poll_arg(e: &Env, ports: u64, nr: u32, timeout: u64) -> u64 {
    match e.width {
        GuestWidth::Bits64 => e.put(SchedPoll64 {
            ports,
            nr_ports: nr,
            pad: 0,
            timeout,
        }),
        GuestWidth::Bits32 => e.put(SchedPoll32 {
            ports: ports as u32,
            nr_ports: nr,
            timeout,
        }),
    }
}

#[test]
fn poll_valid() {
    for w in both() {
        let mut e = Env::new(w);
        e.mem
            .write_obj([5u32, 6, 7], vm_memory::GuestAddress(BUF))
            .unwrap();
        let a = poll_arg(&e, BUF, 3, 123_456);
        let r = sched(&mut e, SCHEDOP_POLL, a);
        assert_eq!(
            r.outcome,
            HypercallOutcome::Block {
                deadline_ns: Some(123_456)
            }
        );
        assert_eq!(
            e.hv.last,
            Some(Call::Poll {
                first_port: Some(5),
                nr: 3,
                timeout: Some(123_456)
            })
        );
        e.hv.event_pending = true;
        let a = poll_arg(&e, BUF, 1, 0);
        assert_eq!(
            sched(&mut e, SCHEDOP_POLL, a).outcome,
            HypercallOutcome::Done(0)
        );
        assert_eq!(
            e.hv.last,
            Some(Call::Poll {
                first_port: Some(5),
                nr: 1,
                timeout: None
            })
        );
    }
}

#[test]
fn poll_invalid() {
    for w in both() {
        let mut e = Env::new(w);
        let a = poll_arg(&e, BUF, 129, 0);
        assert_eq!(
            sched(&mut e, SCHEDOP_POLL, a).outcome,
            HypercallOutcome::Done(neg(EINVAL))
        );
        let a = poll_arg(&e, BAD, 2, 0);
        assert_eq!(
            sched(&mut e, SCHEDOP_POLL, a).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
        // Port beyond NR_EVENT_CHANNELS for the width.
        let nr = w.nr_event_channels();
        e.mem
            .write_obj([1u32, nr], vm_memory::GuestAddress(BUF))
            .unwrap();
        let a = poll_arg(&e, BUF, 2, 0);
        assert_eq!(
            sched(&mut e, SCHEDOP_POLL, a).outcome,
            HypercallOutcome::Done(neg(EINVAL))
        );
        assert_eq!(
            sched(&mut e, SCHEDOP_POLL, BAD).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
        assert_eq!(e.hv.calls, 0);
    }
    // 1024 is valid for 64-bit guests only.
    let mut e = Env::new(GuestWidth::Bits64);
    e.mem
        .write_obj(1024u32, vm_memory::GuestAddress(BUF))
        .unwrap();
    let a = poll_arg(&e, BUF, 1, 0);
    assert!(matches!(
        sched(&mut e, SCHEDOP_POLL, a).outcome,
        HypercallOutcome::Block { .. }
    ));
}

/// `SCHEDOP_shutdown_code` sets the reason a later shutdown reports; the first one set
/// wins and the call always succeeds, as in Xen's `do_sched_op`.
#[test]
fn shutdown_code_is_reported_by_the_next_shutdown() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(SchedShutdown {
            reason: 0x100 | SHUTDOWN_CRASH,
        });
        assert_eq!(
            sched(&mut e, SCHEDOP_SHUTDOWN_CODE, ARG).outcome,
            HypercallOutcome::Done(0)
        );
        // Truncated to 8 bits, as Xen stores it.
        assert_eq!(e.hv.last, Some(Call::ShutdownCode(SHUTDOWN_CRASH)));
        e.put(SchedShutdown {
            reason: SHUTDOWN_REBOOT,
        });
        assert_eq!(
            sched(&mut e, SCHEDOP_SHUTDOWN_CODE, ARG).outcome,
            HypercallOutcome::Done(0)
        );
        e.put(SchedShutdown {
            reason: SHUTDOWN_POWEROFF,
        });
        assert_eq!(
            sched(&mut e, SCHEDOP_SHUTDOWN, ARG).outcome,
            HypercallOutcome::Shutdown(SHUTDOWN_CRASH)
        );
        assert_eq!(
            sched(&mut e, SCHEDOP_SHUTDOWN_CODE, BAD).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
    }
}

/// `SCHEDOP_remote_shutdown` looks the domain up by id (`DOMID_SELF` and unknown ids:
/// -ESRCH), then a domU may shut down no domain, itself included (-EPERM).
#[test]
fn remote_shutdown_of_a_domu() {
    for w in both() {
        let mut e = Env::new(w);
        let domid = e.hv.domid;
        for (dom, want) in [
            (DOMID_SELF, neg(ESRCH)),
            (7, neg(ESRCH)),
            (DOMID_IO, neg(ESRCH)),
            (domid, neg(EPERM)),
            (0, neg(EPERM)),
        ] {
            e.hv.last = None;
            e.put(SchedRemoteShutdown {
                domain_id: dom,
                pad: 0,
                reason: SHUTDOWN_POWEROFF,
            });
            let r = sched(&mut e, SCHEDOP_REMOTE_SHUTDOWN, ARG);
            assert_eq!(r.outcome, HypercallOutcome::Done(want), "domain {dom:#x}");
            // Only existing domains reach the handler.
            assert_eq!(e.hv.last.is_some(), want == neg(EPERM));
        }
        assert_eq!(
            sched(&mut e, SCHEDOP_REMOTE_SHUTDOWN, BAD).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
    }
}

/// `SCHEDOP_pin_override` is for the hardware domain only: -EPERM before the argument is
/// read. `SCHEDOP_watchdog` is not offered; unknown sub-ops are -ENOSYS.
#[test]
fn pin_override_and_unknown_sub_ops() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            sched(&mut e, SCHEDOP_PIN_OVERRIDE, BAD).outcome,
            HypercallOutcome::Done(neg(EPERM))
        );
        assert_eq!(
            sched(&mut e, 8, ARG).outcome,
            HypercallOutcome::Done(neg(ENOSYS))
        );
    }
}
