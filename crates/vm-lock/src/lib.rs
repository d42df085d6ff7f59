// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The VM lock hierarchy as types.
//!
//! Every lock of a VMM built on these crates has a *level*; levels are totally ordered,
//! outermost first:
//!
//! ```text
//! Unlocked -> VmLock -> VcpuMutex -> SlotsLock -> MemRead -> XenLock -> EvtchnLock
//!          -> PageCache<0> -> PageCache<1> -> Devices -> Output
//! ```
//!
//! Locking needs a zero-sized [`Token`] proving which level the thread holds innermost, and
//! gives back the token of the new level. Taking a lock out of order, taking two vCPU mutexes
//! without [`lock_all_vcpus`], reusing an outer token, waiting for memory-map readers
//! ([`MemoryMap::synchronize`]) inside a read section or under `XenLock`, or waiting for another
//! thread ([`blocking`], and the VMM's pause / snapshot / join, which take a [`MayBlock`]
//! token) while holding any lock **does not compile**, with an error that names the rule (see
//! `tests/compile_fail/`). A VMM adds levels of its own between these with
//! [`declare_levels!`].
//!
//! The tokens are zero-sized and [`OrderedMutex<L, T>`] has the size of `std::sync::Mutex<T>`:
//! the order costs nothing at run time. Debug builds add a runtime backstop ([`held`]): a
//! per-thread stack of held levels that panics on what the types cannot see (two roots on one
//! thread).
//!
//! # Example
//!
//! ```
//! use vm_lock::{lock_all_vcpus, MemoryMap, OrderedMutex, Paused, Root, VcpuMutex, VmLock, XenLock};
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//!
//! struct Vm {
//!     config: OrderedMutex<VmLock, u32>,
//!     vcpus: Vec<OrderedMutex<VcpuMutex, u64>>,
//!     xen: OrderedMutex<XenLock, u32>,
//!     mem: MemoryMap<GuestMemoryMmap>,
//! }
//!
//! let vm = Vm {
//!     config: OrderedMutex::new(0),
//!     vcpus: (0..2).map(OrderedMutex::new).collect(),
//!     xen: OrderedMutex::new(0),
//!     mem: MemoryMap::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap()),
//! };
//!
//! // One root per thread: the `Unlocked` token.
//! let mut root = Root::new().unwrap();
//!
//! // A vCPU path: vCPU mutex -> read section -> Xen leaf lock.
//! {
//!     let (mut rip, mut t_vcpu) = vm.vcpus[0].lock(root.token());
//!     let (mem, mut t_read) = vm.mem.read(&mut t_vcpu);
//!     let (mut xen, _t_xen) = vm.xen.lock(&mut t_read);
//!     mem.write_obj(7u32, GuestAddress(0x100)).unwrap();
//!     *xen = mem.read_obj(GuestAddress(0x100)).unwrap();
//!     *rip += 1;
//! }
//!
//! // A VM-wide path: (pause the vCPU threads) -> VM lock -> every vCPU (in index order) ->
//! // replace the memory map. No vCPU thread runs here: the proof is made at once.
//! let paused = Paused::new(root.token(), &vm.vcpus);
//! {
//!     let (mut cfg, mut t_vm) = vm.config.lock(root.token());
//!     let (vcpus, mut t_vcpus) = lock_all_vcpus(&mut t_vm, &paused);
//!     *cfg = vcpus.len() as u32;
//!     vm.mem.replace(
//!         &mut t_vcpus,
//!         GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x2000)]).unwrap(),
//!     );
//!     // Wait until no vCPU reads the old map (allowed here: we are not in a read section).
//!     vm.mem.synchronize(&mut t_vcpus);
//! }
//! assert_eq!(vm.mem.generation(), 1);
//! ```
//!
//! And the bug this crate exists for (vCPU mutex, then the VM lock) is rejected:
//!
//! ```compile_fail
//! use vm_lock::{OrderedMutex, Root, VcpuMutex, VmLock};
//! let vm = OrderedMutex::<VmLock, ()>::new(());
//! let vcpu = OrderedMutex::<VcpuMutex, ()>::new(());
//! let mut root = Root::new().unwrap();
//! let (_v, mut t) = vcpu.lock(root.token());
//! let _ = vm.lock(&mut t); // error: lock order violation: cannot take `VmLock` while holding `VcpuMutex`
//! ```

pub mod block;
pub mod error;
pub mod held;
pub mod level;
pub mod memory;
pub mod mutex;
pub mod relation;
pub mod rwlock;
pub mod token;

pub use block::{assert_may_block, blocking, Paused};
pub use error::Error;
pub use held::held_levels;
pub use level::{
    Devices, EvtchnLock, MemRead, Output, PageCache, SlotsLock, Unlocked, VcpuMutex, VmLock,
    XenLock,
};
pub use memory::{MapId, MemReadGuard, MemoryMap};
pub use mutex::{lock_all_vcpus, OrderedMutex, OrderedMutexGuard};
pub use relation::{Level, LockAfter, MayBlock, MayLockAllVcpus, MayWaitForReaders};
pub use rwlock::{OrderedReadGuard, OrderedRwLock, OrderedWriteGuard};
pub use token::{Root, Token};

/// For [`declare_levels!`] only: not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::relation::sealed::Sealed;
}

/// Compile-time checks that the order costs nothing in space.
mod zero_cost {
    use std::mem::{align_of, size_of};
    use std::sync::{Mutex, RwLock};

    use super::*;

    macro_rules! assert_zero_sized_tokens {
        ($($l:ty),+) => { $(
            const _: () = assert!(size_of::<Token<'static, $l>>() == 0);
            const _: () = assert!(size_of::<$l>() == 0);
        )+ };
    }
    assert_zero_sized_tokens!(
        Unlocked,
        VmLock,
        VcpuMutex,
        SlotsLock,
        MemRead,
        XenLock,
        EvtchnLock,
        PageCache<0>,
        PageCache<1>,
        Devices,
        Output
    );

    macro_rules! assert_same_size_as_std {
        ($($t:ty),+) => { $(
            const _: () = assert!(size_of::<OrderedMutex<VmLock, $t>>() == size_of::<Mutex<$t>>());
            const _: () = assert!(align_of::<OrderedMutex<VmLock, $t>>() == align_of::<Mutex<$t>>());
            const _: () = assert!(size_of::<OrderedMutex<PageCache<1>, $t>>() == size_of::<Mutex<$t>>());
            const _: () = assert!(size_of::<OrderedRwLock<XenLock, $t>>() == size_of::<RwLock<$t>>());
            // Guards carry a debug-only flag for the runtime backstop: equal in release.
            #[cfg(not(debug_assertions))]
            const _: () = assert!(
                size_of::<OrderedMutexGuard<'static, VcpuMutex, $t>>()
                    == size_of::<std::sync::MutexGuard<'static, $t>>()
            );
        )+ };
    }
    assert_same_size_as_std!((), u8, u32, u64, [u8; 4096], Vec<u8>, Option<Box<u64>>);
}

/// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
