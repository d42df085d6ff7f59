// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Hand-written `#[repr(C)]` types and constants of the Xen public guest ABI, for x86 HVM/PVH
//! guests of both widths.
//!
//! Like `kvm-bindings`, this crate holds data only: hypercall and sub-op numbers, errno values,
//! the argument structs of the hypercalls, the shared pages (`shared_info`, `vcpu_info`, time and
//! runstate areas, console and xenstore rings), PVH boot structures and CPUID leaves.
//!
//! Where the 32-bit (i386) layout differs from the 64-bit one, two types exist with suffixes
//! `64` and `32` (e.g. [`SharedInfo64`] / [`SharedInfo32`]); otherwise a single type serves both.
//! Every struct is padding-free (padding is an explicit field) and implements
//! [`vm_memory::ByteValued`], so it can be read from and written to guest memory with
//! [`vm_memory::Bytes`].
//!
//! Names: constants keep Xen's names in upper case (`__HYPERVISOR_memory_op` becomes
//! [`HYPERVISOR_MEMORY_OP`], `EVTCHNOP_send` becomes [`EVTCHNOP_SEND`]); structs are CamelCase
//! (`struct evtchn_alloc_unbound` becomes [`EvtchnAllocUnbound`]). Everything is re-exported at
//! the crate root.
//!
//! # Example
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_abi::{EvtchnAllocUnbound, GuestWidth, SharedInfo64, DOMID_SELF};
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
//! let req = EvtchnAllocUnbound { dom: DOMID_SELF, remote_dom: 0, port: 0 };
//! mem.write_obj(req, GuestAddress(0x1000)).unwrap();
//! let back: EvtchnAllocUnbound = mem.read_obj(GuestAddress(0x1000)).unwrap();
//! assert_eq!(back.dom, DOMID_SELF);
//!
//! assert_eq!(core::mem::size_of::<SharedInfo64>(), 3136);
//! assert_eq!(GuestWidth::Bits32.nr_event_channels(), 1024);
//! ```

mod console;
mod control;
mod errno_values;
mod event_channel;
mod grant_table;
mod hvm;
mod hypercall;
mod memory;
mod physdev;
mod sched;
mod shared_info;
mod start_info;
mod vcpu;
mod version;
mod xenstore;

/// Xen errno values (positive; hypercalls return them negated).
pub mod errno {
    pub use crate::errno_values::*;
}

pub use console::*;
pub use control::*;
pub use event_channel::*;
pub use grant_table::*;
pub use hvm::*;
pub use hypercall::*;
pub use memory::*;
pub use physdev::*;
pub use sched::*;
pub use shared_info::*;
pub use start_info::*;
pub use vcpu::*;
pub use version::*;
pub use xenstore::*;

use vm_memory::ByteValued;

/// Page size of the Xen x86 ABI.
pub const XEN_PAGE_SIZE: u64 = 4096;
/// Page shift of the Xen x86 ABI.
pub const XEN_PAGE_SHIFT: u32 = 12;

/// Width (mode) of the guest as seen at a hypercall: selects register convention, pointer size
/// and struct layouts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GuestWidth {
    /// 64-bit (long mode) guest.
    #[default]
    Bits64,
    /// 32-bit (protected mode / compat) guest.
    Bits32,
}

impl GuestWidth {
    /// `NR_EVENT_CHANNELS` of the 2-level ABI for this width.
    pub const fn nr_event_channels(self) -> u32 {
        match self {
            Self::Bits64 => NR_EVENT_CHANNELS_64,
            Self::Bits32 => NR_EVENT_CHANNELS_32,
        }
    }

    /// Bits per `xen_ulong_t` word of the event-channel bitmaps and selector.
    pub const fn bits_per_word(self) -> u32 {
        match self {
            Self::Bits64 => 64,
            Self::Bits32 => 32,
        }
    }

    /// Size of `struct shared_info` for this width.
    pub const fn shared_info_size(self) -> usize {
        match self {
            Self::Bits64 => core::mem::size_of::<SharedInfo64>(),
            Self::Bits32 => core::mem::size_of::<SharedInfo32>(),
        }
    }

    /// Size of `struct vcpu_runstate_info` for this width.
    pub const fn runstate_info_size(self) -> usize {
        match self {
            Self::Bits64 => core::mem::size_of::<VcpuRunstateInfo64>(),
            Self::Bits32 => core::mem::size_of::<VcpuRunstateInfo32>(),
        }
    }
}

/// A Xen errno for the guest: one of the positive values of [`errno`]; hypercalls return it
/// negated ([`Errno::to_return`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// Operation not permitted.
    pub const EPERM: Self = Self(errno::EPERM);
    /// No such file or directory / entry.
    pub const ENOENT: Self = Self(errno::ENOENT);
    /// No such process.
    pub const ESRCH: Self = Self(errno::ESRCH);
    /// Interrupted system call.
    pub const EINTR: Self = Self(errno::EINTR);
    /// I/O error.
    pub const EIO: Self = Self(errno::EIO);
    /// Argument list too long.
    pub const E2BIG: Self = Self(errno::E2BIG);
    /// Bad file number (e.g. bad event channel port).
    pub const EBADF: Self = Self(errno::EBADF);
    /// Try again.
    pub const EAGAIN: Self = Self(errno::EAGAIN);
    /// Out of memory.
    pub const ENOMEM: Self = Self(errno::ENOMEM);
    /// Permission denied.
    pub const EACCES: Self = Self(errno::EACCES);
    /// Bad address.
    pub const EFAULT: Self = Self(errno::EFAULT);
    /// Device or resource busy.
    pub const EBUSY: Self = Self(errno::EBUSY);
    /// File exists.
    pub const EEXIST: Self = Self(errno::EEXIST);
    /// Cross-device link.
    pub const EXDEV: Self = Self(errno::EXDEV);
    /// No such device.
    pub const ENODEV: Self = Self(errno::ENODEV);
    /// Is a directory.
    pub const EISDIR: Self = Self(errno::EISDIR);
    /// Invalid argument.
    pub const EINVAL: Self = Self(errno::EINVAL);
    /// No space left on device.
    pub const ENOSPC: Self = Self(errno::ENOSPC);
    /// Read-only file system.
    pub const EROFS: Self = Self(errno::EROFS);
    /// Argument out of the domain of the function.
    pub const EDOM: Self = Self(errno::EDOM);
    /// Result not representable.
    pub const ERANGE: Self = Self(errno::ERANGE);
    /// Function not implemented.
    pub const ENOSYS: Self = Self(errno::ENOSYS);
    /// Directory not empty.
    pub const ENOTEMPTY: Self = Self(errno::ENOTEMPTY);
    /// Timer expired (single-shot timer in the past with `VCPU_SSHOTTMR_future`).
    pub const ETIME: Self = Self(errno::ETIME);
    /// No data available.
    pub const ENODATA: Self = Self(errno::ENODATA);
    /// Illegal byte sequence.
    pub const EILSEQ: Self = Self(errno::EILSEQ);
    /// Operation not supported.
    pub const EOPNOTSUPP: Self = Self(errno::EOPNOTSUPP);
    /// No buffer space available.
    pub const ENOBUFS: Self = Self(errno::ENOBUFS);
    /// Already connected.
    pub const EISCONN: Self = Self(errno::EISCONN);
    /// Not connected.
    pub const ENOTCONN: Self = Self(errno::ENOTCONN);
    /// Timed out.
    pub const ETIMEDOUT: Self = Self(errno::ETIMEDOUT);

    /// The value returned to the guest (`-errno`).
    pub const fn to_return(self) -> i64 {
        -(self.0 as i64)
    }
}

/// Implements `ByteValued` for plain-old-data ABI structs.
macro_rules! impl_byte_valued {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: `$t` is `#[repr(C)]` (or packed), built only from integers, integer
            // arrays and other such structs, with every padding byte declared as an explicit
            // field (checked by the layout tests), so every byte pattern is a valid value and
            // no byte is uninitialized.
            unsafe impl ByteValued for $t {}
        )*
    };
}

impl_byte_valued!(
    VcpuTimeInfo,
    ArchVcpuInfo64,
    ArchVcpuInfo32,
    VcpuInfo64,
    VcpuInfo32,
    ArchSharedInfo64,
    ArchSharedInfo32,
    SharedInfo64,
    SharedInfo32,
    VcpuRunstateInfo64,
    VcpuRunstateInfo32,
    EvtchnAllocUnbound,
    EvtchnBindInterdomain,
    EvtchnBindVirq,
    EvtchnBindPirq,
    EvtchnBindIpi,
    EvtchnClose,
    EvtchnSend,
    EvtchnStatus,
    EvtchnBindVcpu,
    EvtchnUnmask,
    EvtchnReset,
    EvtchnInitControl,
    EvtchnExpandArray,
    EvtchnSetPriority,
    EvtchnFifoControlBlock,
    VcpuRegisterVcpuInfo,
    VcpuSetPeriodicTimer,
    VcpuSetSingleshotTimer64,
    VcpuSetSingleshotTimer32,
    VcpuRegisterRunstateMemoryArea,
    VcpuRegisterTimeMemoryArea,
    XenAddToPhysmap64,
    XenAddToPhysmap32,
    XenMemoryMap64,
    XenMemoryMap32,
    E820Entry,
    SchedShutdown,
    SchedPoll64,
    SchedPoll32,
    XenHvmParam,
    XenHvmEvtchnUpcallVector,
    HvmStartInfo,
    HvmModlistEntry,
    HvmMemmapTableEntry,
    GrantEntryV1,
    GnttabSetupTable64,
    GnttabSetupTable32,
    GnttabQuerySize,
    GnttabSetVersion,
    GnttabGetVersion,
    XenCompileInfo,
    XenFeatureInfo,
    XenconsInterface,
    XenstoreDomainInterface,
    XsdSockmsg,
    MulticallEntry64,
    MulticallEntry32,
    VcpuHvmX86Regs32,
    VcpuHvmX86Regs64,
    VcpuHvmContext,
    XenMemoryReservation64,
    XenMemoryReservation32,
    XenRemoveFromPhysmap64,
    XenRemoveFromPhysmap32,
    XenAddToPhysmapBatch64,
    XenAddToPhysmapBatch32,
    SchedRemoteShutdown,
    SchedWatchdog,
    SchedPinOverride,
    XenPlatformParameters64,
    XenPlatformParameters32,
    XenBuildId,
    XenSysctl,
    XenDomctl,
    GrantEntryHeader,
    GrantEntryV2FullPage,
    GrantEntryV2SubPage,
    GrantEntryV2Transitive,
    GnttabMapGrantRef,
    GnttabUnmapGrantRef,
    GnttabCopy64,
    GnttabCopy32,
    GnttabGetStatusFrames64,
    GnttabGetStatusFrames32,
    GnttabSwapGrantRef,
    XenMemoryDomain,
);

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
