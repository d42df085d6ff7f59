// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! FIFO event channels through `XenPlatform::on_hypercall`: `EVTCHNOP_init_control` /
//! `expand_array` / `set_priority` with Xen's errnos (64- and 32-bit callers), events
//! linked into the queues in guest memory with the upcall, unmask, and save / restore.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{PlatformConfig, UpcallKind};

const VEC: u8 = 0xf3;
const CB_GFN: u64 = 0x200;
const CB: u64 = CB_GFN << 12;
const ARRAY_GFN: u64 = 0x201;
const ARRAY: u64 = ARRAY_GFN << 12;
const P: u32 = 1 << EVTCHN_FIFO_PENDING;
const M: u32 = 1 << EVTCHN_FIFO_MASKED;
const L: u32 = 1 << EVTCHN_FIFO_LINKED;

fn op(vm: &mut Vm, cmd: u32) -> i64 {
    vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[u64::from(cmd), ARGS])
}

fn init_control(vm: &mut Vm, gfn: u64, offset: u32, vcpu: u32) -> i64 {
    vm.write(
        ARGS,
        EvtchnInitControl {
            control_gfn: gfn,
            offset,
            vcpu,
            ..Default::default()
        },
    );
    op(vm, EVTCHNOP_INIT_CONTROL)
}

fn expand(vm: &mut Vm, gfn: u64) -> i64 {
    vm.write(ARGS, EvtchnExpandArray { array_gfn: gfn });
    op(vm, EVTCHNOP_EXPAND_ARRAY)
}

fn set_priority(vm: &mut Vm, port: u32, priority: u32) -> i64 {
    vm.write(ARGS, EvtchnSetPriority { port, priority });
    op(vm, EVTCHNOP_SET_PRIORITY)
}

/// vCPU `v`'s control block (at `CB + v * 0x100`).
fn cb(vm: &mut Vm, v: u32) -> EvtchnFifoControlBlock {
    vm.read(CB + u64::from(v) * 0x100)
}

fn word(vm: &mut Vm, port: u32) -> u32 {
    vm.read(ARRAY + u64::from(port) * 4)
}

#[test]
fn fifo_ops_get_xen_errnos() {
    let mut vm = Vm::new(2);
    // On the 2-level ABI: set_priority is ENOSYS (a port out of range: EINVAL), expand_array
    // EOPNOTSUPP.
    assert_eq!(set_priority(&mut vm, 1, 0), err(errno::ENOSYS));
    assert_eq!(set_priority(&mut vm, 4096, 0), err(errno::EINVAL));
    assert_eq!(expand(&mut vm, ARRAY_GFN), err(errno::EOPNOTSUPP));
    // init_control: bad vCPU, offsets, frames.
    assert_eq!(init_control(&mut vm, CB_GFN, 0, 2), err(errno::ENOENT));
    assert_eq!(
        init_control(&mut vm, CB_GFN, 4096 - 64, 0),
        err(errno::EINVAL)
    );
    assert_eq!(init_control(&mut vm, CB_GFN, 12, 0), err(errno::EINVAL));
    assert_eq!(init_control(&mut vm, MEM >> 12, 0, 0), err(errno::EINVAL));
    assert_eq!(init_control(&mut vm, u64::MAX, 0, 0), err(errno::EINVAL));
    let r: EvtchnInitControl = vm.read(ARGS);
    assert_eq!(r.link_bits, 0, "no write-back on failure");
    // Success writes link_bits back; a second time for the vCPU is EINVAL.
    assert_eq!(init_control(&mut vm, CB_GFN, 0, 0), 0);
    let r: EvtchnInitControl = vm.read(ARGS);
    assert_eq!(r.link_bits, 17);
    assert_eq!(init_control(&mut vm, CB_GFN, 0, 0), err(errno::EINVAL));
    // A 32-bit caller uses the same struct.
    vm.write(
        ARGS,
        EvtchnInitControl {
            control_gfn: CB_GFN,
            offset: 0x100,
            vcpu: 1,
            ..Default::default()
        },
    );
    assert_eq!(
        vm.hc32(
            1,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_INIT_CONTROL), ARGS]
        ),
        0
    );
    assert_eq!(vm.read::<EvtchnInitControl>(ARGS).link_bits, 17);
    // expand_array: not RAM; set_priority: priority out of range.
    assert_eq!(expand(&mut vm, MEM >> 12), err(errno::EINVAL));
    assert_eq!(expand(&mut vm, ARRAY_GFN), 0);
    let port = vm.bind_ipi(0);
    assert_eq!(set_priority(&mut vm, port, 16), err(errno::EINVAL));
    assert_eq!(set_priority(&mut vm, port, 15), 0);
    assert_eq!(set_priority(&mut vm, 1 << 17, 0), err(errno::EINVAL));
    // A port that is not allocated: EINVAL.
    assert_eq!(set_priority(&mut vm, port + 100, 0), err(errno::EINVAL));
    assert_eq!(set_priority(&mut vm, 0, 0), err(errno::EINVAL));
    // A pointer outside RAM: EFAULT, as every op.
    assert_eq!(
        vm.hc(
            0,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_INIT_CONTROL), MEM]
        ),
        err(errno::EFAULT)
    );
}

#[test]
fn events_go_through_the_queues_with_the_upcall() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    // A port pending on the 2-level ABI stays pending across the switch.
    let early = vm.bind_ipi(1);
    assert_eq!(vm.send(0, early), 0);
    let _ = vm.upcalls();
    vm.write(Vm::vcpu_info(1), 0u8); // the guest acknowledged that upcall
    assert_eq!(init_control(&mut vm, CB_GFN, 0, 0), 0);
    assert_eq!(init_control(&mut vm, CB_GFN, 0x100, 1), 0);
    assert_eq!(expand(&mut vm, ARRAY_GFN), 0);
    assert_eq!(cb(&mut vm, 1).head[7], early);
    assert_eq!(word(&mut vm, early), P | L);
    assert_eq!(vm.upcalls(), vec![(1, UpcallKind::Vector(VEC))]);
    // The guest consumes it (unlinks, clears P, clears ready and the upcall flag).
    vm.write(ARRAY + u64::from(early) * 4, 0u32);
    vm.write(CB + 0x100, 0u32);
    vm.write(Vm::vcpu_info(1), 0u8);

    let a = vm.bind_ipi(1);
    let b = vm.bind_ipi(1);
    let hi = vm.bind_ipi(1);
    assert_eq!(set_priority(&mut vm, hi, 1), 0);
    assert_eq!(vm.send(0, a), 0);
    assert_eq!(vm.send(0, b), 0);
    assert_eq!(vm.send(0, hi), 0);
    let c = cb(&mut vm, 1);
    assert_eq!(c.ready, 1 << 7 | 1 << 1);
    assert_eq!((c.head[7], c.head[1]), (a, hi));
    assert_eq!(word(&mut vm, a), P | L | b);
    assert_eq!(vm.upcall_pending_byte(1), 1);
    assert_eq!(
        vm.upcalls(),
        vec![(1, UpcallKind::Vector(VEC))],
        "one upcall"
    );
    assert_eq!(cb(&mut vm, 0).ready, 0);

    // Masked: pending, not linked; unmask links it and raises.
    let m = vm.bind_ipi(0);
    vm.write(ARRAY + u64::from(m) * 4, M);
    assert_eq!(vm.send(0, m), 0);
    assert_eq!(word(&mut vm, m), P | M);
    assert_eq!(vm.upcalls(), vec![]);
    vm.write(ARGS, EvtchnUnmask { port: m });
    assert_eq!(op(&mut vm, EVTCHNOP_UNMASK), 0);
    assert_eq!(word(&mut vm, m), P | L);
    assert_eq!(cb(&mut vm, 0).head[7], m);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);

    // Save / restore keeps the queues: the next event links behind the tail `b`.
    let c2 = vm.bind_ipi(1);
    let mut vm = vm
        .save_restore(PlatformConfig::new(2, MEM), |_| {})
        .unwrap();
    assert_eq!(vm.send(0, c2), 0);
    assert_eq!(word(&mut vm, b), P | L | c2);
    // EVTCHNOP_reset goes back to the 2-level ABI.
    vm.write(ARGS, EvtchnReset { dom: DOMID_SELF });
    assert_eq!(op(&mut vm, EVTCHNOP_RESET), 0);
    assert_eq!(set_priority(&mut vm, 1, 0), err(errno::ENOSYS));
}

#[test]
fn pending_fifo_events_survive_save_and_restore() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    assert_eq!(init_control(&mut vm, CB_GFN, 0, 0), 0);
    // Pending before the event array has a page: kept on the hypervisor side.
    let early = vm.bind_ipi(0);
    assert_eq!(vm.send(0, early), 0);
    assert_eq!(vm.upcalls(), vec![]);
    let mut vm = vm
        .save_restore(PlatformConfig::new(2, MEM), |_| {})
        .unwrap();
    assert_eq!(expand(&mut vm, ARRAY_GFN), 0);
    assert_eq!(word(&mut vm, early), P | L, "linked once it has a word");
    assert_eq!(cb(&mut vm, 0).head[7], early);
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);
    // A linked event waiting for the guest, and a tail the next event links behind.
    let a = vm.bind_ipi(0);
    assert_eq!(vm.send(0, a), 0);
    assert_eq!(word(&mut vm, early), P | L | a);
    let mut vm = vm
        .save_restore(PlatformConfig::new(2, MEM), |_| {})
        .unwrap();
    assert_eq!(word(&mut vm, early), P | L | a);
    assert_eq!(word(&mut vm, a), P | L);
    let b = vm.bind_ipi(0);
    assert_eq!(vm.send(0, b), 0);
    assert_eq!(
        word(&mut vm, a),
        P | L | b,
        "linked behind the restored tail"
    );
    assert_eq!(vm.upcalls(), vec![], "the queue was not empty: no upcall");
    assert_eq!(cb(&mut vm, 0).head[7], early);
}
