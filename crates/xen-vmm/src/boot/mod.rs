// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Loading a guest and its initial register state: PVH ELF kernels, raw
//! 32-bit (flat protected mode, PVH-like) and raw 64-bit (long mode) images.

pub mod acpi;
pub mod e820;
pub mod pvh;
pub mod raw64;

use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};

/// The CPU mode the boot vCPU starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryMode {
    /// 32-bit flat protected mode, paging off, `ebx` = hvm_start_info (PVH ABI).
    Protected32,
    /// 64-bit long mode with the identity map of the first 4 GiB built by [`raw64`].
    Long64,
}

/// Where and how the boot vCPU starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootEntry {
    /// Entry point (guest physical = virtual).
    pub entry: u64,
    /// The mode.
    pub mode: EntryMode,
    /// Value of `rbx` (the hvm_start_info GPA for PVH).
    pub rbx: u64,
    /// Initial stack pointer.
    pub rsp: u64,
    /// End of the loaded image (one past its last byte, bss included): an
    /// initrd goes above it.
    pub image_end: u64,
}

/// GDT selectors set up for raw boots.
pub mod selectors {
    /// 64-bit code.
    pub const CODE64: u16 = 0x08;
    /// Flat data.
    pub const DATA: u16 = 0x10;
    /// 32-bit flat code.
    pub const CODE32: u16 = 0x18;
    /// The TSS (needed by VMX for a valid TR).
    pub const TSS: u16 = 0x20;
}

fn segment(selector: u16, type_: u8, l: u8, db: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db,
        s: 1,
        l,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Fills `sregs` for `mode` (keeping KVM's defaults for what we do not set).
pub fn setup_sregs(sregs: &mut kvm_sregs, mode: EntryMode) {
    let data = segment(selectors::DATA, 0x3, 0, 1);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = kvm_segment {
        base: raw64::TSS,
        limit: 0x67,
        selector: selectors::TSS,
        type_: 0xb,
        present: 1,
        s: 0,
        ..Default::default()
    };
    sregs.ldt = kvm_segment {
        unusable: 1,
        type_: 0x2,
        present: 1,
        ..Default::default()
    };
    sregs.gdt.base = crate::memory::layout::GDT;
    sregs.gdt.limit = (raw64::GDT_ENTRIES.len() * 8 - 1) as u16;
    match mode {
        EntryMode::Protected32 => {
            sregs.cs = segment(selectors::CODE32, 0xb, 0, 1);
            sregs.cr0 = 0x11; // PE | ET
            sregs.cr4 = 0;
            sregs.efer = 0;
        }
        EntryMode::Long64 => {
            sregs.cs = segment(selectors::CODE64, 0xb, 1, 0);
            sregs.cr0 = 0x8000_0033; // PG | NE | ET | MP | PE
            sregs.cr3 = crate::memory::layout::PML4;
            sregs.cr4 = 0x20; // PAE
            sregs.efer = 0x500; // LME | LMA
        }
    }
}

/// Initial general registers for `entry`.
pub fn initial_regs(entry: &BootEntry) -> kvm_regs {
    kvm_regs {
        rip: entry.entry,
        rbx: entry.rbx,
        rsp: entry.rsp,
        rflags: 0x2,
        ..Default::default()
    }
}
