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
/// smaller size gives empty entries, never an overflow).
pub fn memory_map(mem_bytes: u64) -> Vec<E820Entry> {
    let special = SPECIAL_PAGES * PAGE_SIZE;
    vec![
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
            size: mem_bytes
                .saturating_sub(special)
                .saturating_sub(HIGH_RAM_START),
            kind: E820_RAM,
        },
        E820Entry {
            addr: mem_bytes.saturating_sub(special),
            size: special,
            kind: E820_RESERVED,
        },
    ]
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
    }
}
