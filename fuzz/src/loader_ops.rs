// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Input layout and harness of the `boot_loader` target: the reference VMM's kernel
//! loaders (`xen_vmm::boot`) fed hostile images, as a user handing `xen-vmm run` a
//! corrupt or malicious kernel file would.
//!
//! The first byte selects what the rest is:
//! * 0 (mod 3) a raw file for `parse_elf` and `load_pvh`;
//! * 1 a description of an ELF that [`build_elf`] turns into a file with valid magic and
//!   header sizes (class, program headers, segments, a note), so the fuzzer gets past the
//!   header checks quickly and spends its time on the segment and note walks;
//! * 2 a raw image for `load_raw` (64-bit or 32-bit entry).
//!
//! Invariants: nothing panics; a loaded PVH image has its entry and every segment inside
//! guest RAM above 1 MiB, every segment's file bytes are in guest memory at their address
//! and its bss is zero (segments applied in order, so a later one overlapping an earlier
//! one wins), an initrd lands page aligned between the kernel's end and the special pages,
//! and `hvm_start_info` carries Xen's magic; a raw image is loaded byte for byte
//! at its load address or refused when it does not fit.

use crate::cursor::Cursor;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_vmm::boot::pvh::{
    load_initrd, load_pvh, parse_elf, write_start_info, BootModule, XEN_HVM_START_MAGIC_VALUE,
};
use xen_vmm::boot::raw64::load_raw;
use xen_vmm::boot::EntryMode;
use xen_vmm::memory::{create_guest_memory, layout, store_page, HIGH_RAM_START};

/// Guest RAM of every run (small: the loaders' limits scale with it).
pub const MEM_BYTES: u64 = 8 << 20;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 3 {
        0 => pvh(rest),
        1 => pvh(&build_elf(rest)),
        _ => raw(rest),
    }
}

fn memory() -> GuestMemoryMmap {
    create_guest_memory(MEM_BYTES).expect("guest memory")
}

fn pvh(file: &[u8]) {
    let parsed = parse_elf(file);
    let mem = memory();
    let loaded = load_pvh(&mem, file, MEM_BYTES);
    let Ok(entry) = loaded else {
        return;
    };
    let img = parsed.expect("load_pvh accepted a file parse_elf refuses");
    let limit = store_page(MEM_BYTES);
    assert!((HIGH_RAM_START..limit).contains(&entry.entry), "{entry:?}");
    assert!(entry.image_end <= limit, "{entry:?}");
    assert_eq!(entry.mode, EntryMode::Protected32);
    // What the last segment covering each checked byte put there.
    for (i, s) in img.segments.iter().enumerate() {
        assert!(
            s.paddr >= HIGH_RAM_START && s.paddr + s.memsz <= limit,
            "{s:?}"
        );
        let later = &img.segments[i + 1..];
        let overwritten = |a: u64| {
            later
                .iter()
                .any(|l| (l.paddr..l.paddr + l.memsz).contains(&a))
        };
        // Sample at most 64 bytes of file data and 64 of bss per segment.
        let step_f = (s.filesz / 64).max(1);
        for k in (0..s.filesz).step_by(step_f as usize) {
            let a = s.paddr + k;
            if overwritten(a) {
                continue;
            }
            let b: u8 = mem.read_obj(GuestAddress(a)).expect("segment byte");
            assert_eq!(b, file[(s.offset + k) as usize], "segment {i} byte {k}");
        }
        let bss = s.memsz - s.filesz;
        let step_b = (bss / 64).max(1);
        for k in (0..bss).step_by(step_b as usize) {
            let a = s.paddr + s.filesz + k;
            if overwritten(a) {
                continue;
            }
            let b: u8 = mem.read_obj(GuestAddress(a)).expect("bss byte");
            assert_eq!(b, 0, "segment {i} bss byte {k}");
        }
    }
    // An initrd (its size from the file's) above the kernel, then the start info.
    let initrd = vec![0xa5u8; (file.len() * 64).min(6 << 20)];
    let mut modules: Vec<BootModule> = Vec::new();
    if let Ok(m) = load_initrd(&mem, &initrd, MEM_BYTES, entry.image_end) {
        assert_eq!(m.paddr % 4096, 0);
        assert!(
            m.paddr >= entry.image_end && m.paddr + m.size <= limit,
            "{m:?}"
        );
        let last: u8 = mem
            .read_obj(GuestAddress(m.paddr + m.size - 1))
            .expect("initrd");
        assert_eq!(last, 0xa5);
        modules.push(m);
    }
    let si = write_start_info(&mem, "console=hvc0", MEM_BYTES, 0, &modules).expect("start_info");
    assert_eq!(si, entry.rbx);
    let magic: u32 = mem.read_obj(GuestAddress(si)).expect("start_info");
    assert_eq!(magic, XEN_HVM_START_MAGIC_VALUE);
}

fn raw(rest: &[u8]) {
    let Some((&m, image)) = rest.split_first() else {
        return;
    };
    let mode = if m & 1 == 0 {
        EntryMode::Long64
    } else {
        EntryMode::Protected32
    };
    let mem = memory();
    match load_raw(&mem, image, mode, MEM_BYTES, layout::START_INFO) {
        Ok(e) => {
            assert_eq!(e.entry, layout::RAW_LOAD);
            assert!(layout::RAW_LOAD + image.len() as u64 <= store_page(MEM_BYTES));
            let mut back = vec![0u8; image.len()];
            mem.read_slice(&mut back, GuestAddress(layout::RAW_LOAD))
                .expect("image back");
            assert_eq!(back, image);
        }
        Err(_) => assert!(layout::RAW_LOAD + image.len() as u64 > store_page(MEM_BYTES)),
    }
}

/// Builds an ELF file from a description: `class` u8 (even: ELF32), `phnum` u8 (mod 8),
/// then per program header `type` u8 (0: PT_LOAD, 1: PT_NOTE, else as is), `offset` u32,
/// `paddr` u32 (added to 1 MiB when its top bit is clear), `filesz` u32, `memsz` u32
/// (filesz + memsz when its top bit is clear); then the note: `namesz` u8, `descsz` u8,
/// `type` u8 (0: PHYS32_ENTRY), entry u32 (added to 1 MiB when its top bit is clear);
/// the rest is appended as the file body.
pub fn build_elf(desc: &[u8]) -> Vec<u8> {
    let mut c = Cursor(desc);
    let is64 = c.u8() % 2 == 1;
    let phnum = usize::from(c.u8() % 8);
    let (ehsize, phsize) = if is64 { (64usize, 56usize) } else { (52, 32) };
    let note_at = ehsize + phnum * phsize;
    let body_at = note_at + 64;
    let rel = |v: u32| {
        if v & 0x8000_0000 == 0 {
            u64::from(v % 0x10_0000) + HIGH_RAM_START
        } else {
            u64::from(v)
        }
    };
    let mut phs = Vec::new();
    for _ in 0..phnum {
        let ty = match c.u8() {
            0 => 1u32,
            1 => 4,
            t => u32::from(t),
        };
        let offset = c.u32() % 0x2000;
        let paddr = rel(c.u32());
        let filesz = c.u32() % 0x1000;
        let m = c.u32();
        let memsz = if m & 0x8000_0000 == 0 {
            u64::from(filesz) + u64::from(m % 0x4000)
        } else {
            u64::from(m)
        };
        let offset = if ty == 4 { note_at as u32 } else { offset };
        let filesz = if ty == 4 { 64 } else { filesz };
        phs.push((ty, offset, paddr, filesz, memsz));
    }
    let namesz = c.u8() % 16;
    let descsz = c.u8() % 16;
    let ntype = match c.u8() {
        0 => 18u32,
        t => u32::from(t),
    };
    let entry = rel(c.u32()) as u32;
    let body = c.0;
    let mut f = vec![0u8; body_at];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = if is64 { 2 } else { 1 };
    f[5] = 1;
    f[18..20].copy_from_slice(&(if is64 { 62u16 } else { 3 }).to_le_bytes());
    if is64 {
        f[32..40].copy_from_slice(&(ehsize as u64).to_le_bytes());
        f[54..56].copy_from_slice(&(phsize as u16).to_le_bytes());
        f[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    } else {
        f[28..32].copy_from_slice(&(ehsize as u32).to_le_bytes());
        f[42..44].copy_from_slice(&(phsize as u16).to_le_bytes());
        f[44..46].copy_from_slice(&(phnum as u16).to_le_bytes());
    }
    for (i, &(ty, offset, paddr, filesz, memsz)) in phs.iter().enumerate() {
        let p = ehsize + i * phsize;
        f[p..p + 4].copy_from_slice(&ty.to_le_bytes());
        if is64 {
            f[p + 8..p + 16].copy_from_slice(&u64::from(offset).to_le_bytes());
            f[p + 24..p + 32].copy_from_slice(&paddr.to_le_bytes());
            f[p + 32..p + 40].copy_from_slice(&u64::from(filesz).to_le_bytes());
            f[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
        } else {
            f[p + 4..p + 8].copy_from_slice(&offset.to_le_bytes());
            f[p + 12..p + 16].copy_from_slice(&(paddr as u32).to_le_bytes());
            f[p + 16..p + 20].copy_from_slice(&filesz.to_le_bytes());
            f[p + 20..p + 24].copy_from_slice(&(memsz as u32).to_le_bytes());
        }
    }
    let n = note_at;
    f[n..n + 4].copy_from_slice(&u32::from(namesz).to_le_bytes());
    f[n + 4..n + 8].copy_from_slice(&u32::from(descsz).to_le_bytes());
    f[n + 8..n + 12].copy_from_slice(&ntype.to_le_bytes());
    f[n + 12..n + 16].copy_from_slice(b"Xen\0");
    let d = n + 12 + ((usize::from(namesz) + 3) & !3);
    if d + 4 <= body_at {
        f[d..d + 4].copy_from_slice(&entry.to_le_bytes());
    }
    f.extend_from_slice(body);
    f
}

/// Seeds: well-formed PVH images (ELF32 and ELF64), a truncated one, raw images.
pub mod seed {
    /// `(name, input)` pairs.
    pub fn all() -> Vec<(&'static str, Vec<u8>)> {
        let elf = |class: u8| {
            let mut d = vec![1u8, class, 2];
            // PT_LOAD: offset 0x100, paddr 1 MiB + 0x1000, 0x200 bytes, 0x100 of bss.
            d.push(0);
            d.extend_from_slice(&0x100u32.to_le_bytes());
            d.extend_from_slice(&0x1000u32.to_le_bytes());
            d.extend_from_slice(&0x200u32.to_le_bytes());
            d.extend_from_slice(&0x100u32.to_le_bytes());
            // PT_NOTE.
            d.push(1);
            d.extend_from_slice(&[0; 16]);
            // Note "Xen\0", 4-byte desc, PHYS32_ENTRY, entry 1 MiB + 0x1000.
            d.extend_from_slice(&[4, 4, 0]);
            d.extend_from_slice(&0x1000u32.to_le_bytes());
            d.extend((0..0x400u32).map(|i| (i * 7) as u8));
            d
        };
        // A real ELF32 file cut inside its program headers.
        let mut truncated = vec![0u8];
        truncated.extend_from_slice(&super::build_elf(&elf(0)[1..])[..60]);
        vec![
            ("elf32-pvh", elf(0)),
            ("elf64-pvh", elf(1)),
            ("elf32-truncated", truncated),
            ("raw-empty", vec![2, 0]),
            ("raw64-code", vec![2, 0, 0xf4, 0xeb, 0xfe]),
            ("raw32-code", vec![2, 1, 0x90, 0xf4]),
            ("garbage", vec![0, 0x7f, b'E', b'L', b'F', 1, 1]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The well-formed seeds really load (the harness checks their bytes), the others
    /// are refused.
    #[test]
    fn seeds_load_or_are_refused_as_meant() {
        for (name, data) in seed::all() {
            run(&data);
            if name.ends_with("-pvh") {
                let file = build_elf(&data[1..]);
                let e =
                    load_pvh(&memory(), &file, MEM_BYTES).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(e.entry, HIGH_RAM_START + 0x1000, "{name}");
            }
        }
        assert!(parse_elf(&seed::all()[2].1[1..]).is_err());
        assert!(parse_elf(&seed::all()[6].1[1..]).is_err());
    }

    /// An image one byte too large for RAM is refused.
    #[test]
    fn raw_image_past_ram_is_refused() {
        let n = (store_page(MEM_BYTES) - layout::RAW_LOAD + 1) as usize;
        let mut d = vec![2u8, 0];
        d.resize(n + 2, 0x90);
        run(&d);
        assert!(load_raw(&memory(), &d[2..], EntryMode::Long64, MEM_BYTES, 0).is_err());
    }
}
