// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The layout offsets agree with xen-abi's `#[repr(C)]` types, for both widths.

use std::mem::{offset_of, size_of};

use xen_abi::{
    SharedInfo32, SharedInfo64, VcpuInfo32, VcpuInfo64, VcpuRunstateInfo32, VcpuRunstateInfo64,
    VcpuTimeInfo,
};
use xen_shinfo_cache::layout::{self, time_info};
use xen_shinfo_cache::{GuestWidth, WidthLayout};

#[test]
fn shared_info_64() {
    let w = GuestWidth::Bits64;
    assert_eq!(
        w.shinfo_evtchn_pending(),
        offset_of!(SharedInfo64, evtchn_pending)
    );
    assert_eq!(
        w.shinfo_evtchn_mask(),
        offset_of!(SharedInfo64, evtchn_mask)
    );
    assert_eq!(w.shinfo_wc_version(), offset_of!(SharedInfo64, wc_version));
    assert_eq!(w.shinfo_wc_sec(), offset_of!(SharedInfo64, wc_sec));
    assert_eq!(w.shinfo_wc_nsec(), offset_of!(SharedInfo64, wc_nsec));
    assert_eq!(w.shinfo_wc_sec_hi(), offset_of!(SharedInfo64, wc_sec_hi));
    assert_eq!(w.shinfo_size(), size_of::<SharedInfo64>());
    assert_eq!(w.nr_2l_ports(), 4096);
}

#[test]
fn shared_info_32() {
    let w = GuestWidth::Bits32;
    assert_eq!(
        w.shinfo_evtchn_pending(),
        offset_of!(SharedInfo32, evtchn_pending)
    );
    assert_eq!(
        w.shinfo_evtchn_mask(),
        offset_of!(SharedInfo32, evtchn_mask)
    );
    assert_eq!(w.shinfo_wc_version(), offset_of!(SharedInfo32, wc_version));
    assert_eq!(w.shinfo_wc_sec(), offset_of!(SharedInfo32, wc_sec));
    assert_eq!(w.shinfo_wc_nsec(), offset_of!(SharedInfo32, wc_nsec));
    assert_eq!(
        w.shinfo_wc_sec_hi(),
        offset_of!(SharedInfo32, arch) + offset_of!(xen_abi::ArchSharedInfo32, wc_sec_hi)
    );
    assert_eq!(w.shinfo_size(), size_of::<SharedInfo32>());
    assert_eq!(w.nr_2l_ports(), 1024);
}

#[test]
fn vcpu_info_both_widths() {
    assert_eq!(layout::VCPU_INFO_SIZE as usize, size_of::<VcpuInfo64>());
    assert_eq!(layout::VCPU_INFO_SIZE as usize, size_of::<VcpuInfo32>());
    assert_eq!(
        GuestWidth::Bits64.vcpu_info_pending_sel(),
        offset_of!(VcpuInfo64, evtchn_pending_sel)
    );
    assert_eq!(
        GuestWidth::Bits32.vcpu_info_pending_sel(),
        offset_of!(VcpuInfo32, evtchn_pending_sel)
    );
    assert_eq!(layout::VCPU_INFO_TIME, offset_of!(VcpuInfo64, time));
    assert_eq!(layout::VCPU_INFO_TIME, offset_of!(VcpuInfo32, time));
    assert_eq!(
        layout::VCPU_INFO_UPCALL_MASK,
        offset_of!(VcpuInfo64, evtchn_upcall_mask)
    );
}

#[test]
fn time_info_and_runstate() {
    assert_eq!(time_info::VERSION, offset_of!(VcpuTimeInfo, version));
    assert_eq!(
        time_info::TSC_TIMESTAMP,
        offset_of!(VcpuTimeInfo, tsc_timestamp)
    );
    assert_eq!(
        time_info::SYSTEM_TIME,
        offset_of!(VcpuTimeInfo, system_time)
    );
    assert_eq!(
        time_info::TSC_TO_SYSTEM_MUL,
        offset_of!(VcpuTimeInfo, tsc_to_system_mul)
    );
    assert_eq!(time_info::TSC_SHIFT, offset_of!(VcpuTimeInfo, tsc_shift));
    assert_eq!(time_info::FLAGS, offset_of!(VcpuTimeInfo, flags));
    let (w64, w32) = (GuestWidth::Bits64, GuestWidth::Bits32);
    assert_eq!(
        w64.runstate_entry_time(),
        offset_of!(VcpuRunstateInfo64, state_entry_time)
    );
    assert_eq!(w64.runstate_time(), offset_of!(VcpuRunstateInfo64, time));
    assert_eq!(w64.runstate_size(), size_of::<VcpuRunstateInfo64>());
    assert_eq!(
        w32.runstate_entry_time(),
        offset_of!(VcpuRunstateInfo32, state_entry_time)
    );
    assert_eq!(w32.runstate_time(), offset_of!(VcpuRunstateInfo32, time));
    assert_eq!(w32.runstate_size(), size_of::<VcpuRunstateInfo32>());
}
