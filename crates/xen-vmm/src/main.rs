//! `xen-vmm`: run a Xen PVH guest (or the built-in demo) on KVM.
//!
//! ```text
//! xen-vmm run [--kernel FILE] [--cmdline S] [--vcpus N] [--mem MiB] [--snapshot-on-signal FILE]
//!              [--kernel-xen]
//! xen-vmm restore SNAPSHOT [--snapshot-on-signal FILE]
//! ```
//! Hypercalls take the MSR-exit + port-I/O path; `--kernel-xen` selects
//! KVM's in-kernel Xen hypercall interception instead (`KVM_CAP_XEN_HVM`;
//! not tested on such a host yet, fails on a host without it).
//! With `--snapshot-on-signal FILE`, each SIGUSR1 writes a snapshot of the
//! running guest to FILE (the guest then runs on); `restore` resumes a
//! snapshot in this new process.
//! Exit status: the guest's shutdown reason (poweroff 0, reboot 1,
//! suspend 2, crash 3, watchdog 4); 64 for a usage error; 70 when the VMM
//! itself fails (no /dev/kvm, bad kernel file, too little memory...).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use xen_vmm::{Kernel, Vm, VmConfig};

const USAGE: &str = "usage: xen-vmm run [--kernel FILE] [--cmdline S] [--vcpus N] [--mem MiB]
                   [--snapshot-on-signal FILE] [--kernel-xen]
       (--raw64 FILE / --raw32 FILE boot flat test images;
        --kernel-xen: KVM's Xen hypercall interception, untested, needs KVM_CAP_XEN_HVM)
       xen-vmm restore SNAPSHOT [--snapshot-on-signal FILE]
SIGUSR1 writes a snapshot to the --snapshot-on-signal FILE; the guest runs on.
Without a kernel, runs the built-in demo guest (2 vCPUs).";

const EX_USAGE: u8 = 64;
const EX_SOFTWARE: u8 = 70;

struct Args {
    kernel: Option<(PathBuf, &'static str)>,
    cmdline: String,
    vcpus: Option<u32>,
    mem_mib: u64,
    restore: Option<PathBuf>,
    snapshot_on_signal: Option<PathBuf>,
    kernel_xen: bool,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut restore = None;
    match it.next().as_deref() {
        Some("run") => {}
        Some("restore") => {
            restore = Some(PathBuf::from(
                it.next().ok_or("restore needs a snapshot file")?,
            ))
        }
        Some("-h" | "--help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("missing command".into()),
    }
    let mut a = Args {
        kernel: None,
        cmdline: String::new(),
        vcpus: None,
        mem_mib: 128,
        restore,
        snapshot_on_signal: None,
        kernel_xen: false,
    };
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--kernel" => a.kernel = Some((value("--kernel")?.into(), "pvh")),
            "--raw64" => a.kernel = Some((value("--raw64")?.into(), "raw64")),
            "--raw32" => a.kernel = Some((value("--raw32")?.into(), "raw32")),
            "--cmdline" => a.cmdline = value("--cmdline")?,
            "--kernel-xen" => a.kernel_xen = true,
            "--snapshot-on-signal" => {
                a.snapshot_on_signal = Some(value("--snapshot-on-signal")?.into())
            }
            "--vcpus" => {
                let v = value("--vcpus")?;
                a.vcpus = Some(v.parse().map_err(|_| format!("bad --vcpus `{v}`"))?);
            }
            "--mem" => {
                let v = value("--mem")?;
                a.mem_mib = v.parse().map_err(|_| format!("bad --mem `{v}`"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let run_options =
        a.kernel.is_some() || a.vcpus.is_some() || !a.cmdline.is_empty() || a.kernel_xen;
    if a.restore.is_some() && (run_options || a.mem_mib != 128) {
        return Err("restore takes only --snapshot-on-signal (the snapshot holds the rest)".into());
    }
    Ok(a)
}

static SNAPSHOT_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(_: libc::c_int) {
    SNAPSHOT_REQUESTED.store(true, Ordering::SeqCst);
}

/// Runs `vm`; with `snapshot_to`, a SIGUSR1 writes a snapshot there.
fn run_vm(vm: &Vm, snapshot_to: Option<&Path>) -> Result<i32, String> {
    let Some(path) = snapshot_to else {
        return Ok(vm.run().map_err(|e| e.to_string())?.exit_status());
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
        vm.run().map(|r| r.exit_status()).map_err(|e| e.to_string())
    })
}

fn run(args: Args) -> Result<i32, String> {
    if let Some(file) = &args.restore {
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
        return run_vm(&vm, args.snapshot_on_signal.as_deref());
    }
    run_new(args).map_err(|e| e.to_string())?
}

fn run_new(args: Args) -> Result<Result<i32, String>, xen_vmm::Error> {
    let (kernel, default_vcpus) = match &args.kernel {
        None => {
            let img = xen_vmm::demo::demo_image()
                .map_err(|e| xen_vmm::Error::InvalidKernel(format!("demo assembly: {e}")))?;
            (Kernel::Raw64(img), xen_vmm::demo::DEMO_VCPUS)
        }
        Some((path, kind)) => {
            let data = std::fs::read(path).map_err(|source| xen_vmm::Error::KernelFile {
                path: path.clone(),
                source,
            })?;
            let k = match *kind {
                "raw64" => Kernel::Raw64(data),
                "raw32" => Kernel::Raw32(data),
                _ => Kernel::Pvh(data),
            };
            (k, 1)
        }
    };
    let vcpus = args.vcpus.unwrap_or(default_vcpus);
    if args.kernel.is_none() && vcpus < xen_vmm::demo::DEMO_VCPUS {
        return Err(xen_vmm::Error::Config(format!(
            "the demo guest needs {} vCPUs",
            xen_vmm::demo::DEMO_VCPUS
        )));
    }
    let mut cfg = VmConfig::new(kernel);
    cfg.vcpus = vcpus;
    cfg.mem_mib = args.mem_mib;
    cfg.cmdline = args.cmdline;
    cfg.kernel_xen = args.kernel_xen;
    if args.kernel.is_some() {
        // Host stdin feeds the guest's console (PV ring or CONSOLEIO_read).
        cfg.console_input = Some(Box::new(std::io::stdin()));
    }
    let vm = Vm::new(cfg)?;
    Ok(run_vm(&vm, args.snapshot_on_signal.as_deref()))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("xen-vmm: {msg}\n{USAGE}");
            return ExitCode::from(EX_USAGE);
        }
    };
    match run(args) {
        Ok(status) => ExitCode::from(status.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xen-vmm: error: {e}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}
