// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benchmarks: one hypercall through [`XenPlatform::on_hypercall`] (decode,
//! dispatch, Xen semantics, result), without a VM: `xen_version`, an
//! event-channel IPI send into a mapped shared_info, and `SCHEDOP_yield`
//! (which runs the PV console and xenstore backends). `evtchn_send_ipi_paged`
//! is the send with its argument at a guest-virtual address behind 4-level
//! page tables, as a 64-bit guest with paging passes it.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use vm_lock::{MemoryMap, Root};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::*;
use xen_hypercall::HypercallRegs;
use xen_platform::paging::PagingRegs;
use xen_platform::{
    HypercallExit, NoVcpuAccess, PlatformConfig, Retry, VcpuAccess, XenHost, XenPlatform,
};

struct Host;
impl XenHost for Host {}

const MEM: u64 = 16 << 20;
const ARGS: u64 = 0x2000;
const SHINFO_GFN: u64 = 0x10;
/// Page tables for the paged send: PML4, PDPT, PD, PT.
const TABLES: [u64; 4] = [0x8000, 0x9000, 0xa000, 0xb000];
/// Where the paged send's argument is: PML4 slot 1, then slot 0 at each level
/// down to the PT, whose slot 2 maps the page at `ARGS`.
const ARG_GVA: u64 = (1 << 39) | (2 << 12) | 0x100;

/// A 64-bit vCPU with paging on and `TABLES[0]` in CR3.
struct Paged;
impl VcpuAccess for Paged {
    fn paging(&mut self) -> Option<PagingRegs> {
        Some(PagingRegs {
            cr0: (1 << 31) | 1,
            cr3: TABLES[0],
            cr4: 1 << 5,
            efer: (1 << 10) | (1 << 8),
            page_1g: false,
        })
    }
}

fn call(p: &XenPlatform, root: &mut Root, nr: u64, a0: u64, a1: u64) -> u64 {
    call_as(p, root, &mut NoVcpuAccess, nr, a0, a1)
}

/// A hypercall from a vCPU seen through `access` (paging on if it has paging
/// registers).
fn call_as(
    p: &XenPlatform,
    root: &mut Root,
    access: &mut dyn VcpuAccess,
    nr: u64,
    a0: u64,
    a1: u64,
) -> u64 {
    let regs = HypercallRegs::from_regs64(0, nr, a0, a1, 0, 0, 0, 0);
    let paging = access.paging().is_some();
    match p.on_hypercall(root.token(), 0, &regs, paging, access, Retry::No) {
        HypercallExit::Resume { rax } => rax,
        other => panic!("{other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
    let p = XenPlatform::new(
        PlatformConfig::new(1, MEM),
        MemoryMap::new(mem.clone()),
        Arc::new(Host),
        Box::new(std::io::sink()),
    )
    .unwrap();
    let mut root = Root::new().unwrap();
    // XENMEM_add_to_physmap(shared_info) at a RAM frame.
    let map = XenAddToPhysmap64 {
        domid: DOMID_SELF,
        size: 0,
        space: XENMAPSPACE_SHARED_INFO,
        idx: 0,
        gpfn: SHINFO_GFN,
    };
    mem.write_obj(map, GuestAddress(ARGS)).unwrap();
    let r = call(
        &p,
        &mut root,
        HYPERVISOR_MEMORY_OP,
        XENMEM_ADD_TO_PHYSMAP.into(),
        ARGS,
    );
    assert_eq!(r, 0);
    // EVTCHNOP_bind_ipi to vCPU 0.
    mem.write_obj(0u32, GuestAddress(ARGS)).unwrap();
    let r = call(
        &p,
        &mut root,
        HYPERVISOR_EVENT_CHANNEL_OP,
        EVTCHNOP_BIND_IPI.into(),
        ARGS,
    );
    assert_eq!(r, 0);
    let port: u32 = mem.read_obj(GuestAddress(ARGS + 4)).unwrap();
    mem.write_obj(port, GuestAddress(ARGS + 0x100)).unwrap();

    // 4-level tables mapping ARG_GVA's page to ARGS.
    for (level, slot) in [(0, 1u64), (1, 0), (2, 0)] {
        mem.write_obj(
            TABLES[level + 1] | 3,
            GuestAddress(TABLES[level] + slot * 8),
        )
        .unwrap();
    }
    mem.write_obj(ARGS | 3, GuestAddress(TABLES[3] + 2 * 8))
        .unwrap();
    let send_paged = |root: &mut Root| {
        call_as(
            &p,
            root,
            &mut Paged,
            HYPERVISOR_EVENT_CHANNEL_OP,
            EVTCHNOP_SEND.into(),
            ARG_GVA,
        )
    };
    // Clear the pending bit so that every send delivers anew.
    let clear_pending = || {
        mem.write_obj(0u64, GuestAddress(SHINFO_GFN * 4096 + 2048))
            .unwrap()
    };
    assert_eq!(send_paged(&mut root), 0, "the paged send reaches the port");

    let mut g = c.benchmark_group("on_hypercall");
    g.bench_function("xen_version", |b| {
        b.iter(|| call(&p, &mut root, HYPERVISOR_XEN_VERSION, 0, 0))
    });
    g.bench_function("evtchn_send_ipi", |b| {
        b.iter(|| {
            let r = call(
                &p,
                &mut root,
                HYPERVISOR_EVENT_CHANNEL_OP,
                EVTCHNOP_SEND.into(),
                ARGS + 0x100,
            );
            clear_pending();
            r
        })
    });
    g.bench_function("evtchn_send_ipi_paged", |b| {
        b.iter(|| {
            let r = send_paged(&mut root);
            clear_pending();
            r
        })
    });
    g.bench_function("sched_yield", |b| {
        b.iter(|| call(&p, &mut root, HYPERVISOR_SCHED_OP, SCHEDOP_YIELD.into(), 0))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
