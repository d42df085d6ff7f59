// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! A real guest: GRUB 2 built for Xen PVH (`grub-mkimage -O i386-xen_pvh`)
//! from Debian's `grub-xen-bin`, booted by the `xen-vmm` binary.
//!
//! GRUB uses the hypercall page, the PV console ring, xenstore, the grant
//! table and shared_info mapped into e820 holes, and `SCHEDOP_shutdown`
//! (see `src/devices/README-grub.md`). The packages are downloaded at test
//! time into the target directory; a failed download fails the test.
//! Runs where /dev/kvm works; with XEN_ON_KVM_REQUIRE_KVM=1 (CI) a missing
//! /dev/kvm fails the KVM tests, otherwise they print why they skip.

#[path = "grub/image.rs"]
mod image;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Hang guard for one boot (not a speed assertion: GRUB boots in about a
/// second; this only keeps a broken VMM from blocking the test run).
const DEADLINE: Duration = Duration::from_secs(120);

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
            eprintln!("skipping: /dev/kvm cannot be opened ({e}); set XEN_ON_KVM_REQUIRE_KVM=1 to make this a failure");
            false
        }
    }
}

fn build(name: &str, config: &str, modules: &[&str]) -> std::path::PathBuf {
    image::build(name, config, modules).unwrap_or_else(|e| panic!("building the GRUB image: {e}"))
}

/// A running `xen-vmm` whose stdout arrives in chunks on a channel.
struct Vmm {
    child: Child,
    rx: mpsc::Receiver<Vec<u8>>,
    stderr: std::thread::JoinHandle<String>,
    out: Vec<u8>,
    start: Instant,
}

impl Vmm {
    fn start(kernel: &std::path::Path) -> Vmm {
        Self::start_with(kernel, &[])
    }

    fn start_with(kernel: &std::path::Path, extra: &[&std::ffi::OsStr]) -> Vmm {
        let mut args = vec![
            std::ffi::OsStr::new("run"),
            "--kernel".as_ref(),
            kernel.as_os_str(),
        ];
        args.extend(extra);
        Self::spawn(&args)
    }

    fn spawn(args: &[&std::ffi::OsStr]) -> Vmm {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xen-vmm"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xen-vmm");
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = so.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = se.read_to_string(&mut s);
            s
        });
        Vmm {
            child,
            rx,
            stderr,
            out: Vec::new(),
            start: Instant::now(),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    /// Kills the VMM and panics with everything it printed.
    fn fail(mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        while let Ok(c) = self.rx.try_recv() {
            self.out.extend(c);
        }
        let text = self.text();
        let err = self.stderr.join().unwrap_or_default();
        panic!(
            "{why}\nxen-vmm status: {status:?}\n--- guest console (stdout) ---\n{text}\n--- stderr ---\n{err}"
        );
    }

    /// Reads output until `pat` appears after byte `from`; false at EOF or deadline.
    fn wait_for(&mut self, pat: &str, from: usize) -> bool {
        loop {
            if String::from_utf8_lossy(self.out.get(from..).unwrap_or_default()).contains(pat) {
                return true;
            }
            let left = DEADLINE.saturating_sub(self.start.elapsed());
            match self.rx.recv_timeout(left) {
                Ok(c) => self.out.extend(c),
                Err(_) => return false,
            }
        }
    }

    fn type_line(mut self, line: &str) -> Self {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        // GRUB's terminal takes CR as Enter.
        match stdin
            .write_all(format!("{line}\r").as_bytes())
            .and_then(|()| stdin.flush())
        {
            Ok(()) => self,
            Err(e) => {
                let msg = format!("writing `{line}` to the VMM's stdin: {e}");
                self.fail(&msg)
            }
        }
    }

    /// Waits for the VMM to exit; returns (status, stdout, stderr).
    fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => {
                    // The reader ends at EOF.
                    while let Ok(c) = self.rx.recv_timeout(Duration::from_secs(5)) {
                        self.out.extend(c);
                    }
                    let text = self.text();
                    let err = self.stderr.join().unwrap_or_default();
                    return (st, text, err);
                }
                Ok(None) if self.start.elapsed() < DEADLINE => {
                    if let Ok(c) = self.rx.recv_timeout(Duration::from_millis(50)) {
                        self.out.extend(c);
                    }
                }
                Ok(None) => self.fail("xen-vmm did not exit before the deadline"),
                Err(e) => {
                    let msg = format!("waiting for xen-vmm: {e}");
                    self.fail(&msg)
                }
            }
        }
    }
}

/// Lines of terminal output with ANSI escape sequences and CRs removed.
fn plain_lines(s: &str) -> Vec<String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte; other escapes: ESC + one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out.lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn grub_image_is_a_pvh_elf32() {
    let path = build(
        "echo-halt",
        "echo grub-image-check\nhalt\n",
        &["echo", "halt"],
    );
    let bytes = std::fs::read(&path).unwrap();
    let info = image::inspect_elf(&bytes).unwrap();
    let entry = info
        .xen_notes
        .iter()
        .find(|(t, _)| *t == image::XEN_ELFNOTE_PHYS32_ENTRY)
        .unwrap_or_else(|| panic!("no XEN_ELFNOTE_PHYS32_ENTRY in {:?}", info.xen_notes));
    let phys = u32::from_le_bytes(entry.1[..4].try_into().unwrap());
    assert_eq!(phys, info.entry);
    assert_eq!(phys, 0x10_0000, "GRUB's PVH entry is at 1 MiB");
    assert!(!info.loads.is_empty());
    assert!(info
        .loads
        .iter()
        .all(|&(pa, fs, ms)| pa >= 0x10_0000 && fs <= ms));
}

#[test]
fn grub_echo_then_halt() {
    if !kvm_available() {
        return;
    }
    let msg = "xen-on-kvm-grub-says-hello";
    let path = build(
        "echo-halt-msg",
        &format!("echo {msg}\nhalt\n"),
        &["echo", "halt"],
    );
    let (status, out, err) = Vmm::start(&path).finish();
    let lines = plain_lines(&out);
    assert!(
        lines.iter().any(|l| l == msg),
        "GRUB's echo line not on the console; status {status:?}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
    assert_eq!(
        status.code(),
        Some(0),
        "halt is SHUTDOWN_poweroff: exit status 0\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
}

#[test]
fn grub_interactive_prompt() {
    if !kvm_available() {
        return;
    }
    // No halt in the config: after it, GRUB enters normal mode, finds no
    // /boot/grub/grub.cfg (no disks) and shows the `grub>` prompt.
    let path = build(
        "prompt",
        "echo waiting-for-input\n",
        &["normal", "echo", "halt", "minicmd"],
    );
    let mut vmm = Vmm::start(&path);
    if !vmm.wait_for("grub>", 0) {
        vmm.fail("no `grub>` prompt on the console");
    }
    let mark = vmm.out.len();
    vmm = vmm.type_line("echo hello-from-test");
    if !vmm.wait_for("grub>", mark) {
        vmm.fail("no prompt after `echo hello-from-test`");
    }
    // The typed command is echoed as "grub> echo hello-from-test"; the
    // command's own output is a line of its own.
    let after = String::from_utf8_lossy(&vmm.out[mark..]).into_owned();
    if !plain_lines(&after).iter().any(|l| l == "hello-from-test") {
        vmm.fail("`echo hello-from-test` printed no `hello-from-test` line");
    }
    vmm = vmm.type_line("halt");
    let (status, out, err) = vmm.finish();
    assert_eq!(
        status.code(),
        Some(0),
        "`halt` must power off with status 0\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
    assert!(plain_lines(&out).iter().any(|l| l == "waiting-for-input"));
}

/// An ext2 image holding `hello.txt` with `text`, made with `mke2fs -d` (e2fsprogs;
/// `.ci/run` installs it).
fn ext2_image(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grub-disk");
    let root = dir.join(format!("{name}-root"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), text).unwrap();
    let img = dir.join(format!("{name}.img"));
    let _ = std::fs::remove_file(&img);
    let mke2fs = ["/usr/sbin/mke2fs", "/sbin/mke2fs", "mke2fs"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).exists())
        .unwrap();
    let out = Command::new(mke2fs)
        .args(["-q", "-F", "-t", "ext2", "-L", "xendisk", "-d"])
        .arg(&root)
        .arg(&img)
        .arg("4M")
        .output()
        .unwrap_or_else(|e| panic!("running {mke2fs} (e2fsprogs): {e}"));
    assert!(
        out.status.success(),
        "mke2fs -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    img
}

/// GRUB's `xen` disk driver finds the vbd through xenstore, connects its blkif ring
/// (x86_32 ABI: GRUB is 32-bit), and reads an ext2 file system through it.
#[test]
fn grub_reads_a_file_from_a_pv_disk() {
    if !kvm_available() {
        return;
    }
    let text = "xen-blkback-served-this-line";
    let img = ext2_image("hello", &format!("{text}\n"));
    let path = build(
        "pv-disk",
        "echo disks:\nls\nls (xen/xvda)/\necho file:\ncat (xen/xvda)/hello.txt\necho done-reading\nhalt\n",
        &["echo", "halt", "ls", "cat", "ext2"],
    );
    let arg = format!("{},ro", img.display());
    let (status, out, err) =
        Vmm::start_with(&path, &[std::ffi::OsStr::new("--disk"), arg.as_ref()]).finish();
    let lines = plain_lines(&out);
    let report = format!("status {status:?}\n--- stdout ---\n{out}\n--- stderr ---\n{err}");
    assert!(
        lines.iter().any(|l| l.contains("(xen/xvda)")),
        "GRUB's `ls` does not list the PV disk; {report}"
    );
    assert!(
        lines.iter().any(|l| l.contains("hello.txt")),
        "`ls (xen/xvda)/` does not list hello.txt; {report}"
    );
    assert!(
        lines.iter().any(|l| l == text),
        "the file's contents are not on the console; {report}"
    );
    assert!(lines.iter().any(|l| l == "done-reading"), "{report}");
    assert_eq!(status.code(), Some(0), "{report}");
}

/// A snapshot taken while GRUB has the PV disk connected restores in a new process with
/// the disk's ring where it was: GRUB reads the file through it after the restore.
#[test]
fn grub_pv_disk_survives_snapshot_and_restore() {
    if !kvm_available() {
        return;
    }
    let text = "read-after-restore-through-blkif";
    let img = ext2_image("snap", &format!("{text}\n"));
    let path = build(
        "pv-disk-prompt",
        "ls (xen/xvda)/\necho ready-for-snapshot\n",
        &["normal", "echo", "halt", "minicmd", "ls", "cat", "ext2"],
    );
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grub-disk");
    let snap = dir.join("pv-disk.snap");
    let _ = std::fs::remove_file(&snap);
    let arg = format!("{},ro", img.display());
    let mut vmm = Vmm::start_with(
        &path,
        &[
            "--disk".as_ref(),
            arg.as_ref(),
            "--snapshot-on-signal".as_ref(),
            snap.as_os_str(),
        ],
    );
    if !vmm.wait_for("grub>", 0) {
        vmm.fail("no `grub>` prompt on the console");
    }
    if !plain_lines(&vmm.text())
        .iter()
        .any(|l| l.contains("hello.txt"))
    {
        vmm.fail("`ls (xen/xvda)/` did not list hello.txt before the snapshot");
    }
    // SAFETY: kill(2) on our own child.
    let r = unsafe { libc::kill(vmm.child.id() as i32, libc::SIGUSR1) };
    assert_eq!(r, 0);
    while !snap.exists() {
        if vmm.start.elapsed() > DEADLINE {
            vmm.fail("no snapshot written");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = vmm.child.kill();
    let _ = vmm.child.wait();

    let mut vmm = Vmm::spawn(&["restore".as_ref(), snap.as_os_str()]);
    vmm = vmm.type_line("cat (xen/xvda)/hello.txt");
    if !vmm.wait_for(text, 0) {
        vmm.fail("the restored GRUB did not read the file through the PV disk");
    }
    vmm = vmm.type_line("halt");
    let (status, out, err) = vmm.finish();
    assert_eq!(
        status.code(),
        Some(0),
        "--- stdout ---\n{out}\n--- stderr ---\n{err}"
    );
    assert!(plain_lines(&out).iter().any(|l| l == text), "{out}");
}

#[test]
fn plain_lines_strips_escapes() {
    assert_eq!(
        plain_lines("\u{1b}[0mgrub> echo x\r\n\u{1b}[?25hx\r\n"),
        vec!["grub> echo x", "x"]
    );
}
