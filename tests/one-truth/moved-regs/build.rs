//! Generates the SMMUv3 crate from a copy of the shipped map with two
//! fields moved, so that the one-truth test can compile vdev's queue code
//! against it:
//!
//! * `CMDQ_CONS.ERR` (fieldset `CmdqCons`) from bits 30:24 to 29:23;
//! * `EVENTQ_PROD.OVFLG` (fieldset `OutQueueProd`) from bit 31 to bit 30
//!   (`EVENTQ_CONS.OVACKFLG` stays at 31, so the two no longer coincide).
//!
//! Each edit must match the shipped map exactly once: if the map's text
//! changes, the build fails here instead of testing an unmoved copy.

use std::path::PathBuf;

/// (what the shipped map says, what the copy says instead).
const EDITS: &[(&str, &str)] = &[
    (
        r#"{ name: ERR, bits: "30:24", enum: CmdError,"#,
        r#"{ name: ERR, bits: "29:23", enum: CmdError,"#,
    ),
    (r#"{ name: OVFLG, bits: 31,"#, r#"{ name: OVFLG, bits: 30,"#),
];

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let map = dir.join("../../../smmuv3-regs/smmuv3.yaml");
    println!("cargo:rerun-if-changed={}", map.display());
    let mut text = std::fs::read_to_string(&map)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", map.display())));
    for (from, to) in EDITS {
        if text.matches(from).count() != 1 {
            fail(&format!(
                "the SMMUv3 map no longer has exactly one `{from}`"
            ));
        }
        text = text.replacen(from, to, 1);
    }
    let ir = codegen::load_str("smmuv3-moved.yaml", &text).unwrap_or_else(|d| {
        eprintln!("{}", d.render());
        fail("the moved copy of the SMMUv3 map does not validate")
    });
    // Named as the crate the copied code expects (the dependency is
    // renamed to `smmuv3_regs`).
    let gen = codegen::generate_ir(&ir, "smmuv3_regs");
    if let Err(e) = codegen::write(&gen, &out) {
        fail(&format!("writing generated code to {}: {e}", out.display()));
    }
}
