// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The Xen PV console: the `xencons_interface` page.
//!
//! The page (`HVM_PARAM_CONSOLE_PFN`) holds two byte rings: `in` (1024
//! bytes, host to guest) and `out` (2048 bytes, guest to host), with the
//! free-running `u32` indices `in_cons`, `in_prod`, `out_cons`, `out_prod`
//! after them. The guest produces on `out` and consumes on `in`; we do the
//! opposite.
//!
//! The platform calls [`Console::process`] whenever the guest signals the
//! console event channel (`HVM_PARAM_CONSOLE_EVTCHN`) or yields
//! (`SCHEDOP_yield`: GRUB spins on yield until the output ring is empty),
//! and after [`Console::queue_input`] (bytes read from stdin). When
//! `process` returns `true` the core must raise the console event channel.
//!
//! # Host input: the PV ring or `CONSOLEIO_read`
//!
//! Host input is queued here ([`Console::queue_input`], bounded by
//! [`MAX_PENDING_INPUT`]) and goes to whichever input path the guest uses
//! last ([`InputRoute`]): the `in` ring (the default, and again each time
//! the guest signals the console event channel, see [`Console::use_ring`])
//! or the `CONSOLEIO_read` hypercall (from the guest's first
//! [`Console::read_input`] on). While the route is `CONSOLEIO_read`,
//! [`Console::process`] leaves the input queued and the hypercall drains
//! it; input is never given to both. Input that reached the ring before a
//! guest switched to `CONSOLEIO_read` stays in the ring.
//!
//! `CONSOLEIO_write` output is Xen's hypervisor console rather than the
//! guest's PV console: [`HypervisorConsole`] line-buffers it and prefixes
//! each line with `(dN) `, as Xen prints a domain's `console_io` output,
//! so that it stays apart from the ring's raw byte stream.
//!
//! ```
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use xen_platform::console::{Console, OUT_PROD};
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
//! let mut con = Console::new(0xf, Vec::new()).unwrap(); // ring page at GFN 0xf
//! // The guest writes "hi" to out[0..2] and bumps out_prod.
//! mem.write_slice(b"hi", GuestAddress(0xf000 + 1024)).unwrap();
//! mem.write_obj(2u32, GuestAddress(0xf000 + OUT_PROD)).unwrap();
//! con.queue_input(b"x");
//! assert!(con.process(&mem).unwrap()); // notify the guest
//! assert_eq!(con.output(), b"hi");
//! ```

use std::collections::VecDeque;
use std::io::Write;

use log::warn;
use vm_memory::{Bytes, GuestAddress};

use std::mem::offset_of;

use xen_abi::{XenconsInterface, XENCONS_IN_SIZE, XENCONS_OUT_SIZE};

mod ring;

pub use ring::XEN_PAGE_SIZE;
use ring::{load_idx, page_base, store_idx, ByteRing};

use crate::error::{Error, Result};

/// Size of the host-to-guest ring.
pub const IN_SIZE: u32 = XENCONS_IN_SIZE as u32;
/// Size of the guest-to-host ring.
pub const OUT_SIZE: u32 = XENCONS_OUT_SIZE as u32;
/// Offset of `in[]` in the page.
pub const IN_OFF: u64 = offset_of!(XenconsInterface, input) as u64;
/// Offset of `out[]` in the page.
pub const OUT_OFF: u64 = offset_of!(XenconsInterface, output) as u64;
/// Offset of `in_cons`.
pub const IN_CONS: u64 = offset_of!(XenconsInterface, in_cons) as u64;
/// Offset of `in_prod`.
pub const IN_PROD: u64 = offset_of!(XenconsInterface, in_prod) as u64;
/// Offset of `out_cons`.
pub const OUT_CONS: u64 = offset_of!(XenconsInterface, out_cons) as u64;
/// Offset of `out_prod`.
pub const OUT_PROD: u64 = offset_of!(XenconsInterface, out_prod) as u64;

/// Bound on host input waiting for room in the guest's ring; input beyond
/// it is dropped (and counted).
pub const MAX_PENDING_INPUT: usize = 64 * 1024;

/// Where queued host input goes (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputRoute {
    /// Into the guest's `in` ring (copied by [`Console::process`]).
    #[default]
    Ring,
    /// Kept queued for `CONSOLEIO_read` ([`Console::read_input`]).
    ConsoleIo,
}

/// Snapshot state of the console (the ring itself lives in guest memory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsoleState {
    /// Guest frame number of the ring page.
    pub ring_gfn: u64,
    /// Host input not yet copied into the guest's ring.
    pub pending_input: Vec<u8>,
    /// Host input bytes dropped because the queue was full.
    pub dropped_input: u64,
    /// Times the guest broke the ring protocol (bad indices).
    pub guest_errors: u64,
}

/// The console backend: drains guest output into a [`Write`] sink and
/// feeds queued host input into the guest.
#[derive(Debug)]
pub struct Console<W: Write> {
    ring: GuestAddress,
    state: ConsoleState,
    pending: VecDeque<u8>,
    route: InputRoute,
    out: W,
}

impl<W: Write> Console<W> {
    /// A console whose ring page is guest frame `ring_gfn`, writing guest
    /// output to `out`.
    pub fn new(ring_gfn: u64, out: W) -> Result<Self> {
        Self::from_state(
            &ConsoleState {
                ring_gfn,
                ..Default::default()
            },
            out,
        )
    }

    /// Restores a console from a snapshot. More than [`MAX_PENDING_INPUT`]
    /// bytes of queued input is [`Error::Config`] (no running console holds
    /// more).
    pub fn from_state(state: &ConsoleState, out: W) -> Result<Self> {
        let ring = page_base(state.ring_gfn)?;
        if state.pending_input.len() > MAX_PENDING_INPUT {
            return Err(Error::Config(format!(
                "console pending input: {} bytes, at most {MAX_PENDING_INPUT}",
                state.pending_input.len()
            )));
        }
        let pending: VecDeque<u8> = state.pending_input.iter().copied().collect();
        Ok(Console {
            ring,
            state: ConsoleState {
                pending_input: Vec::new(),
                ..state.clone()
            },
            pending,
            route: InputRoute::Ring,
            out,
        })
    }

    /// The state to snapshot.
    pub fn state(&self) -> ConsoleState {
        ConsoleState {
            pending_input: self.pending.iter().copied().collect(),
            ..self.state.clone()
        }
    }

    /// The output sink.
    pub fn output(&self) -> &W {
        &self.out
    }

    /// The output sink, mutably.
    pub fn output_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Bytes of host input still waiting for room in the guest's ring.
    pub fn pending_input(&self) -> usize {
        self.pending.len()
    }

    /// Queues host input (e.g. read from stdin) for the guest. Returns how
    /// many bytes were accepted; the rest is dropped because the queue
    /// holds [`MAX_PENDING_INPUT`] bytes already. Call [`Console::process`]
    /// afterwards to copy it into the ring.
    pub fn queue_input(&mut self, bytes: &[u8]) -> usize {
        let room = MAX_PENDING_INPUT.saturating_sub(self.pending.len());
        let n = room.min(bytes.len());
        self.pending.extend(&bytes[..n]);
        let dropped = (bytes.len() - n) as u64;
        if dropped > 0 {
            self.state.dropped_input = self.state.dropped_input.saturating_add(dropped);
            warn!("xen console: input queue full, dropped {dropped} bytes");
        }
        n
    }

    /// Where queued input goes now.
    pub fn input_route(&self) -> InputRoute {
        self.route
    }

    /// The guest uses the PV ring (it signalled the console event channel):
    /// queued input goes into the `in` ring from now on.
    pub fn use_ring(&mut self) {
        self.route = InputRoute::Ring;
    }

    /// `CONSOLEIO_read`: moves up to `buf.len()` bytes of queued input into
    /// `buf` and returns how many (0: none waiting; it never blocks, as in
    /// Xen). From now on input stays queued for this hypercall instead of
    /// going into the ring, until the guest signals the console channel.
    pub fn read_input(&mut self, buf: &mut [u8]) -> usize {
        self.route = InputRoute::ConsoleIo;
        let n = buf.len().min(self.pending.len());
        for (b, p) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *b = p;
        }
        n
    }

    /// Drains the guest's output ring into the sink and copies pending
    /// input into the guest's input ring (route [`InputRoute::Ring`]). Returns `true` when the guest
    /// must be notified (its console event channel raised): output was
    /// consumed (the guest may wait for room) or input was produced.
    ///
    /// On a sink error the output is still consumed (so a guest never
    /// blocks on a broken host terminal) and the error is returned.
    ///
    /// Bounded per call whatever the guest writes to its indices: each
    /// index is read once, at most one ring's worth ([`OUT_SIZE`]) is drained
    /// and one ([`IN_SIZE`]) pushed, no loop; the rest waits for the next
    /// call (the guest's next notification).
    pub fn process<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<bool> {
        let (drained, out_err) = self.drain_output(mem)?;
        let pushed = self.push_input(mem)?;
        if let Some(e) = out_err {
            return Err(e);
        }
        Ok(drained || pushed)
    }

    fn gpa(&self, off: u64) -> u64 {
        self.ring.0 + off
    }

    /// Returns (consumed anything, sink error).
    fn drain_output<M: Bytes<GuestAddress> + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<(bool, Option<Error>)> {
        let cons = load_idx(mem, self.gpa(OUT_CONS))?;
        let prod = load_idx(mem, self.gpa(OUT_PROD))?;
        let avail = prod.wrapping_sub(cons);
        if avail == 0 {
            return Ok((false, None));
        }
        if avail > OUT_SIZE {
            self.state.guest_errors = self.state.guest_errors.saturating_add(1);
            warn!(
                "xen console: guest out_prod {prod:#x} is {avail} bytes ahead of out_cons {cons:#x} (ring holds {OUT_SIZE}); dropping"
            );
            store_idx(mem, self.gpa(OUT_CONS), prod)?;
            return Ok((true, None));
        }
        let ring = ByteRing {
            base: GuestAddress(self.gpa(OUT_OFF)),
            size: OUT_SIZE,
        };
        // avail <= OUT_SIZE: at most one ring's worth per call.
        let mut buf = vec![0u8; avail as usize];
        ring.read(mem, cons, &mut buf)?;
        let res = self.out.write_all(&buf).and_then(|()| self.out.flush());
        store_idx(mem, self.gpa(OUT_CONS), prod)?;
        Ok((true, res.err().map(Error::Output)))
    }

    fn push_input<M: Bytes<GuestAddress> + ?Sized>(&mut self, mem: &M) -> Result<bool> {
        if self.pending.is_empty() || self.route != InputRoute::Ring {
            return Ok(false);
        }
        let cons = load_idx(mem, self.gpa(IN_CONS))?;
        let mut prod = load_idx(mem, self.gpa(IN_PROD))?;
        let mut fill = prod.wrapping_sub(cons);
        if fill > IN_SIZE {
            // The guest moved in_cons past what we produced (or scribbled
            // on in_prod): treat the ring as empty from its consumer on.
            self.state.guest_errors = self.state.guest_errors.saturating_add(1);
            warn!(
                "xen console: in_cons {cons:#x} / in_prod {prod:#x} out of range; resetting input ring"
            );
            prod = cons;
            fill = 0;
        }
        let room = (IN_SIZE - fill) as usize;
        let n = room.min(self.pending.len());
        if n == 0 {
            return Ok(false);
        }
        let bytes: Vec<u8> = self.pending.drain(..n).collect();
        let ring = ByteRing {
            base: GuestAddress(self.gpa(IN_OFF)),
            size: IN_SIZE,
        };
        ring.write(mem, prod, &bytes)?;
        // n <= IN_SIZE.
        store_idx(mem, self.gpa(IN_PROD), prod.wrapping_add(n as u32))?;
        Ok(true)
    }
}

/// Longest line [`HypervisorConsole`] holds; a longer one is split (Xen
/// flushes a domain's buffer at 200 bytes too).
pub const MAX_LINE: usize = 200;

/// Xen's hypervisor console as a domain's `CONSOLEIO_write` reaches it:
/// bytes are collected into lines, each printed with a `(dN) ` prefix once
/// its newline arrives (or [`MAX_LINE`] bytes are held, or at
/// [`HypervisorConsole::flush`]). Control characters other than tab are
/// dropped (a guest must not drive the host terminal through this log;
/// its PV console ring is passed through untouched).
#[derive(Clone, Debug)]
pub struct HypervisorConsole {
    prefix: Vec<u8>,
    line: Vec<u8>,
}

impl HypervisorConsole {
    /// The console of domain `domid`.
    pub fn new(domid: u16) -> Self {
        HypervisorConsole {
            prefix: format!("(d{domid}) ").into_bytes(),
            line: Vec::with_capacity(MAX_LINE),
        }
    }

    /// Adds guest bytes; complete lines are appended to `out`.
    pub fn write(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &b in bytes {
            match b {
                b'\n' => self.emit(out),
                b'\t' | 0x20..=0x7e | 0x80..=0xff => {
                    self.line.push(b);
                    if self.line.len() >= MAX_LINE {
                        self.emit(out);
                    }
                }
                _ => {}
            }
        }
    }

    /// Appends the partial line, if any, to `out` (e.g. when the VM ends).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if !self.line.is_empty() {
            self.emit(out);
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        out.append(&mut self.line);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::ring::test_util::mem;
    use super::*;
    use vm_memory::GuestMemoryMmap;

    const GFN: u64 = 2;
    const BASE: u64 = GFN * 4096;

    fn set(mem: &GuestMemoryMmap, off: u64, v: u32) {
        mem.write_obj(v, GuestAddress(BASE + off)).unwrap();
    }
    fn get(mem: &GuestMemoryMmap, off: u64) -> u32 {
        mem.read_obj(GuestAddress(BASE + off)).unwrap()
    }
    /// Guest side: put bytes on the out ring.
    fn guest_put(mem: &GuestMemoryMmap, bytes: &[u8]) {
        let mut prod = get(mem, OUT_PROD);
        for &b in bytes {
            let off = u64::from(prod & (OUT_SIZE - 1));
            mem.write_obj(b, GuestAddress(BASE + OUT_OFF + off))
                .unwrap();
            prod = prod.wrapping_add(1);
        }
        set(mem, OUT_PROD, prod);
    }
    /// Guest side: take everything from the in ring.
    fn guest_get(mem: &GuestMemoryMmap) -> Vec<u8> {
        let mut cons = get(mem, IN_CONS);
        let prod = get(mem, IN_PROD);
        let mut v = Vec::new();
        while cons != prod {
            let off = u64::from(cons & (IN_SIZE - 1));
            v.push(mem.read_obj(GuestAddress(BASE + IN_OFF + off)).unwrap());
            cons = cons.wrapping_add(1);
        }
        set(mem, IN_CONS, cons);
        v
    }

    #[test]
    fn drains_output() {
        let m = mem();
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        assert!(!c.process(&m).unwrap(), "nothing to do, no notify");
        guest_put(&m, b"hello\n");
        assert!(c.process(&m).unwrap());
        assert_eq!(c.output(), b"hello\n");
        assert_eq!(get(&m, OUT_CONS), 6);
        assert!(!c.process(&m).unwrap());
    }

    #[test]
    fn output_wraps_ring_and_index() {
        let m = mem();
        let start = u32::MAX - 5;
        set(&m, OUT_CONS, start);
        set(&m, OUT_PROD, start);
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        let data: Vec<u8> = (0..OUT_SIZE).map(|i| (i % 251) as u8).collect();
        guest_put(&m, &data);
        assert!(c.process(&m).unwrap());
        assert_eq!(c.output(), &data);
        assert_eq!(get(&m, OUT_CONS), start.wrapping_add(OUT_SIZE));
    }

    #[test]
    fn output_prod_too_far_ahead_is_dropped() {
        let m = mem();
        set(&m, OUT_CONS, 10);
        set(&m, OUT_PROD, 10 + OUT_SIZE + 1);
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        assert!(c.process(&m).unwrap());
        assert!(c.output().is_empty());
        assert_eq!(get(&m, OUT_CONS), 10 + OUT_SIZE + 1);
        assert_eq!(c.state().guest_errors, 1);
        // Prod "behind" cons is also > OUT_SIZE ahead after wrapping.
        set(&m, OUT_PROD, 0);
        assert!(c.process(&m).unwrap());
        assert_eq!(c.state().guest_errors, 2);
        // And the ring works again afterwards.
        guest_put(&m, b"ok");
        c.process(&m).unwrap();
        assert_eq!(c.output(), b"ok");
    }

    #[test]
    fn input_waits_for_room() {
        let m = mem();
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        let data: Vec<u8> = (0..IN_SIZE + 100).map(|i| (i % 253) as u8).collect();
        assert_eq!(c.queue_input(&data), data.len());
        assert!(c.process(&m).unwrap());
        assert_eq!(c.pending_input(), 100);
        assert_eq!(get(&m, IN_PROD), IN_SIZE);
        // Ring full: nothing more goes in, no notify.
        assert!(!c.process(&m).unwrap());
        let got = guest_get(&m);
        assert_eq!(&got[..], &data[..IN_SIZE as usize]);
        assert!(c.process(&m).unwrap());
        assert_eq!(c.pending_input(), 0);
        assert_eq!(guest_get(&m), &data[IN_SIZE as usize..]);
    }

    #[test]
    fn input_with_bad_guest_consumer_resets() {
        let m = mem();
        // Guest claims to have consumed far more than we produced.
        set(&m, IN_CONS, 5000);
        set(&m, IN_PROD, 3);
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        c.queue_input(b"abc");
        assert!(c.process(&m).unwrap());
        assert_eq!(get(&m, IN_PROD), 5003);
        assert_eq!(guest_get(&m), b"abc");
        assert_eq!(c.state().guest_errors, 1);
    }

    #[test]
    fn input_queue_is_bounded() {
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        let big = vec![b'a'; MAX_PENDING_INPUT + 10];
        assert_eq!(c.queue_input(&big), MAX_PENDING_INPUT);
        assert_eq!(c.queue_input(b"x"), 0);
        assert_eq!(c.state().dropped_input, 11);
    }

    #[test]
    fn state_round_trip() {
        let m = mem();
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        set(&m, IN_PROD, IN_SIZE); // ring full
        c.queue_input(b"later");
        c.process(&m).unwrap();
        let st = c.state();
        assert_eq!(st.pending_input, b"later");
        let mut c2 = Console::from_state(&st, Vec::new()).unwrap();
        assert_eq!(c2.state(), st);
        // More input than a running console can queue is refused.
        let mut big = st.clone();
        big.pending_input = vec![b'x'; MAX_PENDING_INPUT + 1];
        let e = Console::from_state(&big, Vec::new()).unwrap_err();
        assert!(e.to_string().contains("pending input"), "{e}");
        big.pending_input.pop();
        assert!(Console::from_state(&big, Vec::new()).is_ok());
        set(&m, IN_CONS, IN_SIZE); // guest consumed all
        assert!(c2.process(&m).unwrap());
        assert_eq!(guest_get(&m), b"later");
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn sink_error_still_consumes() {
        let m = mem();
        let mut c = Console::new(GFN, Broken).unwrap();
        guest_put(&m, b"lost");
        assert!(matches!(c.process(&m), Err(Error::Output(_))));
        assert_eq!(get(&m, OUT_CONS), 4);
    }

    #[test]
    fn random_indices_never_panic() {
        let m = mem();
        let mut c = Console::new(GFN, std::io::sink()).unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..5000 {
            let r = next();
            let off = [IN_CONS, IN_PROD, OUT_CONS, OUT_PROD][(r % 4) as usize];
            set(&m, off, next() as u32);
            c.queue_input(&[b'k'; 300]);
            let _ = c.process(&m).unwrap();
            // Whatever the guest wrote, we never leave more than a ring's
            // worth of input outstanding, and output is fully consumed.
            assert!(get(&m, IN_PROD).wrapping_sub(get(&m, IN_CONS)) <= IN_SIZE);
            assert_eq!(get(&m, OUT_CONS), get(&m, OUT_PROD));
            assert!(c.pending_input() <= MAX_PENDING_INPUT);
        }
    }

    #[test]
    fn console_io_read_takes_input_and_keeps_it_from_the_ring() {
        let m = mem();
        let mut c = Console::new(GFN, Vec::new()).unwrap();
        assert_eq!(c.input_route(), InputRoute::Ring);
        let mut buf = [0u8; 8];
        assert_eq!(c.read_input(&mut buf), 0, "nothing queued");
        assert_eq!(c.input_route(), InputRoute::ConsoleIo);
        c.queue_input(b"abcdef");
        // Not copied into the ring while the guest reads with the hypercall.
        assert!(!c.process(&m).unwrap());
        assert_eq!(get(&m, IN_PROD), 0);
        assert_eq!(c.read_input(&mut buf[..4]), 4);
        assert_eq!(&buf[..4], b"abcd");
        // The guest signals its console channel: the rest goes to the ring.
        c.use_ring();
        assert!(c.process(&m).unwrap());
        assert_eq!(guest_get(&m), b"ef");
        assert_eq!(c.read_input(&mut buf), 0, "input is never given twice");
    }

    #[test]
    fn hypervisor_console_prefixes_whole_lines() {
        let mut h = HypervisorConsole::new(1);
        let mut out = Vec::new();
        h.write(b"par", &mut out);
        assert!(out.is_empty(), "held until the newline");
        h.write(b"tial\nnext\x1b[2J\r line\n", &mut out);
        assert_eq!(out, b"(d1) partial\n(d1) next[2J line\n");
        out.clear();
        h.write(&[b'x'; MAX_LINE + 3], &mut out);
        let mut want = b"(d1) ".to_vec();
        want.extend_from_slice(&[b'x'; MAX_LINE]);
        want.push(b'\n');
        assert_eq!(out, want, "a full buffer is printed");
        out.clear();
        h.flush(&mut out);
        assert_eq!(out, b"(d1) xxx\n");
        out.clear();
        h.flush(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn ring_outside_ram_is_an_error() {
        let m = mem();
        let mut c = Console::new(0x1000, Vec::new()).unwrap();
        assert!(matches!(c.process(&m), Err(Error::GuestMemory(_))));
        assert!(Console::new(u64::MAX, Vec::new()).is_err());
    }
}
