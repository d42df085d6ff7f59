// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Input layout of the `evtchn_ops` target.
//!
//! Header (4 bytes):
//! * byte 0: bit 0 = 32-bit guest; bits 1-2 = where `shared_info` is: 0 or 1 = at
//!   [`SHINFO_GFN`], 2 = not placed, 3 = a GFN outside RAM;
//! * byte 1: the guest's domain id: 0 -> 1, 1 -> 0 (same as the backend's), 2 -> 0x7fef,
//!   otherwise the byte itself;
//! * byte 2: `nr_pirqs` / 4;
//! * byte 3: unused.
//!
//! Then up to [`MAX_OPS`] operations of [`OP_LEN`] bytes: `[opcode, a, b, c, d]`.
//! Ports are `u16::from_le_bytes([a, b])`: below 0x8000, the low 7 bits (ports the table
//! hands out first); otherwise an edge value from [`EDGE_PORTS`]. vCPUs, domain ids, VIRQs
//! and PIRQs are biased the same way (see [`Op::decode`]).

use xen_abi::{DOMID_FIRST_RESERVED, DOMID_SELF};
use xen_evtchn::CallbackVia;

/// vCPUs of the fuzzed VM (more than the 32 `vcpu_info` slots in `shared_info`).
pub const MAX_VCPUS: u32 = 34;
/// Guest RAM size.
pub const RAM_SIZE: u64 = 0x2_0000;
/// Where `shared_info` is placed.
pub const SHINFO_GFN: u64 = 0x10;
/// Bytes per operation.
pub const OP_LEN: usize = 5;
/// Operations per input at most.
pub const MAX_OPS: usize = 256;
/// Snapshot round trips per input at most: each costs as much as a long
/// script, and a third in one input finds no code the first two did not.
pub const MAX_SNAPSHOTS: usize = 2;
/// Bytes of the header.
pub const HEADER_LEN: usize = 4;
/// Number of opcodes.
pub const NR_OPCODES: u8 = 27;

/// Port values at the edges of the 2-level ABI.
pub const EDGE_PORTS: [u32; 13] = [
    0,
    1,
    31,
    32,
    63,
    64,
    1023,
    1024,
    4095,
    4096,
    0xffff,
    u32::MAX,
    0x8000_0000,
];

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `EVTCHNOP_alloc_unbound`.
    AllocUnbound { dom: u16, remote: u16 },
    /// `EVTCHNOP_bind_interdomain`.
    BindInterdomain { remote_dom: u16, port: u32 },
    /// `EVTCHNOP_bind_virq`.
    BindVirq { virq: u32, vcpu: u32 },
    /// `EVTCHNOP_bind_ipi`.
    BindIpi { vcpu: u32 },
    /// `EVTCHNOP_bind_pirq`.
    BindPirq { pirq: u32 },
    /// `EVTCHNOP_bind_vcpu`.
    BindVcpu { port: u32, vcpu: u32 },
    /// `EVTCHNOP_close`.
    Close { port: u32 },
    /// `EVTCHNOP_send`.
    Send { port: u32 },
    /// `EVTCHNOP_status`.
    Status { dom: u16, port: u32 },
    /// `EVTCHNOP_unmask`.
    Unmask { port: u32 },
    /// `EVTCHNOP_reset`.
    Reset { dom: u16 },
    /// Host: a VIRQ fires.
    RaiseVirq { virq: u32, vcpu: u32 },
    /// Host: a PIRQ fires.
    RaisePirq { pirq: u32 },
    /// Host: set a port pending.
    SetPending { port: u32 },
    /// Host: a backend port for the guest to bind later.
    HostAllocUnbound,
    /// Host: a backend binds a guest port offered to domain 0.
    HostBind { port: u32 },
    /// Host: a backend notifies the guest.
    HostSend { id: u32 },
    /// Host: a backend closes its port.
    HostClose { id: u32 },
    /// Guest: writes a bit of its `evtchn_pending` / `evtchn_mask` arrays.
    GuestSetBit { mask: bool, port: u32, on: bool },
    /// Guest: clears `evtchn_upcall_pending` of a vCPU (handled its events).
    GuestAck { vcpu: u32 },
    /// `SCHEDOP_poll` begin (+ end).
    Poll { vcpu: u32, ports: Vec<u32> },
    /// `HVM_PARAM_CALLBACK_IRQ`.
    SetCallback { via: CallbackVia },
    /// `HVMOP_set_evtchn_upcall_vector`.
    SetUpcallVector { vcpu: u32, vector: u8 },
    /// `VCPUOP_register_vcpu_info` moved a vCPU's `vcpu_info`.
    VcpuInfoMoved { vcpu: u32 },
    /// FIFO ops that keep the 2-level ABI (0 init_control with a bad offset, 1
    /// expand_array before it, 2 set_priority on 2-level).
    Fifo(u8),
    /// `state()` -> `from_state()` round trip; continue on the restored table.
    /// At most [`MAX_SNAPSHOTS`] per input are run (later ones are skipped).
    Snapshot,
}

fn port(a: u8, b: u8) -> u32 {
    let v = u16::from_le_bytes([a, b]);
    if v & 0x8000 == 0 {
        u32::from(v & 0x7f)
    } else {
        EDGE_PORTS[usize::from(v) % EDGE_PORTS.len()]
    }
}

fn vcpu(c: u8) -> u32 {
    if c & 0x80 == 0 {
        u32::from(c % 4)
    } else {
        [0, 31, 32, 33, MAX_VCPUS, 255, 0x8000_0000, u32::MAX][usize::from(c % 8)]
    }
}

fn dom(d: u8) -> u16 {
    match d % 8 {
        0 => DOMID_SELF,
        1 => 0,
        2 => 1,
        3 => 2,
        4 => DOMID_FIRST_RESERVED - 1,
        5 => DOMID_FIRST_RESERVED + 1,
        6 => u16::MAX,
        _ => u16::from(d) << 8,
    }
}

fn virq(c: u8) -> u32 {
    if c >= 0xf0 {
        u32::MAX - u32::from(c & 0xf)
    } else {
        u32::from(c % 32)
    }
}

fn pirq(c: u8, d: u8) -> u32 {
    if d >= 0xf0 {
        u32::MAX - u32::from(c)
    } else {
        u32::from(u16::from_le_bytes([c, d]) % 1100)
    }
}

impl Op {
    /// Decodes one operation from `[opcode, a, b, c, d]`.
    pub fn decode(op: [u8; OP_LEN]) -> Op {
        let [code, a, b, c, d] = op;
        match code % NR_OPCODES {
            0 => Op::AllocUnbound {
                dom: dom(a),
                remote: dom(b),
            },
            1 => Op::BindInterdomain {
                remote_dom: dom(c),
                port: port(a, b),
            },
            2 => Op::BindVirq {
                virq: virq(a),
                vcpu: vcpu(c),
            },
            3 => Op::BindIpi { vcpu: vcpu(c) },
            4 => Op::BindPirq { pirq: pirq(c, d) },
            5 => Op::BindVcpu {
                port: port(a, b),
                vcpu: vcpu(c),
            },
            6 => Op::Close { port: port(a, b) },
            7 | 8 => Op::Send { port: port(a, b) },
            9 => Op::Status {
                dom: dom(d),
                port: port(a, b),
            },
            10 => Op::Unmask { port: port(a, b) },
            11 => Op::Reset { dom: dom(d) },
            12 => Op::RaiseVirq {
                virq: virq(a),
                vcpu: vcpu(c),
            },
            13 => Op::RaisePirq { pirq: pirq(c, d) },
            14 => Op::SetPending { port: port(a, b) },
            15 => Op::HostAllocUnbound,
            16 => Op::HostBind { port: port(a, b) },
            17 => Op::HostSend {
                id: port(a, b) % 40,
            },
            18 => Op::HostClose {
                id: port(a, b) % 40,
            },
            19 => Op::GuestSetBit {
                mask: c & 1 != 0,
                port: port(a, b),
                on: c & 2 != 0,
            },
            20 => Op::GuestAck { vcpu: vcpu(c) },
            21 => {
                let n = if b >= 0xf0 { 129 } else { usize::from(b % 8) };
                Op::Poll {
                    vcpu: vcpu(a),
                    ports: (0..n).map(|i| port(c.wrapping_add(i as u8), d)).collect(),
                }
            }
            22 => Op::SetCallback {
                via: match a % 3 {
                    0 => CallbackVia::None,
                    1 => CallbackVia::Vector(b),
                    _ => CallbackVia::Gsi(u32::from(u16::from_le_bytes([c, d]))),
                },
            },
            23 => Op::SetUpcallVector {
                vcpu: vcpu(c),
                vector: b,
            },
            24 => Op::VcpuInfoMoved { vcpu: vcpu(c) },
            25 => Op::Fifo(a % 3),
            _ => Op::Snapshot,
        }
    }
}

/// A decoded input.
#[derive(Debug, Clone)]
pub struct Program {
    /// 32-bit guest (1024 ports) instead of 64-bit (4096).
    pub bits32: bool,
    /// `shared_info` GFN, if placed.
    pub shinfo_gfn: Option<u64>,
    /// The guest's domain id.
    pub domid: u16,
    /// PIRQs the guest may bind.
    pub nr_pirqs: u32,
    /// The operations.
    pub ops: Vec<Op>,
}

impl Program {
    /// Decodes an input; short inputs decode to fewer operations, never fail.
    pub fn parse(data: &[u8]) -> Program {
        let h = |i: usize| data.get(i).copied().unwrap_or(0);
        let shinfo_gfn = match (h(0) >> 1) & 3 {
            0 | 1 => Some(SHINFO_GFN),
            2 => None,
            _ => Some(RAM_SIZE / 0x1000 + 5),
        };
        let domid = match h(1) {
            0 => 1,
            1 => 0,
            2 => DOMID_FIRST_RESERVED - 1,
            b => u16::from(b),
        };
        let ops = data
            .get(HEADER_LEN..)
            .unwrap_or(&[])
            .chunks_exact(OP_LEN)
            .take(MAX_OPS)
            .map(|c| Op::decode([c[0], c[1], c[2], c[3], c[4]]))
            .collect();
        Program {
            bits32: h(0) & 1 != 0,
            shinfo_gfn,
            domid,
            nr_pirqs: u32::from(h(2)) * 4,
            ops,
        }
    }
}

/// Encoders for seeds: each returns the 5 bytes that [`Op::decode`] reads back as the named
/// operation with a small port / vCPU (port < 0x80, vCPU < 4).
pub mod seed {
    use super::OP_LEN;

    /// `[opcode, port lo, port hi, c, d]`.
    pub fn op(code: u8, port: u8, c: u8, d: u8) -> [u8; OP_LEN] {
        [code, port & 0x7f, 0, c, d]
    }
    /// Opcodes, in [`super::Op::decode`] order.
    pub mod code {
        #![allow(missing_docs)]
        pub const ALLOC_UNBOUND: u8 = 0;
        pub const BIND_INTERDOMAIN: u8 = 1;
        pub const BIND_VIRQ: u8 = 2;
        pub const BIND_IPI: u8 = 3;
        pub const BIND_PIRQ: u8 = 4;
        pub const BIND_VCPU: u8 = 5;
        pub const CLOSE: u8 = 6;
        pub const SEND: u8 = 7;
        pub const STATUS: u8 = 9;
        pub const UNMASK: u8 = 10;
        pub const RESET: u8 = 11;
        pub const RAISE_VIRQ: u8 = 12;
        pub const RAISE_PIRQ: u8 = 13;
        pub const SET_PENDING: u8 = 14;
        pub const HOST_ALLOC_UNBOUND: u8 = 15;
        pub const HOST_BIND: u8 = 16;
        pub const HOST_SEND: u8 = 17;
        pub const HOST_CLOSE: u8 = 18;
        pub const GUEST_SET_BIT: u8 = 19;
        pub const GUEST_ACK: u8 = 20;
        pub const POLL: u8 = 21;
        pub const SET_CALLBACK: u8 = 22;
        pub const SET_UPCALL_VECTOR: u8 = 23;
        pub const VCPU_INFO_MOVED: u8 = 24;
        pub const FIFO: u8 = 25;
        pub const SNAPSHOT: u8 = 26;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_encoders_decode_to_their_ops() {
        use seed::code::*;
        assert_eq!(
            Op::decode(seed::op(BIND_IPI, 0, 2, 0)),
            Op::BindIpi { vcpu: 2 }
        );
        assert_eq!(Op::decode(seed::op(SEND, 5, 0, 0)), Op::Send { port: 5 });
        assert_eq!(
            Op::decode(seed::op(STATUS, 3, 0, 0)),
            Op::Status {
                dom: DOMID_SELF,
                port: 3
            }
        );
        assert_eq!(Op::decode(seed::op(SNAPSHOT, 0, 0, 0)), Op::Snapshot);
        assert_eq!(Op::decode([NR_OPCODES, 0, 0, 0, 0]), Op::decode([0; 5]));
    }

    #[test]
    fn header_and_truncation() {
        let p = Program::parse(&[1, 1, 2]);
        assert!(p.bits32);
        assert_eq!((p.domid, p.nr_pirqs, p.ops.len()), (0, 8, 0));
        assert_eq!(p.shinfo_gfn, Some(SHINFO_GFN));
        let p = Program::parse(&[4, 0, 0, 0, 3, 0, 0, 1, 0, 9]);
        assert_eq!(p.shinfo_gfn, None);
        assert_eq!(p.ops, vec![Op::BindIpi { vcpu: 1 }]);
    }
}
