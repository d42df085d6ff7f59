// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benches on real KVM:
//! - `hypercall_round_trip/xen_version`: a guest loop of `xen_version`
//!   through the hypercall page (port-I/O exit, register decode, dispatch,
//!   result) against `hypercall_round_trip/bare_port_io`: the same loop
//!   doing only an `out` to an unclaimed port (the exit floor), in the same run.
//! - `evtchn_ipi_ping_pong`: two vCPUs bouncing an event-channel IPI with
//!   `EVTCHNOP_send` + `SCHEDOP_poll` (one iteration = one round trip).
//!
//! Each measurement creates a VM outside the timed region; the guest reads
//! its iteration count from memory, so the timed region is the guest loop
//! plus a constant VM start/stop cost amortised over the iterations.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const PAGE: u64 = 0x1f_f000;
const COUNT: u64 = 0x20_0000;
const ARGS: u64 = 0x28_0000;
const SHINFO: u64 = 0x30_0000;
const READY: u64 = 0x20_0100;
const P0: u64 = 0x20_0108;
const P1: u64 = 0x20_0110;

fn kvm_ok() -> bool {
    std::path::Path::new("/dev/kvm").exists()
}

fn hcall(a: &mut CodeAssembler, nr: u64, args: &[u64]) {
    for (i, &v) in args.iter().enumerate() {
        a.mov([rdi, rsi, rdx][i], v).unwrap();
    }
    a.call(PAGE + nr * 32).unwrap();
}

fn prologue(a: &mut CodeAssembler) {
    a.mov(ecx, 0x4000_0000u32).unwrap();
    a.mov(eax, PAGE as u32).unwrap();
    a.xor(edx, edx).unwrap();
    a.wrmsr().unwrap();
}

fn poweroff(a: &mut CodeAssembler) {
    a.mov(rcx, ARGS + 0xff0).unwrap();
    a.mov(dword_ptr(rcx), 0u32).unwrap();
    hcall(a, 29, &[2, ARGS + 0xff0]);
    a.hlt().unwrap();
}

/// Loop `[COUNT]` times around `body`, then power off.
fn looping(body: impl Fn(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    prologue(&mut a);
    a.mov(rcx, COUNT).unwrap();
    a.mov(r12, qword_ptr(rcx)).unwrap();
    let mut top = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut top).unwrap();
    a.test(r12, r12).unwrap();
    a.jz(done).unwrap();
    body(&mut a);
    a.dec(r12).unwrap();
    a.jmp(top).unwrap();
    a.set_label(&mut done).unwrap();
    poweroff(&mut a);
    a.assemble(0x10_0000).unwrap()
}

fn run_timed(image: &[u8], vcpus: u32, iters: u64) -> Duration {
    let mut cfg = VmConfig::new(Kernel::Raw64(image.to_vec()));
    cfg.vcpus = vcpus;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    {
        let mut root = Root::new().unwrap();
        let (m, _t) = vm.shared().mem.read(root.token());
        m.write_obj(iters, GuestAddress(COUNT)).unwrap();
    }
    let t = Instant::now();
    let r = vm.run().unwrap();
    let d = t.elapsed();
    assert_eq!(r, ExitReason::Shutdown(0));
    d
}

fn ping_pong_image() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut vcpu1 = a.create_label();
    prologue(&mut a);
    a.mov(eax, 0x4000_0004u32).unwrap();
    a.xor(ecx, ecx).unwrap();
    a.cpuid().unwrap();
    a.test(ebx, ebx).unwrap();
    a.jnz(vcpu1).unwrap();
    // vCPU 0: shared_info, two IPI ports.
    a.mov(rcx, ARGS).unwrap();
    a.mov(dword_ptr(rcx), 0x7ff0u32).unwrap();
    a.mov(dword_ptr(rcx + 4), 0u32).unwrap();
    a.mov(qword_ptr(rcx + 8), 0i32).unwrap();
    a.mov(qword_ptr(rcx + 16), (SHINFO >> 12) as i32).unwrap();
    hcall(&mut a, 12, &[7, ARGS]);
    for (vcpu, slot) in [(1u32, P1), (0, P0)] {
        a.mov(rcx, ARGS + 0x40).unwrap();
        a.mov(dword_ptr(rcx), vcpu).unwrap();
        hcall(&mut a, 32, &[7, ARGS + 0x40]);
        a.mov(rcx, ARGS + 0x44).unwrap();
        a.mov(eax, dword_ptr(rcx)).unwrap();
        a.mov(rcx, slot).unwrap();
        a.mov(qword_ptr(rcx), rax).unwrap();
    }
    a.mov(rcx, READY).unwrap();
    a.mov(qword_ptr(rcx), 1i32).unwrap();
    a.mov(rcx, COUNT).unwrap();
    a.mov(r12, qword_ptr(rcx)).unwrap();
    let mut top = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut top).unwrap();
    a.test(r12, r12).unwrap();
    a.jz(done).unwrap();
    bounce(&mut a, P1, P0);
    a.dec(r12).unwrap();
    a.jmp(top).unwrap();
    a.set_label(&mut done).unwrap();
    poweroff(&mut a);
    // vCPU 1: wait for setup, then answer forever.
    a.set_label(&mut vcpu1).unwrap();
    a.nop().unwrap();
    let mut wait = a.create_label();
    a.set_label(&mut wait).unwrap();
    a.pause().unwrap();
    a.mov(rcx, READY).unwrap();
    a.cmp(qword_ptr(rcx), 0).unwrap();
    a.je(wait).unwrap();
    let mut again = a.create_label();
    a.nop().unwrap();
    a.set_label(&mut again).unwrap();
    wait_port(&mut a, P1, 0x200);
    send(&mut a, P0, 0x200);
    a.jmp(again).unwrap();
    a.assemble(0x10_0000).unwrap()
}

/// EVTCHNOP_send on the port stored at `slot` (scratch at ARGS + off).
fn send(a: &mut CodeAssembler, slot: u64, off: u64) {
    a.mov(rcx, slot).unwrap();
    a.mov(rax, qword_ptr(rcx)).unwrap();
    a.mov(rcx, ARGS + off).unwrap();
    a.mov(dword_ptr(rcx), eax).unwrap();
    hcall(a, 32, &[4, ARGS + off]);
}

/// SCHEDOP_poll on the port at `slot`, then clear its pending bit.
fn wait_port(a: &mut CodeAssembler, slot: u64, off: u64) {
    let x = ARGS + off + 0x20;
    a.mov(rcx, slot).unwrap();
    a.mov(rax, qword_ptr(rcx)).unwrap();
    a.mov(rcx, x + 0x40).unwrap();
    a.mov(dword_ptr(rcx), eax).unwrap();
    a.mov(rcx, x).unwrap();
    a.mov(rdx, x + 0x40).unwrap();
    a.mov(qword_ptr(rcx), rdx).unwrap();
    a.mov(dword_ptr(rcx + 8), 1u32).unwrap();
    a.mov(qword_ptr(rcx + 16), 0i32).unwrap();
    hcall(a, 29, &[3, x]);
    // lock btr [SHINFO + 2048], port
    a.mov(rcx, slot).unwrap();
    a.mov(rax, qword_ptr(rcx)).unwrap();
    a.mov(rcx, SHINFO + 2048).unwrap();
    a.lock().btr(qword_ptr(rcx), rax).unwrap();
}

fn bounce(a: &mut CodeAssembler, to: u64, from: u64) {
    send(a, to, 0x100);
    wait_port(a, from, 0x100);
}

fn benches(c: &mut Criterion) {
    if !kvm_ok() {
        eprintln!("SKIPPED: /dev/kvm is not available");
        return;
    }
    let version = looping(|a| hcall(a, 17, &[0, 0]));
    let bare = looping(|a| {
        a.out(0x80, al).unwrap();
    });
    let mut g = c.benchmark_group("hypercall_round_trip");
    g.bench_function("xen_version", |b| {
        b.iter_custom(|iters| run_timed(&version, 1, iters))
    });
    g.bench_function("bare_port_io", |b| {
        b.iter_custom(|iters| run_timed(&bare, 1, iters))
    });
    g.finish();
    let pp = ping_pong_image();
    c.bench_function("evtchn_ipi_ping_pong", |b| {
        b.iter_custom(|iters| run_timed(&pp, 2, iters))
    });
}

criterion_group!(name = main_benches; config = Criterion::default().sample_size(10); targets = benches);
criterion_main!(main_benches);
