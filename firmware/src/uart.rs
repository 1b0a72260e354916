//! PL011 UART of QEMU's `virt` machine, through the generated `pl011-regs`
//! accessors: a write of UARTDR.DATA transmits one byte once UARTFR.TXFF
//! (transmit FIFO full) is clear. QEMU needs no baud or enable setup, so
//! the driver only transmits.

use core::fmt;

use pl011_regs::{Pl011, UARTDR, UARTFR};
use smmu_driver::VolatileMmio;

/// Base of the virt machine's PL011 (`VIRT_UART` in QEMU's memory map).
/// Platform parameter, not a map fact: the register offsets inside the
/// window come from `pl011-regs`.
const UART_BASE: usize = 0x0900_0000;

/// The console: a zero-sized handle on the PL011.
pub struct Uart;

impl Uart {
    fn put(&mut self, byte: u8) {
        // SAFETY: the virt machine's PL011 window (the map's WINDOW_SIZE,
        // 4 KiB), page-aligned device memory with the MMU off. The firmware
        // is single-threaded and takes no interrupts, so this backend is the
        // only access to the window while it lives (to the end of `put`).
        let uart =
            Pl011::new(unsafe { VolatileMmio::new(UART_BASE as *mut u8, pl011_regs::WINDOW_SIZE) });
        while uart.uartfr().is_set(UARTFR::TXFF) {}
        uart.uartdr().write(UARTDR::DATA.val(u32::from(byte)));
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
        Ok(())
    }
}

/// Prints to the UART.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::uart::Uart, format_args!($($arg)*));
    }};
}

/// Prints a line to the UART.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!($($arg)*);
        $crate::print!("\n");
    }};
}
