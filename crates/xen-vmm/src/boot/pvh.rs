// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! PVH boot: loading an ELF kernel (ELF32 or ELF64, machine i386 or x86-64)
//! at its physical addresses, finding `XEN_ELFNOTE_PHYS32_ENTRY`, and writing
//! `hvm_start_info`, its memory map and the command line.
//!
//! linux-loader's ELF loader only takes ELF64, and Xen PVH images such as
//! GRUB's `i386-xen_pvh` are ELF32, so the (small, bounds-checked) parser is here.

use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info,
};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::{e820, BootEntry, EntryMode};
use crate::error::{Error, Result};
use crate::memory::{layout, HIGH_RAM_START, PAGE_SIZE};

/// `hvm_start_info.magic`.
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;
/// ELF note type carrying the 32-bit PVH entry point.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const EM_386: u16 = 3;
const EM_X86_64: u16 = 62;

/// One loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Offset in the file.
    pub offset: u64,
    /// Physical load address.
    pub paddr: u64,
    /// Bytes in the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zeroed).
    pub memsz: u64,
}

/// What the ELF parser found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    /// PT_LOAD segments.
    pub segments: Vec<Segment>,
    /// The PVH entry point from the Xen note, if any.
    pub pvh_entry: Option<u32>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidKernel(msg.into())
}

fn rd(b: &[u8], off: u64, n: usize) -> Result<u64> {
    let off = usize::try_from(off).map_err(|_| bad("offset out of range"))?;
    let s = b
        .get(off..off.checked_add(n).ok_or_else(|| bad("offset overflow"))?)
        .ok_or_else(|| bad(format!("truncated file (need {n} bytes at {off:#x})")))?;
    let mut v = [0u8; 8];
    v[..n].copy_from_slice(s);
    Ok(u64::from_le_bytes(v))
}

/// Parses an ELF image (all offsets and sizes checked against the file).
pub fn parse_elf(file: &[u8]) -> Result<ElfImage> {
    if file.len() < 52 || file[..4] != *b"\x7fELF" {
        return Err(bad("not an ELF file"));
    }
    let is64 = match file[4] {
        1 => false,
        2 => true,
        c => return Err(bad(format!("unknown ELF class {c}"))),
    };
    if file[5] != 1 {
        return Err(bad("not a little-endian ELF"));
    }
    let machine = rd(file, 18, 2)? as u16;
    if machine != EM_386 && machine != EM_X86_64 {
        return Err(bad(format!("ELF machine {machine} is not x86")));
    }
    let (phoff, phentsize, phnum) = if is64 {
        (rd(file, 32, 8)?, rd(file, 54, 2)?, rd(file, 56, 2)?)
    } else {
        (rd(file, 28, 4)?, rd(file, 42, 2)?, rd(file, 44, 2)?)
    };
    let want = if is64 { 56 } else { 32 };
    if phentsize != want {
        return Err(bad(format!(
            "program header size {phentsize}, expected {want}"
        )));
    }
    let mut img = ElfImage {
        segments: Vec::new(),
        pvh_entry: None,
    };
    for i in 0..phnum {
        let ph = phoff
            .checked_add(i * phentsize)
            .ok_or_else(|| bad("program header offset overflow"))?;
        let p_type = rd(file, ph, 4)? as u32;
        let (offset, paddr, filesz, memsz) = if is64 {
            (
                rd(file, ph + 8, 8)?,
                rd(file, ph + 24, 8)?,
                rd(file, ph + 32, 8)?,
                rd(file, ph + 40, 8)?,
            )
        } else {
            (
                rd(file, ph + 4, 4)?,
                rd(file, ph + 12, 4)?,
                rd(file, ph + 16, 4)?,
                rd(file, ph + 20, 4)?,
            )
        };
        let end = offset
            .checked_add(filesz)
            .ok_or_else(|| bad("segment size overflow"))?;
        if end > file.len() as u64 {
            return Err(bad(format!("segment {i} extends past the end of the file")));
        }
        match p_type {
            PT_LOAD => {
                if filesz > memsz {
                    return Err(bad(format!("segment {i}: file size exceeds memory size")));
                }
                img.segments.push(Segment {
                    offset,
                    paddr,
                    filesz,
                    memsz,
                });
            }
            PT_NOTE => {
                if let Some(e) = find_pvh_note(&file[offset as usize..end as usize])? {
                    img.pvh_entry = Some(e);
                }
            }
            _ => {}
        }
    }
    if img.segments.is_empty() {
        return Err(bad("no loadable segment"));
    }
    Ok(img)
}

fn find_pvh_note(notes: &[u8]) -> Result<Option<u32>> {
    let align4 = |x: u64| x.checked_add(3).map(|v| v & !3);
    let mut off = 0u64;
    while off + 12 <= notes.len() as u64 {
        let namesz = rd(notes, off, 4)?;
        let descsz = rd(notes, off + 4, 4)?;
        let ntype = rd(notes, off + 8, 4)? as u32;
        let name_off = off + 12;
        let desc_off = name_off + align4(namesz).ok_or_else(|| bad("note overflow"))?;
        let next = desc_off + align4(descsz).ok_or_else(|| bad("note overflow"))?;
        if desc_off
            .checked_add(descsz)
            .is_none_or(|e| e > notes.len() as u64)
        {
            return Err(bad("truncated ELF note"));
        }
        let name = &notes[name_off as usize..(name_off + namesz) as usize];
        if ntype == XEN_ELFNOTE_PHYS32_ENTRY && name.starts_with(b"Xen") {
            if descsz != 4 && descsz != 8 {
                return Err(bad("PHYS32_ENTRY note of bad size"));
            }
            return Ok(Some(rd(notes, desc_off, 4)? as u32));
        }
        off = next;
    }
    Ok(None)
}

/// Loads a PVH ELF kernel into `mem`. Its `rbx` is [`layout::START_INFO`],
/// which [`write_start_info`] fills.
pub fn load_pvh(mem: &GuestMemoryMmap, file: &[u8], mem_bytes: u64) -> Result<BootEntry> {
    let img = parse_elf(file)?;
    let entry = img
        .pvh_entry
        .ok_or_else(|| bad("no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel"))?;
    let limit = crate::memory::store_page(mem_bytes);
    let mut image_end = HIGH_RAM_START;
    for s in &img.segments {
        let end = s
            .paddr
            .checked_add(s.memsz)
            .ok_or_else(|| bad("segment address overflow"))?;
        if s.paddr < HIGH_RAM_START || end > limit {
            return Err(Error::Config(format!(
                "kernel segment [{:#x}, {end:#x}) does not fit in guest RAM [1 MiB, {limit:#x}) ({} MiB)",
                s.paddr,
                mem_bytes >> 20
            )));
        }
        image_end = image_end.max(end);
        let data = &file[s.offset as usize..(s.offset + s.filesz) as usize];
        mem.write_slice(data, GuestAddress(s.paddr))
            .map_err(|e| Error::Memory(format!("loading segment: {e}")))?;
        let zeros = vec![0u8; (s.memsz - s.filesz) as usize];
        mem.write_slice(&zeros, GuestAddress(s.paddr + s.filesz))
            .map_err(|e| Error::Memory(format!("zeroing bss: {e}")))?;
    }
    if u64::from(entry) < HIGH_RAM_START || u64::from(entry) >= limit {
        return Err(bad(format!("PVH entry {entry:#x} outside guest RAM")));
    }
    Ok(BootEntry {
        entry: u64::from(entry),
        mode: EntryMode::Protected32,
        rbx: layout::START_INFO,
        rsp: 0,
        image_end,
    })
}

/// A module handed to the guest in `hvm_start_info`'s module list (an initrd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootModule {
    /// Its GPA (page aligned).
    pub paddr: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// Most modules the list at [`layout::MODLIST`] holds.
pub const MAX_MODULES: usize = ((layout::CMDLINE - layout::MODLIST) / 32) as usize;

/// Loads `data` (an initrd) in guest RAM: page aligned, at the top of RAM
/// below the special pages, above `image_end` (the kernel), all of it inside
/// one `E820_RAM` range.
pub fn load_initrd(
    mem: &GuestMemoryMmap,
    data: &[u8],
    mem_bytes: u64,
    image_end: u64,
) -> Result<BootModule> {
    let size = data.len() as u64;
    if size == 0 {
        return Err(Error::Config("the initrd is empty".into()));
    }
    let top = crate::memory::store_page(mem_bytes);
    let lowest = image_end
        .max(HIGH_RAM_START)
        .checked_add(PAGE_SIZE - 1)
        .map(|e| e & !(PAGE_SIZE - 1))
        .ok_or_else(|| Error::Config("kernel end overflows".into()))?;
    let paddr = top
        .checked_sub(size)
        .map(|a| a & !(PAGE_SIZE - 1))
        .filter(|&a| a >= lowest)
        .ok_or_else(|| {
            Error::Config(format!(
                "initrd of {size} bytes does not fit in guest RAM between the kernel's end \
                 {lowest:#x} and {top:#x} ({} MiB)",
                mem_bytes >> 20
            ))
        })?;
    mem.write_slice(data, GuestAddress(paddr))
        .map_err(|e| Error::Memory(format!("loading the initrd: {e}")))?;
    Ok(BootModule { paddr, size })
}

/// Writes `hvm_start_info` (version 1), the memory map, the command line and
/// the module list (`modules`); `rsdp` is the ACPI RSDP's GPA (0: none).
/// Returns the start_info GPA.
pub fn write_start_info(
    mem: &GuestMemoryMmap,
    cmdline: &str,
    mem_bytes: u64,
    rsdp: u64,
    modules: &[BootModule],
) -> Result<u64> {
    if modules.len() > MAX_MODULES {
        return Err(Error::Config(format!(
            "{} boot modules, at most {MAX_MODULES}",
            modules.len()
        )));
    }
    if cmdline.len() + 1 > layout::CMDLINE_MAX || cmdline.contains('\0') {
        return Err(Error::Config(format!(
            "command line longer than {} bytes or containing NUL",
            layout::CMDLINE_MAX - 1
        )));
    }
    let err = |e| Error::Memory(format!("writing start info: {e}"));
    let mut c = cmdline.as_bytes().to_vec();
    c.push(0);
    mem.write_slice(&c, GuestAddress(layout::CMDLINE))
        .map_err(err)?;
    let map = e820::memory_map(mem_bytes);
    for (i, e) in map.iter().enumerate() {
        let entry = hvm_memmap_table_entry {
            addr: e.addr,
            size: e.size,
            type_: e.kind,
            reserved: 0,
        };
        mem.write_obj(entry, GuestAddress(layout::MEMMAP + 24 * i as u64))
            .map_err(err)?;
    }
    for (i, m) in modules.iter().enumerate() {
        let entry = hvm_modlist_entry {
            paddr: m.paddr,
            size: m.size,
            cmdline_paddr: 0,
            reserved: 0,
        };
        mem.write_obj(entry, GuestAddress(layout::MODLIST + 32 * i as u64))
            .map_err(err)?;
    }
    let si = hvm_start_info {
        magic: XEN_HVM_START_MAGIC_VALUE,
        version: 1,
        flags: 0,
        nr_modules: modules.len() as u32,
        modlist_paddr: if modules.is_empty() {
            0
        } else {
            layout::MODLIST
        },
        cmdline_paddr: layout::CMDLINE,
        rsdp_paddr: rsdp,
        memmap_paddr: layout::MEMMAP,
        memmap_entries: map.len() as u32,
        reserved: 0,
    };
    mem.write_obj(si, GuestAddress(layout::START_INFO))
        .map_err(err)?;
    Ok(layout::START_INFO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf32(entry_note: Option<u32>) -> Vec<u8> {
        let mut f = vec![0u8; 0x200];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 1;
        f[5] = 1;
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[28..32].copy_from_slice(&52u32.to_le_bytes());
        f[42..44].copy_from_slice(&32u16.to_le_bytes());
        f[44..46].copy_from_slice(&2u16.to_le_bytes());
        // PT_LOAD: 16 bytes at file 0x100 to 0x100000.
        let ph = 52;
        f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        f[ph + 4..ph + 8].copy_from_slice(&0x100u32.to_le_bytes());
        f[ph + 12..ph + 16].copy_from_slice(&0x100000u32.to_le_bytes());
        f[ph + 16..ph + 20].copy_from_slice(&16u32.to_le_bytes());
        f[ph + 20..ph + 24].copy_from_slice(&32u32.to_le_bytes());
        let ph = 84;
        f[ph..ph + 4].copy_from_slice(&PT_NOTE.to_le_bytes());
        f[ph + 4..ph + 8].copy_from_slice(&0x180u32.to_le_bytes());
        f[ph + 16..ph + 20].copy_from_slice(&20u32.to_le_bytes());
        let n = 0x180;
        f[n..n + 4].copy_from_slice(&4u32.to_le_bytes());
        f[n + 4..n + 8].copy_from_slice(&4u32.to_le_bytes());
        let ty = if entry_note.is_some() { 18u32 } else { 5 };
        f[n + 8..n + 12].copy_from_slice(&ty.to_le_bytes());
        f[n + 12..n + 16].copy_from_slice(b"Xen\0");
        f[n + 16..n + 20].copy_from_slice(&entry_note.unwrap_or(0).to_le_bytes());
        f
    }

    #[test]
    fn elf32_with_x86_64_machine_and_pvh_note() {
        let img = parse_elf(&elf32(Some(0x100004))).unwrap();
        assert_eq!(img.pvh_entry, Some(0x100004));
        assert_eq!(img.segments.len(), 1);
        assert_eq!(img.segments[0].paddr, 0x100000);
    }

    #[test]
    fn missing_note_is_rejected_at_load() {
        let mem = crate::memory::create_guest_memory(8 << 20).unwrap();
        let e = load_pvh(&mem, &elf32(None), 8 << 20).unwrap_err();
        assert!(e.to_string().contains("PHYS32_ENTRY"), "{e}");
    }

    #[test]
    fn truncated_and_garbage_files_are_errors() {
        let f = elf32(Some(0x100004));
        for n in [0, 4, 51, 60, 100, 0x190] {
            assert!(parse_elf(&f[..n]).is_err(), "len {n}");
        }
        assert!(parse_elf(b"MZ not an elf at all, definitely not").is_err());
        let mut huge = f.clone();
        huge[ph_filesz()..ph_filesz() + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_elf(&huge).is_err());
    }

    fn ph_filesz() -> usize {
        52 + 16
    }

    #[test]
    fn loads_segment_and_start_info() {
        let mem = crate::memory::create_guest_memory(8 << 20).unwrap();
        let mut f = elf32(Some(0x100004));
        f[0x100..0x110].copy_from_slice(&[0xAB; 16]);
        let e = load_pvh(&mem, &f, 8 << 20).unwrap();
        assert_eq!(e.entry, 0x100004);
        assert_eq!(e.image_end, 0x100020);
        let initrd = load_initrd(&mem, &[0x5a; 5000], 8 << 20, e.image_end).unwrap();
        assert_eq!(initrd.paddr % PAGE_SIZE, 0);
        assert!(initrd.paddr >= 0x101000);
        assert!(initrd.paddr + 5000 <= crate::memory::store_page(8 << 20));
        let rsdp = super::super::acpi::write_tables(&mem, 1).unwrap();
        write_start_info(&mem, "console=hvc0", 8 << 20, rsdp, &[initrd]).unwrap();
        assert_eq!(e.mode, EntryMode::Protected32);
        let b: u8 = mem.read_obj(GuestAddress(0x100000)).unwrap();
        assert_eq!(b, 0xAB);
        let z: u8 = mem.read_obj(GuestAddress(0x100010)).unwrap();
        assert_eq!(z, 0);
        let si: hvm_start_info = mem.read_obj(GuestAddress(e.rbx)).unwrap();
        assert_eq!(si.magic, XEN_HVM_START_MAGIC_VALUE);
        assert_eq!(si.memmap_entries, 4);
        assert_eq!((si.rsdp_paddr, si.nr_modules), (rsdp, 1));
        let m: hvm_modlist_entry = mem.read_obj(GuestAddress(si.modlist_paddr)).unwrap();
        assert_eq!((m.paddr, m.size), (initrd.paddr, 5000));
        let mut b = vec![0u8; 5000];
        mem.read_slice(&mut b, GuestAddress(m.paddr)).unwrap();
        assert!(b.iter().all(|&x| x == 0x5a));
    }

    #[test]
    fn initrd_that_does_not_fit_above_the_kernel_is_refused() {
        let mem = crate::memory::create_guest_memory(8 << 20).unwrap();
        let top = crate::memory::store_page(8 << 20);
        // Exactly the room between the kernel's end and the special pages fits.
        let room = top - 0x200000;
        assert_eq!(
            load_initrd(&mem, &vec![1; room as usize], 8 << 20, 0x200000)
                .unwrap()
                .paddr,
            0x200000
        );
        assert!(load_initrd(&mem, &vec![1; room as usize + 1], 8 << 20, 0x200000).is_err());
        assert!(load_initrd(&mem, &[1], 8 << 20, u64::MAX).is_err());
        assert!(load_initrd(&mem, &[1], 8 << 20, top).is_err());
        assert!(load_initrd(&mem, &[], 8 << 20, 0x200000).is_err());
    }
}
