// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Shared test fixtures: guest RAM, pages, a recording sink, and a guest-side reader.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::GuestAddressSpace;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink};
use xen_shinfo_cache::{GuestWidth, WidthLayout, XenPages};

pub type Mem = GuestMemoryMmap;
pub const SHINFO_GFN: u64 = 0x10;
pub const SHINFO: u64 = SHINFO_GFN * 0x1000;
pub const VCPUS: u32 = 40;

/// Counts raises and poll wake-ups per vCPU and remembers the last kind.
#[derive(Default)]
pub struct Recorder {
    pub raises: Vec<AtomicU32>,
    pub wakes: Vec<AtomicU32>,
    /// Last kind per vCPU, encoded: 0 none, 1 kick, 0x100|v vector, 0x200|v per-vCPU, 0x10000|g GSI.
    pub kinds: Vec<AtomicU32>,
}

impl Recorder {
    pub fn new(n: u32) -> Self {
        Recorder {
            raises: (0..n).map(|_| AtomicU32::new(0)).collect(),
            wakes: (0..n).map(|_| AtomicU32::new(0)).collect(),
            kinds: (0..n).map(|_| AtomicU32::new(0)).collect(),
        }
    }
    pub fn raises(&self, v: u32) -> u32 {
        self.raises[v as usize].load(Ordering::SeqCst)
    }
    pub fn kind(&self, v: u32) -> u32 {
        self.kinds[v as usize].load(Ordering::SeqCst)
    }
    pub fn wakes(&self, v: u32) -> u32 {
        self.wakes[v as usize].load(Ordering::SeqCst)
    }
}

impl UpcallSink for Recorder {
    fn raise(&self, vcpu: u32, how: UpcallKind) {
        self.raises[vcpu as usize].fetch_add(1, Ordering::SeqCst);
        let code = match how {
            UpcallKind::Kick => 1,
            UpcallKind::Vector(v) => 0x100 | v as u32,
            UpcallKind::PerVcpuVector(v) => 0x200 | v as u32,
            UpcallKind::Gsi(g) => 0x10000 | g,
        };
        self.kinds[vcpu as usize].store(code, Ordering::SeqCst);
    }
    fn poll_wake(&self, vcpu: u32) {
        self.wakes[vcpu as usize].fetch_add(1, Ordering::SeqCst);
    }
}

pub struct Vm {
    pub mem: MemoryMap<Mem>,
    pub pages: Arc<XenPages<Mem>>,
    pub evtchn: Evtchn<Mem, Arc<Recorder>>,
    pub sink: Arc<Recorder>,
}

pub fn vm(width: GuestWidth) -> Vm {
    let mem = MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40000)]).unwrap());
    let pages = Arc::new(XenPages::new(VCPUS));
    pages.set_width(width);
    let mut root = Root::new().unwrap();
    pages
        .set_shared_info_gfn(root.token(), Some(SHINFO_GFN))
        .unwrap();
    drop(root);
    let sink = Arc::new(Recorder::new(VCPUS));
    let evtchn = Evtchn::new(
        EvtchnConfig::default(),
        mem.clone(),
        pages.clone(),
        sink.clone(),
    );
    Vm {
        mem,
        pages,
        evtchn,
        sink,
    }
}

/// Guest-side view of shared_info for assertions.
pub fn guest_bit(vm: &Vm, array: usize, port: u32) -> bool {
    let w = vm.pages.width();
    let bits = w.long_bits();
    let addr = SHINFO + array as u64 + (port / bits) as u64 * w.long_bytes() as u64;
    let snap = vm.mem.atomic().memory();
    let word: u64 = match w {
        GuestWidth::Bits64 => snap.read_obj::<u64>(GuestAddress(addr)).unwrap(),
        GuestWidth::Bits32 => snap.read_obj::<u32>(GuestAddress(addr)).unwrap() as u64,
    };
    word & (1 << (port % bits)) != 0
}

pub fn pending(vm: &Vm, port: u32) -> bool {
    guest_bit(vm, vm.pages.width().shinfo_evtchn_pending(), port)
}

/// The guest masks `port` (as the guest would, directly in memory).
pub fn guest_mask(vm: &Vm, port: u32, on: bool) {
    let w = vm.pages.width();
    let bits = w.long_bits();
    let addr =
        SHINFO + w.shinfo_evtchn_mask() as u64 + (port / bits) as u64 * w.long_bytes() as u64;
    let snap = vm.mem.atomic().memory();
    let mut word: u64 = match w {
        GuestWidth::Bits64 => snap.read_obj::<u64>(GuestAddress(addr)).unwrap(),
        GuestWidth::Bits32 => snap.read_obj::<u32>(GuestAddress(addr)).unwrap() as u64,
    };
    if on {
        word |= 1 << (port % bits);
    } else {
        word &= !(1 << (port % bits));
    }
    match w {
        GuestWidth::Bits64 => snap.write_obj(word, GuestAddress(addr)).unwrap(),
        GuestWidth::Bits32 => snap.write_obj(word as u32, GuestAddress(addr)).unwrap(),
    }
}

pub fn upcall_pending(vm: &Vm, vcpu: u32) -> u8 {
    vm.mem
        .atomic()
        .memory()
        .read_obj(GuestAddress(SHINFO + vcpu as u64 * 64))
        .unwrap()
}

pub fn clear_upcall_pending(vm: &Vm, vcpu: u32) {
    vm.mem
        .atomic()
        .memory()
        .write_obj(0u8, GuestAddress(SHINFO + vcpu as u64 * 64))
        .unwrap()
}

pub fn pending_sel(vm: &Vm, vcpu: u32) -> u64 {
    let w = vm.pages.width();
    let snap = vm.mem.atomic().memory();
    let a = GuestAddress(SHINFO + vcpu as u64 * 64 + w.vcpu_info_pending_sel() as u64);
    match w {
        GuestWidth::Bits64 => snap.read_obj::<u64>(a).unwrap(),
        GuestWidth::Bits32 => snap.read_obj::<u32>(a).unwrap() as u64,
    }
}

/// The guest handles all events of `vcpu`: clears upcall_pending, selector and pending bits.
pub fn guest_ack_all(vm: &Vm, vcpu: u32) {
    clear_upcall_pending(vm, vcpu);
    let w = vm.pages.width();
    let snap = vm.mem.atomic().memory();
    let sel = GuestAddress(SHINFO + vcpu as u64 * 64 + w.vcpu_info_pending_sel() as u64);
    match w {
        GuestWidth::Bits64 => snap.write_obj(0u64, sel).unwrap(),
        GuestWidth::Bits32 => snap.write_obj(0u32, sel).unwrap(),
    }
    for i in 0..w.long_bits() as u64 {
        let a = GuestAddress(SHINFO + w.shinfo_evtchn_pending() as u64 + i * w.long_bytes() as u64);
        match w {
            GuestWidth::Bits64 => snap.write_obj(0u64, a).unwrap(),
            GuestWidth::Bits32 => snap.write_obj(0u32, a).unwrap(),
        }
    }
}
