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
}
