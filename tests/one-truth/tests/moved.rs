//! The one-truth property: vdev's queue code, compiled against a copy of
//! the SMMUv3 map with `CMDQ_CONS.ERR` moved from bits 30:24 to 29:23 and
//! `EVENTQ_PROD.OVFLG` from bit 31 to bit 30, writes its results where the
//! copy says, while vdev itself (the shipped map) keeps the architecture's
//! positions. The expected positions are typed here from the edits, not
//! read back through either map.

use one_truth_tests::smmuv3::{cmdq as moved_cmdq, eventq as moved_eventq};
use vdev::backend::sim::SimGuestRam;
use vdev::smmuv3::{cmdq as real_cmdq, eventq as real_eventq};

/// Guest RAM with one 64 KiB region at 0.
fn ram() -> SimGuestRam {
    SimGuestRam::new().with_region(0, 0x1_0000, 4096)
}

/// An executor that refuses every command with `CERROR_ILL`.
struct Refuse;

macro_rules! refuse_for {
    ($m:ident) => {
        impl $m::Executor for Refuse {
            fn batchable(&self, _: &$m::Command) -> bool {
                false
            }
            fn batch(&mut self, _: &$m::Command) {}
            fn flush(&mut self) -> Result<(), (usize, u32)> {
                Ok(())
            }
            fn execute(&mut self, _: &$m::Command) -> Result<(), u32> {
                Err($m::CERROR_ILL)
            }
        }
    };
}
refuse_for!(moved_cmdq);
refuse_for!(real_cmdq);

/// CMDQ_CONS after the queue at `base` (CMDQ_BASE) ran from `cons` to
/// `prod` with every command refused: (the moved copy's, vdev's).
fn consume_both(m: &SimGuestRam, base: u64, prod: u32, cons: u32) -> (u32, u32) {
    let g = moved_cmdq::Geometry::from_base(base, 19);
    let moved = moved_cmdq::consume(g, prod, cons, m, &mut Refuse);
    let g = real_cmdq::Geometry::from_base(base, 19);
    let real = real_cmdq::consume(g, prod, cons, m, &mut Refuse);
    assert_eq!(moved.error, real.error, "the codes do not move");
    (moved.cons, real.cons)
}

#[test]
fn cmdq_error_code_lands_where_the_map_puts_cons_err() {
    let m = ram();
    // A 16-entry queue at 0x1000, CONS at 2, PROD at 3: one command, refused.
    let base = 0x1000 | 4;
    assert!(m.write_u64(0x1000 + 2 * 16, 0x7f));
    let (moved, real) = consume_both(&m, base, 3, 2);
    let ill = 1u32; // CERROR_ILL in both maps
                    // Index 2 stays in RD (19:0); the code sits at ERR's lowest bit.
    assert_eq!(moved, 2 | (ill << 23), "moved map: ERR at 29:23");
    assert_eq!(real, 2 | (ill << 24), "shipped map: ERR at 30:24");
    // And each map's own accessor reads it back.
    assert_eq!(smmuv3_regs_moved_err(moved), ill);
    assert_eq!(vdev_err(real), ill);
}

#[test]
fn cmdq_abort_on_unbacked_queue_follows_the_map_too() {
    let m = ram();
    // A queue beyond guest RAM: the fetch aborts (CERROR_ABT, 2).
    let (moved, real) = consume_both(&m, 0x10_0000 | 4, 1, 0);
    assert_eq!(moved, 2 << 23);
    assert_eq!(real, 2 << 24);
}

#[test]
fn event_overflow_toggles_the_bit_the_map_names_ovflg() {
    let m = ram();
    // A 2-entry event queue at 0x2000, full: PROD 2 (wrapped), CONS 0.
    let base = 0x2000 | 1;
    let rec = [1u64, 0, 0, 0];
    let (moved, what) = moved_eventq::push(base, 19, 2, 0, &rec, &m);
    assert_eq!(what, moved_eventq::Pushed::Overflow);
    assert_eq!(moved, 2 | 1 << 30, "moved map: OVFLG at bit 30");
    let (real, what) = real_eventq::push(base, 19, 2, 0, &rec, &m);
    assert_eq!(what, real_eventq::Pushed::Overflow);
    assert_eq!(real, 2 | 1 << 31, "shipped map: OVFLG at bit 31");
    // With OVACKFLG (bit 31 in both) acknowledging the moved OVFLG, the next
    // loss toggles again; before the acknowledgement it does not.
    assert_eq!(
        moved_eventq::discard(moved, 0),
        moved,
        "overflow still pending"
    );
    assert_eq!(moved_eventq::discard(moved, 1 << 31), moved ^ (1 << 30));
    assert_eq!(moved_eventq::OVFLG, 1 << 30);
    assert_eq!(real_eventq::OVFLG, 1 << 31);
}

/// `CMDQ_CONS.ERR` as the moved map reads it.
fn smmuv3_regs_moved_err(cons: u32) -> u32 {
    smmuv3_regs::CMDQ_CONS::ERR.read(cons)
}

/// `CMDQ_CONS.ERR` as the shipped map (vdev's) reads it.
fn vdev_err(cons: u32) -> u32 {
    smmuv3_regs_shipped::CMDQ_CONS::ERR.read(cons)
}
