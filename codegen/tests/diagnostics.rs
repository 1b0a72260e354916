//! Problems the generator finds while lowering a valid map (names that
//! would collide in generated code, a write hook shared by registers whose
//! values have different types) are diagnostics at the map's
//! `FILE:LINE:COL`, like the loader's, never a panic or a build error in
//! generated code.

/// The rendered diagnostics of `map` (which must load but not lower).
fn diagnostics(map: &str) -> String {
    match codegen::load_str("t.yaml", map) {
        Ok(_) => panic!("the map lowers, but should not:\n{map}"),
        Err(d) => d.render(),
    }
}

const HEAD: &str = "device: { name: d, windows: [ { name: p, offset: 0, size: 0x10000 } ] }\n";

#[test]
fn two_registers_with_one_rust_name() {
    let map = format!(
        "{HEAD}registers:\n  - {{ name: A_B, offset: 0x0, fields: [ {{ name: V, bits: 0 }} ] }}\n\
         blocks:\n  - name: A\n    offset: 0x10\n    registers:\n      - {{ name: B, offset: 0x0, fields: [ {{ name: V, bits: 0 }} ] }}\n"
    );
    let d = diagnostics(&map);
    assert!(
        d.contains("t.yaml:8:9: error: register `A.B` would be generated as `a_b`"),
        "{d}"
    );
    assert!(d.contains("register `A_B` (line 3) already is"), "{d}");
    assert_eq!(
        d.matches("error:").count(),
        1,
        "one diagnostic per clash: {d}"
    );
}

#[test]
fn a_field_named_like_a_generated_item() {
    let map = format!(
        "{HEAD}registers:\n  - {{ name: R, offset: 0x0, fields: [ {{ name: OFFSET, bits: 0 }} ] }}\n"
    );
    let d = diagnostics(&map);
    assert!(
        d.contains("t.yaml:3:39: error: field `OFFSET` would be generated as `OFFSET`"),
        "{d}"
    );
    let map = format!(
        "{HEAD}fieldsets:\n  - {{ name: F, fields: [ {{ name: MASKS, bits: 0 }} ] }}\n\
         registers:\n  - {{ name: R, offset: 0x0, fieldset: F }}\n"
    );
    let d = diagnostics(&map);
    assert!(d.contains("t.yaml:3:26: error: field `MASKS`"), "{d}");
}

#[test]
fn a_fieldset_field_hidden_by_a_register_constant() {
    let map = format!(
        "{HEAD}fieldsets:\n  - {{ name: F, fields: [ {{ name: RESET, bits: 0 }} ] }}\n\
         registers:\n  - {{ name: R, offset: 0x0, fieldset: F }}\n"
    );
    let d = diagnostics(&map);
    assert!(
        d.contains("t.yaml:5:5: error: field `RESET` of `F` would be hidden"),
        "{d}"
    );
}

#[test]
fn a_write_hook_for_two_layouts() {
    let map = format!(
        "{HEAD}hooks: [ {{ name: h }} ]\nregisters:\n\
         \x20 - {{ name: A, offset: 0x0, on_write: h, fields: [ {{ name: X, bits: 0 }} ] }}\n\
         \x20 - {{ name: B, offset: 0x4, on_write: h, fields: [ {{ name: Y, bits: 1 }} ] }}\n"
    );
    let d = diagnostics(&map);
    assert!(
        d.contains("t.yaml:5:5: error: hook `h` is the write hook of `A` and `B`, whose field layouts differ"),
        "{d}"
    );
}

#[test]
fn a_shared_write_hook_of_one_layout_is_fine() {
    let map = format!(
        "{HEAD}hooks: [ {{ name: h }} ]\nfieldsets: [ {{ name: F, fields: [ {{ name: X, bits: 0 }} ] }} ]\n\
         registers:\n\
         \x20 - {{ name: A, offset: 0x0, on_write: h, fieldset: F }}\n\
         \x20 - {{ name: B, offset: 0x4, on_write: h, fieldset: F }}\n"
    );
    let ir = codegen::load_str("t.yaml", &map).unwrap_or_else(|d| panic!("{}", d.render()));
    let rf = codegen::regfile_source(&ir);
    assert!(
        rf.contains("fn h(&mut self, regs: &mut RegFile, write: Write<'_, super::A::Value>) {}"),
        "{rf}"
    );
    assert_eq!(rf.matches("hooks.h(self, write);").count(), 2, "{rf}");
}

#[test]
fn structure_items() {
    let map = format!(
        "{HEAD}structs:\n  - name: S\n    size: 8\n    fields:\n      - {{ name: FIELDS, word: 0, bits: 0 }}\n"
    );
    let d = diagnostics(&map);
    assert!(
        d.contains("t.yaml:6:9: error: field `S.FIELDS` would be generated as `FIELDS`"),
        "{d}"
    );
}

#[test]
fn the_build_script_reports_them_like_the_loader() {
    // `codegen::load` renders lowering problems with the source line and a caret.
    let map = format!(
        "{HEAD}registers:\n  - {{ name: R, offset: 0x0, fields: [ {{ name: WIDTH, bits: 0 }} ] }}\n"
    );
    let d = diagnostics(&map);
    assert!(
        d.contains("3 |   - { name: R, offset: 0x0, fields: [ { name: WIDTH, bits: 0 } ] }"),
        "{d}"
    );
    assert!(d.contains("^"), "{d}");
}

#[test]
fn a_root_item_named_like_the_handles_type_parameter() {
    // Found by the generated-maps compile test: inside the handles'
    // `impl<M: Mmio>`, a root module `M` was shadowed by the parameter.
    for item in [
        "registers:\n  - { name: M, offset: 0x0 }\n",
        "blocks:\n  - { name: M, offset: 0x0, registers: [ { name: R, offset: 0x0 } ] }\n",
    ] {
        let d = diagnostics(&format!("{HEAD}{item}"));
        assert!(d.contains("t.yaml:3:"), "{d}");
        assert!(d.contains("already emits an item of that name"), "{d}");
        assert!(d.contains("`M`"), "{d}");
    }
}
