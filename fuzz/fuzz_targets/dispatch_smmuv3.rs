#![no_main]
//! Fuzzes the generated dispatcher of the SMMUv3 map.

use libfuzzer_sys::fuzz_target;

mod harness {
    dispatch_fuzz::dispatch_harness!(
        dispatch_tests::facts::SMMUV3,
        dispatch_tests::smmuv3::regfile,
        rf::NoHooks
    );
}

fuzz_target!(|data: &[u8]| harness::run(data));
