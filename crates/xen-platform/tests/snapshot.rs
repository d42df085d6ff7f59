// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `XenPlatform::state` then `XenPlatform::restore` over a copy of guest
//! memory: bindings, pending events, upcall routing, timers (re-armed on the
//! host at their absolute deadlines), the console and xenstore survive; a
//! state that does not fit the configuration is refused.

mod common;

use std::mem::offset_of;

use common::*;
use vm_memory::ByteValued;
use xen_abi::*;
use xen_platform::console::{IN_CONS, IN_PROD, OUT_OFF, OUT_PROD};
use xen_platform::{Error, PlatformConfig, TimerArm, TimerKind, UpcallKind};

const VEC: u8 = 0xf3;
const PERCPU: u8 = 0xe0;
const CONSOLE: u64 = MEM - 0x1000;
const STORE: u64 = MEM - 0x2000;

/// What the guest set up before the snapshot.
struct Setup {
    ipi: u32,
    timer: u32,
    console: u32,
    store: u32,
    singleshot: Option<TimerArm>,
}

/// Two vCPUs at Xen time 7 ms: shared_info, the callback vector, vCPU 1's
/// own vector, an IPI to vCPU 1 left pending, VIRQ_TIMER on vCPU 0, a
/// single shot at 50 ms and a 10 ms periodic timer on vCPU 1, console input
/// beyond what the ring holds, a xenstore node.
fn setup() -> (Vm, Setup) {
    let mut vm = Vm::new(2);
    vm.host.advance(7 * MS);
    vm.map_shared_info(SHINFO_GFN);
    vm.callback_vector(VEC);
    assert_eq!(vm.upcall_vector(1, PERCPU), 0);
    let ipi = vm.bind_ipi(1);
    let timer = vm.bind_virq(VIRQ_TIMER, 0);
    assert_eq!(vm.send(0, ipi), 0);
    assert_eq!(
        vm.pending_upcall(1),
        Some(UpcallKind::PerVcpuVector(PERCPU))
    );
    let _ = vm.events();
    assert_eq!(vm.singleshot(0, 50 * MS, 0), 0);
    assert_eq!(vm.periodic(0, 1, 10 * MS), 0);
    let timers = vm.timers();
    let singleshot = timers[0].2;
    assert_eq!(
        singleshot,
        Some(TimerArm {
            deadline_ns: CLOCK_START + 50 * MS,
            period_ns: 0
        })
    );
    let console = vm.get_param(HVM_PARAM_CONSOLE_EVTCHN) as u32;
    let store = vm.get_param(HVM_PARAM_STORE_EVTCHN) as u32;
    vm.platform
        .console_input(vm.root.token(), &vec![b'i'; 1100]);
    assert_eq!(vm.read::<u32>(CONSOLE + IN_PROD), 1024);
    // vCPU 0 handles the console event (the IPI for vCPU 1 stays pending).
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Vector(VEC)));
    vm.write(Vm::vcpu_info(0), 0u8);
    vm.write(Vm::vcpu_info(0) + 8, 0u64);
    vm.write(SHINFO + PENDING64, 1u64 << ipi);
    {
        let (mut be, _t) = vm.platform.backends().lock(vm.root.token());
        be.store.write("data/x", b"kept");
    }
    let _ = vm.events();
    (
        vm,
        Setup {
            ipi,
            timer,
            console,
            store,
            singleshot,
        },
    )
}

fn check_restored(vm: &mut Vm, s: &Setup) {
    // Bindings.
    let (r, st) = vm.status(s.ipi);
    assert_eq!((r, st.status, st.vcpu), (0, EVTCHNSTAT_IPI, 1));
    let (_, st) = vm.status(s.timer);
    assert_eq!(
        (st.status, st.vcpu, st.u[0]),
        (EVTCHNSTAT_VIRQ, 0, VIRQ_TIMER)
    );
    assert_eq!(vm.get_param(HVM_PARAM_CONSOLE_EVTCHN) as u32, s.console);
    assert_eq!(vm.get_param(HVM_PARAM_STORE_EVTCHN) as u32, s.store);
    assert_eq!(
        vm.get_param(HVM_PARAM_CALLBACK_IRQ),
        (2 << 56) | u64::from(VEC)
    );
    // The pending IPI and its upcall, through vCPU 1's own vector.
    assert!(vm.port_pending(s.ipi));
    assert_eq!(
        vm.pending_upcall(1),
        Some(UpcallKind::PerVcpuVector(PERCPU))
    );
    assert_eq!(vm.pending_upcall(0), None);
    // The guest handles it; a new IPI upcalls again.
    vm.write(Vm::vcpu_info(1), 0u8);
    vm.write(Vm::vcpu_info(1) + 8, 0u64);
    vm.write(SHINFO + PENDING64, 0u64);
    assert_eq!(vm.pending_upcall(1), None);
    let _ = vm.events();
    assert_eq!(vm.send(0, s.ipi), 0);
    assert_eq!(vm.upcalls(), vec![(1, UpcallKind::PerVcpuVector(PERCPU))]);
    // VIRQ_TIMER still reaches its port through the global vector.
    vm.platform
        .timer_fired(vm.root.token(), 0, TimerKind::SingleShot);
    assert!(vm.port_pending(s.timer));
    assert_eq!(vm.pending_upcall(0), Some(UpcallKind::Vector(VEC)));

    // Console: the queued input follows once the guest makes room.
    vm.write(CONSOLE + IN_CONS, 1024u32);
    assert_eq!(vm.send(0, s.console), 0);
    assert_eq!(vm.read::<u32>(CONSOLE + IN_PROD), 1100);
    // Output reaches the sink handed over with take_output.
    vm.write_bytes(CONSOLE + OUT_OFF, b"post");
    vm.write(CONSOLE + OUT_PROD, 4u32);
    assert_eq!(vm.send(0, s.console), 0);
    assert_eq!(vm.output(), b"post");

    // Xenstore: the node is there, read through the ring.
    let hdr = XsdSockmsg {
        kind: XS_READ,
        req_id: 3,
        tx_id: 0,
        len: 7,
    };
    let mut msg = hdr.as_slice().to_vec();
    msg.extend_from_slice(b"data/x\0");
    vm.write_bytes(STORE, &msg);
    let req_prod = offset_of!(XenstoreDomainInterface, req_prod) as u64;
    let rsp_prod = offset_of!(XenstoreDomainInterface, rsp_prod) as u64;
    vm.write(STORE + req_prod, msg.len() as u32);
    assert_eq!(vm.send(0, s.store), 0);
    assert_eq!(vm.read::<u32>(STORE + rsp_prod), 16 + 4);
    let rsp: XsdSockmsg = vm.read(STORE + 1024);
    assert_eq!((rsp.kind, rsp.req_id, rsp.len), (XS_READ, 3, 4));
    assert_eq!(vm.read_bytes(STORE + 1024 + 16, 4), b"kept");
}

#[test]
fn restore_keeps_everything_and_rearms_timers_at_the_same_deadlines() {
    let (mut vm, s) = setup();
    let st = vm.state();
    assert_eq!(st.system_time_ns, 7 * MS);
    assert_eq!(st.xen.vcpus[0].singleshot_ns, Some(50 * MS));
    assert_eq!(st.xen.vcpus[1].period_ns, Some(10 * MS));
    let mut vm = vm
        .save_restore(PlatformConfig::new(2, MEM), |_| {})
        .unwrap();
    assert_eq!(vm.platform.system_time_ns(), 7 * MS);
    assert_eq!(vm.platform.boot_ns(), i128::from(CLOCK_START));
    let mut timers = vm.timers();
    timers.sort_by_key(|t| t.0);
    assert_eq!(
        timers,
        vec![
            (0, TimerKind::SingleShot, s.singleshot),
            // The periodic timer's next expiry is not saved: due at once.
            (
                1,
                TimerKind::Periodic,
                Some(TimerArm {
                    deadline_ns: CLOCK_START + 7 * MS,
                    period_ns: 10 * MS
                })
            ),
        ]
    );
    check_restored(&mut vm, &s);
}

#[test]
fn xen_time_stands_still_while_the_vm_is_saved() {
    let (vm, s) = setup();
    let downtime = 3_000 * MS;
    let mut vm = vm
        .save_restore(PlatformConfig::new(2, MEM), |h| h.advance(downtime))
        .unwrap();
    // Xen system time continues from the saved instant: every deadline
    // moves by the downtime on the host clock.
    assert_eq!(vm.platform.system_time_ns(), 7 * MS);
    assert_eq!(vm.platform.boot_ns(), i128::from(CLOCK_START + downtime));
    let mut timers = vm.timers();
    timers.sort_by_key(|t| t.0);
    assert_eq!(
        timers,
        vec![
            (
                0,
                TimerKind::SingleShot,
                Some(TimerArm {
                    deadline_ns: CLOCK_START + downtime + 50 * MS,
                    period_ns: 0
                })
            ),
            (
                1,
                TimerKind::Periodic,
                Some(TimerArm {
                    deadline_ns: CLOCK_START + downtime + 7 * MS,
                    period_ns: 10 * MS
                })
            ),
        ]
    );
    check_restored(&mut vm, &s);
}

#[test]
fn events_sent_before_shared_info_survive_a_restore() {
    let mut vm = Vm::new(1);
    vm.callback_vector(VEC);
    let port = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port), 0);
    let mut vm = vm
        .save_restore(PlatformConfig::new(1, MEM), |_| {})
        .unwrap();
    let _ = vm.events();
    vm.map_shared_info(SHINFO_GFN);
    assert!(vm.port_pending(port));
    assert_eq!(vm.upcalls(), vec![(0, UpcallKind::Vector(VEC))]);
}

#[test]
fn a_state_that_does_not_fit_is_refused() {
    let (vm, _) = setup();
    match vm.save_restore(PlatformConfig::new(1, MEM), |_| {}) {
        Err(Error::Config(msg)) => assert!(msg.to_lowercase().contains("vcpus"), "{msg}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a 2-vCPU state restored into 1 vCPU"),
    }
    let (vm, _) = setup();
    assert!(matches!(
        vm.save_restore(PlatformConfig::new(3, MEM), |_| {}),
        Err(Error::Config(_))
    ));
    // Fewer grant frames than the guest has placed.
    let mut vm = Vm::new(1);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 3, 0x300);
    assert_eq!(vm.ret(0, &r), 0);
    let mut config = PlatformConfig::new(1, MEM);
    config.grant_frames = 2;
    assert!(matches!(
        vm.save_restore(config, |_| {}),
        Err(Error::Config(_))
    ));
}

/// Saves `vm` and restores `state` (as `edit` leaves it) with `config`.
fn restore_edited(
    mut vm: Vm,
    config: PlatformConfig,
    edit: impl FnOnce(&mut xen_platform::PlatformState),
) -> xen_platform::Result<Vm> {
    use std::sync::Arc;
    use vm_lock::{MemoryMap, Root};
    let mut state = vm.state();
    edit(&mut state);
    let mem = vm.copy_memory();
    let output = vm.platform.take_output();
    let Vm {
        platform,
        host,
        events,
        output: out_rx,
        root,
    } = vm;
    drop(root);
    drop(platform);
    let platform = xen_platform::XenPlatform::restore(
        config,
        MemoryMap::new(mem),
        host.clone() as Arc<dyn xen_platform::XenHost>,
        output,
        &state,
    )?;
    Ok(Vm {
        platform,
        host,
        events,
        output: out_rx,
        root: Root::new().unwrap(),
    })
}

#[test]
fn a_grant_table_larger_than_configured_is_refused() {
    let mut config = PlatformConfig::new(1, MEM);
    config.grant_frames = 8;
    let mut vm = Vm::with_config(config);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 6, 0x300);
    assert_eq!(vm.ret(0, &r), 0);
    // The platform's own list of placed frames fits 4, the table does not.
    let restored = restore_edited(vm, PlatformConfig::new(1, MEM), |s| {
        s.xen.grant_frames.truncate(4)
    });
    let mut vm = match restored {
        Err(Error::Config(_)) => return,
        Err(e) => panic!("wrong error: {e}"),
        Ok(vm) => vm,
    };
    // Had it been taken, frame 0 at the GFN of frame 6 must not panic.
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 0, 0x300);
    let _ = vm.call(0, &r);
    panic!("an 8-frame grant table restored into a 4-frame platform");
}

#[test]
fn shared_info_must_agree_with_the_page_caches() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    let restored = restore_edited(vm, PlatformConfig::new(1, MEM), |s| {
        s.xen.shared_info = Some(u64::MAX - 8)
    });
    let mut vm = match restored {
        Err(Error::Config(_)) => return,
        Err(e) => panic!("wrong error: {e}"),
        Ok(vm) => vm,
    };
    // Had it been taken, the wall clock would be written past the end of
    // the address space.
    vm.write(ARGS, VcpuRegisterTimeMemoryArea { addr: BUF });
    let op = u64::from(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA);
    let _ = vm.hc(0, HYPERVISOR_VCPU_OP, &[op, 0, ARGS]);
    panic!("a shared_info the page caches do not know was restored");
}
