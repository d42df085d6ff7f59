// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Lock-order violations that must not compile, each with the reason in its `.stderr`.

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
