// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// Sending an event from inside a shared_info access (the PageCache<0> token xen-shinfo-cache
// hands to the closure): the port table (EvtchnLock) comes before the page caches.
use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};
use xen_evtchn::{Evtchn, EvtchnConfig, UpcallKind, UpcallSink};
use xen_shinfo_cache::XenPages;

struct Sink;
impl UpcallSink for Sink {
    fn raise(&self, _vcpu: u32, _how: UpcallKind) {}
    fn poll_wake(&self, _vcpu: u32) {}
}

fn main() {
    let mem = MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap());
    let pages = Arc::new(XenPages::new(1));
    let evtchn = Evtchn::new(EvtchnConfig::default(), mem.clone(), pages.clone(), Sink);
    let mut root = Root::new().unwrap();
    let (snap, mut t) = mem.read(root.token());
    let _ = pages.with_shared_info(&mut t, &snap, |_sh, t0| evtchn.send_in(t0, &snap, 1));
}
