// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Shared test harness: guest memory + `RecordingHypervisor` + call helpers.
#![allow(dead_code)]

use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryMmap};
use xen_hypercall::testing::RecordingHypervisor;
use xen_hypercall::{dispatch, GuestWidth, HypercallOutcome, HypercallRegs, HypercallResult};

/// Guest RAM size (1 MiB at GPA 0).
pub const RAM: u64 = 0x10_0000;
/// Address for argument structs.
pub const ARG: u64 = 0x2000;
/// Address for buffers.
pub const BUF: u64 = 0x4000;
/// An address past the end of RAM.
pub const BAD: u64 = 0x4000_0000;

pub struct Env {
    pub mem: GuestMemoryMmap<()>,
    pub hv: RecordingHypervisor,
    pub width: GuestWidth,
    pub cpl: u8,
}

impl Env {
    pub fn new(width: GuestWidth) -> Self {
        Self {
            mem: GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap(),
            hv: RecordingHypervisor::new(1, 2),
            width,
            cpl: 0,
        }
    }

    pub fn regs(&self, nr: u64, args: [u64; 6]) -> HypercallRegs {
        let [a, b, c, d, e, f] = args;
        match self.width {
            GuestWidth::Bits64 => HypercallRegs::from_regs64(self.cpl, nr, a, b, c, d, e, f),
            GuestWidth::Bits32 => HypercallRegs::from_regs32(self.cpl, nr, a, b, c, d, e, f),
        }
    }

    pub fn call(&mut self, nr: u64, args: [u64; 6]) -> HypercallResult {
        let r = self.regs(nr, args);
        dispatch(&r, 0, &self.mem, &mut self.hv)
    }

    /// Call with (cmd, arg) and return the Done value (panics on Block/Shutdown).
    pub fn op(&mut self, nr: u64, cmd: u32, arg: u64) -> i64 {
        match self.call(nr, [cmd.into(), arg, 0, 0, 0, 0]).outcome {
            HypercallOutcome::Done(v) => v,
            o => panic!("unexpected outcome {o:?}"),
        }
    }

    pub fn put<T: ByteValued>(&self, v: T) -> u64 {
        self.mem.write_obj(v, GuestAddress(ARG)).unwrap();
        ARG
    }

    pub fn put_at<T: ByteValued>(&self, v: T, at: u64) {
        self.mem.write_obj(v, GuestAddress(at)).unwrap();
    }

    pub fn get<T: ByteValued>(&self, at: u64) -> T {
        self.mem.read_obj(GuestAddress(at)).unwrap()
    }
}

pub fn both() -> [GuestWidth; 2] {
    [GuestWidth::Bits64, GuestWidth::Bits32]
}

pub fn neg(e: i32) -> i64 {
    -(e as i64)
}
