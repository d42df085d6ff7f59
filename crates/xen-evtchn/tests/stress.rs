// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! N sender threads x M sends against one guest consumer: no lost wake-up.
//!
//! The consumer behaves like Linux's upcall handler (clear `evtchn_upcall_pending`, exchange
//! the selector, scan and clear pending & !mask words) and only scans after an upcall was
//! raised through the sink (an eventfd). After the senders finish, every port that was sent
//! to must be delivered without any further prod: a lost wake-up leaves a port pending with
//! no upcall, and the consumer times out.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Mem;
use vm_lock::{MemoryMap, Root};
use vm_memory::{
    GuestAddress, GuestAddressSpace, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    MemoryRegionAddress,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink};
use xen_shinfo_cache::{GuestWidth, WidthLayout, XenPages};

struct EfdSink(EventFd);
impl UpcallSink for EfdSink {
    fn raise(&self, _vcpu: u32, _how: UpcallKind) {
        self.0.write(1).unwrap();
    }
    fn poll_wake(&self, _vcpu: u32) {}
}

fn atomic_at<T>(mem: &Mem, gpa: u64) -> &T {
    let r = mem.find_region(GuestAddress(gpa)).unwrap();
    let host = r
        .get_host_address(MemoryRegionAddress(gpa - r.start_addr().0))
        .unwrap();
    // SAFETY: test-only: `gpa` is an aligned address inside guest RAM that outlives the test.
    unsafe { &*(host as *const T) }
}

fn stress(width: GuestWidth, senders: usize, sends: usize) {
    const SHINFO: u64 = 0x10000;
    let mem = MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40000)]).unwrap());
    let pages = Arc::new(XenPages::new(2));
    pages.set_width(width);
    let mut root = Root::new().unwrap();
    pages
        .set_shared_info_gfn(root.token(), Some(SHINFO >> 12))
        .unwrap();
    let efd = EventFd::new(EFD_NONBLOCK).unwrap();
    let sink = EfdSink(efd.try_clone().unwrap());
    let evtchn = Arc::new(Evtchn::new(
        EvtchnConfig::default(),
        mem.clone(),
        pages.clone(),
        sink,
    ));
    let nports = width.nr_2l_ports() - 1;
    let ports: Vec<u32> = (0..nports)
        .map(|_| evtchn.bind_ipi(root.token(), 0).unwrap())
        .collect();
    let nwords = width.long_bits() as usize;
    let delivered: Arc<Vec<AtomicU64>> = Arc::new((0..nwords).map(|_| AtomicU64::new(0)).collect());
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..nwords).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));

    // Consumer.
    let consumer = {
        let (mem, delivered, done) = (mem.clone(), delivered.clone(), done.clone());
        std::thread::spawn(move || {
            let guard = mem.atomic().memory();
            let m: &Mem = &guard;
            let lb = width.long_bytes() as u64;
            let mut idle_since: Option<Instant> = None;
            loop {
                match efd.read() {
                    Ok(_) => idle_since = None,
                    Err(_) => {
                        if done.load(Ordering::SeqCst) {
                            let t0 = *idle_since.get_or_insert_with(Instant::now);
                            if t0.elapsed() > Duration::from_millis(500) {
                                return;
                            }
                        }
                        std::thread::yield_now();
                        continue;
                    }
                }
                loop {
                    let up = atomic_at::<std::sync::atomic::AtomicU8>(m, SHINFO);
                    up.store(0, Ordering::SeqCst);
                    let sel_gpa = SHINFO + width.vcpu_info_pending_sel() as u64;
                    let sel = match width {
                        GuestWidth::Bits64 => {
                            atomic_at::<AtomicU64>(m, sel_gpa).swap(0, Ordering::SeqCst)
                        }
                        GuestWidth::Bits32 => atomic_at::<std::sync::atomic::AtomicU32>(m, sel_gpa)
                            .swap(0, Ordering::SeqCst)
                            as u64,
                    };
                    for word in 0..nwords as u64 {
                        if sel & (1 << word) == 0 {
                            continue;
                        }
                        let gpa = SHINFO + width.shinfo_evtchn_pending() as u64 + word * lb;
                        let got = match width {
                            GuestWidth::Bits64 => {
                                atomic_at::<AtomicU64>(m, gpa).swap(0, Ordering::SeqCst)
                            }
                            GuestWidth::Bits32 => atomic_at::<std::sync::atomic::AtomicU32>(m, gpa)
                                .swap(0, Ordering::SeqCst)
                                as u64,
                        };
                        delivered[word as usize].fetch_or(got, Ordering::SeqCst);
                    }
                    if up.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                }
            }
        })
    };

    let threads: Vec<_> = (0..senders)
        .map(|i| {
            let (evtchn, ports, sent) = (evtchn.clone(), ports.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut root = Root::new().unwrap();
                let mut x = 0x9e3779b97f4a7c15u64.wrapping_mul(i as u64 + 1);
                for n in 0..sends {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let port = ports[(x % ports.len() as u64) as usize];
                    let bits = width.long_bits();
                    sent[(port / bits) as usize].fetch_or(1 << (port % bits), Ordering::SeqCst);
                    if n % 2 == 0 {
                        evtchn.send(root.token(), port).unwrap();
                    } else {
                        evtchn.set_pending(root.token(), port).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    consumer.join().unwrap();
    // Every port sent to was delivered, and nothing is left pending without an upcall.
    let mut missing = 0;
    for w in 0..nwords {
        let s = sent[w].load(Ordering::SeqCst);
        let d = delivered[w].load(Ordering::SeqCst);
        missing += (s & !d).count_ones();
        assert_eq!(d & !s, 0, "delivered a port nobody sent to");
    }
    assert_eq!(missing, 0, "{missing} ports lost their wake-up");
    assert!(
        sent.iter()
            .map(|w| w.load(Ordering::SeqCst).count_ones())
            .sum::<u32>()
            > 100
    );
}

#[test]
fn stress_64_bit() {
    stress(GuestWidth::Bits64, 4, 200_000);
}

#[test]
fn stress_32_bit() {
    stress(GuestWidth::Bits32, 4, 100_000);
}
