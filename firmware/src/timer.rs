//! Time from the generic timer's virtual counter, for bounded waits on
//! devices that act after a delay (the edu device's DMA timer).

fn counter() -> u64 {
    let v: u64;
    // SAFETY: reading CNTVCT_EL0 has no side effect; EL1 may read it.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v) };
    v
}

fn frequency() -> u64 {
    let f: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f) };
    f.max(1)
}

/// A deadline `ms` milliseconds from now.
pub struct Deadline(u64);

impl Deadline {
    /// Starts a deadline.
    pub fn after_ms(ms: u64) -> Deadline {
        Deadline(counter() + frequency() * ms / 1000)
    }
    /// Whether it has passed.
    pub fn expired(&self) -> bool {
        counter() >= self.0
    }
}
