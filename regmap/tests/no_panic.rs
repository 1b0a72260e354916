//! The loader must never panic, whatever it is given: arbitrary bytes,
//! arbitrary structurally plausible YAML with hostile numbers, and random
//! edits of a valid map.

use proptest::prelude::*;

const EXAMPLE: &str = include_str!("example.yaml");

fn num() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..0x200).prop_map(|v| format!("{v:#x}")),
        any::<u64>().prop_map(|v| format!("{v:#x}")),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("4294967295".to_string()),
        Just("18446744073709551615".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("1.5".to_string()),
        Just("~".to_string()),
    ]
}

fn bits() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..70).prop_map(|b| b.to_string()),
        (0u32..70, 0u32..70).prop_map(|(m, l)| format!("\"{m}:{l}\"")),
        Just("\"a:b\"".to_string()),
        Just("\":\"".to_string()),
        Just("[1, 2]".to_string()),
    ]
}

fn access() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "rw", "ro", "wo", "w1c", "w1s", "rc", "sc", "res0", "res1", "raz_wi", "bogus",
    ])
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["A", "B", "CR0", "PROD", "Q", "X-1", "", "_"])
            .prop_map(String::from),
        "[A-Z][A-Z0-9_]{0,6}",
    ]
}

fn field() -> impl Strategy<Value = String> {
    (
        name(),
        bits(),
        access(),
        prop::option::of(num()),
        prop::option::of(name()),
    )
        .prop_map(|(n, b, a, r, e)| {
            let mut s = format!("{{ name: {n:?}, bits: {b}, access: {a}");
            if let Some(r) = r {
                s += &format!(", reset: {r}");
            }
            if let Some(e) = e {
                s += &format!(", enum: {e:?}");
            }
            s + " }"
        })
}

fn register() -> impl Strategy<Value = String> {
    (
        name(),
        num(),
        prop::sample::select(vec![32u32, 64, 16]),
        prop::collection::vec(field(), 0..4),
        prop::option::of((0u32..5, num())),
        prop::option::of(name()),
        prop::option::of(num()),
    )
        .prop_map(|(n, off, w, fields, arr, alias, reset)| {
            let mut s = format!("{{ name: {n:?}, offset: {off}, width: {w}");
            if let Some((c, st)) = arr {
                s += &format!(", count: {c}, stride: {st}");
            }
            if let Some(a) = alias {
                s += &format!(", alias: {a:?}");
            }
            if let Some(r) = reset {
                s += &format!(", reset: {r}");
            }
            s + &format!(", fields: [{}] }}", fields.join(", "))
        })
}

fn map() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(register(), 0..5),
        prop::collection::vec(
            (
                name(),
                num(),
                prop::option::of((0u32..9, num())),
                prop::collection::vec(register(), 0..3),
                prop::option::of(name()),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                name(),
                num(),
                prop::collection::vec((name(), 0u32..9, bits()), 0..3),
                prop::option::of(name()),
            ),
            0..3,
        ),
        prop::collection::vec((name(), prop::collection::vec((name(), num()), 0..4)), 0..2),
    )
        .prop_map(|(regs, blocks, structs, enums)| {
            let mut s = String::from(
                "device: { name: d, windows: [ { name: p, offset: 0, size: 0x10000 } ] }\n",
            );
            s += "enums:\n";
            for (n, vals) in &enums {
                let v: Vec<String> = vals
                    .iter()
                    .map(|(vn, vv)| format!("{{ name: {vn:?}, value: {vv} }}"))
                    .collect();
                s += &format!("  - {{ name: {n:?}, values: [{}] }}\n", v.join(", "));
            }
            s += "registers:\n";
            for r in &regs {
                s += &format!("  - {r}\n");
            }
            s += "blocks:\n";
            for (n, off, arr, regs, alias) in &blocks {
                s += &format!("  - name: {n:?}\n    offset: {off}\n");
                if let Some((c, st)) = arr {
                    s += &format!("    count: {c}\n    stride: {st}\n");
                }
                if let Some(a) = alias {
                    s += &format!("    alias: {a:?}\n");
                }
                s += &format!("    registers: [{}]\n", regs.join(", "));
            }
            s += "structs:\n";
            for (n, size, fields, ext) in &structs {
                s += &format!("  - name: {n:?}\n    size: {size}\n");
                if let Some(e) = ext {
                    s += &format!("    extends: {e:?}\n");
                }
                let f: Vec<String> = fields
                    .iter()
                    .map(|(fnm, w, b)| format!("{{ name: {fnm:?}, word: {w}, bits: {b} }}"))
                    .collect();
                s += &format!("    fields: [{}]\n", f.join(", "));
            }
            s
        })
}

/// Selectors for `regmap decode`: the example's names in any case with
/// indices in and out of range, or arbitrary text.
fn selector() -> impl Strategy<Value = String> {
    let segment = (
        prop::sample::select(vec![
            "QUEUE", "queue", "SLOT", "Slot", "CFG", "CTRL", "ctrl", "Cmd", "PROD_P1", "ID", "",
        ]),
        prop::option::of(prop_oneof![
            (0u64..6).prop_map(|i| i.to_string()),
            Just("0x3".to_string()),
            Just("99999999999".to_string()),
            "[a-z0-9\\[\\]]{0,3}",
        ]),
    )
        .prop_map(|(n, i)| match i {
            Some(i) => format!("{n}[{i}]"),
            None => n.to_string(),
        });
    prop_oneof![
        prop::collection::vec(segment, 1..4).prop_map(|v| v.join(".")),
        "[A-Za-z_.\\[\\]0-9x-]{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = regmap::load_str("fuzz.yaml", &text).map_err(|d| d.render());
    }

    #[test]
    fn arbitrary_maps_never_panic(text in map()) {
        match regmap::load_str("gen.yaml", &text) {
            Ok(dev) => {
                // Tools on an accepted map must not panic either.
                let _ = regmap::dump::to_json(&dev);
                let _ = regmap::doc::to_markdown(&dev);
            }
            Err(d) => {
                prop_assert!(!d.items.is_empty());
                let _ = d.render();
            }
        }
    }

    #[test]
    fn arbitrary_selectors_never_panic(sel in selector()) {
        // `regmap decode`'s name lookup, indices and suggestions, on a map
        // with nested arrays, an alias and structures.
        let dev = regmap::load_str("example.yaml", EXAMPLE).unwrap();
        if let Ok(regmap::decode::Target::Register { reg, indices, .. }) =
            regmap::decode::select(&dev, &sel)
        {
            // A register resolves only with every index given and in range.
            prop_assert_eq!(indices.len(), reg.arrays.len());
            prop_assert!(reg.element_offset(&indices).is_some());
        }
    }

    #[test]
    fn edited_example_never_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = EXAMPLE.as_bytes().to_vec();
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = regmap::load_str("edited.yaml", &text).map_err(|d| d.render());
    }
}

#[test]
fn the_format_example_is_valid() {
    let dev =
        regmap::load_str("example.yaml", EXAMPLE).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(dev.registers.len(), 9);
}
