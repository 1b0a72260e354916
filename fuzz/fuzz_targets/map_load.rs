#![no_main]
//! Fuzzes the map loader, validator and generator: arbitrary bytes as YAML,
//! and maps built from the bytes by a structure-aware generator; see
//! `dispatch_fuzz::map_load`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dispatch_fuzz::map_load::run(data);
});
