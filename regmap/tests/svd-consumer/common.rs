//! Helpers shared by the svd2rust consumer tests (copied into each
//! generated crate as `tests/common/mod.rs` by `scripts/svd-consumers`).

/// The register block of type `T` laid over `mem`, a zeroed stand-in for
/// the MMIO window.
pub fn regs<T>(mem: &mut [u64]) -> &T {
    // SAFETY: `mem` is a live, zeroed, 8-byte aligned buffer covering the
    // whole window; the generated registers are volatile cells, valid for
    // any bit pattern.
    unsafe { &*(mem.as_mut_ptr() as *const T) }
}

/// The little-endian 32-bit word at byte offset `off`.
pub fn word32(mem: &[u64], off: usize) -> u32 {
    let w = mem[off / 8];
    (w >> ((off % 8) * 8)) as u32
}
