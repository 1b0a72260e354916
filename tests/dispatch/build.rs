//! Generates, into OUT_DIR:
//! - the accessors, register file, dispatcher, per-register and per-field
//!   tests of every map: the example, dispatcher- and layout-coverage maps
//!   always, the SMMUv3 and CMDQV maps when they load (cfg `have_smmuv3`,
//!   `have_cmdqv`);
//! - the register-facts tables of `facts/` (typed from the public sources,
//!   never from the maps) as constants, and the tests comparing them with the
//!   generated guest accessors of smmuv3-regs and cmdqv-regs.

use std::path::{Path, PathBuf};

#[path = "build/facts.rs"]
mod facts;

/// (module name, map path relative to this crate, required).
const MAPS: &[(&str, &str, bool)] = &[
    ("example", "../../codegen/tests/example.yaml", true),
    ("features", "../../codegen/tests/features.yaml", true),
    ("layout", "../../codegen/tests/layout.yaml", true),
    ("smmuv3", "../../smmuv3-regs/smmuv3.yaml", false),
    ("cmdqv", "../../cmdqv-regs/cmdqv.yaml", false),
];

/// (table, generated crate and device struct whose accessors are checked).
const FACTS: &[(&str, Option<(&str, &str)>)] = &[
    ("example", None),
    ("features", None),
    ("smmuv3", Some(("smmuv3_regs", "Smmuv3"))),
    ("cmdqv", Some(("cmdqv_regs", "Cmdqv"))),
];

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!(
        "cargo::rustc-check-cfg=cfg(have_smmuv3, have_cmdqv, have_example, have_features, have_layout)"
    );
    // The generated accessors carry `defmt` impls behind the -regs crates' feature.
    println!("cargo::rustc-check-cfg=cfg(feature, values(\"defmt\"))");
    for (name, rel, required) in MAPS {
        let path = Path::new(rel);
        println!("cargo::rerun-if-changed={rel}");
        if !path.exists() && !required {
            continue;
        }
        let ir = match codegen::load(path) {
            Ok(ir) => ir,
            Err(diags) if *required => panic!("{}", diags.render()),
            Err(diags) => {
                println!(
                    "cargo::warning=skipping {name}: the map does not validate: {}",
                    diags.to_string().lines().next().unwrap_or("")
                );
                continue;
            }
        };
        let gen = codegen::generate_ir(&ir, &format!("dispatch_tests::{name}"));
        let files = [
            ("accessors", gen.accessors),
            ("regfile", gen.regfile),
            ("regfile_tests", gen.regfile_tests),
            ("field_tests", gen.field_tests),
        ];
        for (file, text) in files {
            codegen::write_if_changed(&out.join(format!("{name}_{file}.rs")), &text)
                .expect("write generated code");
        }
        println!("cargo::rustc-cfg=have_{name}");
    }
    println!("cargo::rerun-if-changed=facts");
    let dir = Path::new("facts");
    for (name, accessors) in FACTS {
        let table = facts::load(dir, name)
            .unwrap_or_else(|errs| panic!("register facts:\n{}", errs.join("\n")));
        std::fs::write(out.join(format!("facts_{name}.rs")), table.emit()).expect("write facts");
        if let Some((krate, dev)) = accessors {
            std::fs::write(
                out.join(format!("facts_{name}_accessors.rs")),
                table.emit_accessor_tests(krate, dev),
            )
            .expect("write accessor checks");
        }
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build/facts.rs");
}
