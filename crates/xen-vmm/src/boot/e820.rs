// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The guest memory map (e820 style), as Xen gives PVH guests: RAM below
//! 640 KiB (its last page holding the ACPI tables), a hole up to 1 MiB, RAM
//! above, the special pages reserved.

use crate::memory::{layout, HIGH_RAM_START, LOW_RAM_END, PAGE_SIZE, SPECIAL_PAGES};

/// Usable RAM.
pub const E820_RAM: u32 = 1;
/// Reserved.
pub const E820_RESERVED: u32 = 2;
/// ACPI tables (reclaimable once the OS has read them).
pub const E820_ACPI: u32 = 3;

/// One memory map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    /// Start GPA.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// [`E820_RAM`], [`E820_RESERVED`] or [`E820_ACPI`].
    pub kind: u32,
}

/// The map for a guest with `mem_bytes` of RAM (`mem_bytes` >= 4 MiB; a
/// smaller size gives empty entries, never an overflow): RAM below 640 KiB (its
/// last page ACPI), RAM from 1 MiB to the two reserved ring pages at the top of
/// the RAM below 4 GiB and, for more than 3 GiB, the rest from 4 GiB.
pub fn memory_map(mem_bytes: u64) -> Vec<E820Entry> {
    let special = SPECIAL_PAGES * PAGE_SIZE;
    let low_end = crate::memory::low_ram_end(mem_bytes);
    let mut map = vec![
        E820Entry {
            addr: 0,
            size: layout::ACPI,
            kind: E820_RAM,
        },
        E820Entry {
            addr: layout::ACPI,
            size: LOW_RAM_END - layout::ACPI,
            kind: E820_ACPI,
        },
        E820Entry {
            addr: HIGH_RAM_START,
            size: low_end
                .saturating_sub(special)
                .saturating_sub(HIGH_RAM_START),
            kind: E820_RAM,
        },
        E820Entry {
            addr: low_end.saturating_sub(special),
            size: special,
            kind: E820_RESERVED,
        },
    ];
    if let Some((addr, size)) = crate::memory::ram_above_4g(mem_bytes) {
        map.push(E820Entry {
            addr,
            size,
            kind: E820_RAM,
        });
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hole_below_one_mib_acpi_and_special_pages_reserved() {
        let map = memory_map(64 << 20);
        assert_eq!(map[0].addr + map[0].size, layout::ACPI);
        assert_eq!(map[1].kind, E820_ACPI);
        assert_eq!(map[1].addr + map[1].size, 0xA0000);
        assert_eq!(map[2].addr, 0x100000);
        assert_eq!(map[3].kind, E820_RESERVED);
        assert_eq!(map[3].addr + map[3].size, 64 << 20);
        assert_eq!(map[2].addr + map[2].size, map[3].addr);
        assert_eq!(map.len(), 4);
    }

    #[test]
    fn ram_beyond_three_gib_is_a_fifth_entry_above_four_gib() {
        let map = memory_map(5 << 30);
        assert_eq!(map.len(), 5);
        // The rings sit at the top of the RAM below 4 GiB.
        assert_eq!(map[3].kind, E820_RESERVED);
        assert_eq!(map[3].addr + map[3].size, 3 << 30);
        assert_eq!(map[2].addr + map[2].size, map[3].addr);
        assert_eq!(
            (map[4].addr, map[4].size, map[4].kind),
            (1 << 32, 2 << 30, E820_RAM)
        );
    }
}
