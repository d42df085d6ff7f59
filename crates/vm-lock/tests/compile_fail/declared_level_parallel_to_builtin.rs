// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
// A level declared with `declare_levels!` between XenLock and PageCache<0> is unordered with
// EvtchnLock (which also lies in that gap): neither may be taken while holding the other.
vm_lock::declare_levels! {
    after XenLock, before PageCache<0>;
    /// A VMM's own level, parallel to EvtchnLock.
    pub struct Side;
}

use vm_lock::{EvtchnLock, OrderedMutex, PageCache, Root};

fn main() {
    let side = OrderedMutex::<Side, ()>::new(());
    let evtchn = OrderedMutex::<EvtchnLock, ()>::new(());
    let pc = OrderedMutex::<PageCache<0>, ()>::new(());
    let mut root = Root::new().unwrap();
    {
        let (_s, mut t) = side.lock(root.token());
        let (_p, _t) = pc.lock(&mut t); // fine: PageCache<0> comes after Side
    }
    let (_s, mut t) = side.lock(root.token());
    let (_e, _t) = evtchn.lock(&mut t);
}
