// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A mixed stress test of the real crates (xen-evtchn, xen-shinfo-cache, vm-lock; no KVM):
//! every lock path of a Xen-on-KVM VMM at once, for a bounded time, asserting no deadlock (a
//! hang guard) and exact event accounting (every event sent is seen by the guest exactly once).
//!
//! Threads:
//! - guest vCPU 0 ("consumer"): scans its upcalls as Linux does, places and moves
//!   `shared_info` (under the platform's Xen state lock, in one step with the port table) and
//!   its `vcpu_info`, masks ports and unmasks them with `EVTCHNOP_unmask`;
//! - guest vCPU 1 ("poller"): `SCHEDOP_poll` on a masked port, sleeping until woken;
//! - two senders: `EVTCHNOP_send` (own read section, or a vCPU path holding the vCPU mutex, a
//!   read section and `XenLock`), `set_pending`, guest-to-host sends;
//! - a kicker for the polled port, a host backend sending through a host port;
//! - churn: bind (IPI, VIRQ, loopback interdomain), send, `bind_vcpu`, status, close;
//! - memory: VM lock, every vCPU (`lock_all_vcpus`), memory-map `replace` (a page added or
//!   removed) and `synchronize`;
//! - state: `XenLock` then the port table and page-cache state (a snapshot's view).
//!
//! Accounting: a port with accounting has at most one event in flight (its sender waits for
//! the guest to consume the previous one), so every send must show up as exactly one pending
//! bit the guest consumes: a lost event never drains (timeout), a duplicate shows up while
//! nothing is in flight. Runs for `XEN_ON_KVM_STRESS_SECS` seconds (default 3).
//!
//! The same mix runs on both event-channel ABIs: 2-level, and FIFO (the guest registers
//! control blocks for both vCPUs and one event-array page first, masks with the event word's
//! M bit and consumes its queues as Linux's `consume_one_event` does).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vm_lock::{
    lock_all_vcpus, MemReadGuard, MemoryMap, OrderedMutex, Paused, Root, Token, VcpuMutex, VmLock,
    XenLock,
};
use vm_memory::{
    GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap,
    MemoryRegionAddress, MmapRegion,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use xen_abi::{EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_IPI, VIRQ_TIMER};
use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink, BACKEND_DOMID};
use xen_shinfo_cache::{GuestWidth, WidthLayout, XenPages};

vm_lock::declare_levels! {
    after VcpuMutex, before SlotsLock;
    /// The guest's own serialisation of its view of shared_info / vcpu_info: one guest thread
    /// at a time scans, clears, masks or moves them (a guest moves them from one place).
    struct GuestLock;
}

type Mem = GuestMemoryMmap;
const W: GuestWidth = GuestWidth::Bits64;
const RAM: usize = 0x40000;
/// Where the guest puts shared_info (GFNs), in turn.
const SHINFO_GFNS: [u64; 3] = [0x10, 0x11, 0x12];
/// Where the guest puts vcpu 0's vcpu_info: the legacy slot in shared_info, or these.
const VCPU_INFOS: [Option<u64>; 3] = [None, Some(0x14000), Some(0x14040)];
/// FIFO: the control blocks (vCPU 0 at offset 0, vCPU 1 at 0x100) and the event array page.
const CB_GFN: u64 = 0x20;
const ARRAY_GFN: u64 = 0x21;
const FIFO_P: u32 = 1 << xen_abi::EVTCHN_FIFO_PENDING;
const FIFO_M: u32 = 1 << xen_abi::EVTCHN_FIFO_MASKED;
const FIFO_L: u32 = 1 << xen_abi::EVTCHN_FIFO_LINKED;
/// The page the memory thread adds and removes (outside RAM).
const EXTRA: u64 = 0x10_0000;
/// Ports with accounting bound to vCPU 0 (IPIs), besides the host port.
const STABLE: usize = 24;
const CHURN_MAX: usize = 64;
const UPCALL_PENDING: u64 = 0;
const UPCALL_MASK: u64 = 1;

fn secs() -> u64 {
    std::env::var("XEN_ON_KVM_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

struct Sink {
    upcall: EventFd,
    poll: EventFd,
}

impl UpcallSink for Sink {
    fn raise(&self, vcpu: u32, _how: UpcallKind) {
        if vcpu == 0 {
            self.upcall.write(1).unwrap();
        }
    }
    fn poll_wake(&self, vcpu: u32) {
        if vcpu == 1 {
            self.poll.write(1).unwrap();
        }
    }
}

/// What the guest knows of its own pages.
struct GuestView {
    shinfo: Option<u64>,
    vcpu_info: Option<u64>,
    /// Ports the guest masked, with the scan round that masked them.
    masked: Vec<(u32, u64)>,
    /// FIFO: vCPU 0's local queue heads and ready bits (Linux's per-CPU copies).
    heads: [u32; 16],
    ready: u32,
}

#[derive(Default)]
struct Counters {
    shinfo_moves: AtomicU64,
    vcpu_info_moves: AtomicU64,
    unmasks: AtomicU64,
    replaces: AtomicU64,
    states: AtomicU64,
    binds: AtomicU64,
    closes: AtomicU64,
    poll_sleeps: AtomicU64,
    xen_lock_sends: AtomicU64,
    to_host: AtomicU64,
}

struct World {
    /// The guest switched to the FIFO ABI.
    fifo: bool,
    vm: OrderedMutex<VmLock, u64>,
    vcpus: Vec<OrderedMutex<VcpuMutex, u64>>,
    xen: OrderedMutex<XenLock, u64>,
    guest: OrderedMutex<GuestLock, GuestView>,
    mem: MemoryMap<Mem>,
    pages: Arc<XenPages<Mem>>,
    evtchn: Evtchn<Mem, Arc<Sink>>,
    sink: Arc<Sink>,
    /// Ports with accounting on vCPU 0: the IPIs, then the host port's guest end.
    stable: Vec<u32>,
    host_id: u32,
    host_port: u32,
    poll_port: u32,
    /// Per port number: has accounting, an event is in flight, events sent, events seen.
    accounted: Vec<bool>,
    in_flight: Vec<AtomicBool>,
    sent: Vec<AtomicU64>,
    seen: Vec<AtomicU64>,
    duplicates: AtomicU64,
    stop: AtomicBool,
    stop_guest: AtomicBool,
    n: Counters,
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// The guest's atomic view of a naturally aligned object of guest RAM.
fn atomic_at<T>(mem: &Mem, gpa: u64) -> &T {
    let r = mem.find_region(GuestAddress(gpa)).unwrap();
    let host = r
        .get_host_address(MemoryRegionAddress(gpa - r.start_addr().0))
        .unwrap();
    // SAFETY: `gpa` is aligned for `T` and inside guest RAM, which the read section `mem`
    // comes from keeps mapped for at least as long as the returned reference (it borrows it).
    unsafe { &*(host as *const T) }
}

fn word(mem: &Mem, shinfo: u64, array: usize, port: u32) -> &AtomicU64 {
    let gpa = shinfo + array as u64 + u64::from(port / 64) * 8;
    atomic_at(mem, gpa)
}

impl World {
    fn new(fifo: bool) -> Arc<World> {
        let mem = MemoryMap::new(Mem::from_ranges(&[(GuestAddress(0), RAM)]).unwrap());
        let pages = Arc::new(XenPages::new(2));
        pages.set_width(W);
        let sink = Arc::new(Sink {
            upcall: EventFd::new(EFD_NONBLOCK).unwrap(),
            poll: EventFd::new(EFD_NONBLOCK).unwrap(),
        });
        let evtchn = Evtchn::new(
            EvtchnConfig::default(),
            mem.clone(),
            pages.clone(),
            sink.clone(),
        );
        let mut root = Root::new().unwrap();
        let mut stable: Vec<u32> = (0..STABLE)
            .map(|_| evtchn.bind_ipi(root.token(), 0).unwrap())
            .collect();
        let host_port = evtchn
            .alloc_unbound(root.token(), xen_abi::DOMID_SELF, BACKEND_DOMID)
            .unwrap();
        let host = evtchn.host_bind(root.token(), host_port).unwrap();
        stable.push(host_port);
        let poll_port = evtchn.bind_ipi(root.token(), 1).unwrap();
        if fifo {
            let t = root.token();
            assert_eq!(evtchn.init_control(t, CB_GFN, 0, 0).unwrap(), 17);
            assert_eq!(evtchn.init_control(t, CB_GFN, 0x100, 1).unwrap(), 17);
            evtchn.expand_array(t, ARRAY_GFN).unwrap();
            // vCPU 1 polls its port masked.
            let (snap, _t) = mem.read(root.token());
            fifo_word(&snap, poll_port).fetch_or(FIFO_M, Ordering::SeqCst);
        }
        let n = W.nr_2l_ports() as usize;
        let mut accounted = vec![false; n];
        for &p in stable.iter().chain([&poll_port]) {
            accounted[p as usize] = true;
        }
        // The host port's eventfd was signalled once by the bind.
        assert_eq!(host.eventfd().read().unwrap(), 1);
        Arc::new(World {
            fifo,
            vm: OrderedMutex::new(0),
            vcpus: (0..2).map(|_| OrderedMutex::new(0)).collect(),
            xen: OrderedMutex::new(0),
            guest: OrderedMutex::new(GuestView {
                shinfo: None,
                vcpu_info: None,
                masked: Vec::new(),
                heads: [0; 16],
                ready: 0,
            }),
            mem,
            pages,
            evtchn,
            sink,
            stable,
            host_id: host.id(),
            host_port,
            poll_port,
            accounted,
            in_flight: (0..n).map(|_| AtomicBool::new(false)).collect(),
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..n).map(|_| AtomicU64::new(0)).collect(),
            duplicates: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            stop_guest: AtomicBool::new(false),
            n: Counters::default(),
        })
    }

    /// Claims `port` for one event; false if its previous event is not consumed yet.
    fn claim(&self, port: u32) -> bool {
        let p = port as usize;
        if self.in_flight[p]
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        self.sent[p].fetch_add(1, Ordering::SeqCst);
        true
    }

    /// The guest consumed an event on `port`.
    fn consumed(&self, port: u32) {
        let p = port as usize;
        if !self.accounted[p] {
            return;
        }
        if self.in_flight[p].load(Ordering::SeqCst) {
            self.seen[p].fetch_add(1, Ordering::SeqCst);
            self.in_flight[p].store(false, Ordering::SeqCst);
        } else {
            self.duplicates.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// FIFO: the event word of `port` (on the one event-array page).
fn fifo_word(mem: &Mem, port: u32) -> &AtomicU32 {
    assert!(port < 1024);
    atomic_at(mem, ARRAY_GFN * 4096 + u64::from(port) * 4)
}

/// FIFO: vCPU 0's control block word at byte `off` (0: READY, 8 + 4 * q: HEAD of queue q).
fn fifo_cb(mem: &Mem, off: u64) -> &AtomicU32 {
    atomic_at(mem, CB_GFN * 4096 + off)
}

/// FIFO: Linux's `__evtchn_fifo_handle_events` for vCPU 0: take the READY bits, consume
/// one event of the highest-priority ready queue at a time, merging newly READY queues.
fn scan_fifo(w: &World, mem: &Mem, g: &mut GuestView) {
    let link = (1u32 << xen_abi::EVTCHN_FIFO_LINK_BITS) - 1;
    let ready_word = fifo_cb(mem, 0);
    g.ready |= ready_word.swap(0, Ordering::SeqCst);
    while g.ready != 0 {
        let q = g.ready.trailing_zeros();
        let mut port = g.heads[q as usize];
        if port == 0 {
            port = fifo_cb(mem, 8 + 4 * u64::from(q)).load(Ordering::SeqCst);
        }
        if port == 0 || port >= 1024 {
            g.ready &= !(1 << q);
            g.heads[q as usize] = 0;
        } else {
            // clear_linked: L and LINK together, atomically.
            let word = fifo_word(mem, port);
            let mut v = word.load(Ordering::SeqCst);
            let next = loop {
                match word.compare_exchange(
                    v,
                    v & !(FIFO_L | link),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => break v & link,
                    Err(cur) => v = cur,
                }
            };
            if next == 0 {
                g.ready &= !(1 << q);
            }
            g.heads[q as usize] = next;
            if v & FIFO_P != 0
                && v & FIFO_M == 0
                && word.fetch_and(!FIFO_P, Ordering::SeqCst) & FIFO_P != 0
            {
                w.consumed(port);
            }
        }
        g.ready |= ready_word.swap(0, Ordering::SeqCst);
    }
}

/// Masks `port` the guest's way for the ABI in use.
fn mask(w: &World, mem: &Mem, g: &GuestView, port: u32) {
    if w.fifo {
        fifo_word(mem, port).fetch_or(FIFO_M, Ordering::SeqCst);
    } else {
        let sh = g.shinfo.unwrap() * 4096;
        word(mem, sh, W.shinfo_evtchn_mask(), port).fetch_or(1 << (port % 64), Ordering::SeqCst);
    }
}

/// Runs `f` on a thread named `name`, reporting its end (or its panic) on `done`.
fn spawn(
    name: &'static str,
    done: &Sender<(&'static str, Result<(), String>)>,
    f: impl FnOnce() + Send + 'static,
) {
    let done = done.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let r = r.map_err(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            });
            let _ = done.send((name, r));
        })
        .unwrap();
}

/// One Linux-style upcall scan of vCPU 0: clear `evtchn_upcall_pending`, take the selector,
/// take pending & !mask of each selected word (vCPU 1's port is not ours), until no new upcall.
fn scan(w: &World, mem: &Mem, g: &mut GuestView) {
    let Some(gfn) = g.shinfo else {
        if w.fifo {
            // No vcpu_info yet: no upcall flag, but the queues are there.
            scan_fifo(w, mem, g);
        }
        return;
    };
    let shinfo = gfn * 4096;
    let vi = g.vcpu_info.unwrap_or(shinfo);
    loop {
        let up: &AtomicU8 = atomic_at(mem, vi + UPCALL_PENDING);
        up.store(0, Ordering::SeqCst);
        if w.fifo {
            scan_fifo(w, mem, g);
            if up.load(Ordering::SeqCst) == 0 {
                break;
            }
            continue;
        }
        let sel: &AtomicU64 = atomic_at(mem, vi + W.vcpu_info_pending_sel() as u64);
        let sel = sel.swap(0, Ordering::SeqCst);
        for wd in 0..64u32 {
            if sel & (1 << wd) == 0 {
                continue;
            }
            let base = wd * 64;
            let pend = word(mem, shinfo, W.shinfo_evtchn_pending(), base);
            let mask = word(mem, shinfo, W.shinfo_evtchn_mask(), base);
            let mut mine = pend.load(Ordering::SeqCst) & !mask.load(Ordering::SeqCst);
            if w.poll_port / 64 == wd {
                mine &= !(1 << (w.poll_port % 64));
            }
            let taken = pend.fetch_and(!mine, Ordering::SeqCst) & mine;
            for b in 0..64 {
                if taken & (1 << b) != 0 {
                    w.consumed(base + b);
                }
            }
        }
        if up.load(Ordering::SeqCst) == 0 {
            break;
        }
    }
}

fn consumer(w: &World) {
    let mut root = Root::new().unwrap();
    let mut rng = 0x1234_5678u64;
    let mut round = 0u64;
    let mut next_gfn = 0usize;
    let mut next_vi = 1usize;
    loop {
        let stopping = w.stop.load(Ordering::SeqCst);
        if w.stop_guest.load(Ordering::SeqCst) {
            return;
        }
        let upcall = w.sink.upcall.read().is_ok();
        round += 1;
        let r = xorshift(&mut rng);
        let (mut g, mut t_g) = w.guest.lock(root.token());
        let (snap, mut t) = w.mem.read(&mut t_g);
        if g.shinfo.is_none() {
            if round < 200 {
                // Let events be sent before shared_info exists (deferred delivery).
                drop((snap, g));
                std::thread::yield_now();
                continue;
            }
            place_shared_info(w, &mut g, &snap, &mut t, &mut next_gfn);
            let sh = g.shinfo.unwrap() * 4096;
            // vCPU 1 polls with events masked; the polled port is masked.
            let m: &AtomicU8 = atomic_at(&snap, sh + 64 + UPCALL_MASK);
            m.store(1, Ordering::SeqCst);
            if !w.fifo {
                mask(w, &snap, &g, w.poll_port);
            }
            continue;
        }
        if upcall || r % 8 == 0 {
            scan(w, &snap, &mut g);
        }
        if stopping {
            // Unmask everything so that the last events drain.
            for (p, _) in std::mem::take(&mut g.masked) {
                w.evtchn.unmask_in(&mut t, &snap, p).unwrap();
                w.n.unmasks.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        match r % 64 {
            0 => place_shared_info(w, &mut g, &snap, &mut t, &mut next_gfn),
            1 => {
                let to = VCPU_INFOS[next_vi % VCPU_INFOS.len()];
                next_vi += 1;
                w.pages.set_vcpu_info(&mut t, &snap, 0, to).unwrap();
                g.vcpu_info = to;
                w.evtchn.vcpu_info_moved_in(&mut t, &snap, 0).unwrap();
                w.n.vcpu_info_moves.fetch_add(1, Ordering::Relaxed);
            }
            2..=5 if g.masked.len() < 4 => {
                let p = w.stable[(r >> 8) as usize % w.stable.len()];
                if g.masked.iter().all(|&(m, _)| m != p) {
                    mask(w, &snap, &g, p);
                    g.masked.push((p, round));
                }
            }
            _ => {}
        }
        // EVTCHNOP_unmask after a while: re-raises what arrived while masked.
        let (old, young): (Vec<_>, Vec<_>) = g
            .masked
            .iter()
            .copied()
            .partition(|&(_, at)| round - at > 50);
        g.masked = young;
        for (p, _) in old {
            w.evtchn.unmask_in(&mut t, &snap, p).unwrap();
            w.n.unmasks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Places (or moves) shared_info as `XENMEM_add_to_physmap` does: under the platform's Xen
/// state lock, in one step with the port table (`XenLock` then `EvtchnLock`).
fn place_shared_info(
    w: &World,
    g: &mut GuestView,
    snap: &MemReadGuard<'_, Mem>,
    t: &mut Token<'_, vm_lock::MemRead>,
    next: &mut usize,
) {
    let gfn = SHINFO_GFNS[*next % SHINFO_GFNS.len()];
    *next += 1;
    if g.shinfo == Some(gfn) {
        return;
    }
    let (mut xen, mut t_x) = w.xen.lock(t);
    w.evtchn.shared_info_moved_in(&mut t_x, snap, gfn).unwrap();
    *xen += 1;
    g.shinfo = Some(gfn);
    w.n.shinfo_moves.fetch_add(1, Ordering::Relaxed);
}

fn poller(w: &World) {
    let mut root = Root::new().unwrap();
    let p = w.poll_port;
    while !w.stop_guest.load(Ordering::SeqCst) {
        let ready = {
            let (snap, mut t) = w.mem.read(root.token());
            w.evtchn.poll_begin_in(&mut t, &snap, 1, &[p]).unwrap()
        };
        if !ready {
            w.n.poll_sleeps.fetch_add(1, Ordering::Relaxed);
            // Sleeps until woken; only the end of the test also wakes it.
            while w.sink.poll.read().is_err() && !w.stop_guest.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
        w.evtchn.poll_end(1);
        let (g, mut t_g) = w.guest.lock(root.token());
        let (snap, _t) = w.mem.read(&mut t_g);
        if w.fifo {
            // Masked: never linked; P is the whole event.
            if fifo_word(&snap, p).fetch_and(!FIFO_P, Ordering::SeqCst) & FIFO_P != 0 {
                w.consumed(p);
            }
        } else if let Some(gfn) = g.shinfo {
            let bit = 1u64 << (p % 64);
            let pend = word(&snap, gfn * 4096, W.shinfo_evtchn_pending(), p);
            if pend.fetch_and(!bit, Ordering::SeqCst) & bit != 0 {
                w.consumed(p);
            }
        }
    }
}

fn sender(w: &World, seed: u64) {
    let mut root = Root::new().unwrap();
    let mut rng = seed;
    while !w.stop.load(Ordering::SeqCst) {
        let r = xorshift(&mut rng);
        // The host port's guest end is sent to by the host thread only.
        let p = w.stable[(r >> 8) as usize % (w.stable.len() - 1)];
        if r % 16 == 0 {
            // Guest to host: the backend's eventfd counts it.
            w.evtchn.send(root.token(), w.host_port).unwrap();
            w.n.to_host.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        if !w.claim(p) {
            std::thread::yield_now();
            continue;
        }
        match r % 3 {
            0 => {
                w.evtchn.send(root.token(), p).unwrap();
            }
            1 => {
                // A hypercall path: vCPU mutex, read section, the Xen state lock, then the
                // port table inside it.
                let v = (r >> 20) as usize % w.vcpus.len();
                let (mut hc, mut t_v) = w.vcpus[v].lock(root.token());
                let (snap, mut t) = w.mem.read(&mut t_v);
                let (mut xen, mut t_x) = w.xen.lock(&mut t);
                w.evtchn.send_in(&mut t_x, &snap, p).unwrap();
                *xen += 1;
                *hc += 1;
                w.n.xen_lock_sends.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                w.evtchn.set_pending(root.token(), p).unwrap();
            }
        }
    }
}

fn kicker(w: &World) {
    let mut root = Root::new().unwrap();
    while !w.stop.load(Ordering::SeqCst) {
        if w.claim(w.poll_port) {
            w.evtchn.send(root.token(), w.poll_port).unwrap();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// The backend: sends to the guest through its host port, counts what the guest sent it.
fn host(w: &World, received: &AtomicU64) {
    let mut root = Root::new().unwrap();
    let hp = w.evtchn.host_port(root.token(), w.host_id).unwrap();
    let efd = hp.eventfd();
    while !w.stop_guest.load(Ordering::SeqCst) {
        if let Ok(n) = efd.read() {
            received.fetch_add(n, Ordering::SeqCst);
        }
        if !w.stop.load(Ordering::SeqCst) && w.claim(w.host_port) {
            w.evtchn.host_send(root.token(), w.host_id).unwrap();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    // What the guest sent before the senders stopped.
    if let Ok(n) = efd.read() {
        received.fetch_add(n, Ordering::SeqCst);
    }
}

fn churn(w: &World) {
    let mut root = Root::new().unwrap();
    let mut rng = 0xdead_beefu64;
    let mut mine: Vec<u32> = Vec::new();
    while !w.stop.load(Ordering::SeqCst) {
        let r = xorshift(&mut rng);
        let pick = |mine: &Vec<u32>| mine[(r >> 16) as usize % mine.len()];
        match r % 8 {
            0 | 1 if mine.len() < CHURN_MAX => {
                mine.push(w.evtchn.bind_ipi(root.token(), 0).unwrap());
                w.n.binds.fetch_add(1, Ordering::Relaxed);
            }
            2 if mine.len() < CHURN_MAX => {
                // Per-vCPU VIRQ: EEXIST while bound.
                if let Ok(p) = w.evtchn.bind_virq(root.token(), VIRQ_TIMER, 0) {
                    mine.push(p);
                    w.n.binds.fetch_add(1, Ordering::Relaxed);
                }
                let _ = w.evtchn.raise_virq(root.token(), VIRQ_TIMER, 0).unwrap();
            }
            3 if mine.len() + 1 < CHURN_MAX => {
                let a = w
                    .evtchn
                    .alloc_unbound(root.token(), xen_abi::DOMID_SELF, xen_abi::DOMID_SELF)
                    .unwrap();
                let b = w
                    .evtchn
                    .bind_interdomain(root.token(), xen_abi::DOMID_SELF, a)
                    .unwrap();
                mine.extend([a, b]);
                w.n.binds.fetch_add(1, Ordering::Relaxed);
            }
            4 if !mine.is_empty() => {
                // VIRQ ports refuse sends (EINVAL); others deliver.
                let _ = w.evtchn.send(root.token(), pick(&mine));
            }
            5 if !mine.is_empty() => {
                let _ = w.evtchn.bind_vcpu(root.token(), pick(&mine), 0);
            }
            6 if !mine.is_empty() => {
                let i = (r >> 16) as usize % mine.len();
                let p = mine.swap_remove(i);
                // The other end of a loopback pair becomes unbound: it may be closed too.
                w.evtchn.close(root.token(), p).unwrap();
                w.n.closes.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                // The ports with accounting are never disturbed.
                let p = w.stable[(r >> 16) as usize % w.stable.len()];
                let st = w
                    .evtchn
                    .status(root.token(), xen_abi::DOMID_SELF, p)
                    .unwrap();
                assert!(
                    matches!(st.status, EVTCHNSTAT_IPI | EVTCHNSTAT_INTERDOMAIN) && st.vcpu == 0,
                    "port {p}: {st:?}"
                );
            }
        }
    }
}

fn memory(w: &World) {
    let mut root = Root::new().unwrap();
    // No real vCPU threads: the vCPU mutexes are only held for a hypercall at a time.
    let paused = Paused::new(root.token(), &w.vcpus);
    while !w.stop.load(Ordering::SeqCst) {
        let (mut g_vm, mut t_vm) = w.vm.lock(root.token());
        let (_all, mut t_v) = lock_all_vcpus(&mut t_vm, &paused);
        let current: Mem = {
            let (snap, _t) = w.mem.read(&mut t_v);
            (*snap).clone()
        };
        let new = if current.address_in_range(GuestAddress(EXTRA)) {
            current.remove_region(GuestAddress(EXTRA), 4096).unwrap().0
        } else {
            let region = GuestRegionMmap::new(MmapRegion::new(4096).unwrap(), GuestAddress(EXTRA));
            current.insert_region(Arc::new(region.unwrap())).unwrap()
        };
        w.mem.replace(&mut t_v, new);
        // Wait for the readers of the old map (every vCPU is held: none starts a hypercall).
        w.mem.synchronize(&mut t_v);
        *g_vm += 1;
        drop((_all, g_vm));
        w.n.replaces.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn state(w: &World) {
    let mut root = Root::new().unwrap();
    while !w.stop.load(Ordering::SeqCst) {
        let (_xen, mut t_x) = w.xen.lock(root.token());
        let st = w.evtchn.state(&mut t_x);
        let _pages = w.pages.state(&mut t_x);
        for &p in w.stable.iter().chain([&w.poll_port]) {
            assert!(st.ports.iter().any(|s| s.port == p), "port {p} lost");
        }
        drop(_xen);
        w.n.states.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(300));
    }
}

#[test]
fn every_lock_path_at_once_no_deadlock_and_exact_accounting() {
    run(false);
}

#[test]
fn every_lock_path_at_once_on_the_fifo_abi() {
    run(true);
}

fn run(fifo: bool) {
    let secs = secs();
    let hang_guard = Duration::from_secs(secs + 120);
    let w = World::new(fifo);
    let received = Arc::new(AtomicU64::new(0));
    let (done, finished) = channel();
    type Worker = (&'static str, fn(&World));
    let workers: [Worker; 5] = [
        ("kicker", kicker),
        ("churn", churn),
        ("memory", memory),
        ("state", state),
        ("sender-b", |w| sender(w, 0xabcd_ef01)),
    ];
    for (name, f) in workers {
        let w = w.clone();
        spawn(name, &done, move || f(&w));
    }
    {
        let w = w.clone();
        spawn("sender-a", &done, move || sender(&w, 0x9e37_79b9));
    }
    let guests = ["consumer", "poller", "host"];
    {
        let w = w.clone();
        spawn("consumer", &done, move || consumer(&w));
    }
    {
        let w = w.clone();
        spawn("poller", &done, move || poller(&w));
    }
    {
        let (w, received) = (w.clone(), received.clone());
        spawn("host", &done, move || host(&w, &received));
    }
    drop(done);

    std::thread::sleep(Duration::from_secs(secs));
    w.stop.store(true, Ordering::SeqCst);
    let wait = |n: usize, what: &str| {
        let mut failures = Vec::new();
        for _ in 0..n {
            match finished.recv_timeout(hang_guard) {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(e))) => failures.push(format!("{name} panicked: {e}")),
                Err(_) => panic!("a {what} thread did not finish: deadlock"),
            }
        }
        failures
    };
    let mut failures = wait(6, "worker");

    // Drain: the guest consumes the last events (a lost one never drains).
    let start = Instant::now();
    let in_flight = || -> Vec<u32> {
        (0..w.in_flight.len() as u32)
            .filter(|&p| w.in_flight[p as usize].load(Ordering::SeqCst))
            .collect()
    };
    while !in_flight().is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let lost = in_flight();
    w.stop_guest.store(true, Ordering::SeqCst);
    let _ = w.sink.poll.write(1);
    failures.extend(wait(guests.len(), "guest"));
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        lost.is_empty(),
        "events sent but never seen on ports {lost:?}"
    );
    assert_eq!(w.duplicates.load(Ordering::SeqCst), 0, "events seen twice");

    let mut total = 0;
    for p in 0..w.sent.len() {
        let (s, n) = (
            w.sent[p].load(Ordering::SeqCst),
            w.seen[p].load(Ordering::SeqCst),
        );
        assert_eq!(s, n, "port {p}: {s} sent, {n} seen");
        total += s;
    }
    assert_eq!(
        received.load(Ordering::SeqCst),
        w.n.to_host.load(Ordering::SeqCst),
        "guest-to-host sends"
    );
    let c = &w.n;
    let counts = [
        ("events", total),
        (
            "polled events",
            w.seen[w.poll_port as usize].load(Ordering::SeqCst),
        ),
        (
            "host events",
            w.seen[w.host_port as usize].load(Ordering::SeqCst),
        ),
        ("shared_info moves", c.shinfo_moves.load(Ordering::SeqCst)),
        ("vcpu_info moves", c.vcpu_info_moves.load(Ordering::SeqCst)),
        ("unmasks", c.unmasks.load(Ordering::SeqCst)),
        ("replaces", c.replaces.load(Ordering::SeqCst)),
        ("state snapshots", c.states.load(Ordering::SeqCst)),
        ("binds", c.binds.load(Ordering::SeqCst)),
        ("closes", c.closes.load(Ordering::SeqCst)),
        ("poll sleeps", c.poll_sleeps.load(Ordering::SeqCst)),
        (
            "sends under XenLock",
            c.xen_lock_sends.load(Ordering::SeqCst),
        ),
        ("guest-to-host sends", c.to_host.load(Ordering::SeqCst)),
    ];
    eprintln!("stress_locks (fifo: {fifo}, {secs} s): {counts:?}");
    for (what, n) in counts {
        assert!(n > 0, "no {what} in {secs} s: the mix did not run");
    }
    assert!(w.mem.generation() > 0);
}
