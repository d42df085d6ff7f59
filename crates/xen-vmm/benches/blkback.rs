// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Sequential 4 KiB reads through the PV block backend, against the same
//! reads done directly on the image file.
//!
//! The guest is driven from the host side, as xen-platform's `tests/vbd.rs`
//! does: guest memory in a vm-lock `MemoryMap`, hypercalls made through
//! `XenPlatform::on_hypercall` with a 64-bit guest's registers, no KVM. The
//! "guest" sets up grant table v1 (frame 0 over RAM), grants the ring page and
//! one data page to dom0, connects a blkif ring through the xenstore ring
//! (xenbus: ring-ref, event-channel, protocol, state 3) and then issues reads.
//!
//! - `blkback/seq_read_4k`: one iteration = write one `BLKIF_OP_READ` of 8
//!   sectors (4 KiB, one granted segment) at the next offset into the ring,
//!   bump `req_prod`, `EVTCHNOP_send` on the ring's port (the platform runs
//!   the backend on that notification in this configuration: the grant check,
//!   `pread` of the image into the granted page, the response, raising the
//!   frontend's port in shared_info), then read the response and check it is
//!   `BLKIF_RSP_OKAY` for that id. Not included: VM exits, interrupt
//!   injection (there is no vCPU).
//! - `blkback/dd_seq_read_4k`: one iteration = one `pread` of 4 KiB at the
//!   next offset of the same 64 MiB image into a buffer (what
//!   `dd if=IMG of=/dev/null bs=4k` does per block).
//!
//! Both walk the image sequentially and wrap at its end; after the first
//! pass it is in the page cache for both.

use std::mem::{offset_of, size_of};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use vm_lock::{MemoryMap, Root};
use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::*;
use xen_blkback::{
    Protocol, Request, Response, Segment, BLKIF_OP_READ, BLKIF_RSP_OKAY, RING_HEADER,
};
use xen_hypercall::HypercallRegs;
use xen_platform::{
    DiskConfig, HypercallExit, NoVcpuAccess, PlatformConfig, Retry, XenHost, XenPlatform,
};

const MEM: u64 = 16 << 20;
const ARGS: u64 = 0x1000;
const SHINFO_GFN: u64 = 0x100;
const STORE: u64 = MEM - 0x2000;
const GT: u64 = 0x40_0000;
const RING: u64 = 0x41_0000;
const DATA: u64 = 0x42_0000;
const DEV: &str = "device/vbd/51712";
const BACKEND: &str = "/local/domain/0/backend/vbd/1/51712";
const IMAGE_BYTES: u64 = 64 << 20;
const BLOCK: u64 = 4096;
const RING_SLOTS: u32 = 32;
const REQ_SIZE: u64 = 112;

/// The host: nothing to do (no timers, upcalls are seen in shared_info).
struct Host;
impl XenHost for Host {}

struct Guest {
    platform: XenPlatform,
    root: Root,
    store_port: u32,
    xs_prod: u32,
    xs_cons: u32,
    port: u32,
    req_prod: u32,
    rsp_cons: u32,
}

fn regs(nr: u64, a0: u64, a1: u64) -> HypercallRegs {
    HypercallRegs::from_regs64(0, nr, a0, a1, 0, 0, 0, 0)
}

impl Guest {
    fn new(image: PathBuf) -> Guest {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
        let mut config = PlatformConfig::new(1, MEM);
        config.disks = vec![DiskConfig {
            path: image,
            readonly: true,
        }];
        let platform = XenPlatform::new(
            config,
            MemoryMap::new(mem),
            Arc::new(Host),
            Box::new(std::io::sink()),
        )
        .unwrap();
        let mut g = Guest {
            platform,
            root: Root::new().unwrap(),
            store_port: 0,
            xs_prod: 0,
            xs_cons: 0,
            port: 0,
            req_prod: 0,
            rsp_cons: 0,
        };
        g.store_port = g.get_param(HVM_PARAM_STORE_EVTCHN) as u32;
        g.add_to_physmap(XENMAPSPACE_SHARED_INFO, SHINFO_GFN);
        g.add_to_physmap(XENMAPSPACE_GRANT_TABLE, GT >> 12);
        g.grant(1, RING);
        g.grant(2, DATA);
        g.connect();
        g
    }

    fn hc(&mut self, nr: u64, a0: u64, a1: u64) -> i64 {
        match self.platform.on_hypercall(
            self.root.token(),
            0,
            &regs(nr, a0, a1),
            false,
            &mut NoVcpuAccess,
            Retry::No,
        ) {
            HypercallExit::Resume { rax } => rax as i64,
            o => panic!("hypercall {nr}: {o:?}"),
        }
    }

    fn read<T: ByteValued>(&mut self, gpa: u64) -> T {
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.read_obj(GuestAddress(gpa)).unwrap()
    }

    fn write<T: ByteValued>(&mut self, gpa: u64, v: T) {
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.write_obj(v, GuestAddress(gpa)).unwrap();
    }

    fn write_bytes(&mut self, gpa: u64, b: &[u8]) {
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.write_slice(b, GuestAddress(gpa)).unwrap();
    }

    fn read_bytes(&mut self, gpa: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.read_slice(&mut b, GuestAddress(gpa)).unwrap();
        b
    }

    fn get_param(&mut self, index: u32) -> u64 {
        let p = XenHvmParam {
            domid: DOMID_SELF,
            pad: 0,
            index,
            value: 0,
        };
        self.write(ARGS, p);
        let r = self.hc(HYPERVISOR_HVM_OP, u64::from(HVMOP_GET_PARAM), ARGS);
        assert_eq!(r, 0);
        self.read::<XenHvmParam>(ARGS).value
    }

    fn add_to_physmap(&mut self, space: u32, gfn: u64) {
        let a = XenAddToPhysmap64 {
            domid: DOMID_SELF,
            size: 0,
            space,
            idx: 0,
            gpfn: gfn,
        };
        self.write(ARGS, a);
        let r = self.hc(HYPERVISOR_MEMORY_OP, u64::from(XENMEM_ADD_TO_PHYSMAP), ARGS);
        assert_eq!(r, 0, "add_to_physmap({space})");
    }

    fn grant(&mut self, gref: u64, gpa: u64) {
        self.write(GT + gref * 8, GTF_PERMIT_ACCESS);
        self.write(GT + gref * 8 + 2, 0u16);
        self.write(GT + gref * 8 + 4, (gpa >> 12) as u32);
    }

    fn send(&mut self, port: u32) {
        self.write(ARGS, EvtchnSend { port });
        let r = self.hc(HYPERVISOR_EVENT_CHANNEL_OP, u64::from(EVTCHNOP_SEND), ARGS);
        assert_eq!(r, 0, "send({port})");
    }

    /// One xenstore request and its reply (watch events skipped).
    fn xs(&mut self, kind: u32, payload: &[u8]) -> (u32, Vec<u8>) {
        const REQ: u64 = offset_of!(XenstoreDomainInterface, req) as u64;
        const RSP: u64 = offset_of!(XenstoreDomainInterface, rsp) as u64;
        const REQ_PROD: u64 = offset_of!(XenstoreDomainInterface, req_prod) as u64;
        const RSP_PROD: u64 = offset_of!(XenstoreDomainInterface, rsp_prod) as u64;
        const RSP_CONS: u64 = offset_of!(XenstoreDomainInterface, rsp_cons) as u64;
        const HDR: usize = size_of::<XsdSockmsg>();
        let hdr = XsdSockmsg {
            kind,
            req_id: 1,
            tx_id: 0,
            len: payload.len() as u32,
        };
        let mut msg = hdr.as_slice().to_vec();
        msg.extend_from_slice(payload);
        for (i, b) in msg.iter().enumerate() {
            let idx = (self.xs_prod as usize + i) % XENSTORE_RING_SIZE;
            self.write(STORE + REQ + idx as u64, *b);
        }
        self.xs_prod += msg.len() as u32;
        self.write(STORE + REQ_PROD, self.xs_prod);
        self.send(self.store_port);
        loop {
            assert_ne!(self.read::<u32>(STORE + RSP_PROD), self.xs_cons, "no reply");
            let get = |g: &mut Guest, at: u32, n: usize| -> Vec<u8> {
                (0..n)
                    .map(|i| {
                        g.read::<u8>(STORE + RSP + ((at as usize + i) % XENSTORE_RING_SIZE) as u64)
                    })
                    .collect()
            };
            let h = get(self, self.xs_cons, HDR);
            let k = u32::from_le_bytes(h[0..4].try_into().unwrap());
            let len = u32::from_le_bytes(h[12..16].try_into().unwrap());
            let p = get(self, self.xs_cons + HDR as u32, len as usize);
            self.xs_cons += HDR as u32 + len;
            self.write(STORE + RSP_CONS, self.xs_cons);
            if k != XS_WATCH_EVENT {
                return (k, p);
            }
        }
    }

    fn xs_write(&mut self, path: &str, value: &str) {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value.as_bytes());
        assert_eq!(self.xs(XS_WRITE, &p).0, XS_WRITE, "write {path}");
    }

    fn xs_read(&mut self, path: &str) -> String {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        let (k, v) = self.xs(XS_READ, &p);
        assert_eq!(k, XS_READ, "read {path}");
        String::from_utf8(v).unwrap()
    }

    /// blkfront's connection: an unbound port for dom0, the ring's nodes, state 3.
    fn connect(&mut self) {
        let a = EvtchnAllocUnbound {
            dom: DOMID_SELF,
            remote_dom: 0,
            port: 0,
        };
        self.write(ARGS, a);
        let r = self.hc(
            HYPERVISOR_EVENT_CHANNEL_OP,
            u64::from(EVTCHNOP_ALLOC_UNBOUND),
            ARGS,
        );
        assert_eq!(r, 0);
        self.port = self.read::<EvtchnAllocUnbound>(ARGS).port;
        self.xs_write(&format!("{DEV}/ring-ref"), "1");
        self.xs_write(&format!("{DEV}/event-channel"), &self.port.to_string());
        self.xs_write(&format!("{DEV}/protocol"), "x86_64-abi");
        self.xs_write(&format!("{DEV}/state"), "3");
        assert_eq!(self.xs_read(&format!("{BACKEND}/state")), "4", "connected");
    }

    /// One 4 KiB read of block `block` into the data page, served.
    fn read_block(&mut self, block: u64) {
        let mut r = Request {
            operation: BLKIF_OP_READ,
            nr_segments: 1,
            id: block,
            sector_number: block * (BLOCK / 512),
            ..Default::default()
        };
        r.seg[0] = Segment {
            gref: 2,
            first_sect: 0,
            last_sect: 7,
        };
        let slot = RING_HEADER + u64::from(self.req_prod % RING_SLOTS) * REQ_SIZE;
        self.write_bytes(RING + slot, &r.encode(Protocol::X86_64));
        self.req_prod = self.req_prod.wrapping_add(1);
        self.write(RING, self.req_prod);
        self.send(self.port);
        // rsp_prod is the ring header's third word.
        assert_eq!(self.read::<u32>(RING + 8), self.req_prod, "not served");
        let slot = RING_HEADER + u64::from(self.rsp_cons % RING_SLOTS) * REQ_SIZE;
        let b = self.read_bytes(RING + slot, Response::SIZE);
        let rsp = Response::decode(&b.try_into().unwrap());
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        assert_eq!((rsp.id, rsp.status), (block, BLKIF_RSP_OKAY));
    }
}

fn image() -> PathBuf {
    let p = std::env::temp_dir().join(format!("xen-vmm-bench-blkback-{}.img", std::process::id()));
    let f = std::fs::File::create(&p).unwrap();
    // Distinct data per block (not a sparse file).
    let mut block = vec![0u8; BLOCK as usize];
    for i in 0..IMAGE_BYTES / BLOCK {
        block[..8].copy_from_slice(&i.to_le_bytes());
        f.write_all_at(&block, i * BLOCK).unwrap();
    }
    p
}

fn bench(c: &mut Criterion) {
    let img = image();
    let blocks = IMAGE_BYTES / BLOCK;
    let mut g = Guest::new(img.clone());
    // Check the data once: block 5 lands in the granted page.
    g.read_block(5);
    assert_eq!(g.read::<u64>(DATA), 5);
    let mut next = 0u64;
    c.bench_function("blkback/seq_read_4k", |b| {
        b.iter(|| {
            g.read_block(next);
            next = (next + 1) % blocks;
        })
    });
    let file = std::fs::File::open(&img).unwrap();
    let mut buf = vec![0u8; BLOCK as usize];
    let mut next = 0u64;
    c.bench_function("blkback/dd_seq_read_4k", |b| {
        b.iter(|| {
            let n = file.read_at(&mut buf, next * BLOCK).unwrap();
            assert_eq!(n, BLOCK as usize);
            next = (next + 1) % blocks;
        })
    });
    drop(g);
    let _ = std::fs::remove_file(img);
}

criterion_group!(benches, bench);
criterion_main!(benches);
