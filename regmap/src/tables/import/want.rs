//! Passes 1 and 2: check the tables against themselves and the base map,
//! and build what each block, register, field and enum should be.

use std::collections::{HashMap, HashSet};

use super::*;

impl<'a> Importer<'a> {
    pub(super) fn check_and_want(&mut self) {
        self.want_blocks();
        self.want_registers();
        self.want_fields();
        self.want_enums();
        self.check_enum_refs();
    }

    pub(super) fn split(path: &str) -> Vec<String> {
        path.split('.').map(|s| s.trim().to_string()).collect()
    }

    pub(super) fn want_blocks(&mut self) {
        let t = self.t;
        let mut seen: HashMap<String, u32> = HashMap::new();
        for row in &t.blocks {
            let (Some(path), Some(offset)) = (&row.path.value, row.offset.value) else {
                continue;
            };
            if let Some(first) = seen.insert(path.clone(), row.line) {
                let msg = format!(
                    "block `{path}` appears twice (first at {})",
                    self.at(Table::Blocks, first)
                );
                self.err(Table::Blocks, row.path.span, Kind::Duplicate, msg);
                continue;
            }
            let segs = Self::split(path);
            let existing = self.block_of(&segs);
            if existing.is_some_and(|b| b.alias.is_some()) {
                let msg = format!("block `{path}` is an alias block in the map; the tables do not carry aliases (remove the row)");
                self.err(Table::Blocks, row.path.span, Kind::BadAlias, msg);
                continue;
            }
            self.blocks.push(WantBlock {
                path: segs,
                offset,
                count: row
                    .count
                    .value
                    .or(existing.and_then(|b| (b.count > 1).then_some(b.count))),
                stride: row
                    .stride
                    .value
                    .or(existing.and_then(|b| (b.count > 1).then_some(b.stride))),
                description: row
                    .description
                    .value
                    .clone()
                    .or(existing.map(|b| b.description.clone()))
                    .unwrap_or_default(),
                row,
                exists: existing.is_some(),
            });
        }
        // Every new block's parent exists somewhere.
        let known: HashSet<Vec<String>> = self.blocks.iter().map(|b| b.path.clone()).collect();
        for i in 0..self.blocks.len() {
            let b = &self.blocks[i];
            if b.exists || b.path.len() < 2 {
                continue;
            }
            let parent = &b.path[..b.path.len() - 1];
            if self.block_of(parent).is_none() && !known.contains(parent) {
                let (span, p) = (b.row.path.span, parent.join("."));
                let msg =
                    format!("the enclosing block `{p}` is neither in the map nor in blocks.csv");
                self.err(Table::Blocks, span, Kind::UnknownReference, msg);
            }
        }
    }

    pub(super) fn block_known(&self, segs: &[String]) -> bool {
        self.block_of(segs).is_some_and(|b| b.alias.is_none())
            || self.blocks.iter().any(|b| b.path == segs)
    }

    pub(super) fn want_registers(&mut self) {
        let t = self.t;
        let mut seen: HashMap<String, u32> = HashMap::new();
        for row in &t.registers {
            let (Some(name), Some(offset)) = (&row.name.value, row.offset.value) else {
                continue;
            };
            let blocks = row
                .block
                .value
                .as_deref()
                .map(Self::split)
                .unwrap_or_default();
            let path = path_of(&blocks, name);
            if let Some(first) = seen.insert(path.clone(), row.line) {
                let msg = format!(
                    "register `{path}` appears twice (first at {})",
                    self.at(Table::Registers, first)
                );
                self.err(Table::Registers, row.name.span, Kind::Duplicate, msg);
                continue;
            }
            if !blocks.is_empty() && !self.block_known(&blocks) {
                let msg = format!(
                    "block `{}` is neither in the map nor in blocks.csv",
                    blocks.join(".")
                );
                self.err(
                    Table::Registers,
                    row.block.span,
                    Kind::UnknownReference,
                    msg,
                );
                continue;
            }
            let existing = self.reg_index.get(&path).copied();
            let ex = existing.map(|i| &self.dev.registers[i]);
            if let Some(r) = ex.filter(|r| r.alias.is_some()) {
                let target = r.alias.as_ref().map_or("", |a| a.target_path.as_str());
                let msg = format!("{path} is an alias of {target} in the map: row skipped (aliases are not imported)");
                self.note(Table::Registers, row.line, msg);
                continue;
            }
            let width = match row.width.value {
                None => ex.map_or(Width::W32, |r| r.width),
                Some(w) => match width_of(w) {
                    Some(w) => w,
                    None => {
                        let msg = format!("width must be 32 or 64, found {w}");
                        self.err(Table::Registers, row.width.span, Kind::BadWidth, msg);
                        continue;
                    }
                },
            };
            if let Some(r) = row.reset.value {
                if r & !width.mask() != 0 {
                    let msg = format!(
                        "reset {r:#x} does not fit the {}-bit register",
                        width.bits()
                    );
                    self.err(Table::Registers, row.reset.span, Kind::ValueTooWide, msg);
                    continue;
                }
            }
            let dim = match (row.count.value, row.stride.value) {
                (None, None) => ex.and_then(|r| self.existing_dim(r)),
                (c, s) => {
                    let old = ex.and_then(|r| self.existing_dim(r));
                    Some((
                        c.or(old.map(|o| o.0)).unwrap_or(1),
                        s.or(old.map(|o| o.1)).unwrap_or(0),
                    ))
                }
            };
            self.regs.push(WantReg {
                blocks,
                name: name.clone(),
                row: Some(row),
                existing,
                offset,
                width,
                access: row
                    .access
                    .value
                    .or(ex.map(|r| r.access))
                    .unwrap_or(RegAccess::Rw),
                reset: row.reset.value.or(ex.map(|r| r.reset)).unwrap_or(0),
                dim,
                description: row
                    .description
                    .value
                    .clone()
                    .or(ex.map(|r| r.description.clone()))
                    .unwrap_or_default(),
                fields: None,
            });
        }
        if t.has(Table::Registers) {
            let listed: HashSet<String> = self.regs.iter().map(WantReg::path).collect();
            let skipped: HashSet<String> = t.registers.iter().map(RegisterRow::path).collect();
            for r in self.dev.registers.iter().filter(|r| r.alias.is_none()) {
                let p = r.path();
                if !listed.contains(&p) && !skipped.contains(&p) {
                    let f = self.map_file.to_string();
                    self.notes.push(Change {
                        file: f,
                        line: r.span.line,
                        what: format!("{p} is not in registers.csv: kept"),
                    });
                }
            }
        }
    }

    pub(super) fn want_fields(&mut self) {
        let t = self.t;
        // Rows grouped by register, in table order.
        let mut groups: Vec<(String, Vec<&'a FieldRow>)> = Vec::new();
        for row in &t.fields {
            let Some(reg) = &row.register.value else {
                continue;
            };
            match groups.iter_mut().find(|(r, _)| r == reg) {
                Some((_, g)) => g.push(row),
                None => groups.push((reg.clone(), vec![row])),
            }
        }
        for (reg, rows) in groups {
            let wi = match self.regs.iter().position(|w| w.path() == reg) {
                Some(i) => i,
                None => match self.reg_index.get(&reg).copied() {
                    Some(i) if self.dev.registers[i].alias.is_some() => {
                        let msg = format!("{reg} is an alias in the map: its field rows are skipped (aliases are not imported)");
                        self.note(Table::Fields, rows[0].line, msg);
                        continue;
                    }
                    Some(i) => {
                        let r = &self.dev.registers[i];
                        self.regs.push(WantReg {
                            blocks: r.blocks.clone(),
                            name: r.name.clone(),
                            row: None,
                            existing: Some(i),
                            offset: self.rel_offset(r),
                            width: r.width,
                            access: r.access,
                            reset: r.reset,
                            dim: self.existing_dim(r),
                            description: r.description.clone(),
                            fields: None,
                        });
                        self.regs.len() - 1
                    }
                    None => {
                        if t.registers.iter().any(|r| r.path() == reg) {
                            continue; // its register row was rejected already
                        }
                        let msg =
                            format!("register `{reg}` is neither in the map nor in registers.csv");
                        self.err(
                            Table::Fields,
                            rows[0].register.span,
                            Kind::UnknownReference,
                            msg,
                        );
                        continue;
                    }
                },
            };
            let fields = self.want_register_fields(wi, &rows);
            let w = &mut self.regs[wi];
            let reg_reset_cell = w.row.and_then(|r| r.reset.value.map(|v| (v, r.line)));
            let mut reset = 0u64;
            let mut bad = Vec::new();
            let mut fields = fields;
            for f in &mut fields {
                let vmask = f.value_mask();
                if let Some((r, line)) = reg_reset_cell {
                    let from_reg = (r >> f.lsb) & vmask;
                    match f.row.reset.value {
                        Some(v) if v != from_reg => bad.push((f.row.reset.span, format!(
                            "`{}` resets to {v:#x} here, but the register reset {r:#x} (registers.csv:{line}) gives bits {}:{} the value {from_reg:#x}",
                            f.name, f.msb, f.lsb
                        ))),
                        _ => f.reset = from_reg,
                    }
                }
                reset |= f.reset << f.lsb;
            }
            w.reset = reg_reset_cell.map_or(reset, |(r, _)| r);
            w.fields = Some(fields);
            for (span, msg) in bad {
                self.err(Table::Fields, span, Kind::BadReset, msg);
            }
        }
    }

    /// The wanted fields of register `wi` from its rows.
    pub(super) fn want_register_fields(
        &mut self,
        wi: usize,
        rows: &[&'a FieldRow],
    ) -> Vec<WantField<'a>> {
        let ex = self.regs[wi].existing.map(|i| &self.dev.registers[i]);
        // The map's fields as they are under the register's new access: an
        // empty access cell keeps that (a field that follows the register's
        // access still does).
        let after: Vec<Field> = ex.map_or_else(Vec::new, |r| {
            let list = self
                .register_node(&r.blocks, &r.name)
                .and_then(|n| n.get("fields"));
            self.fields_after(r, list, self.regs[wi].access)
        });
        let reg_access = self.regs[wi].access;
        let reg_path = self.regs[wi].path();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let mut out = Vec::new();
        for row in rows {
            let (Some(name), Some(msb), Some(lsb)) =
                (&row.name.value, row.msb.value, row.lsb.value)
            else {
                continue;
            };
            if let Some(first) = seen.insert(name, row.line) {
                let msg = format!(
                    "field `{name}` of `{reg_path}` appears twice (first at {})",
                    self.at(Table::Fields, first)
                );
                self.err(Table::Fields, row.name.span, Kind::Duplicate, msg);
                continue;
            }
            if msb < lsb {
                let msg = format!("bit range {msb}:{lsb} is reversed: expected msb >= lsb");
                self.err(Table::Fields, row.msb.span, Kind::BadBits, msg);
                continue;
            }
            if msb > 63 {
                let msg = format!("bit {msb} is past bit 63");
                self.err(Table::Fields, row.msb.span, Kind::BadBits, msg);
                continue;
            }
            let old: Option<&Field> = ex.and_then(|r| r.field(name));
            let access = row
                .access
                .value
                .or(after.iter().find(|f| &f.name == name).map(|f| f.access))
                .unwrap_or(default_access(reg_access));
            let vmask = mask(msb - lsb + 1);
            if let Some(v) = row.reset.value {
                if v & !vmask != 0 {
                    let msg = format!(
                        "reset {v:#x} does not fit the {}-bit field `{name}`",
                        msb - lsb + 1
                    );
                    self.err(Table::Fields, row.reset.span, Kind::ValueTooWide, msg);
                    continue;
                }
            }
            let reset = row
                .reset
                .value
                .or(old.map(|f| f.reset))
                .unwrap_or(if access == Access::Res1 { vmask } else { 0 });
            out.push(WantField {
                name: name.clone(),
                lsb,
                msb,
                access,
                reset,
                enum_name: row
                    .enum_name
                    .value
                    .clone()
                    .or(old.and_then(|f| f.enum_name.clone())),
                description: row
                    .description
                    .value
                    .clone()
                    .or(old.map(|f| f.description.clone()))
                    .unwrap_or_default(),
                row,
            });
        }
        out.sort_by_key(|f| f.lsb);
        out
    }

    pub(super) fn want_enums(&mut self) {
        let t = self.t;
        let mut seen: HashMap<(String, String), u32> = HashMap::new();
        for row in &t.enums {
            let (Some(en), Some(name), Some(value)) =
                (&row.enum_name.value, &row.name.value, row.value.value)
            else {
                continue;
            };
            if let Some(first) = seen.insert((en.clone(), name.clone()), row.line) {
                let msg = format!(
                    "value `{name}` of enum `{en}` appears twice (first at {})",
                    self.at(Table::Enums, first)
                );
                self.err(Table::Enums, row.name.span, Kind::Duplicate, msg);
                continue;
            }
            let old = self
                .dev
                .enum_by_name(en)
                .and_then(|e| e.values.iter().find(|v| &v.name == name));
            let description = row
                .description
                .value
                .clone()
                .or(old.map(|v| v.description.clone()))
                .unwrap_or_default();
            match self.enums.iter_mut().find(|e| &e.name == en) {
                Some(e) => e.values.push((name.clone(), value, description, row)),
                None => self.enums.push(WantEnum {
                    name: en.clone(),
                    values: vec![(name.clone(), value, description, row)],
                }),
            }
        }
    }

    pub(super) fn check_enum_refs(&mut self) {
        let mut bad = Vec::new();
        for w in &self.regs {
            for f in w.fields.iter().flatten() {
                if let Some(e) = &f.enum_name {
                    let known = self.dev.enum_by_name(e).is_some()
                        || self.enums.iter().any(|x| &x.name == e);
                    if !known {
                        bad.push((
                            f.row.enum_name.span,
                            format!("unknown enum `{e}`: give its values in enums.csv"),
                        ));
                    }
                }
            }
        }
        for (span, msg) in bad {
            self.err(Table::Fields, span, Kind::UnknownReference, msg);
        }
        // Every value of an enum from enums.csv fits every field using it.
        let mut users: Vec<(String, String, u32)> = Vec::new();
        for w in &self.regs {
            for f in w.fields.iter().flatten() {
                if let Some(e) = &f.enum_name {
                    users.push((
                        e.clone(),
                        format!("{}.{}", w.path(), f.name),
                        f.msb - f.lsb + 1,
                    ));
                }
            }
        }
        let named: HashSet<String> = users.iter().map(|(_, p, _)| p.clone()).collect();
        for r in self.dev.registers.iter().filter(|r| r.alias.is_none()) {
            for f in &r.fields {
                let p = format!("{}.{}", r.path(), f.name);
                if let (Some(e), false) = (&f.enum_name, named.contains(&p)) {
                    users.push((e.clone(), p, f.width()));
                }
            }
        }
        let mut too_wide = Vec::new();
        for e in &self.enums {
            for (_, field, width) in users.iter().filter(|(n, ..)| n == &e.name) {
                for (n, v, _, row) in &e.values {
                    if v & !mask(*width) != 0 {
                        too_wide.push((row.value.span, format!("value {v:#x} of `{n}` does not fit the {width}-bit field {field} that uses enum `{}`", e.name)));
                    }
                }
            }
        }
        for (span, msg) in too_wide {
            self.err(Table::Enums, span, Kind::ValueTooWide, msg);
        }
    }
}
