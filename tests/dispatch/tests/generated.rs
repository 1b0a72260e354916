//! The per-register tests generated from each map (`emit_regfile_tests`),
//! run against the generated dispatchers.

mod example {
    use dispatch_tests::example::regfile;
    include!(concat!(env!("OUT_DIR"), "/example_regfile_tests.rs"));
}

mod features {
    use dispatch_tests::features::regfile;
    include!(concat!(env!("OUT_DIR"), "/features_regfile_tests.rs"));
}

#[cfg(have_smmuv3)]
mod smmuv3 {
    use dispatch_tests::smmuv3::regfile;
    include!(concat!(env!("OUT_DIR"), "/smmuv3_regfile_tests.rs"));
}

#[cfg(have_cmdqv)]
mod cmdqv {
    use dispatch_tests::cmdqv::regfile;
    include!(concat!(env!("OUT_DIR"), "/cmdqv_regfile_tests.rs"));
}
