//! The register/block tree: offsets, arrays, fieldsets and reset values.

use super::*;

impl Cx {
    /// Checks `count`/`stride` and returns the array dimension, if any.
    pub(super) fn array_dim(
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
    pub(super) fn walk(
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
            let (idx, end) = self.register(r, path, base, arrays);
            indices.extend(idx);
            extent = extent.max(end);
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
            self.block_bases.insert(
                sub_path.join("."),
                BlockBase {
                    base: abs,
                    arrays: sub_arrays,
                    regs: first..self.registers.len(),
                },
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

    /// Checks the arithmetic of a register's expansion before anything
    /// computes with it: its element count (the product of every enclosing
    /// array's count) must be at most [`MAX_ELEMENTS`], and the end of its
    /// last element (`offset` plus `(count - 1) * stride` of each array plus
    /// the width) must fit in 64 bits. Each is computed with checked
    /// arithmetic, so a hostile map gets a diagnostic at `sp` naming the
    /// arrays involved instead of an overflow. Returns whether it fits.
    pub(super) fn fits(
        &mut self,
        path: &str,
        offset: u64,
        arrays: &[ArrayDim],
        bytes: u64,
        sp: Span,
    ) -> bool {
        let count = arrays
            .iter()
            .try_fold(1u64, |n, d| n.checked_mul(u64::from(d.count)))
            .filter(|&n| n <= MAX_ELEMENTS);
        if count.is_none() {
            let dims: Vec<String> = arrays
                .iter()
                .map(|d| format!("{} (`{}`)", d.count, d.name))
                .collect();
            self.err(
                Kind::BadArray,
                sp,
                format!(
                    "register `{path}` expands to {} elements: more than the {MAX_ELEMENTS} supported",
                    dims.join(" x ")
                ),
            );
            return false;
        }
        let end = arrays
            .iter()
            .try_fold(offset, |off, d| {
                u64::from(d.count.saturating_sub(1))
                    .checked_mul(d.stride)
                    .and_then(|step| off.checked_add(step))
            })
            .and_then(|last| last.checked_add(bytes));
        if end.is_none() {
            let mut terms = vec![format!("{offset:#x}")];
            terms.extend(arrays.iter().map(|d| {
                format!(
                    "{} x {:#x} (`{}`)",
                    d.count.saturating_sub(1),
                    d.stride,
                    d.name
                )
            }));
            terms.push(bytes.to_string());
            self.err(
                Kind::OutsideWindow,
                sp,
                format!(
                    "the last element of register `{path}` ends past the 64-bit address space: {} overflows",
                    terms.join(" + ")
                ),
            );
            return false;
        }
        true
    }

    pub(super) fn hook_ref(&mut self, h: &S<String>) -> Option<String> {
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

    /// Validates one register; returns its index (none when it is
    /// rejected) and its end relative to the level's base (for the
    /// enclosing block's stride check, even when it is rejected).
    pub(super) fn register(
        &mut self,
        r: &S<raw::RawRegister>,
        path: &[String],
        base: u64,
        arrays: &[ArrayDim],
    ) -> (Option<usize>, u64) {
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
            return (None, 0);
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
        let mut reg_path = path.join(".");
        if !reg_path.is_empty() {
            reg_path.push('.');
        }
        reg_path.push_str(&rv.name.value);
        let end = rv
            .offset
            .value
            .saturating_add(dim.as_ref().map_or(0, |d| {
                d.stride
                    .saturating_mul(u64::from(d.count.saturating_sub(1)))
            }))
            .saturating_add(bytes);
        if !self.fits(&reg_path, offset, &all_arrays, bytes, span(r)) {
            return (None, end);
        }
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
            return (Some(idx), end);
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
        (Some(self.registers.len() - 1), end)
    }

    /// Reconciles the register reset with its fields' resets.
    pub(super) fn reset(&mut self, reg: &mut Register, given: Option<&S<u64>>) -> u64 {
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
}
