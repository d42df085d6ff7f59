// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `Vm::snapshot` / `Vm::restore` in-process on real KVM: the Xen state a
//! guest set up (shared_info in a hole page, callback and per-vCPU upcall
//! vectors, VIRQ_TIMER and IPI ports, a running periodic timer) is in the
//! file, survives a restore unchanged, and the restored guest keeps getting
//! timer events. A damaged file is refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::snapshot::format::{Header, FORMAT_V3, HEADER_LEN, TRAILER_LEN};
use xen_vmm::snapshot::xen_state::{PortKind, PortState};
use xen_vmm::snapshot::{open_file, parse, VmSnapshot};
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const VEC: u64 = 0xf3;
const PERCPU_VEC: u64 = 0xe0;
const IDT: u64 = 0x21_0000;
/// shared_info goes in a hole: the VMM adds a page there.
const SHINFO_HOLE: u64 = 0xf000_0000;
/// vCPU 0 registers its vcpu_info here (VCPUOP_register_vcpu_info).
const VCPU_INFO: u64 = DATA + 0xc40;
const READY: u64 = DATA + 0x800;
const COUNT: u64 = DATA + 0x100;
const PERIOD_NS: u64 = 1_000_000;
/// Grant frame 0 goes in another hole page.
const GRANT_HOLE: u64 = 0xf000_1000;
const MEM: u64 = 16 << 20;
const STORE: u64 = MEM - 0x2000;
const STORE_PORT: u64 = DATA + 0x900;

fn put_bytes(g: &mut Guest, addr: u64, bytes: &[u8]) {
    for (i, c) in bytes.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        g.store32(addr + 4 * i as u64, u32::from_le_bytes(w));
    }
}

/// Registers a xenstore watch on "device" (token "tok") and yields until
/// the reply is in the ring.
fn xenstore_watch(g: &mut Guest) {
    g.store32(ARGS + 0x300, 0x7ff0);
    g.store32(ARGS + 0x304, 2); // HVM_PARAM_STORE_EVTCHN
    g.hcall(34, &[1, ARGS + 0x300]); // HVMOP_get_param
    g.a.mov(rcx, ARGS + 0x308).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, STORE_PORT).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    let payload = b"device\0tok\0";
    let mut req = Vec::new();
    for w in [4u32, 9, 0, payload.len() as u32] {
        req.extend_from_slice(&w.to_le_bytes()); // XS_WATCH
    }
    req.extend_from_slice(payload);
    put_bytes(g, STORE, &req);
    g.store32(STORE + 2052, req.len() as u32); // req_prod
    g.a.mov(rcx, STORE_PORT).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, ARGS + 0x340).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0x340]); // EVTCHNOP_send
    let mut top = g.a.create_label();
    let mut out = g.a.create_label();
    g.a.nop().unwrap();
    g.a.set_label(&mut top).unwrap();
    g.a.mov(rcx, STORE + 2060).unwrap(); // rsp_prod
    g.a.cmp(dword_ptr(rcx), 16 + 3).unwrap(); // header + "OK\0"
    g.a.jae(out).unwrap();
    g.hcall(29, &[0, 0]); // SCHEDOP_yield
    g.a.jmp(top).unwrap();
    g.a.set_label(&mut out).unwrap();
    g.a.nop().unwrap();
}

fn guest() -> Vec<u8> {
    let mut g = Guest::new64();
    let mut h = g.a.create_label();
    let mut start = g.a.create_label();
    g.a.jmp(start).unwrap();
    {
        let a = &mut g.a;
        a.set_label(&mut h).unwrap();
        a.push(rax).unwrap();
        a.push(rcx).unwrap();
        a.mov(rcx, VCPU_INFO).unwrap();
        a.mov(byte_ptr(rcx), 0).unwrap();
        a.xor(eax, eax).unwrap();
        a.xchg(qword_ptr(rcx + 8), rax).unwrap();
        a.mov(rcx, SHINFO_HOLE).unwrap();
        a.xor(eax, eax).unwrap();
        a.xchg(qword_ptr(rcx + 2048), rax).unwrap();
        a.mov(rcx, COUNT).unwrap();
        a.inc(qword_ptr(rcx)).unwrap();
        // EOI through the LAPIC (ignored MMIO without the in-kernel irqchip).
        a.mov(rcx, 0xfee0_00b0u64).unwrap();
        a.mov(dword_ptr(rcx), 0u32).unwrap();
        a.pop(rcx).unwrap();
        a.pop(rax).unwrap();
        a.iretq().unwrap();
    }
    g.a.set_label(&mut start).unwrap();
    g.hypercall_page();
    {
        let a = &mut g.a;
        a.mov(rbx, IDT).unwrap();
        for v in [VEC, PERCPU_VEC] {
            let off = (v * 16) as i32;
            a.lea(rax, ptr(h)).unwrap();
            a.mov(word_ptr(rbx + off), ax).unwrap();
            a.mov(word_ptr(rbx + off + 2), 0x08u32).unwrap();
            a.mov(word_ptr(rbx + off + 4), 0x8e00u32).unwrap();
            a.shr(rax, 16).unwrap();
            a.mov(word_ptr(rbx + off + 6), ax).unwrap();
            a.shr(rax, 16).unwrap();
            a.mov(dword_ptr(rbx + off + 8), eax).unwrap();
            a.mov(dword_ptr(rbx + off + 12), 0u32).unwrap();
        }
        a.mov(word_ptr(rbx + 0xff0), 0xfffu32).unwrap();
        a.mov(qword_ptr(rbx + 0xff2), rbx).unwrap();
        a.lidt(ptr(rbx + 0xff0)).unwrap();
    }
    g.map_shared_info(SHINFO_HOLE);
    g.store64(ARGS + 0x280, VCPU_INFO >> 12);
    g.store32(ARGS + 0x288, (VCPU_INFO & 0xfff) as u32);
    g.store32(ARGS + 0x28c, 0);
    g.hcall(24, &[10, 0, ARGS + 0x280]); // VCPUOP_register_vcpu_info
    g.store_result(DATA + 0x988);
    g.callback_vector(VEC as u8);
    g.store32(ARGS + 0x200, 0);
    g.store32(ARGS + 0x204, PERCPU_VEC as u32);
    g.hcall(34, &[23, ARGS + 0x200]); // HVMOP_set_evtchn_upcall_vector
    g.store32(ARGS, 0);
    g.store32(ARGS + 4, 0);
    g.hcall(32, &[1, ARGS]); // EVTCHNOP_bind_virq(VIRQ_TIMER, 0)
    g.store32(ARGS + 0x40, 0);
    g.hcall(32, &[7, ARGS + 0x40]); // EVTCHNOP_bind_ipi(0)
    g.store64(ARGS + 0x100, PERIOD_NS);
    g.hcall(24, &[6, 0, ARGS + 0x100]); // VCPUOP_set_periodic_timer
                                        // Grant frame 0 at a GFN in a hole (XENMEM_add_to_physmap, XENMAPSPACE_grant_table).
    let x = ARGS + 0x400;
    g.store32(x, 0x7ff0);
    g.store32(x + 4, 1);
    g.store64(x + 8, 0);
    g.store64(x + 16, GRANT_HOLE >> 12);
    g.hcall(12, &[7, x]);
    g.store_result(DATA + 0x980);
    xenstore_watch(&mut g);
    g.store64(READY, 1);
    // Idle in SCHEDOP_block: with the in-kernel LAPIC, KVM keeps a HLT to
    // itself, so only a block shows the VMM (and the runstate) the vCPU idle.
    let mut idle = g.a.create_label();
    g.a.set_label(&mut idle).unwrap();
    g.a.sti().unwrap();
    g.hcall(29, &[1, 0]); // SCHEDOP_block
    g.a.jmp(idle).unwrap();
    g.assemble()
}

fn read_u64(vm: &Vm, gpa: u64) -> u64 {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(30), "timeout: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn state(p: &Path) -> VmSnapshot {
    open_file(p).unwrap().state().clone()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("xen-vmm-{name}-{}.snap", std::process::id()))
}

#[test]
fn xen_state_survives_snapshot_and_restore() {
    if !require_kvm() {
        return;
    }
    let p1 = tmp("vm-a");
    let p2 = tmp("vm-b");
    let mut cfg = VmConfig::new(Kernel::Raw64(guest()));
    cfg.mem_mib = MEM >> 20;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    let saved_count = std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let _end = EndOnDrop(&vm);
        wait_until("guest set up", || read_u64(&vm, READY) == 1);
        wait_until("timer ticks", || read_u64(&vm, COUNT) >= 3);
        // Stopped: the count the guest memory holds now is the one saved.
        let q = vm.quiesce(Root::new().unwrap().token()).unwrap();
        let saved = read_u64(&vm, COUNT);
        q.snapshot(Root::new().unwrap().token(), &p1).unwrap();
        std::thread::sleep(Duration::from_millis(5 * PERIOD_NS / 1_000_000));
        assert_eq!(read_u64(&vm, COUNT), saved, "the guest ran while stopped");
        q.resume();
        // And it runs on: the periodic timer was not lost by the snapshot.
        wait_until("ticks after the snapshot", || read_u64(&vm, COUNT) > saved);
        vm.shared().finish(ExitReason::Shutdown(0));
        saved
    });
    let s1 = state(&p1);
    let x = &s1.xen;
    assert_eq!(x.shared_info_gfn, Some(SHINFO_HOLE >> 12));
    assert!(
        s1.memory
            .regions
            .iter()
            .any(|r| r.guest_addr == SHINFO_HOLE && r.size == 4096),
        "hole page missing: {:x?}",
        s1.memory.regions
    );
    assert!(
        s1.memory
            .regions
            .iter()
            .any(|r| r.guest_addr == GRANT_HOLE && r.size == 4096),
        "grant frame page missing: {:x?}",
        s1.memory.regions
    );
    assert_eq!(x.vcpus[0].vcpu_info_gpa, Some(VCPU_INFO));
    assert_eq!(x.grant.frames, vec![Some(GRANT_HOLE >> 12)]);
    assert_eq!(x.grant_frame_gpas.first(), Some(&Some(GRANT_HOLE)));
    let store = x.xenstore.as_ref().unwrap();
    assert!(
        store
            .watches
            .iter()
            .any(|w| w.path == "device" && w.token == "tok"),
        "{:?}",
        store.watches
    );
    assert!(x.long_mode);
    assert_eq!(x.callback_param, (2 << 56) | VEC);
    assert_eq!(x.vcpus[0].upcall_vector, PERCPU_VEC as u8);
    assert_eq!(x.vcpus[0].periodic_period_ns, Some(PERIOD_NS));
    assert!(x.vcpus[0].online);
    let kinds: Vec<u8> = x.ports.iter().map(|p| p.kind).collect();
    assert!(kinds.contains(&(PortKind::Virq as u8)), "{:?}", x.ports);
    assert!(kinds.contains(&(PortKind::Ipi as u8)), "{:?}", x.ports);
    assert!(x.console.is_some() && x.xenstore.is_some());
    assert_ne!(x.console_port, 0);
    assert_ne!(x.store_port, 0);
    assert_eq!(x.mem_bytes, 16 << 20);
    // Runstate accounting: the guest idled in SCHEDOP_block between ticks, so it has blocked time;
    // every ns since boot is in exactly one state.
    let rs0 = x.vcpus[0].clone();
    assert!(rs0.runstate_time_ns[2] > 0, "{:?}", rs0.runstate_time_ns);
    assert!(rs0.runstate_time_ns[0] > 0, "{:?}", rs0.runstate_time_ns);
    assert_eq!(
        rs0.runstate_time_ns.iter().sum::<u64>(),
        rs0.runstate_entry_ns
    );
    assert!(rs0.runstate_entry_ns <= x.system_time_ns);
    let count_at_snapshot = {
        let r = open_file(&p1).unwrap();
        let (_, mem) = r.into_guest_memory().unwrap();
        mem.read_obj::<u64>(GuestAddress(COUNT)).unwrap()
    };
    assert!(count_at_snapshot >= 3);
    assert_eq!(count_at_snapshot, saved_count);

    // Restored, not yet run: a second snapshot shows the same state.
    let vm2 = Vm::restore(&p1, Box::new(std::io::sink())).unwrap();
    assert_eq!(read_u64(&vm2, COUNT), count_at_snapshot);
    vm2.snapshot(Root::new().unwrap().token(), &p2).unwrap();
    let s2 = state(&p2);
    let norm = |s: &VmSnapshot| {
        let mut x = s.xen.clone();
        x.system_time_ns = 0;
        for v in &mut x.vcpus {
            v.periodic_next_ns = 0;
        }
        x
    };
    assert_eq!(norm(&s2), norm(&s1));
    assert!(s2.xen.system_time_ns >= s1.xen.system_time_ns);
    assert_eq!(s2.memory, s1.memory);
    assert_eq!(s2.vcpus[0].regs, s1.vcpus[0].regs);
    assert_eq!(s2.vcpus[0].sregs, s1.vcpus[0].sregs);

    // It runs on: the periodic timer was re-armed and upcalls still arrive.
    std::thread::scope(|s| {
        s.spawn(|| vm2.run().unwrap());
        wait_until("timer ticks after restore", || {
            read_u64(&vm2, COUNT) >= count_at_snapshot + 3
        });
        vm2.shared().finish(ExitReason::Shutdown(0));
    });
    // The restored accounting went on from the saved one: no time lost in any state.
    {
        let mut root = Root::new().unwrap();
        let (xs, _t) = vm2.shared().platform.xen_state().lock(root.token());
        let rs = xs.vcpus[0].runstate;
        for i in 0..4 {
            assert!(
                rs.time[i] >= rs0.runstate_time_ns[i],
                "state {i}: {:?} after restore, {:?} saved",
                rs.time,
                rs0.runstate_time_ns
            );
        }
        assert!(
            rs.time[2] > rs0.runstate_time_ns[2],
            "blocked again after restore"
        );
        assert!(rs.state_entry_time >= rs0.runstate_entry_ns);
    }

    // A flipped bit in guest memory is caught by the CRC before any VM runs.
    let mut bytes = std::fs::read(&p1).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&p2, &bytes).unwrap();
    let e = Vm::restore(&p2, Box::new(std::io::sink()))
        .err()
        .expect("damaged file restored");
    assert!(e.to_string().contains("CRC64 mismatch"), "{e}");
    let _ = std::fs::remove_file(&p1);
    let _ = std::fs::remove_file(&p2);
}

/// Runs the guest until its periodic timer ticks and snapshots it to `path`.
fn snapshot_running_guest(path: &Path) {
    let mut cfg = VmConfig::new(Kernel::Raw64(guest()));
    cfg.mem_mib = MEM >> 20;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        wait_until("timer ticks", || read_u64(&vm, COUNT) >= 3);
        vm.snapshot(Root::new().unwrap().token(), path).unwrap();
        vm.shared().finish(ExitReason::Shutdown(0));
    });
}

/// A change made to a snapshot's state.
type Mutation = Box<dyn FnOnce(&mut VmSnapshot)>;

/// `file` with its state changed by `f` and sealed again with valid CRCs
/// (no validation on the way, as a hostile file would be).
fn reseal(file: &[u8], f: impl FnOnce(&mut VmSnapshot)) -> Vec<u8> {
    let parsed = parse(file).unwrap();
    let mut state = parsed.state;
    f(&mut state);
    let v = parsed.header.format_version;
    let encoded = state.encode(v).unwrap();
    let header = Header {
        format_version: v,
        state_len: encoded.len() as u64,
        state_crc: crc64::crc64(0, &encoded),
        memory_len: parsed.header.memory_len,
    };
    let old_state_end = HEADER_LEN + parsed.header.state_len as usize;
    let mut out = header.encode().to_vec();
    out.extend_from_slice(&encoded);
    out.extend_from_slice(&file[old_state_end..]);
    assert_eq!(
        out.len(),
        HEADER_LEN + encoded.len() + parsed.memory.len() + TRAILER_LEN
    );
    out
}

#[test]
fn restore_refuses_inconsistent_state_with_a_clear_error() {
    if !require_kvm() {
        return;
    }
    let p = tmp("vm-bad-src");
    let bad = tmp("vm-bad");
    snapshot_running_guest(&p);
    let file = std::fs::read(&p).unwrap();
    // Sealed again unchanged, the file restores.
    std::fs::write(&bad, reseal(&file, |_| {})).unwrap();
    assert!(Vm::restore(&bad, Box::new(std::io::sink())).is_ok());

    let cases: Vec<(&str, Mutation)> = vec![
        (
            "port 5000 out of range",
            Box::new(|s| {
                s.xen.ports.push(PortState {
                    port: 5000,
                    kind: PortKind::Ipi as u8,
                    ..Default::default()
                })
            }),
        ),
        ("vCPU 7 out of range", Box::new(|s| s.xen.ports[0].vcpu = 7)),
        (
            // Passes the mirror's checks; xen-evtchn's from_state refuses it.
            "event channels",
            Box::new(|s| {
                s.xen.ports.push(PortState {
                    port: 100,
                    kind: PortKind::Backend as u8,
                    irq: 99,
                    ..Default::default()
                })
            }),
        ),
        (
            "outside guest memory",
            Box::new(|s| s.xen.vcpus[0].vcpu_info_gpa = Some(0x7000_0000)),
        ),
        (
            "shared_info/vcpu_info pages",
            Box::new(|s| s.xen.vcpus[0].vcpu_info_gpa = Some(0x5003)),
        ),
        (
            "console ring gfn",
            Box::new(|s| {
                if let Some(c) = &mut s.xen.console {
                    c.ring_gfn = 1 << 45;
                }
            }),
        ),
        ("grant", Box::new(|s| s.xen.grant.max_frames = 0)),
        ("callback", Box::new(|s| s.xen.callback_param = 5 << 56)),
    ];
    for (needle, f) in cases {
        std::fs::write(&bad, reseal(&file, f)).unwrap();
        let e = Vm::restore(&bad, Box::new(std::io::sink()))
            .err()
            .unwrap_or_else(|| panic!("restored a file with {needle}"));
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_file(&bad);
}

/// Restore accepts only states a running VM can reach: each field set to
/// something no hypercall produces is refused, by the file checks or by
/// `XenPlatform::restore`, with an error naming it.
#[test]
fn restore_refuses_unreachable_states_by_field() {
    if !require_kvm() {
        return;
    }
    let p = tmp("vm-unreach-src");
    let bad = tmp("vm-unreach");
    snapshot_running_guest(&p);
    let file = std::fs::read(&p).unwrap();
    let now = parse(&file).unwrap().state.xen.system_time_ns;
    /// A page in no region (the guest has 16 MiB and two hole pages).
    const NOWHERE: u64 = 0x9000_0000;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "shared_info at 0x90000000",
            Box::new(|s| s.xen.shared_info_gfn = Some(NOWHERE >> 12)),
        ),
        (
            "xenstore ring at 0x90000000",
            Box::new(|s| s.xen.xenstore.as_mut().unwrap().ring_gfn = NOWHERE >> 12),
        ),
        (
            "console ring at 0x90000000",
            Box::new(|s| s.xen.console.as_mut().unwrap().ring_gfn = NOWHERE >> 12),
        ),
        (
            // Backed, but not where the VMM puts the ring.
            "xenstore ring: ring at gfn 0x100",
            Box::new(|s| s.xen.xenstore.as_mut().unwrap().ring_gfn = 0x100),
        ),
        (
            "no vCPU is online",
            Box::new(|s| s.xen.vcpus[0].online = false),
        ),
        (
            "vcpu_time_info at 0x90000000",
            Box::new(|s| s.xen.vcpus[0].time_info_gpa = Some(NOWHERE)),
        ),
        (
            "periodic timer period 1 ns",
            Box::new(|s| s.xen.vcpus[0].periodic_period_ns = Some(1)),
        ),
        (
            "periodic timer next expiry",
            Box::new(move |s| s.xen.vcpus[0].periodic_next_ns = now + 2 * PERIOD_NS),
        ),
        (
            // 52 days ahead.
            "single-shot timer deadline",
            Box::new(move |s| {
                s.xen.vcpus[0].timer_deadline_ns = Some(now + 52 * 86_400 * 1_000_000_000)
            }),
        ),
        (
            "runstate entered",
            Box::new(move |s| s.xen.vcpus[0].runstate_entry_ns = now + 1),
        ),
        (
            "xenstore request: 16384 pending bytes",
            Box::new(|s| s.xen.xenstore.as_mut().unwrap().partial_request = vec![0; 16 << 10]),
        ),
        (
            "xenstore replies: 262144 pending bytes",
            Box::new(|s| s.xen.xenstore.as_mut().unwrap().pending_replies = vec![0; 256 << 10]),
        ),
        (
            "console input",
            Box::new(|s| s.xen.console.as_mut().unwrap().pending_input = vec![b'x'; 65 << 10]),
        ),
        (
            // The first panic: more frames than the VMM's table.
            "grant frames: 8 saved, 4 configured",
            Box::new(|s| s.xen.grant_frame_gpas.resize(8, None)),
        ),
        (
            // The second: a table larger than configured.
            "grant table: max_frames 8",
            Box::new(|s| {
                s.xen.grant.max_frames = 8;
                s.xen.grant.frames.resize(7, None);
                s.xen.grant.frames[6] = Some(0x200);
            }),
        ),
        ("HVM param 1", Box::new(|s| s.xen.hvm_params[1] += 1)),
    ];
    for (needle, f) in cases {
        std::fs::write(&bad, reseal(&file, f)).unwrap();
        let e = Vm::restore(&bad, Box::new(std::io::sink()))
            .err()
            .unwrap_or_else(|| panic!("restored a file with {needle}"));
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    // The file itself restores.
    std::fs::write(&bad, reseal(&file, |_| {})).unwrap();
    assert!(Vm::restore(&bad, Box::new(std::io::sink())).is_ok());
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_file(&bad);
}

/// `file` (a whole snapshot) at format `version`.
fn as_version(file: &[u8], version: u16) -> Vec<u8> {
    xen_vmm::snapshot::convert(file, version).unwrap()
}

/// Runs `vm` until the guest shuts down.
fn run_to_end(vm: &Vm) -> ExitReason {
    std::thread::scope(|s| {
        let h = s.spawn(|| vm.run().unwrap());
        let start = Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(30) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not finish");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        h.join().unwrap()
    })
}

fn write_u64(vm: &Vm, gpa: u64, v: u64) {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.write_obj(v, GuestAddress(gpa)).unwrap();
}

#[test]
fn events_sent_before_shared_info_survive_snapshot_and_restore() {
    if !require_kvm() {
        return;
    }
    const PORT: u64 = DATA + 0x10;
    const GO: u64 = DATA + 0x18;
    const PENDING: u64 = DATA + 0x20;
    const MAPPED: u64 = DATA + 0x28;
    // An IPI to itself before shared_info exists (xen-evtchn defers it),
    // then, once told to go on, shared_info appears: is the event there?
    let mut g = Guest::new64();
    g.hypercall_page();
    g.store32(ARGS, 0);
    g.hcall(32, &[7, ARGS]); // EVTCHNOP_bind_ipi(0)
    g.a.mov(rcx, ARGS + 4).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, PORT).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.mov(rcx, ARGS + 0x40).unwrap();
    g.a.mov(dword_ptr(rcx), eax).unwrap();
    g.hcall(32, &[4, ARGS + 0x40]); // EVTCHNOP_send
    g.store64(READY, 1);
    let mut wait = g.a.create_label();
    g.a.nop().unwrap();
    g.a.set_label(&mut wait).unwrap();
    g.a.pause().unwrap();
    g.a.mov(rcx, GO).unwrap();
    g.a.cmp(qword_ptr(rcx), 0).unwrap();
    g.a.je(wait).unwrap();
    g.map_shared_info(SHINFO);
    g.store_result(MAPPED);
    g.a.mov(rcx, SHINFO + 2048).unwrap();
    g.a.mov(rax, qword_ptr(rcx)).unwrap();
    g.a.mov(rcx, PENDING).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.shutdown(0);
    let image = g.assemble();

    let p = tmp("deferred");
    let p3 = tmp("deferred-v3");
    let mut cfg = VmConfig::new(Kernel::Raw64(image));
    cfg.mem_mib = MEM >> 20;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let _end = EndOnDrop(&vm);
        wait_until("guest sent its IPI", || read_u64(&vm, READY) == 1);
        vm.snapshot(Root::new().unwrap().token(), &p).unwrap();
        vm.shared().finish(ExitReason::Shutdown(0));
    });
    let port = read_u64(&vm, PORT) as u32;
    assert!(port > 0 && port < 64, "port {port}");
    let s = state(&p);
    assert_eq!(s.xen.shared_info_gfn, None);
    assert_eq!(s.xen.deferred_ports, vec![port]);

    // Restored: still pending host-side, and delivered when the guest maps shared_info.
    let vm2 = Vm::restore(&p, Box::new(std::io::sink())).unwrap();
    {
        let mut root = Root::new().unwrap();
        assert!(vm2
            .shared()
            .platform
            .evtchn()
            .is_pending(root.token(), port)
            .unwrap());
    }
    write_u64(&vm2, GO, 1);
    assert_eq!(run_to_end(&vm2), ExitReason::Shutdown(0));
    assert_eq!(read_u64(&vm2, MAPPED), 0);
    assert_eq!(read_u64(&vm2, PENDING), 1 << port, "the early IPI was lost");
    assert_eq!(read_u64(&vm2, SHINFO + 8) & 1, 1, "evtchn_pending_sel");
    assert_eq!(read_u64(&vm2, SHINFO) & 0xff, 1, "evtchn_upcall_pending");

    // A format version 3 file (written before deferred ports were saved) still restores
    // and runs; it has no deferred ports to deliver.
    std::fs::write(&p3, as_version(&std::fs::read(&p).unwrap(), FORMAT_V3)).unwrap();
    let r = open_file(&p3).unwrap();
    assert_eq!(r.header().format_version, FORMAT_V3);
    assert!(r.state().xen.deferred_ports.is_empty());
    let vm3 = Vm::restore(&p3, Box::new(std::io::sink())).unwrap();
    write_u64(&vm3, GO, 1);
    assert_eq!(run_to_end(&vm3), ExitReason::Shutdown(0));
    assert_eq!(read_u64(&vm3, MAPPED), 0);
    assert_eq!(read_u64(&vm3, PENDING), 0);
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_file(&p3);
}

/// Ends the VM when dropped (also when an assertion fails), so that the
/// scope running it can join.
struct EndOnDrop<'a>(&'a Vm);

impl Drop for EndOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shared().finish(ExitReason::Crash);
    }
}

/// All of guest memory, region after region.
fn ram(vm: &Vm) -> Vec<u8> {
    use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    let mut out = Vec::new();
    for r in m.iter() {
        let start = out.len();
        out.resize(start + r.len() as usize, 0);
        m.read_slice(&mut out[start..], r.start_addr()).unwrap();
    }
    out
}

#[test]
fn quiesced_vm_writes_nothing_into_guest_memory() {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    use xen_vmm::host_timer::monotonic_ns;
    use xen_vmm::memory::console_page;
    use xen_vmm::xen_platform::console::IN_PROD;

    if !require_kvm() {
        return;
    }
    const PORT: u64 = DATA + 0x10;
    // shared_info, VIRQ_TIMER on vCPU 0, then halt: from now on only the
    // host threads (timer thread, console input) write guest memory.
    let mut g = Guest::new64();
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.store32(ARGS, 0); // VIRQ_TIMER
    g.store32(ARGS + 4, 0); // vCPU 0
    g.hcall(32, &[1, ARGS]); // EVTCHNOP_bind_virq
    g.a.mov(rcx, ARGS + 8).unwrap();
    g.a.mov(eax, dword_ptr(rcx)).unwrap();
    g.a.mov(rcx, PORT).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.store64(READY, 1);
    // Interrupts enabled (none comes): a HLT with IF clear would take the
    // vCPU offline and power the domain off, as Xen does.
    g.a.sti().unwrap();
    let mut idle = g.a.create_label();
    g.a.set_label(&mut idle).unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();

    let mut fds = [0; 2];
    // SAFETY: a valid array of two fds for pipe2 to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors from pipe2, owned by nothing else.
    let (input, mut typed) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.mem_mib = MEM >> 20;
    cfg.output = Box::new(std::io::sink());
    cfg.console_input = Some(Box::new(input));
    let vm = Vm::new(cfg).unwrap();
    let shared = vm.shared();
    let ring = console_page(MEM);
    let pending = |port: u32| {
        let mut root = Root::new().unwrap();
        shared
            .platform
            .evtchn()
            .is_pending(root.token(), port)
            .unwrap()
    };
    const TYPED: &[u8] = b"typed while stopped\n";
    std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        let _end = EndOnDrop(&vm);
        wait_until("guest set up", || read_u64(&vm, READY) == 1);
        let port = read_u64(&vm, PORT) as u32;
        assert!(port > 0);
        let q = vm.quiesce(Root::new().unwrap().token()).unwrap();
        let before = ram(&vm);
        // A timer expires and the host types while the VM is stopped.
        shared.timers[0]
            .singleshot
            .arm_at(monotonic_ns(), 0)
            .unwrap();
        typed.write_all(TYPED).unwrap();
        // Both host threads come to the gate and wait there; memory stays as it was.
        let start = Instant::now();
        while shared.host_gate.waiting() < 2 && ram(&vm) == before {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "threads never waited"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(ram(&vm) == before, "guest memory written while stopped");
        // The timer and console-input threads; the backend thread too if
        // it had not served its first round before the pause (a slow start).
        assert!(
            matches!(shared.host_gate.waiting(), 2 | 3),
            "{}",
            shared.host_gate.waiting()
        );
        assert!(!pending(port));
        assert_eq!(read_u64(&vm, ring + IN_PROD) as u32, 0);
        // A snapshot taken now saves the input, queued host-side.
        let p = tmp("quiesced");
        q.snapshot(Root::new().unwrap().token(), &p).unwrap();
        assert!(ram(&vm) == before, "guest memory written by the snapshot");
        let saved = state(&p);
        assert_eq!(saved.xen.console.as_ref().unwrap().pending_input, TYPED);
        // Restored, the input goes to the guest's ring at once, its port raised.
        let vm2 = Vm::restore(&p, Box::new(std::io::sink())).unwrap();
        let _ = std::fs::remove_file(&p);
        assert_eq!(
            read_u64(&vm2, ring + IN_PROD) as u32,
            TYPED.len() as u32,
            "saved console input not delivered after restore"
        );
        {
            let mut root = Root::new().unwrap();
            let t = root.token();
            assert!(vm2
                .shared()
                .platform
                .evtchn()
                .is_pending(t, saved.xen.console_port)
                .unwrap());
        }
        q.resume();
        wait_until("VIRQ_TIMER after resume", || pending(port));
        wait_until("console input after resume", || {
            read_u64(&vm, ring + IN_PROD) as u32 == TYPED.len() as u32
        });
        let mut got = vec![0u8; TYPED.len()];
        {
            let mut root = Root::new().unwrap();
            let (m, _t) = shared.mem.read(root.token());
            m.read_slice(&mut got, GuestAddress(ring)).unwrap();
        }
        assert_eq!(got, TYPED);
        assert_eq!(shared.host_gate.waiting(), 0);
    });
    drop(typed); // the console-input thread ends at EOF
}
