// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: arbitrary sequences of event-channel operations on real guest memory.
//!
//! The guest side (`EVTCHNOP_*` with guest-chosen ports, vCPUs, VIRQs, PIRQs and domain
//! ids, guest writes to its own `shared_info` bitmaps and upcall flags) and the host side
//! (backend ports, host sends, VIRQ/PIRQ raises, snapshot round trips) are interleaved as
//! the input says, over a `GuestMemoryMmap` with `shared_info` placed (or not, or outside
//! RAM). See `src/evtchn_input.rs` for the input layout.
//!
//! Besides "never panic", after every operation the target checks:
//! * every error carries a Xen errno the operation may return;
//! * a port returned by a bind is in `1..nr_ports` and `EVTCHNOP_status` then reports the
//!   binding just made (kind, vCPU, VIRQ / PIRQ / remote domain);
//! * a closed port reads `EVTCHNSTAT_CLOSED` and is no longer pending;
//! * a successful send on an IPI port leaves it pending (when `shared_info` is placed);
//! * a send's outcome (`Sent`) follows the binding it found: in the guest for an IPI or
//!   loopback port, to the host port for a backend port, dropped for an unbound port;
//! * a successful unmask leaves the guest's mask bit clear;
//! * upcalls are raised only on a 0 -> 1 of `evtchn_upcall_pending`: per vCPU, raises never
//!   exceed the guest's acknowledgements + 1;
//! * `state()` -> `from_state()` -> `state()` is the identity;
//! * `status` of an in-range port of `DOMID_SELF` never fails, out-of-range always does.
#![no_main]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vm_lock::{MemoryMap, Root};
use vm_memory::{Bytes, GuestAddress, GuestAddressSpace, GuestMemoryMmap};
use xen_abi::errno;
use xen_abi::{
    DOMID_SELF, EVTCHNSTAT_CLOSED, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_IPI, EVTCHNSTAT_PIRQ,
    EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ,
};
use xen_evtchn::{Evtchn, EvtchnConfig, Sent, UpcallKind, UpcallSink, BACKEND_DOMID};
use xen_on_kvm_fuzz::evtchn_input::{Op, Program, MAX_SNAPSHOTS, MAX_VCPUS, RAM_SIZE, SHINFO_GFN};
use xen_shinfo_cache::{GuestWidth, WidthLayout, XenPages};

type Mem = GuestMemoryMmap;

/// Counts upcalls per vCPU.
struct Sink {
    raises: Vec<AtomicU32>,
}

impl UpcallSink for Sink {
    fn raise(&self, vcpu: u32, _how: UpcallKind) {
        // The table only raises for vCPUs it knows.
        self.raises[vcpu as usize].fetch_add(1, Ordering::SeqCst);
    }
    fn poll_wake(&self, vcpu: u32) {
        assert!(vcpu < MAX_VCPUS, "poll wake-up for vCPU {vcpu}");
    }
}

/// Errnos an event-channel operation may return.
fn check_errno(e: &xen_evtchn::Error) {
    let n = e.errno();
    assert!(
        [
            errno::EINVAL,
            errno::ENOENT,
            errno::EEXIST,
            errno::ENOSPC,
            errno::ESRCH,
            errno::ENOSYS,
            errno::EFAULT,
            errno::ENOMEM,
        ]
        .contains(&n),
        "unexpected errno {n} for {e:?}"
    );
}

fn ok<T>(r: xen_evtchn::Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            check_errno(&e);
            None
        }
    }
}

/// Guest-side address of the word of a `shared_info` bitmap that holds `port`.
fn guest_word(w: GuestWidth, array: usize, port: u32) -> GuestAddress {
    GuestAddress(
        SHINFO_GFN * 0x1000
            + array as u64
            + u64::from(port / w.long_bits()) * w.long_bytes() as u64,
    )
}

fn guest_bit(mem: &MemoryMap<Mem>, w: GuestWidth, array: usize, port: u32) -> bool {
    let a = guest_word(w, array, port);
    let snap = mem.atomic().memory();
    let word = match w {
        GuestWidth::Bits64 => snap.read_obj::<u64>(a).unwrap(),
        GuestWidth::Bits32 => u64::from(snap.read_obj::<u32>(a).unwrap()),
    };
    word & (1 << (port % w.long_bits())) != 0
}

fn guest_set_bit(mem: &MemoryMap<Mem>, w: GuestWidth, array: usize, port: u32, on: bool) {
    let a = guest_word(w, array, port);
    let snap = mem.atomic().memory();
    let mut word = match w {
        GuestWidth::Bits64 => snap.read_obj::<u64>(a).unwrap(),
        GuestWidth::Bits32 => u64::from(snap.read_obj::<u32>(a).unwrap()),
    };
    if on {
        word |= 1 << (port % w.long_bits());
    } else {
        word &= !(1 << (port % w.long_bits()));
    }
    match w {
        GuestWidth::Bits64 => snap.write_obj(word, a).unwrap(),
        GuestWidth::Bits32 => snap.write_obj(word as u32, a).unwrap(),
    }
}

fuzz_target!(|data: &[u8]| {
    let prog = Program::parse(data);
    let mem = MemoryMap::new(
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM_SIZE as usize)]).unwrap(),
    );
    let w = if prog.bits32 {
        GuestWidth::Bits32
    } else {
        GuestWidth::Bits64
    };
    let pages = Arc::new(XenPages::new(MAX_VCPUS));
    pages.set_width(w);
    let mut root = Root::new().unwrap();
    let tk = root.token();
    pages.set_shared_info_gfn(tk, prog.shinfo_gfn).unwrap();
    let shinfo_ok = prog.shinfo_gfn == Some(SHINFO_GFN);
    let sink = Arc::new(Sink {
        raises: (0..MAX_VCPUS).map(|_| AtomicU32::new(0)).collect(),
    });
    let config = EvtchnConfig {
        domid: prog.domid,
        nr_pirqs: prog.nr_pirqs,
    };
    let mut ev = Evtchn::new(config, mem.clone(), pages.clone(), sink.clone());
    let nr = ev.nr_ports();
    assert_eq!(nr, w.nr_2l_ports());
    // Guest acknowledgements of evtchn_upcall_pending, per vCPU.
    let mut acks = vec![0u32; MAX_VCPUS as usize];
    let mut host_ports = Vec::new();
    let mut snapshots = 0;

    for op in prog.ops {
        let mut bound: Option<(u32, u32, u32, [u32; 2])> = None; // (port, stat, vcpu, u)
        match op {
            Op::AllocUnbound { dom, remote } => {
                if let Some(p) = ok(ev.alloc_unbound(tk, dom, remote)) {
                    let r = if remote == DOMID_SELF {
                        prog.domid
                    } else {
                        remote
                    };
                    bound = Some((p, EVTCHNSTAT_UNBOUND, 0, [u32::from(r), 0]));
                }
            }
            Op::BindInterdomain { remote_dom, port } => {
                if let Some(p) = ok(ev.bind_interdomain(tk, remote_dom, port)) {
                    let u0 = if remote_dom == BACKEND_DOMID && remote_dom != prog.domid {
                        BACKEND_DOMID
                    } else {
                        prog.domid
                    };
                    bound = Some((p, EVTCHNSTAT_INTERDOMAIN, 0, [u32::from(u0), port]));
                }
            }
            Op::BindVirq { virq, vcpu } => {
                if let Some(p) = ok(ev.bind_virq(tk, virq, vcpu)) {
                    bound = Some((p, EVTCHNSTAT_VIRQ, vcpu, [virq, 0]));
                }
            }
            Op::BindIpi { vcpu } => {
                if let Some(p) = ok(ev.bind_ipi(tk, vcpu)) {
                    bound = Some((p, EVTCHNSTAT_IPI, vcpu, [0, 0]));
                }
            }
            Op::BindPirq { pirq } => {
                if let Some(p) = ok(ev.bind_pirq(tk, pirq, 0)) {
                    bound = Some((p, EVTCHNSTAT_PIRQ, 0, [pirq, 0]));
                }
            }
            Op::BindVcpu { port, vcpu } => {
                if ok(ev.bind_vcpu(tk, port, vcpu)).is_some() {
                    assert_eq!(ev.status(tk, DOMID_SELF, port).unwrap().vcpu, vcpu);
                }
            }
            Op::Close { port } => {
                if ok(ev.close(tk, port)).is_some() {
                    let s = ev.status(tk, DOMID_SELF, port).unwrap();
                    assert_eq!(s.status, EVTCHNSTAT_CLOSED);
                    if shinfo_ok {
                        assert!(!ev.is_pending(tk, port).unwrap());
                    }
                }
            }
            Op::Send { port } => {
                let before = ev.status(tk, DOMID_SELF, port).ok();
                if let (Some(sent), Some(s)) = (ok(ev.send(tk, port)), before) {
                    // Where the send went follows the binding it found.
                    match s.status {
                        EVTCHNSTAT_IPI => assert!(matches!(sent, Sent::Guest(_)), "{sent:?}"),
                        EVTCHNSTAT_UNBOUND => assert_eq!(sent, Sent::Dropped),
                        EVTCHNSTAT_INTERDOMAIN if prog.domid != BACKEND_DOMID => {
                            if s.u[0] == u32::from(BACKEND_DOMID) {
                                assert_eq!(sent, Sent::Host(s.u[1]));
                            } else {
                                assert!(matches!(sent, Sent::Guest(_)), "{sent:?}");
                            }
                        }
                        _ => {}
                    }
                    if shinfo_ok && s.status == EVTCHNSTAT_IPI {
                        assert!(ev.is_pending(tk, port).unwrap());
                    }
                }
            }
            Op::Status { dom, port } => {
                let r = ev.status(tk, dom, port);
                if dom == DOMID_SELF || dom == prog.domid {
                    assert_eq!(r.is_ok(), port < nr, "status({port}) = {r:?}");
                }
                let _ = ok(r);
            }
            Op::Unmask { port } => {
                if ok(ev.unmask(tk, port)).is_some() && shinfo_ok {
                    assert!(!guest_bit(&mem, w, w.shinfo_evtchn_mask(), port));
                }
            }
            Op::Reset { dom } => {
                if ok(ev.reset(tk, dom)).is_some() {
                    for p in 1..nr {
                        assert_eq!(
                            ev.status(tk, DOMID_SELF, p).unwrap().status,
                            EVTCHNSTAT_CLOSED
                        );
                    }
                }
            }
            Op::RaiseVirq { virq, vcpu } => {
                let _ = ok(ev.raise_virq(tk, virq, vcpu));
            }
            Op::RaisePirq { pirq } => {
                let _ = ok(ev.raise_pirq(tk, pirq));
            }
            Op::SetPending { port } => {
                let _ = ok(ev.set_pending(tk, port));
            }
            Op::HostAllocUnbound => {
                if host_ports.len() < 32 {
                    if let Some(h) = ok(ev.host_alloc_unbound(tk)) {
                        host_ports.push(h);
                    }
                }
            }
            Op::HostBind { port } => {
                if host_ports.len() < 32 {
                    if let Some(h) = ok(ev.host_bind(tk, port)) {
                        let s = ev.status(tk, DOMID_SELF, port).unwrap();
                        assert_eq!(s.status, EVTCHNSTAT_INTERDOMAIN);
                        assert_eq!(s.u, [u32::from(BACKEND_DOMID), h.id()]);
                        host_ports.push(h);
                    }
                }
            }
            Op::HostSend { id } => {
                let _ = ok(ev.host_send(tk, id));
            }
            Op::HostClose { id } => {
                let _ = ok(ev.host_close(tk, id));
            }
            Op::GuestSetBit { mask, port, on } => {
                if shinfo_ok && port < nr {
                    let array = if mask {
                        w.shinfo_evtchn_mask()
                    } else {
                        w.shinfo_evtchn_pending()
                    };
                    guest_set_bit(&mem, w, array, port, on);
                }
            }
            Op::GuestAck { vcpu } => {
                // The guest clears evtchn_upcall_pending of a vcpu_info inside shared_info.
                if shinfo_ok && vcpu < 32 {
                    let a = GuestAddress(SHINFO_GFN * 0x1000 + u64::from(vcpu) * 64);
                    mem.atomic().memory().write_obj(0u8, a).unwrap();
                    acks[vcpu as usize] += 1;
                }
            }
            Op::Poll { vcpu, ports } => {
                if ok(ev.poll_begin(tk, vcpu, &ports)).is_some() {
                    ev.poll_end(vcpu);
                }
            }
            Op::SetCallback { via } => ev.set_callback(tk, via),
            Op::SetUpcallVector { vcpu, vector } => {
                let _ = ok(ev.set_vcpu_upcall_vector(tk, vcpu, vector));
            }
            Op::VcpuInfoMoved { vcpu } => {
                let _ = ok(ev.vcpu_info_moved(tk, vcpu));
            }
            // Only FIFO calls that keep the 2-level ABI (the invariants below are 2-level
            // ones): a refused init_control, expand_array and set_priority before it.
            Op::Fifo(n) => {
                let e = match n {
                    0 => ev.init_control(tk, 0x20, 4, 0).map(|_| ()).unwrap_err(),
                    1 => ev.expand_array(tk, 0x21).unwrap_err(),
                    _ => ev.set_priority(tk, 1, 3).unwrap_err(),
                };
                let want = [errno::EINVAL, errno::EOPNOTSUPP, errno::ENOSYS][n.min(2) as usize];
                assert_eq!(e.errno(), want);
            }
            Op::Snapshot if snapshots == MAX_SNAPSHOTS => {}
            Op::Snapshot => {
                snapshots += 1;
                let st = ev.state(tk);
                let restored = Evtchn::from_state(&st, mem.clone(), pages.clone(), sink.clone())
                    .expect("a table's own state must restore");
                assert_eq!(restored.state(tk), st);
                ev = restored;
            }
        }
        if let Some((port, stat, vcpu, u)) = bound {
            assert!(port > 0 && port < nr, "bound port {port} of {nr}");
            let s = ev.status(tk, DOMID_SELF, port).unwrap();
            assert_eq!((s.status, s.vcpu, s.u), (stat, vcpu, u), "port {port}");
        }
        // Upcalls only on 0 -> 1 of evtchn_upcall_pending, which only the guest clears.
        for (v, a) in acks.iter().enumerate() {
            let raised = sink.raises[v].load(Ordering::SeqCst);
            assert!(raised <= a + 1, "vCPU {v}: {raised} upcalls, {a} acks");
        }
    }
});
