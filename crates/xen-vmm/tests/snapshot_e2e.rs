//! Snapshot and restore end to end, through the `xen-vmm` binary: a guest
//! counting timer and IPI events is snapshotted mid-run with SIGUSR1, then
//! `xen-vmm restore` in a fresh process finishes it with the right counts
//! (no event lost, none delivered twice). Bad snapshot files give clear
//! errors.

mod common;

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use iced_x86::code_asm::*;

const VEC: u64 = 0xf3;
const IDT: u64 = 0x21_0000;
const TIMER_COUNT: u64 = DATA + 0x100;
const IPI_COUNT: u64 = DATA + 0x108;
const PT_SLOT: u64 = DATA + 0x110;
const PI_SLOT: u64 = DATA + 0x118;
/// Rounds of (single-shot timer, IPI); a dot is printed every `DOT_EVERY`.
const ROUNDS: u32 = 4096;
const DOT_EVERY: u32 = 256;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xen-vmm"))
}

fn out_char(a: &mut CodeAssembler, c: u8) {
    a.mov(al, c as u32).unwrap();
    a.out(0xe9, al).unwrap();
}

fn out_str(a: &mut CodeAssembler, s: &str) {
    for c in s.bytes() {
        out_char(a, c);
    }
}

/// Prints the u64 at `addr` as 16 hex digits on the debug port.
fn out_hex(a: &mut CodeAssembler, addr: u64) {
    a.mov(rcx, addr).unwrap();
    a.mov(rbx, qword_ptr(rcx)).unwrap();
    a.mov(ecx, 16u32).unwrap();
    let mut top = a.create_label();
    let mut digit = a.create_label();
    a.set_label(&mut top).unwrap();
    a.rol(rbx, 4).unwrap();
    a.mov(eax, ebx).unwrap();
    a.and(eax, 0xfu32).unwrap();
    a.add(eax, b'0' as u32).unwrap();
    a.cmp(eax, b'9' as u32).unwrap();
    a.jbe(digit).unwrap();
    a.add(eax, 7u32).unwrap();
    a.set_label(&mut digit).unwrap();
    a.out(0xe9, al).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
}

/// Upcall handler: takes every pending port and counts timer and IPI events.
fn handler(a: &mut CodeAssembler, label: &mut CodeLabel) {
    a.set_label(label).unwrap();
    a.push(rax).unwrap();
    a.push(rcx).unwrap();
    a.push(rdx).unwrap();
    a.mov(rcx, SHINFO).unwrap();
    a.mov(byte_ptr(rcx), 0).unwrap(); // evtchn_upcall_pending
    a.xor(eax, eax).unwrap();
    a.xchg(qword_ptr(rcx + 8), rax).unwrap(); // selector
    a.xor(eax, eax).unwrap();
    a.mov(rcx, SHINFO + 2048).unwrap();
    a.xchg(qword_ptr(rcx), rax).unwrap(); // pending[0], taken whole
    a.mov(rdx, rax).unwrap();
    let mut no_timer = a.create_label();
    let mut no_ipi = a.create_label();
    a.mov(rcx, PT_SLOT).unwrap();
    a.mov(rcx, qword_ptr(rcx)).unwrap();
    a.bt(rdx, rcx).unwrap();
    a.jnc(no_timer).unwrap();
    a.mov(rcx, TIMER_COUNT).unwrap();
    a.inc(qword_ptr(rcx)).unwrap();
    a.set_label(&mut no_timer).unwrap();
    a.mov(rcx, PI_SLOT).unwrap();
    a.mov(rcx, qword_ptr(rcx)).unwrap();
    a.bt(rdx, rcx).unwrap();
    a.jnc(no_ipi).unwrap();
    a.mov(rcx, IPI_COUNT).unwrap();
    a.inc(qword_ptr(rcx)).unwrap();
    a.set_label(&mut no_ipi).unwrap();
    a.pop(rdx).unwrap();
    a.pop(rcx).unwrap();
    a.pop(rax).unwrap();
    a.iretq().unwrap();
}

/// sti; hlt until the u64 at `addr` reaches r12.
fn wait_reaches(a: &mut CodeAssembler, addr: u64) {
    let mut top = a.create_label();
    let mut out = a.create_label();
    a.set_label(&mut top).unwrap();
    a.cli().unwrap();
    a.mov(rcx, addr).unwrap();
    a.cmp(qword_ptr(rcx), r12).unwrap();
    a.jae(out).unwrap();
    a.sti().unwrap();
    a.hlt().unwrap();
    a.jmp(top).unwrap();
    a.set_label(&mut out).unwrap();
    a.sti().unwrap();
}

fn guest() -> Vec<u8> {
    let mut g = Guest::new64();
    let mut h = g.a.create_label();
    let mut start = g.a.create_label();
    g.a.jmp(start).unwrap();
    handler(&mut g.a, &mut h);
    g.a.set_label(&mut start).unwrap();
    g.hypercall_page();
    // IDT with the callback vector.
    {
        let a = &mut g.a;
        a.mov(rbx, IDT).unwrap();
        let off = (VEC * 16) as i32;
        a.lea(rax, ptr(h)).unwrap();
        a.mov(word_ptr(rbx + off), ax).unwrap();
        a.mov(word_ptr(rbx + off + 2), 0x08u32).unwrap();
        a.mov(word_ptr(rbx + off + 4), 0x8e00u32).unwrap();
        a.shr(rax, 16).unwrap();
        a.mov(word_ptr(rbx + off + 6), ax).unwrap();
        a.shr(rax, 16).unwrap();
        a.mov(dword_ptr(rbx + off + 8), eax).unwrap();
        a.mov(dword_ptr(rbx + off + 12), 0u32).unwrap();
        a.mov(word_ptr(rbx + 0xff0), 0xfffu32).unwrap();
        a.mov(qword_ptr(rbx + 0xff2), rbx).unwrap();
        a.lidt(ptr(rbx + 0xff0)).unwrap();
    }
    g.map_shared_info(SHINFO);
    g.callback_vector(VEC as u8);
    // VIRQ_TIMER on vCPU 0.
    g.store32(ARGS, 0);
    g.store32(ARGS + 4, 0);
    g.hcall(32, &[1, ARGS]); // EVTCHNOP_bind_virq
    g.a.mov(rcx, ARGS + 8).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, PT_SLOT).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    // IPI port to ourselves.
    g.store32(ARGS + 0x40, 0);
    g.hcall(32, &[7, ARGS + 0x40]); // EVTCHNOP_bind_ipi
    g.a.mov(rcx, ARGS + 0x44).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, PI_SLOT).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.sti().unwrap();
    out_str(&mut g.a, "S\n");

    // r12 = round (1-based).
    let mut round = g.a.create_label();
    let mut no_dot = g.a.create_label();
    g.a.xor(r12d, r12d).unwrap();
    g.a.set_label(&mut round).unwrap();
    g.a.inc(r12).unwrap();
    // Single-shot timer in the past: fires at once (from the timer thread).
    g.store64(ARGS + 0x80, 1);
    g.store64(ARGS + 0x88, 0);
    g.hcall(24, &[8, 0, ARGS + 0x80]); // VCPUOP_set_singleshot_timer
    wait_reaches(&mut g.a, TIMER_COUNT);
    // IPI to ourselves.
    g.a.mov(rcx, PI_SLOT).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, ARGS + 0xc0).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0xc0]); // EVTCHNOP_send
    wait_reaches(&mut g.a, IPI_COUNT);
    g.a.test(r12d, DOT_EVERY - 1).unwrap();
    g.a.jnz(no_dot).unwrap();
    out_char(&mut g.a, b'.');
    g.a.set_label(&mut no_dot).unwrap();
    g.a.cmp(r12d, ROUNDS).unwrap();
    g.a.jb(round).unwrap();

    out_str(&mut g.a, "\ntimer=");
    out_hex(&mut g.a, TIMER_COUNT);
    out_str(&mut g.a, " ipi=");
    out_hex(&mut g.a, IPI_COUNT);
    out_str(&mut g.a, "\n");
    g.shutdown(0);
    g.assemble()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xen-vmm-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn expected_counts() -> String {
    format!("timer={:016x} ipi={:016x}", ROUNDS, ROUNDS)
}

/// Runs `cmd` to the end with a time limit; returns (status, stdout, stderr).
fn finish(mut child: std::process::Child, limit: Duration) -> (Option<i32>, String, String) {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st.code(), out, err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("xen-vmm did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_file(p: &Path, limit: Duration) {
    let start = Instant::now();
    while !p.exists() {
        assert!(start.elapsed() < limit, "no snapshot at {}", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn snapshot_on_sigusr1_and_restore_in_a_fresh_process() {
    if !require_kvm() {
        return;
    }
    let dir = tmpdir("snap-e2e");
    let image = dir.join("guest.bin");
    let snap = dir.join("guest.snap");
    std::fs::write(&image, guest()).unwrap();

    let mut child = bin()
        .args(["run", "--mem", "32", "--raw64"])
        .arg(&image)
        .arg("--snapshot-on-signal")
        .arg(&snap)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the guest has done a few rounds, then ask for a snapshot.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b".") {
        let n = stdout.read(&mut byte).unwrap();
        assert_eq!(
            n,
            1,
            "guest ended early: {}",
            String::from_utf8_lossy(&first)
        );
        first.push(byte[0]);
    }
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) }, 0);
    wait_for_file(&snap, Duration::from_secs(60));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let original = format!("{}{rest}", String::from_utf8_lossy(&first));
    assert_eq!(status.code(), Some(0), "{original}\n{err}");
    assert!(err.contains("snapshot written"), "{err}");
    assert!(original.contains(&expected_counts()), "{original}");
    let total_dots = (ROUNDS / DOT_EVERY) as usize;
    assert_eq!(original.matches('.').count(), total_dots, "{original}");

    // A fresh process resumes the guest where the snapshot was taken.
    let child = bin()
        .arg("restore")
        .arg(&snap)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, out, err) = finish(child, Duration::from_secs(120));
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains(&expected_counts()),
        "stdout: {out}\nstderr: {err}"
    );
    assert!(!out.contains('S'), "the restored guest started over: {out}");
    eprintln!("original run:\n{original}\nrestored run:\n{out}\n{err}");
    let dots = out.matches('.').count();
    assert!(dots < total_dots, "snapshot was not taken mid-run: {out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn restore_of_bad_files_fails_clearly() {
    let dir = tmpdir("snap-bad");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated"),
        (
            "text",
            b"hello, not a snapshot at all, but long enough to hold a header".to_vec(),
            "bad magic",
        ),
    ];
    for (name, bytes, needle) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = bin().arg("restore").arg(&p).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(70), "{name}: {err}");
        assert!(
            err.contains("cannot restore") && err.contains(needle),
            "{name}: {err}"
        );
    }
    let out = bin().arg("restore").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let _ = std::fs::remove_dir_all(dir);
}
