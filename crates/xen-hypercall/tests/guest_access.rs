// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `GuestAccess` reads through a translation that is not the identity: scalar
//! arguments (read with one load when aligned) and byte ranges (copied) give
//! the same bytes, page by page, and `-EFAULT` for what is not mapped or not RAM.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::GuestWidth;
use xen_hypercall::{AddressTranslate, Errno, GuestAccess};

/// GVA page `n` is GPA page `MAP[n]`; pages past the table are unmapped.
const MAP: [u64; 3] = [5, 2, 7];
/// Guest RAM: pages 0-7; page 7 maps, but is past the end of RAM.
const RAM: usize = 7 * 4096;

struct Remap;

impl AddressTranslate for Remap {
    fn translate_gva(&mut self, _vcpu: u32, gva: u64) -> Option<u64> {
        MAP.get((gva >> 12) as usize).map(|p| p << 12)
    }
}

/// RAM whose byte at GPA `a` is `a * 7 + 3` (mod 256).
fn ram() -> GuestMemoryMmap {
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM)]).unwrap();
    let bytes: Vec<u8> = (0..RAM).map(|a| (a * 7 + 3) as u8).collect();
    mem.write_slice(&bytes, GuestAddress(0)).unwrap();
    mem
}

/// The byte at `gva` as the translation places it.
fn byte_at(gva: u64) -> u8 {
    let gpa = (MAP[(gva >> 12) as usize] << 12) | (gva & 0xfff);
    (gpa * 7 + 3) as u8
}

#[test]
fn scalars_and_ranges_read_the_translated_bytes() {
    let mem = ram();
    let mut x = Remap;
    let mut g = GuestAccess::new(&mem, &mut x, 0, GuestWidth::Bits64);
    let expect =
        |gva: u64, n: usize| -> Vec<u8> { (0..n as u64).map(|i| byte_at(gva + i)).collect() };
    // Aligned and misaligned 4- and 8-byte reads, in a page and across the
    // boundary between two pages the translation does not keep adjacent.
    for gva in [
        0u64, 4, 8, 0x7f8, 0xff8, 0xffc, 0x1001, 0xffd, 0xffe, 0x1ff8,
    ] {
        let v: u32 = g.read_obj(gva).unwrap();
        assert_eq!(v.to_ne_bytes().to_vec(), expect(gva, 4), "u32 at {gva:#x}");
        let v: u64 = g.read_obj(gva).unwrap();
        assert_eq!(v.to_ne_bytes().to_vec(), expect(gva, 8), "u64 at {gva:#x}");
    }
    let v: u32 = g.read_obj(0x1ffc).unwrap();
    assert_eq!(v.to_ne_bytes().to_vec(), expect(0x1ffc, 4));
    let mut buf = [0u8; 20];
    g.read_bytes(0xff6, &mut buf).unwrap();
    assert_eq!(buf.to_vec(), expect(0xff6, 20));
}

#[test]
fn unmapped_or_not_ram_is_efault() {
    let mem = ram();
    let mut x = Remap;
    let mut g = GuestAccess::new(&mem, &mut x, 0, GuestWidth::Bits64);
    // GVA page 2 maps to GPA page 7, past the end of RAM.
    assert_eq!(g.read_obj::<u32>(0x2000), Err(Errno::EFAULT));
    assert_eq!(g.read_obj::<u64>(0x2ff8), Err(Errno::EFAULT));
    // The last bytes of GVA page 1 are RAM, those of the next page are not:
    // a read across the two faults.
    assert!(g.read_obj::<u32>(0x1ffc).is_ok());
    assert_eq!(g.read_obj::<u64>(0x1ffc), Err(Errno::EFAULT));
    assert_eq!(g.read_obj::<u32>(0x1ffe), Err(Errno::EFAULT));
    // GVA page 3 is not mapped; a range ending in it faults as a whole.
    assert_eq!(g.read_obj::<u32>(0x3000), Err(Errno::EFAULT));
    let mut buf = [0u8; 8];
    assert_eq!(g.read_bytes(0x2ffc, &mut buf), Err(Errno::EFAULT));
    // Past the top of the address space.
    assert_eq!(g.read_obj::<u32>(u64::MAX - 1), Err(Errno::EFAULT));
}

#[test]
fn a_32_bit_guest_reads_below_4_gib_only() {
    let mem = ram();
    let mut x = Remap;
    let mut g = GuestAccess::new(&mem, &mut x, 0, GuestWidth::Bits32);
    assert_eq!(g.read_obj::<u32>(0xffff_fffe), Err(Errno::EFAULT));
    assert_eq!(
        g.read_obj::<u32>(4).unwrap().to_ne_bytes(),
        [4, 5, 6, 7].map(byte_at)
    );
}
