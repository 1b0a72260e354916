//! Emitters: each writes one part of the generated sources from the IR,
//! as text laid out by [`crate::out::Out`].

pub mod accessors;
pub mod enums;
pub mod field_tests;
pub mod handles;
pub mod regfile;
pub mod regfile_tests;
pub mod shape;
pub mod structs;

mod dispatch;

use regmap::model::{Access, Width};

use crate::names::hex;

/// The Rust type of a register of width `w`.
pub fn word(w: Width) -> &'static str {
    match w {
        Width::W32 => "u32",
        Width::W64 => "u64",
    }
}

/// `v` as a hex literal at width `w`.
pub fn lit(w: Width, v: u64) -> String {
    hex(v & w.mask())
}

/// `super::` repeated `depth` times: the accessors' root from a module
/// `depth` levels below it.
pub fn supers(depth: usize) -> String {
    "super::".repeat(depth)
}

/// The calls after `regmap_rt::Masks::NONE` that build a layout's masks:
/// one per access kind with bits (`.rw(0x5df)`).
pub fn mask_calls(masks: &[u64; 10]) -> Vec<String> {
    Access::ALL
        .iter()
        .zip(masks)
        .filter(|(_, m)| **m != 0)
        .map(|(a, m)| format!(".{}({})", a.as_str(), hex(*m)))
        .collect()
}
