// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! memory_op: add_to_physmap and memory_map.

mod common;
use common::*;
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::testing::Call;
use xen_hypercall::*;

fn atp(e: &Env, domid: u16, space: u32, idx: u64, gpfn: u64) -> u64 {
    match e.width {
        GuestWidth::Bits64 => e.put(XenAddToPhysmap64 {
            domid,
            size: 0,
            space,
            idx,
            gpfn,
        }),
        GuestWidth::Bits32 => e.put(XenAddToPhysmap32 {
            domid,
            size: 0,
            space,
            idx: idx as u32,
            gpfn: gpfn as u32,
        }),
    }
}

#[test]
fn add_to_physmap_shared_info_outside_ram() {
    for w in both() {
        let mut e = Env::new(w);
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, 0xfeff0);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::AddToPhysmap {
                space: MapSpace::SharedInfo,
                gfn: 0xfeff0
            })
        );
        // Own domid is accepted too.
        let a = atp(&e, 1, XENMAPSPACE_SHARED_INFO, 0, 0x10);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
    }
}

#[test]
fn add_to_physmap_grant_table() {
    for w in both() {
        let mut e = Env::new(w);
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_GRANT_TABLE, 3, 0xfeff1);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::AddToPhysmap {
                space: MapSpace::GrantTable {
                    frame: 3,
                    status: false
                },
                gfn: 0xfeff1
            })
        );
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_GRANT_TABLE, (1 << 31) | 1, 0x20);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a), 0);
        assert_eq!(
            e.hv.last,
            Some(Call::AddToPhysmap {
                space: MapSpace::GrantTable {
                    frame: 1,
                    status: true
                },
                gfn: 0x20
            })
        );
    }
}

#[test]
fn add_to_physmap_invalid() {
    for w in both() {
        let mut e = Env::new(w);
        let a = atp(&e, 7, XENMAPSPACE_SHARED_INFO, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(ESRCH)
        );
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 1, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(EINVAL)
        );
        let a = atp(&e, DOMID_SELF, XENMAPSPACE_GMFN, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(EOPNOTSUPP)
        );
        let a = atp(&e, DOMID_SELF, 77, 0, 1);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
            neg(EINVAL)
        );
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, BAD),
            neg(EFAULT)
        );
        assert_eq!(e.hv.calls, 0);
    }
    let mut e = Env::new(GuestWidth::Bits64);
    let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, u64::MAX);
    assert_eq!(
        e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
        neg(EINVAL)
    );
    let a = atp(&e, DOMID_SELF, XENMAPSPACE_GRANT_TABLE, 1 << 40, 1);
    assert_eq!(
        e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
        neg(EINVAL)
    );
    // Handler refusal propagates.
    e.hv.fail_with = Some(Errno::EBUSY);
    let a = atp(&e, DOMID_SELF, XENMAPSPACE_SHARED_INFO, 0, 5);
    assert_eq!(
        e.op(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, a),
        neg(EBUSY)
    );
}

fn mmap(e: &Env, nr: u32, buf: u64) -> u64 {
    match e.width {
        GuestWidth::Bits64 => e.put(XenMemoryMap64 {
            nr_entries: nr,
            pad: 0,
            buffer: buf,
        }),
        GuestWidth::Bits32 => e.put(XenMemoryMap32 {
            nr_entries: nr,
            buffer: buf as u32,
        }),
    }
}

#[test]
fn memory_map_copies_min_entries() {
    for w in both() {
        let mut e = Env::new(w);
        let a = mmap(&e, 8, BUF);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, a), 0);
        assert_eq!(e.get::<u32>(ARG), 2);
        let e1: E820Entry = e.get(BUF + 20);
        assert_eq!({ e1.addr }, 0xfc00_0000);
        assert_eq!({ e1.kind }, E820_RESERVED);
        // Room for one.
        e.put_at(0xffu8, BUF + 20);
        let a = mmap(&e, 1, BUF);
        assert_eq!(e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, a), 0);
        assert_eq!(e.get::<u32>(ARG), 1);
        assert_eq!(
            e.get::<u8>(BUF + 20),
            0xff,
            "second entry must not be written"
        );
    }
}

#[test]
fn memory_map_bad_buffer() {
    for w in both() {
        let mut e = Env::new(w);
        let a = mmap(&e, 2, BAD);
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, a),
            neg(EFAULT)
        );
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, BAD),
            neg(EFAULT)
        );
    }
}
