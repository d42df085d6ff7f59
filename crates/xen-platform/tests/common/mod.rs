// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Shared harness of the xen-platform integration tests: 16 MiB of guest
//! memory in a vm-lock `MemoryMap`, a recording [`TestHost`] whose clock the
//! test drives, and helpers that make hypercalls the way a vCPU loop would
//! (`XenPlatform::on_hypercall` with the registers of a 64- or 32-bit guest).
//!
//! No KVM: the "guest" is the test, writing argument structs into guest
//! memory and reading back what the platform wrote.

#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::{
    ByteValued, Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    GuestRegionMmap, MmapRegion,
};
use xen_abi::*;
use xen_hypercall::HypercallRegs;
use xen_platform::{
    HypercallExit, NoVcpuAccess, PlatformConfig, PlatformState, Retry, TimerArm, TimerKind,
    UpcallKind, VcpuAccess, XenHost, XenPlatform,
};

/// Guest RAM: one range from 0.
pub const MEM: u64 = 16 << 20;
/// Scratch page where the tests put hypercall argument structs.
pub const ARGS: u64 = 0x1000;
/// A second scratch page (buffers, port lists).
pub const BUF: u64 = 0x2000;
/// Where the tests place shared_info (a RAM frame).
pub const SHINFO_GFN: u64 = 0x100;
/// Its guest-physical address.
pub const SHINFO: u64 = SHINFO_GFN << 12;
/// 64-bit shared_info: `evtchn_pending[64]` (u64 words).
pub const PENDING64: u64 = 2048;
/// 64-bit shared_info: `evtchn_mask[64]` (u64 words).
pub const MASK64: u64 = 2048 + 512;
/// Host monotonic time when a test VM is created (not 0, so that Xen
/// system time and host time differ).
pub const CLOCK_START: u64 = 1_000_000_000_000;
/// 1 ms in ns.
pub const MS: u64 = 1_000_000;

/// What the platform asked of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// `XenHost::set_timer`.
    Timer {
        /// vCPU.
        vcpu: u32,
        /// Which timer.
        kind: TimerKind,
        /// Armed (`Some`) or cancelled.
        arm: Option<TimerArm>,
    },
    /// `XenHost::upcall`.
    Upcall {
        /// vCPU.
        vcpu: u32,
        /// How to deliver it.
        how: UpcallKind,
    },
    /// `XenHost::kick`.
    Kick {
        /// vCPU.
        vcpu: u32,
    },
    /// `XenHost::release_pages` (answered as [`TestHost::set_balloon`] says).
    Release {
        /// First page.
        gpa: u64,
        /// Pages.
        count: u64,
    },
    /// `XenHost::populate_pages`.
    Populate {
        /// First page.
        gpa: u64,
        /// Pages.
        count: u64,
    },
}

/// A host that records every call (through a channel: the platform calls
/// it with its own locks held, so no lock here) and whose monotonic clock
/// only moves when the test says so.
#[derive(Debug)]
pub struct TestHost {
    clock: AtomicU64,
    events: Sender<HostEvent>,
    balloon: AtomicBool,
}

impl TestHost {
    /// The host's monotonic time now.
    pub fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Moves the clock `ns` ahead.
    pub fn advance(&self, ns: u64) {
        self.clock.fetch_add(ns, Ordering::SeqCst);
    }

    /// Whether `release_pages` / `populate_pages` succeed (off: the defaults'
    /// answer, no ballooning).
    pub fn set_balloon(&self, on: bool) {
        self.balloon.store(on, Ordering::SeqCst);
    }
}

impl XenHost for TestHost {
    fn monotonic_ns(&self) -> u64 {
        self.now()
    }

    fn set_timer(&self, vcpu: u32, kind: TimerKind, arm: Option<TimerArm>) {
        let _ = self.events.send(HostEvent::Timer { vcpu, kind, arm });
    }

    fn upcall(&self, vcpu: u32, how: UpcallKind) {
        let _ = self.events.send(HostEvent::Upcall { vcpu, how });
    }

    fn kick(&self, vcpu: u32) {
        let _ = self.events.send(HostEvent::Kick { vcpu });
    }

    fn release_pages(&self, gpa: u64, count: u64) -> bool {
        let _ = self.events.send(HostEvent::Release { gpa, count });
        self.balloon.load(Ordering::SeqCst)
    }

    fn populate_pages(&self, gpa: u64, count: u64) -> bool {
        let _ = self.events.send(HostEvent::Populate { gpa, count });
        self.balloon.load(Ordering::SeqCst)
    }
}

/// Console output sink: each write goes to a channel.
pub struct Capture(pub Sender<Vec<u8>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The registers of a 64-bit guest's hypercall `nr` (CPL 0).
pub fn regs64(nr: u64, args: &[u64]) -> HypercallRegs {
    let a = |i: usize| args.get(i).copied().unwrap_or(0);
    HypercallRegs::from_regs64(0, nr, a(0), a(1), a(2), a(3), a(4), a(5))
}

/// The registers of a 32-bit guest's hypercall `nr` (CPL 0).
pub fn regs32(nr: u64, args: &[u64]) -> HypercallRegs {
    let a = |i: usize| args.get(i).copied().unwrap_or(0);
    HypercallRegs::from_regs32(0, nr, a(0), a(1), a(2), a(3), a(4), a(5))
}

/// RAX as the guest reads it back: the full register for a 64-bit caller,
/// EAX sign-extended for a 32-bit one.
pub fn signed(regs: &HypercallRegs, rax: u64) -> i64 {
    match regs.mode {
        GuestWidth::Bits64 => rax as i64,
        GuestWidth::Bits32 => i64::from(rax as u32 as i32),
    }
}

/// `-errno` as a hypercall returns it.
pub fn err(errno: i32) -> i64 {
    -i64::from(errno)
}

/// A test VM: the platform, its host, and the test thread's vm-lock root.
pub struct Vm {
    /// The platform under test.
    pub platform: XenPlatform,
    /// Its host.
    pub host: Arc<TestHost>,
    /// What the platform asked of the host.
    pub events: Receiver<HostEvent>,
    /// Console output.
    pub output: Receiver<Vec<u8>>,
    /// This thread's root (made after the platform: `XenPlatform::new`
    /// takes a root of its own while it binds the backend channels).
    pub root: Root,
}

impl Vm {
    /// A VM of `nr_vcpus` vCPUs and [`MEM`] of RAM with the default config.
    pub fn new(nr_vcpus: u32) -> Vm {
        Vm::with_config(PlatformConfig::new(nr_vcpus, MEM))
    }

    /// A VM with `config` over [`MEM`] of RAM.
    pub fn with_config(config: PlatformConfig) -> Vm {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
        let (etx, events) = mpsc::channel();
        let host = Arc::new(TestHost {
            clock: AtomicU64::new(CLOCK_START),
            events: etx,
            balloon: AtomicBool::new(false),
        });
        let (otx, output) = mpsc::channel();
        let platform = XenPlatform::new(
            config,
            MemoryMap::new(mem),
            host.clone(),
            Box::new(Capture(otx)),
        )
        .unwrap();
        Vm {
            platform,
            host,
            events,
            output,
            root: Root::new().unwrap(),
        }
    }

    /// The host calls recorded since the last call of this.
    pub fn events(&self) -> Vec<HostEvent> {
        self.events.try_iter().collect()
    }

    /// The upcalls among [`Vm::events`].
    pub fn upcalls(&self) -> Vec<(u32, UpcallKind)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                HostEvent::Upcall { vcpu, how } => Some((vcpu, how)),
                _ => None,
            })
            .collect()
    }

    /// The timer calls among [`Vm::events`].
    pub fn timers(&self) -> Vec<(u32, TimerKind, Option<TimerArm>)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                HostEvent::Timer { vcpu, kind, arm } => Some((vcpu, kind, arm)),
                _ => None,
            })
            .collect()
    }

    /// Console output written since the last call of this.
    pub fn output(&self) -> Vec<u8> {
        self.output.try_iter().flatten().collect()
    }

    /// Hypercall `regs` of vCPU `vcpu` (paging off, no pvclock).
    pub fn call(&mut self, vcpu: u32, regs: &HypercallRegs) -> HypercallExit {
        self.call_retry(vcpu, regs, Retry::No)
    }

    /// As [`Vm::call`], repeating a call that asked for a page.
    pub fn call_retry(&mut self, vcpu: u32, regs: &HypercallRegs, retry: Retry) -> HypercallExit {
        self.platform.on_hypercall(
            self.root.token(),
            vcpu,
            regs,
            false,
            &mut NoVcpuAccess,
            retry,
        )
    }

    /// As [`Vm::call`] through `access` with paging `paging`.
    pub fn call_with(
        &mut self,
        vcpu: u32,
        regs: &HypercallRegs,
        paging: bool,
        access: &mut dyn VcpuAccess,
    ) -> HypercallExit {
        self.platform
            .on_hypercall(self.root.token(), vcpu, regs, paging, access, Retry::No)
    }

    /// A hypercall that must resume the vCPU: its result as the guest sees it.
    pub fn ret(&mut self, vcpu: u32, regs: &HypercallRegs) -> i64 {
        match self.call(vcpu, regs) {
            HypercallExit::Resume { rax } => signed(regs, rax),
            other => panic!("hypercall {} returned {other:?}", regs.nr),
        }
    }

    /// 64-bit hypercall `nr` of vCPU `vcpu` that resumes: its result.
    pub fn hc(&mut self, vcpu: u32, nr: u64, args: &[u64]) -> i64 {
        self.ret(vcpu, &regs64(nr, args))
    }

    /// 32-bit hypercall `nr` of vCPU `vcpu` that resumes: its result.
    pub fn hc32(&mut self, vcpu: u32, nr: u64, args: &[u64]) -> i64 {
        self.ret(vcpu, &regs32(nr, args))
    }

    /// Reads a `T` at `gpa`.
    pub fn read<T: ByteValued>(&mut self, gpa: u64) -> T {
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.read_obj(GuestAddress(gpa)).unwrap()
    }

    /// Writes `v` at `gpa`.
    pub fn write<T: ByteValued>(&mut self, gpa: u64, v: T) {
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.write_obj(v, GuestAddress(gpa)).unwrap();
    }

    /// Reads `len` bytes at `gpa`.
    pub fn read_bytes(&mut self, gpa: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.read_slice(&mut b, GuestAddress(gpa)).unwrap();
        b
    }

    /// Writes `bytes` at `gpa`.
    pub fn write_bytes(&mut self, gpa: u64, bytes: &[u8]) {
        let (m, _t) = self.platform.memory().read(self.root.token());
        m.write_slice(bytes, GuestAddress(gpa)).unwrap();
    }

    /// Backs page `gpa` (outside RAM) with memory, as a VMM answers
    /// `HypercallExit::MapPage`: a new map with the extra region, installed
    /// with `MemoryMap::replace`.
    pub fn add_page(&mut self, gpa: u64) {
        let new = {
            let (m, _t) = self.platform.memory().read(self.root.token());
            assert!(!m.address_in_range(GuestAddress(gpa)), "{gpa:#x} is RAM");
            let region =
                GuestRegionMmap::new(MmapRegion::new(0x1000).unwrap(), GuestAddress(gpa)).unwrap();
            m.insert_region(Arc::new(region)).unwrap()
        };
        self.platform.memory().replace(self.root.token(), new);
    }

    /// A copy of guest memory (every region, same contents).
    pub fn copy_memory(&mut self) -> GuestMemoryMmap {
        let (m, _t) = self.platform.memory().read(self.root.token());
        let ranges: Vec<(GuestAddress, usize)> = m
            .iter()
            .map(|r| (r.start_addr(), r.len() as usize))
            .collect();
        let copy = GuestMemoryMmap::<()>::from_ranges(&ranges).unwrap();
        for (start, len) in ranges {
            let mut b = vec![0u8; len];
            m.read_slice(&mut b, start).unwrap();
            copy.write_slice(&b, start).unwrap();
        }
        copy
    }

    /// The platform's state now.
    pub fn state(&mut self) -> PlatformState {
        self.platform.state(self.root.token())
    }

    /// Saves the platform and restores it with `config` over a copy of
    /// guest memory, keeping the host (and its clock) and the console
    /// output. `before_restore` runs between the two (e.g. to move the
    /// clock).
    pub fn save_restore(
        mut self,
        config: PlatformConfig,
        before_restore: impl FnOnce(&TestHost),
    ) -> xen_platform::Result<Vm> {
        let state = self.state();
        let mem = self.copy_memory();
        let output = self.platform.take_output();
        let Vm {
            platform,
            host,
            events,
            output: out_rx,
            root,
        } = self;
        // `XenPlatform::restore` takes this thread's root for its own steps.
        drop(root);
        drop(platform);
        before_restore(&host);
        let platform =
            XenPlatform::restore(config, MemoryMap::new(mem), host.clone(), output, &state)?;
        Ok(Vm {
            platform,
            host,
            events,
            output: out_rx,
            root: Root::new().unwrap(),
        })
    }

    // ---- guest-side helpers (64-bit ABI) ----

    /// `XENMEM_add_to_physmap(XENMAPSPACE_shared_info, gfn)` from vCPU 0.
    pub fn add_to_physmap_regs(&mut self, space: u32, idx: u64, gfn: u64) -> HypercallRegs {
        self.write(
            ARGS,
            XenAddToPhysmap64 {
                domid: DOMID_SELF,
                size: 0,
                space,
                idx,
                gpfn: gfn,
            },
        );
        regs64(
            HYPERVISOR_MEMORY_OP,
            &[u64::from(XENMEM_ADD_TO_PHYSMAP), ARGS],
        )
    }

    /// Places shared_info at RAM frame `gfn` (64-bit guest).
    pub fn map_shared_info(&mut self, gfn: u64) {
        let r = self.add_to_physmap_regs(XENMAPSPACE_SHARED_INFO, 0, gfn);
        assert_eq!(self.ret(0, &r), 0, "add_to_physmap(shared_info)");
    }

    /// `HVMOP_set_param`: the result.
    pub fn set_param(&mut self, index: u32, value: u64) -> i64 {
        self.write(
            ARGS,
            XenHvmParam {
                domid: DOMID_SELF,
                pad: 0,
                index,
                value,
            },
        );
        self.hc(0, HYPERVISOR_HVM_OP, &[u64::from(HVMOP_SET_PARAM), ARGS])
    }

    /// `HVMOP_get_param`: the value (the call must succeed).
    pub fn get_param(&mut self, index: u32) -> u64 {
        self.write(
            ARGS,
            XenHvmParam {
                domid: DOMID_SELF,
                pad: 0,
                index,
                value: 0,
            },
        );
        assert_eq!(
            self.hc(0, HYPERVISOR_HVM_OP, &[u64::from(HVMOP_GET_PARAM), ARGS]),
            0,
            "get_param({index})"
        );
        self.read::<XenHvmParam>(ARGS).value
    }

    /// `HVM_PARAM_CALLBACK_IRQ` = vector `v`.
    pub fn callback_vector(&mut self, v: u8) {
        let value = (u64::from(HVM_PARAM_CALLBACK_TYPE_VECTOR) << 56) | u64::from(v);
        assert_eq!(self.set_param(HVM_PARAM_CALLBACK_IRQ, value), 0);
    }

    /// `HVMOP_set_evtchn_upcall_vector` for `vcpu`: the result.
    pub fn upcall_vector(&mut self, vcpu: u32, vector: u8) -> i64 {
        self.write(
            ARGS,
            XenHvmEvtchnUpcallVector {
                vcpu,
                vector,
                pad: [0; 3],
            },
        );
        self.hc(
            vcpu,
            HYPERVISOR_HVM_OP,
            &[u64::from(HVMOP_SET_EVTCHN_UPCALL_VECTOR), ARGS],
        )
    }

    /// `EVTCHNOP_bind_ipi` toward `target`: the port (must succeed).
    pub fn bind_ipi(&mut self, target: u32) -> u32 {
        self.write(
            ARGS,
            EvtchnBindIpi {
                vcpu: target,
                port: 0,
            },
        );
        let r = self.hc(
            0,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_BIND_IPI), ARGS],
        );
        assert_eq!(r, 0, "bind_ipi({target})");
        self.read::<EvtchnBindIpi>(ARGS).port
    }

    /// `EVTCHNOP_bind_virq` of `virq` to `vcpu`: the port (must succeed).
    pub fn bind_virq(&mut self, virq: u32, vcpu: u32) -> u32 {
        self.write(
            ARGS,
            EvtchnBindVirq {
                virq,
                vcpu,
                port: 0,
            },
        );
        let r = self.hc(
            0,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_BIND_VIRQ), ARGS],
        );
        assert_eq!(r, 0, "bind_virq({virq}, {vcpu})");
        self.read::<EvtchnBindVirq>(ARGS).port
    }

    /// `EVTCHNOP_send` on `port` from `vcpu`: the result.
    pub fn send(&mut self, vcpu: u32, port: u32) -> i64 {
        self.write(ARGS, EvtchnSend { port });
        self.hc(
            vcpu,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_SEND), ARGS],
        )
    }

    /// `EVTCHNOP_unmask` of `port`: the result.
    pub fn unmask(&mut self, port: u32) -> i64 {
        self.write(ARGS, EvtchnUnmask { port });
        self.hc(
            0,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_UNMASK), ARGS],
        )
    }

    /// `EVTCHNOP_status` of `port`: (result, status struct).
    pub fn status(&mut self, port: u32) -> (i64, EvtchnStatus) {
        self.write(
            ARGS,
            EvtchnStatus {
                dom: DOMID_SELF,
                port,
                ..Default::default()
            },
        );
        let r = self.hc(
            0,
            HYPERVISOR_EVENT_CHANNEL_OP,
            &[u64::from(EVTCHNOP_STATUS), ARGS],
        );
        (r, self.read(ARGS))
    }

    /// Whether `port` is pending in the 64-bit shared_info at [`SHINFO`].
    pub fn port_pending(&mut self, port: u32) -> bool {
        let w: u64 = self.read(SHINFO + PENDING64 + u64::from(port / 64) * 8);
        w & (1 << (port % 64)) != 0
    }

    /// Sets or clears `port`'s mask bit in the 64-bit shared_info.
    pub fn set_mask(&mut self, port: u32, masked: bool) {
        let at = SHINFO + MASK64 + u64::from(port / 64) * 8;
        let w: u64 = self.read(at);
        let bit = 1u64 << (port % 64);
        self.write(at, if masked { w | bit } else { w & !bit });
    }

    /// vCPU `v`'s legacy vcpu_info in the shared_info at [`SHINFO`].
    pub fn vcpu_info(v: u32) -> u64 {
        SHINFO + 64 * u64::from(v)
    }

    /// vCPU `v`'s `evtchn_upcall_pending`.
    pub fn upcall_pending_byte(&mut self, v: u32) -> u8 {
        self.read(Vm::vcpu_info(v))
    }

    /// vCPU `v`'s `evtchn_pending_sel` (64-bit).
    pub fn pending_sel(&mut self, v: u32) -> u64 {
        self.read(Vm::vcpu_info(v) + 8)
    }

    /// `platform.pending_upcall(vcpu)`.
    pub fn pending_upcall(&mut self, vcpu: u32) -> Option<UpcallKind> {
        self.platform.pending_upcall(self.root.token(), vcpu)
    }

    /// `VCPUOP_set_singleshot_timer` of `vcpu` for itself: the result.
    pub fn singleshot(&mut self, vcpu: u32, timeout_abs_ns: u64, flags: u32) -> i64 {
        self.write(
            ARGS,
            VcpuSetSingleshotTimer64 {
                timeout_abs_ns,
                flags,
                pad: 0,
            },
        );
        self.hc(
            vcpu,
            HYPERVISOR_VCPU_OP,
            &[
                u64::from(VCPUOP_SET_SINGLESHOT_TIMER),
                u64::from(vcpu),
                ARGS,
            ],
        )
    }

    /// `VCPUOP_set_periodic_timer` of `vcpu` for `target`: the result.
    pub fn periodic(&mut self, vcpu: u32, target: u32, period_ns: u64) -> i64 {
        self.write(ARGS, VcpuSetPeriodicTimer { period_ns });
        self.hc(
            vcpu,
            HYPERVISOR_VCPU_OP,
            &[
                u64::from(VCPUOP_SET_PERIODIC_TIMER),
                u64::from(target),
                ARGS,
            ],
        )
    }
}
