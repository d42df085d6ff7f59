// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Random hostile guests on KVM: generated from a fixed seed, 64- and
//! 32-bit, one or two vCPUs, each issues a few dozen hypercalls with random
//! numbers (known ones mostly, any 32-bit number too), random sub-ops and
//! arguments, and argument structs whose fields are random values, small
//! numbers, `DOMID_SELF`, guest frames and pointers (into RAM, at its top
//! edge, unaligned, into holes, huge, non-canonical). The VMM must not
//! panic or fail, must not hang, and the VM must end with a documented
//! status: the guest's `SCHEDOP_shutdown` reason, or a crash when the guest
//! broke itself (e.g. placed shared_info over its own page tables).
//!
//! `XEN_HOSTILE_GUESTS=N` runs N guests instead of the default
//! [`DEFAULT_GUESTS`] (a longer run for a nightly step);
//! `XEN_HOSTILE_SEED=S` changes the seed.

mod common;

use std::time::{Duration, Instant};

use common::*;
use iced_x86::code_asm::*;
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

/// Guests per run by default (bounded for CI).
const DEFAULT_GUESTS: u64 = 24;
/// Hypercalls per guest.
const CALLS: usize = 48;
/// Guest RAM (MiB).
const MEM_MIB: u64 = 64;
/// Results: one u64 per call.
const RES: u64 = DATA + 0x1000;
/// The hypercall numbers the VMM knows.
const KNOWN: [u64; 10] = [12, 15, 17, 18, 20, 21, 24, 29, 32, 34];

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

/// A pointer argument.
fn pointer(r: &mut Rng, bits32: bool) -> u64 {
    let top = MEM_MIB << 20;
    let p = match r.below(10) {
        0..=4 => ARGS + r.below(0x800),
        5 => ARGS + 1 + 2 * r.below(16), // unaligned
        6 => top - 1 - r.below(64),      // the top edge of RAM
        7 => r.pick(&[0xf000_0000, 0xfee0_0000, top, 0x9_f000]), // holes
        8 => r.pick(&[u64::MAX, 1 << 63, 0x0000_8000_0000_0000, 0]),
        _ => r.next(),
    };
    if bits32 {
        p & 0xffff_ffff
    } else {
        p
    }
}

/// A field of an argument struct.
fn field(r: &mut Rng, bits32: bool) -> u64 {
    match r.below(12) {
        0 => 0,
        1 => r.below(8),
        2 => r.below(4096),
        3 => 0x7ff0 | (r.below(40) << 32), // DOMID_SELF, a small index
        4 => pointer(r, bits32),
        5 => (ARGS >> 12) + r.below(2), // a frame of the scratch area
        6 => r.pick(&[0xf_0000, 0xf_0001, 0x4000, 0x3fff]), // hole / top-of-RAM frames
        7 => u64::from(u32::MAX) - r.below(2),
        8 => (2 << 56) | (0x10 + r.below(0xf0)), // a callback vector
        9 => 1_000_000 + r.below(1 << 40),       // a time in ns
        _ => r.next(),
    }
}

/// Emits `mov r64/r32, v` for argument `i`.
fn arg(g: &mut Guest, i: usize, v: u64) {
    if g.bits == 64 {
        g.a.mov([rdi, rsi, rdx][i], v).unwrap();
    } else {
        g.a.mov([ebx, ecx, edx][i], v as u32).unwrap();
    }
}

/// A random hostile guest.
fn guest(r: &mut Rng, bits32: bool) -> Vec<u8> {
    let mut g = if bits32 {
        Guest::new32()
    } else {
        Guest::new64()
    };
    g.hypercall_page();
    for i in 0..CALLS {
        // The argument struct: 8 random fields.
        for f in 0..8u64 {
            let v = field(r, bits32);
            g.store64(ARGS + 8 * f, v);
        }
        let nr = match r.below(10) {
            0..=7 => r.pick(&KNOWN),
            8 => r.below(64),
            _ => r.next() & 0xffff_ffff,
        };
        let valid: &[u64] = match nr {
            12 => &[7, 9],
            17 => &[0, 1, 2, 3, 4, 6, 7],
            18 => &[0, 1],
            20 => &[2, 6, 8, 10],
            21 => &[0, 1],
            24 => &[5, 6, 7, 8, 9, 10, 13],
            29 => &[0, 2],
            32 => &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            34 => &[0, 1, 23],
            _ => &[],
        };
        let mut cmd = match r.below(8) {
            0 => r.next(),
            1 => r.below(24),
            _ if !valid.is_empty() => r.pick(valid),
            _ => field(r, bits32),
        };
        if nr == 29 {
            // No SCHEDOP_block / poll (nothing wakes this guest) and few
            // shutdowns (they end the run early).
            cmd = match cmd as u32 {
                1 | 3 => 0,
                2 if r.below(8) != 0 => 0,
                _ => cmd,
            };
        }
        arg(&mut g, 0, cmd);
        let a1 = if r.below(3) == 0 {
            field(r, bits32)
        } else {
            pointer(r, bits32)
        };
        arg(&mut g, 1, a1);
        let a2 = if r.below(2) == 0 {
            ARGS
        } else {
            field(r, bits32)
        };
        arg(&mut g, 2, a2);
        if nr < 128 && r.below(2) == 0 {
            g.call(nr);
        } else {
            // The stub inline, for any number.
            g.a.mov(eax, nr as u32).unwrap();
            g.a.out(0x88, eax).unwrap();
        }
        g.store_result(RES + 8 * i as u64);
    }
    g.shutdown(0);
    g.assemble()
}

/// Runs one guest; returns how it ended and its hypercall results. A VMM
/// error, a panic or a hang fails the test.
fn run(image: Vec<u8>, bits32: bool, vcpus: u32, n: u64) -> (ExitReason, Vec<i64>) {
    let kernel = if bits32 {
        Kernel::Raw32(image)
    } else {
        Kernel::Raw64(image)
    };
    let mut cfg = VmConfig::new(kernel);
    cfg.vcpus = vcpus;
    cfg.mem_mib = MEM_MIB;
    cfg.output = Box::new(std::io::sink());
    let vm = Vm::new(cfg).expect("VM creation");
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        let start = Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(60) {
                vm.shared().finish(ExitReason::Crash);
                let _ = h.join();
                panic!("guest {n} ({vcpus} vCPUs, 32-bit: {bits32}) hangs the VMM");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        h.join().expect("Vm::run panicked")
    });
    assert!(
        vm.shared().vmm_failure().is_none(),
        "guest {n}: {:?}",
        vm.shared().vmm_failure()
    );
    let reason =
        r.unwrap_or_else(|e| panic!("guest {n} ({vcpus} vCPUs, 32-bit: {bits32}): VMM error: {e}"));
    let mut root = vm_lock::Root::new().unwrap();
    let (m, _t) = vm.shared().mem.read(root.token());
    let results = (0..CALLS as u64)
        .map(|i| {
            let v: u64 =
                vm_memory::Bytes::read_obj(&*m, vm_memory::GuestAddress(RES + 8 * i)).unwrap();
            if bits32 {
                i64::from(v as u32 as i32)
            } else {
                v as i64
            }
        })
        .collect();
    (reason, results)
}

#[test]
fn random_hostile_guests_end_with_documented_statuses() {
    if !require_kvm() {
        return;
    }
    let guests = std::env::var("XEN_HOSTILE_GUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_GUESTS);
    let seed = std::env::var("XEN_HOSTILE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x005e_ed0f_6e57);
    let mut r = Rng(seed | 1);
    let (mut shutdowns, mut crashes) = (0, 0);
    // Results by errno (0: success or a positive value).
    let mut by_result = std::collections::BTreeMap::<i64, u64>::new();
    for n in 0..guests {
        let bits32 = n % 2 == 1;
        let vcpus = 1 + (n / 2 % 2) as u32;
        let image = guest(&mut r, bits32);
        let (reason, results) = run(image, bits32, vcpus, n);
        for v in results {
            *by_result.entry(v.min(0)).or_default() += 1;
        }
        match reason {
            // The guest's SCHEDOP_shutdown reason, as a u8.
            ExitReason::Shutdown(reason) => {
                assert!(reason <= 0xff, "guest {n}: reason {reason}");
                shutdowns += 1;
            }
            // A triple fault of the guest's own making (reported as a VMM-side
            // stop since exit status 71 exists).
            ExitReason::Crash | ExitReason::VmmError => crashes += 1,
        }
    }
    eprintln!(
        "{guests} hostile guests (seed {seed:#x}): {shutdowns} shut down, {crashes} crashed \
         themselves, {} hypercalls; results by errno (0: success): {by_result:?}",
        guests * CALLS as u64
    );
    // The arguments reach the handlers: successes and several errnos.
    assert!(by_result.get(&0).copied().unwrap_or(0) > 0, "{by_result:?}");
    assert!(by_result.len() >= 4, "{by_result:?}");
    assert_eq!(shutdowns + crashes, guests);
    // Most guests run to their end: the VMM survives what they do.
    assert!(shutdowns * 2 >= guests, "{shutdowns} of {guests}");
}
