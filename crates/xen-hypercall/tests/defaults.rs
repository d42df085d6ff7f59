// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A `Hypervisor` that overrides nothing but `domid`, `nr_vcpus` and the translation gets
//! the documented defaults (crate docs, "Defaults") for every family.

use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::*;

/// The smallest VMM: it supports nothing.
struct Bare {
    translated: u32,
}

impl AddressTranslate for Bare {
    fn translate_gva(&mut self, _vcpu: u32, gva: u64) -> Option<u64> {
        self.translated += 1;
        Some(gva)
    }
}
impl VersionHandler for Bare {}
impl MemoryHandler for Bare {}
impl HvmHandler for Bare {}
impl VcpuHandler for Bare {}
impl SchedHandler for Bare {}
impl EvtchnHandler for Bare {}
impl GnttabHandler for Bare {}
impl ConsoleHandler for Bare {}
impl VmAssistHandler for Bare {}
impl Hypervisor for Bare {
    fn domid(&self) -> u16 {
        1
    }
    fn nr_vcpus(&self) -> u32 {
        2
    }
}

const ARG: u64 = 0x2000;
const BUF: u64 = 0x4000;

struct Env {
    mem: GuestMemoryMmap<()>,
    hv: Bare,
    width: GuestWidth,
}

impl Env {
    fn new(width: GuestWidth) -> Self {
        Self {
            mem: GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap(),
            hv: Bare { translated: 0 },
            width,
        }
    }

    fn call(&mut self, nr: u64, a0: u64, a1: u64, a2: u64) -> HypercallOutcome {
        let r = match self.width {
            GuestWidth::Bits64 => HypercallRegs::from_regs64(0, nr, a0, a1, a2, 0, 0, 0),
            GuestWidth::Bits32 => HypercallRegs::from_regs32(0, nr, a0, a1, a2, 0, 0, 0),
        };
        dispatch(&r, 0, &self.mem, &mut self.hv).outcome
    }

    fn op(&mut self, nr: u64, cmd: u32, arg: u64) -> HypercallOutcome {
        self.call(nr, cmd.into(), arg, 0)
    }

    fn put<T: ByteValued>(&self, v: T) -> u64 {
        self.mem.write_obj(v, GuestAddress(ARG)).unwrap();
        ARG
    }

    fn get<T: ByteValued>(&self, at: u64) -> T {
        self.mem.read_obj(GuestAddress(at)).unwrap()
    }
}

fn done(e: i32) -> HypercallOutcome {
    HypercallOutcome::Done(-i64::from(e))
}

fn both() -> [GuestWidth; 2] {
    [GuestWidth::Bits64, GuestWidth::Bits32]
}

#[test]
fn version_defaults_to_4_17_with_empty_strings_and_no_features() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_VERSION, 0),
            HypercallOutcome::Done(4 << 16 | 17)
        );
        assert_eq!(DEFAULT_XEN_VERSION, (4, 17));
        e.mem.write_obj([0xffu8; 16], GuestAddress(BUF)).unwrap();
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_EXTRAVERSION, BUF),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<[u8; 16]>(BUF), [0; 16]);
        e.mem.write_slice(&[0xffu8; 64], GuestAddress(BUF)).unwrap();
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_CAPABILITIES, BUF),
            HypercallOutcome::Done(0)
        );
        let mut b = [0xffu8; 64];
        e.mem.read_slice(&mut b, GuestAddress(BUF)).unwrap();
        assert_eq!(b, [0; 64]);
        let a = e.put(XenFeatureInfo {
            submap_idx: 0,
            submap: 0xffff_ffff,
        });
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_GET_FEATURES, a),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<XenFeatureInfo>(ARG).submap, 0);
    }
}

#[test]
fn memory_hvm_vcpu_evtchn_console_default_to_enosys() {
    for w in both() {
        let mut e = Env::new(w);
        let a = match w {
            GuestWidth::Bits64 => e.put(XenMemoryMap64 {
                nr_entries: 8,
                pad: 0,
                buffer: BUF,
            }),
            GuestWidth::Bits32 => e.put(XenMemoryMap32 {
                nr_entries: 8,
                buffer: BUF as u32,
            }),
        };
        assert_eq!(
            e.op(HYPERVISOR_MEMORY_OP, XENMEM_MEMORY_MAP, a),
            done(ENOSYS)
        );
        let a = e.put(XenHvmParam {
            domid: DOMID_SELF,
            pad: 0,
            index: HVM_PARAM_CALLBACK_IRQ,
            value: (2 << 56) | 0xf3,
        });
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_SET_PARAM, a), done(ENOSYS));
        assert_eq!(e.op(HYPERVISOR_HVM_OP, HVMOP_GET_PARAM, a), done(ENOSYS));
        let a = e.put(VcpuRegisterVcpuInfo {
            mfn: 0x10,
            offset: 0,
            rsvd: 0,
        });
        assert_eq!(
            e.call(HYPERVISOR_VCPU_OP, VCPUOP_REGISTER_VCPU_INFO.into(), 0, a),
            done(ENOSYS)
        );
        assert_eq!(e.call(HYPERVISOR_SET_TIMER_OP, 0, 0, 0), done(ENOSYS));
        let a = e.put(EvtchnAllocUnbound {
            dom: DOMID_SELF,
            remote_dom: 0,
            port: 0,
        });
        assert_eq!(
            e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_ALLOC_UNBOUND, a),
            done(ENOSYS)
        );
        let a = e.put(EvtchnSend { port: 1 });
        assert_eq!(
            e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_SEND, a),
            done(ENOSYS)
        );
        let a = e.put(EvtchnBindPirq {
            pirq: 1,
            flags: 0,
            port: 0,
        });
        assert_eq!(
            e.op(HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_BIND_PIRQ, a),
            done(EPERM)
        );
        assert_eq!(
            e.call(HYPERVISOR_CONSOLE_IO, CONSOLEIO_WRITE.into(), 3, BUF),
            done(ENOSYS)
        );
        assert_eq!(
            e.call(HYPERVISOR_CONSOLE_IO, CONSOLEIO_READ.into(), 16, BUF),
            HypercallOutcome::Done(0)
        );
        assert_eq!(
            e.call(
                HYPERVISOR_VM_ASSIST,
                VMASST_CMD_ENABLE.into(),
                VMASST_TYPE_RUNSTATE_UPDATE_FLAG.into(),
                0
            ),
            done(EINVAL)
        );
        // Pointers went through the VMM's translation.
        assert!(e.hv.translated > 0);
    }
}

#[test]
fn sched_defaults() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            e.op(HYPERVISOR_SCHED_OP, SCHEDOP_YIELD, 0),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.op(HYPERVISOR_SCHED_OP, SCHEDOP_BLOCK, 0), done(ENOSYS));
        e.mem.write_obj(3u32, GuestAddress(BUF)).unwrap();
        let a = match w {
            GuestWidth::Bits64 => e.put(SchedPoll64 {
                ports: BUF,
                nr_ports: 1,
                pad: 0,
                timeout: 0,
            }),
            GuestWidth::Bits32 => e.put(SchedPoll32 {
                ports: BUF as u32,
                nr_ports: 1,
                timeout: 0,
            }),
        };
        assert_eq!(e.op(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, a), done(ENOSYS));
        let a = e.put(SchedShutdown {
            reason: SHUTDOWN_REBOOT,
        });
        assert_eq!(
            e.op(HYPERVISOR_SCHED_OP, SCHEDOP_SHUTDOWN, a),
            HypercallOutcome::Shutdown(SHUTDOWN_REBOOT)
        );
    }
}

/// Grant tables default to Xen's answers for a domain with `max_grant_frames=0`.
#[test]
fn gnttab_defaults_to_zero_frames() {
    for w in both() {
        let mut e = Env::new(w);
        let a = e.put(GnttabQuerySize {
            dom: DOMID_SELF,
            nr_frames: 9,
            max_nr_frames: 9,
            status: 9,
            ..Default::default()
        });
        assert_eq!(
            e.call(HYPERVISOR_GRANT_TABLE_OP, GNTTABOP_QUERY_SIZE.into(), a, 1),
            HypercallOutcome::Done(0)
        );
        let q: GnttabQuerySize = e.get(ARG);
        assert_eq!((q.nr_frames, q.max_nr_frames, q.status), (0, 0, GNTST_OKAY));
        let (a, status_at) = match w {
            GuestWidth::Bits64 => (
                e.put(GnttabSetupTable64 {
                    dom: DOMID_SELF,
                    nr_frames: 1,
                    frame_list: BUF,
                    ..Default::default()
                }),
                core::mem::offset_of!(GnttabSetupTable64, status),
            ),
            GuestWidth::Bits32 => (
                e.put(GnttabSetupTable32 {
                    dom: DOMID_SELF,
                    nr_frames: 1,
                    frame_list: BUF as u32,
                    ..Default::default()
                }),
                core::mem::offset_of!(GnttabSetupTable32, status),
            ),
        };
        assert_eq!(
            e.call(HYPERVISOR_GRANT_TABLE_OP, GNTTABOP_SETUP_TABLE.into(), a, 1),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<i16>(ARG + status_at as u64), GNTST_GENERAL_ERROR);
        let a = e.put(GnttabGetVersion {
            dom: DOMID_SELF,
            pad: 0,
            version: 0,
        });
        assert_eq!(
            e.call(HYPERVISOR_GRANT_TABLE_OP, GNTTABOP_GET_VERSION.into(), a, 1),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<GnttabGetVersion>(ARG).version, 1);
        // v2 is not offered (Xen with v2 disabled: -ENOSYS), version 1 stays.
        let a = e.put(GnttabSetVersion { version: 2 });
        assert_eq!(
            e.call(HYPERVISOR_GRANT_TABLE_OP, GNTTABOP_SET_VERSION.into(), a, 1),
            HypercallOutcome::Done(-i64::from(ENOSYS))
        );
        assert_eq!(e.get::<GnttabSetVersion>(ARG).version, 1);
        // get_status_frames: Xen's HVM answer.
        assert_eq!(
            e.call(
                HYPERVISOR_GRANT_TABLE_OP,
                GNTTABOP_GET_STATUS_FRAMES.into(),
                a,
                1
            ),
            HypercallOutcome::Done(-i64::from(ENOSYS))
        );
        // No grant reference, no mapping.
        e.mem
            .write_obj(
                GnttabMapGrantRef {
                    flags: GNTMAP_HOST_MAP,
                    dom: 1,
                    ..Default::default()
                },
                GuestAddress(BUF),
            )
            .unwrap();
        assert_eq!(
            e.call(
                HYPERVISOR_GRANT_TABLE_OP,
                GNTTABOP_MAP_GRANT_REF.into(),
                BUF,
                1
            ),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<GnttabMapGrantRef>(BUF).status, GNTST_BAD_GNTREF);
        e.mem
            .write_obj(GnttabUnmapGrantRef::default(), GuestAddress(BUF))
            .unwrap();
        assert_eq!(
            e.call(
                HYPERVISOR_GRANT_TABLE_OP,
                GNTTABOP_UNMAP_GRANT_REF.into(),
                BUF,
                1
            ),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<GnttabUnmapGrantRef>(BUF).status, GNTST_BAD_HANDLE);
        e.mem
            .write_obj(GnttabSwapGrantRef::default(), GuestAddress(BUF))
            .unwrap();
        assert_eq!(
            e.call(
                HYPERVISOR_GRANT_TABLE_OP,
                GNTTABOP_SWAP_GRANT_REF.into(),
                BUF,
                1
            ),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<GnttabSwapGrantRef>(BUF).status, GNTST_BAD_GNTREF);
        let (copy, status) = match w {
            GuestWidth::Bits64 => {
                let c = GnttabCopy64 {
                    source_domid: DOMID_SELF,
                    dest_domid: DOMID_SELF,
                    ..Default::default()
                };
                (
                    c.as_slice().to_vec(),
                    core::mem::offset_of!(GnttabCopy64, status),
                )
            }
            GuestWidth::Bits32 => {
                let c = GnttabCopy32 {
                    source_domid: DOMID_SELF,
                    dest_domid: DOMID_SELF,
                    ..Default::default()
                };
                (
                    c.as_slice().to_vec(),
                    core::mem::offset_of!(GnttabCopy32, status),
                )
            }
        };
        e.mem.write_slice(&copy, GuestAddress(BUF)).unwrap();
        assert_eq!(
            e.call(HYPERVISOR_GRANT_TABLE_OP, GNTTABOP_COPY.into(), BUF, 1),
            HypercallOutcome::Done(0)
        );
        assert_eq!(e.get::<i16>(BUF + status as u64), GNTST_BAD_PAGE);
    }
}

/// Memory reservation defaults: no extent can be given or taken (0 done), the sizes and
/// remove_from_physmap are -ENOSYS.
#[test]
fn memory_reservation_defaults() {
    for w in both() {
        let mut e = Env::new(w);
        let a = match w {
            GuestWidth::Bits64 => e.put(XenMemoryReservation64 {
                extent_start: BUF,
                nr_extents: 1,
                domid: DOMID_SELF,
                ..Default::default()
            }),
            GuestWidth::Bits32 => e.put(XenMemoryReservation32 {
                extent_start: BUF as u32,
                nr_extents: 1,
                domid: DOMID_SELF,
                ..Default::default()
            }),
        };
        for cmd in [
            XENMEM_INCREASE_RESERVATION,
            XENMEM_DECREASE_RESERVATION,
            XENMEM_POPULATE_PHYSMAP,
        ] {
            assert_eq!(
                e.call(HYPERVISOR_MEMORY_OP, cmd.into(), a, 0),
                HypercallOutcome::Done(0)
            );
        }
        let a = e.put(XenMemoryDomain { domid: DOMID_SELF });
        for cmd in [
            XENMEM_MAXIMUM_RAM_PAGE,
            XENMEM_CURRENT_RESERVATION,
            XENMEM_MAXIMUM_RESERVATION,
        ] {
            assert_eq!(
                e.call(HYPERVISOR_MEMORY_OP, cmd.into(), a, 0),
                HypercallOutcome::Done(-i64::from(ENOSYS))
            );
        }
        let a = e.put(XenRemoveFromPhysmap64 {
            domid: DOMID_SELF,
            ..Default::default()
        });
        assert_eq!(
            e.call(
                HYPERVISOR_MEMORY_OP,
                XENMEM_REMOVE_FROM_PHYSMAP.into(),
                a,
                0
            ),
            HypercallOutcome::Done(-i64::from(ENOSYS))
        );
    }
}

/// Defaults of the calls a domU is refused or that keep state: the command line is
/// denied, the build id -EPERM, no shutdown code is kept (-ENOSYS), a remote shutdown of
/// the guest itself is -EPERM and of any other id (only the guest exists) -ESRCH.
#[test]
fn privileged_and_stateful_defaults() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_COMMANDLINE, BUF),
            HypercallOutcome::Done(0)
        );
        assert_eq!(&e.get::<[u8; 9]>(BUF), b"<denied>\0");
        assert_eq!(
            e.op(HYPERVISOR_XEN_VERSION, XENVER_BUILD_ID, 0),
            done(EPERM)
        );
        let a = e.put(SchedShutdown { reason: 3 });
        assert_eq!(
            e.op(HYPERVISOR_SCHED_OP, SCHEDOP_SHUTDOWN_CODE, a),
            done(ENOSYS)
        );
        for (dom, want) in [(1, EPERM), (0, ESRCH), (DOMID_SELF, ESRCH)] {
            let a = e.put(SchedRemoteShutdown {
                domain_id: dom,
                pad: 0,
                reason: 0,
            });
            assert_eq!(
                e.op(HYPERVISOR_SCHED_OP, SCHEDOP_REMOTE_SHUTDOWN, a),
                done(want)
            );
        }
    }
}
