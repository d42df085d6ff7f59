// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! Reading a fuzz input as little-endian operands: missing bytes read as 0, so every
//! input decodes.

/// The rest of an input.
pub struct Cursor<'a>(pub &'a [u8]);

impl Cursor<'_> {
    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    /// The next little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
}
