// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Guest-virtual to guest-physical translation by walking the caller's
//! long-mode page tables in guest memory, for a VMM that hands the platform
//! its paging registers ([`crate::VcpuAccess::paging`]): on KVM, the
//! registers come with the exit (`kvm_run` synced registers) and the walk
//! costs a few guest-memory reads instead of a `KVM_TRANSLATE` ioctl (which
//! loads the vCPU again). Other paging modes (32-bit, PAE) are left to
//! [`crate::VcpuAccess::translate_gva`].
//!
//! As `KVM_TRANSLATE`, the walk ignores access rights (U/S, R/W, NX) and the
//! accessed / dirty bits (it sets none); a table or page outside guest
//! memory, a non-present entry or a large-page bit where the architecture
//! has none (PML4E, PML5E; PDPTE without [`PagingRegs::page_1g`]) ends it
//! with `None`. Unlike KVM's walker it does not fault on reserved bits
//! (above MAXPHYADDR, NX without EFER.NXE): such a pointer reads the guest
//! memory the guest's own tables name, so the guest only fools itself.

use std::sync::atomic::Ordering;

use vm_memory::{Bytes, GuestAddress};

/// Bits 51:12 of a paging-structure entry or of CR3.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const PRESENT: u64 = 1;
const PAGE_SIZE_BIT: u64 = 1 << 7;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_LA57: u64 = 1 << 12;
const EFER_LMA: u64 = 1 << 10;

/// The registers that select the caller's paging mode and tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagingRegs {
    /// CR0 (PG).
    pub cr0: u64,
    /// CR3 (the top-level table).
    pub cr3: u64,
    /// CR4 (PAE, LA57).
    pub cr4: u64,
    /// EFER (LMA).
    pub efer: u64,
    /// 1 GiB pages exist (the guest's CPUID 0x80000001 EDX bit 26); without
    /// them a PDPTE with the page-size bit faults.
    pub page_1g: bool,
}

impl PagingRegs {
    /// Long-mode paging (4 or 5 levels): what [`walk`] translates.
    pub fn long_mode(&self) -> bool {
        self.cr0 & CR0_PG != 0 && self.cr4 & CR4_PAE != 0 && self.efer & EFER_LMA != 0
    }
}

/// Translates `gva` through the long-mode tables of `regs` in `mem`:
/// `Some(Some(gpa))` mapped, `Some(None)` not mapped, `None` not long-mode
/// paging (the caller asks the VMM).
pub fn walk<M: Bytes<GuestAddress> + ?Sized>(
    mem: &M,
    regs: &PagingRegs,
    gva: u64,
) -> Option<Option<u64>> {
    // One aligned 8-byte load per entry (`table` is page aligned): no torn
    // entry, and no byte-copy loop on this per-hypercall path.
    walk_with(
        |gpa| mem.load::<u64>(GuestAddress(gpa), Ordering::Relaxed).ok(),
        regs,
        gva,
    )
}

/// [`walk`] with `read` loading the 8-byte entry at a GPA (`None`: not RAM).
pub(crate) fn walk_with(
    mut read: impl FnMut(u64) -> Option<u64>,
    regs: &PagingRegs,
    gva: u64,
) -> Option<Option<u64>> {
    if !regs.long_mode() {
        return None;
    }
    let levels = if regs.cr4 & CR4_LA57 != 0 { 5 } else { 4 };
    let mut table = regs.cr3 & ADDR_MASK;
    for level in (1..=levels).rev() {
        let shift = 12 + 9 * (level - 1);
        let index = (gva >> shift) & 0x1ff;
        let Some(entry) = read(table + index * 8) else {
            return Some(None);
        };
        if entry & PRESENT == 0 {
            return Some(None);
        }
        let addr = entry & ADDR_MASK;
        if level == 1 {
            return Some(Some(addr | (gva & 0xfff)));
        }
        if entry & PAGE_SIZE_BIT != 0 {
            // 1 GiB (PDPTE) and 2 MiB (PDE) pages; a PML4E / PML5E has no such bit.
            if level > 3 || (level == 3 && !regs.page_1g) {
                return Some(None);
            }
            let mask = (1u64 << shift) - 1;
            return Some(Some((addr & !mask) | (gva & mask)));
        }
        table = addr;
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    const LONG: PagingRegs = PagingRegs {
        cr0: CR0_PG | 1,
        cr3: 0x1000,
        cr4: CR4_PAE,
        efer: EFER_LMA | (1 << 8),
        page_1g: true,
    };

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap()
    }

    /// [`walk`], checked against the platform's own walk ([`walk_with`] over
    /// [`crate::guest::QwordLoader`], what hypercall pointers go through).
    fn walks(m: &GuestMemoryMmap, regs: &PagingRegs, gva: u64) -> Option<Option<u64>> {
        let generic = walk(m, regs, gva);
        let mut loader = crate::guest::QwordLoader::new(m);
        let direct = walk_with(|gpa| loader.load(gpa), regs, gva);
        assert_eq!(generic, direct, "{gva:#x}");
        generic
    }

    fn set(m: &GuestMemoryMmap, table: u64, index: u64, entry: u64) {
        m.write_obj(entry, GuestAddress(table + index * 8)).unwrap();
    }

    #[test]
    fn four_level_pages_of_each_size() {
        let m = mem();
        // PML4[1] -> PDPT 0x2000; PDPT[2] -> PD 0x3000; PD[3] -> PT 0x4000;
        // PT[4] -> 0x12_3000. PDPT[5]: 1 GiB page at 0x4000_0000. PD[6]: 2 MiB
        // page at 0x20_0000.
        set(&m, 0x1000, 1, 0x2000 | 3);
        set(&m, 0x2000, 2, 0x3000 | 3);
        set(&m, 0x3000, 3, 0x4000 | 3);
        set(&m, 0x4000, 4, 0x12_3000 | 3 | (1 << 63));
        set(&m, 0x2000, 5, 0x4000_0000 | 3 | PAGE_SIZE_BIT);
        set(&m, 0x3000, 6, 0x20_0000 | 3 | PAGE_SIZE_BIT);
        let va = |l4: u64, l3: u64, l2: u64, l1: u64, off: u64| {
            (l4 << 39) | (l3 << 30) | (l2 << 21) | (l1 << 12) | off
        };
        assert_eq!(
            walks(&m, &LONG, va(1, 2, 3, 4, 0x567)),
            Some(Some(0x12_3567))
        );
        assert_eq!(
            walks(&m, &LONG, va(1, 5, 7, 8, 0x9ab)),
            Some(Some(0x4000_0000 | (7 << 21) | (8 << 12) | 0x9ab))
        );
        assert_eq!(
            walks(&m, &LONG, va(1, 2, 6, 9, 0x10)),
            Some(Some(0x20_0000 | (9 << 12) | 0x10))
        );
        // Without 1 GiB pages, that PDPTE faults.
        let no_1g = PagingRegs {
            page_1g: false,
            ..LONG
        };
        assert_eq!(walks(&m, &no_1g, va(1, 5, 7, 8, 0)), Some(None));
        assert_eq!(walks(&m, &no_1g, va(1, 2, 3, 4, 0)), Some(Some(0x12_3000)));
        // Not present at each level.
        assert_eq!(walks(&m, &LONG, va(0, 2, 3, 4, 0)), Some(None));
        assert_eq!(walks(&m, &LONG, va(1, 3, 3, 4, 0)), Some(None));
        assert_eq!(walks(&m, &LONG, va(1, 2, 4, 4, 0)), Some(None));
        assert_eq!(walks(&m, &LONG, va(1, 2, 3, 5, 0)), Some(None));
        // The sign-extension bits 63:48 take no part (as KVM's walker).
        assert_eq!(
            walks(&m, &LONG, 0xffff_0000_0000_0000 | va(1, 2, 3, 4, 1)),
            Some(Some(0x12_3001))
        );
    }

    #[test]
    fn hostile_tables_end_the_walk() {
        let m = mem();
        // A large-page bit in a PML4E; a table outside guest memory.
        set(&m, 0x1000, 0, 0x2000 | 3 | PAGE_SIZE_BIT);
        assert_eq!(walks(&m, &LONG, 0), Some(None));
        set(&m, 0x1000, 2, 0xf_0000_0000 | 3);
        assert_eq!(walks(&m, &LONG, 2 << 39), Some(None));
        // CR3 outside guest memory.
        let far = PagingRegs {
            cr3: 0x7_0000_0000,
            ..LONG
        };
        assert_eq!(walks(&m, &far, 0), Some(None));
    }

    #[test]
    fn five_levels_with_la57() {
        let m = mem();
        let regs = PagingRegs {
            cr4: CR4_PAE | CR4_LA57,
            ..LONG
        };
        set(&m, 0x1000, 3, 0x2000 | 3);
        set(&m, 0x2000, 0, 0x3000 | 3);
        set(&m, 0x3000, 0, 0x4000 | 3);
        set(&m, 0x4000, 0, 0x5000 | 3);
        set(&m, 0x5000, 1, 0x7000 | 3);
        assert_eq!(
            walks(&m, &regs, (3 << 48) | (1 << 12) | 5),
            Some(Some(0x7005))
        );
    }

    #[test]
    fn other_modes_are_left_to_the_vmm() {
        let m = mem();
        for regs in [
            PagingRegs::default(),
            PagingRegs { efer: 0, ..LONG },
            PagingRegs { cr4: 0, ..LONG },
            PagingRegs { cr0: 1, ..LONG },
        ] {
            assert_eq!(walks(&m, &regs, 0x1000), None, "{regs:?}");
        }
    }
}
