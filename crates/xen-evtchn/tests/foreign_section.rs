// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! An event-channel operation handed another VM's read section refuses it (EFAULT) instead of
//! reading or writing either VM's pages through it.

mod common;

use common::*;
use vm_lock::Root;
use xen_shinfo_cache::{GuestWidth, WidthLayout};

#[test]
fn another_vms_read_section_is_refused() {
    let a = vm(GuestWidth::Bits64);
    let b = vm(GuestWidth::Bits64);
    let mut root = Root::new().unwrap();
    let port = a.evtchn.bind_ipi(root.token(), 0).unwrap();
    let w = a.pages.width();
    {
        // A's first delivery, with B's section (e.g. a VMM bug mixing up its VMs).
        let (snap_b, mut t) = b.mem.read(root.token());
        let e = a.evtchn.send_in(&mut t, &snap_b, port).unwrap_err();
        assert_eq!(e.errno(), 14, "{e}");
        assert!(a.evtchn.unmask_in(&mut t, &snap_b, port).is_err());
        assert!(a.evtchn.is_pending_in(&mut t, &snap_b, port).is_err());
        assert!(a.evtchn.close_in(&mut t, &snap_b, port).is_err());
    }
    assert!(!guest_bit(&b, w.shinfo_evtchn_pending(), port), "B written");
    assert!(!pending(&a, port));
    assert_eq!(upcall_pending(&b, 0), 0);
    assert_eq!(a.sink.raises(0), 0);
    // The port is still bound and A's own section delivers.
    let (snap_a, mut t) = a.mem.read(root.token());
    a.evtchn.send_in(&mut t, &snap_a, port).unwrap();
    drop(snap_a);
    assert!(pending(&a, port));
    assert!(!guest_bit(&b, w.shinfo_evtchn_pending(), port));
}
