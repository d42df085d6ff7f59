// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The minimal VMM example (`examples/minimal_vmm.rs`): its Xen glue stays
//! small, and it boots GRUB's `i386-xen_pvh` image (built from Debian's
//! packages at test time, as xen-vmm's GRUB tests do) to its echo and
//! power-off. Runs where /dev/kvm works; with XEN_ON_KVM_REQUIRE_KVM=1 a
//! missing /dev/kvm fails the test, otherwise it prints why it skips.

#[allow(dead_code)] // the example's `main`
#[path = "../examples/minimal_vmm.rs"]
mod minimal_vmm;

#[allow(dead_code)] // helpers the xen-vmm tests use
#[path = "../../xen-vmm/tests/grub/image.rs"]
mod image;

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

/// The most lines of Xen glue the example may have (issue 10).
const MAX_GLUE_LINES: usize = 80;

/// Hang guard for the boot (GRUB boots in about a second; this only keeps a
/// broken VMM from blocking the test run).
const DEADLINE: Duration = Duration::from_secs(120);

/// Non-blank, non-comment lines between `// xen-glue: begin` and
/// `// xen-glue: end`.
fn glue_lines(src: &str) -> Result<usize, String> {
    let mut inside = false;
    let mut n = 0;
    for (i, line) in src.lines().enumerate() {
        let l = line.trim();
        match l {
            "// xen-glue: begin" if !inside => inside = true,
            "// xen-glue: end" if inside => inside = false,
            _ if l.contains("xen-glue:") => return Err(format!("line {}: stray marker", i + 1)),
            _ if inside && !l.is_empty() && !l.starts_with("//") => n += 1,
            _ => {}
        }
    }
    if inside {
        return Err("`// xen-glue: begin` without an end".into());
    }
    Ok(n)
}

#[test]
fn xen_glue_is_at_most_80_lines() {
    let n = glue_lines(include_str!("../examples/minimal_vmm.rs")).unwrap();
    println!("minimal_vmm: {n} lines of Xen glue (at most {MAX_GLUE_LINES})");
    assert!(n > 0, "no xen-glue markers in the example");
    assert!(n <= MAX_GLUE_LINES, "{n} lines of Xen glue");
}

#[test]
fn glue_count_skips_comments_and_blank_lines() {
    let src = "a\n// xen-glue: begin\nb\n\n  // c\n/// d\n  e\n// xen-glue: end\nf\n";
    assert_eq!(glue_lines(src), Ok(2));
    assert!(glue_lines("// xen-glue: begin\nx\n").is_err());
    assert!(glue_lines("// xen-glue: end\n").is_err());
}

fn kvm_available() -> bool {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("XEN_ON_KVM_REQUIRE_KVM").as_deref() == Ok("1") {
                panic!("XEN_ON_KVM_REQUIRE_KVM=1 but /dev/kvm cannot be opened: {e}");
            }
            eprintln!("SKIPPED: /dev/kvm cannot be opened ({e}); set XEN_ON_KVM_REQUIRE_KVM=1 to make this a failure");
            false
        }
    }
}

/// Guest console output, chunk by chunk.
struct Chunks(mpsc::Sender<Vec<u8>>);

impl Write for Chunks {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(b.to_vec());
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn minimal_vmm_boots_grub_to_echo_and_poweroff() {
    if !kvm_available() {
        return;
    }
    let msg = "minimal-vmm-grub-says-hello";
    let path = image::build(
        "minimal-vmm-echo-halt",
        &format!("echo {msg}\nhalt\n"),
        &["echo", "halt"],
    )
    .unwrap_or_else(|e| panic!("building the GRUB image: {e}"));
    let elf = std::fs::read(&path).unwrap();
    let (out_tx, out_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = minimal_vmm::run(&elf, Box::new(Chunks(out_tx))).map_err(|e| e.to_string());
        let _ = done_tx.send(r);
    });
    let result = done_rx.recv_timeout(DEADLINE);
    let out: Vec<u8> = out_rx.try_iter().flatten().collect();
    let out = String::from_utf8_lossy(&out);
    let result = result.unwrap_or_else(|e| panic!("no exit ({e}); console:\n{out}"));
    assert_eq!(
        result,
        Ok(xen_abi::SHUTDOWN_POWEROFF),
        "halt is SHUTDOWN_poweroff; console:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_end_matches('\r').ends_with(msg)),
        "GRUB's echo line is not on the console:\n{out}"
    );
}
