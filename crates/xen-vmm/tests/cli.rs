//! Command-line parsing of the `xen-vmm` binary: options that select how the
//! VM runs.

mod common;

use std::process::Command;

use common::require_kvm;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xen-vmm"))
}

#[test]
fn kernel_xen_flag_is_parsed() {
    // Parsed: the error is about the next option, not about `--kernel-xen`.
    let out = bin()
        .args(["run", "--kernel-xen", "--vcpus", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("bad --vcpus `x`"), "{err}");
    assert!(!err.contains("unknown option"), "{err}");
    // A snapshot records the hypercall path: restore takes no such option.
    let out = bin()
        .args(["restore", "/nonexistent/snapshot", "--kernel-xen"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("restore takes only"), "{err}");
    assert!(
        String::from_utf8_lossy(&bin().arg("--help").output().unwrap().stdout)
            .contains("--kernel-xen")
    );
}

#[test]
fn kernel_xen_flag_selects_the_kernel_path() {
    if !require_kvm() {
        return;
    }
    let kvm = kvm_ioctls::Kvm::new().unwrap();
    let out = bin().args(["run", "--kernel-xen"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if xen_vmm::msr::kernel_xen_supported(&kvm) {
        // The demo guest runs with KVM_EXIT_XEN hypercalls.
        assert_eq!(out.status.code(), Some(0), "{err}");
    } else {
        // Asked for explicitly, the kernel path is not silently replaced.
        assert_eq!(out.status.code(), Some(70), "{err}");
        assert!(err.contains("KVM_CAP_XEN_HVM"), "{err}");
    }
}
