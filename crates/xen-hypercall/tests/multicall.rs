// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! HYPERVISOR_multicall: per-entry results written back, nested multicalls refused, bad
//! counts and pointers, blocking and shutdown entries; for both entry layouts.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

/// Entries of the multicall list.
const LIST: u64 = 0x8000;

/// Writes `entries` (op, args) at `at` in the guest's layout.
fn put_entries(e: &Env, at: u64, entries: &[(u64, [u64; 6])]) {
    for (i, (op, args)) in entries.iter().enumerate() {
        match e.width {
            GuestWidth::Bits64 => e.put_at(
                MulticallEntry64 {
                    op: *op,
                    // Xen writes the result: a stale value here must not survive.
                    result: 0xdead_beef,
                    args: *args,
                },
                at + i as u64 * 64,
            ),
            GuestWidth::Bits32 => e.put_at(
                MulticallEntry32 {
                    op: *op as u32,
                    result: 0xdead_beef,
                    args: args.map(|a| a as u32),
                },
                at + i as u64 * 32,
            ),
        }
    }
}

/// Result of entry `i` at `at`, sign-extended from the guest's width.
fn result(e: &Env, at: u64, i: usize) -> i64 {
    match e.width {
        GuestWidth::Bits64 => e.get::<MulticallEntry64>(at + i as u64 * 64).result as i64,
        GuestWidth::Bits32 => {
            i64::from(e.get::<MulticallEntry32>(at + i as u64 * 32).result as i32)
        }
    }
}

fn multicall(e: &mut Env, list: u64, nr: u64) -> HypercallResult {
    e.call(HYPERVISOR_MULTICALL, [list, nr, 0, 0, 0, 0])
}

fn args(a: &[u64]) -> [u64; 6] {
    let mut r = [0; 6];
    r[..a.len()].copy_from_slice(a);
    r
}

#[test]
fn each_entry_gets_its_own_result() {
    for w in both() {
        let mut e = Env::new(w);
        e.put_at(EvtchnSend { port: 7 }, ARG);
        e.put_at(
            EvtchnBindIpi {
                vcpu: 1,
                port: 0xffff,
            },
            ARG + 0x100,
        );
        put_entries(
            &e,
            LIST,
            &[
                (HYPERVISOR_XEN_VERSION, args(&[XENVER_VERSION.into(), 0])),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    args(&[EVTCHNOP_SEND.into(), ARG]),
                ),
                // An unknown hypercall and a bad pointer fail alone.
                (99, args(&[])),
                (
                    HYPERVISOR_XEN_VERSION,
                    args(&[XENVER_EXTRAVERSION.into(), BAD]),
                ),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    args(&[EVTCHNOP_BIND_IPI.into(), ARG + 0x100]),
                ),
                (HYPERVISOR_XEN_VERSION, args(&[XENVER_PAGESIZE.into(), 0])),
            ],
        );
        let r = multicall(&mut e, LIST, 6);
        assert_eq!(r.outcome, HypercallOutcome::Done(0), "{w:?}");
        assert_eq!(r.rax, 0);
        assert_eq!(result(&e, LIST, 0), 4 << 16 | 17);
        assert_eq!(result(&e, LIST, 1), 0);
        assert_eq!(result(&e, LIST, 2), neg(ENOSYS));
        assert_eq!(result(&e, LIST, 3), neg(EFAULT));
        assert_eq!(result(&e, LIST, 4), 0);
        assert_eq!(result(&e, LIST, 5), 4096);
        // The sub-calls really ran, with their own output write-back.
        assert_eq!(e.hv.last, Some(Call::BindIpi { target: 1 }));
        assert_eq!(e.get::<EvtchnBindIpi>(ARG + 0x100).port, 1);
        // Only `result` is written: op and args are left as they were.
        match w {
            GuestWidth::Bits64 => {
                let x: MulticallEntry64 = e.get(LIST + 64);
                assert_eq!((x.op, x.args[1]), (HYPERVISOR_EVENT_CHANNEL_OP, ARG));
            }
            GuestWidth::Bits32 => {
                let x: MulticallEntry32 = e.get(LIST + 32);
                assert_eq!(
                    (x.op, x.args[1]),
                    (HYPERVISOR_EVENT_CHANNEL_OP as u32, ARG as u32)
                );
            }
        }
    }
}

/// 64-bit entries carry full 64-bit ops and arguments: an op with upper bits set is no
/// hypercall (-ENOSYS), as in Xen's 64-bit table lookup.
#[test]
fn wide_op_of_a_64_bit_entry_is_enosys() {
    let mut e = Env::new(GuestWidth::Bits64);
    put_entries(
        &e,
        LIST,
        &[
            ((1 << 32) | HYPERVISOR_XEN_VERSION, args(&[0])),
            (
                HYPERVISOR_XEN_VERSION,
                args(&[(1 << 32) | u64::from(XENVER_VERSION)]),
            ),
        ],
    );
    assert_eq!(
        multicall(&mut e, LIST, 2).outcome,
        HypercallOutcome::Done(0)
    );
    assert_eq!(result(&e, LIST, 0), neg(ENOSYS));
    // `cmd` is an int: upper bits of the argument are ignored, as for a direct call.
    assert_eq!(result(&e, LIST, 1), 4 << 16 | 17);
}

#[test]
fn nested_multicall_is_refused_with_einval() {
    for w in both() {
        let mut e = Env::new(w);
        put_entries(&e, LIST + 0x400, &[(HYPERVISOR_XEN_VERSION, args(&[0]))]);
        put_entries(
            &e,
            LIST,
            &[
                (HYPERVISOR_MULTICALL, args(&[LIST + 0x400, 1])),
                (HYPERVISOR_XEN_VERSION, args(&[XENVER_VERSION.into()])),
            ],
        );
        assert_eq!(
            multicall(&mut e, LIST, 2).outcome,
            HypercallOutcome::Done(0)
        );
        assert_eq!(result(&e, LIST, 0), neg(EINVAL));
        // The inner list was not run.
        assert_eq!(result(&e, LIST + 0x400, 0) & 0xffff_ffff, 0xdead_beef);
        assert_eq!(result(&e, LIST, 1), 4 << 16 | 17);
    }
}

#[test]
fn unreadable_entry_stops_with_efault_after_running_the_earlier_ones() {
    for w in both() {
        let mut e = Env::new(w);
        let size = if w == GuestWidth::Bits64 { 64 } else { 32 };
        // Two entries fit before the end of RAM; the third does not.
        let list = RAM - 2 * size;
        e.put_at(EvtchnSend { port: 3 }, ARG);
        put_entries(
            &e,
            list,
            &[
                (HYPERVISOR_XEN_VERSION, args(&[XENVER_VERSION.into()])),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    args(&[EVTCHNOP_SEND.into(), ARG]),
                ),
            ],
        );
        let r = multicall(&mut e, list, 3);
        assert_eq!(r.outcome, HypercallOutcome::Done(neg(EFAULT)));
        assert_eq!(result(&e, list, 0), 4 << 16 | 17);
        assert_eq!(result(&e, list, 1), 0);
        assert_eq!(e.hv.last, Some(Call::Send(3)));
        // A list that is not memory at all.
        assert_eq!(
            multicall(&mut e, BAD, 1).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
        // A list whose address wraps.
        assert_eq!(
            multicall(&mut e, u64::MAX - 8, 1).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
    }
}

/// An entry running off the end of RAM faults before anything of it runs.
#[test]
fn entry_straddling_the_end_of_ram_is_efault() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            multicall(&mut e, RAM - 8, 1).outcome,
            HypercallOutcome::Done(neg(EFAULT))
        );
        assert_eq!(e.hv.calls, 0);
    }
}

#[test]
fn zero_entries_is_a_no_op() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(multicall(&mut e, BAD, 0).outcome, HypercallOutcome::Done(0));
        assert_eq!(e.hv.calls, 0);
    }
}

/// Xen takes any count (continuing long lists); without continuations a list is bounded,
/// and a longer one is refused before any entry runs.
#[test]
fn too_many_entries_is_e2big_and_runs_nothing() {
    for w in both() {
        let mut e = Env::new(w);
        put_entries(&e, LIST, &[(HYPERVISOR_XEN_VERSION, args(&[0]))]);
        let r = multicall(&mut e, LIST, u64::from(MAX_MULTICALL_CALLS) + 1);
        assert_eq!(r.outcome, HypercallOutcome::Done(neg(E2BIG)));
        assert_eq!(result(&e, LIST, 0) & 0xffff_ffff, 0xdead_beef);
        // The count is a uint32_t: upper bits of the register are ignored.
        let r = multicall(&mut e, LIST, (1 << 32) | 1);
        assert_eq!(r.outcome, HypercallOutcome::Done(0));
        assert_eq!(result(&e, LIST, 0), 4 << 16 | 17);
    }
}

#[test]
fn the_largest_list_runs_every_entry() {
    for w in both() {
        let mut e = Env::new(w);
        let n = MAX_MULTICALL_CALLS as usize;
        let entries = vec![(HYPERVISOR_XEN_VERSION, args(&[XENVER_PAGESIZE.into(), 0])); n];
        put_entries(&e, LIST, &entries);
        let r = multicall(&mut e, LIST, n as u64);
        assert_eq!(r.outcome, HypercallOutcome::Done(0));
        for i in 0..n {
            assert_eq!(result(&e, LIST, i), 4096, "entry {i}");
        }
    }
}

/// A multicall from user mode is refused as a whole (-EPERM), before any entry runs.
#[test]
fn multicall_from_cpl3_is_eperm() {
    for w in both() {
        let mut e = Env::new(w);
        e.cpl = 3;
        put_entries(&e, LIST, &[(HYPERVISOR_XEN_VERSION, args(&[0]))]);
        assert_eq!(
            multicall(&mut e, LIST, 1).outcome,
            HypercallOutcome::Done(neg(EPERM))
        );
        assert_eq!(result(&e, LIST, 0) & 0xffff_ffff, 0xdead_beef);
    }
}

/// A blocking entry that is not the last returns 0 at once and the rest runs; the handler
/// is told its wait was abandoned.
#[test]
fn blocking_entry_in_the_middle_returns_at_once() {
    for w in both() {
        let mut e = Env::new(w);
        let ports = ARG + 0x200;
        e.put_at(5u32, ports);
        match w {
            GuestWidth::Bits64 => e.put_at(
                SchedPoll64 {
                    ports,
                    nr_ports: 1,
                    pad: 0,
                    timeout: 0,
                },
                ARG,
            ),
            GuestWidth::Bits32 => e.put_at(
                SchedPoll32 {
                    ports: ports as u32,
                    nr_ports: 1,
                    timeout: 0,
                },
                ARG,
            ),
        }
        put_entries(
            &e,
            LIST,
            &[
                (HYPERVISOR_SCHED_OP, args(&[SCHEDOP_BLOCK.into()])),
                (HYPERVISOR_SCHED_OP, args(&[SCHEDOP_POLL.into(), ARG])),
                (HYPERVISOR_XEN_VERSION, args(&[XENVER_VERSION.into()])),
            ],
        );
        let r = multicall(&mut e, LIST, 3);
        assert_eq!(r.outcome, HypercallOutcome::Done(0));
        assert_eq!(result(&e, LIST, 0), 0);
        assert_eq!(result(&e, LIST, 1), 0);
        assert_eq!(result(&e, LIST, 2), 4 << 16 | 17);
        assert_eq!(e.hv.abandoned, 2);
    }
}

/// A blocking last entry blocks the vCPU, as in Xen; its result is 0.
#[test]
fn blocking_last_entry_blocks() {
    for w in both() {
        let mut e = Env::new(w);
        put_entries(
            &e,
            LIST,
            &[
                (HYPERVISOR_XEN_VERSION, args(&[XENVER_VERSION.into()])),
                (HYPERVISOR_SCHED_OP, args(&[SCHEDOP_BLOCK.into()])),
            ],
        );
        let r = multicall(&mut e, LIST, 2);
        assert_eq!(r.outcome, HypercallOutcome::Block { deadline_ns: None });
        assert_eq!(r.rax, 0);
        assert_eq!(result(&e, LIST, 0), 4 << 16 | 17);
        assert_eq!(result(&e, LIST, 1), 0);
        assert_eq!(e.hv.abandoned, 0);
    }
}

/// A shutdown entry stops the multicall: the domain is going away.
#[test]
fn shutdown_entry_ends_the_multicall() {
    for w in both() {
        let mut e = Env::new(w);
        e.put_at(
            SchedShutdown {
                reason: SHUTDOWN_REBOOT,
            },
            ARG,
        );
        e.put_at(EvtchnSend { port: 9 }, ARG + 0x100);
        put_entries(
            &e,
            LIST,
            &[
                (HYPERVISOR_SCHED_OP, args(&[SCHEDOP_SHUTDOWN.into(), ARG])),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    args(&[EVTCHNOP_SEND.into(), ARG + 0x100]),
                ),
            ],
        );
        let r = multicall(&mut e, LIST, 2);
        assert_eq!(r.outcome, HypercallOutcome::Shutdown(SHUTDOWN_REBOOT));
        assert_eq!(result(&e, LIST, 0), 0);
        assert_eq!(result(&e, LIST, 1) & 0xffff_ffff, 0xdead_beef);
        assert_eq!(e.hv.last, Some(Call::Shutdown(SHUTDOWN_REBOOT)));
    }
}

/// 32-bit results are `int`: a negative errno is stored as 32 bits, the next entry's `op`
/// is untouched.
#[test]
fn compat_result_is_32_bits() {
    let mut e = Env::new(GuestWidth::Bits32);
    put_entries(
        &e,
        LIST,
        &[
            (99, args(&[])),
            (HYPERVISOR_XEN_VERSION, args(&[XENVER_VERSION.into()])),
        ],
    );
    assert_eq!(
        multicall(&mut e, LIST, 2).outcome,
        HypercallOutcome::Done(0)
    );
    let x: MulticallEntry32 = e.get(LIST);
    assert_eq!(x.result, (-ENOSYS) as u32);
    assert_eq!(x.op, 99);
    assert_eq!(e.get::<u32>(LIST + 8), 0);
    assert_eq!(result(&e, LIST, 1), 4 << 16 | 17);
}
