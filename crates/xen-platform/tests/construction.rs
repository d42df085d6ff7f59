// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Creating and restoring a platform from a thread that already holds its
//! vm-lock root (`new_in` / `restore_in`), as a VMM's vCPU or main thread may.

use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestMemoryMmap};
use xen_platform::{PlatformConfig, XenHost, XenPlatform};

struct Host;
impl XenHost for Host {}

const MEM: u64 = 16 << 20;

fn memory() -> MemoryMap<GuestMemoryMmap> {
    MemoryMap::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap())
}

#[test]
fn a_thread_with_a_root_uses_the_in_forms() {
    let mut root = Root::new().unwrap();
    let cfg = PlatformConfig::new(2, MEM);
    // The plain constructor takes a root of its own: refused on this thread.
    assert!(XenPlatform::new(
        cfg.clone(),
        memory(),
        Arc::new(Host),
        Box::new(std::io::sink())
    )
    .is_err());
    let p = XenPlatform::new_in(
        root.token(),
        cfg.clone(),
        memory(),
        Arc::new(Host),
        Box::new(std::io::sink()),
    )
    .unwrap();
    // The backends' channels are bound and published, as with `new`.
    let (console, store) = {
        let (xen, _t) = p.xen_state().lock(root.token());
        (xen.console_port(), xen.store_port())
    };
    assert!(console != 0 && store != 0 && console != store);
    let state = p.state(root.token());
    let q = XenPlatform::restore_in(
        root.token(),
        cfg,
        p.memory().clone(),
        Arc::new(Host),
        Box::new(std::io::sink()),
        &state,
    )
    .unwrap();
    let (xen, _t) = q.xen_state().lock(root.token());
    assert_eq!((xen.console_port(), xen.store_port()), (console, store));
}
