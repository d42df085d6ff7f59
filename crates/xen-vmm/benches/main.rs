// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Benches on real KVM, each with its baseline in the same run:
//! - `hypercall_round_trip/null_stub`: the floor. A guest loop doing the
//!   instructions of a hypercall (`mov`s of the arguments, a `call` into a
//!   stub shaped as a hypercall-page entry, `mov $17,%eax; out %eax,$0x80;
//!   ret`) whose port is unclaimed, so the VMM does nothing with the exit.
//! - `hypercall_round_trip/null_stub_result`: the null stub with `in` for
//!   `out` (`mov $18,%eax; in $0x80,%eax; ret`, unclaimed): KVM writes the
//!   port's data into EAX, so this is the floor of an exit that hands the
//!   guest a value, which every hypercall does (its result in RAX) and
//!   `null_stub` does not.
//! - `hypercall_round_trip/xen_version`: the same loop through the real
//!   hypercall page (`xen_version(XENVER_version)`: exit, decode, dispatch,
//!   result).
//! - `hypercall_round_trip/event_channel_op_send`: `EVTCHNOP_send` on an IPI
//!   port bound to the sending vCPU (shared_info mapped, no upcall method),
//!   the guest clearing the port's pending bit after each send (a `lock btr`,
//!   no exit) so that every send delivers.
//! - `hypercall_round_trip/null_stub_send_shape`: the floor of the send
//!   row: its guest loop (argument setup, the `lock btr` after each call)
//!   with the null stub called instead of the hypercall page.
//! - `hypercall_round_trip/sched_op_yield`: `SCHEDOP_yield`.
//! - `hypercall_round_trip/bare_port_io`: only an `out` to an unclaimed
//!   port (no `call`), for reference.
//! - `evtchn_ipi_ping_pong`: two vCPUs bouncing an event-channel IPI with
//!   `EVTCHNOP_send` + `SCHEDOP_poll` (one iteration = one round trip);
//!   `evtchn_ipi_ping_pong_no_halt_poll` the same with
//!   `VmConfig::halt_poll_max_ns` 0 (every wait parks).
//! - `snapshot/*`: a running 256 MiB, 2-vCPU guest that wrote 64 MiB of its
//!   RAM, then idles in HLT. `vm_256m_2vcpu` is `Vm::snapshot` (pause,
//!   capture, file written, fsync, rename, resume) against `fs_write_fsync_256m`:
//!   `fs::write` + fsync of as many bytes as the snapshot file holds on disk
//!   (its allocated blocks: the all-zero pages are holes), in the same
//!   directory. `restore_256m` is `Vm::restore` of that file (a new VM ready
//!   to run) against `fs_read_256m`, `fs::read` of the same file (holes read
//!   as zeros), and `fs_read_data_256m`, `fs::read` of the file
//!   `fs_write_fsync_256m` writes (the snapshot's data, without holes).
//!   `xen_state_only` is the Xen state without RAM or KVM state:
//!   `XenPlatform::state` plus its encoding at the file's format version.
//!
//! `PING_PONG_PROFILE_ITERS=N` (and `PING_PONG_HALT_POLL_NS`) runs one
//! ping-pong of N round trips instead of the benches, for profilers.
//!
//! `HYPERCALL_INTERLEAVED=N` instead runs the `hypercall_round_trip` images
//! in turn, N rounds of 20,000 iterations each (`HYPERCALL_INTERLEAVED_ITERS`
//! changes that), and prints each one's minimum
//! and median per iteration, and for each goal's pair (`xen_version` /
//! `null_stub`, send / `null_stub_send_shape`, yield / `null_stub`) the
//! median of the rounds' ratios (`HYPERCALL_IMAGES=id,id` keeps only those
//! images, for profilers): on a host whose speed drifts over minutes (this
//! one is a VM), ratios of runs made seconds apart are steadier than those of
//! criterion groups that run one bench after another.
//!
//! Each hypercall measurement creates a VM outside the timed region; the
//! guest reads its iteration count from memory, so the timed region is the
//! guest loop plus a constant VM start/stop cost amortised over the
//! iterations. The snapshot files go to `CARGO_TARGET_TMPDIR` (the disk of
//! the target directory).

use std::time::{Duration, Instant};

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use iced_x86::code_asm::*;
use versionize::Versionize;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::snapshot::format::{version_map, CURRENT_FORMAT_VERSION};
use xen_vmm::snapshot::xen_state::{
    ConsoleMirror, GrantState, XenState, XenVcpuState, XenstoreMirror,
};
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const PAGE: u64 = 0x1f_f000;
const COUNT: u64 = 0x20_0000;
const ARGS: u64 = 0x28_0000;
const SHINFO: u64 = 0x30_0000;
const READY: u64 = 0x20_0100;
const P0: u64 = 0x20_0108;
const P1: u64 = 0x20_0110;
/// The null stub: `mov $17,%eax; out %eax,$0x80; ret`, a page below the
/// hypercall page (as its entry 17 would be, on an unclaimed port).
const STUB: u64 = 0x1f_e000 + 17 * 32;
const STUB_CODE: [u8; 8] = [0xb8, 17, 0, 0, 0, 0xe7, 0x80, 0xc3];
/// The null stub returning a value: `mov $18,%eax; in $0x80,%eax; ret`, as
/// entry 18 would be.
const STUB_RESULT: u64 = 0x1f_e000 + 18 * 32;
const STUB_RESULT_CODE: [u8; 8] = [0xb8, 18, 0, 0, 0, 0xe5, 0x80, 0xc3];
/// The snapshot guest's RAM, and what it writes of it (from 16 MiB).
const SNAP_MEM: u64 = 256 << 20;
const SNAP_TOUCH: u64 = 64 << 20;

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
    run_timed_with(image, vcpus, iters, xen_vmm::halt_poll::DEFAULT_MAX_NS)
}

fn run_timed_with(image: &[u8], vcpus: u32, iters: u64, halt_poll_max_ns: u64) -> Duration {
    let mut cfg = VmConfig::new(Kernel::Raw64(image.to_vec()));
    cfg.vcpus = vcpus;
    cfg.halt_poll_max_ns = halt_poll_max_ns;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    {
        let mut root = Root::new().unwrap();
        let (m, _t) = vm.shared().mem.read(root.token());
        m.write_obj(iters, GuestAddress(COUNT)).unwrap();
        m.write_slice(&STUB_CODE, GuestAddress(STUB)).unwrap();
        m.write_slice(&STUB_RESULT_CODE, GuestAddress(STUB_RESULT))
            .unwrap();
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
    unless_vcpu0(&mut a, vcpu1);
    // vCPU 0: shared_info, two IPI ports.
    map_shared_info(&mut a);
    bind_ipi(&mut a, 1, P1);
    bind_ipi(&mut a, 0, P0);
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

/// Maps shared_info at SHINFO, binds an IPI port to vCPU `vcpu` and
/// stores its number at `slot`.
fn shared_info_and_ipi(a: &mut CodeAssembler, vcpu: u32, slot: u64) {
    map_shared_info(a);
    bind_ipi(a, vcpu, slot);
}

/// `XENMEM_add_to_physmap` of shared_info at SHINFO.
fn map_shared_info(a: &mut CodeAssembler) {
    a.mov(rcx, ARGS).unwrap();
    a.mov(dword_ptr(rcx), 0x7ff0u32).unwrap();
    a.mov(dword_ptr(rcx + 4), 0u32).unwrap();
    a.mov(qword_ptr(rcx + 8), 0i32).unwrap();
    a.mov(qword_ptr(rcx + 16), (SHINFO >> 12) as i32).unwrap();
    hcall(a, 12, &[7, ARGS]);
}

/// `EVTCHNOP_bind_ipi` to vCPU `vcpu`; the port is stored at `slot`.
fn bind_ipi(a: &mut CodeAssembler, vcpu: u32, slot: u64) {
    a.mov(rcx, ARGS + 0x40).unwrap();
    a.mov(dword_ptr(rcx), vcpu).unwrap();
    hcall(a, 32, &[7, ARGS + 0x40]);
    a.mov(rcx, ARGS + 0x44).unwrap();
    a.mov(eax, dword_ptr(rcx)).unwrap();
    a.mov(rcx, slot).unwrap();
    a.mov(qword_ptr(rcx), rax).unwrap();
}

/// Jumps to `other` on every vCPU but vCPU 0 (its index from CPUID leaf
/// 0x40000004, EBX).
fn unless_vcpu0(a: &mut CodeAssembler, other: CodeLabel) {
    a.mov(eax, 0x4000_0004u32).unwrap();
    a.xor(ecx, ecx).unwrap();
    a.cpuid().unwrap();
    a.test(ebx, ebx).unwrap();
    a.jnz(other).unwrap();
}

/// `EVTCHNOP_send` on a port bound to the sender, pending bit cleared after.
fn send_loop_image() -> Vec<u8> {
    send_shaped_loop(true)
}

/// The send loop; `send` false calls the null stub instead of the
/// `event_channel_op` entry: the same guest instructions (argument setup,
/// call, the `lock btr` that clears the pending bit), no hypercall.
fn send_shaped_loop(send: bool) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    prologue(&mut a);
    shared_info_and_ipi(&mut a, 0, P0);
    // The send argument, written once: the loop is the hypercall.
    a.mov(rcx, P0).unwrap();
    a.mov(rax, qword_ptr(rcx)).unwrap();
    a.mov(rcx, ARGS + 0x100).unwrap();
    a.mov(dword_ptr(rcx), eax).unwrap();
    a.mov(r13, rax).unwrap();
    a.mov(r14, SHINFO + 2048).unwrap();
    a.mov(rcx, COUNT).unwrap();
    a.mov(r12, qword_ptr(rcx)).unwrap();
    let mut top = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut top).unwrap();
    a.test(r12, r12).unwrap();
    a.jz(done).unwrap();
    if send {
        hcall(&mut a, 32, &[4, ARGS + 0x100]);
    } else {
        a.mov(rdi, 4u64).unwrap();
        a.mov(rsi, ARGS + 0x100).unwrap();
        a.call(STUB).unwrap();
    }
    a.lock().btr(qword_ptr(r14), r13).unwrap();
    a.dec(r12).unwrap();
    a.jmp(top).unwrap();
    a.set_label(&mut done).unwrap();
    poweroff(&mut a);
    a.assemble(0x10_0000).unwrap()
}

/// The snapshot guest: vCPU 0 maps shared_info, binds IPI ports to both
/// vCPUs, writes one qword in each page of [16 MiB, 16 MiB + SNAP_TOUCH),
/// sets READY; both vCPUs then idle in HLT with interrupts on.
fn snapshot_image() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut idle = a.create_label();
    prologue(&mut a);
    unless_vcpu0(&mut a, idle);
    shared_info_and_ipi(&mut a, 1, P1);
    bind_ipi(&mut a, 0, P0);
    a.mov(rbx, 16u64 << 20).unwrap();
    a.mov(rdx, (16u64 << 20) + SNAP_TOUCH).unwrap();
    let mut touch = a.create_label();
    a.set_label(&mut touch).unwrap();
    a.mov(qword_ptr(rbx), rbx).unwrap();
    a.add(rbx, 4096i32).unwrap();
    a.cmp(rbx, rdx).unwrap();
    a.jb(touch).unwrap();
    a.mov(rcx, READY).unwrap();
    a.mov(qword_ptr(rcx), 1i32).unwrap();
    a.set_label(&mut idle).unwrap();
    a.sti().unwrap();
    a.hlt().unwrap();
    a.jmp(idle).unwrap();
    a.assemble(0x10_0000).unwrap()
}

fn read_u64(vm: &Vm, gpa: u64) -> u64 {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

/// `XenPlatform::state` as `Vm::snapshot` mirrors it, encoded at the file's
/// format version (the Xen state of a snapshot, without RAM or KVM state).
fn encode_xen_state(vm: &Vm) -> Vec<u8> {
    let shared = vm.shared();
    let mut root = Root::new().unwrap();
    let ps = shared.platform.state(root.token());
    let mut xen = XenState {
        mem_bytes: shared.mem_bytes,
        vcpus: vec![XenVcpuState::default(); ps.xen.vcpus.len()],
        ..Default::default()
    };
    xen.set_evtchn(&ps.evtchn);
    xen.set_pages(&ps.pages);
    xen.hvm_params = ps.xen.params.clone();
    xen.console_port = ps.xen.console_port();
    xen.store_port = ps.xen.store_port();
    xen.grant_frame_gpas = ps.xen.grant_frames.clone();
    xen.tot_pages = ps.xen.tot_pages;
    xen.absent_gfns = ps.xen.absent.iter().copied().collect();
    for (m, v) in xen.vcpus.iter_mut().zip(&ps.xen.vcpus) {
        m.timer_deadline_ns = v.singleshot_ns;
        m.periodic_period_ns = v.period_ns;
        m.initialised = v.initialised;
        m.start = v.start.as_ref().map(Into::into);
    }
    xen.console = Some(ConsoleMirror::from(&ps.console));
    xen.xenstore = Some(XenstoreMirror::from(&ps.store));
    xen.grant = GrantState::from(&ps.gnttab);
    let mut out = Vec::new();
    xen.serialize(&mut out, &version_map(), CURRENT_FORMAT_VERSION)
        .unwrap();
    out
}

fn fs_write_fsync(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    std::fs::File::open(path).unwrap().sync_all().unwrap();
}

fn snapshot_benches(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xen-vmm-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let snap = dir.join("vm.snap");
    let plain = dir.join("plain.bin");
    let mut cfg = VmConfig::new(Kernel::Raw64(snapshot_image()));
    cfg.vcpus = 2;
    cfg.mem_mib = SNAP_MEM >> 20;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let t = Instant::now();
        while read_u64(&vm, READY) != 1 {
            assert!(t.elapsed() < Duration::from_secs(60), "snapshot guest hung");
            std::thread::sleep(Duration::from_millis(5));
        }
        let stats = vm.snapshot(Root::new().unwrap().token(), &snap).unwrap();
        let on_disk = std::fs::metadata(&snap).unwrap().blocks() * 512;
        eprintln!(
            "snapshot file: {} bytes, {} on disk, state {} bytes, Xen state alone {} bytes",
            stats.file_len,
            on_disk,
            stats.state_len,
            encode_xen_state(&vm).len()
        );
        let bytes = vec![0xa5u8; on_disk as usize];
        let mut g = c.benchmark_group("snapshot");
        g.sample_size(10);
        g.bench_function("vm_256m_2vcpu", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    vm.snapshot(Root::new().unwrap().token(), &snap).unwrap();
                }
                t.elapsed()
            })
        });
        g.bench_function("fs_write_fsync_256m", |b| {
            b.iter(|| fs_write_fsync(&plain, &bytes))
        });
        g.bench_function("restore_256m", |b| {
            b.iter_custom(|iters| {
                let mut d = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let r = Vm::restore(&snap, Box::new(std::io::sink())).unwrap();
                    d += t.elapsed();
                    drop(r);
                }
                d
            })
        });
        g.bench_function("fs_read_256m", |b| {
            b.iter(|| std::fs::read(&snap).unwrap().len())
        });
        // The bytes `fs_write_fsync_256m` writes, read back: the data of the
        // snapshot without its holes (what a sparse restore reads).
        fs_write_fsync(&plain, &bytes);
        g.bench_function("fs_read_data_256m", |b| {
            b.iter(|| std::fs::read(&plain).unwrap().len())
        });
        g.bench_function("xen_state_only", |b| b.iter(|| encode_xen_state(&vm)));
        g.finish();
        vm.shared().finish(ExitReason::Shutdown(0));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn benches(c: &mut Criterion) {
    if !kvm_ok() {
        eprintln!("SKIPPED: /dev/kvm is not available");
        return;
    }
    if let Some(n) = env_u64("PING_PONG_PROFILE_ITERS") {
        // Profile mode (docs/architecture.md, issue 15): one ping-pong run of
        // `n` round trips, for `perf stat` / `perf record` to divide by `n`.
        let poll = env_u64("PING_PONG_HALT_POLL_NS").unwrap_or(xen_vmm::halt_poll::DEFAULT_MAX_NS);
        let d = run_timed_with(&ping_pong_image(), 2, n, poll);
        eprintln!(
            "ping-pong: {n} round trips in {d:?} ({:.2} us each), halt_poll_max_ns {poll}",
            d.as_secs_f64() * 1e6 / n as f64
        );
        return;
    }
    let version = looping(|a| hcall(a, 17, &[0, 0]));
    // The loop of `xen_version` with a call into `stub` instead.
    let null_loop = |stub: u64| {
        looping(|a| {
            a.mov(rdi, 0u64).unwrap();
            a.mov(rsi, 0u64).unwrap();
            a.call(stub).unwrap();
        })
    };
    let null = null_loop(STUB);
    let null_result = null_loop(STUB_RESULT);
    let yields = looping(|a| hcall(a, 29, &[0, 0]));
    let sends = send_loop_image();
    let null_send_shape = send_shaped_loop(false);
    let bare = looping(|a| {
        a.out(0x80, al).unwrap();
    });
    let images = [
        ("null_stub", &null),
        ("null_stub_result", &null_result),
        ("xen_version", &version),
        ("event_channel_op_send", &sends),
        ("null_stub_send_shape", &null_send_shape),
        ("sched_op_yield", &yields),
        ("bare_port_io", &bare),
    ];
    if let Some(rounds) = env_u64("HYPERCALL_INTERLEAVED") {
        // `HYPERCALL_IMAGES=a,b` keeps only those images (for profilers).
        let only = std::env::var("HYPERCALL_IMAGES").ok();
        let images: Vec<_> = images
            .into_iter()
            .filter(|(id, _)| {
                only.as_deref()
                    .is_none_or(|o| o.split(',').any(|x| x == *id))
            })
            .collect();
        interleaved(&images, rounds);
        return;
    }
    let mut g = c.benchmark_group("hypercall_round_trip");
    for (id, image) in images {
        g.bench_function(id, |b| b.iter_custom(|iters| run_timed(image, 1, iters)));
    }
    g.finish();
    let pp = ping_pong_image();
    c.bench_function("evtchn_ipi_ping_pong", |b| {
        b.iter_custom(|iters| run_timed(&pp, 2, iters))
    });
    // The same without halt polling: what parking and waking cost.
    c.bench_function("evtchn_ipi_ping_pong_no_halt_poll", |b| {
        b.iter_custom(|iters| run_timed_with(&pp, 2, iters, 0))
    });
    snapshot_benches(c);
}

/// Runs `images` in turn, `rounds` times; prints each one's minimum and
/// median time per iteration, and the median of the rounds' ratios of each
/// goal's pair.
fn interleaved(images: &[(&str, &Vec<u8>)], rounds: u64) {
    let iters = env_u64("HYPERCALL_INTERLEAVED_ITERS")
        .unwrap_or(20_000)
        .max(1);
    let mut us: Vec<Vec<f64>> = vec![Vec::new(); images.len()];
    for _ in 0..rounds.max(1) {
        for (i, (_, image)) in images.iter().enumerate() {
            let d = run_timed(image, 1, iters);
            us[i].push(d.as_secs_f64() * 1e6 / iters as f64);
        }
    }
    // Each round's ratio is of two runs made within a second of each other:
    // the host's drift between rounds cancels out of it.
    let pairs = [
        ("xen_version", "null_stub"),
        ("xen_version", "null_stub_result"),
        ("event_channel_op_send", "null_stub_send_shape"),
        ("sched_op_yield", "null_stub"),
    ];
    let index = |id: &str| images.iter().position(|(i, _)| *i == id);
    for (a, b) in pairs {
        if let (Some(a_i), Some(b_i)) = (index(a), index(b)) {
            let mut r: Vec<f64> = us[a_i].iter().zip(&us[b_i]).map(|(x, y)| x / y).collect();
            r.sort_by(f64::total_cmp);
            eprintln!(
                "ratio {a} / {b}: median of rounds {:.4} (quartiles {:.4}-{:.4})",
                r[r.len() / 2],
                r[r.len() / 4],
                r[r.len() * 3 / 4]
            );
        }
    }
    for ((id, _), mut v) in images.iter().zip(us) {
        v.sort_by(f64::total_cmp);
        let (min, median) = (v[0], v[v.len() / 2]);
        eprintln!("hypercall_round_trip/{id}: min {min:.3} us, median {median:.3} us");
    }
}

criterion_group!(name = main_benches; config = Criterion::default().sample_size(10); targets = benches);
criterion_main!(main_benches);
