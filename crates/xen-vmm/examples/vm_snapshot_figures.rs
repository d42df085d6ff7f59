// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Snapshot size and save/restore time of a real [`Vm`] through
//! `Vm::snapshot` / `Vm::restore`: a raw 64-bit guest writes every page of
//! its RAM, then halts; the VMM snapshots it while its threads run, restores
//! it into a fresh VM and checks the memory came back.
//!
//! Run: `cargo run --release -p xen-vmm --example vm_snapshot_figures [MiB] [FILE] [idle]`
//!
//! With `idle`, the guest writes no page (an idle guest: its snapshot file
//! is all holes but the state and a few pages). Above 3072 MiB, the rest of the
//! RAM is above 4 GiB, out of the guest's identity map: the host writes its
//! first and last page and checks them after the restore.

use std::time::{Duration, Instant};

use iced_x86::code_asm::*;
use vm_lock::Root;
use vm_memory::{Bytes, GuestAddress};
use xen_vmm::{Kernel, Vm, VmConfig};

const LOAD: u64 = 0x10_0000;
const FIRST: u64 = 0x20_0000;
const DONE: u64 = 0x1f_0000;

/// Writes each page's own address in its first 8 bytes, then sets DONE and halts.
fn guest(last: u64) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).expect("assembler");
    let mut top = a.create_label();
    let mut idle = a.create_label();
    a.mov(rdi, FIRST).unwrap();
    a.mov(rcx, last).unwrap();
    a.set_label(&mut top).unwrap();
    a.mov(qword_ptr(rdi), rdi).unwrap();
    a.add(rdi, 4096i32).unwrap();
    a.cmp(rdi, rcx).unwrap();
    a.jb(top).unwrap();
    a.mov(rcx, DONE).unwrap();
    a.mov(qword_ptr(rcx), 1i32).unwrap();
    // Interrupts on: a HLT with them off takes the vCPU down for good.
    a.sti().unwrap();
    a.set_label(&mut idle).unwrap();
    a.hlt().unwrap();
    a.jmp(idle).unwrap();
    a.assemble(LOAD).expect("assemble")
}

fn read_u64(vm: &Vm, gpa: u64) -> u64 {
    let mut root = Root::new().expect("root");
    let (m, _t) = vm.shared().mem.read(root.token());
    m.read_obj(GuestAddress(gpa)).expect("read guest memory")
}

fn write_u64(vm: &Vm, gpa: u64, v: u64) {
    let mut root = Root::new().expect("root");
    let (m, _t) = vm.shared().mem.read(root.token());
    m.write_obj(v, GuestAddress(gpa))
        .expect("write guest memory")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map_or(256, |s| s.parse().expect("MiB"));
    let path = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("xen-vmm-figures.snap"));
    let idle = args.next().is_some_and(|a| a == "idle");
    // The guest writes RAM below 4 GiB (its identity map's reach), up to 62 pages
    // below the rings.
    let last = if idle {
        FIRST
    } else {
        xen_vmm::memory::store_page(mib << 20) - (62 << 12)
    };
    // RAM above 4 GiB (more than 3072 MiB): the host marks its first and last page.
    let high = xen_vmm::memory::ram_above_4g(mib << 20)
        .map(|(start, len)| [start, start + len - 4096])
        .unwrap_or_default();
    let mut cfg = VmConfig::new(Kernel::Raw64(guest(last)));
    cfg.mem_mib = mib;
    cfg.vcpus = 2;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).expect("VM");
    std::thread::scope(|s| {
        s.spawn(|| vm.run().expect("run"));
        let start = Instant::now();
        while read_u64(&vm, DONE) == 0 {
            assert!(start.elapsed() < Duration::from_secs(120), "guest stuck");
            std::thread::sleep(Duration::from_millis(10));
        }
        for gpa in high.into_iter().filter(|&g| g != 0) {
            write_u64(&vm, gpa, gpa);
        }
        let t = Instant::now();
        let stats = {
            let mut root = Root::new().expect("root");
            vm.snapshot(root.token(), &path).expect("snapshot")
        };
        let save = t.elapsed();
        vm.shared().finish(xen_vmm::ExitReason::Shutdown(0));
        let t = Instant::now();
        let restored = Vm::restore(&path, Box::new(std::io::sink())).expect("restore");
        let restore = t.elapsed();
        if !idle {
            for gpa in [FIRST, FIRST + 0x10_0000, last - 4096] {
                assert_eq!(read_u64(&restored, gpa), gpa, "page {gpa:#x}");
            }
        }
        assert_eq!(read_u64(&restored, DONE), 1, "the guest's flag came back");
        for gpa in high.into_iter().filter(|&g| g != 0) {
            assert_eq!(read_u64(&restored, gpa), gpa, "page {gpa:#x} above 4 GiB");
        }
        println!(
            "guest {mib} MiB, 2 vCPUs: file {} bytes (state {} bytes, memory {} bytes); \
             Vm::snapshot {:.1} ms, Vm::restore {:.1} ms",
            stats.file_len,
            stats.state_len,
            stats.memory_len,
            save.as_secs_f64() * 1e3,
            restore.as_secs_f64() * 1e3
        );
    });
    let _ = std::fs::remove_file(&path);
}
