//! The code generated from maps the fuzzer's structure-aware generator
//! builds compiles, and its generated tests pass: the `map_load` fuzz
//! target generates code for every accepted map but cannot afford to
//! compile it per input, so this test compiles that of a handful, chosen
//! (from fixed seeds) to cover nested blocks and arrays, register aliases,
//! alias blocks with and without an `index_map`, fieldsets, enums, hooks
//! and `extends` chains. They go into one scratch crate next to the
//! workspace's target directory (built offline against the workspace's
//! lock file), one module per map, with the generated field and
//! register-file tests as its tests. Where rustfmt is installed, the
//! generated files must also be its layout already.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../fuzz/src/mapgen.rs"]
mod mapgen;

/// Deterministic pseudo-random bytes for `seed` (xorshift64*).
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// What a generated map exercises, as its text shows it.
fn features(text: &str) -> [bool; 6] {
    [
        text.contains("\n    blocks:"),
        text.contains("alias: R"),
        text.contains("alias: B"),
        text.contains("index_map:"),
        text.contains("extends:"),
        text.contains("fieldset:"),
    ]
}

#[test]
fn generated_maps_compile_and_their_generated_tests_pass() {
    let mut maps: Vec<(String, String, codegen::Generated)> = Vec::new();
    // Found by this test: an index-mapped alias block of a block outside
    // every array (the dispatcher called the target's unit variant).
    let mapped_plain = "device: { name: d, windows: [ { name: p, offset: 0, size: 0x1000 } ] }\n\
        hooks: [ { name: h } ]\n\
        blocks:\n  - { name: B, offset: 0, registers: [ { name: R, offset: 0 } ] }\n\
        \x20 - { name: MB, offset: 0x10, count: 4, stride: 0x10, alias: B, index_map: h }\n\
        \x20 - { name: X, offset: 0x60, blocks: [ { name: M, offset: 0, registers: [ { name: R, offset: 0 } ] } ] }\n";
    let ir = codegen::load_str("mapped.yaml", mapped_plain).unwrap_or_else(|d| panic!("{d}"));
    maps.push((
        "m0".into(),
        mapped_plain.into(),
        codegen::generate_ir(&ir, "generated_maps::m0"),
    ));
    let mut covered = [false; 6];
    let mut accepted = 0;
    for seed in 0..2000u64 {
        let text = mapgen::map(&bytes(seed, 400));
        let Ok(ir) = codegen::load_str("gen.yaml", &text) else {
            continue;
        };
        accepted += 1;
        let f = features(&text);
        let adds = f.iter().zip(&covered).any(|(a, c)| *a && !*c);
        if adds || maps.len() < 4 {
            for (c, a) in covered.iter_mut().zip(f) {
                *c |= a;
            }
            let name = format!("m{}", maps.len());
            let gen = codegen::generate_ir(&ir, &format!("generated_maps::{name}"));
            maps.push((name, text, gen));
        }
        if covered.iter().all(|c| *c) && maps.len() >= 5 {
            break;
        }
    }
    assert!(
        covered.iter().all(|c| *c),
        "the generated maps cover nested blocks, register and block aliases, index maps, extends and fieldsets: {covered:?} ({accepted} maps accepted)"
    );
    assert!(maps.len() <= 12, "a handful of maps: {}", maps.len());

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-maps");
    let _ = std::fs::remove_dir_all(dir.join("src"));
    let _ = std::fs::remove_dir_all(dir.join("tests"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let rt = root.join("regmap-rt").canonicalize().unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"generated-maps\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [features]\ndefmt = []\n\n[dependencies]\nregmap-rt = {{ path = {:?} }}\n\n[workspace]\n",
            rt.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let mut lib = String::from("#![no_std]\n");
    let mut tests = String::from("#![allow(clippy::all)]\n");
    for (name, map, gen) in &maps {
        // The map beside its code, for whoever reads a failure.
        std::fs::write(dir.join(format!("src/{name}.yaml")), map).unwrap();
        for (file, text) in [
            ("accessors", &gen.accessors),
            ("regfile", &gen.regfile),
            ("field_tests", &gen.field_tests),
            ("regfile_tests", &gen.regfile_tests),
        ] {
            std::fs::write(dir.join(format!("src/{name}_{file}.rs")), text).unwrap();
        }
        lib += &format!(
            "#[allow(non_snake_case, non_camel_case_types, clippy::all)]\npub mod {name} {{\n    include!(\"{name}_accessors.rs\");\n    pub mod regfile {{\n        include!(\"{name}_regfile.rs\");\n    }}\n}}\n"
        );
        tests += &format!(
            "mod {name}_fields {{\n    include!(\"../src/{name}_field_tests.rs\");\n}}\nmod {name}_regfile {{\n    include!(\"../src/{name}_regfile_tests.rs\");\n}}\n"
        );
    }
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    std::fs::write(dir.join("tests/generated.rs"), tests).unwrap();

    // The generated text is rustfmt's layout already (as
    // `tests/rustfmt.rs` checks for the shipped maps), when rustfmt is here.
    let rustfmt = std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into());
    if Command::new(&rustfmt)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let files: Vec<PathBuf> = std::fs::read_dir(dir.join("src"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("lib.rs"))
            .collect();
        let out = Command::new(&rustfmt)
            .args(["--edition", "2021", "--check"])
            .args(&files)
            .current_dir(&dir)
            .output()
            .expect("rustfmt runs");
        assert!(
            out.status.success(),
            "rustfmt would change the generated code:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    } else {
        eprintln!("rustfmt is not installed: the layout check is skipped");
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the generated code of {} maps (in {}) does not build or its tests fail:\n{stdout}\n{stderr}",
        maps.len(),
        dir.display()
    );
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed > 0, "no generated test ran:\n{stdout}");
    eprintln!(
        "{} generated maps ({accepted} accepted of the seeds tried) compile; {passed} generated tests pass",
        maps.len()
    );
}
