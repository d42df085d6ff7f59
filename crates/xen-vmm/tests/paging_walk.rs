// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The platform's long-mode page walk (`xen_platform::paging`, used for
//! hypercall pointers instead of `KVM_TRANSLATE`) against KVM's own walker,
//! on the tables a 64-bit guest starts with and on tables written for the
//! test (4 KiB, 2 MiB and 1 GiB pages, holes).

mod common;

use common::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_platform::paging::walk;
use xen_vmm::{Kernel, Vm, VmConfig};

#[test]
fn the_platform_walk_agrees_with_kvm_translate() {
    if !require_kvm() {
        return;
    }
    let mut g = Guest::new64();
    g.shutdown(0);
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).unwrap();
    let mut root = Root::new().unwrap();
    let (vs, mut t) = vm.shared().vcpus[0].lock(root.token());
    let sregs = vs.fd.get_sregs().unwrap();
    let mut regs = xen_vmm::hypercall_exit::paging_regs(&sregs);
    regs.page_1g = vm.shared().page_1g;
    assert!(regs.long_mode(), "a Raw64 guest starts in long mode");
    let (mem, _t) = vm.shared().mem.read(&mut t);
    let kvm = |gva: u64| {
        let r = vs.fd.translate_gva(gva).unwrap();
        (r.valid != 0).then_some(r.physical_address)
    };
    let check = |regs: &xen_platform::PagingRegs, gvas: &[u64]| {
        for &gva in gvas {
            assert_eq!(
                walk(&*mem, regs, gva),
                Some(kvm(gva)),
                "gva {gva:#x}, cr3 {:#x}",
                regs.cr3
            );
        }
    };
    // The boot tables.
    let probes = [
        0,
        0x1234,
        0x10_0000,
        0x20_0fff,
        0x3fff_f000,
        0x4000_0000,
        0x1_0000_0000,
        1 << 39,
        0x7fff_ffff_f000,
        0xffff_8000_0000_0000,
    ];
    check(&regs, &probes);
    // Tables of our own at 0x50_0000: PML4[0] -> PDPT; PDPT[0] -> PD;
    // PD[1] -> PT with PT[3] -> 0x7000 (4 KiB); PD[2]: 2 MiB page at
    // 0x60_0000; PDPT[1]: 1 GiB page at 0 (a fault where the vCPUs have no
    // 1 GiB pages, as on this host). KVM reads them through the new CR3
    // (set for the test and put back).
    let (pml4, pdpt, pd, pt) = (0x50_0000u64, 0x50_1000u64, 0x50_2000u64, 0x50_3000u64);
    for (at, v) in [
        (pml4, pdpt | 3),
        (pdpt, pd | 3),
        (pdpt + 8, (1 << 7) | 3),
        (pd + 8, pt | 3),
        (pd + 16, 0x60_0000 | (1 << 7) | 3),
        (pt + 24, 0x7000 | 3),
    ] {
        mem.write_obj(v, GuestAddress(at)).unwrap();
    }
    let mut own = sregs;
    own.cr3 = pml4;
    vs.fd.set_sregs(&own).unwrap();
    regs.cr3 = pml4;
    check(
        &regs,
        &[
            (1 << 21) | (3 << 12) | 0x123,
            (1 << 21) | (4 << 12),
            (2 << 21) | 0x1_2345,
            (3 << 21),
            (1 << 30) | 0x2345_6789,
            (2 << 30),
            1 << 39,
        ],
    );
    vs.fd.set_sregs(&sregs).unwrap();
    eprintln!("1 GiB pages: {}", regs.page_1g);
}
