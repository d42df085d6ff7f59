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
        let (be, _t) = r.vm.shared().backends.lock(&mut t);
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
    let (be, _t) = vm.shared().backends.lock(root.token());
    let read = |p: &str| {
        be.store
            .read(p)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let kib = (MEM >> 10).to_string();
    let (store_port, console_port) = (vm.shared().store_port, vm.shared().console_port);
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
