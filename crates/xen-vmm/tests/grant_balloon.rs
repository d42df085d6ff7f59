// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Real guests on KVM (64-bit long mode and 32-bit flat): grant table v2
//! (`GNTTABOP_set_version(2)`, a status frame placed with
//! `XENMAPIDX_grant_table_status`, a v2 entry the VMM then looks up and maps, the
//! mapping seen in the status frame) and ballooning (a page written, given back
//! with `XENMEM_decrease_reservation`, read back as zero, populated again with
//! `XENMEM_populate_physmap` and zero again, the reservation counts following).

mod common;

use common::*;
use iced_x86::code_asm::*;
use xen_gnttab::{GrantEntry, GrantKind};
use xen_vmm::ExitReason;

const MEMORY_OP: u64 = 12;
const GRANT_TABLE_OP: u64 = 20;
const RES: u64 = DATA + 0x800;
/// Grant frame 0 and status frame 0: in the hole below the MMIO window, which the
/// raw images' identity map covers.
const GRANT: u64 = 0xe000_0000;
const STATUS: u64 = 0xe000_1000;
/// The page the guest grants.
const GRANTED: u64 = 0x50_0000;
/// The pages the guest balloons.
const BALLOON: u64 = 0x60_0000;
const LIST: u64 = ARGS + 0x400;
/// RAM pages of the default 64 MiB guest.
const PAGES: u64 = (64 << 20) / 4096;

fn store_word(g: &mut Guest, at: u64, v: u64) {
    if g.bits == 64 {
        g.store64(at, v);
    } else {
        g.store32(at, v as u32);
    }
}

/// XENMEM_add_to_physmap(XENMAPSPACE_grant_table, idx, gpa >> 12); result at `out`.
fn grant_physmap(g: &mut Guest, idx: u64, gpa: u64, out: u64) {
    let x = ARGS + 0x100;
    g.store32(x, 0x7ff0); // DOMID_SELF, size 0
    g.store32(x + 4, 1); // XENMAPSPACE_grant_table
    if g.bits == 64 {
        g.store64(x + 8, idx);
        g.store64(x + 16, gpa >> 12);
    } else {
        g.store32(x + 8, idx as u32);
        g.store32(x + 12, (gpa >> 12) as u32);
    }
    g.hcall(MEMORY_OP, &[7, x]);
    g.store_result(out);
}

/// A `xen_memory_reservation` of `extents` (order 0, DOMID_SELF) at ARGS.
fn reservation(g: &mut Guest, extents: &[u64]) {
    for (i, e) in extents.iter().enumerate() {
        let size = if g.bits == 64 { 8 } else { 4 };
        store_word(g, LIST + i as u64 * size, *e);
    }
    if g.bits == 64 {
        g.store64(ARGS, LIST);
        g.store64(ARGS + 8, extents.len() as u64);
        g.store32(ARGS + 16, 0); // order
        g.store32(ARGS + 20, 0); // flags
        g.store32(ARGS + 24, 0x7ff0); // domid
    } else {
        g.store32(ARGS, LIST as u32);
        g.store32(ARGS + 4, extents.len() as u32);
        g.store32(ARGS + 8, 0);
        g.store32(ARGS + 12, 0);
        g.store32(ARGS + 16, 0x7ff0);
    }
}

/// XENMEM_current_reservation of DOMID_SELF; result at `out`.
fn current_reservation(g: &mut Guest, out: u64) {
    g.store32(ARGS + 0x200, 0x7ff0);
    g.hcall(MEMORY_OP, &[3, ARGS + 0x200]);
    g.store_result(out);
}

/// Loads the word at `at` into rax/eax and stores it at `out`.
fn load_to(g: &mut Guest, at: u64, out: u64) {
    if g.bits == 64 {
        g.a.mov(rcx, at).unwrap();
        g.a.mov(rax, qword_ptr(rcx)).unwrap();
    } else {
        g.a.mov(ecx, at as u32).unwrap();
        g.a.mov(eax, dword_ptr(ecx)).unwrap();
    }
    g.store_result(out);
}

fn word(r: &Run, at: u64, bits: u32) -> i64 {
    if bits == 64 {
        r.i64(at)
    } else {
        i64::from(r.u32(at) as i32)
    }
}

fn grant_v2_guest(mut g: Guest) -> Run {
    let bits = g.bits;
    g.hypercall_page();
    // Grant frame 0 in a hole, then version 2, then status frame 0 next to it.
    grant_physmap(&mut g, 0, GRANT, RES);
    g.store32(ARGS, 2);
    g.hcall(GRANT_TABLE_OP, &[8, ARGS, 1]); // GNTTABOP_set_version
    g.store_result(RES + 8);
    grant_physmap(&mut g, 1 << 31, STATUS, RES + 16);
    // GNTTABOP_get_version(DOMID_SELF) -> ARGS + 0x304.
    g.store32(ARGS + 0x300, 0x7ff0);
    g.hcall(GRANT_TABLE_OP, &[10, ARGS + 0x300, 1]);
    g.store_result(RES + 24);
    // GNTTABOP_get_status_frames: not for HVM guests (Xen: -ENOSYS).
    g.hcall(GRANT_TABLE_OP, &[9, ARGS + 0x300, 1]);
    g.store_result(RES + 32);
    // A v2 full-page grant of GRANTED to domain 0 in entry 5, and the page's contents.
    let e = GrantEntry {
        flags: 1,
        domid: 0,
        kind: GrantKind::Frame(GRANTED >> 12),
    }
    .to_v2_bytes();
    for (i, c) in e.chunks(4).enumerate() {
        let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        g.store32(GRANT + 5 * 16 + i as u64 * 4, v);
    }
    g.store64(GRANTED + 0x10, 0x6772_616e_7465_6421);
    g.shutdown(0);
    let r = if bits == 64 {
        run64(g.assemble(), 1)
    } else {
        run32(g.assemble(), 1)
    };
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    assert_eq!(word(&r, RES, bits), 0, "grant frame 0 placed");
    assert_eq!(word(&r, RES + 8, bits), 0, "set_version(2)");
    assert_eq!(r.u32(ARGS), 2, "version written back");
    assert_eq!(word(&r, RES + 16, bits), 0, "status frame 0 placed");
    assert_eq!(word(&r, RES + 24, bits), 0, "get_version");
    assert_eq!(r.u32(ARGS + 0x304), 2);
    assert_eq!(word(&r, RES + 32, bits), -38, "get_status_frames");
    r
}

/// The VMM looks the guest's v2 grant up, maps it (the status frame the guest placed
/// shows the use), reads the granted page and unmaps it.
fn backend_uses_the_grant(r: &Run) {
    let mut root = vm_lock::Root::new().unwrap();
    let (mem, mut t) = r.vm.shared().mem.read(root.token());
    let (mut be, _t) = r.vm.shared().platform.backends().lock(&mut t);
    assert_eq!(be.gnttab.version(), 2);
    assert_eq!(be.gnttab.status_gfn_of(0), Some(STATUS >> 12));
    let e = be.gnttab.lookup(&*mem, 5, 0).unwrap();
    assert_eq!(
        e,
        GrantEntry {
            flags: 1,
            domid: 0,
            kind: GrantKind::Frame(GRANTED >> 12)
        }
    );
    let m = be.gnttab.map(&*mem, 5, 0, false).unwrap();
    assert_eq!(m.gpa, GRANTED);
    use vm_memory::Bytes;
    let status: u16 = mem.read_obj(vm_memory::GuestAddress(STATUS + 10)).unwrap();
    assert_eq!(status, (1 << 3) | (1 << 4), "GTF_reading | GTF_writing");
    let v: u64 = mem.read_obj(vm_memory::GuestAddress(m.gpa + 0x10)).unwrap();
    assert_eq!(v, 0x6772_616e_7465_6421);
    be.gnttab.unmap(&*mem, m.handle).unwrap();
    let status: u16 = mem.read_obj(vm_memory::GuestAddress(STATUS + 10)).unwrap();
    assert_eq!(status, 0);
    // Another domain's grant it is not.
    assert_eq!(be.gnttab.map(&*mem, 5, 3, true), Err(-1));
}

#[test]
fn grant_v2_status_frame_64() {
    if !require_kvm() {
        return;
    }
    let r = grant_v2_guest(Guest::new64());
    backend_uses_the_grant(&r);
}

#[test]
fn grant_v2_status_frame_32() {
    if !require_kvm() {
        return;
    }
    let r = grant_v2_guest(Guest::new32());
    backend_uses_the_grant(&r);
}

fn balloon_guest(mut g: Guest) {
    let bits = g.bits;
    let (p0, p1) = (BALLOON >> 12, (BALLOON >> 12) + 1);
    g.hypercall_page();
    // A pattern in the two pages.
    g.store64(BALLOON, 0xa5a5_a5a5_a5a5_a5a5);
    g.store64(BALLOON + 0x1000 + 8, 0x5a5a_5a5a_5a5a_5a5a);
    current_reservation(&mut g, RES);
    // Give them back.
    reservation(&mut g, &[p0, p1]);
    g.hcall(MEMORY_OP, &[1, ARGS]); // XENMEM_decrease_reservation
    g.store_result(RES + 8);
    current_reservation(&mut g, RES + 16);
    // What is there now reads as zero.
    load_to(&mut g, BALLOON, RES + 24);
    load_to(&mut g, BALLOON + 0x1000 + 8, RES + 32);
    // The guest touches a page it gave back (it reads zero again after populate).
    g.store64(BALLOON, 0x1234_5678_9abc_def0);
    // A frame beyond RAM cannot be given back: 0 extents done.
    reservation(&mut g, &[PAGES + 16]);
    g.hcall(MEMORY_OP, &[1, ARGS]);
    g.store_result(RES + 40);
    // Back in.
    reservation(&mut g, &[p0, p1]);
    g.hcall(MEMORY_OP, &[6, ARGS]); // XENMEM_populate_physmap
    g.store_result(RES + 48);
    current_reservation(&mut g, RES + 56);
    load_to(&mut g, BALLOON, RES + 64);
    load_to(&mut g, BALLOON + 0x1000 + 8, RES + 72);
    // The pages work as RAM again.
    g.store64(BALLOON + 0x20, 0x0bad_cafe);
    load_to(&mut g, BALLOON + 0x20, RES + 80);
    // XENMEM_maximum_reservation.
    g.store32(ARGS + 0x200, 0x7ff0);
    g.hcall(MEMORY_OP, &[4, ARGS + 0x200]);
    g.store_result(RES + 88);
    g.shutdown(0);
    let r = if bits == 64 {
        run64(g.assemble(), 1)
    } else {
        run32(g.assemble(), 1)
    };
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    let start = word(&r, RES, bits);
    assert!(start > 0 && start <= PAGES as i64, "current {start}");
    assert_eq!(
        word(&r, RES + 8, bits),
        2,
        "decrease_reservation: extents done"
    );
    assert_eq!(word(&r, RES + 16, bits), start - 2);
    assert_eq!(word(&r, RES + 24, bits), 0, "page 0 given back reads zero");
    assert_eq!(word(&r, RES + 32, bits), 0, "page 1 given back reads zero");
    assert_eq!(word(&r, RES + 40, bits), 0, "a frame beyond RAM");
    assert_eq!(
        word(&r, RES + 48, bits),
        2,
        "populate_physmap: extents done"
    );
    assert_eq!(word(&r, RES + 56, bits), start);
    assert_eq!(word(&r, RES + 64, bits), 0, "populated page 0 is zero");
    assert_eq!(word(&r, RES + 72, bits), 0, "populated page 1 is zero");
    assert_eq!(word(&r, RES + 80, bits), 0x0bad_cafe);
    // The RAM of the e820 map, which the guest starts with.
    assert_eq!(word(&r, RES + 88, bits), start, "maximum_reservation");
    // The platform's bookkeeping agrees.
    let mut root = vm_lock::Root::new().unwrap();
    let st = r.vm.shared().platform.state(root.token());
    assert_eq!(st.xen.tot_pages as i64, start);
    assert!(st.xen.absent.is_empty());
}

#[test]
fn balloon_out_and_in_64() {
    if !require_kvm() {
        return;
    }
    balloon_guest(Guest::new64());
}

#[test]
fn balloon_out_and_in_32() {
    if !require_kvm() {
        return;
    }
    balloon_guest(Guest::new32());
}

/// Grant v2 (version, status frame) and the reservation (pages given back) survive a
/// snapshot and a restore, through the file format.
#[test]
fn grant_v2_and_balloon_survive_snapshot() {
    use std::time::{Duration, Instant};
    use vm_memory::{Bytes, GuestAddress};
    use xen_vmm::{Kernel, Vm, VmConfig};
    if !require_kvm() {
        return;
    }
    const READY: u64 = DATA + 0x100;
    let read = |vm: &Vm, gpa: u64| -> u64 {
        let mut root = vm_lock::Root::new().unwrap();
        let (m, _t) = vm.shared().mem.read(root.token());
        m.read_obj(GuestAddress(gpa)).unwrap()
    };
    let (p0, p1) = (BALLOON >> 12, (BALLOON >> 12) + 1);
    let mut g = Guest::new64();
    g.hypercall_page();
    grant_physmap(&mut g, 0, GRANT, RES);
    g.store32(ARGS, 2);
    g.hcall(GRANT_TABLE_OP, &[8, ARGS, 1]);
    grant_physmap(&mut g, 1 << 31, STATUS, RES + 8);
    g.store64(STATUS + 12, 1 << 3); // a status the guest sees after the restore
    g.store64(BALLOON, 0xa5a5_a5a5);
    reservation(&mut g, &[p0, p1]);
    g.hcall(MEMORY_OP, &[1, ARGS]);
    g.store_result(RES + 16);
    // shared_info over a RAM page (Xen frees the RAM page it replaces): its contents
    // are live and must survive the restore.
    g.map_shared_info(SHINFO);
    g.store64(SHINFO + 0xff8, 0x5eed);
    g.store64(READY, 1);
    let idle = g.a.create_label();
    g.a.set_label(&mut { idle }).unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    let path = std::env::temp_dir().join(format!("xen-vmm-grant-v2-{}.snap", std::process::id()));
    std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let start = Instant::now();
        while read(&vm, READY) != 1 {
            assert!(start.elapsed() < Duration::from_secs(30), "guest set up");
            std::thread::sleep(Duration::from_millis(5));
        }
        vm.snapshot(vm_lock::Root::new().unwrap().token(), &path)
            .unwrap();
        vm.shared().finish(ExitReason::Shutdown(0));
    });
    assert_eq!(read(&vm, RES + 16), 2, "decrease_reservation");
    let before = {
        let mut root = vm_lock::Root::new().unwrap();
        vm.shared().platform.state(root.token())
    };
    // In the file.
    let st = xen_vmm::snapshot::open_file(&path).unwrap().state().clone();
    assert_eq!(st.xen.grant.version, 2);
    assert_eq!(st.xen.grant.status_frames, vec![Some(STATUS >> 12)]);
    assert_eq!(st.xen.absent_gfns, vec![SHINFO >> 12, p0, p1]);
    assert_eq!(st.xen.tot_pages, before.xen.tot_pages);
    // Restored.
    let vm2 = Vm::restore(&path, Box::new(std::io::sink())).unwrap();
    let _ = std::fs::remove_file(&path);
    let after = {
        let mut root = vm_lock::Root::new().unwrap();
        vm2.shared().platform.state(root.token())
    };
    assert_eq!(after.gnttab.version, 2);
    assert_eq!(after.gnttab.status_gfns, vec![Some(STATUS >> 12)]);
    assert_eq!(after.xen.tot_pages, before.xen.tot_pages);
    assert_eq!(
        after.xen.absent.iter().copied().collect::<Vec<_>>(),
        vec![SHINFO >> 12, p0, p1]
    );
    assert_eq!(read(&vm2, STATUS + 12), 1 << 3, "status frame contents");
    assert_eq!(read(&vm2, BALLOON), 0, "a page given back stays zero");
    assert_eq!(read(&vm2, SHINFO + 0xff8), 0x5eed, "shared_info survives");
    assert!(after.xen.absent.contains(&(SHINFO >> 12)));
}
