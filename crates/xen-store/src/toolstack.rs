// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! What a toolstack writes into the store for a new domain, so that a
//! guest finds at boot the nodes it reads on real Xen.
//!
//! Modelled on what libxl does for a PVH/HVM domU (`libxl__domain_make`,
//! `libxl__build_post`), read for behaviour only:
//!
//! | node (under the home unless absolute) | value | guest may write |
//! | --- | --- | --- |
//! | `domid`, `name` | domain id, name | no |
//! | `vm`; `/vm/<uuid>/uuid`, `/vm/<uuid>/name` | `/vm/<uuid>`; uuid, name | no |
//! | `cpu/<n>/availability` for each vCPU | `online` | no |
//! | `memory/static-max`, `memory/target`, `memory/videoram` | KiB, KiB, `0` (only with [`XenstoreConfig::memory_kib`] set) | no |
//! | `control/platform-feature-multiprocessor-suspend`, `control/platform-feature-xs_reset_watches` | `1` | no |
//! | `control/shutdown`, `control/feature-poweroff`, `control/feature-reboot`, `control/feature-suspend`, `control/sysrq` | empty | yes |
//! | `data`, `drivers`, `feature`, `attr`, `error` | empty | yes |
//! | `device`, `device/suspend/event-channel` | empty | yes (libxl's `xend_suspend_evtchn_compat` layout: frontends write their nodes under `device/`) |
//!
//! `control`, `cpu`, `memory` and the home itself are read-only
//! directories for the guest. The VMM adds what it owns through
//! [`XenstoreConfig::entries`] (e.g. `store/port`, `console/ring-ref`).

use std::collections::BTreeMap;

use crate::server::MAX_NODES;
use crate::tree::{self, Nodes};
use crate::wire::PAYLOAD_MAX;

/// Nodes a guest may create and write, relative to its home, by default
/// (what libxl makes guest-owned).
pub const DEFAULT_WRITABLE: &[&str] = &[
    "data",
    "device",
    "drivers",
    "feature",
    "attr",
    "error",
    "control/shutdown",
    "control/feature-poweroff",
    "control/feature-reboot",
    "control/feature-suspend",
    "control/sysrq",
];

/// Guest-writable nodes created empty at start.
const EMPTY_NODES: &[&str] = &[
    "data",
    "device/suspend/event-channel",
    "drivers",
    "feature",
    "attr",
    "error",
    "control/shutdown",
    "control/feature-poweroff",
    "control/feature-reboot",
    "control/feature-suspend",
    "control/sysrq",
];

/// Read-only feature flags the platform advertises (value `1`).
const PLATFORM_FEATURES: &[&str] = &[
    "control/platform-feature-multiprocessor-suspend",
    "control/platform-feature-xs_reset_watches",
];

/// What the store starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenstoreConfig {
    /// The guest's domain id.
    pub domid: u16,
    /// The guest's name (`<home>/name`, `/vm/<uuid>/name`).
    pub name: String,
    /// vCPUs: `cpu/<n>/availability = online` for `n < vcpus`.
    pub vcpus: u32,
    /// Guest memory in KiB for `memory/static-max` and `memory/target`;
    /// 0 leaves the `memory` nodes out (a balloon driver reading a target
    /// of 0 would give all memory back).
    pub memory_kib: u64,
    /// The domain's UUID (`/vm/<uuid>`).
    pub uuid: String,
    /// Extra nodes: (path, value); relative paths are under the home.
    /// Written after the toolstack nodes (they may override them).
    pub entries: Vec<(String, String)>,
    /// Path prefixes the guest may write; relative ones are under the home.
    pub writable: Vec<String>,
}

impl XenstoreConfig {
    /// One vCPU, no memory nodes, a UUID derived from the domain id,
    /// [`DEFAULT_WRITABLE`] prefixes.
    pub fn new(domid: u16, name: &str) -> Self {
        XenstoreConfig {
            domid,
            name: name.to_string(),
            vcpus: 1,
            memory_kib: 0,
            uuid: format!("00000000-0000-0000-0000-{domid:012x}"),
            entries: Vec::new(),
            writable: DEFAULT_WRITABLE.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Sets the number of vCPUs.
    pub fn with_vcpus(mut self, vcpus: u32) -> Self {
        self.vcpus = vcpus;
        self
    }

    /// Sets the guest memory size in KiB.
    pub fn with_memory_kib(mut self, kib: u64) -> Self {
        self.memory_kib = kib;
        self
    }

    /// The nodes of a new domain and the absolute writable prefixes, or
    /// `None` if a path is invalid.
    pub(crate) fn build(&self) -> Option<(Nodes, Vec<String>)> {
        if self.vcpus as usize > MAX_NODES {
            return None;
        }
        let home = tree::home(self.domid);
        let vm = format!("/vm/{}", self.uuid);
        let mut nodes: Vec<(String, String)> = vec![
            ("domid".into(), self.domid.to_string()),
            ("name".into(), self.name.clone()),
            ("vm".into(), vm.clone()),
            (format!("{vm}/uuid"), self.uuid.clone()),
            (format!("{vm}/name"), self.name.clone()),
        ];
        for n in 0..self.vcpus {
            nodes.push((format!("cpu/{n}/availability"), "online".into()));
        }
        if self.memory_kib != 0 {
            let kib = self.memory_kib.to_string();
            nodes.push(("memory/static-max".into(), kib.clone()));
            nodes.push(("memory/target".into(), kib));
            nodes.push(("memory/videoram".into(), "0".into()));
        }
        nodes.extend(
            PLATFORM_FEATURES
                .iter()
                .map(|p| (p.to_string(), "1".into())),
        );
        nodes.extend(EMPTY_NODES.iter().map(|p| (p.to_string(), String::new())));
        nodes.extend(self.entries.iter().cloned());
        let mut map = BTreeMap::new();
        for (k, v) in nodes {
            if v.len() > PAYLOAD_MAX {
                return None;
            }
            map.insert(tree::absolute(&home, &k)?, v.into_bytes());
        }
        if map.len() > MAX_NODES {
            return None;
        }
        let writable = self
            .writable
            .iter()
            .map(|p| tree::absolute(&home, p))
            .collect::<Option<Vec<_>>>()?;
        Some((map, writable))
    }
}
