// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Where a guest may place pages outside its RAM (shared_info, grant frames
//! mapped with `XENMEM_add_to_physmap` at GFNs in holes).

/// Guest page size.
pub const PAGE_SIZE: u64 = 0x1000;
/// Start of the MMIO window below 4 GiB (IOAPIC, HPET, local APIC, a
/// hypervisor's own pages, firmware): no pages are added there.
pub const MMIO_HOLE_START: u64 = 0xFEC0_0000;
/// End of the MMIO window below 4 GiB.
pub const MMIO_HOLE_END: u64 = 1 << 32;
/// Widest guest physical address x86 has.
pub const MAX_PHYS_ADDR_BITS: u8 = 52;

/// The RAM of a memory map as GFN ranges `[first, end)`: the whole pages of its
/// `E820_RAM` entries.
pub fn ram_ranges(map: &[xen_abi::E820Entry]) -> impl Iterator<Item = (u64, u64)> + '_ {
    map.iter()
        .filter(|e| e.kind == xen_abi::E820_RAM)
        .filter_map(|e| {
            let (addr, size) = (e.addr, e.size);
            let first = addr.checked_add(PAGE_SIZE - 1)? / PAGE_SIZE;
            let end = addr.checked_add(size)? / PAGE_SIZE;
            (end > first).then_some((first, end))
        })
}

/// Whether guest frame `gfn` is RAM of the memory map `map`.
pub fn is_ram(map: &[xen_abi::E820Entry], gfn: u64) -> bool {
    ram_ranges(map).any(|(first, end)| (first..end).contains(&gfn))
}

/// Whether a page may be added at `gpa` for a guest whose physical
/// addresses have `phys_bits` bits (CPUID 0x80000008): page aligned, the
/// whole page below `2^phys_bits`, outside the MMIO window below 4 GiB.
/// Guests put grant frames and shared_info in holes anywhere in their
/// physical address space: GRUB in the first e820 hole, Linux above the
/// top of RAM (often above 4 GiB). Overlap with RAM is the VMM's to check.
pub fn hole_page_allowed(gpa: u64, phys_bits: u8) -> bool {
    let limit = 1u64 << phys_bits.min(MAX_PHYS_ADDR_BITS);
    gpa % PAGE_SIZE == 0
        && gpa.checked_add(PAGE_SIZE).is_some_and(|end| end <= limit)
        && !(MMIO_HOLE_START..MMIO_HOLE_END).contains(&gpa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hole_pages_anywhere_below_the_address_width() {
        // GRUB's first e820 hole, Linux's unpopulated memory above 4 GiB.
        assert!(hole_page_allowed(0x9f000, 36));
        assert!(hole_page_allowed(0x1_4000_0000, 36));
        assert!(hole_page_allowed((1 << 48) - PAGE_SIZE, 48));
        assert!(!hole_page_allowed(1 << 48, 48));
        assert!(
            !hole_page_allowed((1 << 36) - PAGE_SIZE + 1, 36),
            "unaligned"
        );
        assert!(!hole_page_allowed(1 << 36, 36));
        assert!(!hole_page_allowed(!(PAGE_SIZE - 1), 52), "overflows");
        assert!(!hole_page_allowed(0xfee0_0000, 48), "local APIC");
        assert!(!hole_page_allowed(MMIO_HOLE_START, 48));
        assert!(hole_page_allowed(MMIO_HOLE_START - PAGE_SIZE, 48));
        assert!(hole_page_allowed(MMIO_HOLE_END, 48));
        // A width beyond 52 bits is treated as 52.
        assert!(!hole_page_allowed(1 << 52, 64));
    }
}
