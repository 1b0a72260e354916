//! PL011 UART of QEMU's `virt` machine: a 32-bit store to the data
//! register transmits one byte. QEMU needs no baud or enable setup.

use core::fmt;

/// PL011 data register (UARTDR).
const UART_DR: usize = 0x0900_0000;
/// PL011 flag register (UARTFR); bit 5 is TXFF, the transmit FIFO full.
const UART_FR: usize = 0x0900_0018;

/// The console: a zero-sized handle on the PL011.
pub struct Uart;

impl Uart {
    fn put(&mut self, byte: u8) {
        // SAFETY: fixed MMIO addresses of the virt machine's PL011.
        unsafe {
            while core::ptr::read_volatile(UART_FR as *const u32) & (1 << 5) != 0 {}
            core::ptr::write_volatile(UART_DR as *mut u32, u32::from(byte));
        }
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
