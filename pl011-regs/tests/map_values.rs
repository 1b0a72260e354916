//! The PL011 map against the TRM (ARM DDI 0183G, r1p5), value by value:
//! each expected number below is typed from the manual's register summary
//! and bit tables, not taken from the map, so a wrong offset, bit or reset
//! in `pl011.yaml` fails here.

use pl011_regs::regfile::{AccessError, RegFile};
use pl011_regs::{
    enums::FifoLevel, UARTPCellID0, UARTPeriphID0, UARTCR, UARTDMACR, UARTDR, UARTFBRD, UARTFR,
    UARTIBRD, UARTICR, UARTIFLS, UARTILPR, UARTIMSC, UARTLCR_H, UARTMIS, UARTRIS, UARTRSR_ECR,
};
use regmap_rt::tock_registers::fields::Field;

/// The bit mask a field covers, in place.
fn bits<R: regmap_rt::tock_registers::RegisterLongName>(f: Field<u32, R>) -> u32 {
    f.mask << f.shift
}

#[test]
fn offsets_follow_the_register_summary() {
    let table: [(usize, usize); 17] = [
        (UARTDR::OFFSET, 0x000),
        (UARTRSR_ECR::OFFSET, 0x004),
        (UARTFR::OFFSET, 0x018),
        (UARTILPR::OFFSET, 0x020),
        (UARTIBRD::OFFSET, 0x024),
        (UARTFBRD::OFFSET, 0x028),
        (UARTLCR_H::OFFSET, 0x02c),
        (UARTCR::OFFSET, 0x030),
        (UARTIFLS::OFFSET, 0x034),
        (UARTIMSC::OFFSET, 0x038),
        (UARTRIS::OFFSET, 0x03c),
        (UARTMIS::OFFSET, 0x040),
        (UARTICR::OFFSET, 0x044),
        (UARTDMACR::OFFSET, 0x048),
        (UARTPeriphID0::OFFSET, 0xfe0),
        (UARTPCellID0::OFFSET, 0xff0),
        (pl011_regs::UARTPCellID3::OFFSET, 0xffc),
    ];
    for (i, (got, want)) in table.iter().enumerate() {
        assert_eq!(got, want, "row {i}");
    }
}

#[test]
fn flag_and_line_control_bits() {
    assert_eq!(bits(UARTFR::BUSY), 1 << 3);
    assert_eq!(bits(UARTFR::RXFE), 1 << 4);
    assert_eq!(bits(UARTFR::TXFF), 1 << 5);
    assert_eq!(bits(UARTFR::RXFF), 1 << 6);
    assert_eq!(bits(UARTFR::TXFE), 1 << 7);
    assert_eq!(bits(UARTFR::RI), 1 << 8);
    // WLEN is bits 6:5; FEN 4; SPS 7.
    assert_eq!(bits(UARTLCR_H::WLEN), 0b11 << 5);
    assert_eq!(bits(UARTLCR_H::FEN), 1 << 4);
    assert_eq!(bits(UARTLCR_H::SPS), 1 << 7);
    // 8 data bits with FIFOs: 0x70, the value drivers commonly write.
    assert_eq!((UARTLCR_H::WLEN::BITS8 + UARTLCR_H::FEN::SET).value, 0x70);
    assert_eq!(UARTLCR_H::WLEN::BITS5.value, 0);
    // UARTCR: UARTEN 0, LBE 7, TXE 8, RXE 9, RTS 11, CTSEn 15.
    assert_eq!(bits(UARTCR::UARTEN), 1);
    assert_eq!(bits(UARTCR::LBE), 1 << 7);
    assert_eq!(bits(UARTCR::TXE) | bits(UARTCR::RXE), 0x300);
    assert_eq!(bits(UARTCR::RTS), 1 << 11);
    assert_eq!(bits(UARTCR::CTSEN), 1 << 15);
    // Data register: 8 data bits, then FE, PE, BE, OE at 8..11.
    assert_eq!(bits(UARTDR::DATA), 0xff);
    assert_eq!(bits(UARTDR::OE), 1 << 11);
    // Baud divisors: 16-bit integer, 6-bit fraction.
    assert_eq!(bits(UARTIBRD::BAUD_DIVINT), 0xffff);
    assert_eq!(bits(UARTFBRD::BAUD_DIVFRAC), 0x3f);
    // Interrupt bits: RX 4, TX 5, RT 6, OE 10, the same in all four registers.
    assert_eq!(bits(UARTIMSC::RX), 1 << 4);
    assert_eq!(bits(UARTRIS::TX), 1 << 5);
    assert_eq!(bits(UARTMIS::RT), 1 << 6);
    assert_eq!(bits(UARTICR::OE), 1 << 10);
    assert_eq!(bits(UARTDMACR::DMAONERR), 1 << 2);
}

#[test]
fn resets_and_identification() {
    let mut rf = RegFile::new();
    let mut rd = |off: u64| rf.read(off, 4).unwrap();
    assert_eq!(rd(0x30), 0x300, "UARTCR: TXE and RXE set");
    assert_eq!(rd(0x18), 0x90, "UARTFR: TXFE and RXFE set");
    assert_eq!(rd(0x34), 0x12, "UARTIFLS: both levels at half");
    assert_eq!(
        UARTIFLS::RXIFLSEL.read_as_enum::<FifoLevel>(0x12),
        Some(FifoLevel::HALF)
    );
    // PrimeCell ID bytes, low byte first: 0xB105F00D.
    let pcell = (0..4).fold(0u32, |acc, i| acc | (rd(0xff0 + 4 * i) as u32) << (8 * i));
    assert_eq!(pcell, 0xb105_f00d);
    // Peripheral ID: part number 0x011, designer 0x41 ('A'), revision 3 (r1p5).
    let id: [u64; 4] = [rd(0xfe0), rd(0xfe4), rd(0xfe8), rd(0xfec)];
    assert_eq!(id[0] | (id[1] & 0xf) << 8, 0x011);
    assert_eq!(id[1] >> 4 | (id[2] & 0xf) << 4, 0x41);
    assert_eq!(id[2] >> 4, 3);
    assert_eq!(id[3], 0);
}

#[test]
fn access_kinds_through_the_register_file() {
    let mut rf = RegFile::new();
    // Read-only: the flag register ignores writes.
    rf.write(0x18, 4, 0).unwrap();
    assert_eq!(rf.read(0x18, 4), Ok(0x90));
    // Write-only: UARTICR reads as zero whatever was written.
    rf.write(0x44, 4, 0x7ff).unwrap();
    assert_eq!(rf.read(0x44, 4), Ok(0));
    // UARTDR keeps DATA; the error flags are the device's (read-only).
    rf.write(0x0, 4, 0xfff).unwrap();
    assert_eq!(rf.read(0x0, 4), Ok(0xff));
    // Reserved bits above a register's width are dropped.
    rf.write(0x24, 4, 0xdead_beef).unwrap();
    assert_eq!(rf.read(0x24, 4), Ok(0xbeef), "UARTIBRD is 16 bits");
    rf.write(0x28, 4, 0xff).unwrap();
    assert_eq!(rf.read(0x28, 4), Ok(0x3f), "UARTFBRD is 6 bits");
    // Holes in the map and accesses the bus cannot make.
    assert_eq!(rf.read(0x8, 4), Err(AccessError::Unmapped));
    assert_eq!(rf.read(0x4c, 4), Err(AccessError::Unmapped));
    assert_eq!(rf.read(0x1000, 4), Err(AccessError::Unmapped));
    assert_eq!(rf.read(0x1a, 4), Err(AccessError::Unaligned));
    assert_eq!(rf.read(0x18, 8), Err(AccessError::Straddle));
}
