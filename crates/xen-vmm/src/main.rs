//! `xen-vmm`: run a Xen PVH guest (or the built-in demo) on KVM.
//!
//! ```text
//! xen-vmm run [--kernel FILE] [--cmdline S] [--vcpus N] [--mem MiB]
//! ```
//! Exit status: the guest's shutdown reason (poweroff 0, reboot 1,
//! suspend 2, crash 3, watchdog 4); 64 for a usage error; 70 when the VMM
//! itself fails (no /dev/kvm, bad kernel file, too little memory...).

use std::path::PathBuf;
use std::process::ExitCode;

use xen_vmm::{Kernel, Vm, VmConfig};

const USAGE: &str = "usage: xen-vmm run [--kernel FILE] [--cmdline S] [--vcpus N] [--mem MiB]
       (--raw64 FILE / --raw32 FILE boot flat test images)
Without a kernel, runs the built-in demo guest (2 vCPUs).";

const EX_USAGE: u8 = 64;
const EX_SOFTWARE: u8 = 70;

struct Args {
    kernel: Option<(PathBuf, &'static str)>,
    cmdline: String,
    vcpus: Option<u32>,
    mem_mib: u64,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    match it.next().as_deref() {
        Some("run") => {}
        Some("-h" | "--help") => return Err(String::new()),
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("missing command".into()),
    }
    let mut a = Args {
        kernel: None,
        cmdline: String::new(),
        vcpus: None,
        mem_mib: 128,
    };
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--kernel" => a.kernel = Some((value("--kernel")?.into(), "pvh")),
            "--raw64" => a.kernel = Some((value("--raw64")?.into(), "raw64")),
            "--raw32" => a.kernel = Some((value("--raw32")?.into(), "raw32")),
            "--cmdline" => a.cmdline = value("--cmdline")?,
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
    Ok(a)
}

fn run(args: Args) -> Result<i32, xen_vmm::Error> {
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
    if args.kernel.is_some() {
        // Host stdin feeds the guest's PV console.
        cfg.console_input = Some(Box::new(std::io::stdin()));
    }
    let vm = Vm::new(cfg)?;
    let reason = vm.run()?;
    Ok(reason.exit_status())
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
