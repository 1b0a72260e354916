//! Both sides of the PL011 in one process: a guest driver written with the
//! generated accessors ([`Pl011`]) runs against a tiny UART model built on
//! the generated register file, through a loopback [`Mmio`] that turns each
//! accessor's load or store into a trapped access. The model implements the
//! map's hooks: what the format has no access word for (a write to UARTICR
//! clearing UARTRIS bits, UARTMIS computed from two registers, UARTECR
//! clearing UARTRSR on any write, the receive FIFO behind UARTDR).

use std::cell::RefCell;
use std::collections::VecDeque;

use pl011_regs::regfile::{Hooks, Read, RegFile, Write};
use pl011_regs::{
    Pl011, UARTCR, UARTDR, UARTFBRD, UARTFR, UARTIBRD, UARTICR, UARTIMSC, UARTLCR_H, UARTRIS,
    UARTRSR_ECR,
};
use regmap_rt::Mmio;

/// The device behind the registers: transmitted bytes, the receive FIFO
/// (each entry a character with its error flags in bits 11:8, as UARTDR
/// returns it) and the baud divisors latched by the last UARTLCR_H write.
#[derive(Default)]
struct Uart {
    tx: Vec<u8>,
    rx: VecDeque<u32>,
    divisors: Option<(u32, u32)>,
}

impl Uart {
    /// A character arrives on the line: into the FIFO, FR.RXFE drops and
    /// the receive interrupt is raised.
    fn receive(&mut self, regs: &mut RegFile, data: u32) {
        self.rx.push_back(data);
        regs.update_uartfr(UARTFR::RXFE.mask << UARTFR::RXFE.shift, 0);
        regs.update_uartris(0, UARTRIS::RX.mask << UARTRIS::RX.shift);
    }
}

impl Hooks for Uart {
    fn dr_write(&mut self, regs: &mut RegFile, w: Write<'_, UARTDR::Value>) {
        let cr = UARTCR::Value::new(regs.uartcr());
        if cr.is_set(UARTCR::UARTEN) && cr.is_set(UARTCR::TXE) {
            self.tx.push(w.new.read(UARTDR::DATA) as u8);
        }
    }

    fn dr_read(&mut self, regs: &mut RegFile, _: Read<'_>) {
        let Some(c) = self.rx.pop_front() else {
            return;
        };
        regs.set_uartdr(c);
        // UARTRSR shows the flags of the character just read.
        regs.set_uartrsr_ecr(c >> 8 & 0xf);
        if self.rx.is_empty() {
            regs.update_uartfr(0, UARTFR::RXFE.mask << UARTFR::RXFE.shift);
            regs.update_uartris(UARTRIS::RX.mask << UARTRIS::RX.shift, 0);
        }
    }

    fn ecr_write(&mut self, regs: &mut RegFile, _: Write<'_, UARTRSR_ECR::Value>) {
        regs.set_uartrsr_ecr(0);
    }

    fn lcr_h_write(&mut self, regs: &mut RegFile, _: Write<'_, UARTLCR_H::Value>) {
        self.divisors = Some((regs.uartibrd(), regs.uartfbrd()));
    }

    fn mis_read(&mut self, regs: &mut RegFile, _: Read<'_>) {
        let mis = regs.uartris() & regs.uartimsc();
        regs.set_uartmis(mis);
    }

    fn icr_write(&mut self, regs: &mut RegFile, w: Write<'_, UARTICR::Value>) {
        regs.update_uartris(w.new.get(), 0);
    }
}

/// The bus: every accessor access is a trapped access of the model.
struct Loopback(RefCell<(RegFile, Uart)>);

impl Loopback {
    fn new() -> Self {
        Loopback(RefCell::new((RegFile::new(), Uart::default())))
    }
}

impl Mmio for Loopback {
    fn read32(&self, offset: usize) -> u32 {
        let (regs, uart) = &mut *self.0.borrow_mut();
        let v = regs.read_with(uart, offset as u64, 4);
        v.expect("the driver reads mapped registers") as u32
    }
    fn read64(&self, offset: usize) -> u64 {
        let (regs, uart) = &mut *self.0.borrow_mut();
        regs.read_with(uart, offset as u64, 8)
            .expect("the PL011 has no 64-bit registers")
    }
    fn write32(&self, offset: usize, value: u32) {
        let (regs, uart) = &mut *self.0.borrow_mut();
        let r = regs.write_with(uart, offset as u64, 4, u64::from(value));
        r.expect("the driver writes mapped registers")
    }
    fn write64(&self, offset: usize, value: u64) {
        let (regs, uart) = &mut *self.0.borrow_mut();
        regs.write_with(uart, offset as u64, 8, value)
            .expect("the PL011 has no 64-bit registers")
    }
}

/// The guest driver's bring-up: UART off, baud divisors, 8N1 with FIFOs
/// (which latches the divisors), receive interrupts on, UART on.
fn init<M: Mmio>(uart: &Pl011<M>, clk_hz: u32, baud: u32) {
    uart.uartcr().write(UARTCR::UARTEN::CLEAR);
    // Divisor in 64ths, rounded: UARTCLK * 4 / baud = (UARTCLK / (16 baud)) * 64.
    let div64 = (u64::from(clk_hz) * 8 / u64::from(baud)).div_ceil(2);
    uart.uartibrd()
        .write(UARTIBRD::BAUD_DIVINT.val((div64 >> 6) as u32));
    uart.uartfbrd()
        .write(UARTFBRD::BAUD_DIVFRAC.val((div64 & 0x3f) as u32));
    uart.uartlcr_h()
        .write(UARTLCR_H::WLEN::BITS8 + UARTLCR_H::FEN::SET);
    uart.uartimsc().write(UARTIMSC::RX::SET + UARTIMSC::RT::SET);
    uart.uartcr()
        .write(UARTCR::UARTEN::SET + UARTCR::TXE::SET + UARTCR::RXE::SET);
}

fn putc<M: Mmio>(uart: &Pl011<M>, b: u8) {
    while uart.uartfr().is_set(UARTFR::TXFF) {}
    uart.uartdr().write(UARTDR::DATA.val(u32::from(b)));
}

/// The next character with its error flags, if any arrived.
fn getc<M: Mmio>(uart: &Pl011<M>) -> Option<u32> {
    (!uart.uartfr().is_set(UARTFR::RXFE)).then(|| uart.uartdr().get())
}

#[test]
fn guest_bring_up_transmit_and_receive() {
    let bus = Loopback::new();
    let uart = Pl011::new(&bus);
    // The PrimeCell signature a driver checks first.
    let id = (uart.uartpcellid0().get() & 0xff)
        | (uart.uartpcellid1().get() & 0xff) << 8
        | (uart.uartpcellid2().get() & 0xff) << 16
        | (uart.uartpcellid3().get() & 0xff) << 24;
    assert_eq!(id, 0xb105_f00d);

    // 24 MHz, 115200 baud: 24e6 / (16 * 115200) = 13.0208, fraction
    // 0.0208 * 64 = 1.33, rounded to 1.
    init(&uart, 24_000_000, 115_200);
    assert_eq!(bus.0.borrow().1.divisors, Some((13, 1)));
    assert_eq!(uart.uartlcr_h().get(), 0x70);

    for b in b"hi\n" {
        putc(&uart, *b);
    }
    assert_eq!(bus.0.borrow().1.tx, b"hi\n");

    // Nothing received yet: no interrupt pending.
    assert_eq!(getc(&uart), None);
    assert_eq!(uart.uartmis().get(), 0);

    // Two characters arrive, the second with a framing error (flag bit 8).
    {
        let (regs, dev) = &mut *bus.0.borrow_mut();
        dev.receive(regs, u32::from(b'A'));
        dev.receive(regs, 0x100 | u32::from(b'B'));
    }
    assert!(uart.uartris().is_set(UARTRIS::RX));
    assert_eq!(uart.uartmis().get(), 1 << 4, "RX raw and unmasked");
    assert_eq!(getc(&uart), Some(u32::from(b'A')));
    let c = getc(&uart).unwrap();
    assert_eq!(c & 0xff, u32::from(b'B'));
    assert!(UARTDR::Value::new(c).is_set(UARTDR::FE));
    assert!(uart.uartrsr_ecr().is_set(UARTRSR_ECR::FE));
    // Any write to UARTECR clears the receive status (its fields are
    // read-only: the hook does it, not the stored value).
    uart.uartrsr_ecr().set(0);
    assert_eq!(uart.uartrsr_ecr().get(), 0);
    assert_eq!(getc(&uart), None);
}

#[test]
fn icr_write_clears_only_the_named_raw_interrupts() {
    let bus = Loopback::new();
    let uart = Pl011::new(&bus);
    // The device raises TX, RT and OE (bits 5, 6, 10): 0x460.
    bus.0.borrow_mut().0.set_uartris(0x460);
    uart.uartimsc().write(UARTIMSC::TX::SET + UARTIMSC::OE::SET);
    assert_eq!(uart.uartris().get(), 0x460);
    assert_eq!(uart.uartmis().get(), 0x420, "RT is masked");
    // Clearing TX leaves RT and OE; a 0 bit clears nothing.
    uart.uarticr().write(UARTICR::TX::SET);
    assert_eq!(uart.uartris().get(), 0x440);
    assert_eq!(uart.uartmis().get(), 0x400);
    uart.uarticr().write(UARTICR::RT::SET + UARTICR::OE::SET);
    assert_eq!(uart.uartris().get(), 0);
    assert_eq!(uart.uartmis().get(), 0);
    // Without the model's hooks a UARTICR write stores nothing visible and
    // clears nothing: the clearing is the hook's, not the format's.
    let mut rf = RegFile::new();
    rf.set_uartris(0x460);
    rf.write(0x44, 4, 0x7ff).unwrap();
    assert_eq!(rf.read(0x3c, 4), Ok(0x460));
}

#[test]
fn vmm_exits_with_byte_buffers() {
    // A VMM's bus hands over the access as little-endian bytes.
    let (mut regs, mut uart) = (RegFile::new(), Uart::default());
    regs.write_bytes(&mut uart, 0x30, &0x301u32.to_le_bytes())
        .unwrap(); // UARTEN, TXE, RXE
    regs.write_bytes(&mut uart, 0x0, &[b'x', 0, 0, 0]).unwrap();
    assert_eq!(uart.tx, b"x");
    let mut fr = [0u8; 4];
    regs.read_bytes(&mut uart, 0x18, &mut fr).unwrap();
    assert_eq!(u32::from_le_bytes(fr), 0x90);
    // What the bus cannot deliver is an error value, not a panic.
    let mut two = [0u8; 2];
    assert!(regs.read_bytes(&mut uart, 0x18, &mut two).is_err());
    assert!(regs.write_bytes(&mut uart, 0x2000, &[0; 4]).is_err());
}
