// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Constant values and encodings checked against the Xen public headers.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use xen_abi::*;

#[test]
fn hypercall_numbers() {
    assert_eq!(HYPERVISOR_MEMORY_OP, 12);
    assert_eq!(HYPERVISOR_SET_TIMER_OP, 15);
    assert_eq!(HYPERVISOR_XEN_VERSION, 17);
    assert_eq!(HYPERVISOR_CONSOLE_IO, 18);
    assert_eq!(HYPERVISOR_GRANT_TABLE_OP, 20);
    assert_eq!(HYPERVISOR_VCPU_OP, 24);
    assert_eq!(HYPERVISOR_SCHED_OP, 29);
    assert_eq!(HYPERVISOR_EVENT_CHANNEL_OP, 32);
    assert_eq!(HYPERVISOR_HVM_OP, 34);
    assert_eq!(HYPERCALL_PAGE_ENTRIES, 128);
}

#[test]
fn errno_values() {
    use xen_abi::errno::*;
    assert_eq!(
        (EPERM, ENOENT, EBADF, EFAULT, EINVAL, ENOSYS),
        (1, 2, 9, 14, 22, 38)
    );
    assert_eq!((EEXIST, ENOSPC, EOPNOTSUPP, ETIMEDOUT), (17, 28, 95, 110));
}

#[test]
fn sub_op_numbers() {
    assert_eq!(EVTCHNOP_ALLOC_UNBOUND, 6);
    assert_eq!(EVTCHNOP_RESET, 10);
    assert_eq!(VCPUOP_REGISTER_VCPU_INFO, 10);
    assert_eq!(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 13);
    assert_eq!(XENMEM_ADD_TO_PHYSMAP, 7);
    assert_eq!(XENMEM_MEMORY_MAP, 9);
    assert_eq!(SCHEDOP_POLL, 3);
    assert_eq!(HVMOP_SET_EVTCHN_UPCALL_VECTOR, 23);
    assert_eq!(GNTTABOP_GET_VERSION, 10);
    assert_eq!(XENVER_PAGESIZE, 7);
    assert_eq!(CONSOLEIO_READ, 1);
    assert_eq!(HVM_PARAM_CONSOLE_EVTCHN, 18);
    assert_eq!(XENFEAT_HVM_CALLBACK_VECTOR, 8);
    assert_eq!(XEN_ELFNOTE_PHYS32_ENTRY, 18);
    assert_eq!(XEN_HVM_START_MAGIC_VALUE, 0x336e_c578);
    assert_eq!(VIRQ_TIMER, 0);
    assert_eq!(EVTCHNSTAT_IPI, 5);
    assert_eq!(SHUTDOWN_CRASH, 3);
    assert_eq!(XENMAPSPACE_GRANT_TABLE, 1);
}

#[test]
fn cpuid_signature_spells_xenvmm() {
    let mut sig = Vec::new();
    for r in [
        XEN_CPUID_SIGNATURE_EBX,
        XEN_CPUID_SIGNATURE_ECX,
        XEN_CPUID_SIGNATURE_EDX,
    ] {
        sig.extend_from_slice(&r.to_le_bytes());
    }
    assert_eq!(&sig, b"XenVMMXenVMM");
}

#[test]
fn errno_newtype() {
    assert_eq!(Errno::EINVAL, Errno(errno::EINVAL));
    assert_eq!(Errno::ENOSYS.0, 38);
    assert_eq!(Errno::EINVAL.to_return(), -22);
    assert_eq!(Errno::ETIMEDOUT.to_return(), -110);
}

#[test]
fn callback_via_decode_and_encode() {
    assert_eq!(HvmCallbackVia::from_param(0), HvmCallbackVia::None);
    assert_eq!(HvmCallbackVia::from_param(5), HvmCallbackVia::Gsi(5));
    let v = HvmCallbackVia::from_param((2u64 << 56) | 0xf3);
    assert_eq!(v, HvmCallbackVia::Vector(0xf3));
    assert_eq!(v.to_param(), 0x0200_0000_0000_00f3);
    let intx = (1u64 << 56) | (0x1234 << 32) | (0x0056 << 16) | (0x18 << 8) | 2;
    let d = HvmCallbackVia::from_param(intx);
    assert_eq!(
        d,
        HvmCallbackVia::PciIntx {
            domain: 0x1234,
            bus: 0x56,
            devfn: 0x18,
            pin: 2
        }
    );
    assert_eq!(d.to_param(), intx);
    for gsi in [1u32, 47, 0x100, u32::MAX] {
        let v = HvmCallbackVia::Gsi(gsi);
        assert_eq!(HvmCallbackVia::from_param(v.to_param()), v);
    }
}

/// Values Xen's `hvm_set_callback_via` accepts without complaint decode as it reads them.
#[test]
fn callback_via_decodes_like_xen() {
    for (value, want) in [
        // GSI: bits 55:0; one beyond u32 exists nowhere: callback off.
        ((1u64 << 32) | 5, HvmCallbackVia::None),
        (0x00ff_ffff_ffff_ffff, HvmCallbackVia::None),
        (0x1_0000, HvmCallbackVia::Gsi(0x1_0000)),
        // Vector: bits 7:0 only.
        ((2 << 56) | 0x100, HvmCallbackVia::Vector(0)),
        (
            (2 << 56) | 0x00ff_ffff_ffff_ff10,
            HvmCallbackVia::Vector(0x10),
        ),
        // INTx: bits 55:48 and 7:2 ignored.
        (
            (1 << 56) | (0xab << 48) | 4 | 3,
            HvmCallbackVia::PciIntx {
                domain: 0,
                bus: 0,
                devfn: 0,
                pin: 3,
            },
        ),
        // Unknown types: callback off.
        (3 << 56, HvmCallbackVia::None),
        ((0x80 << 56) | 9, HvmCallbackVia::None),
        (u64::MAX, HvmCallbackVia::None),
    ] {
        assert_eq!(HvmCallbackVia::from_param(value), want, "{value:#x}");
    }
}

#[test]
fn structs_roundtrip_through_guest_memory() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x4000)]).unwrap();
    let mut si = SharedInfo32::default();
    si.vcpu_info[1].evtchn_upcall_pending = 1;
    si.evtchn_pending[3] = 0x8000_0001;
    si.arch.wc_sec_hi = 7;
    mem.write_obj(si, GuestAddress(0x1000)).unwrap();
    assert_eq!(mem.read_obj::<u8>(GuestAddress(0x1000 + 64)).unwrap(), 1);
    assert_eq!(
        mem.read_obj::<u32>(GuestAddress(0x1000 + 2048 + 12))
            .unwrap(),
        0x8000_0001
    );
    assert_eq!(
        mem.read_obj::<u32>(GuestAddress(0x1000 + 2316 + 24))
            .unwrap(),
        7
    );
    assert_eq!(
        mem.read_obj::<SharedInfo32>(GuestAddress(0x1000)).unwrap(),
        si
    );

    let rs = VcpuRunstateInfo32 {
        state: 2,
        state_entry_time: XEN_RUNSTATE_UPDATE | 9,
        time: [1, 2, 3, 4],
    };
    mem.write_obj(rs, GuestAddress(0x3000)).unwrap();
    assert_eq!(
        mem.read_obj::<u64>(GuestAddress(0x3004)).unwrap(),
        XEN_RUNSTATE_UPDATE | 9
    );
    assert_eq!(
        mem.read_obj::<u64>(GuestAddress(0x3000 + 12 + 24)).unwrap(),
        4
    );
}
