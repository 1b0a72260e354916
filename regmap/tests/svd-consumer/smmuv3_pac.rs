//! Consumer check of the SMMUv3 SVD: the crate svd2rust generates from it
//! (`scripts/svd-consumers` copies this file into that crate's tests) puts
//! every register and field it is asked for where the map says, with the
//! map's reset values. Registers are laid over a zeroed buffer standing in
//! for the MMIO window.

mod common;

use common::{regs, word32};
use smmuv3_pac as pac;
use smmuv3_pac::generic::Resettable;

/// A zeroed stand-in for one 64 KiB window, 8-byte aligned.
fn window() -> Vec<u64> {
    vec![0u64; 0x10000 / 8]
}

#[test]
fn page0_registers_sit_at_the_map_offsets() {
    let mut mem = window();
    let rb: &pac::page0::RegisterBlock = regs(&mut mem);
    rb.cr0().write(|w| w.smmuen().set_bit().cmdqen().set_bit());
    rb.cr1().write(|w| w.queue_sh().ish());
    // SAFETY (for the generated API): the values fit their fields.
    rb.cmdq_base()
        .write(|w| unsafe { w.log2size().bits(5).addr().bits(0x1234) });
    rb.eventq_prod_page0()
        .write(|w| unsafe { w.wr().bits(3) }.ovflg().set_bit());
    rb.gatos_ctrl().write(|w| w.run().set_bit());
    assert_eq!(word32(&mem, 0x20), 0b1001, "CR0.SMMUEN | CR0.CMDQEN");
    assert_eq!(word32(&mem, 0x28), 3 << 4, "CR1.QUEUE_SH = ISH");
    assert_eq!(mem[0x90 / 8], (0x1234 << 5) | 5, "CMDQ_BASE.ADDR, LOG2SIZE");
    assert_eq!(word32(&mem, 0xa8), 3 | 1 << 31, "EVENTQ_PROD page-0 alias");
    assert_eq!(word32(&mem, 0x100), 1, "GATOS_CTRL.RUN");

    mem[0x98 / 8] |= ((2u64 << 24) | 7) << 32; // CMDQ_CONS at 0x9c
    let rb: &pac::page0::RegisterBlock = regs(&mut mem);
    let cons = rb.cmdq_cons().read();
    assert_eq!(cons.rd().bits(), 7);
    assert!(cons.err().is_cerror_abt());
}

#[test]
fn page1_is_its_own_peripheral() {
    let mut mem = window();
    let rb: &pac::page1::RegisterBlock = regs(&mut mem);
    rb.eventq_cons()
        .write(|w| unsafe { w.rd().bits(9) }.ovackflg().set_bit());
    assert_eq!(
        word32(&mem, 0xac),
        9 | 1 << 31,
        "EVENTQ_CONS at page 1 + 0xac"
    );
    assert_eq!(pac::Page1::PTR as usize, 0x10000);
}

#[test]
fn reset_values_are_the_maps() {
    assert_eq!(pac::page0::idr0::Idr0Spec::RESET_VALUE, 0x0D40_101A);
    assert_eq!(pac::page0::idr1::Idr1Spec::RESET_VALUE, 0x0273_0010);
    assert_eq!(pac::page0::gbpa::GbpaSpec::RESET_VALUE, 0x1000);
    assert_eq!(pac::page0::cmdq_base::CmdqBaseSpec::RESET_VALUE, 0x13);
}
