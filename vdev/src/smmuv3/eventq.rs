//! The emulated event queue: 32-byte records written into guest memory at
//! EVENTQ_PROD, with the architecture's overflow handshake (PROD.OVFLG toggles
//! when a record is lost while no overflow is pending; software acknowledges
//! by copying it into CONS.OVACKFLG).

use smmuv3_regs::fieldsets::{OutQueueCons, OutQueueProd};

use super::cmdq::Geometry;
use crate::vmm::GuestMemory;

/// Size of an event record (the map's `Event` structure).
pub const RECORD_SIZE: u64 = smmuv3_regs::structs::Event::SIZE_BYTES as u64;
/// EVENTQ_PROD.OVFLG, in place.
pub const OVFLG: u32 = OutQueueProd::OVFLG::SET.value;
/// EVENTQ_CONS.OVACKFLG, in place: where software copies OVFLG.
const OVACKFLG: u32 = OutQueueCons::OVACKFLG::SET.value;

/// The outcome of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Written; PROD advanced.
    Written,
    /// The queue was full: the record was lost and the overflow flagged.
    Overflow,
    /// Guest memory refused the write (record lost, queue unchanged).
    Fault,
}

/// EVENTQ_PROD after records were discarded (the queue was full, or an
/// upstream queue feeding it dropped them): OVFLG toggles unless an overflow is
/// still pending, i.e. OVFLG already differs from `cons`'s OVACKFLG because
/// software has not acknowledged the previous one. Other bits are kept.
pub fn discard(prod: u32, cons: u32) -> u32 {
    let pending = (prod & OVFLG != 0) != (cons & OVACKFLG != 0);
    if pending {
        prod
    } else {
        prod ^ OVFLG
    }
}

/// Appends `record` to the queue described by `base` (EVENTQ_BASE) and the
/// current PROD/CONS values; returns the new PROD and what happened.
pub fn push(
    base: u64,
    max_log2: u32,
    prod: u32,
    cons: u32,
    record: &[u64; 4],
    mem: &dyn GuestMemory,
) -> (u32, Pushed) {
    // EVENTQ_BASE has the same ADDR/LOG2SIZE layout as CMDQ_BASE; records are
    // 32 bytes, so re-align for the larger entry.
    let g = Geometry::from_base(base, max_log2);
    let entries = 1u32 << g.log2size;
    let align = (RECORD_SIZE << g.log2size) - 1;
    let addr = g.addr & !align;
    let mask = (entries << 1) - 1;
    let p = OutQueueProd::WR.read(prod) & mask;
    let c = OutQueueCons::RD.read(cons) & mask;
    let full = (p ^ c) == entries;
    if full {
        return (discard(p | (prod & OVFLG), cons), Pushed::Overflow);
    }
    let mut bytes = [0u8; RECORD_SIZE as usize];
    for (i, w) in record.iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    let slot = u64::from(p & (entries - 1));
    if !mem.write(addr + slot * RECORD_SIZE, &bytes) {
        return (prod, Pushed::Fault);
    }
    (((p + 1) & mask) | (prod & OVFLG), Pushed::Written)
}

// The tests take guest memory (or a host's ID registers) from the simulator.
#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::backend::sim::SimGuestRam;

    #[test]
    fn fills_overflows_and_acknowledges() {
        let m = SimGuestRam::new().with_region(0, 0x10000, 4096);
        let base = 0x1000 | 1; // 2 entries
        let rec = [0x10, 1, 2, 3];
        let (p, r) = push(base, 19, 0, 0, &rec, &m);
        assert_eq!((p, r), (1, Pushed::Written));
        let (p, r) = push(base, 19, p, 0, &rec, &m);
        assert_eq!((p, r), (2, Pushed::Written));
        assert_eq!(m.read_u64(0x1020), Some(0x10));
        // Full (index equal, wrap differs): lost, OVFLG toggles once.
        let (p, r) = push(base, 19, p, 0, &rec, &m);
        assert_eq!((p, r), (2 | OVFLG, Pushed::Overflow));
        let (p2, _) = push(base, 19, p, 0, &rec, &m);
        assert_eq!(p2, p, "still pending: no second toggle");
        // Software consumed one and acknowledged the overflow.
        let (p, r) = push(base, 19, p, 1 | OVFLG, &rec, &m);
        assert_eq!((p, r), (3 | OVFLG, Pushed::Written));
        let (_, r) = push(0x10_0000 | 1, 19, 0, 0, &rec, &m);
        assert_eq!(r, Pushed::Fault);
    }

    #[test]
    fn discard_toggles_only_without_a_pending_overflow() {
        // Nothing pending (OVFLG == OVACKFLG): toggles, index kept.
        assert_eq!(discard(5, 3), 5 | OVFLG);
        assert_eq!(discard(5 | OVFLG, 3 | OVFLG), 5);
        // Pending (not yet acknowledged): unchanged.
        assert_eq!(discard(5 | OVFLG, 3), 5 | OVFLG);
        assert_eq!(discard(5, 3 | OVFLG), 5);
    }
}
