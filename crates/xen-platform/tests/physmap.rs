// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `XENMEM_add_to_physmap`: shared_info (and grant frames) in RAM, and in a
//! hole outside RAM, where the platform asks the VMM for a page
//! (`HypercallExit::MapPage`), then finishes the call on `Retry::PageAdded`
//! or fails it with -ENOMEM on `Retry::PageRefused`.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{HypercallExit, PlatformConfig, Retry};

/// 64-bit shared_info: `wc_version`, written when shared_info is placed.
const WC_VERSION64: u64 = 3072;

#[test]
fn shared_info_in_ram() {
    let mut vm = Vm::new(1);
    assert_eq!(vm.read::<u32>(SHINFO + WC_VERSION64), 0);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, SHINFO_GFN);
    assert_eq!(vm.call(0, &r), HypercallExit::Resume { rax: 0 });
    // The wall clock is written into the page (version even, seconds set).
    assert_eq!(vm.read::<u32>(SHINFO + WC_VERSION64), 2);
    assert_ne!(vm.read::<u32>(SHINFO + WC_VERSION64 + 4), 0, "wc_sec");
    // Events now land in it.
    vm.callback_vector(0xf3);
    let port = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port), 0);
    assert!(vm.port_pending(port));
}

#[test]
fn shared_info_in_ram_32bit() {
    let mut vm = Vm::new(1);
    vm.write(
        ARGS,
        XenAddToPhysmap32 {
            domid: DOMID_SELF,
            size: 0,
            space: XENMAPSPACE_SHARED_INFO,
            idx: 0,
            gpfn: SHINFO_GFN as u32,
        },
    );
    let add = u64::from(XENMEM_ADD_TO_PHYSMAP);
    assert_eq!(vm.hc32(0, HYPERVISOR_MEMORY_OP, &[add, ARGS]), 0);
    // 32-bit layout: wc_version at 2304 (after the u32 bitmaps).
    assert_eq!(vm.read::<u32>(SHINFO + 2304), 2);
    assert_eq!(vm.read::<u32>(SHINFO + WC_VERSION64), 0);
    // Pending bits are u32 words, the selector a u32 at offset 4.
    let port = vm.bind_ipi(0);
    vm.write(ARGS, EvtchnSend { port });
    let send = u64::from(EVTCHNOP_SEND);
    assert_eq!(vm.hc32(0, HYPERVISOR_EVENT_CHANNEL_OP, &[send, ARGS]), 0);
    assert_eq!(vm.read::<u32>(SHINFO + 2048), 1 << port);
    assert_eq!(vm.read::<u32>(SHINFO + 4), 1, "evtchn_pending_sel");
    assert_eq!(vm.read::<u8>(SHINFO), 1, "evtchn_upcall_pending");
}

#[test]
fn shared_info_in_a_hole_asks_for_a_page() {
    let mut vm = Vm::new(1);
    // Above RAM, above 4 GiB as Linux does.
    let gfn = 0x14_0000;
    let gpa = gfn << 12;
    let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, gfn);
    assert_eq!(vm.call(0, &r), HypercallExit::MapPage { gpa });
    // Nothing changed yet: the port's event is not delivered anywhere.
    vm.add_page(gpa);
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageAdded),
        HypercallExit::Resume { rax: 0 }
    );
    assert_eq!(vm.read::<u32>(gpa + WC_VERSION64), 2);
    // Events land in the added page.
    let port = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port), 0);
    let w: u64 = vm.read(gpa + PENDING64);
    assert_eq!(w, 1 << port);
    assert_eq!(vm.read::<u8>(gpa), 1, "evtchn_upcall_pending");
}

#[test]
fn shared_info_moves_from_ram_to_a_hole_with_its_events() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    let port = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port), 0);
    assert!(vm.port_pending(port));
    let hole = MEM + 0x10_0000;
    let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, hole >> 12);
    assert_eq!(vm.call(0, &r), HypercallExit::MapPage { gpa: hole });
    vm.add_page(hole);
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageAdded),
        HypercallExit::Resume { rax: 0 }
    );
    // What was pending is pending at the new place, with its selector and
    // upcall flag; a new event lands there too.
    let w: u64 = vm.read(hole + PENDING64);
    assert_eq!(w, 1 << port);
    assert_eq!(vm.read::<u64>(hole + 8), 1, "evtchn_pending_sel");
    assert_eq!(vm.read::<u8>(hole), 1, "evtchn_upcall_pending");
    let port2 = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port2), 0);
    let w: u64 = vm.read(hole + PENDING64);
    assert_eq!(w, (1 << port) | (1 << port2));
    let old: u64 = vm.read(SHINFO + PENDING64);
    assert_eq!(old & (1 << port2), 0, "nothing lands in the old page");
}

#[test]
fn a_refused_page_is_enomem_and_changes_nothing() {
    let mut vm = Vm::new(1);
    let gfn = (MEM >> 12) + 16;
    let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, gfn);
    assert_eq!(vm.call(0, &r), HypercallExit::MapPage { gpa: gfn << 12 });
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageRefused),
        HypercallExit::Resume {
            rax: err(errno::ENOMEM) as u64
        }
    );
    // No shared_info: an event has nowhere to go, and no upcall is raised.
    vm.callback_vector(0xf3);
    let port = vm.bind_ipi(0);
    assert_eq!(vm.send(0, port), 0);
    assert_eq!(vm.upcalls(), vec![]);
    assert_eq!(vm.pending_upcall(0), None);
    // It still works in RAM afterwards; the deferred event is delivered.
    vm.map_shared_info(SHINFO_GFN);
    assert!(vm.port_pending(port));
}

#[test]
fn mmio_window_and_beyond_the_address_width_are_einval() {
    let mut config = PlatformConfig::new(1, MEM);
    config.phys_addr_bits = 36;
    let mut vm = Vm::with_config(config);
    let einval = HypercallExit::Resume {
        rax: err(errno::EINVAL) as u64,
    };
    for gfn in [
        0xfee00u64,    // local APIC
        0xfec00,       // IOAPIC, start of the window
        0xfffff,       // last page below 4 GiB
        1 << 24,       // 2^36: beyond 36 address bits
        (1 << 40) - 1, // far beyond
        (1 << 52) - 1, // the largest GFN the decoder lets through
        1 << 52,       // refused by the decoder
        u64::MAX,      // overflows
    ] {
        let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, gfn);
        assert_eq!(vm.call(0, &r), einval, "gfn {gfn:#x}");
    }
    // Just below the width and just below the window: a page is asked for.
    for gfn in [(1u64 << 24) - 1, 0xfebff, 0x10_0000] {
        let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, gfn);
        assert_eq!(
            vm.call(0, &r),
            HypercallExit::MapPage { gpa: gfn << 12 },
            "gfn {gfn:#x}"
        );
    }
    assert_eq!(vm.upcalls(), vec![]);
}

#[test]
fn bad_spaces_and_indices() {
    let mut vm = Vm::new(1);
    // shared_info has only index 0.
    let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 1, SHINFO_GFN);
    assert_eq!(vm.ret(0, &r), err(errno::EINVAL));
    // Grant frames beyond the configured 4.
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 4, 0x300);
    assert_eq!(vm.ret(0, &r), err(errno::EINVAL));
    // Spaces the platform does not offer, and unknown ones.
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GMFN, 0, 0x300);
    assert_eq!(vm.ret(0, &r), err(errno::EOPNOTSUPP));
    let r = vm.add_to_physmap_regs(99, 0, 0x300);
    assert_eq!(vm.ret(0, &r), err(errno::EINVAL));
    // Another domain.
    vm.write(
        ARGS,
        XenAddToPhysmap64 {
            domid: 5,
            size: 0,
            space: XENMAPSPACE_SHARED_INFO,
            idx: 0,
            gpfn: SHINFO_GFN,
        },
    );
    let add = u64::from(XENMEM_ADD_TO_PHYSMAP);
    assert_eq!(
        vm.hc(0, HYPERVISOR_MEMORY_OP, &[add, ARGS]),
        err(errno::ESRCH)
    );
    // The argument struct outside RAM.
    assert_eq!(
        vm.hc(0, HYPERVISOR_MEMORY_OP, &[add, MEM - 4]),
        err(errno::EFAULT)
    );
}

#[test]
fn grant_frames_are_placed_and_reported_by_setup_table() {
    let mut vm = Vm::new(1);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 1, 0x300);
    assert_eq!(vm.ret(0, &r), 0);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 0, 0x2ff);
    assert_eq!(vm.ret(0, &r), 0);
    vm.write(
        ARGS,
        GnttabSetupTable64 {
            dom: DOMID_SELF,
            nr_frames: 2,
            frame_list: BUF,
            ..Default::default()
        },
    );
    vm.write_bytes(BUF, &[0; 16]);
    let setup = u64::from(GNTTABOP_SETUP_TABLE);
    assert_eq!(vm.hc(0, HYPERVISOR_GRANT_TABLE_OP, &[setup, ARGS, 1]), 0);
    assert_eq!(vm.read::<GnttabSetupTable64>(ARGS).status, GNTST_OKAY);
    assert_eq!(vm.read::<u64>(BUF), 0x2ff);
    assert_eq!(vm.read::<u64>(BUF + 8), 0x300);
}

#[test]
fn grant_frame_in_a_hole() {
    let mut vm = Vm::new(1);
    let gfn = (MEM >> 12) + 0x100;
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 0, gfn);
    assert_eq!(vm.call(0, &r), HypercallExit::MapPage { gpa: gfn << 12 });
    vm.add_page(gfn << 12);
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageAdded),
        HypercallExit::Resume { rax: 0 }
    );
    // Grant entries the guest writes there persist when the frame moves.
    vm.write((gfn << 12) + 8, 0x1234_5678u32);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 0, 0x300);
    assert_eq!(vm.ret(0, &r), 0);
    assert_eq!(vm.read::<u32>(0x300_008), 0x1234_5678);
    vm.write(
        ARGS,
        GnttabSetupTable64 {
            dom: DOMID_SELF,
            nr_frames: 1,
            frame_list: BUF,
            ..Default::default()
        },
    );
    let setup = u64::from(GNTTABOP_SETUP_TABLE);
    assert_eq!(vm.hc(0, HYPERVISOR_GRANT_TABLE_OP, &[setup, ARGS, 1]), 0);
    assert_eq!(vm.read::<u64>(BUF), 0x300);
}
