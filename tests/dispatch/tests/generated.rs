//! The per-register tests generated from each map (`regfile_tests.rs`),
//! run against the generated dispatchers.

mod example {
    include!(concat!(env!("OUT_DIR"), "/example_regfile_tests.rs"));
}

mod features {
    include!(concat!(env!("OUT_DIR"), "/features_regfile_tests.rs"));
}

mod layout {
    include!(concat!(env!("OUT_DIR"), "/layout_regfile_tests.rs"));
}

#[cfg(have_smmuv3)]
mod smmuv3 {
    include!(concat!(env!("OUT_DIR"), "/smmuv3_regfile_tests.rs"));
}

#[cfg(have_cmdqv)]
mod cmdqv {
    include!(concat!(env!("OUT_DIR"), "/cmdqv_regfile_tests.rs"));
}
