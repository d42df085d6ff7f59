// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Register and argument decoding into a typed [`Request`].

use vm_memory::{Bytes, GuestAddress};
use xen_abi::*;

use crate::error::{Errno, XenResult};
use crate::guest::{AddressTranslate, GuestAccess};
use crate::regs::HypercallRegs;
use crate::request::*;

/// Caller facts needed to validate arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeContext {
    /// Calling vCPU.
    pub vcpu: u32,
    /// The guest's domain id.
    pub domid: u16,
    /// Number of vCPUs of the guest.
    pub nr_vcpus: u32,
    /// `GNTTABOP_get_status_frames` is offered (Xen refuses it to HVM/PVH guests:
    /// -ENOSYS; see [`GnttabHandler::get_status_frames_offered`](crate::GnttabHandler)).
    pub status_frames_op: bool,
}

impl DecodeContext {
    /// The context of a hypercall of vCPU `vcpu` in domain `domid` with `nr_vcpus` vCPUs
    /// (`GNTTABOP_get_status_frames` not offered).
    pub fn new(vcpu: u32, domid: u16, nr_vcpus: u32) -> Self {
        Self {
            vcpu,
            domid,
            nr_vcpus,
            status_frames_op: false,
        }
    }

    fn is_self(&self, dom: u16) -> bool {
        dom == DOMID_SELF || dom == self.domid
    }

    fn check_self(&self, dom: u16) -> XenResult<()> {
        if self.is_self(dom) {
            Ok(())
        } else {
            Err(Errno::ESRCH)
        }
    }

    fn check_vcpu(&self, vcpu: u32) -> XenResult<u32> {
        if vcpu < self.nr_vcpus {
            Ok(vcpu)
        } else {
            Err(Errno::ENOENT)
        }
    }
}

/// Period below which `VCPUOP_set_periodic_timer` is rejected (1 ms, as Xen).
pub const MIN_PERIODIC_TIMER_NS: u64 = 1_000_000;

/// Decodes the hypercall in `regs` into a [`Request`], reading argument structs from guest
/// memory (through `xlate`) with bounds checks.
///
/// Errors: -EPERM from CPL > 0, -ENOSYS for unknown hypercalls and sub-ops, -EFAULT for bad
/// pointers, -EINVAL/-ESRCH/-ENOENT for invalid arguments.
pub fn decode<M, T>(
    regs: &HypercallRegs,
    ctx: &DecodeContext,
    mem: &M,
    xlate: &mut T,
) -> XenResult<Request>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    if regs.cpl != 0 {
        return Err(Errno::EPERM);
    }
    let mut g = GuestAccess::new(mem, xlate, ctx.vcpu, regs.mode);
    let a0 = regs.arg(0);
    let a1 = regs.arg(1);
    let a2 = regs.arg(2);
    let cmd = a0 as u32;
    // Xen takes `cmd` as a C int: upper bits of a 64-bit register are ignored, except for
    // memory_op whose upper bits encode a continuation we never use.
    match regs.nr {
        HYPERVISOR_XEN_VERSION => decode_version(cmd, a1, &mut g).map(Request::XenVersion),
        HYPERVISOR_MEMORY_OP => decode_memory(regs, ctx, a0, a1, &mut g).map(Request::Memory),
        HYPERVISOR_HVM_OP => decode_hvm(ctx, cmd, a1, &mut g).map(Request::Hvm),
        HYPERVISOR_VCPU_OP => decode_vcpu(regs, ctx, cmd, a1 as u32, a2, &mut g),
        HYPERVISOR_SET_TIMER_OP => {
            let t = match regs.mode {
                GuestWidth::Bits64 => a0,
                // 32-bit guests pass the 64-bit deadline as (low in EBX, high in ECX).
                GuestWidth::Bits32 => a0 | (a1 << 32),
            };
            Ok(Request::SetTimer {
                deadline_ns: (t != 0).then_some(t),
            })
        }
        HYPERVISOR_SCHED_OP => decode_sched(regs, cmd, a1, &mut g).map(Request::Sched),
        HYPERVISOR_EVENT_CHANNEL_OP => decode_evtchn(ctx, cmd, a1, &mut g).map(Request::Evtchn),
        HYPERVISOR_GRANT_TABLE_OP => {
            decode_gnttab(regs, ctx, cmd, a1, a2, &mut g).map(Request::Gnttab)
        }
        HYPERVISOR_CONSOLE_IO => decode_console(cmd, a1, a2).map(Request::Console),
        HYPERVISOR_VM_ASSIST => decode_vm_assist(cmd, a1 as u32).map(Request::VmAssist),
        HYPERVISOR_MULTICALL => {
            // `nr_calls` is a `uint32_t`: upper register bits are ignored.
            let nr_calls = a1 as u32;
            if nr_calls > MAX_MULTICALL_CALLS {
                return Err(Errno::E2BIG);
            }
            Ok(Request::Multicall { list: a0, nr_calls })
        }
        // Xen's HVM filter (`hvm_physdev_op`) answers -ENOSYS to every sub-op for a domain
        // without PIRQs (the PIRQ ones) that is not the hardware domain (the others),
        // before reading the argument. PIRQs are not offered (no `XENFEAT_hvm_pirqs`).
        HYPERVISOR_PHYSDEV_OP => Err(Errno::ENOSYS),
        HYPERVISOR_SYSCTL => {
            // As `do_sysctl`: the whole struct is read (-EFAULT), then the interface
            // version is checked (-EACCES); the privilege check comes after.
            let s: XenSysctl = g.read_obj(a0)?;
            if s.interface_version != XEN_SYSCTL_INTERFACE_VERSION {
                return Err(Errno::EACCES);
            }
            Ok(Request::Sysctl { cmd: s.cmd })
        }
        HYPERVISOR_DOMCTL => {
            // As `do_domctl`: read (-EFAULT), version (-EACCES), then the target domain
            // (-ESRCH) and the privilege check, in `execute`.
            let d: XenDomctl = g.read_obj(a0)?;
            if d.interface_version != XEN_DOMCTL_INTERFACE_VERSION {
                return Err(Errno::EACCES);
            }
            Ok(Request::Domctl {
                cmd: d.cmd,
                domain: d.domain,
            })
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Xen checks the type first (-EINVAL beyond the bit width of its mask), then the command
/// (-ENOSYS for anything but enable/disable).
fn decode_vm_assist(cmd: u32, vm_type: u32) -> XenResult<VmAssistReq> {
    if vm_type >= u64::BITS {
        return Err(Errno::EINVAL);
    }
    let enable = match cmd {
        VMASST_CMD_ENABLE => true,
        VMASST_CMD_DISABLE => false,
        _ => return Err(Errno::ENOSYS),
    };
    Ok(VmAssistReq { enable, vm_type })
}

fn decode_version<M, T>(
    cmd: u32,
    arg: u64,
    g: &mut GuestAccess<'_, M, T>,
) -> XenResult<XenVersionReq>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    Ok(match cmd {
        XENVER_VERSION => XenVersionReq::Version,
        XENVER_EXTRAVERSION => XenVersionReq::Extraversion { out: arg },
        XENVER_COMPILE_INFO => XenVersionReq::CompileInfo { out: arg },
        XENVER_CAPABILITIES => XenVersionReq::Capabilities { out: arg },
        XENVER_CHANGESET => XenVersionReq::Changeset { out: arg },
        XENVER_GET_FEATURES => {
            let f: XenFeatureInfo = g.read_obj(arg)?;
            if f.submap_idx >= XENFEAT_NR_SUBMAPS {
                return Err(Errno::EINVAL);
            }
            XenVersionReq::GetFeatures {
                submap_idx: f.submap_idx,
                out: arg,
            }
        }
        // Xen wants a NULL argument here.
        XENVER_PAGESIZE if arg != 0 => return Err(Errno::EINVAL),
        XENVER_PAGESIZE => XenVersionReq::Pagesize,
        XENVER_PLATFORM_PARAMETERS => XenVersionReq::PlatformParameters { out: arg },
        XENVER_GUEST_HANDLE => XenVersionReq::GuestHandle { out: arg },
        XENVER_COMMANDLINE => XenVersionReq::Commandline { out: arg },
        XENVER_BUILD_ID => XenVersionReq::BuildId { arg },
        _ => return Err(Errno::ENOSYS),
    })
}

fn decode_memory<M, T>(
    regs: &HypercallRegs,
    ctx: &DecodeContext,
    cmd: u64,
    arg: u64,
    g: &mut GuestAccess<'_, M, T>,
) -> XenResult<MemoryReq>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    // As Xen: the low bits select the sub-op, the others are the extent a continued call
    // starts at (this crate never continues a call, but a guest may pass them).
    let start = cmd >> MEMOP_EXTENT_SHIFT;
    let cmd = (cmd & ((1 << MEMOP_EXTENT_SHIFT) - 1)) as u32;
    match cmd {
        XENMEM_ADD_TO_PHYSMAP => {
            if start > u64::from(u16::MAX) {
                return Err(Errno::EDOM);
            }
            let (domid, space, idx, gpfn) = match regs.mode {
                GuestWidth::Bits64 => {
                    let x: XenAddToPhysmap64 = g.read_obj(arg)?;
                    (x.domid, x.space, x.idx, x.gpfn)
                }
                GuestWidth::Bits32 => {
                    let x: XenAddToPhysmap32 = g.read_obj(arg)?;
                    (x.domid, x.space, u64::from(x.idx), u64::from(x.gpfn))
                }
            };
            // Foreign mappings go through add_to_physmap_batch only.
            if space == XENMAPSPACE_GMFN_FOREIGN {
                return Err(Errno::ENOSYS);
            }
            ctx.check_self(domid)?;
            let space = match space {
                // Only the hardware domain maps device MMIO.
                XENMAPSPACE_DEV_MMIO => return Err(Errno::EACCES),
                XENMAPSPACE_GMFN | XENMAPSPACE_GMFN_RANGE => return Err(Errno::EOPNOTSUPP),
                s => map_space(s, idx)?,
            };
            // A GFN must give a page address representable in 64 bits (52-bit phys max).
            if gpfn >> (64 - XEN_PAGE_SHIFT) != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(MemoryReq::AddToPhysmap { space, gfn: gpfn })
        }
        XENMEM_INCREASE_RESERVATION | XENMEM_DECREASE_RESERVATION | XENMEM_POPULATE_PHYSMAP => {
            let op = match cmd {
                XENMEM_INCREASE_RESERVATION => ReservationOp::Increase,
                XENMEM_DECREASE_RESERVATION => ReservationOp::Decrease,
                _ => ReservationOp::Populate,
            };
            let read = match regs.mode {
                GuestWidth::Bits64 => g.read_obj::<XenMemoryReservation64>(arg).map(|r| {
                    (
                        r.extent_start,
                        r.nr_extents,
                        r.extent_order,
                        r.mem_flags,
                        r.domid,
                    )
                }),
                GuestWidth::Bits32 => g.read_obj::<XenMemoryReservation32>(arg).map(|r| {
                    (
                        u64::from(r.extent_start),
                        u64::from(r.nr_extents),
                        r.extent_order,
                        r.mem_flags,
                        r.domid,
                    )
                }),
            };
            let res =
                read.ok()
                    .and_then(|(extent_start, nr_extents, extent_order, flags, domid)| {
                        let r = Reservation {
                            extent_start,
                            nr_extents,
                            extent_order,
                        };
                        reservation_ok(ctx, op, start, &r, flags, domid).then_some(r)
                    });
            Ok(MemoryReq::Reservation {
                op,
                start_extent: start,
                res,
            })
        }
        XENMEM_MAXIMUM_RAM_PAGE => {
            if start != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(MemoryReq::MaximumRamPage)
        }
        XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => {
            if start != 0 {
                return Err(Errno::EINVAL);
            }
            let d: XenMemoryDomain = g.read_obj(arg)?;
            Ok(MemoryReq::ReservationSize {
                maximum: cmd == XENMEM_MAXIMUM_RESERVATION,
                domid: d.domid,
            })
        }
        XENMEM_REMOVE_FROM_PHYSMAP => {
            if start != 0 {
                return Err(Errno::EINVAL);
            }
            let (domid, gfn) = match regs.mode {
                GuestWidth::Bits64 => {
                    let x: XenRemoveFromPhysmap64 = g.read_obj(arg)?;
                    (x.domid, x.gpfn)
                }
                GuestWidth::Bits32 => {
                    let x: XenRemoveFromPhysmap32 = g.read_obj(arg)?;
                    (x.domid, u64::from(x.gpfn))
                }
            };
            Ok(MemoryReq::RemoveFromPhysmap { domid, gfn })
        }
        XENMEM_ADD_TO_PHYSMAP_BATCH => {
            let start = u16::try_from(start).map_err(|_| Errno::EDOM)?;
            let (domid, space, size, idxs, gpfns, errs) = match regs.mode {
                GuestWidth::Bits64 => {
                    let x: XenAddToPhysmapBatch64 = g.read_obj(arg)?;
                    (x.domid, x.space, x.size, x.idxs, x.gpfns, x.errs)
                }
                GuestWidth::Bits32 => {
                    let x: XenAddToPhysmapBatch32 = g.read_obj(arg)?;
                    (
                        x.domid,
                        x.space,
                        x.size,
                        u64::from(x.idxs),
                        u64::from(x.gpfns),
                        u64::from(x.errs),
                    )
                }
            };
            if u32::from(space) == XENMAPSPACE_GMFN_RANGE {
                return Err(Errno::EOPNOTSUPP);
            }
            Ok(MemoryReq::AddToPhysmapBatch {
                domid,
                space: u32::from(space),
                size,
                start,
                idxs,
                gpfns,
                errs,
            })
        }
        // An arch sub-op: Xen matches the whole command, extent bits included.
        XENMEM_MEMORY_MAP if start == 0 => {
            let (capacity, buffer) = match regs.mode {
                GuestWidth::Bits64 => {
                    let m: XenMemoryMap64 = g.read_obj(arg)?;
                    (m.nr_entries, m.buffer)
                }
                GuestWidth::Bits32 => {
                    let m: XenMemoryMap32 = g.read_obj(arg)?;
                    (m.nr_entries, u64::from(m.buffer))
                }
            };
            Ok(MemoryReq::MemoryMap {
                capacity,
                buffer,
                out: arg,
            })
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// The `map_space` of an `add_to_physmap` index in the spaces this crate hands to the
/// handler: shared_info (index 0, else -EINVAL, as Xen finds no frame), grant table;
/// -EOPNOTSUPP for the GMFN spaces (not offered), -EINVAL for unknown spaces.
pub(crate) fn map_space(space: u32, idx: u64) -> XenResult<MapSpace> {
    match space {
        XENMAPSPACE_SHARED_INFO if idx == 0 => Ok(MapSpace::SharedInfo),
        XENMAPSPACE_SHARED_INFO => Err(Errno::EINVAL),
        XENMAPSPACE_GRANT_TABLE => {
            let status = idx & XENMAPIDX_GRANT_TABLE_STATUS != 0;
            let frame = idx & !XENMAPIDX_GRANT_TABLE_STATUS;
            let frame = u32::try_from(frame).map_err(|_| Errno::EINVAL)?;
            Ok(MapSpace::GrantTable { frame, status })
        }
        XENMAPSPACE_GMFN | XENMAPSPACE_GMFN_RANGE => Err(Errno::EOPNOTSUPP),
        _ => Err(Errno::EINVAL),
    }
}

/// Xen's checks of a reservation before any extent (each failure ends the call with
/// `start_extent` done): continuation range, domain (a domU adjusts only itself), address
/// bits, NUMA node, populate-on-demand (not on oneself), extent order.
fn reservation_ok(
    ctx: &DecodeContext,
    op: ReservationOp,
    start: u64,
    r: &Reservation,
    flags: u32,
    domid: u16,
) -> bool {
    if r.nr_extents > u64::from(u32::MAX >> MEMOP_EXTENT_SHIFT) || start >= r.nr_extents {
        return false;
    }
    if !ctx.is_self(domid) {
        return false;
    }
    // Address bits 1..=12 ask for memory below one page.
    if (1..=XEN_PAGE_SHIFT).contains(&(flags & XENMEMF_ADDRESS_BITS_MASK)) {
        return false;
    }
    // A domU may name a node, but not insist on it (no vNUMA here).
    let node = ((flags >> 8).wrapping_sub(1)) & 0xff;
    if flags & XENMEMF_VNODE == 0 && node != 0xff && flags & XENMEMF_EXACT_NODE_REQUEST != 0 {
        return false;
    }
    if op == ReservationOp::Populate && flags & XENMEMF_POPULATE_ON_DEMAND != 0 {
        return false;
    }
    r.extent_order <= MAX_DOMU_EXTENT_ORDER
}

fn decode_hvm<M, T>(
    ctx: &DecodeContext,
    cmd: u32,
    arg: u64,
    g: &mut GuestAccess<'_, M, T>,
) -> XenResult<HvmReq>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    match cmd {
        HVMOP_SET_PARAM | HVMOP_GET_PARAM => {
            let p: XenHvmParam = g.read_obj(arg)?;
            ctx.check_self(p.domid)?;
            if p.index >= HVM_NR_PARAMS {
                return Err(Errno::EINVAL);
            }
            if cmd == HVMOP_GET_PARAM {
                return Ok(HvmReq::GetParam {
                    index: p.index,
                    out: arg,
                });
            }
            let v = p.value;
            let param = match p.index {
                // Never an error, as in Xen: see `HvmCallbackVia::from_param`.
                HVM_PARAM_CALLBACK_IRQ => HvmParam::CallbackIrq(HvmCallbackVia::from_param(v)),
                HVM_PARAM_STORE_PFN => HvmParam::StorePfn(v),
                HVM_PARAM_STORE_EVTCHN => HvmParam::StoreEvtchn(v),
                HVM_PARAM_CONSOLE_PFN => HvmParam::ConsolePfn(v),
                HVM_PARAM_CONSOLE_EVTCHN => HvmParam::ConsoleEvtchn(v),
                index => HvmParam::Other { index, value: v },
            };
            Ok(HvmReq::SetParam(param))
        }
        HVMOP_SET_EVTCHN_UPCALL_VECTOR => {
            let u: XenHvmEvtchnUpcallVector = g.read_obj(arg)?;
            if u.vector < 0x10 {
                return Err(Errno::EINVAL);
            }
            Ok(HvmReq::SetEvtchnUpcallVector {
                vcpu: ctx.check_vcpu(u.vcpu)?,
                vector: u.vector,
            })
        }
        _ => Err(Errno::ENOSYS),
    }
}

fn guest_area<M, T>(
    g: &mut GuestAccess<'_, M, T>,
    gva: u64,
    len: usize,
) -> XenResult<Option<GuestArea>>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    if gva == 0 {
        return Ok(None);
    }
    let gpa = g.translate(gva)?;
    let in_page = (XEN_PAGE_SIZE - (gva & (XEN_PAGE_SIZE - 1))) as usize;
    let split = if in_page < len {
        let second = gva.checked_add(in_page as u64).ok_or(Errno::EFAULT)?;
        Some((in_page, g.translate(second)?))
    } else {
        // Still check the last byte is addressable for this width.
        g.translate(gva + len as u64 - 1)?;
        None
    };
    Ok(Some(GuestArea {
        gva,
        gpa,
        len,
        split,
    }))
}

fn decode_vcpu<M, T>(
    regs: &HypercallRegs,
    ctx: &DecodeContext,
    cmd: u32,
    target: u32,
    arg: u64,
    g: &mut GuestAccess<'_, M, T>,
) -> XenResult<Request>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    // Unknown sub-ops are -ENOSYS whatever the vCPU id.
    if !matches!(
        cmd,
        VCPUOP_REGISTER_VCPU_INFO
            | VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA
            | VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA
            | VCPUOP_SET_SINGLESHOT_TIMER
            | VCPUOP_STOP_SINGLESHOT_TIMER
            | VCPUOP_SET_PERIODIC_TIMER
            | VCPUOP_STOP_PERIODIC_TIMER
            | VCPUOP_INITIALISE
            | VCPUOP_UP
            | VCPUOP_DOWN
            | VCPUOP_IS_UP
            | VCPUOP_GET_RUNSTATE_INFO
    ) {
        return Err(Errno::ENOSYS);
    }
    let target = ctx.check_vcpu(target)?;
    // 32-bit guests may fill only the low half of the handle/uint64 unions.
    let area_addr = |a: u64| match regs.mode {
        GuestWidth::Bits64 => a,
        GuestWidth::Bits32 => a & 0xffff_ffff,
    };
    let op = match cmd {
        VCPUOP_REGISTER_VCPU_INFO => {
            let r: VcpuRegisterVcpuInfo = g.read_obj(arg)?;
            let vi_size = match regs.mode {
                GuestWidth::Bits64 => core::mem::size_of::<VcpuInfo64>(),
                GuestWidth::Bits32 => core::mem::size_of::<VcpuInfo32>(),
            } as u64;
            // `rsvd` is ignored, as Xen does: Linux (e.g. 5.10) leaves it uninitialised.
            if u64::from(r.offset) > XEN_PAGE_SIZE - vi_size {
                return Err(Errno::EINVAL);
            }
            if r.mfn >> (64 - XEN_PAGE_SHIFT) != 0 {
                return Err(Errno::EINVAL);
            }
            VcpuReq::RegisterVcpuInfo {
                gfn: r.mfn,
                offset: r.offset,
            }
        }
        VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA => {
            let r: VcpuRegisterRunstateMemoryArea = g.read_obj(arg)?;
            let len = regs.mode.runstate_info_size();
            VcpuReq::RegisterRunstateArea(guest_area(g, area_addr(r.addr), len)?)
        }
        VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA => {
            let r: VcpuRegisterTimeMemoryArea = g.read_obj(arg)?;
            let len = core::mem::size_of::<VcpuTimeInfo>();
            VcpuReq::RegisterTimeArea(guest_area(g, area_addr(r.addr), len)?)
        }
        VCPUOP_SET_SINGLESHOT_TIMER => {
            let (timeout_abs_ns, flags) = match regs.mode {
                GuestWidth::Bits64 => {
                    let t: VcpuSetSingleshotTimer64 = g.read_obj(arg)?;
                    (t.timeout_abs_ns, t.flags)
                }
                GuestWidth::Bits32 => {
                    let t: VcpuSetSingleshotTimer32 = g.read_obj(arg)?;
                    (t.timeout_abs_ns, t.flags)
                }
            };
            if flags & !VCPU_SSHOTTMR_FUTURE != 0 {
                return Err(Errno::EINVAL);
            }
            VcpuReq::SetSingleshotTimer {
                timeout_abs_ns,
                future: flags & VCPU_SSHOTTMR_FUTURE != 0,
            }
        }
        VCPUOP_STOP_SINGLESHOT_TIMER => VcpuReq::StopSingleshotTimer,
        VCPUOP_SET_PERIODIC_TIMER => {
            let t: VcpuSetPeriodicTimer = g.read_obj(arg)?;
            if t.period_ns < MIN_PERIODIC_TIMER_NS {
                return Err(Errno::EINVAL);
            }
            VcpuReq::SetPeriodicTimer {
                period_ns: t.period_ns,
            }
        }
        // As Xen: the context is read whole (-EFAULT) before anything else; the
        // handler checks it after whether the vCPU is already initialised (-EEXIST).
        VCPUOP_INITIALISE => VcpuReq::Initialise(g.read_obj(arg)?),
        VCPUOP_UP => VcpuReq::Up,
        VCPUOP_DOWN => VcpuReq::Down,
        VCPUOP_IS_UP => VcpuReq::IsUp,
        VCPUOP_GET_RUNSTATE_INFO => VcpuReq::GetRunstateInfo { out: arg },
        _ => VcpuReq::StopPeriodicTimer,
    };
    Ok(Request::Vcpu { target, op })
}

fn decode_sched<M, T>(
    regs: &HypercallRegs,
    cmd: u32,
    arg: u64,
    g: &mut GuestAccess<'_, M, T>,
) -> XenResult<SchedReq>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    match cmd {
        SCHEDOP_YIELD => Ok(SchedReq::Yield),
        SCHEDOP_BLOCK => Ok(SchedReq::Block),
        SCHEDOP_SHUTDOWN => {
            let s: SchedShutdown = g.read_obj(arg)?;
            // As Xen: any reason is accepted, as a `u8` (`domain_shutdown(d, (u8)reason)`).
            Ok(SchedReq::Shutdown(s.reason & 0xff))
        }
        SCHEDOP_POLL => {
            let (ports_ptr, nr, timeout) = match regs.mode {
                GuestWidth::Bits64 => {
                    let p: SchedPoll64 = g.read_obj(arg)?;
                    (p.ports, p.nr_ports, p.timeout)
                }
                GuestWidth::Bits32 => {
                    let p: SchedPoll32 = g.read_obj(arg)?;
                    (u64::from(p.ports), p.nr_ports, p.timeout)
                }
            };
            let nr = nr as usize;
            if nr > MAX_POLL_PORTS {
                return Err(Errno::EINVAL);
            }
            let mut raw = [0u8; MAX_POLL_PORTS * 4];
            g.read_bytes(ports_ptr, &mut raw[..nr * 4])?;
            let mut ports = [0u32; MAX_POLL_PORTS];
            let max = regs.mode.nr_event_channels();
            for (p, b) in ports.iter_mut().zip(raw[..nr * 4].chunks_exact(4)) {
                *p = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if *p >= max {
                    return Err(Errno::EINVAL);
                }
            }
            let ports = PollPorts::new(&ports[..nr]).ok_or(Errno::EINVAL)?;
            Ok(SchedReq::Poll {
                ports,
                timeout_ns: (timeout != 0).then_some(timeout),
            })
        }
        SCHEDOP_SHUTDOWN_CODE => {
            let s: SchedShutdown = g.read_obj(arg)?;
            Ok(SchedReq::ShutdownCode(s.reason & 0xff))
        }
        SCHEDOP_REMOTE_SHUTDOWN => {
            let s: SchedRemoteShutdown = g.read_obj(arg)?;
            Ok(SchedReq::RemoteShutdown {
                domid: s.domain_id,
                reason: s.reason & 0xff,
            })
        }
        // Only for the hardware domain, checked before the argument is read.
        SCHEDOP_PIN_OVERRIDE => Err(Errno::EPERM),
        _ => Err(Errno::ENOSYS),
    }
}

fn decode_evtchn<M, T>(
    ctx: &DecodeContext,
    cmd: u32,
    arg: u64,
    g: &mut GuestAccess<'_, M, T>,
) -> XenResult<EvtchnReq>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    Ok(match cmd {
        EVTCHNOP_ALLOC_UNBOUND => {
            let a: EvtchnAllocUnbound = g.read_obj(arg)?;
            ctx.check_self(a.dom)?;
            EvtchnReq::AllocUnbound {
                remote_dom: a.remote_dom,
                out: arg,
            }
        }
        EVTCHNOP_BIND_INTERDOMAIN => {
            let b: EvtchnBindInterdomain = g.read_obj(arg)?;
            EvtchnReq::BindInterdomain {
                remote_dom: b.remote_dom,
                remote_port: b.remote_port,
                out: arg,
            }
        }
        EVTCHNOP_BIND_VIRQ => {
            let b: EvtchnBindVirq = g.read_obj(arg)?;
            if b.virq >= NR_VIRQS {
                return Err(Errno::EINVAL);
            }
            EvtchnReq::BindVirq {
                virq: b.virq,
                vcpu: ctx.check_vcpu(b.vcpu)?,
                out: arg,
            }
        }
        EVTCHNOP_BIND_PIRQ => {
            let b: EvtchnBindPirq = g.read_obj(arg)?;
            EvtchnReq::BindPirq {
                pirq: b.pirq,
                flags: b.flags,
                out: arg,
            }
        }
        EVTCHNOP_BIND_IPI => {
            let b: EvtchnBindIpi = g.read_obj(arg)?;
            EvtchnReq::BindIpi {
                vcpu: ctx.check_vcpu(b.vcpu)?,
                out: arg,
            }
        }
        EVTCHNOP_CLOSE => EvtchnReq::Close {
            port: g.read_obj::<EvtchnClose>(arg)?.port,
        },
        EVTCHNOP_SEND => EvtchnReq::Send {
            port: g.read_obj::<EvtchnSend>(arg)?.port,
        },
        EVTCHNOP_STATUS => {
            let s: EvtchnStatus = g.read_obj(arg)?;
            ctx.check_self(s.dom)?;
            EvtchnReq::Status {
                port: s.port,
                out: arg,
            }
        }
        EVTCHNOP_BIND_VCPU => {
            let b: EvtchnBindVcpu = g.read_obj(arg)?;
            EvtchnReq::BindVcpu {
                port: b.port,
                vcpu: ctx.check_vcpu(b.vcpu)?,
            }
        }
        EVTCHNOP_UNMASK => EvtchnReq::Unmask {
            port: g.read_obj::<EvtchnUnmask>(arg)?.port,
        },
        EVTCHNOP_RESET => {
            let r: EvtchnReset = g.read_obj(arg)?;
            ctx.check_self(r.dom)?;
            EvtchnReq::Reset
        }
        EVTCHNOP_INIT_CONTROL => {
            let c: EvtchnInitControl = g.read_obj(arg)?;
            EvtchnReq::InitControl {
                control_gfn: c.control_gfn,
                offset: c.offset,
                vcpu: ctx.check_vcpu(c.vcpu)?,
                out: arg,
            }
        }
        EVTCHNOP_EXPAND_ARRAY => EvtchnReq::ExpandArray {
            array_gfn: g.read_obj::<EvtchnExpandArray>(arg)?.array_gfn,
        },
        EVTCHNOP_SET_PRIORITY => {
            let p: EvtchnSetPriority = g.read_obj(arg)?;
            EvtchnReq::SetPriority {
                port: p.port,
                priority: p.priority,
            }
        }
        _ => return Err(Errno::ENOSYS),
    })
}

fn decode_gnttab<M, T>(
    regs: &HypercallRegs,
    ctx: &DecodeContext,
    cmd: u32,
    arg: u64,
    count: u64,
    g: &mut GuestAccess<'_, M, T>,
) -> XenResult<GnttabReq>
where
    M: Bytes<GuestAddress> + ?Sized,
    T: AddressTranslate + ?Sized,
{
    // Xen's filter for HVM/PVH guests: everything else (transfer, unmap_and_replace,
    // dump_table, cache_flush, get_status_frames) "needs auditing": -ENOSYS.
    let offered = matches!(
        cmd,
        GNTTABOP_QUERY_SIZE
            | GNTTABOP_SETUP_TABLE
            | GNTTABOP_SET_VERSION
            | GNTTABOP_GET_VERSION
            | GNTTABOP_COPY
            | GNTTABOP_MAP_GRANT_REF
            | GNTTABOP_UNMAP_GRANT_REF
            | GNTTABOP_SWAP_GRANT_REF
    ) || (cmd == GNTTABOP_GET_STATUS_FRAMES && ctx.status_frames_op);
    if !offered {
        return Err(Errno::ENOSYS);
    }
    // `count` is an unsigned int that must not be negative as an int.
    let count = count as u32;
    if count > i32::MAX as u32 {
        return Err(Errno::EINVAL);
    }
    let single = || {
        if count == 1 {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    };
    let batch = || {
        if count > MAX_GRANT_OPS {
            Err(Errno::E2BIG)
        } else {
            Ok(count)
        }
    };
    Ok(match cmd {
        GNTTABOP_QUERY_SIZE => {
            single()?;
            let q: GnttabQuerySize = g.read_obj(arg)?;
            GnttabReq::QuerySize {
                out: arg,
                dom: q.dom,
            }
        }
        GNTTABOP_SETUP_TABLE => {
            single()?;
            let (dom, nr_frames, frame_list) = match regs.mode {
                GuestWidth::Bits64 => {
                    let s: GnttabSetupTable64 = g.read_obj(arg)?;
                    (s.dom, s.nr_frames, s.frame_list)
                }
                GuestWidth::Bits32 => {
                    let s: GnttabSetupTable32 = g.read_obj(arg)?;
                    (s.dom, s.nr_frames, u64::from(s.frame_list))
                }
            };
            GnttabReq::SetupTable {
                nr_frames,
                frame_list,
                out: arg,
                dom,
            }
        }
        GNTTABOP_GET_STATUS_FRAMES => {
            single()?;
            let (dom, nr_frames, frame_list) = match regs.mode {
                GuestWidth::Bits64 => {
                    let s: GnttabGetStatusFrames64 = g.read_obj(arg)?;
                    (s.dom, s.nr_frames, s.frame_list)
                }
                GuestWidth::Bits32 => {
                    let s: GnttabGetStatusFrames32 = g.read_obj(arg)?;
                    (s.dom, s.nr_frames, u64::from(s.frame_list))
                }
            };
            GnttabReq::GetStatusFrames {
                nr_frames,
                frame_list,
                dom,
                out: arg,
            }
        }
        // set_version and get_version take no count.
        GNTTABOP_SET_VERSION => {
            let s: GnttabSetVersion = g.read_obj(arg)?;
            GnttabReq::SetVersion {
                version: s.version,
                out: arg,
            }
        }
        GNTTABOP_GET_VERSION => {
            let v: GnttabGetVersion = g.read_obj(arg)?;
            GnttabReq::GetVersion {
                dom: v.dom,
                out: arg,
            }
        }
        GNTTABOP_MAP_GRANT_REF => GnttabReq::MapGrantRef {
            list: arg,
            count: batch()?,
        },
        GNTTABOP_UNMAP_GRANT_REF => GnttabReq::UnmapGrantRef {
            list: arg,
            count: batch()?,
        },
        GNTTABOP_COPY => GnttabReq::Copy {
            list: arg,
            count: batch()?,
        },
        _ => GnttabReq::SwapGrantRef {
            list: arg,
            count: batch()?,
        },
    })
}

fn decode_console(cmd: u32, count: u64, buffer: u64) -> XenResult<ConsoleReq> {
    let count = count as u32;
    match cmd {
        CONSOLEIO_WRITE => {
            if count > MAX_CONSOLE_WRITE {
                return Err(Errno::EINVAL);
            }
            Ok(ConsoleReq::Write { count, buffer })
        }
        CONSOLEIO_READ => Ok(ConsoleReq::Read { count, buffer }),
        _ => Err(Errno::ENOSYS),
    }
}
