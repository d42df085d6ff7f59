// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! xen-platform: the Xen a guest sees, without KVM.
//!
//! [`XenPlatform`] owns everything that makes a Xen HVM/PVH guest's
//! hypervisor behave like Xen: the event-channel table (xen-evtchn), the
//! shared_info / vcpu_info / time / runstate pages (xen-shinfo-cache), Xen
//! timers, HVM params, the grant table (xen-gnttab), the PV console and
//! xenstore (xen-store), and every hypercall (xen-hypercall's handler traits,
//! with Xen's semantics and errnos). A VMM, whatever its vCPU loop, memory
//! and interrupt plumbing, calls a handful of entry points:
//!
//! | when | call |
//! | --- | --- |
//! | building the vCPUs' CPUID | [`XenPlatform::cpuid_leaves`] |
//! | the guest writes an MSR | [`XenPlatform::on_msr_write`] (hypercall page) |
//! | a hypercall exit | [`XenPlatform::on_hypercall`] → [`HypercallExit`] |
//! | before entering a vCPU (no irqchip) | [`XenPlatform::pending_upcall`] |
//! | a blocked vCPU may wake | [`XenPlatform::wait_ready`], then [`XenPlatform::wait_end`] |
//! | a host timer fires | [`XenPlatform::timer_fired`] |
//! | host console input | [`XenPlatform::console_input`] |
//! | a vCPU changes runstate | [`XenPlatform::set_runstate`] |
//! | a vCPU starts, is restored or wakes | [`XenPlatform::update_vcpu_time`] (its pvclock) |
//! | snapshot / restore | [`XenPlatform::state`], [`XenPlatform::restore`] |
//!
//! and implements [`XenHost`] (clock, timers, upcall delivery, kicks; every
//! method has a default) and, per hypercall, [`VcpuAccess`] (address
//! translation and TSC of the calling vCPU).
//!
//! # Locking
//!
//! Guest memory is a vm-lock [`MemoryMap`](vm_lock::MemoryMap) (a
//! `GuestMemoryAtomic<GuestMemoryMmap>` with typed read sections). Each entry
//! point takes the caller's vm-lock token and compiles only where the lock
//! order holds: a hypercall runs inside one memory-map read section, Xen
//! state is at `XenLock`, the event-channel table at `EvtchnLock` (after
//! it: a handler may hold both), the page caches at `PageCache<0/1>`,
//! devices at `Devices`, console output at `Output`. A VMM that does not use
//! vm-lock elsewhere creates one
//! [`vm_lock::Root`] per thread that calls the platform and passes
//! `root.token()`. It replaces guest memory only through
//! `MemoryMap::replace` (under the slots lock), which bumps the map's
//! generation: the page caches then look their pages up again and never write
//! into a region the VMM dropped.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use vm_lock::{MemoryMap, Root};
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_hypercall::HypercallRegs;
//! use xen_platform::{HypercallExit, NoVcpuAccess, PlatformConfig, Retry, XenHost, XenPlatform};
//!
//! struct Host; // clock: CLOCK_MONOTONIC; no timers, no kicks
//! impl XenHost for Host {}
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
//! let platform = XenPlatform::new(
//!     PlatformConfig::new(1, 16 << 20),
//!     MemoryMap::new(mem),
//!     Arc::new(Host),
//!     Box::new(std::io::sink()),
//! )
//! .unwrap();
//! let mut root = Root::new().unwrap();
//! // A 64-bit guest calls xen_version(XENVER_version, NULL).
//! let regs = HypercallRegs::from_regs64(0, xen_abi::HYPERVISOR_XEN_VERSION, 0, 0, 0, 0, 0, 0);
//! let exit = platform.on_hypercall(root.token(), 0, &regs, false, &mut NoVcpuAccess, Retry::No);
//! assert_eq!(exit, HypercallExit::Resume { rax: (4 << 16) | 17 });
//! ```

pub mod backends;
pub mod console;
pub mod cpuid;
mod error;
mod guest;
mod handlers;
pub mod host;
pub mod memory;
pub mod paging;
pub mod params;
mod platform;
pub mod runstate;
pub mod smp;
mod snapshot;
pub mod state;
pub mod time;
mod timers;
pub mod trace;
mod validate;
pub mod vbd;

pub use backends::{Backend, Backends};
pub use error::{Error, Result};
pub use host::{NoVcpuAccess, TimerArm, TimerKind, TscReading, VcpuAccess, XenHost};
pub use paging::PagingRegs;
pub use platform::{
    HypercallExit, MsrWrite, PlatformConfig, PlatformEvtchn, PlatformSink, Retry, StoreIo, Wait,
    XenPlatform, XEN_VERSION, YIELD_CLOCK_EVERY, YIELD_WAKE_INTERVAL_NS,
};
pub use smp::{StartSegment, VcpuStart};
pub use snapshot::PlatformState;
pub use time::pvclock_scale;
pub use timers::{singleshot_deadline, MAX_PERIOD_NS, MAX_SINGLESHOT_AHEAD_NS, MIN_PERIOD_NS};
pub use vbd::{DiskConfig, VbdState};
pub use xen_evtchn::{CallbackVia, UpcallKind};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
