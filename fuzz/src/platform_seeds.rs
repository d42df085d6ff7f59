// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Seeds of the `hypercall_dispatch` target ([`crate::platform_ops`]): one
//! per hypercall and sub-op, with its argument struct written into guest
//! memory first (both guest widths where the layouts differ), so that each
//! passes the sub-op switch and reaches its handler; every other hypercall
//! number with zero arguments; and guest scenarios (boot, devices, timers,
//! pages in holes, snapshots).

use xen_abi::*;

use crate::platform_ops::seed::*;
use crate::platform_ops::{CONSOLE_GFN, PAGING_BASE, R2, STORE_GFN};

/// Where argument structs go.
pub const ARG: u64 = 0x1000;
/// An output buffer.
pub const BUF: u64 = 0x2000;
/// shared_info, in RAM.
pub const SHINFO: u64 = 0x3_0000;
/// A page in the hole between the first two regions.
pub const HOLE: u64 = 0x8_0000;
/// A page in the hole above the second region.
pub const HOLE2: u64 = 0x20_0000;
/// vcpu_info of vCPU 0 (vCPU 1's is 64 bytes on).
pub const VCPU_INFO: u64 = 0x3_1000;
/// Runstate area.
pub const RUNSTATE: u64 = 0x3_2000;
/// Time area.
pub const TIME: u64 = 0x3_2100;
/// FIFO control block (vCPU 0), in RAM.
pub const FIFO_CB: u64 = 0x3_6000;
/// FIFO event-array page, in RAM.
pub const FIFO_ARRAY: u64 = 0x3_7000;
/// Guest port of the xenstore channel (bound first).
pub const STORE_PORT: u32 = 1;
/// Guest port of the console channel.
pub const CONSOLE_PORT: u32 = 2;

/// One seed.
#[derive(Clone, Debug)]
pub struct Seed {
    /// File name.
    pub name: String,
    /// The input.
    pub data: Vec<u8>,
    /// Whether the last hypercall is an unknown hypercall or sub-op
    /// (-ENOSYS); `None`: either.
    pub expect_enosys: Option<bool>,
}

fn seed(name: impl Into<String>, ops: &[Vec<u8>], expect_enosys: bool) -> Seed {
    let mut data = header(false);
    for o in ops {
        data.extend_from_slice(o);
    }
    Seed {
        name: name.into(),
        data,
        expect_enosys: Some(expect_enosys),
    }
}

fn w<T: vm_memory::ByteValued>(obj: T) -> Vec<u8> {
    write_obj(ARG, obj)
}

fn hc(bits32: bool, nr: u64, a0: u64, a1: u64, a2: u64) -> Vec<u8> {
    hypercall(0, bits32, nr, [a0, a1, a2, 0, 0, 0])
}

fn add_to_physmap(bits32: bool, space: u32, idx: u64, gpa: u64) -> Vec<u8> {
    if bits32 {
        w(XenAddToPhysmap32 {
            domid: DOMID_SELF,
            space,
            idx: idx as u32,
            gpfn: (gpa >> 12) as u32,
            ..Default::default()
        })
    } else {
        w(XenAddToPhysmap64 {
            domid: DOMID_SELF,
            space,
            idx,
            gpfn: gpa >> 12,
            ..Default::default()
        })
    }
}

fn hvm_param(index: u32, value: u64) -> Vec<u8> {
    w(XenHvmParam {
        domid: DOMID_SELF,
        index,
        value,
        ..Default::default()
    })
}

/// Per width, (name, ops, expect -ENOSYS) of one sub-op each.
fn subops(bits32: bool) -> Vec<(String, Vec<Vec<u8>>, bool)> {
    let b = bits32;
    let mut v: Vec<(String, Vec<Vec<u8>>, bool)> = Vec::new();
    let mut add = |name: &str, ops: Vec<Vec<u8>>, enosys: bool| {
        v.push((name.to_string(), ops, enosys));
    };
    let ver = HYPERVISOR_XEN_VERSION;
    for (n, cmd) in [
        ("version", XENVER_VERSION),
        ("extraversion", XENVER_EXTRAVERSION),
        ("compile-info", XENVER_COMPILE_INFO),
        ("capabilities", XENVER_CAPABILITIES),
        ("changeset", XENVER_CHANGESET),
        ("pagesize", XENVER_PAGESIZE),
    ] {
        add(n, vec![hc(b, ver, u64::from(cmd), BUF, 0)], false);
    }
    add(
        "get-features",
        vec![w(XenFeatureInfo::default()), hc(b, ver, 6, ARG, 0)],
        false,
    );
    add("version-unknown", vec![hc(b, ver, 99, BUF, 0)], true);
    let mem = HYPERVISOR_MEMORY_OP;
    let atp = u64::from(XENMEM_ADD_TO_PHYSMAP);
    add(
        "shinfo-ram",
        vec![add_to_physmap(b, 0, 0, SHINFO), hc(b, mem, atp, ARG, 0)],
        false,
    );
    add(
        "shinfo-hole",
        vec![add_to_physmap(b, 0, 0, HOLE), hc(b, mem, atp, ARG, 0)],
        false,
    );
    for f in 0..5u64 {
        add(
            &format!("grant-frame{f}-hole"),
            vec![
                add_to_physmap(b, 1, f, HOLE2 + f * 0x1000),
                hc(b, mem, atp, ARG, 0),
            ],
            false,
        );
    }
    add(
        "grant-frame-ram",
        vec![add_to_physmap(b, 1, 0, 0x3_4000), hc(b, mem, atp, ARG, 0)],
        false,
    );
    add(
        "grant-status-frame",
        vec![
            add_to_physmap(b, 1, 1 << 31, 0x3_4000),
            hc(b, mem, atp, ARG, 0),
        ],
        false,
    );
    add(
        "add-gmfn",
        vec![add_to_physmap(b, 2, 0, 0x3_4000), hc(b, mem, atp, ARG, 0)],
        false,
    );
    let map = if b {
        w(XenMemoryMap32 {
            nr_entries: 8,
            buffer: BUF as u32,
        })
    } else {
        w(XenMemoryMap64 {
            nr_entries: 8,
            buffer: BUF,
            ..Default::default()
        })
    };
    add(
        "memory-map",
        vec![map, hc(b, mem, u64::from(XENMEM_MEMORY_MAP), ARG, 0)],
        false,
    );
    add("memory-unknown", vec![hc(b, mem, 99, ARG, 0)], true);
    let hvm = HYPERVISOR_HVM_OP;
    for (n, index, value) in [
        (
            "callback-vector",
            HVM_PARAM_CALLBACK_IRQ,
            (2u64 << 56) | 0xf3,
        ),
        ("callback-gsi", HVM_PARAM_CALLBACK_IRQ, 5),
        ("callback-intx", HVM_PARAM_CALLBACK_IRQ, 1 << 56),
        ("set-store-evtchn", HVM_PARAM_STORE_EVTCHN, 7),
        ("set-store-pfn", HVM_PARAM_STORE_PFN, 0x10),
        ("set-x87", 36, 8),
        ("set-vm86-tss", HVM_PARAM_VM86_TSS, 0x1000),
        ("set-vm86-tss-sized", 37, (200 << 32) | 0x2000),
        ("set-genid", 34, 0x5000),
        ("set-acpi-ports", 19, 1),
        ("set-altp2m", 35, 1),
        ("set-deprecated", HVM_PARAM_PAE_ENABLED, 1),
        ("set-beyond", 39, 1),
    ] {
        add(
            n,
            vec![
                hvm_param(index, value),
                hc(b, hvm, u64::from(HVMOP_SET_PARAM), ARG, 0),
            ],
            false,
        );
    }
    for (n, index) in [
        ("get-store-pfn", HVM_PARAM_STORE_PFN),
        ("get-store-evtchn", HVM_PARAM_STORE_EVTCHN),
        ("get-console-pfn", HVM_PARAM_CONSOLE_PFN),
        ("get-console-evtchn", HVM_PARAM_CONSOLE_EVTCHN),
        ("get-callback", HVM_PARAM_CALLBACK_IRQ),
        ("get-vm86-tss", HVM_PARAM_VM86_TSS),
        ("get-ioreq", HVM_PARAM_IOREQ_PFN),
    ] {
        add(
            n,
            vec![
                hvm_param(index, 0),
                hc(b, hvm, u64::from(HVMOP_GET_PARAM), ARG, 0),
            ],
            false,
        );
    }
    add(
        "upcall-vector",
        vec![
            w(XenHvmEvtchnUpcallVector {
                vcpu: 1,
                vector: 0xe0,
                ..Default::default()
            }),
            hc(b, hvm, u64::from(HVMOP_SET_EVTCHN_UPCALL_VECTOR), ARG, 0),
        ],
        false,
    );
    add("hvm-unknown", vec![hc(b, hvm, 9, ARG, 0)], true);
    let vcpu = HYPERVISOR_VCPU_OP;
    add(
        "register-vcpu-info",
        vec![
            w(VcpuRegisterVcpuInfo {
                mfn: VCPU_INFO >> 12,
                offset: (VCPU_INFO & 0xfff) as u32,
                rsvd: 0,
            }),
            hc(b, vcpu, u64::from(VCPUOP_REGISTER_VCPU_INFO), 0, ARG),
        ],
        false,
    );
    add(
        "register-vcpu-info-hole",
        vec![
            w(VcpuRegisterVcpuInfo {
                mfn: HOLE >> 12,
                offset: 0xfc0,
                rsvd: 0,
            }),
            hc(b, vcpu, u64::from(VCPUOP_REGISTER_VCPU_INFO), 1, ARG),
        ],
        false,
    );
    add(
        "runstate-area",
        vec![
            w(VcpuRegisterRunstateMemoryArea { addr: RUNSTATE }),
            hc(
                b,
                vcpu,
                u64::from(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA),
                0,
                ARG,
            ),
        ],
        false,
    );
    add(
        "runstate-area-crossing",
        vec![
            w(VcpuRegisterRunstateMemoryArea { addr: 0x3_2ff0 }),
            hc(
                b,
                vcpu,
                u64::from(VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA),
                1,
                ARG,
            ),
        ],
        false,
    );
    add(
        "time-area",
        vec![
            w(VcpuRegisterTimeMemoryArea { addr: TIME }),
            hc(
                b,
                vcpu,
                u64::from(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA),
                0,
                ARG,
            ),
        ],
        false,
    );
    let oneshot = |t: u64, flags: u32| {
        if b {
            w(VcpuSetSingleshotTimer32 {
                timeout_abs_ns: t,
                flags,
            })
        } else {
            w(VcpuSetSingleshotTimer64 {
                timeout_abs_ns: t,
                flags,
                ..Default::default()
            })
        }
    };
    for (n, t, flags) in [
        ("singleshot", 2_000_000_000u64, 0u32),
        ("singleshot-future-past", 1, 1),
        ("singleshot-far", 1 << 55, 0),
        ("singleshot-negative", 1 << 63, 1),
    ] {
        add(
            n,
            vec![
                oneshot(t, flags),
                hc(b, vcpu, u64::from(VCPUOP_SET_SINGLESHOT_TIMER), 0, ARG),
            ],
            false,
        );
    }
    add(
        "stop-singleshot",
        vec![hc(b, vcpu, u64::from(VCPUOP_STOP_SINGLESHOT_TIMER), 0, 0)],
        false,
    );
    for (n, period) in [("periodic", 10_000_000u64), ("periodic-huge", 1 << 51)] {
        add(
            n,
            vec![
                w(VcpuSetPeriodicTimer { period_ns: period }),
                hc(b, vcpu, u64::from(VCPUOP_SET_PERIODIC_TIMER), 1, ARG),
            ],
            false,
        );
    }
    add(
        "stop-periodic",
        vec![hc(b, vcpu, u64::from(VCPUOP_STOP_PERIODIC_TIMER), 0, 0)],
        false,
    );
    add("vcpu-unknown", vec![hc(b, vcpu, 11, 0, ARG)], true);
    // SMP: vCPU 1 initialised (64-bit context), brought up, asked about, taken down.
    let ctx = VcpuHvmContext::with_regs64(&VcpuHvmX86Regs64 {
        rip: 0x10_0000,
        rflags: 2,
        cr0: 0x8000_0011,
        cr3: 0x2000,
        cr4: 0x20,
        efer: 0x100,
        ..Default::default()
    });
    let init = |b| vec![w(ctx), hc(b, vcpu, u64::from(VCPUOP_INITIALISE), 1, ARG)];
    add("vcpu-initialise", init(b), false);
    let mut up = init(b);
    up.push(hc(b, vcpu, u64::from(VCPUOP_UP), 1, 0));
    add("vcpu-up", up.clone(), false);
    let mut down = up.clone();
    down.push(hc(b, vcpu, u64::from(VCPUOP_DOWN), 1, 0));
    add("vcpu-down", down, false);
    add(
        "vcpu-is-up",
        vec![hc(b, vcpu, u64::from(VCPUOP_IS_UP), 1, 0)],
        false,
    );
    add(
        "vcpu-runstate-info",
        vec![hc(b, vcpu, u64::from(VCPUOP_GET_RUNSTATE_INFO), 1, ARG)],
        false,
    );
    add(
        "set-timer-op",
        vec![hc(b, HYPERVISOR_SET_TIMER_OP, 1_500_000_000, 0, 0)],
        false,
    );
    add(
        "set-timer-op-cancel",
        vec![hc(b, HYPERVISOR_SET_TIMER_OP, 0, 0, 0)],
        false,
    );
    let sched = HYPERVISOR_SCHED_OP;
    add(
        "yield",
        vec![hc(b, sched, u64::from(SCHEDOP_YIELD), 0, 0)],
        false,
    );
    add(
        "block",
        vec![hc(b, sched, u64::from(SCHEDOP_BLOCK), 0, 0)],
        false,
    );
    add(
        "shutdown",
        vec![
            w(SchedShutdown { reason: 1 }),
            hc(b, sched, u64::from(SCHEDOP_SHUTDOWN), ARG, 0),
        ],
        false,
    );
    let poll = if b {
        w(SchedPoll32 {
            ports: BUF as u32,
            nr_ports: 2,
            timeout: 3_000_000_000,
        })
    } else {
        w(SchedPoll64 {
            ports: BUF,
            nr_ports: 2,
            timeout: 3_000_000_000,
            ..Default::default()
        })
    };
    add(
        "poll",
        vec![
            write(BUF, &[1, 0, 0, 0, 2, 0, 0, 0]),
            poll,
            hc(b, sched, u64::from(SCHEDOP_POLL), ARG, 0),
        ],
        false,
    );
    add("sched-unknown", vec![hc(b, sched, 6, ARG, 0)], true);
    let ev = HYPERVISOR_EVENT_CHANNEL_OP;
    let evop = |cmd: u32| hc(b, ev, u64::from(cmd), ARG, 0);
    add(
        "alloc-unbound",
        vec![
            w(EvtchnAllocUnbound {
                dom: DOMID_SELF,
                remote_dom: 0,
                port: 0,
            }),
            evop(EVTCHNOP_ALLOC_UNBOUND),
        ],
        false,
    );
    add(
        "bind-interdomain",
        vec![
            w(EvtchnBindInterdomain {
                remote_dom: 0,
                remote_port: 1,
                ..Default::default()
            }),
            evop(EVTCHNOP_BIND_INTERDOMAIN),
        ],
        false,
    );
    add(
        "bind-virq",
        vec![
            w(EvtchnBindVirq {
                virq: 0,
                vcpu: 1,
                port: 0,
            }),
            evop(EVTCHNOP_BIND_VIRQ),
        ],
        false,
    );
    add(
        "bind-pirq",
        vec![w(EvtchnBindPirq::default()), evop(EVTCHNOP_BIND_PIRQ)],
        false,
    );
    add(
        "bind-ipi",
        vec![
            w(EvtchnBindIpi { vcpu: 1, port: 0 }),
            evop(EVTCHNOP_BIND_IPI),
        ],
        false,
    );
    for (n, cmd, port) in [
        ("close", EVTCHNOP_CLOSE, CONSOLE_PORT),
        ("send-console", EVTCHNOP_SEND, CONSOLE_PORT),
        ("send-store", EVTCHNOP_SEND, STORE_PORT),
        ("unmask", EVTCHNOP_UNMASK, STORE_PORT),
    ] {
        add(n, vec![w(EvtchnSend { port }), evop(cmd)], false);
    }
    add(
        "status",
        vec![
            w(EvtchnStatus {
                dom: DOMID_SELF,
                port: CONSOLE_PORT,
                ..Default::default()
            }),
            evop(EVTCHNOP_STATUS),
        ],
        false,
    );
    add(
        "bind-vcpu",
        vec![
            w(EvtchnBindVcpu {
                port: STORE_PORT,
                vcpu: 1,
            }),
            evop(EVTCHNOP_BIND_VCPU),
        ],
        false,
    );
    add(
        "reset",
        vec![w(EvtchnReset { dom: DOMID_SELF }), evop(EVTCHNOP_RESET)],
        false,
    );
    // FIFO event channels: the switch, then an event-array page, then a priority (on the
    // xenstore port); a bad control-block offset is EINVAL, not -ENOSYS.
    let init = |offset: u32| {
        vec![
            w(EvtchnInitControl {
                control_gfn: FIFO_CB >> 12,
                offset,
                vcpu: 0,
                ..Default::default()
            }),
            evop(EVTCHNOP_INIT_CONTROL),
        ]
    };
    add("fifo-init-control", init(0), false);
    add("fifo-init-control-bad-offset", init(4), false);
    let mut expand = init(0);
    expand.extend([
        w(EvtchnExpandArray {
            array_gfn: FIFO_ARRAY >> 12,
        }),
        evop(EVTCHNOP_EXPAND_ARRAY),
    ]);
    add("fifo-expand-array", expand.clone(), false);
    let mut prio = expand;
    prio.extend([
        w(EvtchnSetPriority {
            port: STORE_PORT,
            priority: 2,
        }),
        evop(EVTCHNOP_SET_PRIORITY),
    ]);
    add("fifo-set-priority", prio, false);
    let gt = HYPERVISOR_GRANT_TABLE_OP;
    let gtop = |cmd: u32| hc(b, gt, u64::from(cmd), ARG, 1);
    add(
        "query-size",
        vec![
            w(GnttabQuerySize {
                dom: DOMID_SELF,
                ..Default::default()
            }),
            gtop(GNTTABOP_QUERY_SIZE),
        ],
        false,
    );
    let setup = if b {
        w(GnttabSetupTable32 {
            dom: DOMID_SELF,
            nr_frames: 2,
            frame_list: BUF as u32,
            ..Default::default()
        })
    } else {
        w(GnttabSetupTable64 {
            dom: DOMID_SELF,
            nr_frames: 2,
            frame_list: BUF,
            ..Default::default()
        })
    };
    add(
        "setup-table",
        vec![setup, gtop(GNTTABOP_SETUP_TABLE)],
        false,
    );
    add(
        "set-version",
        vec![
            w(GnttabSetVersion { version: 1 }),
            gtop(GNTTABOP_SET_VERSION),
        ],
        false,
    );
    add(
        "get-version",
        vec![
            w(GnttabGetVersion {
                dom: DOMID_SELF,
                ..Default::default()
            }),
            gtop(GNTTABOP_GET_VERSION),
        ],
        false,
    );
    add("gnttab-copy", vec![gtop(GNTTABOP_COPY)], false);
    let con = HYPERVISOR_CONSOLE_IO;
    add(
        "console-write",
        vec![
            write(BUF, b"hello\nworld"),
            hc(b, con, u64::from(CONSOLEIO_WRITE), 11, BUF),
        ],
        false,
    );
    add(
        "console-read",
        vec![
            console_input(b"typed"),
            hc(b, con, u64::from(CONSOLEIO_READ), 16, BUF),
        ],
        false,
    );
    add(
        "vm-assist",
        vec![hc(
            b,
            HYPERVISOR_VM_ASSIST,
            u64::from(VMASST_CMD_ENABLE),
            u64::from(VMASST_TYPE_RUNSTATE_UPDATE_FLAG),
            0,
        )],
        false,
    );
    v
}

/// A guest that sets up what Linux does at boot, then uses the devices,
/// timers and a snapshot.
fn boot(bits32: bool) -> Vec<Vec<u8>> {
    let b = bits32;
    let mut ops = vec![
        msr(0, !b, 0x5000),
        add_to_physmap(b, 0, 0, HOLE),
        hc(
            b,
            HYPERVISOR_MEMORY_OP,
            u64::from(XENMEM_ADD_TO_PHYSMAP),
            ARG,
            0,
        ),
        hvm_param(HVM_PARAM_CALLBACK_IRQ, (2 << 56) | 0xf3),
        hc(b, HYPERVISOR_HVM_OP, u64::from(HVMOP_SET_PARAM), ARG, 0),
    ];
    for v in 0..2u8 {
        ops.push(w(VcpuRegisterVcpuInfo {
            mfn: VCPU_INFO >> 12,
            offset: 64 * u32::from(v),
            rsvd: 0,
        }));
        ops.push(hypercall(
            v,
            b,
            HYPERVISOR_VCPU_OP,
            [
                u64::from(VCPUOP_REGISTER_VCPU_INFO),
                u64::from(v),
                ARG,
                0,
                0,
                0,
            ],
        ));
        ops.push(w(EvtchnBindVirq {
            virq: VIRQ_TIMER,
            vcpu: u32::from(v),
            port: 0,
        }));
        ops.push(hypercall(
            v,
            b,
            HYPERVISOR_EVENT_CHANNEL_OP,
            [u64::from(EVTCHNOP_BIND_VIRQ), ARG, 0, 0, 0, 0],
        ));
    }
    ops.push(w(VcpuSetPeriodicTimer {
        period_ns: 4_000_000,
    }));
    ops.push(hc(
        b,
        HYPERVISOR_VCPU_OP,
        u64::from(VCPUOP_SET_PERIODIC_TIMER),
        0,
        ARG,
    ));
    ops.push(clock(5000));
    ops.push(timer(0, true));
    ops.push(runstate(0, 2));
    // Console: "ok\n" on the out ring, notify.
    let con = CONSOLE_GFN * 4096;
    ops.push(write(con + xen_platform::console::OUT_OFF, b"ok\n"));
    ops.push(write(
        con + xen_platform::console::OUT_PROD,
        &3u32.to_le_bytes(),
    ));
    ops.push(w(EvtchnSend { port: CONSOLE_PORT }));
    ops.push(hc(
        b,
        HYPERVISOR_EVENT_CHANNEL_OP,
        u64::from(EVTCHNOP_SEND),
        ARG,
        0,
    ));
    // Xenstore: read "domid".
    let st = STORE_GFN * 4096;
    let mut req = Vec::new();
    for x in [xen_store::XS_READ, 7, 0, 6] {
        req.extend_from_slice(&x.to_le_bytes());
    }
    req.extend_from_slice(b"domid\0");
    ops.push(write(st + xen_store::REQ_OFF, &req));
    ops.push(write(
        st + xen_store::REQ_PROD,
        &(req.len() as u32).to_le_bytes(),
    ));
    ops.push(w(EvtchnSend { port: STORE_PORT }));
    ops.push(hc(
        b,
        HYPERVISOR_EVENT_CHANNEL_OP,
        u64::from(EVTCHNOP_SEND),
        ARG,
        0,
    ));
    ops.push(console_input(b"login\n"));
    ops.push(round_trip());
    ops.push(hc(b, HYPERVISOR_SCHED_OP, u64::from(SCHEDOP_BLOCK), 0, 0));
    ops.push(backends(2));
    ops
}

/// All seeds of the target.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    for bits32 in [false, true] {
        let width = if bits32 { "32" } else { "64" };
        for (name, ops, enosys) in subops(bits32) {
            out.push(seed(format!("seed-{width}-{name}"), &ops, enosys));
        }
        let mut boot_seed = seed(format!("seed-{width}-boot"), &boot(bits32), false);
        boot_seed.data[0] |= 2; // and a round trip at the end
        out.push(boot_seed);
    }
    // Every hypercall number, no arguments (most are unknown: -ENOSYS).
    for nr in 0u64..64 {
        let known = [12, 13, 15, 17, 18, 20, 21, 24, 29, 32, 33, 34, 35, 36].contains(&nr);
        let mut s = seed(format!("seed-nr{nr}"), &[hc(false, nr, 0, 0, 0)], true);
        s.expect_enosys = if known { None } else { Some(true) };
        out.push(s);
    }
    // Paging: pointers are virtual.
    out.push(seed(
        "seed-paged-vcpu-info",
        &[
            write_obj(
                ARG,
                VcpuRegisterVcpuInfo {
                    mfn: VCPU_INFO >> 12,
                    offset: 0,
                    rsvd: 0,
                },
            ),
            hypercall_paged(
                0,
                false,
                HYPERVISOR_VCPU_OP,
                [
                    u64::from(VCPUOP_REGISTER_VCPU_INFO),
                    0,
                    PAGING_BASE + ARG,
                    0,
                    0,
                    0,
                ],
            ),
        ],
        false,
    ));
    // Pages refused by the VMM; many pages in holes; a page above 4 GiB.
    let mut refused = header(true);
    refused.extend(add_to_physmap(false, 0, 0, HOLE));
    refused.extend(hc(
        false,
        HYPERVISOR_MEMORY_OP,
        u64::from(XENMEM_ADD_TO_PHYSMAP),
        ARG,
        0,
    ));
    out.push(Seed {
        name: "seed-page-refused".into(),
        data: refused,
        expect_enosys: Some(false),
    });
    let mut many = Vec::new();
    for i in 0..10u64 {
        many.push(add_to_physmap(false, 0, 0, HOLE + i * 0x1000));
        many.push(hc(
            false,
            HYPERVISOR_MEMORY_OP,
            u64::from(XENMEM_ADD_TO_PHYSMAP),
            ARG,
            0,
        ));
    }
    many.push(round_trip());
    out.push(seed("seed-many-hole-pages", &many, false));
    out.push(seed(
        "seed-shinfo-high-ram",
        &[
            add_to_physmap(false, 0, 0, R2.0),
            hc(
                false,
                HYPERVISOR_MEMORY_OP,
                u64::from(XENMEM_ADD_TO_PHYSMAP),
                ARG,
                0,
            ),
            round_trip(),
        ],
        false,
    ));
    out
}
