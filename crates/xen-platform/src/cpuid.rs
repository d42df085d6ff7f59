// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The hypervisor CPUID leaves a Xen guest looks for at `0x4000_0000`: the
//! "XenVMMXenVMM" signature, the version, the hypercall MSR, the time leaf
//! and the HVM features with the vCPU and domain ids. Plain values: the VMM
//! puts them in its CPUID table (e.g. as `kvm_cpuid_entry2`), replacing the
//! host hypervisor's own leaves in that range.

use xen_abi::{
    XEN_HVM_CPUID_DOMID_PRESENT, XEN_HVM_CPUID_UPCALL_VECTOR, XEN_HVM_CPUID_VCPU_ID_PRESENT,
    XEN_HYPERCALL_MSR,
};

/// First Xen leaf.
pub const XEN_CPUID_BASE: u32 = 0x4000_0000;
/// Last Xen leaf the platform provides.
pub const XEN_CPUID_MAX_LEAF: u32 = XEN_CPUID_BASE + 4;
/// "XenVMMXenVMM" as ebx, ecx, edx.
pub const XEN_CPUID_SIGNATURE: [u32; 3] = [0x566e_6558, 0x6558_4d4d, 0x4d4d_566e];

/// One CPUID leaf (function, sub-leaf index and the four output registers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidLeaf {
    /// EAX input.
    pub function: u32,
    /// ECX input (sub-leaf).
    pub index: u32,
    /// The sub-leaf index is significant (leaf 0x4000_0003 has three).
    pub significant_index: bool,
    /// EAX output.
    pub eax: u32,
    /// EBX output.
    pub ebx: u32,
    /// ECX output.
    pub ecx: u32,
    /// EDX output.
    pub edx: u32,
}

/// Whether `function` lies in the hypervisor range the Xen leaves replace
/// (`0x4000_0000..0x4000_0100`).
pub fn is_hypervisor_leaf(function: u32) -> bool {
    (XEN_CPUID_BASE..XEN_CPUID_BASE + 0x100).contains(&function)
}

/// The Xen leaves for vCPU `vcpu` of domain `domid`, reporting Xen `version`
/// (major << 16 | minor).
pub fn xen_leaves(vcpu: u32, domid: u16, version: u32) -> Vec<CpuidLeaf> {
    let leaf = |function, index, eax, ebx, ecx, edx| CpuidLeaf {
        function,
        index,
        significant_index: function == XEN_CPUID_BASE + 3,
        eax,
        ebx,
        ecx,
        edx,
    };
    let hvm =
        XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT | XEN_HVM_CPUID_UPCALL_VECTOR;
    let [b, c, d] = XEN_CPUID_SIGNATURE;
    let mut v = vec![
        leaf(XEN_CPUID_BASE, 0, XEN_CPUID_MAX_LEAF, b, c, d),
        leaf(XEN_CPUID_BASE + 1, 0, version, 0, 0, 0),
        leaf(XEN_CPUID_BASE + 2, 0, 1, XEN_HYPERCALL_MSR, 0, 0),
    ];
    for sub in 0..3 {
        v.push(leaf(XEN_CPUID_BASE + 3, sub, 0, 0, 0, 0));
    }
    v.push(leaf(XEN_CPUID_BASE + 4, 0, hvm, vcpu, u32::from(domid), 0));
    v
}

/// What the time leaf (`0x4000_0003`) reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeLeaf {
    /// The guest's TSC frequency in kHz (0: unknown).
    pub tsc_khz: u32,
    /// The TSC is invariant and synchronised across CPUs (Xen's
    /// `host_tsc_is_safe`).
    pub tsc_stable: bool,
    /// The CPU has `RDTSCP`.
    pub rdtscp: bool,
}

/// The three sub-leaves of the time leaf, as Xen fills them for a domain
/// whose TSC is not emulated (`tsc_mode` default, native TSC):
/// sub-leaf 0: EAX bit 0 TSC emulated (no), bit 1 TSC safe, bit 2 RDTSCP;
/// EBX the TSC mode (0, default); ECX the guest TSC kHz; EDX the
/// incarnation (0). Sub-leaf 1: EAX/EBX the system-time offset (0: Xen
/// system time starts at 0 when the domain is created), ECX/EDX the
/// TSC-to-ns `mul` and `shift` (as in the pvclock). Sub-leaf 2: EAX the
/// TSC kHz.
pub fn time_leaves(t: &TimeLeaf) -> [CpuidLeaf; 3] {
    let (mul, shift) = if t.tsc_khz == 0 {
        (0, 0)
    } else {
        crate::time::pvclock_scale(u64::from(t.tsc_khz))
    };
    let leaf = |index, eax, ebx, ecx, edx| CpuidLeaf {
        function: XEN_CPUID_BASE + 3,
        index,
        significant_index: true,
        eax,
        ebx,
        ecx,
        edx,
    };
    let features = (u32::from(t.tsc_stable) << 1) | (u32::from(t.rdtscp) << 2);
    [
        leaf(0, features, 0, t.tsc_khz, 0),
        leaf(1, 0, 0, mul, i32::from(shift) as u32),
        leaf(2, t.tsc_khz, 0, 0, 0),
    ]
}

/// Replaces the time leaf's sub-leaves in `leaves` (from [`xen_leaves`]) with
/// [`time_leaves`] of `t`.
pub fn set_time_leaf(leaves: &mut [CpuidLeaf], t: &TimeLeaf) {
    for new in time_leaves(t) {
        if let Some(l) = leaves
            .iter_mut()
            .find(|l| l.function == new.function && l.index == new.index)
        {
            *l = new;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_spells_xenvmm_and_ids_are_reported() {
        let mut s = Vec::new();
        for w in XEN_CPUID_SIGNATURE {
            s.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(&s, b"XenVMMXenVMM");
        let l = xen_leaves(3, 7, (4 << 16) | 17);
        let hvm = l.last().unwrap();
        assert_eq!((hvm.function, hvm.ebx, hvm.ecx), (XEN_CPUID_BASE + 4, 3, 7));
        assert_eq!(l[1].eax, (4 << 16) | 17);
        assert_eq!(l[2].ebx, XEN_HYPERCALL_MSR);
        assert!(l.iter().all(|e| is_hypervisor_leaf(e.function)));
        assert_eq!(l.iter().filter(|e| e.significant_index).count(), 3);
    }

    #[test]
    fn time_leaf_reports_tsc_khz_scale_and_safety() {
        let mut l = xen_leaves(0, 1, 0);
        let t = TimeLeaf {
            tsc_khz: 2_500_000,
            tsc_stable: true,
            rdtscp: true,
        };
        set_time_leaf(&mut l, &t);
        let sub = |i| {
            *l.iter()
                .find(|e| e.function == XEN_CPUID_BASE + 3 && e.index == i)
                .unwrap()
        };
        let (mul, shift) = crate::time::pvclock_scale(2_500_000);
        assert_eq!(
            (sub(0).eax, sub(0).ebx, sub(0).ecx, sub(0).edx),
            (0b110, 0, 2_500_000, 0)
        );
        assert_eq!((sub(1).ecx, sub(1).edx as i32), (mul, i32::from(shift)));
        assert_eq!(sub(2).eax, 2_500_000);
        // A negative shift is sign-extended, as Xen's `(s8)` cast.
        let slow = time_leaves(&TimeLeaf {
            tsc_khz: 100_000_000,
            ..Default::default()
        });
        assert!((slow[1].edx as i32) < 0);
        assert_eq!(slow[0].eax, 0, "not stable, no RDTSCP");
    }
}
