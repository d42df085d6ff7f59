// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The entry points a VMM calls before the first hypercall: the Xen CPUID
//! leaves (`XenPlatform::cpuid_leaves`) and the hypercall MSR
//! (`XenPlatform::on_msr_write`), which writes the hypercall page and
//! latches the guest's ABI width.

mod common;

use common::*;
use xen_abi::*;
use xen_platform::cpuid::{is_hypervisor_leaf, XEN_CPUID_BASE};
use xen_platform::MsrWrite;

#[test]
fn cpuid_leaves_name_xen_the_vcpu_and_the_domain() {
    let mut config = xen_platform::PlatformConfig::new(2, MEM);
    config.domid = 9;
    let vm = Vm::with_config(config);
    let leaves = vm.platform.cpuid_leaves(1);
    assert!(leaves.iter().all(|l| is_hypervisor_leaf(l.function)));
    let get = |f: u32| *leaves.iter().find(|l| l.function == f).unwrap();
    let base = get(XEN_CPUID_BASE);
    let mut sig = Vec::new();
    for r in [base.ebx, base.ecx, base.edx] {
        sig.extend_from_slice(&r.to_le_bytes());
    }
    assert_eq!(sig, b"XenVMMXenVMM");
    assert!(base.eax >= XEN_CPUID_BASE + 4);
    assert_eq!(get(XEN_CPUID_BASE + 1).eax, (4 << 16) | 17);
    assert_eq!(get(XEN_CPUID_BASE + 2).ebx, XEN_HYPERCALL_MSR);
    let hvm = get(XEN_CPUID_BASE + 4);
    assert_eq!((hvm.ebx, hvm.ecx), (1, 9), "vCPU id and domain id");
    assert_eq!(vm.platform.cpuid_leaves(0).last().unwrap().ebx, 0);
}

#[test]
fn hypercall_msr_writes_port_io_stubs() {
    let mut vm = Vm::new(1);
    let page = 0x5000;
    let t = vm.root.token();
    assert_eq!(
        vm.platform
            .on_msr_write(t, 0, XEN_HYPERCALL_MSR, page, true, 0x88),
        MsrWrite::Done
    );
    for nr in [0u32, 17, 29, 127] {
        let stub = vm.read_bytes(page + 32 * u64::from(nr), 32);
        let mut want = vec![0xb8];
        want.extend_from_slice(&nr.to_le_bytes());
        want.extend_from_slice(&[0xe7, 0x88, 0xc3]); // out %eax,$0x88; ret
        assert_eq!(stub[..8], want[..], "stub {nr}");
        assert!(stub[8..].iter().all(|&b| b == 0xcc), "stub {nr} filler");
    }
}

#[test]
fn other_msrs_and_bad_pages() {
    let mut vm = Vm::new(1);
    vm.write_bytes(0x5000, &[0x11; 64]);
    let t = vm.root.token();
    assert_eq!(
        vm.platform.on_msr_write(t, 0, 0x1b, 0x5000, true, 0x88),
        MsrWrite::NotXen
    );
    // A page index in the low bits, or a page outside RAM: #GP.
    for value in [0x5001u64, 0x5fff, MEM, MEM + 0x1000, !0xfff] {
        let t = vm.root.token();
        assert_eq!(
            vm.platform
                .on_msr_write(t, 0, XEN_HYPERCALL_MSR, value, true, 0x88),
            MsrWrite::Fault,
            "{value:#x}"
        );
    }
    assert_eq!(vm.read_bytes(0x5000, 64), vec![0x11; 64], "untouched");
}

#[test]
fn hypercall_msr_latches_the_guest_width() {
    // A 32-bit guest has 1024 event channels, a 64-bit one 4096.
    let mut vm = Vm::new(1);
    let t = vm.root.token();
    assert_eq!(
        vm.platform
            .on_msr_write(t, 0, XEN_HYPERCALL_MSR, 0x5000, false, 0x88),
        MsrWrite::Done
    );
    vm.write(ARGS, EvtchnUnmask { port: 2000 });
    let unmask = u64::from(EVTCHNOP_UNMASK);
    assert_eq!(
        vm.hc32(0, HYPERVISOR_EVENT_CHANNEL_OP, &[unmask, ARGS]),
        err(errno::EINVAL)
    );
    let t = vm.root.token();
    assert_eq!(
        vm.platform
            .on_msr_write(t, 0, XEN_HYPERCALL_MSR, 0x5000, true, 0x88),
        MsrWrite::Done
    );
    vm.write(ARGS, EvtchnUnmask { port: 2000 });
    assert_eq!(vm.hc(0, HYPERVISOR_EVENT_CHANNEL_OP, &[unmask, ARGS]), 0);
}
