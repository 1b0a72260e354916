//! One test per validation rule, each with a map that breaks only that rule
//! (the kind is asserted; positions are covered by the `bad/` corpus), and
//! the positive counterparts that elaboration must get right.

use regmap::model::{Access, RegAccess, Width};
use regmap::{load_str, Device, Kind};

const HEAD: &str = "device: { name: t, windows: [ { name: p0, offset: 0x0, size: 0x10000 }, { name: p1, offset: 0x10000, size: 0x10000 } ] }\n";

fn ok(body: &str) -> Device {
    let text = format!("{HEAD}{body}");
    load_str("t.yaml", &text).unwrap_or_else(|d| panic!("{}", d.render()))
}

fn kinds(body: &str) -> Vec<Kind> {
    let text = format!("{HEAD}{body}");
    match load_str("t.yaml", &text) {
        Ok(_) => Vec::new(),
        Err(d) => d.items.iter().map(|i| i.kind).collect(),
    }
}

#[test]
fn unknown_key() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, widht: 32 } ]\n"),
        [Kind::UnknownKey]
    );
}

#[test]
fn duplicate_names_at_every_level() {
    assert_eq!(
        kinds("hooks: [ { name: h }, { name: h } ]\n"),
        [Kind::Duplicate]
    );
    assert_eq!(kinds("enums: [ { name: E, values: [ { name: A, value: 0 } ] }, { name: E, values: [ { name: A, value: 0 } ] } ]\n"), [Kind::Duplicate]);
    assert_eq!(
        kinds("enums: [ { name: E, values: [ { name: A, value: 0 }, { name: A, value: 1 } ] } ]\n"),
        [Kind::Duplicate]
    );
    assert_eq!(kinds("blocks: [ { name: B, offset: 0, registers: [ { name: R, offset: 0 }, { name: R, offset: 4 } ] } ]\n"), [Kind::Duplicate]);
    assert_eq!(
        kinds("structs: [ { name: S, size: 8 }, { name: S, size: 8 } ]\n"),
        [Kind::Duplicate]
    );
    assert_eq!(kinds("structs: [ { name: S, size: 8, fields: [ { name: F, word: 0, bits: 0 }, { name: F, word: 0, bits: 1 } ] } ]\n"), [Kind::Duplicate]);
}

#[test]
fn overlapping_fields() {
    assert_eq!(kinds("registers: [ { name: A, offset: 0, fields: [ { name: X, bits: 3:0 }, { name: Y, bits: 3 } ] } ]\n"), [Kind::FieldOverlap]);
}

#[test]
fn bits_past_the_width() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, fields: [ { name: X, bits: 35:32 } ] } ]\n"),
        [Kind::BadBits]
    );
    // The same bits are fine in a 64-bit register.
    ok("registers: [ { name: A, offset: 0, width: 64, fields: [ { name: X, bits: 35:32 } ] } ]\n");
}

#[test]
fn overlapping_registers_after_expansion() {
    assert_eq!(kinds("blocks: [ { name: B, offset: 0x100, count: 4, stride: 0x10, registers: [ { name: R, offset: 0 } ] } ]\nregisters: [ { name: X, offset: 0x120 } ]\n"), [Kind::RegisterOverlap]);
    ok("blocks: [ { name: B, offset: 0x100, count: 4, stride: 0x10, registers: [ { name: R, offset: 0 } ] } ]\nregisters: [ { name: X, offset: 0x124 } ]\n");
}

#[test]
fn reset_and_enum_values_must_fit() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, reset: 0x100000000 } ]\n"),
        [Kind::ValueTooWide]
    );
    assert_eq!(kinds("registers: [ { name: A, offset: 0, fields: [ { name: X, bits: 0, values: [ { name: BIG, value: 2 } ] } ] } ]\n"), [Kind::ValueTooWide]);
    assert_eq!(
        kinds("enums: [ { name: E, bits: 2, values: [ { name: A, value: 4 } ] } ]\n"),
        [Kind::ValueTooWide]
    );
}

#[test]
fn reset_bits_in_reserved_fields() {
    assert_eq!(kinds("registers: [ { name: A, offset: 0, reset: 2, fields: [ { name: X, bits: 0 }, { name: R, bits: 1, access: res0 } ] } ]\n"), [Kind::BadReset]);
    assert_eq!(
        kinds(
            "registers: [ { name: A, offset: 0, reset: 4, fields: [ { name: X, bits: 0 } ] } ]\n"
        ),
        [Kind::BadReset]
    );
    assert_eq!(kinds("registers: [ { name: A, offset: 0, reset: 0, fields: [ { name: X, bits: 0, access: res1 } ] } ]\n"), [Kind::BadReset]);
    assert_eq!(kinds("registers: [ { name: A, offset: 0, reset: 1, fields: [ { name: X, bits: 1:0, reset: 2 } ] } ]\n"), [Kind::BadReset]);
}

#[test]
fn reset_is_derived_both_ways() {
    let d = ok("registers:\n  - { name: A, offset: 0, fields: [ { name: X, bits: 3:1, reset: 5 }, { name: O, bits: 31, access: res1 } ] }\n  - { name: B, offset: 4, reset: 0xa, fields: [ { name: Y, bits: 3:1 } ] }\n");
    assert_eq!(d.register("A").unwrap().reset, 0x8000_000a);
    assert_eq!(d.register("B").unwrap().field("Y").unwrap().reset, 5);
}

#[test]
fn misaligned_offsets_and_strides() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0x4, width: 64 } ]\n"),
        [Kind::Misaligned]
    );
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0x0, count: 2, stride: 6 } ]\n"),
        [Kind::Misaligned]
    );
    assert_eq!(
        kinds("blocks: [ { name: B, offset: 0x2, registers: [ { name: A, offset: 0x0 } ] } ]\n"),
        [Kind::Misaligned]
    );
}

#[test]
fn strides_smaller_than_the_element() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, count: 2, stride: 2 } ]\n"),
        [Kind::BadArray]
    );
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, count: 2 } ]\n"),
        [Kind::BadArray]
    );
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, stride: 4 } ]\n"),
        [Kind::BadArray]
    );
}

#[test]
fn unknown_references() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, fieldset: F } ]\n"),
        [Kind::UnknownReference]
    );
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, fields: [ { name: X, bits: 0, enum: E } ] } ]\n"),
        [Kind::UnknownReference]
    );
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, on_read: h } ]\n"),
        [Kind::UnknownReference]
    );
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, alias: B } ]\n"),
        [Kind::UnknownReference]
    );
    assert_eq!(
        kinds("blocks: [ { name: B, offset: 0, alias: C } ]\n"),
        [Kind::UnknownReference]
    );
    assert_eq!(
        kinds("structs: [ { name: S, extends: T } ]\n"),
        [Kind::UnknownReference]
    );
}

#[test]
fn access_kinds() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0, access: rx } ]\n"),
        [Kind::BadAccess]
    );
    assert_eq!(kinds("registers: [ { name: A, offset: 0, access: wo, fields: [ { name: X, bits: 0, access: rc } ] } ]\n"), [Kind::BadAccess]);
    let d = ok("registers: [ { name: A, offset: 0, fields: [ { name: X, bits: 0, access: w1c }, { name: Y, bits: 1, access: sc }, { name: Z, bits: 7:4, access: raz_wi } ] } ]\n");
    let a = d.register("A").unwrap();
    assert_eq!(a.mask_of(Access::W1c), 1);
    assert_eq!(a.mask_of(Access::Sc), 2);
    assert_eq!(a.mask_of(Access::RazWi), 0xf0);
    assert_eq!(a.unmapped_mask(), 0xffff_ff0c);
}

#[test]
fn registers_without_fields_get_one_value_field() {
    let d = ok("registers: [ { name: A, offset: 0, width: 64, access: ro } ]\n");
    let f = &d.register("A").unwrap().fields[0];
    assert_eq!(
        (f.name.as_str(), f.lsb, f.msb, f.access),
        ("VALUE", 0, 63, Access::Ro)
    );
}

#[test]
fn fieldsets_are_shared_and_checked() {
    let d = ok("fieldsets: [ { name: Q, width: 64, fields: [ { name: ADDR, bits: 51:5 }, { name: LOG2SIZE, bits: 4:0 } ] } ]\nregisters: [ { name: CMDQ_BASE, offset: 0, width: 64, fieldset: Q }, { name: EVENTQ_BASE, offset: 8, width: 64, fieldset: Q, access: ro } ]\n");
    assert_eq!(
        d.register("CMDQ_BASE").unwrap().fieldset.as_deref(),
        Some("Q")
    );
    assert_eq!(
        d.register("EVENTQ_BASE")
            .unwrap()
            .field("ADDR")
            .unwrap()
            .access,
        Access::Ro
    );
    assert_eq!(kinds("fieldsets: [ { name: Q, width: 64, fields: [ { name: A, bits: 0 } ] } ]\nregisters: [ { name: R, offset: 0, fieldset: Q } ]\n"), [Kind::BadWidth]);
}

#[test]
fn static_alias_mirrors_its_target() {
    let d = ok("hooks: [ { name: prod } ]\nregisters:\n  - { name: PROD, offset: 0xa8, on_write: prod, fields: [ { name: WR, bits: 19:0 } ] }\n  - { name: PROD_P1, offset: 0x100a8, alias: PROD }\n");
    let p1 = d.register("PROD_P1").unwrap();
    let alias = p1.alias.as_ref().unwrap();
    assert_eq!(alias.target_path, "PROD");
    assert_eq!(d.registers[alias.target].name, "PROD");
    assert_eq!(p1.field("WR").unwrap().mask(), 0xfffff);
    assert_eq!(p1.on_write.as_deref(), Some("prod"));
}

#[test]
fn alias_blocks_expand_with_index_maps() {
    let d = ok(
        "hooks: [ { name: lvcmdq_map } ]\nblocks:\n  - name: VCMDQ\n    offset: 0x1000\n    count: 8\n    stride: 0x80\n    registers: [ { name: CONS, offset: 0 }, { name: PROD, offset: 4 }, { name: BASE, offset: 8, width: 64 } ]\n  - name: VINTF\n    offset: 0x4000\n    count: 2\n    stride: 0x1000\n    blocks:\n      - { name: LVCMDQ, offset: 0, count: 4, stride: 0x80, alias: VCMDQ, index_map: lvcmdq_map }\n",
    );
    let prod = d.register("VINTF.LVCMDQ.PROD").unwrap();
    assert_eq!(
        prod.element_offset(&[1, 3]),
        Some(0x4000 + 0x1000 + 3 * 0x80 + 4)
    );
    let alias = prod.alias.as_ref().unwrap();
    assert_eq!(alias.target_path, "VCMDQ.PROD");
    assert_eq!(alias.index_map.as_deref(), Some("lvcmdq_map"));
    assert_eq!(d.register("VINTF.LVCMDQ.BASE").unwrap().width, Width::W64);
    // Without an index map the shapes must match element for element.
    assert_eq!(
        kinds("blocks:\n  - { name: A, offset: 0, count: 2, stride: 8, registers: [ { name: R, offset: 0 } ] }\n  - { name: B, offset: 0x100, count: 3, stride: 8, alias: A }\n"),
        [Kind::BadAlias]
    );
}

#[test]
fn registers_must_lie_in_a_window() {
    assert_eq!(
        kinds("registers: [ { name: A, offset: 0x20000 } ]\n"),
        [Kind::OutsideWindow]
    );
}

#[test]
fn structures_extend_and_fix_values() {
    let d = ok("enums: [ { name: Op, bits: 8, values: [ { name: SYNC, value: 0x46 } ] } ]\nstructs:\n  - { name: Cmd, size: 16, fields: [ { name: OP, word: 0, bits: 7:0, enum: Op } ] }\n  - { name: CmdSync, extends: Cmd, fixed: [ { field: OP, value: SYNC } ], fields: [ { name: ADDR, word: 1, bits: 51:2 } ] }\n");
    let s = d.struct_by_name("CmdSync").unwrap();
    assert_eq!(s.size, 16);
    assert_eq!(s.fields.len(), 2);
    assert_eq!(s.fixed, vec![("OP".to_string(), 0x46)]);
    assert_eq!(s.fields[1].abs_lsb(), 66);
    assert_eq!(kinds("structs: [ { name: S, size: 8, fields: [ { name: F, word: 0, bits: 1:0 } ], fixed: [ { field: F, value: 4 } ] } ]\n"), [Kind::ValueTooWide]);
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let k = kinds("registers:\n  - { name: A, offset: 0x2 }\n  - { name: B, offset: 0x8, fields: [ { name: X, bits: 40 } ] }\n  - { name: C, offset: 0xc, fieldset: Nope }\n");
    assert_eq!(k, [Kind::Misaligned, Kind::BadBits, Kind::UnknownReference]);
}

#[test]
fn register_level_access_defaults_fields() {
    let d = ok("registers: [ { name: IDR0, offset: 0, access: ro, fields: [ { name: S1P, bits: 1 } ] } ]\n");
    let r = d.register("IDR0").unwrap();
    assert_eq!(r.access, RegAccess::Ro);
    assert_eq!(r.field("S1P").unwrap().access, Access::Ro);
}

#[test]
fn format_md_example_matches_the_test_copy() {
    let format = include_str!("../FORMAT.md");
    let start = format.find("## Complete example").unwrap();
    let block = &format[start..];
    let body = block
        .split("```yaml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert_eq!(body, include_str!("example.yaml"));
}
