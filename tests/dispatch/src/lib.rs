#![no_std]
//! The generated accessors, register files and trap dispatchers of every map
//! (the same code the `-regs` crates include), compiled `no_std`, plus the
//! register-facts tables typed from the public sources ([`facts`]) and a
//! reference model of the access semantics built from them ([`model`]),
//! written independently of the generator and used by the property tests,
//! the facts tests and the fuzz targets.

extern crate alloc;

pub mod facts;
pub mod model;

/// One map's generated code: accessors at the module's root, the register
/// file in `regfile`.
macro_rules! map {
    ($(#[$attr:meta])* $name:ident, $accessors:literal, $regfile:literal) => {
        $(#[$attr])*
        #[allow(non_snake_case, non_camel_case_types, clippy::all)]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), $accessors));
            /// Generated register file and dispatcher.
            pub mod regfile {
                include!(concat!(env!("OUT_DIR"), $regfile));
            }
        }
    };
}

map!(
    /// The example map of FORMAT.md.
    example,
    "/example_accessors.rs",
    "/example_regfile.rs"
);

map!(
    /// The dispatcher-coverage map (`codegen/tests/features.yaml`).
    features,
    "/features_accessors.rs",
    "/features_regfile.rs"
);

map!(
    /// The layout-coverage map (`codegen/tests/layout.yaml`).
    layout,
    "/layout_accessors.rs",
    "/layout_regfile.rs"
);

map!(
    /// The SMMUv3 map.
    #[cfg(have_smmuv3)]
    smmuv3,
    "/smmuv3_accessors.rs",
    "/smmuv3_regfile.rs"
);

map!(
    /// The Tegra241 CMDQV map.
    #[cfg(have_cmdqv)]
    cmdqv,
    "/cmdqv_accessors.rs",
    "/cmdqv_regfile.rs"
);
