#![no_main]
//! Fuzzes the generated dispatcher of the dispatcher-coverage map, with an
//! `index_map` hook that maps, unmaps or returns out-of-range elements
//! (a pseudo-random walk), so the index-mapped alias paths are exercised.

use libfuzzer_sys::fuzz_target;

mod harness {
    use dispatch_tests::features::regfile::{Hooks, RegFile};

    /// Maps logical queues with a pseudo-random walk over 0..10 (8 queues exist).
    pub struct Walk(pub u32);

    impl Hooks for Walk {
        fn q_map(&mut self, _regs: &RegFile, idx: &[u32]) -> Option<[u32; 1]> {
            self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let pick = (self.0 >> 16) % 11;
            if pick == 10 {
                None
            } else {
                Some([pick.wrapping_add(idx.first().copied().unwrap_or(0)) % 10])
            }
        }
    }

    dispatch_fuzz::dispatch_harness!(
        dispatch_tests::facts::FEATURES,
        dispatch_tests::features::regfile,
        Walk(1)
    );
}

fuzz_target!(|data: &[u8]| harness::run(data));
