// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! VMM-side failures of a vCPU: a triple fault (`KVM_EXIT_SHUTDOWN`), a KVM
//! internal error, a failed VM entry or an exit this VMM does not handle.
//! The vCPU thread records what happened and the vCPU's registers
//! ([`VcpuFault`], [`VmShared::fault`]) and ends the VM with
//! [`ExitReason::VmmError`]; the `xen-vmm` binary prints the record and
//! exits with [`ExitReason::VmmError`]'s status.

use std::fmt;

use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};

use crate::vm::{ExitReason, VcpuState, VmShared};

/// What a vCPU ran into, with its registers at that exit.
#[derive(Clone, Debug)]
pub struct VcpuFault {
    /// The vCPU.
    pub vcpu: u32,
    /// What happened (e.g. "triple fault (KVM_EXIT_SHUTDOWN)").
    pub reason: String,
    /// General-purpose registers, if KVM could give them.
    pub regs: Option<kvm_regs>,
    /// Special registers, if KVM could give them.
    pub sregs: Option<kvm_sregs>,
}

impl VcpuFault {
    /// A record of `reason` on the vCPU `vs` with the registers KVM reports now.
    pub fn capture(vs: &VcpuState, reason: String) -> Self {
        VcpuFault {
            vcpu: vs.id,
            reason,
            regs: vs.fd.get_regs().ok(),
            sregs: vs.fd.get_sregs().ok(),
        }
    }
}

fn seg(f: &mut fmt::Formatter<'_>, name: &str, s: &kvm_segment) -> fmt::Result {
    write!(
        f,
        "{name}={:04x} base={:016x} limit={:08x} type={:x} dpl={} l={} db={}",
        s.selector, s.base, s.limit, s.type_, s.dpl, s.l, s.db
    )
}

impl fmt::Display for VcpuFault {
    /// The reason on the first line, then the registers (one block per line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vCPU {}: {}", self.vcpu, self.reason)?;
        match &self.regs {
            Some(r) => {
                write!(
                    f,
                    "\n  rip={:016x} rsp={:016x} rflags={:016x}",
                    r.rip, r.rsp, r.rflags
                )?;
                write!(
                    f,
                    "\n  rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}",
                    r.rax, r.rbx, r.rcx, r.rdx
                )?;
                write!(
                    f,
                    "\n  rsi={:016x} rdi={:016x} rbp={:016x} r8={:016x}",
                    r.rsi, r.rdi, r.rbp, r.r8
                )?;
                write!(
                    f,
                    "\n  r9={:016x} r10={:016x} r11={:016x} r12={:016x}",
                    r.r9, r.r10, r.r11, r.r12
                )?;
                write!(
                    f,
                    "\n  r13={:016x} r14={:016x} r15={:016x}",
                    r.r13, r.r14, r.r15
                )?;
            }
            None => write!(f, "\n  (general registers unavailable)")?,
        }
        match &self.sregs {
            Some(s) => {
                write!(
                    f,
                    "\n  cr0={:016x} cr2={:016x} cr3={:016x} cr4={:016x} efer={:016x}",
                    s.cr0, s.cr2, s.cr3, s.cr4, s.efer
                )?;
                f.write_str("\n  ")?;
                seg(f, "cs", &s.cs)?;
                f.write_str("\n  ")?;
                seg(f, "ss", &s.ss)?;
                write!(
                    f,
                    "\n  gdt base={:016x} limit={:04x}  idt base={:016x} limit={:04x}",
                    s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit
                )
            }
            None => write!(f, "\n  (special registers unavailable)"),
        }
    }
}

/// Records `reason` on vCPU `vs` (with its registers), logs it and ends the
/// VM with [`ExitReason::VmmError`]. The first fault is kept.
pub fn vcpu_failed(shared: &VmShared, vs: &VcpuState, reason: String) {
    let fault = VcpuFault::capture(vs, reason);
    log::error!("{fault}");
    shared.record_fault(fault);
    shared.finish(ExitReason::VmmError);
}

/// Describes a `KVM_EXIT_INTERNAL_ERROR` of `vs` from its `kvm_run`.
pub fn internal_error(vs: &mut VcpuState) -> String {
    let run = vs.fd.get_kvm_run();
    // SAFETY: called for a KVM_EXIT_INTERNAL_ERROR exit, whose data is the
    // `internal` member of the union (plain integers, any value is valid).
    let internal = unsafe { run.__bindgen_anon_1.internal };
    let what = match internal.suberror {
        1 => "emulation failure",
        2 => "simultaneous exceptions",
        3 => "delivery event",
        4 => "unexpected exit reason",
        _ => "unknown suberror",
    };
    let n = (internal.ndata as usize).min(internal.data.len());
    let data: Vec<String> = internal.data[..n]
        .iter()
        .map(|d| format!("{d:#x}"))
        .collect();
    format!(
        "KVM internal error (KVM_EXIT_INTERNAL_ERROR): suberror {} ({what}), data [{}]",
        internal.suberror,
        data.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_vcpu_reason_and_registers() {
        let f = VcpuFault {
            vcpu: 3,
            reason: "triple fault (KVM_EXIT_SHUTDOWN)".into(),
            regs: Some(kvm_regs {
                rip: 0x10_0008,
                ..Default::default()
            }),
            sregs: None,
        };
        let s = f.to_string();
        assert!(
            s.starts_with("vCPU 3: triple fault (KVM_EXIT_SHUTDOWN)\n"),
            "{s}"
        );
        assert!(s.contains("rip=0000000000100008"), "{s}");
        assert!(s.contains("special registers unavailable"), "{s}");
    }
}
