// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! `console_io` sub-ops and the PV console ring (`io/console.h`).

/// Write bytes to the hypervisor console.
pub const CONSOLEIO_WRITE: u32 = 0;
/// Read bytes from the hypervisor console.
pub const CONSOLEIO_READ: u32 = 1;

/// Size of the console input ring (guest reads).
pub const XENCONS_IN_SIZE: usize = 1024;
/// Size of the console output ring (guest writes).
pub const XENCONS_OUT_SIZE: usize = 2048;

/// `struct xencons_interface` (3088 bytes), at `HVM_PARAM_CONSOLE_PFN`.
///
/// Indices are free-running; mask with the ring size minus one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenconsInterface {
    /// Input ring (backend produces, guest consumes).
    pub input: [u8; XENCONS_IN_SIZE],
    /// Output ring (guest produces, backend consumes).
    pub output: [u8; XENCONS_OUT_SIZE],
    /// Input consumer index.
    pub in_cons: u32,
    /// Input producer index.
    pub in_prod: u32,
    /// Output consumer index.
    pub out_cons: u32,
    /// Output producer index.
    pub out_prod: u32,
}

impl Default for XenconsInterface {
    fn default() -> Self {
        Self {
            input: [0; XENCONS_IN_SIZE],
            output: [0; XENCONS_OUT_SIZE],
            in_cons: 0,
            in_prod: 0,
            out_cons: 0,
            out_prod: 0,
        }
    }
}
