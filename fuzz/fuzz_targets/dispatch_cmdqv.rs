#![no_main]
//! Fuzzes the generated dispatcher of the CMDQV map.

use libfuzzer_sys::fuzz_target;

mod harness {
    dispatch_fuzz::dispatch_harness!(
        dispatch_tests::facts::CMDQV,
        dispatch_tests::cmdqv::regfile,
        rf::NoHooks
    );
}

fuzz_target!(|data: &[u8]| harness::run(data));
