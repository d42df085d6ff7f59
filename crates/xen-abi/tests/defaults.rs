// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `Default` of every ABI struct is the all-zero guest page content a fresh
//! domain starts with, and a struct round-trips through its guest bytes.

use vm_memory::ByteValued;
use xen_abi::*;

fn assert_zero_default<T: ByteValued + Default + PartialEq + std::fmt::Debug>(name: &str) {
    let value = T::default();
    assert!(
        value.as_slice().iter().all(|&b| b == 0),
        "{name}::default() is not all zero bytes"
    );
    // Non-zero contents survive a byte round trip and differ from the default.
    let mut bytes = vec![0u8; std::mem::size_of::<T>()];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i % 251) as u8 + 1;
    }
    let parsed = T::from_slice(&bytes).expect("size matches");
    assert_ne!(*parsed, value, "{name}: distinct contents compare equal");
    assert_eq!(parsed.as_slice(), &bytes[..]);
}

#[test]
fn defaults_are_zeroed_pages() {
    assert_zero_default::<SharedInfo64>("SharedInfo64");
    assert_zero_default::<SharedInfo32>("SharedInfo32");
    assert_zero_default::<VcpuInfo64>("VcpuInfo64");
    assert_zero_default::<VcpuInfo32>("VcpuInfo32");
    assert_zero_default::<VcpuTimeInfo>("VcpuTimeInfo");
    assert_zero_default::<XenconsInterface>("XenconsInterface");
    assert_zero_default::<XenstoreDomainInterface>("XenstoreDomainInterface");
    assert_zero_default::<XenCompileInfo>("XenCompileInfo");
}
