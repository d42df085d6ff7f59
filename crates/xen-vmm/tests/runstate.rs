// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `VCPUOP_register_runstate_memory_area` and `VCPUOP_register_vcpu_time_memory_area`
//! on real KVM: a guest registers both areas, blocks once, and the areas hold a sane
//! runstate (accounting of running / blocked time) and pvclock. The guest first enables
//! `VMASST_TYPE_runstate_update_flag` with `HYPERVISOR_vm_assist`, so every runstate write
//! uses the `XEN_RUNSTATE_UPDATE` protocol.

mod common;

use common::*;
use iced_x86::code_asm::*;
use vm_lock::Root;
use xen_vmm::ExitReason;

const EFAULT: i64 = -14;
const EINVAL: i64 = -22;
const ENOSYS: i64 = -38;

const RES: u64 = DATA;
/// The runstate area.
const RS: u64 = DATA + 0x1000;
/// The separate time area.
const TIME: u64 = DATA + 0x1100;
/// Guest-side copies of the runstate area: after registering, after the block.
const COPY1: u64 = DATA + 0x1200;
const COPY2: u64 = DATA + 0x1280;
/// A runstate area crossing a page boundary.
const RS_CROSS: u64 = DATA + 0x2fe0;

/// Copies `len` bytes (a multiple of 4) from `src` to `dst` inside the guest.
fn copy(g: &mut Guest, src: u64, dst: u64, len: u64) {
    for off in (0..len).step_by(4) {
        if g.bits == 64 {
            g.a.mov(rcx, src + off).unwrap();
            g.a.mov(eax, dword_ptr(rcx)).unwrap();
            g.a.mov(rcx, dst + off).unwrap();
            g.a.mov(dword_ptr(rcx), eax).unwrap();
        } else {
            g.a.mov(ecx, (src + off) as u32).unwrap();
            g.a.mov(eax, dword_ptr(ecx)).unwrap();
            g.a.mov(ecx, (dst + off) as u32).unwrap();
            g.a.mov(dword_ptr(ecx), eax).unwrap();
        }
    }
}

/// `VCPUOP_<cmd>(vCPU 0)` with a one-u64 argument struct holding `value`; result at `at`.
fn vcpu_op(g: &mut Guest, cmd: u64, value: u64, at: u64) {
    g.store64(ARGS + 0x20, value);
    g.hcall(24, &[cmd, 0, ARGS + 0x20]);
    g.store_result(at);
}

/// (state, state_entry_time, time[4]) of a runstate record at `gpa`.
fn runstate(r: &Run, gpa: u64, wide: bool) -> (u32, u64, [u64; 4]) {
    let (entry, times) = if wide { (8, 16) } else { (4, 12) };
    let mut t = [0; 4];
    for (i, v) in t.iter_mut().enumerate() {
        *v = r.u64(gpa + times + 8 * i as u64);
    }
    (r.u32(gpa), r.u64(gpa + entry), t)
}

fn guest(mut g: Guest) -> Run {
    let rs_len = if g.bits == 64 { 48 } else { 44 };
    g.hypercall_page();
    g.map_shared_info(SHINFO);
    g.store_result(RES);
    // vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag), then bad requests.
    g.hcall(21, &[0, 5]);
    g.store_result(RES + 0x68);
    g.hcall(21, &[0, 2]); // writable_pagetables: PV only
    g.store_result(RES + 0x70);
    g.hcall(21, &[9, 5]); // no such command
    g.store_result(RES + 0x78);
    g.store32(ARGS, 0); // VIRQ_TIMER
    g.store32(ARGS + 4, 0); // vCPU 0
    g.hcall(32, &[1, ARGS]);
    g.store_result(RES + 8);
    vcpu_op(&mut g, 5, RS, RES + 0x10); // register_runstate_memory_area
    copy(&mut g, RS, COPY1, rs_len);
    vcpu_op(&mut g, 13, TIME, RES + 0x18); // register_vcpu_time_memory_area
                                           // Block once, until the periodic timer (50 ms) ticks.
    vcpu_op(&mut g, 6, 50_000_000, RES + 0x20); // set_periodic_timer
    g.hcall(29, &[1, 0]); // SCHEDOP_block
    g.store_result(RES + 0x28);
    g.hcall(24, &[7, 0, 0]); // stop_periodic_timer
    g.store_result(RES + 0x30);
    copy(&mut g, RS, COPY2, rs_len);
    // Hostile registrations.
    vcpu_op(&mut g, 5, 0x7000_0000, RES + 0x38); // not RAM
    vcpu_op(&mut g, 13, DATA + 0x1ff0, RES + 0x40); // time area crossing a page
    vcpu_op(&mut g, 13, TIME + 2, RES + 0x48); // misaligned time area
    g.store64(ARGS + 0x20, RS);
    g.hcall(24, &[5, 64, ARGS + 0x20]); // no such vCPU
    g.store_result(RES + 0x50);
    // A runstate area may cross a page; then back to the first one.
    vcpu_op(&mut g, 5, RS_CROSS, RES + 0x58);
    vcpu_op(&mut g, 5, RS, RES + 0x60);
    g.shutdown(0);
    let img = g.assemble();
    if g.bits == 64 {
        run64(img, 1)
    } else {
        run32(img, 1)
    }
}

fn check(r: &Run, wide: bool) {
    assert_eq!(r.reason, ExitReason::Shutdown(0), "{}", r.output);
    let res = |off: u64| {
        if wide {
            r.i64(RES + off)
        } else {
            r.u32(RES + off) as i32 as i64
        }
    };
    for off in [0, 8, 0x10, 0x18, 0x20, 0x28, 0x30, 0x58, 0x60] {
        assert_eq!(res(off), 0, "result at +{off:#x}");
    }
    assert_eq!(res(0x38), EFAULT, "runstate area outside RAM");
    assert_eq!(res(0x40), EINVAL, "time area crossing a page");
    assert_eq!(res(0x48), EINVAL, "misaligned time area");
    assert_eq!(res(0x50), -2, "vCPU 64: ENOENT");
    assert_eq!(res(0x68), 0, "vm_assist enable runstate_update_flag");
    assert_eq!(res(0x70), EINVAL, "vm_assist of a PV-only type");
    assert_eq!(res(0x78), ENOSYS, "vm_assist with a bad command");
    {
        let mut root = Root::new().unwrap();
        assert!(
            r.vm.shared()
                .platform
                .pages()
                .state(root.token())
                .runstate_update_flag,
            "the flag protocol is on for runstate writes"
        );
    }

    // At registration: running, the area filled at once.
    let (s1, e1, t1) = runstate(r, COPY1, wide);
    assert_eq!(s1, 0, "RUNSTATE_running");
    assert_eq!(t1.iter().sum::<u64>(), e1);
    // After the block: running again, time spent blocked and running before.
    let (s2, e2, t2) = runstate(r, COPY2, wide);
    assert_eq!(s2, 0, "RUNSTATE_running after the wake-up");
    assert!(e2 > e1, "state_entry_time moves forward: {e1} -> {e2}");
    assert_eq!(e2 >> 63, 0, "no XEN_RUNSTATE_UPDATE left set");
    assert!(t2[2] > 0, "time blocked: {t2:?}");
    assert!(t2[0] >= t1[0] && t2[0] > 0, "time running: {t2:?}");
    assert_eq!(t2[3], 0, "never offline");
    // Every ns since boot is in exactly one state.
    assert_eq!(t2.iter().sum::<u64>(), e2, "{t2:?}");
    // Nothing changed since: the host sees what the guest copied, in both areas.
    assert_eq!(runstate(r, RS, wide), (s2, e2, t2));
    assert_eq!(runstate(r, RS_CROSS, wide), (s2, e2, t2));

    // The time area: a stable (even) version, written with vcpu_info's pvclock.
    let version = r.u32(TIME);
    assert!(
        version != 0 && version.is_multiple_of(2),
        "version {version}"
    );
    // Refreshed when the vCPU woke from the block, after its runstate became
    // running again (as Xen updates a vCPU's time when it is scheduled in).
    let system_time = r.u64(TIME + 16);
    assert!(
        system_time > 0 && system_time >= e2,
        "system_time {system_time}, running since {e2}"
    );
    assert_ne!(r.u32(TIME + 24), 0, "tsc_to_system_mul");
    assert_ne!(r.u64(TIME + 8), 0, "tsc_timestamp");
    assert_eq!(r.u64(SHINFO + 32 + 16), system_time, "vcpu_info[0].time");
    assert_eq!(r.u32(SHINFO + 32) % 2, 0);
}

#[test]
fn runstate_and_time_areas_64() {
    if !require_kvm() {
        return;
    }
    check(&guest(Guest::new64()), true);
}

#[test]
fn runstate_and_time_areas_32() {
    if !require_kvm() {
        return;
    }
    check(&guest(Guest::new32()), false);
}
