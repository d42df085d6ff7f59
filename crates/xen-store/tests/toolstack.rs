// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The nodes a new domain starts with (what libxl writes for a PVH/HVM
//! domU), their values and the permissions the guest sees.

mod common;

use common::*;
use xen_abi::errno;
use xen_store::*;

fn domu() -> Xenstore {
    let cfg = XenstoreConfig::new(5, "vm5")
        .with_vcpus(3)
        .with_memory_kib(512 * 1024);
    Xenstore::new(GFN, cfg).unwrap()
}

const RO: &[&str] = &["n0", "r5"];
const RW: &[&str] = &["n5"];

#[test]
fn domain_nodes_values_and_perms() {
    let xs = domu();
    let uuid = "00000000-0000-0000-0000-000000000005";
    let vm = format!("/vm/{uuid}");
    let expect: Vec<(String, &str, &[&str])> = vec![
        ("domid".into(), "5", RO),
        ("name".into(), "vm5", RO),
        ("vm".into(), &vm, RO),
        (format!("{vm}/uuid"), uuid, RO),
        (format!("{vm}/name"), "vm5", RO),
        ("cpu/0/availability".into(), "online", RO),
        ("cpu/1/availability".into(), "online", RO),
        ("cpu/2/availability".into(), "online", RO),
        ("memory/static-max".into(), "524288", RO),
        ("memory/target".into(), "524288", RO),
        ("memory/videoram".into(), "0", RO),
        (
            "control/platform-feature-multiprocessor-suspend".into(),
            "1",
            RO,
        ),
        ("control/platform-feature-xs_reset_watches".into(), "1", RO),
        ("control/shutdown".into(), "", RW),
        ("control/feature-poweroff".into(), "", RW),
        ("control/feature-reboot".into(), "", RW),
        ("control/feature-suspend".into(), "", RW),
        ("control/sysrq".into(), "", RW),
        ("device/suspend/event-channel".into(), "", RW),
        ("data".into(), "", RW),
        ("drivers".into(), "", RW),
        ("feature".into(), "", RW),
        ("attr".into(), "", RW),
        ("error".into(), "", RW),
    ];
    for (path, value, perms) in &expect {
        assert_eq!(xs.read(path), Some(value.as_bytes()), "{path}");
        assert_eq!(xs.perms(path).unwrap(), *perms, "{path}");
    }
    assert_eq!(xs.read("cpu/3/availability"), None, "only 3 vCPUs");
    // Directories the guest may only read.
    for d in ["/local/domain/5", "control", "cpu", "cpu/0", "memory"] {
        assert_eq!(xs.perms(d).unwrap(), RO, "{d}");
    }
    assert_eq!(xs.perms("device").unwrap(), RW);
    assert_eq!(xs.perms("nothing"), None);
    assert_eq!(xs.perms("bad//path"), None);
}

#[test]
fn guest_reads_and_writes_them() {
    let m = mem();
    let mut xs = domu();
    let ok = |r: (u32, Vec<u8>)| r.1;
    assert_eq!(
        ok(call(&mut xs, &m, XS_READ, 0, b"cpu/2/availability\0")),
        b"online"
    );
    assert_eq!(
        ok(call(&mut xs, &m, XS_READ, 0, b"memory/target\0")),
        b"524288"
    );
    assert_eq!(
        ok(call(&mut xs, &m, XS_DIRECTORY, 0, b"cpu\0")),
        b"0\x001\x002\0"
    );
    assert_eq!(
        ok(call(&mut xs, &m, XS_GET_PERMS, 0, b"control/shutdown\0")),
        b"n5\0"
    );
    assert_eq!(
        ok(call(&mut xs, &m, XS_GET_PERMS, 0, b"memory/target\0")),
        b"n0\0r5\0"
    );
    // Linux announces its shutdown features and acknowledges requests.
    for p in [
        &b"control/feature-poweroff\x001"[..],
        b"control/feature-reboot\x001",
        b"control/shutdown\0",
        b"device/suspend/event-channel\x007",
        b"feature/x\x001",
    ] {
        assert_eq!(
            call(&mut xs, &m, XS_WRITE, 0, p),
            (XS_WRITE, b"OK\0".to_vec())
        );
    }
    // Toolstack-owned nodes stay as they are.
    for p in [
        &b"control/platform-feature-xs_reset_watches\x000"[..],
        b"control/new\x001",
        b"memory/target\x001",
        b"cpu/0/availability\0offline",
        b"vm\0/vm/x",
    ] {
        assert_eq!(
            call(&mut xs, &m, XS_WRITE, 0, p),
            (XS_ERROR, b"EACCES\0".to_vec())
        );
    }
    assert_eq!(ok(call(&mut xs, &m, XS_RM, 0, b"control\0")), b"EACCES\0");
    assert_eq!(xs.read("memory/target"), Some(&b"524288"[..]));
    assert_eq!(xs.read("control/feature-poweroff"), Some(&b"1"[..]));
    // GRUB's disk probe: no disks configured.
    assert_eq!(
        call(&mut xs, &m, XS_DIRECTORY, 0, b"device/vbd\0"),
        (XS_ERROR, b"ENOENT\0".to_vec())
    );
}

#[test]
fn no_memory_nodes_without_a_size() {
    let xs = Xenstore::new(GFN, XenstoreConfig::new(1, "g")).unwrap();
    assert_eq!(xs.read("memory/target"), None);
    assert_eq!(xs.read("cpu/0/availability"), Some(&b"online"[..]));
}

#[test]
fn entries_override_and_bad_config() {
    let mut cfg = XenstoreConfig::new(1, "g");
    cfg.entries.push(("store/port".into(), "3".into()));
    cfg.entries.push(("name".into(), "renamed".into()));
    let xs = Xenstore::new(GFN, cfg).unwrap();
    assert_eq!(xs.read("store/port"), Some(&b"3"[..]));
    assert_eq!(xs.read("name"), Some(&b"renamed"[..]));

    let mut bad = XenstoreConfig::new(1, "g");
    bad.entries.push(("a//b".into(), "x".into()));
    let e = Xenstore::new(GFN, bad).unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    assert_eq!(e.errno(), errno::EINVAL);
    let mut bad = XenstoreConfig::new(1, "g");
    bad.writable.push("/x/".into());
    assert!(Xenstore::new(GFN, bad).is_err());
    let mut bad = XenstoreConfig::new(1, "g");
    bad.entries
        .push(("data/big".into(), "v".repeat(PAYLOAD_MAX + 1)));
    assert!(Xenstore::new(GFN, bad).is_err());
    assert!(Xenstore::new(GFN, XenstoreConfig::new(1, "g").with_vcpus(u32::MAX)).is_err());
    assert!(Xenstore::new(
        GFN,
        XenstoreConfig::new(1, "g").with_vcpus(MAX_NODES as u32)
    )
    .is_err());
    assert!(Xenstore::new(u64::MAX, XenstoreConfig::new(1, "g")).is_err());
}

#[test]
fn ring_outside_memory_is_efault() {
    let m = mem();
    let mut xs = Xenstore::new(0x100, XenstoreConfig::new(1, "g")).unwrap();
    let e = xs.process(&m).unwrap_err();
    assert!(matches!(e, Error::GuestMemory(_)));
    assert_eq!(e.errno(), errno::EFAULT);
}
