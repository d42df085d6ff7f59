// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A hostile guest: unknown hypercalls and sub-ops (-ENOSYS), pointers
//! outside RAM (-EFAULT), ports and vCPU ids out of range (-EINVAL,
//! -ENOENT), calls from user mode (-EPERM), and a seeded random walk over
//! every hypercall number with arbitrary arguments that must never panic
//! and only ever return 0, a negative errno, or a documented positive value.

mod common;

use common::*;
use vm_memory::ByteValued;
use xen_abi::*;
use xen_hypercall::HypercallRegs;
use xen_platform::{HypercallExit, Retry, TimerKind};

/// The hypercalls the platform implements (sysctl / domctl answer a domU
/// with Xen's -EACCES / -EPERM, not -ENOSYS).
const IMPLEMENTED: [u64; 13] = [
    HYPERVISOR_MULTICALL,
    HYPERVISOR_SYSCTL,
    HYPERVISOR_DOMCTL,
    HYPERVISOR_MEMORY_OP,
    HYPERVISOR_SET_TIMER_OP,
    HYPERVISOR_XEN_VERSION,
    HYPERVISOR_CONSOLE_IO,
    HYPERVISOR_GRANT_TABLE_OP,
    HYPERVISOR_VM_ASSIST,
    HYPERVISOR_VCPU_OP,
    HYPERVISOR_SCHED_OP,
    HYPERVISOR_EVENT_CHANNEL_OP,
    HYPERVISOR_HVM_OP,
];

#[test]
fn unknown_hypercalls_are_enosys() {
    let mut vm = Vm::new(1);
    let mut nrs: Vec<u64> = (0..64).filter(|n| !IMPLEMENTED.contains(n)).collect();
    nrs.extend([64, 1000, 1 << 32, u64::MAX]);
    for nr in nrs {
        assert_eq!(vm.hc(0, nr, &[0, ARGS, 1]), err(errno::ENOSYS), "nr {nr}");
        let r = regs32(nr, &[0, ARGS, 1]);
        // A 32-bit caller's number is EAX: 1 << 32 is hypercall 0.
        assert_eq!(vm.ret(0, &r), err(errno::ENOSYS), "32-bit nr {nr}");
    }
}

#[test]
fn unknown_sub_ops_are_enosys() {
    let mut vm = Vm::new(1);
    for (nr, cmds) in [
        (HYPERVISOR_XEN_VERSION, vec![99, 12, 100]),
        (
            HYPERVISOR_MEMORY_OP,
            vec![99, XENMEM_EXCHANGE, XENMEM_MAXIMUM_GPFN],
        ),
        (
            HYPERVISOR_HVM_OP,
            vec![99, HVMOP_GET_TIME, HVMOP_PAGETABLE_DYING],
        ),
        (
            HYPERVISOR_VCPU_OP,
            vec![99, VCPUOP_SEND_NMI, VCPUOP_GET_PHYSID],
        ),
        (HYPERVISOR_SCHED_OP, vec![99, SCHEDOP_WATCHDOG, 12]),
        (
            HYPERVISOR_EVENT_CHANNEL_OP,
            vec![99, EVTCHNOP_RESET_CONT, 15],
        ),
        // Xen's HVM filter: what "needs auditing", get_status_frames included.
        (
            HYPERVISOR_GRANT_TABLE_OP,
            vec![99, GNTTABOP_TRANSFER, GNTTABOP_GET_STATUS_FRAMES],
        ),
        (HYPERVISOR_CONSOLE_IO, vec![99, 2]),
        (HYPERVISOR_VM_ASSIST, vec![99, 2]),
        (HYPERVISOR_SET_TIMER_OP, vec![]),
    ] {
        for cmd in cmds {
            // A vCPU id out of range does not matter for an unknown sub-op.
            let args = [u64::from(cmd), 7, ARGS];
            assert_eq!(vm.hc(0, nr, &args), err(errno::ENOSYS), "{nr}/{cmd}");
            assert_eq!(vm.hc32(0, nr, &args), err(errno::ENOSYS), "{nr}/{cmd}");
        }
    }
    // memory_op's cmd is the whole register: high bits make it unknown.
    let cmd = (1u64 << 32) | u64::from(XENMEM_MEMORY_MAP);
    assert_eq!(
        vm.hc(0, HYPERVISOR_MEMORY_OP, &[cmd, ARGS]),
        err(errno::ENOSYS)
    );
}

#[test]
fn user_mode_callers_get_eperm() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    let before: u64 = vm.read(SHINFO + PENDING64);
    for nr in 0..64u64 {
        for cpl in 1..=3u8 {
            let args = [0, ARGS, 0, 0, 0, 0];
            let r64 = HypercallRegs::from_regs64(cpl, nr, 0, ARGS, 0, 0, 0, 0);
            let r32 = HypercallRegs::from_regs32(cpl, nr, 0, ARGS, 0, 0, 0, 0);
            let _ = args;
            assert_eq!(
                vm.call(0, &r64),
                HypercallExit::Resume {
                    rax: err(errno::EPERM) as u64
                },
                "nr {nr} cpl {cpl}"
            );
            assert_eq!(
                vm.call(0, &r32),
                HypercallExit::Resume {
                    rax: u64::from(err(errno::EPERM) as u32)
                },
                "32-bit nr {nr} cpl {cpl}"
            );
        }
    }
    // Not even SCHEDOP_shutdown or a console write does anything.
    vm.write(ARGS, SchedShutdown { reason: 0 });
    let r = HypercallRegs::from_regs64(3, HYPERVISOR_SCHED_OP, 2, ARGS, 0, 0, 0, 0);
    assert_eq!(
        vm.call(0, &r),
        HypercallExit::Resume {
            rax: err(errno::EPERM) as u64
        }
    );
    vm.write_bytes(BUF, b"x\n");
    let r = HypercallRegs::from_regs64(3, HYPERVISOR_CONSOLE_IO, 0, 2, BUF, 0, 0, 0);
    let _ = vm.call(0, &r);
    assert_eq!(vm.output(), b"");
    assert_eq!(vm.read::<u64>(SHINFO + PENDING64), before);
}

/// (hypercall, cmd, extra argument before the pointer) of every call that
/// reads a struct through its pointer argument.
fn struct_calls() -> Vec<(u64, u32, Option<u64>)> {
    let mut v = vec![
        (HYPERVISOR_XEN_VERSION, XENVER_GET_FEATURES, None),
        (HYPERVISOR_XEN_VERSION, XENVER_EXTRAVERSION, None),
        (HYPERVISOR_XEN_VERSION, XENVER_COMPILE_INFO, None),
        (HYPERVISOR_XEN_VERSION, XENVER_CAPABILITIES, None),
        (HYPERVISOR_XEN_VERSION, XENVER_CHANGESET, None),
        (HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, None),
        (HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, None),
        (HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, None),
        (HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, None),
        (HYPERVISOR_HVM_OP, HVMOP_SET_EVTCHN_UPCALL_VECTOR, None),
        (HYPERVISOR_SCHED_OP, SCHEDOP_SHUTDOWN, None),
        (HYPERVISOR_SCHED_OP, SCHEDOP_POLL, None),
    ];
    for cmd in [
        VCPUOP_REGISTER_VCPU_INFO,
        VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA,
        VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA,
        VCPUOP_SET_SINGLESHOT_TIMER,
        VCPUOP_SET_PERIODIC_TIMER,
    ] {
        v.push((HYPERVISOR_VCPU_OP, cmd, Some(0)));
    }
    for cmd in 0..=EVTCHNOP_RESET {
        v.push((HYPERVISOR_EVENT_CHANNEL_OP, cmd, None));
    }
    for cmd in [
        GNTTABOP_QUERY_SIZE,
        GNTTABOP_SETUP_TABLE,
        GNTTABOP_SET_VERSION,
        GNTTABOP_GET_VERSION,
    ] {
        v.push((HYPERVISOR_GRANT_TABLE_OP, cmd, None));
    }
    v
}

#[test]
fn pointers_outside_ram_are_efault() {
    let mut vm = Vm::new(1);
    for (nr, cmd, extra) in struct_calls() {
        for ptr in [
            MEM,
            MEM - 1,
            MEM + 0x10_0000,
            1 << 40,
            u64::MAX - 3,
            u64::MAX,
        ] {
            let mut args = vec![u64::from(cmd)];
            args.extend(extra);
            args.push(ptr);
            if nr == HYPERVISOR_GRANT_TABLE_OP {
                args.push(1); // count
            }
            assert_eq!(
                vm.hc(0, nr, &args),
                err(errno::EFAULT),
                "{nr}/{cmd} at {ptr:#x}"
            );
            if ptr <= u64::from(u32::MAX) {
                assert_eq!(
                    vm.hc32(0, nr, &args),
                    err(errno::EFAULT),
                    "32-bit {nr}/{cmd} at {ptr:#x}"
                );
            }
        }
    }
    // Output buffers: the struct is in RAM, where it points is not.
    let map = u64::from(XENMEM_MEMORY_MAP);
    vm.write(
        ARGS,
        XenMemoryMap64 {
            nr_entries: 4,
            pad: 0,
            buffer: u64::MAX - 8,
        },
    );
    assert_eq!(
        vm.hc(0, HYPERVISOR_MEMORY_OP, &[map, ARGS]),
        err(errno::EFAULT)
    );
    vm.write(
        ARGS,
        GnttabSetupTable64 {
            dom: DOMID_SELF,
            nr_frames: 1,
            frame_list: MEM,
            ..Default::default()
        },
    );
    let r = vm.add_to_physmap_regs(XENMAPSPACE_GRANT_TABLE, 0, 0x300);
    assert_eq!(vm.ret(0, &r), 0);
    vm.write(
        ARGS,
        GnttabSetupTable64 {
            dom: DOMID_SELF,
            nr_frames: 1,
            frame_list: MEM,
            ..Default::default()
        },
    );
    // The frame list: for an HVM guest Xen reports it in the status (the call succeeds).
    let setup = u64::from(GNTTABOP_SETUP_TABLE);
    assert_eq!(vm.hc(0, HYPERVISOR_GRANT_TABLE_OP, &[setup, ARGS, 1]), 0);
    let st: GnttabSetupTable64 = vm.read(ARGS);
    assert_eq!(st.status, GNTST_BAD_VIRT_ADDR);
    // Console: the data to write, or the buffer to read into.
    let write = u64::from(CONSOLEIO_WRITE);
    let read = u64::from(CONSOLEIO_READ);
    assert_eq!(
        vm.hc(0, HYPERVISOR_CONSOLE_IO, &[write, 8, MEM - 4]),
        err(errno::EFAULT)
    );
    vm.platform.console_input(vm.root.token(), b"q");
    let _ = vm.hc(0, HYPERVISOR_CONSOLE_IO, &[read, 0, BUF]);
    vm.platform.console_input(vm.root.token(), b"input");
    assert_eq!(
        vm.hc(0, HYPERVISOR_CONSOLE_IO, &[read, 8, MEM - 2]),
        err(errno::EFAULT)
    );
}

#[test]
fn ports_out_of_range_are_einval() {
    let mut vm = Vm::new(1);
    vm.map_shared_info(SHINFO_GFN);
    let ops = [
        EVTCHNOP_SEND,
        EVTCHNOP_CLOSE,
        EVTCHNOP_UNMASK,
        EVTCHNOP_STATUS,
        EVTCHNOP_BIND_VCPU,
    ];
    // 64-bit guests have 4096 ports; free ports are as invalid as absent ones.
    for port in [4096u32, 4097, 1 << 20, u32::MAX, 4095, 100] {
        for op in ops {
            // All these structs start with the port, except status ({dom, pad, port}).
            if op == EVTCHNOP_STATUS {
                vm.write(
                    ARGS,
                    EvtchnStatus {
                        dom: DOMID_SELF,
                        port,
                        ..Default::default()
                    },
                );
            } else {
                vm.write(ARGS, EvtchnBindVcpu { port, vcpu: 0 });
            }
            let r = vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[u64::from(op), ARGS]);
            if op == EVTCHNOP_STATUS && port < 4096 {
                // A free port in range is reported closed.
                assert_eq!(r, 0, "status of free port {port}");
                assert_eq!(vm.read::<EvtchnStatus>(ARGS).status, EVTCHNSTAT_CLOSED);
            } else if op == EVTCHNOP_UNMASK && port < 4096 {
                // Any port in range is unmasked (there is nothing to deliver).
                assert_eq!(r, 0, "unmask {port}");
            } else {
                assert_eq!(r, err(errno::EINVAL), "op {op} port {port}");
            }
        }
    }
    // Binding a remote port that is not unbound for us.
    vm.write(
        ARGS,
        EvtchnBindInterdomain {
            remote_dom: DOMID_SELF,
            remote_port: 5000,
            ..Default::default()
        },
    );
    let bind = u64::from(EVTCHNOP_BIND_INTERDOMAIN);
    assert_eq!(
        vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[bind, ARGS]),
        err(errno::EINVAL)
    );
    // VIRQs beyond NR_VIRQS.
    vm.write(
        ARGS,
        EvtchnBindVirq {
            virq: NR_VIRQS,
            vcpu: 0,
            port: 0,
        },
    );
    let virq = u64::from(EVTCHNOP_BIND_VIRQ);
    assert_eq!(
        vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[virq, ARGS]),
        err(errno::EINVAL)
    );
}

#[test]
fn a_32bit_guest_has_1024_ports() {
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
    let add = u64::from(XENMEM_ADD_TO_PHYSMAP);
    assert_eq!(vm.hc32(0, HYPERVISOR_MEMORY_OP, &[add, ARGS]), 0);
    let send = u64::from(EVTCHNOP_SEND);
    for port in [1024u32, 2000, 4095] {
        vm.write(ARGS, EvtchnSend { port });
        assert_eq!(
            vm.hc32(0, HYPERVISOR_EVENT_CHANNEL_OP, &[send, ARGS]),
            err(errno::EINVAL),
            "port {port}"
        );
    }
    // Nothing was written past the 32-bit bitmaps (128 bytes each).
    assert_eq!(vm.read_bytes(SHINFO + 2048, 256), vec![0; 256]);
}

#[test]
fn vcpu_ids_out_of_range() {
    let mut vm = Vm::new(2);
    vm.map_shared_info(SHINFO_GFN);
    let ipi = vm.bind_ipi(0);
    for bad in [2u32, 3, 32, 1 << 16, u32::MAX] {
        // Event channels: -ENOENT, as Xen's domain_vcpu() lookup.
        vm.write(ARGS, EvtchnBindIpi { vcpu: bad, port: 0 });
        let op = u64::from(EVTCHNOP_BIND_IPI);
        assert_eq!(
            vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[op, ARGS]),
            err(errno::ENOENT),
            "bind_ipi {bad}"
        );
        vm.write(
            ARGS,
            EvtchnBindVirq {
                virq: VIRQ_TIMER,
                vcpu: bad,
                port: 0,
            },
        );
        let op = u64::from(EVTCHNOP_BIND_VIRQ);
        assert_eq!(
            vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[op, ARGS]),
            err(errno::ENOENT),
            "bind_virq {bad}"
        );
        vm.write(
            ARGS,
            EvtchnBindVcpu {
                port: ipi,
                vcpu: bad,
            },
        );
        let op = u64::from(EVTCHNOP_BIND_VCPU);
        assert_eq!(
            vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[op, ARGS]),
            err(errno::ENOENT),
            "bind_vcpu {bad}"
        );
        // VCPUOP_*: -ENOENT for a vCPU the domain does not have.
        for cmd in [
            VCPUOP_REGISTER_VCPU_INFO,
            VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA,
            VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA,
            VCPUOP_SET_SINGLESHOT_TIMER,
            VCPUOP_STOP_SINGLESHOT_TIMER,
            VCPUOP_SET_PERIODIC_TIMER,
            VCPUOP_STOP_PERIODIC_TIMER,
        ] {
            vm.write_bytes(ARGS, &[0; 32]);
            vm.write(ARGS, 10 * MS);
            assert_eq!(
                vm.hc(
                    0,
                    HYPERVISOR_VCPU_OP,
                    &[u64::from(cmd), u64::from(bad), ARGS]
                ),
                err(errno::ENOENT),
                "vcpu_op {cmd} on {bad}"
            );
        }
        // HVMOP_set_evtchn_upcall_vector.
        vm.write(
            ARGS,
            XenHvmEvtchnUpcallVector {
                vcpu: bad,
                vector: 0xe0,
                pad: [0; 3],
            },
        );
        let op = u64::from(HVMOP_SET_EVTCHN_UPCALL_VECTOR);
        assert_eq!(
            vm.hc(0, HYPERVISOR_HVM_OP, &[op, ARGS]),
            err(errno::ENOENT),
            "upcall vector {bad}"
        );
    }
    // Nothing was armed for any of them.
    assert!(vm.timers().iter().all(|(v, _, _)| *v < 2));
    // The host-side entry points ignore vCPUs out of range.
    for bad in [2u32, u32::MAX] {
        assert_eq!(vm.pending_upcall(bad), None);
        assert!(!vm.platform.upcall_pending(vm.root.token(), bad));
        vm.platform
            .timer_fired(vm.root.token(), bad, TimerKind::Periodic);
        vm.platform
            .set_runstate(vm.root.token(), bad, RUNSTATE_BLOCKED);
    }
}

#[test]
fn vcpu_info_placement_is_checked() {
    let mut vm = Vm::new(1);
    let reg = u64::from(VCPUOP_REGISTER_VCPU_INFO);
    // Outside RAM, or an offset that makes it cross the page.
    for (mfn, offset) in [(MEM >> 12, 0u32), (u64::MAX >> 12, 0), (0x10, 4096 - 63)] {
        vm.write(
            ARGS,
            VcpuRegisterVcpuInfo {
                mfn,
                offset,
                rsvd: 0,
            },
        );
        assert_eq!(
            vm.hc(0, HYPERVISOR_VCPU_OP, &[reg, 0, ARGS]),
            err(errno::EINVAL),
            "mfn {mfn:#x} offset {offset}"
        );
    }
    // Once placed it stays (-EINVAL, as Xen 4.17).
    vm.write(
        ARGS,
        VcpuRegisterVcpuInfo {
            mfn: 0x10,
            offset: 64,
            rsvd: 0,
        },
    );
    assert_eq!(vm.hc(0, HYPERVISOR_VCPU_OP, &[reg, 0, ARGS]), 0);
    assert_eq!(
        vm.hc(0, HYPERVISOR_VCPU_OP, &[reg, 0, ARGS]),
        err(errno::EINVAL)
    );
}

/// xorshift64*: a fixed sequence for a reproducible walk.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A value a guest might put in a register or a struct field.
    fn value(&mut self) -> u64 {
        let r = self.next();
        match self.below(12) {
            0 => 0,
            1 => 1,
            2 => r % 16,
            3 => r % 128,
            4 => ARGS + (r % 0x40) * 8,
            5 => BUF + (r % 0x1000),
            6 => MEM - (r % 32),
            7 => u64::MAX - (r % 32),
            8 => u64::from(DOMID_SELF) | ((r % 4) << 16),
            9 => r & 0xffff_ffff,
            10 => (r % (MEM >> 12)) + (1 << 20) * (r & 1),
            _ => r,
        }
    }
}

/// What a hypercall may return: 0, `-errno`, or its documented positive
/// values (`xen_version`'s version and page size, `CONSOLEIO_read`'s count).
fn check_rax(regs: &HypercallRegs, rax: u64) {
    if regs.mode == GuestWidth::Bits32 {
        assert_eq!(rax >> 32, 0, "32-bit result with a high half: {regs:?}");
    }
    let v = signed(regs, rax);
    if v <= 0 {
        assert!(v >= -4095, "{v} from {regs:?}");
        return;
    }
    match regs.nr & 0xffff_ffff {
        HYPERVISOR_XEN_VERSION => assert!(
            v == (4 << 16) | 17 || v == 4096,
            "xen_version returned {v} for {regs:?}"
        ),
        HYPERVISOR_CONSOLE_IO => assert!(
            regs.arg(0) as u32 == CONSOLEIO_READ && v <= i64::from(regs.arg(1) as u32),
            "console_io returned {v} for {regs:?}"
        ),
        // Reservations: the extents done, from the start extent in the command's upper
        // bits on; sizes in pages (16 MiB of RAM); the frame after the last RAM frame.
        HYPERVISOR_MEMORY_OP => {
            let cmd = regs.arg(0);
            match (cmd & 0x3f) as u32 {
                XENMEM_INCREASE_RESERVATION
                | XENMEM_DECREASE_RESERVATION
                | XENMEM_POPULATE_PHYSMAP => assert!(
                    v as u64 >= cmd >> 6 && v as u64 <= (cmd >> 6) + (u64::from(u32::MAX) >> 6),
                    "memory_op returned {v} for {regs:?}"
                ),
                XENMEM_MAXIMUM_RAM_PAGE
                | XENMEM_CURRENT_RESERVATION
                | XENMEM_MAXIMUM_RESERVATION => {
                    assert!(
                        v as u64 <= MEM / 4096,
                        "memory_op returned {v} for {regs:?}"
                    )
                }
                _ => panic!("positive result {v} from {regs:?}"),
            }
        }
        // VCPUOP_is_up: 0 or 1.
        HYPERVISOR_VCPU_OP => assert!(
            regs.arg(0) as u32 == VCPUOP_IS_UP && v == 1,
            "vcpu_op returned {v} for {regs:?}"
        ),
        _ => panic!("positive result {v} from {regs:?}"),
    }
}

#[test]
fn random_arguments_never_panic() {
    let mut vm = Vm::new(2);
    let mut rng = Rng(0x5eed_c0ff_ee00);
    let mut words = [0u8; 0x200];
    for round in 0..300u32 {
        for nr in 0..64u64 {
            for wide in [true, false] {
                // Fresh argument structs: fields a guest might plausibly set.
                for w in words.chunks_mut(8) {
                    if rng.below(2) == 0 {
                        w.copy_from_slice(&rng.value().to_le_bytes());
                    } else {
                        w[..4].copy_from_slice(&(rng.value() as u32).to_le_bytes());
                        w[4..].copy_from_slice(&(rng.value() as u32).to_le_bytes());
                    }
                }
                if rng.below(2) == 0 {
                    // Most structs start with a domain id.
                    words[..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
                }
                vm.write_bytes(ARGS, &words);
                let cmd = if rng.below(4) == 0 {
                    rng.value()
                } else {
                    rng.below(16)
                };
                let mut a = [cmd, 0, 0, 0, 0, 0];
                for x in &mut a[1..] {
                    *x = rng.value();
                }
                // The struct pointer: argument 2 (argument 3 for VCPUOP_*).
                if rng.below(2) == 0 {
                    a[1] = ARGS;
                }
                if rng.below(3) == 0 {
                    a[2] = ARGS;
                }
                let cpl = if rng.below(50) == 0 { 3 } else { 0 };
                let regs = if wide {
                    HypercallRegs::from_regs64(cpl, nr, a[0], a[1], a[2], a[3], a[4], a[5])
                } else {
                    HypercallRegs::from_regs32(cpl, nr, a[0], a[1], a[2], a[3], a[4], a[5])
                };
                let vcpu = rng.below(2) as u32;
                match vm.call(vcpu, &regs) {
                    HypercallExit::Resume { rax } => check_rax(&regs, rax),
                    HypercallExit::Block { rax, wait } => {
                        assert_eq!(rax, 0);
                        let _ = vm.platform.wait_ready(vm.root.token(), vcpu, &wait);
                        vm.platform.wait_end(vcpu, &wait);
                    }
                    HypercallExit::MapPage { gpa } => {
                        assert_eq!(gpa % 4096, 0);
                        assert!(gpa >= MEM, "{gpa:#x} is RAM");
                        // The VMM refuses: the guest gets -ENOMEM.
                        match vm.call_retry(vcpu, &regs, Retry::PageRefused) {
                            HypercallExit::Resume { rax } => {
                                assert_eq!(signed(&regs, rax), err(errno::ENOMEM))
                            }
                            other => panic!("{other:?} after a refused page"),
                        }
                    }
                    HypercallExit::Shutdown { rax, reason } => {
                        assert_eq!(rax, 0);
                        assert!(reason <= 0xff);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        // The host side, in between.
        let t = vm.root.token();
        match round % 6 {
            0 => vm.platform.raise_port(t, rng.below(80) as u32),
            1 => vm
                .platform
                .timer_fired(t, rng.below(3) as u32, TimerKind::SingleShot),
            2 => vm.platform.console_input(t, b"in"),
            3 => {
                let _ = vm.platform.pending_upcall(t, rng.below(3) as u32);
            }
            4 => vm
                .platform
                .set_runstate(t, rng.below(3) as u32, rng.below(5) as u32),
            _ => vm.platform.run_backends(t, None),
        }
        let _ = vm.events();
        let _ = vm.output();
    }
    // After all that the platform still delivers events (2-level: the walk may have
    // switched to FIFO event channels, which EVTCHNOP_reset undoes).
    vm.map_shared_info(SHINFO_GFN);
    vm.write(ARGS, EvtchnReset { dom: DOMID_SELF });
    assert_eq!(
        vm.hc(
            0,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_RESET), ARGS]
        ),
        0
    );
    let port = vm.bind_ipi(0);
    vm.set_mask(port, false);
    assert_eq!(vm.send(0, port), 0);
    assert!(vm.port_pending(port));
    // And state() still gives something restore() takes.
    let config = xen_platform::PlatformConfig::new(2, MEM);
    let mut vm = vm.save_restore(config, |_| {}).unwrap();
    assert!(vm.port_pending(port));
    let _ = vm.pending_upcall(0);
    // `ByteValued` is in scope for the struct writes above.
    let _ = EvtchnSend { port }.as_slice();
}
