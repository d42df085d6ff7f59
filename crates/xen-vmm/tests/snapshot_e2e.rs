// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Snapshot and restore end to end, through the `xen-vmm` binary: a
//! two-vCPU guest counting timer events and IPIs between its vCPUs (ping,
//! pong) is snapshotted mid-run with SIGUSR1, then
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
const READY: u64 = DATA + 0x80;
/// Port numbers: VIRQ_TIMER of vCPU 0, IPI to vCPU 0 (pong), IPI to vCPU 1 (ping).
const SLOTS: [u64; 3] = [DATA + 0x110, DATA + 0x118, DATA + 0x120];
/// Events counted per port of `SLOTS`.
const COUNTS: [u64; 3] = [DATA + 0x100, DATA + 0x108, DATA + 0x130];
/// Ports each vCPU handles (bit mask), index = vCPU.
const OWNED: u64 = DATA + 0x140;
const PT: usize = 0;
const PONG: usize = 1;
const PING: usize = 2;
/// Rounds of (single-shot timer, ping to vCPU 1, pong back); a dot every `DOT_EVERY`.
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

/// Upcall handler (r15 = vCPU id): takes the pending ports this vCPU owns
/// and counts them per port.
fn handler(a: &mut CodeAssembler, label: &mut CodeLabel) {
    a.set_label(label).unwrap();
    a.push(rax).unwrap();
    a.push(rcx).unwrap();
    a.push(rdx).unwrap();
    // vcpu_info = SHINFO + 64 * id: clear upcall_pending and the selector.
    a.mov(rcx, r15).unwrap();
    a.shl(rcx, 6).unwrap();
    a.mov(rax, SHINFO).unwrap();
    a.add(rcx, rax).unwrap();
    a.mov(byte_ptr(rcx), 0).unwrap();
    a.xor(eax, eax).unwrap();
    a.xchg(qword_ptr(rcx + 8), rax).unwrap();
    // mine = pending[0] & owned[id]; clear exactly those bits.
    a.lea(rcx, ptr(r15 * 8 + OWNED as i32)).unwrap();
    a.mov(rdx, qword_ptr(rcx)).unwrap();
    a.mov(rcx, SHINFO + 2048).unwrap();
    a.mov(rax, qword_ptr(rcx)).unwrap();
    a.and(rax, rdx).unwrap();
    a.mov(rdx, rax).unwrap();
    a.not(rdx).unwrap();
    a.lock().and(qword_ptr(rcx), rdx).unwrap();
    for k in 0..3 {
        let mut skip = a.create_label();
        a.mov(rcx, SLOTS[k]).unwrap();
        a.mov(rcx, qword_ptr(rcx)).unwrap();
        a.bt(rax, rcx).unwrap();
        a.jnc(skip).unwrap();
        a.mov(rcx, COUNTS[k]).unwrap();
        a.lock().inc(qword_ptr(rcx)).unwrap();
        a.set_label(&mut skip).unwrap();
    }
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

/// Spins until the u64 at `addr` is non-zero.
fn wait_nonzero(a: &mut CodeAssembler, addr: u64) {
    let mut top = a.create_label();
    a.nop().unwrap();
    a.set_label(&mut top).unwrap();
    a.pause().unwrap();
    a.mov(rcx, addr).unwrap();
    a.cmp(qword_ptr(rcx), 0).unwrap();
    a.je(top).unwrap();
}

/// Stores eax (a port just bound, read from `result`) at `slot` and ORs
/// its bit into OWNED[vcpu] first.
fn publish_port(g: &mut Guest, result: u64, slot: u64, vcpu: u64) {
    let a = &mut g.a;
    a.mov(rcx, result).unwrap();
    a.mov(edx, dword_ptr(rcx)).unwrap();
    a.mov(eax, 1u32).unwrap();
    a.mov(ecx, edx).unwrap();
    a.shl(rax, cl).unwrap();
    a.mov(rcx, OWNED + vcpu * 8).unwrap();
    a.lock().or(qword_ptr(rcx), rax).unwrap();
    a.mov(rcx, slot).unwrap();
    a.mov(qword_ptr(rcx), rdx).unwrap();
}

/// EVTCHNOP_send on the port stored at `slot`, argument struct at `arg`.
fn send(g: &mut Guest, slot: u64, arg: u64) {
    g.a.mov(rcx, slot).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, arg).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, arg]);
}

/// Two vCPUs: vCPU 0 runs ROUNDS rounds of (single-shot timer event,
/// ping IPI to vCPU 1, wait for vCPU 1's pong IPI), then prints the counts.
fn guest() -> Vec<u8> {
    let mut g = Guest::new64();
    let mut h = g.a.create_label();
    let mut start = g.a.create_label();
    let mut vcpu1 = g.a.create_label();
    g.a.jmp(start).unwrap();
    handler(&mut g.a, &mut h);
    g.a.set_label(&mut start).unwrap();
    g.hypercall_page();
    g.a.mov(eax, 0x4000_0004u32).unwrap();
    g.a.xor(ecx, ecx).unwrap();
    g.a.cpuid().unwrap();
    g.a.mov(r15d, ebx).unwrap();
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
    g.a.test(r15, r15).unwrap();
    g.a.jnz(vcpu1).unwrap();

    // ---- vCPU 0 ----
    g.map_shared_info(SHINFO);
    g.callback_vector(VEC as u8);
    g.store32(ARGS, 0);
    g.store32(ARGS + 4, 0);
    g.hcall(32, &[1, ARGS]); // EVTCHNOP_bind_virq(VIRQ_TIMER, vCPU 0)
    publish_port(&mut g, ARGS + 8, SLOTS[PT], 0);
    g.store32(ARGS + 0x40, 0);
    g.hcall(32, &[7, ARGS + 0x40]); // EVTCHNOP_bind_ipi(vCPU 0): pong
    publish_port(&mut g, ARGS + 0x44, SLOTS[PONG], 0);
    g.store64(READY, 1);
    wait_nonzero(&mut g.a, SLOTS[PING]);
    g.a.sti().unwrap();
    out_str(&mut g.a, "S\n");
    let mut round = g.a.create_label();
    let mut no_dot = g.a.create_label();
    g.a.xor(r12d, r12d).unwrap();
    g.a.set_label(&mut round).unwrap();
    g.a.inc(r12).unwrap();
    // Single-shot timer in the past: fires at once (from the timer thread).
    g.store64(ARGS + 0x80, 1);
    g.store64(ARGS + 0x88, 0);
    g.hcall(24, &[8, 0, ARGS + 0x80]); // VCPUOP_set_singleshot_timer
    wait_reaches(&mut g.a, COUNTS[PT]);
    send(&mut g, SLOTS[PING], ARGS + 0xc0);
    wait_reaches(&mut g.a, COUNTS[PONG]);
    g.a.test(r12d, DOT_EVERY - 1).unwrap();
    g.a.jnz(no_dot).unwrap();
    out_char(&mut g.a, b'.');
    g.a.set_label(&mut no_dot).unwrap();
    g.a.cmp(r12d, ROUNDS).unwrap();
    g.a.jb(round).unwrap();
    out_str(&mut g.a, "\ntimer=");
    out_hex(&mut g.a, COUNTS[PT]);
    out_str(&mut g.a, " ping=");
    out_hex(&mut g.a, COUNTS[PING]);
    out_str(&mut g.a, " pong=");
    out_hex(&mut g.a, COUNTS[PONG]);
    out_str(&mut g.a, "\n");
    g.shutdown(0);

    // ---- vCPU 1: answers each ping with a pong ----
    g.a.set_label(&mut vcpu1).unwrap();
    wait_nonzero(&mut g.a, READY);
    g.store32(ARGS + 0x200, 1);
    g.hcall(32, &[7, ARGS + 0x200]); // EVTCHNOP_bind_ipi(vCPU 1): ping
    publish_port(&mut g, ARGS + 0x204, SLOTS[PING], 1);
    g.a.sti().unwrap();
    g.a.xor(r13d, r13d).unwrap();
    let mut top = g.a.create_label();
    let mut got = g.a.create_label();
    g.a.set_label(&mut top).unwrap();
    g.a.cli().unwrap();
    g.a.mov(rcx, COUNTS[PING]).unwrap();
    g.a.cmp(qword_ptr(rcx), r13).unwrap();
    g.a.ja(got).unwrap();
    g.a.sti().unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut got).unwrap();
    g.a.sti().unwrap();
    g.a.inc(r13).unwrap();
    send(&mut g, SLOTS[PONG], ARGS + 0x240);
    g.a.jmp(top).unwrap();
    g.assemble()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xen-vmm-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn expected_counts() -> String {
    format!("timer={ROUNDS:016x} ping={ROUNDS:016x} pong={ROUNDS:016x}")
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
        .args(["run", "--mem", "32", "--vcpus", "2", "--raw64"])
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
    let out = bin()
        .args(["restore", "x.snap", "--mem", "64"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore takes only"));
    let _ = std::fs::remove_dir_all(dir);
}
