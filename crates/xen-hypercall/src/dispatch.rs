// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The dispatcher: decode, call the handler, write outputs back, encode the result.

use core::mem::offset_of;

use vm_memory::{Bytes, GuestAddress};
use xen_abi::*;

use crate::decode::{decode, DecodeContext};
use crate::error::{Errno, XenResult};
use crate::guest::GuestAccess;
use crate::handler::{HypercallOutcome, Hypervisor, PortStatus};
use crate::regs::HypercallRegs;
use crate::request::*;

/// Result of [`dispatch`]: what to do with the vCPU and the RAX value to write now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HypercallResult {
    /// What the vCPU does next.
    pub outcome: HypercallOutcome,
    /// Value for RAX (already width-encoded: 32-bit guests get a zero-extended EAX).
    pub rax: u64,
}

/// Handles one hypercall exit of vCPU `vcpu`: decodes `regs`, calls `h`, writes output
/// structs back to guest memory and returns the outcome and RAX value.
///
/// Never panics on guest input; every failure becomes a Xen errno in RAX. No heap allocation.
pub fn dispatch<M, H>(regs: &HypercallRegs, vcpu: u32, mem: &M, h: &mut H) -> HypercallResult
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    let ctx = context(vcpu, h);
    let outcome = match decode(regs, &ctx, mem, h) {
        Ok(req) => execute(regs, vcpu, req, mem, h),
        Err(e) => HypercallOutcome::Done(e.to_return()),
    };
    HypercallResult {
        outcome,
        rax: regs.encode_result(outcome.return_value()),
    }
}

/// The decode context of a hypercall of `vcpu` against `h`.
fn context<H: Hypervisor + ?Sized>(vcpu: u32, h: &H) -> DecodeContext {
    let mut ctx = DecodeContext::new(vcpu, h.domid(), h.nr_vcpus());
    ctx.status_frames_op = h.get_status_frames_offered();
    ctx
}

/// Xen's domain lookup for an operation on domain `domid` that a domU may do only on
/// itself: itself (`DOMID_SELF` or its id) is `Ok`, another existing domain is refused by
/// the permission check (-EPERM), any other id was not found (-ESRCH).
fn own_domain<H: Hypervisor + ?Sized>(h: &H, domid: u16) -> XenResult<()> {
    if domid == DOMID_SELF || domid == h.domid() {
        Ok(())
    } else if h.domain_exists(domid) {
        Err(Errno::EPERM)
    } else {
        Err(Errno::ESRCH)
    }
}

/// As [`own_domain`], as a grant status: `GNTST_permission_denied` / `GNTST_bad_domain`.
fn own_domain_status<H: Hypervisor + ?Sized>(h: &H, domid: u16) -> i16 {
    match own_domain(h, domid) {
        Ok(()) => GNTST_OKAY,
        Err(Errno::EPERM) => GNTST_PERMISSION_DENIED,
        Err(_) => GNTST_BAD_DOMAIN,
    }
}

/// Reads a guest `xen_pfn_t` / `xen_ulong_t` (8 bytes, or 4 for 32-bit guests) at index `i`
/// of the array at `base`.
fn read_word<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    mem: &M,
    h: &mut H,
    base: u64,
    i: u64,
) -> XenResult<u64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    let size = match regs.mode {
        GuestWidth::Bits64 => 8,
        GuestWidth::Bits32 => 4,
    };
    let at = i
        .checked_mul(size)
        .and_then(|o| base.checked_add(o))
        .ok_or(Errno::EFAULT)?;
    let mut g = guest(regs, vcpu, mem, h);
    match regs.mode {
        GuestWidth::Bits64 => g.read_obj::<u64>(at),
        GuestWidth::Bits32 => g.read_obj::<u32>(at).map(u64::from),
    }
}

/// `VCPUOP_get_runstate_info`: the handler's runstate, written at `out` in the caller's
/// width (-EFAULT if it cannot be).
fn runstate_info<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    target: u32,
    out: u64,
    mem: &M,
    h: &mut H,
) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    let r = h.runstate_info(vcpu, target)?;
    let mut g = guest(regs, vcpu, mem, h);
    match regs.mode {
        GuestWidth::Bits64 => g.write_obj(out, &r),
        GuestWidth::Bits32 => g.write_obj(
            out,
            &VcpuRunstateInfo32 {
                state: r.state,
                state_entry_time: r.state_entry_time,
                time: r.time,
            },
        ),
    }
    .map(|()| 0)
}

/// Address of element `i` of `size` bytes of the guest array at `base`.
fn element(base: u64, i: u64, size: usize) -> XenResult<u64> {
    i.checked_mul(size as u64)
        .and_then(|o| base.checked_add(o))
        .ok_or(Errno::EFAULT)
}

/// Runs an already-decoded request (see [`decode`]) against `h`, writing outputs back.
pub fn execute<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    req: Request,
    mem: &M,
    h: &mut H,
) -> HypercallOutcome
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    let done = |r: XenResult<i64>| HypercallOutcome::from_result(r);
    match req {
        Request::XenVersion(r) => done(xen_version(regs, vcpu, r, mem, h)),
        Request::Memory(r) => done(memory(regs, vcpu, r, mem, h)),
        Request::Hvm(r) => done(hvm(regs, vcpu, r, mem, h)),
        Request::Vcpu {
            target,
            op: VcpuReq::IsUp,
        } => done(h.is_up(vcpu, target).map(i64::from)),
        Request::Vcpu {
            target,
            op: VcpuReq::GetRunstateInfo { out },
        } => done(runstate_info(regs, vcpu, target, out, mem, h)),
        Request::Vcpu { target, op } => done(
            match op {
                VcpuReq::RegisterVcpuInfo { gfn, offset } => {
                    h.register_vcpu_info(vcpu, target, gfn, offset)
                }
                VcpuReq::RegisterRunstateArea(a) => h.register_runstate_area(vcpu, target, a),
                VcpuReq::RegisterTimeArea(a) => h.register_time_area(vcpu, target, a),
                VcpuReq::SetSingleshotTimer {
                    timeout_abs_ns,
                    future,
                } => h.set_singleshot_timer(vcpu, target, timeout_abs_ns, future),
                VcpuReq::StopSingleshotTimer => h.stop_singleshot_timer(vcpu, target),
                VcpuReq::SetPeriodicTimer { period_ns } => {
                    h.set_periodic_timer(vcpu, target, period_ns)
                }
                VcpuReq::StopPeriodicTimer => h.stop_periodic_timer(vcpu, target),
                VcpuReq::Initialise(ctx) => h.initialise(vcpu, target, &ctx),
                VcpuReq::Up => h.up(vcpu, target),
                VcpuReq::Down => h.down(vcpu, target),
                // Answered above.
                VcpuReq::IsUp | VcpuReq::GetRunstateInfo { .. } => Err(Errno::ENOSYS),
            }
            .map(|()| 0),
        ),
        Request::SetTimer { deadline_ns } => done(h.set_timer_op(vcpu, deadline_ns).map(|()| 0)),
        Request::Sched(r) => match r {
            SchedReq::Yield => {
                h.yield_now(vcpu);
                HypercallOutcome::Done(0)
            }
            SchedReq::Block => h.block(vcpu),
            SchedReq::Shutdown(reason) => h.shutdown(vcpu, reason),
            SchedReq::Poll { ports, timeout_ns } => h.poll(vcpu, ports.as_slice(), timeout_ns),
            SchedReq::ShutdownCode(reason) => done(h.shutdown_code(vcpu, reason).map(|()| 0)),
            // Xen looks the domain up by id first (-ESRCH), then checks privilege.
            SchedReq::RemoteShutdown { domid, reason } if h.domain_exists(domid) => {
                h.remote_shutdown(vcpu, domid, reason)
            }
            SchedReq::RemoteShutdown { .. } => HypercallOutcome::Done(Errno::ESRCH.to_return()),
        },
        Request::Evtchn(r) => done(evtchn(regs, vcpu, r, mem, h)),
        Request::Gnttab(r) => done(gnttab(regs, vcpu, r, mem, h)),
        Request::Console(r) => done(console(regs, vcpu, r, mem, h)),
        Request::VmAssist(r) => done(h.vm_assist(vcpu, r.vm_type, r.enable).map(|()| 0)),
        Request::Multicall { list, nr_calls } => multicall(regs, vcpu, list, nr_calls, mem, h),
        // Xen's default policy: only the control domain may (XSM_PRIV).
        Request::Sysctl { .. } => HypercallOutcome::Done(Errno::EPERM.to_return()),
        Request::Domctl { cmd, domain } => done(domctl(cmd, domain, h)),
    }
}

/// Runs the entries of a multicall one by one through [`decode`] and [`execute`], as Xen's
/// `do_multicall`, writing each result to the entry's `result` field:
///
/// - an entry that is itself a multicall gets -EINVAL (Xen refuses re-entry);
/// - an entry that cannot be read, or whose result cannot be written, stops the multicall
///   with -EFAULT (the entries before it have run);
/// - an entry that blocks (`SCHEDOP_block` / `SCHEDOP_poll`): as the last entry, the vCPU
///   blocks as in Xen (result 0, the multicall returns 0 on wake-up). Elsewhere Xen would
///   block and continue the rest after waking, through a continuation this crate does not
///   have; the entry returns 0 at once instead (a spurious wake-up, which guests of both
///   calls must allow: [`SchedHandler::block_abandoned`](crate::SchedHandler)) and the
///   next entries run;
/// - an entry that shuts the domain down ends the multicall (result 0): the entries after
///   it do not run.
fn multicall<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    list: u64,
    nr_calls: u32,
    mem: &M,
    h: &mut H,
) -> HypercallOutcome
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    let fault = HypercallOutcome::Done(Errno::EFAULT.to_return());
    let ctx = context(vcpu, h);
    let (entry_size, result_off) = match regs.mode {
        GuestWidth::Bits64 => (
            core::mem::size_of::<MulticallEntry64>(),
            offset_of!(MulticallEntry64, result),
        ),
        GuestWidth::Bits32 => (
            core::mem::size_of::<MulticallEntry32>(),
            offset_of!(MulticallEntry32, result),
        ),
    };
    for i in 0..nr_calls {
        let Some(at) = u64::from(i)
            .checked_mul(entry_size as u64)
            .and_then(|o| list.checked_add(o))
        else {
            return fault;
        };
        let read = {
            let mut g = guest(regs, vcpu, mem, h);
            match regs.mode {
                GuestWidth::Bits64 => g.read_obj::<MulticallEntry64>(at).map(|e| (e.op, e.args)),
                GuestWidth::Bits32 => g
                    .read_obj::<MulticallEntry32>(at)
                    .map(|e| (u64::from(e.op), e.args.map(u64::from))),
            }
        };
        let Ok((op, args)) = read else {
            return fault;
        };
        let outcome = if op == HYPERVISOR_MULTICALL {
            HypercallOutcome::Done(Errno::EINVAL.to_return())
        } else {
            let sub = HypercallRegs {
                mode: regs.mode,
                cpl: regs.cpl,
                nr: op,
                args,
            };
            match decode(&sub, &ctx, mem, h) {
                Ok(req) => execute(&sub, vcpu, req, mem, h),
                Err(e) => HypercallOutcome::Done(e.to_return()),
            }
        };
        let last = i + 1 == nr_calls;
        let (result, stop) = match outcome {
            HypercallOutcome::Done(v) => (v, None),
            HypercallOutcome::Block { .. } if last => (0, Some(outcome)),
            HypercallOutcome::Block { .. } => {
                h.block_abandoned(vcpu);
                (0, None)
            }
            HypercallOutcome::Shutdown(_) => (0, Some(outcome)),
        };
        let Some(at) = at.checked_add(result_off as u64) else {
            return fault;
        };
        let written = {
            let mut g = guest(regs, vcpu, mem, h);
            match regs.mode {
                GuestWidth::Bits64 => g.write_obj(at, &(result as u64)),
                GuestWidth::Bits32 => g.write_obj(at, &(result as i32 as u32)),
            }
        };
        if written.is_err() {
            return fault;
        }
        if let Some(stop) = stop {
            return stop;
        }
    }
    HypercallOutcome::Done(0)
}

/// `domctl` from a domU, as Xen's `do_domctl` with the default XSM policy: the target
/// domain is looked up first (-ESRCH), except for the commands that take none or a
/// pseudo-domain; then every command is refused (-EPERM: a domU is neither the control
/// domain, nor xenstore's, nor the target's device model).
fn domctl<H: Hypervisor + ?Sized>(cmd: u32, domain: u16, h: &H) -> XenResult<i64> {
    let lookup = match cmd {
        XEN_DOMCTL_CREATEDOMAIN => false,
        XEN_DOMCTL_ASSIGN_DEVICE | XEN_DOMCTL_DEASSIGN_DEVICE if domain == DOMID_IO => false,
        XEN_DOMCTL_ASSIGN_DEVICE | XEN_DOMCTL_DEASSIGN_DEVICE if domain == DOMID_INVALID => {
            return Err(Errno::ESRCH)
        }
        XEN_DOMCTL_TEST_ASSIGN_DEVICE | XEN_DOMCTL_VM_EVENT_OP if domain == DOMID_INVALID => false,
        // A missing domain is no error for it; the privilege check still fails.
        XEN_DOMCTL_GETDOMAININFO => false,
        _ => true,
    };
    if lookup && !h.domain_exists(domain) {
        return Err(Errno::ESRCH);
    }
    Err(Errno::EPERM)
}

fn guest<'a, M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    mem: &'a M,
    h: &'a mut H,
) -> GuestAccess<'a, M, H>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    GuestAccess::new(mem, h, vcpu, regs.mode)
}

fn xen_version<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    r: XenVersionReq,
    mem: &M,
    h: &mut H,
) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    match r {
        XenVersionReq::Version => {
            let (major, minor) = h.xen_version(vcpu);
            Ok(i64::from(u32::from(major) << 16 | u32::from(minor)))
        }
        XenVersionReq::Pagesize => Ok(XEN_PAGE_SIZE as i64),
        XenVersionReq::Extraversion { out } => {
            let mut b: XenExtraversion = [0; XEN_EXTRAVERSION_LEN];
            h.extraversion(vcpu, &mut b);
            terminate(&mut b);
            guest(regs, vcpu, mem, h).write_bytes(out, &b).map(|()| 0)
        }
        XenVersionReq::Capabilities { out } => {
            let mut b: XenCapabilitiesInfo = [0; XEN_CAPABILITIES_INFO_LEN];
            h.capabilities(vcpu, &mut b);
            terminate(&mut b);
            guest(regs, vcpu, mem, h).write_bytes(out, &b).map(|()| 0)
        }
        XenVersionReq::Changeset { out } => {
            let mut b: XenChangesetInfo = [0; XEN_CHANGESET_INFO_LEN];
            h.changeset(vcpu, &mut b);
            terminate(&mut b);
            guest(regs, vcpu, mem, h).write_bytes(out, &b).map(|()| 0)
        }
        XenVersionReq::CompileInfo { out } => {
            let mut c = XenCompileInfo::default();
            h.compile_info(vcpu, &mut c);
            terminate(&mut c.compiler);
            terminate(&mut c.compile_by);
            terminate(&mut c.compile_domain);
            terminate(&mut c.compile_date);
            guest(regs, vcpu, mem, h).write_obj(out, &c).map(|()| 0)
        }
        XenVersionReq::PlatformParameters { out } => {
            // Xen 4.17 gives 64-bit callers HYPERVISOR_VIRT_START, whatever the guest type,
            // and 32-bit callers their domain's compat start, 0 for HVM.
            let mut g = guest(regs, vcpu, mem, h);
            match regs.mode {
                GuestWidth::Bits64 => g.write_obj(
                    out,
                    &XenPlatformParameters64 {
                        virt_start: HYPERVISOR_VIRT_START_64,
                    },
                ),
                GuestWidth::Bits32 => g.write_obj(out, &XenPlatformParameters32::default()),
            }
            .map(|()| 0)
        }
        XenVersionReq::GuestHandle { out } => {
            let handle = h.guest_handle(vcpu);
            guest(regs, vcpu, mem, h)
                .write_bytes(out, &handle)
                .map(|()| 0)
        }
        XenVersionReq::Commandline { out } => {
            let mut b: XenCommandline = [0; XEN_COMMANDLINE_LEN];
            if h.commandline(vcpu, &mut b) {
                terminate(&mut b);
                guest(regs, vcpu, mem, h).write_bytes(out, &b)
            } else {
                guest(regs, vcpu, mem, h).write_bytes(out, DENIED)
            }
            .map(|()| 0)
        }
        XenVersionReq::BuildId { arg } => {
            let mut id = [0u8; MAX_BUILD_ID];
            // Denied: -EPERM before the argument is looked at.
            let sz = h
                .build_id(vcpu, &mut id)
                .ok_or(Errno::EPERM)?
                .min(MAX_BUILD_ID);
            if arg == 0 {
                return Ok(sz as i64);
            }
            let mut g = guest(regs, vcpu, mem, h);
            let hdr: XenBuildId = g.read_obj(arg)?;
            if hdr.len == 0 {
                return Err(Errno::EINVAL);
            }
            if sz > hdr.len as usize {
                return Err(Errno::ENOBUFS);
            }
            let at = field(arg, core::mem::size_of::<XenBuildId>())?;
            g.write_bytes(at, &id[..sz]).map(|()| sz as i64)
        }
        XenVersionReq::GetFeatures { submap_idx, out } => {
            let f = XenFeatureInfo {
                submap_idx,
                submap: h.features(vcpu, submap_idx),
            };
            guest(regs, vcpu, mem, h).write_obj(out, &f).map(|()| 0)
        }
    }
}

/// What Xen writes for a string it denies the caller (its `xen_deny()`, NUL included).
const DENIED: &[u8] = b"<denied>\0";

/// Address of a field at `off` inside the struct at `out` (-EFAULT on overflow).
fn field(out: u64, off: usize) -> XenResult<u64> {
    out.checked_add(off as u64).ok_or(Errno::EFAULT)
}

/// Forces a NUL at the end of a fixed-size string buffer filled by the VMM.
fn terminate(b: &mut [u8]) {
    if let Some(last) = b.last_mut() {
        *last = 0;
    }
}

fn memory<M, H>(regs: &HypercallRegs, vcpu: u32, r: MemoryReq, mem: &M, h: &mut H) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    match r {
        MemoryReq::AddToPhysmap { space, gfn } => h.add_to_physmap(vcpu, space, gfn).map(|()| 0),
        MemoryReq::MemoryMap {
            capacity,
            buffer,
            out,
        } => {
            let mut entries = [E820Entry::default(); MAX_E820_ENTRIES];
            let n = {
                let map = h.memory_map(vcpu)?;
                let n = map.len().min(capacity as usize).min(MAX_E820_ENTRIES);
                entries[..n].copy_from_slice(&map[..n]);
                n
            };
            let mut g = guest(regs, vcpu, mem, h);
            for (i, e) in entries[..n].iter().enumerate() {
                let at = buffer
                    .checked_add((i * core::mem::size_of::<E820Entry>()) as u64)
                    .ok_or(Errno::EFAULT)?;
                g.write_obj(at, e)?;
            }
            // nr_entries is at offset 0 in both layouts.
            guest(regs, vcpu, mem, h).write_obj(out, &(n as u32))?;
            Ok(0)
        }
        MemoryReq::Reservation {
            op,
            start_extent,
            res,
        } => {
            let Some(r) = res else {
                return Ok(start_extent as i64);
            };
            // As Xen: extent after extent; the first one that cannot be read or done ends
            // the call, whose result is the number done.
            let mut i = start_extent;
            while i < r.nr_extents {
                let gfn = match op {
                    // A translated guest gets no frame numbers back: nothing is read.
                    ReservationOp::Increase => None,
                    _ => match read_word(regs, vcpu, mem, h, r.extent_start, i) {
                        Ok(g) => Some(g),
                        Err(_) => break,
                    },
                };
                if !h.reservation_extent(vcpu, op, gfn, r.extent_order) {
                    break;
                }
                i += 1;
            }
            Ok(i as i64)
        }
        MemoryReq::MaximumRamPage => h.maximum_ram_page(vcpu).map(|p| p as i64),
        MemoryReq::ReservationSize { maximum, domid } => {
            own_domain(h, domid)?;
            h.reservation_size(vcpu, maximum).map(|p| p as i64)
        }
        MemoryReq::RemoveFromPhysmap { domid, gfn } => {
            own_domain(h, domid)?;
            h.remove_from_physmap(vcpu, gfn).map(|()| 0)
        }
        MemoryReq::AddToPhysmapBatch {
            domid,
            space,
            size,
            start,
            idxs,
            gpfns,
            errs,
        } => {
            // Xen: the domain is looked up (-ESRCH), then only the hardware domain may map
            // device MMIO (-EACCES), then the permission check (-EPERM for another domain).
            let own = own_domain(h, domid);
            if own == Err(Errno::ESRCH) {
                return Err(Errno::ESRCH);
            }
            if space == XENMAPSPACE_DEV_MMIO {
                return Err(Errno::EACCES);
            }
            own?;
            if size < start || (size == start && start != 0) {
                return Err(Errno::EILSEQ);
            }
            for i in u64::from(start)..u64::from(size) {
                let idx = read_word(regs, vcpu, mem, h, idxs, i)?;
                let gpfn = read_word(regs, vcpu, mem, h, gpfns, i)?;
                // INVALID_GFN ends the whole call (a 32-bit guest's frames cannot be it).
                if regs.mode == GuestWidth::Bits64 && gpfn == u64::MAX {
                    return Err(Errno::EINVAL);
                }
                let rc = match space {
                    // Foreign frames: only for the hardware domain (p2m_add_foreign).
                    XENMAPSPACE_GMFN_FOREIGN => Err(Errno::EPERM),
                    _ => crate::decode::map_space(space, idx).and_then(|sp| {
                        if gpfn >> (64 - XEN_PAGE_SHIFT) != 0 {
                            Err(Errno::EINVAL)
                        } else {
                            h.add_to_physmap(vcpu, sp, gpfn)
                        }
                    }),
                };
                let rc: i32 = match rc {
                    Ok(()) => 0,
                    Err(e) => -e.0,
                };
                let at = element(errs, i, 4)?;
                guest(regs, vcpu, mem, h).write_obj(at, &rc)?;
            }
            Ok(0)
        }
    }
}

fn hvm<M, H>(regs: &HypercallRegs, vcpu: u32, r: HvmReq, mem: &M, h: &mut H) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    match r {
        HvmReq::SetParam(p) => h.set_param(vcpu, p).map(|()| 0),
        HvmReq::GetParam { index, out } => {
            let v = h.get_param(vcpu, index)?;
            let at = field(out, offset_of!(XenHvmParam, value))?;
            guest(regs, vcpu, mem, h).write_obj(at, &v).map(|()| 0)
        }
        HvmReq::SetEvtchnUpcallVector { vcpu: t, vector } => {
            h.set_evtchn_upcall_vector(vcpu, t, vector).map(|()| 0)
        }
    }
}

fn write_port<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    mem: &M,
    h: &mut H,
    at: u64,
    port: u32,
) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    guest(regs, vcpu, mem, h).write_obj(at, &port).map(|()| 0)
}

fn evtchn<M, H>(regs: &HypercallRegs, vcpu: u32, r: EvtchnReq, mem: &M, h: &mut H) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    match r {
        EvtchnReq::AllocUnbound { remote_dom, out } => {
            let p = h.alloc_unbound(vcpu, remote_dom)?;
            write_port(
                regs,
                vcpu,
                mem,
                h,
                field(out, offset_of!(EvtchnAllocUnbound, port))?,
                p,
            )
        }
        EvtchnReq::BindInterdomain {
            remote_dom,
            remote_port,
            out,
        } => {
            let p = h.bind_interdomain(vcpu, remote_dom, remote_port)?;
            let at = field(out, offset_of!(EvtchnBindInterdomain, local_port))?;
            write_port(regs, vcpu, mem, h, at, p)
        }
        EvtchnReq::BindVirq { virq, vcpu: t, out } => {
            let p = h.bind_virq(vcpu, virq, t)?;
            write_port(
                regs,
                vcpu,
                mem,
                h,
                field(out, offset_of!(EvtchnBindVirq, port))?,
                p,
            )
        }
        EvtchnReq::BindPirq { pirq, flags, out } => {
            let p = h.bind_pirq(vcpu, pirq, flags)?;
            write_port(
                regs,
                vcpu,
                mem,
                h,
                field(out, offset_of!(EvtchnBindPirq, port))?,
                p,
            )
        }
        EvtchnReq::BindIpi { vcpu: t, out } => {
            let p = h.bind_ipi(vcpu, t)?;
            write_port(
                regs,
                vcpu,
                mem,
                h,
                field(out, offset_of!(EvtchnBindIpi, port))?,
                p,
            )
        }
        EvtchnReq::Close { port } => h.close(vcpu, port).map(|()| 0),
        EvtchnReq::Send { port } => h.send(vcpu, port).map(|()| 0),
        EvtchnReq::Status { port, out } => {
            let (state, bound) = h.status(vcpu, port)?;
            let (status, u) = match state {
                PortStatus::Closed => (EVTCHNSTAT_CLOSED, [0, 0]),
                PortStatus::Unbound { remote_dom } => {
                    (EVTCHNSTAT_UNBOUND, [u32::from(remote_dom), 0])
                }
                PortStatus::Interdomain {
                    remote_dom,
                    remote_port,
                } => (EVTCHNSTAT_INTERDOMAIN, [u32::from(remote_dom), remote_port]),
                PortStatus::Pirq(p) => (EVTCHNSTAT_PIRQ, [p, 0]),
                PortStatus::Virq(v) => (EVTCHNSTAT_VIRQ, [v, 0]),
                PortStatus::Ipi => (EVTCHNSTAT_IPI, [0, 0]),
            };
            // status, vcpu, u[0], u[1]: 16 contiguous bytes from offset 8.
            let words = [status, bound, u[0], u[1]];
            let mut b = [0u8; 16];
            for (d, w) in b.chunks_exact_mut(4).zip(words) {
                d.copy_from_slice(&w.to_le_bytes());
            }
            let at = field(out, offset_of!(EvtchnStatus, status))?;
            guest(regs, vcpu, mem, h).write_bytes(at, &b).map(|()| 0)
        }
        EvtchnReq::BindVcpu { port, vcpu: t } => h.bind_vcpu(vcpu, port, t).map(|()| 0),
        EvtchnReq::Unmask { port } => h.unmask(vcpu, port).map(|()| 0),
        EvtchnReq::Reset => h.reset(vcpu).map(|()| 0),
        EvtchnReq::InitControl {
            control_gfn,
            offset,
            vcpu: t,
            out,
        } => {
            let bits = h.init_control(vcpu, control_gfn, offset, t)?;
            let at = field(out, offset_of!(EvtchnInitControl, link_bits))?;
            guest(regs, vcpu, mem, h).write_obj(at, &bits).map(|()| 0)
        }
        EvtchnReq::ExpandArray { array_gfn } => h.expand_array(vcpu, array_gfn).map(|()| 0),
        EvtchnReq::SetPriority { port, priority } => {
            h.set_priority(vcpu, port, priority).map(|()| 0)
        }
    }
}

fn gnttab<M, H>(regs: &HypercallRegs, vcpu: u32, r: GnttabReq, mem: &M, h: &mut H) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    match r {
        GnttabReq::QuerySize { out, dom } => {
            let mut q = GnttabQuerySize {
                status: own_domain_status(h, dom),
                ..Default::default()
            };
            if q.status == GNTST_OKAY {
                (q.nr_frames, q.max_nr_frames) = h.query_size(vcpu);
            }
            // Keep the guest's `dom`: write from nr_frames on.
            let mut g = guest(regs, vcpu, mem, h);
            let start = offset_of!(GnttabQuerySize, nr_frames);
            let bytes = &vm_memory::ByteValued::as_slice(&q)[start..];
            g.write_bytes(field(out, start)?, bytes).map(|()| 0)
        }
        GnttabReq::SetupTable {
            nr_frames,
            frame_list,
            out,
            dom,
        } => {
            let status_at = field(
                out,
                match regs.mode {
                    GuestWidth::Bits64 => offset_of!(GnttabSetupTable64, status),
                    GuestWidth::Bits32 => offset_of!(GnttabSetupTable32, status),
                },
            )?;
            let mut frames = [0u64; MAX_GRANT_FRAMES];
            let mut status = own_domain_status(h, dom);
            if status == GNTST_OKAY && nr_frames as usize > MAX_GRANT_FRAMES {
                status = GNTST_GENERAL_ERROR;
            } else if status == GNTST_OKAY {
                let frames = &mut frames[..nr_frames as usize];
                status = match h.setup_table(vcpu, frames) {
                    Ok(()) => write_frames(regs, vcpu, mem, h, frame_list, frames, false),
                    Err(s) if s < 0 => s,
                    Err(_) => GNTST_GENERAL_ERROR,
                };
            }
            guest(regs, vcpu, mem, h)
                .write_obj(status_at, &status)
                .map(|()| 0)
        }
        GnttabReq::GetStatusFrames {
            nr_frames,
            frame_list,
            dom,
            out,
        } => {
            let status_at = field(
                out,
                match regs.mode {
                    GuestWidth::Bits64 => offset_of!(GnttabGetStatusFrames64, status),
                    GuestWidth::Bits32 => offset_of!(GnttabGetStatusFrames32, status),
                },
            )?;
            let mut frames = [0u64; MAX_GRANT_FRAMES];
            let mut status = own_domain_status(h, dom);
            if status == GNTST_OKAY && nr_frames as usize > MAX_GRANT_FRAMES {
                status = GNTST_GENERAL_ERROR;
            } else if status == GNTST_OKAY {
                let frames = &mut frames[..nr_frames as usize];
                status = match h.get_status_frames(vcpu, frames) {
                    Ok(()) => write_frames(regs, vcpu, mem, h, frame_list, frames, true),
                    Err(s) if s < 0 => s,
                    Err(_) => GNTST_GENERAL_ERROR,
                };
            }
            guest(regs, vcpu, mem, h)
                .write_obj(status_at, &status)
                .map(|()| 0)
        }
        GnttabReq::SetVersion { version, out } => {
            let r = if version == 1 || version == 2 {
                h.set_version(vcpu, version)
            } else {
                Err(Errno::EINVAL)
            };
            // The version in effect goes back to the guest whatever happened.
            let v = h.get_version(vcpu);
            guest(regs, vcpu, mem, h).write_obj(out, &v)?;
            r.map(|()| 0)
        }
        GnttabReq::GetVersion { dom, out } => {
            own_domain(h, dom)?;
            let v = h.get_version(vcpu);
            let at = field(out, offset_of!(GnttabGetVersion, version))?;
            guest(regs, vcpu, mem, h).write_obj(at, &v).map(|()| 0)
        }
        GnttabReq::MapGrantRef { list, count } => {
            for i in 0..u64::from(count) {
                let at = element(list, i, core::mem::size_of::<GnttabMapGrantRef>())?;
                let mut op: GnttabMapGrantRef = guest(regs, vcpu, mem, h).read_obj(at)?;
                let flags = op.flags;
                op.status = if flags & (GNTMAP_DEVICE_MAP | GNTMAP_HOST_MAP) == 0 {
                    GNTST_BAD_GNTREF
                } else if flags & (GNTMAP_DEVICE_MAP | GNTMAP_APPLICATION_MAP | GNTMAP_CONTAINS_PTE)
                    != 0
                {
                    // No device, application or PTE mappings for HVM guests.
                    GNTST_GENERAL_ERROR
                } else if !h.domain_exists(op.dom) {
                    // Looked up by id: DOMID_SELF names none.
                    GNTST_BAD_DOMAIN
                } else {
                    let req = GrantMapReq {
                        dom: op.dom,
                        gref: op.ref_,
                        flags,
                        host_addr: op.host_addr,
                    };
                    match h.map_grant_ref(vcpu, &req) {
                        Ok((handle, bus)) => {
                            op.handle = handle;
                            op.dev_bus_addr = bus;
                            GNTST_OKAY
                        }
                        Err(s) if s < 0 => s,
                        Err(_) => GNTST_GENERAL_ERROR,
                    }
                };
                guest(regs, vcpu, mem, h).write_obj(at, &op)?;
            }
            Ok(0)
        }
        GnttabReq::UnmapGrantRef { list, count } => {
            for i in 0..u64::from(count) {
                let at = element(list, i, core::mem::size_of::<GnttabUnmapGrantRef>())?;
                let op: GnttabUnmapGrantRef = guest(regs, vcpu, mem, h).read_obj(at)?;
                let status = h.unmap_grant_ref(vcpu, op.handle, op.host_addr, op.dev_bus_addr);
                let sat = field(at, offset_of!(GnttabUnmapGrantRef, status))?;
                guest(regs, vcpu, mem, h).write_obj(sat, &status)?;
            }
            Ok(0)
        }
        GnttabReq::Copy { list, count } => {
            let (size, status_off) = match regs.mode {
                GuestWidth::Bits64 => (
                    core::mem::size_of::<GnttabCopy64>(),
                    offset_of!(GnttabCopy64, status),
                ),
                GuestWidth::Bits32 => (
                    core::mem::size_of::<GnttabCopy32>(),
                    offset_of!(GnttabCopy32, status),
                ),
            };
            for i in 0..u64::from(count) {
                let at = element(list, i, size)?;
                let req = {
                    let mut g = guest(regs, vcpu, mem, h);
                    match regs.mode {
                        GuestWidth::Bits64 => {
                            let c: GnttabCopy64 = g.read_obj(at)?;
                            copy_req(
                                (c.source_u, c.source_domid, c.source_offset),
                                (c.dest_u, c.dest_domid, c.dest_offset),
                                c.len,
                                c.flags,
                            )
                        }
                        GuestWidth::Bits32 => {
                            let c: GnttabCopy32 = g.read_obj(at)?;
                            copy_req(
                                (u64::from(c.source_u), c.source_domid, c.source_offset),
                                (u64::from(c.dest_u), c.dest_domid, c.dest_offset),
                                c.len,
                                c.flags,
                            )
                        }
                    }
                };
                let status = match copy_domains(h, &req) {
                    GNTST_OKAY => h.grant_copy(vcpu, &req),
                    s => s,
                };
                guest(regs, vcpu, mem, h).write_obj(field(at, status_off)?, &status)?;
            }
            Ok(0)
        }
        GnttabReq::SwapGrantRef { list, count } => {
            for i in 0..u64::from(count) {
                let at = element(list, i, core::mem::size_of::<GnttabSwapGrantRef>())?;
                let op: GnttabSwapGrantRef = guest(regs, vcpu, mem, h).read_obj(at)?;
                let status = h.swap_grant_ref(vcpu, op.ref_a, op.ref_b);
                let sat = field(at, offset_of!(GnttabSwapGrantRef, status))?;
                guest(regs, vcpu, mem, h).write_obj(sat, &status)?;
            }
            Ok(0)
        }
    }
}

/// A `GNTTABOP_copy` operation; a grant reference is the low 32 bits of its union (the
/// guest writes only those).
fn copy_req(src: (u64, u16, u16), dst: (u64, u16, u16), len: u16, flags: u16) -> GrantCopyReq {
    let ptr = |(u, domid, offset): (u64, u16, u16), gref: bool| GrantCopyPtr {
        gref_or_gfn: if gref { u64::from(u as u32) } else { u },
        domid,
        offset,
    };
    GrantCopyReq {
        source: ptr(src, flags & GNTCOPY_SOURCE_GREF != 0),
        dest: ptr(dst, flags & GNTCOPY_DEST_GREF != 0),
        len,
        flags,
    }
}

/// Xen's domain checks of a copy, source then destination: a frame may only be named
/// with `DOMID_SELF` (`GNTST_permission_denied`), a grant's domain must exist
/// (`GNTST_bad_domain`).
fn copy_domains<H: Hypervisor + ?Sized>(h: &H, op: &GrantCopyReq) -> i16 {
    for (p, gref) in [
        (&op.source, op.flags & GNTCOPY_SOURCE_GREF != 0),
        (&op.dest, op.flags & GNTCOPY_DEST_GREF != 0),
    ] {
        if p.domid != DOMID_SELF && !gref {
            return GNTST_PERMISSION_DENIED;
        }
        if p.domid != DOMID_SELF && !h.domain_exists(p.domid) {
            return GNTST_BAD_DOMAIN;
        }
    }
    GNTST_OKAY
}

/// Writes the frame list of `setup_table` (frames of the guest's width) or
/// `get_status_frames` (`u64`s, `status_list`); returns the status: a frame that cannot
/// be written is `GNTST_bad_virt_addr`, as Xen answers (the others are still written).
fn write_frames<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    mem: &M,
    h: &mut H,
    list: u64,
    frames: &[u64],
    status_list: bool,
) -> i16
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    let mut status = GNTST_OKAY;
    let mut g = guest(regs, vcpu, mem, h);
    for (i, &f) in frames.iter().enumerate() {
        let ok = match regs.mode {
            GuestWidth::Bits32 if !status_list => match u32::try_from(f) {
                Ok(f) => element(list, i as u64, 4).and_then(|at| g.write_obj(at, &f)),
                Err(_) => Err(Errno::EINVAL),
            },
            _ => element(list, i as u64, 8).and_then(|at| g.write_obj(at, &f)),
        };
        if ok.is_err() {
            status = GNTST_BAD_VIRT_ADDR;
        }
    }
    status
}

/// Chunk size of console writes handed to the handler.
const CONSOLE_CHUNK: usize = 256;

fn console<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    r: ConsoleReq,
    mem: &M,
    h: &mut H,
) -> XenResult<i64>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    match r {
        ConsoleReq::Write { count, buffer } => {
            let mut chunk = [0u8; CONSOLE_CHUNK];
            let mut done = 0usize;
            let count = count as usize;
            while done < count {
                let n = CONSOLE_CHUNK.min(count - done);
                let at = buffer.checked_add(done as u64).ok_or(Errno::EFAULT)?;
                guest(regs, vcpu, mem, h).read_bytes(at, &mut chunk[..n])?;
                h.console_write(vcpu, &chunk[..n])?;
                done += n;
            }
            Ok(0)
        }
        ConsoleReq::Read { count, buffer } => {
            let mut buf = [0u8; MAX_CONSOLE_READ];
            let cap = (count as usize).min(MAX_CONSOLE_READ);
            let n = h.console_read(vcpu, &mut buf[..cap]).min(cap);
            guest(regs, vcpu, mem, h).write_bytes(buffer, &buf[..n])?;
            Ok(n as i64)
        }
    }
}
