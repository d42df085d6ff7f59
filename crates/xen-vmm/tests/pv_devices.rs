//! The PV console ring (output and host input), the xenstore ring and the
//! pvclock time info, driven by a guest on real KVM.

mod common;

use std::time::Duration;

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const MEM: u64 = 64 << 20;
const CONSOLE: u64 = MEM - 0x1000;
const STORE: u64 = MEM - 0x2000;

fn put_bytes(g: &mut Guest, addr: u64, bytes: &[u8]) {
    for (i, c) in bytes.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        g.store32(addr + 4 * i as u64, u32::from_le_bytes(w));
    }
}

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

fn send(g: &mut Guest, port_slot: u64) {
    g.a.mov(rcx, port_slot).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, ARGS + 0x100).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0x100]);
}

/// Yields until the u32 at `addr` is at least `n`.
fn yield_until(g: &mut Guest, addr: u64, n: u32) {
    let mut top = g.a.create_label();
    let mut out = g.a.create_label();
    g.a.nop().unwrap();
    g.a.set_label(&mut top).unwrap();
    g.a.mov(rcx, addr).unwrap();
    g.a.cmp(dword_ptr(rcx), n as i32).unwrap();
    g.a.jae(out).unwrap();
    g.hcall(29, &[0, 0]);
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut out).unwrap();
    g.a.nop().unwrap();
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

    let (tx, rx) = std::sync::mpsc::channel();
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(Capture(tx));
    cfg.console_input = Some(Box::new(std::io::Cursor::new(b"hi\n".to_vec())));
    let vm = Vm::new(cfg).unwrap();
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        let start = std::time::Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(30) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not finish");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().unwrap().unwrap()
    });
    assert_eq!(r, ExitReason::Shutdown(0));
    let mut out = Vec::new();
    while let Ok(b) = rx.try_recv() {
        out.extend(b);
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("pv console ok"), "{out:?}");

    let run = Run {
        vm,
        reason: r,
        output: out.into_owned(),
    };
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
    // Wallclock: version even, seconds after 2020.
    assert_eq!(run.u32(SHINFO + 3072) % 2, 0);
    assert!(run.u32(SHINFO + 3076) > 1_577_836_800, "wc_sec");
}
