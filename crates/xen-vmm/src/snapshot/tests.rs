// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Unit tests of the snapshot file format (no KVM needed).

use std::io::Cursor;

use vm_memory::{Bytes, GuestAddress};

use super::format::{
    FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, FORMAT_V5, FORMAT_V6, FORMAT_V7, FORMAT_V8,
    FORMAT_V9, HEADER_LEN, TRAILER_LEN,
};
use super::kvm_state::{MsrState, XsaveState, LAPIC_REGS_LEN};
use super::memory::MemoryRegionState;
use super::xen_state::{PortKind, PortState, StartSegmentMirror, VcpuStartMirror, XenVcpuState};
use super::*;

fn sample_state() -> VmSnapshot {
    let memory = MemoryState {
        regions: vec![
            MemoryRegionState {
                guest_addr: 0,
                size: 0x8000,
            },
            MemoryRegionState {
                guest_addr: 0x100000,
                size: 0x4000,
            },
        ],
    };
    let vcpu = |id: u32| VcpuState {
        id,
        regs: kvm_state::RegsState {
            gprs: [id as u64 + 1; 16],
            rip: 0x1000,
            rflags: 2,
        },
        xsave: Some(XsaveState {
            region: vec![7; 1024],
        }),
        msrs: vec![MsrState {
            index: 0x10,
            data: 12345,
        }],
        lapic: Some(vec![3; LAPIC_REGS_LEN]),
        tsc_khz: 2_500_000,
        ..Default::default()
    };
    let mut s = VmSnapshot {
        memory,
        vcpus: vec![vcpu(0), vcpu(1)],
        ..Default::default()
    };
    s.xen.long_mode = true;
    s.xen.shared_info_gfn = Some(0x101);
    s.xen.callback_param = (2 << 56) | 0xf3;
    s.xen.vcpus = vec![
        XenVcpuState {
            vcpu_info_gpa: Some(0x7000),
            upcall_vector: 0xf3,
            timer_deadline_ns: Some(123_456_789),
            online: true,
            ..Default::default()
        },
        XenVcpuState::default(),
    ];
    s.xen.ports = vec![
        PortState {
            port: 3,
            kind: PortKind::Virq as u8,
            vcpu: 1,
            irq: 0,
            ..Default::default()
        },
        PortState {
            port: 4,
            kind: PortKind::Ipi as u8,
            vcpu: 0,
            ..Default::default()
        },
    ];
    s
}

fn sample_file(state: &VmSnapshot, version: u16) -> Vec<u8> {
    let mem = state.memory.create_guest_memory().unwrap();
    mem.write_slice(b"guest bytes", GuestAddress(0x101000))
        .unwrap();
    let mut out = Vec::new();
    let stats = write_snapshot_version(&mut out, state, &mem, version).unwrap();
    assert_eq!(stats.file_len, out.len() as u64);
    out
}

#[test]
fn round_trip_through_parse_and_reader() {
    let state = sample_state();
    let file = sample_file(&state, CURRENT_FORMAT_VERSION);
    let parsed = parse(&file).unwrap();
    assert_eq!(parsed.state, state);
    assert_eq!(parsed.header.format_version, FORMAT_V9);
    assert_eq!(&parsed.memory[0x8000 + 0x1000..][..11], b"guest bytes");

    let reader = SnapshotReader::open(Cursor::new(&file)).unwrap();
    assert_eq!(reader.state(), &state);
    let (restored, mem) = reader.into_guest_memory().unwrap();
    assert_eq!(restored, state);
    let mut b = [0u8; 11];
    mem.read_slice(&mut b, GuestAddress(0x101000)).unwrap();
    assert_eq!(&b, b"guest bytes");
}

#[test]
fn v1_file_is_read_with_added_field_defaulted() {
    let state = sample_state();
    let v1 = sample_file(&state, FORMAT_V1);
    let v2 = sample_file(&state, FORMAT_V2);
    // v1 lacks tsc_khz (4 bytes) in each of the 2 vCPUs.
    assert_eq!(v1.len() + 8, v2.len());
    let parsed = parse(&v1).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V1);
    let mut expected = state;
    for v in &mut expected.vcpus {
        v.tsc_khz = 0;
    }
    for v in &mut expected.xen.vcpus {
        v.runstate = 0;
        v.runstate_entry_ns = 0;
    }
    assert_eq!(parsed.state, expected);
}

#[test]
fn v2_file_is_read_with_runstate_defaulted() {
    let mut state = sample_state();
    state.xen.system_time_ns = 5_000;
    state.xen.vcpus[0].runstate = 2;
    state.xen.vcpus[0].runstate_entry_ns = 1_234;
    state.xen.vcpus[0].runstate_time_ns = [1_000, 0, 234, 0];
    let v2 = sample_file(&state, FORMAT_V2);
    let v3 = sample_file(&state, FORMAT_V3);
    // v2 lacks runstate (4 bytes) and runstate_entry_ns (8 bytes) in each Xen vCPU.
    assert_eq!(v2.len() + 12 * state.xen.vcpus.len(), v3.len());
    let parsed = parse(&v2).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V2);
    let mut expected = state.clone();
    for v in &mut expected.xen.vcpus {
        v.runstate = 0;
        v.runstate_entry_ns = 0;
    }
    assert_eq!(parsed.state, expected);
    assert_eq!(parse(&v3).unwrap().state, state);
}

#[test]
fn v5_file_is_read_without_fifo_state() {
    let mut state = sample_state();
    state.xen.fifo = Some(super::xen_state::FifoMirror {
        vcpus: vec![
            super::xen_state::FifoVcpuMirror {
                control_gfn: Some(0x2),
                control_offset: 0,
                tails: vec![0; 16],
            },
            super::xen_state::FifoVcpuMirror {
                tails: vec![0; 16],
                ..Default::default()
            },
        ],
        event_array: vec![0x101],
        ..Default::default()
    });
    state.validate().unwrap();
    let v5 = sample_file(&state, FORMAT_V5);
    let v6 = sample_file(&state, FORMAT_V6);
    assert!(v5.len() < v6.len());
    // A format 5 file has no FIFO state: it restores with the 2-level ABI.
    let parsed = parse(&v5).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V5);
    let mut expected = state.clone();
    expected.xen.fifo = None;
    assert_eq!(parsed.state, expected);
    assert_eq!(parsed.state.xen.port_limit(), 4096);
    let parsed = parse(&v6).unwrap();
    assert_eq!(parsed.state, state);
    assert_eq!(parsed.state.xen.port_limit(), 1 << 17);
    // Older formats neither.
    let v4 = sample_file(&state, FORMAT_V4);
    let mut expected4 = expected.clone();
    expected4.xen.tot_pages = 0;
    expected4.xen.absent_gfns.clear();
    expected4.xen.grant.status_frames.clear();
    assert_eq!(parse(&v4).unwrap().state, expected4);
}

fn sample_vbd() -> super::xen_state::VbdMirror {
    super::xen_state::VbdMirror {
        path: "/images/disk.img".into(),
        readonly: true,
        dev: 51712,
        state: 4,
        port: 5,
        host_port: Some(2),
        ring: Some(super::xen_state::VbdRingMirror {
            refs: vec![8, 9],
            protocol: 1,
            req_cons: 77,
            rsp_prod_pvt: 77,
        }),
    }
}

#[test]
fn v7_file_is_read_without_vbds() {
    let mut state = sample_state();
    state.xen.vbds = vec![sample_vbd()];
    state.validate().unwrap();
    let v7 = sample_file(&state, FORMAT_V7);
    let v8 = sample_file(&state, FORMAT_V8);
    assert!(v7.len() < v8.len());
    let parsed = parse(&v8).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V8);
    assert_eq!(parsed.state, state);
    let v = parsed.state.xen.vbds[0].to_state();
    let ring = v.ring.unwrap();
    assert_eq!(ring.protocol, xen_blkback::Protocol::X86_32);
    assert_eq!((ring.refs, ring.req_cons), (vec![8, 9], 77));
    // A format 7 file has no disks.
    let parsed = parse(&v7).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V7);
    let mut expected = state.clone();
    expected.xen.vbds.clear();
    assert_eq!(parsed.state, expected);
}

#[test]
fn bad_vbds_are_rejected() {
    type Edit = fn(&mut super::xen_state::VbdMirror);
    let bad: [Edit; 8] = [
        |v| v.state = 0,
        |v| v.state = 7,
        |v| v.path.clear(),
        |v| v.path = "x".repeat(5000),
        |v| v.ring.as_mut().unwrap().refs = vec![1, 2, 3],
        |v| v.ring.as_mut().unwrap().refs = vec![1; 32],
        |v| v.ring.as_mut().unwrap().refs.clear(),
        |v| v.ring.as_mut().unwrap().protocol = 2,
    ];
    for (i, f) in bad.iter().enumerate() {
        let mut state = sample_state();
        let mut v = sample_vbd();
        f(&mut v);
        state.xen.vbds = vec![v];
        assert!(state.validate().is_err(), "case {i}");
    }
    let mut state = sample_state();
    state.xen.vbds = vec![sample_vbd(); 17];
    assert!(state.validate().is_err());
}

#[test]
fn v3_file_is_read_without_deferred_ports() {
    let mut state = sample_state();
    state.xen.deferred_ports = vec![3, 4];
    state.validate().unwrap();
    let v3 = sample_file(&state, FORMAT_V3);
    let v4 = sample_file(&state, FORMAT_V4);
    // v3 lacks deferred_ports (a length u64 and two u32 ports).
    assert_eq!(v3.len() + 8 + 2 * 4, v4.len());
    let parsed = parse(&v3).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V3);
    let mut expected = state.clone();
    expected.xen.deferred_ports.clear();
    assert_eq!(parsed.state, expected);
    assert_eq!(parse(&v4).unwrap().state, state);
    // Saved ports that are not open are refused on load.
    let mut bad = state;
    bad.xen.deferred_ports = vec![5];
    assert!(matches!(
        parse(&forge(&bad, bad.memory.total_len())),
        Err(Error::Invalid(m)) if m.contains("deferred port 5")
    ));
}

#[test]
fn v5_file_is_read_without_initialised_and_start() {
    let mut state = sample_state();
    state.xen.vcpus[0].initialised = true;
    state.xen.vcpus[1].initialised = true;
    state.xen.vcpus[1].start = Some(VcpuStartMirror {
        gprs: [1, 2, 3, 4, 5, 6, 7, 8],
        rip: 0x10_0000,
        rflags: 2,
        cr0: 0x8000_0011,
        cr3: 0x2000,
        cr4: 0x20,
        efer: 0x500,
        segments: [StartSegmentMirror {
            base: 0,
            limit: u32::MAX,
            attr: 0xa9b,
        }; 5],
    });
    let v5 = sample_file(&state, FORMAT_V5);
    let v6 = sample_file(&state, FORMAT_V6);
    // v5 lacks initialised (1 byte) per vCPU and start (an Option tag per vCPU, and
    // 8 * 8 + 6 * 8 + 5 * (8 + 4 + 2) bytes for vCPU 1's), and XenState::fifo (an
    // Option tag: none here).
    assert_eq!(v5.len() + 2 * 2 + 64 + 48 + 70 + 1, v6.len());
    let parsed = parse(&v5).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V5);
    let mut expected = state.clone();
    for v in &mut expected.xen.vcpus {
        v.initialised = false;
        v.start = None;
    }
    assert_eq!(parsed.state, expected);
    assert_eq!(parse(&v6).unwrap().state, state);
}

#[test]
fn v4_file_is_read_without_grant_v2_and_reservation() {
    let mut state = sample_state();
    state.xen.grant.version = 2;
    state.xen.grant.status_frames = vec![Some(0x123)];
    state.xen.tot_pages = 7;
    state.xen.absent_gfns = vec![0x10, 0x11];
    state.validate().unwrap();
    let v4 = sample_file(&state, FORMAT_V4);
    let v5 = sample_file(&state, FORMAT_V5);
    // v4 lacks status_frames (length + one Option<u64>), tot_pages, absent_gfns (length
    // + two u64).
    assert!(v4.len() < v5.len());
    let parsed = parse(&v4).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V4);
    let mut expected = state.clone();
    expected.xen.grant.status_frames.clear();
    expected.xen.tot_pages = 0;
    expected.xen.absent_gfns.clear();
    assert_eq!(parsed.state, expected);
    assert_eq!(parse(&v5).unwrap().state, state);
}

#[test]
fn v5_file_is_read_without_xenstore_permissions_and_transactions() {
    use super::xen_state::{
        XenstoreMirror, XenstoreNode, XenstoreQuotasMirror, XenstoreTxAccess, XenstoreTxMirror,
    };
    let mut state = sample_state();
    state.xen.xenstore = Some(XenstoreMirror {
        ring_gfn: 2,
        domid: 1,
        nodes: vec![
            XenstoreNode {
                path: "/local/domain/1/data".into(),
                value: b"v".to_vec(),
                perms: vec!["n1".into(), "r0".into()],
                generation: 3,
            },
            XenstoreNode {
                path: "@releaseDomain".into(),
                perms: vec!["n0".into()],
                ..Default::default()
            },
        ],
        transactions: vec![1],
        last_tx_id: 1,
        transaction_states: vec![XenstoreTxMirror {
            id: 1,
            start_generation: 3,
            accessed: vec![XenstoreTxAccess {
                path: "/local/domain/1/data".into(),
                generation: Some(3),
            }],
            ..Default::default()
        }],
        generation: 4,
        released: true,
        quotas: XenstoreQuotasMirror {
            watches_per_connection: 7,
            ..XenstoreQuotasMirror::from(&xen_store::Quotas::default())
        },
        ..Default::default()
    });
    state.validate().unwrap();
    let v7 = sample_file(&state, FORMAT_V7);
    assert_eq!(parse(&v7).unwrap().state, state, "version 7 keeps it all");
    // Version 5 has the nodes' paths and values, the transaction ids.
    let mut v5_state = state.clone();
    v5_state.xen.xenstore.as_mut().unwrap().nodes.pop();
    let v5 = sample_file(&v5_state, FORMAT_V5);
    let parsed = parse(&v5).unwrap();
    assert_eq!(parsed.header.format_version, FORMAT_V5);
    let x = parsed.state.xen.xenstore.unwrap();
    assert_eq!(x.nodes[0].value, b"v");
    assert!(x.nodes[0].perms.is_empty() && x.nodes[0].generation == 0);
    assert!(x.transaction_states.is_empty() && !x.released && x.generation == 0);
    assert_eq!(x.transactions, [1]);
    assert_eq!(x.quotas.to_quotas(), xen_store::Quotas::default());
    // What restores from it: derived permissions, an empty transaction.
    let dev = x.to_state();
    assert!(xen_store::Xenstore::from_state(&dev).is_ok());
    // Bad permission strings are refused on load.
    let mut bad = state;
    bad.xen.xenstore.as_mut().unwrap().nodes[0].perms = vec!["q1".into()];
    assert!(matches!(
        parse(&forge(&bad, bad.memory.total_len())),
        Err(Error::Invalid(m)) if m.contains("permissions")
    ));
}

#[test]
fn newer_unknown_version_is_rejected() {
    let state = sample_state();
    let mut file = sample_file(&state, CURRENT_FORMAT_VERSION);
    file[8..10].copy_from_slice(&10u16.to_le_bytes());
    let crc = crc64::crc64(0, &file[..40]);
    file[40..48].copy_from_slice(&crc.to_le_bytes());
    let e = parse(&file).unwrap_err();
    assert!(matches!(e, Error::UnsupportedVersion { found: 10, max: 9 }));
    assert_eq!(
        e.to_string(),
        "snapshot format version 10 is not supported (this build reads 1..=9)"
    );
    assert!(SnapshotReader::open(Cursor::new(&file)).is_err());
    assert!(matches!(
        state.encode(10),
        Err(Error::UnsupportedVersion { .. })
    ));
}

#[test]
fn truncated_files_are_rejected_at_every_length() {
    let file = sample_file(&sample_state(), CURRENT_FORMAT_VERSION);
    // Every cut inside header and state, and a sample of cuts in memory and trailer.
    let state_end = HEADER_LEN + u64::from_le_bytes(file[16..24].try_into().unwrap()) as usize;
    let cuts = (0..state_end + 64)
        .chain((state_end..file.len()).step_by(997))
        .chain(file.len() - TRAILER_LEN..file.len());
    for cut in cuts {
        let e = parse(&file[..cut]).unwrap_err();
        assert!(matches!(e, Error::Truncated { .. }), "cut at {cut}: {e}");
        let e = SnapshotReader::open(Cursor::new(&file[..cut])).unwrap_err();
        assert!(matches!(e, Error::Truncated { .. }), "cut at {cut}: {e}");
    }
    let mut longer = file.clone();
    longer.push(0);
    assert!(matches!(parse(&longer), Err(Error::TrailingBytes(1))));
}

#[test]
fn wrong_magic_is_rejected() {
    let mut file = sample_file(&sample_state(), CURRENT_FORMAT_VERSION);
    file[..8].copy_from_slice(b"ELF\x7f\0\0\0\0");
    let e = parse(&file).unwrap_err();
    assert!(matches!(e, Error::BadMagic(_)));
    assert!(e.to_string().starts_with("not a xen-vmm snapshot"), "{e}");
}

#[test]
fn crc_mismatches_are_rejected() {
    let file = sample_file(&sample_state(), CURRENT_FORMAT_VERSION);
    // A flipped bit in the state.
    let mut bad = file.clone();
    bad[HEADER_LEN + 5] ^= 0x10;
    assert!(matches!(
        parse(&bad),
        Err(Error::Crc {
            section: "state",
            ..
        })
    ));
    // A flipped bit in guest memory: parse sees it, and so does the streaming reader
    // (after loading, before the VM may use the memory).
    let mut bad = file.clone();
    let n = bad.len();
    bad[n - TRAILER_LEN - 100] ^= 1;
    assert!(matches!(
        parse(&bad),
        Err(Error::Crc {
            section: "memory",
            ..
        })
    ));
    let reader = SnapshotReader::open(Cursor::new(&bad)).unwrap();
    assert!(matches!(
        reader.into_guest_memory(),
        Err(Error::Crc {
            section: "memory",
            ..
        })
    ));
    // A flipped bit in the header.
    let mut bad = file;
    bad[33] ^= 1;
    assert!(matches!(
        parse(&bad),
        Err(Error::Crc {
            section: "header",
            ..
        })
    ));
}

/// Re-encodes a (possibly invalid) state into a file with correct CRCs.
fn forge(state: &VmSnapshot, memory_len: u64) -> Vec<u8> {
    let mut enc = Vec::new();
    state
        .serialize(&mut enc, &format::version_map(), CURRENT_FORMAT_VERSION)
        .unwrap();
    forge_raw(&enc, memory_len)
}

fn forge_raw(enc: &[u8], memory_len: u64) -> Vec<u8> {
    let header = Header {
        format_version: CURRENT_FORMAT_VERSION,
        state_len: enc.len() as u64,
        state_crc: crc64::crc64(0, enc),
        memory_len,
    };
    let mut f = header.encode().to_vec();
    f.extend_from_slice(enc);
    let mem = vec![0u8; memory_len as usize];
    f.extend_from_slice(&mem);
    f.extend_from_slice(&format::encode_trailer(crate::snapshot::memory::checksum(
        CURRENT_FORMAT_VERSION,
        &mem,
    )));
    f
}

#[test]
fn ports_out_of_range_are_rejected_on_load() {
    let mut s = sample_state();
    s.xen.ports[1].port = 70000;
    let file = forge(&s, s.memory.total_len());
    let e = parse(&file).unwrap_err();
    assert!(
        matches!(
            e,
            Error::PortOutOfRange {
                port: 70000,
                limit: 4096
            }
        ),
        "{e}"
    );
    assert!(SnapshotReader::open(Cursor::new(&file)).is_err());

    let mut s = sample_state();
    s.xen.ports[0].vcpu = 9;
    let e = parse(&forge(&s, s.memory.total_len())).unwrap_err();
    assert!(matches!(e, Error::VcpuOutOfRange { vcpu: 9, .. }), "{e}");
}

#[test]
fn huge_claimed_lengths_do_not_allocate() {
    // Header claiming a 2^40-byte state or memory section, with a tiny file.
    let h = Header {
        format_version: CURRENT_FORMAT_VERSION,
        state_len: 1 << 40,
        state_crc: 0,
        memory_len: 0,
    };
    assert!(matches!(parse(&h.encode()), Err(Error::TooLarge { .. })));
    let h = Header {
        state_len: 16,
        memory_len: 1 << 40,
        ..h
    };
    let mut f = h.encode().to_vec();
    f.extend_from_slice(&[0; 32]);
    assert!(matches!(parse(&f), Err(Error::Truncated { .. })));
    assert!(matches!(
        SnapshotReader::open(Cursor::new(&f)),
        Err(Error::Truncated { .. })
    ));
    let h = Header {
        memory_len: u64::MAX - 10,
        ..h
    };
    assert!(matches!(parse(&h.encode()), Err(Error::TooLarge { .. })));

    // A state whose vector length claims 2^40 elements: versionize refuses it
    // before allocating, and we report a decode error.
    let mut enc = Vec::new();
    let state = sample_state();
    state
        .memory
        .serialize(&mut enc, &format::version_map(), CURRENT_FORMAT_VERSION)
        .unwrap();
    state
        .vm
        .serialize(&mut enc, &format::version_map(), CURRENT_FORMAT_VERSION)
        .unwrap();
    enc.extend_from_slice(&(1u64 << 40).to_le_bytes()); // vcpus.len()
    let e = parse(&forge_raw(&enc, state.memory.total_len())).unwrap_err();
    assert!(matches!(e, Error::Decode(_)), "{e}");

    // A memory region claiming 2^40 bytes with the matching header length,
    // but the file does not hold it.
    let mut s = sample_state();
    s.memory.regions[1].size = 1 << 40;
    let mut enc = Vec::new();
    s.serialize(&mut enc, &format::version_map(), CURRENT_FORMAT_VERSION)
        .unwrap();
    let h = Header {
        format_version: CURRENT_FORMAT_VERSION,
        state_len: enc.len() as u64,
        state_crc: crc64::crc64(0, &enc),
        memory_len: s.memory.total_len(),
    };
    let mut f = h.encode().to_vec();
    f.extend_from_slice(&enc);
    assert!(matches!(parse(&f), Err(Error::Truncated { .. })));
}

#[test]
fn inconsistent_state_is_rejected() {
    let cases: Vec<fn(&mut VmSnapshot)> = vec![
        |s| s.vcpus.clear(),
        |s| s.vcpus[1].id = 5,
        |s| s.vcpus[0].lapic = Some(vec![0; 10]),
        |s| {
            s.vcpus[0].xsave = Some(XsaveState {
                region: vec![0; 10],
            })
        },
        |s| s.vcpus[0].mp_state = 99,
        |s| s.xen.vcpus.truncate(1),
        |s| s.memory.regions[0].size = 0x8001,
        |s| {
            s.vm.irqchips.push(kvm_state::IrqchipState {
                chip_id: 7,
                data: vec![0; 512],
            })
        },
    ];
    for (i, f) in cases.into_iter().enumerate() {
        let mut s = sample_state();
        f(&mut s);
        let e = parse(&forge(&s, s.memory.total_len())).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Invalid(_) | Error::VcpuOutOfRange { .. } | Error::TooLarge { .. }
            ),
            "case {i}: {e}"
        );
    }
    // Memory section length that disagrees with the region table.
    let s = sample_state();
    let e = parse(&forge(&s, s.memory.total_len() - 4096)).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
}

#[test]
fn writer_rejects_mismatched_memory() {
    let s = sample_state();
    let other = MemoryState {
        regions: vec![MemoryRegionState {
            guest_addr: 0,
            size: 0x1000,
        }],
    }
    .create_guest_memory()
    .unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        write_snapshot(&mut out, &s, &other),
        Err(Error::MemoryLayout(_))
    ));
}

#[test]
fn save_to_file_and_open_file() {
    let dir = std::env::temp_dir().join(format!("xen-vmm-snap-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vm.snap");
    let s = sample_state();
    let mem = s.memory.create_guest_memory().unwrap();
    mem.write_slice(&[0xaa; 100], GuestAddress(0x200)).unwrap();
    let stats = save_to_file(&path, &s, &mem).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), stats.file_len);
    let (state, mem2) = open_file(&path).unwrap().into_guest_memory().unwrap();
    assert_eq!(state, s);
    let mut b = [0u8; 100];
    mem2.read_slice(&mut b, GuestAddress(0x200)).unwrap();
    assert_eq!(b, [0xaa; 100]);
    assert!(matches!(
        open_file(&dir.join("missing")),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic fuzz loop over mutations of a valid file.
    let file = sample_file(&sample_state(), CURRENT_FORMAT_VERSION);
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let state_end = HEADER_LEN + u64::from_le_bytes(file[16..24].try_into().unwrap()) as usize;
    for _ in 0..2000 {
        let mut f = file.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = HEADER_LEN + (next() as usize % (state_end - HEADER_LEN));
            f[i] = next() as u8;
        }
        // Fix the CRCs so the mutation reaches the decoder.
        let crc = crc64::crc64(0, &f[HEADER_LEN..state_end]);
        f[24..32].copy_from_slice(&crc.to_le_bytes());
        let hcrc = crc64::crc64(0, &f[..40]);
        f[40..48].copy_from_slice(&hcrc.to_le_bytes());
        let _ = parse(&f);
    }
}
