// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Grant tables v2 and the use of grants through `XenPlatform::on_hypercall`:
//! `GNTTABOP_set_version` with Xen's rules, status frames placed with
//! `XENMEM_add_to_physmap(XENMAPSPACE_grant_table, idx | XENMAPIDX_grant_table_status)`,
//! a backend's map with the status accounting, the guest's own
//! `map_grant_ref` / `unmap_grant_ref` / `copy` / `swap_grant_ref` with Xen's answers
//! for a domU, `get_status_frames` (-ENOSYS for HVM, as Xen), 64 frames, snapshots.

mod common;

use common::*;
use xen_abi::*;
use xen_gnttab::{GrantEntry, GrantKind};
use xen_platform::{HypercallExit, PlatformConfig, Retry};

/// Grant frame 0 and status frame 0: in holes above RAM.
const GRANT: u64 = MEM + 0x40_0000;
const STATUS: u64 = MEM + 0x40_1000;
/// A data page of the guest.
const DATA: u64 = 0x80_0000;
const BACKEND: u16 = 0;
const GUEST: u16 = 1;

fn gnttab(vm: &mut Vm, cmd: u32, arg: u64, count: u64) -> i64 {
    vm.hc(0, HYPERVISOR_GRANT_TABLE_OP, &[u64::from(cmd), arg, count])
}

fn set_version(vm: &mut Vm, v: u32) -> (i64, u32) {
    vm.write(ARGS, GnttabSetVersion { version: v });
    let r = gnttab(vm, GNTTABOP_SET_VERSION, ARGS, 1);
    (r, vm.read::<GnttabSetVersion>(ARGS).version)
}

/// `add_to_physmap` of grant-table index `idx` at hole page `gpa`, backing it.
fn place(vm: &mut Vm, idx: u64, gpa: u64) -> i64 {
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, idx, gpa >> 12);
    match vm.call(0, &r) {
        HypercallExit::MapPage { gpa: p } => {
            assert_eq!(p, gpa);
            vm.add_page(gpa);
            match vm.call_retry(0, &r, Retry::PageAdded) {
                HypercallExit::Resume { rax } => rax as i64,
                o => panic!("{o:?}"),
            }
        }
        HypercallExit::Resume { rax } => rax as i64,
        o => panic!("{o:?}"),
    }
}

/// A v2 guest with grant frame 0 at GRANT and status frame 0 at STATUS.
fn v2_vm() -> Vm {
    let mut vm = Vm::new(1);
    assert_eq!(place(&mut vm, 0, GRANT), 0);
    assert_eq!(set_version(&mut vm, 2), (0, 2));
    assert_eq!(place(&mut vm, XENMAPIDX_GRANT_TABLE_STATUS, STATUS), 0);
    vm
}

fn put_v2(vm: &mut Vm, gref: u32, e: GrantEntry) {
    vm.write_bytes(GRANT + u64::from(gref) * 16, &e.to_v2_bytes());
}

fn full(flags: u16, domid: u16, frame: u64) -> GrantEntry {
    GrantEntry {
        flags,
        domid,
        kind: GrantKind::Frame(frame),
    }
}

fn status(vm: &mut Vm, gref: u32) -> u16 {
    vm.read(STATUS + u64::from(gref) * 2)
}

#[test]
fn set_version_rules() {
    let mut vm = Vm::new(1);
    // Other numbers: -EINVAL, the version in effect written back.
    for v in [0, 3, 0xffff_ffff] {
        assert_eq!(set_version(&mut vm, v), (err(errno::EINVAL), 1));
    }
    assert_eq!(set_version(&mut vm, 1), (0, 1));
    assert_eq!(set_version(&mut vm, 2), (0, 2));
    // The table got its first frame (Xen's always has one).
    vm.write(
        ARGS,
        GnttabQuerySize {
            dom: DOMID_SELF,
            ..Default::default()
        },
    );
    assert_eq!(gnttab(&mut vm, GNTTABOP_QUERY_SIZE, ARGS, 1), 0);
    let q: GnttabQuerySize = vm.read(ARGS);
    assert_eq!((q.nr_frames, q.max_nr_frames), (1, 4));
    vm.write(
        ARGS,
        GnttabGetVersion {
            dom: DOMID_SELF,
            ..Default::default()
        },
    );
    assert_eq!(gnttab(&mut vm, GNTTABOP_GET_VERSION, ARGS, 1), 0);
    assert_eq!(vm.read::<GnttabGetVersion>(ARGS).version, 2);
    assert_eq!(set_version(&mut vm, 1), (0, 1));
    // 32-bit guests use the same struct.
    vm.write(ARGS, GnttabSetVersion { version: 2 });
    let cmd = u64::from(GNTTABOP_SET_VERSION);
    assert_eq!(vm.hc32(0, HYPERVISOR_GRANT_TABLE_OP, &[cmd, ARGS, 1]), 0);
    assert_eq!(vm.read::<GnttabSetVersion>(ARGS).version, 2);
    drop(vm);
    // v2 disabled: -ENOSYS.
    let mut c = PlatformConfig::new(1, MEM);
    c.grant_max_version = 1;
    let mut vm = Vm::with_config(c);
    assert_eq!(set_version(&mut vm, 2), (err(errno::ENOSYS), 1));
}

#[test]
fn status_frames_are_placed_like_grant_frames() {
    let mut vm = Vm::new(1);
    // v1: a status index is refused before a page is asked for.
    let r = vm.add_to_physmap_regs(
        XENMAPSPACE_GRANT_TABLE,
        XENMAPIDX_GRANT_TABLE_STATUS,
        STATUS >> 12,
    );
    assert_eq!(
        vm.call(0, &r),
        HypercallExit::Resume {
            rax: err(errno::EINVAL) as u64
        }
    );
    drop(vm);
    let mut vm = v2_vm();
    let st = vm.state();
    assert_eq!(st.gnttab.version, 2);
    assert_eq!(st.gnttab.status_gfns, vec![Some(STATUS >> 12)]);
    // A 4-frame table has one status frame.
    let r = vm.add_to_physmap_regs(
        XENMAPSPACE_GRANT_TABLE,
        XENMAPIDX_GRANT_TABLE_STATUS | 1,
        (STATUS >> 12) + 1,
    );
    assert_eq!(
        vm.call(0, &r),
        HypercallExit::Resume {
            rax: err(errno::EINVAL) as u64
        }
    );
    // Moving it carries its contents.
    vm.write(STATUS + 6, GTF_READING);
    let moved = MEM + 0x50_0000;
    assert_eq!(place(&mut vm, XENMAPIDX_GRANT_TABLE_STATUS, moved), 0);
    assert_eq!(vm.read::<u16>(moved + 6), GTF_READING);
    assert_eq!(vm.state().gnttab.status_gfns, vec![Some(moved >> 12)]);
    // get_status_frames is not for HVM guests (Xen: -ENOSYS).
    vm.write(
        ARGS,
        GnttabGetStatusFrames64 {
            nr_frames: 1,
            dom: DOMID_SELF,
            status: 0,
            frame_list: BUF,
        },
    );
    assert_eq!(
        gnttab(&mut vm, GNTTABOP_GET_STATUS_FRAMES, ARGS, 1),
        err(errno::ENOSYS)
    );
    // Back to v1: the status frame goes (cleared, unhooked).
    assert_eq!(set_version(&mut vm, 1), (0, 1));
    assert_eq!(vm.read::<u16>(moved + 6), 0);
    assert!(vm.state().gnttab.status_gfns.is_empty());
}

#[test]
fn backend_map_is_seen_in_the_status_frame() {
    let mut vm = v2_vm();
    put_v2(&mut vm, 9, full(GTF_PERMIT_ACCESS, BACKEND, DATA >> 12));
    vm.write_bytes(DATA, b"payload");
    let m = {
        let (mem, mut t) = vm.platform.memory().read(vm.root.token());
        let (mut be, _t) = vm.platform.backends().lock(&mut t);
        let e = be.gnttab.lookup(&*mem, 9, BACKEND).unwrap();
        assert_eq!(e, full(GTF_PERMIT_ACCESS, BACKEND, DATA >> 12));
        be.gnttab.map(&*mem, 9, BACKEND, false).unwrap()
    };
    assert_eq!(m.gpa, DATA);
    assert_eq!(vm.read_bytes(m.gpa, 7), b"payload");
    assert_eq!(status(&mut vm, 9), GTF_READING | GTF_WRITING);
    // Busy: a non-reserved grant is in use.
    assert_eq!(set_version(&mut vm, 1), (err(errno::EBUSY), 2));
    {
        let (mem, mut t) = vm.platform.memory().read(vm.root.token());
        let (mut be, _t) = vm.platform.backends().lock(&mut t);
        be.gnttab.unmap(&*mem, m.handle).unwrap();
    }
    assert_eq!(status(&mut vm, 9), 0);
    assert_eq!(set_version(&mut vm, 1), (0, 1));
}

fn map_op(vm: &mut Vm, dom: u16, gref: u32, flags: u32) -> GnttabMapGrantRef {
    vm.write(
        BUF,
        GnttabMapGrantRef {
            host_addr: MEM + 0x60_0000,
            flags,
            ref_: gref,
            dom,
            status: 99,
            handle: 0,
            dev_bus_addr: 0,
        },
    );
    assert_eq!(gnttab(vm, GNTTABOP_MAP_GRANT_REF, BUF, 1), 0);
    vm.read(BUF)
}

#[test]
fn guest_map_and_unmap_get_a_domus_answers() {
    let mut vm = v2_vm();
    // Own grants pass every check, then the frame cannot appear at a second GFN.
    put_v2(&mut vm, 3, full(GTF_PERMIT_ACCESS, GUEST, DATA >> 12));
    let op = map_op(&mut vm, GUEST, 3, GNTMAP_HOST_MAP);
    assert_eq!(op.status, GNTST_GENERAL_ERROR);
    assert_eq!(status(&mut vm, 3), 0, "the use was undone");
    // The checks before that: no grant, beyond the table, a frame that is not RAM.
    assert_eq!(
        map_op(&mut vm, GUEST, 4, GNTMAP_HOST_MAP).status,
        GNTST_GENERAL_ERROR
    );
    assert_eq!(
        map_op(&mut vm, GUEST, 256, GNTMAP_HOST_MAP).status,
        GNTST_BAD_GNTREF
    );
    put_v2(&mut vm, 5, full(GTF_PERMIT_ACCESS, GUEST, 1 << 30));
    assert_eq!(
        map_op(&mut vm, GUEST, 5, GNTMAP_HOST_MAP | GNTMAP_READONLY).status,
        GNTST_BAD_PAGE
    );
    // Domain 0 grants nothing; DOMID_SELF and unknown ids name no domain.
    assert_eq!(
        map_op(&mut vm, BACKEND, 1, GNTMAP_HOST_MAP).status,
        GNTST_GENERAL_ERROR
    );
    assert_eq!(
        map_op(&mut vm, BACKEND, 512, GNTMAP_HOST_MAP).status,
        GNTST_BAD_GNTREF
    );
    assert_eq!(
        map_op(&mut vm, DOMID_SELF, 3, GNTMAP_HOST_MAP).status,
        GNTST_BAD_DOMAIN
    );
    assert_eq!(
        map_op(&mut vm, 40, 3, GNTMAP_HOST_MAP).status,
        GNTST_BAD_DOMAIN
    );
    assert_eq!(
        map_op(&mut vm, GUEST, 3, GNTMAP_DEVICE_MAP).status,
        GNTST_GENERAL_ERROR
    );
    assert_eq!(
        map_op(&mut vm, GUEST, 3, GNTMAP_READONLY).status,
        GNTST_BAD_GNTREF
    );
    // No mapping exists to unmap.
    vm.write(
        BUF,
        GnttabUnmapGrantRef {
            handle: 0,
            ..Default::default()
        },
    );
    assert_eq!(gnttab(&mut vm, GNTTABOP_UNMAP_GRANT_REF, BUF, 1), 0);
    assert_eq!(vm.read::<GnttabUnmapGrantRef>(BUF).status, GNTST_BAD_HANDLE);
}

fn copy_op(vm: &mut Vm, src: (u64, u16, u16), dst: (u64, u16, u16), len: u16, flags: u16) -> i16 {
    vm.write(
        BUF,
        GnttabCopy64 {
            source_u: src.0,
            source_domid: src.1,
            source_offset: src.2,
            dest_u: dst.0,
            dest_domid: dst.1,
            dest_offset: dst.2,
            len,
            flags,
            status: 99,
            ..Default::default()
        },
    );
    assert_eq!(gnttab(vm, GNTTABOP_COPY, BUF, 1), 0);
    vm.read::<GnttabCopy64>(BUF).status
}

#[test]
fn guest_copy_and_swap() {
    let mut vm = v2_vm();
    vm.host.set_balloon(true);
    put_v2(&mut vm, 3, full(GTF_PERMIT_ACCESS, GUEST, DATA >> 12));
    vm.write_bytes(DATA + 100, b"granted bytes");
    let dst = 0x90_0000u64;
    assert_eq!(
        copy_op(
            &mut vm,
            (3, DOMID_SELF, 100),
            (dst >> 12, DOMID_SELF, 8),
            13,
            GNTCOPY_SOURCE_GREF
        ),
        GNTST_OKAY
    );
    assert_eq!(vm.read_bytes(dst + 8, 13), b"granted bytes");
    assert_eq!(status(&mut vm, 3), 0);
    // A frame given back is no frame; domain 0 grants nothing; frames only of DOMID_SELF.
    vm.write(LIST, dst >> 12);
    vm.write(
        ARGS,
        XenMemoryReservation64 {
            extent_start: LIST,
            nr_extents: 1,
            domid: DOMID_SELF,
            ..Default::default()
        },
    );
    let dec = u64::from(XENMEM_DECREASE_RESERVATION);
    assert_eq!(vm.hc(0, HYPERVISOR_MEMORY_OP, &[dec, ARGS]), 1);
    assert_eq!(
        copy_op(
            &mut vm,
            (3, DOMID_SELF, 0),
            (dst >> 12, DOMID_SELF, 0),
            1,
            GNTCOPY_SOURCE_GREF
        ),
        GNTST_BAD_PAGE
    );
    assert_eq!(
        copy_op(
            &mut vm,
            (1, BACKEND, 0),
            (DATA >> 12, DOMID_SELF, 0),
            1,
            GNTCOPY_SOURCE_GREF
        ),
        GNTST_GENERAL_ERROR
    );
    assert_eq!(
        copy_op(&mut vm, (DATA >> 12, GUEST, 0), (0x91, DOMID_SELF, 0), 1, 0),
        GNTST_PERMISSION_DENIED
    );
    assert_eq!(
        copy_op(
            &mut vm,
            (DATA >> 12, DOMID_SELF, 4095),
            (0x91, DOMID_SELF, 0),
            2,
            0
        ),
        GNTST_BAD_COPY_ARG
    );
    // A grant frame (a Xen page in a hole) can be copied from.
    assert_eq!(
        copy_op(
            &mut vm,
            (GRANT >> 12, DOMID_SELF, 48),
            (0x91, DOMID_SELF, 0),
            16,
            0
        ),
        GNTST_OKAY
    );
    assert_eq!(
        vm.read_bytes(0x91000, 16),
        full(GTF_PERMIT_ACCESS, GUEST, DATA >> 12).to_v2_bytes()
    );
    // Swap entries (and their statuses).
    vm.write(STATUS + 6, GTF_READING);
    vm.write(
        BUF,
        GnttabSwapGrantRef {
            ref_a: 3,
            ref_b: 4,
            status: 99,
            pad: 0,
        },
    );
    assert_eq!(gnttab(&mut vm, GNTTABOP_SWAP_GRANT_REF, BUF, 1), 0);
    assert_eq!(vm.read::<GnttabSwapGrantRef>(BUF).status, GNTST_OKAY);
    assert_eq!(
        vm.read_bytes(GRANT + 64, 16),
        full(GTF_PERMIT_ACCESS, GUEST, DATA >> 12).to_v2_bytes()
    );
    assert_eq!((status(&mut vm, 3), status(&mut vm, 4)), (0, GTF_READING));
    vm.write(
        BUF,
        GnttabSwapGrantRef {
            ref_a: 3,
            ref_b: 300,
            status: 99,
            pad: 0,
        },
    );
    assert_eq!(gnttab(&mut vm, GNTTABOP_SWAP_GRANT_REF, BUF, 1), 0);
    assert_eq!(vm.read::<GnttabSwapGrantRef>(BUF).status, GNTST_BAD_GNTREF);
}

const LIST: u64 = 0x3000;

#[test]
fn a_32_bit_guest_copies() {
    let mut vm = Vm::new(1);
    assert_eq!(place(&mut vm, 0, GRANT), 0);
    let e = xen_gnttab::GrantEntryV1 {
        flags: GTF_PERMIT_ACCESS,
        domid: GUEST,
        frame: (DATA >> 12) as u32,
    };
    vm.write_bytes(GRANT + 2 * 8, &e.to_bytes());
    vm.write_bytes(DATA, b"v1 grant");
    vm.write(
        BUF,
        GnttabCopy32 {
            source_u: 2,
            source_domid: DOMID_SELF,
            source_offset: 0,
            dest_u: 0x92,
            dest_domid: DOMID_SELF,
            dest_offset: 0,
            len: 8,
            flags: GNTCOPY_SOURCE_GREF,
            status: 99,
            pad: 0,
        },
    );
    let cmd = u64::from(GNTTABOP_COPY);
    assert_eq!(vm.hc32(0, HYPERVISOR_GRANT_TABLE_OP, &[cmd, BUF, 1]), 0);
    assert_eq!(vm.read::<GnttabCopy32>(BUF).status, GNTST_OKAY);
    assert_eq!(vm.read_bytes(0x92000, 8), b"v1 grant");
}

#[test]
fn sixty_four_frames_and_snapshots() {
    let mut c = PlatformConfig::new(1, MEM);
    c.grant_frames = 64;
    let mut vm = Vm::with_config(c.clone());
    assert_eq!(set_version(&mut vm, 2), (0, 2));
    // Status frame 7 makes the table grow to 64 frames.
    let s7 = MEM + 0x70_0000;
    assert_eq!(place(&mut vm, XENMAPIDX_GRANT_TABLE_STATUS | 7, s7), 0);
    assert_eq!(vm.state().gnttab.nr_frames, 64);
    assert_eq!(place(&mut vm, 63, MEM + 0x71_0000), 0);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 64, 0x300);
    assert_eq!(vm.ret(0, &r), err(errno::EINVAL));
    vm.write(s7 + 10, GTF_READING);
    // A snapshot keeps v2, the status frames and their contents.
    let mut vm = vm.save_restore(c.clone(), |_| {}).unwrap();
    let st = vm.state();
    assert_eq!(st.gnttab.version, 2);
    assert_eq!(st.gnttab.status_gfns[7], Some(s7 >> 12));
    assert_eq!(vm.read::<u16>(s7 + 10), GTF_READING);
    vm.write(
        ARGS,
        GnttabGetVersion {
            dom: DOMID_SELF,
            ..Default::default()
        },
    );
    assert_eq!(gnttab(&mut vm, GNTTABOP_GET_VERSION, ARGS, 1), 0);
    assert_eq!(vm.read::<GnttabGetVersion>(ARGS).version, 2);
    // A configuration without v2 (or with fewer frames) cannot take it.
    let mut v1 = c.clone();
    v1.grant_max_version = 1;
    let state = vm.state();
    let mem = vm.copy_memory();
    let host = vm.host.clone();
    drop(vm);
    let e = xen_platform::XenPlatform::restore(
        v1,
        vm_lock::MemoryMap::new(mem.clone()),
        host.clone(),
        Box::new(std::io::sink()),
        &state,
    )
    .unwrap_err();
    assert!(e.to_string().contains("version 2"), "{e}");
    let mut small = c;
    small.grant_frames = 4;
    assert!(xen_platform::XenPlatform::restore(
        small,
        vm_lock::MemoryMap::new(mem),
        host.clone(),
        Box::new(std::io::sink()),
        &state,
    )
    .is_err());
    // 65 frames are more than the platform offers.
    let mut c = PlatformConfig::new(1, MEM);
    c.grant_frames = 65;
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
    assert!(e.to_string().contains("grant frames"), "{e}");
}
