//! Maps built to break the loader: element totals and offsets that overflow
//! 64 bits, `extends` chains as long as the file, alias blocks at the top of
//! the address space and alias counts that a quadratic resolution cannot
//! finish. Each must end quickly with located diagnostics (or, when it is
//! valid, with the right model), never a panic, an abort or a hang.

use std::time::{Duration, Instant};

use regmap::Kind;

const DEVICE: &str = "device: { name: d, windows: [ { name: p, offset: 0, size: 0x100000 } ] }\n";

/// Loads `text`, timing the two passes apart: the YAML parser is a
/// dependency (and slow unoptimized), the elaboration is the loader's own
/// work this file bounds.
fn load_timed(text: &str) -> (Result<regmap::Device, Vec<regmap::Diagnostic>>, Duration) {
    let raw = regmap::raw::parse(text).unwrap_or_else(|d| panic!("the map parses: {d}"));
    let t = Instant::now();
    let res = regmap::elaborate::elaborate(&raw);
    (res, t.elapsed())
}

/// The one diagnostic `text` must be rejected with.
fn one_diagnostic(text: &str) -> regmap::Diagnostic {
    let (res, _) = load_timed(text);
    let mut diags = res.expect_err("the map is rejected");
    assert_eq!(diags.len(), 1, "{diags:?}");
    diags.remove(0)
}

/// A chain `S{n-1} extends S{n-2} ... S1 extends S0`, written deepest
/// first (so resolving the first structure follows the whole chain) or
/// root first. Returns the map and the line of `S{bound+1}`.
fn chain(n: usize, deepest_first: bool) -> (String, u32) {
    let mut lines: Vec<String> = (1..n)
        .map(|i| format!("  - {{ name: S{i}, extends: S{} }}\n", i - 1))
        .collect();
    lines.insert(
        0,
        "  - { name: S0, size: 8, fields: [ { name: F, word: 0, bits: 0 } ] }\n".into(),
    );
    if deepest_first {
        lines.reverse();
    }
    let first = regmap::elaborate::MAX_EXTENDS_DEPTH + 1;
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("  - {{ name: S{first},")))
        .expect("the chain is past the bound");
    let text = format!("{DEVICE}structs:\n{}", lines.concat());
    (text, at as u32 + 3)
}

#[test]
fn an_extends_chain_of_12000_ends_with_one_diagnostic() {
    for deepest_first in [true, false] {
        let (text, line) = chain(12_000, deepest_first);
        let start = Instant::now();
        let (res, elaborate) = load_timed(&text);
        let total = start.elapsed();
        let diags = res.expect_err("a chain past the bound is an error");
        // One diagnostic, at the `extends` of the first structure past the
        // bound; the 11,934 deeper ones fail with it, silently.
        assert_eq!(diags.len(), 1, "{diags:?}");
        let d = &diags[0];
        assert_eq!((d.kind, d.span.line), (Kind::UnknownReference, line));
        assert_eq!(d.span.col, 27, "at the `extends` value");
        assert!(d.message.contains("`S65` is 65 `extends` below its root"));
        eprintln!(
            "12,000-long chain (deepest first: {deepest_first}): elaborate {elaborate:?}, parse + elaborate {total:?}"
        );
    }
}

#[test]
fn a_chain_at_the_bound_is_accepted_with_every_inherited_field() {
    let n = regmap::elaborate::MAX_EXTENDS_DEPTH + 1;
    let text = format!(
        "{DEVICE}structs:\n  - {{ name: S0, size: 24, fields: [ {{ name: F0, word: 0, bits: 0 }} ] }}\n{}",
        (1..n)
            .map(|i| format!(
                "  - {{ name: S{i}, extends: S{}, fields: [ {{ name: F{i}, word: {}, bits: {} }} ] }}\n",
                i - 1,
                1 + i / 64,
                i % 64
            ))
            .collect::<String>()
    );
    let dev = regmap::load_str("chain.yaml", &text).unwrap_or_else(|d| panic!("{}", d.render()));
    let last = dev.struct_by_name(&format!("S{}", n - 1)).unwrap();
    assert_eq!(last.fields.len(), n);
    assert_eq!(last.fields[0].name, "F0");
    assert_eq!(last.extends.as_deref(), Some(&*format!("S{}", n - 2)));
}

#[test]
fn an_extends_cycle_through_many_structures_is_one_diagnostic() {
    // S0 -> S1 -> ... -> S4999 -> S0, none of them a root.
    let n = 5000;
    let text = format!(
        "{DEVICE}structs:\n{}",
        (0..n)
            .map(|i| format!("  - {{ name: S{i}, extends: S{} }}\n", (i + 1) % n))
            .collect::<String>()
    );
    let (res, took) = load_timed(&text);
    let diags = res.expect_err("a cycle is an error");
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(
        (diags[0].kind, diags[0].span.line),
        (Kind::UnknownReference, 3)
    );
    assert!(diags[0]
        .message
        .contains("`S0` extends itself through a cycle"));
    eprintln!("5,000-long cycle: elaborate {took:?}");
}

/// An alias block `HI` at `base` mirroring `Q`, whose registers are at
/// `q_regs` (offsets in `Q`); `arrays` is the `count`/`stride` text both
/// blocks take.
fn alias_map(base: u64, q_regs: &[u64], arrays: &str, window: (u64, u64)) -> String {
    let regs: Vec<String> = q_regs
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{{ name: R{i}, offset: {o:#x} }}"))
        .collect();
    format!(
        "device: {{ name: d, windows: [ {{ name: lo, offset: 0, size: 0x10000 }}, {{ name: hi, offset: {:#x}, size: {:#x} }} ] }}\n\
         blocks:\n  - {{ name: Q, offset: 0{arrays}, registers: [ {} ] }}\n  - {{ name: HI, offset: {base:#x}{arrays}, alias: Q }}\n",
        window.0,
        window.1,
        regs.join(", ")
    )
}

#[test]
fn an_alias_block_at_0xffff_ffff_ffff_f000_is_placed_exactly_or_rejected() {
    const TOP: u64 = 0xffff_ffff_ffff_f000;
    // Fits: the mirrors are at the block's base plus their offset in `Q`
    // (the last byte of the address space is never inside a window: a
    // window's end must fit in 64 bits).
    let text = alias_map(TOP, &[0x0, 0xff8], "", (TOP, 0xfff));
    let dev = regmap::load_str("ok.yaml", &text).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(dev.register("HI.R0").unwrap().offset, TOP);
    assert_eq!(dev.register("HI.R1").unwrap().offset, TOP + 0xff8);
    assert!(dev.register("HI.R1").unwrap().alias.is_some());

    // `R1` 0x1000 into `Q` would land at 2^64: rejected at the alias block,
    // and none of the block's mirrors is built.
    let d = one_diagnostic(&alias_map(TOP, &[0x0, 0x1000], "", (TOP, 0xfff)));
    assert_eq!(
        (d.kind, d.span.line, d.span.col),
        (Kind::OutsideWindow, 4, 5)
    );
    assert!(
        d.message
            .contains("`HI` at 0xfffffffffffff000 places `Q.R1`"),
        "{}",
        d.message
    );

    // Element 1 of a two-element alias block is at 2^64: the message names
    // the array.
    let text = alias_map(TOP, &[0x0], ", count: 2, stride: 0x1000", (TOP, 0xfff));
    let (res, _) = load_timed(&text);
    let diags = res.expect_err("past 2^64");
    let over: Vec<_> = diags
        .iter()
        .filter(|d| d.message.contains("past the 64-bit address space"))
        .collect();
    assert_eq!(over.len(), 1, "{diags:?}");
    assert_eq!((over[0].span.line, over[0].span.col), (4, 5));
    assert!(
        over[0].message.contains("1 x 0x1000 (`HI`)"),
        "{}",
        over[0].message
    );
}

#[test]
fn element_totals_and_offsets_that_overflow_name_their_arrays() {
    // 2^22 x 2^22 x 2^22 elements: the product overflows 64 bits.
    let text = format!(
        "{DEVICE}blocks:\n  - name: A\n    offset: 0\n    count: 4194304\n    stride: 0x400000000000\n    blocks:\n      - {{ name: B, offset: 0, count: 4194304, stride: 0x1000000, registers: [ {{ name: R, offset: 0, count: 4194304, stride: 4 }} ] }}\n"
    );
    let d = one_diagnostic(&text);
    assert_eq!(d.kind, Kind::BadArray);
    assert!(d
        .message
        .contains("4194304 (`A`) x 4194304 (`B`) x 4194304 (`R`)"));

    // Three elements 2^63 apart: the last is at 2^64.
    let text = format!(
        "{DEVICE}blocks:\n  - {{ name: A, offset: 0, count: 3, stride: 0x8000000000000000, registers: [ {{ name: R, offset: 0 }} ] }}\n"
    );
    let d = one_diagnostic(&text);
    assert_eq!(d.kind, Kind::OutsideWindow);
    assert!(d.message.contains("2 x 0x8000000000000000 (`A`)"));
}

#[test]
fn twenty_thousand_alias_registers_resolve_in_linear_time() {
    let n = 20_000;
    let mut text = String::from(DEVICE);
    text.push_str("registers:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - {{ name: R{i}, offset: {:#x} }}\n  - {{ name: A{i}, offset: {:#x}, alias: R{i} }}\n",
            i * 8,
            i * 8 + 4
        ));
    }
    let (res, took) = load_timed(&text);
    let dev = res.unwrap_or_else(|d| panic!("{d:?}"));
    for i in [0, n / 2, n - 1] {
        let a = dev.register(&format!("A{i}")).unwrap();
        let t = a.alias.as_ref().expect("an alias");
        assert_eq!(t.target_path, format!("R{i}"));
        assert_eq!(dev.registers[t.target].name, format!("R{i}"));
    }
    // The quadratic search (a path allocated per comparison) took minutes
    // here unoptimized; the figure is printed, not asserted (speed is
    // measured, not unit-tested).
    eprintln!("{n} aliases: elaborate {took:?}");
}
