// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! PV block devices as a blkif frontend drives them: the xenbus negotiation through the
//! store (nodes written by the platform, the frontend's ring-ref / event-channel /
//! protocol / state), requests served when the guest signals the channel, hostile
//! frontend nodes, closing and reopening, and a snapshot with the ring connected.

mod common;

use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};

use common::*;
use vm_memory::ByteValued;
use xen_abi::*;
use xen_blkback::{
    Protocol, Request, Response, Segment, BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_RSP_ERROR,
    BLKIF_RSP_OKAY, RING_HEADER,
};
use xen_platform::{DiskConfig, HypercallExit, PlatformConfig, Retry};

const VEC: u8 = 0xf3;
const STORE: u64 = MEM - 0x2000;
const REQ: u64 = offset_of!(XenstoreDomainInterface, req) as u64;
const RSP: u64 = offset_of!(XenstoreDomainInterface, rsp) as u64;
const REQ_PROD: u64 = offset_of!(XenstoreDomainInterface, req_prod) as u64;
const RSP_PROD: u64 = offset_of!(XenstoreDomainInterface, rsp_prod) as u64;
const RSP_CONS: u64 = offset_of!(XenstoreDomainInterface, rsp_cons) as u64;
const HDR: usize = size_of::<XsdSockmsg>();
/// Grant frame 0, the ring page and two data pages (RAM).
const GT: u64 = 0x40_0000;
const RING: u64 = 0x41_0000;
const DATA: u64 = 0x42_0000;
const DEV: &str = "device/vbd/51712";
const BACKEND: &str = "/local/domain/0/backend/vbd/1/51712";

fn image(name: &str, sectors: usize) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "xen-platform-vbd-{}-{name}.img",
        std::process::id()
    ));
    let data: Vec<u8> = (0..sectors * 512).map(|i| (i / 512) as u8).collect();
    std::fs::write(&p, data).unwrap();
    p
}

struct Front {
    vm: Vm,
    store_port: u32,
    xs_prod: u32,
    xs_cons: u32,
    port: u32,
    req_prod: u32,
}

fn config(path: &Path, readonly: bool) -> PlatformConfig {
    let mut c = PlatformConfig::new(1, MEM);
    c.disks = vec![DiskConfig {
        path: path.to_path_buf(),
        readonly,
    }];
    c
}

impl Front {
    fn new(path: &Path, readonly: bool) -> Front {
        let mut vm = Vm::with_config(config(path, readonly));
        let store_port = vm.get_param(HVM_PARAM_STORE_EVTCHN) as u32;
        vm.map_shared_info(SHINFO_GFN);
        vm.callback_vector(VEC);
        // Grant frame 0 over RAM.
        let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 0, GT >> 12);
        match vm.call(0, &r) {
            HypercallExit::Resume { rax } => assert_eq!(rax, 0),
            HypercallExit::MapPage { gpa } => {
                vm.add_page(gpa);
                assert!(matches!(
                    vm.call_retry(0, &r, Retry::PageAdded),
                    HypercallExit::Resume { rax: 0 }
                ));
            }
            o => panic!("{o:?}"),
        }
        let mut f = Front {
            vm,
            store_port,
            xs_prod: 0,
            xs_cons: 0,
            port: 0,
            req_prod: 0,
        };
        f.grant(1, RING, false);
        f.grant(2, DATA, false);
        f.grant(3, DATA + 0x1000, true);
        f.grant(4, DATA, false);
        f
    }

    fn grant(&mut self, gref: u32, gpa: u64, readonly: bool) {
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        self.vm.write(GT + u64::from(gref) * 8, flags);
        self.vm.write(GT + u64::from(gref) * 8 + 2, 0u16);
        self.vm
            .write(GT + u64::from(gref) * 8 + 4, (gpa >> 12) as u32);
    }

    /// One xenstore request, sent and answered; the reply's payload.
    fn xs(&mut self, kind: u32, payload: &[u8]) -> (u32, Vec<u8>) {
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
            self.vm.write(STORE + REQ + idx as u64, *b);
        }
        self.xs_prod += msg.len() as u32;
        self.vm.write(STORE + REQ_PROD, self.xs_prod);
        assert_eq!(self.vm.send(0, self.store_port), 0);
        // The reply, skipping watch events.
        loop {
            assert!(
                self.vm.read::<u32>(STORE + RSP_PROD) != self.xs_cons,
                "no reply"
            );
            let get = |vm: &mut Vm, at: u32, n: usize| -> Vec<u8> {
                (0..n)
                    .map(|i| {
                        vm.read::<u8>(STORE + RSP + ((at as usize + i) % XENSTORE_RING_SIZE) as u64)
                    })
                    .collect()
            };
            let h = get(&mut self.vm, self.xs_cons, HDR);
            let k = u32::from_le_bytes(h[0..4].try_into().unwrap());
            let len = u32::from_le_bytes(h[12..16].try_into().unwrap());
            let p = get(&mut self.vm, self.xs_cons + HDR as u32, len as usize);
            self.xs_cons += HDR as u32 + len;
            self.vm.write(STORE + RSP_CONS, self.xs_cons);
            if k != XS_WATCH_EVENT {
                return (k, p);
            }
        }
    }

    fn write(&mut self, path: &str, value: &str) {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value.as_bytes());
        assert_eq!(self.xs(XS_WRITE, &p).0, XS_WRITE, "write {path}");
    }

    fn read(&mut self, path: &str) -> Option<String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        match self.xs(XS_READ, &p) {
            (XS_READ, v) => Some(String::from_utf8(v).unwrap()),
            _ => None,
        }
    }

    fn backend_state(&mut self) -> String {
        self.read(&format!("{BACKEND}/state")).unwrap()
    }

    /// What blkfront does to connect: an unbound port for domain 0, the ring's nodes,
    /// state Initialised.
    fn connect(&mut self, ring_ref: &str, protocol: &str) {
        self.vm.write(
            ARGS,
            EvtchnAllocUnbound {
                dom: DOMID_SELF,
                remote_dom: 0,
                port: 0,
            },
        );
        let alloc = u64::from(EVTCHNOP_ALLOC_UNBOUND);
        assert_eq!(
            self.vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[alloc, ARGS]),
            0
        );
        self.port = self.vm.read::<EvtchnAllocUnbound>(ARGS).port;
        self.write(&format!("{DEV}/ring-ref"), ring_ref);
        self.write(&format!("{DEV}/event-channel"), &self.port.to_string());
        self.write(&format!("{DEV}/protocol"), protocol);
        self.write(&format!("{DEV}/state"), "3");
    }

    fn request(&mut self, r: &Request) {
        let slot = RING_HEADER + u64::from(self.req_prod % 32) * 112;
        self.vm
            .write_bytes(RING + slot, &r.encode(Protocol::X86_64));
        self.req_prod += 1;
        self.vm.write(RING, self.req_prod);
    }

    fn response(&mut self, idx: u32) -> Response {
        let slot = RING_HEADER + u64::from(idx % 32) * 112;
        let b = self.vm.read_bytes(RING + slot, Response::SIZE);
        Response::decode(&b.try_into().unwrap())
    }
}

fn read_req(id: u64, sector: u64, gref: u32) -> Request {
    let mut r = Request {
        operation: BLKIF_OP_READ,
        nr_segments: 1,
        id,
        sector_number: sector,
        ..Default::default()
    };
    r.seg[0] = Segment {
        gref,
        first_sect: 0,
        last_sect: 7,
    };
    r
}

#[test]
fn xenbus_nodes_are_published() {
    let img = image("nodes", 64);
    let mut f = Front::new(&img, true);
    assert_eq!(f.read(&format!("{DEV}/backend")).unwrap(), BACKEND);
    assert_eq!(f.read(&format!("{DEV}/backend-id")).unwrap(), "0");
    assert_eq!(f.read(&format!("{DEV}/state")).unwrap(), "1");
    assert_eq!(f.read(&format!("{BACKEND}/sectors")).unwrap(), "64");
    assert_eq!(f.read(&format!("{BACKEND}/sector-size")).unwrap(), "512");
    assert_eq!(f.read(&format!("{BACKEND}/info")).unwrap(), "4");
    assert_eq!(
        f.read(&format!("{BACKEND}/feature-flush-cache")).unwrap(),
        "1"
    );
    assert_eq!(f.read(&format!("{BACKEND}/feature-barrier")).unwrap(), "1");
    assert_eq!(
        f.read(&format!("{BACKEND}/max-ring-page-order")).unwrap(),
        "4"
    );
    assert_eq!(f.backend_state(), "2");
    std::fs::remove_file(img).unwrap();
}

#[test]
fn connect_serve_close_and_reconnect() {
    let img = image("serve", 64);
    let mut f = Front::new(&img, false);
    f.connect("1", "x86_64-abi");
    assert_eq!(f.backend_state(), "4");
    let (_, st) = f.vm.status(f.port);
    assert_eq!((st.status, st.u[0]), (EVTCHNSTAT_INTERDOMAIN, 0));
    f.vm.write(RING + 12, 1u32); // rsp_event
    let _ = f.vm.port_pending(f.port);
    // Read sector 8..16 (bytes 8..16 each) into the data page; write it back at 32.
    f.request(&read_req(11, 8, 2));
    assert_eq!(f.vm.read::<u32>(RING + 8), 0, "nothing before the send");
    assert_eq!(f.vm.send(0, f.port), 0);
    assert_eq!(f.vm.read::<u32>(RING + 8), 1);
    assert_eq!(
        f.response(0),
        Response {
            id: 11,
            operation: BLKIF_OP_READ,
            status: BLKIF_RSP_OKAY
        }
    );
    assert!(f.vm.port_pending(f.port), "the frontend is notified");
    assert_eq!(f.vm.read::<u8>(DATA + 512 * 3), 11);
    let mut w = read_req(12, 32, 4);
    w.operation = BLKIF_OP_WRITE;
    f.request(&w);
    // A read-only grant as a read's buffer: an error with its id.
    f.request(&read_req(13, 0, 3));
    assert_eq!(f.vm.send(0, f.port), 0);
    assert_eq!(f.response(1).status, BLKIF_RSP_OKAY);
    assert_eq!(
        (f.response(2).id, f.response(2).status),
        (13, BLKIF_RSP_ERROR)
    );
    let disk = std::fs::read(&img).unwrap();
    assert_eq!(disk[32 * 512 + 5], 8);
    assert_eq!(disk[39 * 512], 15);

    // The frontend closes: the backend follows to Closed, the ring is unmapped.
    f.write(&format!("{DEV}/state"), "6");
    assert_eq!(f.backend_state(), "6");
    let (_, st) = f.vm.status(f.port);
    assert_ne!(st.status, EVTCHNSTAT_INTERDOMAIN, "backend end closed");
    assert_eq!(f.vm.read::<u16>(GT + 8) & GTF_WRITING, 0);
    // A new frontend: InitWait, then connected again.
    f.write(&format!("{DEV}/state"), "1");
    assert_eq!(f.backend_state(), "2");
    f.req_prod = 0;
    f.vm.write_bytes(RING, &[0; 16]);
    f.connect("1", "");
    assert_eq!(f.backend_state(), "4");
    f.request(&read_req(21, 0, 2));
    assert_eq!(f.vm.send(0, f.port), 0);
    assert_eq!(f.response(0).id, 21);
    std::fs::remove_file(img).unwrap();
}

#[test]
fn hostile_frontend_nodes_close_the_device() {
    let img = image("hostile", 64);
    for (ring_ref, protocol) in [
        ("99", "x86_64-abi"),   // not granted
        ("3", "x86_64-abi"),    // read-only grant
        ("junk", "x86_64-abi"), // not a number
        ("1", "sparc-abi"),     // unknown ABI
    ] {
        let mut f = Front::new(&img, false);
        f.connect(ring_ref, protocol);
        assert_eq!(f.backend_state(), "5", "{ring_ref} {protocol}");
        let (_, st) = f.vm.status(f.port);
        assert_eq!(st.status, EVTCHNSTAT_UNBOUND, "no channel bound");
        assert_eq!(f.vm.read::<u16>(GT + 8) & (GTF_READING | GTF_WRITING), 0);
    }
    // A ring order above the limit.
    let mut f = Front::new(&img, false);
    f.write(&format!("{DEV}/ring-page-order"), "9");
    f.connect("1", "x86_64-abi");
    assert_eq!(f.backend_state(), "5");
    std::fs::remove_file(img).unwrap();
}

#[test]
fn connected_ring_survives_save_and_restore() {
    let img = image("snap", 64);
    let mut f = Front::new(&img, true);
    f.connect("1", "x86_64-abi");
    f.request(&read_req(1, 0, 2));
    assert_eq!(f.vm.send(0, f.port), 0);
    assert_eq!(f.response(0).status, BLKIF_RSP_OKAY);
    let st = f.vm.state();
    assert_eq!(st.vbds.len(), 1);
    assert_eq!(st.vbds[0].ring.as_ref().unwrap().req_cons, 1);
    let Front {
        vm,
        store_port,
        xs_prod,
        xs_cons,
        port,
        req_prod,
    } = f;
    let vm = vm.save_restore(config(&img, true), |_| {}).unwrap();
    let mut f = Front {
        vm,
        store_port,
        xs_prod,
        xs_cons,
        port,
        req_prod,
    };
    f.request(&read_req(2, 16, 2));
    assert_eq!(f.vm.send(0, f.port), 0);
    assert_eq!(
        (f.response(1).id, f.response(1).status),
        (2, BLKIF_RSP_OKAY)
    );
    assert_eq!(f.vm.read::<u8>(DATA), 16);
    // Without the disk configured, the state does not restore.
    let st = f.vm.state();
    assert!(st.vbds[0].ring.is_some());
    let e = f.vm.save_restore(PlatformConfig::new(1, MEM), |_| {});
    assert!(e.is_err());
    std::fs::remove_file(img).unwrap();
}
