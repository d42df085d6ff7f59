// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The PV console ring (output and host input), the xenstore ring, the
//! pvclock time info and wall clock, `console_io` (output kept apart from the
//! ring, input through `CONSOLEIO_read`), and the backend channels after
//! `EVTCHNOP_reset`, driven by a guest on real KVM.

mod common;

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::snapshot::open_file;
use xen_vmm::snapshot::xen_state::PortKind;
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const MEM: u64 = 64 << 20;
const CONSOLE: u64 = MEM - 0x1000;
const STORE: u64 = MEM - 0x2000;

fn get_param(g: &mut Guest, index: u32, out: u64) {
    g.store32(ARGS, 0x7ff0);
    g.store32(ARGS + 4, index);
    g.hcall(34, &[1, ARGS]);
    g.store_result(out);
    g.a.mov(rcx, ARGS + 8).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, out + 8).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
}

/// `EVTCHNOP_status` of the port held (u64) at `port_slot`: the struct is
/// written at `st`, the return value stored at `out`.
fn status(g: &mut Guest, port_slot: u64, st: u64, out: u64) {
    g.store32(st, 0x7ff0); // DOMID_SELF
    g.a.mov(rcx, port_slot).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, st + 4).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[5, st]);
    g.store_result(out);
}

/// `CONSOLEIO_write` of `bytes` (copied to `buf` first).
fn console_io_write(g: &mut Guest, buf: u64, bytes: &[u8]) {
    put_bytes(g, buf, bytes);
    g.hcall(18, &[0, bytes.len() as u64, buf]);
}

/// Puts `bytes` on the console's out ring (empty, its indices at `prod`),
/// then signals the console port held at `port_slot`.
fn ring_write(g: &mut Guest, prod: u32, bytes: &[u8], port_slot: u64) {
    put_bytes(g, CONSOLE + 1024 + u64::from(prod), bytes);
    g.store32(CONSOLE + 3084, prod + bytes.len() as u32);
    send(g, port_slot);
}

/// Reads the u32 at `gpa` of a VM that may be running.
fn peek(vm: &Vm, gpa: u64) -> u32 {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

/// Writes the u32 at `gpa` of a VM that may be running.
fn poke(vm: &Vm, gpa: u64, v: u32) {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.write_obj(v, GuestAddress(gpa)).unwrap();
}

/// Whether event-channel port `port` is pending in the guest's shared_info.
fn port_pending(run: &Run, port: u64) -> bool {
    let word = run.u64(SHINFO + 2048 + port / 64 * 8);
    word & (1 << (port % 64)) != 0
}

/// Host input that arrives when the test sends it.
struct Input(mpsc::Receiver<Vec<u8>>);

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.recv() {
            Ok(b) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                Ok(n)
            }
            Err(_) => Ok(0),
        }
    }
}

/// Runs a 64-bit guest with console `input`, calling `tick` while it runs;
/// fails the test after a generous hang guard.
fn run_guest(
    image: Vec<u8>,
    input: Option<Box<dyn Read + Send>>,
    mut tick: impl FnMut(&Vm),
) -> Run {
    let (tx, rx) = mpsc::channel();
    let mut cfg = VmConfig::new(Kernel::Raw64(image));
    cfg.output = Box::new(Capture(tx));
    cfg.console_input = input;
    let vm = Vm::new(cfg).unwrap();
    let reason = std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        let start = Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(120) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not finish");
            }
            tick(&vm);
            std::thread::sleep(Duration::from_millis(2));
        }
        h.join().unwrap().unwrap()
    });
    let mut out = Vec::new();
    while let Ok(b) = rx.try_recv() {
        out.extend(b);
    }
    Run {
        vm,
        reason,
        output: String::from_utf8_lossy(&out).into_owned(),
    }
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn pv_console_xenstore_and_pvclock() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    get_param(&mut g, 17, DATA); // CONSOLE_PFN
    get_param(&mut g, 18, DATA + 0x10); // CONSOLE_EVTCHN
    get_param(&mut g, 1, DATA + 0x20); // STORE_PFN
    get_param(&mut g, 2, DATA + 0x30); // STORE_EVTCHN
    g.map_shared_info(SHINFO);

    // Console output.
    let msg = b"pv console ok\n";
    put_bytes(&mut g, CONSOLE + 1024, msg);
    g.store32(CONSOLE + 3084, msg.len() as u32);
    send(&mut g, DATA + 0x18);
    // Wait for the VMM to consume it.
    yield_until(&mut g, CONSOLE + 3080, msg.len() as u32);

    // Xenstore: XS_READ "domid", then XS_READ "nothing/here".
    let mut req = Vec::new();
    for (id, path) in [(7u32, &b"domid\0"[..]), (8, &b"nothing/here\0"[..])] {
        req.extend_from_slice(&2u32.to_le_bytes());
        req.extend_from_slice(&id.to_le_bytes());
        req.extend_from_slice(&0u32.to_le_bytes());
        req.extend_from_slice(&(path.len() as u32).to_le_bytes());
        req.extend_from_slice(path);
    }
    put_bytes(&mut g, STORE, &req);
    g.store32(STORE + 2052, req.len() as u32);
    send(&mut g, DATA + 0x38);
    // Replies: header + "1" (XS_READ) and header + "ENOENT\0" (XS_ERROR).
    yield_until(&mut g, STORE + 2060, 16 + 1 + 16 + 7);

    // Console input from the host.
    yield_until(&mut g, CONSOLE + 3076, 3);
    g.shutdown(0);

    let before = SystemTime::now();
    let run = run_guest(
        g.assemble(),
        Some(Box::new(std::io::Cursor::new(b"hi\n".to_vec()))),
        |_| {},
    );
    let after = SystemTime::now();
    assert_eq!(run.reason, ExitReason::Shutdown(0));
    assert!(run.output.contains("pv console ok"), "{:?}", run.output);

    assert_eq!(run.i64(DATA), 0);
    assert_eq!(run.u64(DATA + 8), CONSOLE >> 12);
    assert_eq!(run.u64(DATA + 0x20 + 8), STORE >> 12);
    assert_ne!(run.u64(DATA + 0x18), run.u64(DATA + 0x38));
    // Xenstore replies.
    let replies = STORE + 1024;
    assert_eq!(run.u32(replies), 2, "XS_READ reply");
    assert_eq!(run.u32(replies + 4), 7);
    assert_eq!(run.u32(replies + 12), 1);
    assert_eq!(run.u64(replies + 16) as u8, b'1');
    let e = replies + 17;
    let mut hdr = [0u32; 4];
    let mut bytes = Vec::new();
    for i in 0..(16 + 7) {
        bytes.push(run.u64(e + i) as u8);
    }
    for (i, h) in hdr.iter_mut().enumerate() {
        *h = u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
    }
    assert_eq!(hdr[0], 16, "XS_ERROR");
    assert_eq!(hdr[1], 8);
    assert_eq!(&bytes[16..22], b"ENOENT");
    // Console input landed in the in ring.
    assert_eq!(run.u32(CONSOLE + 3076), 3);
    assert_eq!(
        run.u32(CONSOLE) & 0xff_ffff,
        u32::from_le_bytes([b'h', b'i', b'\n', 0])
    );
    // pvclock in vcpu_info[0].time: version even, a usable scale.
    let t = SHINFO + 32;
    assert_eq!(run.u32(t) % 2, 0);
    assert_ne!(run.u32(t + 24), 0, "tsc_to_system_mul");
    // Wall clock as the guest computes it: shared_info's wc_sec.wc_nsec (Unix
    // time at system time 0) plus vcpu_info[0].time.system_time, the system
    // time when that pvclock was written, which happened during the run.
    assert_eq!(run.u32(SHINFO + 3072) % 2, 0, "wc_version");
    let wc = f64::from(run.u32(SHINFO + 3076)) + f64::from(run.u32(SHINFO + 3080)) * 1e-9;
    let system_time = run.u64(t + 16) as f64 * 1e-9;
    let guest_now = wc + system_time;
    assert!(
        unix_secs(before) - 2.0 <= guest_now && guest_now <= unix_secs(after) + 2.0,
        "guest wall clock {guest_now} (wc {wc} + system time {system_time}) is not within the run [{}, {}]",
        unix_secs(before),
        unix_secs(after)
    );
}

/// After `EVTCHNOP_reset` (which closes every port, the console's and
/// xenstore's too) the VMM binds its backend channels again: the ports in
/// the HVM params are open and interdomain to the backend domain, sends on
/// them succeed, output and xenstore replies come back with the ports
/// raised, and a snapshot records the same ports (no stale host ports).
#[test]
fn backends_survive_evtchn_reset() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    get_param(&mut g, 18, DATA); // CONSOLE_EVTCHN before
    get_param(&mut g, 2, DATA + 0x10); // STORE_EVTCHN before
                                       // EVTCHNOP_reset(DOMID_SELF).
    g.store32(ARGS + 0x200, 0x7ff0);
    g.hcall(32, &[10, ARGS + 0x200]);
    g.store_result(DATA + 0x20);
    get_param(&mut g, 18, DATA + 0x30); // after: value at DATA + 0x38
    get_param(&mut g, 2, DATA + 0x40); // after: value at DATA + 0x48
    status(&mut g, DATA + 0x38, ARGS + 0x300, DATA + 0x50);
    status(&mut g, DATA + 0x48, ARGS + 0x340, DATA + 0x58);

    // Console output through the (new) console port.
    let msg = b"console after reset\n";
    ring_write(&mut g, 0, msg, DATA + 0x38);
    g.store_result(DATA + 0x60);
    // XS_READ "domid" through the (new) store port.
    let mut req = Vec::new();
    req.extend_from_slice(&2u32.to_le_bytes());
    req.extend_from_slice(&9u32.to_le_bytes());
    req.extend_from_slice(&0u32.to_le_bytes());
    req.extend_from_slice(&6u32.to_le_bytes());
    req.extend_from_slice(b"domid\0");
    put_bytes(&mut g, STORE, &req);
    g.store32(STORE + 2052, req.len() as u32);
    send(&mut g, DATA + 0x48);
    g.store_result(DATA + 0x68);
    // Both sends ran their backend synchronously: no yield (a yield would
    // run the backends whatever the ports).
    g.shutdown(0);

    let run = run_guest(g.assemble(), None, |_| {});
    assert_eq!(run.reason, ExitReason::Shutdown(0), "{}", run.output);
    assert_eq!(run.i64(DATA + 0x20), 0, "EVTCHNOP_reset");
    let (console, store) = (run.u64(DATA + 0x38), run.u64(DATA + 0x48));
    assert_ne!(console, 0);
    assert_ne!(store, 0);
    assert_ne!(console, store);
    for (what, res, st) in [
        ("console", DATA + 0x50, ARGS + 0x300),
        ("store", DATA + 0x58, ARGS + 0x340),
    ] {
        assert_eq!(run.i64(res), 0, "{what}: EVTCHNOP_status");
        assert_eq!(run.u32(st + 8), 2, "{what}: EVTCHNSTAT_interdomain");
        assert_eq!(run.u32(st + 16) & 0xffff, 0, "{what}: remote domain 0");
    }
    assert_eq!(run.i64(DATA + 0x60), 0, "send on the console port");
    assert_eq!(run.i64(DATA + 0x68), 0, "send on the store port");
    assert!(
        run.output.contains("console after reset"),
        "{:?}",
        run.output
    );
    assert_eq!(run.u32(CONSOLE + 3080), msg.len() as u32, "out_cons");
    assert!(port_pending(&run, console), "console port raised");
    // The xenstore reply: XS_READ, req_id 9, "1".
    let replies = STORE + 1024;
    assert_eq!(run.u32(STORE + 2060), 17, "rsp_prod");
    assert_eq!(run.u32(replies), 2);
    assert_eq!(run.u32(replies + 4), 9);
    assert_eq!(run.u64(replies + 16) as u8, b'1');
    assert!(port_pending(&run, store), "store port raised");

    // A snapshot records the ports the guest reads, open and connected to
    // the VMM's backends, and only the two live host ports.
    let path = std::env::temp_dir().join(format!("xen-vmm-reset-{}.snap", std::process::id()));
    run.vm
        .snapshot(vm_lock::Root::new().unwrap().token(), &path)
        .unwrap();
    let snap = open_file(&path).unwrap().state().clone();
    let _ = std::fs::remove_file(&path);
    let x = &snap.xen;
    assert_eq!(u64::from(x.console_port), console);
    assert_eq!(u64::from(x.store_port), store);
    assert_eq!(x.hvm_params[18], console);
    assert_eq!(x.hvm_params[2], store);
    for port in [console, store] {
        let p = x.ports.iter().find(|p| u64::from(p.port) == port);
        assert_eq!(
            p.map(|p| p.kind),
            Some(PortKind::Backend as u8),
            "{:?}",
            x.ports
        );
    }
    assert_eq!(x.host_ports.len(), 2, "{:?}", x.host_ports);
    // The store's copies of the ports follow, as a toolstack rewrites them.
    let mut root = vm_lock::Root::new().unwrap();
    let (be, _t) = run.vm.shared().platform.backends().lock(root.token());
    for (node, port) in [("console/port", console), ("store/port", store)] {
        assert_eq!(
            be.store.read(node),
            Some(port.to_string().as_bytes()),
            "{node}"
        );
    }
}

/// Host console input reaches a guest that reads it with `CONSOLEIO_read`
/// (and `VIRQ_CONSOLE` tells it input is there); it does not also land in
/// the PV ring.
#[test]
fn console_io_read_gets_host_input() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    // EVTCHNOP_bind_virq(VIRQ_CONSOLE, vCPU 0): port at ARGS + 0x408.
    g.store32(ARGS + 0x400, 2);
    g.store32(ARGS + 0x404, 0);
    g.hcall(32, &[1, ARGS + 0x400]);
    g.store_result(DATA + 0x40);
    // Read until 3 bytes arrived (r12 = bytes so far) or the host gives up
    // (a hang guard: it sets the u32 at DATA + 0x20).
    g.a.xor(r12d, r12d).unwrap();
    let mut top = g.a.create_label();
    let mut done = g.a.create_label();
    g.a.set_label(&mut top).unwrap();
    g.a.mov(rsi, 16u64).unwrap();
    g.a.mov(rdx, DATA + 0x100).unwrap();
    g.a.add(rdx, r12).unwrap();
    g.a.mov(rdi, 1u64).unwrap(); // CONSOLEIO_read
    g.call(18);
    g.a.mov(rcx, DATA + 0x10).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap(); // last return value
    g.a.test(rax, rax).unwrap();
    g.a.js(done).unwrap();
    g.a.add(r12, rax).unwrap();
    g.store32(DATA, 1); // the host may send input now
    g.a.cmp(r12, 3).unwrap();
    g.a.jae(done).unwrap();
    g.a.mov(rcx, DATA + 0x20).unwrap();
    g.a.cmp(dword_ptr(rcx), 0).unwrap();
    g.a.jne(done).unwrap();
    g.hcall(29, &[0, 0]); // SCHEDOP_yield
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut done).unwrap();
    g.a.mov(rcx, DATA + 8).unwrap();
    g.a.mov(qword_ptr(rcx), r12).unwrap();
    g.shutdown(0);

    let (tx, rx) = mpsc::channel();
    let mut tx = Some(tx);
    let mut sent = None;
    let run = run_guest(g.assemble(), Some(Box::new(Input(rx))), |vm| {
        // Once the guest has read (nothing) once, the host types "xyz".
        if tx.is_some() && peek(vm, DATA) == 1 {
            tx.take().unwrap().send(b"xyz".to_vec()).unwrap();
            sent = Some(Instant::now());
        }
        // Hang guard (not a speed test): stop a guest that never gets it.
        if sent.is_some_and(|t| t.elapsed() > Duration::from_secs(30)) {
            poke(vm, DATA + 0x20, 1);
        }
    });
    assert_eq!(run.reason, ExitReason::Shutdown(0), "{}", run.output);
    let last = run.i64(DATA + 0x10);
    assert!(last >= 0, "CONSOLEIO_read returned {last}");
    assert_eq!(run.u64(DATA + 8), 3, "bytes read");
    assert_eq!(
        run.u32(DATA + 0x100) & 0xff_ffff,
        u32::from_le_bytes([b'x', b'y', b'z', 0])
    );
    assert_eq!(
        run.u32(CONSOLE + 3076),
        0,
        "nothing went to the ring (in_prod)"
    );
    assert_eq!(run.i64(DATA + 0x40), 0, "bind VIRQ_CONSOLE");
    let virq_port = u64::from(run.u32(ARGS + 0x408));
    assert!(port_pending(&run, virq_port), "VIRQ_CONSOLE raised");
}

/// A guest writing through both `console_io` and the PV console ring: each
/// text appears once, the `console_io` lines whole and prefixed `(d1) `,
/// the ring's bytes as they are.
#[test]
fn console_io_and_ring_output_stay_apart() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    get_param(&mut g, 18, DATA); // CONSOLE_EVTCHN at DATA + 8
                                 // The same line through both, as a kernel with an early console does.
    console_io_write(&mut g, ARGS + 0x500, b"same line\n");
    ring_write(&mut g, 0, b"same line\n", DATA + 8);
    // A console_io line written in two pieces around ring output.
    console_io_write(&mut g, ARGS + 0x500, b"AAA");
    ring_write(&mut g, 10, b"BBB\n", DATA + 8);
    console_io_write(&mut g, ARGS + 0x500, b"aaa\n");
    // A console_io line without its newline when the guest ends.
    console_io_write(&mut g, ARGS + 0x500, b"last");
    g.shutdown(0);

    let run = run_guest(g.assemble(), None, |_| {});
    assert_eq!(run.reason, ExitReason::Shutdown(0), "{}", run.output);
    let lines: Vec<&str> = run.output.lines().collect();
    assert_eq!(
        lines,
        [
            "(d1) same line",
            "same line",
            "BBB",
            "(d1) AAAaaa",
            "(d1) last"
        ],
        "{:?}",
        run.output
    );
}

/// A grant frame placed above 4 GiB, where Linux's unpopulated-memory
/// allocator puts it (issue 13: this got -EINVAL and Linux then disabled
/// grant tables). The guest maps 5 GiB with its own page tables, maps grant
/// frame 0 there, writes a grant entry through that mapping and reads it
/// back; the VMM sees the entry in its grant table. The top page below the
/// guest's physical address width (CPUID 0x80000008) is accepted too, the
/// first page beyond it is not.
#[test]
fn grant_frame_above_4g() {
    if !require_kvm() {
        return;
    }
    const HIGH: u64 = 5 << 30;
    const PD: u64 = 0x2f_0000;
    const PDPT: u64 = 0x3000; // the raw64 identity map's PDPT
    const RES: u64 = DATA + 0x800;
    const ENTRY: u64 = 1 | (0x1234 << 32); // GTF_PERMIT_ACCESS, dom 0, frame 0x1234
    let mut g = Guest::new64();
    g.hypercall_page();
    // PDPT[5] -> a new PD whose entry 0 is a 2 MiB page at 5 GiB.
    g.store64(PD, HIGH | 0x83);
    g.store64(PDPT + 5 * 8, PD | 0x3);
    g.a.mov(rax, cr3).unwrap();
    g.a.mov(cr3, rax).unwrap();

    let physmap = |g: &mut Guest, idx: u64, out: u64| {
        g.store32(ARGS, 0x7ff0);
        g.store32(ARGS + 4, 1); // XENMAPSPACE_grant_table
        g.store64(ARGS + 8, idx);
        g.hcall(12, &[7, ARGS]);
        g.store_result(out);
    };
    // Grant frame 0 at GFN 0x140000 (5 GiB).
    g.store64(ARGS + 16, HIGH >> 12);
    physmap(&mut g, 0, RES);
    // The guest writes grant entry 3 through its mapping and reads it back.
    g.a.mov(rcx, HIGH + 3 * 8).unwrap();
    g.a.mov(rax, ENTRY).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.store_result(RES + 8);
    // GNTTABOP_query_size and GNTTABOP_setup_table(1 frame) agree.
    g.store32(ARGS + 0x100, 0x7ff0);
    g.hcall(20, &[6, ARGS + 0x100, 1]);
    g.store_result(RES + 0x10);
    g.store32(ARGS + 0x200, 0x7ff0);
    g.store32(ARGS + 0x204, 1);
    g.store64(ARGS + 0x210, ARGS + 0x300);
    g.hcall(20, &[2, ARGS + 0x200, 1]);
    g.store_result(RES + 0x18);
    // Address width: CPUID 0x80000008 EAX[7:0] -> RES + 0x20.
    g.a.mov(eax, 0x8000_0008u32).unwrap();
    g.a.cpuid().unwrap();
    g.a.movzx(eax, al).unwrap();
    g.store_result(RES + 0x20);
    // Frame 1 at the last page below 2^width, then frame 2 at 2^width.
    g.a.lea(ecx, dword_ptr(rax - 12)).unwrap();
    g.a.mov(eax, 1).unwrap();
    g.a.shl(rax, cl).unwrap();
    g.a.mov(rcx, ARGS + 16).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.dec(qword_ptr(rcx)).unwrap();
    physmap(&mut g, 1, RES + 0x28);
    g.a.mov(rcx, ARGS + 16).unwrap();
    g.a.inc(qword_ptr(rcx)).unwrap();
    physmap(&mut g, 2, RES + 0x30);
    g.shutdown(0);

    let r = run64(g.assemble(), 1);
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    assert_eq!(
        r.i64(RES),
        0,
        "XENMEM_add_to_physmap of a grant frame at 5 GiB"
    );
    assert_eq!(r.u64(RES + 8), ENTRY, "guest reads back its grant entry");
    // The VMM sees the entry at 5 GiB, through its grant table.
    assert_eq!(r.u64(HIGH + 3 * 8), ENTRY);
    {
        let mut root = vm_lock::Root::new().unwrap();
        let (mem, mut t) = r.vm.shared().mem.read(root.token());
        let (be, _t) = r.vm.shared().platform.backends().lock(&mut t);
        assert_eq!(be.gnttab.gfn_of(0), Some(HIGH >> 12));
        let e = be.gnttab.read_entry(&*mem, 3).unwrap();
        assert_eq!((e.flags, e.domid, e.frame), (1, 0, 0x1234));
    }
    assert_eq!(r.i64(RES + 0x10), 0, "query_size");
    assert!(r.u32(ARGS + 0x104) >= 1, "nr_frames");
    assert_eq!(r.i64(RES + 0x18), 0, "setup_table");
    assert_eq!(r.u32(ARGS + 0x208) as i16, 0, "setup_table status");
    assert_eq!(r.u64(ARGS + 0x300), HIGH >> 12, "setup_table frame 0");
    let bits = r.u64(RES + 0x20);
    assert!((36..=52).contains(&bits), "address width {bits}");
    assert_eq!(r.i64(RES + 0x28), 0, "frame at the top page below 2^{bits}");
    assert_eq!(r.i64(RES + 0x30), -22, "frame at 2^{bits}");
}

/// The store of a new VM holds the nodes a Linux guest reads at boot, as
/// libxl writes them (issue 13): one `cpu/N/availability` per vCPU, the
/// memory size, the platform features, the domain's identity, and the
/// store / console ports and rings.
#[test]
fn xenstore_has_toolstack_nodes() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.shutdown(0);
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.vcpus = 3;
    cfg.mem_mib = MEM >> 20;
    cfg.name = "domu".into();
    let vm = Vm::new(cfg).unwrap();
    let mut root = vm_lock::Root::new().unwrap();
    let (store_port, console_port) = {
        let (xen, _t) = vm.shared().platform.xen_state().lock(root.token());
        (xen.store_port(), xen.console_port())
    };
    let (be, _t) = vm.shared().platform.backends().lock(root.token());
    let read = |p: &str| {
        be.store
            .read(p)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let kib = (MEM >> 10).to_string();
    for (path, value) in [
        ("domid", "1"),
        ("name", "domu"),
        ("cpu/0/availability", "online"),
        ("cpu/1/availability", "online"),
        ("cpu/2/availability", "online"),
        ("memory/static-max", &kib),
        ("memory/target", &kib),
        ("control/platform-feature-multiprocessor-suspend", "1"),
        ("control/platform-feature-xs_reset_watches", "1"),
        ("control/shutdown", ""),
        ("control/feature-poweroff", ""),
        ("data", ""),
        ("store/port", &store_port.to_string()),
        ("store/ring-ref", &(STORE >> 12).to_string()),
        ("console/port", &console_port.to_string()),
        ("console/ring-ref", &(CONSOLE >> 12).to_string()),
    ] {
        assert_eq!(read(path).as_deref(), Some(value), "{path}");
    }
    assert_eq!(read("cpu/3/availability"), None);
    let vm_path = read("vm").expect("vm node");
    assert!(vm_path.starts_with("/vm/"), "{vm_path}");
    assert_eq!(read(&format!("{vm_path}/name")).as_deref(), Some("domu"));
}

/// Issue 14: the backends are served by the VMM's backend thread from the
/// host ports' eventfds, not on the guest's `EVTCHNOP_send`. The test holds
/// the host gate closed (as a snapshot does) while the guest writes console
/// output and signals the console port: the send returns with the output
/// still unconsumed (`out_cons` 0, recorded by the guest right after the
/// send), the vCPU thread never runs a backend, and once the gate opens the
/// backend thread consumes the output while the guest yields. With the old
/// inline path the send itself consumes the output (`out_cons` = length).
#[test]
fn the_guest_send_only_signals_the_backend_thread() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    get_param(&mut g, 18, DATA); // CONSOLE_EVTCHN at DATA + 8
    let msg = b"served by the backend thread\n";
    ring_write(&mut g, 0, msg, DATA + 8);
    // out_cons as the send left it, then the marker the host waits for.
    g.a.mov(rcx, CONSOLE + 3080).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, DATA + 0x80).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.store32(DATA + 0x84, 1);
    yield_until(&mut g, CONSOLE + 3080, msg.len() as u32);
    g.shutdown(0);

    let (tx, rx) = mpsc::channel();
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(Capture(tx));
    let vm = Vm::new(cfg).unwrap();
    assert!(vm.shared().host_gate.pause(Root::new().unwrap().token()));
    let reason = std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        let start = Instant::now();
        let mut resumed = false;
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(120) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not finish");
            }
            if !resumed && peek(&vm, DATA + 0x84) == 1 {
                // Still not consumed while the gate is closed.
                std::thread::sleep(Duration::from_millis(50));
                assert_eq!(peek(&vm, CONSOLE + 3080), 0, "served while paused");
                vm.shared().host_gate.resume();
                resumed = true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        h.join().unwrap().unwrap()
    });
    let output: Vec<u8> = rx.try_iter().flatten().collect();
    let output = String::from_utf8_lossy(&output);
    assert_eq!(reason, ExitReason::Shutdown(0), "{output}");
    assert_eq!(peek(&vm, DATA + 0x80), 0, "out_cons right after the send");
    assert_eq!(peek(&vm, CONSOLE + 3080), msg.len() as u32, "out_cons");
    assert!(
        output.contains("served by the backend thread"),
        "{output:?}"
    );
    assert_eq!(vm.shared().platform.inline_backend_runs(), 0);
    assert!(
        vm.shared()
            .backend_runs
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}
