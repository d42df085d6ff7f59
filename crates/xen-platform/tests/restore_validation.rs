// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `XenPlatform::restore` accepts exactly the states a running platform can
//! reach: a state taken from a platform restores, and each field changed
//! to something no hypercall can produce (a page with no memory behind it,
//! a timer out of the hypercalls' bounds, a table of the wrong size, a
//! device buffer beyond its limit, mirrors that disagree) is refused with an
//! error naming it.

use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::{Bytes, GuestAddress, GuestAddressSpace, GuestMemoryMmap};
use xen_hypercall::HypercallRegs;
use xen_platform::{
    HypercallExit, NoVcpuAccess, PlatformConfig, PlatformState, Retry, XenHost, XenPlatform,
};

struct Host;
impl XenHost for Host {}

const MEM: u64 = 16 << 20;
const SHINFO: u64 = 0x10_0000;
const VCPU_INFO: u64 = 0x10_1040;
const TIME_AREA: u64 = 0x10_2000;
const RUNSTATE: u64 = 0x10_2100;
const GRANT: u64 = 0x10_3000;
const ARGS: u64 = 0x20_0000;
/// Beyond the 16 MiB of RAM.
const HOLE: u64 = 0x4000_0000;

fn platform(config: PlatformConfig) -> XenPlatform {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
    XenPlatform::new(
        config,
        MemoryMap::new(mem),
        Arc::new(Host),
        Box::new(std::io::sink()),
    )
    .unwrap()
}

fn write(p: &XenPlatform, gpa: u64, bytes: &[u8]) {
    p.memory()
        .atomic()
        .memory()
        .write_slice(bytes, GuestAddress(gpa))
        .unwrap();
}

/// A 64-bit hypercall from vCPU `vcpu`; returns RAX.
fn hcall(p: &XenPlatform, vcpu: u32, nr: u64, a: u64, b: u64, c: u64) -> i64 {
    let mut root = Root::new().unwrap();
    let regs = HypercallRegs::from_regs64(0, nr, a, b, c, 0, 0, 0);
    match p.on_hypercall(
        root.token(),
        vcpu,
        &regs,
        false,
        &mut NoVcpuAccess,
        Retry::No,
    ) {
        HypercallExit::Resume { rax } => rax as i64,
        other => panic!("hypercall {nr}: {other:?}"),
    }
}

fn u64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A 2-vCPU platform with everything placed: shared_info, a vcpu_info,
/// time and runstate areas, a grant frame, a callback and per-vCPU vector,
/// a periodic and a single-shot timer.
fn set_up() -> XenPlatform {
    let p = platform(PlatformConfig::new(2, MEM));
    let add = |space: u32, idx: u64, gpa: u64| {
        let mut b = vec![0xf0, 0x7f, 0, 0];
        b.extend_from_slice(&space.to_le_bytes());
        b.extend_from_slice(&u64s(&[idx, gpa >> 12]));
        write(&p, ARGS, &b);
        assert_eq!(hcall(&p, 0, 12, 7, ARGS, 0), 0, "add_to_physmap {space}");
    };
    add(0, 0, SHINFO);
    add(1, 0, GRANT);
    write(&p, ARGS, &u64s(&[VCPU_INFO >> 12, VCPU_INFO & 0xfff]));
    assert_eq!(hcall(&p, 0, 24, 10, 0, ARGS), 0, "register_vcpu_info");
    write(&p, ARGS, &u64s(&[TIME_AREA]));
    assert_eq!(hcall(&p, 0, 24, 13, 0, ARGS), 0, "time area");
    write(&p, ARGS, &u64s(&[RUNSTATE]));
    assert_eq!(hcall(&p, 0, 24, 5, 0, ARGS), 0, "runstate area");
    // HVM_PARAM_CALLBACK_IRQ: vector 0xf3.
    write(&p, ARGS, &u64s(&[0x7ff0, (2 << 56) | 0xf3]));
    assert_eq!(hcall(&p, 0, 34, 0, ARGS, 0), 0, "callback");
    write(&p, ARGS, &u64s(&[0xe0 << 32]));
    assert_eq!(hcall(&p, 0, 34, 23, ARGS, 0), 0, "upcall vector");
    write(&p, ARGS, &u64s(&[10_000_000]));
    assert_eq!(hcall(&p, 0, 24, 6, 0, ARGS), 0, "periodic timer");
    write(&p, ARGS, &u64s(&[p.system_time_ns() + 1_000_000_000, 0]));
    assert_eq!(hcall(&p, 1, 24, 8, 1, ARGS), 0, "single-shot timer");
    p
}

fn state(p: &XenPlatform) -> PlatformState {
    let mut root = Root::new().unwrap();
    p.state(root.token())
}

fn restore(p: &XenPlatform, s: &PlatformState) -> xen_platform::Result<XenPlatform> {
    XenPlatform::restore(
        p.config().clone(),
        p.memory().clone(),
        Arc::new(Host),
        Box::new(std::io::sink()),
        s,
    )
}

#[test]
fn a_reachable_state_restores() {
    let p = set_up();
    let s = state(&p);
    assert_eq!(s.xen.shared_info, Some(SHINFO));
    assert_eq!(s.xen.vcpus[0].vcpu_info, Some(VCPU_INFO));
    assert_eq!(s.pages.vcpus[0].time_info_gpa, Some(TIME_AREA));
    assert_eq!(s.pages.vcpus[0].runstate_gpa, Some(RUNSTATE));
    assert_eq!(s.xen.grant_frames[0], Some(GRANT));
    assert!(s.xen.vcpus[0].period_ns.is_some() && s.xen.vcpus[1].singleshot_ns.is_some());
    let r = restore(&p, &s).unwrap();
    let mut s2 = state(&r);
    s2.system_time_ns = s.system_time_ns;
    assert_eq!(format!("{:?}", s2.xen), format!("{:?}", s.xen));
}

type Mutation = Box<dyn Fn(&mut PlatformState)>;

#[test]
fn each_unreachable_field_is_refused_by_name() {
    let p = set_up();
    let good = state(&p);
    let now = good.system_time_ns;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "vcpus",
            Box::new(|s| {
                s.xen.vcpus.pop();
            }),
        ),
        (
            "shared_info",
            Box::new(|s| {
                s.xen.shared_info = Some(HOLE);
                s.pages.shared_info_gfn = Some(HOLE >> 12);
            }),
        ),
        (
            "shared_info",
            Box::new(|s| s.xen.shared_info = Some(0x5000)),
        ),
        (
            "vCPU 0 vcpu_info",
            Box::new(|s| {
                s.xen.vcpus[0].vcpu_info = Some(HOLE);
                s.pages.vcpus[0].vcpu_info_gpa = Some(HOLE);
            }),
        ),
        (
            "vCPU 0 vcpu_info",
            Box::new(|s| s.xen.vcpus[0].vcpu_info = Some(0x8000)),
        ),
        (
            "vCPU 0 time area",
            Box::new(|s| s.pages.vcpus[0].time_info_gpa = Some(HOLE)),
        ),
        (
            "vCPU 0 time area",
            Box::new(|s| s.pages.vcpus[0].time_info_gpa = Some(0x1ff0)),
        ),
        (
            "vCPU 0 runstate area",
            Box::new(|s| s.pages.vcpus[0].runstate_gpa = Some(MEM - 8)),
        ),
        (
            "vCPU 0 periodic timer",
            Box::new(|s| s.xen.vcpus[0].period_ns = Some(1)),
        ),
        (
            "vCPU 0 periodic timer",
            Box::new(|s| s.xen.vcpus[0].period_ns = Some((1 << 50) + 1)),
        ),
        (
            "vCPU 0 periodic timer",
            Box::new(move |s| s.periodic_next_ns = vec![Some(now + 10_000_001), None]),
        ),
        (
            // 52 days ahead.
            "vCPU 1 single-shot timer",
            Box::new(move |s| {
                s.xen.vcpus[1].singleshot_ns = Some(now + 52 * 86_400 * 1_000_000_000)
            }),
        ),
        (
            "vCPU 1 runstate",
            Box::new(move |s| s.xen.vcpus[1].runstate.state_entry_time = now + 1),
        ),
        (
            "vCPU 1 runstate",
            Box::new(|s| s.xen.vcpus[1].runstate.state = 4),
        ),
        ("long_mode", Box::new(|s| s.xen.long_mode = false)),
        (
            "vCPU 0 upcall vector",
            Box::new(|s| s.xen.vcpus[0].upcall_vector = Some(0xe1)),
        ),
        (
            "vCPU 1 upcall vector",
            Box::new(|s| {
                s.xen.vcpus[1].upcall_vector = Some(3);
                s.evtchn.vcpu_vectors[1] = 3;
            }),
        ),
        (
            "HVM params",
            Box::new(|s| {
                s.xen.params.pop();
            }),
        ),
        ("HVM param 1", Box::new(|s| s.xen.params[1] += 1)),
        ("HVM param 36", Box::new(|s| s.xen.params[36] = 5)),
        ("HVM param 5", Box::new(|s| s.xen.params[5] = 1)),
        (
            "grant frames",
            Box::new(|s| s.xen.grant_frames.resize(8, Some(GRANT))),
        ),
        (
            "grant table",
            Box::new(|s| {
                s.gnttab.max_frames = 8;
                s.gnttab.nr_frames = 7;
                s.gnttab.frame_gfns.resize(7, None);
                s.gnttab.frame_gfns[6] = Some(0x200);
            }),
        ),
        (
            "grant frame 1",
            Box::new(|s| {
                s.gnttab.nr_frames = 2;
                s.gnttab.frame_gfns.push(Some(0x200));
            }),
        ),
        (
            "grant frame 0",
            Box::new(|s| {
                s.xen.grant_frames[0] = Some(HOLE);
                s.gnttab.frame_gfns[0] = Some(HOLE >> 12);
            }),
        ),
        ("console ring", Box::new(|s| s.console.ring_gfn = 0x10)),
        ("xenstore ring", Box::new(|s| s.store.ring_gfn = HOLE >> 12)),
        (
            "xenstore partial request",
            Box::new(|s| s.store.partial_request = vec![0; 16 << 10]),
        ),
        (
            "xenstore pending replies",
            Box::new(|s| s.store.pending_replies = vec![0; 256 << 10]),
        ),
        ("xenstore domid", Box::new(|s| s.store.domid = 7)),
        (
            "console pending input",
            Box::new(|s| s.console.pending_input = vec![b'x'; 65 << 10]),
        ),
        ("evtchn.domid", Box::new(|s| s.evtchn.domid = 9)),
    ];
    for (needle, f) in &cases {
        let mut s = good.clone();
        f(&mut s);
        let e = restore(&p, &s)
            .err()
            .unwrap_or_else(|| panic!("restored a state with a bad {needle}"));
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    // The unchanged state still restores.
    restore(&p, &good).unwrap();
}

#[test]
fn rings_with_no_memory_behind_them_are_refused() {
    // A platform whose rings are not in RAM runs (the guest just cannot use
    // them) but its state is not one to restore.
    for console in [true, false] {
        let mut c = PlatformConfig::new(1, MEM);
        if console {
            c.console_gfn = HOLE >> 12;
        } else {
            c.store_gfn = HOLE >> 12;
        }
        let p = platform(c);
        let e = restore(&p, &state(&p)).expect_err("restored");
        let needle = if console {
            "console ring"
        } else {
            "xenstore ring"
        };
        assert!(e.to_string().contains(needle), "{e}");
        assert!(e.to_string().contains("not backed"), "{e}");
    }
}

#[test]
fn restored_grant_frames_map_without_panicking() {
    // The panic: frames beyond the configured table in the saved
    // state, then the guest's next XENMEM_add_to_physmap(grant_table).
    let p = set_up();
    let mut s = state(&p);
    s.gnttab.max_frames = 16;
    s.gnttab.nr_frames = 10;
    s.gnttab.frame_gfns.resize(10, None);
    s.gnttab.frame_gfns[9] = Some(0x300);
    assert!(restore(&p, &s).is_err(), "a table larger than configured");
    // A valid restore maps frames as before.
    let r = restore(&p, &state(&p)).unwrap();
    let mut b = vec![0xf0, 0x7f, 0, 0];
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&u64s(&[3, 0x300]));
    write(&r, ARGS, &b);
    assert_eq!(hcall(&r, 0, 12, 7, ARGS, 0), 0);
    // Frame 3 displaces nothing; frame 0 moved onto frame 3's page displaces it.
    let mut b = vec![0xf0, 0x7f, 0, 0];
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&u64s(&[0, 0x300]));
    write(&r, ARGS, &b);
    assert_eq!(hcall(&r, 0, 12, 7, ARGS, 0), 0);
    let s = state(&r);
    assert_eq!(s.xen.grant_frames[0], Some(0x300 << 12));
    assert_eq!(s.xen.grant_frames[3], None);
    assert_eq!(s.gnttab.frame_gfns[3], None);
    restore(&r, &s).unwrap();
    // Out of the table: -EINVAL.
    let mut b = vec![0xf0, 0x7f, 0, 0];
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&u64s(&[4, 0x301]));
    write(&r, ARGS, &b);
    assert_eq!(hcall(&r, 0, 12, 7, ARGS, 0), -22);
}

#[test]
fn singleshot_deadlines_far_ahead_are_clamped_so_their_state_restores() {
    let p = set_up();
    let now = p.system_time_ns();
    write(&p, ARGS, &u64s(&[now + (1 << 52), 0]));
    assert_eq!(hcall(&p, 1, 24, 8, 1, ARGS), 0);
    let s = state(&p);
    let d = s.xen.vcpus[1].singleshot_ns.unwrap();
    assert!(
        d <= s.system_time_ns + xen_platform::MAX_SINGLESHOT_AHEAD_NS,
        "{d}"
    );
    restore(&p, &s).unwrap();
}

/// A host clock the test sets, recording the last single-shot arm.
struct Clock {
    now: std::sync::atomic::AtomicU64,
    oneshot: std::sync::atomic::AtomicU64,
}

impl Clock {
    fn at(ns: u64) -> Arc<Clock> {
        Arc::new(Clock {
            now: ns.into(),
            oneshot: u64::MAX.into(),
        })
    }
}

impl XenHost for Clock {
    fn monotonic_ns(&self) -> u64 {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn set_timer(
        &self,
        _vcpu: u32,
        kind: xen_platform::TimerKind,
        arm: Option<xen_platform::TimerArm>,
    ) {
        if let (xen_platform::TimerKind::SingleShot, Some(a)) = (kind, arm) {
            self.oneshot
                .store(a.deadline_ns, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[test]
fn xen_time_goes_on_when_the_host_clock_is_behind_the_saved_time() {
    // Saved after 5 s of Xen time; restored on a host up for 1 s only (a
    // host rebooted since): Xen time must not go back to 1 s, and a timer
    // 0.5 s ahead fires 0.5 s after the restore.
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
    let a = Clock::at(10_000_000_000);
    let p = XenPlatform::new(
        PlatformConfig::new(1, MEM),
        MemoryMap::new(mem),
        a.clone(),
        Box::new(std::io::sink()),
    )
    .unwrap();
    a.now
        .store(15_000_000_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(p.system_time_ns(), 5_000_000_000);
    write(&p, ARGS, &u64s(&[5_500_000_000, 0]));
    assert_eq!(hcall(&p, 0, 24, 8, 0, ARGS), 0, "single-shot timer");
    let s = state(&p);
    let b = Clock::at(1_000_000_000);
    let r = XenPlatform::restore(
        p.config().clone(),
        p.memory().clone(),
        b.clone(),
        Box::new(std::io::sink()),
        &s,
    )
    .unwrap();
    assert_eq!(r.system_time_ns(), 5_000_000_000);
    assert_eq!(r.boot_ns(), -4_000_000_000);
    assert_eq!(
        b.oneshot.load(std::sync::atomic::Ordering::SeqCst),
        1_500_000_000
    );
    assert_eq!(r.monotonic_of(1_000_000_000), 0, "long past: due at once");
    b.now
        .store(2_000_000_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r.system_time_ns(), 6_000_000_000);
}

/// FIFO: vCPU 0's control block, vCPU 1's (offset 0x100) and one event-array page.
const FIFO_CB: u64 = 0x10_4000;
const FIFO_ARRAY: u64 = 0x10_5000;

/// `EVTCHNOP_*` `cmd` from vCPU 0 with `args` at ARGS; returns RAX.
fn evtchn_op(p: &XenPlatform, cmd: u64, args: &[u8]) -> i64 {
    write(p, ARGS, args);
    hcall(p, 0, 32, cmd, ARGS, 0)
}

/// [`set_up`], switched to FIFO event channels: both control blocks, one array page, an IPI
/// of priority 3 with an event linked on its queue.
fn set_up_fifo() -> XenPlatform {
    let p = set_up();
    for (vcpu, off) in [(0u32, 0u32), (1, 0x100)] {
        let mut b = (FIFO_CB >> 12).to_le_bytes().to_vec();
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(&vcpu.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        assert_eq!(evtchn_op(&p, 11, &b), 0, "init_control {vcpu}");
    }
    assert_eq!(evtchn_op(&p, 12, &u64s(&[FIFO_ARRAY >> 12])), 0, "expand");
    assert_eq!(evtchn_op(&p, 7, &[0; 8]), 0, "bind_ipi");
    let port: u32 = p
        .memory()
        .atomic()
        .memory()
        .read_obj(GuestAddress(ARGS + 4))
        .unwrap();
    let mut b = port.to_le_bytes().to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    assert_eq!(evtchn_op(&p, 13, &b), 0, "set_priority");
    assert_eq!(evtchn_op(&p, 4, &port.to_le_bytes()), 0, "send");
    p
}

#[test]
fn a_reachable_fifo_state_restores() {
    let p = set_up_fifo();
    let s = state(&p);
    let f = s.evtchn.fifo.as_ref().expect("FIFO state saved");
    assert_eq!(f.control_blocks.len(), 2);
    assert_eq!(f.event_array, vec![FIFO_ARRAY >> 12]);
    assert_eq!(f.priorities.len(), 1);
    assert_eq!(f.last_queues.len(), 1);
    assert!(f.tails[0][3] != 0);
    let r = restore(&p, &s).unwrap();
    assert_eq!(state(&r).evtchn.fifo, s.evtchn.fifo);
}

#[test]
fn each_unreachable_fifo_field_is_refused_by_name() {
    let p = set_up_fifo();
    let good = state(&p);
    let port = good.evtchn.fifo.as_ref().unwrap().priorities[0].0;
    type FifoMutation = Box<dyn Fn(&mut xen_evtchn::FifoState)>;
    let cases: Vec<(&str, FifoMutation)> = vec![
        (
            "FIFO control blocks",
            Box::new(|f| {
                f.control_blocks.pop();
            }),
        ),
        (
            "FIFO control blocks",
            Box::new(|f| f.control_blocks = vec![None, None]),
        ),
        (
            "FIFO queue tails",
            Box::new(|f| {
                f.tails.pop();
            }),
        ),
        (
            "vCPU 1 FIFO control block",
            Box::new(|f| f.control_blocks[1] = Some((HOLE >> 12, 0))),
        ),
        (
            "vCPU 1 FIFO control block",
            Box::new(|f| f.control_blocks[1] = Some((FIFO_CB >> 12, 4))),
        ),
        (
            "vCPU 0 FIFO control block",
            Box::new(|f| f.control_blocks[0] = Some((FIFO_CB >> 12, 4096 - 64))),
        ),
        (
            "vCPU 0 FIFO control block",
            Box::new(|f| f.control_blocks[0] = Some((u64::MAX, 0))),
        ),
        (
            "FIFO event array page 1",
            Box::new(|f| f.event_array.push(HOLE >> 12)),
        ),
        (
            "FIFO event array page 0",
            Box::new(|f| f.event_array[0] = MEM >> 12),
        ),
        (
            "FIFO event array",
            Box::new(|f| f.event_array = vec![FIFO_ARRAY >> 12; 129]),
        ),
        (
            "vCPU 0 FIFO queue 3 tail",
            Box::new(|f| f.tails[0][3] = 1024),
        ),
        (
            "vCPU 1 FIFO queue 7 tail",
            Box::new(|f| {
                f.control_blocks[1] = None;
                f.tails[1][7] = 1;
            }),
        ),
        (
            "FIFO priorities",
            Box::new(move |f| f.priorities = vec![(port, 16)]),
        ),
        (
            "FIFO priorities",
            Box::new(|f| f.priorities = vec![(1 << 17, 1)]),
        ),
        (
            "FIFO priorities",
            Box::new(move |f| f.priorities = vec![(port, 1), (port, 2)]),
        ),
        (
            "FIFO last queues",
            Box::new(move |f| f.last_queues = vec![(port, 2, 3)]),
        ),
        (
            "FIFO last queues",
            Box::new(move |f| f.last_queues = vec![(port, 1, 16)]),
        ),
        (
            "FIFO saved pending",
            Box::new(|f| f.saved_pending = vec![0]),
        ),
        (
            "FIFO saved pending",
            Box::new(|f| f.saved_pending = vec![5, 5]),
        ),
    ];
    for (needle, m) in &cases {
        let mut s = good.clone();
        m(s.evtchn.fifo.as_mut().unwrap());
        let e = restore(&p, &s)
            .err()
            .unwrap_or_else(|| panic!("restored a FIFO state with a bad {needle}"));
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    // 2-level deferred ports cannot be left over on the FIFO ABI.
    let mut s = good.clone();
    s.evtchn.deferred = vec![port];
    let e = restore(&p, &s)
        .err()
        .unwrap_or_else(|| panic!("restored deferred ports on FIFO"));
    assert!(e.to_string().contains("evtchn.deferred"), "{e}");
    restore(&p, &good).unwrap();
}
