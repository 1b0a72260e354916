#![no_main]
//! Fuzzes the generated dispatcher of FORMAT.md's example map.

use libfuzzer_sys::fuzz_target;

mod harness {
    dispatch_fuzz::dispatch_harness!(
        dispatch_tests::facts::EXAMPLE,
        dispatch_tests::example::regfile,
        rf::NoHooks
    );
}

fuzz_target!(|data: &[u8]| harness::run(data));
