#![no_std]
//! The generated register files and trap dispatchers of every map (the same
//! code the `-regs` crates include), compiled `no_std`, plus the
//! register-facts tables typed from the public sources ([`facts`]) and a
//! reference model of the access semantics built from them ([`model`]),
//! written independently of the generator and used by the property tests,
//! the facts tests and the fuzz targets.

extern crate alloc;

pub mod facts;
pub mod model;

/// The example map of FORMAT.md.
pub mod example {
    /// Generated register file and dispatcher.
    pub mod regfile {
        include!(concat!(env!("OUT_DIR"), "/example_regfile.rs"));
    }
}

/// The dispatcher-coverage map (`codegen/tests/features.yaml`).
pub mod features {
    /// Generated register file and dispatcher.
    pub mod regfile {
        include!(concat!(env!("OUT_DIR"), "/features_regfile.rs"));
    }
}

/// The SMMUv3 map.
#[cfg(have_smmuv3)]
pub mod smmuv3 {
    /// Generated register file and dispatcher.
    pub mod regfile {
        include!(concat!(env!("OUT_DIR"), "/smmuv3_regfile.rs"));
    }
}

/// The Tegra241 CMDQV map.
#[cfg(have_cmdqv)]
pub mod cmdqv {
    /// Generated register file and dispatcher.
    pub mod regfile {
        include!(concat!(env!("OUT_DIR"), "/cmdqv_regfile.rs"));
    }
}
