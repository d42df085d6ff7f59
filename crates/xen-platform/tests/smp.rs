// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! SMP through hypercalls: `VCPUOP_initialise` (HVM/PVH `vcpu_hvm_context`),
//! `up`, `down`, `is_up`, `get_runstate_info`, with Xen's errnos and the
//! register state the VMM is handed.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::{HypercallExit, PlatformConfig, StartSegment, VcpuStart};

/// A valid 64-bit start context (rip in the low half, paging and long mode on).
fn ctx64() -> VcpuHvmX86Regs64 {
    VcpuHvmX86Regs64 {
        rax: 1,
        rcx: 2,
        rdx: 3,
        rbx: 4,
        rsp: 0x9000,
        rbp: 6,
        rsi: 7,
        rdi: 8,
        rip: 0x10_0000,
        rflags: 0x202,
        cr0: 0x8000_0011,
        cr3: 0x5000,
        cr4: 0x20,
        efer: 0x100,
    }
}

/// A valid 32-bit flat context (no paging).
fn ctx32() -> VcpuHvmX86Regs32 {
    VcpuHvmX86Regs32 {
        eax: 1,
        ebx: 4,
        esp: 0x9000,
        eip: 0x10_0000,
        eflags: 0x2,
        cr0: 0x11,
        cs_limit: u32::MAX,
        ds_limit: u32::MAX,
        ss_limit: u32::MAX,
        es_limit: u32::MAX,
        tr_limit: 0x67,
        cs_ar: 0xc9b,
        ds_ar: 0xc93,
        ss_ar: 0xc93,
        es_ar: 0xc93,
        tr_ar: 0x8b,
        ..Default::default()
    }
}

/// `vcpu_op(cmd, target, ARGS)` from vCPU 0 (64-bit).
fn vop(vm: &mut Vm, cmd: u32, target: u64) -> i64 {
    vm.hc(0, HYPERVISOR_VCPU_OP, &[cmd.into(), target, ARGS])
}

fn init(vm: &mut Vm, target: u64, ctx: VcpuHvmContext) -> i64 {
    vm.write(ARGS, ctx);
    vop(vm, VCPUOP_INITIALISE, target)
}

fn runstate(vm: &mut Vm, target: u64) -> VcpuRunstateInfo64 {
    vm.write(ARGS, VcpuRunstateInfo64::default());
    assert_eq!(vop(vm, VCPUOP_GET_RUNSTATE_INFO, target), 0);
    vm.read(ARGS)
}

#[test]
fn initialise_up_down_and_is_up() {
    let mut vm = Vm::new(4);
    // vCPU 0 runs; the others are down and offline.
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 0), 1);
    for v in 1..4 {
        assert_eq!(vop(&mut vm, VCPUOP_IS_UP, v), 0, "vCPU {v}");
        assert_eq!(runstate(&mut vm, v).state, RUNSTATE_OFFLINE, "vCPU {v}");
    }
    assert_eq!(runstate(&mut vm, 0).state, RUNSTATE_RUNNING);
    let _ = vm.events();

    assert_eq!(init(&mut vm, 1, VcpuHvmContext::with_regs64(&ctx64())), 0);
    // Initialised, still down.
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 0);
    assert!(vm.events().is_empty());
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    assert_eq!(vm.events(), vec![HostEvent::VcpuUp { vcpu: 1 }]);
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 1);
    assert!(vm.platform.is_vcpu_up(vm.root.token(), 1));
    assert_eq!(runstate(&mut vm, 1).state, RUNSTATE_RUNNABLE);
    // Up again: nothing happens.
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    assert!(vm.events().is_empty());

    // The VMM gets the registers once.
    let flat = |attr| StartSegment {
        base: 0,
        limit: u32::MAX,
        attr,
    };
    let want = VcpuStart {
        gprs: [1, 2, 3, 4, 0x9000, 6, 7, 8],
        rip: 0x10_0000,
        rflags: 0x202,
        cr0: 0x8000_0011,
        cr3: 0x5000,
        cr4: 0x20,
        efer: 0x500, // LMA set with LME
        cs: flat(0xa9b),
        ds: flat(0xc93),
        ss: flat(0xc93),
        es: flat(0xc93),
        tr: StartSegment {
            base: 0,
            limit: 0x67,
            attr: 0x8b,
        },
    };
    assert_eq!(vm.platform.take_vcpu_start(vm.root.token(), 1), Some(want));
    assert_eq!(vm.platform.take_vcpu_start(vm.root.token(), 1), None);

    // Down: not up, offline, the host told; up again needs no new context.
    vm.host.advance(5 * MS);
    assert_eq!(vop(&mut vm, VCPUOP_DOWN, 1), 0);
    assert_eq!(vm.events(), vec![HostEvent::VcpuDown { vcpu: 1 }]);
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 0);
    let rs = runstate(&mut vm, 1);
    assert_eq!(rs.state, RUNSTATE_OFFLINE);
    assert_eq!(rs.time[RUNSTATE_RUNNABLE as usize], 5 * MS);
    // The vCPU's thread reporting a state while down changes nothing.
    vm.platform
        .set_runstate(vm.root.token(), 1, RUNSTATE_RUNNING);
    assert_eq!(runstate(&mut vm, 1).state, RUNSTATE_OFFLINE);
    assert_eq!(vop(&mut vm, VCPUOP_DOWN, 1), 0);
    assert!(vm.events().is_empty());
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 1);
    assert_eq!(vm.platform.take_vcpu_start(vm.root.token(), 1), None);
}

#[test]
fn the_last_vcpu_going_down_shuts_the_domain_down() {
    let mut vm = Vm::new(2);
    assert_eq!(init(&mut vm, 1, VcpuHvmContext::with_regs64(&ctx64())), 0);
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    // vCPU 1 takes vCPU 0 down, then itself: the domain powers off.
    assert_eq!(
        vm.hc(1, HYPERVISOR_VCPU_OP, &[VCPUOP_DOWN.into(), 0, ARGS]),
        0
    );
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 0), 0);
    let r = regs64(HYPERVISOR_VCPU_OP, &[VCPUOP_DOWN.into(), 1, ARGS]);
    assert_eq!(
        vm.call(1, &r),
        HypercallExit::Shutdown {
            rax: 0,
            reason: SHUTDOWN_POWEROFF
        }
    );
    // As Xen: the last vCPU stays up (the domain is shutting down).
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 1);
}

#[test]
fn the_last_vcpu_reported_offline_stays_up_and_the_domain_shuts_down() {
    let mut vm = Vm::new(2);
    assert_eq!(init(&mut vm, 1, VcpuHvmContext::with_regs64(&ctx64())), 0);
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    // HLT with interrupts disabled on vCPU 1: it is down, the domain runs on.
    assert_eq!(vm.platform.vcpu_offline(vm.root.token(), 1), None);
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 0);
    assert_eq!(runstate(&mut vm, 1).state, RUNSTATE_OFFLINE);
    // Reported again, or through set_runstate: nothing more happens.
    assert_eq!(vm.platform.vcpu_offline(vm.root.token(), 1), None);
    // Then on vCPU 0, the last one up: it stays up and the domain powers
    // off, as after the last VCPUOP_down.
    assert_eq!(
        vm.platform.vcpu_offline(vm.root.token(), 0),
        Some(SHUTDOWN_POWEROFF)
    );
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 0), 1);
    vm.platform
        .set_runstate(vm.root.token(), 0, RUNSTATE_OFFLINE);
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 0), 1);
    // The state it is left in is one a restore takes (a domain always has
    // a vCPU up); the fuzzer found the state with none up, which it refuses.
    let vm = vm
        .save_restore(PlatformConfig::new(2, MEM), |_| {})
        .expect("the state after the last offline restores");
    drop(vm);
}

#[test]
fn a_shutdown_code_given_before_wins_over_the_last_down() {
    let mut vm = Vm::new(1);
    vm.write(ARGS + 0x100, SHUTDOWN_REBOOT);
    assert_eq!(
        vm.hc(
            0,
            HYPERVISOR_SCHED_OP,
            &[SCHEDOP_SHUTDOWN_CODE.into(), ARGS + 0x100]
        ),
        0
    );
    let r = regs64(HYPERVISOR_VCPU_OP, &[VCPUOP_DOWN.into(), 0, ARGS]);
    assert_eq!(
        vm.call(0, &r),
        HypercallExit::Shutdown {
            rax: 0,
            reason: SHUTDOWN_REBOOT
        }
    );
}

#[test]
fn errnos_of_every_path() {
    let mut vm = Vm::new(2);
    // -ENOENT: a vCPU id out of range, for every sub-op.
    for cmd in [
        VCPUOP_INITIALISE,
        VCPUOP_UP,
        VCPUOP_DOWN,
        VCPUOP_IS_UP,
        VCPUOP_GET_RUNSTATE_INFO,
    ] {
        assert_eq!(vop(&mut vm, cmd, 2), err(errno::ENOENT), "{cmd}");
        assert_eq!(vop(&mut vm, cmd, u64::from(u32::MAX)), err(errno::ENOENT));
    }
    // -EFAULT: the context or the runstate cannot be read / written.
    let bad = MEM + 0x1000;
    let hc =
        |vm: &mut Vm, cmd: u32, t: u64, a: u64| vm.hc(0, HYPERVISOR_VCPU_OP, &[cmd.into(), t, a]);
    assert_eq!(hc(&mut vm, VCPUOP_INITIALISE, 1, bad), err(errno::EFAULT));
    assert_eq!(
        hc(&mut vm, VCPUOP_INITIALISE, 1, MEM - 64),
        err(errno::EFAULT)
    );
    assert_eq!(
        hc(&mut vm, VCPUOP_GET_RUNSTATE_INFO, 1, bad),
        err(errno::EFAULT)
    );
    // -EINVAL: up of a vCPU never initialised.
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), err(errno::EINVAL));
    // -EEXIST: vCPU 0 is initialised; so is vCPU 1 once done, and that comes
    // before the context is looked at.
    let good = VcpuHvmContext::with_regs64(&ctx64());
    assert_eq!(init(&mut vm, 0, good), err(errno::EEXIST));
    assert_eq!(init(&mut vm, 1, good), 0);
    assert_eq!(init(&mut vm, 1, good), err(errno::EEXIST));
    let mut junk = good;
    junk.mode = 7;
    assert_eq!(init(&mut vm, 1, junk), err(errno::EEXIST));
}

#[test]
fn a_host_that_cannot_start_vcpus_answers_enosys_to_up() {
    let mut vm = Vm::new(2);
    vm.host.set_smp(false);
    assert_eq!(init(&mut vm, 1, VcpuHvmContext::with_regs64(&ctx64())), 0);
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), err(errno::ENOSYS));
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 0);
    assert_eq!(runstate(&mut vm, 1).state, RUNSTATE_OFFLINE);
}

/// Every context `arch_set_info_hvm_guest` refuses (and those VM entry would).
#[test]
fn bad_contexts_are_einval() {
    let mut cases: Vec<(&str, VcpuHvmContext)> = Vec::new();
    let c64 = |f: &dyn Fn(&mut VcpuHvmX86Regs64)| {
        let mut r = ctx64();
        f(&mut r);
        VcpuHvmContext::with_regs64(&r)
    };
    let c32 = |f: &dyn Fn(&mut VcpuHvmX86Regs32)| {
        let mut r = ctx32();
        f(&mut r);
        VcpuHvmContext::with_regs32(&r)
    };
    let mut pad = VcpuHvmContext::with_regs64(&ctx64());
    pad.pad = 1;
    cases.push(("pad", pad));
    let mut mode = VcpuHvmContext::with_regs64(&ctx64());
    mode.mode = 2;
    cases.push(("mode", mode));
    cases.push((
        "64: non-canonical rip",
        c64(&|r| r.rip = 0x0000_8000_0000_0000),
    ));
    cases.push(("64: no CR0.PG", c64(&|r| r.cr0 = 0x11)));
    cases.push(("64: no CR4.PAE", c64(&|r| r.cr4 = 0)));
    cases.push(("64: no EFER.LME", c64(&|r| r.efer = 0)));
    cases.push(("64: CR4.VMXE", c64(&|r| r.cr4 |= 1 << 13)));
    cases.push(("64: EFER.SVME", c64(&|r| r.efer |= 1 << 12)));
    cases.push(("64: CR0 reserved bit", c64(&|r| r.cr0 |= 1 << 32)));
    cases.push(("64: CR0.PG without PE", c64(&|r| r.cr0 = 0x8000_0010)));
    cases.push(("64: CR0.NW without CD", c64(&|r| r.cr0 |= 1 << 29)));
    cases.push((
        "64: CR3 beyond the address width",
        c64(&|r| r.cr3 = 1 << 48),
    ));
    cases.push(("32: pad1", c32(&|r| r.pad1 = 1)));
    cases.push(("32: pad2", c32(&|r| r.pad2[2] = 1)));
    cases.push(("32: attr bits 12-15", c32(&|r| r.ds_ar |= 0x1000)));
    cases.push(("32: null CS", c32(&|r| r.cs_ar = 0)));
    cases.push(("32: null SS", c32(&|r| r.ss_ar = 0)));
    cases.push(("32: null TR", c32(&|r| r.tr_ar = 0)));
    cases.push(("32: system CS", c32(&|r| r.cs_ar = 0xc8b)));
    cases.push(("32: data CS", c32(&|r| r.cs_ar = 0xc93)));
    cases.push(("32: CS not present", c32(&|r| r.cs_ar = 0xc1b)));
    cases.push(("32: read-only SS", c32(&|r| r.ss_ar = 0xc91)));
    cases.push(("32: code SS", c32(&|r| r.ss_ar = 0xc9b)));
    cases.push(("32: execute-only DS", c32(&|r| r.ds_ar = 0xc99)));
    cases.push(("32: execute-only ES", c32(&|r| r.es_ar = 0xc99)));
    cases.push(("32: TR of code", c32(&|r| r.tr_ar = 0x9b)));
    cases.push(("32: TR not a TSS", c32(&|r| r.tr_ar = 0x82)));
    cases.push((
        "32: EIP beyond the CS limit",
        c32(&|r| {
            r.cs_ar = 0x49b;
            r.cs_limit = 0xffff;
            r.eip = 0x1_0000;
        }),
    ));
    cases.push(("32: SS.DPL != CS.DPL", c32(&|r| r.ss_ar = 0xcf3)));
    cases.push(("32: DS.DPL > CS.DPL", c32(&|r| r.ds_ar = 0xcf3)));
    cases.push(("32: ES.DPL > CS.DPL", c32(&|r| r.es_ar = 0xcb3)));
    cases.push(("32: EFER.LMA without LME", c32(&|r| r.efer = 1 << 10)));
    cases.push(("32: EFER.LME without paging", c32(&|r| r.efer = 1 << 8)));
    cases.push((
        "32: G with a limit not ending in 0xfff",
        c32(&|r| r.ds_limit = 0xffff_f000),
    ));
    cases.push((
        "32: no G with a limit above 1 MiB",
        c32(&|r| {
            r.cs_ar = 0x49b;
            r.cs_limit = 0x10_0000;
            r.eip = 0;
        }),
    ));
    for (what, ctx) in cases {
        let mut vm = Vm::new(2);
        assert_eq!(init(&mut vm, 1, ctx), err(errno::EINVAL), "{what}");
        // Refused: still not initialised.
        assert_eq!(vop(&mut vm, VCPUOP_UP, 1), err(errno::EINVAL), "{what}");
    }
}

#[test]
fn a_32bit_context_starts_flat_with_accessed_segments() {
    let mut vm = Vm::new(2);
    let mut r = ctx32();
    // A null DS is allowed (and stays null); EFLAGS keeps only its real bits.
    r.ds_ar = 0;
    r.ds_limit = 0;
    r.eflags = 0xffff_ffff;
    assert_eq!(init(&mut vm, 1, VcpuHvmContext::with_regs32(&r)), 0);
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    let s = vm.platform.take_vcpu_start(vm.root.token(), 1).unwrap();
    assert_eq!(s.gprs, [1, 0, 0, 4, 0x9000, 0, 0, 0]);
    assert_eq!((s.rip, s.rflags), (0x10_0000, 0x003f_7fd7));
    assert_eq!((s.cr0, s.cr3, s.cr4, s.efer), (0x11, 0, 0, 0));
    let seg = |limit, attr| StartSegment {
        base: 0,
        limit,
        attr,
    };
    assert_eq!(s.cs, seg(u32::MAX, 0xc9b));
    assert_eq!(s.ds, seg(0, 0));
    assert_eq!(s.ss, seg(u32::MAX, 0xc93));
    assert_eq!(s.es, seg(u32::MAX, 0xc93));
    // TSS marked busy.
    assert_eq!(s.tr, seg(0x67, 0x8b));
    // The state goes round through a context (as a restore checks it).
    assert_eq!(VcpuStart::from_hvm_context(&s.to_hvm_context(), 48), Ok(s));
    // An available TSS is taken as busy.
    drop(vm);
    let mut r = ctx32();
    r.tr_ar = 0x89;
    assert_eq!(init(&mut Vm::new(2), 1, VcpuHvmContext::with_regs32(&r)), 0);
}

#[test]
fn a_32bit_caller_gets_the_compat_runstate() {
    let mut vm = Vm::new(2);
    vm.host.advance(3 * MS);
    vm.write_bytes(ARGS, &[0xaa; 48]);
    let r = regs32(
        HYPERVISOR_VCPU_OP,
        &[VCPUOP_GET_RUNSTATE_INFO.into(), 1, ARGS],
    );
    assert_eq!(vm.ret(0, &r), 0);
    let rs: VcpuRunstateInfo32 = vm.read(ARGS);
    assert_eq!({ rs.state }, RUNSTATE_OFFLINE);
    assert_eq!({ rs.state_entry_time }, 0);
    assert_eq!({ rs.time }, [0, 0, 0, 3 * MS]);
    // 44 bytes written, not a byte more.
    assert_eq!(vm.read_bytes(ARGS + 44, 4), vec![0xaa; 4]);
    // The time in the current state runs up to now.
    let r64 = runstate(&mut vm, 0);
    assert_eq!((r64.state, r64.time), (RUNSTATE_RUNNING, [3 * MS, 0, 0, 0]));
}

#[test]
fn the_vmm_may_start_secondaries_itself() {
    let mut vm = Vm::new(3);
    vm.platform.boot_vcpu(vm.root.token(), 2);
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 2), 1);
    assert_eq!(runstate(&mut vm, 2).state, RUNSTATE_RUNNING);
    // Initialised: no second context.
    assert_eq!(
        init(&mut vm, 2, VcpuHvmContext::with_regs64(&ctx64())),
        err(errno::EEXIST)
    );
    assert_eq!(vm.platform.take_vcpu_start(vm.root.token(), 2), None);
}

#[test]
fn snapshots_keep_which_vcpus_are_up_and_their_start() {
    let mut vm = Vm::new(3);
    assert_eq!(init(&mut vm, 1, VcpuHvmContext::with_regs64(&ctx64())), 0);
    assert_eq!(init(&mut vm, 2, VcpuHvmContext::with_regs32(&ctx32())), 0);
    assert_eq!(vop(&mut vm, VCPUOP_UP, 2), 0);
    let config = PlatformConfig::new(3, MEM);
    let mut vm = vm.save_restore(config.clone(), |_| {}).unwrap();
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 1), 0);
    assert_eq!(vop(&mut vm, VCPUOP_IS_UP, 2), 1);
    assert!(vm.platform.take_vcpu_start(vm.root.token(), 2).is_some());
    // vCPU 1 is initialised (-EEXIST), and comes up with its context.
    assert_eq!(
        init(&mut vm, 1, VcpuHvmContext::with_regs64(&ctx64())),
        err(errno::EEXIST)
    );
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    assert_eq!(
        vm.platform
            .take_vcpu_start(vm.root.token(), 1)
            .map(|s| s.rip),
        Some(0x10_0000)
    );

    // A state no domain can reach is refused: nothing up, or up but never
    // initialised.
    let mut st = vm.state();
    for v in &mut st.xen.vcpus {
        v.up = false;
    }
    let mut st2 = vm.state();
    st2.xen.vcpus[1].initialised = false;
    // A start state no context gives: long mode without paging.
    let mut st3 = vm.state();
    let mut s = VcpuStart::from_hvm_context(&VcpuHvmContext::with_regs64(&ctx64()), 48).unwrap();
    assert_eq!(
        VcpuStart::from_hvm_context(&s.to_hvm_context(), 48),
        Ok(s),
        "a 64-bit start goes round"
    );
    s.cr0 &= !(1 << 31);
    st3.xen.vcpus[1].start = Some(s);
    let mem = vm.copy_memory();
    let host = vm.host.clone();
    let (mem3, host3) = (mem.clone(), host.clone());
    // `XenPlatform::restore` takes this thread's root.
    drop(vm);
    let err = xen_platform::XenPlatform::restore(
        config.clone(),
        vm_lock::MemoryMap::new(mem.clone()),
        host.clone(),
        Box::new(std::io::sink()),
        &st,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no vCPU is up"), "{err}");
    let err = xen_platform::XenPlatform::restore(
        config,
        vm_lock::MemoryMap::new(mem),
        host,
        Box::new(std::io::sink()),
        &st2,
    )
    .unwrap_err();
    assert!(err.to_string().contains("never initialised"), "{err}");
    let err = xen_platform::XenPlatform::restore(
        PlatformConfig::new(3, MEM),
        vm_lock::MemoryMap::new(mem3),
        host3,
        Box::new(std::io::sink()),
        &st3,
    )
    .unwrap_err();
    assert!(err.to_string().contains("vCPU 1 start"), "{err}");
}

/// `SCHEDOP_yield` gives up the host CPU only while another vCPU of the VM
/// could run (as KVM's directed yield); the guest gets 0 either way.
#[test]
fn yield_gives_up_the_host_cpu_only_for_another_runnable_vcpu() {
    let mut vm = Vm::new(2);
    let yield_op = |vm: &mut Vm| vm.hc(0, HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_YIELD), 0]);
    // vCPU 1 is down: nothing to yield to.
    assert_eq!(yield_op(&mut vm), 0);
    assert_eq!(vm.platform.host_yields(), 0);
    assert_eq!(init(&mut vm, 1, VcpuHvmContext::with_regs64(&ctx64())), 0);
    assert_eq!(vop(&mut vm, VCPUOP_UP, 1), 0);
    // Up (runnable): the yield gives the CPU up.
    assert_eq!(yield_op(&mut vm), 0);
    assert_eq!(vm.platform.host_yields(), 1);
    // Blocked (in SCHEDOP_block or HLT): not a candidate.
    vm.platform
        .set_runstate(vm.root.token(), 1, RUNSTATE_BLOCKED);
    assert_eq!(yield_op(&mut vm), 0);
    assert_eq!(vm.platform.host_yields(), 1);
    vm.platform
        .set_runstate(vm.root.token(), 1, RUNSTATE_RUNNING);
    assert_eq!(yield_op(&mut vm), 0);
    assert_eq!(vm.platform.host_yields(), 2);
    // vCPU 1 yielding sees vCPU 0 running.
    assert_eq!(
        vm.hc(1, HYPERVISOR_SCHED_OP, &[u64::from(SCHEDOP_YIELD), 0]),
        0
    );
    assert_eq!(vm.platform.host_yields(), 3);
}
