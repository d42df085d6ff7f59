// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `xen-vmm`: run a Xen PVH guest (or the built-in demo) on KVM.
//!
//! ```text
//! xen-vmm run [--kernel FILE | --raw64 FILE | --raw32 FILE] [--cmdline S] [--initrd FILE] [--vcpus N]
//!             [--mem MiB] [--kernel-xen] [--irqchip kernel|none] [--snapshot-on-signal FILE]
//!             [--xenstore-socket PATH] [--disk FILE[,ro]]... [--trace-hypercalls]
//! xen-vmm restore SNAPSHOT [--snapshot-on-signal FILE] [--xenstore-socket PATH]
//!             [--trace-hypercalls]
//! ```
//! `xen-vmm help`, `xen-vmm run --help` and `xen-vmm restore --help` describe
//! every option. Logs go to stderr (env_logger: `RUST_LOG`, warnings by
//! default); `--trace-hypercalls` logs each hypercall (the log target
//! `xen_platform::hypercall` at trace level).
//!
//! Exit status: the guest's shutdown reason (poweroff 0, reboot 1,
//! suspend 2, crash 3, watchdog 4; others up to 63); 64 for a usage error;
//! 70 when the VMM cannot set up or run the VM (no /dev/kvm, bad kernel
//! file...); 71 when a vCPU stopped on something the VMM cannot handle
//! (triple fault, KVM internal error, unhandled exit), printed with the
//! vCPU's registers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use xen_vmm::memory::{MAX_MEM_BYTES, MIN_MEM_BYTES};
use xen_vmm::{ExitReason, Irqchip, Kernel, Vm, VmConfig};

const EX_USAGE: u8 = 64;
const EX_SOFTWARE: u8 = 70;

/// Most vCPUs a VM may have (`VmConfig::vcpus`).
const MAX_VCPUS: u64 = 32;

const EXIT_STATUS_HELP: &str = "\
Exit status: the guest's SCHEDOP_shutdown reason (poweroff 0, reboot 1, suspend 2, crash 3,
watchdog 4); 64: usage error; 70: the VMM could not set up or run the VM; 71: a vCPU stopped
on something the VMM cannot handle (triple fault, KVM internal error, unhandled exit), printed
with its registers.";

/// Run a Xen PVH guest (or the built-in demo guest) on KVM.
#[derive(Parser, Debug)]
#[command(name = "xen-vmm", version, after_help = EXIT_STATUS_HELP)]
#[command(arg_required_else_help = true, propagate_version = true)]
struct Cli {
    /// Log each hypercall with its arguments, decoded request and result (log target
    /// xen_platform::hypercall at trace level; RUST_LOG sets the rest, default: warnings).
    #[arg(long, global = true)]
    trace_hypercalls: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Boot a PVH kernel, a flat test image or (with no image) the built-in demo guest.
    #[command(after_help = EXIT_STATUS_HELP)]
    Run(RunArgs),
    /// Resume a snapshot written by --snapshot-on-signal in this new process (the snapshot
    /// holds the configuration: vCPUs, memory, hypercall path).
    #[command(after_help = EXIT_STATUS_HELP)]
    Restore(RestoreArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// PVH ELF kernel to boot (vCPU 0 starts at its XEN_ELFNOTE_PHYS32_ENTRY).
    #[arg(long, value_name = "FILE", group = "image")]
    kernel: Option<PathBuf>,
    /// Flat test image entered in 64-bit long mode at 1 MiB on every vCPU.
    #[arg(long, value_name = "FILE", group = "image")]
    raw64: Option<PathBuf>,
    /// Flat test image entered in 32-bit protected mode at 1 MiB on every vCPU.
    #[arg(long, value_name = "FILE", group = "image")]
    raw32: Option<PathBuf>,
    /// Kernel command line.
    #[arg(long, value_name = "S", default_value = "")]
    cmdline: String,
    /// Initial ramdisk: loaded page aligned at the top of guest RAM and passed as the first
    /// module of hvm_start_info (nr_modules, modlist_paddr).
    #[arg(long, value_name = "FILE")]
    initrd: Option<PathBuf>,
    /// Number of vCPUs, 1 to 32 [default: 1; the demo guest: 2, it needs at least 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_VCPUS as i64))]
    vcpus: Option<u32>,
    /// Guest RAM in MiB, 4 to 65536 (above 3072, the rest is above 4 GiB).
    #[arg(long, value_name = "MiB", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(MIN_MEM_BYTES >> 20..=MAX_MEM_BYTES >> 20))]
    mem: u64,
    /// Use KVM's in-kernel Xen hypercall interception (KVM_CAP_XEN_HVM, KVM_EXIT_XEN)
    /// instead of the MSR-exit + port-I/O path. Untested; fails on a host without it.
    #[arg(long)]
    kernel_xen: bool,
    /// Interrupt controller: `kernel` (KVM's in-kernel LAPIC, IOAPIC and PIC; upcalls
    /// are LAPIC interrupts or an IOAPIC line) or `none` (upcalls injected with
    /// KVM_INTERRUPT, a GSI callback as vector 0x20 + GSI).
    #[arg(long, value_name = "KIND", default_value_t = Irqchip::Kernel)]
    irqchip: Irqchip,
    /// On each SIGUSR1, write a snapshot of the running guest to FILE (the guest runs on).
    #[arg(long, value_name = "FILE")]
    snapshot_on_signal: Option<PathBuf>,
    /// Serve the xenstore on a Unix socket at PATH (the xenstored wire protocol; clients
    /// are the privileged toolstack domain, as with XENSTORED_PATH).
    #[arg(long, value_name = "PATH")]
    xenstore_socket: Option<PathBuf>,
    /// A raw disk image the guest sees as a PV block device (xvda, xvdb, ... in the order
    /// given), served through the blkif protocol; `,ro` makes it read-only. Repeatable.
    #[arg(long, value_name = "FILE[,ro]", value_parser = parse_disk)]
    disk: Vec<xen_platform::DiskConfig>,
}

/// `FILE` or `FILE,ro`.
fn parse_disk(s: &str) -> Result<xen_platform::DiskConfig, String> {
    let (path, readonly) = match s.strip_suffix(",ro") {
        Some(p) => (p, true),
        None => (s.strip_suffix(",rw").unwrap_or(s), false),
    };
    if path.is_empty() {
        return Err("no file name".into());
    }
    Ok(xen_platform::DiskConfig {
        path: PathBuf::from(path),
        readonly,
    })
}

#[derive(Args, Debug)]
struct RestoreArgs {
    /// Snapshot file to resume.
    #[arg(value_name = "SNAPSHOT")]
    snapshot: PathBuf,
    /// On each SIGUSR1, write a snapshot of the running guest to FILE (the guest runs on).
    #[arg(long, value_name = "FILE")]
    snapshot_on_signal: Option<PathBuf>,
    /// Serve the xenstore on a Unix socket at PATH (as for run).
    #[arg(long, value_name = "PATH")]
    xenstore_socket: Option<PathBuf>,
}

/// Parses the command line: the arguments, or the exit status after
/// printing help, the version or a usage error.
fn parse() -> Result<Cli, ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return Err(ExitCode::SUCCESS);
            }
            let subcommand = std::env::args().skip(1).find(|a| !a.starts_with('-'));
            if e.kind() == clap::error::ErrorKind::UnknownArgument
                && subcommand.as_deref() == Some("restore")
            {
                eprintln!(
                    "note: restore takes only --snapshot-on-signal and --xenstore-socket (the snapshot \
                     holds the rest)"
                );
            }
            return Err(ExitCode::from(EX_USAGE));
        }
    };
    if let Cmd::Run(r) = &cli.command {
        let image = r.kernel.is_some() || r.raw64.is_some() || r.raw32.is_some();
        if !image {
            if let Err(msg) = demo_check(r) {
                eprintln!("error: {msg}\n\nFor more information, try 'xen-vmm run --help'.");
                return Err(ExitCode::from(EX_USAGE));
            }
        }
    }
    Ok(cli)
}

/// Whether the built-in demo guest can run with these options.
#[cfg(feature = "demo")]
fn demo_check(r: &RunArgs) -> Result<(), String> {
    match r.vcpus {
        Some(n) if n < xen_vmm::demo::DEMO_VCPUS => Err(format!(
            "the demo guest needs at least {} vCPUs (--vcpus {n}); give a guest with --kernel",
            xen_vmm::demo::DEMO_VCPUS
        )),
        _ => Ok(()),
    }
}

#[cfg(not(feature = "demo"))]
fn demo_check(_: &RunArgs) -> Result<(), String> {
    Err(
        "no guest: give one with --kernel (this xen-vmm is built without the demo guest, \
         cargo feature `demo`)"
            .into(),
    )
}

/// Installs the logger: `RUST_LOG` (warnings by default); with `trace_hypercalls`
/// the hypercall target at trace level whatever `RUST_LOG` says.
fn init_logging(trace_hypercalls: bool) {
    let mut b = env_logger::Builder::new();
    b.filter_level(log::LevelFilter::Warn);
    // A vCPU fault is printed by `report_fault` below; its log record would repeat it.
    b.filter_module("xen_vmm::fault", log::LevelFilter::Off);
    b.parse_default_env();
    if trace_hypercalls {
        b.filter_module(
            xen_vmm::xen_platform::trace::HYPERCALL_TARGET,
            log::LevelFilter::Trace,
        );
    }
    b.init();
}

static SNAPSHOT_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(_: libc::c_int) {
    SNAPSHOT_REQUESTED.store(true, Ordering::SeqCst);
}

/// Runs `vm` to its end; with `snapshot_to`, a SIGUSR1 writes a snapshot there.
fn run_vm(vm: &Vm, snapshot_to: Option<&Path>) -> Result<ExitReason, String> {
    let Some(path) = snapshot_to else {
        return vm.run().map_err(|e| e.to_string());
    };
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    let old = unsafe {
        libc::signal(
            libc::SIGUSR1,
            on_sigusr1 as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
        )
    };
    if old == libc::SIG_ERR {
        return Err(format!(
            "cannot handle SIGUSR1: {}",
            std::io::Error::last_os_error()
        ));
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let Ok(mut root) = vm_lock::Root::new() else {
                eprintln!("xen-vmm: snapshot thread: no vm-lock root");
                return;
            };
            while !vm.shared().is_done() {
                std::thread::sleep(Duration::from_millis(5));
                if SNAPSHOT_REQUESTED.swap(false, Ordering::SeqCst) {
                    match vm.snapshot(root.token(), path) {
                        Ok(st) => eprintln!(
                            "xen-vmm: snapshot written to {} ({} bytes)",
                            path.display(),
                            st.file_len
                        ),
                        Err(e) => eprintln!("xen-vmm: snapshot failed: {e}"),
                    }
                }
            }
        });
        vm.run().map_err(|e| e.to_string())
    })
}

/// Runs the VM and turns its end into the process exit status; a vCPU
/// fault is printed with the vCPU's registers.
fn finish(vm: &Vm, snapshot_to: Option<&Path>) -> Result<i32, String> {
    let reason = run_vm(vm, snapshot_to)?;
    if reason == ExitReason::VmmError {
        match vm.shared().fault() {
            Some(f) => eprintln!("xen-vmm: guest stopped: {f}"),
            None => eprintln!("xen-vmm: guest stopped by a VMM error"),
        }
    }
    Ok(reason.exit_status())
}

fn restore(args: RestoreArgs) -> Result<i32, String> {
    let file = &args.snapshot;
    let vm = Vm::restore(file, Box::new(std::io::stdout()))
        .map_err(|e| format!("cannot restore {}: {e}", file.display()))?;
    let shared = vm.shared().clone();
    std::thread::Builder::new()
        .name("console-input".into())
        .spawn(move || {
            xen_vmm::input::console_input(
                &shared.platform,
                &shared.host_gate,
                &|| shared.is_done(),
                Box::new(std::io::stdin()),
            )
        })
        .map_err(|e| format!("spawn console input thread: {e}"))?;
    if let Some(path) = &args.xenstore_socket {
        vm.serve_xenstore(path).map_err(|e| e.to_string())?;
    }
    finish(&vm, args.snapshot_on_signal.as_deref())
}

fn run(args: RunArgs) -> Result<i32, String> {
    let read = |path: &PathBuf| {
        std::fs::read(path)
            .map_err(|source| xen_vmm::Error::KernelFile {
                path: path.clone(),
                source,
            })
            .map_err(|e| e.to_string())
    };
    let (kernel, default_vcpus, image) = if let Some(p) = &args.kernel {
        (Kernel::Pvh(read(p)?), 1, true)
    } else if let Some(p) = &args.raw64 {
        (Kernel::Raw64(read(p)?), 1, true)
    } else if let Some(p) = &args.raw32 {
        (Kernel::Raw32(read(p)?), 1, true)
    } else {
        demo_kernel()?
    };
    let mut cfg = VmConfig::new(kernel);
    cfg.vcpus = args.vcpus.unwrap_or(default_vcpus);
    cfg.mem_mib = args.mem;
    cfg.cmdline = args.cmdline;
    cfg.initrd = args.initrd.as_ref().map(read).transpose()?;
    cfg.kernel_xen = args.kernel_xen;
    cfg.irqchip = args.irqchip;
    cfg.xenstore_socket = args.xenstore_socket;
    cfg.disks = args.disk;
    if image {
        // Host stdin feeds the guest's console (PV ring or CONSOLEIO_read).
        cfg.console_input = Some(Box::new(std::io::stdin()));
    }
    let vm = Vm::new(cfg).map_err(|e| e.to_string())?;
    finish(&vm, args.snapshot_on_signal.as_deref())
}

/// The demo guest, its default vCPU count, and `false` (not an image from the user).
#[cfg(feature = "demo")]
fn demo_kernel() -> Result<(Kernel, u32, bool), String> {
    let img = xen_vmm::demo::demo_image().map_err(|e| format!("demo assembly: {e}"))?;
    Ok((Kernel::Raw64(img), xen_vmm::demo::DEMO_VCPUS, false))
}

#[cfg(not(feature = "demo"))]
fn demo_kernel() -> Result<(Kernel, u32, bool), String> {
    Err("built without the demo guest".into())
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(cli.trace_hypercalls);
    let r = match cli.command {
        Cmd::Run(a) => run(a),
        Cmd::Restore(a) => restore(a),
    };
    match r {
        Ok(status) => ExitCode::from(status.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xen-vmm: error: {e}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}
