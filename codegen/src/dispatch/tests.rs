//! Unit tests of the passes: IR lowering, decode tree, emission.

use super::decode::{self, What};
use super::ir::{self, Kind, Role};

fn load(name: &str) -> regmap::model::Device {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name);
    regmap::load_file(&path).unwrap_or_else(|d| panic!("{d}"))
}

fn load_str(text: &str) -> regmap::model::Device {
    regmap::load_str("t.yaml", text).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn arrays_are_one_arm_with_stride_arithmetic() {
    let dev = load_str(
        "device: { name: d, windows: [ { name: p, offset: 0, size: 0x10000 } ] }\n\
         blocks:\n\
         \x20 - name: VCMDQ\n\
         \x20   offset: 0x1000\n\
         \x20   count: 128\n\
         \x20   stride: 0x80\n\
         \x20   registers:\n\
         \x20     - { name: CONS, offset: 0x0, fields: [ { name: RD, bits: \"19:0\" } ] }\n\
         \x20     - { name: PROD, offset: 0x4, fields: [ { name: WR, bits: \"19:0\" } ] }\n",
    );
    let ir = ir::lower(&dev);
    let tree = decode::build(&dev, &ir);
    assert_eq!(tree.cands.len(), 1, "128 VCMDQs are one arm");
    let c = &tree.cands[0];
    assert_eq!((c.lo, c.hi), (0x1000, 0x1000 + 127 * 0x80 + 7));
    match &c.what {
        What::Array {
            count,
            stride,
            child,
            ..
        } => {
            assert_eq!((*count, *stride), (128, 0x80));
            assert_eq!(child.cands.len(), 2);
        }
        What::Leaf { .. } => panic!("expected an array"),
    }
    let code = super::emit_regfile(&dev).to_string();
    assert_eq!(code.matches("self . rd_vcmdq_prod (").count(), 1);
    assert!(syn::parse2::<syn::File>(super::emit_regfile(&dev)).is_ok());
}

#[test]
fn example_map_lowers_every_feature() {
    let dev = load("example.yaml");
    let ir = ir::lower(&dev);
    assert!(ir.errors.is_empty(), "{:?}", ir.errors);
    assert_eq!(
        ir.slots.len(),
        dev.registers.iter().filter(|r| r.alias.is_none()).count()
    );
    let alias = ir.regs.iter().find(|r| r.path == "PROD_P1").unwrap();
    assert_eq!(alias.kind, Kind::Alias);
    assert_eq!(ir.slots[alias.slot].path, "PROD");
    let ctrl = ir.regs.iter().find(|r| r.path == "CTRL").unwrap();
    assert_eq!(ctrl.masks.sc, 0x8);
    assert_eq!(ctrl.masks.res1, 0x8000_0000);
    assert_eq!(ctrl.masks.store, 0xf);
    let err = ir.regs.iter().find(|r| r.path == "ERR").unwrap();
    assert_eq!((err.masks.w1c, err.masks.rc, err.masks.read), (1, 2, 3));
    assert!(syn::parse2::<syn::File>(super::emit_regfile(&dev)).is_ok());
    assert!(syn::parse_file(&super::emit_regfile_tests(&dev)).is_ok());
}

#[test]
fn hook_roles_and_index_maps() {
    let dev = load("features.yaml");
    let ir = ir::lower(&dev);
    assert!(ir.errors.is_empty(), "{:?}", ir.errors);
    let both = ir.hook("both").unwrap();
    assert_eq!(both.method(Role::Write), "both_on_write");
    assert_eq!(both.method(Role::Read), "both_on_read");
    let q = ir.hook("q_map").unwrap();
    assert_eq!(q.roles, vec![Role::Map { target_outer: 1 }]);
    assert_eq!(q.method(q.roles[0]), "q_map");
    assert_eq!(ir.hook("unused").unwrap().roles, vec![Role::Write]);
    let cfg = ir.regs.iter().find(|r| r.path == "VM.LQ.SUB.CFG").unwrap();
    assert_eq!(
        cfg.kind,
        Kind::Mapped {
            hook: "q_map".into(),
            outer: 2,
            target_outer: 1
        }
    );
    assert_eq!(ir.slots[cfg.slot].path, "Q.SUB.CFG");
}

#[test]
fn interleaved_ranges_become_segments() {
    let dev = load("features.yaml");
    let ir = ir::lower(&dev);
    let tree = decode::build(&dev, &ir);
    assert!(tree.overlaps());
    let segs = tree.segments();
    let gap = segs.iter().find(|(lo, _, _)| *lo == 0x1008).unwrap();
    assert_eq!(gap.1, 0x100b);
    assert_eq!(gap.2.len(), 2, "the Q array and the GAP register");
    // Segments are disjoint and sorted.
    assert!(segs.windows(2).all(|w| w[0].1 < w[1].0));
}

#[test]
fn name_clashes_become_compile_errors() {
    let dev = load_str(
        "device: { name: d, windows: [ { name: p, offset: 0, size: 0x1000 } ] }\n\
         registers:\n\
         \x20 - { name: A_B, offset: 0x0, fields: [ { name: V, bits: 0 } ] }\n\
         blocks:\n\
         \x20 - { name: A, offset: 0x10, registers: [ { name: B, offset: 0x0, fields: [ { name: V, bits: 0 } ] } ] }\n",
    );
    let code = super::emit_regfile(&dev).to_string();
    assert!(code.contains("compile_error"), "{code}");
}

#[test]
fn many_block_arrays_are_split_into_a_search_tree() {
    // Eight block arrays: eight range arms at the top level. Split before
    // the middle range arm while a match holds more than three: 8 -> 4 + 4
    // -> (2 + 2) + (2 + 2), three `if`s and four matches per decoder.
    let mut text = String::from(
        "device: { name: d, windows: [ { name: p, offset: 0, size: 0x100000 } ] }\nblocks:\n",
    );
    for b in 0..8u64 {
        text.push_str(&format!(
            "  - {{ name: B{b}, offset: {:#x}, count: 4, stride: 0x10, registers: \
             [ {{ name: R, offset: 0x0, fields: [ {{ name: V, bits: \"7:0\" }} ] }} ] }}\n",
            0x1000 * (b + 1)
        ));
    }
    let dev = load_str(&text);
    let ir = ir::lower(&dev);
    let tree = decode::build(&dev, &ir);
    assert_eq!(tree.cands.len(), 8, "one arm per block array");
    let code = super::emit_regfile(&dev).to_string();
    assert!(syn::parse2::<syn::File>(super::emit_regfile(&dev)).is_ok());
    let decoders = 2; // read_with and write_with
    assert_eq!(code.matches("if o0 < 0x").count(), 3 * decoders, "{code}");
    assert_eq!(code.matches("match o0 {").count(), 4 * decoders);
    // The middle split is at the fifth block array.
    assert!(code.contains("if o0 < 0x5000 {"));
}
