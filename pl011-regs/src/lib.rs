//! ARM PL011 UART registers, generated from [`pl011.yaml`](../pl011.yaml).
//!
//! The third map of the project and the worked example of
//! "bring your own device" (`docs/bring-your-own-device.md`): a small,
//! well-known peripheral next to the SMMUv3 and CMDQV maps.
//!
//! Guest side (no_std, allocation-free): one module per register
//! (`UARTDR`, `UARTFR`, `UARTLCR_H`, ...) with its offset, reset, masks per
//! access kind and tock-registers field types; typed accessors through
//! [`Pl011`] over any [`regmap_rt::Mmio`] backend.
//!
//! Host side: [`regfile`] holds an emulator's register file and trap
//! dispatcher; the UART's side effects (FIFOs, the computed UARTMIS,
//! UARTICR clearing UARTRIS) are the map's hooks, implemented by the model.
//!
//! ```
//! use pl011_regs::{Pl011, UARTCR, UARTFR, UARTLCR_H};
//! use regmap_rt::FakeMmio;
//!
//! let mmio = FakeMmio::<0x1000>::new();
//! let uart = Pl011::new(&mmio);
//! // 8 data bits, FIFOs on, then enable the UART and its transmitter.
//! uart.uartlcr_h().write(UARTLCR_H::WLEN::BITS8 + UARTLCR_H::FEN::SET);
//! uart.uartcr().write(UARTCR::UARTEN::SET + UARTCR::TXE::SET);
//! assert_eq!(uart.uartlcr_h().get(), 0x70);
//! assert!(!uart.uartfr().is_set(UARTFR::TXFF));
//! ```
#![no_std]
// Register and field names keep the TRM's spelling (`UARTLCR_H`, `TXFF`).
#![allow(non_snake_case, non_camel_case_types, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/accessors.rs"));

/// Host emulation: the register file and trap dispatcher of the PL011.
pub mod regfile {
    include!(concat!(env!("OUT_DIR"), "/regfile.rs"));
}
