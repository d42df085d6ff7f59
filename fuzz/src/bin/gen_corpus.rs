// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Writes seed inputs for every fuzz target into `corpus/<target>/` (or `<dir>/<target>/`
//! when a directory is given): `cargo run --bin gen_corpus [-- <dir>]`.
//!
//! Seeds are well-formed inputs that reach deep code at once: every hypercall number for
//! 64- and 32-bit guests with pointers into guest RAM; event-channel scenarios (IPIs,
//! loopback and backend channels, VIRQs, masking, polling, snapshots); complete snapshot
//! files of both format versions and bare state sections for the re-sealing path.

use std::fs;
use std::path::{Path, PathBuf};

use xen_on_kvm_fuzz::evtchn_input::seed::{code::*, op};
use xen_on_kvm_fuzz::evtchn_input::OP_LEN;
use xen_vmm::snapshot::format::{FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, HEADER_LEN};
use xen_vmm::snapshot::kvm_state::VcpuState;
use xen_vmm::snapshot::memory::{MemoryRegionState, MemoryState};
use xen_vmm::snapshot::xen_state::XenVcpuState;
use xen_vmm::snapshot::{write_snapshot_version, VmSnapshot};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
}

/// `hypercall_dispatch`: flags, nr, six u64 args, GVA page offset, guest memory.
fn hypercall_seeds(dir: &Path) -> usize {
    let mut n = 0;
    for nr in 0u8..48 {
        for flags in [0u8, 1, 2, 4, 8] {
            let mut s = vec![flags, nr];
            // Args: a pointer into RAM (0x1000), a count, a small command, zeros.
            for a in [0x1000u64, 1, 0, 0x2000, 0, 0] {
                s.extend_from_slice(&a.to_le_bytes());
            }
            s.push(0);
            // Guest memory: a recognisable pattern with small values (counts, ports).
            s.extend((0..0x3000u32).map(|i| if i % 8 == 0 { (i / 8) as u8 & 7 } else { 0 }));
            write(dir, &format!("seed-nr{nr}-f{flags}"), &s);
            n += 1;
        }
    }
    n
}

/// A named `evtchn_ops` seed: header and operations.
type Script = (&'static str, [u8; 4], Vec<[u8; OP_LEN]>);

/// `evtchn_ops`: a header and a script of operations.
fn evtchn_seeds(dir: &Path) -> usize {
    let scripts: Vec<Script> = vec![
        (
            "ipi",
            [0, 0, 16, 0],
            vec![
                op(BIND_IPI, 0, 1, 0),  // port 1 -> vCPU 1
                op(SEND, 1, 0, 0),      // raise
                op(SEND, 1, 0, 0),      // already pending
                op(GUEST_ACK, 0, 1, 0), // guest handles it
                op(STATUS, 1, 0, 0),    // IPI on vCPU 1
                op(CLOSE, 1, 0, 0),     // closed, pending cleared
                op(STATUS, 1, 0, 0),    // closed
            ],
        ),
        (
            "loopback",
            [0, 0, 0, 0],
            vec![
                op(ALLOC_UNBOUND, 0, 0, 0),    // port 1 for DOMID_SELF
                op(BIND_INTERDOMAIN, 1, 0, 0), // port 2 <-> port 1
                op(SEND, 2, 0, 0),
                op(SEND, 1, 0, 0),
                op(BIND_VCPU, 1, 2, 0),
                op(CLOSE, 2, 0, 0),
                op(STATUS, 1, 0, 0), // back to unbound
                op(SNAPSHOT, 0, 0, 0),
            ],
        ),
        (
            "backend",
            [0, 0, 0, 0],
            vec![
                [ALLOC_UNBOUND, 0, 1, 0, 0],     // port 1 offered to domain 0
                op(HOST_BIND, 1, 0, 0),          // backend binds it (id 1)
                op(SEND, 1, 0, 0),               // guest -> backend eventfd
                op(HOST_SEND, 1, 0, 0),          // backend -> guest
                op(HOST_ALLOC_UNBOUND, 0, 0, 0), // id 2
                [BIND_INTERDOMAIN, 2, 0, 1, 0],  // guest binds host id 2
                op(HOST_SEND, 2, 0, 0),
                op(SNAPSHOT, 0, 0, 0),
                op(HOST_CLOSE, 1, 0, 0),
                op(STATUS, 1, 0, 0),
            ],
        ),
        (
            "virq-mask",
            [0, 0, 0, 0],
            vec![
                op(BIND_VIRQ, 0, 0, 0),        // VIRQ_TIMER on vCPU 0
                [SET_CALLBACK, 1, 0xf2, 0, 0], // callback vector 0xf2
                [GUEST_SET_BIT, 1, 0, 3, 0],   // guest masks port 1
                op(RAISE_VIRQ, 0, 0, 0),       // pending, masked
                op(UNMASK, 1, 0, 0),           // delivers now
                op(GUEST_ACK, 0, 0, 0),
                op(RAISE_VIRQ, 0, 0, 0),
                [SET_UPCALL_VECTOR, 0, 0xf3, 0, 0], // vCPU 0 vector 0xf3
                op(VCPU_INFO_MOVED, 0, 0, 0),
            ],
        ),
        (
            "pirq-poll",
            [1, 0, 8, 0], // 32-bit guest, 32 PIRQs
            vec![
                op(BIND_PIRQ, 0, 5, 0),
                op(BIND_IPI, 0, 2, 0),
                [POLL, 2, 2, 1, 0], // vCPU 2 polls ports 1, 2
                op(RAISE_PIRQ, 0, 5, 0),
                op(SET_PENDING, 2, 0, 0),
                op(RESET, 0, 0, 0),
                op(FIFO, 0, 0, 0),
            ],
        ),
        (
            "no-shinfo",
            [4, 0, 0, 0],
            vec![
                op(BIND_IPI, 0, 0, 0),
                op(SEND, 1, 0, 0),
                op(UNMASK, 1, 0, 0),
                [POLL, 0, 1, 1, 0],
                op(SNAPSHOT, 0, 0, 0),
            ],
        ),
        (
            "vcpu-no-vcpu-info",
            [0, 0, 0, 0],
            vec![
                // vCPU 33 (edge value index 3) has no vcpu_info in shared_info.
                [BIND_IPI, 0, 0, 0x83, 0],
                op(SEND, 1, 0, 0),
                [VCPU_INFO_MOVED, 0, 0, 0x83, 0],
            ],
        ),
    ];
    for (name, header, ops) in &scripts {
        let mut s = header.to_vec();
        for o in ops {
            s.extend_from_slice(o);
        }
        write(dir, &format!("seed-{name}"), &s);
    }
    scripts.len()
}

fn snapshot_state() -> (VmSnapshot, vm_memory::GuestMemoryMmap) {
    let region = MemoryRegionState {
        guest_addr: 0,
        size: 0x4000,
    };
    let layout = MemoryState {
        regions: vec![region],
    };
    let mem = layout.create_guest_memory().expect("guest memory");
    let mut state = VmSnapshot {
        memory: layout,
        vcpus: vec![VcpuState::default(), VcpuState::default()],
        ..Default::default()
    };
    state.vcpus[1].id = 1;
    state.xen.vcpus.push(XenVcpuState::default());
    state.xen.vcpus.push(XenVcpuState::default());
    (state, mem)
}

/// `snapshot_load`: whole files (every version) and `[48 bytes] + state` for re-sealing.
fn snapshot_seeds(dir: &Path) -> usize {
    let (state, mem) = snapshot_state();
    state.validate().expect("seed state is valid");
    let mut n = 0;
    for v in [FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4] {
        let mut file = Vec::new();
        write_snapshot_version(&mut file, &state, &mem, v).expect("write snapshot");
        xen_vmm::snapshot::parse(&file).expect("seed snapshot parses");
        write(dir, &format!("seed-file-v{v}"), &file);
        let mut sealed = vec![0u8; HEADER_LEN];
        sealed.extend(state.encode(v).expect("encode"));
        write(dir, &format!("seed-state-v{v}"), &sealed);
        n += 2;
    }
    n
}

fn main() {
    let base = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    type Gen = fn(&Path) -> usize;
    let targets: [(&str, Gen); 3] = [
        ("hypercall_dispatch", hypercall_seeds),
        ("evtchn_ops", evtchn_seeds),
        ("snapshot_load", snapshot_seeds),
    ];
    for (target, gen) in targets {
        let dir = base.join(target);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let n = gen(&dir);
        println!("{target}: {n} seeds in {}", dir.display());
    }
}
