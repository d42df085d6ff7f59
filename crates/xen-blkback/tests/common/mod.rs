// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A test frontend: guest memory, a grant table and a ring written as blkfront does.

#![allow(dead_code)]

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::GTF_READONLY;
use xen_blkback::*;
use xen_gnttab::{GrantEntryV1, GrantTable, GTF_PERMIT_ACCESS};

/// GFN of grant frame 0.
pub const GT_GFN: u64 = 0x10;
/// First data page's GFN (data page `i` is granted as ref `DATA_REF + i`).
pub const DATA_GFN: u64 = 0x200;
/// Grant ref of data page 0.
pub const DATA_REF: u32 = 100;
/// Data pages.
pub const DATA_PAGES: u32 = 64;

pub struct Front {
    pub mem: GuestMemoryMmap<()>,
    pub gt: GrantTable,
    pub proto: Protocol,
    pub ring_gfns: Vec<u64>,
    pub ring_refs: Vec<u32>,
    pub size: u32,
    pub req_prod: u32,
    pub rsp_cons: u32,
}

impl Front {
    /// A frontend with a ring of `pages` pages (not contiguous in guest memory) and
    /// `DATA_PAGES` data pages granted writable to domain 0.
    pub fn new(proto: Protocol, pages: u32) -> Front {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x400000)]).unwrap();
        let mut gt = GrantTable::new(1).unwrap();
        gt.add_to_physmap(0, GT_GFN).unwrap();
        let mut f = Front {
            mem,
            gt,
            proto,
            ring_gfns: Vec::new(),
            ring_refs: Vec::new(),
            size: proto.ring_entries(u64::from(pages)),
            req_prod: 0,
            rsp_cons: 0,
        };
        for i in 0..pages {
            // Every other page, backwards: the backend must follow the refs.
            let gfn = 0x100 + 2 * u64::from(pages - 1 - i);
            f.grant(10 + i, gfn, 0, false);
            f.ring_gfns.push(gfn);
            f.ring_refs.push(10 + i);
        }
        for i in 0..DATA_PAGES {
            f.grant(DATA_REF + i, DATA_GFN + u64::from(i), 0, false);
        }
        f
    }

    pub fn grant(&self, gref: u32, gfn: u64, domid: u16, readonly: bool) {
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        let e = GrantEntryV1 {
            flags,
            domid,
            frame: gfn as u32,
        };
        self.mem
            .write_slice(
                &e.to_bytes(),
                GuestAddress(GT_GFN * 4096 + u64::from(gref) * 8),
            )
            .unwrap();
    }

    pub fn connect<D: Disk>(&mut self, be: &mut BlkBack<D>) {
        be.connect(&mut self.gt, &self.mem, &self.ring_refs, self.proto)
            .unwrap();
        // Like blkfront: notify on the first response.
        self.set_index(RSP_EVENT, 1);
    }

    fn ring_gpa(&self, off: u64) -> u64 {
        self.ring_gfns[(off / 4096) as usize] * 4096 + off % 4096
    }

    fn ring_write(&self, off: u64, b: &[u8]) {
        for (i, x) in b.iter().enumerate() {
            self.mem
                .write_obj(*x, GuestAddress(self.ring_gpa(off + i as u64)))
                .unwrap();
        }
    }

    fn ring_read(&self, off: u64, b: &mut [u8]) {
        for (i, x) in b.iter_mut().enumerate() {
            *x = self
                .mem
                .read_obj(GuestAddress(self.ring_gpa(off + i as u64)))
                .unwrap();
        }
    }

    pub fn set_index(&self, off: u64, v: u32) {
        self.mem
            .write_obj(v, GuestAddress(self.ring_gfns[0] * 4096 + off))
            .unwrap();
    }

    pub fn index(&self, off: u64) -> u32 {
        self.mem
            .read_obj(GuestAddress(self.ring_gfns[0] * 4096 + off))
            .unwrap()
    }

    fn slot(&self, idx: u32) -> u64 {
        RING_HEADER + u64::from(idx & (self.size - 1)) * self.proto.entry_size()
    }

    /// Queues a request (not yet published).
    pub fn queue(&mut self, req: &Request) {
        self.ring_write(self.slot(self.req_prod), &req.encode(self.proto));
        self.req_prod = self.req_prod.wrapping_add(1);
    }

    pub fn publish(&self) {
        self.set_index(REQ_PROD, self.req_prod);
    }

    /// Responses published since the last call.
    pub fn responses(&mut self) -> Vec<Response> {
        let prod = self.index(RSP_PROD);
        let mut out = Vec::new();
        while self.rsp_cons != prod {
            let mut b = [0u8; Response::SIZE];
            self.ring_read(self.slot(self.rsp_cons), &mut b);
            out.push(Response::decode(&b));
            self.rsp_cons = self.rsp_cons.wrapping_add(1);
        }
        self.set_index(RSP_EVENT, self.rsp_cons.wrapping_add(1));
        out
    }

    pub fn data_gpa(page: u32) -> GuestAddress {
        GuestAddress((DATA_GFN + u64::from(page)) * 4096)
    }
}

/// A read or write of whole pages `pages` at `sector`.
pub fn rw(op: u8, id: u64, sector: u64, pages: &[u32]) -> Request {
    let mut r = Request {
        operation: op,
        nr_segments: pages.len() as u8,
        id,
        sector_number: sector,
        ..Default::default()
    };
    for (i, p) in pages.iter().enumerate() {
        r.seg[i] = Segment {
            gref: DATA_REF + p,
            first_sect: 0,
            last_sect: 7,
        };
    }
    r
}
