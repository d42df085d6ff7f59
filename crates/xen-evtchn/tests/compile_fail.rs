// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Lock-order violations against xen-evtchn's real API that must not compile.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
