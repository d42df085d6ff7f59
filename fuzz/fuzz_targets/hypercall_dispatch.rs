// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Fuzz target: arbitrary registers and guest memory into `xen_hypercall::dispatch`.
//!
//! Input layout: byte 0 = flags (bit 0: 32-bit guest, bit 1: CPL 3, bit 2: event pending,
//! bit 3: handler fails), byte 1 = hypercall number (mostly small), bytes 2..50 = six
//! little-endian u64 arguments (each biased into guest RAM when its top byte is even),
//! byte 50 = GVA offset in pages, rest = initial guest memory contents.
//! The dispatcher must never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_hypercall::testing::RecordingHypervisor;
use xen_hypercall::{dispatch, Errno, HypercallRegs};

const RAM: u64 = 0x2_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 51 {
        return;
    }
    let flags = data[0];
    let nr = u64::from(data[1]) % 48;
    let mut args = [0u64; 6];
    for (i, a) in args.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[2 + i * 8..10 + i * 8]);
        let v = u64::from_le_bytes(b);
        // Keep most pointers inside RAM so decoding goes deep; keep the raw value otherwise.
        *a = if b[7] & 1 == 0 { v % (RAM + 0x100) } else { v };
    }
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap();
    let init = &data[51..];
    let n = init.len().min(RAM as usize);
    mem.write_slice(&init[..n], GuestAddress(0)).unwrap();

    let mut hv = RecordingHypervisor::new(1, 2);
    hv.gva_offset = u64::from(data[50] & 3) * 0x1000;
    hv.event_pending = flags & 4 != 0;
    if flags & 8 != 0 {
        hv.fail_with = Some(Errno::EINVAL);
    }
    let cpl = if flags & 2 != 0 { 3 } else { 0 };
    let [a, b, c, d, e, f] = args;
    let regs = if flags & 1 != 0 {
        HypercallRegs::from_regs32(cpl, nr, a, b, c, d, e, f)
    } else {
        HypercallRegs::from_regs64(cpl, nr, a, b, c, d, e, f)
    };
    let r = dispatch(&regs, 0, &mem, &mut hv);
    // The RAX encoding must match the guest width.
    if flags & 1 != 0 {
        assert!(r.rax <= u64::from(u32::MAX));
    }
});
