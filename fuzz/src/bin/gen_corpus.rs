// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Writes seed inputs for every fuzz target into `corpus/<target>/` (or `<dir>/<target>/`
//! when a directory is given): `cargo run --bin gen_corpus [-- <dir>]`.
//!
//! Seeds are well-formed inputs that reach deep code at once: every hypercall and sub-op
//! for 64- and 32-bit guests with its argument struct in guest RAM (so that it passes the
//! sub-op switch), every hypercall number, guest scenarios; event-channel scenarios (IPIs,
//! loopback and backend channels, VIRQs, masking, polling, snapshots); snapshot files and
//! bare state sections of every format version; xenstore and console ring sessions; PVH and
//! raw kernel images; grant-table backend sessions; blkif ring sessions.

use std::fs;
use std::path::{Path, PathBuf};

use xen_on_kvm_fuzz::evtchn_input::seed::{code::*, op};
use xen_on_kvm_fuzz::evtchn_input::OP_LEN;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
}

/// `hypercall_dispatch`: one seed per hypercall and sub-op (both widths), every
/// hypercall number, guest scenarios (`platform_seeds`).
fn hypercall_seeds(dir: &Path) -> usize {
    let seeds = xen_on_kvm_fuzz::platform_seeds::all();
    for s in &seeds {
        write(dir, &s.name, &s.data);
    }
    seeds.len()
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

/// `snapshot_load`: whole files and bare state sections of a small VM with Xen state set
/// up, every format version.
fn snapshot_seeds(dir: &Path) -> usize {
    let seeds = xen_on_kvm_fuzz::snapshot_restore::seed::all();
    for (name, data) in &seeds {
        write(dir, name, data);
    }
    seeds.len()
}

/// `xenstore_ring`: each request type, sessions, back-pressure, resyncs.
fn xenstore_seeds(dir: &Path) -> usize {
    let seeds = xen_on_kvm_fuzz::ring_ops::seed::xenstore();
    for (name, data) in &seeds {
        write(dir, name, data);
    }
    seeds.len()
}

/// `console_ring`: output, input, `CONSOLEIO_read`, bad indices, Xen's console.
fn console_seeds(dir: &Path) -> usize {
    let seeds = xen_on_kvm_fuzz::ring_ops::seed::console();
    for (name, data) in &seeds {
        write(dir, name, data);
    }
    seeds.len()
}

/// Writes `(name, input)` seeds.
fn write_all(dir: &Path, seeds: Vec<(&'static str, Vec<u8>)>) -> usize {
    for (name, data) in &seeds {
        write(dir, name, data);
    }
    seeds.len()
}

/// `boot_loader`: PVH ELF32/ELF64 images, a truncated one, raw images.
fn loader_seeds(dir: &Path) -> usize {
    write_all(dir, xen_on_kvm_fuzz::loader_ops::seed::all())
}

/// `grant_backend`: v1 and v2 backend sessions, a hostile rewrite while mapped.
fn grant_seeds(dir: &Path) -> usize {
    write_all(dir, xen_on_kvm_fuzz::grant_ops::seed::all())
}

/// `blkif_ring`: good reads (both ABIs), a write, malformed requests, an overflow.
fn blk_seeds(dir: &Path) -> usize {
    write_all(dir, xen_on_kvm_fuzz::blk_ops::seed::all())
}

fn main() {
    let base = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    type Gen = fn(&Path) -> usize;
    let targets: [(&str, Gen); 8] = [
        ("hypercall_dispatch", hypercall_seeds),
        ("evtchn_ops", evtchn_seeds),
        ("snapshot_load", snapshot_seeds),
        ("xenstore_ring", xenstore_seeds),
        ("console_ring", console_seeds),
        ("boot_loader", loader_seeds),
        ("grant_backend", grant_seeds),
        ("blkif_ring", blk_seeds),
    ];
    for (target, gen) in targets {
        let dir = base.join(target);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let n = gen(&dir);
        println!("{target}: {n} seeds in {}", dir.display());
    }
}
