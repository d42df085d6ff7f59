// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Input layout and harness of the `hypercall_dispatch` target: a script of
//! guest and host operations run against the real Xen personality
//! (`XenPlatform::on_hypercall` and the entry points a VMM calls), over
//! guest memory of three regions with holes between them, for a 2-vCPU VM.
//!
//! Header: 1 byte, bit 0 = the VMM refuses to add pages in holes
//! (`Retry::PageRefused`); otherwise it adds up to [`MAX_EXTRA_PAGES`];
//! bit 1 = a snapshot round trip at the end too (a round trip costs as much
//! as a long script: the fuzzer chooses when it is worth it).
//!
//! Then up to [`MAX_OPS`] operations, each an opcode byte (modulo
//! [`NR_OPCODES`]) and its operands (missing bytes read as 0):
//! * 0 hypercall: `vcpu` u8 (mod 2), `mode` u8 (bit 0 32-bit, bit 1 paging,
//!   bit 2 CPL 3), `nr` u8 (any number; 0xff takes the 6th argument as the
//!   full 64-bit number), six u64 arguments. With paging, guest-virtual
//!   addresses are [`PAGING_BASE`] + guest-physical (others fault);
//! * 1 guest write: `gpa` u64, `len` u16 (mod 4097), the bytes;
//! * 2 timer fired: `vcpu` u8, `kind` u8 (bit 0: periodic);
//! * 3 host console input: `len` u8, the bytes;
//! * 4 MSR write: `vcpu` u8, `long_mode` u8, `value` u64 (hypercall page);
//! * 5 runstate change: `vcpu` u8, `state` u8;
//! * 6 clock: `ns` u32 (Xen time moves on by it, times 1024);
//! * 7 run the backends: `which` u8 (0 console, 1 xenstore, else both);
//! * 8 snapshot round trip: `state()` then `restore()` of it, which must
//!   succeed (a running platform's state is reachable), and go on with the
//!   restored platform. At most [`MAX_ROUND_TRIPS`] per input (later ones
//!   are skipped): a round trip costs as much as a whole script, and a
//!   second one in the same input finds no code the first did not.
//!
//! Invariants besides "never panic": a 32-bit guest's result fits in 32
//! bits; a negative result is an errno; a `MapPage` is never asked after
//! the VMM refused one, nor twice for the same page within a hypercall (a
//! batch asks for its pages one at a time); every state the platform
//! reaches restores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vm_lock::{MemoryMap, Root};
use vm_memory::{GuestAddress, GuestAddressSpace, GuestMemoryBackend, GuestMemoryMmap};
use xen_hypercall::HypercallRegs;
use xen_platform::{
    HypercallExit, PlatformConfig, PlatformState, Retry, TimerKind, TscReading, VcpuAccess,
    XenHost, XenPlatform,
};

/// RAM region 0: arguments and data.
pub const R0: (u64, u64) = (0, 0x4_0000);
/// RAM region 1: the console and xenstore rings are its top two pages.
pub const R1: (u64, u64) = (0x10_0000, 0x2_0000);
/// RAM region 2: one range above 4 GiB.
pub const R2: (u64, u64) = (0x1_0000_0000, 0x2000);
/// Guest frame of the console ring.
pub const CONSOLE_GFN: u64 = (R1.0 + R1.1) / 4096 - 1;
/// Guest frame of the xenstore ring.
pub const STORE_GFN: u64 = (R1.0 + R1.1) / 4096 - 2;
/// vCPUs.
pub const NR_VCPUS: u32 = 2;
/// Operations per input at most.
pub const MAX_OPS: usize = 64;
/// Round trips (opcode 8) per input at most; the final one is apart.
pub const MAX_ROUND_TRIPS: usize = 1;
/// Pages the VMM adds in holes at most.
pub const MAX_EXTRA_PAGES: usize = 8;
/// Number of opcodes.
pub const NR_OPCODES: u8 = 9;
/// With paging, guest-virtual = this + guest-physical.
pub const PAGING_BASE: u64 = 0xffff_8000_0000_0000;
/// Guest physical address bits (pages may be added below 2^36).
pub const PHYS_BITS: u8 = 36;

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A hypercall.
    Hypercall {
        /// Calling vCPU.
        vcpu: u32,
        /// 32-bit guest.
        bits32: bool,
        /// Paging on (pointers are virtual).
        paging: bool,
        /// CPL 3 (refused with -EPERM).
        user: bool,
        /// Hypercall number.
        nr: u64,
        /// Arguments.
        args: [u64; 6],
    },
    /// The guest writes its memory (ignored where there is none).
    Write {
        /// Where.
        gpa: u64,
        /// What.
        bytes: Vec<u8>,
    },
    /// A host timer fired.
    TimerFired {
        /// vCPU.
        vcpu: u32,
        /// Periodic (else single-shot).
        periodic: bool,
    },
    /// Host console input.
    ConsoleInput(Vec<u8>),
    /// The guest writes the hypercall MSR.
    MsrWrite {
        /// vCPU.
        vcpu: u32,
        /// In long mode.
        long_mode: bool,
        /// The value (page address).
        value: u64,
    },
    /// A vCPU changes runstate.
    Runstate {
        /// vCPU.
        vcpu: u32,
        /// `RUNSTATE_*` (any value).
        state: u32,
    },
    /// Time passes.
    Clock(u64),
    /// The VMM runs the backends (`None`: both).
    RunBackends(Option<xen_platform::Backend>),
    /// Snapshot and restore.
    RoundTrip,
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b.to_vec()
    }
}

/// A decoded input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The VMM refuses to add pages.
    pub refuse_pages: bool,
    /// A snapshot round trip after the last operation.
    pub final_round_trip: bool,
    /// The operations.
    pub ops: Vec<Op>,
}

impl Program {
    /// Decodes `data` (never fails).
    pub fn parse(data: &[u8]) -> Program {
        let mut c = Cursor(data);
        let header = c.u8();
        let refuse_pages = header & 1 != 0;
        let final_round_trip = header & 2 != 0;
        let mut ops = Vec::new();
        while !c.0.is_empty() && ops.len() < MAX_OPS {
            let op = match c.u8() % NR_OPCODES {
                0 => {
                    let vcpu = u32::from(c.u8()) % NR_VCPUS;
                    let mode = c.u8();
                    let nr = c.u8();
                    let mut args = [0u64; 6];
                    for a in &mut args {
                        *a = c.u64();
                    }
                    Op::Hypercall {
                        vcpu,
                        bits32: mode & 1 != 0,
                        paging: mode & 2 != 0,
                        user: mode & 4 != 0,
                        nr: if nr == 0xff { args[5] } else { u64::from(nr) },
                        args,
                    }
                }
                1 => {
                    let gpa = c.u64();
                    let len = usize::from(c.u16()) % 4097;
                    Op::Write {
                        gpa,
                        bytes: c.bytes(len),
                    }
                }
                2 => Op::TimerFired {
                    vcpu: u32::from(c.u8()) % NR_VCPUS,
                    periodic: c.u8() & 1 != 0,
                },
                3 => {
                    let len = usize::from(c.u8());
                    Op::ConsoleInput(c.bytes(len))
                }
                4 => Op::MsrWrite {
                    vcpu: u32::from(c.u8()) % NR_VCPUS,
                    long_mode: c.u8() & 1 != 0,
                    value: c.u64(),
                },
                5 => Op::Runstate {
                    vcpu: u32::from(c.u8()) % NR_VCPUS,
                    state: u32::from(c.u8()),
                },
                6 => Op::Clock(u64::from(c.u32()) << 10),
                7 => Op::RunBackends(match c.u8() {
                    0 => Some(xen_platform::Backend::Console),
                    1 => Some(xen_platform::Backend::Store),
                    _ => None,
                }),
                _ => Op::RoundTrip,
            };
            ops.push(op);
        }
        Program {
            refuse_pages,
            final_round_trip,
            ops,
        }
    }
}

/// A host with a clock the script moves (deterministic) and no timers.
#[derive(Debug)]
pub struct FakeHost {
    now: AtomicU64,
}

impl FakeHost {
    /// Starts at 1 s.
    pub fn new() -> Self {
        FakeHost {
            now: AtomicU64::new(1_000_000_000),
        }
    }
    fn advance(&self, ns: u64) {
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ns))
            });
    }
}

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl XenHost for FakeHost {
    fn monotonic_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    /// vCPUs come up (`VCPUOP_up`), so that up / down / is_up are reached.
    fn vcpu_up(&self, _vcpu: u32) -> bool {
        true
    }
}

/// The calling vCPU: paging maps [`PAGING_BASE`] + gpa, a 2 GHz TSC.
#[derive(Debug)]
pub struct FakeVcpu<'a> {
    host: &'a FakeHost,
}

impl<'a> FakeVcpu<'a> {
    /// A vCPU whose TSC follows `host`'s clock.
    pub fn new(host: &'a FakeHost) -> Self {
        FakeVcpu { host }
    }
}

impl VcpuAccess for FakeVcpu<'_> {
    fn translate_gva(&mut self, gva: u64) -> Option<u64> {
        gva.checked_sub(PAGING_BASE)
    }
    fn tsc(&mut self) -> Option<TscReading> {
        Some(TscReading {
            tsc: self.host.monotonic_ns().wrapping_mul(2),
            khz: 2_000_000,
        })
    }
}

/// The guest memory: three regions with holes.
pub fn guest_memory() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[
        (GuestAddress(R0.0), R0.1 as usize),
        (GuestAddress(R1.0), R1.1 as usize),
        (GuestAddress(R2.0), R2.1 as usize),
    ])
    .expect("guest memory")
}

/// The platform's configuration for [`guest_memory`].
pub fn config() -> PlatformConfig {
    let mut c = PlatformConfig::new(NR_VCPUS, R0.1 + R1.1 + R2.1);
    c.memory_map = [R0, R1, R2]
        .iter()
        .map(|&(addr, size)| xen_abi::E820Entry {
            addr,
            size,
            kind: xen_abi::E820_RAM,
        })
        .collect();
    c.console_gfn = CONSOLE_GFN;
    c.store_gfn = STORE_GFN;
    c.phys_addr_bits = PHYS_BITS;
    c
}

/// What a run did (for the seed tests).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Per hypercall: number and result as a signed value of the guest's width.
    pub results: Vec<(u64, i64)>,
    /// Pages added in holes.
    pub pages_added: usize,
    /// Snapshot round trips done.
    pub round_trips: usize,
}

fn restore(
    p: &XenPlatform,
    host: &Arc<FakeHost>,
    s: &PlatformState,
) -> xen_platform::Result<XenPlatform> {
    XenPlatform::restore(
        p.config().clone(),
        p.memory().clone(),
        host.clone(),
        Box::new(std::io::sink()),
        s,
    )
}

/// Takes the state, restores it (it must restore: a running platform
/// reached it) and checks the restored platform has the same state (but
/// for console input, which the restore delivers). The
/// calling thread holds no lock root (restore makes its own).
fn round_trip(p: &XenPlatform, host: &Arc<FakeHost>) -> XenPlatform {
    let s = p.state(Root::new().expect("lock root").token());
    let r = restore(p, host, &s)
        .unwrap_or_else(|e| panic!("a state the platform reached does not restore: {e}"));
    let s2 = r.state(Root::new().expect("lock root").token());
    assert_eq!(s2.pages, s.pages, "page placement changed by a restore");
    assert_eq!(s2.gnttab, s.gnttab, "grant table changed by a restore");
    assert_eq!(s2.store, s.store, "xenstore changed by a restore");
    // Queued console input is delivered by the restore (into the ring):
    // what is left is what did not fit, from the end of the queue. That
    // delivery may find ring indices the guest broke since the input was
    // queued: one more guest error, and only then (long-run crash-c33994a2).
    assert_eq!(
        (s2.console.ring_gfn, s2.console.dropped_input),
        (s.console.ring_gfn, s.console.dropped_input),
        "console changed by a restore"
    );
    let delivered = !s.console.pending_input.is_empty();
    assert!(
        s2.console.guest_errors == s.console.guest_errors
            || (delivered && s2.console.guest_errors == s.console.guest_errors + 1),
        "console guest errors {} -> {} by a restore",
        s.console.guest_errors,
        s2.console.guest_errors
    );
    assert!(
        s.console.pending_input.ends_with(&s2.console.pending_input),
        "console input changed by a restore"
    );
    assert_eq!(s2.xen.vcpus, s.xen.vcpus, "vCPU state changed by a restore");
    assert_eq!(s2.xen.params, s.xen.params, "params changed by a restore");
    assert_eq!(s2.xen.grant_frames, s.xen.grant_frames);
    r
}

/// Runs one input.
pub fn run(data: &[u8]) -> Stats {
    let prog = Program::parse(data);
    let host = Arc::new(FakeHost::new());
    let mem = MemoryMap::new(guest_memory());
    let mut p =
        XenPlatform::new(config(), mem, host.clone(), Box::new(std::io::sink())).expect("platform");
    let mut stats = Stats::default();
    for op in prog.ops {
        host.advance(1_000);
        if op == Op::RoundTrip {
            if stats.round_trips == MAX_ROUND_TRIPS {
                continue;
            }
            p = round_trip(&p, &host);
            stats.round_trips += 1;
            continue;
        }
        let mut root = Root::new().expect("lock root");
        match op {
            Op::Hypercall {
                vcpu,
                bits32,
                paging,
                user,
                nr,
                args,
            } => {
                let cpl = if user { 3 } else { 0 };
                let [a, b, c, d, e, f] = args;
                let regs = if bits32 {
                    HypercallRegs::from_regs32(cpl, nr, a, b, c, d, e, f)
                } else {
                    HypercallRegs::from_regs64(cpl, nr, a, b, c, d, e, f)
                };
                let mut retry = Retry::No;
                let mut asked: Vec<u64> = Vec::new();
                let rax = loop {
                    let mut access = FakeVcpu::new(&host);
                    let exit =
                        p.on_hypercall(root.token(), vcpu, &regs, paging, &mut access, retry);
                    match exit {
                        HypercallExit::MapPage { gpa } => {
                            // A batch asks again for its next page once one is
                            // added; never after a refusal, never twice the same.
                            assert!(retry != Retry::PageRefused, "MapPage after PageRefused");
                            assert!(!asked.contains(&gpa), "MapPage {gpa:#x} asked twice");
                            asked.push(gpa);
                            retry = if prog.refuse_pages || stats.pages_added >= MAX_EXTRA_PAGES {
                                Retry::PageRefused
                            } else {
                                let current: GuestMemoryMmap =
                                    (*p.memory().atomic().memory()).clone();
                                assert!(
                                    !current.address_in_range(GuestAddress(gpa)),
                                    "MapPage for RAM at {gpa:#x}"
                                );
                                match xen_vmm::memory::with_extra_page(&current, gpa) {
                                    Ok((new, _)) => {
                                        p.memory().replace(root.token(), new);
                                        stats.pages_added += 1;
                                        Retry::PageAdded
                                    }
                                    Err(_) => Retry::PageRefused,
                                }
                            };
                        }
                        HypercallExit::Resume { rax } | HypercallExit::Shutdown { rax, .. } => {
                            break rax
                        }
                        HypercallExit::Block { rax, wait } => {
                            let _ = p.wait_ready(root.token(), vcpu, &wait);
                            let _ = p.wait_timeout_ns(&wait);
                            p.wait_end(vcpu, &wait);
                            break rax;
                        }
                        other => panic!("unknown exit {other:?}"),
                    }
                };
                let v = if bits32 {
                    assert!(rax <= u64::from(u32::MAX), "32-bit result {rax:#x}");
                    i64::from(rax as u32 as i32)
                } else {
                    rax as i64
                };
                assert!(v > -4096, "result {v} is not an errno");
                stats.results.push((nr, v));
            }
            Op::Write { gpa, bytes } => {
                let m = p.memory().atomic().memory();
                let _ = vm_memory::Bytes::write(&*m, &bytes, GuestAddress(gpa));
            }
            Op::TimerFired { vcpu, periodic } => {
                let kind = if periodic {
                    TimerKind::Periodic
                } else {
                    TimerKind::SingleShot
                };
                p.timer_fired(root.token(), vcpu, kind);
            }
            Op::ConsoleInput(bytes) => p.console_input(root.token(), &bytes),
            Op::MsrWrite {
                vcpu,
                long_mode,
                value,
            } => {
                let _ = p.on_msr_write(
                    root.token(),
                    vcpu,
                    xen_abi::XEN_HYPERCALL_MSR,
                    value,
                    long_mode,
                    0x88,
                );
            }
            Op::Runstate { vcpu, state } => p.set_runstate(root.token(), vcpu, state),
            Op::Clock(ns) => host.advance(ns),
            Op::RunBackends(which) => p.run_backends(root.token(), which),
            Op::RoundTrip => {}
        }
    }
    if prog.final_round_trip {
        let _ = round_trip(&p, &host);
        stats.round_trips += 1;
    }
    stats
}

/// Encoders of operations, for seeds.
pub mod seed {
    use vm_memory::ByteValued;

    /// The header.
    pub fn header(refuse_pages: bool) -> Vec<u8> {
        vec![u8::from(refuse_pages)]
    }

    /// The header, with a snapshot round trip at the end.
    pub fn header_round_trip(refuse_pages: bool) -> Vec<u8> {
        vec![u8::from(refuse_pages) | 2]
    }

    /// A hypercall (`nr` < 0xff).
    pub fn hypercall(vcpu: u8, bits32: bool, nr: u64, args: [u64; 6]) -> Vec<u8> {
        let mut v = vec![0, vcpu, u8::from(bits32), nr as u8];
        for a in args {
            v.extend_from_slice(&a.to_le_bytes());
        }
        v
    }

    /// A hypercall with paging on (pointer arguments must be virtual).
    pub fn hypercall_paged(vcpu: u8, bits32: bool, nr: u64, args: [u64; 6]) -> Vec<u8> {
        let mut v = hypercall(vcpu, bits32, nr, args);
        v[2] |= 2;
        v
    }

    /// The guest writes `bytes` at `gpa`.
    pub fn write(gpa: u64, bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![1];
        v.extend_from_slice(&gpa.to_le_bytes());
        v.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        v.extend_from_slice(bytes);
        v
    }

    /// The guest writes the ABI struct `obj` at `gpa`.
    pub fn write_obj<T: ByteValued>(gpa: u64, obj: T) -> Vec<u8> {
        write(gpa, obj.as_slice())
    }

    /// A timer fires.
    pub fn timer(vcpu: u8, periodic: bool) -> Vec<u8> {
        vec![2, vcpu, u8::from(periodic)]
    }

    /// Host console input.
    pub fn console_input(bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![3, bytes.len() as u8];
        v.extend_from_slice(bytes);
        v
    }

    /// The hypercall MSR.
    pub fn msr(vcpu: u8, long_mode: bool, value: u64) -> Vec<u8> {
        let mut v = vec![4, vcpu, u8::from(long_mode)];
        v.extend_from_slice(&value.to_le_bytes());
        v
    }

    /// A runstate change.
    pub fn runstate(vcpu: u8, state: u8) -> Vec<u8> {
        vec![5, vcpu, state]
    }

    /// Time passes (`units` of 1024 ns).
    pub fn clock(units: u32) -> Vec<u8> {
        let mut v = vec![6];
        v.extend_from_slice(&units.to_le_bytes());
        v
    }

    /// Run the backends (0 console, 1 xenstore, 2 both).
    pub fn backends(which: u8) -> Vec<u8> {
        vec![7, which]
    }

    /// Snapshot round trip.
    pub fn round_trip() -> Vec<u8> {
        vec![8]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders_decode_to_their_ops() {
        let mut d = seed::header(true);
        d.extend(seed::hypercall(1, true, 17, [1, 2, 3, 4, 5, 6]));
        d.extend(seed::write(0x10, b"ab"));
        d.extend(seed::timer(0, true));
        d.extend(seed::console_input(b"x"));
        d.extend(seed::msr(1, true, 0x1000));
        d.extend(seed::runstate(0, 2));
        d.extend(seed::clock(3));
        d.extend(seed::backends(1));
        d.extend(seed::round_trip());
        let p = Program::parse(&d);
        assert!(p.refuse_pages && !p.final_round_trip);
        assert!(Program::parse(&seed::header_round_trip(false)).final_round_trip);
        assert_eq!(
            p.ops,
            vec![
                Op::Hypercall {
                    vcpu: 1,
                    bits32: true,
                    paging: false,
                    user: false,
                    nr: 17,
                    args: [1, 2, 3, 4, 5, 6]
                },
                Op::Write {
                    gpa: 0x10,
                    bytes: b"ab".to_vec()
                },
                Op::TimerFired {
                    vcpu: 0,
                    periodic: true
                },
                Op::ConsoleInput(b"x".to_vec()),
                Op::MsrWrite {
                    vcpu: 1,
                    long_mode: true,
                    value: 0x1000
                },
                Op::Runstate { vcpu: 0, state: 2 },
                Op::Clock(3 << 10),
                Op::RunBackends(Some(xen_platform::Backend::Store)),
                Op::RoundTrip,
            ]
        );
        // Truncated operands read as zeros; nothing panics.
        assert_eq!(Program::parse(&[0, 0]).ops.len(), 1);
        assert!(Program::parse(&[]).ops.is_empty());
    }

    /// Found by the long run: the VMM reporting vCPU 0 offline (the
    /// secondary never came up) left no vCPU up, a state no restore takes.
    #[test]
    fn the_last_vcpu_reported_offline_leaves_a_state_that_restores() {
        let mut d = seed::header_round_trip(true);
        d.extend(seed::runstate(0, xen_abi::RUNSTATE_OFFLINE as u8));
        d.extend(seed::round_trip());
        d.extend(seed::runstate(0, xen_abi::RUNSTATE_OFFLINE as u8));
        assert_eq!(run(&d).round_trips, 2);
    }

    /// Found by the long run (crash-1a6d273f): `vcpu_info` registered by a
    /// 32-bit guest 4-byte aligned, then the hypercall MSR written in long
    /// mode (64-bit width): the state must restore.
    #[test]
    fn a_32_bit_vcpu_info_place_restores_after_the_switch_to_64_bit() {
        let mut d = seed::header_round_trip(false);
        d.extend(seed::msr(0, false, 0x2000));
        let mut info = [0u8; 16];
        info[..8].copy_from_slice(&0x31u64.to_le_bytes()); // mfn
        info[8..16].copy_from_slice(&4u64.to_le_bytes()); // offset
        d.extend(seed::write(0x1000, &info));
        d.extend(seed::hypercall(
            0,
            true,
            u64::from(xen_abi::HYPERVISOR_VCPU_OP),
            [
                u64::from(xen_abi::VCPUOP_REGISTER_VCPU_INFO),
                0,
                0x1000,
                0,
                0,
                0,
            ],
        ));
        d.extend(seed::msr(0, true, 0x2000));
        let s = run(&d);
        assert_eq!(s.results, vec![(u64::from(xen_abi::HYPERVISOR_VCPU_OP), 0)]);
        assert_eq!(s.round_trips, 1);
    }

    #[test]
    fn rings_are_in_ram() {
        let m = guest_memory();
        for g in [CONSOLE_GFN, STORE_GFN] {
            assert!(m.address_in_range(GuestAddress(g * 4096 + 4095)));
        }
    }
}
