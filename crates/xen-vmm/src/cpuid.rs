//! CPUID: KVM's supported leaves with KVM's own hypervisor leaves replaced by
//! Xen's at 0x40000000 (signature "XenVMMXenVMM", version, hypercall MSR,
//! time, HVM features with the vCPU id).

use kvm_bindings::{
    kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::VcpuFd;

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

/// Physical address width without CPUID leaf 0x80000008 (as on x86 CPUs
/// that lack it).
pub const DEFAULT_PHYS_ADDR_BITS: u8 = 36;
/// Widest physical address width x86-64 defines.
pub const MAX_PHYS_ADDR_BITS: u8 = 52;

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
