// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The VM: KVM objects, guest memory, vCPUs, the Xen platform, and running
//! it all (one thread per vCPU plus the timer thread).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};
use vm_lock::{Devices, MayBlock, MemoryMap, OrderedMutex, Paused, Token, VcpuMutex, VmLock};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

use crate::boot::{self, BootEntry, EntryMode};
use crate::error::{Error, Result};
use crate::fault::VcpuFault;
use crate::host_timer::VcpuTimers;
use crate::irqchip::{Irqchip, KernelIrqchip};
use crate::memory;
use crate::serial::SerialDevice;
use xen_evtchn::UpcallKind;
use xen_platform::{PlatformConfig, TimerArm, TimerKind, XenHost, XenPlatform};

/// The VMM side of the platform ([`XenHost`]): guest timers are timerfds
/// served by the timer thread ([`crate::timers`]); an upcall or a poll
/// wake-up kicks the vCPU, whose thread injects the vector itself before
/// its next entry (level-like on `evtchn_upcall_pending`, see [`crate::vcpu`]).
pub struct VmmHost {
    ctl: Arc<Vec<VcpuControl>>,
    timers: Arc<Vec<VcpuTimers>>,
    /// The in-kernel irqchip upcalls go through ([`Irqchip::Kernel`]).
    irqchip: Option<Arc<KernelIrqchip>>,
    /// The guest's RAM regions (not the pages added in holes), for ballooning.
    ram: Option<GuestMemoryMmap>,
}

impl VmmHost {
    /// A host for the vCPUs behind `ctl` and their `timers`.
    pub fn new(ctl: Arc<Vec<VcpuControl>>, timers: Arc<Vec<VcpuTimers>>) -> Self {
        VmmHost {
            ctl,
            timers,
            irqchip: None,
            ram: None,
        }
    }

    /// Delivers upcalls through the in-kernel irqchip `irqchip` (LAPIC
    /// MSIs, the callback GSI's IOAPIC line) rather than by kicking the vCPU
    /// so that its thread injects them.
    pub fn with_irqchip(mut self, irqchip: Option<Arc<KernelIrqchip>>) -> Self {
        self.irqchip = irqchip;
        self
    }

    /// Wakes vCPU `vcpu`'s thread if it waits in user space (`SCHEDOP_block`,
    /// `SCHEDOP_poll`, an HLT seen without an in-kernel LAPIC); no signal: a
    /// thread in `KVM_RUN` is left alone (KVM delivers the interrupt itself).
    fn wake(&self, vcpu: u32) {
        if let Some(t) = self.ctl.get(vcpu as usize).and_then(|c| c.thread.get()) {
            t.unpark();
        }
    }

    /// Lets the guest balloon pages of `ram` (its RAM regions) out and in: their
    /// memory goes back to the host ([`memory::discard_pages`]).
    pub fn with_ram(mut self, ram: GuestMemoryMmap) -> Self {
        self.ram = Some(ram);
        self
    }
}

impl XenHost for VmmHost {
    fn set_timer(&self, vcpu: u32, kind: TimerKind, arm: Option<TimerArm>) {
        let Some(t) = self.timers.get(vcpu as usize) else {
            return;
        };
        let timer = match kind {
            TimerKind::Periodic => &t.periodic,
            _ => &t.singleshot,
        };
        let r = match arm {
            Some(a) => timer.arm_at(a.deadline_ns, a.period_ns),
            None => timer.disarm(),
        };
        if let Err(e) = r {
            log::error!("timerfd: {e}");
        }
    }

    /// Lets the vCPU's thread run: it loads the registers of
    /// `VCPUOP_initialise` (if any) before it enters the guest.
    fn vcpu_up(&self, vcpu: u32) -> bool {
        let Some(c) = self.ctl.get(vcpu as usize) else {
            return false;
        };
        c.online.store(true, Ordering::Release);
        kick_ctl(c);
        true
    }

    /// The vCPU's thread parks once its current exit is handled.
    fn vcpu_down(&self, vcpu: u32) {
        if let Some(c) = self.ctl.get(vcpu as usize) {
            c.online.store(false, Ordering::Release);
            kick_ctl(c);
        }
    }

    fn upcall(&self, vcpu: u32, how: UpcallKind) {
        let Some(chip) = &self.irqchip else {
            // The vCPU thread injects it before its next entry.
            self.kick(vcpu);
            return;
        };
        match how {
            UpcallKind::Vector(v) | UpcallKind::PerVcpuVector(v) => {
                // APIC ID = vCPU index.
                chip.send_vector(vcpu, v);
                self.wake(vcpu);
            }
            UpcallKind::Gsi(g) => {
                chip.assert_gsi(g);
                self.wake(vcpu);
            }
            _ => self.kick(vcpu),
        }
    }

    fn kick(&self, vcpu: u32) {
        if let Some(c) = self.ctl.get(vcpu as usize) {
            kick_ctl(c);
        }
    }

    fn release_pages(&self, gpa: u64, count: u64) -> bool {
        self.ram
            .as_ref()
            .is_some_and(|ram| memory::discard_pages(ram, gpa, count))
    }

    /// Fresh zero pages: the old ones are discarded again (the guest may have
    /// touched them since it gave them back), the next access faults new ones in.
    fn populate_pages(&self, gpa: u64, count: u64) -> bool {
        self.release_pages(gpa, count)
    }
}

/// What to boot.
#[derive(Clone, Debug)]
pub enum Kernel {
    /// A PVH ELF kernel (file contents).
    Pvh(Vec<u8>),
    /// A flat binary entered in 64-bit long mode at 1 MiB (all vCPUs start there,
    /// unless [`VmConfig::secondaries_down`]).
    Raw64(Vec<u8>),
    /// A flat binary entered in 32-bit flat protected mode at 1 MiB (all vCPUs start
    /// there, unless [`VmConfig::secondaries_down`]).
    Raw32(Vec<u8>),
}

/// VM configuration.
pub struct VmConfig {
    /// Guest RAM in MiB.
    pub mem_mib: u64,
    /// Number of vCPUs (1..=32).
    pub vcpus: u32,
    /// The guest.
    pub kernel: Kernel,
    /// Kernel command line (PVH).
    pub cmdline: String,
    /// An initrd (file contents): loaded page aligned at the top of RAM and
    /// passed as the first module of `hvm_start_info` (`--initrd`).
    pub initrd: Option<Vec<u8>>,
    /// Where guest console output goes: the PV console ring, serial and port
    /// 0xe9 as they come, `console_io` as `(dN) `-prefixed lines.
    pub output: Box<dyn Write + Send>,
    /// Guest name (xenstore `name`).
    pub name: String,
    /// Host console input (e.g. stdin), read on its own thread: to the PV
    /// console ring or `CONSOLEIO_read`, whichever the guest uses.
    pub console_input: Option<Box<dyn std::io::Read + Send>>,
    /// Use KVM's Xen hypercall interception (`KVM_XEN_HVM_CONFIG`,
    /// `KVM_EXIT_XEN`) instead of the MSR-exit + port-I/O path. Off by default:
    /// that path has not run on a host with `KVM_CAP_XEN_HVM` yet. When set,
    /// [`Vm::new`] fails on a host without it.
    pub kernel_xen: bool,
    /// The interrupt controller: KVM's in-kernel irqchip (default) or none
    /// (upcalls injected with `KVM_INTERRUPT`). See [`crate::irqchip`].
    pub irqchip: Irqchip,
    /// The secondary vCPUs of a flat image (`Raw64` / `Raw32`) stay down until
    /// the guest brings them up (`VCPUOP_initialise` + `VCPUOP_up`), as those of
    /// a PVH kernel always do. Off by default: every vCPU of a flat image
    /// starts at its entry point.
    pub secondaries_down: bool,
    /// Serve the xenstore on a Unix socket at this path for the privileged
    /// toolstack domain ([`crate::xenstore_socket`]).
    pub xenstore_socket: Option<std::path::PathBuf>,
    /// PV block devices (`--disk`): raw image files the guest sees as `xvda`,
    /// `xvdb`, ... through a blkif frontend (xenstore `device/vbd/<dev>`).
    pub disks: Vec<xen_platform::DiskConfig>,
    /// Upper bound of the adaptive spin (ns) of a vCPU thread before it
    /// parks in HLT / `SCHEDOP_block` / `SCHEDOP_poll` ([`crate::halt_poll`]);
    /// 0 turns it off. Default [`crate::halt_poll::DEFAULT_MAX_NS`].
    pub halt_poll_max_ns: u64,
}

impl VmConfig {
    /// A configuration with 64 MiB, one vCPU, output to stdout, hypercalls
    /// through the port-I/O path.
    pub fn new(kernel: Kernel) -> Self {
        VmConfig {
            mem_mib: 64,
            vcpus: 1,
            kernel,
            cmdline: String::new(),
            initrd: None,
            output: Box::new(std::io::stdout()),
            kernel_xen: false,
            secondaries_down: false,
            name: "xen-vmm-guest".into(),
            console_input: None,
            irqchip: Irqchip::Kernel,
            xenstore_socket: None,
            disks: Vec::new(),
            halt_poll_max_ns: crate::halt_poll::DEFAULT_MAX_NS,
        }
    }
}

/// How the guest ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// `SCHEDOP_shutdown` with this Xen reason (`SHUTDOWN_*`).
    Shutdown(u32),
    /// Ended without a guest shutdown or a vCPU failure (e.g. stopped from
    /// the host with [`VmShared::finish`]); reported like a guest crash.
    Crash,
    /// The VMM could not run the guest on: a triple fault
    /// (`KVM_EXIT_SHUTDOWN`), a KVM internal error, a failed VM entry or an
    /// exit it does not handle. [`VmShared::fault`] tells which vCPU and
    /// holds its registers.
    VmmError,
}

/// Process exit status of [`ExitReason::VmmError`] (the guest's shutdown
/// reasons are 0 to 4; 64 and 70 are the binary's usage and setup errors).
pub const EXIT_VMM_ERROR: i32 = 71;

impl ExitReason {
    /// Process exit status: the Xen shutdown reason (poweroff 0, reboot 1,
    /// suspend 2, crash 3, watchdog 4, ...); [`ExitReason::Crash`] is 3,
    /// [`ExitReason::VmmError`] [`EXIT_VMM_ERROR`] (71).
    pub fn exit_status(self) -> i32 {
        match self {
            ExitReason::Shutdown(r) => r.min(EXIT_SHUTDOWN_MAX) as i32,
            ExitReason::Crash => xen_abi::SHUTDOWN_CRASH as i32,
            ExitReason::VmmError => EXIT_VMM_ERROR,
        }
    }
}

/// Largest exit status a guest shutdown reason maps to (below the binary's
/// own statuses 64, 70 and 71).
const EXIT_SHUTDOWN_MAX: u32 = 63;

/// Per-vCPU state behind the vCPU mutex (like KVM's `vcpu->mutex`).
pub struct VcpuState {
    /// vCPU index.
    pub id: u32,
    /// The KVM vCPU.
    pub fd: VcpuFd,
    /// Registers are synced through `kvm_run` (`KVM_CAP_SYNC_REGS`), saving
    /// the GET/SET_REGS and GET_SREGS ioctls on each hypercall.
    pub sync_regs: bool,
}

/// Everything the VM's threads share.
pub struct VmShared {
    /// The KVM VM.
    pub vm_fd: VmFd,
    /// Guest memory (read sections for access, replaced when pages are added in holes).
    pub mem: MemoryMap<GuestMemoryMmap>,
    /// Guest RAM size.
    pub mem_bytes: u64,
    /// Serialises memory-map updates; holds the next free KVM slot.
    pub map_update: OrderedMutex<VmLock, u32>,
    /// vCPUs.
    pub vcpus: Vec<OrderedMutex<VcpuMutex, VcpuState>>,
    /// Cross-thread vCPU control (shared with the upcall sink).
    pub ctl: Arc<Vec<VcpuControl>>,
    /// The Xen the guest sees: event channels, pages, timers, params, PV
    /// devices, hypercalls (xen-platform).
    pub platform: XenPlatform,
    /// The host timers behind the guest's Xen timers.
    pub timers: Arc<Vec<VcpuTimers>>,
    /// The 16550 on 0x3f8 (its output goes to the platform's console output).
    pub serial: OrderedMutex<Devices, SerialDevice>,
    /// KVM's in-kernel irqchip, with [`Irqchip::Kernel`] (`None`: no
    /// interrupt controller, upcalls injected with `KVM_INTERRUPT`).
    pub irqchip: Option<Arc<KernelIrqchip>>,
    done: AtomicBool,
    exit_status: AtomicI32,
    fault: OnceLock<VcpuFault>,
    pub(crate) stop_evt: EventFd,
    /// Asks vCPU threads to park outside `KVM_RUN` (snapshot pause).
    pub pause: AtomicBool,
    /// vCPU threads running their loop.
    pub running: AtomicU32,
    /// vCPU threads parked because of `pause`.
    pub paused: AtomicU32,
    /// The gate of the host threads that write guest memory (timer thread,
    /// console input): closed while a snapshot is taken.
    pub host_gate: crate::quiesce::HostGate,
    /// Times the backend thread ([`crate::backend_thread`]) ran the
    /// platform's devices (a test hook).
    pub backend_runs: AtomicU64,
    /// Why the VMM itself ended the VM: a VMM thread panicked or failed
    /// (first failure wins; see [`VmShared::fail`]).
    failure: std::sync::OnceLock<VmmFailure>,
    /// Test hook: makes a VMM thread panic, to test that a panic ends the
    /// VM cleanly. Bit `v` (`v < 32`): vCPU `v`'s thread panics at the top
    /// of its loop (kick it); [`PANIC_TIMER_THREAD`]: the timer thread at
    /// its next timer event; [`PANIC_INPUT_THREAD`]: the console-input
    /// thread at its next input. Neither the VMM nor the guest sets it.
    #[doc(hidden)]
    pub debug_panic: std::sync::atomic::AtomicU64,
    /// Test hook: a vCPU going offline (HLT with interrupts disabled) sleeps
    /// this many milliseconds once the guest can see it offline, as a thread
    /// the host scheduled out there would. Neither the VMM nor the guest
    /// sets it.
    #[doc(hidden)]
    pub debug_offline_delay_ms: AtomicU64,
    /// [`VmConfig::halt_poll_max_ns`].
    pub halt_poll_max_ns: u64,
    /// The vCPUs have 1 GiB pages (their CPUID): the platform's page walk
    /// for hypercall pointers follows ([`xen_platform::PagingRegs::page_1g`]).
    pub page_1g: bool,
}

/// [`VmShared::debug_panic`] bit of the timer thread.
#[doc(hidden)]
pub const PANIC_TIMER_THREAD: u64 = 1 << 32;
/// [`VmShared::debug_panic`] bit of the console-input thread.
#[doc(hidden)]
pub const PANIC_INPUT_THREAD: u64 = 1 << 33;

/// A VMM thread that ended the VM: it panicked or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmmFailure {
    /// The thread's name (`vcpu1`, `xen-timers`, `console-input`).
    pub thread: String,
    /// The panic message or error.
    pub message: String,
}

impl std::fmt::Display for VmmFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VMM thread `{}`: {}", self.thread, self.message)
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".into()
    }
}

impl VmShared {
    /// Xen system time in ns.
    pub fn system_time_ns(&self) -> u64 {
        self.platform.system_time_ns()
    }

    /// Whether the VM has ended.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Ends the VM with `reason` (first caller wins) and wakes every thread.
    pub fn finish(&self, reason: ExitReason) {
        if self
            .done
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let code = match reason {
                ExitReason::Shutdown(r) => r.min(i32::MAX as u32) as i32,
                ExitReason::Crash => -1,
                ExitReason::VmmError => -2,
            };
            self.exit_status.store(code, Ordering::Release);
        }
        let _ = self.stop_evt.write(1);
        self.host_gate.shut_down();
        // The backend thread sleeps in its event loop: woken, it sees the end
        // at once (else `Vm::run` waited up to its 100 ms poll for the join).
        let _ = self.platform.backend_wake().write(1);
        for i in 0..self.ctl.len() {
            self.kick(i as u32);
        }
    }

    /// Ends the VM because VMM thread `thread` panicked or failed with
    /// `message` (a VMM error, not a guest crash): records the first such
    /// failure ([`VmShared::vmm_failure`]) and stops every thread, as
    /// [`VmShared::finish`] with [`ExitReason::Crash`]. [`Vm::run`] then
    /// returns an error naming the thread.
    pub fn fail(&self, thread: &str, message: String) {
        log::error!("VMM thread `{thread}` failed: {message}");
        let _ = self.failure.set(VmmFailure {
            thread: thread.to_string(),
            message,
        });
        self.finish(ExitReason::Crash);
    }

    /// The VMM failure that ended the VM, if one did ([`VmShared::fail`]).
    pub fn vmm_failure(&self) -> Option<&VmmFailure> {
        self.failure.get()
    }

    /// Panics if the test hook [`VmShared::debug_panic`] asks it of `bit`.
    pub(crate) fn debug_panic_point(&self, bit: u64, thread: &str) {
        if self.debug_panic.load(Ordering::Relaxed) & bit != 0 {
            panic!("debug_panic test hook on thread {thread}");
        }
    }

    /// The exit reason, once done.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        if !self.is_done() {
            return None;
        }
        let c = self.exit_status.load(Ordering::Acquire);
        Some(match c {
            -2 => ExitReason::VmmError,
            c if c < 0 => ExitReason::Crash,
            c => ExitReason::Shutdown(c as u32),
        })
    }

    /// What ended the VM with [`ExitReason::VmmError`]: the first vCPU
    /// failure recorded.
    pub fn fault(&self) -> Option<&VcpuFault> {
        self.fault.get()
    }

    /// Records a vCPU failure (the first one is kept).
    pub(crate) fn record_fault(&self, fault: VcpuFault) {
        let _ = self.fault.set(fault);
    }

    /// Makes vCPU `v` leave `KVM_RUN` (or a wait) and look at its events.
    pub fn kick(&self, v: u32) {
        if let Some(c) = self.ctl.get(v as usize) {
            kick_ctl(c);
        }
    }

    /// Stops every vCPU thread outside `KVM_RUN`, not holding its vCPU mutex,
    /// and waits until they all are (or the VM ended). The returned proof is
    /// what `vm_lock::lock_all_vcpus` needs to take every vCPU (snapshot). A
    /// vCPU halted or blocked returns from the wait (a spurious wake-up for
    /// the guest).
    ///
    /// A wait for the vCPU threads: `token` must be this thread's `Unlocked`
    /// token (a vCPU thread may need any lock before it can park), so calling
    /// it while holding a lock does not compile.
    pub fn pause_vcpus<P: MayBlock>(&self, token: &mut Token<'_, P>) -> Paused<'_, VcpuState> {
        vm_lock::assert_may_block(token, "VmShared::pause_vcpus");
        self.pause.store(true, Ordering::SeqCst);
        for i in 0..self.ctl.len() {
            self.kick(i as u32);
        }
        while !self.is_done()
            && self.paused.load(Ordering::SeqCst) < self.running.load(Ordering::SeqCst)
        {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        Paused::new(token, &self.vcpus)
    }

    /// Lets paused vCPU threads run again.
    pub fn resume_vcpus(&self) {
        self.pause.store(false, Ordering::SeqCst);
        for c in self.ctl.iter() {
            if let Some(t) = c.thread.get() {
                t.unpark();
            }
        }
    }
}

/// A VM ready to run.
pub struct Vm {
    shared: Arc<VmShared>,
    boot: BootEntry,
    /// Hypercalls arrive as `KVM_EXIT_XEN` (in-kernel Xen support with
    /// `INTERCEPT_HCALL`, [`VmConfig::kernel_xen`]) rather than through the
    /// MSR exit and port-I/O stubs.
    pub kvm_has_xen: bool,
}

/// Signal number the VMM uses to kick vCPU threads (re-exported for users
/// who manage signal masks).
pub use crate::kick::kick_signal;
pub use crate::kick::{kick_ctl, VcpuControl};

impl Vm {
    /// Creates the VM: KVM VM, memory, guest image, vCPUs.
    pub fn new(config: VmConfig) -> Result<Vm> {
        if config.vcpus == 0 || config.vcpus > 32 {
            return Err(Error::Config(format!(
                "{} vCPUs requested; 1 to 32 are supported",
                config.vcpus
            )));
        }
        let mem_bytes = config
            .mem_mib
            .checked_mul(1 << 20)
            .ok_or_else(|| Error::Config("memory size overflows".into()))?;
        let guest_mem = memory::create_guest_memory(mem_bytes)?;
        let kvm = Kvm::new().map_err(Error::NoKvm)?;
        if !kvm.check_extension(Cap::X86UserSpaceMsr) {
            return Err(Error::MissingCap("KVM_CAP_X86_USER_SPACE_MSR"));
        }
        let kvm_has_xen = config.kernel_xen;
        if kvm_has_xen && !crate::msr::kernel_xen_supported(&kvm) {
            return Err(Error::MissingCap(
                "KVM_CAP_XEN_HVM with KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL (--kernel-xen)",
            ));
        }
        let vm_fd = kvm.create_vm().map_err(Error::kvm("KVM_CREATE_VM"))?;
        vm_fd
            .set_tss_address(0xfffb_d000)
            .map_err(Error::kvm("KVM_SET_TSS_ADDR"))?;
        // The irqchip comes before the vCPUs (each gets its LAPIC).
        let irqchip = match config.irqchip {
            Irqchip::Kernel => Some(Arc::new(KernelIrqchip::create(&kvm, &vm_fd)?)),
            Irqchip::None => None,
        };
        let slots = memory::register_all(&vm_fd, &guest_mem)?;
        if kvm_has_xen {
            crate::msr::enable_kernel_xen(&vm_fd)?;
        } else {
            crate::msr::enable_msr_exits(&vm_fd)?;
        }

        boot::raw64::write_tables(&guest_mem)?;
        let start_info = memory::layout::START_INFO;
        let (boot, all_vcpus_start) = match &config.kernel {
            Kernel::Pvh(f) => (boot::pvh::load_pvh(&guest_mem, f, mem_bytes)?, false),
            Kernel::Raw64(img) => (
                boot::raw64::load_raw(&guest_mem, img, EntryMode::Long64, mem_bytes, start_info)?,
                !config.secondaries_down,
            ),
            Kernel::Raw32(img) => (
                boot::raw64::load_raw(
                    &guest_mem,
                    img,
                    EntryMode::Protected32,
                    mem_bytes,
                    start_info,
                )?,
                !config.secondaries_down,
            ),
        };
        let modules = match &config.initrd {
            Some(data) => vec![boot::pvh::load_initrd(
                &guest_mem,
                data,
                mem_bytes,
                boot.image_end,
            )?],
            None => Vec::new(),
        };
        let rsdp = boot::acpi::write_tables(&guest_mem, config.vcpus)?;
        boot::pvh::write_start_info(&guest_mem, &config.cmdline, mem_bytes, rsdp, &modules)?;

        let supported = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(Error::kvm("KVM_GET_SUPPORTED_CPUID"))?;
        let sync_regs = kvm.check_extension_int(Cap::SyncRegs) as u32 & 0x3 == 0x3;
        let mut vcpus = Vec::new();
        let mut ctl = Vec::new();
        let mut timers = Vec::new();
        let mut time = crate::cpuid::TimeLeaf {
            tsc_khz: 0,
            tsc_stable: crate::cpuid::host_tsc_stable(&vm_fd),
            rdtscp: crate::cpuid::has_rdtscp(&supported),
        };
        for id in 0..config.vcpus {
            let mut fd = vm_fd
                .create_vcpu(u64::from(id))
                .map_err(Error::kvm("KVM_CREATE_VCPU"))?;
            if id == 0 {
                // The guest TSC rate (KVM keeps every vCPU at the VM's rate).
                time.tsc_khz = fd.get_tsc_khz().unwrap_or(0);
            }
            fd.set_cpuid2(&crate::cpuid::build(&supported, id, &time)?)
                .map_err(Error::kvm("KVM_SET_CPUID2"))?;
            let mut sregs = fd.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?;
            boot::setup_sregs(&mut sregs, boot.mode);
            fd.set_sregs(&sregs).map_err(Error::kvm("KVM_SET_SREGS"))?;
            let mut regs = boot::initial_regs(&boot);
            regs.rsp = boot
                .rsp
                .saturating_sub(u64::from(id) * 0x2000)
                .max(if boot.rsp == 0 { 0 } else { 0x10000 });
            fd.set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;
            let online = id == 0 || all_vcpus_start;
            if irqchip.is_some() {
                crate::irqchip::enable_lapic(&fd)?;
                // KVM creates the other vCPUs in KVM_MP_STATE_UNINITIALIZED
                // (waiting for INIT/SIPI); those that start with the boot
                // vCPU run at once.
                if id != 0 && online {
                    fd.set_mp_state(kvm_bindings::kvm_mp_state {
                        mp_state: kvm_bindings::KVM_MP_STATE_RUNNABLE,
                    })
                    .map_err(Error::kvm("KVM_SET_MP_STATE"))?;
                }
            }
            let c = VcpuControl::default();
            let run = fd.get_kvm_run();
            c.immediate_exit.store(
                std::ptr::addr_of_mut!(run.immediate_exit),
                Ordering::Release,
            );
            c.online.store(online, Ordering::Release);
            ctl.push(c);
            if sync_regs {
                fd.set_sync_valid_reg(kvm_ioctls::SyncReg::Register);
                fd.set_sync_valid_reg(kvm_ioctls::SyncReg::SystemRegister);
            }
            vcpus.push(OrderedMutex::new(VcpuState { id, fd, sync_regs }));
            timers.push(VcpuTimers::new().map_err(|source| Error::Io {
                op: "timerfd_create",
                source,
            })?);
        }
        let ctl = Arc::new(ctl);
        let timers = Arc::new(timers);
        let ram = guest_mem.clone();
        let mem = MemoryMap::new(guest_mem);
        let phys_addr_bits = crate::cpuid::phys_addr_bits(supported.as_slice());
        memory::check_addressable(mem_bytes, phys_addr_bits)?;
        let mut pconfig = platform_config(&config, mem_bytes, phys_addr_bits);
        pconfig.tsc_khz = time.tsc_khz;
        pconfig.tsc_stable = time.tsc_stable;
        let platform = XenPlatform::new(
            pconfig,
            mem.clone(),
            Arc::new(
                VmmHost::new(ctl.clone(), timers.clone())
                    .with_ram(ram)
                    .with_irqchip(irqchip.clone()),
            ),
            config.output,
        )
        .map_err(|e| Error::Config(format!("Xen platform: {e}")))?;
        if all_vcpus_start {
            // The platform's view: these vCPUs are initialised and up.
            let mut root = vm_lock::Root::new().map_err(|e| Error::Lock(e.to_string()))?;
            for id in 1..config.vcpus {
                platform.boot_vcpu(root.token(), id);
            }
        }
        let shared = VmShared {
            vm_fd,
            mem,
            platform,
            mem_bytes,
            map_update: OrderedMutex::new(slots),
            vcpus,
            ctl,
            timers,
            serial: OrderedMutex::new(SerialDevice::new()),
            irqchip,
            done: AtomicBool::new(false),
            exit_status: AtomicI32::new(0),
            fault: OnceLock::new(),
            stop_evt: EventFd::new(libc::EFD_NONBLOCK).map_err(|source| Error::Io {
                op: "eventfd",
                source,
            })?,
            pause: AtomicBool::new(false),
            running: AtomicU32::new(0),
            paused: AtomicU32::new(0),
            host_gate: crate::quiesce::HostGate::new().map_err(|source| Error::Io {
                op: "eventfd",
                source,
            })?,
            failure: std::sync::OnceLock::new(),
            backend_runs: AtomicU64::new(0),
            debug_panic: std::sync::atomic::AtomicU64::new(0),
            debug_offline_delay_ms: AtomicU64::new(0),
            halt_poll_max_ns: config.halt_poll_max_ns,
            page_1g: crate::cpuid::has_page_1g(supported.as_slice()),
        };
        let shared = Arc::new(shared);
        if let Some(input) = config.console_input {
            let s = shared.clone();
            std::thread::Builder::new()
                .name("console-input".into())
                .spawn(move || {
                    // A panic ends the VM (never a silent dead input thread).
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let hook = || s.debug_panic_point(PANIC_INPUT_THREAD, "console-input");
                        crate::input::console_input_with(
                            &s.platform,
                            &s.host_gate,
                            &|| s.is_done(),
                            &hook,
                            input,
                        )
                    }));
                    if let Err(p) = r {
                        s.fail("console-input", format!("panicked: {}", panic_message(&*p)));
                    }
                })
                .map_err(|source| Error::Io {
                    op: "spawn console input thread",
                    source,
                })?;
        }
        let vm = Vm {
            shared,
            boot,
            kvm_has_xen,
        };
        if let Some(path) = &config.xenstore_socket {
            vm.serve_xenstore(path)?;
        }
        Ok(vm)
    }

    /// Serves the xenstore on a Unix socket at `path` for the privileged
    /// toolstack domain, on a thread of its own (`xenstore-socket`) until
    /// the VM ends ([`crate::xenstore_socket::serve`]); a stale socket file
    /// there is replaced. A panic of that thread ends the VM.
    pub fn serve_xenstore(&self, path: &std::path::Path) -> Result<()> {
        let listener = crate::xenstore_socket::bind(path).map_err(|source| Error::Io {
            op: "bind the xenstore socket",
            source,
        })?;
        let s = self.shared.clone();
        std::thread::Builder::new()
            .name("xenstore-socket".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    crate::xenstore_socket::serve(
                        &s.platform,
                        &s.host_gate,
                        &|| s.is_done(),
                        listener,
                    )
                }));
                if let Err(p) = r {
                    s.fail(
                        "xenstore-socket",
                        format!("panicked: {}", panic_message(&*p)),
                    );
                }
            })
            .map_err(|source| Error::Io {
                op: "spawn the xenstore socket thread",
                source,
            })?;
        Ok(())
    }

    /// The shared state (for snapshot code, tests and benches).
    pub fn shared(&self) -> &Arc<VmShared> {
        &self.shared
    }

    /// The shared state, mutably, while no other thread holds it (restore
    /// rebuilds a fresh VM's Xen state in place before it runs).
    pub(crate) fn shared_mut(&mut self) -> Option<&mut VmShared> {
        Arc::get_mut(&mut self.shared)
    }

    /// Where the boot vCPU starts.
    pub fn boot_entry(&self) -> BootEntry {
        self.boot
    }
}

/// The platform's view of a VM configured as `config` with `mem_bytes` of
/// RAM laid out by [`crate::memory`] and [`crate::boot::e820`].
pub fn platform_config(config: &VmConfig, mem_bytes: u64, phys_addr_bits: u8) -> PlatformConfig {
    let mut p = PlatformConfig::new(config.vcpus, mem_bytes);
    p.domid = crate::cpuid::DOMID;
    p.name = config.name.clone();
    p.memory_map = crate::boot::e820::memory_map(mem_bytes)
        .iter()
        .map(|e| xen_abi::E820Entry {
            addr: e.addr,
            size: e.size,
            kind: e.kind,
        })
        .collect();
    p.console_gfn = memory::console_page(mem_bytes) >> 12;
    p.store_gfn = memory::store_page(mem_bytes) >> 12;
    p.grant_frames = crate::memory::GRANT_FRAMES;
    p.phys_addr_bits = phys_addr_bits;
    p.disks = config.disks.clone();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_uses_the_port_io_path() {
        // The kernel path (KVM_XEN_HVM_CONFIG) is opt-in until it is tested.
        assert!(!VmConfig::new(Kernel::Raw64(vec![0xf4])).kernel_xen);
    }
}
