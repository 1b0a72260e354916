//! Pass 2 (validate and elaborate): turns the raw map into the model,
//! checking every rule of FORMAT.md and collecting every problem rather than
//! stopping at the first. The sub-passes run in dependency order: names and
//! enums, hooks, fieldsets, the register/block tree, aliases, the expanded
//! layout (overlaps, windows), then structures.

use std::collections::{HashMap, HashSet};

use crate::diag::{Diagnostic, Kind, Span};
use crate::model::*;
use crate::raw::{self, span, Bits, NumOrName, RawBlock, RawEnumValue, RawField, RawMap, S};

/// Upper bound on register elements after array expansion: a hostile map
/// with huge counts gets an error instead of exhausting memory.
pub const MAX_ELEMENTS: u64 = 1 << 20;
/// Upper bound on a structure's size in bytes.
pub const MAX_STRUCT_SIZE: u64 = 4096;

/// Validates `raw` and builds the model, or returns every diagnostic.
pub fn elaborate(raw: &RawMap) -> Result<Device, Vec<Diagnostic>> {
    let mut cx = Cx::default();
    let device = cx.run(raw);
    if cx.diags.is_empty() {
        Ok(device)
    } else {
        let mut d = cx.diags;
        d.sort_by_key(|d| d.span);
        d.dedup();
        Err(d)
    }
}

#[derive(Default)]
struct Cx {
    diags: Vec<Diagnostic>,
    enums: Vec<Enum>,
    hooks: HashSet<String>,
    fieldsets: Vec<Fieldset>,
    registers: Vec<Register>,
    /// Block path -> (absolute offset of element 0, all enclosing arrays
    /// including the block's own dimension).
    block_bases: HashMap<String, (u64, Vec<ArrayDim>)>,
    /// Alias registers waiting for their target: (register index, target path).
    pending_register_aliases: Vec<(usize, S<String>)>,
}

/// An alias block waiting for its target to be known.
struct PendingBlockAlias {
    path: Vec<String>,
    base: u64,
    arrays: Vec<ArrayDim>,
    target: (String, Span),
    index_map: Option<String>,
    span: Span,
}

impl Cx {
    fn err(&mut self, kind: Kind, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::new(kind, span, msg));
    }

    fn run(&mut self, raw: &RawMap) -> Device {
        let dev = &raw.device.value;
        self.ident(&dev.name, "device name");
        let windows = self.windows(&raw.device);

        self.names_unique(raw.hooks.iter().map(|h| &h.value.name), "hook");
        for h in &raw.hooks {
            self.ident(&h.value.name, "hook name");
            self.hooks.insert(h.value.name.value.clone());
        }
        let hooks = raw
            .hooks
            .iter()
            .map(|h| Hook {
                name: h.value.name.value.clone(),
                description: h.value.description.clone(),
            })
            .collect();

        self.names_unique(raw.enums.iter().map(|e| &e.value.name), "enum");
        for e in &raw.enums {
            let e = &e.value;
            self.ident(&e.name, "enum name");
            let bits = match &e.bits {
                Some(b) if b.value == 0 || b.value > 64 => {
                    self.err(
                        Kind::BadWidth,
                        span(b),
                        format!("enum width must be 1 to 64 bits, found {}", b.value),
                    );
                    None
                }
                b => b.as_ref().map(|b| b.value),
            };
            let en = self.enum_from_values(&e.name.value, &e.description, bits, &e.values, false);
            self.enums.push(en);
        }

        self.names_unique(raw.fieldsets.iter().map(|f| &f.value.name), "fieldset");
        for fs in &raw.fieldsets {
            let f = &fs.value;
            self.ident(&f.name, "fieldset name");
            let width = self.width(f.width.as_ref());
            let fields = self.fields(&f.name.value, &f.fields, width, RegAccess::Rw);
            self.fieldsets.push(Fieldset {
                name: f.name.value.clone(),
                description: f.description.clone(),
                width,
                fields,
            });
        }

        // The register tree. Top-level registers and blocks are siblings.
        let mut pending_blocks = Vec::new();
        let top_names = raw
            .registers
            .iter()
            .map(|r| &r.value.name)
            .chain(raw.blocks.iter().map(|b| &b.value.name));
        self.names_unique(top_names, "register or block");
        let mut top_blocks = Vec::new();
        self.walk(
            &raw.registers,
            &raw.blocks,
            &[],
            0,
            &[],
            &mut top_blocks,
            &mut pending_blocks,
        );

        self.resolve_register_aliases();
        self.resolve_block_aliases(pending_blocks, &mut top_blocks);
        self.check_layout(&windows, span(&raw.device));

        let structs = self.structs(&raw.structs);

        Device {
            name: dev.name.value.clone(),
            description: dev.description.clone(),
            windows,
            hooks,
            enums: std::mem::take(&mut self.enums),
            fieldsets: std::mem::take(&mut self.fieldsets),
            registers: std::mem::take(&mut self.registers),
            blocks: top_blocks,
            structs,
        }
    }

    // ----- names -----

    fn ident(&mut self, name: &S<String>, what: &str) {
        let n = &name.value;
        let ok = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.err(
                Kind::BadName,
                span(name),
                format!("{what} `{n}` is not an identifier: expected letters, digits and `_`, starting with a letter"),
            );
        }
    }

    fn names_unique<'a>(&mut self, names: impl Iterator<Item = &'a S<String>>, what: &str) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for n in names {
            if let Some(first) = seen.get(n.value.as_str()) {
                let msg = format!(
                    "duplicate {what} name `{}` (first declared at line {})",
                    n.value, first.line
                );
                self.err(Kind::Duplicate, span(n), msg);
            } else {
                seen.insert(&n.value, span(n));
            }
        }
    }

    // ----- device windows -----

    fn windows(&mut self, dev: &S<raw::RawDevice>) -> Vec<Window> {
        let d = &dev.value;
        if d.windows.is_empty() {
            self.err(
                Kind::OutsideWindow,
                span(dev),
                "the device declares no `windows`: expected at least one address window",
            );
        }
        self.names_unique(d.windows.iter().map(|w| &w.value.name), "window");
        let mut out: Vec<(Window, Span)> = Vec::new();
        for w in &d.windows {
            let wv = &w.value;
            self.ident(&wv.name, "window name");
            if wv.size.value == 0 {
                self.err(
                    Kind::OutsideWindow,
                    span(&wv.size),
                    "window size must not be zero",
                );
                continue;
            }
            if wv.offset.value.checked_add(wv.size.value).is_none() {
                self.err(
                    Kind::OutsideWindow,
                    span(&wv.size),
                    "window end overflows 64 bits",
                );
                continue;
            }
            out.push((
                Window {
                    name: wv.name.value.clone(),
                    offset: wv.offset.value,
                    size: wv.size.value,
                    description: wv.description.clone(),
                },
                span(w),
            ));
        }
        let mut sorted: Vec<&(Window, Span)> = out.iter().collect();
        sorted.sort_by_key(|(w, _)| w.offset);
        for pair in sorted.windows(2) {
            let (a, b) = (&pair[0].0, &pair[1].0);
            if b.offset < a.offset + a.size {
                let msg = format!("window `{}` overlaps window `{}`", b.name, a.name);
                self.err(Kind::OutsideWindow, pair[1].1, msg);
            }
        }
        out.into_iter().map(|(w, _)| w).collect()
    }

    // ----- enums and fields -----

    fn enum_from_values(
        &mut self,
        name: &str,
        description: &str,
        bits: Option<u32>,
        values: &[S<RawEnumValue>],
        inline: bool,
    ) -> Enum {
        self.names_unique(values.iter().map(|v| &v.value.name), "enum value");
        let mut seen: HashMap<u64, String> = HashMap::new();
        let mut out = Vec::new();
        for v in values {
            let vv = &v.value;
            self.ident(&vv.name, "enum value name");
            if let Some(b) = bits {
                if b < 64 && vv.value.value >> b != 0 {
                    let msg = format!(
                        "value {:#x} of `{}` does not fit the enum's {b} bits",
                        vv.value.value, vv.name.value
                    );
                    self.err(Kind::ValueTooWide, span(&vv.value), msg);
                }
            }
            if let Some(other) = seen.get(&vv.value.value) {
                let msg = format!(
                    "enum `{name}` gives value {:#x} to both `{other}` and `{}`: values must be unique",
                    vv.value.value, vv.name.value
                );
                self.err(Kind::Duplicate, span(&vv.value), msg);
            } else {
                seen.insert(vv.value.value, vv.name.value.clone());
            }
            out.push(EnumValue {
                name: vv.name.value.clone(),
                value: vv.value.value,
                description: vv.description.clone(),
            });
        }
        if values.is_empty() {
            self.err(
                Kind::Syntax,
                Span::default(),
                format!("enum `{name}` has no values"),
            );
        }
        Enum {
            name: name.to_string(),
            description: description.to_string(),
            bits,
            values: out,
            inline,
        }
    }

    fn width(&mut self, w: Option<&S<u32>>) -> Width {
        match w {
            None => Width::W32,
            Some(w) if w.value == 32 => Width::W32,
            Some(w) if w.value == 64 => Width::W64,
            Some(w) => {
                self.err(
                    Kind::BadWidth,
                    span(w),
                    format!("width must be 32 or 64, found {}", w.value),
                );
                Width::W32
            }
        }
    }

    /// Parses a bit range and checks it against `limit` bits.
    fn bits(&mut self, b: &S<Bits>, limit: u32, what: &str) -> Option<(u32, u32)> {
        let sp = span(b);
        let (msb, lsb) = match &b.value {
            Bits::One(n) => (*n, *n),
            Bits::Text(t) => {
                let parsed = t
                    .split_once(':')
                    .and_then(|(m, l)| Some((parse_num(m.trim())?, parse_num(l.trim())?)));
                match parsed {
                    Some(p) => p,
                    None => {
                        self.err(Kind::BadBits, sp, format!("bit range `{t}` is malformed: expected `msb:lsb` or one bit number"));
                        return None;
                    }
                }
            }
        };
        if msb < lsb {
            self.err(
                Kind::BadBits,
                sp,
                format!("bit range {msb}:{lsb} is reversed: expected `msb:lsb` with msb >= lsb"),
            );
            return None;
        }
        if msb >= u64::from(limit) {
            self.err(
                Kind::BadBits,
                sp,
                format!(
                    "bit {msb} is past the {limit}-bit {what}: expected bits {}:0 at most",
                    limit - 1
                ),
            );
            return None;
        }
        Some((lsb as u32, msb as u32))
    }

    /// Resolves the enum of a field (reference or inline) and checks that
    /// every value fits `value_mask`.
    fn field_enum(
        &mut self,
        owner: &str,
        field: &str,
        enum_ref: Option<&S<String>>,
        values: Option<&Vec<S<RawEnumValue>>>,
        value_mask: u64,
        sp: Span,
    ) -> Option<String> {
        let width = 64 - value_mask.leading_zeros();
        let name = match (enum_ref, values) {
            (Some(_), Some(_)) => {
                self.err(
                    Kind::Syntax,
                    sp,
                    format!("field `{field}` has both `enum` and `values`: expected one of them"),
                );
                return None;
            }
            (Some(r), None) => {
                if self.enums.iter().all(|e| e.name != r.value) {
                    self.err(
                        Kind::UnknownReference,
                        span(r),
                        format!("unknown enum `{}`", r.value),
                    );
                    return None;
                }
                r.value.clone()
            }
            (None, Some(vals)) => {
                let name = format!("{owner}_{field}");
                let en = self.enum_from_values(&name, "", None, vals, true);
                if self.enums.iter().any(|e| e.name == name) {
                    self.err(
                        Kind::Duplicate,
                        sp,
                        format!("inline enum name `{name}` clashes with another enum"),
                    );
                    return None;
                }
                self.enums.push(en);
                name
            }
            (None, None) => return None,
        };
        let bad: Vec<(String, u64)> = self
            .enums
            .iter()
            .find(|e| e.name == name)
            .map(|e| {
                e.values
                    .iter()
                    .filter(|v| v.value & !value_mask != 0)
                    .map(|v| (v.name.clone(), v.value))
                    .collect()
            })
            .unwrap_or_default();
        for (vn, v) in bad {
            self.err(
                Kind::ValueTooWide,
                sp,
                format!("enum `{name}` value `{vn}` ({v:#x}) does not fit the {width}-bit field `{field}`"),
            );
        }
        Some(name)
    }

    /// Validates a field list of a register or fieldset.
    fn fields(
        &mut self,
        owner: &str,
        raw: &[S<RawField>],
        width: Width,
        reg_access: RegAccess,
    ) -> Vec<Field> {
        self.names_unique(raw.iter().map(|f| &f.value.name), "field");
        let mut out = Vec::new();
        for f in raw {
            let fv = &f.value;
            self.ident(&fv.name, "field name");
            let Some((lsb, msb)) = self.bits(&fv.bits, width.bits(), "register") else {
                continue;
            };
            let access = match &fv.access {
                None => match reg_access {
                    RegAccess::Rw => Access::Rw,
                    RegAccess::Ro => Access::Ro,
                    RegAccess::Wo => Access::Wo,
                },
                Some(a) => match Access::parse(&a.value) {
                    Some(acc) => acc,
                    None => {
                        self.err(
                            Kind::BadAccess,
                            span(a),
                            format!("unknown access `{}`: expected one of rw, ro, wo, w1c, w1s, rc, sc, res0, res1, raz_wi", a.value),
                        );
                        continue;
                    }
                },
            };
            let mut field = Field {
                name: fv.name.value.clone(),
                lsb,
                msb,
                access,
                reset: 0,
                enum_name: None,
                description: fv.description.clone(),
                span: span(f),
            };
            if let Some(a) = &fv.access {
                self.access_bound(&field, reg_access, span(a));
            }
            let vmask = field.value_mask();
            if let Some(r) = &fv.reset {
                if r.value & !vmask != 0 {
                    self.err(
                        Kind::ValueTooWide,
                        span(r),
                        format!(
                            "reset {:#x} does not fit the {}-bit field `{}`",
                            r.value,
                            field.width(),
                            field.name
                        ),
                    );
                } else {
                    match access {
                        Access::Res0 | Access::RazWi | Access::Sc if r.value != 0 => self.err(
                            Kind::BadReset,
                            span(r),
                            format!(
                                "`{}` field `{}` must reset to 0, found {:#x}",
                                access.as_str(),
                                field.name,
                                r.value
                            ),
                        ),
                        Access::Res1 if r.value != vmask => self.err(
                            Kind::BadReset,
                            span(r),
                            format!(
                                "res1 field `{}` must reset to all ones ({vmask:#x}), found {:#x}",
                                field.name, r.value
                            ),
                        ),
                        _ => field.reset = r.value,
                    }
                }
            }
            if access == Access::Res1 {
                field.reset = vmask;
            }
            field.enum_name = self.field_enum(
                owner,
                &field.name,
                fv.enum_ref.as_ref(),
                fv.values.as_ref(),
                vmask,
                span(f),
            );
            out.push(field);
        }
        out.sort_by_key(|f| f.lsb);
        for pair in out.windows(2) {
            if pair[1].lsb <= pair[0].msb {
                let msg = format!(
                    "field `{}` (bits {}:{}) overlaps field `{}` (bits {}:{})",
                    pair[1].name, pair[1].msb, pair[1].lsb, pair[0].name, pair[0].msb, pair[0].lsb
                );
                self.err(Kind::FieldOverlap, pair[1].span, msg);
            }
        }
        out
    }

    /// A field's access must be possible within the register's access.
    fn access_bound(&mut self, f: &Field, reg: RegAccess, sp: Span) {
        use Access::*;
        let ok = match reg {
            RegAccess::Rw => true,
            RegAccess::Ro => matches!(f.access, Ro | Rc | Res0 | Res1 | RazWi),
            RegAccess::Wo => matches!(f.access, Wo | Sc | W1s | Res0 | Res1 | RazWi),
        };
        if !ok {
            self.err(
                Kind::BadAccess,
                sp,
                format!(
                    "field `{}` is `{}` but its register is `{}`",
                    f.name,
                    f.access.as_str(),
                    reg.as_str()
                ),
            );
        }
    }

    // ----- register tree -----

    /// Checks `count`/`stride` and returns the array dimension, if any.
    fn array_dim(
        &mut self,
        name: &str,
        count: Option<&S<u32>>,
        stride: Option<&S<u64>>,
        min_stride: u64,
        sp: Span,
    ) -> Option<ArrayDim> {
        match (count, stride) {
            (None, None) => None,
            (Some(c), _) if c.value == 0 => {
                self.err(Kind::BadArray, span(c), "array count must be at least 1");
                None
            }
            (Some(c), None) if c.value == 1 => None,
            (Some(c), None) => {
                self.err(
                    Kind::BadArray,
                    span(c),
                    format!("`{name}` has `count: {}` but no `stride`", c.value),
                );
                None
            }
            (None, Some(s)) => {
                self.err(
                    Kind::BadArray,
                    span(s),
                    format!("`{name}` has a `stride` but no `count`"),
                );
                None
            }
            (Some(c), Some(s)) => {
                if c.value > 1 && s.value < min_stride {
                    self.err(
                        Kind::BadArray,
                        span(s),
                        format!("stride {:#x} of `{name}` is smaller than its element ({min_stride:#x} bytes)", s.value),
                    );
                    return None;
                }
                let _ = sp;
                Some(ArrayDim {
                    name: name.to_string(),
                    count: c.value,
                    stride: s.value,
                })
            }
        }
    }

    /// Walks one level of the tree. Returns the extent (bytes from the
    /// level's base to the end of its last element) for stride checks.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        regs: &[S<raw::RawRegister>],
        blocks: &[S<RawBlock>],
        path: &[String],
        base: u64,
        arrays: &[ArrayDim],
        out_blocks: &mut Vec<Block>,
        pending_blocks: &mut Vec<PendingBlockAlias>,
    ) -> (Vec<usize>, u64) {
        let mut extent = 0u64;
        let mut indices = Vec::new();
        for r in regs {
            if let Some((idx, end)) = self.register(r, path, base, arrays) {
                indices.push(idx);
                extent = extent.max(end);
            }
        }
        for b in blocks {
            let bv = &b.value;
            self.ident(&bv.name, "block name");
            let Some(abs) = base.checked_add(bv.offset.value) else {
                self.err(
                    Kind::OutsideWindow,
                    span(&bv.offset),
                    "block offset overflows 64 bits",
                );
                continue;
            };
            let mut sub_path = path.to_vec();
            sub_path.push(bv.name.value.clone());
            if let Some(target) = &bv.alias {
                if !bv.registers.is_empty() || !bv.blocks.is_empty() {
                    self.err(Kind::BadAlias, span(target), format!("alias block `{}` mirrors `{}` and must not declare registers or blocks of its own", bv.name.value, target.value));
                }
                let dim = self.array_dim(
                    &bv.name.value,
                    bv.count.as_ref(),
                    bv.stride.as_ref(),
                    1,
                    span(b),
                );
                let mut sub_arrays = arrays.to_vec();
                sub_arrays.extend(dim.clone());
                let index_map = bv.index_map.as_ref().and_then(|h| self.hook_ref(h));
                pending_blocks.push(PendingBlockAlias {
                    path: sub_path,
                    base: abs,
                    arrays: sub_arrays,
                    target: (target.value.clone(), span(target)),
                    index_map,
                    span: span(b),
                });
                out_blocks.push(Block {
                    name: bv.name.value.clone(),
                    description: bv.description.clone(),
                    offset: bv.offset.value,
                    count: dim.as_ref().map_or(1, |d| d.count),
                    stride: dim.as_ref().map_or(0, |d| d.stride),
                    registers: Vec::new(),
                    blocks: Vec::new(),
                    alias: Some(target.value.clone()),
                    index_map: bv.index_map.as_ref().map(|h| h.value.clone()),
                });
                continue;
            }
            if let Some(im) = &bv.index_map {
                self.err(
                    Kind::BadAlias,
                    span(im),
                    "`index_map` is only meaningful on an alias block",
                );
            }
            let child_names = bv
                .registers
                .iter()
                .map(|r| &r.value.name)
                .chain(bv.blocks.iter().map(|b| &b.value.name));
            self.names_unique(child_names, "register or block");
            // Walk with a provisional dimension; the stride check needs the extent.
            let provisional = match (&bv.count, &bv.stride) {
                (Some(c), Some(s)) if c.value > 1 => Some(ArrayDim {
                    name: bv.name.value.clone(),
                    count: c.value,
                    stride: s.value,
                }),
                _ => None,
            };
            let mut sub_arrays = arrays.to_vec();
            sub_arrays.extend(provisional.clone());
            self.block_bases
                .insert(sub_path.join("."), (abs, sub_arrays.clone()));
            let mut children = Vec::new();
            let first = self.registers.len();
            let (regs_idx, inner_extent) = self.walk(
                &bv.registers,
                &bv.blocks,
                &sub_path,
                abs,
                &sub_arrays,
                &mut children,
                pending_blocks,
            );
            let dim = self.array_dim(
                &bv.name.value,
                bv.count.as_ref(),
                bv.stride.as_ref(),
                inner_extent.max(1),
                span(b),
            );
            if provisional.is_some() && dim.is_none() {
                // The stride was rejected: treat the block as a single element
                // so the error does not cascade into overlap reports.
                for r in &mut self.registers[first..] {
                    if r.arrays.len() > arrays.len() {
                        r.arrays.remove(arrays.len());
                    }
                }
            }
            let count = dim.as_ref().map_or(1, |d| d.count);
            let stride = dim.as_ref().map_or(0, |d| d.stride);
            let end = bv
                .offset
                .value
                .saturating_add(stride.saturating_mul(u64::from(count.saturating_sub(1))))
                .saturating_add(inner_extent);
            extent = extent.max(end);
            out_blocks.push(Block {
                name: bv.name.value.clone(),
                description: bv.description.clone(),
                offset: bv.offset.value,
                count,
                stride,
                registers: regs_idx,
                blocks: children,
                alias: None,
                index_map: None,
            });
        }
        (indices, extent)
    }

    fn hook_ref(&mut self, h: &S<String>) -> Option<String> {
        if self.hooks.contains(&h.value) {
            Some(h.value.clone())
        } else {
            self.err(
                Kind::UnknownReference,
                span(h),
                format!("unknown hook `{}`: declare it under `hooks:`", h.value),
            );
            None
        }
    }

    /// Validates one register; returns its index and its end relative to
    /// the level's base.
    fn register(
        &mut self,
        r: &S<raw::RawRegister>,
        path: &[String],
        base: u64,
        arrays: &[ArrayDim],
    ) -> Option<(usize, u64)> {
        let rv = &r.value;
        self.ident(&rv.name, "register name");
        let width = self.width(rv.width.as_ref());
        let bytes = width.bytes();
        let Some(offset) = base.checked_add(rv.offset.value) else {
            self.err(
                Kind::OutsideWindow,
                span(&rv.offset),
                "register offset overflows 64 bits",
            );
            return None;
        };
        if offset % bytes != 0 {
            self.err(
                Kind::Misaligned,
                span(&rv.offset),
                format!(
                    "offset {offset:#x} of `{}` is not aligned to its {}-bit width",
                    rv.name.value,
                    width.bits()
                ),
            );
        }
        let dim = self.array_dim(
            &rv.name.value,
            rv.count.as_ref(),
            rv.stride.as_ref(),
            bytes,
            span(r),
        );
        if let (Some(d), Some(s)) = (&dim, &rv.stride) {
            if d.stride % bytes != 0 {
                self.err(
                    Kind::Misaligned,
                    span(s),
                    format!(
                        "stride {:#x} is not a multiple of the register's {bytes} bytes",
                        d.stride
                    ),
                );
            }
        }
        for (d, parent) in arrays.iter().map(|d| (d, d.stride)) {
            if parent % bytes != 0 {
                self.err(Kind::Misaligned, span(&rv.offset), format!("enclosing block `{}` has stride {parent:#x}, not a multiple of `{}`'s {bytes} bytes", d.name, rv.name.value));
            }
        }
        let access = match &rv.access {
            None => RegAccess::Rw,
            Some(a) => match a.value.as_str() {
                "rw" => RegAccess::Rw,
                "ro" => RegAccess::Ro,
                "wo" => RegAccess::Wo,
                other => {
                    self.err(
                        Kind::BadAccess,
                        span(a),
                        format!("unknown register access `{other}`: expected rw, ro or wo"),
                    );
                    RegAccess::Rw
                }
            },
        };
        let mut all_arrays = arrays.to_vec();
        all_arrays.extend(dim.clone());
        let on_write = rv.on_write.as_ref().and_then(|h| self.hook_ref(h));
        let on_read = rv.on_read.as_ref().and_then(|h| self.hook_ref(h));
        let mut reg = Register {
            name: rv.name.value.clone(),
            blocks: path.to_vec(),
            offset,
            arrays: all_arrays,
            width,
            access,
            reset: 0,
            description: rv.description.clone(),
            fields: Vec::new(),
            fieldset: None,
            on_write,
            on_read,
            alias: None,
            span: span(r),
        };
        let end = rv
            .offset
            .value
            .saturating_add(
                dim.as_ref()
                    .map_or(0, |d| d.stride.saturating_mul(u64::from(d.count - 1))),
            )
            .saturating_add(bytes);

        if let Some(target) = &rv.alias {
            let own = [
                ("fields", rv.fields.is_some()),
                ("fieldset", rv.fieldset.is_some()),
                ("reset", rv.reset.is_some()),
                ("access", rv.access.is_some()),
                ("width", rv.width.is_some()),
            ];
            for (key, present) in own {
                if present {
                    self.err(
                        Kind::BadAlias,
                        span(target),
                        format!(
                            "alias `{}` takes its {key} from `{}`: remove `{key}`",
                            rv.name.value, target.value
                        ),
                    );
                }
            }
            self.registers.push(reg);
            let idx = self.registers.len() - 1;
            self.pending_register_aliases.push((
                idx,
                S::new(target.value.clone(), target.referenced, target.defined),
            ));
            return Some((idx, end));
        }

        let owner = reg.path().replace('.', "_");
        reg.fields = match (&rv.fields, &rv.fieldset) {
            (Some(_), Some(fs)) => {
                self.err(
                    Kind::Syntax,
                    span(fs),
                    "a register takes `fields` or `fieldset`, not both",
                );
                Vec::new()
            }
            (Some(fields), None) => self.fields(&owner, fields, width, access),
            (None, Some(fs)) => match self.fieldsets.iter().find(|f| f.name == fs.value).cloned() {
                None => {
                    self.err(
                        Kind::UnknownReference,
                        span(fs),
                        format!("unknown fieldset `{}`", fs.value),
                    );
                    Vec::new()
                }
                Some(set) => {
                    if set.width != width {
                        self.err(
                            Kind::BadWidth,
                            span(fs),
                            format!(
                                "fieldset `{}` is {}-bit but register `{}` is {}-bit",
                                set.name,
                                set.width.bits(),
                                rv.name.value,
                                width.bits()
                            ),
                        );
                    }
                    reg.fieldset = Some(set.name.clone());
                    let mut fields = set.fields;
                    for f in &mut fields {
                        // Fieldset fields without their own access follow the register.
                        if f.access == Access::Rw && access != RegAccess::Rw {
                            f.access = if access == RegAccess::Ro {
                                Access::Ro
                            } else {
                                Access::Wo
                            };
                        }
                    }
                    fields
                }
            },
            (None, None) => vec![Field {
                name: "VALUE".into(),
                lsb: 0,
                msb: width.bits() - 1,
                access: match access {
                    RegAccess::Rw => Access::Rw,
                    RegAccess::Ro => Access::Ro,
                    RegAccess::Wo => Access::Wo,
                },
                reset: 0,
                enum_name: None,
                description: "The whole register".into(),
                span: span(r),
            }],
        };
        reg.reset = self.reset(&mut reg, rv.reset.as_ref());
        self.registers.push(reg);
        Some((self.registers.len() - 1, end))
    }

    /// Reconciles the register reset with its fields' resets.
    fn reset(&mut self, reg: &mut Register, given: Option<&S<u64>>) -> u64 {
        let from_fields = reg
            .fields
            .iter()
            .fold(0u64, |acc, f| acc | (f.reset << f.lsb));
        let Some(given) = given else {
            return from_fields;
        };
        let sp = span(given);
        let v = given.value;
        if v & !reg.width.mask() != 0 {
            self.err(
                Kind::ValueTooWide,
                sp,
                format!(
                    "reset {v:#x} does not fit the {}-bit register",
                    reg.width.bits()
                ),
            );
            return from_fields;
        }
        let reserved = v & reg.unmapped_mask();
        if reserved != 0 {
            self.err(
                Kind::BadReset,
                sp,
                format!("reset {v:#x} sets bits {reserved:#x} that no field covers (reserved)"),
            );
        }
        for f in &mut reg.fields {
            let fv = (v >> f.lsb) & f.value_mask();
            match f.access {
                Access::Res0 | Access::RazWi | Access::Sc if fv != 0 => {
                    let msg = format!(
                        "reset {v:#x} sets bits of `{}` field `{}` (bits {}:{})",
                        f.access.as_str(),
                        f.name,
                        f.msb,
                        f.lsb
                    );
                    self.diags.push(Diagnostic::new(Kind::BadReset, sp, msg));
                }
                Access::Res1 if fv != f.value_mask() => {
                    let msg = format!(
                        "reset {v:#x} clears bits of res1 field `{}` (bits {}:{})",
                        f.name, f.msb, f.lsb
                    );
                    self.diags.push(Diagnostic::new(Kind::BadReset, sp, msg));
                }
                _ if f.reset != 0 && f.reset != fv => {
                    let msg = format!("reset {v:#x} gives field `{}` the value {fv:#x} but the field says reset {:#x}", f.name, f.reset);
                    self.diags.push(Diagnostic::new(Kind::BadReset, sp, msg));
                }
                _ => f.reset = fv,
            }
        }
        v
    }

    // ----- aliases -----

    fn resolve_register_aliases(&mut self) {
        let pending = std::mem::take(&mut self.pending_register_aliases);
        let unresolved: HashSet<usize> = pending.iter().map(|(i, _)| *i).collect();
        for (idx, target) in pending {
            let found = (0..self.registers.len()).find(|&i| {
                !unresolved.contains(&i)
                    && self.registers[i].alias.is_none()
                    && self.registers[i].path() == target.value
            });
            let Some(t) = found else {
                self.err(Kind::UnknownReference, span(&target), format!("unknown alias target `{}`: expected the path of a register that is not itself an alias", target.value));
                continue;
            };
            let counts = |r: &Register| r.arrays.iter().map(|a| a.count).collect::<Vec<_>>();
            if counts(&self.registers[idx]) != counts(&self.registers[t]) {
                let msg = format!(
                    "alias `{}` has array counts {:?} but its target `{}` has {:?}: a static alias mirrors element for element",
                    self.registers[idx].path(),
                    counts(&self.registers[idx]),
                    target.value,
                    counts(&self.registers[t])
                );
                self.err(Kind::BadAlias, span(&target), msg);
                continue;
            }
            let tr = self.registers[t].clone();
            let r = &mut self.registers[idx];
            mirror(r, &tr, t, None);
        }
    }

    fn resolve_block_aliases(&mut self, pending: Vec<PendingBlockAlias>, top: &mut [Block]) {
        for p in pending {
            let (target, tspan) = &p.target;
            let Some((tbase, tarrays)) = self.block_bases.get(target).cloned() else {
                self.err(Kind::UnknownReference, *tspan, format!("unknown alias target block `{target}`: expected the path of a block (e.g. `VCMDQ`)"));
                continue;
            };
            if p.index_map.is_none() {
                let a: Vec<u32> = p.arrays.iter().map(|d| d.count).collect();
                let b: Vec<u32> = tarrays.iter().map(|d| d.count).collect();
                if a != b {
                    self.err(
                        Kind::BadAlias,
                        p.span,
                        format!("alias block has array counts {a:?} but `{target}` has {b:?}: give an `index_map` hook when the mapping is not one to one"),
                    );
                    continue;
                }
            }
            let prefix: Vec<String> = target.split('.').map(str::to_string).collect();
            let members: Vec<usize> = (0..self.registers.len())
                .filter(|&i| {
                    let r = &self.registers[i];
                    r.alias.is_none()
                        && r.blocks.len() >= prefix.len()
                        && r.blocks[..prefix.len()] == prefix[..]
                })
                .collect();
            let mut new_idx = Vec::new();
            for t in members {
                let tr = self.registers[t].clone();
                let mut blocks = p.path.clone();
                blocks.extend_from_slice(&tr.blocks[prefix.len()..]);
                let mut arrays = p.arrays.clone();
                arrays.extend_from_slice(&tr.arrays[tarrays.len().min(tr.arrays.len())..]);
                let mut r = Register {
                    name: tr.name.clone(),
                    blocks,
                    offset: p.base + (tr.offset - tbase),
                    arrays,
                    width: tr.width,
                    access: tr.access,
                    reset: tr.reset,
                    description: tr.description.clone(),
                    fields: Vec::new(),
                    fieldset: None,
                    on_write: None,
                    on_read: None,
                    alias: None,
                    span: p.span,
                };
                mirror(&mut r, &tr, t, p.index_map.clone());
                self.registers.push(r);
                new_idx.push(self.registers.len() - 1);
            }
            if let Some(b) = find_block_mut(top, &p.path) {
                b.registers = new_idx;
            }
        }
    }

    // ----- expanded layout -----

    fn check_layout(&mut self, windows: &[Window], device_span: Span) {
        let total: u64 = self
            .registers
            .iter()
            .map(|r| r.element_count())
            .fold(0u64, |a, b| a.saturating_add(b));
        if total > MAX_ELEMENTS {
            self.err(
                Kind::BadArray,
                device_span,
                format!("the map expands to {total} register elements; at most {MAX_ELEMENTS} are supported"),
            );
            return;
        }
        let mut elems: Vec<(u64, u64, usize)> = Vec::with_capacity(total as usize);
        for (i, r) in self.registers.iter().enumerate() {
            let bytes = r.width.bytes();
            for_each_element(r, &mut |off| {
                elems.push((off, off.saturating_add(bytes), i))
            });
        }
        elems.sort_unstable();
        let mut reported: HashSet<(usize, usize)> = HashSet::new();
        let mut outside: HashSet<usize> = HashSet::new();
        let mut win: Vec<&Window> = windows.iter().collect();
        win.sort_by_key(|w| w.offset);
        let mut last: Option<(u64, u64, usize)> = None;
        let mut new_diags = Vec::new();
        for &(start, end, i) in &elems {
            if let Some((ls, le, li)) = last {
                if start < le
                    && li != i
                    && !self.aliased(li, i)
                    && reported.insert((li.min(i), li.max(i)))
                {
                    let (a, b) = if self.registers[li].span <= self.registers[i].span {
                        (li, i)
                    } else {
                        (i, li)
                    };
                    new_diags.push(Diagnostic::new(
                        Kind::RegisterOverlap,
                        self.registers[b].span,
                        format!(
                            "register `{}` at {start:#x}..{end:#x} overlaps register `{}` at {ls:#x}..{le:#x}",
                            self.registers[b].path(),
                            self.registers[a].path()
                        ),
                    ));
                }
            }
            if last.is_none_or(|(_, le, _)| end > le) {
                last = Some((start, end, i));
            }
            if !win.is_empty() {
                let idx = win.partition_point(|w| w.offset <= start);
                let inside = idx > 0 && {
                    let w = win[idx - 1];
                    end <= w.offset + w.size
                };
                if !inside && outside.insert(i) {
                    new_diags.push(Diagnostic::new(
                        Kind::OutsideWindow,
                        self.registers[i].span,
                        format!("register `{}` element at {start:#x}..{end:#x} lies outside every device window", self.registers[i].path()),
                    ));
                }
            }
        }
        self.diags.extend(new_diags);
    }

    fn aliased(&self, a: usize, b: usize) -> bool {
        let target = |i: usize| self.registers[i].alias.as_ref().map(|x| x.target);
        target(a) == Some(b) || target(b) == Some(a)
    }

    // ----- structures -----

    fn structs(&mut self, raw: &[S<raw::RawStruct>]) -> Vec<Struct> {
        self.names_unique(raw.iter().map(|s| &s.value.name), "structure");
        let by_name: HashMap<&str, usize> = raw
            .iter()
            .enumerate()
            .map(|(i, s)| (s.value.name.value.as_str(), i))
            .collect();
        let mut done: Vec<Option<Struct>> = vec![None; raw.len()];
        let mut failed: HashSet<usize> = HashSet::new();
        for i in 0..raw.len() {
            let mut stack = Vec::new();
            self.struct_at(i, raw, &by_name, &mut done, &mut failed, &mut stack);
        }
        done.into_iter().flatten().collect()
    }

    fn struct_at(
        &mut self,
        i: usize,
        raw: &[S<raw::RawStruct>],
        by_name: &HashMap<&str, usize>,
        done: &mut Vec<Option<Struct>>,
        failed: &mut HashSet<usize>,
        stack: &mut Vec<usize>,
    ) -> Option<Struct> {
        if let Some(s) = &done[i] {
            return Some(s.clone());
        }
        if failed.contains(&i) {
            return None;
        }
        let sv = &raw[i].value;
        if stack.contains(&i) {
            self.err(
                Kind::UnknownReference,
                span(&sv.name),
                format!(
                    "structure `{}` extends itself through a cycle",
                    sv.name.value
                ),
            );
            failed.insert(i);
            return None;
        }
        stack.push(i);
        self.ident(&sv.name, "structure name");
        let base = match &sv.extends {
            None => None,
            Some(e) => match by_name.get(e.value.as_str()) {
                None => {
                    self.err(
                        Kind::UnknownReference,
                        span(e),
                        format!("unknown structure `{}` in `extends`", e.value),
                    );
                    failed.insert(i);
                    stack.pop();
                    return None;
                }
                Some(&j) => match self.struct_at(j, raw, by_name, done, failed, stack) {
                    Some(b) => Some(b),
                    None => {
                        failed.insert(i);
                        stack.pop();
                        return None;
                    }
                },
            },
        };
        stack.pop();
        let size = match (&sv.size, &base) {
            (Some(s), Some(b)) if s.value != b.size => {
                self.err(
                    Kind::BadWidth,
                    span(s),
                    format!(
                        "size {} differs from the extended structure's {}",
                        s.value, b.size
                    ),
                );
                b.size
            }
            (Some(s), _) => {
                if s.value == 0 || s.value % 8 != 0 || s.value > MAX_STRUCT_SIZE {
                    self.err(Kind::BadWidth, span(s), format!("structure size must be a non-zero multiple of 8 bytes up to {MAX_STRUCT_SIZE}, found {}", s.value));
                    failed.insert(i);
                    return None;
                }
                s.value
            }
            (None, Some(b)) => b.size,
            (None, None) => {
                self.err(
                    Kind::Syntax,
                    span(&sv.name),
                    format!(
                        "structure `{}` needs a `size` (bytes) or `extends`",
                        sv.name.value
                    ),
                );
                failed.insert(i);
                return None;
            }
        };
        let words = (size / 8) as u32;
        let mut fields = base.as_ref().map(|b| b.fields.clone()).unwrap_or_default();
        let inherited = fields.len();
        let names = fields
            .iter()
            .map(|f| (f.name.clone(), f.span))
            .collect::<Vec<_>>();
        for f in &sv.fields {
            let fv = &f.value;
            self.ident(&fv.name, "field name");
            if let Some((_, first)) = names.iter().find(|(n, _)| *n == fv.name.value) {
                self.err(
                    Kind::Duplicate,
                    span(&fv.name),
                    format!(
                        "duplicate field name `{}` (inherited, declared at line {})",
                        fv.name.value, first.line
                    ),
                );
                continue;
            }
            if fv.word.value >= words {
                self.err(
                    Kind::BadBits,
                    span(&fv.word),
                    format!(
                        "word {} is past the {size}-byte structure (words 0 to {})",
                        fv.word.value,
                        words - 1
                    ),
                );
                continue;
            }
            let Some((lsb, msb)) = self.bits(&fv.bits, 64, "word") else {
                continue;
            };
            let mut field = StructField {
                name: fv.name.value.clone(),
                word: fv.word.value,
                lsb,
                msb,
                enum_name: None,
                description: fv.description.clone(),
                span: span(f),
            };
            let owner = sv.name.value.clone();
            field.enum_name = self.field_enum(
                &owner,
                &field.name,
                fv.enum_ref.as_ref(),
                fv.values.as_ref(),
                field.value_mask(),
                span(f),
            );
            fields.push(field);
        }
        self.names_unique(sv.fields.iter().map(|f| &f.value.name), "field");
        let mut order: Vec<usize> = (0..fields.len()).collect();
        order.sort_by_key(|&k| (fields[k].word, fields[k].lsb));
        for w in order.windows(2) {
            let (a, b) = (&fields[w[0]], &fields[w[1]]);
            if a.word == b.word && b.lsb <= a.msb {
                let (later, earlier) = if w[1] >= inherited || w[0] < inherited {
                    (b, a)
                } else {
                    (a, b)
                };
                self.err(
                    Kind::FieldOverlap,
                    later.span,
                    format!(
                        "field `{}` (word {}, bits {}:{}) overlaps field `{}` (bits {}:{})",
                        later.name,
                        later.word,
                        later.msb,
                        later.lsb,
                        earlier.name,
                        earlier.msb,
                        earlier.lsb
                    ),
                );
            }
        }
        let mut fixed = base.as_ref().map(|b| b.fixed.clone()).unwrap_or_default();
        for fx in &sv.fixed {
            let fxv = &fx.value;
            let Some(field) = fields.iter().find(|f| f.name == fxv.field.value) else {
                self.err(
                    Kind::UnknownReference,
                    span(&fxv.field),
                    format!("`fixed` names unknown field `{}`", fxv.field.value),
                );
                continue;
            };
            let value = match &fxv.value.value {
                NumOrName::Num(n) => *n,
                NumOrName::Name(n) => {
                    let found = field
                        .enum_name
                        .as_ref()
                        .and_then(|e| self.enums.iter().find(|x| &x.name == e))
                        .and_then(|e| e.values.iter().find(|v| &v.name == n))
                        .map(|v| v.value);
                    match found {
                        Some(v) => v,
                        None => {
                            self.err(
                                Kind::UnknownReference,
                                span(&fxv.value),
                                format!("`{n}` is not a value of field `{}`'s enum", field.name),
                            );
                            continue;
                        }
                    }
                }
            };
            if value & !field.value_mask() != 0 {
                self.err(
                    Kind::ValueTooWide,
                    span(&fxv.value),
                    format!(
                        "fixed value {value:#x} does not fit the {}-bit field `{}`",
                        field.width(),
                        field.name
                    ),
                );
                continue;
            }
            fixed.retain(|(n, _)| n != &field.name);
            fixed.push((field.name.clone(), value));
        }
        let s = Struct {
            name: sv.name.value.clone(),
            description: sv.description.clone(),
            size,
            extends: sv.extends.as_ref().map(|e| e.value.clone()),
            fields,
            fixed,
            span: span(&raw[i]),
        };
        done[i] = Some(s.clone());
        Some(s)
    }
}

/// Makes `r` a mirror of target `tr` (index `t`).
fn mirror(r: &mut Register, tr: &Register, t: usize, index_map: Option<String>) {
    r.width = tr.width;
    r.access = tr.access;
    r.reset = tr.reset;
    r.fields = tr.fields.clone();
    r.fieldset = tr.fieldset.clone();
    r.on_write = tr.on_write.clone();
    r.on_read = tr.on_read.clone();
    if r.description.is_empty() {
        r.description = format!("Alias of {}.", tr.path());
    }
    r.alias = Some(Alias {
        target: t,
        target_path: tr.path(),
        index_map,
    });
}

fn find_block_mut<'a>(blocks: &'a mut [Block], path: &[String]) -> Option<&'a mut Block> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter_mut().find(|b| &b.name == first)?;
    if rest.is_empty() {
        Some(b)
    } else {
        find_block_mut(&mut b.blocks, rest)
    }
}

/// Calls `f` with the absolute offset of every element of `r`.
pub fn for_each_element(r: &Register, f: &mut impl FnMut(u64)) {
    fn rec(dims: &[ArrayDim], off: u64, f: &mut impl FnMut(u64)) {
        match dims.split_first() {
            None => f(off),
            Some((d, rest)) => {
                for i in 0..u64::from(d.count) {
                    rec(rest, off.saturating_add(i.saturating_mul(d.stride)), f);
                }
            }
        }
    }
    rec(&r.arrays, r.offset, f);
}

fn parse_num(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}
