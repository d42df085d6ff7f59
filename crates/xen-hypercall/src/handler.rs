// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Handler traits, one per hypercall family, combined into [`Hypervisor`].
//!
//! The VMM implements them by calling the crates that own the state (xen-evtchn for event
//! channels, xen-shinfo-cache for guest pages, its own timers...). Every method receives the
//! id of the calling vCPU. Arguments have been validated as far as possible without VMM
//! state (ranges, domain ids, vCPU ids, flag bits); the rest (e.g. whether a port is open) is
//! the handler's job, reported with an [`Errno`].
//!
//! Every method has a default: see the crate docs ("Defaults").

use xen_abi::{
    E820Entry, XenCapabilitiesInfo, XenChangesetInfo, XenCommandline, XenCompileInfo,
    XenDomainHandle, XenExtraversion, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTST_BAD_GNTREF,
    GNTST_BAD_HANDLE, GNTST_BAD_PAGE, GNTST_GENERAL_ERROR, XEN_DOMAIN_HANDLE_LEN,
};

use crate::error::{Errno, XenResult};
use crate::guest::AddressTranslate;
use crate::request::{GrantCopyReq, GrantMapReq, GuestArea, HvmParam, MapSpace, ReservationOp};

/// What the vCPU does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HypercallOutcome {
    /// Finished: write this value (0, a result, or `-errno`) to RAX and resume.
    Done(i64),
    /// The vCPU must sleep (`SCHEDOP_block` / `SCHEDOP_poll`) until an event is pending for
    /// it (for poll: one of the polled ports) or `deadline_ns` (Xen system time) passes.
    /// When it wakes, the VMM writes 0 to RAX and resumes it.
    Block {
        /// Absolute wake-up time, if any.
        deadline_ns: Option<u64>,
    },
    /// The guest asked to shut down with `reason` (`0..=255`). RAX gets 0 should the vCPU
    /// ever resume (e.g. after `SHUTDOWN_suspend`).
    ///
    /// The reason is the guest's `SHUTDOWN_*` value truncated to 8 bits, as Xen keeps it.
    /// Xen accepts any value: it stops the domain whatever the reason and records the code
    /// for the toolstack. A reason above `SHUTDOWN_MAX` is one the VMM cannot know the
    /// meaning of: stop the VM for good, as Xen's `xl` toolstack does (it destroys a domain
    /// whose shutdown code it does not know). Never restart, suspend or resume it, and never
    /// answer it with an errno.
    Shutdown(u32),
}

impl HypercallOutcome {
    /// Outcome of a handler result: `Ok(v)` gives `Done(v)`, `Err(e)` gives `Done(-e)`.
    pub fn from_result(r: XenResult<i64>) -> Self {
        match r {
            Ok(v) => Self::Done(v),
            Err(e) => Self::Done(e.to_return()),
        }
    }

    /// The value to place in RAX now (0 for `Block` and `Shutdown`).
    pub fn return_value(&self) -> i64 {
        match *self {
            Self::Done(v) => v,
            Self::Block { .. } | Self::Shutdown(_) => 0,
        }
    }
}

/// `(major, minor)` answered by the default [`VersionHandler::xen_version`]: Xen 4.17, the
/// version whose ABI this workspace follows.
pub const DEFAULT_XEN_VERSION: (u16, u16) = (4, 17);

/// `xen_version`. Every method has a default (see the [crate docs](crate#defaults)).
pub trait VersionHandler {
    /// `(major, minor)` reported by `XENVER_version`. Default: [`DEFAULT_XEN_VERSION`].
    fn xen_version(&mut self, vcpu: u32) -> (u16, u16) {
        let _ = vcpu;
        DEFAULT_XEN_VERSION
    }
    /// Fills the extraversion string (NUL-terminated, e.g. `".0"`). Default: empty.
    fn extraversion(&mut self, vcpu: u32, out: &mut XenExtraversion) {
        let _ = (vcpu, out);
    }
    /// Fills the capabilities string (e.g. `"hvm-3.0-x86_64 hvm-3.0-x86_32"`). Default:
    /// empty.
    fn capabilities(&mut self, vcpu: u32, out: &mut XenCapabilitiesInfo) {
        let _ = (vcpu, out);
    }
    /// Fills the compile info; default: all empty strings.
    fn compile_info(&mut self, vcpu: u32, out: &mut XenCompileInfo) {
        let _ = (vcpu, out);
    }
    /// Fills the changeset string; default: empty.
    fn changeset(&mut self, vcpu: u32, out: &mut XenChangesetInfo) {
        let _ = (vcpu, out);
    }
    /// Feature word `submap_idx` (`XENFEAT_*` bits); the dispatcher already rejects
    /// `submap_idx >= XENFEAT_NR_SUBMAPS` with -EINVAL. Default: 0 (no feature).
    fn features(&mut self, vcpu: u32, submap_idx: u32) -> u32 {
        let _ = (vcpu, submap_idx);
        0
    }
    /// The domain's handle (UUID) for `XENVER_guest_handle`. Default: all zero.
    fn guest_handle(&mut self, vcpu: u32) -> XenDomainHandle {
        let _ = vcpu;
        [0; XEN_DOMAIN_HANDLE_LEN]
    }
    /// `XENVER_commandline`: fills `out` with Xen's command line and returns `true` (the
    /// guest gets all 1024 bytes), or returns `false` to deny it, as Xen's default policy
    /// does for every domain but the control domain: the guest then gets the 9 bytes
    /// `"<denied>\0"`. Default: `false`.
    fn commandline(&mut self, vcpu: u32, out: &mut XenCommandline) -> bool {
        let _ = (vcpu, out);
        false
    }
    /// `XENVER_build_id`: fills `out` with the build id and returns its length, or `None`
    /// to deny it, as Xen's default policy does for every domain but the control domain
    /// (-EPERM, whatever the argument). Default: `None`.
    fn build_id(
        &mut self,
        vcpu: u32,
        out: &mut [u8; crate::request::MAX_BUILD_ID],
    ) -> Option<usize> {
        let _ = (vcpu, out);
        None
    }
}

/// `memory_op`. Defaults: -ENOSYS.
pub trait MemoryHandler {
    /// Places `space` at `gfn`; the GFN may lie outside RAM (e.g. in an e820 hole).
    fn add_to_physmap(&mut self, vcpu: u32, space: MapSpace, gfn: u64) -> XenResult<()> {
        let _ = (vcpu, space, gfn);
        Err(Errno::ENOSYS)
    }
    /// The guest's memory map; the dispatcher copies as many entries as the guest has room
    /// for. Default: -ENOSYS, Xen's answer when the domain has no memory map.
    fn memory_map(&mut self, vcpu: u32) -> XenResult<&[E820Entry]> {
        let _ = vcpu;
        Err(Errno::ENOSYS)
    }
    /// One extent of `XENMEM_increase_reservation` (`gfn`: `None`), `decrease_reservation`
    /// or `populate_physmap` (`gfn`: the extent's first frame), `2^order` pages
    /// (`order <=` [`MAX_DOMU_EXTENT_ORDER`](crate::MAX_DOMU_EXTENT_ORDER)). Returns
    /// whether it was done: the first extent that is not ends the call, whose result is
    /// the number done before it. Default: `false` (no memory can be given or taken).
    fn reservation_extent(
        &mut self,
        vcpu: u32,
        op: ReservationOp,
        gfn: Option<u64>,
        order: u32,
    ) -> bool {
        let _ = (vcpu, op, gfn, order);
        false
    }
    /// `XENMEM_maximum_ram_page`: the highest machine frame Xen has (it never fails in
    /// Xen). Default: -ENOSYS.
    fn maximum_ram_page(&mut self, vcpu: u32) -> XenResult<u64> {
        let _ = vcpu;
        Err(Errno::ENOSYS)
    }
    /// `XENMEM_current_reservation` (`maximum: false`: pages the domain has) or
    /// `XENMEM_maximum_reservation` (pages it may have) of the caller's own domain
    /// (the dispatcher answers others). Default: -ENOSYS.
    fn reservation_size(&mut self, vcpu: u32, maximum: bool) -> XenResult<u64> {
        let _ = (vcpu, maximum);
        Err(Errno::ENOSYS)
    }
    /// `XENMEM_remove_from_physmap` of `gfn` in the caller's own domain. Default:
    /// -ENOSYS.
    fn remove_from_physmap(&mut self, vcpu: u32, gfn: u64) -> XenResult<()> {
        let _ = (vcpu, gfn);
        Err(Errno::ENOSYS)
    }
}

/// `hvm_op`. Defaults: -ENOSYS.
pub trait HvmHandler {
    /// `HVMOP_set_param`.
    fn set_param(&mut self, vcpu: u32, param: HvmParam) -> XenResult<()> {
        let _ = (vcpu, param);
        Err(Errno::ENOSYS)
    }
    /// `HVMOP_get_param` of `index` (`< HVM_NR_PARAMS`).
    fn get_param(&mut self, vcpu: u32, index: u32) -> XenResult<u64> {
        let _ = (vcpu, index);
        Err(Errno::ENOSYS)
    }
    /// `HVMOP_set_evtchn_upcall_vector` for vCPU `target`. The default -ENOSYS is what Xen
    /// versions without the op answer; Linux then falls back to the callback parameter.
    fn set_evtchn_upcall_vector(&mut self, vcpu: u32, target: u32, vector: u8) -> XenResult<()> {
        let _ = (vcpu, target, vector);
        Err(Errno::ENOSYS)
    }
}

/// `vcpu_op` and `set_timer_op`. `target` is the vCPU named by the guest (`< nr_vcpus`).
/// Defaults: -ENOSYS (for `register_vcpu_info`, guests then keep their `vcpu_info` in
/// `shared_info`).
pub trait VcpuHandler {
    /// `VCPUOP_register_vcpu_info`.
    fn register_vcpu_info(
        &mut self,
        vcpu: u32,
        target: u32,
        gfn: u64,
        offset: u32,
    ) -> XenResult<()> {
        let _ = (vcpu, target, gfn, offset);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_register_runstate_memory_area` (`None` unregisters).
    fn register_runstate_area(
        &mut self,
        vcpu: u32,
        target: u32,
        area: Option<GuestArea>,
    ) -> XenResult<()> {
        let _ = (vcpu, target, area);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_register_vcpu_time_memory_area` (`None` unregisters).
    fn register_time_area(
        &mut self,
        vcpu: u32,
        target: u32,
        area: Option<GuestArea>,
    ) -> XenResult<()> {
        let _ = (vcpu, target, area);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_set_singleshot_timer`; return `Err(Errno::ETIME)` if `future` and the
    /// deadline has passed.
    fn set_singleshot_timer(
        &mut self,
        vcpu: u32,
        target: u32,
        timeout_abs_ns: u64,
        future: bool,
    ) -> XenResult<()> {
        let _ = (vcpu, target, timeout_abs_ns, future);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_stop_singleshot_timer`.
    fn stop_singleshot_timer(&mut self, vcpu: u32, target: u32) -> XenResult<()> {
        let _ = (vcpu, target);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_set_periodic_timer`.
    fn set_periodic_timer(&mut self, vcpu: u32, target: u32, period_ns: u64) -> XenResult<()> {
        let _ = (vcpu, target, period_ns);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_stop_periodic_timer`.
    fn stop_periodic_timer(&mut self, vcpu: u32, target: u32) -> XenResult<()> {
        let _ = (vcpu, target);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_initialise` of vCPU `target` with the HVM/PVH context `ctx` (as read from
    /// the guest, unchecked). Xen's order: -EEXIST if `target` is already initialised,
    /// then -EINVAL for a context `arch_set_info_hvm_guest` refuses. The vCPU stays down
    /// until `VCPUOP_up`.
    fn initialise(
        &mut self,
        vcpu: u32,
        target: u32,
        ctx: &xen_abi::VcpuHvmContext,
    ) -> XenResult<()> {
        let _ = (vcpu, target, ctx);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_up`: -EINVAL if `target` was never initialised; bringing up a vCPU that is
    /// up already does nothing.
    fn up(&mut self, vcpu: u32, target: u32) -> XenResult<()> {
        let _ = (vcpu, target);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_down` (taking down the last vCPU that is up shuts the domain down, as Xen).
    fn down(&mut self, vcpu: u32, target: u32) -> XenResult<()> {
        let _ = (vcpu, target);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_is_up`: whether `target` is up.
    fn is_up(&mut self, vcpu: u32, target: u32) -> XenResult<bool> {
        let _ = (vcpu, target);
        Err(Errno::ENOSYS)
    }
    /// `VCPUOP_get_runstate_info`: `target`'s runstate now (state, entry time, time in
    /// each state); the dispatcher writes it in the caller's width.
    fn runstate_info(&mut self, vcpu: u32, target: u32) -> XenResult<xen_abi::VcpuRunstateInfo64> {
        let _ = (vcpu, target);
        Err(Errno::ENOSYS)
    }
    /// `set_timer_op` on the calling vCPU (`None` cancels).
    fn set_timer_op(&mut self, vcpu: u32, deadline_ns: Option<u64>) -> XenResult<()> {
        let _ = (vcpu, deadline_ns);
        Err(Errno::ENOSYS)
    }
}

/// `sched_op`. Blocking ones return a [`HypercallOutcome`].
pub trait SchedHandler {
    /// `SCHEDOP_yield`. Default: nothing (the guest resumes at once).
    fn yield_now(&mut self, vcpu: u32) {
        let _ = vcpu;
    }
    /// `SCHEDOP_block`: return `Done(0)` if an event is already pending, else `Block`.
    /// Default: `Done(-ENOSYS)` (a VMM without event delivery cannot wake the vCPU).
    fn block(&mut self, vcpu: u32) -> HypercallOutcome {
        let _ = vcpu;
        HypercallOutcome::Done(Errno::ENOSYS.to_return())
    }
    /// `SCHEDOP_poll`: return `Done(0)` if a port is pending, `Done(-errno)` for a bad port,
    /// else `Block { deadline_ns: timeout_ns }`. Default: `Done(-ENOSYS)`.
    fn poll(&mut self, vcpu: u32, ports: &[u32], timeout_ns: Option<u64>) -> HypercallOutcome {
        let _ = (vcpu, ports, timeout_ns);
        HypercallOutcome::Done(Errno::ENOSYS.to_return())
    }
    /// `SCHEDOP_shutdown` with `reason` in `0..=255` (possibly above `SHUTDOWN_MAX`; see
    /// [`HypercallOutcome::Shutdown`]). Default: `Shutdown(reason)`, handed to the VMM.
    ///
    /// A handler that implements [`SchedHandler::shutdown_code`] reports the code set there
    /// instead of `reason`, as Xen does.
    fn shutdown(&mut self, vcpu: u32, reason: u32) -> HypercallOutcome {
        let _ = vcpu;
        HypercallOutcome::Shutdown(reason)
    }
    /// `SCHEDOP_shutdown_code` with `reason` in `0..=255`: the first code set is the reason
    /// every later shutdown of the domain reports (Xen keeps the first; the call always
    /// succeeds). Default: -ENOSYS (no shutdown code kept).
    fn shutdown_code(&mut self, vcpu: u32, reason: u32) -> XenResult<()> {
        let _ = (vcpu, reason);
        Err(Errno::ENOSYS)
    }
    /// `SCHEDOP_remote_shutdown` of `domid`, a domain that exists
    /// ([`Hypervisor::domain_exists`]; the dispatcher answers -ESRCH for the others).
    /// Default: -EPERM, Xen's answer to a domain that is not the control domain or the
    /// target's device model, the caller itself included.
    fn remote_shutdown(&mut self, vcpu: u32, domid: u16, reason: u32) -> HypercallOutcome {
        let _ = (vcpu, domid, reason);
        HypercallOutcome::Done(Errno::EPERM.to_return())
    }
    /// A [`HypercallOutcome::Block`] this handler returned will not be waited for: the
    /// call was an entry of a multicall other than its last, and it returns 0 at once (a
    /// spurious wake-up, which guests of `SCHEDOP_block` and `SCHEDOP_poll` must allow).
    /// Undo whatever wait was set up for it. Default: nothing.
    fn block_abandoned(&mut self, vcpu: u32) {
        let _ = vcpu;
    }
}

/// Status of a port: the typed answer to `EVTCHNOP_status`, which the dispatcher encodes
/// into the guest's [`xen_abi::EvtchnStatus`] (`EVTCHNSTAT_*` and the `u` words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortStatus {
    /// Not in use.
    Closed,
    /// Unbound, waiting for `remote_dom`.
    Unbound {
        /// Remote domain.
        remote_dom: u16,
    },
    /// Connected to a remote port.
    Interdomain {
        /// Remote domain.
        remote_dom: u16,
        /// Remote port.
        remote_port: u32,
    },
    /// Bound to a PIRQ.
    Pirq(u32),
    /// Bound to a VIRQ.
    Virq(u32),
    /// IPI.
    Ipi,
}

/// `event_channel_op` (2-level ABI). Ports returned are written back by the dispatcher.
/// Defaults: -ENOSYS, except `bind_pirq`.
pub trait EvtchnHandler {
    /// `EVTCHNOP_alloc_unbound`.
    fn alloc_unbound(&mut self, vcpu: u32, remote_dom: u16) -> XenResult<u32> {
        let _ = (vcpu, remote_dom);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_bind_interdomain`.
    fn bind_interdomain(&mut self, vcpu: u32, remote_dom: u16, remote_port: u32) -> XenResult<u32> {
        let _ = (vcpu, remote_dom, remote_port);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_bind_virq`.
    fn bind_virq(&mut self, vcpu: u32, virq: u32, target: u32) -> XenResult<u32> {
        let _ = (vcpu, virq, target);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_bind_pirq`; default: -EPERM (no physical IRQs for guests).
    fn bind_pirq(&mut self, vcpu: u32, pirq: u32, flags: u32) -> XenResult<u32> {
        let _ = (vcpu, pirq, flags);
        Err(Errno::EPERM)
    }
    /// `EVTCHNOP_bind_ipi`.
    fn bind_ipi(&mut self, vcpu: u32, target: u32) -> XenResult<u32> {
        let _ = (vcpu, target);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_close`.
    fn close(&mut self, vcpu: u32, port: u32) -> XenResult<()> {
        let _ = (vcpu, port);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_send`.
    fn send(&mut self, vcpu: u32, port: u32) -> XenResult<()> {
        let _ = (vcpu, port);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_status`: state and bound vCPU.
    fn status(&mut self, vcpu: u32, port: u32) -> XenResult<(PortStatus, u32)> {
        let _ = (vcpu, port);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_bind_vcpu`.
    fn bind_vcpu(&mut self, vcpu: u32, port: u32, target: u32) -> XenResult<()> {
        let _ = (vcpu, port, target);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_unmask`.
    fn unmask(&mut self, vcpu: u32, port: u32) -> XenResult<()> {
        let _ = (vcpu, port);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_reset` of the caller's domain.
    fn reset(&mut self, vcpu: u32) -> XenResult<()> {
        let _ = vcpu;
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_init_control` (FIFO ABI) for vCPU `target`: returns `link_bits`. Default:
    /// -ENOSYS, which makes guests stay on the 2-level ABI.
    fn init_control(
        &mut self,
        vcpu: u32,
        control_gfn: u64,
        offset: u32,
        target: u32,
    ) -> XenResult<u8> {
        let _ = (vcpu, control_gfn, offset, target);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_expand_array` (FIFO ABI). Default: -ENOSYS.
    fn expand_array(&mut self, vcpu: u32, array_gfn: u64) -> XenResult<()> {
        let _ = (vcpu, array_gfn);
        Err(Errno::ENOSYS)
    }
    /// `EVTCHNOP_set_priority` (FIFO ABI). Default: -ENOSYS.
    fn set_priority(&mut self, vcpu: u32, port: u32, priority: u32) -> XenResult<()> {
        let _ = (vcpu, port, priority);
        Err(Errno::ENOSYS)
    }
}

/// `grant_table_op`. The defaults describe a grant table of 0 frames, Xen's answer for a
/// domain created with `max_grant_frames=0`: `query_size` gives `(0, 0)`, `setup_table`
/// of any frame fails with `GNTST_general_error`, the version is and stays 1 (v2 gets
/// -ENOSYS, Xen's answer with v2 disabled), no grant reference exists
/// (`GNTST_bad_gntref`), the guest has no mapping (`GNTST_bad_handle`).
pub trait GnttabHandler {
    /// `(nr_frames, max_nr_frames)`. Default: `(0, 0)`.
    fn query_size(&mut self, vcpu: u32) -> (u32, u32) {
        let _ = vcpu;
        (0, 0)
    }
    /// Grows the table to `frames.len()` frames and fills `frames` with their GFNs.
    /// `Err(status)` is a negative `GNTST_*` written to the guest's status field. Default:
    /// `Ok` for 0 frames, else `Err(GNTST_GENERAL_ERROR)` (the table cannot grow).
    fn setup_table(&mut self, vcpu: u32, frames: &mut [u64]) -> Result<(), i16> {
        let _ = vcpu;
        if frames.is_empty() {
            Ok(())
        } else {
            Err(GNTST_GENERAL_ERROR)
        }
    }
    /// `GNTTABOP_set_version` to 1 or 2 (the dispatcher refuses other numbers with
    /// -EINVAL); the dispatcher then writes [`GnttabHandler::get_version`] back, also when
    /// this fails. Default: `Ok` for 1 (the table is v1), -ENOSYS for 2.
    fn set_version(&mut self, vcpu: u32, version: u32) -> XenResult<()> {
        let _ = vcpu;
        if version == 1 {
            Ok(())
        } else {
            Err(Errno::ENOSYS)
        }
    }
    /// `GNTTABOP_get_version`. Default: 1.
    fn get_version(&mut self, vcpu: u32) -> u32 {
        let _ = vcpu;
        1
    }
    /// Whether `GNTTABOP_get_status_frames` is offered. Xen refuses it to HVM and PVH
    /// guests (-ENOSYS: they map status frames with `XENMEM_add_to_physmap`), before
    /// looking at the arguments. Default: `false`.
    fn get_status_frames_offered(&self) -> bool {
        false
    }
    /// `GNTTABOP_get_status_frames`: fills `frames` with the GFNs of the first
    /// `frames.len()` status frames. `Err(status)` as for `setup_table`. Default: `Ok` for
    /// 0 frames, else `Err(GNTST_GENERAL_ERROR)` (a v1 table has none).
    fn get_status_frames(&mut self, vcpu: u32, frames: &mut [u64]) -> Result<(), i16> {
        let _ = vcpu;
        if frames.is_empty() {
            Ok(())
        } else {
            Err(GNTST_GENERAL_ERROR)
        }
    }
    /// One `GNTTABOP_map_grant_ref` of the guest, past the dispatcher's checks of the
    /// flags and the domain: `Ok((handle, dev_bus_addr))`, or a negative `GNTST_*`.
    /// Default: `GNTST_bad_gntref` (no grant reference exists).
    fn map_grant_ref(&mut self, vcpu: u32, op: &GrantMapReq) -> Result<(u32, u64), i16> {
        let _ = (vcpu, op);
        Err(GNTST_BAD_GNTREF)
    }
    /// One `GNTTABOP_unmap_grant_ref` of the guest's mapping `handle` (`host_addr`,
    /// `dev_bus_addr`: the mappings to remove, 0 for none); returns the `GNTST_*`.
    /// Default: `GNTST_bad_handle` (no mapping exists).
    fn unmap_grant_ref(
        &mut self,
        vcpu: u32,
        handle: u32,
        host_addr: u64,
        dev_bus_addr: u64,
    ) -> i16 {
        let _ = (vcpu, handle, host_addr, dev_bus_addr);
        GNTST_BAD_HANDLE
    }
    /// One `GNTTABOP_copy` of the guest, past the dispatcher's domain checks; returns the
    /// `GNTST_*`. Default: `GNTST_bad_gntref` for a grant (none exists), else
    /// `GNTST_bad_page` (no frame the handler can reach).
    fn grant_copy(&mut self, vcpu: u32, op: &GrantCopyReq) -> i16 {
        let _ = vcpu;
        if op.flags & (GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF) != 0 {
            GNTST_BAD_GNTREF
        } else {
            GNTST_BAD_PAGE
        }
    }
    /// One `GNTTABOP_swap_grant_ref` of entries `a` and `b`; returns the `GNTST_*`.
    /// Default: `GNTST_bad_gntref` (no entry exists).
    fn swap_grant_ref(&mut self, vcpu: u32, a: u32, b: u32) -> i16 {
        let _ = (vcpu, a, b);
        GNTST_BAD_GNTREF
    }
}

/// `console_io`.
pub trait ConsoleHandler {
    /// Bytes written by the guest (called once per chunk of up to 256 bytes). Default:
    /// -ENOSYS (no hypervisor console).
    fn console_write(&mut self, vcpu: u32, bytes: &[u8]) -> XenResult<()> {
        let _ = (vcpu, bytes);
        Err(Errno::ENOSYS)
    }
    /// Fills `buf` with console input; returns the count. Default: no input.
    fn console_read(&mut self, vcpu: u32, buf: &mut [u8]) -> usize {
        let _ = (vcpu, buf);
        0
    }
}

/// `vm_assist`.
pub trait VmAssistHandler {
    /// Turns assist `vm_type` (`VMASST_TYPE_*`, `< 64`) on or off for the domain. Default:
    /// -EINVAL, Xen's answer for a type it does not offer (for HVM guests Xen offers only
    /// `VMASST_TYPE_runstate_update_flag`).
    fn vm_assist(&mut self, vcpu: u32, vm_type: u32, enable: bool) -> XenResult<()> {
        let _ = (vcpu, vm_type, enable);
        Err(Errno::EINVAL)
    }
}

/// Everything the dispatcher needs from the VMM. Only [`Hypervisor::domid`] and
/// [`Hypervisor::nr_vcpus`] have no default: an empty `impl` of each family trait gives Xen's
/// answers for a hypervisor offering nothing (see the [crate docs](crate#defaults)).
pub trait Hypervisor:
    AddressTranslate
    + VersionHandler
    + MemoryHandler
    + HvmHandler
    + VcpuHandler
    + SchedHandler
    + EvtchnHandler
    + GnttabHandler
    + ConsoleHandler
    + VmAssistHandler
{
    /// The guest's own domain id (accepted besides `DOMID_SELF`).
    fn domid(&self) -> u16;
    /// Number of vCPUs; vCPU ids in arguments must be below it.
    fn nr_vcpus(&self) -> u32;
    /// Whether `domid` names an existing domain, for the calls that look a domain up by
    /// its id (`SCHEDOP_remote_shutdown`, `domctl`): those give -ESRCH for any other id,
    /// `DOMID_SELF` included, as in Xen. Default: only the guest's own [`Hypervisor::domid`].
    fn domain_exists(&self, domid: u16) -> bool {
        domid == self.domid()
    }
}
