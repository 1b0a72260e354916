//! The register access the driver needs: the MMIO backend trait of
//! `regmap-rt`, which every generated accessor goes through.
//!
//! The driver is generic over [`Mmio`], so any backend drives it:
//! [`VolatileMmio`] on real or emulated hardware (one `ldr`/`str` of the
//! exact width per access on aarch64; `unsafe` to create over a window of
//! known length, `smmuv3_regs::WINDOW_SIZE` for the whole SMMU, after which
//! every access is checked to lie inside it), [`regmap_rt::FakeMmio`] or a
//! loopback into a host-side device model in tests.

pub use regmap_rt::{Mmio, VolatileMmio};
