//! The per-field tests generated from the test maps (`field_tests.rs`), run
//! against their generated accessors (the -regs crates run their own).
#![allow(clippy::all)]

mod example {
    include!(concat!(env!("OUT_DIR"), "/example_field_tests.rs"));
}

mod features {
    include!(concat!(env!("OUT_DIR"), "/features_field_tests.rs"));
}

mod layout {
    include!(concat!(env!("OUT_DIR"), "/layout_field_tests.rs"));
}
