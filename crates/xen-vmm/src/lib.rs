// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! xen-vmm: a KVM VMM that runs Xen PVH/HVM guests, built from the
//! xen-on-kvm crates. Library (this crate) and binary (`xen-vmm`).
//!
//! This crate is KVM plumbing only: the VM and vCPU fds, one thread per vCPU
//! and its exits, boot (PVH ELF, raw images), CPUID and the MSR filter, the
//! timer and console-input threads, the CLI and the snapshot file format.
//! Everything a Xen guest sees (hypercalls, event channels, shared_info,
//! timers, HVM params, PV console, xenstore, grant table) is
//! [`xen_platform::XenPlatform`]'s, reached through [`vm::VmmHost`] (its
//! `XenHost`) and the vCPU loop ([`vcpu`]).
//!
//! The guest's hypercalls are intercepted in user space: the hypercall MSR
//! is routed to us with user-space MSR exits, the hypercall page holds
//! `mov $nr,%eax; out %eax,$0x88; ret` stubs, and the port-I/O exit is
//! decoded ([`hypercall_exit`]) and handed to the platform. On hosts with
//! `KVM_CAP_XEN_HVM`, [`VmConfig::kernel_xen`] (opt-in, not tested on such a
//! host yet) has KVM intercept hypercalls as `KVM_EXIT_XEN` instead. Upcalls
//! are injected with `KVM_INTERRUPT` (see [`vcpu`]). Every lock goes through
//! vm-lock: vCPU state at `VcpuMutex`, guest memory in a `MemoryMap`, the
//! platform's state at `XenLock` and the innermost levels.
//!
//! # Example
//!
//! ```no_run
//! use xen_vmm::{Kernel, Vm, VmConfig};
//! let image = std::fs::read("guest.bin").unwrap();
//! let vm = Vm::new(VmConfig::new(Kernel::Raw64(image))).unwrap();
//! let reason = vm.run().unwrap();
//! std::process::exit(reason.exit_status());
//! ```

pub mod backend_thread;
pub mod boot;
pub mod cpuid;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
pub mod fault;
pub mod halt_poll;
pub mod host_timer;
pub mod hypercall_exit;
pub mod input;
pub mod irqchip;
pub mod kick;
pub mod memory;
pub mod msr;
pub mod quiesce;
pub mod run;
pub mod serial;
pub mod snapshot;
pub mod timers;
pub mod vcpu;
pub mod vm;
mod vm_snapshot;
pub mod xenstore_socket;

pub use error::{Error, Result};
pub use fault::VcpuFault;
pub use irqchip::Irqchip;
pub use vm::{ExitReason, Kernel, Vm, VmConfig, VmShared, VmmFailure, EXIT_VMM_ERROR};
pub use vm_snapshot::Quiesced;
pub use xen_platform;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
