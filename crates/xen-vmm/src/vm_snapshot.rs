// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Snapshot and restore of a whole [`Vm`]: the glue between the VMM and the
//! [`crate::snapshot`] file format.
//!
//! [`Vm::snapshot`] stops every thread that writes guest memory
//! ([`Vm::quiesce`]): the host threads wait at the [`crate::quiesce::HostGate`]
//! (the snapshot waits for their acknowledgement), the vCPU threads park
//! ([`VmShared::pause_vcpus`]). It then takes every vCPU mutex with
//! `vm_lock::lock_all_vcpus` (which needs the pause's proof), completes
//! in-flight I/O (one `KVM_RUN` with
//! `immediate_exit`), captures KVM and Xen state and streams guest memory to
//! the file, then lets everything run on.
//!
//! [`Vm::restore`] checks the whole file (header, CRCs, every value) before
//! it builds anything, creates a fresh VM with the saved shape, adds the
//! pages the guest had mapped in holes, loads memory, restores each vCPU,
//! rebuilds event channels, page caches and devices with their crates'
//! `from_state` (which validate again), re-arms the timers at their
//! absolute deadlines on the restored Xen clock, and raises again what was
//! pending (deferred events, queued console input). On any error the new VM
//! is dropped: nothing half-restored ever runs.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::Ordering;

use kvm_ioctls::Kvm;
use vm_lock::{lock_all_vcpus, MayBlock, Paused, Root, Token, Unlocked};
use vm_memory::{GuestAddress, GuestMemoryBackend};
use xen_platform::XenPlatform;

use crate::host_timer::HostTimer;
use crate::snapshot::kvm_state::{VcpuState as KvmVcpuState, VmKvmState};
use crate::snapshot::memory::{MemoryState, PAGE_SIZE};
use crate::snapshot::xen_state::{
    ConsoleMirror, GrantState, XenState as XenMirror, XenVcpuState, XenstoreMirror,
};
use crate::snapshot::{self, Error, Result, VmSnapshot, WriteStats};
use crate::vm::{Kernel, Vm, VmConfig, VmShared};

/// Time left (ns) before `timer` expires, 0 if disarmed.
fn remaining_ns(timer: &HostTimer) -> u64 {
    let mut cur = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
    };
    // SAFETY: a valid timerfd and a writable itimerspec.
    let r = unsafe { libc::timerfd_gettime(timer.as_raw_fd(), &mut cur) };
    if r < 0 {
        return 0;
    }
    cur.it_value.tv_sec as u64 * 1_000_000_000 + cur.it_value.tv_nsec as u64
}

fn vmm_err(what: &str) -> impl FnOnce(crate::Error) -> Error + '_ {
    move |e| Error::Invalid(format!("{what}: {e}"))
}

fn lock_err(e: vm_lock::Error) -> Error {
    Error::Invalid(format!("lock root: {e}"))
}

impl Vm {
    /// Writes a snapshot of the running (or not yet started) VM to `path`.
    ///
    /// Call from any thread that is not a vCPU thread; the guest is paused
    /// for the duration ([`Vm::quiesce`]) and resumes afterwards. `token`
    /// must be the thread's `Unlocked` token: the pause waits for the vCPU
    /// and host threads, which may need any lock first.
    pub fn snapshot<P: MayBlock>(
        &self,
        token: &mut Token<'_, P>,
        path: &Path,
    ) -> Result<WriteStats> {
        let q = self.quiesce(token)?;
        let stats = q.snapshot(token, path);
        q.resume();
        stats
    }

    /// Stops every thread that writes guest memory, for a snapshot: the
    /// host threads (timer thread, console input) finish what they are
    /// doing and then block before touching guest memory or consuming their
    /// input ([`crate::quiesce::HostGate`]); the vCPU threads park outside
    /// `KVM_RUN` ([`VmShared::pause_vcpus`]). Timer expiries and host input
    /// that arrive meanwhile wait and are delivered after
    /// [`Quiesced::resume`] (or when the guard is dropped); a snapshot taken
    /// meanwhile records them as due.
    ///
    /// Call from a thread that is not a vCPU thread and holds no lock:
    /// `token` is its `Unlocked` token (holding a lock, this does not
    /// compile).
    ///
    /// # Errors
    /// If the VM is already paused (another snapshot is being taken).
    pub fn quiesce<P: MayBlock>(&self, token: &mut Token<'_, P>) -> Result<Quiesced<'_>> {
        let shared = self.shared();
        // One snapshot (or pause) of this VM at a time: a second one's
        // resume would let the vCPUs run under the first one's capture.
        if shared
            .pause
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::Invalid(
                "the VM is already paused (another snapshot is being taken?)".into(),
            ));
        }
        // Host threads first: once this returns none of them is inside a
        // guest-memory section and none can start one.
        shared.host_gate.pause(token);
        let paused = shared.pause_vcpus(token);
        Ok(Quiesced {
            vm: self,
            paused,
            resumed: false,
        })
    }
    /// Builds a VM from the snapshot at `path`, ready to [`Vm::run`].
    ///
    /// `output` receives the guest's console output. Every value is checked
    /// before it reaches the VM; an error leaves nothing behind.
    pub fn restore(path: &Path, output: Box<dyn std::io::Write + Send>) -> Result<Vm> {
        let reader = snapshot::open_file(path)?;
        let st = reader.state().clone();
        let nr_vcpus = st.vcpus.len() as u32;
        let mem_bytes = st.xen.mem_bytes;
        if mem_bytes == 0 {
            return Err(Error::Invalid(
                "the snapshot does not record the guest RAM size (not written by Vm::snapshot)"
                    .into(),
            ));
        }
        if mem_bytes % (1 << 20) != 0 {
            return Err(Error::Invalid(format!(
                "guest RAM size {mem_bytes:#x} is not a whole number of MiB"
            )));
        }
        // Reject inconsistent Xen state before creating anything.
        st.xen.evtchn_state()?;
        let mut cfg = VmConfig::new(Kernel::Raw64(vec![0xf4]));
        cfg.vcpus = nr_vcpus;
        cfg.mem_mib = mem_bytes >> 20;
        cfg.kernel_xen = st.xen.kernel_xen;
        // The saved VM had an in-kernel irqchip iff its PIC/IOAPIC state was
        // captured (the LAPICs are in each vCPU's state).
        cfg.irqchip = if st.vm.irqchips.is_empty() {
            crate::Irqchip::None
        } else {
            crate::Irqchip::Kernel
        };
        cfg.output = output;
        // The disks, by their saved paths (the images must still be there).
        cfg.disks = st.xen.vbds.iter().map(|v| v.disk()).collect();
        let mut vm = Vm::new(cfg).map_err(vmm_err("creating the VM"))?;
        if st.xen.kernel_xen && !vm.kvm_has_xen {
            return Err(Error::Invalid(
                "the guest used KVM's Xen hypercall interception, which this host lacks".into(),
            ));
        }
        add_hole_pages(vm.shared(), &st.memory)?;
        {
            let mut root = Root::new().map_err(lock_err)?;
            let (mem, _t) = vm.shared().mem.read(root.token());
            reader.load_memory_sparse(&mem)?;
        }
        st.vm.restore(&vm.shared().vm_fd)?;
        {
            let shared = vm.shared();
            let mut root = Root::new().map_err(lock_err)?;
            // No vCPU thread exists yet: nothing to pause.
            let paused = Paused::new(root.token(), &shared.vcpus);
            let (_slots, mut t) = shared.map_update.lock(root.token());
            let (mut vcpus, _t) = lock_all_vcpus(&mut t, &paused);
            for (vs, saved) in vcpus.iter_mut().zip(&st.vcpus) {
                saved.restore(&vs.fd)?;
            }
        }

        let fresh = {
            let mut root = Root::new().map_err(lock_err)?;
            vm.shared().platform.state(root.token())
        };
        let saved = st.xen.platform_state(&fresh)?;
        let shared = vm
            .shared_mut()
            .ok_or_else(|| Error::Invalid("the new VM is already shared".into()))?;
        for (c, x) in shared.ctl.iter().zip(&st.xen.vcpus) {
            c.online.store(x.online, Ordering::Release);
        }
        let config = shared.platform.config().clone();
        let output = shared.platform.take_output();
        // The new VM's host (its vCPUs, timers and RAM).
        let host = shared.platform.host().clone();
        // Rebuilt from the saved state: every value checked again; timers
        // re-armed at their absolute deadlines on the restored Xen clock;
        // deferred events and queued console input raised again. Upcalls
        // pending in vcpu_info are injected by the vCPU threads (level-like).
        shared.platform = XenPlatform::restore(config, shared.mem.clone(), host, output, &saved)
            .map_err(|e| Error::Invalid(format!("Xen state: {e}")))?;
        restore_callback_line(vm.shared())?;
        Ok(vm)
    }
}

/// In-kernel irqchip: the IOAPIC lines saved high are the callback GSI's
/// (the VMM drives no other line). They are driven by their irqfd again, so
/// that KVM lowers them at the guest's EOI, and the callback GSI is asserted
/// again if vCPU 0 has an upcall pending through it.
fn restore_callback_line(shared: &VmShared) -> Result<()> {
    let Some(chip) = &shared.irqchip else {
        return Ok(());
    };
    let irr = chip
        .asserted_lines()
        .map_err(vmm_err("reading the IOAPIC"))?;
    for gsi in 0..crate::irqchip::IOAPIC_PINS {
        if irr & (1 << gsi) != 0 {
            chip.claim_gsi(gsi);
        }
    }
    let mut root = Root::new().map_err(lock_err)?;
    if let Some(xen_evtchn::UpcallKind::Gsi(g)) = shared.platform.pending_upcall(root.token(), 0) {
        chip.assert_gsi(g);
    }
    Ok(())
}

/// A VM stopped by [`Vm::quiesce`]: nothing writes guest memory until
/// [`Quiesced::resume`] or drop.
pub struct Quiesced<'a> {
    vm: &'a Vm,
    /// The vCPU threads' pause: what `lock_all_vcpus` needs.
    paused: Paused<'a, crate::vm::VcpuState>,
    resumed: bool,
}

impl std::fmt::Debug for Quiesced<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quiesced")
            .field("resumed", &self.resumed)
            .finish()
    }
}

impl Quiesced<'_> {
    /// Writes a snapshot of the stopped VM to `path`; `token` is the
    /// thread's `Unlocked` token (the one [`Vm::quiesce`] took).
    pub fn snapshot<P: MayBlock>(
        &self,
        token: &mut Token<'_, P>,
        path: &Path,
    ) -> Result<WriteStats> {
        let token = token.unlocked();
        let shared = self.vm.shared();
        let periodic_next = periodic_deadlines(shared);
        let state = capture(
            shared,
            token,
            &self.paused,
            self.vm.kvm_has_xen,
            &periodic_next,
        )?;
        let (mem, _t) = shared.mem.read(token);
        snapshot::save_to_file(path, &state, &mem)
    }

    /// Lets the VM run on: the vCPUs, then the host threads, which deliver
    /// what arrived while it was stopped.
    pub fn resume(mut self) {
        self.resume_now();
    }

    fn resume_now(&mut self) {
        if std::mem::replace(&mut self.resumed, true) {
            return;
        }
        let shared = self.vm.shared();
        shared.host_gate.resume();
        shared.resume_vcpus();
    }
}

impl Drop for Quiesced<'_> {
    fn drop(&mut self) {
        self.resume_now();
    }
}

/// Per vCPU, the Xen system time of the next periodic expiry (None if the
/// periodic timer is not running); an expiry not yet handled by the
/// (quiesced) timer thread is due now. The timers keep running: what
/// expires while the VM is stopped is delivered after it resumes.
fn periodic_deadlines(shared: &VmShared) -> Vec<Option<u64>> {
    shared
        .timers
        .iter()
        .map(|t| {
            let now = shared.system_time_ns();
            // Time left first, then unread expiries: an expiry in between is
            // seen as unread (due now), never lost.
            let left = remaining_ns(&t.periodic);
            if expired(&t.periodic) {
                Some(now)
            } else {
                (left > 0).then(|| now.saturating_add(left))
            }
        })
        .collect()
}

/// Whether `timer` has expiries not read yet (without reading them).
fn expired(timer: &HostTimer) -> bool {
    let mut p = libc::pollfd {
        fd: timer.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for a timerfd we own; timeout 0, only
    // `revents` is written.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r == 1 && p.revents & libc::POLLIN != 0
}

/// Pauses nothing itself: the caller has paused the vCPU threads
/// (`paused`). Takes every vCPU and captures the whole state (guest memory
/// excepted).
fn capture(
    shared: &VmShared,
    token: &mut Token<'_, Unlocked>,
    paused: &Paused<'_, crate::vm::VcpuState>,
    kernel_xen: bool,
    periodic_next: &[Option<u64>],
) -> Result<VmSnapshot> {
    let kvm = Kvm::new().map_err(Error::kvm("open /dev/kvm"))?;
    let state = {
        let (_slots, mut t) = shared.map_update.lock(token);
        let (mut vcpus, mut t) = lock_all_vcpus(&mut t, paused);
        let mut kvm_vcpus = Vec::with_capacity(vcpus.len());
        for vs in vcpus.iter_mut() {
            // Complete in-flight port I/O and flush registers left dirty in
            // kvm_run (sync regs): one KVM_RUN that exits at once.
            vs.fd.get_kvm_run().immediate_exit = 1;
            match vs.fd.run() {
                Ok(_) => {}
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
                Err(e) => return Err(Error::kvm("KVM_RUN (immediate exit)")(e)),
            }
            vs.fd.get_kvm_run().immediate_exit = 0;
            kvm_vcpus.push(KvmVcpuState::capture(&vs.fd, &kvm, vs.id)?);
        }
        let vm = VmKvmState::capture(&shared.vm_fd)?;
        let system_time_ns = shared.system_time_ns();
        let mut xen = XenMirror {
            mem_bytes: shared.mem_bytes,
            kernel_xen,
            system_time_ns,
            vcpus: vec![XenVcpuState::default(); vcpus.len()],
            ..Default::default()
        };
        let ps = shared.platform.state(&mut t);
        xen.vbds = shared
            .platform
            .config()
            .disks
            .iter()
            .zip(&ps.vbds)
            .map(|(d, v)| crate::snapshot::xen_state::VbdMirror::new(d, v))
            .collect();
        xen.set_evtchn(&ps.evtchn);
        xen.set_pages(&ps.pages);
        {
            let x = &ps.xen;
            xen.hvm_params = x.params.clone();
            xen.console_port = x.console_port();
            xen.store_port = x.store_port();
            xen.shutdown = x.shutdown;
            xen.grant_frame_gpas = x.grant_frames.clone();
            xen.tot_pages = x.tot_pages;
            xen.absent_gfns = x.absent.iter().copied().collect();
            for (i, (m, v)) in xen.vcpus.iter_mut().zip(&x.vcpus).enumerate() {
                m.timer_deadline_ns = v.singleshot_ns;
                m.periodic_period_ns = v.period_ns;
                m.runstate = v.runstate.state.clamp(0, 3) as u32;
                m.runstate_entry_ns = v.runstate.state_entry_time;
                m.runstate_time_ns = v.runstate.time;
                m.initialised = v.initialised;
                m.start = v.start.as_ref().map(Into::into);
                if v.period_ns.is_some() {
                    // Stopped timers: due at once after a restore.
                    let next = periodic_next.get(i).copied().flatten();
                    m.periodic_next_ns = next.unwrap_or(system_time_ns);
                }
            }
        }
        for (m, c) in xen.vcpus.iter_mut().zip(shared.ctl.iter()) {
            m.online = c.online.load(Ordering::Acquire);
        }
        xen.console = Some(ConsoleMirror::from(&ps.console));
        xen.xenstore = Some(XenstoreMirror::from(&ps.store));
        xen.grant = GrantState::from(&ps.gnttab);
        let (mem, _t) = shared.mem.read(&mut t);
        VmSnapshot {
            memory: MemoryState::of(&*mem),
            vm,
            vcpus: kvm_vcpus,
            xen,
        }
    };
    state.validate()?;
    Ok(state)
}

/// Adds, as the running VM would, the single pages the guest had mapped in
/// holes, then checks that guest memory has the saved layout.
fn add_hole_pages(shared: &VmShared, layout: &MemoryState) -> Result<()> {
    let mut root = Root::new().map_err(lock_err)?;
    let (mut slot, mut t) = shared.map_update.lock(root.token());
    for r in &layout.regions {
        let current = {
            let (m, _t) = shared.mem.read(&mut t);
            (*m).clone()
        };
        if current.address_in_range(GuestAddress(r.guest_addr)) {
            continue;
        }
        if r.size != PAGE_SIZE {
            return Err(Error::MemoryLayout(format!(
                "region [{:#x} + {:#x}] is neither RAM of this size nor a hole page",
                r.guest_addr, r.size
            )));
        }
        let (new, region) =
            crate::memory::with_extra_page(&current, r.guest_addr).map_err(vmm_err("hole page"))?;
        crate::memory::register_region(&shared.vm_fd, *slot, &region)
            .map_err(vmm_err("hole page"))?;
        *slot += 1;
        shared.mem.replace(&mut t, new);
    }
    let (m, _t) = shared.mem.read(&mut t);
    layout.check_matches(&*m)
}
