// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! grant_table_op: query_size, setup_table, set_version, get_version, get_status_frames,
//! map_grant_ref, unmap_grant_ref, copy, swap_grant_ref: decoding, Xen's checks and the
//! per-op status write-back.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

fn gt(e: &mut Env, cmd: u32, arg: u64, count: u64) -> i64 {
    match e
        .call(HYPERVISOR_GRANT_TABLE_OP, [cmd.into(), arg, count, 0, 0, 0])
        .outcome
    {
        HypercallOutcome::Done(v) => v,
        o => panic!("{o:?}"),
    }
}

#[test]
fn query_size() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(GnttabQuerySize {
            dom: DOMID_SELF,
            ..Default::default()
        });
        assert_eq!(gt(&mut e, GNTTABOP_QUERY_SIZE, ARG, 1), 0);
        let q: GnttabQuerySize = e.get(ARG);
        assert_eq!(
            (q.dom, q.nr_frames, q.max_nr_frames, q.status),
            (DOMID_SELF, 1, 4, GNTST_OKAY)
        );
        e.put(GnttabQuerySize {
            dom: 4,
            ..Default::default()
        });
        assert_eq!(gt(&mut e, GNTTABOP_QUERY_SIZE, ARG, 1), 0);
        assert_eq!(e.get::<GnttabQuerySize>(ARG).status, GNTST_BAD_DOMAIN);
        assert_eq!(gt(&mut e, GNTTABOP_QUERY_SIZE, ARG, 2), neg(EINVAL));
        assert_eq!(gt(&mut e, GNTTABOP_QUERY_SIZE, BAD, 1), neg(EFAULT));
    }
}

#[test]
fn setup_table_writes_width_sized_frames() {
    let mut e = Env::new(GuestWidth::Bits64);
    e.put(GnttabSetupTable64 {
        dom: DOMID_SELF,
        nr_frames: 2,
        frame_list: BUF,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), 0);
    assert_eq!(e.get::<GnttabSetupTable64>(ARG).status, GNTST_OKAY);
    assert_eq!(e.get::<[u64; 2]>(BUF), [0xfe000, 0xfe001]);

    let mut e = Env::new(GuestWidth::Bits32);
    e.put(GnttabSetupTable32 {
        dom: DOMID_SELF,
        nr_frames: 2,
        frame_list: BUF as u32,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), 0);
    assert_eq!(e.get::<GnttabSetupTable32>(ARG).status, GNTST_OKAY);
    assert_eq!(e.get::<[u32; 3]>(BUF), [0xfe000, 0xfe001, 0]);
}

#[test]
fn setup_table_errors() {
    let mut e = Env::new(GuestWidth::Bits64);
    // Too many frames for the handler: status, not errno.
    e.put(GnttabSetupTable64 {
        dom: DOMID_SELF,
        nr_frames: 5,
        frame_list: BUF,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), 0);
    assert_eq!(e.get::<GnttabSetupTable64>(ARG).status, GNTST_GENERAL_ERROR);
    // Beyond our hard cap: handler not called.
    let calls = e.hv.calls;
    e.put(GnttabSetupTable64 {
        dom: DOMID_SELF,
        nr_frames: u32::MAX,
        frame_list: BUF,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), 0);
    assert_eq!(e.get::<GnttabSetupTable64>(ARG).status, GNTST_GENERAL_ERROR);
    assert_eq!(e.hv.calls, calls);
    // Foreign domain.
    e.put(GnttabSetupTable64 {
        dom: 9,
        nr_frames: 1,
        frame_list: BUF,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), 0);
    assert_eq!(e.get::<GnttabSetupTable64>(ARG).status, GNTST_BAD_DOMAIN);
    // Domain 0 exists, but a domU may not look at its table.
    e.put(GnttabSetupTable64 {
        dom: 0,
        nr_frames: 1,
        frame_list: BUF,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), 0);
    assert_eq!(
        e.get::<GnttabSetupTable64>(ARG).status,
        GNTST_PERMISSION_DENIED
    );
    // Bad frame list pointer: for an HVM guest Xen checks no range first, the frame
    // write fails and the status says so; the hypercall succeeds.
    e.put(GnttabSetupTable64 {
        dom: DOMID_SELF,
        nr_frames: 1,
        frame_list: BAD,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), 0);
    assert_eq!(e.get::<GnttabSetupTable64>(ARG).status, GNTST_BAD_VIRT_ADDR);
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, BAD, 1), neg(EFAULT));
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 0), neg(EINVAL));
    // A count negative as an int: -EINVAL for every op.
    for cmd in [GNTTABOP_SETUP_TABLE, GNTTABOP_SET_VERSION, GNTTABOP_COPY] {
        assert_eq!(gt(&mut e, cmd, ARG, 1 << 31), neg(EINVAL), "{cmd}");
    }
}

#[test]
fn query_size_of_domain_0_is_denied() {
    let mut e = Env::new(GuestWidth::Bits64);
    e.put(GnttabQuerySize {
        dom: 0,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_QUERY_SIZE, ARG, 1), 0);
    assert_eq!(
        e.get::<GnttabQuerySize>(ARG).status,
        GNTST_PERMISSION_DENIED
    );
}

#[test]
fn set_and_get_version() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(GnttabSetVersion { version: 1 });
        assert_eq!(gt(&mut e, GNTTABOP_SET_VERSION, ARG, 1), 0);
        assert_eq!(e.get::<GnttabSetVersion>(ARG).version, 1);
        // v2 goes to the handler; set_version takes no count.
        e.put(GnttabSetVersion { version: 2 });
        assert_eq!(gt(&mut e, GNTTABOP_SET_VERSION, ARG, 0), 0);
        assert_eq!(e.hv.last, Some(Call::SetVersion(2)));
        assert_eq!(e.get::<GnttabSetVersion>(ARG).version, 2);
        // Other numbers: -EINVAL, the handler is not asked, the version in effect is
        // written back anyway.
        for v in [0, 3, u32::MAX] {
            let calls = e.hv.calls;
            e.put(GnttabSetVersion { version: v });
            assert_eq!(gt(&mut e, GNTTABOP_SET_VERSION, ARG, 1), neg(EINVAL));
            assert_eq!(e.get::<GnttabSetVersion>(ARG).version, 2);
            assert_eq!(e.hv.calls, calls);
        }
        // A handler refusal still writes the version back.
        e.hv.fail_with = Some(Errno::ENOSYS);
        e.put(GnttabSetVersion { version: 1 });
        assert_eq!(gt(&mut e, GNTTABOP_SET_VERSION, ARG, 1), neg(ENOSYS));
        assert_eq!(e.get::<GnttabSetVersion>(ARG).version, 2);
        e.hv.fail_with = None;
        assert_eq!(gt(&mut e, GNTTABOP_SET_VERSION, BAD, 1), neg(EFAULT));
        e.put(GnttabGetVersion {
            dom: DOMID_SELF,
            pad: 0,
            version: 0,
        });
        assert_eq!(gt(&mut e, GNTTABOP_GET_VERSION, ARG, 7), 0);
        assert_eq!(e.get::<GnttabGetVersion>(ARG).version, 2);
        e.put(GnttabGetVersion {
            dom: 8,
            pad: 0,
            version: 0,
        });
        assert_eq!(gt(&mut e, GNTTABOP_GET_VERSION, ARG, 1), neg(ESRCH));
        e.put(GnttabGetVersion {
            dom: 0,
            pad: 0,
            version: 0,
        });
        assert_eq!(gt(&mut e, GNTTABOP_GET_VERSION, ARG, 1), neg(EPERM));
        assert_eq!(gt(&mut e, GNTTABOP_GET_VERSION, BAD, 1), neg(EFAULT));
    }
}

fn status_frames_arg(e: &Env, dom: u16, nr: u32, list: u64) {
    match e.width {
        GuestWidth::Bits64 => {
            e.put(GnttabGetStatusFrames64 {
                nr_frames: nr,
                dom,
                status: 99,
                frame_list: list,
            });
        }
        GuestWidth::Bits32 => {
            e.put(GnttabGetStatusFrames32 {
                nr_frames: nr,
                dom,
                status: 99,
                frame_list: list as u32,
            });
        }
    }
}

fn st_status(e: &Env) -> i16 {
    e.get::<GnttabGetStatusFrames32>(ARG).status
}

#[test]
fn get_status_frames_is_enosys_unless_offered() {
    for w in both() {
        let mut e = Env::new(w);
        status_frames_arg(&e, DOMID_SELF, 1, BUF);
        // Xen refuses it to HVM/PVH guests before reading anything.
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, BAD, 5), neg(ENOSYS));
        e.hv.offer_status_frames = true;
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 2), neg(EINVAL));
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, BAD, 1), neg(EFAULT));
        // v1: no status frames.
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 1), 0);
        assert_eq!(st_status(&e), GNTST_GENERAL_ERROR);
        e.hv.gnttab_version = 2;
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 1), 0);
        assert_eq!(st_status(&e), GNTST_OKAY);
        // Frames are u64 for both widths.
        assert_eq!(e.get::<[u64; 2]>(BUF), [0xfd000, 0]);
        assert_eq!(e.hv.last, Some(Call::GetStatusFrames { nr_frames: 1 }));
        status_frames_arg(&e, DOMID_SELF, 2, BUF);
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 1), 0);
        assert_eq!(st_status(&e), GNTST_GENERAL_ERROR);
        status_frames_arg(&e, DOMID_SELF, 65, BUF);
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 1), 0);
        assert_eq!(st_status(&e), GNTST_GENERAL_ERROR);
        status_frames_arg(&e, 0, 1, BUF);
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 1), 0);
        assert_eq!(st_status(&e), GNTST_PERMISSION_DENIED);
        status_frames_arg(&e, 9, 1, BUF);
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 1), 0);
        assert_eq!(st_status(&e), GNTST_BAD_DOMAIN);
        status_frames_arg(&e, DOMID_SELF, 1, BAD);
        assert_eq!(gt(&mut e, GNTTABOP_GET_STATUS_FRAMES, ARG, 1), 0);
        assert_eq!(st_status(&e), GNTST_BAD_VIRT_ADDR);
    }
}

fn map_op(dom: u16, gref: u32, flags: u32) -> GnttabMapGrantRef {
    GnttabMapGrantRef {
        host_addr: 0x5000,
        flags,
        ref_: gref,
        dom,
        status: 99,
        handle: 0xdead,
        dev_bus_addr: 0xbeef,
    }
}

#[test]
fn map_grant_ref_checks_and_statuses() {
    for w in both() {
        let mut e = Env::new(w);
        let ops = [
            // Neither host nor device map.
            (map_op(1, 1, GNTMAP_READONLY), GNTST_BAD_GNTREF),
            // Device / application / PTE mappings: not for HVM guests.
            (map_op(1, 1, GNTMAP_DEVICE_MAP), GNTST_GENERAL_ERROR),
            (
                map_op(1, 1, GNTMAP_HOST_MAP | GNTMAP_APPLICATION_MAP),
                GNTST_GENERAL_ERROR,
            ),
            (
                map_op(1, 1, GNTMAP_HOST_MAP | GNTMAP_CONTAINS_PTE),
                GNTST_GENERAL_ERROR,
            ),
            // Looked up by id: DOMID_SELF and unknown ids are bad domains.
            (map_op(DOMID_SELF, 1, GNTMAP_HOST_MAP), GNTST_BAD_DOMAIN),
            (map_op(77, 1, GNTMAP_HOST_MAP), GNTST_BAD_DOMAIN),
            // To the handler.
            (map_op(0, 99, GNTMAP_HOST_MAP), GNTST_BAD_GNTREF),
            (map_op(1, 3, GNTMAP_HOST_MAP | GNTMAP_READONLY), GNTST_OKAY),
        ];
        for (i, (op, _)) in ops.iter().enumerate() {
            e.put_at(*op, BUF + i as u64 * 32);
        }
        assert_eq!(gt(&mut e, GNTTABOP_MAP_GRANT_REF, BUF, ops.len() as u64), 0);
        for (i, (op, status)) in ops.iter().enumerate() {
            let got: GnttabMapGrantRef = e.get(BUF + i as u64 * 32);
            assert_eq!(got.status, *status, "op {i}");
            if *status == GNTST_OKAY {
                assert_eq!((got.handle, got.dev_bus_addr), (7, 0));
            } else {
                assert_eq!((got.handle, got.dev_bus_addr), (op.handle, op.dev_bus_addr));
            }
        }
        assert_eq!(
            e.hv.last,
            Some(Call::MapGrant(GrantMapReq {
                dom: 1,
                gref: 3,
                flags: GNTMAP_HOST_MAP | GNTMAP_READONLY,
                host_addr: 0x5000
            }))
        );
        // Count 0 does nothing; an unreadable op stops the batch with -EFAULT.
        assert_eq!(gt(&mut e, GNTTABOP_MAP_GRANT_REF, BAD, 0), 0);
        assert_eq!(gt(&mut e, GNTTABOP_MAP_GRANT_REF, BAD, 1), neg(EFAULT));
        assert_eq!(gt(&mut e, GNTTABOP_MAP_GRANT_REF, RAM - 32, 2), neg(EFAULT));
        assert_eq!(
            gt(
                &mut e,
                GNTTABOP_MAP_GRANT_REF,
                BUF,
                u64::from(MAX_GRANT_OPS) + 1
            ),
            neg(E2BIG)
        );
    }
}

#[test]
fn unmap_and_swap_write_statuses() {
    for w in both() {
        let mut e = Env::new(w);
        for (i, h) in [7u32, 8].iter().enumerate() {
            e.put_at(
                GnttabUnmapGrantRef {
                    host_addr: 0x5000,
                    dev_bus_addr: 0,
                    handle: *h,
                    status: 99,
                    pad: 0xabcd,
                },
                BUF + i as u64 * 24,
            );
        }
        assert_eq!(gt(&mut e, GNTTABOP_UNMAP_GRANT_REF, BUF, 2), 0);
        let a: GnttabUnmapGrantRef = e.get(BUF);
        let b: GnttabUnmapGrantRef = e.get(BUF + 24);
        assert_eq!((a.status, b.status), (GNTST_OKAY, GNTST_BAD_HANDLE));
        assert_eq!(b.pad, 0xabcd, "only the status is written");
        assert_eq!(gt(&mut e, GNTTABOP_UNMAP_GRANT_REF, BAD, 1), neg(EFAULT));

        e.put_at(
            GnttabSwapGrantRef {
                ref_a: 1,
                ref_b: 2,
                status: 99,
                pad: 0,
            },
            BUF,
        );
        e.put_at(
            GnttabSwapGrantRef {
                ref_a: 1,
                ref_b: 200,
                status: 99,
                pad: 0,
            },
            BUF + 12,
        );
        assert_eq!(gt(&mut e, GNTTABOP_SWAP_GRANT_REF, BUF, 2), 0);
        assert_eq!(e.get::<GnttabSwapGrantRef>(BUF).status, GNTST_OKAY);
        assert_eq!(
            e.get::<GnttabSwapGrantRef>(BUF + 12).status,
            GNTST_BAD_GNTREF
        );
        assert_eq!(e.hv.last, Some(Call::SwapGrant { a: 1, b: 200 }));
        assert_eq!(gt(&mut e, GNTTABOP_SWAP_GRANT_REF, BAD, 1), neg(EFAULT));
    }
}

fn put_copy(e: &Env, at: u64, src: (u64, u16, u16), dst: (u64, u16, u16), len: u16, flags: u16) {
    match e.width {
        GuestWidth::Bits64 => e.put_at(
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
            at,
        ),
        GuestWidth::Bits32 => e.put_at(
            GnttabCopy32 {
                source_u: src.0 as u32,
                source_domid: src.1,
                source_offset: src.2,
                dest_u: dst.0 as u32,
                dest_domid: dst.1,
                dest_offset: dst.2,
                len,
                flags,
                status: 99,
                ..Default::default()
            },
            at,
        ),
    }
}

fn copy_status(e: &Env, i: u64) -> i16 {
    match e.width {
        GuestWidth::Bits64 => e.get::<GnttabCopy64>(BUF + i * 40).status,
        GuestWidth::Bits32 => e.get::<GnttabCopy32>(BUF + i * 24).status,
    }
}

#[test]
fn copy_domain_checks_then_handler() {
    for w in both() {
        let mut e = Env::new(w);
        let size = match w {
            GuestWidth::Bits64 => 40,
            GuestWidth::Bits32 => 24,
        };
        let both_gref = GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF;
        let ops = [
            // A frame named by a domain id (even the caller's own): denied.
            (
                (0x10, 1, 0),
                (0x11, DOMID_SELF, 0),
                0,
                GNTST_PERMISSION_DENIED,
            ),
            (
                (0x10, DOMID_SELF, 0),
                (0x11, 0, 0),
                0,
                GNTST_PERMISSION_DENIED,
            ),
            // A grant of an unknown domain (source checked first).
            (
                (1, 77, 0),
                (0x11, 5, 0),
                GNTCOPY_SOURCE_GREF,
                GNTST_BAD_DOMAIN,
            ),
            ((1, 0, 0), (2, 77, 0), both_gref, GNTST_BAD_DOMAIN),
            // Passed on: frames of DOMID_SELF, grants of existing domains.
            (
                (1, 0, 0),
                (0x11, DOMID_SELF, 8),
                GNTCOPY_SOURCE_GREF,
                GNTST_OKAY,
            ),
            ((1, 1, 0), (2, DOMID_SELF, 0), both_gref, GNTST_OKAY),
        ];
        for (i, (s, d, f, _)) in ops.iter().enumerate() {
            put_copy(&e, BUF + i as u64 * size, *s, *d, 100, *f);
        }
        let calls = e.hv.calls;
        assert_eq!(gt(&mut e, GNTTABOP_COPY, BUF, ops.len() as u64), 0);
        for (i, (_, _, _, st)) in ops.iter().enumerate() {
            assert_eq!(copy_status(&e, i as u64), *st, "op {i}");
        }
        assert_eq!(
            e.hv.calls,
            calls + 2,
            "only the checked ops reach the handler"
        );
        assert_eq!(
            e.hv.last,
            Some(Call::GrantCopy(GrantCopyReq {
                source: GrantCopyPtr {
                    gref_or_gfn: 1,
                    domid: 1,
                    offset: 0
                },
                dest: GrantCopyPtr {
                    gref_or_gfn: 2,
                    domid: DOMID_SELF,
                    offset: 0
                },
                len: 100,
                flags: both_gref,
            }))
        );
        assert_eq!(gt(&mut e, GNTTABOP_COPY, BAD, 1), neg(EFAULT));
        assert_eq!(
            gt(&mut e, GNTTABOP_COPY, BUF, u64::from(MAX_GRANT_OPS) + 1),
            neg(E2BIG)
        );
    }
    // A 64-bit guest writes only the grant reference half of the union.
    let mut e = Env::new(GuestWidth::Bits64);
    put_copy(
        &e,
        BUF,
        (0xffff_ffff_0000_0005, DOMID_SELF, 0),
        (0x1_0000_0000, DOMID_SELF, 0),
        1,
        GNTCOPY_SOURCE_GREF,
    );
    assert_eq!(gt(&mut e, GNTTABOP_COPY, BUF, 1), 0);
    let Some(Call::GrantCopy(c)) = e.hv.last else {
        panic!("{:?}", e.hv.last)
    };
    assert_eq!(
        (c.source.gref_or_gfn, c.dest.gref_or_gfn),
        (5, 0x1_0000_0000)
    );
}
