// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Booting: a PVH ELF (ELF32, EM_X86_64 and EM_386) built here, entered in
//! 32-bit protected mode with hvm_start_info in ebx; the CLI with the demo
//! guest and its error messages.

mod common;

use std::process::Command;

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::{ExitReason, Kernel};

/// A minimal ELF32 with one PT_LOAD at `LOAD` and a PHYS32_ENTRY note.
fn elf32(code: &[u8], machine: u16, entry: u32) -> Vec<u8> {
    let code_off = 0x100usize;
    let note_off = 0x80usize;
    let mut f = vec![0u8; code_off + code.len()];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 1;
    f[5] = 1;
    f[6] = 1;
    f[16..18].copy_from_slice(&2u16.to_le_bytes());
    f[18..20].copy_from_slice(&machine.to_le_bytes());
    f[24..28].copy_from_slice(&entry.to_le_bytes());
    f[28..32].copy_from_slice(&52u32.to_le_bytes());
    f[42..44].copy_from_slice(&32u16.to_le_bytes());
    f[44..46].copy_from_slice(&2u16.to_le_bytes());
    let put = |f: &mut Vec<u8>, at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
    // PT_LOAD
    put(&mut f, 52, 1);
    put(&mut f, 56, code_off as u32);
    put(&mut f, 60, LOAD as u32);
    put(&mut f, 64, LOAD as u32);
    put(&mut f, 68, code.len() as u32);
    put(&mut f, 72, code.len() as u32 + 0x1000);
    // PT_NOTE
    put(&mut f, 84, 4);
    put(&mut f, 88, note_off as u32);
    put(&mut f, 100, 20);
    put(&mut f, note_off, 4);
    put(&mut f, note_off + 4, 4);
    put(&mut f, note_off + 8, 18);
    f[note_off + 12..note_off + 16].copy_from_slice(b"Xen\0");
    put(&mut f, note_off + 16, entry);
    f[code_off..].copy_from_slice(code);
    f
}

fn pvh_guest() -> Vec<u8> {
    let mut g = Guest::new32();
    // PVH gives no stack.
    g.a.mov(esp, 0x8_0000u32).unwrap();
    // Save ebx (start_info) and the magic it points to.
    g.a.mov(dword_ptr(DATA as u32), ebx).unwrap();
    g.a.mov(eax, dword_ptr(ebx)).unwrap();
    g.a.mov(dword_ptr((DATA + 4) as u32), eax).unwrap();
    g.a.mov(eax, dword_ptr(ebx + 24)).unwrap(); // cmdline_paddr
    g.a.mov(dword_ptr((DATA + 8) as u32), eax).unwrap();
    g.a.mov(eax, cr0).unwrap();
    g.a.mov(dword_ptr((DATA + 12) as u32), eax).unwrap();
    g.hypercall_page();
    g.hcall(17, &[0, 0]);
    g.store_result(DATA + 16);
    g.shutdown(0);
    g.assemble()
}

#[test]
fn pvh_elf32_boots_in_protected_mode_with_start_info() {
    if !require_kvm() {
        return;
    }
    for machine in [62u16, 3] {
        let code = pvh_guest();
        let f = elf32(&code, machine, LOAD as u32);
        let r = run_vm(Kernel::Pvh(f), 1, std::time::Duration::from_secs(30));
        assert_eq!(r.reason, ExitReason::Shutdown(0));
        let start_info = r.u32(DATA);
        assert_ne!(start_info, 0);
        assert_eq!(r.u32(DATA + 4), 0x336e_c578, "hvm_start_info magic");
        assert_ne!(r.u32(DATA + 8), 0, "cmdline_paddr");
        assert_eq!(r.u32(DATA + 12) & 0x8000_0001, 1, "PE on, paging off");
        assert_eq!(r.u32(DATA + 16), (4 << 16) | 17);
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xen-vmm"))
}

#[test]
fn cli_demo_guest_prints_what_it_saw() {
    if !require_kvm() {
        return;
    }
    let out = bin().arg("run").output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{s}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "XenVMMXenVMM",
        "xen_version (major<<16|minor): 0x0000000000040011",
        "XENMEM_add_to_physmap(shared_info) -> 0x0000000000000000",
        "vCPU 1 saw upcalls: 0x0000000000000001",
        "single-shot timer fired",
        "demo done",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in:\n{s}");
    }
}

#[test]
fn cli_errors_are_clear() {
    let out = bin()
        .args(["run", "--kernel", "/nonexistent/kernel"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(70));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read kernel /nonexistent/kernel"));

    let dir = std::env::temp_dir().join(format!("xen-vmm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not-elf");
    std::fs::write(&bad, b"definitely not an ELF kernel").unwrap();
    let out = bin().arg("run").arg("--kernel").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(70));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an ELF"));

    let out = bin().args(["run", "--mem", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 is not in 4..=65536"));

    let out = bin().args(["run", "--vcpus", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let _ = std::fs::remove_dir_all(dir);
}
