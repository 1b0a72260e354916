//! vdev's SMMUv3 command and event queue sources, compiled unchanged
//! against `smmuv3-regs-moved` (the SMMUv3 map with `CMDQ_CONS.ERR` and
//! `EVENTQ_PROD.OVFLG` moved) instead of the shipped map: the tests in
//! `tests/` show that what the device model writes follows the map.

/// What the copied sources import as `crate::vmm`.
mod vmm {
    pub use vdev::vmm::GuestMemory;
}

pub mod smmuv3;
