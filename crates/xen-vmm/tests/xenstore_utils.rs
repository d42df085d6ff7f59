// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Debian's xenstore-utils (`xenstore-read`, `-write`, `-ls`, `-watch`,
//! Xen 4.17's libxenstore; `XENSTORED_PATH` names the socket) against a
//! running guest's store served on `--xenstore-socket`: read a node the
//! guest wrote over its ring, list the guest's home, watch a node, write
//! one the guest watches (its event ends the guest). CI installs the
//! package (.ci/run); without the tools this test fails.

mod common;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use xen_store::{HEADER_SIZE, XS_WATCH_EVENT};
use xen_vmm::{ExitReason, Kernel, Vm, VmConfig};

const MEM: u64 = 64 << 20;
const STORE: u64 = MEM - 0x2000;

/// Ends the VM when dropped by a panic.
struct EndOnPanic<'a>(&'a Vm);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.shared().finish(ExitReason::Crash);
        }
    }
}

fn msg(ty: u32, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    xen_store::encode(ty, req_id, tx, payload)
}

fn tool(path: &std::path::Path, name: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(name)
        .args(args)
        .env("XENSTORED_PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{name} (Debian xenstore-utils, installed by .ci/run): {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn xenstore_utils_against_a_running_guest() {
    if !require_kvm() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("xen-vmm-xsu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("socket");

    // Guest: XS_WRITE data/guest = hello, XS_WATCH data/host, then wait
    // for the replies, the initial event and the event of dom0's write.
    let mut g = Guest::new64();
    g.hypercall_page();
    get_param(&mut g, 2, DATA + 0x38); // STORE_EVTCHN
    let mut req = msg(xen_store::XS_WRITE, 1, 0, b"data/guest\0hello");
    req.extend(msg(xen_store::XS_WATCH, 2, 0, b"data/host\0tok\0"));
    put_bytes(&mut g, STORE, &req);
    g.store32(STORE + 2052, req.len() as u32);
    send(&mut g, DATA + 0x38);
    let event = msg(XS_WATCH_EVENT, 0, 0, b"data/host\0tok\0");
    let want = 2 * (HEADER_SIZE + 3) + 2 * event.len();
    yield_until(&mut g, STORE + 2060, want as u32);
    g.shutdown(0);

    let (tx, _rx) = mpsc::channel();
    let mut cfg = VmConfig::new(Kernel::Raw64(g.assemble()));
    cfg.output = Box::new(Capture(tx));
    cfg.xenstore_socket = Some(path.clone());
    let vm = Vm::new(cfg).unwrap();
    let reason = std::thread::scope(|s| {
        let h = s.spawn(|| vm.run());
        // A failed assertion ends the VM (else the scope waits for it).
        let _end = EndOnPanic(&vm);
        let start = Instant::now();
        loop {
            let (ok, out) = tool(&path, "xenstore-read", &["/local/domain/1/data/guest"]);
            if ok {
                assert_eq!(out.trim_end(), "hello");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "xenstore-read: {out}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let (ok, ls) = tool(&path, "xenstore-ls", &["-p", "/local/domain/1"]);
        assert!(ok, "{ls}");
        assert!(ls.contains("domid = \"1\""), "{ls}");
        assert!(ls.contains("guest = \"hello\""), "{ls}");
        // A watch: the initial event, then the write's.
        let mut watch = Command::new("xenstore-watch")
            .args(["-n", "2", "/local/domain/1/data/w"])
            .env("XENSTORED_PATH", &path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("xenstore-watch");
        // Write until it has seen an event besides the initial one (it may
        // register after a first write).
        let start = Instant::now();
        while watch.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "xenstore-watch did not end"
            );
            let (ok, out) = tool(&path, "xenstore-write", &["/local/domain/1/data/w", "x"]);
            assert!(ok, "{out}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = watch.wait_with_output().unwrap();
        let lines = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            lines
                .lines()
                .filter(|l| l.starts_with("/local/domain/1/data/w"))
                .count(),
            2,
            "{lines}"
        );
        // A directory longer than a payload: libxenstore falls back from
        // XS_DIRECTORY (E2BIG) to XS_DIRECTORY_PART.
        let names: Vec<String> = (0..300)
            .map(|i| format!("/tool/many/child-with-a-long-name-{i:04}"))
            .collect();
        let mut args: Vec<&str> = Vec::new();
        for n in &names {
            args.extend([n.as_str(), "v"]);
        }
        let (ok, out) = tool(&path, "xenstore-write", &args);
        assert!(ok, "{out}");
        let (ok, out) = tool(&path, "xenstore-list", &["/tool/many"]);
        assert!(ok, "{out}");
        let listed: Vec<&str> = out.lines().collect();
        assert_eq!(listed.len(), 300, "{out}");
        assert_eq!(listed[299], "child-with-a-long-name-0299");
        // Permissions: dom0 gives the guest's node away and reads them back.
        let (ok, out) = tool(
            &path,
            "xenstore-chmod",
            &["/local/domain/1/data/guest", "n0", "r1"],
        );
        assert!(ok, "{out}");
        let (ok, ls) = tool(&path, "xenstore-ls", &["-p", "/local/domain/1/data"]);
        assert!(ok, "{ls}");
        assert!(
            ls.lines()
                .any(|l| l.starts_with("guest = \"hello\"") && l.ends_with("(n0,r1)")),
            "{ls}"
        );
        let (ok, out) = tool(&path, "xenstore-rm", &["/tool/many"]);
        assert!(ok, "{out}");
        let (ok, _) = tool(&path, "xenstore-exists", &["/tool/many"]);
        assert!(!ok, "removed");
        // The node the guest watches: its event ends the guest.
        let (ok, out) = tool(
            &path,
            "xenstore-write",
            &["/local/domain/1/data/host", "from dom0"],
        );
        assert!(ok, "{out}");
        let start = Instant::now();
        while !h.is_finished() {
            if start.elapsed() > Duration::from_secs(120) {
                vm.shared().finish(ExitReason::Crash);
                panic!("guest did not see the watch event");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().unwrap().unwrap()
    });
    assert_eq!(reason, ExitReason::Shutdown(0));
    let _ = std::fs::remove_dir_all(&dir);
}
