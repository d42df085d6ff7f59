// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen time: the wall clock in shared_info (the `wc_version` protocol,
//! `wc_sec_hi`, for 64- and 32-bit guests, moved after a restore), the
//! pvclock refreshed when the guest arms its timer and when the VMM says a
//! vCPU starts or wakes (`XenPlatform::update_vcpu_time`), and the stable
//! bit as configured.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{pvclock_scale, HypercallExit, PlatformConfig, TscReading, VcpuAccess};

/// A vCPU whose TSC the test sets.
struct Tsc(Option<TscReading>);

impl VcpuAccess for Tsc {
    fn tsc(&mut self) -> Option<TscReading> {
        self.0
    }
}

fn reading(tsc: u64) -> Tsc {
    Tsc(Some(TscReading {
        tsc,
        khz: 3_000_000,
    }))
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// (wc_version, Unix seconds at system time 0) read at the offsets of a
/// 64-bit (`wide`) or 32-bit guest's shared_info.
fn wallclock(vm: &mut Vm, wide: bool) -> (u32, f64) {
    let (base, hi) = if wide { (3072, 3084) } else { (2304, 2340) };
    let version = vm.read::<u32>(SHINFO + base);
    let sec = vm.read::<u32>(SHINFO + base + 4);
    let nsec = vm.read::<u32>(SHINFO + base + 8);
    let sec_hi = vm.read::<u32>(SHINFO + hi);
    let secs = ((u64::from(sec_hi) << 32) | u64::from(sec)) as f64;
    assert!(nsec < 1_000_000_000);
    (version, secs + f64::from(nsec) / 1e9)
}

#[test]
fn wall_clock_is_written_with_the_version_protocol_64() {
    let mut vm = Vm::new(1);
    vm.host.advance(2_000 * MS);
    vm.map_shared_info(SHINFO_GFN);
    let (v1, base1) = wallclock(&mut vm, true);
    assert_eq!(v1 % 2, 0, "even once written");
    assert_ne!(v1, 0);
    // Wall clock + system time (2 s) is the host's Unix time.
    let now = unix_now();
    assert!(
        (base1 + 2.0 - now).abs() < 1.0,
        "wall clock {base1} + 2 s vs host {now}"
    );
    // The guest scribbles over the fields (an odd version, a wc_sec_hi far in
    // the future); the next write replaces them consistently and moves the
    // version on (odd while writing, then even: never back to a value a
    // reader already saw).
    vm.write::<u32>(SHINFO + 3072, 7);
    vm.write::<u32>(SHINFO + 3084, 0xdead);
    vm.map_shared_info(SHINFO_GFN);
    let (v2, base2) = wallclock(&mut vm, true);
    assert_eq!(v2, 10, "7 -> 9 while writing -> 10");
    assert!((base2 - base1).abs() < 1.0, "{base2} vs {base1}");
}

#[test]
fn wall_clock_of_a_32_bit_guest_has_sec_hi_in_arch_shared_info() {
    let mut vm = Vm::new(1);
    vm.write(
        ARGS,
        XenAddToPhysmap32 {
            domid: DOMID_SELF,
            size: 0,
            space: XENMAPSPACE_SHARED_INFO,
            idx: 0,
            gpfn: SHINFO_GFN as u32,
        },
    );
    // A 32-bit caller latches the 32-bit layout.
    assert_eq!(
        vm.hc32(
            0,
            HYPERVISOR_MEMORY_OP,
            &[u64::from(XENMEM_ADD_TO_PHYSMAP), ARGS]
        ),
        0
    );
    let (v, _) = wallclock(&mut vm, false);
    assert_eq!(v % 2, 0);
    assert_ne!(v, 0);
    // Written again over a guest's scribbles: wc_sec_hi at arch.wc_sec_hi too.
    vm.write::<u32>(SHINFO + 2340, 0xdead);
    assert_eq!(
        vm.hc32(
            0,
            HYPERVISOR_MEMORY_OP,
            &[u64::from(XENMEM_ADD_TO_PHYSMAP), ARGS]
        ),
        0
    );
    let (v2, base) = wallclock(&mut vm, false);
    assert_eq!(v2, v + 2);
    let now = unix_now();
    assert!((base - now).abs() < 1.0, "wall clock {base} vs host {now}");
}

#[test]
fn restore_moves_the_wall_clock_by_the_time_spent_saved() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    let (v1, base1) = wallclock(&mut vm, true);
    // The guest ran 5 s of system time; the host then keeps the snapshot for
    // a while (the platform's clock moves, its system time must not).
    vm.host.advance(5_000 * MS);
    let sys = vm.platform.system_time_ns();
    let config = vm.platform.config().clone();
    let mut vm = vm
        .save_restore(config, |host| host.advance(60_000 * MS))
        .unwrap();
    assert!(
        vm.platform.system_time_ns() - sys < MS,
        "system time goes on"
    );
    let (v2, base2) = wallclock(&mut vm, true);
    assert_eq!(v2 % 2, 0);
    assert!(v2 > v1, "rewritten after the restore");
    // Wall clock + system time is the host's time again: the base moved
    // back by the 5 s the guest's system time advanced in the test clock
    // while the host's Unix time did not.
    let now = unix_now();
    assert!(
        (base2 + 5.0 - now).abs() < 1.0,
        "wall clock {base2} + 5 s vs host {now} (before: {base1})"
    );
}

#[test]
fn arming_the_timer_refreshes_the_callers_pvclock() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    let r = vm.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, SHINFO_GFN);
    assert_eq!(
        vm.call_with(0, &r, false, &mut reading(1_000)),
        HypercallExit::Resume { rax: 0 }
    );
    let before: VcpuTimeInfo = vm.read(Vm::vcpu_info(0) + 32);
    let other: VcpuTimeInfo = vm.read(Vm::vcpu_info(1) + 32);
    assert_eq!(before.tsc_timestamp, 1_000);
    vm.host.advance(3 * MS);
    let now = vm.platform.system_time_ns();
    let deadline = now + 10 * MS;
    let r = regs64(HYPERVISOR_SET_TIMER_OP, &[deadline]);
    assert_eq!(
        vm.call_with(0, &r, false, &mut reading(9_000_000)),
        HypercallExit::Resume { rax: 0 }
    );
    let after: VcpuTimeInfo = vm.read(Vm::vcpu_info(0) + 32);
    assert_eq!(after.version, before.version + 2);
    assert_eq!((after.tsc_timestamp, after.system_time), (9_000_000, now));
    // Only the caller's.
    assert_eq!(vm.read::<VcpuTimeInfo>(Vm::vcpu_info(1) + 32), other);
    // VCPUOP_set_singleshot_timer too.
    vm.host.advance(MS);
    vm.write(
        ARGS,
        VcpuSetSingleshotTimer64 {
            timeout_abs_ns: deadline,
            flags: 0,
            pad: 0,
        },
    );
    let op = u64::from(VCPUOP_SET_SINGLESHOT_TIMER);
    let r = regs64(HYPERVISOR_VCPU_OP, &[op, 0, ARGS]);
    assert_eq!(
        vm.call_with(0, &r, false, &mut reading(12_000_000)),
        HypercallExit::Resume { rax: 0 }
    );
    let t: VcpuTimeInfo = vm.read(Vm::vcpu_info(0) + 32);
    assert_eq!(
        (t.version, t.tsc_timestamp),
        (after.version + 2, 12_000_000)
    );
}

#[test]
fn vcpu_start_and_wake_refresh_that_vcpus_pvclock() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    // No TSC yet: nothing written.
    assert_eq!(
        vm.read::<VcpuTimeInfo>(Vm::vcpu_info(1) + 32),
        VcpuTimeInfo::default()
    );
    vm.host.advance(4 * MS);
    let now = vm.platform.system_time_ns();
    vm.platform
        .update_vcpu_time(vm.root.token(), 1, &mut reading(77_000));
    let t: VcpuTimeInfo = vm.read(Vm::vcpu_info(1) + 32);
    assert_eq!(t.version, 2);
    assert_eq!((t.tsc_timestamp, t.system_time), (77_000, now));
    assert_eq!((t.tsc_to_system_mul, t.tsc_shift), pvclock_scale(3_000_000));
    assert_eq!(t.flags, 0, "the default configuration: TSC not stable");
    // vCPU 0's is not touched; a vCPU that does not exist is ignored.
    assert_eq!(
        vm.read::<VcpuTimeInfo>(Vm::vcpu_info(0) + 32),
        VcpuTimeInfo::default()
    );
    vm.platform
        .update_vcpu_time(vm.root.token(), 2, &mut reading(1));
    vm.platform
        .update_vcpu_time(vm.root.token(), u32::MAX, &mut reading(1));
    // A VMM without a TSC reading writes nothing.
    vm.platform
        .update_vcpu_time(vm.root.token(), 1, &mut Tsc(None));
    assert_eq!(vm.read::<VcpuTimeInfo>(Vm::vcpu_info(1) + 32), t);
}

#[test]
fn stable_bit_and_cpuid_time_leaf_follow_the_configuration() {
    let mut config = PlatformConfig::new(1, MEM);
    config.tsc_stable = true;
    config.tsc_khz = 2_500_000;
    let mut vm = Vm::with_config(config);
    vm.map_shared_info(SHINFO_GFN);
    vm.platform
        .update_vcpu_time(vm.root.token(), 0, &mut reading(5));
    let t: VcpuTimeInfo = vm.read(Vm::vcpu_info(0) + 32);
    assert_eq!(t.flags, XEN_PVCLOCK_TSC_STABLE_BIT);
    let leaves = vm.platform.cpuid_leaves(0);
    let sub = |i| {
        *leaves
            .iter()
            .find(|l| l.function == 0x4000_0003 && l.index == i)
            .unwrap()
    };
    assert_eq!((sub(0).eax & 2, sub(0).ecx), (2, 2_500_000));
    let (mul, shift) = pvclock_scale(2_500_000);
    assert_eq!((sub(1).ecx, sub(1).edx as i32), (mul, i32::from(shift)));
    assert_eq!(sub(2).eax, 2_500_000);
}
