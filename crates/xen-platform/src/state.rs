// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The platform's own Xen state ([`XenState`], lock level `XenLock`):
//! timers, HVM params, where shared_info / vcpu_info / grant frames are, the
//! callback, the backends' ports. Event channels and the shared_info /
//! vcpu_info page caches are xen-evtchn's and xen-shinfo-cache's
//! ([`crate::XenPlatform::evtchn`], [`crate::XenPlatform::pages`]).

use xen_evtchn::CallbackVia;

use crate::platform::PlatformConfig;

/// Per-vCPU Xen state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenVcpu {
    /// GPA registered with `VCPUOP_register_vcpu_info`.
    pub vcpu_info: Option<u64>,
    /// `HVMOP_set_evtchn_upcall_vector`.
    pub upcall_vector: Option<u8>,
    /// Single-shot deadline (Xen system time, ns).
    pub singleshot_ns: Option<u64>,
    /// Periodic timer period (ns).
    pub period_ns: Option<u64>,
    /// Runstate accounting (Xen system time, ns), written to the guest's
    /// runstate area on each change ([`crate::runstate`]).
    pub runstate: xen_shinfo_cache::Runstate,
}

/// Xen state of the VM (lock level `XenLock`).
#[derive(Clone, Debug, Default)]
pub struct XenState {
    /// The guest was in long mode when it set up the hypercall page (ABI width).
    pub long_mode: bool,
    /// shared_info GPA.
    pub shared_info: Option<u64>,
    /// Per-vCPU state.
    pub vcpus: Vec<XenVcpu>,
    /// Upcall routing (mirror of what xen-evtchn was told, for `get_param`).
    pub callback: CallbackVia,
    /// HVM params (index = param number): store / console pfn and evtchn,
    /// and those the guest may set itself ([`crate::params`]).
    pub params: Vec<u64>,
    /// GPAs where grant frames are mapped.
    pub grant_frames: Vec<Option<u64>>,
    /// The domain's shutdown code (Xen's `shutdown_code`): the first reason
    /// given by `SCHEDOP_shutdown_code` or `SCHEDOP_shutdown`, reported by
    /// every shutdown. A VMM that resumes a suspended domain clears it, as
    /// Xen's `domain_resume`.
    pub shutdown: Option<u32>,
    /// Pages the domain has (`XENMEM_current_reservation`, Xen's `tot_pages`):
    /// its RAM, less what it gave back or placed Xen pages over, plus what it
    /// got back.
    pub tot_pages: u64,
    /// RAM frames (of the memory map) without memory now: given back with
    /// `XENMEM_decrease_reservation` or `remove_from_physmap`, or covered by a
    /// page Xen placed there (shared_info, grant frames).
    pub absent: std::collections::BTreeSet<u64>,
    /// Guest ports of the backends' channels (console, xenstore; 0: none).
    /// Kept apart from `HVM_PARAM_CONSOLE_EVTCHN` / `STORE_EVTCHN`, which the
    /// guest may overwrite (Xen lets it) without moving the backends.
    backend_ports: (u32, u32),
}

impl XenState {
    /// Fresh state for a domain configured as `config` (the event-channel
    /// params are filled in when the backends bind their channels).
    pub fn new(config: &PlatformConfig) -> Self {
        let mut s = XenState {
            long_mode: true,
            vcpus: vec![XenVcpu::default(); config.nr_vcpus as usize],
            grant_frames: vec![None; config.grant_frames as usize],
            params: vec![0; xen_abi::HVM_NR_PARAMS as usize],
            tot_pages: config.ram_pages(),
            ..Default::default()
        };
        s.set_param(xen_abi::HVM_PARAM_STORE_PFN, config.store_gfn);
        s.set_param(xen_abi::HVM_PARAM_CONSOLE_PFN, config.console_gfn);
        s
    }

    /// Sets HVM param `index` (growing the table to `HVM_NR_PARAMS` first);
    /// an index beyond it is ignored.
    fn set_param(&mut self, index: u32, value: u64) {
        if self.params.len() < xen_abi::HVM_NR_PARAMS as usize {
            self.params.resize(xen_abi::HVM_NR_PARAMS as usize, 0);
        }
        if let Some(p) = self.params.get_mut(index as usize) {
            *p = value;
        }
    }

    /// Guest port of the PV console channel (0: none). The VMM sets it when
    /// it binds the channel (VM creation, after `EVTCHNOP_reset`, restore).
    pub fn console_port(&self) -> u32 {
        self.backend_ports.0
    }

    /// Guest port of the xenstore channel (0: none).
    pub fn store_port(&self) -> u32 {
        self.backend_ports.1
    }

    /// Records the backends' guest ports and publishes them in
    /// `HVM_PARAM_CONSOLE_EVTCHN` / `HVM_PARAM_STORE_EVTCHN` (VM creation,
    /// rebinding after `EVTCHNOP_reset`).
    pub fn set_backend_ports(&mut self, console: u32, store: u32) {
        self.set_param(xen_abi::HVM_PARAM_CONSOLE_EVTCHN, u64::from(console));
        self.set_param(xen_abi::HVM_PARAM_STORE_EVTCHN, u64::from(store));
        self.backend_ports = (console, store);
    }

    /// Records the backends' guest ports without touching the params (restore:
    /// the saved params keep whatever the guest wrote there).
    pub fn restore_backend_ports(&mut self, console: u32, store: u32) {
        self.backend_ports = (console, store);
    }

    /// The backend the guest reaches through `port`, if any.
    pub fn backend_of(&self, port: u32) -> Option<crate::backends::Backend> {
        if port == 0 {
            None
        } else if port == self.console_port() {
            Some(crate::backends::Backend::Console)
        } else if port == self.store_port() {
            Some(crate::backends::Backend::Store)
        } else {
            None
        }
    }

    /// Where vCPU `v`'s vcpu_info is (registered area, else the legacy slot in shared_info).
    pub fn vcpu_info_gpa(&self, v: u32) -> Option<u64> {
        let x = self.vcpus.get(v as usize)?;
        if let Some(g) = x.vcpu_info {
            return Some(g);
        }
        if v < 32 {
            self.shared_info.map(|s| s + 64 * u64::from(v))
        } else {
            None
        }
    }
}
