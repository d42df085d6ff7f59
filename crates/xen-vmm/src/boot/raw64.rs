// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Raw images: a flat binary loaded at 1 MiB and entered in 64-bit long mode
//! (identity map of the first 4 GiB with 2 MiB pages) or 32-bit flat
//! protected mode. Also writes the GDT used by both.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::{BootEntry, EntryMode};
use crate::error::{Error, Result};
use crate::memory::layout;

/// TSS location (zeroed, 0x68 bytes).
pub const TSS: u64 = 0x1800;

/// GDT: null, 64-bit code, data, 32-bit code, 64-bit TSS (two slots).
pub const GDT_ENTRIES: [u64; 6] = [
    0,
    0x00af_9b00_0000_ffff,
    0x00cf_9300_0000_ffff,
    0x00cf_9b00_0000_ffff,
    // Available TSS at `TSS`, limit 0x67 (base fits in 16 bits).
    0x0000_8900_0000_0067 | (TSS << 16),
    0,
];

/// Writes the GDT and the 4 GiB identity map (PML4, PDPT, 4 PDs).
pub fn write_tables(mem: &GuestMemoryMmap) -> Result<()> {
    let err = |e| Error::Memory(format!("writing boot tables: {e}"));
    for (i, e) in GDT_ENTRIES.iter().enumerate() {
        mem.write_obj(*e, GuestAddress(layout::GDT + i as u64 * 8))
            .map_err(err)?;
    }
    let pml4 = layout::PML4;
    let pdpt = pml4 + 0x1000;
    mem.write_obj(pdpt | 0x3, GuestAddress(pml4)).map_err(err)?;
    for g in 0..4u64 {
        let pd = pdpt + 0x1000 * (g + 1);
        mem.write_obj(pd | 0x3, GuestAddress(pdpt + g * 8))
            .map_err(err)?;
        for i in 0..512u64 {
            let page = ((g << 30) | (i << 21)) | 0x83;
            mem.write_obj(page, GuestAddress(pd + i * 8)).map_err(err)?;
        }
    }
    Ok(())
}

/// Loads a raw image at [`layout::RAW_LOAD`] and returns its entry.
pub fn load_raw(
    mem: &GuestMemoryMmap,
    image: &[u8],
    mode: EntryMode,
    mem_bytes: u64,
    start_info: u64,
) -> Result<BootEntry> {
    let limit = crate::memory::store_page(mem_bytes);
    if layout::RAW_LOAD + image.len() as u64 > limit {
        return Err(Error::Config(format!(
            "image of {} bytes does not fit in {} MiB of guest memory",
            image.len(),
            mem_bytes >> 20
        )));
    }
    mem.write_slice(image, GuestAddress(layout::RAW_LOAD))
        .map_err(|e| Error::Memory(format!("loading image: {e}")))?;
    Ok(BootEntry {
        entry: layout::RAW_LOAD,
        mode,
        rbx: start_info,
        rsp: layout::RAW_STACK,
        image_end: layout::RAW_LOAD + image.len() as u64,
    })
}
