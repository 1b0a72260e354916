//! A structure-aware generator of register maps: the fuzzer's bytes choose
//! a map's shape (nested blocks and arrays, fields with every access kind,
//! inline and shared enums, fieldsets, hooks, register aliases, alias
//! blocks with and without an `index_map`, `extends` chains, `fixed`
//! values) and, now and then, a hostile value in one place (a count or
//! offset near the top of 64 bits, a misaligned offset, a stride too small,
//! an unknown reference, a chain past the `extends` bound, a duplicate
//! name). Without a hostile choice the map is laid out to be valid, so most
//! inputs reach the generator; with one, they exercise a diagnostic.
//!
//! The file depends only on `std`: codegen's compile test includes it by
//! path (`codegen/tests/generated_maps.rs`) to build the code of a few
//! generated maps, which fuzzing cannot afford per input.

use std::fmt::Write;

/// Reads choices from the fuzz bytes; zeros once they run out, which picks
/// the first (smallest, valid) option everywhere, so generation ends.
pub struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    /// Wraps the fuzzer's bytes.
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data }
    }
    /// Next byte (0 when exhausted).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    /// A number in `0..n` (`n` at most 256).
    pub fn below(&mut self, n: u32) -> u32 {
        u32::from(self.byte()) % n.max(1)
    }
    /// True with probability `k`/256 (never once the bytes run out).
    pub fn chance(&mut self, k: u8) -> bool {
        self.byte() >= 255 - k.saturating_sub(1) && k > 0
    }
    /// Next little-endian u64.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |v, i| v | u64::from(self.byte()) << (8 * i))
    }
}

/// Values a hostile choice substitutes for a number.
const HOSTILE: [u64; 8] = [
    0xffff_ffff_ffff_f000,
    0xffff_ffff_ffff_fffc,
    0x8000_0000_0000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    4_194_304,
    2,
    0,
];

/// Field access kinds of a read-write register.
const ACCESS: [&str; 10] = [
    "rw", "ro", "wo", "w1c", "w1s", "rc", "sc", "res0", "res1", "raz_wi",
];

struct Gen<'a, 'b> {
    c: &'b mut Choices<'a>,
    /// The next name's number: every name is unique in the map, so a valid
    /// map never collides in the generated code.
    next: u32,
    /// How many hostile choices may still be made (one per map at most: a
    /// map with one error shows which diagnostic it is).
    hostile: u32,
    hooks: Vec<String>,
    enums: Vec<(String, u32)>,
    fieldsets: Vec<(String, u32)>,
}

/// What the tree generator knows of a generated register, for aliases.
struct Plain {
    path: String,
    count: u32,
    width: u32,
}

impl Gen<'_, '_> {
    fn name(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    /// `normal`, or (rarely, once per map) a hostile number.
    fn num(&mut self, normal: u64) -> u64 {
        if self.hostile > 0 && self.c.chance(3) {
            self.hostile -= 1;
            let k = self.c.below(HOSTILE.len() as u32 + 1) as usize;
            return HOSTILE.get(k).copied().unwrap_or_else(|| self.c.u64());
        }
        normal
    }

    /// `normal`, or (rarely) a reference to nothing.
    fn reference(&mut self, normal: String) -> String {
        if self.hostile > 0 && self.c.chance(2) {
            self.hostile -= 1;
            return "NOWHERE".into();
        }
        normal
    }

    /// Fields covering some of `width` bits, lowest first.
    fn fields(&mut self, width: u32, ro: bool) -> String {
        let mut out = Vec::new();
        let mut lsb = 0;
        for _ in 0..self.c.below(5) {
            let w = 1 + self.c.below(8).min(width.saturating_sub(lsb + 1));
            if lsb + w > width {
                break;
            }
            let msb = lsb + w - 1;
            let access = if ro {
                ["ro", "rc", "res0", "res1", "raz_wi"][self.c.below(5) as usize]
            } else {
                ACCESS[self.c.below(ACCESS.len() as u32) as usize]
            };
            let name = self.name("F");
            let bits = if w == 1 {
                lsb.to_string()
            } else {
                format!("\"{msb}:{lsb}\"")
            };
            let mut f = format!("{{ name: {name}, bits: {bits}, access: {access}");
            let max = if w >= 64 { u64::MAX } else { (1u64 << w) - 1 };
            match self.c.below(4) {
                1 if matches!(access, "rw" | "ro" | "wo" | "w1c" | "w1s" | "rc") => {
                    let v = self.c.u64() & max;
                    let _ = write!(f, ", reset: {:#x}", self.num(v));
                }
                2 => {
                    let fit: Vec<String> = self
                        .enums
                        .iter()
                        .filter(|(_, bits)| *bits <= w)
                        .map(|(n, _)| n.clone())
                        .collect();
                    if !fit.is_empty() {
                        let e = fit[self.c.below(fit.len() as u32) as usize].clone();
                        let e = self.reference(e);
                        let _ = write!(f, ", enum: {e}");
                    }
                }
                3 => {
                    let n = 1 + self.c.below(3).min(max.min(2) as u32);
                    let vals: Vec<String> = (0..u64::from(n))
                        .map(|v| format!("{{ name: {}, value: {v} }}", self.name("V")))
                        .collect();
                    let _ = write!(f, ", values: [ {} ]", vals.join(", "));
                }
                _ => {}
            }
            f.push_str(" }");
            out.push(f);
            lsb = msb + 1 + self.c.below(3);
        }
        out.join(", ")
    }

    /// One level of the tree at `depth`: returns its YAML (`registers:` and
    /// `blocks:` lines indented by `indent`) and its extent in bytes.
    fn level(
        &mut self,
        depth: u32,
        indent: &str,
        prefix: &str,
        plain: &mut Vec<Plain>,
        blocks: &mut Vec<(String, u32, u64)>,
    ) -> (String, u64) {
        let mut regs = Vec::new();
        let mut cursor = 0u64;
        let mut here: Vec<Plain> = Vec::new();
        for _ in 0..1 + self.c.below(if depth == 0 { 4 } else { 3 }) {
            let width = if self.c.chance(64) { 64 } else { 32 };
            let bytes = u64::from(width / 8);
            cursor = cursor.div_ceil(bytes) * bytes;
            let name = self.name("R");
            let offset = self.num(cursor);
            let mut r = format!("{{ name: {name}, offset: {offset:#x}");
            let (count, stride) = if self.c.chance(60) {
                let count = 2 + self.c.below(3);
                let stride = bytes * u64::from(1 + self.c.below(2));
                let _ = write!(
                    r,
                    ", count: {}, stride: {:#x}",
                    self.num(u64::from(count)),
                    self.num(stride)
                );
                (count, stride)
            } else {
                (1, 0)
            };
            // An alias of a register of this level with the same count.
            let same: Vec<usize> = (0..here.len())
                .filter(|&k| here[k].count == count && here[k].width == width)
                .collect();
            if !same.is_empty() && self.c.chance(50) {
                let t = &here[same[self.c.below(same.len() as u32) as usize]];
                let target = t.path.clone();
                let target = self.reference(target);
                let _ = write!(r, ", alias: {target}");
            } else {
                if width == 64 {
                    r.push_str(", width: 64");
                }
                let ro = self.c.chance(40);
                if ro {
                    r.push_str(", access: ro");
                }
                if !self.hooks.is_empty() && self.c.chance(40) {
                    let h = self.hooks[self.c.below(self.hooks.len() as u32) as usize].clone();
                    let h = self.reference(h);
                    let key = if self.c.chance(128) {
                        "on_read"
                    } else {
                        "on_write"
                    };
                    let _ = write!(r, ", {key}: {h}");
                }
                let sets: Vec<String> = self
                    .fieldsets
                    .iter()
                    .filter(|(_, w)| *w == width)
                    .map(|(n, _)| n.clone())
                    .collect();
                if !sets.is_empty() && self.c.chance(50) {
                    let s = sets[self.c.below(sets.len() as u32) as usize].clone();
                    let s = self.reference(s);
                    let _ = write!(r, ", fieldset: {s}");
                } else {
                    let fields = self.fields(width, ro);
                    if !fields.is_empty() {
                        let _ = write!(r, ", fields: [ {fields} ]");
                    }
                }
                here.push(Plain {
                    path: format!("{prefix}{name}"),
                    count,
                    width,
                });
            }
            r.push_str(" }");
            regs.push(format!("{indent}  - {r}\n"));
            cursor += (u64::from(count) - 1) * stride + bytes;
        }
        let mut subs = Vec::new();
        if depth < 3 {
            for _ in 0..self.c.below(if depth == 0 { 4 } else { 3 }) {
                cursor = cursor.div_ceil(0x10) * 0x10;
                let name = self.name("B");
                let path = format!("{prefix}{name}");
                let inner = format!("{indent}    ");
                let mut b = format!("{indent}  - name: {name}\n{indent}    offset: {cursor:#x}\n");
                // An alias block of an earlier block of this level.
                let earlier: Vec<(String, u32, u64)> = blocks
                    .iter()
                    .filter(|(p, _, _)| p.matches('.').count() == depth as usize)
                    .filter(|(p, _, _)| p.starts_with(prefix))
                    .cloned()
                    .collect();
                if !earlier.is_empty() && self.c.chance(60) {
                    let (target, count, extent) =
                        earlier[self.c.below(earlier.len() as u32) as usize].clone();
                    let mapped = !self.hooks.is_empty() && self.c.chance(80);
                    let count = if mapped { 1 + self.c.below(4) } else { count };
                    let stride = extent.div_ceil(0x10) * 0x10;
                    if count > 1 {
                        let _ = writeln!(
                            b,
                            "{inner}count: {count}\n{inner}stride: {:#x}",
                            self.num(stride)
                        );
                    }
                    let target = self.reference(target);
                    let _ = writeln!(b, "{inner}alias: {target}");
                    if mapped {
                        let h = self.hooks[self.c.below(self.hooks.len() as u32) as usize].clone();
                        let _ = writeln!(b, "{inner}index_map: {h}");
                    }
                    subs.push(b);
                    cursor += u64::from(count) * stride;
                    continue;
                }
                let (body, extent) =
                    self.level(depth + 1, &inner, &format!("{path}."), plain, blocks);
                let count = if self.c.chance(100) {
                    2 + self.c.below(3)
                } else {
                    1
                };
                let stride = extent.div_ceil(0x10) * 0x10;
                if count > 1 {
                    let _ = writeln!(
                        b,
                        "{inner}count: {}\n{inner}stride: {:#x}",
                        self.num(u64::from(count)),
                        self.num(stride)
                    );
                }
                b.push_str(&body);
                subs.push(b);
                blocks.push((path, count, extent));
                cursor += u64::from(count) * stride.max(0x10);
            }
        }
        plain.extend(here);
        let mut text = format!("{indent}registers:\n{}", regs.concat());
        if !subs.is_empty() {
            let _ = writeln!(text, "{indent}blocks:");
            text.push_str(&subs.concat());
        }
        (text, cursor.max(4))
    }

    /// Structures: roots and `extends` chains, each structure's own fields
    /// in bits no ancestor uses; rarely a chain past the bound.
    fn structs(&mut self) -> String {
        let mut out = String::new();
        let mut made: Vec<(String, u32)> = Vec::new();
        for _ in 0..self.c.below(6) {
            let name = self.name("S");
            let _ = writeln!(out, "  - name: {name}");
            // Each structure takes a fresh 8-bit lane of word 0 (or of word 1
            // past the eighth), so inherited fields never overlap.
            let lane = made.len() as u32;
            if !made.is_empty() && self.c.chance(160) {
                let (base, _) = made[self.c.below(made.len() as u32) as usize].clone();
                let base = self.reference(base);
                let _ = writeln!(out, "    extends: {base}");
            } else {
                let _ = writeln!(out, "    size: {}", self.num(16));
            }
            let word = lane / 8;
            let lsb = (lane % 8) * 8;
            let f = self.name("F");
            let _ = writeln!(
                out,
                "    fields:\n      - {{ name: {f}, word: {word}, bits: \"{}:{lsb}\" }}",
                lsb + 7
            );
            if self.c.chance(80) {
                let v = self.c.byte();
                let _ = writeln!(out, "    fixed:\n      - {{ field: {f}, value: {v} }}");
            }
            made.push((name, lane));
        }
        if self.hostile > 0 && self.c.chance(2) {
            // A chain one past the `extends` bound (64), deepest first.
            self.hostile -= 1;
            let root = self.name("S");
            let _ = writeln!(out, "  - {{ name: {root}, size: 8 }}");
            let mut prev = root;
            for _ in 0..66 {
                let n = self.name("S");
                let _ = writeln!(out, "  - {{ name: {n}, extends: {prev} }}");
                prev = n;
            }
        }
        out
    }
}

/// A map generated from `data` (YAML text).
pub fn map(data: &[u8]) -> String {
    let mut c = Choices::new(data);
    let hostile = u32::from(c.chance(48));
    let mut g = Gen {
        c: &mut c,
        next: 0,
        hostile,
        hooks: Vec::new(),
        enums: Vec::new(),
        fieldsets: Vec::new(),
    };
    let mut out = String::new();
    let hooks = g.c.below(3);
    if hooks > 0 {
        out.push_str("hooks:\n");
        for _ in 0..hooks {
            let h = g.name("h");
            let _ = writeln!(out, "  - {{ name: {h} }}");
            g.hooks.push(h);
        }
    }
    let enums = g.c.below(3);
    if enums > 0 {
        out.push_str("enums:\n");
        for _ in 0..enums {
            let e = g.name("E");
            let bits = 1 + g.c.below(3);
            let vals: Vec<String> = (0..1 + g.c.below(1 << bits))
                .map(|v| format!("{{ name: {}, value: {v} }}", g.name("V")))
                .collect();
            let _ = writeln!(
                out,
                "  - {{ name: {e}, bits: {bits}, values: [ {} ] }}",
                vals.join(", ")
            );
            g.enums.push((e, bits));
        }
    }
    let sets = g.c.below(3);
    if sets > 0 {
        out.push_str("fieldsets:\n");
        for _ in 0..sets {
            let s = g.name("FS");
            let width = if g.c.chance(100) { 64 } else { 32 };
            let mut fields = g.fields(width, false);
            if fields.is_empty() {
                fields = format!("{{ name: {}, bits: 0 }}", g.name("F"));
            }
            let _ = writeln!(
                out,
                "  - {{ name: {s}, width: {width}, fields: [ {fields} ] }}"
            );
            g.fieldsets.push((s, width));
        }
    }
    let (tree, extent) = g.level(0, "", "", &mut Vec::new(), &mut Vec::new());
    out.push_str(&tree);
    let structs = g.structs();
    if !structs.is_empty() {
        out.push_str("structs:\n");
        out.push_str(&structs);
    }
    let size = g.num(extent.div_ceil(0x1000).max(1) * 0x1000);
    let mut dev = format!(
        "device:\n  name: fz\n  windows:\n    - {{ name: page0, offset: 0x0, size: {size:#x} }}\n"
    );
    dev.push_str(&out);
    dev
}
