//! The NVIDIA Tegra241 CMDQV device model (host side).
//!
//! [`lifecycle`] is the core: the kernel objects behind the emulated CMDQV and
//! the order rules between them, driven by explicit events (what it reports
//! and takes: `transition.rs`). [`device`] is the guest-visible MMIO window
//! over it (its register side effects: `hooks.rs`).

pub mod device;
mod hooks;
pub mod lifecycle;
mod transition;

pub use lifecycle::{ErrorEvents, Lifecycle, LifecycleError, QueueRegCache, Transition};
