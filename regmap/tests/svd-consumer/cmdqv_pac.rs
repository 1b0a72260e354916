//! Consumer check of the CMDQV SVD: the crate svd2rust generates from it
//! (`scripts/svd-consumers` copies this file into that crate's tests)
//! addresses block arrays (clusters with dim/dimIncrement), register arrays
//! inside them and the logical VCMDQ pages where the map says.

mod common;

use cmdqv_pac as pac;
use cmdqv_pac::generic::Resettable;
use common::{regs, word32};

#[test]
fn config_page_arrays() {
    let mut mem = vec![0u64; 0x10000 / 8];
    let rb: &pac::config::RegisterBlock = regs(&mut mem);
    // SAFETY (for the generated API): the values fit their fields.
    rb.vintf(1)
        .sid_match(3)
        .write(|w| unsafe { w.enable().set_bit().virt_sid().bits(0x21) });
    rb.cmdq_alloc_map(5).write(|w| unsafe {
        w.alloc()
            .set_bit()
            .lvcmdq()
            .bits(1)
            .virt_intf_indx()
            .bits(1)
    });
    rb.vintf(2).config().write(|w| w.enable().set_bit());
    assert_eq!(word32(&mem, 0x1000 + 0x100 + 0x40 + 3 * 4), 1 | 0x21 << 1);
    assert_eq!(word32(&mem, 0x200 + 5 * 4), 1 | 1 << 1 | 1 << 15);
    assert_eq!(word32(&mem, 0x1000 + 2 * 0x100), 1);
    assert_eq!(pac::config::config::ConfigSpec::RESET_VALUE, 0x20083);
    assert_eq!(pac::config::param::ParamSpec::RESET_VALUE, 0x4011);
}

#[test]
fn vcmdq_pages_and_logical_pages() {
    let mut mem = vec![0u64; 0x10000 / 8];
    let rb: &pac::vcmdq_page0::RegisterBlock = regs(&mut mem);
    rb.vcmdq(2).prod().write(|w| unsafe { w.index().bits(7) });
    assert_eq!(word32(&mem, 2 * 0x80 + 4), 7);
    assert_eq!(pac::VcmdqPage0::PTR as usize, 0x10000);

    let mut mem = vec![0u64; 0x800000 / 8];
    let rb: &pac::vintf_pages::RegisterBlock = regs(&mut mem);
    rb.vintf_page0(1)
        .lvcmdq(3)
        .prod()
        .write(|w| unsafe { w.index().bits(5) });
    rb.vintf_page1(1)
        .lvcmdq(3)
        .base()
        .write(|w| unsafe { w.log2size().bits(4).addr().bits(0x10) });
    assert_eq!(
        word32(&mem, 0x20000 + 3 * 0x80 + 4),
        5,
        "VINTF1 page 0, LVCMDQ3 PROD"
    );
    assert_eq!(
        mem[(0x30000 + 3 * 0x80) / 8],
        0x10 << 5 | 4,
        "VINTF1 page 1, LVCMDQ3 BASE"
    );
    assert_eq!(pac::VintfPages::PTR as usize, 0x30000);
}
