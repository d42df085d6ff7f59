// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Layout tests: sizes and offsets hard-coded from the Xen 4.17 public headers compiled with
//! `gcc -m64` and `gcc -m32` (i386).

use core::mem::{offset_of, size_of};
use xen_abi::*;

macro_rules! size {
    ($t:ty, $n:expr) => {
        assert_eq!(size_of::<$t>(), $n, "size of {}", stringify!($t));
    };
}
macro_rules! off {
    ($t:ty, $f:ident, $n:expr) => {
        assert_eq!(
            offset_of!($t, $f),
            $n,
            "offset of {}.{}",
            stringify!($t),
            stringify!($f)
        );
    };
}

#[test]
fn shared_info_64() {
    size!(SharedInfo64, 3136);
    off!(SharedInfo64, vcpu_info, 0);
    off!(SharedInfo64, evtchn_pending, 2048);
    off!(SharedInfo64, evtchn_mask, 2560);
    off!(SharedInfo64, wc_version, 3072);
    off!(SharedInfo64, wc_sec, 3076);
    off!(SharedInfo64, wc_nsec, 3080);
    off!(SharedInfo64, wc_sec_hi, 3084);
    off!(SharedInfo64, arch, 3088);
    size!(ArchSharedInfo64, 48);
    off!(ArchSharedInfo64, pfn_to_mfn_frame_list_list, 8);
    off!(ArchSharedInfo64, nmi_reason, 16);
    off!(ArchSharedInfo64, p2m_cr3, 24);
    off!(ArchSharedInfo64, p2m_vaddr, 32);
    off!(ArchSharedInfo64, p2m_generation, 40);
    assert_eq!(shared_info64_vcpu_info_offset(31), 31 * 64);
    assert_eq!(GuestWidth::Bits64.shared_info_size(), 3136);
}

#[test]
fn shared_info_32() {
    size!(SharedInfo32, 2344);
    off!(SharedInfo32, vcpu_info, 0);
    off!(SharedInfo32, evtchn_pending, 2048);
    off!(SharedInfo32, evtchn_mask, 2176);
    off!(SharedInfo32, wc_version, 2304);
    off!(SharedInfo32, wc_sec, 2308);
    off!(SharedInfo32, wc_nsec, 2312);
    off!(SharedInfo32, arch, 2316);
    size!(ArchSharedInfo32, 28);
    off!(ArchSharedInfo32, pfn_to_mfn_frame_list_list, 4);
    off!(ArchSharedInfo32, nmi_reason, 8);
    off!(ArchSharedInfo32, p2m_cr3, 12);
    off!(ArchSharedInfo32, p2m_vaddr, 16);
    off!(ArchSharedInfo32, p2m_generation, 20);
    off!(ArchSharedInfo32, wc_sec_hi, 24);
    assert_eq!(shared_info32_vcpu_info_offset(31), 31 * 64);
    assert_eq!(GuestWidth::Bits32.shared_info_size(), 2344);
}

#[test]
fn vcpu_info_both_widths() {
    size!(VcpuInfo64, 64);
    off!(VcpuInfo64, evtchn_upcall_pending, 0);
    off!(VcpuInfo64, evtchn_upcall_mask, 1);
    off!(VcpuInfo64, evtchn_pending_sel, 8);
    off!(VcpuInfo64, arch, 16);
    off!(VcpuInfo64, time, 32);
    size!(ArchVcpuInfo64, 16);
    off!(ArchVcpuInfo64, pad, 8);

    size!(VcpuInfo32, 64);
    off!(VcpuInfo32, evtchn_upcall_pending, 0);
    off!(VcpuInfo32, evtchn_upcall_mask, 1);
    off!(VcpuInfo32, evtchn_pending_sel, 4);
    off!(VcpuInfo32, arch, 8);
    off!(VcpuInfo32, time, 32);
    size!(ArchVcpuInfo32, 24);
    off!(ArchVcpuInfo32, pad, 4);
}

#[test]
fn vcpu_time_info() {
    size!(VcpuTimeInfo, 32);
    off!(VcpuTimeInfo, version, 0);
    off!(VcpuTimeInfo, pad0, 4);
    off!(VcpuTimeInfo, tsc_timestamp, 8);
    off!(VcpuTimeInfo, system_time, 16);
    off!(VcpuTimeInfo, tsc_to_system_mul, 24);
    off!(VcpuTimeInfo, tsc_shift, 28);
    off!(VcpuTimeInfo, flags, 29);
    off!(VcpuTimeInfo, pad1, 30);
}

#[test]
fn runstate_both_widths() {
    size!(VcpuRunstateInfo64, 48);
    off!(VcpuRunstateInfo64, state, 0);
    off!(VcpuRunstateInfo64, state_entry_time, 8);
    off!(VcpuRunstateInfo64, time, 16);
    size!(VcpuRunstateInfo32, 44);
    off!(VcpuRunstateInfo32, state, 0);
    off!(VcpuRunstateInfo32, state_entry_time, 4);
    off!(VcpuRunstateInfo32, time, 12);
    assert_eq!(GuestWidth::Bits64.runstate_info_size(), 48);
    assert_eq!(GuestWidth::Bits32.runstate_info_size(), 44);
    assert_eq!(XEN_RUNSTATE_UPDATE, 0x8000_0000_0000_0000);
    assert_eq!(HYPERVISOR_VM_ASSIST, 21);
    assert_eq!(
        (
            VMASST_CMD_ENABLE,
            VMASST_CMD_DISABLE,
            VMASST_TYPE_RUNSTATE_UPDATE_FLAG
        ),
        (0, 1, 5)
    );
    assert_eq!(
        (
            RUNSTATE_RUNNING,
            RUNSTATE_RUNNABLE,
            RUNSTATE_BLOCKED,
            RUNSTATE_OFFLINE
        ),
        (0, 1, 2, 3)
    );
}

#[test]
fn evtchn_structs() {
    size!(EvtchnAllocUnbound, 8);
    off!(EvtchnAllocUnbound, remote_dom, 2);
    off!(EvtchnAllocUnbound, port, 4);
    size!(EvtchnBindInterdomain, 12);
    off!(EvtchnBindInterdomain, remote_port, 4);
    off!(EvtchnBindInterdomain, local_port, 8);
    size!(EvtchnBindVirq, 12);
    off!(EvtchnBindVirq, vcpu, 4);
    off!(EvtchnBindVirq, port, 8);
    size!(EvtchnBindPirq, 12);
    off!(EvtchnBindPirq, flags, 4);
    off!(EvtchnBindPirq, port, 8);
    size!(EvtchnBindIpi, 8);
    off!(EvtchnBindIpi, port, 4);
    size!(EvtchnClose, 4);
    size!(EvtchnSend, 4);
    size!(EvtchnStatus, 24);
    off!(EvtchnStatus, port, 4);
    off!(EvtchnStatus, status, 8);
    off!(EvtchnStatus, vcpu, 12);
    off!(EvtchnStatus, u, 16);
    size!(EvtchnBindVcpu, 8);
    off!(EvtchnBindVcpu, vcpu, 4);
    size!(EvtchnUnmask, 4);
    size!(EvtchnReset, 2);
    assert_eq!(NR_EVENT_CHANNELS_64, 4096);
    assert_eq!(NR_EVENT_CHANNELS_32, 1024);
    assert_eq!(GuestWidth::Bits64.nr_event_channels(), 4096);
    assert_eq!(GuestWidth::Bits32.bits_per_word(), 32);
}

#[test]
fn vcpu_op_structs() {
    size!(VcpuRegisterVcpuInfo, 16);
    off!(VcpuRegisterVcpuInfo, offset, 8);
    off!(VcpuRegisterVcpuInfo, rsvd, 12);
    size!(VcpuSetPeriodicTimer, 8);
    size!(VcpuSetSingleshotTimer64, 16);
    off!(VcpuSetSingleshotTimer64, flags, 8);
    size!(VcpuSetSingleshotTimer32, 12);
    off!(VcpuSetSingleshotTimer32, flags, 8);
    size!(VcpuRegisterRunstateMemoryArea, 8);
    size!(VcpuRegisterTimeMemoryArea, 8);
    assert_eq!(VCPU_SSHOTTMR_FUTURE, 1);
}

#[test]
fn memory_op_structs() {
    size!(XenAddToPhysmap64, 24);
    off!(XenAddToPhysmap64, size, 2);
    off!(XenAddToPhysmap64, space, 4);
    off!(XenAddToPhysmap64, idx, 8);
    off!(XenAddToPhysmap64, gpfn, 16);
    size!(XenAddToPhysmap32, 16);
    off!(XenAddToPhysmap32, space, 4);
    off!(XenAddToPhysmap32, idx, 8);
    off!(XenAddToPhysmap32, gpfn, 12);
    size!(XenMemoryMap64, 16);
    off!(XenMemoryMap64, buffer, 8);
    size!(XenMemoryMap32, 8);
    off!(XenMemoryMap32, buffer, 4);
    size!(E820Entry, 20);
    off!(E820Entry, size, 8);
    off!(E820Entry, kind, 16);
}

#[test]
fn sched_structs() {
    size!(SchedShutdown, 4);
    size!(SchedPoll64, 24);
    off!(SchedPoll64, nr_ports, 8);
    off!(SchedPoll64, timeout, 16);
    size!(SchedPoll32, 16);
    off!(SchedPoll32, nr_ports, 4);
    off!(SchedPoll32, timeout, 8);
}

#[test]
fn hvm_structs() {
    size!(XenHvmParam, 16);
    off!(XenHvmParam, index, 4);
    off!(XenHvmParam, value, 8);
    size!(XenHvmEvtchnUpcallVector, 8);
    off!(XenHvmEvtchnUpcallVector, vector, 4);
    size!(HvmStartInfo, 56);
    off!(HvmStartInfo, modlist_paddr, 16);
    off!(HvmStartInfo, cmdline_paddr, 24);
    off!(HvmStartInfo, rsdp_paddr, 32);
    off!(HvmStartInfo, memmap_paddr, 40);
    off!(HvmStartInfo, memmap_entries, 48);
    off!(HvmStartInfo, reserved, 52);
    size!(HvmMemmapTableEntry, 24);
    off!(HvmMemmapTableEntry, kind, 16);
    size!(HvmModlistEntry, 32);
    assert_eq!(HVM_PARAM_CALLBACK_IRQ_TYPE_MASK, 0xff00_0000_0000_0000);
}

#[test]
fn grant_table_structs() {
    size!(GrantEntryV1, 8);
    off!(GrantEntryV1, domid, 2);
    off!(GrantEntryV1, frame, 4);
    size!(GnttabSetupTable64, 24);
    off!(GnttabSetupTable64, nr_frames, 4);
    off!(GnttabSetupTable64, status, 8);
    off!(GnttabSetupTable64, frame_list, 16);
    size!(GnttabSetupTable32, 16);
    off!(GnttabSetupTable32, nr_frames, 4);
    off!(GnttabSetupTable32, status, 8);
    off!(GnttabSetupTable32, frame_list, 12);
    size!(GnttabQuerySize, 16);
    off!(GnttabQuerySize, nr_frames, 4);
    off!(GnttabQuerySize, max_nr_frames, 8);
    off!(GnttabQuerySize, status, 12);
    size!(GnttabSetVersion, 4);
    size!(GnttabGetVersion, 8);
    off!(GnttabGetVersion, version, 4);
}

#[test]
fn version_structs() {
    size!(XenExtraversion, 16);
    size!(XenCompileInfo, 144);
    off!(XenCompileInfo, compile_by, 64);
    off!(XenCompileInfo, compile_domain, 80);
    off!(XenCompileInfo, compile_date, 112);
    size!(XenCapabilitiesInfo, 1024);
    size!(XenChangesetInfo, 64);
    size!(XenFeatureInfo, 8);
    off!(XenFeatureInfo, submap, 4);
}

#[test]
fn rings() {
    size!(XenconsInterface, 3088);
    off!(XenconsInterface, output, 1024);
    off!(XenconsInterface, in_cons, 3072);
    off!(XenconsInterface, in_prod, 3076);
    off!(XenconsInterface, out_cons, 3080);
    off!(XenconsInterface, out_prod, 3084);
    size!(XenstoreDomainInterface, 2076);
    off!(XenstoreDomainInterface, rsp, 1024);
    off!(XenstoreDomainInterface, req_cons, 2048);
    off!(XenstoreDomainInterface, req_prod, 2052);
    off!(XenstoreDomainInterface, rsp_cons, 2056);
    off!(XenstoreDomainInterface, rsp_prod, 2060);
    off!(XenstoreDomainInterface, server_features, 2064);
    off!(XenstoreDomainInterface, connection, 2068);
    off!(XenstoreDomainInterface, error, 2072);
    size!(XsdSockmsg, 16);
    assert_eq!(
        (XS_ERROR, XS_WATCH_EVENT, XS_DIRECTORY_PART, XS_TYPE_COUNT),
        (16, 15, 22, 23)
    );
}
