// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercall page contents and the hypercall MSR.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::{HYPERCALL_ENTRY_SIZE, HYPERCALL_PAGE_ENTRIES};
use xen_hypercall::*;

#[test]
fn vmcall_page_entries() {
    let p = hypercall_page(HypercallPageKind::Vmcall);
    for nr in 0..HYPERCALL_PAGE_ENTRIES {
        let e = &p[nr * HYPERCALL_ENTRY_SIZE..(nr + 1) * HYPERCALL_ENTRY_SIZE];
        let n = (nr as u32).to_le_bytes();
        assert_eq!(
            &e[..9],
            &[0xb8, n[0], n[1], n[2], n[3], 0x0f, 0x01, 0xc1, 0xc3]
        );
        assert!(e[9..].iter().all(|&b| b == PAGE_FILL_BYTE));
    }
}

#[test]
fn vmmcall_page_entry() {
    let p = hypercall_page(HypercallPageKind::Vmmcall);
    let e = &p[32 * 29..32 * 29 + 9];
    assert_eq!(e, &[0xb8, 29, 0, 0, 0, 0x0f, 0x01, 0xd9, 0xc3]);
}

#[test]
fn port_io_page_entry() {
    let p = hypercall_page(HypercallPageKind::PortIo { port: 0xe9 });
    let e = &p[32 * 32..32 * 33];
    assert_eq!(&e[..8], &[0xb8, 32, 0, 0, 0, 0xe7, 0xe9, 0xc3]);
    assert!(e[8..].iter().all(|&b| b == 0xcc));
    assert_eq!(p.len(), 4096);
}

#[test]
fn msr_value_page_index_rejected() {
    assert_eq!(hypercall_page_gpa(0x5000).unwrap(), GuestAddress(0x5000));
    assert!(matches!(
        hypercall_page_gpa(0x5001),
        Err(Error::InvalidPageIndex(0x5001))
    ));
    assert!(hypercall_page_gpa(0x5fff).is_err());
}

#[test]
fn write_page_into_guest() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
    let gpa = write_hypercall_page(&mem, 0x3000, HypercallPageKind::PortIo { port: 0x80 }).unwrap();
    assert_eq!(gpa, GuestAddress(0x3000));
    let mut b = [0u8; 8];
    mem.read_slice(&mut b, GuestAddress(0x3000 + 32 * 18))
        .unwrap();
    assert_eq!(b, [0xb8, 18, 0, 0, 0, 0xe7, 0x80, 0xc3]);
    // Outside RAM: error, no panic.
    assert!(matches!(
        write_hypercall_page(&mem, 0x10_0000, HypercallPageKind::Vmcall),
        Err(Error::PageWrite(0x10_0000))
    ));
    assert!(write_hypercall_page(&mem, 0x7001, HypercallPageKind::Vmcall).is_err());
}
