//! Generates, into OUT_DIR:
//! - the register file, dispatcher and per-register tests of every map: the
//!   example and dispatcher-coverage maps always, the SMMUv3 and CMDQV maps
//!   when they load (cfg `have_smmuv3`, `have_cmdqv`);
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

fn pretty(ts: proc_macro2::TokenStream) -> String {
    match syn::parse2::<syn::File>(ts.clone()) {
        Ok(f) => prettyplease::unparse(&f),
        // Unparseable output still goes out so rustc reports where it breaks.
        Err(_) => ts.to_string(),
    }
}

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rustc-check-cfg=cfg(have_smmuv3, have_cmdqv, have_example, have_features)");
    for (name, rel, required) in MAPS {
        let path = Path::new(rel);
        println!("cargo::rerun-if-changed={rel}");
        if !path.exists() && !required {
            continue;
        }
        let dev = match regmap::load_file(path) {
            Ok(d) => d,
            Err(diags) if *required => panic!("{diags}"),
            Err(diags) => {
                println!(
                    "cargo::warning=skipping {name}: the map does not validate: {}",
                    diags.to_string().lines().next().unwrap_or("")
                );
                continue;
            }
        };
        std::fs::write(
            out.join(format!("{name}_regfile.rs")),
            pretty(codegen::dispatch::emit_regfile(&dev)),
        )
        .expect("write regfile");
        std::fs::write(
            out.join(format!("{name}_regfile_tests.rs")),
            codegen::dispatch::emit_regfile_tests(&dev),
        )
        .expect("write regfile tests");
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
