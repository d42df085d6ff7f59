// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercall page contents, for both interception modes, and the hypercall MSR.

use vm_memory::{Bytes, GuestAddress};
use xen_abi::{HYPERCALL_ENTRY_SIZE, HYPERCALL_PAGE_ENTRIES, HYPERCALL_PAGE_SIZE, XEN_PAGE_SIZE};

use crate::error::Error;

/// How the stubs in the hypercall page leave the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HypercallPageKind {
    /// `mov $nr,%eax; vmcall; ret` (Intel; in-kernel Xen support, `KVM_EXIT_XEN`).
    Vmcall,
    /// `mov $nr,%eax; vmmcall; ret` (AMD; in-kernel Xen support).
    Vmmcall,
    /// `mov $nr,%eax; out %eax,$port; ret`: exits to userspace as a 4-byte port write whose
    /// data is the hypercall number (hosts without `KVM_CAP_XEN_HVM`).
    PortIo {
        /// The 8-bit I/O port the stub writes to.
        port: u8,
    },
}

/// Opcode filling the unused bytes of each entry (`int3`).
pub const PAGE_FILL_BYTE: u8 = 0xcc;

/// Machine code of entry `nr` (only the first `len` bytes are meaningful).
fn entry(kind: HypercallPageKind, nr: u32) -> ([u8; 9], usize) {
    let mut code = [PAGE_FILL_BYTE; 9];
    code[0] = 0xb8; // mov imm32, %eax
    code[1..5].copy_from_slice(&nr.to_le_bytes());
    let len = match kind {
        HypercallPageKind::Vmcall => {
            code[5..9].copy_from_slice(&[0x0f, 0x01, 0xc1, 0xc3]); // vmcall; ret
            9
        }
        HypercallPageKind::Vmmcall => {
            code[5..9].copy_from_slice(&[0x0f, 0x01, 0xd9, 0xc3]); // vmmcall; ret
            9
        }
        HypercallPageKind::PortIo { port } => {
            code[5..8].copy_from_slice(&[0xe7, port, 0xc3]); // out %eax,$port; ret
            8
        }
    };
    (code, len)
}

/// Builds the 4 KiB hypercall page: 128 entries of 32 bytes, entry `nr` loads `nr` into EAX,
/// traps according to `kind` and returns; remaining bytes are `int3`.
pub fn hypercall_page(kind: HypercallPageKind) -> [u8; HYPERCALL_PAGE_SIZE] {
    let mut page = [PAGE_FILL_BYTE; HYPERCALL_PAGE_SIZE];
    for (nr, slot) in page.chunks_exact_mut(HYPERCALL_ENTRY_SIZE).enumerate() {
        debug_assert!(nr < HYPERCALL_PAGE_ENTRIES);
        let (code, len) = entry(kind, nr as u32);
        slot[..len].copy_from_slice(&code[..len]);
    }
    page
}

/// Decodes the value the guest wrote to the hypercall MSR into the page GPA.
///
/// The low 12 bits are a page index; only page 0 exists, so anything else is rejected with
/// [`Error::InvalidPageIndex`] (the VMM should then inject #GP or ignore the write).
pub fn hypercall_page_gpa(msr_value: u64) -> Result<GuestAddress, Error> {
    if msr_value & (XEN_PAGE_SIZE - 1) != 0 {
        return Err(Error::InvalidPageIndex(msr_value));
    }
    Ok(GuestAddress(msr_value))
}

/// Handles the guest's hypercall MSR write: validates `msr_value` and writes the page into
/// guest memory. Returns the page GPA.
pub fn write_hypercall_page<M: Bytes<GuestAddress> + ?Sized>(
    mem: &M,
    msr_value: u64,
    kind: HypercallPageKind,
) -> Result<GuestAddress, Error> {
    let gpa = hypercall_page_gpa(msr_value)?;
    let page = hypercall_page(kind);
    mem.write_slice(&page, gpa)
        .map_err(|_| Error::PageWrite(gpa.0))?;
    Ok(gpa)
}
