// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! CPUID: KVM's supported leaves with KVM's own hypervisor leaves replaced by
//! Xen's at 0x40000000 (signature "XenVMMXenVMM", version, hypercall MSR,
//! time, HVM features with the vCPU id).

use kvm_bindings::{
    kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::VcpuFd;

use crate::error::{Error, Result};
pub use xen_platform::cpuid::TimeLeaf;

/// Our domain id (as Xen gives the first guest).
pub const DOMID: u16 = 1;

/// The platform's Xen leaves for vCPU `vcpu_id` as KVM CPUID entries, the
/// time leaf reporting `time`.
pub fn xen_leaves(vcpu_id: u32, time: &TimeLeaf) -> Vec<kvm_cpuid_entry2> {
    let version =
        (u32::from(xen_platform::XEN_VERSION.0) << 16) | u32::from(xen_platform::XEN_VERSION.1);
    let mut leaves = xen_platform::cpuid::xen_leaves(vcpu_id, DOMID, version);
    xen_platform::cpuid::set_time_leaf(&mut leaves, time);
    leaves
        .into_iter()
        .map(|l| kvm_cpuid_entry2 {
            function: l.function,
            index: l.index,
            flags: if l.significant_index {
                KVM_CPUID_FLAG_SIGNIFCANT_INDEX
            } else {
                0
            },
            eax: l.eax,
            ebx: l.ebx,
            ecx: l.ecx,
            edx: l.edx,
            ..Default::default()
        })
        .collect()
}

/// Whether `supported` has `RDTSCP` (CPUID 0x8000_0001 EDX bit 27).
pub fn has_rdtscp(supported: &CpuId) -> bool {
    supported
        .as_slice()
        .iter()
        .any(|e| e.function == 0x8000_0001 && e.edx & (1 << 27) != 0)
}

/// Whether `entries` give 1 GiB pages (CPUID 0x8000_0001 EDX bit 26).
pub fn has_page_1g(entries: &[kvm_cpuid_entry2]) -> bool {
    entries
        .iter()
        .any(|e| e.function == 0x8000_0001 && e.edx & (1 << 26) != 0)
}

/// Whether the host TSC is invariant: `constant_tsc` and `nonstop_tsc` in
/// `cpuinfo` (the text of `/proc/cpuinfo`), on every CPU listed.
pub fn cpuinfo_tsc_stable(cpuinfo: &str) -> bool {
    let mut flags = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .map(|l| l.split(':').nth(1).unwrap_or(""))
        .peekable();
    flags.peek().is_some()
        && flags.all(|f| {
            let has = |w: &str| f.split_whitespace().any(|x| x == w);
            has("constant_tsc") && has("nonstop_tsc")
        })
}

/// Whether the host TSC is stable for the pvclock (`XEN_PVCLOCK_TSC_STABLE_BIT`):
/// invariant by the host's `/proc/cpuinfo`, or KVM's clock says it uses the
/// TSC as a stable master clock (`KVM_CLOCK_TSC_STABLE` from `KVM_GET_CLOCK`).
pub fn host_tsc_stable(vm: &kvm_ioctls::VmFd) -> bool {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo_tsc_stable(&cpuinfo)
        || vm
            .get_clock()
            .is_ok_and(|c| c.flags & kvm_bindings::KVM_CLOCK_TSC_STABLE != 0)
}

/// KVM's supported CPUID adjusted for vCPU `vcpu_id`, the Xen time leaf
/// reporting `time`.
pub fn build(supported: &CpuId, vcpu_id: u32, time: &TimeLeaf) -> Result<CpuId> {
    let mut entries: Vec<kvm_cpuid_entry2> = supported
        .as_slice()
        .iter()
        .filter(|e| !xen_platform::cpuid::is_hypervisor_leaf(e.function))
        .copied()
        .collect();
    for e in entries.iter_mut() {
        match e.function {
            1 => e.ebx = (e.ebx & 0x00ff_ffff) | (vcpu_id << 24),
            0xb | 0x1f => e.edx = vcpu_id,
            _ => {}
        }
    }
    entries.extend(xen_leaves(vcpu_id, time));
    CpuId::from_entries(&entries).map_err(|e| Error::Config(format!("CPUID table: {e:?}")))
}

/// Physical address width without CPUID leaf 0x80000008 (as on x86 CPUs
/// that lack it).
pub const DEFAULT_PHYS_ADDR_BITS: u8 = 36;
/// Widest physical address width x86-64 defines.
pub use xen_platform::memory::MAX_PHYS_ADDR_BITS;

/// The physical address width `entries` advertise: CPUID 0x80000008
/// `EAX[7:0]` (if the maximum extended leaf reaches it), else
/// [`DEFAULT_PHYS_ADDR_BITS`]; clamped to 32..=[`MAX_PHYS_ADDR_BITS`].
pub fn phys_addr_bits(entries: &[kvm_cpuid_entry2]) -> u8 {
    let leaf = |f: u32| entries.iter().find(|e| e.function == f);
    let bits = match (leaf(0x8000_0000), leaf(0x8000_0008)) {
        (Some(max), Some(l)) if max.eax >= 0x8000_0008 => (l.eax & 0xff) as u8,
        _ => DEFAULT_PHYS_ADDR_BITS,
    };
    bits.clamp(32, MAX_PHYS_ADDR_BITS)
}

/// The physical address width vCPU `fd` was given (`KVM_GET_CPUID2`);
/// [`DEFAULT_PHYS_ADDR_BITS`] if KVM cannot tell.
pub fn vcpu_phys_addr_bits(fd: &VcpuFd) -> u8 {
    match fd.get_cpuid2(KVM_MAX_CPUID_ENTRIES) {
        Ok(c) => phys_addr_bits(c.as_slice()),
        Err(e) => {
            log::warn!("KVM_GET_CPUID2: {e}");
            DEFAULT_PHYS_ADDR_BITS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phys_addr_bits_from_leaf_0x80000008() {
        let e = |function, eax| kvm_cpuid_entry2 {
            function,
            eax,
            ..Default::default()
        };
        assert_eq!(
            phys_addr_bits(&[e(0x8000_0000, 0x8000_0008), e(0x8000_0008, 0x3030)]),
            48
        );
        // Leaf missing, or beyond the maximum extended leaf: 36 bits.
        assert_eq!(phys_addr_bits(&[e(0x8000_0008, 0x30)]), 36);
        assert_eq!(
            phys_addr_bits(&[e(0x8000_0000, 0x8000_0004), e(0x8000_0008, 0x30)]),
            36
        );
        // Nonsense widths are clamped.
        assert_eq!(
            phys_addr_bits(&[e(0x8000_0000, 0x8000_0008), e(0x8000_0008, 0xff)]),
            52
        );
        assert_eq!(
            phys_addr_bits(&[e(0x8000_0000, 0x8000_0008), e(0x8000_0008, 3)]),
            32
        );
    }

    #[test]
    fn invariant_tsc_needs_both_flags_on_every_cpu() {
        let cpu = |f: &str| format!("processor\t: 0\nflags\t\t: fpu tsc {f} msr\n\n");
        assert!(cpuinfo_tsc_stable(&cpu("constant_tsc nonstop_tsc")));
        assert!(!cpuinfo_tsc_stable(&cpu("constant_tsc")));
        assert!(!cpuinfo_tsc_stable(&cpu("nonstop_tsc")));
        let two = cpu("constant_tsc nonstop_tsc") + &cpu("constant_tsc");
        assert!(!cpuinfo_tsc_stable(&two));
        assert!(!cpuinfo_tsc_stable(""));
    }

    #[test]
    fn platform_leaves_as_kvm_entries() {
        let l = xen_leaves(
            3,
            &TimeLeaf {
                tsc_khz: 1_000_000,
                ..Default::default()
            },
        );
        let t = l
            .iter()
            .find(|e| e.function == 0x4000_0003 && e.index == 2)
            .unwrap();
        assert_eq!(t.eax, 1_000_000);
        let hvm = l.last().unwrap();
        assert_eq!((hvm.function, hvm.ebx, hvm.ecx), (0x4000_0004, 3, 1));
        assert_eq!(l[2].ebx, 0x4000_0000);
        let mut sub = l.iter().filter(|e| e.function == 0x4000_0003);
        assert!(sub.clone().count() == 3);
        assert!(sub.all(|e| e.flags == KVM_CPUID_FLAG_SIGNIFCANT_INDEX));
        assert!(l
            .iter()
            .filter(|e| e.function != 0x4000_0003)
            .all(|e| e.flags == 0));
    }
}
