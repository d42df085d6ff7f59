// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Through `XenPlatform::on_hypercall`, KVM-free: `HYPERVISOR_multicall` (both entry
//! layouts), the shutdown code, remote shutdown, and what a domU gets from `xen_version`'s
//! privileged sub-ops, `physdev_op`, `sysctl` and `domctl`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::HypercallRegs;
use xen_platform::{HypercallExit, NoVcpuAccess, PlatformConfig, Retry, XenHost, XenPlatform};

const RAM: u64 = 16 << 20;
const ARG: u64 = 0x2000;
const LIST: u64 = 0x8000;
const BUF: u64 = 0x6000;
/// Not memory, for both widths.
const BAD: u64 = 0xf000_0000;

/// Counts kicks; no timers, monotonic clock.
#[derive(Default)]
struct Host {
    kicks: AtomicU32,
}

impl XenHost for Host {
    fn kick(&self, _vcpu: u32) {
        self.kicks.fetch_add(1, Ordering::SeqCst);
    }
}

/// Console output, sent line by line to the test.
struct Output(mpsc::Sender<Vec<u8>>);

impl std::io::Write for Output {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(b.to_vec());
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Vm {
    p: XenPlatform,
    mem: GuestMemoryMmap<()>,
    host: Arc<Host>,
    out: mpsc::Receiver<Vec<u8>>,
    root: Root,
    width: GuestWidth,
}

impl Vm {
    fn new(width: GuestWidth) -> Self {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap();
        let host = Arc::new(Host::default());
        let (tx, out) = mpsc::channel();
        let p = XenPlatform::new(
            PlatformConfig::new(2, RAM),
            MemoryMap::new(mem.clone()),
            host.clone(),
            Box::new(Output(tx)),
        )
        .unwrap();
        Vm {
            p,
            mem,
            host,
            out,
            root: Root::new().unwrap(),
            width,
        }
    }

    fn exit(&mut self, nr: u64, args: [u64; 6]) -> HypercallExit {
        let [a, b, c, d, e, f] = args;
        let regs = match self.width {
            GuestWidth::Bits64 => HypercallRegs::from_regs64(0, nr, a, b, c, d, e, f),
            GuestWidth::Bits32 => HypercallRegs::from_regs32(0, nr, a, b, c, d, e, f),
        };
        self.p.on_hypercall(
            self.root.token(),
            0,
            &regs,
            false,
            &mut NoVcpuAccess,
            Retry::No,
        )
    }

    /// The call's result, sign-extended from the guest's width.
    fn call(&mut self, nr: u64, args: [u64; 6]) -> i64 {
        match self.exit(nr, args) {
            HypercallExit::Resume { rax } => self.signed(rax),
            e => panic!("unexpected exit {e:?}"),
        }
    }

    fn signed(&self, v: u64) -> i64 {
        match self.width {
            GuestWidth::Bits64 => v as i64,
            GuestWidth::Bits32 => i64::from(v as u32 as i32),
        }
    }

    fn put<T: ByteValued>(&self, v: T, at: u64) {
        self.mem.write_obj(v, GuestAddress(at)).unwrap();
    }

    fn get<T: ByteValued>(&self, at: u64) -> T {
        self.mem.read_obj(GuestAddress(at)).unwrap()
    }

    fn entry_size(&self) -> u64 {
        match self.width {
            GuestWidth::Bits64 => 64,
            GuestWidth::Bits32 => 32,
        }
    }

    fn put_entries(&self, at: u64, entries: &[(u64, &[u64])]) {
        for (i, (op, a)) in entries.iter().enumerate() {
            let mut args = [0u64; 6];
            args[..a.len()].copy_from_slice(a);
            let at = at + i as u64 * self.entry_size();
            match self.width {
                GuestWidth::Bits64 => self.put(
                    MulticallEntry64 {
                        op: *op,
                        result: 0x5555,
                        args,
                    },
                    at,
                ),
                GuestWidth::Bits32 => self.put(
                    MulticallEntry32 {
                        op: *op as u32,
                        result: 0x5555,
                        args: args.map(|a| a as u32),
                    },
                    at,
                ),
            }
        }
    }

    fn result(&self, at: u64, i: u64) -> i64 {
        let at = at + i * self.entry_size();
        match self.width {
            GuestWidth::Bits64 => self.get::<MulticallEntry64>(at).result as i64,
            GuestWidth::Bits32 => i64::from(self.get::<MulticallEntry32>(at).result as i32),
        }
    }

    fn multicall(&mut self, n: u64) -> HypercallExit {
        self.exit(HYPERVISOR_MULTICALL, [LIST, n, 0, 0, 0, 0])
    }

    fn param(&mut self, index: u32) -> u64 {
        self.put(
            XenHvmParam {
                domid: DOMID_SELF,
                pad: 0,
                index,
                value: 0,
            },
            ARG + 0x800,
        );
        assert_eq!(
            self.call(
                HYPERVISOR_HVM_OP,
                [HVMOP_GET_PARAM.into(), ARG + 0x800, 0, 0, 0, 0]
            ),
            0
        );
        self.get::<XenHvmParam>(ARG + 0x800).value
    }
}

fn neg(e: i32) -> i64 {
    -i64::from(e)
}

fn both() -> [GuestWidth; 2] {
    [GuestWidth::Bits64, GuestWidth::Bits32]
}

const VERSION: i64 = 4 << 16 | 17;

/// Two `xen_version`s and event-channel ops in one multicall: each entry's own result, and
/// the event-channel ops really happened (their output written back).
#[test]
fn multicall_runs_each_entry_with_its_result() {
    for w in both() {
        let mut vm = Vm::new(w);
        vm.put(
            EvtchnAllocUnbound {
                dom: DOMID_SELF,
                remote_dom: 0,
                port: 0,
            },
            ARG,
        );
        vm.put(EvtchnBindIpi { vcpu: 1, port: 0 }, ARG + 0x100);
        vm.put(EvtchnClose { port: 4000 }, ARG + 0x200);
        vm.put_entries(
            LIST,
            &[
                (HYPERVISOR_XEN_VERSION, &[XENVER_VERSION.into()]),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    &[EVTCHNOP_ALLOC_UNBOUND.into(), ARG],
                ),
                (HYPERVISOR_XEN_VERSION, &[XENVER_PAGESIZE.into(), 0]),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    &[EVTCHNOP_BIND_IPI.into(), ARG + 0x100],
                ),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    &[EVTCHNOP_CLOSE.into(), ARG + 0x200],
                ),
            ],
        );
        assert_eq!(vm.multicall(5), HypercallExit::Resume { rax: 0 });
        assert_eq!(vm.result(LIST, 0), VERSION);
        assert_eq!(vm.result(LIST, 1), 0);
        assert_eq!(vm.result(LIST, 2), 4096);
        assert_eq!(vm.result(LIST, 3), 0);
        assert_eq!(
            vm.result(LIST, 4),
            neg(EINVAL),
            "{w:?}: close of a bad port"
        );
        let unbound = vm.get::<EvtchnAllocUnbound>(ARG).port;
        let ipi = vm.get::<EvtchnBindIpi>(ARG + 0x100).port;
        assert!(unbound != 0 && ipi != 0 && unbound != ipi);
        // The ports exist: their status is what the entries made.
        for (port, want) in [(unbound, EVTCHNSTAT_UNBOUND), (ipi, EVTCHNSTAT_IPI)] {
            vm.put(
                EvtchnStatus {
                    dom: DOMID_SELF,
                    port,
                    ..Default::default()
                },
                ARG + 0x300,
            );
            assert_eq!(
                vm.call(
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    [EVTCHNOP_STATUS.into(), ARG + 0x300, 0, 0, 0, 0]
                ),
                0
            );
            assert_eq!(vm.get::<EvtchnStatus>(ARG + 0x300).status, want);
        }
    }
}

#[test]
fn nested_multicall_and_bad_lists() {
    for w in both() {
        let mut vm = Vm::new(w);
        vm.put_entries(
            LIST,
            &[
                (HYPERVISOR_MULTICALL, &[LIST, 1]),
                (HYPERVISOR_XEN_VERSION, &[XENVER_VERSION.into()]),
            ],
        );
        assert_eq!(vm.multicall(2), HypercallExit::Resume { rax: 0 });
        assert_eq!(vm.result(LIST, 0), neg(EINVAL));
        assert_eq!(vm.result(LIST, 1), VERSION);
        // Unreadable list: -EFAULT; too long a list: -E2BIG; nothing for 0 entries.
        assert_eq!(
            vm.call(HYPERVISOR_MULTICALL, [BAD, 1, 0, 0, 0, 0]),
            neg(EFAULT)
        );
        assert_eq!(
            vm.call(HYPERVISOR_MULTICALL, [LIST, 100_000, 0, 0, 0, 0]),
            neg(E2BIG)
        );
        assert_eq!(vm.call(HYPERVISOR_MULTICALL, [BAD, 0, 0, 0, 0, 0]), 0);
    }
}

/// `SCHEDOP_shutdown_code` inside a multicall, then a shutdown: the VMM is told the code
/// set first, as Xen reports it; the entries after the shutdown do not run.
#[test]
fn shutdown_code_then_shutdown() {
    for w in both() {
        let mut vm = Vm::new(w);
        vm.put(
            SchedShutdown {
                reason: SHUTDOWN_CRASH,
            },
            ARG,
        );
        vm.put(
            SchedShutdown {
                reason: SHUTDOWN_REBOOT,
            },
            ARG + 0x10,
        );
        vm.put(
            SchedShutdown {
                reason: SHUTDOWN_POWEROFF,
            },
            ARG + 0x20,
        );
        vm.put_entries(
            LIST,
            &[
                (HYPERVISOR_SCHED_OP, &[SCHEDOP_SHUTDOWN_CODE.into(), ARG]),
                (
                    HYPERVISOR_SCHED_OP,
                    &[SCHEDOP_SHUTDOWN_CODE.into(), ARG + 0x10],
                ),
                (HYPERVISOR_SCHED_OP, &[SCHEDOP_SHUTDOWN.into(), ARG + 0x20]),
                (HYPERVISOR_XEN_VERSION, &[XENVER_VERSION.into()]),
            ],
        );
        assert_eq!(
            vm.multicall(4),
            HypercallExit::Shutdown {
                rax: 0,
                reason: SHUTDOWN_CRASH
            }
        );
        assert_eq!(vm.result(LIST, 0), 0);
        assert_eq!(vm.result(LIST, 1), 0);
        assert_eq!(vm.result(LIST, 2), 0);
        assert_eq!(vm.result(LIST, 3), 0x5555);
    }
}

#[test]
fn shutdown_code_outside_a_multicall() {
    let mut vm = Vm::new(GuestWidth::Bits64);
    vm.put(
        SchedShutdown {
            reason: 0x100 | SHUTDOWN_WATCHDOG,
        },
        ARG,
    );
    assert_eq!(
        vm.call(
            HYPERVISOR_SCHED_OP,
            [SCHEDOP_SHUTDOWN_CODE.into(), ARG, 0, 0, 0, 0]
        ),
        0
    );
    vm.put(
        SchedShutdown {
            reason: SHUTDOWN_POWEROFF,
        },
        ARG,
    );
    assert_eq!(
        vm.exit(
            HYPERVISOR_SCHED_OP,
            [SCHEDOP_SHUTDOWN.into(), ARG, 0, 0, 0, 0]
        ),
        HypercallExit::Shutdown {
            rax: 0,
            reason: SHUTDOWN_WATCHDOG
        }
    );
}

/// A domU may not shut down any domain, itself included (-EPERM); ids that name no domain
/// (`DOMID_SELF` among them: Xen looks the domain up by id) are -ESRCH.
#[test]
fn remote_shutdown_as_a_domu() {
    for w in both() {
        let mut vm = Vm::new(w);
        let me = vm.p.config().domid;
        for (dom, want) in [
            (me, EPERM),
            (0, EPERM),
            (DOMID_SELF, ESRCH),
            (me + 1, ESRCH),
            (DOMID_IO, ESRCH),
        ] {
            vm.put(
                SchedRemoteShutdown {
                    domain_id: dom,
                    pad: 0,
                    reason: SHUTDOWN_POWEROFF,
                },
                ARG,
            );
            assert_eq!(
                vm.call(
                    HYPERVISOR_SCHED_OP,
                    [SCHEDOP_REMOTE_SHUTDOWN.into(), ARG, 0, 0, 0, 0]
                ),
                neg(want),
                "domain {dom:#x}"
            );
        }
    }
}

/// An entry that would need a new page (a grant frame placed outside RAM) cannot ask for
/// it inside a multicall (the retry would run the entries before it again): -ENOMEM for
/// that entry, no `MapPage` exit. Outside a multicall the VMM is asked for the page.
#[test]
fn page_requests_inside_a_multicall_get_enomem() {
    for w in both() {
        let mut vm = Vm::new(w);
        let gfn = (RAM >> 12) + 0x100;
        match w {
            GuestWidth::Bits64 => vm.put(
                XenAddToPhysmap64 {
                    domid: DOMID_SELF,
                    size: 0,
                    space: XENMAPSPACE_GRANT_TABLE,
                    idx: 0,
                    gpfn: gfn,
                },
                ARG,
            ),
            GuestWidth::Bits32 => vm.put(
                XenAddToPhysmap32 {
                    domid: DOMID_SELF,
                    size: 0,
                    space: XENMAPSPACE_GRANT_TABLE,
                    idx: 0,
                    gpfn: gfn as u32,
                },
                ARG,
            ),
        }
        vm.put(EvtchnBindIpi { vcpu: 0, port: 0 }, ARG + 0x100);
        vm.put_entries(
            LIST,
            &[
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    &[EVTCHNOP_BIND_IPI.into(), ARG + 0x100],
                ),
                (HYPERVISOR_MEMORY_OP, &[XENMEM_ADD_TO_PHYSMAP.into(), ARG]),
                (HYPERVISOR_XEN_VERSION, &[XENVER_VERSION.into()]),
            ],
        );
        assert_eq!(vm.multicall(3), HypercallExit::Resume { rax: 0 });
        assert_eq!(vm.result(LIST, 0), 0);
        assert_eq!(vm.result(LIST, 1), neg(ENOMEM));
        assert_eq!(vm.result(LIST, 2), VERSION);
        assert_eq!(
            vm.exit(
                HYPERVISOR_MEMORY_OP,
                [XENMEM_ADD_TO_PHYSMAP.into(), ARG, 0, 0, 0, 0]
            ),
            HypercallExit::MapPage { gpa: gfn << 12 }
        );
    }
}

/// A poll that is not a multicall's last entry returns 0 at once; its wait is undone, so a
/// later event on the polled port does not wake (kick) the vCPU as a poller.
#[test]
fn poll_in_the_middle_of_a_multicall_is_undone() {
    for w in both() {
        let mut vm = Vm::new(w);
        vm.put(EvtchnBindIpi { vcpu: 1, port: 0 }, ARG);
        assert_eq!(
            vm.call(
                HYPERVISOR_EVENT_CHANNEL_OP,
                [EVTCHNOP_BIND_IPI.into(), ARG, 0, 0, 0, 0]
            ),
            0
        );
        let port = vm.get::<EvtchnBindIpi>(ARG).port;
        let ports = ARG + 0x100;
        vm.put(port, ports);
        match w {
            GuestWidth::Bits64 => vm.put(
                SchedPoll64 {
                    ports,
                    nr_ports: 1,
                    pad: 0,
                    timeout: 0,
                },
                ARG + 0x200,
            ),
            GuestWidth::Bits32 => vm.put(
                SchedPoll32 {
                    ports: ports as u32,
                    nr_ports: 1,
                    timeout: 0,
                },
                ARG + 0x200,
            ),
        }
        vm.put_entries(
            LIST,
            &[
                (HYPERVISOR_SCHED_OP, &[SCHEDOP_POLL.into(), ARG + 0x200]),
                (HYPERVISOR_XEN_VERSION, &[XENVER_VERSION.into()]),
            ],
        );
        assert_eq!(vm.multicall(2), HypercallExit::Resume { rax: 0 });
        assert_eq!(vm.result(LIST, 0), 0);
        assert_eq!(vm.result(LIST, 1), VERSION);
        let kicks = vm.host.kicks.load(Ordering::SeqCst);
        vm.put(EvtchnSend { port }, ARG + 0x300);
        assert_eq!(
            vm.call(
                HYPERVISOR_EVENT_CHANNEL_OP,
                [EVTCHNOP_SEND.into(), ARG + 0x300, 0, 0, 0, 0]
            ),
            0
        );
        assert_eq!(
            vm.host.kicks.load(Ordering::SeqCst),
            kicks,
            "{w:?}: vCPU 0 was still polling"
        );

        // As the last entry the poll blocks the vCPU, as Xen's would.
        vm.put_entries(
            LIST,
            &[
                (HYPERVISOR_XEN_VERSION, &[XENVER_VERSION.into()]),
                (HYPERVISOR_SCHED_OP, &[SCHEDOP_POLL.into(), ARG + 0x200]),
            ],
        );
        // The IPI went to vCPU 1; vCPU 0's polled port is pending: the poll ends at once.
        assert_eq!(vm.multicall(2), HypercallExit::Resume { rax: 0 });
        let mut other = [0u32; 1];
        other[0] = port + 1;
        vm.put(other, ports);
        match vm.multicall(2) {
            HypercallExit::Block { rax: 0, wait } => {
                assert_eq!(wait.poll.as_ref().map(|p| &p.0), Some(&vec![port + 1]));
                vm.p.wait_end(0, &wait);
            }
            e => panic!("{w:?}: {e:?}"),
        }
    }
}

/// Console and xenstore notified in one multicall: both backends run (the console's
/// output is written). Before, only the last one notified did.
#[test]
fn multicall_notifying_two_backends_runs_both() {
    for w in both() {
        let mut vm = Vm::new(w);
        let console = vm.param(HVM_PARAM_CONSOLE_EVTCHN);
        let store = vm.param(HVM_PARAM_STORE_EVTCHN);
        assert!(console != 0 && store != 0 && console != store);
        // Guest console output waiting in the ring.
        let ring = vm.p.config().console_gfn << 12;
        let text = b"hello from a multicall\n";
        vm.mem.write_slice(text, GuestAddress(ring + 1024)).unwrap();
        vm.put(text.len() as u32, ring + 3084); // out_prod
        vm.put(
            EvtchnSend {
                port: console as u32,
            },
            ARG,
        );
        vm.put(EvtchnSend { port: store as u32 }, ARG + 0x10);
        vm.put_entries(
            LIST,
            &[
                (HYPERVISOR_EVENT_CHANNEL_OP, &[EVTCHNOP_SEND.into(), ARG]),
                (
                    HYPERVISOR_EVENT_CHANNEL_OP,
                    &[EVTCHNOP_SEND.into(), ARG + 0x10],
                ),
            ],
        );
        assert_eq!(vm.multicall(2), HypercallExit::Resume { rax: 0 });
        let out: Vec<u8> = vm.out.try_iter().flatten().collect();
        assert_eq!(out, text, "{w:?}");
        assert_eq!(vm.get::<u32>(ring + 3080), text.len() as u32, "out_cons");
    }
}

/// A backend notified before a send to a port of the guest's own: still run.
#[test]
fn backend_notified_before_another_send_still_runs() {
    let mut vm = Vm::new(GuestWidth::Bits64);
    let console = vm.param(HVM_PARAM_CONSOLE_EVTCHN);
    vm.put(EvtchnBindIpi { vcpu: 0, port: 0 }, ARG + 0x20);
    assert_eq!(
        vm.call(
            HYPERVISOR_EVENT_CHANNEL_OP,
            [EVTCHNOP_BIND_IPI.into(), ARG + 0x20, 0, 0, 0, 0]
        ),
        0
    );
    let ipi = vm.get::<EvtchnBindIpi>(ARG + 0x20).port;
    let ring = vm.p.config().console_gfn << 12;
    vm.mem
        .write_slice(b"x\n", GuestAddress(ring + 1024))
        .unwrap();
    vm.put(2u32, ring + 3084);
    vm.put(
        EvtchnSend {
            port: console as u32,
        },
        ARG,
    );
    vm.put(EvtchnSend { port: ipi }, ARG + 0x10);
    vm.put_entries(
        LIST,
        &[
            (HYPERVISOR_EVENT_CHANNEL_OP, &[EVTCHNOP_SEND.into(), ARG]),
            (
                HYPERVISOR_EVENT_CHANNEL_OP,
                &[EVTCHNOP_SEND.into(), ARG + 0x10],
            ),
        ],
    );
    assert_eq!(vm.multicall(2), HypercallExit::Resume { rax: 0 });
    let out: Vec<u8> = vm.out.try_iter().flatten().collect();
    assert_eq!(out, b"x\n");
}

/// `xen_version` as Xen 4.17 answers an unprivileged HVM domU.
#[test]
fn xen_version_privileged_sub_ops() {
    for w in both() {
        let mut vm = Vm::new(w);
        vm.put([0xffu8; 16], BUF);
        assert_eq!(
            vm.call(
                HYPERVISOR_XEN_VERSION,
                [XENVER_PLATFORM_PARAMETERS.into(), BUF, 0, 0, 0, 0]
            ),
            0
        );
        match w {
            GuestWidth::Bits64 => assert_eq!(vm.get::<u64>(BUF), HYPERVISOR_VIRT_START_64),
            GuestWidth::Bits32 => assert_eq!(vm.get::<u32>(BUF), 0),
        }
        vm.put([0xffu8; 16], BUF);
        assert_eq!(
            vm.call(
                HYPERVISOR_XEN_VERSION,
                [XENVER_COMMANDLINE.into(), BUF, 0, 0, 0, 0]
            ),
            0
        );
        assert_eq!(&vm.get::<[u8; 10]>(BUF), b"<denied>\0\xff");
        for arg in [0, BUF] {
            assert_eq!(
                vm.call(
                    HYPERVISOR_XEN_VERSION,
                    [XENVER_BUILD_ID.into(), arg, 0, 0, 0, 0]
                ),
                neg(EPERM)
            );
        }
        assert_eq!(
            vm.call(
                HYPERVISOR_XEN_VERSION,
                [XENVER_PAGESIZE.into(), BUF, 0, 0, 0, 0]
            ),
            neg(EINVAL)
        );
    }
}

/// `physdev_op` (-ENOSYS), `sysctl` and `domctl` (-EACCES for a bad interface version,
/// -ESRCH for no such domain, else -EPERM) as a domU sees them.
#[test]
fn toolstack_hypercalls_as_a_domu() {
    for w in both() {
        let mut vm = Vm::new(w);
        assert_eq!(
            vm.call(
                HYPERVISOR_PHYSDEV_OP,
                [PHYSDEVOP_MAP_PIRQ.into(), ARG, 0, 0, 0, 0]
            ),
            neg(ENOSYS)
        );
        let mut s = XenSysctl {
            cmd: 1,
            interface_version: XEN_SYSCTL_INTERFACE_VERSION,
            ..Default::default()
        };
        vm.put(s, ARG);
        assert_eq!(vm.call(HYPERVISOR_SYSCTL, [ARG, 0, 0, 0, 0, 0]), neg(EPERM));
        s.interface_version = 0x14;
        vm.put(s, ARG);
        assert_eq!(
            vm.call(HYPERVISOR_SYSCTL, [ARG, 0, 0, 0, 0, 0]),
            neg(EACCES)
        );
        let me = vm.p.config().domid;
        for (domain, version, want) in [
            (me, XEN_DOMCTL_INTERFACE_VERSION, EPERM),
            (0, XEN_DOMCTL_INTERFACE_VERSION, EPERM),
            (DOMID_SELF, XEN_DOMCTL_INTERFACE_VERSION, ESRCH),
            (me + 1, XEN_DOMCTL_INTERFACE_VERSION, ESRCH),
            (me, 0, EACCES),
        ] {
            vm.put(
                XenDomctl {
                    cmd: XEN_DOMCTL_GETDOMAININFO + 1,
                    interface_version: version,
                    domain,
                    ..Default::default()
                },
                ARG,
            );
            assert_eq!(
                vm.call(HYPERVISOR_DOMCTL, [ARG, 0, 0, 0, 0, 0]),
                neg(want),
                "domain {domain:#x}"
            );
        }
        assert_eq!(
            vm.call(HYPERVISOR_DOMCTL, [BAD, 0, 0, 0, 0, 0]),
            neg(EFAULT)
        );
    }
}
