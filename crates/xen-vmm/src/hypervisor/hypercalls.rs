//! The hypercall handlers: every argument a guest passes is validated and
//! answered with a Xen errno; nothing here panics on guest input.

use std::sync::atomic::Ordering;

use kvm_ioctls::VcpuFd;
use vm_lock::{MemRead, Token, VcpuMutex};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use super::evtchn::{Backend, PortKind, PortTable};
use super::{Callback, XenState, GRANT_FRAMES};
use crate::abi::errno::*;
use crate::abi::*;
use crate::cpuid::{DOMID, XEN_VERSION};
use crate::guest::{Errno, GuestView, Translate};
use crate::hypercall_exit::HypercallRegs;
use crate::memory::{HOLE_MAP_LIMIT, PAGE_SIZE};
use crate::vm::VmShared;

/// What the vCPU loop must do after a hypercall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Return this value (negative: -errno).
    Return(i64),
    /// Return 0, then sleep until an event is pending for this vCPU.
    Block,
    /// Return 0, then sleep until one of `ports` is pending or `deadline_ns` (system time) passes.
    Poll {
        /// Ports polled.
        ports: Vec<u32>,
        /// Timeout (absolute Xen system time), if any.
        deadline_ns: Option<u64>,
    },
    /// Return 0 and end the VM with this `SHUTDOWN_*` reason.
    Shutdown(u32),
    /// Back guest-physical page `gpa` with memory, then run the hypercall again.
    MapPage(u64),
    /// Tell a VMM backend the guest notified it (after returning 0).
    Backend(Backend),
}

/// The calling vCPU.
pub struct Caller<'a> {
    /// VM.
    pub shared: &'a VmShared,
    /// vCPU index.
    pub vcpu: u32,
    /// Its KVM fd (for address translation).
    pub fd: &'a VcpuFd,
    /// Decoded registers.
    pub regs: HypercallRegs,
}

type R = Result<Outcome, Errno>;

fn ret(v: i64) -> R {
    Ok(Outcome::Return(v))
}

fn ulong(long_mode: bool) -> usize {
    if long_mode {
        8
    } else {
        4
    }
}

/// Sets `port` pending; returns the vCPU to kick.
pub fn set_port_pending(xen: &XenState, mem: &GuestMemoryMmap, port: u32) -> Option<u32> {
    let bm = xen.bitmaps()?;
    let p = xen.ports.get(port)?;
    let vi = xen.vcpu_info_gpa(p.vcpu);
    bm.set_pending(mem, port, vi);
    Some(p.vcpu)
}

/// Handles one hypercall.
pub fn dispatch(c: &Caller<'_>, token: &mut Token<'_, VcpuMutex>) -> Outcome {
    if c.regs.cpl != 0 {
        return Outcome::Return(-EPERM);
    }
    let (mem, mut t) = c.shared.mem.read(token);
    let view = GuestView {
        mem: &mem,
        translate: if c.regs.paging {
            Translate::Vcpu(c.fd)
        } else {
            Translate::Identity
        },
    };
    let a = c.regs.args;
    let r = match c.regs.nr {
        HYPERVISOR_XEN_VERSION => xen_version(c, &view, a[0] as u32, a[1]),
        HYPERVISOR_CONSOLE_IO => console_io(c, &view, &mut t, a[0] as u32, a[1], a[2]),
        HYPERVISOR_SCHED_OP => sched_op(c, &view, &mut t, a[0] as u32, a[1]),
        HYPERVISOR_SET_TIMER_OP => {
            let timeout = if c.regs.long_mode {
                a[0]
            } else {
                a[0] | (a[1] << 32)
            };
            set_timer_op(c, &mut t, timeout)
        }
        HYPERVISOR_VCPU_OP => vcpu_op(c, &view, &mut t, a[0] as u32, a[1], a[2]),
        HYPERVISOR_EVENT_CHANNEL_OP => evtchn_op(c, &view, &mut t, a[0] as u32, a[1]),
        HYPERVISOR_HVM_OP => hvm_op(c, &view, &mut t, a[0], a[1]),
        HYPERVISOR_MEMORY_OP => memory_op(c, &view, &mut t, a[0], a[1]),
        HYPERVISOR_GRANT_TABLE_OP => grant_table_op(&view, a[0] as u32, a[1], a[2]),
        _ => ret(-ENOSYS),
    };
    r.unwrap_or_else(|e| Outcome::Return(-e))
}

fn write_str(v: &GuestView<'_>, gva: u64, s: &str, size: usize) -> Result<(), Errno> {
    let mut b = vec![0u8; size];
    let n = s.len().min(size - 1);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    v.write(gva, &b)
}

fn xen_version(c: &Caller<'_>, v: &GuestView<'_>, cmd: u32, arg: u64) -> R {
    match cmd {
        XENVER_VERSION => ret(i64::from(XEN_VERSION)),
        XENVER_EXTRAVERSION => write_str(v, arg, ".0-kvm", 16).and(ret(0)),
        XENVER_COMPILE_INFO => {
            let mut b = vec![0u8; 144];
            b[..5].copy_from_slice(b"rustc");
            v.write(arg, &b).and(ret(0))
        }
        XENVER_CAPABILITIES => write_str(
            v,
            arg,
            "hvm-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p",
            1024,
        )
        .and(ret(0)),
        XENVER_CHANGESET => write_str(v, arg, "xen-on-kvm", 64).and(ret(0)),
        XENVER_PLATFORM_PARAMETERS => {
            let (start, size) = if c.regs.long_mode {
                (0xffff_8000_0000_0000, 8)
            } else {
                (0xf580_0000, 4)
            };
            v.write_ulong(arg, size, start).and(ret(0))
        }
        XENVER_GET_FEATURES => {
            let idx: u32 = v.read_obj(arg)?;
            let map = if idx == 0 {
                (1u32 << XENFEAT_AUTO_TRANSLATED_PHYSMAP)
                    | (1 << XENFEAT_HVM_CALLBACK_VECTOR)
                    | (1 << XENFEAT_HVM_SAFE_PVCLOCK)
            } else {
                0
            };
            v.write_obj(arg + 4, map).and(ret(0))
        }
        XENVER_PAGESIZE => ret(PAGE_SIZE as i64),
        XENVER_GUEST_HANDLE => v.write(arg, &[0u8; 16]).and(ret(0)),
        XENVER_COMMANDLINE => ret(-EPERM),
        _ => ret(-ENOSYS),
    }
}

/// Largest `CONSOLEIO_write` accepted.
pub const CONSOLE_IO_MAX: u64 = 1 << 20;

fn console_io(
    c: &Caller<'_>,
    v: &GuestView<'_>,
    t: &mut Token<'_, MemRead>,
    cmd: u32,
    count: u64,
    buf: u64,
) -> R {
    match cmd {
        CONSOLEIO_WRITE => {
            let count = count & 0xffff_ffff;
            if count > CONSOLE_IO_MAX {
                return ret(-EINVAL);
            }
            let mut done = 0u64;
            let mut chunk = [0u8; 256];
            while done < count {
                let n = (count - done).min(chunk.len() as u64) as usize;
                v.read(buf.checked_add(done).ok_or(EFAULT)?, &mut chunk[..n])?;
                c.shared.write_output(t, &chunk[..n]);
                done += n as u64;
            }
            ret(0)
        }
        CONSOLEIO_READ => ret(0),
        _ => ret(-ENOSYS),
    }
}

fn sched_op(
    c: &Caller<'_>,
    v: &GuestView<'_>,
    t: &mut Token<'_, MemRead>,
    cmd: u32,
    arg: u64,
) -> R {
    match cmd {
        SCHEDOP_YIELD => {
            std::thread::yield_now();
            ret(0)
        }
        SCHEDOP_BLOCK => {
            // Blocking re-enables event delivery (clears evtchn_upcall_mask).
            let vi = c.shared.ctl[c.vcpu as usize]
                .vcpu_info
                .load(Ordering::Acquire);
            if vi != u64::MAX {
                let _ = v.mem.write_obj(0u8, GuestAddress(vi + 1));
            }
            Ok(Outcome::Block)
        }
        SCHEDOP_SHUTDOWN => {
            let reason: u32 = v.read_obj(arg)?;
            if reason > SHUTDOWN_MAX {
                return ret(-EINVAL);
            }
            Ok(Outcome::Shutdown(reason))
        }
        SCHEDOP_POLL => {
            let lm = c.regs.long_mode;
            let ports_ptr = v.read_ulong(arg, ulong(lm))?;
            let (nr_off, to_off) = if lm { (8, 16) } else { (4, 8) };
            let nr: u32 = v.read_obj(arg + nr_off)?;
            let timeout: u64 = v.read_obj(arg + to_off)?;
            if nr > 128 {
                return ret(-EINVAL);
            }
            let (xen, _t) = c.shared.xen.lock(t);
            let mut ports = Vec::with_capacity(nr as usize);
            for i in 0..u64::from(nr) {
                let p: u32 = v.read_obj(ports_ptr.checked_add(i * 4).ok_or(EFAULT)?)?;
                if p >= PortTable::limit(xen.long_mode) {
                    return ret(-EINVAL);
                }
                ports.push(p);
            }
            if let Some(bm) = xen.bitmaps() {
                if ports.iter().any(|&p| bm.is_pending(v.mem, p)) {
                    return ret(0);
                }
            }
            Ok(Outcome::Poll {
                ports,
                deadline_ns: (timeout != 0).then_some(timeout),
            })
        }
        SCHEDOP_SHUTDOWN_CODE => {
            let _reason: u32 = v.read_obj(arg)?;
            ret(0)
        }
        _ => ret(-ENOSYS),
    }
}

fn arm_singleshot(c: &Caller<'_>, xen: &mut XenState, vcpu: u32, timeout: Option<u64>) {
    let t = &c.shared.timers[vcpu as usize].singleshot;
    xen.vcpus[vcpu as usize].singleshot_ns = timeout;
    let r = match timeout {
        Some(ns) => t.arm_at(c.shared.boot_ns.saturating_add(ns), 0),
        None => t.disarm(),
    };
    if let Err(e) = r {
        log::error!("timerfd: {e}");
    }
}

fn set_timer_op(c: &Caller<'_>, t: &mut Token<'_, MemRead>, timeout: u64) -> R {
    let (mut xen, _t) = c.shared.xen.lock(t);
    arm_singleshot(c, &mut xen, c.vcpu, (timeout != 0).then_some(timeout));
    ret(0)
}

fn vcpu_op(
    c: &Caller<'_>,
    v: &GuestView<'_>,
    t: &mut Token<'_, MemRead>,
    cmd: u32,
    target: u64,
    arg: u64,
) -> R {
    let n = c.shared.vcpus.len() as u64;
    if target >= n {
        return ret(-ENOENT);
    }
    let target = target as u32;
    match cmd {
        VCPUOP_REGISTER_VCPU_INFO => {
            let mfn: u64 = v.read_obj(arg)?;
            let offset: u32 = v.read_obj(arg + 8)?;
            if u64::from(offset) > PAGE_SIZE - 64 {
                return ret(-EINVAL);
            }
            let gpa = mfn
                .checked_mul(PAGE_SIZE)
                .and_then(|g| g.checked_add(u64::from(offset)))
                .ok_or(EINVAL)?;
            if v.mem.get_slice(GuestAddress(gpa), 64).is_err() {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            let mut old = [0u8; 64];
            if let Some(o) = xen.vcpu_info_gpa(target) {
                let _ = v.mem.read_slice(&mut old, GuestAddress(o));
            }
            v.mem
                .write_slice(&old, GuestAddress(gpa))
                .map_err(|_| EINVAL)?;
            xen.vcpus[target as usize].vcpu_info = Some(gpa);
            c.shared.sync_vcpu_ctl(&xen, target);
            drop(xen);
            c.shared.kick(target);
            ret(0)
        }
        VCPUOP_SET_SINGLESHOT_TIMER => {
            if target != c.vcpu {
                return ret(-EINVAL);
            }
            let timeout: u64 = v.read_obj(arg)?;
            let flags: u32 = v.read_obj(arg + 8)?;
            if flags & VCPU_SSHOTTMR_FUTURE != 0 && timeout < c.shared.system_time_ns() {
                return ret(-ETIME);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            arm_singleshot(c, &mut xen, target, Some(timeout));
            ret(0)
        }
        VCPUOP_STOP_SINGLESHOT_TIMER => {
            if target != c.vcpu {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            arm_singleshot(c, &mut xen, target, None);
            ret(0)
        }
        VCPUOP_SET_PERIODIC_TIMER => {
            let period: u64 = v.read_obj(arg)?;
            if !(1_000_000..=(1u64 << 50)).contains(&period) {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            xen.vcpus[target as usize].period_ns = Some(period);
            let tm = &c.shared.timers[target as usize].periodic;
            if let Err(e) = tm.arm_at(crate::timers::monotonic_ns() + period, period) {
                log::error!("timerfd: {e}");
            }
            ret(0)
        }
        VCPUOP_STOP_PERIODIC_TIMER => {
            let (mut xen, _t) = c.shared.xen.lock(t);
            xen.vcpus[target as usize].period_ns = None;
            let _ = c.shared.timers[target as usize].periodic.disarm();
            ret(0)
        }
        VCPUOP_IS_UP => ret(i64::from(
            c.shared.ctl[target as usize].online.load(Ordering::Acquire),
        )),
        _ => ret(-ENOSYS),
    }
}

fn is_self(dom: u16) -> bool {
    dom == DOMID_SELF || u32::from(dom) == DOMID
}

fn evtchn_op(
    c: &Caller<'_>,
    v: &GuestView<'_>,
    t: &mut Token<'_, MemRead>,
    cmd: u32,
    arg: u64,
) -> R {
    let nvcpus = c.shared.vcpus.len() as u32;
    match cmd {
        EVTCHNOP_ALLOC_UNBOUND => {
            let dom: u16 = v.read_obj(arg)?;
            let remote: u16 = v.read_obj(arg + 2)?;
            if !is_self(dom) {
                return ret(-EPERM);
            }
            let remote = if remote == DOMID_SELF {
                DOMID as u16
            } else {
                remote
            };
            let (mut xen, _t) = c.shared.xen.lock(t);
            let lm = xen.long_mode;
            let port = xen.ports.alloc(PortKind::Unbound { remote }, 0, lm)?;
            if let Err(e) = v.write_obj(arg + 4, port) {
                let _ = xen.ports.free(port);
                return Err(e);
            }
            ret(0)
        }
        EVTCHNOP_BIND_INTERDOMAIN => {
            let rdom: u16 = v.read_obj(arg)?;
            let rport: u32 = v.read_obj(arg + 4)?;
            if !is_self(rdom) {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            match xen.ports.get(rport) {
                Some(p)
                    if p.kind
                        == (PortKind::Unbound {
                            remote: DOMID as u16,
                        }) => {}
                _ => return ret(-EINVAL),
            }
            let lm = xen.long_mode;
            let local = xen
                .ports
                .alloc(PortKind::Interdomain { peer: rport }, c.vcpu, lm)?;
            if let Err(e) = v.write_obj(arg + 8, local) {
                let _ = xen.ports.free(local);
                return Err(e);
            }
            if let Some(p) = xen.ports.get_mut(rport) {
                p.kind = PortKind::Interdomain { peer: local };
            }
            ret(0)
        }
        EVTCHNOP_BIND_VIRQ => {
            let virq: u32 = v.read_obj(arg)?;
            let vcpu: u32 = v.read_obj(arg + 4)?;
            if virq >= NR_VIRQS {
                return ret(-EINVAL);
            }
            if vcpu >= nvcpus {
                return ret(-ENOENT);
            }
            let per_vcpu = virq == VIRQ_TIMER || virq == VIRQ_DEBUG;
            if !per_vcpu && vcpu != 0 {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            if xen.ports.find_virq(virq, vcpu).is_some() {
                return ret(-EEXIST);
            }
            let lm = xen.long_mode;
            let port = xen.ports.alloc(PortKind::Virq(virq), vcpu, lm)?;
            if let Err(e) = v.write_obj(arg + 8, port) {
                let _ = xen.ports.free(port);
                return Err(e);
            }
            ret(0)
        }
        EVTCHNOP_BIND_IPI => {
            let vcpu: u32 = v.read_obj(arg)?;
            if vcpu >= nvcpus {
                return ret(-ENOENT);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            let lm = xen.long_mode;
            let port = xen.ports.alloc(PortKind::Ipi, vcpu, lm)?;
            if let Err(e) = v.write_obj(arg + 4, port) {
                let _ = xen.ports.free(port);
                return Err(e);
            }
            ret(0)
        }
        EVTCHNOP_CLOSE => {
            let port: u32 = v.read_obj(arg)?;
            let (mut xen, _t) = c.shared.xen.lock(t);
            let old = xen.ports.free(port)?;
            if let PortKind::Interdomain { peer } = old.kind {
                if let Some(p) = xen.ports.get_mut(peer) {
                    p.kind = PortKind::Unbound {
                        remote: DOMID as u16,
                    };
                }
            }
            if let Some(bm) = xen.bitmaps() {
                bm.clear_pending(v.mem, port);
            }
            ret(0)
        }
        EVTCHNOP_SEND => {
            let port: u32 = v.read_obj(arg)?;
            let (xen, _t) = c.shared.xen.lock(t);
            let p = *xen.ports.get(port).ok_or(EINVAL)?;
            let target = match p.kind {
                PortKind::Interdomain { peer } => peer,
                PortKind::Ipi => port,
                PortKind::Unbound { .. } => return ret(0),
                PortKind::Backend(b) => return Ok(Outcome::Backend(b)),
                PortKind::Virq(_) | PortKind::Free => return ret(-EINVAL),
            };
            let kick = set_port_pending(&xen, v.mem, target);
            drop(xen);
            if let Some(k) = kick {
                c.shared.kick(k);
            }
            c.shared.wake_pollers();
            ret(0)
        }
        EVTCHNOP_STATUS => {
            let dom: u16 = v.read_obj(arg)?;
            let port: u32 = v.read_obj(arg + 4)?;
            if !is_self(dom) {
                return ret(-EPERM);
            }
            let (xen, _t) = c.shared.xen.lock(t);
            if port >= PortTable::limit(xen.long_mode) {
                return ret(-EINVAL);
            }
            let p = xen.ports.get(port).copied();
            drop(xen);
            let mut out = [0u8; 16]; // status, vcpu, union (8 bytes)
            let (status, vcpu) = match p {
                None => (EVTCHNSTAT_CLOSED, 0),
                Some(p) => {
                    let s = match p.kind {
                        PortKind::Free => EVTCHNSTAT_CLOSED,
                        PortKind::Unbound { remote } => {
                            out[8..10].copy_from_slice(&remote.to_le_bytes());
                            EVTCHNSTAT_UNBOUND
                        }
                        PortKind::Interdomain { peer } => {
                            out[8..10].copy_from_slice(&(DOMID as u16).to_le_bytes());
                            out[12..16].copy_from_slice(&peer.to_le_bytes());
                            EVTCHNSTAT_INTERDOMAIN
                        }
                        PortKind::Backend(_) => EVTCHNSTAT_INTERDOMAIN,
                        PortKind::Virq(virq) => {
                            out[8..12].copy_from_slice(&virq.to_le_bytes());
                            EVTCHNSTAT_VIRQ
                        }
                        PortKind::Ipi => EVTCHNSTAT_IPI,
                    };
                    (s, p.vcpu)
                }
            };
            out[0..4].copy_from_slice(&status.to_le_bytes());
            out[4..8].copy_from_slice(&vcpu.to_le_bytes());
            v.write(arg + 8, &out).and(ret(0))
        }
        EVTCHNOP_BIND_VCPU => {
            let port: u32 = v.read_obj(arg)?;
            let vcpu: u32 = v.read_obj(arg + 4)?;
            if vcpu >= nvcpus {
                return ret(-ENOENT);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            let p = xen.ports.get_mut(port).ok_or(EINVAL)?;
            match p.kind {
                PortKind::Virq(virq) if virq == VIRQ_TIMER || virq == VIRQ_DEBUG => {
                    return ret(-EINVAL)
                }
                _ => p.vcpu = vcpu,
            }
            ret(0)
        }
        EVTCHNOP_UNMASK => {
            let port: u32 = v.read_obj(arg)?;
            let (xen, _t) = c.shared.xen.lock(t);
            if port >= PortTable::limit(xen.long_mode) {
                return ret(-EINVAL);
            }
            let Some(bm) = xen.bitmaps() else {
                return ret(0);
            };
            let vcpu = xen.ports.get(port).map(|p| p.vcpu).unwrap_or(c.vcpu);
            let raise = bm.unmask(v.mem, port, xen.vcpu_info_gpa(vcpu));
            drop(xen);
            if raise {
                c.shared.kick(vcpu);
            }
            ret(0)
        }
        _ => ret(-ENOSYS),
    }
}

fn hvm_op(c: &Caller<'_>, v: &GuestView<'_>, t: &mut Token<'_, MemRead>, cmd: u64, arg: u64) -> R {
    match cmd as u32 {
        HVMOP_SET_PARAM | HVMOP_GET_PARAM => {
            let dom: u16 = v.read_obj(arg)?;
            let index: u32 = v.read_obj(arg + 4)?;
            if !is_self(dom) {
                return ret(-EPERM);
            }
            if index >= HVM_NR_PARAMS {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            if cmd as u32 == HVMOP_GET_PARAM {
                let val = xen.params[index as usize];
                drop(xen);
                return v.write_obj(arg + 8, val).and(ret(0));
            }
            let value: u64 = v.read_obj(arg + 8)?;
            match index {
                HVM_PARAM_CALLBACK_IRQ => {
                    let cb = match (value >> 56) as u8 {
                        _ if value == 0 => Callback::None,
                        0 if value & 0xffff_ffff < 48 => Callback::Gsi(value as u32),
                        2 if (0x10..=0xff).contains(&(value & 0xff))
                            && value & 0x00ff_ffff_ffff_ff00 == 0 =>
                        {
                            Callback::Vector(value as u8)
                        }
                        _ => return ret(-EINVAL),
                    };
                    xen.callback = cb;
                    xen.long_mode = c.regs.long_mode;
                    xen.params[index as usize] = value;
                    c.shared.sync_all_ctl(&xen);
                }
                HVM_PARAM_STORE_PFN
                | HVM_PARAM_STORE_EVTCHN
                | HVM_PARAM_CONSOLE_PFN
                | HVM_PARAM_CONSOLE_EVTCHN => return ret(-EPERM),
                _ => xen.params[index as usize] = value,
            }
            drop(xen);
            for i in 0..c.shared.vcpus.len() {
                c.shared.kick(i as u32);
            }
            ret(0)
        }
        HVMOP_SET_EVTCHN_UPCALL_VECTOR => {
            let vcpu: u32 = v.read_obj(arg)?;
            let vector: u8 = v.read_obj(arg + 4)?;
            if vcpu as usize >= c.shared.vcpus.len() {
                return ret(-ENOENT);
            }
            if vector < 0x10 {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            xen.vcpus[vcpu as usize].upcall_vector = Some(vector);
            c.shared.sync_vcpu_ctl(&xen, vcpu);
            drop(xen);
            c.shared.kick(vcpu);
            ret(0)
        }
        _ => ret(-ENOSYS),
    }
}

/// Maximum number of pages the guest may have the VMM add in holes.
pub const MAX_HOLE_PAGES: u32 = 64;

fn memory_op(
    c: &Caller<'_>,
    v: &GuestView<'_>,
    t: &mut Token<'_, MemRead>,
    cmd: u64,
    arg: u64,
) -> R {
    let lm = c.regs.long_mode;
    let ul = ulong(lm);
    match (cmd & 0x3f) as u32 {
        XENMEM_ADD_TO_PHYSMAP => {
            let dom: u16 = v.read_obj(arg)?;
            let space: u32 = v.read_obj(arg + 4)?;
            let idx = v.read_ulong(arg + 8, ul)?;
            let gpfn = v.read_ulong(arg + 8 + ul as u64, ul)?;
            if !is_self(dom) {
                return ret(-EPERM);
            }
            let gpa = gpfn.checked_mul(PAGE_SIZE).ok_or(EINVAL)?;
            let backed = v
                .mem
                .get_slice(GuestAddress(gpa), PAGE_SIZE as usize)
                .is_ok();
            if !backed && gpa >= HOLE_MAP_LIMIT {
                return ret(-EINVAL);
            }
            let (mut xen, _t) = c.shared.xen.lock(t);
            let old = match space {
                XENMAPSPACE_SHARED_INFO if idx == 0 => xen.shared_info,
                XENMAPSPACE_GRANT_TABLE if idx < u64::from(GRANT_FRAMES) => {
                    xen.grant_frames[idx as usize]
                }
                XENMAPSPACE_SHARED_INFO | XENMAPSPACE_GRANT_TABLE => return ret(-EINVAL),
                _ => return ret(-ENOSYS),
            };
            if !backed {
                return Ok(Outcome::MapPage(gpa));
            }
            let mut page = vec![0u8; PAGE_SIZE as usize];
            if let Some(o) = old {
                let _ = v.mem.read_slice(&mut page, GuestAddress(o));
            }
            v.mem
                .write_slice(&page, GuestAddress(gpa))
                .map_err(|_| EINVAL)?;
            if space == XENMAPSPACE_SHARED_INFO {
                xen.shared_info = Some(gpa);
                xen.long_mode = lm;
                c.shared.sync_all_ctl(&xen);
            } else {
                xen.grant_frames[idx as usize] = Some(gpa);
            }
            ret(0)
        }
        XENMEM_MEMORY_MAP => {
            let nr: u32 = v.read_obj(arg)?;
            let buf = v.read_ulong(arg + ul as u64, ul)?;
            let map = crate::boot::e820::memory_map(c.shared.mem_bytes);
            let n = map.len().min(nr as usize);
            for (i, e) in map.iter().take(n).enumerate() {
                let mut b = [0u8; 20];
                b[..8].copy_from_slice(&e.addr.to_le_bytes());
                b[8..16].copy_from_slice(&e.size.to_le_bytes());
                b[16..].copy_from_slice(&e.kind.to_le_bytes());
                v.write(buf.checked_add(20 * i as u64).ok_or(EFAULT)?, &b)?;
            }
            v.write_obj(arg, n as u32).and(ret(0))
        }
        XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => {
            let dom: u16 = v.read_obj(arg)?;
            if !is_self(dom) {
                return ret(-EPERM);
            }
            ret((c.shared.mem_bytes / PAGE_SIZE) as i64)
        }
        XENMEM_MAXIMUM_GPFN => ret((c.shared.mem_bytes / PAGE_SIZE) as i64 - 1),
        _ => ret(-ENOSYS),
    }
}

fn grant_table_op(v: &GuestView<'_>, cmd: u32, arg: u64, count: u64) -> R {
    match cmd {
        GNTTABOP_QUERY_SIZE => {
            if count != 1 {
                return ret(-EINVAL);
            }
            let mut b = [0u8; 12];
            b[0..4].copy_from_slice(&GRANT_FRAMES.to_le_bytes());
            b[4..8].copy_from_slice(&GRANT_FRAMES.to_le_bytes());
            v.write(arg + 4, &b).and(ret(0))
        }
        GNTTABOP_SET_VERSION => {
            if count != 1 {
                return ret(-EINVAL);
            }
            let ver: u32 = v.read_obj(arg)?;
            match ver {
                0 => v.write_obj(arg, 1u32).and(ret(0)),
                1 => ret(0),
                2 => ret(-EOPNOTSUPP),
                _ => ret(-EINVAL),
            }
        }
        GNTTABOP_GET_VERSION => {
            if count != 1 {
                return ret(-EINVAL);
            }
            v.write_obj(arg + 4, 1u32).and(ret(0))
        }
        _ => ret(-ENOSYS),
    }
}
