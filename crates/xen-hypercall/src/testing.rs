// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Test support: [`RecordingHypervisor`], a simple in-memory implementation of every handler
//! trait that records the last call. Enabled by the `test-support` feature.

use xen_abi::{
    E820Entry, HvmCallbackVia, XenCapabilitiesInfo, XenChangesetInfo, XenCompileInfo,
    XenExtraversion, E820_RAM, E820_RESERVED, HVM_NR_PARAMS, VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
    XENFEAT_HVM_CALLBACK_VECTOR,
};

use crate::error::{Errno, XenResult};
use crate::guest::AddressTranslate;
use crate::handler::*;
use crate::request::{GrantCopyReq, GrantMapReq, GuestArea, HvmParam, MapSpace, ReservationOp};

/// A handler call, as recorded by [`RecordingHypervisor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Call {
    AddToPhysmap {
        space: MapSpace,
        gfn: u64,
    },
    SetParam(HvmParam),
    SetUpcallVector {
        target: u32,
        vector: u8,
    },
    RegisterVcpuInfo {
        target: u32,
        gfn: u64,
        offset: u32,
    },
    RegisterRunstate {
        target: u32,
        area: Option<GuestArea>,
    },
    RegisterTime {
        target: u32,
        area: Option<GuestArea>,
    },
    SetSingleshot {
        target: u32,
        timeout: u64,
        future: bool,
    },
    StopSingleshot {
        target: u32,
    },
    SetPeriodic {
        target: u32,
        period: u64,
    },
    StopPeriodic {
        target: u32,
    },
    SetTimerOp(Option<u64>),
    Yield,
    Block,
    Poll {
        first_port: Option<u32>,
        nr: usize,
        timeout: Option<u64>,
    },
    Shutdown(u32),
    ShutdownCode(u32),
    RemoteShutdown {
        domid: u16,
        reason: u32,
    },
    BlockAbandoned,
    AllocUnbound {
        remote_dom: u16,
    },
    BindInterdomain {
        remote_dom: u16,
        remote_port: u32,
    },
    BindVirq {
        virq: u32,
        target: u32,
    },
    BindIpi {
        target: u32,
    },
    Close(u32),
    Send(u32),
    Status(u32),
    BindVcpu {
        port: u32,
        target: u32,
    },
    Unmask(u32),
    Reset,
    SetupTable {
        nr_frames: usize,
    },
    SetVersion(u32),
    GetStatusFrames {
        nr_frames: usize,
    },
    MapGrant(GrantMapReq),
    UnmapGrant {
        handle: u32,
    },
    GrantCopy(GrantCopyReq),
    SwapGrant {
        a: u32,
        b: u32,
    },
    Reservation {
        op: ReservationOp,
        gfn: Option<u64>,
        order: u32,
    },
    RemoveFromPhysmap(u64),
    ConsoleWrite {
        len: usize,
    },
    VmAssist {
        vm_type: u32,
        enable: bool,
    },
}

/// An in-memory hypervisor for tests, benches and fuzzing. Where the reference VMM (xen-vmm)
/// refuses something, so does it, with the same errno, so tests assert real behaviour.
#[derive(Debug)]
pub struct RecordingHypervisor {
    /// Domain id.
    pub domid: u16,
    /// vCPU count.
    pub nr_vcpus: u32,
    /// The last handler call.
    pub last: Option<Call>,
    /// Number of handler calls.
    pub calls: u64,
    /// HVM params.
    pub params: [u64; HVM_NR_PARAMS as usize],
    /// Next port returned by the bind/alloc ops.
    pub next_port: u32,
    /// Makes `block`/`poll` return at once.
    pub event_pending: bool,
    /// Memory map.
    pub e820: [E820Entry; 2],
    /// Current grant frames.
    pub grant_frames: u32,
    /// Console bytes written (kept up to 4 KiB).
    pub console: [u8; 4096],
    /// Console bytes written in total.
    pub console_len: usize,
    /// GVA -> GPA: `gpa = gva - gva_offset`; GVAs below the offset are unmapped.
    pub gva_offset: u64,
    /// When set, every fallible handler method fails with it.
    pub fail_with: Option<Errno>,
    /// The first `SCHEDOP_shutdown_code`, reported by later shutdowns (as Xen).
    pub shutdown_code: Option<u32>,
    /// `block_abandoned` calls (blocking multicall entries that returned at once).
    pub abandoned: u32,
    /// Grant table version (1 or 2).
    pub gnttab_version: u32,
    /// Offers `GNTTABOP_get_status_frames` (Xen does not to HVM guests; off by default).
    pub offer_status_frames: bool,
    /// Pages the domain has (`XENMEM_current_reservation`).
    pub pages: u64,
    /// Pages it may have (`XENMEM_maximum_reservation`).
    pub max_pages: u64,
}

impl RecordingHypervisor {
    /// GSIs a callback may use (those of the reference VMM's IOAPIC: 0..48).
    pub const NR_GSIS: u32 = 48;
    /// Frames `0..RAM_PAGES` are the RAM reservation ops accept (1 MiB).
    pub const RAM_PAGES: u64 = 256;
    /// Grant references `0..GRANT_REFS` exist (for the map, swap answers).
    pub const GRANT_REFS: u32 = 16;
    /// The handle of every successful map.
    pub const MAP_HANDLE: u32 = 7;

    /// A domain `domid` with `nr_vcpus` vCPUs and a small memory map.
    pub fn new(domid: u16, nr_vcpus: u32) -> Self {
        Self {
            domid,
            nr_vcpus,
            last: None,
            calls: 0,
            params: [0; HVM_NR_PARAMS as usize],
            next_port: 1,
            event_pending: false,
            e820: [
                E820Entry {
                    addr: 0,
                    size: 0x1000_0000,
                    kind: E820_RAM,
                },
                E820Entry {
                    addr: 0xfc00_0000,
                    size: 0x400_0000,
                    kind: E820_RESERVED,
                },
            ],
            grant_frames: 1,
            console: [0; 4096],
            console_len: 0,
            gva_offset: 0,
            fail_with: None,
            shutdown_code: None,
            abandoned: 0,
            gnttab_version: 1,
            offer_status_frames: false,
            pages: Self::RAM_PAGES,
            max_pages: Self::RAM_PAGES,
        }
    }

    fn rec(&mut self, c: Call) -> XenResult<()> {
        self.last = Some(c);
        self.calls += 1;
        match self.fail_with {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn port(&mut self, c: Call) -> XenResult<u32> {
        self.rec(c)?;
        let p = self.next_port;
        self.next_port = self.next_port.wrapping_add(1);
        Ok(p)
    }
}

impl AddressTranslate for RecordingHypervisor {
    fn translate_gva(&mut self, _vcpu: u32, gva: u64) -> Option<u64> {
        gva.checked_sub(self.gva_offset)
    }
}

fn put(out: &mut [u8], s: &[u8]) {
    let n = s.len().min(out.len().saturating_sub(1));
    out[..n].copy_from_slice(&s[..n]);
}

impl VersionHandler for RecordingHypervisor {
    fn xen_version(&mut self, _vcpu: u32) -> (u16, u16) {
        (4, 17)
    }
    fn extraversion(&mut self, _vcpu: u32, out: &mut XenExtraversion) {
        put(out, b".0-xok");
    }
    fn capabilities(&mut self, _vcpu: u32, out: &mut XenCapabilitiesInfo) {
        put(out, b"hvm-3.0-x86_64 hvm-3.0-x86_32");
    }
    fn compile_info(&mut self, _vcpu: u32, out: &mut XenCompileInfo) {
        put(&mut out.compiler, b"rustc");
    }
    fn changeset(&mut self, _vcpu: u32, out: &mut XenChangesetInfo) {
        put(out, b"xen-on-kvm");
    }
    fn features(&mut self, _vcpu: u32, _submap_idx: u32) -> u32 {
        1 << XENFEAT_HVM_CALLBACK_VECTOR
    }
}

impl MemoryHandler for RecordingHypervisor {
    fn add_to_physmap(&mut self, _vcpu: u32, space: MapSpace, gfn: u64) -> XenResult<()> {
        self.rec(Call::AddToPhysmap { space, gfn })
    }
    fn memory_map(&mut self, _vcpu: u32) -> XenResult<&[E820Entry]> {
        Ok(&self.e820)
    }
    /// Frames below [`RecordingHypervisor::RAM_PAGES`] are RAM; `pages` never exceeds
    /// `max_pages`.
    fn reservation_extent(
        &mut self,
        _vcpu: u32,
        op: ReservationOp,
        gfn: Option<u64>,
        order: u32,
    ) -> bool {
        if self.rec(Call::Reservation { op, gfn, order }).is_err() {
            return false;
        }
        let n = 1u64 << order;
        let in_ram = gfn.is_some_and(|g| g.checked_add(n).is_some_and(|e| e <= Self::RAM_PAGES));
        match op {
            ReservationOp::Decrease if in_ram && self.pages >= n => {
                self.pages -= n;
                true
            }
            ReservationOp::Populate if !in_ram => false,
            ReservationOp::Increase | ReservationOp::Populate
                if self.pages + n <= self.max_pages =>
            {
                self.pages += n;
                true
            }
            _ => false,
        }
    }
    fn maximum_ram_page(&mut self, _vcpu: u32) -> XenResult<u64> {
        Ok(Self::RAM_PAGES)
    }
    fn reservation_size(&mut self, _vcpu: u32, maximum: bool) -> XenResult<u64> {
        Ok(if maximum { self.max_pages } else { self.pages })
    }
    fn remove_from_physmap(&mut self, _vcpu: u32, gfn: u64) -> XenResult<()> {
        self.rec(Call::RemoveFromPhysmap(gfn))?;
        if gfn < Self::RAM_PAGES {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }
}

/// As the reference VMM (xen-vmm): the xenstore and console ring pages are the toolstack's
/// (-EPERM), their event-channel params may be set by the guest (as in Xen), and a callback it cannot deliver is refused with -EINVAL: PCI INTx (there is no
/// PCI device), a GSI at or above [`RecordingHypervisor::NR_GSIS`], a vector below 0x10.
impl HvmHandler for RecordingHypervisor {
    fn set_param(&mut self, _vcpu: u32, param: HvmParam) -> XenResult<()> {
        self.rec(Call::SetParam(param))?;
        let (i, v) = match param {
            HvmParam::CallbackIrq(via) => {
                match via {
                    HvmCallbackVia::None => {}
                    HvmCallbackVia::Gsi(g) if g < Self::NR_GSIS => {}
                    HvmCallbackVia::Vector(v) if v >= 0x10 => {}
                    _ => return Err(Errno::EINVAL),
                }
                (xen_abi::HVM_PARAM_CALLBACK_IRQ, via.to_param())
            }
            HvmParam::StorePfn(_) | HvmParam::ConsolePfn(_) => return Err(Errno::EPERM),
            HvmParam::StoreEvtchn(v) => (xen_abi::HVM_PARAM_STORE_EVTCHN, v),
            HvmParam::ConsoleEvtchn(v) => (xen_abi::HVM_PARAM_CONSOLE_EVTCHN, v),
            HvmParam::Other { index, value } => (index, value),
        };
        *self.params.get_mut(i as usize).ok_or(Errno::EINVAL)? = v;
        Ok(())
    }
    fn get_param(&mut self, _vcpu: u32, index: u32) -> XenResult<u64> {
        if let Some(e) = self.fail_with {
            return Err(e);
        }
        self.params
            .get(index as usize)
            .copied()
            .ok_or(Errno::EINVAL)
    }
    fn set_evtchn_upcall_vector(&mut self, _vcpu: u32, target: u32, vector: u8) -> XenResult<()> {
        self.rec(Call::SetUpcallVector { target, vector })
    }
}

impl VcpuHandler for RecordingHypervisor {
    fn register_vcpu_info(&mut self, _v: u32, target: u32, gfn: u64, offset: u32) -> XenResult<()> {
        self.rec(Call::RegisterVcpuInfo {
            target,
            gfn,
            offset,
        })
    }
    fn register_runstate_area(
        &mut self,
        _v: u32,
        target: u32,
        area: Option<GuestArea>,
    ) -> XenResult<()> {
        self.rec(Call::RegisterRunstate { target, area })
    }
    fn register_time_area(
        &mut self,
        _v: u32,
        target: u32,
        area: Option<GuestArea>,
    ) -> XenResult<()> {
        self.rec(Call::RegisterTime { target, area })
    }
    fn set_singleshot_timer(
        &mut self,
        _v: u32,
        target: u32,
        timeout: u64,
        future: bool,
    ) -> XenResult<()> {
        self.rec(Call::SetSingleshot {
            target,
            timeout,
            future,
        })?;
        // "Now" is 1000 ns in this model.
        if future && timeout < 1000 {
            return Err(Errno::ETIME);
        }
        Ok(())
    }
    fn stop_singleshot_timer(&mut self, _v: u32, target: u32) -> XenResult<()> {
        self.rec(Call::StopSingleshot { target })
    }
    fn set_periodic_timer(&mut self, _v: u32, target: u32, period: u64) -> XenResult<()> {
        self.rec(Call::SetPeriodic { target, period })
    }
    fn stop_periodic_timer(&mut self, _v: u32, target: u32) -> XenResult<()> {
        self.rec(Call::StopPeriodic { target })
    }
    fn set_timer_op(&mut self, _v: u32, deadline_ns: Option<u64>) -> XenResult<()> {
        self.rec(Call::SetTimerOp(deadline_ns))
    }
}

impl SchedHandler for RecordingHypervisor {
    fn yield_now(&mut self, _vcpu: u32) {
        let _ = self.rec(Call::Yield);
    }
    fn block(&mut self, _vcpu: u32) -> HypercallOutcome {
        let _ = self.rec(Call::Block);
        if self.event_pending {
            HypercallOutcome::Done(0)
        } else {
            HypercallOutcome::Block { deadline_ns: None }
        }
    }
    fn poll(&mut self, _vcpu: u32, ports: &[u32], timeout: Option<u64>) -> HypercallOutcome {
        if let Err(e) = self.rec(Call::Poll {
            first_port: ports.first().copied(),
            nr: ports.len(),
            timeout,
        }) {
            return HypercallOutcome::Done(e.to_return());
        }
        if self.event_pending {
            HypercallOutcome::Done(0)
        } else {
            HypercallOutcome::Block {
                deadline_ns: timeout,
            }
        }
    }
    fn shutdown(&mut self, _vcpu: u32, reason: u32) -> HypercallOutcome {
        let _ = self.rec(Call::Shutdown(reason));
        HypercallOutcome::Shutdown(self.shutdown_code.unwrap_or(reason))
    }
    fn shutdown_code(&mut self, _vcpu: u32, reason: u32) -> XenResult<()> {
        self.rec(Call::ShutdownCode(reason))?;
        self.shutdown_code.get_or_insert(reason);
        Ok(())
    }
    fn remote_shutdown(&mut self, _vcpu: u32, domid: u16, reason: u32) -> HypercallOutcome {
        let _ = self.rec(Call::RemoteShutdown { domid, reason });
        HypercallOutcome::Done(Errno::EPERM.to_return())
    }
    fn block_abandoned(&mut self, _vcpu: u32) {
        let _ = self.rec(Call::BlockAbandoned);
        self.abandoned += 1;
    }
}

impl EvtchnHandler for RecordingHypervisor {
    fn alloc_unbound(&mut self, _v: u32, remote_dom: u16) -> XenResult<u32> {
        self.port(Call::AllocUnbound { remote_dom })
    }
    fn bind_interdomain(&mut self, _v: u32, remote_dom: u16, remote_port: u32) -> XenResult<u32> {
        self.port(Call::BindInterdomain {
            remote_dom,
            remote_port,
        })
    }
    fn bind_virq(&mut self, _v: u32, virq: u32, target: u32) -> XenResult<u32> {
        self.port(Call::BindVirq { virq, target })
    }
    fn bind_ipi(&mut self, _v: u32, target: u32) -> XenResult<u32> {
        self.port(Call::BindIpi { target })
    }
    fn close(&mut self, _v: u32, port: u32) -> XenResult<()> {
        self.rec(Call::Close(port))
    }
    fn send(&mut self, _v: u32, port: u32) -> XenResult<()> {
        self.rec(Call::Send(port))
    }
    fn status(&mut self, _v: u32, port: u32) -> XenResult<(PortStatus, u32)> {
        self.rec(Call::Status(port))?;
        Ok((
            PortStatus::Interdomain {
                remote_dom: 0,
                remote_port: port + 100,
            },
            1,
        ))
    }
    fn bind_vcpu(&mut self, _v: u32, port: u32, target: u32) -> XenResult<()> {
        self.rec(Call::BindVcpu { port, target })
    }
    fn unmask(&mut self, _v: u32, port: u32) -> XenResult<()> {
        self.rec(Call::Unmask(port))
    }
    fn reset(&mut self, _v: u32) -> XenResult<()> {
        self.rec(Call::Reset)
    }
}

impl GnttabHandler for RecordingHypervisor {
    fn query_size(&mut self, _vcpu: u32) -> (u32, u32) {
        (self.grant_frames, 4)
    }
    fn setup_table(&mut self, _vcpu: u32, frames: &mut [u64]) -> Result<(), i16> {
        let _ = self.rec(Call::SetupTable {
            nr_frames: frames.len(),
        });
        if frames.len() > 4 {
            return Err(xen_abi::GNTST_GENERAL_ERROR);
        }
        for (i, f) in frames.iter_mut().enumerate() {
            *f = 0xfe000 + i as u64;
        }
        self.grant_frames = self.grant_frames.max(frames.len() as u32);
        Ok(())
    }
    fn set_version(&mut self, _vcpu: u32, version: u32) -> XenResult<()> {
        self.rec(Call::SetVersion(version))?;
        self.gnttab_version = version;
        Ok(())
    }
    fn get_version(&mut self, _vcpu: u32) -> u32 {
        self.gnttab_version
    }
    fn get_status_frames_offered(&self) -> bool {
        self.offer_status_frames
    }
    /// One status frame (at 0xfd000) in v2, none in v1.
    fn get_status_frames(&mut self, _vcpu: u32, frames: &mut [u64]) -> Result<(), i16> {
        let _ = self.rec(Call::GetStatusFrames {
            nr_frames: frames.len(),
        });
        let have = if self.gnttab_version == 2 { 1 } else { 0 };
        if frames.len() > have {
            return Err(xen_abi::GNTST_GENERAL_ERROR);
        }
        for (i, f) in frames.iter_mut().enumerate() {
            *f = 0xfd000 + i as u64;
        }
        Ok(())
    }
    fn map_grant_ref(&mut self, _vcpu: u32, op: &GrantMapReq) -> Result<(u32, u64), i16> {
        let _ = self.rec(Call::MapGrant(*op));
        if op.gref < Self::GRANT_REFS {
            Ok((Self::MAP_HANDLE, 0))
        } else {
            Err(xen_abi::GNTST_BAD_GNTREF)
        }
    }
    fn unmap_grant_ref(&mut self, _vcpu: u32, handle: u32, _host: u64, _dev: u64) -> i16 {
        let _ = self.rec(Call::UnmapGrant { handle });
        if handle == Self::MAP_HANDLE {
            xen_abi::GNTST_OKAY
        } else {
            xen_abi::GNTST_BAD_HANDLE
        }
    }
    fn grant_copy(&mut self, _vcpu: u32, op: &GrantCopyReq) -> i16 {
        let _ = self.rec(Call::GrantCopy(*op));
        xen_abi::GNTST_OKAY
    }
    fn swap_grant_ref(&mut self, _vcpu: u32, a: u32, b: u32) -> i16 {
        let _ = self.rec(Call::SwapGrant { a, b });
        if a < Self::GRANT_REFS && b < Self::GRANT_REFS {
            xen_abi::GNTST_OKAY
        } else {
            xen_abi::GNTST_BAD_GNTREF
        }
    }
}

impl ConsoleHandler for RecordingHypervisor {
    fn console_write(&mut self, _vcpu: u32, bytes: &[u8]) -> XenResult<()> {
        self.rec(Call::ConsoleWrite { len: bytes.len() })?;
        for &b in bytes {
            if let Some(slot) = self.console.get_mut(self.console_len) {
                *slot = b;
            }
            self.console_len += 1;
        }
        Ok(())
    }
    fn console_read(&mut self, _vcpu: u32, buf: &mut [u8]) -> usize {
        let s = b"in";
        let n = s.len().min(buf.len());
        buf[..n].copy_from_slice(&s[..n]);
        n
    }
}

/// Offers `VMASST_TYPE_runstate_update_flag` only (as Xen does for HVM guests).
impl VmAssistHandler for RecordingHypervisor {
    fn vm_assist(&mut self, _vcpu: u32, vm_type: u32, enable: bool) -> XenResult<()> {
        if vm_type != VMASST_TYPE_RUNSTATE_UPDATE_FLAG {
            return Err(Errno::EINVAL);
        }
        self.rec(Call::VmAssist { vm_type, enable })
    }
}

impl Hypervisor for RecordingHypervisor {
    fn domid(&self) -> u16 {
        self.domid
    }
    fn nr_vcpus(&self) -> u32 {
        self.nr_vcpus
    }
    /// The guest and, as in the reference VMM, domain 0 (its backends).
    fn domain_exists(&self, domid: u16) -> bool {
        domid == self.domid || domid == 0
    }
}
