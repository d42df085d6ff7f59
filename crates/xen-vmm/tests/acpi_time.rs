// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The platform a guest boots into, on real KVM: it finds its vCPUs in the
//! MADT by walking `hvm_start_info.rsdp_paddr` -> RSDP -> XSDT -> MADT, reads
//! its initrd through the start_info module list, and reads Xen time (wall
//! clock in shared_info, pvclock in vcpu_info, CPUID 0x40000003) that
//! agrees with the host's clocks, across a sleep on its own timer and across
//! a snapshot and restore.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const MEM: u64 = 64 << 20;

fn read_u64(vm: &Vm, gpa: u64) -> u64 {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).unwrap()
}

fn read_bytes(vm: &Vm, gpa: u64, len: usize) -> Vec<u8> {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    let mut b = vec![0u8; len];
    m.read_slice(&mut b, GuestAddress(gpa)).unwrap();
    b
}

fn write_u64(vm: &Vm, gpa: u64, v: u64) {
    let mut root = Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    m.write_obj(v, GuestAddress(gpa)).unwrap();
}

/// Runs `vm` until the guest shuts down (hang guard: 60 s), calling `during`
/// on this thread meanwhile.
fn run_with(vm: &Vm, during: impl FnOnce()) -> ExitReason {
    std::thread::scope(|s| {
        let h = s.spawn(|| vm.run().unwrap());
        during();
        let start = Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(60) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not finish");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let r = h.join().unwrap();
        if let Some(f) = vm.shared().fault() {
            eprintln!("vCPU fault: {f}");
        }
        r
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("xen-vmm-{name}-{}", std::process::id()))
}

/// vCPUs other than 0 (raw images start every vCPU at the entry) idle.
fn park_secondary_vcpus(g: &mut Guest) {
    let mut bsp = g.a.create_label();
    let mut idle = g.a.create_label();
    g.a.mov(eax, 0x4000_0004u32).unwrap();
    g.a.xor(ecx, ecx).unwrap();
    g.a.cpuid().unwrap(); // EBX: vCPU id
    g.a.test(ebx, ebx).unwrap();
    g.a.je(bsp).unwrap();
    g.a.set_label(&mut idle).unwrap();
    g.a.sti().unwrap();
    g.a.hlt().unwrap();
    g.a.jmp(idle).unwrap();
    g.a.set_label(&mut bsp).unwrap();
    g.a.nop().unwrap();
}

// ---- ACPI and initrd ----

const LAPICS: u64 = DATA;
const APIC_IDS: u64 = DATA + 8;
const MADT_SUM: u64 = DATA + 0x10;
const IOAPICS: u64 = DATA + 0x18;
const NR_MODULES: u64 = DATA + 0x20;
const MOD_PADDR: u64 = DATA + 0x28;
const MOD_SIZE: u64 = DATA + 0x30;
const INITRD_COPY: u64 = DATA + 0x1000;
const INITRD_LEN: usize = 10_000;

/// The guest: walks RSDP -> XSDT -> MADT from `hvm_start_info.rsdp_paddr`
/// (start_info in RBX at entry), counts the enabled local APICs (and the
/// bitmap of their ids) and the IOAPICs, sums the MADT's bytes, and copies
/// the first module's bytes.
fn acpi_guest() -> Vec<u8> {
    let mut g = Guest::new64();
    g.a.mov(r15, rbx).unwrap();
    park_secondary_vcpus(&mut g);
    g.hypercall_page();
    let a = &mut g.a;
    let mut done = a.create_label();
    let mut eloop = a.create_label();
    let mut enext = a.create_label();
    let mut edone = a.create_label();
    let mut sloop = a.create_label();
    let mut sdone = a.create_label();
    let mut mloop = a.create_label();
    let mut mnext = a.create_label();
    let mut not_lapic = a.create_label();
    let mut mdone = a.create_label();
    let mut modules = a.create_label();
    let mut end = a.create_label();
    a.mov(rsi, qword_ptr(r15 + 32)).unwrap(); // rsdp_paddr
    a.test(rsi, rsi).unwrap();
    a.je(done).unwrap();
    a.mov(rax, u64::from_le_bytes(*b"RSD PTR ")).unwrap();
    a.cmp(qword_ptr(rsi), rax).unwrap();
    a.jne(done).unwrap();
    a.mov(rdi, qword_ptr(rsi + 24)).unwrap(); // xsdt_addr
    a.cmp(dword_ptr(rdi), u32::from_le_bytes(*b"XSDT") as i32)
        .unwrap();
    a.jne(done).unwrap();
    a.mov(ecx, dword_ptr(rdi + 4)).unwrap();
    a.lea(r8, ptr(rdi + 36)).unwrap();
    a.lea(r9, ptr(rdi + rcx)).unwrap();
    a.xor(r10, r10).unwrap();
    a.set_label(&mut eloop).unwrap();
    a.cmp(r8, r9).unwrap();
    a.jae(edone).unwrap();
    a.mov(rax, qword_ptr(r8)).unwrap();
    a.cmp(dword_ptr(rax), u32::from_le_bytes(*b"APIC") as i32)
        .unwrap();
    a.jne(enext).unwrap();
    a.mov(r10, rax).unwrap();
    a.set_label(&mut enext).unwrap();
    a.add(r8, 8).unwrap();
    a.jmp(eloop).unwrap();
    a.set_label(&mut edone).unwrap();
    a.test(r10, r10).unwrap();
    a.je(done).unwrap();
    // Byte sum of the whole MADT (0 when the checksum is right).
    a.mov(ecx, dword_ptr(r10 + 4)).unwrap();
    a.xor(edx, edx).unwrap();
    a.xor(r11, r11).unwrap();
    a.set_label(&mut sloop).unwrap();
    a.cmp(r11, rcx).unwrap();
    a.jae(sdone).unwrap();
    a.movzx(eax, byte_ptr(r10 + r11)).unwrap();
    a.add(edx, eax).unwrap();
    a.inc(r11).unwrap();
    a.jmp(sloop).unwrap();
    a.set_label(&mut sdone).unwrap();
    a.and(edx, 0xff).unwrap();
    a.mov(rax, MADT_SUM).unwrap();
    a.mov(qword_ptr(rax), rdx).unwrap();
    // Its entries after the 44-byte header.
    a.lea(r8, ptr(r10 + 44)).unwrap();
    a.lea(r9, ptr(r10 + rcx)).unwrap();
    a.xor(r12, r12).unwrap();
    a.xor(r13, r13).unwrap();
    a.xor(r14, r14).unwrap();
    a.set_label(&mut mloop).unwrap();
    a.cmp(r8, r9).unwrap();
    a.jae(mdone).unwrap();
    a.movzx(eax, byte_ptr(r8)).unwrap();
    a.cmp(eax, 1).unwrap();
    a.jne(not_lapic).unwrap();
    a.inc(r14).unwrap(); // an IOAPIC
    a.set_label(&mut not_lapic).unwrap();
    a.test(eax, eax).unwrap();
    a.jne(mnext).unwrap();
    a.test(byte_ptr(r8 + 4), 1).unwrap(); // enabled
    a.je(mnext).unwrap();
    a.inc(r12).unwrap();
    a.movzx(ecx, byte_ptr(r8 + 3)).unwrap(); // APIC id
    a.mov(eax, 1).unwrap();
    a.shl(rax, cl).unwrap();
    a.or(r13, rax).unwrap();
    a.set_label(&mut mnext).unwrap();
    a.movzx(eax, byte_ptr(r8 + 1)).unwrap();
    a.test(eax, eax).unwrap();
    a.je(mdone).unwrap();
    a.add(r8, rax).unwrap();
    a.jmp(mloop).unwrap();
    a.set_label(&mut mdone).unwrap();
    a.mov(rax, LAPICS).unwrap();
    a.mov(qword_ptr(rax), r12).unwrap();
    a.mov(rax, APIC_IDS).unwrap();
    a.mov(qword_ptr(rax), r13).unwrap();
    a.mov(rax, IOAPICS).unwrap();
    a.mov(qword_ptr(rax), r14).unwrap();
    a.set_label(&mut done).unwrap();
    // The module list.
    a.mov(eax, dword_ptr(r15 + 12)).unwrap(); // nr_modules
    a.mov(rcx, NR_MODULES).unwrap();
    a.mov(qword_ptr(rcx), rax).unwrap();
    a.test(eax, eax).unwrap();
    a.jne(modules).unwrap();
    a.jmp(end).unwrap();
    a.set_label(&mut modules).unwrap();
    a.mov(rsi, qword_ptr(r15 + 16)).unwrap(); // modlist_paddr
    a.mov(rax, qword_ptr(rsi)).unwrap();
    a.mov(rcx, MOD_PADDR).unwrap();
    a.mov(qword_ptr(rcx), rax).unwrap();
    a.mov(rdx, qword_ptr(rsi + 8)).unwrap();
    a.mov(rcx, MOD_SIZE).unwrap();
    a.mov(qword_ptr(rcx), rdx).unwrap();
    a.mov(rsi, rax).unwrap();
    a.mov(rdi, INITRD_COPY).unwrap();
    a.mov(rcx, rdx).unwrap();
    a.mov(eax, 0x10000).unwrap();
    a.cmp(rcx, rax).unwrap();
    a.cmova(rcx, rax).unwrap();
    a.rep().movsb().unwrap();
    a.set_label(&mut end).unwrap();
    a.nop().unwrap();
    g.shutdown(0);
    g.assemble()
}

#[test]
fn guest_finds_its_vcpus_in_the_madt_and_reads_its_initrd() {
    if !require_kvm() {
        return;
    }
    let initrd: Vec<u8> = (0..INITRD_LEN).map(|i| (i * 7 + i / 251) as u8).collect();
    let path = tmp("initrd");
    std::fs::write(&path, &initrd).unwrap();
    let mut cfg = VmConfig::new(Kernel::Raw64(acpi_guest()));
    cfg.mem_mib = MEM >> 20;
    // Two vCPUs configured; vCPU 1 only idles.
    cfg.vcpus = 2;
    cfg.initrd = Some(std::fs::read(&path).unwrap());
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    assert_eq!(run_with(&vm, || {}), ExitReason::Shutdown(0));
    assert_eq!(read_u64(&vm, MADT_SUM), 0, "MADT checksum");
    assert_eq!(read_u64(&vm, LAPICS), 2, "enabled local APICs in the MADT");
    assert_eq!(read_u64(&vm, APIC_IDS), 0b11, "APIC ids = vCPU ids");
    assert_eq!(read_u64(&vm, IOAPICS), 1);
    assert_eq!(read_u64(&vm, NR_MODULES), 1);
    let paddr = read_u64(&vm, MOD_PADDR);
    assert_eq!(paddr % 4096, 0, "initrd page aligned: {paddr:#x}");
    assert_eq!(read_u64(&vm, MOD_SIZE), INITRD_LEN as u64);
    // In RAM by the guest's own memory map, clear of the image and the special pages.
    let map = xen_vmm::boot::e820::memory_map(MEM);
    assert!(map.iter().any(|e| e.kind == xen_vmm::boot::e820::E820_RAM
        && e.addr <= paddr
        && paddr + INITRD_LEN as u64 <= e.addr + e.size));
    let file = std::fs::read(&path).unwrap();
    assert_eq!(read_bytes(&vm, INITRD_COPY, INITRD_LEN), file);
    let _ = std::fs::remove_file(&path);
}

// ---- time ----

/// Vcpu 0's `vcpu_time_info` inside shared_info.
const TIME: u64 = SHINFO + 32;
/// `wc_version` of a 64-bit guest's shared_info (then sec, nsec, sec_hi).
const WC: u64 = SHINFO + 3072;

/// Emits: RAX = the Xen system time in ns from vCPU 0's pvclock (version
/// protocol, RDTSC between two reads of an even version), R8 = the
/// version read. Clobbers RCX, RDX, R9-R11.
fn pvclock_now(a: &mut CodeAssembler) {
    let mut retry = a.create_label();
    let mut neg = a.create_label();
    let mut scaled = a.create_label();
    a.set_label(&mut retry).unwrap();
    a.mov(rcx, TIME).unwrap();
    a.mov(r8d, dword_ptr(rcx)).unwrap();
    a.test(r8d, 1).unwrap();
    a.jne(retry).unwrap();
    a.lfence().unwrap();
    a.rdtsc().unwrap();
    a.shl(rdx, 32).unwrap();
    a.or(rax, rdx).unwrap();
    a.mov(r9, qword_ptr(rcx + 8)).unwrap(); // tsc_timestamp
    a.mov(r10, qword_ptr(rcx + 16)).unwrap(); // system_time
    a.mov(r11d, dword_ptr(rcx + 24)).unwrap(); // tsc_to_system_mul
    a.movsx(edx, byte_ptr(rcx + 28)).unwrap(); // tsc_shift
    a.lfence().unwrap();
    a.cmp(dword_ptr(rcx), r8d).unwrap();
    a.jne(retry).unwrap();
    a.sub(rax, r9).unwrap();
    a.mov(ecx, edx).unwrap();
    a.test(ecx, ecx).unwrap();
    a.js(neg).unwrap();
    a.shl(rax, cl).unwrap();
    a.jmp(scaled).unwrap();
    a.set_label(&mut neg).unwrap();
    a.neg(ecx).unwrap();
    a.shr(rax, cl).unwrap();
    a.set_label(&mut scaled).unwrap();
    a.mul(r11).unwrap();
    a.shrd(rax, rdx, 32).unwrap();
    a.add(rax, r10).unwrap();
}

/// Emits a copy of the wall clock (wc_version, wc_sec, wc_nsec, wc_sec_hi:
/// 16 bytes) to `to`, read under the version protocol.
fn copy_wallclock(a: &mut CodeAssembler, to: u64) {
    let mut retry = a.create_label();
    a.set_label(&mut retry).unwrap();
    a.mov(rcx, WC).unwrap();
    a.mov(edx, dword_ptr(rcx)).unwrap();
    a.test(edx, 1).unwrap();
    a.jne(retry).unwrap();
    a.lfence().unwrap();
    a.mov(rax, qword_ptr(rcx + 4)).unwrap(); // sec, nsec
    a.mov(r9d, dword_ptr(rcx + 12)).unwrap(); // sec_hi
    a.lfence().unwrap();
    a.cmp(dword_ptr(rcx), edx).unwrap();
    a.jne(retry).unwrap();
    a.mov(rcx, to).unwrap();
    a.mov(dword_ptr(rcx), edx).unwrap();
    a.mov(qword_ptr(rcx + 4), rax).unwrap();
    a.mov(dword_ptr(rcx + 12), r9d).unwrap();
}

/// A wall-clock copy and a pvclock reading: the Unix time in seconds.
fn wall(vm: &Vm, wc: u64, system_ns: u64) -> f64 {
    let version = read_u64(vm, wc) as u32;
    assert_eq!(version % 2, 0, "wc_version even");
    assert_ne!(version, 0, "wall clock written");
    let sec = read_u64(vm, wc + 4) as u32;
    let nsec = (read_u64(vm, wc + 4) >> 32) as u32;
    let sec_hi = read_u64(vm, wc + 12) as u32;
    assert!(nsec < 1_000_000_000);
    ((u64::from(sec_hi) << 32) | u64::from(sec)) as f64
        + f64::from(nsec) / 1e9
        + system_ns as f64 / 1e9
}

const CPUID3: u64 = DATA; // 3 sub-leaves x (eax, ebx, ecx, edx) as u32
const A_SYS: u64 = DATA + 0x40;
const A_VER: u64 = DATA + 0x48;
const A_WC: u64 = DATA + 0x50;
const B_SYS: u64 = DATA + 0x60;
const B_VER: u64 = DATA + 0x68;
const B_WC: u64 = DATA + 0x70;
const B_FLAGS: u64 = DATA + 0x80;
const SLEEP_NS: u64 = 50_000_000;

#[test]
fn wall_clock_and_pvclock_agree_with_the_host_across_a_50ms_sleep() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.hypercall_page();
    g.a.cli().unwrap();
    for sub in 0..3u32 {
        g.a.mov(eax, 0x4000_0003u32).unwrap();
        g.a.mov(ecx, sub).unwrap();
        g.a.cpuid().unwrap();
        g.a.mov(rdi, CPUID3 + 16 * u64::from(sub)).unwrap();
        g.a.mov(dword_ptr(rdi), eax).unwrap();
        g.a.mov(dword_ptr(rdi + 4), ebx).unwrap();
        g.a.mov(dword_ptr(rdi + 8), ecx).unwrap();
        g.a.mov(dword_ptr(rdi + 12), edx).unwrap();
    }
    g.map_shared_info(SHINFO);
    g.store32(ARGS, 0); // VIRQ_TIMER
    g.store32(ARGS + 4, 0); // vCPU 0
    g.hcall(32, &[1, ARGS]); // EVTCHNOP_bind_virq
                             // Reading A.
    pvclock_now(&mut g.a);
    g.a.mov(r12, rax).unwrap();
    g.a.mov(rcx, A_SYS).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.mov(rcx, A_VER).unwrap();
    g.a.mov(qword_ptr(rcx), r8).unwrap();
    copy_wallclock(&mut g.a, A_WC);
    // set_timer_op(A + 50 ms), then SCHEDOP_block until VIRQ_TIMER.
    g.a.lea(rdi, ptr(r12 + SLEEP_NS as i32)).unwrap();
    g.call(15);
    g.hcall(29, &[1, 0]);
    // Reading B.
    pvclock_now(&mut g.a);
    g.a.mov(rcx, B_SYS).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    g.a.mov(rcx, B_VER).unwrap();
    g.a.mov(qword_ptr(rcx), r8).unwrap();
    g.a.mov(rcx, TIME).unwrap();
    g.a.movzx(eax, byte_ptr(rcx + 29)).unwrap();
    g.a.mov(rcx, B_FLAGS).unwrap();
    g.a.mov(qword_ptr(rcx), rax).unwrap();
    copy_wallclock(&mut g.a, B_WC);
    g.shutdown(0);
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.mem_mib = MEM >> 20;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    let unix_before = unix_now();
    let started = Instant::now();
    assert_eq!(run_with(&vm, || {}), ExitReason::Shutdown(0));
    let elapsed = started.elapsed().as_nanos() as u64;
    let unix_after = unix_now();

    let (a, b) = (read_u64(&vm, A_SYS), read_u64(&vm, B_SYS));
    eprintln!(
        "pvclock: A {a} ns, B {b} ns, B - A {} ns; host run {elapsed} ns",
        b - a
    );
    // The guest slept on its 50 ms timer: its clock moved at least that far
    // (1 ms of slack for the clock's sampling), and no further than the host's.
    assert!(
        b - a + 1_000_000 >= SLEEP_NS,
        "pvclock advanced {} ns",
        b - a
    );
    assert!(
        b - a <= elapsed,
        "pvclock advanced {} ns in {elapsed} ns",
        b - a
    );
    // Refreshed when the timer was armed and again when the vCPU woke.
    let (va, vb) = (read_u64(&vm, A_VER), read_u64(&vm, B_VER));
    assert!(vb >= va + 4, "pvclock versions {va} -> {vb}");
    // The guest's Unix time (wall clock + system time) is the host's.
    let (wa, wb) = (wall(&vm, A_WC, a), wall(&vm, B_WC, b));
    eprintln!("wall: A {wa:.6}, B {wb:.6}; host {unix_before:.6} .. {unix_after:.6}");
    assert!(
        wa > unix_before - 1.0 && wa < unix_after + 1.0,
        "wall clock A {wa}"
    );
    assert!(
        wb > unix_before - 1.0 && wb < unix_after + 1.0,
        "wall clock B {wb}"
    );
    assert!(wb >= wa);
    // CPUID 0x40000003: the TSC kHz KVM runs the guest at, the pvclock's scale.
    let config = vm.shared().platform.config().clone();
    let khz = config.tsc_khz;
    assert_ne!(khz, 0, "KVM_GET_TSC_KHZ");
    let leaf = |sub: u64, reg: u64| read_u64(&vm, CPUID3 + 16 * sub + 4 * reg) as u32;
    assert_eq!(leaf(0, 2), khz, "sub-leaf 0 ECX");
    assert_eq!(leaf(2, 0), khz, "sub-leaf 2 EAX");
    assert_eq!(leaf(0, 0) & 2 != 0, config.tsc_stable, "TSC safe bit");
    let (mul, shift) = xen_vmm::xen_platform::pvclock_scale(u64::from(khz));
    assert_eq!((leaf(1, 2), leaf(1, 3) as i32), (mul, i32::from(shift)));
    let t = read_bytes(&vm, TIME, 32);
    assert_eq!(u32::from_le_bytes(t[24..28].try_into().unwrap()), mul);
    assert_eq!(t[28] as i8, shift);
    // XEN_PVCLOCK_TSC_STABLE_BIT only where the host TSC is stable.
    assert_eq!(read_u64(&vm, B_FLAGS) & 1 != 0, config.tsc_stable);
}

const LAST: u64 = DATA + 0x200;
const BACKWARDS: u64 = DATA + 0x208;
const VERSION: u64 = DATA + 0x210;
const ROUNDS: u64 = DATA + 0x218;
const GO: u64 = DATA + 0x220;
const FINAL_SYS: u64 = DATA + 0x228;
const FINAL_WC: u64 = DATA + 0x230;

/// Reads the pvclock in a loop, counting readings that went backwards,
/// until told to stop; then records its final reading and the wall clock.
fn clock_loop_guest() -> Vec<u8> {
    let mut g = Guest::new64();
    g.hypercall_page();
    g.a.cli().unwrap();
    g.map_shared_info(SHINFO);
    let mut top = g.a.create_label();
    let mut forward = g.a.create_label();
    let a = &mut g.a;
    a.set_label(&mut top).unwrap();
    a.nop().unwrap();
    pvclock_now(a);
    a.mov(rcx, VERSION).unwrap();
    a.mov(qword_ptr(rcx), r8).unwrap();
    a.mov(rcx, LAST).unwrap();
    a.cmp(rax, qword_ptr(rcx)).unwrap();
    a.jae(forward).unwrap();
    a.mov(rdx, BACKWARDS).unwrap();
    a.inc(qword_ptr(rdx)).unwrap();
    a.set_label(&mut forward).unwrap();
    a.mov(qword_ptr(rcx), rax).unwrap();
    a.mov(rcx, ROUNDS).unwrap();
    a.inc(qword_ptr(rcx)).unwrap();
    a.mov(rcx, GO).unwrap();
    a.cmp(qword_ptr(rcx), 0).unwrap();
    a.je(top).unwrap();
    pvclock_now(a);
    a.mov(rcx, FINAL_SYS).unwrap();
    a.mov(qword_ptr(rcx), rax).unwrap();
    copy_wallclock(a, FINAL_WC);
    g.shutdown(0);
    g.assemble()
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(30), "timeout: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn pvclock_goes_on_monotonically_and_wall_clock_follows_the_host_across_a_restore() {
    if !require_kvm() {
        return;
    }
    let p = tmp("clock.snap");
    let mut cfg = VmConfig::new(Kernel::Raw64(clock_loop_guest()));
    cfg.mem_mib = MEM >> 20;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    let (saved_last, saved_version) = std::thread::scope(|s| {
        s.spawn(|| vm.run().unwrap());
        wait_until("guest reads its clock", || read_u64(&vm, ROUNDS) > 1000);
        let q = vm.quiesce(Root::new().unwrap().token()).unwrap();
        q.snapshot(Root::new().unwrap().token(), &p).unwrap();
        // What the snapshot holds.
        let saved = (read_u64(&vm, LAST), read_u64(&vm, VERSION));
        drop(q);
        vm.shared().finish(ExitReason::Shutdown(0));
        saved
    });
    assert_eq!(
        read_u64(&vm, BACKWARDS),
        0,
        "went backwards before the snapshot"
    );
    // The snapshot waits on disk for a while: longer than the wall-clock
    // tolerance below, so a wall clock left as it was is caught.
    std::thread::sleep(Duration::from_millis(2_500));
    let vm2 = Vm::restore(&p, Box::new(std::io::sink())).unwrap();
    let rounds = read_u64(&vm2, ROUNDS);
    let reason = run_with(&vm2, || {
        wait_until("restored guest reads its clock", || {
            read_u64(&vm2, ROUNDS) > rounds + 1000
        });
        std::thread::sleep(Duration::from_millis(50));
        write_u64(&vm2, GO, 1);
    });
    let unix_after = unix_now();
    assert_eq!(reason, ExitReason::Shutdown(0));
    let host_sys = vm2.shared().system_time_ns();
    let last = read_u64(&vm2, FINAL_SYS);
    eprintln!(
        "saved pvclock {saved_last} (version {saved_version}), after restore {last} \
         (version {}), host system time {host_sys}",
        read_u64(&vm2, VERSION)
    );
    // Monotonic through the restore (checked by the guest on every reading).
    assert_eq!(read_u64(&vm2, BACKWARDS), 0, "pvclock went backwards");
    assert!(last >= saved_last);
    assert!(
        last <= host_sys,
        "guest clock {last} ahead of the host's {host_sys}"
    );
    // The restored vCPU's pvclock was written afresh before it ran.
    assert!(
        read_u64(&vm2, VERSION) > saved_version,
        "pvclock not refreshed after the restore"
    );
    // Wall clock + system time is the host's time, though the system time
    // went on from the saved instant.
    let w = wall(&vm2, FINAL_WC, last);
    assert!(
        (w - unix_after).abs() < 1.0,
        "guest Unix time {w:.3} vs host {unix_after:.3}"
    );
    let _ = std::fs::remove_file(&p);
}

/// A guest that shuts down with 0 if its start_info lists one module of
/// `len` bytes starting with `first`, else with 3 (crash).
fn initrd_check_guest(len: u64, first: u8) -> Vec<u8> {
    let mut g = Guest::new64();
    g.a.mov(r15, rbx).unwrap();
    g.hypercall_page();
    let mut bad = g.a.create_label();
    g.a.cmp(dword_ptr(r15 + 12), 1).unwrap(); // nr_modules
    g.a.jne(bad).unwrap();
    g.a.mov(rsi, qword_ptr(r15 + 16)).unwrap();
    g.a.mov(rax, len).unwrap();
    g.a.cmp(qword_ptr(rsi + 8), rax).unwrap();
    g.a.jne(bad).unwrap();
    g.a.mov(rax, qword_ptr(rsi)).unwrap();
    g.a.cmp(byte_ptr(rax), first as i32).unwrap();
    g.a.jne(bad).unwrap();
    g.shutdown(0);
    g.a.set_label(&mut bad).unwrap();
    g.a.nop().unwrap();
    g.shutdown(3);
    g.assemble()
}

#[test]
fn cli_initrd_reaches_the_guest_and_a_missing_file_is_an_error() {
    if !require_kvm() {
        return;
    }
    let img = tmp("initrd-guest.bin");
    let initrd = tmp("initrd-cli");
    std::fs::write(&img, initrd_check_guest(5000, 0xa7)).unwrap();
    std::fs::write(&initrd, [0xa7u8; 5000]).unwrap();
    let run = |extra: &[&std::ffi::OsStr]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xen-vmm"));
        c.args(["run", "--mem", "64", "--raw64"])
            .arg(&img)
            .args(extra);
        c.stdin(std::process::Stdio::null());
        c.output().unwrap()
    };
    let out = run(&["--initrd".as_ref(), initrd.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without it, the guest finds no module.
    assert_eq!(run(&[]).status.code(), Some(3));
    // An unreadable file: a setup error naming it.
    let missing = tmp("no-such-initrd");
    let out = run(&["--initrd".as_ref(), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(70));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-initrd"), "{err}");
    // One too large for the guest's RAM: refused before it runs.
    let huge = tmp("huge-initrd");
    std::fs::write(&huge, vec![0u8; 63 << 20]).unwrap();
    let out = run(&["--initrd".as_ref(), huge.as_os_str()]);
    let _ = std::fs::remove_file(&huge);
    assert_eq!(out.status.code(), Some(70));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("initrd"), "{err}");
    let _ = std::fs::remove_file(&img);
    let _ = std::fs::remove_file(&initrd);
}
