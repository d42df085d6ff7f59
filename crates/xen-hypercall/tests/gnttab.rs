// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! grant_table_op: query_size, setup_table, set_version, get_version.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
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
    // Bad frame list pointer.
    e.put(GnttabSetupTable64 {
        dom: DOMID_SELF,
        nr_frames: 1,
        frame_list: BAD,
        ..Default::default()
    });
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 1), neg(EFAULT));
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, BAD, 1), neg(EFAULT));
    assert_eq!(gt(&mut e, GNTTABOP_SETUP_TABLE, ARG, 0), neg(EINVAL));
}

#[test]
fn set_and_get_version() {
    for w in both() {
        let mut e = Env::new(w);
        e.put(GnttabSetVersion { version: 1 });
        assert_eq!(gt(&mut e, GNTTABOP_SET_VERSION, ARG, 1), 0);
        assert_eq!(e.get::<GnttabSetVersion>(ARG).version, 1);
        e.put(GnttabSetVersion { version: 2 });
        assert_eq!(gt(&mut e, GNTTABOP_SET_VERSION, ARG, 1), neg(EINVAL));
        e.put(GnttabGetVersion {
            dom: DOMID_SELF,
            pad: 0,
            version: 0,
        });
        assert_eq!(gt(&mut e, GNTTABOP_GET_VERSION, ARG, 1), 0);
        assert_eq!(e.get::<GnttabGetVersion>(ARG).version, 1);
        e.put(GnttabGetVersion {
            dom: 8,
            pad: 0,
            version: 0,
        });
        assert_eq!(gt(&mut e, GNTTABOP_GET_VERSION, ARG, 1), neg(ESRCH));
        assert_eq!(gt(&mut e, GNTTABOP_GET_VERSION, BAD, 1), neg(EFAULT));
    }
}
