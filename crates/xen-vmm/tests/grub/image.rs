// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Builds GRUB `i386-xen_pvh` images for the real-guest tests.
//!
//! Debian's `grub-xen-bin` (modules and kernel for `i386-xen_pvh`) and
//! `grub-common` (`grub-mkimage`) are fetched with `apt-get download` and
//! unpacked with `dpkg-deb -x` into a cache under the target directory
//! (`CARGO_TARGET_TMPDIR/grub-xen`); nothing is installed system-wide.
//! Any failure is an error with a message saying what to do: the tests
//! fail, they never skip for a missing download.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The cache directory.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grub-xen")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn download(debs: &Path) -> Result<(), String> {
    std::fs::create_dir_all(debs).map_err(|e| format!("mkdir {debs:?}: {e}"))?;
    let get = || {
        run(Command::new("apt-get")
            .args(["download", "grub-xen-bin", "grub-common"])
            .current_dir(debs))
    };
    if let Err(first) = get() {
        // A fresh machine may have no package lists yet.
        eprintln!("apt-get download failed, running apt-get update and retrying:\n{first}");
        run(Command::new("apt-get").args(["update", "-q"]))
            .map_err(|e| format!("apt-get update failed: {e}"))?;
        get()?;
    }
    Ok(())
}

fn fetch_tools() -> Result<PathBuf, String> {
    let dir = cache_dir();
    let root = dir.join("root");
    let done = root.join(".complete");
    if done.exists() {
        return Ok(root);
    }
    let debs = dir.join("debs");
    let _ = std::fs::remove_dir_all(&debs);
    download(&debs).map_err(|e| {
        format!(
            "could not download Debian's grub-xen-bin and grub-common (needed to build the \
             GRUB guest): {e}"
        )
    })?;
    let tmp = dir.join("root.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("mkdir {tmp:?}: {e}"))?;
    let mut n = 0;
    for entry in std::fs::read_dir(&debs).map_err(|e| format!("{debs:?}: {e}"))? {
        let p = entry.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(&p).arg(&tmp))?;
            n += 1;
        }
    }
    if n < 2 {
        return Err(format!("expected 2 .deb files in {debs:?}, found {n}"));
    }
    for need in [
        "usr/bin/grub-mkimage",
        "usr/lib/grub/i386-xen_pvh/kernel.img",
    ] {
        if !tmp.join(need).exists() {
            return Err(format!(
                "{need} missing from the unpacked packages in {tmp:?}"
            ));
        }
    }
    std::fs::write(tmp.join(".complete"), b"").map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&tmp, &root).map_err(|e| format!("rename {tmp:?} -> {root:?}: {e}"))?;
    Ok(root)
}

/// The unpacked packages (downloaded once per target directory).
pub fn tools() -> Result<PathBuf, String> {
    static TOOLS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TOOLS.get_or_init(fetch_tools).clone()
}

/// Builds `<cache>/<name>.elf` from an embedded config and module list.
pub fn build(name: &str, config: &str, modules: &[&str]) -> Result<PathBuf, String> {
    let root = tools()?;
    let dir = cache_dir().join("images");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cfg = dir.join(format!("{name}.cfg"));
    std::fs::write(&cfg, config).map_err(|e| e.to_string())?;
    let out = dir.join(format!("{name}.elf"));
    run(Command::new(root.join("usr/bin/grub-mkimage"))
        .arg("-O")
        .arg("i386-xen_pvh")
        .arg("-d")
        .arg(root.join("usr/lib/grub/i386-xen_pvh"))
        .arg("-o")
        .arg(&out)
        .args(["-p", "/boot/grub", "-c"])
        .arg(&cfg)
        .args(modules))
    .map_err(|e| {
        format!("grub-mkimage failed (it needs the host libraries of grub-common, e.g. libdevmapper1.02.1, liblzma5): {e}")
    })?;
    Ok(out)
}

/// `XEN_ELFNOTE_PHYS32_ENTRY`.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// What [`inspect_elf`] found.
#[derive(Debug)]
pub struct ElfInfo {
    /// `e_entry`.
    pub entry: u32,
    /// Xen notes: (type, descriptor).
    pub xen_notes: Vec<(u32, Vec<u8>)>,
    /// `PT_LOAD` segments: (paddr, filesz, memsz).
    pub loads: Vec<(u32, u32, u32)>,
}

/// Parses a 32-bit little-endian x86 ELF executable's entry, loads and Xen notes.
pub fn inspect_elf(b: &[u8]) -> Result<ElfInfo, String> {
    let u16_at = |o: usize| -> Result<u32, String> {
        b.get(o..o + 2)
            .map(|s| u32::from(u16::from_le_bytes([s[0], s[1]])))
            .ok_or_else(|| format!("truncated at {o}"))
    };
    let u32_at = |o: usize| -> Result<u32, String> {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| format!("truncated at {o}"))
    };
    if b.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if b[4] != 1 || b[5] != 1 {
        return Err(format!(
            "not ELF32 little-endian (class {}, data {})",
            b[4], b[5]
        ));
    }
    if u16_at(16)? != 2 || u16_at(18)? != 3 {
        return Err("not an i386 ET_EXEC".into());
    }
    let entry = u32_at(24)?;
    let phoff = u32_at(28)? as usize;
    let phentsize = u16_at(42)? as usize;
    let phnum = u16_at(44)? as usize;
    let mut info = ElfInfo {
        entry,
        xen_notes: Vec::new(),
        loads: Vec::new(),
    };
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = u32_at(ph)?;
        let off = u32_at(ph + 4)? as usize;
        let paddr = u32_at(ph + 12)?;
        let filesz = u32_at(ph + 16)?;
        let memsz = u32_at(ph + 20)?;
        match p_type {
            1 => info.loads.push((paddr, filesz, memsz)),
            4 => {
                let end = off + filesz as usize;
                let mut o = off;
                while o + 12 <= end {
                    let namesz = u32_at(o)? as usize;
                    let descsz = u32_at(o + 4)? as usize;
                    let ty = u32_at(o + 8)?;
                    let name_off = o + 12;
                    let desc_off = name_off + namesz.div_ceil(4) * 4;
                    let next = desc_off + descsz.div_ceil(4) * 4;
                    let name = b.get(name_off..name_off + namesz).ok_or("bad note")?;
                    let desc = b.get(desc_off..desc_off + descsz).ok_or("bad note")?;
                    if name == b"Xen\0" {
                        info.xen_notes.push((ty, desc.to_vec()));
                    }
                    o = next;
                }
            }
            _ => {}
        }
    }
    Ok(info)
}
