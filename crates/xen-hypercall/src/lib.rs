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
//! 2. On each hypercall exit build [`HypercallRegs`] and call [`dispatch`] with a
//!    [`Hypervisor`] implementation; write [`HypercallResult::rax`] to RAX, then act on
//!    [`HypercallResult::outcome`]: resume ([`HypercallOutcome::Done`]), halt the vCPU until an
//!    event or deadline ([`HypercallOutcome::Block`], RAX already 0), or shut the VM down
//!    ([`HypercallOutcome::Shutdown`]).
//!
//! # Defaults
//!
//! Every handler method has a default giving Xen's answer for something it does not offer,
//! so a VMM implements only what it supports (a [`Hypervisor`] needs just
//! [`Hypervisor::domid`] and [`Hypervisor::nr_vcpus`]):
//!
//! | Family | Default |
//! |---|---|
//! | [`VersionHandler`] | version [`DEFAULT_XEN_VERSION`] (4.17), empty strings, no features |
//! | [`MemoryHandler`], [`HvmHandler`], [`VcpuHandler`] | `-ENOSYS` |
//! | [`SchedHandler`] | yield: nothing; block / poll: `Done(-ENOSYS)`; shutdown: passed on |
//! | [`EvtchnHandler`] | `-ENOSYS` (`bind_pirq`: `-EPERM`) |
//! | [`GnttabHandler`] | a grant table of 0 frames (Xen's answer for `max_grant_frames=0`) |
//! | [`ConsoleHandler`] | write: `-ENOSYS`; read: no input |
//! | [`VmAssistHandler`] | `-EINVAL` (no assist offered) |
//! | [`AddressTranslate`] | identity (flat, unpaged guests) |
//!
//! # Example
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_abi::*;
//! use xen_hypercall::testing::RecordingHypervisor;
//! use xen_hypercall::{dispatch, write_hypercall_page, HypercallOutcome, HypercallPageKind,
//!     HypercallRegs};
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
//! // Guest wrote 0x5000 to MSR 0x40000000:
//! write_hypercall_page(&mem, 0x5000, HypercallPageKind::PortIo { port: 0xe9 }).unwrap();
//!
//! // Guest calls EVTCHNOP_alloc_unbound with the struct at 0x2000.
//! let arg = EvtchnAllocUnbound { dom: DOMID_SELF, remote_dom: 0, port: 0 };
//! mem.write_obj(arg, GuestAddress(0x2000)).unwrap();
//! let regs = HypercallRegs::from_regs64(
//!     0, HYPERVISOR_EVENT_CHANNEL_OP, EVTCHNOP_ALLOC_UNBOUND.into(), 0x2000, 0, 0, 0, 0);
//!
//! let mut hv = RecordingHypervisor::new(1, 2); // your VMM's Hypervisor impl
//! let res = dispatch(&regs, 0, &mem, &mut hv);
//! assert_eq!(res.outcome, HypercallOutcome::Done(0));
//! assert_eq!(res.rax, 0);
//! let out: EvtchnAllocUnbound = mem.read_obj(GuestAddress(0x2000)).unwrap();
//! assert_eq!(out.port, 1);
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
