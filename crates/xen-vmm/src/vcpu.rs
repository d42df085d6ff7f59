// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! vCPU threads: the `KVM_RUN` loop, exit handling, upcall injection with
//! `KVM_INTERRUPT`, kicks, and sleeping in HLT / `SCHEDOP_block` / `SCHEDOP_poll`.
//!
//! # Interrupt design
//! With KVM's in-kernel irqchip (the default, [`crate::irqchip`]) upcalls are
//! LAPIC interrupts and IOAPIC lines that KVM delivers itself: the vCPU loop
//! injects nothing, and KVM handles HLT (the vCPU sleeps in `KVM_RUN`).
//!
//! Without an irqchip ([`crate::Irqchip::None`]), `KVM_INTERRUPT` injects a vector
//! directly, the way Xen injects its callback vector (no LAPIC, no EOI). An
//! upcall is level-like: before each entry, if the vCPU has an upcall
//! vector and its `vcpu_info.evtchn_upcall_pending` is set, the vector is
//! injected when `kvm_run.ready_for_interrupt_injection` and `if_flag`
//! allow it, otherwise an interrupt window is requested. HLT exits to us
//! and parks the thread until an event. A kick (from timers, other vCPUs or
//! shutdown) sets `kvm_run.immediate_exit`, signals the thread (ending
//! `KVM_RUN` with EINTR) and unparks it.
//!
//! # HLT with interrupts disabled
//! As in Xen (`hvm_hlt`), a vCPU that halts with `RFLAGS.IF` clear goes
//! offline, and when no vCPU is left online the domain powers off
//! (`SHUTDOWN_poweroff`). Without an irqchip the HLT exit shows it. With the
//! in-kernel LAPIC, KVM keeps the vCPU halted in `KVM_RUN` (only an NMI,
//! INIT or SIPI would wake it), so the timer thread kicks every online vCPU
//! that has not left `KVM_RUN` for [`HALT_CHECK_MS`] ms, and the vCPU thread,
//! back from the kick, reads its MP state: `KVM_MP_STATE_HALTED` with IF
//! clear is that case. An offline vCPU waits in `KVM_RUN` in
//! `KVM_MP_STATE_UNINITIALIZED`: an INIT/SIPI from another vCPU's LAPIC
//! starts it (it is online again once KVM reports it runnable).
//!
//! # Runstate
//! Around each wait the thread reports its runstate
//! ([`xen_platform::XenPlatform::set_runstate`]): blocked while parked, runnable once
//! woken, running when it enters `KVM_RUN` again.

use std::sync::atomic::{AtomicU8, Ordering};

use std::time::{Duration, Instant};

use kvm_bindings::kvm_interrupt;
use kvm_ioctls::{VcpuExit, VcpuFd};
use vm_lock::{Root, Token, VcpuMutex};
use vmm_sys_util::ioctl::ioctl_with_ref;
use vmm_sys_util::ioctl_iow_nr;

use crate::error::{Error, Result};
use crate::halt_poll::HaltPoll;
use crate::hypercall_exit::{decode, HypercallExit};
use xen_abi::{RUNSTATE_BLOCKED, RUNSTATE_RUNNABLE, RUNSTATE_RUNNING};
use xen_evtchn::UpcallKind;
use xen_platform::smp::attr;
use xen_platform::{MsrWrite, Retry, StartSegment, TscReading, VcpuAccess, VcpuStart, Wait};

/// Maximum number of pages the guest may have the VMM add in holes.
pub const MAX_HOLE_PAGES: u32 = 64;
use crate::memory;
use crate::msr::{HYPERCALL_MSR, HYPERCALL_PORT};
use crate::serial::SerialDevice;
use crate::vm::{ExitReason, VcpuState, VmShared};

mod ioctls {
    #![allow(missing_docs)]
    use super::*;
    const KVMIO: u32 = 0xAE;
    ioctl_iow_nr!(KVM_INTERRUPT, KVMIO, 0x86, kvm_interrupt);
}
use ioctls::KVM_INTERRUPT;

/// Port where a byte written is echoed to the console (Bochs/QEMU debug port).
pub const DEBUG_PORT: u16 = 0xe9;

/// Vector used for a GSI callback: without an emulated IOAPIC the GSI is
/// injected into vCPU 0 as this base plus the GSI (as a legacy PIC
/// remapped to 0x20 would).
pub const GSI_VECTOR_BASE: u32 = 0x20;

/// How often (ms) the timer thread looks for vCPUs halted in `KVM_RUN` with
/// interrupts disabled (in-kernel LAPIC only; see the module docs).
pub const HALT_CHECK_MS: u64 = 250;

/// What the thread does after one `KVM_RUN`.
enum Action {
    Continue,
    /// Went offline with the in-kernel LAPIC (HLT with interrupts off):
    /// KVM's MP state is already `UNINITIALIZED`, set before the guest could
    /// see the vCPU offline, so an INIT/SIPI sent from then on starts it.
    Parked,
    /// HLT, `SCHEDOP_block` or `SCHEDOP_poll`: sleep until the wait ends.
    Wait(Wait),
    MapPage(u64, HypercallExit, Source),
    Exit,
}

/// The calling vCPU for the platform: its paging registers at the exit
/// (long-mode tables are walked by the platform), other guest-virtual
/// addresses through `KVM_TRANSLATE`, the TSC through `KVM_GET_MSRS`.
struct KvmVcpu<'a>(&'a VcpuFd, Option<xen_platform::PagingRegs>);

impl VcpuAccess for KvmVcpu<'_> {
    fn translate_gva(&mut self, gva: u64) -> Option<u64> {
        let t = self.0.translate_gva(gva).ok()?;
        (t.valid != 0).then_some(t.physical_address)
    }

    fn paging(&mut self) -> Option<xen_platform::PagingRegs> {
        self.1
    }

    fn tsc(&mut self) -> Option<TscReading> {
        let khz = self.0.get_tsc_khz().ok()?;
        let mut msrs = kvm_bindings::Msrs::from_entries(&[kvm_bindings::kvm_msr_entry {
            index: 0x10, // IA32_TIME_STAMP_COUNTER
            ..Default::default()
        }])
        .ok()?;
        if self.0.get_msrs(&mut msrs) != Ok(1) {
            return None;
        }
        Some(TscReading {
            tsc: msrs.as_slice()[0].data,
            khz,
        })
    }
}

fn set_immediate_exit(shared: &VmShared, id: u32, v: u8) {
    let p = shared.ctl[id as usize]
        .immediate_exit
        .load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: points into this vCPU's kvm_run mapping, alive as long as `shared`.
        unsafe { &*(p as *const AtomicU8) }.store(v, Ordering::SeqCst);
    }
}

/// The body of a vCPU thread.
pub fn vcpu_thread(shared: &VmShared, id: u32) -> Result<()> {
    let c = &shared.ctl[id as usize];
    let _ = c.thread.set(std::thread::current());
    // SAFETY: pthread_self has no preconditions.
    c.pthread
        .store(unsafe { libc::pthread_self() } as u64, Ordering::Release);
    let mut root = Root::new().map_err(|e| Error::Lock(e.to_string()))?;
    shared.running.fetch_add(1, Ordering::SeqCst);
    // A panic anywhere in the loop is contained here: the thread still
    // counts itself out (a pause never waits for it) and ends the VM as a
    // VMM error naming it (the other threads stop; `Vm::run` returns).
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_loop(shared, id, &mut root)
    }));
    shared.running.fetch_sub(1, Ordering::SeqCst);
    c.pthread.store(0, Ordering::Release);
    let r = r.unwrap_or_else(|p| {
        Err(Error::Vcpu(
            id,
            format!(
                "thread `vcpu{id}` panicked: {}",
                crate::vm::panic_message(&*p)
            ),
        ))
    });
    if let Err(e) = &r {
        shared.fail(&format!("vcpu{id}"), e.to_string());
    }
    r
}

fn run_loop(shared: &VmShared, id: u32, root: &mut Root) -> Result<()> {
    let c = &shared.ctl[id as usize];
    // A hypercall to run again after backing a page; `bool`: the page could not be added.
    let mut retry: Option<(HypercallExit, Source, bool)> = None;
    // Woken from a wait: the runstate becomes `running` at the next entry.
    let mut woken = false;
    // The pvclock is refreshed before the next entry: the vCPU starts (at
    // boot, after a restore, when brought online) or wakes from a wait.
    let mut refresh_time = true;
    // In-kernel irqchip: KVM runs this vCPU (its MP state is not
    // UNINITIALIZED / INIT_RECEIVED), as far as this thread knows.
    let mut started = false;
    // Coming up (first run, or after `VCPUOP_up`): load the registers of
    // `VCPUOP_initialise`, if the platform has some for this vCPU.
    let mut starting = true;
    let mut poll = HaltPoll::new(shared.halt_poll_max_ns);
    loop {
        if shared.is_done() {
            return Ok(());
        }
        shared.debug_panic_point(1u64 << id, "vcpu");
        // A hypercall waiting for its retry completes before the vCPU parks
        // (a snapshot must not catch it half done).
        if retry.is_none() && shared.pause.load(Ordering::Acquire) {
            shared.paused.fetch_add(1, Ordering::SeqCst);
            while shared.pause.load(Ordering::Acquire) && !shared.is_done() {
                std::thread::park_timeout(Duration::from_millis(50));
            }
            shared.paused.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        if !c.online.load(Ordering::Acquire) {
            refresh_time = true;
            starting = true;
        }
        // Down (`VCPUOP_down`, HLT with interrupts off, or a secondary never
        // brought up). With the in-kernel LAPIC it stays in KVM_RUN, waiting
        // for INIT/SIPI (or `VCPUOP_up`, which kicks it); without it, its
        // thread is parked until `VCPUOP_up`, a pause or the end of the VM.
        if shared.irqchip.is_none() && !c.online.load(Ordering::Acquire) {
            std::thread::park_timeout(Duration::from_millis(50));
            continue;
        }
        let action = {
            let (mut vs, mut t) = shared.vcpus[id as usize].lock(root.token());
            if c.online.load(Ordering::Acquire) && std::mem::take(&mut starting) {
                if let Some(s) = shared.platform.take_vcpu_start(&mut t, id) {
                    load_start(&vs, &s)?;
                }
                woken = true;
            }
            if shared.irqchip.is_some() {
                sync_mp_state(shared, &vs, &mut t, &mut started)?;
            }
            if std::mem::take(&mut woken) {
                shared.platform.set_runstate(&mut t, id, RUNSTATE_RUNNING);
            }
            if std::mem::take(&mut refresh_time) {
                shared
                    .platform
                    .update_vcpu_time(&mut t, id, &mut KvmVcpu(&vs.fd, None));
            }
            if let Some((hc, source, failed)) = retry.take() {
                complete_hypercall(shared, &mut vs, &mut t, hc, source, failed)?
            } else {
                step(shared, &mut vs, &mut t)?
            }
        };
        match action {
            Action::Continue => {}
            // Offline and waiting for INIT/SIPI: `sync_mp_state` must not
            // park it again (a SIPI may have started it already).
            Action::Parked => started = false,
            Action::Exit => return Ok(()),
            Action::Wait(w) => {
                shared
                    .platform
                    .set_runstate(root.token(), id, RUNSTATE_BLOCKED);
                wait(shared, id, root, &w, &mut poll);
                shared
                    .platform
                    .set_runstate(root.token(), id, RUNSTATE_RUNNABLE);
                woken = true;
                refresh_time = true;
            }
            Action::MapPage(gpa, hc, source) => {
                let ok = map_page(shared, root, gpa);
                retry = Some((hc, source, !ok));
            }
        }
    }
}

/// A segment a vCPU starts with, as KVM takes it (selector 0; a segment
/// without P is unusable).
fn kvm_segment(s: &StartSegment) -> kvm_bindings::kvm_segment {
    let bit = |b: u16| u8::from(s.attr & b != 0);
    kvm_bindings::kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: 0,
        type_: (s.attr & attr::TYPE) as u8,
        present: bit(attr::P),
        dpl: ((s.attr >> attr::DPL_SHIFT) & 3) as u8,
        db: bit(attr::DB),
        s: bit(attr::S),
        l: bit(attr::L),
        g: bit(attr::G),
        avl: bit(attr::AVL),
        unusable: u8::from(s.attr & attr::P == 0),
        padding: 0,
    }
}

/// Loads the registers of `VCPUOP_initialise` (checked by the platform) into
/// a vCPU about to run for the first time: general registers, RIP, RFLAGS,
/// CR0/3/4, EFER, CS DS SS ES TR as Xen's HVM vCPU context defines them, and
/// the runnable MP state (a vCPU whose LAPIC waits for INIT/SIPI is started).
fn load_start(vs: &VcpuState, s: &VcpuStart) -> Result<()> {
    let [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi] = s.gprs;
    let regs = kvm_bindings::kvm_regs {
        rax,
        rbx,
        rcx,
        rdx,
        rsi,
        rdi,
        rsp,
        rbp,
        rip: s.rip,
        rflags: s.rflags,
        ..Default::default()
    };
    let mut sregs = vs.fd.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?;
    sregs.cs = kvm_segment(&s.cs);
    sregs.ds = kvm_segment(&s.ds);
    sregs.ss = kvm_segment(&s.ss);
    sregs.es = kvm_segment(&s.es);
    sregs.tr = kvm_segment(&s.tr);
    sregs.cr0 = s.cr0;
    sregs.cr3 = s.cr3;
    sregs.cr4 = s.cr4;
    sregs.efer = s.efer;
    vs.fd
        .set_sregs(&sregs)
        .map_err(Error::kvm("KVM_SET_SREGS"))?;
    vs.fd.set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;
    vs.fd
        .set_mp_state(kvm_bindings::kvm_mp_state {
            mp_state: kvm_bindings::KVM_MP_STATE_RUNNABLE,
        })
        .map_err(Error::kvm("KVM_SET_MP_STATE"))?;
    Ok(())
}

/// Backs `gpa` with a new page (own KVM slot); false if that is refused.
fn map_page(shared: &VmShared, root: &mut Root, gpa: u64) -> bool {
    let (mut slot, mut t) = shared.map_update.lock(root.token());
    let current = {
        let (m, _t) = shared.mem.read(&mut t);
        (*m).clone()
    };
    if vm_memory::GuestMemoryBackend::address_in_range(&current, vm_memory::GuestAddress(gpa)) {
        return true;
    }
    if *slot >= 2 + MAX_HOLE_PAGES {
        log::warn!("guest asked for more than {MAX_HOLE_PAGES} pages in holes");
        return false;
    }
    match memory::with_extra_page(&current, gpa) {
        Ok((new, region)) => {
            if let Err(e) = memory::register_region(&shared.vm_fd, *slot, &region) {
                log::error!("{e}");
                return false;
            }
            *slot += 1;
            shared.mem.replace(&mut t, new);
            true
        }
        Err(e) => {
            log::warn!("{e}");
            false
        }
    }
}

/// In-kernel irqchip: keeps KVM's MP state of the vCPU and its `online`
/// flag in step. Brought online by the VMM (e.g. a restore or a VCPUOP_up):
/// leave the wait for SIPI. Taken offline (HLT with IF clear, VCPUOP_down):
/// wait for INIT/SIPI. Offline: online again once an INIT/SIPI from another
/// vCPU made KVM run it.
fn sync_mp_state(
    shared: &VmShared,
    vs: &VcpuState,
    t: &mut Token<'_, VcpuMutex>,
    started: &mut bool,
) -> Result<()> {
    use kvm_bindings::{
        kvm_mp_state, KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_UNINITIALIZED,
    };
    let c = &shared.ctl[vs.id as usize];
    let online = c.online.load(Ordering::Acquire);
    if online && *started {
        return Ok(());
    }
    let mp = vs
        .fd
        .get_mp_state()
        .map_err(Error::kvm("KVM_GET_MP_STATE"))?
        .mp_state;
    let waiting = mp == KVM_MP_STATE_UNINITIALIZED || mp == KVM_MP_STATE_INIT_RECEIVED;
    let set = |mp_state| {
        vs.fd
            .set_mp_state(kvm_mp_state { mp_state })
            .map_err(Error::kvm("KVM_SET_MP_STATE"))
    };
    match (online, *started) {
        (true, _) => {
            if waiting {
                set(KVM_MP_STATE_RUNNABLE)?;
            }
            *started = true;
        }
        (false, true) => {
            if !waiting {
                set(KVM_MP_STATE_UNINITIALIZED)?;
            }
            *started = false;
        }
        (false, false) => {
            if !waiting {
                log::info!("vCPU {} started by INIT/SIPI", vs.id);
                c.online.store(true, Ordering::Release);
                // Up for the platform too (`VCPUOP_is_up`, runstate).
                shared.platform.boot_vcpu(t, vs.id);
                shared.platform.set_runstate(t, vs.id, RUNSTATE_RUNNING);
                *started = true;
            }
        }
    }
    Ok(())
}

/// A vCPU halted with interrupts disabled: as Xen's `hvm_vcpu_down`, it goes
/// offline, and the domain powers off when no vCPU is left online. Returns
/// what the thread does next.
fn halted_for_good(
    shared: &VmShared,
    vs: &VcpuState,
    t: &mut Token<'_, VcpuMutex>,
) -> Result<Action> {
    let id = vs.id;
    log::info!("vCPU {id}: HLT with interrupts disabled: going offline");
    // With the in-kernel LAPIC the vCPU waits in KVM_RUN for INIT/SIPI. Its
    // MP state is set first: once the runstate says offline (below), another
    // vCPU may send INIT/SIPI at once, and setting the state after that would
    // throw the SIPI away (the vCPU would never start).
    let parked = shared.irqchip.is_some();
    if parked {
        vs.fd
            .set_mp_state(kvm_bindings::kvm_mp_state {
                mp_state: kvm_bindings::KVM_MP_STATE_UNINITIALIZED,
            })
            .map_err(Error::kvm("KVM_SET_MP_STATE"))?;
    }
    shared.ctl[id as usize]
        .online
        .store(false, Ordering::SeqCst);
    // The platform keeps the last vCPU up and answers the shutdown reason
    // (as the last `VCPUOP_down`); the VMM's own count covers vCPUs it runs
    // that the platform does not count up.
    let reason = shared.platform.vcpu_offline(t, id).or_else(|| {
        shared
            .ctl
            .iter()
            .all(|c| !c.online.load(Ordering::SeqCst))
            .then_some(xen_abi::SHUTDOWN_POWEROFF)
    });
    if let Some(reason) = reason {
        log::info!("all vCPUs offline: shutting down (reason {reason})");
        shared.finish(ExitReason::Shutdown(reason));
        return Ok(Action::Exit);
    }
    let delay = shared.debug_offline_delay_ms.load(Ordering::Relaxed);
    if delay != 0 {
        std::thread::sleep(Duration::from_millis(delay));
    }
    Ok(if parked {
        Action::Parked
    } else {
        Action::Continue
    })
}

/// In-kernel irqchip, back from a kick: an upcall still pending is sent
/// again. The MSI of `VmmHost::upcall` goes out when `evtchn_upcall_pending`
/// goes 0 -> 1; this covers an upcall pending before its delivery was set up
/// or moved (`HVM_PARAM_CALLBACK_IRQ`, `HVMOP_set_evtchn_upcall_vector` and
/// `VCPUOP_register_vcpu_info` kick their vCPUs, as Xen asserts the upcall
/// again there), and makes delivery level-like on pending at each kick (the
/// timer thread's idle kicks included). A vector already waiting in the IRR
/// is not delivered twice.
fn redeliver(
    shared: &VmShared,
    chip: &crate::irqchip::KernelIrqchip,
    id: u32,
    t: &mut Token<'_, VcpuMutex>,
) {
    match shared.platform.pending_upcall(t, id) {
        Some(UpcallKind::Vector(v) | UpcallKind::PerVcpuVector(v)) => {
            chip.send_vector(id, v);
        }
        Some(UpcallKind::Gsi(g)) => chip.assert_gsi(g),
        _ => {}
    }
}

/// In-kernel LAPIC, back from a kick: whether KVM holds the vCPU halted with
/// interrupts disabled and nothing being delivered (see the module docs).
fn halted_with_if_clear(vs: &mut VcpuState) -> bool {
    if vs.fd.get_kvm_run().if_flag != 0 {
        return false;
    }
    let halted = vs
        .fd
        .get_mp_state()
        .is_ok_and(|m| m.mp_state == kvm_bindings::KVM_MP_STATE_HALTED);
    if !halted {
        return false;
    }
    // An NMI or an event being delivered still wakes it.
    vs.fd
        .get_vcpu_events()
        .is_ok_and(|e| e.nmi.pending == 0 && e.nmi.injected == 0 && e.exception.injected == 0)
}

fn inject(shared: &VmShared, vs: &mut VcpuState, t: &mut Token<'_, VcpuMutex>) {
    if shared.irqchip.is_some() {
        // KVM delivers upcalls itself (LAPIC, IOAPIC).
        return;
    }
    let vector = match shared.platform.pending_upcall(t, vs.id) {
        Some(UpcallKind::Vector(v) | UpcallKind::PerVcpuVector(v)) => u32::from(v),
        Some(UpcallKind::Gsi(g)) => (GSI_VECTOR_BASE + g) & 0xff,
        _ => 0,
    };
    let pending = vector != 0;
    let run = vs.fd.get_kvm_run();
    if !pending {
        run.request_interrupt_window = 0;
        return;
    }
    if run.ready_for_interrupt_injection != 0 && run.if_flag != 0 {
        run.request_interrupt_window = 0;
        let irq = kvm_interrupt { irq: vector };
        // SAFETY: KVM_INTERRUPT on our vCPU fd with a valid kvm_interrupt.
        let r = unsafe { ioctl_with_ref(&vs.fd, KVM_INTERRUPT(), &irq) };
        if r < 0 {
            log::warn!(
                "KVM_INTERRUPT({vector:#x}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
    } else {
        run.request_interrupt_window = 1;
    }
}

fn step(shared: &VmShared, vs: &mut VcpuState, t: &mut Token<'_, VcpuMutex>) -> Result<Action> {
    let id = vs.id;
    set_immediate_exit(shared, id, 0);
    if shared.is_done() {
        return Ok(Action::Exit);
    }
    inject(shared, vs, t);
    shared.ctl[id as usize]
        .exits
        .fetch_add(1, Ordering::Relaxed);
    let exit = match vs.fd.run() {
        Ok(e) => e,
        Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
            if let Some(chip) = &shared.irqchip {
                redeliver(shared, chip, id, t);
            }
            if shared.irqchip.is_some()
                && shared.ctl[id as usize].online.load(Ordering::Acquire)
                && halted_with_if_clear(vs)
            {
                return halted_for_good(shared, vs, t);
            }
            return Ok(Action::Continue);
        }
        Err(e) => return Err(Error::kvm("KVM_RUN")(e)),
    };
    let mut wrmsr: Option<u64> = None;
    match exit {
        VcpuExit::IoOut(port, data) => {
            if port == u16::from(HYPERCALL_PORT) {
                // Falls through to the hypercall below (the exit borrows the fd).
            } else {
                if SerialDevice::claims(port) {
                    let out = {
                        let (mut s, _t) = shared.serial.lock(t);
                        s.write(port, data.first().copied().unwrap_or(0))
                    };
                    shared.platform.write_output(t, &out);
                } else if port == DEBUG_PORT {
                    let d = data.to_vec();
                    shared.platform.write_output(t, &d);
                }
                return Ok(Action::Continue);
            }
        }
        VcpuExit::IoIn(port, data) => {
            if SerialDevice::claims(port) {
                let (mut s, _t) = shared.serial.lock(t);
                let v = s.read(port);
                data.fill(0);
                if let Some(b) = data.first_mut() {
                    *b = v;
                }
            } else {
                data.fill(0xff);
            }
            return Ok(Action::Continue);
        }
        VcpuExit::MmioRead(_, data) => {
            data.fill(0xff);
            return Ok(Action::Continue);
        }
        VcpuExit::MmioWrite(..) | VcpuExit::IrqWindowOpen | VcpuExit::Intr => {
            return Ok(Action::Continue)
        }
        VcpuExit::X86Wrmsr(e) => {
            if e.index != HYPERCALL_MSR {
                *e.error = 1;
                return Ok(Action::Continue);
            }
            // Handled below, once the exit no longer borrows the fd.
            wrmsr = Some(e.data);
        }
        VcpuExit::X86Rdmsr(e) => {
            *e.error = 1;
            return Ok(Action::Continue);
        }
        VcpuExit::Hlt => {
            // No in-kernel LAPIC (KVM would not exit): HLT with IF clear
            // never ends.
            if vs.fd.get_kvm_run().if_flag == 0 {
                return halted_for_good(shared, vs, t);
            }
            return Ok(Action::Wait(Wait {
                deadline_ns: None,
                poll: None,
            }));
        }
        VcpuExit::Shutdown => {
            crate::fault::vcpu_failed(shared, vs, "triple fault (KVM_EXIT_SHUTDOWN)".into());
            return Ok(Action::Exit);
        }
        VcpuExit::InternalError => {
            let what = crate::fault::internal_error(vs);
            crate::fault::vcpu_failed(shared, vs, what);
            return Ok(Action::Exit);
        }
        VcpuExit::FailEntry(reason, cpu) => {
            let what = format!(
                "VM entry failed (KVM_EXIT_FAIL_ENTRY): hardware reason {reason:#x} on host CPU {cpu}"
            );
            crate::fault::vcpu_failed(shared, vs, what);
            return Ok(Action::Exit);
        }
        VcpuExit::Unsupported(kvm_bindings::KVM_EXIT_XEN) => {
            return kernel_hypercall(shared, vs, t);
        }
        VcpuExit::SystemEvent(..) => {
            shared.finish(ExitReason::Shutdown(xen_abi::SHUTDOWN_POWEROFF));
            return Ok(Action::Exit);
        }
        other => {
            let what = format!("unhandled exit {other:?}");
            crate::fault::vcpu_failed(shared, vs, what);
            return Ok(Action::Exit);
        }
    }
    if let Some(data) = wrmsr {
        // The platform latches the guest's ABI width from the mode it wrote
        // the MSR in.
        let sregs = if vs.sync_regs {
            vs.fd.sync_regs().sregs
        } else {
            vs.fd.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?
        };
        let lm = crate::hypercall_exit::long_mode(&sregs);
        let w = shared
            .platform
            .on_msr_write(t, id, HYPERCALL_MSR, data, lm, HYPERCALL_PORT);
        if w != MsrWrite::Done {
            // #GP: completing a KVM_EXIT_X86_WRMSR exit with `error` set
            // (writing a union field is safe).
            vs.fd.get_kvm_run().__bindgen_anon_1.msr.error = 1;
        }
        return Ok(Action::Continue);
    }
    hypercall(shared, vs, t)
}

/// Where a hypercall came from (and where its result goes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A port-I/O stub: result in RAX.
    PortIo,
    /// `KVM_EXIT_XEN` (in-kernel Xen support): result in `kvm_run.xen.u.hcall.result`.
    KernelXen,
}

fn current_regs(vs: &VcpuState) -> Result<(kvm_bindings::kvm_regs, kvm_bindings::kvm_sregs)> {
    Ok(if vs.sync_regs {
        let s = vs.fd.sync_regs();
        (s.regs, s.sregs)
    } else {
        (
            vs.fd.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?,
            vs.fd.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?,
        )
    })
}

/// A hypercall exit by port I/O from the hypercall page.
fn hypercall(
    shared: &VmShared,
    vs: &mut VcpuState,
    t: &mut Token<'_, VcpuMutex>,
) -> Result<Action> {
    let d = if vs.sync_regs {
        // Decoded in place in `kvm_run`: `VcpuFd::sync_regs` would copy the
        // whole synced block (about 0.5 KiB) on every hypercall.
        let s = vs.fd.sync_regs_mut();
        decode(&s.regs, &s.sregs)
    } else {
        let (regs, sregs) = current_regs(vs)?;
        decode(&regs, &sregs)
    };
    complete_hypercall(shared, vs, t, d, Source::PortIo, false)
}

/// A `KVM_EXIT_XEN` hypercall exit (hosts with `KVM_CAP_XEN_HVM`).
fn kernel_hypercall(
    shared: &VmShared,
    vs: &mut VcpuState,
    t: &mut Token<'_, VcpuMutex>,
) -> Result<Action> {
    let run = vs.fd.get_kvm_run();
    // SAFETY: the exit reason is KVM_EXIT_XEN, so `xen` is the live union member.
    let xen = unsafe { run.__bindgen_anon_1.xen };
    if xen.type_ != kvm_bindings::KVM_EXIT_XEN_HCALL {
        return Ok(Action::Continue);
    }
    // SAFETY: type KVM_EXIT_XEN_HCALL selects the `hcall` member.
    let h = unsafe { xen.u.hcall };
    let (regs, sregs) = current_regs(vs)?;
    let [a, b, c, d, e, f] = h.params;
    let cpl = h.cpl as u8;
    let hc = HypercallExit {
        regs: if h.longmode != 0 {
            xen_hypercall::HypercallRegs::from_regs64(cpl, h.input, a, b, c, d, e, f)
        } else {
            xen_hypercall::HypercallRegs::from_regs32(cpl, h.input, a, b, c, d, e, f)
        },
        paging: crate::hypercall_exit::x86_regs(&regs, &sregs).paging(),
        paging_regs: crate::hypercall_exit::paging_regs(&sregs),
    };
    complete_hypercall(shared, vs, t, hc, Source::KernelXen, false)
}

fn complete_hypercall(
    shared: &VmShared,
    vs: &mut VcpuState,
    t: &mut Token<'_, VcpuMutex>,
    hc: HypercallExit,
    source: Source,
    no_new_pages: bool,
) -> Result<Action> {
    let retry = if no_new_pages {
        Retry::PageRefused
    } else {
        Retry::No
    };
    let exit = shared.platform.on_hypercall(
        t,
        vs.id,
        &hc.regs,
        hc.paging,
        &mut KvmVcpu(
            &vs.fd,
            Some(xen_platform::PagingRegs {
                page_1g: shared.page_1g,
                ..hc.paging_regs
            }),
        ),
        retry,
    );
    let (rax, action) = match exit {
        xen_platform::HypercallExit::MapPage { gpa } => {
            return Ok(Action::MapPage(gpa, hc, source))
        }
        xen_platform::HypercallExit::Resume { rax } => (rax, Action::Continue),
        xen_platform::HypercallExit::Block { rax, wait } => (rax, Action::Wait(wait)),
        xen_platform::HypercallExit::Shutdown { rax, reason } => {
            shared.finish(ExitReason::Shutdown(reason));
            (rax, Action::Exit)
        }
        // An exit this VMM does not know: resume without touching RAX.
        _ => return Ok(Action::Continue),
    };
    match source {
        Source::PortIo if vs.sync_regs => {
            vs.fd.sync_regs_mut().regs.rax = rax;
            vs.fd.set_sync_dirty_reg(kvm_ioctls::SyncReg::Register);
        }
        Source::PortIo => {
            let mut regs = vs.fd.get_regs().map_err(Error::kvm("KVM_GET_REGS"))?;
            regs.rax = rax;
            vs.fd.set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;
        }
        Source::KernelXen => {
            let run = vs.fd.get_kvm_run();
            // Completing a KVM_EXIT_XEN hcall exit: KVM reads `result` from this
            // union member on the next KVM_RUN (writing a union field is safe).
            run.__bindgen_anon_1.xen.u.hcall.result = rax;
        }
    }
    Ok(action)
}

/// Sleeps in HLT / `SCHEDOP_block` / `SCHEDOP_poll` until the platform says
/// the wait is over (an event for the vCPU, a polled port, the deadline),
/// or the VM ends or pauses. Kicks unpark the thread; before parking it
/// polls its kick counter for the window of `poll` ([`crate::halt_poll`]).
fn wait(shared: &VmShared, id: u32, root: &mut Root, w: &Wait, poll: &mut HaltPoll) {
    let c = &shared.ctl[id as usize];
    let start = Instant::now();
    let mut parked = false;
    c.waiting.store(true, Ordering::SeqCst);
    loop {
        let kicks = c.kicks.load(Ordering::SeqCst);
        if shared.is_done() || shared.pause.load(Ordering::Acquire) {
            break;
        }
        if shared.platform.wait_ready(root.token(), id, w) {
            break;
        }
        let timeout = shared.platform.wait_timeout_ns(w).map(Duration::from_nanos);
        // Spin while the window lasts (and the deadline is not passed).
        let window = poll.window();
        let spent = start.elapsed();
        if spent < window {
            let until = (window - spent).min(timeout.unwrap_or(Duration::MAX));
            let t0 = Instant::now();
            while c.kicks.load(Ordering::Acquire) == kicks && t0.elapsed() < until {
                std::hint::spin_loop();
            }
            if c.kicks.load(Ordering::Acquire) != kicks || timeout.is_some_and(|t| t <= until) {
                continue;
            }
        }
        // A kick since `kicks` was read (one from this thread included, which
        // does not unpark it) is seen here rather than lost in the park.
        if c.kicks.load(Ordering::SeqCst) != kicks {
            continue;
        }
        parked = true;
        match timeout {
            Some(t) => std::thread::park_timeout(t),
            None => std::thread::park(),
        }
    }
    c.waiting.store(false, Ordering::SeqCst);
    // Pairs with the fence of `kick_ctl`: a kick that saw `waiting` set and
    // sent no signal made its change visible to the checks that follow.
    std::sync::atomic::fence(Ordering::SeqCst);
    poll.update(start.elapsed(), parked);
    shared.platform.wait_end(id, w);
}

/// Reads the registers of a vCPU fd (helper for tests and snapshot code).
pub fn regs_of(fd: &VcpuFd) -> Result<kvm_bindings::kvm_regs> {
    fd.get_regs().map_err(Error::kvm("KVM_GET_REGS"))
}
