// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The platform's implementation of xen-hypercall's handler traits: the
//! dispatcher decodes and validates a hypercall and calls these methods,
//! which act on [`XenState`](crate::state::XenState) (lock level `XenLock`),
//! on xen-evtchn's port table and on xen-shinfo-cache's page caches.
//!
//! Locking: [`XenPlatform::on_hypercall`] opens ONE memory-map read section
//! per hypercall (`MemoryMap::read`). The
//! dispatcher gets that section's map (`MemReadGuard`) for the whole call and
//! the handler holds the section's `MemRead` token: every xen-evtchn and
//! xen-shinfo-cache operation runs inside the section (their `*_in` forms,
//! taking the map as an argument), and the Xen leaf lock, page caches and
//! backends are taken after it. Nothing here can take the VM lock, a vCPU
//! mutex or the slots lock, or wait for readers: that does not compile.

use vm_lock::{MemRead, MemReadGuard, Token, XenLock};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
use xen_abi::{
    E820Entry, HvmCallbackVia, XenCapabilitiesInfo, XenChangesetInfo, XenCompileInfo,
    XenExtraversion, DOMID_SELF, VMASST_TYPE_RUNSTATE_UPDATE_FLAG, XENFEAT_AUTO_TRANSLATED_PHYSMAP,
    XENFEAT_HVM_CALLBACK_VECTOR, XENFEAT_HVM_SAFE_PVCLOCK,
};
use xen_hypercall::{
    AddressTranslate, ConsoleHandler, Errno, EvtchnHandler, GnttabHandler, GrantCopyReq,
    GrantMapReq, GuestArea, HvmHandler, HvmParam, HypercallOutcome, Hypervisor, MapSpace,
    MemoryHandler, PortStatus, ReservationOp, SchedHandler, VcpuHandler, VersionHandler,
    VmAssistHandler, XenResult,
};

use crate::backends::Backend;
use crate::host::{TimerArm, TimerKind, VcpuAccess};
use crate::memory::{hole_page_allowed, PAGE_SIZE};
use crate::params;
use crate::platform::{XenPlatform, XEN_VERSION};
use crate::timers::{arm_singleshot, singleshot_deadline, MAX_PERIOD_NS, MIN_PERIOD_NS};
use xen_evtchn::CallbackVia;

/// What [`XenPlatform::on_hypercall`] must do besides writing RAX.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideEffects {
    /// Back this GPA with a page, then run the hypercall again (RAX untouched).
    pub map_page: Option<u64>,
    /// `Block` came from `SCHEDOP_poll` on these ports, with the polling
    /// vCPU's upcall count when the poll began (the poll also ends once it
    /// changes); else from `SCHEDOP_block`.
    pub poll: Option<(Vec<u32>, u64)>,
    /// The guest notified a VMM backend.
    pub backend: Option<Backend>,
    /// The guest yielded (backends polled by the guest get a turn).
    pub yielded: bool,
    /// vCPUs to kick once the locks are dropped.
    pub kicks: Vec<u32>,
    /// The domain shuts down with this reason (`VCPUOP_down` of the last vCPU
    /// that was up, as Xen's `domain_shutdown(SHUTDOWN_poweroff)`).
    pub shutdown: Option<u32>,
}

/// One hypercall's view of the platform, handed to `xen_hypercall::dispatch`.
pub struct XenHv<'a, 't> {
    shared: &'a XenPlatform,
    access: &'a mut dyn VcpuAccess,
    paging: bool,
    long_mode: bool,
    mem: &'a MemReadGuard<'t, GuestMemoryMmap>,
    token: &'a mut Token<'t, MemRead>,
    /// Effects for the vCPU loop.
    pub effects: SideEffects,
    /// The VMM refused to add a page for this hypercall: answer -ENOMEM
    /// instead of asking again.
    pub no_new_pages: bool,
}

impl<'a, 't> XenHv<'a, 't> {
    /// A handler for a hypercall of the vCPU behind `access` (`paging`: CR0.PG,
    /// `long_mode`: caller width), inside the read section `mem` / `token`.
    pub fn new(
        shared: &'a XenPlatform,
        access: &'a mut dyn VcpuAccess,
        paging: bool,
        long_mode: bool,
        mem: &'a MemReadGuard<'t, GuestMemoryMmap>,
        token: &'a mut Token<'t, MemRead>,
    ) -> Self {
        XenHv {
            shared,
            access,
            paging,
            long_mode,
            mem,
            token,
            effects: SideEffects::default(),
            no_new_pages: false,
        }
    }

    /// Writes `vcpu_time_info` (pvclock) into every vCPU's vcpu_info and its
    /// registered time area (`VCPUOP_register_vcpu_time_memory_area`), both
    /// with the version protocol, with the calling vCPU's TSC now as the
    /// reference (KVM keeps the vCPUs' TSCs in sync).
    fn write_pvclock_all(
        shared: &XenPlatform,
        access: &mut dyn VcpuAccess,
        mem: &MemReadGuard<'_, GuestMemoryMmap>,
        xen: &crate::state::XenState,
        token: &mut Token<'_, XenLock>,
    ) {
        let Some(time) = shared.pvclock_now(access) else {
            return;
        };
        for v in 0..xen.vcpus.len() as u32 {
            if let Err(e) = shared.pages().update_pvclock(token, mem, v, &time) {
                log::debug!("vCPU {v}: pvclock: {e}");
            }
        }
    }

    fn vcpu_info_byte(&self, vi: u64) -> u8 {
        crate::guest::load_u8(self.mem, vi).unwrap_or(0)
    }
}

/// Delay of a `set_timer_op` deadline that is out of range (see [`timer_op_deadline`]).
pub const TIMER_OP_HUGE_DELAY_NS: u64 = 100_000_000;

/// The deadline `set_timer_op(timeout)` arms at system time `now`, as Xen's
/// `do_set_timer_op`: Linux's wrapped jiffies arithmetic sometimes passes a
/// deadline that is negative (as an s64) or 2^50 ns (about 13 days) or more
/// ahead, when it has work due; such a timer fires after
/// [`TIMER_OP_HUGE_DELAY_NS`] rather than never.
pub fn timer_op_deadline(timeout: u64, now: u64) -> u64 {
    let ahead = (timeout as i64).checked_sub(now as i64).unwrap_or(i64::MAX);
    if (timeout as i64) < 0 || ahead >= 1 << 50 {
        now.saturating_add(TIMER_OP_HUGE_DELAY_NS)
    } else {
        timeout
    }
}

fn copy_str(out: &mut [u8], s: &str) {
    let n = s.len().min(out.len().saturating_sub(1));
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
}

impl AddressTranslate for XenHv<'_, '_> {
    fn translate_gva(&mut self, _vcpu: u32, gva: u64) -> Option<u64> {
        if !self.paging {
            return Some(gva);
        }
        // KVM's walker ignores bits 63:48; a non-canonical pointer faults.
        let top = gva >> 47;
        if top != 0 && top != (1 << 17) - 1 {
            return None;
        }
        if let Some(regs) = self.access.paging() {
            let mut loader = crate::guest::QwordLoader::new(self.mem);
            if let Some(gpa) = crate::paging::walk_with(|gpa| loader.load(gpa), &regs, gva) {
                return gpa;
            }
        }
        self.access.translate_gva(gva)
    }
}

impl VersionHandler for XenHv<'_, '_> {
    fn xen_version(&mut self, _vcpu: u32) -> (u16, u16) {
        XEN_VERSION
    }
    fn extraversion(&mut self, _vcpu: u32, out: &mut XenExtraversion) {
        copy_str(out, ".0-kvm");
    }
    fn capabilities(&mut self, _vcpu: u32, out: &mut XenCapabilitiesInfo) {
        copy_str(out, "hvm-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p");
    }
    fn compile_info(&mut self, _vcpu: u32, out: &mut XenCompileInfo) {
        copy_str(&mut out.compiler, "rustc");
        copy_str(&mut out.compile_by, "xen-on-kvm");
    }
    fn changeset(&mut self, _vcpu: u32, out: &mut XenChangesetInfo) {
        copy_str(out, "xen-on-kvm");
    }
    fn features(&mut self, _vcpu: u32, submap_idx: u32) -> u32 {
        if submap_idx == 0 {
            (1 << XENFEAT_AUTO_TRANSLATED_PHYSMAP)
                | (1 << XENFEAT_HVM_CALLBACK_VECTOR)
                | (1 << XENFEAT_HVM_SAFE_PVCLOCK)
        } else {
            0
        }
    }
}

impl XenHv<'_, '_> {
    fn width(&self) -> xen_abi::GuestWidth {
        if self.long_mode {
            xen_abi::GuestWidth::Bits64
        } else {
            xen_abi::GuestWidth::Bits32
        }
    }

    /// The guest-physical address of a registered area: one contiguous range
    /// of RAM (`may_cross`: it may span two pages, if they are adjacent in
    /// guest-physical memory too).
    fn area_gpa(&self, a: &GuestArea, may_cross: bool) -> XenResult<u64> {
        if let Some((first, second)) = a.split {
            if !may_cross {
                return Err(Errno::EINVAL);
            }
            if a.gpa.checked_add(first as u64) != Some(second) {
                // Pages not adjacent in guest-physical memory: one range
                // cannot describe it.
                return Err(Errno::EINVAL);
            }
        }
        let len = u64::try_from(a.len).map_err(|_| Errno::EINVAL)?;
        let last = a
            .gpa
            .checked_add(len.checked_sub(1).ok_or(Errno::EINVAL)?)
            .ok_or(Errno::EFAULT)?;
        // At most two pages: both ends in RAM means all of it is.
        if !self.mem.address_in_range(GuestAddress(a.gpa))
            || !self.mem.address_in_range(GuestAddress(last))
        {
            return Err(Errno::EFAULT);
        }
        Ok(a.gpa)
    }

    fn write_pvclock(&mut self) {
        let (xen, mut t) = self.shared.xen_state().lock(self.token);
        Self::write_pvclock_all(self.shared, self.access, self.mem, &xen, &mut t);
    }

    /// Refreshes the calling vCPU's pvclock (as Xen's
    /// `update_vcpu_system_time`, e.g. when it arms its timer).
    fn refresh_own_time(&mut self, vcpu: u32) {
        let Some(time) = self.shared.pvclock_now(self.access) else {
            return;
        };
        if let Err(e) = self
            .shared
            .pages()
            .update_pvclock(self.token, self.mem, vcpu, &time)
        {
            log::debug!("vCPU {vcpu}: pvclock: {e}");
        }
    }
}

fn evtchn_err(e: xen_evtchn::Error) -> Errno {
    Errno(e.errno())
}

impl MemoryHandler for XenHv<'_, '_> {
    fn add_to_physmap(&mut self, _vcpu: u32, space: MapSpace, gfn: u64) -> XenResult<()> {
        // A page was asked for earlier in this hypercall (a batch): the call runs
        // again once it is there.
        if self.effects.map_page.is_some() {
            return Err(Errno::EAGAIN);
        }
        let gpa = gfn.checked_mul(PAGE_SIZE).ok_or(Errno::EINVAL)?;
        let backed = self
            .mem
            .get_slice(GuestAddress(gpa), PAGE_SIZE as usize)
            .is_ok();
        // Any GFN outside RAM within the guest's physical address width
        // (Linux puts grant frames above 4 GiB), not over the MMIO window.
        if !backed && !hole_page_allowed(gpa, self.shared.config().phys_addr_bits) {
            return Err(Errno::EINVAL);
        }
        let old = {
            let (xen, mut t) = self.shared.xen_state().lock(self.token);
            match space {
                MapSpace::SharedInfo => xen.shared_info,
                MapSpace::GrantTable {
                    frame,
                    status: false,
                } => *xen.grant_frames.get(frame as usize).ok_or(Errno::EINVAL)?,
                MapSpace::GrantTable {
                    frame,
                    status: true,
                } => {
                    // Refused before a page is added for it: a v1 table has no status
                    // frames, a v2 table at most one per 8 grant frames.
                    let (be, _t) = self.shared.backends().lock(&mut t);
                    let most = xen_gnttab::entry::status_frames_for(be.gnttab.max_frames());
                    if be.gnttab.version() != 2 || frame >= most.max(1) {
                        return Err(Errno::EINVAL);
                    }
                    be.gnttab.status_gfn_of(frame).map(|g| g * PAGE_SIZE)
                }
                _ => return Err(Errno::EOPNOTSUPP),
            }
        };
        if !backed {
            if self.no_new_pages {
                return Err(Errno::ENOMEM);
            }
            self.effects.map_page = Some(gpa);
            return Err(Errno::EAGAIN);
        }
        match space {
            MapSpace::SharedInfo => {
                self.shared.pages().set_width(self.width());
                {
                    // One step under the Xen state lock and, inside it,
                    // xen-evtchn's port-table lock: the old page is copied,
                    // the cache retargeted and the events sent before
                    // shared_info existed (e.g. by backends) delivered, with
                    // no event landing in the old page after the copy, and
                    // the Xen state records the new place before anyone
                    // (a snapshot) can look. What is pending is raised again
                    // on the new page.
                    let (mut xen, mut t) = self.shared.xen_state().lock(self.token);
                    let moved = self
                        .shared
                        .evtchn()
                        .shared_info_moved_in(&mut t, self.mem, gfn);
                    if let Err(e) = moved {
                        // Not placed (the frame is not RAM): nothing changed.
                        if self.shared.pages().shared_info_gfn(&mut t) != Some(gfn) {
                            return Err(Errno::EINVAL);
                        }
                        // Placed, but deferred events could not be delivered yet.
                        log::debug!("deferred events: {e}");
                    }
                    xen.shared_info = Some(gpa);
                    xen.long_mode = self.long_mode;
                    self.shared.covered(&mut xen, gfn);
                    self.shared.sync_all(&mut t);
                    self.shared.write_wallclock(&mut t, self.mem);
                }
                self.write_pvclock();
            }
            MapSpace::GrantTable { frame, status } => {
                let mut page = vec![0u8; PAGE_SIZE as usize];
                if let Some(o) = old {
                    let _ = self.mem.read_slice(&mut page, GuestAddress(o));
                }
                let (mut xen, mut t) = self.shared.xen_state().lock(self.token);
                let (mut be, _t2) = self.shared.backends().lock(&mut t);
                let idx = if status {
                    u64::from(frame) | xen_gnttab::XENMAPIDX_GRANT_TABLE_STATUS
                } else {
                    u64::from(frame)
                };
                let remap = be
                    .gnttab
                    .add_to_physmap(idx, gfn)
                    .map_err(|e| Errno(e.errno()))?;
                self.mem
                    .write_slice(&page, GuestAddress(gpa))
                    .map_err(|_| Errno::EINVAL)?;
                if let Some(d) = remap
                    .displaced
                    .and_then(|d| xen.grant_frames.get_mut(d as usize))
                {
                    *d = None;
                }
                if !status {
                    // The table and the platform's mirror have the same size
                    // (restore checks it): a frame out of the mirror is an
                    // error, never an index out of bounds.
                    *xen.grant_frames
                        .get_mut(frame as usize)
                        .ok_or(Errno::EINVAL)? = Some(gpa);
                }
                self.shared.covered(&mut xen, gfn);
            }
            // Refused above.
            _ => return Err(Errno::EOPNOTSUPP),
        }
        Ok(())
    }

    fn memory_map(&mut self, _vcpu: u32) -> XenResult<&[E820Entry]> {
        Ok(&self.shared.config().memory_map)
    }

    /// Balloon extents: RAM of the memory map only (not holes, not frames where Xen
    /// placed its pages), `tot_pages` within `max_pages`, memory given back to and
    /// taken from the host ([`XenHost::release_pages`](crate::XenHost::release_pages),
    /// [`XenHost::populate_pages`](crate::XenHost::populate_pages)).
    fn reservation_extent(
        &mut self,
        _vcpu: u32,
        op: ReservationOp,
        gfn: Option<u64>,
        order: u32,
    ) -> bool {
        let n = 1u64 << order.min(63);
        let config = self.shared.config();
        let (mut xen, mut t) = self.shared.xen_state().lock(self.token);
        match (op, gfn) {
            (ReservationOp::Increase, _) => {
                // Pages for the domain, mapped nowhere (a translated guest learns no
                // frame numbers).
                if xen.tot_pages.saturating_add(n) > config.max_pages() {
                    return false;
                }
                xen.tot_pages += n;
                true
            }
            (ReservationOp::Decrease, Some(first)) => {
                // Page after page, as Xen: those before a page that cannot go are gone,
                // but the extent does not count.
                let Some(end) = first.checked_add(n) else {
                    return false;
                };
                let have = (first..end)
                    .take_while(|&g| {
                        crate::memory::is_ram(&config.memory_map, g) && !xen.absent.contains(&g)
                    })
                    .count() as u64;
                if have > 0 {
                    if !self.shared.host().release_pages(first * PAGE_SIZE, have) {
                        return false;
                    }
                    xen.absent.extend(first..first + have);
                    xen.tot_pages = xen.tot_pages.saturating_sub(have);
                }
                have == n
            }
            (ReservationOp::Populate, Some(first)) => {
                let Some(end) = first.checked_add(n) else {
                    return false;
                };
                if xen.tot_pages.saturating_add(n) > config.max_pages() {
                    return false;
                }
                // RAM only, and not over a frame Xen placed there.
                let (be, _t) = self.shared.backends().lock(&mut t);
                let ok = (first..end).all(|g| {
                    crate::memory::is_ram(&config.memory_map, g)
                        && be.gnttab.frame_at_gfn(g).is_none()
                        && xen.shared_info != Some(g * PAGE_SIZE)
                });
                if !ok || !self.shared.host().populate_pages(first * PAGE_SIZE, n) {
                    return false;
                }
                for g in first..end {
                    xen.absent.remove(&g);
                }
                xen.tot_pages += n;
                true
            }
            _ => false,
        }
    }

    /// The frame after the highest RAM frame of the memory map (Xen answers the
    /// host's `max_page`; the guest's RAM is this VMM's "machine").
    fn maximum_ram_page(&mut self, _vcpu: u32) -> XenResult<u64> {
        Ok(crate::memory::ram_ranges(&self.shared.config().memory_map)
            .map(|(_, end)| end)
            .max()
            .unwrap_or(0))
    }

    fn reservation_size(&mut self, _vcpu: u32, maximum: bool) -> XenResult<u64> {
        if maximum {
            return Ok(self.shared.config().max_pages());
        }
        let (xen, _t) = self.shared.xen_state().lock(self.token);
        Ok(xen.tot_pages)
    }

    /// A grant or status frame is unhooked from `gfn`; a RAM page loses its memory
    /// (it stays the domain's, as in Xen: `tot_pages` is unchanged). shared_info stays
    /// where it is (Xen would keep it only in its own memory; here the page at its GFN
    /// is the only copy). Anything else: -ENOENT.
    fn remove_from_physmap(&mut self, _vcpu: u32, gfn: u64) -> XenResult<()> {
        let (mut xen, mut t) = self.shared.xen_state().lock(self.token);
        let gpa = gfn.checked_mul(PAGE_SIZE).ok_or(Errno::ENOENT)?;
        if xen.shared_info == Some(gpa) {
            return Ok(());
        }
        {
            let (mut be, _t) = self.shared.backends().lock(&mut t);
            if let Some(f) = be.gnttab.remove_gfn(gfn) {
                if let xen_gnttab::Frame::Grant(i) = f {
                    if let Some(g) = xen.grant_frames.get_mut(i as usize) {
                        *g = None;
                    }
                }
                return Ok(());
            }
        }
        if crate::memory::is_ram(&self.shared.config().memory_map, gfn) && xen.absent.insert(gfn) {
            // Best effort: the page is gone from the guest's view either way.
            let _ = self.shared.host().release_pages(gpa, 1);
            return Ok(());
        }
        Err(Errno::ENOENT)
    }
}

impl XenHv<'_, '_> {
    fn store_param(&mut self, index: u32, value: u64) -> XenResult<()> {
        let (mut xen, _t) = self.shared.xen_state().lock(self.token);
        *xen.params.get_mut(index as usize).ok_or(Errno::EINVAL)? = value;
        Ok(())
    }
}

impl HvmHandler for XenHv<'_, '_> {
    fn set_param(&mut self, _vcpu: u32, param: HvmParam) -> XenResult<()> {
        match param {
            HvmParam::CallbackIrq(via) => {
                let ev = match via {
                    HvmCallbackVia::None => CallbackVia::None,
                    HvmCallbackVia::Gsi(g) if g < 48 => CallbackVia::Gsi(g),
                    HvmCallbackVia::Vector(v) if v >= 0x10 => CallbackVia::Vector(v),
                    _ => return Err(Errno::EINVAL),
                };
                {
                    let (mut xen, _t) = self.shared.xen_state().lock(self.token);
                    xen.callback = ev;
                    xen.long_mode = self.long_mode;
                }
                self.shared.pages().set_width(self.width());
                self.shared.evtchn().set_callback(self.token, ev);
                self.shared.sync_all(self.token);
                self.effects.kicks = (0..self.shared.nr_vcpus()).collect();
            }
            HvmParam::StorePfn(_) | HvmParam::ConsolePfn(_) => return Err(Errno::EPERM),
            // As Xen: the guest may overwrite these; only what it reads back
            // changes (the backends keep their ports).
            HvmParam::StoreEvtchn(v) => self.store_param(xen_abi::HVM_PARAM_STORE_EVTCHN, v)?,
            HvmParam::ConsoleEvtchn(v) => self.store_param(xen_abi::HVM_PARAM_CONSOLE_EVTCHN, v)?,
            HvmParam::Other { index, value } => {
                params::guest_may_set(index)?;
                let (index, value) = params::checked_value(index, value)?;
                self.store_param(index, value)?
            }
            // A parameter this VMM does not know: Xen's answer to a guest setting one.
            _ => return Err(Errno::EPERM),
        }
        Ok(())
    }

    fn get_param(&mut self, _vcpu: u32, index: u32) -> XenResult<u64> {
        params::guest_may_get(index)?;
        let (xen, _t) = self.shared.xen_state().lock(self.token);
        let param = |i: u32| xen.params.get(i as usize).copied().ok_or(Errno::EINVAL);
        match index {
            xen_abi::HVM_PARAM_CALLBACK_IRQ => Ok(match xen.callback {
                CallbackVia::None => 0,
                CallbackVia::Gsi(g) => u64::from(g),
                CallbackVia::Vector(v) => (2 << 56) | u64::from(v),
            }),
            // Kept in its sized form, as Xen does.
            xen_abi::HVM_PARAM_VM86_TSS => {
                Ok(param(params::HVM_PARAM_VM86_TSS_SIZED)? & 0xffff_ffff)
            }
            _ => param(index),
        }
    }

    fn set_evtchn_upcall_vector(&mut self, _vcpu: u32, target: u32, vector: u8) -> XenResult<()> {
        if vector < 0x10 {
            return Err(Errno::EINVAL);
        }
        self.shared
            .evtchn()
            .set_vcpu_upcall_vector(self.token, target, vector)
            .map_err(evtchn_err)?;
        {
            let (mut xen, _t) = self.shared.xen_state().lock(self.token);
            if let Some(v) = xen.vcpus.get_mut(target as usize) {
                v.upcall_vector = Some(vector);
            }
        }
        self.shared.sync_vcpu(self.token, target);
        self.effects.kicks.push(target);
        Ok(())
    }
}

impl VcpuHandler for XenHv<'_, '_> {
    fn register_vcpu_info(
        &mut self,
        _vcpu: u32,
        target: u32,
        gfn: u64,
        offset: u32,
    ) -> XenResult<()> {
        if u64::from(offset) > PAGE_SIZE - 64 {
            return Err(Errno::EINVAL);
        }
        let gpa = gfn
            .checked_mul(PAGE_SIZE)
            .and_then(|g| g.checked_add(u64::from(offset)))
            .ok_or(Errno::EINVAL)?;
        if self.mem.get_slice(GuestAddress(gpa), 64).is_err() {
            return Err(Errno::EINVAL);
        }
        {
            // As Xen (4.17: -EINVAL; 4.18 on: -EBUSY): a vcpu_info stays where it
            // was first registered. Claimed here, under the lock, so that two
            // registrations racing cannot both pass.
            let (mut xen, _t) = self.shared.xen_state().lock(self.token);
            let v = xen.vcpus.get_mut(target as usize).ok_or(Errno::ENOENT)?;
            if v.vcpu_info.is_some() {
                return Err(Errno::EINVAL);
            }
            v.vcpu_info = Some(gpa);
        }
        if self
            .shared
            .pages()
            .set_vcpu_info(self.token, self.mem, target, Some(gpa))
            .is_err()
        {
            let (mut xen, _t) = self.shared.xen_state().lock(self.token);
            if let Some(v) = xen.vcpus.get_mut(target as usize) {
                v.vcpu_info = None;
            }
            return Err(Errno::EINVAL);
        }
        // As Xen: everything may be pending at the new place.
        if let Err(e) = self
            .shared
            .evtchn()
            .vcpu_info_moved_in(self.token, self.mem, target)
        {
            log::debug!("vcpu_info_moved: {e}");
        }
        self.shared.sync_vcpu(self.token, target);
        self.write_pvclock();
        self.effects.kicks.push(target);
        Ok(())
    }

    fn register_runstate_area(
        &mut self,
        _vcpu: u32,
        target: u32,
        area: Option<GuestArea>,
    ) -> XenResult<()> {
        let gpa = area.map(|a| self.area_gpa(&a, true)).transpose()?;
        let (xen, mut t) = self.shared.xen_state().lock(self.token);
        let rs = xen
            .vcpus
            .get(target as usize)
            .ok_or(Errno::ENOENT)?
            .runstate;
        self.shared
            .pages()
            .set_runstate_area(&mut t, target, gpa)
            .map_err(|e| Errno(e.errno()))?;
        // As Xen: the area holds the current runstate at once.
        if let Err(e) = self
            .shared
            .pages()
            .update_runstate(&mut t, self.mem, target, &rs)
        {
            log::debug!("vCPU {target}: runstate area: {e}");
        }
        Ok(())
    }

    fn register_time_area(
        &mut self,
        _vcpu: u32,
        target: u32,
        area: Option<GuestArea>,
    ) -> XenResult<()> {
        let gpa = area.map(|a| self.area_gpa(&a, false)).transpose()?;
        if target as usize >= self.shared.nr_vcpus() as usize {
            return Err(Errno::ENOENT);
        }
        self.shared
            .pages()
            .set_time_info(self.token, target, gpa)
            .map_err(|e| Errno(e.errno()))?;
        // Filled at once, together with every vcpu_info's pvclock.
        self.write_pvclock();
        Ok(())
    }

    fn set_singleshot_timer(
        &mut self,
        vcpu: u32,
        target: u32,
        timeout: u64,
        future: bool,
    ) -> XenResult<()> {
        if target != vcpu {
            return Err(Errno::EINVAL);
        }
        if future && timeout < self.shared.system_time_ns() {
            return Err(Errno::ETIME);
        }
        let deadline = singleshot_deadline(timeout, self.shared.system_time_ns());
        {
            let (mut xen, _t) = self.shared.xen_state().lock(self.token);
            arm_singleshot(self.shared, &mut xen, target, Some(deadline));
        }
        self.refresh_own_time(vcpu);
        Ok(())
    }

    fn stop_singleshot_timer(&mut self, vcpu: u32, target: u32) -> XenResult<()> {
        if target != vcpu {
            return Err(Errno::EINVAL);
        }
        let (mut xen, _t) = self.shared.xen_state().lock(self.token);
        arm_singleshot(self.shared, &mut xen, target, None);
        Ok(())
    }

    fn set_periodic_timer(&mut self, _vcpu: u32, target: u32, period_ns: u64) -> XenResult<()> {
        if !(MIN_PERIOD_NS..=MAX_PERIOD_NS).contains(&period_ns) {
            return Err(Errno::EINVAL);
        }
        let (mut xen, _t) = self.shared.xen_state().lock(self.token);
        let t = xen.vcpus.get_mut(target as usize).ok_or(Errno::ENOENT)?;
        t.period_ns = Some(period_ns);
        self.shared.set_host_timer(
            target,
            TimerKind::Periodic,
            Some(TimerArm {
                deadline_ns: self.shared.host().monotonic_ns().saturating_add(period_ns),
                period_ns,
            }),
        );
        Ok(())
    }

    fn stop_periodic_timer(&mut self, _vcpu: u32, target: u32) -> XenResult<()> {
        let (mut xen, _t) = self.shared.xen_state().lock(self.token);
        xen.vcpus
            .get_mut(target as usize)
            .ok_or(Errno::ENOENT)?
            .period_ns = None;
        self.shared
            .set_host_timer(target, TimerKind::Periodic, None);
        Ok(())
    }

    fn initialise(
        &mut self,
        _vcpu: u32,
        target: u32,
        ctx: &xen_abi::VcpuHvmContext,
    ) -> XenResult<()> {
        let bits = self.shared.config().phys_addr_bits;
        let (mut xen, _t) = self.shared.xen_state().lock(self.token);
        let v = xen.vcpus.get_mut(target as usize).ok_or(Errno::ENOENT)?;
        // Xen's order: an initialised vCPU is -EEXIST whatever the context.
        if v.initialised {
            return Err(Errno::EEXIST);
        }
        let start = crate::smp::VcpuStart::from_hvm_context(ctx, bits)?;
        v.initialised = true;
        v.start = Some(start);
        Ok(())
    }

    fn up(&mut self, _vcpu: u32, target: u32) -> XenResult<()> {
        let now = self.shared.system_time_ns();
        let (mut xen, mut t) = self.shared.xen_state().lock(self.token);
        let v = xen.vcpus.get_mut(target as usize).ok_or(Errno::ENOENT)?;
        if !v.initialised {
            return Err(Errno::EINVAL);
        }
        if v.up {
            return Ok(());
        }
        if !self.shared.host().vcpu_up(target) {
            return Err(Errno::ENOSYS);
        }
        v.up = true;
        crate::runstate::advance(&mut v.runstate, xen_abi::RUNSTATE_RUNNABLE, now);
        let rs = v.runstate;
        if let Err(e) = self
            .shared
            .pages()
            .update_runstate(&mut t, self.mem, target, &rs)
        {
            log::debug!("vCPU {target}: runstate area: {e}");
        }
        Ok(())
    }

    fn down(&mut self, _vcpu: u32, target: u32) -> XenResult<()> {
        let now = self.shared.system_time_ns();
        let (mut xen, mut t) = self.shared.xen_state().lock(self.token);
        xen.vcpus.get(target as usize).ok_or(Errno::ENOENT)?;
        let others_up = xen
            .vcpus
            .iter()
            .enumerate()
            .any(|(i, v)| i != target as usize && v.up);
        if !others_up {
            // As Xen: the last vCPU going down shuts the domain down (poweroff;
            // a shutdown code given before wins).
            let reason = *xen.shutdown.get_or_insert(xen_abi::SHUTDOWN_POWEROFF);
            self.effects.shutdown = Some(reason);
            return Ok(());
        }
        let v = xen.vcpus.get_mut(target as usize).ok_or(Errno::ENOENT)?;
        if v.up {
            v.up = false;
            crate::runstate::advance(&mut v.runstate, xen_abi::RUNSTATE_OFFLINE, now);
            let rs = v.runstate;
            if let Err(e) = self
                .shared
                .pages()
                .update_runstate(&mut t, self.mem, target, &rs)
            {
                log::debug!("vCPU {target}: runstate area: {e}");
            }
            self.shared.host().vcpu_down(target);
        }
        Ok(())
    }

    fn is_up(&mut self, _vcpu: u32, target: u32) -> XenResult<bool> {
        let (xen, _t) = self.shared.xen_state().lock(self.token);
        Ok(xen.vcpus.get(target as usize).ok_or(Errno::ENOENT)?.up)
    }

    /// As Xen's `vcpu_runstate_get`: the time in the current state runs up
    /// to now.
    fn runstate_info(&mut self, _vcpu: u32, target: u32) -> XenResult<xen_abi::VcpuRunstateInfo64> {
        let now = self.shared.system_time_ns();
        let (xen, _t) = self.shared.xen_state().lock(self.token);
        let mut rs = xen
            .vcpus
            .get(target as usize)
            .ok_or(Errno::ENOENT)?
            .runstate;
        let st = (rs.state as u32).min(3) as usize;
        rs.time[st] = rs.time[st].saturating_add(now.saturating_sub(rs.state_entry_time));
        Ok(xen_abi::VcpuRunstateInfo64 {
            state: rs.state as u32,
            pad0: 0,
            state_entry_time: rs.state_entry_time & !xen_abi::XEN_RUNSTATE_UPDATE,
            time: rs.time,
        })
    }

    fn set_timer_op(&mut self, vcpu: u32, deadline_ns: Option<u64>) -> XenResult<()> {
        let now = self.shared.system_time_ns();
        let deadline = deadline_ns.map(|d| timer_op_deadline(d, now));
        {
            let (mut xen, _t) = self.shared.xen_state().lock(self.token);
            arm_singleshot(self.shared, &mut xen, vcpu, deadline);
        }
        if deadline.is_some() {
            self.refresh_own_time(vcpu);
        }
        Ok(())
    }
}

impl SchedHandler for XenHv<'_, '_> {
    fn yield_now(&mut self, vcpu: u32) {
        self.effects.yielded = true;
        // As KVM's in-kernel SCHEDOP_yield (a directed yield to another vCPU
        // of the VM that could run): the host CPU is given up only if another
        // vCPU is up and not blocked. With none, nothing the guest waits for
        // runs sooner for it, and the yield would only cost a host syscall.
        // (A yield that wakes the backend thread gives it up too: see
        // `XenPlatform::hypercall`.)
        let others_runnable = self.shared.nr_vcpus() > 1 && {
            let (xen, _t) = self.shared.xen_state().lock(self.token);
            xen.vcpus.iter().enumerate().any(|(i, v)| {
                i != vcpu as usize && v.up && v.runstate.state != xen_abi::RUNSTATE_BLOCKED as i32
            })
        };
        if others_runnable {
            self.shared
                .host_yields
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::thread::yield_now();
        }
    }

    fn block(&mut self, vcpu: u32) -> HypercallOutcome {
        // Blocking re-enables event delivery (clears evtchn_upcall_mask).
        if let Some(vi) = self.shared.vcpu_info_gpa(vcpu) {
            let _ = self.mem.write_obj(0u8, GuestAddress(vi + 1));
            if self.vcpu_info_byte(vi) != 0 {
                return HypercallOutcome::Done(0);
            }
        }
        HypercallOutcome::Block { deadline_ns: None }
    }

    fn poll(&mut self, vcpu: u32, ports: &[u32], timeout_ns: Option<u64>) -> HypercallOutcome {
        // Read before the ports and the upcall flag are checked: an upcall
        // raised after that check changes the count and ends the wait.
        let upcalls = self.shared.upcalls(vcpu);
        match self
            .shared
            .evtchn()
            .poll_begin_in(self.token, self.mem, vcpu, ports)
        {
            Ok(true) => {
                self.shared.evtchn().poll_end(vcpu);
                return HypercallOutcome::Done(0);
            }
            Ok(false) => {}
            Err(e) => {
                self.shared.evtchn().poll_end(vcpu);
                return HypercallOutcome::Done(-i64::from(e.errno()));
            }
        }
        if timeout_ns.is_some_and(|d| d <= self.shared.system_time_ns()) {
            self.shared.evtchn().poll_end(vcpu);
            return HypercallOutcome::Done(0);
        }
        // The vCPU loop waits, then calls `poll_end`.
        self.effects.poll = Some((ports.to_vec(), upcalls));
        HypercallOutcome::Block {
            deadline_ns: timeout_ns,
        }
    }

    /// As Xen's `domain_shutdown`: the domain's shutdown code is the first
    /// reason given, here or by `SCHEDOP_shutdown_code`, and is what the
    /// shutdown reports.
    fn shutdown(&mut self, _vcpu: u32, reason: u32) -> HypercallOutcome {
        let (mut xen, _t) = self.shared.xen_state().lock(self.token);
        HypercallOutcome::Shutdown(*xen.shutdown.get_or_insert(reason))
    }

    /// Sets the shutdown code if none is set yet (Xen keeps the first).
    fn shutdown_code(&mut self, _vcpu: u32, reason: u32) -> XenResult<()> {
        let (mut xen, _t) = self.shared.xen_state().lock(self.token);
        xen.shutdown.get_or_insert(reason);
        Ok(())
    }

    /// A poll inside a multicall (not its last entry) returned at once: its
    /// wait is over before it began.
    fn block_abandoned(&mut self, vcpu: u32) {
        if self.effects.poll.take().is_some() {
            self.shared.evtchn().poll_end(vcpu);
        }
    }
}

impl EvtchnHandler for XenHv<'_, '_> {
    fn alloc_unbound(&mut self, _vcpu: u32, remote_dom: u16) -> XenResult<u32> {
        self.shared
            .evtchn()
            .alloc_unbound(self.token, DOMID_SELF, remote_dom)
            .map_err(evtchn_err)
    }

    fn bind_interdomain(
        &mut self,
        _vcpu: u32,
        remote_dom: u16,
        remote_port: u32,
    ) -> XenResult<u32> {
        self.shared
            .evtchn()
            .bind_interdomain_in(self.token, self.mem, remote_dom, remote_port)
            .map_err(evtchn_err)
    }

    fn bind_virq(&mut self, _vcpu: u32, virq: u32, target: u32) -> XenResult<u32> {
        self.shared
            .evtchn()
            .bind_virq(self.token, virq, target)
            .map_err(evtchn_err)
    }

    fn bind_ipi(&mut self, _vcpu: u32, target: u32) -> XenResult<u32> {
        self.shared
            .evtchn()
            .bind_ipi(self.token, target)
            .map_err(evtchn_err)
    }

    fn close(&mut self, _vcpu: u32, port: u32) -> XenResult<()> {
        self.shared
            .evtchn()
            .close_in(self.token, self.mem, port)
            .map_err(evtchn_err)
    }

    fn send(&mut self, _vcpu: u32, port: u32) -> XenResult<()> {
        let sent = self
            .shared
            .evtchn()
            .send_in(self.token, self.mem, port)
            .map_err(evtchn_err)?;
        // Only a port bound to the backend domain reaches a device: an IPI or
        // loopback send needs no device lookup (nor its locks).
        if !matches!(sent, xen_evtchn::Sent::Host(_)) {
            return Ok(());
        }
        let backend = {
            let (xen, _t) = self.shared.xen_state().lock(self.token);
            xen.backend_of(port)
        }
        .or_else(|| {
            let (be, _t) = self.shared.backends().lock(self.token);
            be.is_vbd_port(port).then_some(Backend::Block)
        });
        if backend == Some(Backend::Console) {
            // A PV ring user: host input goes to its ring.
            let (mut be, _t) = self.shared.backends().lock(self.token);
            be.console.use_ring();
        }
        match (self.effects.backend, backend) {
            // Another backend was notified earlier in this hypercall (a
            // multicall): run both, as after a yield.
            (Some(a), Some(b)) if a != b => {
                self.effects.backend = None;
                self.effects.yielded = true;
            }
            (_, Some(b)) if !self.effects.yielded => self.effects.backend = Some(b),
            _ => {}
        }
        Ok(())
    }

    fn status(&mut self, _vcpu: u32, port: u32) -> XenResult<(PortStatus, u32)> {
        let st = self
            .shared
            .evtchn()
            .status(self.token, DOMID_SELF, port)
            .map_err(evtchn_err)?;
        let s = match st.status {
            xen_abi::EVTCHNSTAT_UNBOUND => PortStatus::Unbound {
                remote_dom: st.u[0] as u16,
            },
            xen_abi::EVTCHNSTAT_INTERDOMAIN => PortStatus::Interdomain {
                remote_dom: st.u[0] as u16,
                remote_port: st.u[1],
            },
            xen_abi::EVTCHNSTAT_PIRQ => PortStatus::Pirq(st.u[0]),
            xen_abi::EVTCHNSTAT_VIRQ => PortStatus::Virq(st.u[0]),
            xen_abi::EVTCHNSTAT_IPI => PortStatus::Ipi,
            _ => PortStatus::Closed,
        };
        Ok((s, st.vcpu))
    }

    fn bind_vcpu(&mut self, _vcpu: u32, port: u32, target: u32) -> XenResult<()> {
        self.shared
            .evtchn()
            .bind_vcpu(self.token, port, target)
            .map_err(evtchn_err)
    }

    fn unmask(&mut self, _vcpu: u32, port: u32) -> XenResult<()> {
        self.shared
            .evtchn()
            .unmask_in(self.token, self.mem, port)
            .map_err(evtchn_err)
    }

    fn init_control(
        &mut self,
        _vcpu: u32,
        control_gfn: u64,
        offset: u32,
        target: u32,
    ) -> XenResult<u8> {
        self.shared
            .evtchn()
            .init_control_in(self.token, self.mem, control_gfn, offset, target)
            .map_err(evtchn_err)
    }

    fn expand_array(&mut self, _vcpu: u32, array_gfn: u64) -> XenResult<()> {
        self.shared
            .evtchn()
            .expand_array_in(self.token, self.mem, array_gfn)
            .map_err(evtchn_err)
    }

    fn set_priority(&mut self, _vcpu: u32, port: u32, priority: u32) -> XenResult<()> {
        self.shared
            .evtchn()
            .set_priority(self.token, port, priority)
            .map_err(evtchn_err)
    }

    /// Closes every port, as Xen; then the VMM binds its console and
    /// xenstore channels again and updates their HVM params (Xen leaves that
    /// to the toolstack's soft reset; here the VMM is the toolstack).
    fn reset(&mut self, _vcpu: u32) -> XenResult<()> {
        self.shared
            .evtchn()
            .reset_in(self.token, self.mem, DOMID_SELF)
            .map_err(evtchn_err)?;
        crate::backends::rebind_after_reset(self.shared, self.token).map_err(|e| {
            log::error!("rebinding the console / xenstore channels after EVTCHNOP_reset: {e}");
            evtchn_err(e)
        })
    }
}

impl GnttabHandler for XenHv<'_, '_> {
    fn query_size(&mut self, _vcpu: u32) -> (u32, u32) {
        let (be, _t) = self.shared.backends().lock(self.token);
        be.gnttab.query_size()
    }

    fn setup_table(&mut self, _vcpu: u32, frames: &mut [u64]) -> Result<(), i16> {
        let (mut be, _t) = self.shared.backends().lock(self.token);
        let gfns = be
            .gnttab
            .setup_table(frames.len() as u32)
            .map_err(|_| xen_abi::GNTST_GENERAL_ERROR)?;
        for (f, g) in frames.iter_mut().zip(gfns) {
            // Frames not placed in the physmap yet have no GFN (HVM guests map
            // them with XENMEM_add_to_physmap).
            *f = g.ok_or(xen_abi::GNTST_GENERAL_ERROR)?;
        }
        Ok(())
    }

    /// Xen's rules (see `xen_gnttab::GrantTable::set_version`): the frames in guest
    /// memory are rewritten, status frames appear or go.
    fn set_version(&mut self, _vcpu: u32, version: u32) -> XenResult<()> {
        let (mut be, _t) = self.shared.backends().lock(self.token);
        be.gnttab
            .set_version(&**self.mem, version)
            .map(|_| ())
            .map_err(|e| Errno(e.errno()))
    }

    fn get_version(&mut self, _vcpu: u32) -> u32 {
        let (be, _t) = self.shared.backends().lock(self.token);
        be.gnttab.version()
    }

    /// Not offered (the default `get_status_frames_offered`), as Xen refuses it to HVM
    /// and PVH guests; answered from the table if a caller asks anyway.
    fn get_status_frames(&mut self, _vcpu: u32, frames: &mut [u64]) -> Result<(), i16> {
        let (be, _t) = self.shared.backends().lock(self.token);
        let gfns = be
            .gnttab
            .status_frames(frames.len() as u32)
            .map_err(|_| xen_abi::GNTST_GENERAL_ERROR)?;
        for (f, g) in frames.iter_mut().zip(gfns) {
            *f = g.ok_or(xen_abi::GNTST_GENERAL_ERROR)?;
        }
        Ok(())
    }

    /// Grants of domain 0 (the backends, which grant nothing): as an empty table.
    /// Grants of the guest itself go through all of Xen's checks (the entry is pinned
    /// and released again, its `GTF_reading` / `GTF_writing` included), then fail where
    /// Xen would put the frame at a second GFN: this VMM cannot alias a page
    /// (`GNTST_general_error`, the answer Xen gives when that step fails).
    fn map_grant_ref(&mut self, _vcpu: u32, op: &GrantMapReq) -> Result<(u32, u64), i16> {
        if op.dom != self.shared.config().domid {
            return Err(xen_gnttab::no_grant_status(op.gref));
        }
        let readonly = op.flags & xen_abi::GNTMAP_READONLY != 0;
        let (mut be, _t) = self.shared.backends().lock(self.token);
        let m = be.gnttab.map(&**self.mem, op.gref, op.dom, readonly)?;
        let _ = be.gnttab.unmap(&**self.mem, m.handle);
        Err(xen_abi::GNTST_GENERAL_ERROR)
    }

    /// The guest never holds a mapping (see `map_grant_ref`).
    fn unmap_grant_ref(&mut self, _vcpu: u32, _handle: u32, _host: u64, _dev: u64) -> i16 {
        xen_abi::GNTST_BAD_HANDLE
    }

    fn grant_copy(&mut self, _vcpu: u32, op: &GrantCopyReq) -> i16 {
        let domid = self.shared.config().domid;
        let mem = &**self.mem;
        let (xen, mut t) = self.shared.xen_state().lock(self.token);
        let (mut be, _t) = self.shared.backends().lock(&mut t);
        // A frame the guest has: not a RAM frame it gave back (a Xen page placed
        // there, e.g. a grant frame, counts).
        let placed: Vec<u64> = be
            .gnttab
            .mapped_gfns()
            .chain(xen.shared_info.map(|g| g / PAGE_SIZE))
            .collect();
        let frame_ok = |g: u64| !xen.absent.contains(&g) || placed.contains(&g);
        let exists = |d: u16| d == xen_evtchn::BACKEND_DOMID;
        let env = xen_gnttab::CopyEnv {
            domid,
            domain_exists: &exists,
            frame_ok: &frame_ok,
        };
        let ptr = |p: &xen_hypercall::GrantCopyPtr| xen_gnttab::CopyPtr {
            gref_or_gfn: p.gref_or_gfn,
            domid: p.domid,
            offset: p.offset,
        };
        let c = xen_gnttab::CopyOp {
            source: ptr(&op.source),
            dest: ptr(&op.dest),
            len: op.len,
            flags: op.flags,
        };
        be.gnttab.copy(mem, &env, &c)
    }

    fn swap_grant_ref(&mut self, _vcpu: u32, a: u32, b: u32) -> i16 {
        let (mut be, _t) = self.shared.backends().lock(self.token);
        be.gnttab.swap(&**self.mem, a, b)
    }
}

/// `console_io` as Xen offers it to a domain that owns the console
/// (`is_console`): writes go to Xen's console, reads take host console input.
/// Stock Xen refuses both to other domUs (-EPERM; writes are allowed in debug
/// builds); this VMM's guest is its console's only domain.
impl ConsoleHandler for XenHv<'_, '_> {
    fn console_write(&mut self, _vcpu: u32, bytes: &[u8]) -> XenResult<()> {
        if !self.shared.serve_backends_inline() {
            // The PV ring's output not yet taken by the backend thread goes
            // first: the two streams keep the order the guest wrote them in.
            crate::backends::notify(self.shared, self.token, self.mem, Some(Backend::Console));
        }
        crate::backends::console_io_write(self.shared, self.token, bytes);
        Ok(())
    }

    fn console_read(&mut self, _vcpu: u32, buf: &mut [u8]) -> usize {
        let (mut be, _t) = self.shared.backends().lock(self.token);
        be.console.read_input(buf)
    }
}

/// Offers `VMASST_TYPE_runstate_update_flag` only, as Xen does for HVM guests.
impl VmAssistHandler for XenHv<'_, '_> {
    fn vm_assist(&mut self, _vcpu: u32, vm_type: u32, enable: bool) -> XenResult<()> {
        if vm_type != VMASST_TYPE_RUNSTATE_UPDATE_FLAG {
            return Err(Errno::EINVAL);
        }
        // Every later runstate-area write sets XEN_RUNSTATE_UPDATE while it runs.
        self.shared.pages().set_runstate_update_flag(enable);
        Ok(())
    }
}

impl Hypervisor for XenHv<'_, '_> {
    fn domid(&self) -> u16 {
        self.shared.config().domid
    }
    fn nr_vcpus(&self) -> u32 {
        self.shared.nr_vcpus()
    }
    /// The guest and domain 0, whose part the VMM's backends play.
    fn domain_exists(&self, domid: u16) -> bool {
        domid == self.shared.config().domid || domid == xen_evtchn::BACKEND_DOMID
    }
}

#[cfg(test)]
mod tests {
    use super::{timer_op_deadline, TIMER_OP_HUGE_DELAY_NS};

    #[test]
    fn wrapped_timer_op_deadlines_fire_soon() {
        let now = 5_000_000_000u64;
        let soon = now + TIMER_OP_HUGE_DELAY_NS;
        // Negative as an s64, or 2^50 ns or more ahead: Linux's wrapped jiffies.
        assert_eq!(timer_op_deadline(u64::MAX, now), soon);
        assert_eq!(timer_op_deadline(1 << 63, now), soon);
        assert_eq!(timer_op_deadline(now + (1 << 50), now), soon);
        assert_eq!(timer_op_deadline(i64::MAX as u64, now), soon);
        // Past, near and far-but-sane deadlines stay as they are.
        assert_eq!(timer_op_deadline(1, now), 1);
        assert_eq!(timer_op_deadline(now + 1_000, now), now + 1_000);
        let far = now + (1 << 50) - 1;
        assert_eq!(timer_op_deadline(far, now), far);
    }
}
