// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Input layout and harness of the `snapshot_load` target: snapshot files
//! through the whole restore path, without KVM.
//!
//! Byte 0 selects the mode:
//! * even: the rest is a whole snapshot file. `parse` checks the header,
//!   sizes, CRCs, trailer and every value; if it passes, guest memory is
//!   built from the file and the Xen platform restored from it
//!   (`xen_vmm::snapshot::restore_platform`: the saved state overlaid on a
//!   fresh platform of the saved shape, `XenPlatform::restore` and the
//!   devices' `from_state`), as `Vm::restore` does;
//! * odd: the rest is a bare state section of format version
//!   `(byte0 >> 1) % CURRENT + 1`, decoded and validated
//!   (`VmSnapshot::decode`, no CRC in the way), then restored the same way
//!   over zero-filled memory of its layout (at most [`MAX_BARE_MEMORY`]).
//!
//! After a restore succeeds, the guest's next hypercalls run on the
//! restored platform (each grant frame mapped, a send on each open port,
//! `SCHEDOP_poll`), timers fire, the backends run, input arrives; and the
//! state it then has must restore again.

use std::io::Cursor;
use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use xen_hypercall::HypercallRegs;
use xen_platform::{HypercallExit, Retry, TimerKind, XenPlatform};
use xen_vmm::snapshot::format::CURRENT_FORMAT_VERSION;
use xen_vmm::snapshot::{restore_platform, SnapshotReader, VmSnapshot};

use crate::platform_ops::{FakeHost, FakeVcpu};

/// Largest zero-filled memory built for a bare state.
pub const MAX_BARE_MEMORY: u64 = 16 << 20;
/// Guest physical address bits of the restored VM.
pub const PHYS_BITS: u8 = 40;

/// How far an input got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The file or state was refused before any platform existed.
    Refused(String),
    /// The platform refused the state.
    RestoreRefused(String),
    /// Restored, used, and restored again.
    Restored,
}

/// The guest's next hypercalls after a restore, from vCPU 0 with paging
/// off: `(nr, args)` with the argument struct written at `arg` first.
fn hypercall(p: &XenPlatform, nr: u64, a0: u64, a1: u64, a2: u64, long_mode: bool) {
    let regs = if long_mode {
        HypercallRegs::from_regs64(0, nr, a0, a1, a2, 0, 0, 0)
    } else {
        HypercallRegs::from_regs32(0, nr, a0, a1, a2, 0, 0, 0)
    };
    let host = FakeHost::new();
    let mut retry = Retry::No;
    for _ in 0..2 {
        let mut root = Root::new().expect("lock root");
        let mut access = FakeVcpu::new(&host);
        match p.on_hypercall(root.token(), 0, &regs, false, &mut access, retry) {
            // The VMM restored here adds no pages.
            HypercallExit::MapPage { .. } => retry = Retry::PageRefused,
            HypercallExit::Block { wait, .. } => {
                p.wait_end(0, &wait);
                return;
            }
            _ => return,
        }
    }
    panic!("MapPage asked twice");
}

/// Uses a restored platform as a guest and the VMM would.
fn exercise(p: &XenPlatform, mem: &GuestMemoryMmap) {
    let long_mode = {
        let mut root = Root::new().expect("lock root");
        let (x, _t) = p.xen_state().lock(root.token());
        x.long_mode
    };
    // Two pages of RAM for the arguments and a grant frame.
    let Some(arg) = mem
        .iter()
        .find(|r| r.len() >= 0x2000)
        .map(|r| r.start_addr().0)
    else {
        return;
    };
    let frame = arg + 0x1000;
    for idx in 0..8u64 {
        let mut b = Vec::new();
        b.extend_from_slice(&xen_abi::DOMID_SELF.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&xen_abi::XENMAPSPACE_GRANT_TABLE.to_le_bytes());
        if long_mode {
            b.extend_from_slice(&idx.to_le_bytes());
            b.extend_from_slice(&(frame >> 12).to_le_bytes());
        } else {
            b.extend_from_slice(&(idx as u32).to_le_bytes());
            b.extend_from_slice(&((frame >> 12) as u32).to_le_bytes());
        }
        let _ = mem.write_slice(&b, GuestAddress(arg));
        hypercall(
            p,
            xen_abi::HYPERVISOR_MEMORY_OP,
            u64::from(xen_abi::XENMEM_ADD_TO_PHYSMAP),
            arg,
            0,
            long_mode,
        );
    }
    let ports: Vec<u32> = {
        let mut root = Root::new().expect("lock root");
        p.evtchn()
            .state(root.token())
            .ports
            .iter()
            .map(|x| x.port)
            .take(64)
            .collect()
    };
    for port in &ports {
        let _ = mem.write_obj(*port, GuestAddress(arg));
        hypercall(
            p,
            xen_abi::HYPERVISOR_EVENT_CHANNEL_OP,
            u64::from(xen_abi::EVTCHNOP_SEND),
            arg,
            0,
            long_mode,
        );
    }
    for v in 0..p.nr_vcpus() {
        let mut root = Root::new().expect("lock root");
        p.timer_fired(root.token(), v, TimerKind::SingleShot);
        p.timer_fired(root.token(), v, TimerKind::Periodic);
        p.set_runstate(root.token(), v, xen_abi::RUNSTATE_RUNNING);
    }
    let mut root = Root::new().expect("lock root");
    p.run_backends(root.token(), None);
    p.console_input(root.token(), b"input");
    drop(root);
    hypercall(
        p,
        xen_abi::HYPERVISOR_SCHED_OP,
        u64::from(xen_abi::SCHEDOP_YIELD),
        0,
        0,
        long_mode,
    );
}

fn restore(state: &VmSnapshot, mem: GuestMemoryMmap) -> Outcome {
    let host: Arc<FakeHost> = Arc::new(FakeHost::new());
    let map = MemoryMap::new(mem.clone());
    let p = match restore_platform(
        state,
        map.clone(),
        host.clone(),
        Box::new(std::io::sink()),
        PHYS_BITS,
    ) {
        Ok(p) => p,
        Err(e) => return Outcome::RestoreRefused(e.to_string()),
    };
    exercise(&p, &mem);
    // What the platform reached now must restore again.
    let s = p.state(Root::new().expect("lock root").token());
    if let Err(e) =
        XenPlatform::restore(p.config().clone(), map, host, Box::new(std::io::sink()), &s)
    {
        panic!("a restored platform's own state does not restore: {e}");
    }
    Outcome::Restored
}

/// Runs one input.
pub fn run(data: &[u8]) -> Outcome {
    let Some((&mode, rest)) = data.split_first() else {
        return Outcome::Refused("empty".into());
    };
    if mode & 1 == 0 {
        if let Err(e) = xen_vmm::snapshot::parse(rest) {
            return Outcome::Refused(e.to_string());
        }
        let reader = SnapshotReader::open(Cursor::new(rest)).expect("a parsed file opens");
        let (state, mem) = reader
            .into_guest_memory()
            .expect("a parsed file's memory loads");
        restore(&state, mem)
    } else {
        let version = u16::from(mode >> 1) % CURRENT_FORMAT_VERSION + 1;
        let state = match VmSnapshot::decode(rest, version) {
            Ok(s) => s,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        if state.memory.total_len() > MAX_BARE_MEMORY {
            return Outcome::Refused("memory too large for the harness".into());
        }
        let mem = state
            .memory
            .create_guest_memory()
            .expect("a validated layout builds");
        restore(&state, mem)
    }
}

/// Seeds: a snapshot of a small VM with Xen state set up, as whole files
/// and bare state sections, at every format version.
pub mod seed {
    use vm_memory::{Bytes, GuestAddress};
    use xen_vmm::snapshot::format::{FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, FORMAT_V5};
    use xen_vmm::snapshot::kvm_state::VcpuState;
    use xen_vmm::snapshot::memory::{MemoryRegionState, MemoryState};
    use xen_vmm::snapshot::xen_state::{
        ConsoleMirror, GrantState, HostPortMirror, PortKind, PortState, XenVcpuState,
        XenstoreMirror,
    };
    use xen_vmm::snapshot::{write_snapshot_version, VmSnapshot};

    /// Guest RAM size the seed VM records (its rings are the top two pages).
    pub const MEM_BYTES: u64 = 4 << 20;
    /// shared_info: a page in a hole.
    pub const SHINFO: u64 = 0xf000_0000;

    /// A 2-vCPU VM with shared_info in a hole page, a registered vcpu_info,
    /// a callback vector, VIRQ_TIMER / IPI / backend ports, timers, a grant
    /// frame, console and xenstore state; memory: the first two pages, the
    /// ring pages and the hole page.
    pub fn state() -> (VmSnapshot, vm_memory::GuestMemoryMmap) {
        let layout = MemoryState {
            regions: vec![
                MemoryRegionState {
                    guest_addr: 0,
                    size: 0x2000,
                },
                MemoryRegionState {
                    guest_addr: MEM_BYTES - 0x2000,
                    size: 0x2000,
                },
                MemoryRegionState {
                    guest_addr: SHINFO,
                    size: 0x1000,
                },
            ],
        };
        let mem = layout.create_guest_memory().expect("guest memory");
        mem.write_slice(b"guest", GuestAddress(0x10)).unwrap();
        let mut s = VmSnapshot {
            memory: layout,
            vcpus: vec![VcpuState::default(), VcpuState::default()],
            ..Default::default()
        };
        s.vcpus[1].id = 1;
        let x = &mut s.xen;
        x.mem_bytes = MEM_BYTES;
        x.long_mode = true;
        x.system_time_ns = 5_000_000_000;
        x.shared_info_gfn = Some(SHINFO >> 12);
        x.callback_param = (2 << 56) | 0xf3;
        x.domid = 1;
        x.vcpus = vec![
            XenVcpuState {
                vcpu_info_gpa: Some(0x1040),
                upcall_vector: 0xe0,
                timer_deadline_ns: Some(5_100_000_000),
                periodic_period_ns: Some(4_000_000),
                periodic_next_ns: 5_002_000_000,
                runstate: 2,
                runstate_entry_ns: 4_000_000_000,
                runstate_time_ns: [3_000_000_000, 0, 1_000_000_000, 0],
                online: true,
                ..Default::default()
            },
            XenVcpuState::default(),
        ];
        x.ports = vec![
            PortState {
                port: 1,
                kind: PortKind::Backend as u8,
                irq: 1,
                ..Default::default()
            },
            PortState {
                port: 2,
                kind: PortKind::Backend as u8,
                irq: 2,
                ..Default::default()
            },
            PortState {
                port: 3,
                kind: PortKind::Virq as u8,
                vcpu: 0,
                irq: 0,
                ..Default::default()
            },
            PortState {
                port: 4,
                kind: PortKind::Ipi as u8,
                vcpu: 1,
                ..Default::default()
            },
        ];
        x.host_ports = vec![
            HostPortMirror {
                id: 1,
                guest_port: Some(1),
            },
            HostPortMirror {
                id: 2,
                guest_port: Some(2),
            },
        ];
        x.deferred_ports = vec![4];
        x.store_port = 1;
        x.console_port = 2;
        let mut params = vec![0u64; xen_abi::HVM_NR_PARAMS as usize];
        params[xen_abi::HVM_PARAM_STORE_PFN as usize] = (MEM_BYTES >> 12) - 2;
        params[xen_abi::HVM_PARAM_STORE_EVTCHN as usize] = 1;
        params[xen_abi::HVM_PARAM_CONSOLE_PFN as usize] = (MEM_BYTES >> 12) - 1;
        params[xen_abi::HVM_PARAM_CONSOLE_EVTCHN as usize] = 2;
        x.hvm_params = params;
        x.console = Some(ConsoleMirror {
            ring_gfn: (MEM_BYTES >> 12) - 1,
            pending_input: b"queued".to_vec(),
            ..Default::default()
        });
        x.xenstore = Some(XenstoreMirror {
            ring_gfn: (MEM_BYTES >> 12) - 2,
            domid: 1,
            nodes: vec![xen_vmm::snapshot::xen_state::XenstoreNode {
                path: "/local/domain/1/name".into(),
                value: b"seed".to_vec(),
                ..Default::default()
            }],
            writable: vec!["/local/domain/1/data".into()],
            partial_request: vec![1, 0, 0, 0],
            ..Default::default()
        });
        x.grant = GrantState {
            version: 1,
            max_frames: 4,
            frames: vec![Some(1)],
            status_frames: Vec::new(),
        };
        x.grant_frame_gpas = vec![Some(0x1000), None, None, None];
        (s, mem)
    }

    /// (name, input) pairs.
    pub fn all() -> Vec<(String, Vec<u8>)> {
        let (state, mem) = state();
        let mut out = Vec::new();
        for v in [FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, FORMAT_V5] {
            let mut file = vec![0u8];
            write_snapshot_version(&mut file, &state, &mem, v).expect("seed snapshot writes");
            out.push((format!("seed-file-v{v}"), file));
            let mut bare = vec![(((v - 1) << 1) | 1) as u8];
            bare.extend(state.encode(v).expect("encode"));
            out.push((format!("seed-state-v{v}"), bare));
        }
        out
    }
}
