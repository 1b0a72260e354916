//! Unit tests of the lowering and the decode tree.

use super::{Kind, What};

fn load(name: &str) -> super::Ir {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name);
    crate::load(&path).unwrap_or_else(|d| panic!("{}", d.render()))
}

fn load_str(text: &str) -> super::Ir {
    crate::load_str("t.yaml", text).unwrap_or_else(|d| panic!("{}", d.render()))
}

#[test]
fn arrays_are_one_arm_with_stride_arithmetic() {
    let ir = load_str(
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
    assert_eq!(ir.decode.cands.len(), 1, "128 VCMDQs are one arm");
    let c = &ir.decode.cands[0];
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
    let rf = crate::regfile_source(&ir);
    assert_eq!(rf.matches("At::VCMDQ_PROD([i0])").count(), 1, "{rf}");
    assert!(
        rf.contains("let (i0, o1) = rt::split(o0 - 0x1000, 0x80);"),
        "{rf}"
    );
    // Registers of one block are relative to its element.
    assert_eq!(ir.regs[1].rel_offset, 0x4);
    assert_eq!(ir.blocks[0].offset, 0x1000);
}

#[test]
fn example_map_lowers_every_feature() {
    let ir = load("example.yaml");
    let alias = ir.regs.iter().find(|r| r.path == "PROD_P1").unwrap();
    let prod = ir.regs.iter().position(|r| r.path == "PROD").unwrap();
    assert_eq!(alias.kind, Kind::Alias { target: prod });
    assert_eq!(ir.slot_reg(alias.slot).path, "PROD");
    let ctrl = ir.regs.iter().find(|r| r.path == "CTRL").unwrap();
    let l = &ir.layouts[ctrl.layout];
    use regmap::model::Access;
    assert_eq!(l.mask(Access::Sc), 0x8);
    assert_eq!(l.mask(Access::Res1), 0x8000_0000);
    assert_eq!(l.mask(Access::Rw) | l.mask(Access::Sc), 0xf);
    let err = ir.regs.iter().find(|r| r.path == "ERR").unwrap();
    let l = &ir.layouts[err.layout];
    assert_eq!((l.mask(Access::W1c), l.mask(Access::Rc)), (1, 2));
}

#[test]
fn read_only_registers_of_a_read_write_fieldset() {
    let ir = load("layout.yaml");
    let consumer = ir
        .regs
        .iter()
        .find(|r| r.path.ends_with("CONSUMER"))
        .unwrap();
    let producer = ir
        .regs
        .iter()
        .find(|r| r.path.ends_with("PRODUCER"))
        .unwrap();
    assert_eq!(consumer.layout, producer.layout, "one fieldset, one layout");
    assert_eq!(producer.masks[0], 0x1f_ffff, "rw in the rw register");
    assert_eq!(
        (consumer.masks[0], consumer.masks[1]),
        (0, 0x1f_ffff),
        "ro in the ro one"
    );
    let acc = crate::accessors_source(&ir);
    assert!(
        acc.contains("its `rw` fields read-only here"),
        "per-register masks emitted"
    );
}

#[test]
fn hook_roles_and_index_maps() {
    let ir = load("features.yaml");
    let both = ir.hooks.iter().find(|h| h.name == "both").unwrap();
    assert_eq!(
        both.write.as_ref().map(|w| w.0.as_str()),
        Some("both_on_write")
    );
    assert_eq!(both.read.as_deref(), Some("both_on_read"));
    let q = ir.hooks.iter().find(|h| h.name == "q_map").unwrap();
    assert_eq!(q.map, Some(("q_map".to_string(), 1)));
    assert!(
        ir.hooks.iter().all(|h| h.name != "unused"),
        "a hook no register uses becomes no method"
    );
    let cfg = ir.regs.iter().find(|r| r.path == "VM.LQ.SUB.CFG").unwrap();
    let Kind::Mapped {
        outer,
        target_outer,
        ..
    } = cfg.kind
    else {
        panic!("VM.LQ.SUB.CFG is index-mapped");
    };
    assert_eq!((outer, target_outer), (2, 1));
    assert_eq!(ir.slot_reg(cfg.slot).path, "Q.SUB.CFG");
    // The alias block mirrors the target's nested blocks.
    let vm = ir.blocks.iter().find(|b| b.path == "VM").unwrap();
    assert_eq!(vm.children[0].children[0].path, "VM.LQ.SUB");
}

#[test]
fn a_register_in_the_gap_of_a_block_array_gets_an_exact_arm_first() {
    let ir = load("features.yaml");
    let rf = crate::regfile_source(&ir);
    let gap = rf
        .find("0x1008 => rt::word(At::GAP, wide),")
        .expect("exact arm");
    let q = rf.find("0x1000..=").expect("range arm");
    assert!(
        gap < q,
        "the exact offset comes before the range that covers it"
    );
}

#[test]
fn interleaved_block_arrays_are_tried_in_order() {
    let ir = load("layout.yaml");
    assert!(ir.decode.arrays_overlap());
    let rf = crate::regfile_source(&ir);
    assert!(
        rf.contains("if (0x2_0000..=0x2_03f3).contains(&o0) {"),
        "{rf}"
    );
    assert!(
        rf.contains("if (0x2_0008..=0x2_03fb).contains(&o0) {"),
        "{rf}"
    );
    assert!(
        rf.contains("if found != Err(AccessError::Unmapped) {"),
        "{rf}"
    );
}

#[test]
fn many_block_arrays_are_split_into_a_search_tree() {
    // Eight block arrays: eight range arms at the top level. Split before
    // the middle range arm while a match holds more than three: 8 -> 4 + 4
    // -> (2 + 2) + (2 + 2), three `if`s and four matches.
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
    let ir = load_str(&text);
    assert_eq!(ir.decode.cands.len(), 8, "one arm per block array");
    let rf = crate::regfile_source(&ir);
    assert_eq!(rf.matches("if o0 < 0x").count(), 3, "{rf}");
    assert_eq!(rf.matches("match o0 {").count(), 4);
    // The middle split is at the fifth block array.
    assert!(rf.contains("if o0 < 0x5000 {"));
}

#[test]
fn clear_on_read_handles_and_the_window_size() {
    let map = "registers:\n\
         \x20 - { name: ST, offset: 0x0, access: ro, fields: [ { name: LATCH, bits: 0, access: rc } ] }\n\
         \x20 - { name: EV, offset: 0x8, width: 64, fields: [ { name: HI, bits: 40, access: rc }, { name: EN, bits: 0 } ] }\n\
         \x20 - { name: CTL, offset: 0x10, fields: [ { name: EN, bits: 0 } ] }\n\
         \x20 - { name: RO, offset: 0x14, access: ro, fields: [ { name: X, bits: 0 } ] }\n\
         blocks:\n\
         \x20 - name: Q\n\
         \x20   offset: 0x1000\n\
         \x20   count: 3\n\
         \x20   stride: 0x40\n\
         \x20   registers:\n\
         \x20     - { name: TAIL, offset: 0x3c, fields: [ { name: V, bits: \"31:0\" } ] }\n";
    let ir = load_str(&format!(
        "device: {{ name: d, windows: [ {{ name: p, offset: 0, size: 0x100 }}, \
         {{ name: q, offset: 0x1000, size: 0x1000 }} ] }}\n{map}"
    ));
    let acc = crate::accessors_source(&ir);
    for (method, handle) in [
        ("st", "regmap_rt::RoRc<'_, M, ST::Register>"),
        ("ev", "regmap_rt::RwRc<'_, M, EV::Register>"),
        ("ctl", "regmap_rt::Rw<'_, M, CTL::Register>"),
        ("ro", "regmap_rt::Ro<'_, M, RO::Register>"),
    ] {
        assert!(
            acc.contains(&format!("pub fn {method}(&self) -> {handle}")),
            "{method}: {acc}"
        );
    }
    // The end of the last window (past the last register, Q[2].TAIL at
    // 0x10bc).
    assert!(
        acc.contains("pub const WINDOW_SIZE: usize = 0x2000;"),
        "{acc}"
    );
    let tests = crate::field_tests_source(&ir, "d");
    assert!(
        tests.contains("ro_rc(&mmio, reg, r::LATCH, 0x0)"),
        "{tests}"
    );
    assert!(tests.contains("rw_rc(&mmio, reg, r::HI, 0x8)"), "{tests}");
    assert!(tests.contains("rw(&mmio, reg, r::EN, 0x10)"), "{tests}");
}
