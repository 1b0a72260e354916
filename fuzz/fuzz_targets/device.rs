#![no_main]
//! Fuzzes the whole device model (both windows, guest memory, plug/unplug,
//! reset, kick, events, injected backend failures); see
//! `dispatch_fuzz::device`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dispatch_fuzz::device::run(data));
