// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hypercall tracing: with the log target [`HYPERCALL_TARGET`] enabled at
//! trace level (e.g. `RUST_LOG=xen_platform::hypercall=trace`, or the
//! `xen-vmm` binary's `--trace-hypercalls`), [`XenPlatform::on_hypercall`]
//! logs each hypercall: the vCPU, the hypercall's name, its raw arguments,
//! the request xen-hypercall decoded from them (or the errno decoding
//! failed with), and the result.
//!
//! [`XenPlatform::on_hypercall`]: crate::XenPlatform::on_hypercall

use std::fmt::Write as _;

use xen_abi::GuestWidth;
use xen_hypercall::{HypercallRegs, Request, XenResult};

use crate::platform::HypercallExit;

/// The log target of hypercall traces (records at [`log::Level::Trace`]).
pub const HYPERCALL_TARGET: &str = "xen_platform::hypercall";

/// The name of hypercall `nr` as Xen's `HYPERVISOR_*` (without the prefix),
/// `None` for a number Xen does not define.
pub fn hypercall_name(nr: u64) -> Option<&'static str> {
    use xen_abi::*;
    Some(match nr {
        HYPERVISOR_SET_TRAP_TABLE => "set_trap_table",
        HYPERVISOR_MMU_UPDATE => "mmu_update",
        HYPERVISOR_SCHED_OP_COMPAT => "sched_op_compat",
        HYPERVISOR_PLATFORM_OP => "platform_op",
        HYPERVISOR_MEMORY_OP => "memory_op",
        HYPERVISOR_MULTICALL => "multicall",
        HYPERVISOR_SET_TIMER_OP => "set_timer_op",
        HYPERVISOR_EVENT_CHANNEL_OP_COMPAT => "event_channel_op_compat",
        HYPERVISOR_XEN_VERSION => "xen_version",
        HYPERVISOR_CONSOLE_IO => "console_io",
        HYPERVISOR_PHYSDEV_OP_COMPAT => "physdev_op_compat",
        HYPERVISOR_GRANT_TABLE_OP => "grant_table_op",
        HYPERVISOR_VM_ASSIST => "vm_assist",
        HYPERVISOR_VCPU_OP => "vcpu_op",
        HYPERVISOR_MMUEXT_OP => "mmuext_op",
        HYPERVISOR_XSM_OP => "xsm_op",
        HYPERVISOR_NMI_OP => "nmi_op",
        HYPERVISOR_SCHED_OP => "sched_op",
        HYPERVISOR_CALLBACK_OP => "callback_op",
        HYPERVISOR_XENOPROF_OP => "xenoprof_op",
        HYPERVISOR_EVENT_CHANNEL_OP => "event_channel_op",
        HYPERVISOR_PHYSDEV_OP => "physdev_op",
        HYPERVISOR_HVM_OP => "hvm_op",
        HYPERVISOR_SYSCTL => "sysctl",
        HYPERVISOR_DOMCTL => "domctl",
        HYPERVISOR_KEXEC_OP => "kexec_op",
        HYPERVISOR_ARGO_OP => "argo_op",
        HYPERVISOR_XENPMU_OP => "xenpmu_op",
        HYPERVISOR_DM_OP => "dm_op",
        HYPERVISOR_HYPFS_OP => "hypfs_op",
        _ => return None,
    })
}

/// How many arguments hypercall `nr` takes in a guest of width `mode`
/// (all six for one Xen does not define).
fn arity(nr: u64, mode: GuestWidth) -> usize {
    use xen_abi::*;
    match nr {
        // A 32-bit guest passes the 64-bit deadline in two registers.
        HYPERVISOR_SET_TIMER_OP if mode == GuestWidth::Bits32 => 2,
        HYPERVISOR_SET_TIMER_OP
        | HYPERVISOR_SET_TRAP_TABLE
        | HYPERVISOR_PLATFORM_OP
        | HYPERVISOR_EVENT_CHANNEL_OP_COMPAT
        | HYPERVISOR_PHYSDEV_OP_COMPAT
        | HYPERVISOR_XSM_OP
        | HYPERVISOR_SYSCTL
        | HYPERVISOR_DOMCTL => 1,
        HYPERVISOR_SCHED_OP_COMPAT
        | HYPERVISOR_MEMORY_OP
        | HYPERVISOR_MULTICALL
        | HYPERVISOR_XEN_VERSION
        | HYPERVISOR_VM_ASSIST
        | HYPERVISOR_NMI_OP
        | HYPERVISOR_SCHED_OP
        | HYPERVISOR_CALLBACK_OP
        | HYPERVISOR_XENOPROF_OP
        | HYPERVISOR_EVENT_CHANNEL_OP
        | HYPERVISOR_PHYSDEV_OP
        | HYPERVISOR_HVM_OP
        | HYPERVISOR_KEXEC_OP
        | HYPERVISOR_XENPMU_OP => 2,
        HYPERVISOR_CONSOLE_IO
        | HYPERVISOR_GRANT_TABLE_OP
        | HYPERVISOR_VCPU_OP
        | HYPERVISOR_DM_OP => 3,
        HYPERVISOR_MMU_UPDATE | HYPERVISOR_MMUEXT_OP => 4,
        HYPERVISOR_ARGO_OP | HYPERVISOR_HYPFS_OP => 5,
        _ => 6,
    }
}

/// One trace line: `vCPU 0: xen_version(0x0, 0x0) [64-bit cpl 0] = 0x40011;
/// decoded XenVersion(Version)`.
pub(crate) fn format(
    vcpu: u32,
    regs: &HypercallRegs,
    decoded: Option<&XenResult<Request>>,
    exit: &HypercallExit,
) -> String {
    let mut s = format!("vCPU {vcpu}: ");
    match hypercall_name(regs.nr) {
        Some(name) => s.push_str(name),
        None => {
            let _ = write!(s, "hypercall#{}", regs.nr);
        }
    }
    s.push('(');
    for (i, a) in regs.args.iter().take(arity(regs.nr, regs.mode)).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{a:#x}");
    }
    let bits = match regs.mode {
        GuestWidth::Bits64 => 64,
        GuestWidth::Bits32 => 32,
    };
    let _ = write!(s, ") [{bits}-bit cpl {}]", regs.cpl);
    // The result as the guest reads it: RAX, signed at the guest's width.
    let signed = |rax: u64| match regs.mode {
        GuestWidth::Bits64 => rax as i64,
        GuestWidth::Bits32 => i64::from(rax as u32 as i32),
    };
    let _ = match exit {
        HypercallExit::Resume { rax } => write!(s, " = {}", Ret(signed(*rax))),
        HypercallExit::Block { rax, wait } => {
            let _ = write!(s, " = {}, blocks", Ret(signed(*rax)));
            if let Some((ports, _)) = &wait.poll {
                let _ = write!(s, " polling ports {ports:?}");
            }
            match wait.deadline_ns {
                Some(d) => write!(s, " until {d} ns"),
                None => Ok(()),
            }
        }
        HypercallExit::Shutdown { rax, reason } => {
            write!(s, " = {}, shutdown reason {reason}", Ret(signed(*rax)))
        }
        HypercallExit::MapPage { gpa } => {
            write!(s, " needs a page at GPA {gpa:#x} (the VMM retries it)")
        }
    };
    match decoded {
        Some(Ok(req)) => {
            let _ = write!(s, "; decoded {req:?}");
        }
        Some(Err(e)) => {
            let _ = write!(s, "; not decoded: -{}", e.0);
        }
        None => {}
    }
    s
}

/// A hypercall's return value: errnos in decimal, anything else in hex.
struct Ret(i64);

impl std::fmt::Display for Ret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if (-4095..0).contains(&self.0) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arguments_and_result() {
        let regs = HypercallRegs::from_regs64(0, xen_abi::HYPERVISOR_XEN_VERSION, 0, 0, 0, 0, 0, 0);
        let s = format(1, &regs, None, &HypercallExit::Resume { rax: 0x4_0011 });
        assert_eq!(s, "vCPU 1: xen_version(0x0, 0x0) [64-bit cpl 0] = 0x40011");
        let regs = HypercallRegs::from_regs32(0, 99, 1, 2, 3, 4, 5, 6);
        let s = format(
            0,
            &regs,
            Some(&Err(xen_hypercall::Errno::ENOSYS)),
            &HypercallExit::Resume {
                rax: u64::from((-38i32) as u32),
            },
        );
        assert_eq!(
            s,
            "vCPU 0: hypercall#99(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) [32-bit cpl 0] = -38; not decoded: -38"
        );
    }
}
