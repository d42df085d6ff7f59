// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Memory reservation through `XenPlatform::on_hypercall`: balloon out
//! (`XENMEM_decrease_reservation`) and back in (`populate_physmap`,
//! `increase_reservation`) with the host releasing and backing the pages, the
//! reservation counts (`current_reservation`, `maximum_reservation`,
//! `maximum_ram_page`), `remove_from_physmap`, `add_to_physmap_batch`, and the
//! state a snapshot keeps. Every errno path and every refusal (which Xen reports
//! as the number of extents done).

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{HypercallExit, PlatformConfig, Retry};

/// RAM pages of the test VM (16 MiB).
const PAGES: u64 = MEM / 4096;
/// The extent list.
const LIST: u64 = 0x3000;

fn reservation(vm: &mut Vm, extents: &[u64], order: u32, flags: u32, domid: u16) -> u64 {
    for (i, g) in extents.iter().enumerate() {
        vm.write(LIST + i as u64 * 8, *g);
    }
    vm.write(
        ARGS,
        XenMemoryReservation64 {
            extent_start: LIST,
            nr_extents: extents.len() as u64,
            extent_order: order,
            mem_flags: flags,
            domid,
            pad: [0; 3],
        },
    );
    ARGS
}

fn memop(vm: &mut Vm, cmd: u32, arg: u64) -> i64 {
    vm.hc(0, HYPERVISOR_MEMORY_OP, &[u64::from(cmd), arg])
}

fn size(vm: &mut Vm, cmd: u32, domid: u16) -> i64 {
    vm.write(ARGS, XenMemoryDomain { domid });
    memop(vm, cmd, ARGS)
}

fn current(vm: &mut Vm) -> i64 {
    size(vm, XENMEM_CURRENT_RESERVATION, DOMID_SELF)
}

/// The releases and populations the host was asked for.
fn host_pages(vm: &Vm) -> Vec<HostEvent> {
    vm.events()
        .into_iter()
        .filter(|e| matches!(e, HostEvent::Release { .. } | HostEvent::Populate { .. }))
        .collect()
}

fn balloon_vm() -> Vm {
    let vm = Vm::new(1);
    vm.host.set_balloon(true);
    vm
}

#[test]
fn sizes_and_maximum_ram_page() {
    let mut vm = Vm::new(1);
    assert_eq!(current(&mut vm), PAGES as i64);
    assert_eq!(
        size(&mut vm, XENMEM_MAXIMUM_RESERVATION, DOMID_SELF),
        PAGES as i64
    );
    assert_eq!(size(&mut vm, XENMEM_CURRENT_RESERVATION, 1), PAGES as i64);
    assert_eq!(
        size(&mut vm, XENMEM_CURRENT_RESERVATION, 0),
        err(errno::EPERM)
    );
    assert_eq!(
        size(&mut vm, XENMEM_MAXIMUM_RESERVATION, 5),
        err(errno::ESRCH)
    );
    assert_eq!(
        memop(&mut vm, XENMEM_CURRENT_RESERVATION, MEM),
        err(errno::EFAULT)
    );
    assert_eq!(memop(&mut vm, XENMEM_MAXIMUM_RAM_PAGE, 0), PAGES as i64);
    drop(vm);
    // A configured maximum above the RAM.
    let mut c = PlatformConfig::new(1, MEM);
    c.max_pages = Some(PAGES + 10);
    let mut vm = Vm::with_config(c);
    assert_eq!(
        size(&mut vm, XENMEM_MAXIMUM_RESERVATION, DOMID_SELF),
        PAGES as i64 + 10
    );
    let host = vm.host.clone();
    drop(vm);
    // One below the RAM the domain starts with: refused.
    let mut c = PlatformConfig::new(1, MEM);
    c.max_pages = Some(PAGES - 1);
    let mem = vm_memory::GuestMemoryMmap::<()>::from_ranges(&[(
        vm_memory::GuestAddress(0),
        MEM as usize,
    )])
    .unwrap();
    let e = xen_platform::XenPlatform::new(
        c,
        vm_lock::MemoryMap::new(mem),
        host,
        Box::new(std::io::sink()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("max_pages"), "{e}");
}

#[test]
fn without_host_support_nothing_is_given_back() {
    let mut vm = Vm::new(1);
    let a = reservation(&mut vm, &[0x500, 0x501], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
    assert_eq!(current(&mut vm), PAGES as i64);
    assert_eq!(
        host_pages(&vm),
        vec![HostEvent::Release {
            gpa: 0x50_0000,
            count: 1
        }]
    );
}

#[test]
fn balloon_out_and_back_in() {
    let mut vm = balloon_vm();
    let a = reservation(&mut vm, &[0x500, 0x501, 0x700], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 3);
    assert_eq!(current(&mut vm), PAGES as i64 - 3);
    assert_eq!(
        host_pages(&vm),
        vec![
            HostEvent::Release {
                gpa: 0x50_0000,
                count: 1
            },
            HostEvent::Release {
                gpa: 0x50_1000,
                count: 1
            },
            HostEvent::Release {
                gpa: 0x70_0000,
                count: 1
            },
        ]
    );
    assert_eq!(vm.state().xen.absent.len(), 3);
    // Given back already: the call stops there (nothing released).
    let a = reservation(&mut vm, &[0x502, 0x501, 0x503], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 1);
    assert_eq!(current(&mut vm), PAGES as i64 - 4);
    let _ = host_pages(&vm);
    // Back in: the host backs them with zeroed memory.
    let a = reservation(&mut vm, &[0x500, 0x700], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 2);
    assert_eq!(current(&mut vm), PAGES as i64 - 2);
    assert_eq!(
        host_pages(&vm),
        vec![
            HostEvent::Populate {
                gpa: 0x50_0000,
                count: 1
            },
            HostEvent::Populate {
                gpa: 0x70_0000,
                count: 1
            },
        ]
    );
    // increase_reservation: pages mapped nowhere, up to the maximum.
    let a = reservation(&mut vm, &[0, 0, 0, 0], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_INCREASE_RESERVATION, a), 2);
    assert_eq!(current(&mut vm), PAGES as i64);
    // At the maximum, populate gets nothing (even for a frame given back).
    let a = reservation(&mut vm, &[0x501], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 0);
}

#[test]
fn two_mib_extents_and_partial_extents() {
    let mut vm = balloon_vm();
    // Order 9 (2 MiB), a domU's largest.
    let a = reservation(&mut vm, &[0x400], 9, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 1);
    assert_eq!(current(&mut vm), PAGES as i64 - 512);
    assert_eq!(
        host_pages(&vm),
        vec![HostEvent::Release {
            gpa: 0x40_0000,
            count: 512
        }]
    );
    // Order 10: refused before any extent.
    let a = reservation(&mut vm, &[0x800], 10, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 0);
    assert!(host_pages(&vm).is_empty());
    // An extent running past the end of RAM: the pages before are given back (as Xen,
    // page by page), the extent does not count.
    let a = reservation(&mut vm, &[PAGES - 2], 2, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
    assert_eq!(current(&mut vm), PAGES as i64 - 514);
    // One crossing frames given back already: stops at the first of them.
    let a = reservation(&mut vm, &[0x3fe], 2, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
    assert_eq!(current(&mut vm), PAGES as i64 - 516);
    // Populate the 2 MiB back as one extent.
    let a = reservation(&mut vm, &[0x400], 9, 0, DOMID_SELF);
    let _ = host_pages(&vm);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 1);
    assert_eq!(
        host_pages(&vm),
        vec![HostEvent::Populate {
            gpa: 0x40_0000,
            count: 512
        }]
    );
}

#[test]
fn refusals_return_extents_done() {
    let mut vm = balloon_vm();
    // Not RAM: beyond it, in a hole page the guest placed, at a Xen page.
    let a = reservation(&mut vm, &[PAGES, 1 << 40, u64::MAX], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
    let a = reservation(&mut vm, &[PAGES], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 0);
    // Another domain, populate-on-demand on oneself, a node insisted on, address bits
    // below a page: nothing.
    for (flags, domid) in [
        (0, 0),
        (0, 9),
        (XENMEMF_POPULATE_ON_DEMAND, DOMID_SELF),
        (XENMEMF_EXACT_NODE_REQUEST | (1 << 8), DOMID_SELF),
        (8, DOMID_SELF),
    ] {
        let a = reservation(&mut vm, &[0x500], 0, flags, domid);
        assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 0, "{flags:#x}");
        if flags != XENMEMF_POPULATE_ON_DEMAND {
            assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
        }
    }
    assert!(host_pages(&vm).is_empty());
    // An unreadable argument or extent list: the start extent, never an errno.
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, MEM), 0);
    let cmd = u64::from(XENMEM_DECREASE_RESERVATION) | (7 << 6);
    assert_eq!(vm.hc(0, HYPERVISOR_MEMORY_OP, &[cmd, MEM]), 7);
    vm.write(
        ARGS,
        XenMemoryReservation64 {
            extent_start: MEM - 8,
            nr_extents: 2,
            domid: DOMID_SELF,
            ..Default::default()
        },
    );
    vm.write(MEM - 8, 0x600u64);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, ARGS), 1);
    // shared_info placed over a RAM frame frees it (as Xen): one page less, and
    // populating over it is refused.
    let before = current(&mut vm);
    vm.map_shared_info(SHINFO_GFN);
    assert_eq!(current(&mut vm), before - 1);
    vm.host.set_balloon(true);
    let a = reservation(&mut vm, &[SHINFO_GFN], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 0);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
}

#[test]
fn host_refusal_keeps_the_pages() {
    let mut vm = balloon_vm();
    let a = reservation(&mut vm, &[0x500], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 1);
    vm.host.set_balloon(false);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 0);
    assert_eq!(current(&mut vm), PAGES as i64 - 1);
    let a = reservation(&mut vm, &[0x501], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
    assert_eq!(current(&mut vm), PAGES as i64 - 1);
}

#[test]
fn reservations_from_a_32_bit_guest() {
    let mut vm = balloon_vm();
    for (i, g) in [0x500u32, 0x501].iter().enumerate() {
        vm.write(LIST + i as u64 * 4, *g);
    }
    vm.write(
        ARGS,
        XenMemoryReservation32 {
            extent_start: LIST as u32,
            nr_extents: 2,
            extent_order: 0,
            mem_flags: 0,
            domid: DOMID_SELF,
            pad: 0,
        },
    );
    let dec = u64::from(XENMEM_DECREASE_RESERVATION);
    assert_eq!(vm.hc32(0, HYPERVISOR_MEMORY_OP, &[dec, ARGS]), 2);
    vm.write(ARGS, XenMemoryDomain { domid: DOMID_SELF });
    let cur = u64::from(XENMEM_CURRENT_RESERVATION);
    assert_eq!(
        vm.hc32(0, HYPERVISOR_MEMORY_OP, &[cur, ARGS]),
        PAGES as i64 - 2
    );
}

fn rfp(vm: &mut Vm, domid: u16, gpfn: u64) -> i64 {
    vm.write(
        ARGS,
        XenRemoveFromPhysmap64 {
            domid,
            pad: [0; 3],
            gpfn,
        },
    );
    memop(vm, XENMEM_REMOVE_FROM_PHYSMAP, ARGS)
}

#[test]
fn remove_from_physmap() {
    let mut vm = balloon_vm();
    // A RAM page: its memory goes, the domain keeps it in its count (as Xen).
    assert_eq!(rfp(&mut vm, DOMID_SELF, 0x600), 0);
    assert_eq!(current(&mut vm), PAGES as i64);
    assert_eq!(rfp(&mut vm, DOMID_SELF, 0x600), err(errno::ENOENT));
    // It can be populated again (a new page, counted).
    let a = reservation(&mut vm, &[0x600], 0, 0, DOMID_SELF);
    assert_eq!(
        memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a),
        0,
        "at the maximum"
    );
    // A grant frame in a hole: unhooked.
    let hole = MEM + 0x10_0000;
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 0, hole >> 12);
    assert_eq!(vm.call(0, &r), HypercallExit::MapPage { gpa: hole });
    vm.add_page(hole);
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageAdded),
        HypercallExit::Resume { rax: 0 }
    );
    assert_eq!(rfp(&mut vm, DOMID_SELF, hole >> 12), 0);
    assert_eq!(vm.state().gnttab.frame_gfns, vec![None]);
    assert_eq!(vm.state().xen.grant_frames[0], None);
    assert_eq!(rfp(&mut vm, DOMID_SELF, hole >> 12), err(errno::ENOENT));
    // Nothing there; shared_info stays where it is.
    assert_eq!(rfp(&mut vm, DOMID_SELF, PAGES + 5), err(errno::ENOENT));
    vm.map_shared_info(SHINFO_GFN);
    assert_eq!(rfp(&mut vm, DOMID_SELF, SHINFO_GFN), 0);
    assert_eq!(vm.state().xen.shared_info, Some(SHINFO));
    // Other domains, bad pointers, continuation bits.
    assert_eq!(rfp(&mut vm, 0, 0x600), err(errno::EPERM));
    assert_eq!(rfp(&mut vm, 3, 0x600), err(errno::ESRCH));
    assert_eq!(
        memop(&mut vm, XENMEM_REMOVE_FROM_PHYSMAP, MEM),
        err(errno::EFAULT)
    );
    let cmd = u64::from(XENMEM_REMOVE_FROM_PHYSMAP) | (1 << 6);
    assert_eq!(
        vm.hc(0, HYPERVISOR_MEMORY_OP, &[cmd, ARGS]),
        err(errno::EINVAL)
    );
}

const IDXS: u64 = 0x4000;
const GPFNS: u64 = 0x5000;
const ERRS: u64 = 0x6000;

fn batch_regs(
    vm: &mut Vm,
    space: u16,
    domid: u16,
    entries: &[(u64, u64)],
) -> xen_hypercall::HypercallRegs {
    for (i, (idx, gpfn)) in entries.iter().enumerate() {
        vm.write(IDXS + i as u64 * 8, *idx);
        vm.write(GPFNS + i as u64 * 8, *gpfn);
        vm.write(ERRS + i as u64 * 4, 0x7777_7777u32);
    }
    vm.write(
        ARGS,
        XenAddToPhysmapBatch64 {
            domid,
            space,
            size: entries.len() as u16,
            u: 0,
            idxs: IDXS,
            gpfns: GPFNS,
            errs: ERRS,
        },
    );
    regs64(
        HYPERVISOR_MEMORY_OP,
        &[u64::from(XENMEM_ADD_TO_PHYSMAP_BATCH), ARGS],
    )
}

fn errs(vm: &mut Vm, n: usize) -> Vec<i32> {
    (0..n).map(|i| vm.read(ERRS + i as u64 * 4)).collect()
}

#[test]
fn add_to_physmap_batch_of_grant_frames() {
    let mut vm = Vm::new(1);
    let (h0, h1) = (MEM + 0x20_0000, MEM + 0x20_1000);
    let gt = XENMAPSPACE_GRANT_TABLE as u16;
    let r = batch_regs(
        &mut vm,
        gt,
        DOMID_SELF,
        &[
            (0, h0 >> 12),
            (1, h1 >> 12),
            (9, 0x300),
            (0x8000_0000, 0x301),
        ],
    );
    // Each hole page is asked for in turn; the batch runs again each time.
    assert_eq!(vm.call(0, &r), HypercallExit::MapPage { gpa: h0 });
    vm.add_page(h0);
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageAdded),
        HypercallExit::MapPage { gpa: h1 }
    );
    vm.add_page(h1);
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageAdded),
        HypercallExit::Resume { rax: 0 }
    );
    // Frame 9 is beyond the 4 frames; a status frame needs v2.
    assert_eq!(errs(&mut vm, 4), vec![0, 0, -errno::EINVAL, -errno::EINVAL]);
    assert_eq!(
        vm.state().gnttab.frame_gfns,
        vec![Some(h0 >> 12), Some(h1 >> 12)]
    );
    // A page the VMM refuses: that entry gets -ENOMEM, the rest runs.
    let h2 = MEM + 0x20_2000;
    let r = batch_regs(&mut vm, gt, DOMID_SELF, &[(2, h2 >> 12), (3, 0x302)]);
    assert_eq!(vm.call(0, &r), HypercallExit::MapPage { gpa: h2 });
    assert_eq!(
        vm.call_retry(0, &r, Retry::PageRefused),
        HypercallExit::Resume { rax: 0 }
    );
    assert_eq!(errs(&mut vm, 2), vec![-errno::ENOMEM, 0]);
    // Grant frames placed over RAM frames free them (Xen frees the page it replaces).
    assert_eq!(current(&mut vm), PAGES as i64 - 1);
    // shared_info and foreign frames.
    let r = batch_regs(
        &mut vm,
        XENMAPSPACE_SHARED_INFO as u16,
        DOMID_SELF,
        &[(1, 0x310), (0, SHINFO_GFN)],
    );
    assert_eq!(vm.ret(0, &r), 0);
    assert_eq!(errs(&mut vm, 2), vec![-errno::EINVAL, 0]);
    assert_eq!(vm.state().xen.shared_info, Some(SHINFO));
    let r = batch_regs(
        &mut vm,
        XENMAPSPACE_GMFN_FOREIGN as u16,
        DOMID_SELF,
        &[(1, 0x310)],
    );
    assert_eq!(vm.ret(0, &r), 0);
    assert_eq!(errs(&mut vm, 1), vec![-errno::EPERM]);
    // Whole-call errors.
    let r = batch_regs(&mut vm, gt, 0, &[(0, 0x310)]);
    assert_eq!(vm.ret(0, &r), err(errno::EPERM));
    let r = batch_regs(&mut vm, gt, 4, &[(0, 0x310)]);
    assert_eq!(vm.ret(0, &r), err(errno::ESRCH));
    let r = batch_regs(&mut vm, XENMAPSPACE_DEV_MMIO as u16, DOMID_SELF, &[(0, 1)]);
    assert_eq!(vm.ret(0, &r), err(errno::EACCES));
    let r = batch_regs(
        &mut vm,
        XENMAPSPACE_GMFN_RANGE as u16,
        DOMID_SELF,
        &[(0, 1)],
    );
    assert_eq!(vm.ret(0, &r), err(errno::EOPNOTSUPP));
    let r = batch_regs(&mut vm, gt, DOMID_SELF, &[(0, u64::MAX)]);
    assert_eq!(vm.ret(0, &r), err(errno::EINVAL));
}

#[test]
fn snapshot_keeps_the_reservation_and_releases_again() {
    let mut vm = balloon_vm();
    let a = reservation(&mut vm, &[0x500, 0x501, 0x700], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 3);
    // shared_info over a RAM frame: that frame has no RAM page any more, but it holds
    // shared_info, which must survive.
    vm.map_shared_info(0x6ff);
    vm.write(0x6ff000 + 8, 0x1234_5678u64);
    let _ = host_pages(&vm);
    let mut vm = vm
        .save_restore(PlatformConfig::new(1, MEM), |_| {})
        .unwrap();
    assert_eq!(current(&mut vm), PAGES as i64 - 4);
    assert_eq!(vm.read::<u64>(0x6ff000 + 8), 0x1234_5678);
    // The restored guest's given-back pages go back to the host, in runs (not the
    // frame under shared_info).
    assert_eq!(
        host_pages(&vm),
        vec![
            HostEvent::Release {
                gpa: 0x50_0000,
                count: 2
            },
            HostEvent::Release {
                gpa: 0x70_0000,
                count: 1
            },
        ]
    );
    // And they stay given back.
    vm.host.set_balloon(true);
    let a = reservation(&mut vm, &[0x501], 0, 0, DOMID_SELF);
    assert_eq!(memop(&mut vm, XENMEM_DECREASE_RESERVATION, a), 0);
    assert_eq!(memop(&mut vm, XENMEM_POPULATE_PHYSMAP, a), 1);
    // Restore refuses a state the configuration cannot hold.
    let good = vm.state();
    let mem = vm.copy_memory();
    let host = vm.host.clone();
    drop(vm);
    for (bad, why) in [
        (
            {
                let mut s = good.clone();
                s.xen.absent.insert(PAGES + 1);
                s
            },
            "not RAM",
        ),
        (
            {
                let mut s = good.clone();
                s.xen.tot_pages = PAGES + 1;
                s
            },
            "pages saved",
        ),
    ] {
        let e = xen_platform::XenPlatform::restore(
            PlatformConfig::new(1, MEM),
            vm_lock::MemoryMap::new(mem.clone()),
            host.clone(),
            Box::new(std::io::sink()),
            &bad,
        )
        .unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    assert!(xen_platform::XenPlatform::restore(
        PlatformConfig::new(1, MEM),
        vm_lock::MemoryMap::new(mem),
        host,
        Box::new(std::io::sink()),
        &good,
    )
    .is_ok());
}
