//! Generates the register file, dispatcher and per-register tests of every
//! map into OUT_DIR: the example and dispatcher-coverage maps always, the SMMUv3 and CMDQV maps when
//! they load (cfg `have_smmuv3`, `have_cmdqv`).

use std::path::{Path, PathBuf};

/// (module name, map path relative to this crate, required).
const MAPS: &[(&str, &str, bool)] = &[
    ("example", "../../codegen/tests/example.yaml", true),
    ("features", "../../codegen/tests/features.yaml", true),
    ("smmuv3", "../../smmuv3-regs/smmuv3.yaml", false),
    ("cmdqv", "../../cmdqv-regs/cmdqv.yaml", false),
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
    println!("cargo::rerun-if-changed=build.rs");
}
