// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `MemoryMap::synchronize`: waits for readers of retired maps, and only for them.
//!
//! Threads and channels, no timing assertions: "still waiting" is checked with a bounded
//! `recv_timeout` that can only fail if `synchronize` returned too early.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use vm_lock::{MemoryMap, OrderedMutex, Root, VcpuMutex};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

fn map(size: usize) -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size)]).unwrap()
}

/// Long enough for a wrongly-returning `synchronize` to be seen, short enough to keep the test fast.
const STILL_WAITING: Duration = Duration::from_millis(200);

/// Spawns a reader that holds a read section until told to release it.
/// Returns (release sender, join handle, flag set just before the guard drops).
fn spawn_reader(
    mem: &MemoryMap<GuestMemoryMmap>,
) -> (
    std::sync::mpsc::Sender<()>,
    thread::JoinHandle<()>,
    Arc<AtomicBool>,
) {
    let mem = mem.clone();
    let (release_tx, release_rx) = channel::<()>();
    let (held_tx, held_rx) = channel::<()>();
    let dropping = Arc::new(AtomicBool::new(false));
    let dropping2 = Arc::clone(&dropping);
    let h = thread::spawn(move || {
        let mut root = Root::new().unwrap();
        let (snap, _t) = mem.read(root.token());
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        // The snapshot is still the map this reader started with.
        let v: u32 = snap.read_obj(GuestAddress(0)).unwrap();
        assert_eq!(v, 0x1111);
        dropping2.store(true, Ordering::SeqCst);
        drop(snap);
    });
    held_rx.recv().unwrap();
    (release_tx, h, dropping)
}

/// Spawns a thread that calls `synchronize` and reports when it returned.
fn spawn_syncer(
    mem: &MemoryMap<GuestMemoryMmap>,
) -> (std::sync::mpsc::Receiver<()>, thread::JoinHandle<()>) {
    let mem = mem.clone();
    let (done_tx, done_rx) = channel::<()>();
    let h = thread::spawn(move || {
        let vcpu = OrderedMutex::<VcpuMutex, ()>::new(());
        let mut root = Root::new().unwrap();
        // Allowed under a vCPU mutex.
        let (_g, mut t) = vcpu.lock(root.token());
        mem.synchronize(&mut t);
        done_tx.send(()).unwrap();
    });
    (done_rx, h)
}

#[test]
fn synchronize_waits_for_reader_of_old_map_and_returns_after_it_drops() {
    let mem = MemoryMap::new(map(0x1000));
    let mut root = Root::new().unwrap();
    guest_write(&mem, &mut root);
    let (release, reader, dropping) = spawn_reader(&mem);

    mem.replace(root.token(), map(0x2000));
    assert_eq!(mem.retired_in_use(), 1);

    let (done, syncer) = spawn_syncer(&mem);
    assert_eq!(
        done.recv_timeout(STILL_WAITING),
        Err(RecvTimeoutError::Timeout),
        "synchronize returned while a reader still held the old map"
    );
    release.send(()).unwrap();
    done.recv().unwrap();
    assert!(
        dropping.load(Ordering::SeqCst),
        "returned before the reader dropped"
    );
    reader.join().unwrap();
    syncer.join().unwrap();
    assert_eq!(mem.retired_in_use(), 0);
}

#[test]
fn synchronize_waits_for_the_last_of_several_readers() {
    let mem = MemoryMap::new(map(0x1000));
    let mut root = Root::new().unwrap();
    guest_write(&mem, &mut root);
    let (release_a, reader_a, _) = spawn_reader(&mem);
    let (release_b, reader_b, dropping_b) = spawn_reader(&mem);
    mem.replace(root.token(), map(0x2000));

    let (done, syncer) = spawn_syncer(&mem);
    release_a.send(()).unwrap();
    reader_a.join().unwrap();
    assert_eq!(
        done.recv_timeout(STILL_WAITING),
        Err(RecvTimeoutError::Timeout),
        "synchronize returned while the second reader still held the old map"
    );
    release_b.send(()).unwrap();
    done.recv().unwrap();
    assert!(dropping_b.load(Ordering::SeqCst));
    reader_b.join().unwrap();
    syncer.join().unwrap();
}

#[test]
fn synchronize_does_not_wait_for_readers_of_the_current_map() {
    let mem = MemoryMap::new(map(0x1000));
    let mut root = Root::new().unwrap();
    mem.replace(root.token(), map(0x2000));
    guest_write(&mem, &mut root);
    // This reader holds the *new* map: it must not block synchronize.
    let (release, reader, dropping) = spawn_reader(&mem);
    mem.synchronize(root.token());
    assert!(!dropping.load(Ordering::SeqCst));
    release.send(()).unwrap();
    reader.join().unwrap();
}

#[test]
fn synchronize_with_nothing_retired_returns() {
    let mem = MemoryMap::new(map(0x1000));
    let mut root = Root::new().unwrap();
    mem.synchronize(root.token());
    // And with a retired map that nobody reads.
    {
        let (snap, _t) = mem.read(root.token());
        assert_eq!(snap.last_addr(), GuestAddress(0xfff));
    }
    mem.replace(root.token(), map(0x2000));
    mem.synchronize(root.token());
    assert_eq!(mem.retired_in_use(), 0);
    assert_eq!(mem.generation(), 1);
}

/// Test setup: what the guest wrote before the test starts (in a read section of its own).
fn guest_write(mem: &MemoryMap<GuestMemoryMmap>, root: &mut Root) {
    let (m, _t) = mem.read(root.token());
    m.write_obj(0x1111u32, GuestAddress(0)).unwrap();
}
