//! CPUID: KVM's supported leaves with KVM's own hypervisor leaves replaced by
//! Xen's at 0x40000000 (signature "XenVMMXenVMM", version, hypercall MSR,
//! time, HVM features with the vCPU id).

use kvm_bindings::{kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX};

use crate::error::{Error, Result};

/// First Xen leaf.
pub const XEN_BASE: u32 = 0x4000_0000;
/// Last Xen leaf we provide.
pub const XEN_MAX_LEAF: u32 = XEN_BASE + 4;
/// Xen version reported (major << 16 | minor).
pub const XEN_VERSION: u32 = (4 << 16) | 17;
/// Our domain id (as Xen gives the first guest).
pub const DOMID: u32 = 1;

/// "XenVMMXenVMM" as ebx, ecx, edx.
pub const SIGNATURE: [u32; 3] = [0x566e_6558, 0x6558_4d4d, 0x4d4d_566e];

/// The Xen leaves for vCPU `vcpu_id`.
pub fn xen_leaves(vcpu_id: u32) -> Vec<kvm_cpuid_entry2> {
    let leaf = |function, index, flags, eax, ebx, ecx, edx| kvm_cpuid_entry2 {
        function,
        index,
        flags,
        eax,
        ebx,
        ecx,
        edx,
        ..Default::default()
    };
    let hvm_flags = xen_abi::XEN_HVM_CPUID_VCPU_ID_PRESENT
        | xen_abi::XEN_HVM_CPUID_DOMID_PRESENT
        | xen_abi::XEN_HVM_CPUID_UPCALL_VECTOR;
    let mut v = vec![
        leaf(
            XEN_BASE,
            0,
            0,
            XEN_MAX_LEAF,
            SIGNATURE[0],
            SIGNATURE[1],
            SIGNATURE[2],
        ),
        leaf(XEN_BASE + 1, 0, 0, XEN_VERSION, 0, 0, 0),
        leaf(XEN_BASE + 2, 0, 0, 1, xen_abi::XEN_HYPERCALL_MSR, 0, 0),
    ];
    for sub in 0..3 {
        v.push(leaf(
            XEN_BASE + 3,
            sub,
            KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
            0,
            0,
            0,
            0,
        ));
    }
    v.push(leaf(XEN_BASE + 4, 0, 0, hvm_flags, vcpu_id, DOMID, 0));
    v
}

/// KVM's supported CPUID adjusted for vCPU `vcpu_id`.
pub fn build(supported: &CpuId, vcpu_id: u32) -> Result<CpuId> {
    let mut entries: Vec<kvm_cpuid_entry2> = supported
        .as_slice()
        .iter()
        .filter(|e| !(XEN_BASE..XEN_BASE + 0x100).contains(&e.function))
        .copied()
        .collect();
    for e in entries.iter_mut() {
        match e.function {
            1 => e.ebx = (e.ebx & 0x00ff_ffff) | (vcpu_id << 24),
            0xb | 0x1f => e.edx = vcpu_id,
            _ => {}
        }
    }
    entries.extend(xen_leaves(vcpu_id));
    CpuId::from_entries(&entries).map_err(|e| Error::Config(format!("CPUID table: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_spells_xenvmm() {
        let mut s = Vec::new();
        for w in SIGNATURE {
            s.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(&s, b"XenVMMXenVMM");
        let l = xen_leaves(3);
        assert_eq!(l.last().unwrap().ebx, 3);
        assert_eq!(l[2].ebx, 0x4000_0000);
    }
}
