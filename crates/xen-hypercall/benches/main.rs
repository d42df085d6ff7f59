// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Criterion benches: decode + dispatch of each hypercall against `RecordingHypervisor`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::*;
use xen_hypercall::testing::RecordingHypervisor;
use xen_hypercall::{dispatch, hypercall_page, HypercallPageKind, HypercallRegs};

const ARG: u64 = 0x2000;
const BUF: u64 = 0x4000;

fn regs(nr: u64, a0: u32, a1: u64, a2: u64) -> HypercallRegs {
    HypercallRegs::from_regs64(0, nr, a0.into(), a1, a2, 0, 0, 0)
}

fn bench(c: &mut Criterion) {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    let mut hv = RecordingHypervisor::new(1, 4);
    hv.event_pending = true;

    let w = |mem: &GuestMemoryMmap<()>, bytes: &[u8]| {
        mem.write_slice(bytes, GuestAddress(ARG)).unwrap();
    };
    let mut group = c.benchmark_group("dispatch");

    let mut run = |name: &str, setup: &dyn Fn(&GuestMemoryMmap<()>), r: HypercallRegs| {
        group.bench_function(name, |b| {
            b.iter(|| {
                setup(&mem);
                black_box(dispatch(black_box(&r), 0, &mem, &mut hv))
            })
        });
    };

    run(
        "xen_version/version",
        &|_| {},
        regs(HYPERVISOR_XEN_VERSION, XENVER_VERSION, 0, 0),
    );
    run(
        "vm_assist/enable_runstate_update_flag",
        &|_| {},
        regs(
            HYPERVISOR_VM_ASSIST,
            VMASST_CMD_ENABLE,
            VMASST_TYPE_RUNSTATE_UPDATE_FLAG.into(),
            0,
        ),
    );
    run(
        "xen_version/capabilities",
        &|_| {},
        regs(HYPERVISOR_XEN_VERSION, XENVER_CAPABILITIES, BUF, 0),
    );
    run(
        "memory_op/add_to_physmap",
        &|m| {
            let x = XenAddToPhysmap64 {
                domid: DOMID_SELF,
                size: 0,
                space: XENMAPSPACE_SHARED_INFO,
                idx: 0,
                gpfn: 0xfeff0,
            };
            w(m, x.as_slice_for_bench());
        },
        regs(HYPERVISOR_MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, ARG, 0),
    );
    run(
        "hvm_op/set_param_callback_vector",
        &|m| {
            let p = XenHvmParam {
                domid: DOMID_SELF,
                pad: 0,
                index: HVM_PARAM_CALLBACK_IRQ,
                value: (2 << 56) | 0xf3,
            };
            w(m, p.as_slice_for_bench());
        },
        regs(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, ARG, 0),
    );
    run(
        "vcpu_op/set_singleshot_timer",
        &|m| {
            let t = VcpuSetSingleshotTimer64 {
                timeout_abs_ns: 1 << 40,
                flags: 0,
                pad: 0,
            };
            w(m, t.as_slice_for_bench());
        },
        HypercallRegs::from_regs64(
            0,
            HYPERVISOR_VCPU_OP,
            VCPUOP_SET_SINGLESHOT_TIMER.into(),
            0,
            ARG,
            0,
            0,
            0,
        ),
    );
    run(
        "set_timer_op",
        &|_| {},
        regs(HYPERVISOR_SET_TIMER_OP, 0, 0, 0),
    );
    run(
        "sched_op/yield",
        &|_| {},
        regs(HYPERVISOR_SCHED_OP, SCHEDOP_YIELD, 0, 0),
    );
    run(
        "sched_op/poll_1",
        &|m| {
            m.write_obj(3u32, GuestAddress(BUF)).unwrap();
            let p = SchedPoll64 {
                ports: BUF,
                nr_ports: 1,
                pad: 0,
                timeout: 0,
            };
            w(m, p.as_slice_for_bench());
        },
        regs(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, ARG, 0),
    );
    run(
        "event_channel_op/send",
        &|m| w(m, EvtchnSend { port: 3 }.as_slice_for_bench()),
        regs(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, ARG, 0),
    );
    run(
        "event_channel_op/alloc_unbound",
        &|m| {
            w(
                m,
                EvtchnAllocUnbound {
                    dom: DOMID_SELF,
                    remote_dom: 0,
                    port: 0,
                }
                .as_slice_for_bench(),
            )
        },
        regs(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_ALLOC_UNBOUND, ARG, 0),
    );
    run(
        "event_channel_op/status",
        &|m| {
            let s = EvtchnStatus {
                dom: DOMID_SELF,
                port: 3,
                ..Default::default()
            };
            w(m, s.as_slice_for_bench())
        },
        regs(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_STATUS, ARG, 0),
    );
    run(
        "grant_table_op/setup_table_1",
        &|m| {
            let s = GnttabSetupTable64 {
                dom: DOMID_SELF,
                nr_frames: 1,
                frame_list: BUF,
                ..Default::default()
            };
            w(m, s.as_slice_for_bench())
        },
        regs(HYPERVISOR_GRANT_TABLE_OP, GNTTABOP_SETUP_TABLE, ARG, 1),
    );
    run(
        "console_io/write_64",
        &|m| m.write_slice(&[b'x'; 64], GuestAddress(BUF)).unwrap(),
        regs(HYPERVISOR_CONSOLE_IO, CONSOLEIO_WRITE, 64, BUF),
    );
    run("unknown_hypercall", &|_| {}, regs(99, 0, 0, 0));
    group.finish();

    c.bench_function("hypercall_page/port_io", |b| {
        b.iter(|| hypercall_page(black_box(HypercallPageKind::PortIo { port: 0xe9 })))
    });
}

/// Byte view of an ABI struct for the benches.
trait AsSliceForBench {
    fn as_slice_for_bench(&self) -> &[u8];
}

impl<T: vm_memory::ByteValued> AsSliceForBench for T {
    fn as_slice_for_bench(&self) -> &[u8] {
        self.as_slice()
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
