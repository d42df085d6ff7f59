// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
//! The 16550A UART on I/O port 0x3f8 (vm-superio), output to the console sink.

use vm_superio::serial::NoEvents;
use vm_superio::{Serial, Trigger};

/// First I/O port of COM1.
pub const COM1: u16 = 0x3f8;

/// No interrupt line (this VMM has no emulated PIC/IOAPIC): the guest polls the UART.
#[derive(Debug, Default)]
pub struct NoIrq;

impl Trigger for NoIrq {
    type E = std::convert::Infallible;
    fn trigger(&self) -> Result<(), Self::E> {
        Ok(())
    }
}

/// The serial device; transmitted bytes collect in its writer until drained.
pub struct SerialDevice {
    uart: Serial<NoIrq, NoEvents, Vec<u8>>,
}

impl Default for SerialDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl SerialDevice {
    /// A fresh UART.
    pub fn new() -> Self {
        SerialDevice {
            uart: Serial::new(NoIrq, Vec::new()),
        }
    }

    /// Whether `port` belongs to this device.
    pub fn claims(port: u16) -> bool {
        (COM1..COM1 + 8).contains(&port)
    }

    /// Guest `out` to `port`; returns bytes transmitted so far (drained).
    pub fn write(&mut self, port: u16, value: u8) -> Vec<u8> {
        let _ = self.uart.write((port - COM1) as u8, value);
        std::mem::take(self.uart.writer_mut())
    }

    /// Guest `in` from `port`.
    pub fn read(&mut self, port: u16) -> u8 {
        self.uart.read((port - COM1) as u8)
    }
}
