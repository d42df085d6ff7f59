// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The Xen hypercall MSR: user-space MSR exits (`KVM_CAP_X86_USER_SPACE_MSR`
//! with an MSR filter denying in-kernel handling of that one MSR); the
//! platform writes the hypercall page when the guest writes the MSR
//! ([`xen_platform::XenPlatform::on_msr_write`]).

use kvm_bindings::{kvm_enable_cap, KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER};
use kvm_ioctls::{MsrFilterDefaultAction, MsrFilterRange, MsrFilterRangeFlags, VmFd};

use crate::error::{Error, Result};

/// The hypercall MSR (advertised in CPUID leaf 0x40000002).
pub const HYPERCALL_MSR: u32 = xen_abi::XEN_HYPERCALL_MSR;

/// I/O port the hypercall stubs write to.
pub const HYPERCALL_PORT: u8 = 0x88;

/// Routes the hypercall MSR to user space.
pub fn enable_msr_exits(vm: &VmFd) -> Result<()> {
    let mut cap = kvm_enable_cap {
        cap: KVM_CAP_X86_USER_SPACE_MSR,
        ..Default::default()
    };
    cap.args[0] = u64::from(KVM_MSR_EXIT_REASON_FILTER);
    vm.enable_cap(&cap)
        .map_err(Error::kvm("KVM_ENABLE_CAP(X86_USER_SPACE_MSR)"))?;
    // A clear bit denies in-kernel handling: the access exits to us.
    let bitmap = [0u8; 1];
    let range = MsrFilterRange {
        flags: MsrFilterRangeFlags::READ | MsrFilterRangeFlags::WRITE,
        base: HYPERCALL_MSR,
        msr_count: 1,
        bitmap: &bitmap,
    };
    vm.set_msr_filter(MsrFilterDefaultAction::ALLOW, &[range])
        .map_err(Error::kvm("KVM_X86_SET_MSR_FILTER"))
}

mod ioctls {
    #![allow(missing_docs)]
    use kvm_bindings::kvm_xen_hvm_config;
    use vmm_sys_util::ioctl_iow_nr;
    const KVMIO: u32 = 0xAE;
    ioctl_iow_nr!(KVM_XEN_HVM_CONFIG, KVMIO, 0x7a, kvm_xen_hvm_config);
}

/// Whether KVM can intercept Xen hypercalls itself (`KVM_CAP_XEN_HVM` with
/// `KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL`).
pub fn kernel_xen_supported(kvm: &kvm_ioctls::Kvm) -> bool {
    let caps = kvm.check_extension_raw(u64::from(kvm_bindings::KVM_CAP_XEN_HVM));
    caps > 0 && caps as u32 & kvm_bindings::KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL != 0
}

/// The kernel path: KVM fills the hypercall page (vmcall/vmmcall stubs) on
/// the MSR write and reports each hypercall as `KVM_EXIT_XEN`.
pub fn enable_kernel_xen(vm: &VmFd) -> Result<()> {
    let cfg = kvm_bindings::kvm_xen_hvm_config {
        flags: kvm_bindings::KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL,
        msr: HYPERCALL_MSR,
        ..Default::default()
    };
    // SAFETY: KVM_XEN_HVM_CONFIG on our VM fd with a valid, fully initialised struct
    // that the kernel only reads.
    let r = unsafe { vmm_sys_util::ioctl::ioctl_with_ref(vm, ioctls::KVM_XEN_HVM_CONFIG(), &cfg) };
    if r < 0 {
        return Err(Error::Kvm {
            op: "KVM_XEN_HVM_CONFIG",
            source: kvm_ioctls::Error::last(),
        });
    }
    Ok(())
}
