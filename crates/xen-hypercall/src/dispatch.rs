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
    let ctx = DecodeContext {
        vcpu,
        domid: h.domid(),
        nr_vcpus: h.nr_vcpus(),
    };
    let outcome = match decode(regs, &ctx, mem, h) {
        Ok(req) => execute(regs, vcpu, req, mem, h),
        Err(e) => HypercallOutcome::Done(e.to_return()),
    };
    HypercallResult {
        outcome,
        rax: regs.encode_result(outcome.return_value()),
    }
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
    let ctx = DecodeContext {
        vcpu,
        domid: h.domid(),
        nr_vcpus: h.nr_vcpus(),
    };
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
        GnttabReq::QuerySize { out, bad_domain } => {
            let mut q = GnttabQuerySize::default();
            if bad_domain {
                q.status = GNTST_BAD_DOMAIN;
            } else {
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
            bad_domain,
        } => {
            let status_at = field(
                out,
                match regs.mode {
                    GuestWidth::Bits64 => offset_of!(GnttabSetupTable64, status),
                    GuestWidth::Bits32 => offset_of!(GnttabSetupTable32, status),
                },
            )?;
            let mut frames = [0u64; MAX_GRANT_FRAMES];
            let status = if bad_domain {
                GNTST_BAD_DOMAIN
            } else if nr_frames as usize > MAX_GRANT_FRAMES {
                GNTST_GENERAL_ERROR
            } else {
                let frames = &mut frames[..nr_frames as usize];
                match h.setup_table(vcpu, frames) {
                    Ok(()) => {
                        write_frames(regs, vcpu, mem, h, frame_list, frames)?;
                        GNTST_OKAY
                    }
                    Err(s) if s < 0 => s,
                    Err(_) => GNTST_GENERAL_ERROR,
                }
            };
            guest(regs, vcpu, mem, h)
                .write_obj(status_at, &status)
                .map(|()| 0)
        }
        GnttabReq::SetVersion { version, out } => {
            h.set_version(vcpu, version)?;
            let v = h.get_version(vcpu);
            guest(regs, vcpu, mem, h).write_obj(out, &v).map(|()| 0)
        }
        GnttabReq::GetVersion { out } => {
            let v = h.get_version(vcpu);
            let at = field(out, offset_of!(GnttabGetVersion, version))?;
            guest(regs, vcpu, mem, h).write_obj(at, &v).map(|()| 0)
        }
    }
}

fn write_frames<M, H>(
    regs: &HypercallRegs,
    vcpu: u32,
    mem: &M,
    h: &mut H,
    list: u64,
    frames: &[u64],
) -> XenResult<()>
where
    M: Bytes<GuestAddress> + ?Sized,
    H: Hypervisor + ?Sized,
{
    let mut g = guest(regs, vcpu, mem, h);
    for (i, &f) in frames.iter().enumerate() {
        match regs.mode {
            GuestWidth::Bits64 => {
                let at = list.checked_add(i as u64 * 8).ok_or(Errno::EFAULT)?;
                g.write_obj(at, &f)?;
            }
            GuestWidth::Bits32 => {
                let at = list.checked_add(i as u64 * 4).ok_or(Errno::EFAULT)?;
                let f = u32::try_from(f).map_err(|_| Errno::EINVAL)?;
                g.write_obj(at, &f)?;
            }
        }
    }
    Ok(())
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
