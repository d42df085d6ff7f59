// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Xen hypercall handling for a userspace VMM: hypercall page contents, register decoding for
//! 64- and 32-bit guests, typed requests, handler traits and a dispatcher that writes results
//! back to guest memory and encodes the return value.
//!
//! The crate knows nothing about KVM. Guest memory is anything implementing
//! [`vm_memory::Bytes<GuestAddress>`](vm_memory::Bytes); hypercall pointers go through
//! [`AddressTranslate`] (identity by default).
//!
//! Flow for a VMM:
//! 1. On the guest's write of the hypercall MSR ([`xen_abi::XEN_HYPERCALL_MSR`]) call
//!    [`write_hypercall_page`] (or [`hypercall_page_gpa`] + [`hypercall_page`]).
//! 2. On each hypercall exit copy the vCPU registers into an [`X86Regs`] (or, when the
//!    hypervisor already split them, build [`HypercallRegs`] directly); its
//!    [`X86Regs::hypercall_regs`] decodes width, calling convention and CPL, and
//!    [`X86Regs::paging`] tells whether pointers are guest-virtual.
//! 3. Call [`dispatch`] with a [`Hypervisor`] implementation; write [`HypercallResult::rax`]
//!    to RAX, then act on [`HypercallResult::outcome`]: resume ([`HypercallOutcome::Done`]),
//!    halt the vCPU until an event or deadline ([`HypercallOutcome::Block`], RAX already 0),
//!    or stop the VM ([`HypercallOutcome::Shutdown`], whatever the reason).
//!
//! The dispatcher itself answers what needs no VMM state, as Xen answers a domU:
//! `multicall` (each entry dispatched through the same handler, results written back;
//! see [`Request::Multicall`]), `XENVER_platform_parameters`, `physdev_op` (-ENOSYS:
//! no PIRQs), `sysctl` and `domctl` (-EFAULT, -EACCES for a bad interface version, -ESRCH
//! for a domain that does not exist, then -EPERM), `SCHEDOP_pin_override` (-EPERM).
//!
//! Results to the guest are [`Errno`]s (defined in xen-abi, re-exported here); the enums and
//! result structs are `#[non_exhaustive]`, so a VMM's matches keep compiling when Xen
//! features are added.
//!
//! # Defaults
//!
//! Every handler method has a default giving Xen's answer for something it does not offer,
//! so a VMM implements only what it supports (a [`Hypervisor`] needs just
//! [`Hypervisor::domid`] and [`Hypervisor::nr_vcpus`]):
//!
//! | Family | Default |
//! |---|---|
//! | [`VersionHandler`] | version [`DEFAULT_XEN_VERSION`] (4.17), empty strings, no features, zero handle; command line `"<denied>"`, build id `-EPERM` (an unprivileged domain's view) |
//! | [`MemoryHandler`], [`HvmHandler`], [`VcpuHandler`] | `-ENOSYS` (reservation ops: no extent done) |
//! | [`SchedHandler`] | yield: nothing; block / poll: `Done(-ENOSYS)`; shutdown: passed on; shutdown code: `-ENOSYS`; remote shutdown: `-EPERM` |
//! | [`Hypervisor::domain_exists`] | only the guest's own domain id |
//! | [`EvtchnHandler`] | `-ENOSYS` (`bind_pirq`: `-EPERM`) |
//! | [`GnttabHandler`] | a grant table of 0 frames (Xen's answer for `max_grant_frames=0`): v1 only (`set_version(2)`: `-ENOSYS`), no grant reference (`GNTST_bad_gntref`), no mapping (`GNTST_bad_handle`); `get_status_frames` not offered (`-ENOSYS`, as Xen for HVM guests) |
//! | [`ConsoleHandler`] | write: `-ENOSYS`; read: no input |
//! | [`VmAssistHandler`] | `-EINVAL` (no assist offered) |
//! | [`AddressTranslate`] | identity (flat, unpaged guests) |
//!
//! # Example
//!
//! A VMM offering only the hypervisor console; everything else gets Xen's answer.
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_abi::*;
//! use xen_hypercall::*;
//!
//! struct ConsoleOnly {
//!     out: Vec<u8>,
//! }
//! impl AddressTranslate for ConsoleOnly {} // flat guest: GVA = GPA
//! impl VersionHandler for ConsoleOnly {}
//! impl MemoryHandler for ConsoleOnly {}
//! impl HvmHandler for ConsoleOnly {}
//! impl VcpuHandler for ConsoleOnly {}
//! impl SchedHandler for ConsoleOnly {}
//! impl EvtchnHandler for ConsoleOnly {}
//! impl GnttabHandler for ConsoleOnly {}
//! impl VmAssistHandler for ConsoleOnly {}
//! impl ConsoleHandler for ConsoleOnly {
//!     fn console_write(&mut self, _vcpu: u32, bytes: &[u8]) -> XenResult<()> {
//!         self.out.extend_from_slice(bytes);
//!         Ok(())
//!     }
//! }
//! impl Hypervisor for ConsoleOnly {
//!     fn domid(&self) -> u16 {
//!         1
//!     }
//!     fn nr_vcpus(&self) -> u32 {
//!         1
//!     }
//! }
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
//! // The guest wrote 0x5000 to MSR 0x40000000:
//! write_hypercall_page(&mem, 0x5000, HypercallPageKind::PortIo { port: 0x88 }).unwrap();
//!
//! // A 64-bit guest calls console_io(CONSOLEIO_write, 3, 0x2000).
//! mem.write_slice(b"hi\n", GuestAddress(0x2000)).unwrap();
//! let x = X86Regs {
//!     rax: HYPERVISOR_CONSOLE_IO,
//!     rdi: CONSOLEIO_WRITE.into(),
//!     rsi: 3,
//!     rdx: 0x2000,
//!     efer: 1 << 10, // EFER.LMA
//!     cs_l: true,
//!     ..Default::default()
//! };
//! let mut vmm = ConsoleOnly { out: Vec::new() };
//! let res = dispatch(&x.hypercall_regs(), 0, &mem, &mut vmm);
//! assert_eq!(res.outcome, HypercallOutcome::Done(0));
//! assert_eq!(res.rax, 0); // the VMM writes this to RAX
//! assert_eq!(vmm.out, b"hi\n");
//!
//! // Not implemented here: EVTCHNOP_send gets -ENOSYS.
//! mem.write_obj(EvtchnSend { port: 1 }, GuestAddress(0x3000)).unwrap();
//! let x = X86Regs { rax: HYPERVISOR_EVENT_CHANNEL_OP, rdi: EVTCHNOP_SEND.into(), rsi: 0x3000, ..x };
//! let res = dispatch(&x.hypercall_regs(), 0, &mem, &mut vmm);
//! assert_eq!(res.outcome, HypercallOutcome::Done(Errno::ENOSYS.to_return()));
//! ```

mod decode;
mod dispatch;
mod error;
mod guest;
mod handler;
mod page;
mod regs;
mod request;
#[cfg(feature = "test-support")]
pub mod testing;

pub use decode::{decode, DecodeContext, MIN_PERIODIC_TIMER_NS};
pub use dispatch::{dispatch, execute, HypercallResult};
pub use error::{Errno, Error, XenResult};
pub use guest::{AddressTranslate, GuestAccess};
pub use handler::{
    ConsoleHandler, EvtchnHandler, GnttabHandler, HvmHandler, HypercallOutcome, Hypervisor,
    MemoryHandler, PortStatus, SchedHandler, VcpuHandler, VersionHandler, VmAssistHandler,
    DEFAULT_XEN_VERSION,
};
pub use page::{
    hypercall_page, hypercall_page_gpa, write_hypercall_page, HypercallPageKind, PAGE_FILL_BYTE,
};
pub use regs::{GuestWidth, HypercallRegs, X86Regs};
pub use request::*;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
