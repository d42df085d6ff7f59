// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! console_io: write and read.

mod common;
use common::*;
use vm_memory::{Bytes, GuestAddress};
use xen_abi::errno::*;
use xen_abi::*;
use xen_hypercall::*;

fn con(e: &mut Env, cmd: u32, count: u64, buf: u64) -> i64 {
    match e
        .call(HYPERVISOR_CONSOLE_IO, [cmd.into(), count, buf, 0, 0, 0])
        .outcome
    {
        HypercallOutcome::Done(v) => v,
        o => panic!("{o:?}"),
    }
}

#[test]
fn write_in_chunks() {
    for w in both() {
        let mut e = Env::new(w);
        let text: Vec<u8> = (0..600u32).map(|i| b'a' + (i % 26) as u8).collect();
        e.mem.write_slice(&text, GuestAddress(BUF)).unwrap();
        assert_eq!(con(&mut e, CONSOLEIO_WRITE, 600, BUF), 0);
        assert_eq!(e.hv.console_len, 600);
        assert_eq!(&e.hv.console[..600], &text[..]);
        assert_eq!(e.hv.calls, 3, "256 + 256 + 88");
        assert_eq!(con(&mut e, CONSOLEIO_WRITE, 0, BAD), 0);
    }
}

#[test]
fn write_invalid() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(con(&mut e, CONSOLEIO_WRITE, 16, BAD), neg(EFAULT));
        assert_eq!(con(&mut e, CONSOLEIO_WRITE, 16, RAM - 8), neg(EFAULT));
        assert_eq!(
            con(
                &mut e,
                CONSOLEIO_WRITE,
                u64::from(MAX_CONSOLE_WRITE) + 1,
                BUF
            ),
            neg(EINVAL)
        );
    }
}

#[test]
fn read() {
    for w in both() {
        let mut e = Env::new(w);
        assert_eq!(con(&mut e, CONSOLEIO_READ, 16, BUF), 2);
        assert_eq!(e.get::<[u8; 2]>(BUF), *b"in");
        assert_eq!(con(&mut e, CONSOLEIO_READ, 1, BUF + 8), 1);
        assert_eq!(con(&mut e, CONSOLEIO_READ, 16, BAD), neg(EFAULT));
        assert_eq!(con(&mut e, CONSOLEIO_READ, 0, BAD), 0);
    }
}
