//! Pass 3: compare what the tables want with the base map, report each
//! difference at its row and turn it into pending node edits.

use std::collections::{BTreeMap, HashSet};

use super::lower::*;
use super::verify::same_values;
use super::*;
use crate::tables::export::implicit_value_field;

impl<'a> Importer<'a> {
    pub(super) fn reg_origin(&self, w: &WantReg) -> Origin {
        match w.row {
            Some(r) => Origin {
                file: self.file(Table::Registers),
                line: r.line,
                cells: vec![
                    ("name", r.name.span),
                    ("offset", r.offset.span),
                    ("width", r.width.span),
                    ("access", r.access.span),
                    ("reset", r.reset.span),
                    ("count", r.count.span),
                    ("stride", r.stride.span),
                    ("description", r.description.span),
                ],
            },
            None => self.field_origin(w.fields.as_ref().and_then(|f| f.first()).map(|f| f.row)),
        }
    }

    pub(super) fn field_origin(&self, row: Option<&FieldRow>) -> Origin {
        match row {
            Some(r) => Origin {
                file: self.file(Table::Fields),
                line: r.line,
                cells: vec![
                    ("name", r.name.span),
                    ("bits", r.msb.span),
                    ("access", r.access.span),
                    ("reset", r.reset.span),
                    ("enum", r.enum_name.span),
                    ("values", r.enum_name.span),
                    ("description", r.description.span),
                ],
            },
            None => Origin {
                file: self.file(Table::Fields),
                line: 1,
                cells: Vec::new(),
            },
        }
    }

    pub(super) fn enum_origin(&self, r: &EnumValueRow) -> Origin {
        Origin {
            file: self.file(Table::Enums),
            line: r.line,
            cells: vec![
                ("name", r.name.span),
                ("value", r.value.span),
                ("description", r.description.span),
            ],
        }
    }

    pub(super) fn block_origin(&self, r: &BlockRow) -> Origin {
        Origin {
            file: self.file(Table::Blocks),
            line: r.line,
            cells: vec![
                ("name", r.path.span),
                ("offset", r.offset.span),
                ("count", r.count.span),
                ("stride", r.stride.span),
                ("description", r.description.span),
            ],
        }
    }

    // ----- pass 3: plan changes and edits -----

    pub(super) fn node_edit(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        origin: &Origin,
    ) -> &mut NodeEdit {
        self.node_edits
            .entry(node.start)
            .or_insert_with(|| NodeEdit {
                node: node.clone(),
                order,
                origin: origin.clone(),
                set: Vec::new(),
                remove: Vec::new(),
                lists: Vec::new(),
            })
    }

    pub(super) fn list_op(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        key: &str,
        op: ItemOp,
        origin: &Origin,
    ) {
        let ne = self.node_edit(node, order, origin);
        match ne.lists.iter_mut().find(|(k, _)| k == key) {
            Some((_, ops)) => ops.push(op),
            None => ne.lists.push((key.to_string(), vec![op])),
        }
    }

    pub(super) fn set_key(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        key: &str,
        y: Y,
        origin: &Origin,
    ) {
        self.node_edit(node, order, origin)
            .set
            .push((key.to_string(), y, origin.clone()));
    }

    pub(super) fn plan(&mut self) {
        self.plan_blocks();
        let regs = std::mem::take(&mut self.regs);
        let fieldset_users = self.plan_fieldsets(&regs);
        let mut new_regs: Vec<&WantReg> = Vec::new();
        for (i, w) in regs.iter().enumerate() {
            match w.existing {
                Some(_) => self.plan_register(i, w, &fieldset_users),
                None => new_regs.push(w),
            }
        }
        self.plan_new_registers(&new_regs);
        self.plan_new_blocks(&regs);
        self.regs = regs;
        self.plan_enums();
        self.lower();
    }

    pub(super) fn plan_blocks(&mut self) {
        for i in 0..self.blocks.len() {
            let w = self.blocks[i].clone();
            if !w.exists {
                continue;
            }
            let Some(b) = self.block_of(&w.path) else {
                continue;
            };
            let o = self.block_origin(w.row);
            let (line, p) = (w.row.line, w.path.join("."));
            let Some(node) = self.container_node(&w.path).cloned() else {
                self.internal(&format!("block {p} not found in the YAML"));
                continue;
            };
            if w.offset != b.offset {
                self.change(
                    Table::Blocks,
                    line,
                    format!("{p}: offset {:#x} -> {:#x}", b.offset, w.offset),
                );
                self.set_key(&node, BLOCK_ORDER, "offset", hex(w.offset), &o);
            }
            let old = (b.count > 1).then_some((b.count, b.stride));
            let new = w.count.map(|c| (c, w.stride.unwrap_or(0)));
            if old != new {
                let show = |d: Option<(u32, u64)>| {
                    d.map_or("not an array".to_string(), |(c, s)| {
                        format!("count {c} stride {s:#x}")
                    })
                };
                self.change(
                    Table::Blocks,
                    line,
                    format!("{p}: {} -> {}", show(old), show(new)),
                );
                if let Some(c) = w.count {
                    self.set_key(&node, BLOCK_ORDER, "count", dec(c), &o);
                }
                if let Some(s) = w.stride {
                    self.set_key(&node, BLOCK_ORDER, "stride", hex(s), &o);
                }
            }
            if w.description != b.description {
                self.change(Table::Blocks, line, format!("{p}: description changed"));
                self.set_key(
                    &node,
                    BLOCK_ORDER,
                    "description",
                    Y::S(yaml::string(&w.description)),
                    &o,
                );
            }
        }
    }

    /// Fieldsets whose users all want the same new fields are edited in
    /// place; returns the registers (by want index) handled that way.
    pub(super) fn plan_fieldsets(&mut self, regs: &[WantReg<'a>]) -> HashSet<usize> {
        let mut handled = HashSet::new();
        let mut by_fs: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, w) in regs.iter().enumerate() {
            let Some(ex) = w.existing.map(|e| &self.dev.registers[e]) else {
                continue;
            };
            if let (Some(fs), Some(_)) = (&ex.fieldset, &w.fields) {
                by_fs.entry(fs.clone()).or_default().push(i);
            }
        }
        for (fs_name, wants) in by_fs {
            let Some(fs) = self.dev.fieldsets.iter().find(|f| f.name == fs_name) else {
                continue;
            };
            let users = self
                .dev
                .registers
                .iter()
                .filter(|r| r.alias.is_none() && r.fieldset.as_deref() == Some(&fs_name))
                .count();
            let norm: Vec<Vec<WantField>> = wants
                .iter()
                .map(|&i| {
                    let w = &regs[i];
                    w.fields
                        .iter()
                        .flatten()
                        .map(|f| {
                            let cur = fs
                                .fields
                                .iter()
                                .find(|x| x.name == f.name)
                                .map(|x| x.access);
                            let access = match cur {
                                Some(c) if in_register(c, w.access) == f.access => c,
                                _ if in_register(Access::Rw, w.access) == f.access => Access::Rw,
                                _ => f.access,
                            };
                            WantField {
                                access,
                                ..f.clone()
                            }
                        })
                        .collect()
                })
                .collect();
            let same = |a: &[WantField], b: &[Field]| {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        x.name == y.name
                            && x.lsb == y.lsb
                            && x.msb == y.msb
                            && x.access == y.access
                            && x.enum_name == y.enum_name
                            && x.description == y.description
                    })
            };
            let all_agree = norm.windows(2).all(|p| {
                p[0].len() == p[1].len()
                    && p[0].iter().zip(&p[1]).all(|(x, y)| {
                        (
                            &x.name,
                            x.lsb,
                            x.msb,
                            x.access,
                            &x.enum_name,
                            &x.description,
                        ) == (
                            &y.name,
                            y.lsb,
                            y.msb,
                            y.access,
                            &y.enum_name,
                            &y.description,
                        )
                    })
            });
            // A field a fieldset declares `rw` is `ro`/`wo` in an `ro`/`wo`
            // register: an `rw` field there cannot come from a fieldset.
            let expressible = wants.iter().all(|&i| {
                let w = &regs[i];
                w.access == RegAccess::Rw
                    || w.fields.iter().flatten().all(|f| f.access != Access::Rw)
            });
            if expressible && norm.iter().all(|n| same(n, &fs.fields)) {
                handled.extend(wants.iter().copied());
                continue;
            }
            if !(expressible && all_agree && wants.len() == users) {
                continue; // the differing registers get their own fields
            }
            // Edit the fieldset itself.
            let Some(node) = self
                .root
                .get("fieldsets")
                .and_then(|l| l.item_named(&fs_name))
                .map(|(_, n)| n.clone())
            else {
                self.internal(&format!("fieldset {fs_name} not found in the YAML"));
                continue;
            };
            let names: Vec<String> = wants.iter().map(|&i| regs[i].path()).collect();
            let first = &regs[wants[0]];
            for &i in &wants {
                let w = &regs[i];
                let ex = &self.dev.registers[w.existing.unwrap_or(0)];
                self.report_field_changes(
                    w,
                    ex,
                    &format!(" (in fieldset {fs_name}, shared by {})", names.join(", ")),
                );
            }
            let fields_list = node.get("fields").cloned();
            let fake = WantReg {
                access: RegAccess::Rw,
                ..first.clone()
            };
            self.plan_field_list(
                &node,
                FIELDSET_ORDER,
                fields_list.as_ref(),
                &norm[0],
                &fs.fields,
                &fake,
                &fs_name,
            );
            handled.extend(wants.iter().copied());
        }
        handled
    }

    pub(super) fn report_field_changes(&mut self, w: &WantReg, ex: &Register, suffix: &str) {
        let p = w.path();
        let Some(want) = &w.fields else { return };
        for f in want {
            let line = f.row.line;
            match ex.field(&f.name) {
                None => self.change(
                    Table::Fields,
                    line,
                    format!(
                        "{p}.{}: new field, bits {}:{} {}{suffix}",
                        f.name,
                        f.msb,
                        f.lsb,
                        f.access.as_str()
                    ),
                ),
                Some(old) => {
                    let mut what = Vec::new();
                    if (old.msb, old.lsb) != (f.msb, f.lsb) {
                        what.push(format!(
                            "bits {}:{} -> {}:{}",
                            old.msb, old.lsb, f.msb, f.lsb
                        ));
                    }
                    if old.access != f.access {
                        what.push(format!(
                            "access {} -> {}",
                            old.access.as_str(),
                            f.access.as_str()
                        ));
                    }
                    if old.reset != f.reset {
                        what.push(format!("reset {:#x} -> {:#x}", old.reset, f.reset));
                    }
                    if old.enum_name != f.enum_name {
                        let s = |e: &Option<String>| e.clone().unwrap_or_else(|| "none".into());
                        what.push(format!("enum {} -> {}", s(&old.enum_name), s(&f.enum_name)));
                    }
                    if old.description != f.description {
                        what.push("description changed".into());
                    }
                    if !what.is_empty() {
                        self.change(
                            Table::Fields,
                            line,
                            format!("{p}.{}: {}{suffix}", f.name, what.join(", ")),
                        );
                    }
                }
            }
        }
        if implicit_value_field(ex) {
            return;
        }
        let line = want.first().map_or(0, |f| f.row.line);
        for old in &ex.fields {
            if !want.iter().any(|f| f.name == old.name) {
                self.change(
                    Table::Fields,
                    line,
                    format!("{p}.{}: removed (not in fields.csv){suffix}", old.name),
                );
            }
        }
    }

    pub(super) fn fields_differ(want: &[WantField], have: &[Field]) -> bool {
        want.len() != have.len()
            || want.iter().zip(have).any(|(x, y)| {
                (
                    &x.name,
                    x.lsb,
                    x.msb,
                    x.access,
                    x.reset,
                    &x.enum_name,
                    &x.description,
                ) != (
                    &y.name,
                    y.lsb,
                    y.msb,
                    y.access,
                    y.reset,
                    &y.enum_name,
                    &y.description,
                )
            })
    }

    /// Whether the enum `name`, used by field `field` of `owner`, is (or is
    /// to be) written inline in the field.
    pub(super) fn inline_enum(&self, owner: &str, field: &str, name: &str) -> bool {
        let own = format!("{owner}_{field}");
        name == own
            && match self.dev.enum_by_name(name) {
                Some(e) => e.inline,
                None => true,
            }
    }

    /// The YAML of a field item. `old` is the item it replaces and the
    /// field it described: keys whose value did not change are copied
    /// verbatim, so their spelling and quoting stay.
    pub(super) fn field_y(
        &mut self,
        f: &WantField,
        reg_default: Access,
        old: Option<(&Node, &Field)>,
        owner: &str,
    ) -> Y {
        let item = old.map(|(n, _)| n);
        let was = old.map(|(_, f)| f);
        let keep = |this: &Self, key: &str, unchanged: bool, y: Y| -> Y {
            match item.and_then(|n| n.entry(key)) {
                Some((k, v)) if unchanged => this.verbatim(k, v).unwrap_or(y),
                _ => y,
            }
        };
        let mut es = vec![("name".to_string(), Y::S(f.name.clone()))];
        let same_bits = was.is_some_and(|o| (o.msb, o.lsb) == (f.msb, f.lsb));
        es.push((
            "bits".into(),
            keep(self, "bits", same_bits, bits_y(f.msb, f.lsb)),
        ));
        let had = |k: &str| item.is_some_and(|n| n.get(k).is_some());
        if f.access != reg_default || had("access") {
            let same = was.is_some_and(|o| o.access == f.access);
            es.push((
                "access".into(),
                keep(self, "access", same, Y::S(f.access.as_str().into())),
            ));
        }
        if had("reset") {
            let same = was.is_some_and(|o| o.reset == f.reset);
            es.push(("reset".into(), keep(self, "reset", same, hex(f.reset))));
        }
        let same_desc = was.is_some_and(|o| o.description == f.description);
        let desc = keep(
            self,
            "description",
            same_desc,
            Y::S(yaml::string(&f.description)),
        );
        if let Some(e) = &f.enum_name {
            if self.inline_enum(owner, &f.name, e) {
                let values = self.enum_values_y(e, item.and_then(|n| n.get("values")));
                self.inline_written.insert(e.clone());
                if !f.description.is_empty() {
                    es.push(("description".into(), desc));
                }
                es.push(("values".into(), Y::L(values)));
                return Y::At(self.field_origin(Some(f.row)), Box::new(Y::M(es)));
            }
            let same = was.is_some_and(|o| o.enum_name.as_deref() == Some(e));
            es.push(("enum".into(), keep(self, "enum", same, Y::S(e.clone()))));
        }
        if !f.description.is_empty() {
            es.push(("description".into(), desc));
        }
        Y::At(self.field_origin(Some(f.row)), Box::new(Y::M(es)))
    }

    /// The value items of enum `name`: from enums.csv when it lists the
    /// enum, else from the map. Items of `old` (the list being replaced)
    /// whose value did not change are copied verbatim.
    pub(super) fn enum_values_y(&self, name: &str, old: Option<&Node>) -> Vec<Y> {
        let map_enum = self.dev.enum_by_name(name);
        let value_y = |n: &str, v: u64, d: &str| {
            let unchanged = map_enum
                .and_then(|e: &Enum| e.values.iter().find(|x| x.name == n))
                .is_some_and(|x| (x.value, x.description.as_str()) == (v, d));
            if let Some((_, it)) = old.and_then(|l| l.item_named(n)).filter(|_| unchanged) {
                let text = &self.text[it.start..it.end];
                if !text.contains('\n') {
                    return Y::R(text.to_string());
                }
            }
            let mut es = vec![
                ("name".to_string(), Y::S(n.to_string())),
                ("value".to_string(), if v < 10 { dec(v) } else { hex(v) }),
            ];
            if !d.is_empty() {
                es.push(("description".to_string(), Y::S(yaml::string(d))));
            }
            Y::M(es)
        };
        match self.enums.iter().find(|e| e.name == name) {
            Some(w) => w
                .values
                .iter()
                .map(|(n, v, d, row)| Y::At(self.enum_origin(row), Box::new(value_y(n, *v, d))))
                .collect(),
            None => map_enum
                .map(|e: &Enum| {
                    e.values
                        .iter()
                        .map(|v| value_y(&v.name, v.value, &v.description))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether enum `name`'s values in the tables differ from the map's.
    pub(super) fn enum_changed(&self, name: &str) -> bool {
        let Some(w) = self.enums.iter().find(|e| e.name == name) else {
            return false;
        };
        let Some(e) = self.dev.enum_by_name(name) else {
            return true;
        };
        !same_values(w, e)
    }

    /// Edits the `fields` list of `node` (a register or fieldset) from `have` to `want`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan_field_list(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        list: Option<&Node>,
        want: &[WantField],
        have: &[Field],
        w: &WantReg,
        owner: &str,
    ) {
        let reg_default = default_access(w.access);
        let origin = self.reg_origin(w);
        let Some(list) = list else {
            let items: Vec<Y> = want
                .iter()
                .map(|f| self.field_y(f, reg_default, None, owner))
                .collect();
            self.set_key(node, order, "fields", Y::L(items), &origin);
            return;
        };
        for f in want {
            let o = self.field_origin(Some(f.row));
            let old = have.iter().find(|h| h.name == f.name);
            let inline_changed = f
                .enum_name
                .as_deref()
                .is_some_and(|e| self.inline_enum(owner, &f.name, e) && self.enum_changed(e));
            match (old, list.item_named(&f.name)) {
                (Some(old), Some((idx, item))) => {
                    // Without its own `access:` the field follows the
                    // register's (possibly new) access.
                    let access = if item.get("access").is_some() {
                        old.access
                    } else {
                        reg_default
                    };
                    let same = (old.lsb, old.msb, access, &old.enum_name, &old.description)
                        == (f.lsb, f.msb, f.access, &f.enum_name, &f.description)
                        && (old.reset == f.reset || item.get("reset").is_none());
                    if !same || inline_changed {
                        let item = item.clone();
                        let y = self.field_y(f, reg_default, Some((&item, old)), owner);
                        self.list_op(
                            node,
                            order,
                            "fields",
                            ItemOp::Replace(idx, y, o.clone()),
                            &o,
                        );
                    }
                }
                _ => {
                    let before = list.items().iter().position(|it| {
                        it.get("name")
                            .and_then(Node::scalar)
                            .and_then(|n| have.iter().find(|h| h.name == n))
                            .is_some_and(|h| h.lsb > f.lsb)
                    });
                    let y = self.field_y(f, reg_default, None, owner);
                    self.list_op(
                        node,
                        order,
                        "fields",
                        ItemOp::Insert(before, y, o.clone()),
                        &o,
                    );
                }
            }
        }
        for (idx, item) in list.items().iter().enumerate() {
            let n = item.get("name").and_then(Node::scalar).unwrap_or("");
            if !want.iter().any(|f| f.name == n) {
                self.list_op(
                    node,
                    order,
                    "fields",
                    ItemOp::Remove(idx, origin.clone()),
                    &origin,
                );
            }
        }
    }

    pub(super) fn plan_register(
        &mut self,
        want_index: usize,
        w: &WantReg<'a>,
        fieldset_handled: &HashSet<usize>,
    ) {
        let Some(ei) = w.existing else { return };
        let r = &self.dev.registers[ei];
        let p = w.path();
        let Some(node) = self.register_node(&r.blocks, &r.name).cloned() else {
            self.internal(&format!("register {p} not found in the YAML"));
            return;
        };
        let o = self.reg_origin(w);
        let (t, line) = match w.row {
            Some(row) => (Table::Registers, row.line),
            None => (Table::Fields, o.line),
        };
        let old_offset = self.rel_offset(r);
        if w.offset != old_offset {
            self.change(
                t,
                line,
                format!("{p}: offset {old_offset:#x} -> {:#x}", w.offset),
            );
            self.set_key(&node, REG_ORDER, "offset", hex(w.offset), &o);
        }
        if w.width != r.width {
            self.change(
                t,
                line,
                format!("{p}: width {} -> {}", r.width.bits(), w.width.bits()),
            );
            self.set_key(&node, REG_ORDER, "width", dec(w.width.bits()), &o);
        }
        if w.access != r.access {
            self.change(
                t,
                line,
                format!("{p}: access {} -> {}", r.access.as_str(), w.access.as_str()),
            );
            self.set_key(
                &node,
                REG_ORDER,
                "access",
                Y::S(w.access.as_str().into()),
                &o,
            );
        }
        let old_dim = self.existing_dim(r);
        if w.dim != old_dim {
            let show = |d: Option<(u32, u64)>| {
                d.map_or("not an array".to_string(), |(c, s)| {
                    format!("count {c} stride {s:#x}")
                })
            };
            self.change(
                t,
                line,
                format!("{p}: {} -> {}", show(old_dim), show(w.dim)),
            );
            if let Some((c, s)) = w.dim {
                self.set_key(&node, REG_ORDER, "count", dec(c), &o);
                self.set_key(&node, REG_ORDER, "stride", hex(s), &o);
            }
        }
        if w.description != r.description {
            self.change(t, line, format!("{p}: description changed"));
            self.set_key(
                &node,
                REG_ORDER,
                "description",
                Y::S(yaml::string(&w.description)),
                &o,
            );
        }
        if w.reset != r.reset {
            self.change(
                t,
                line,
                format!("{p}: reset {:#x} -> {:#x}", r.reset, w.reset),
            );
        }

        // Fields, and what the YAML's field resets add up to afterwards.
        let mut derived: Option<u64> = None;
        if let Some(want) = &w.fields {
            let owner = p.replace('.', "_");
            let after = self.fields_after(r, node.get("fields"), w.access);
            let changed = Self::fields_differ(want, &after)
                || want.iter().any(|f| {
                    f.enum_name.as_deref().is_some_and(|e| {
                        self.inline_enum(&owner, &f.name, e) && self.enum_changed(e)
                    })
                });
            let implicit = implicit_value_field(r);
            let same_as_implicit = implicit
                && matches!(want.as_slice(), [f] if f.name == "VALUE" && f.lsb == 0 && f.msb == r.width.bits() - 1 && f.enum_name.is_none() && f.access == default_access(w.access) && (f.description == "The whole register" || f.description.is_empty()));
            if r.fieldset.is_some() {
                if !fieldset_handled.contains(&want_index) && changed {
                    let fs = r.fieldset.clone().unwrap_or_default();
                    self.report_field_changes(w, r, "");
                    self.change(
                        t,
                        line,
                        format!(
                            "{p}: fields no longer match fieldset {fs}: written in the register"
                        ),
                    );
                    self.node_edit(&node, REG_ORDER, &o)
                        .remove
                        .push("fieldset".into());
                    self.plan_field_list(&node, REG_ORDER, None, want, &[], w, &owner);
                    derived = Some(Self::res1_bits(want));
                }
            } else if changed && !same_as_implicit {
                self.report_field_changes(w, r, "");
                let list = if implicit {
                    None
                } else {
                    node.get("fields").cloned()
                };
                self.plan_field_list(&node, REG_ORDER, list.as_ref(), want, &r.fields, w, &owner);
                // Field reset keys kept (present before) plus res1 bits.
                let mut d = Self::res1_bits(want);
                if let Some(list) = &list {
                    for f in want {
                        if list
                            .item_named(&f.name)
                            .is_some_and(|(_, it)| it.get("reset").is_some())
                        {
                            d |= f.reset << f.lsb;
                        }
                    }
                }
                derived = Some(d);
            }
        }
        // The register's `reset:` key, when the fields alone no longer give the reset.
        let has_key = node.get("reset").is_some();
        if has_key {
            if w.reset != r.reset {
                self.set_key(&node, REG_ORDER, "reset", hex(w.reset), &o);
            }
        } else {
            let d = derived.unwrap_or(r.reset);
            if w.reset != d {
                self.set_key(&node, REG_ORDER, "reset", hex(w.reset), &o);
            }
        }
    }

    /// The fields `r` has once its access is `access` and nothing else
    /// changed: fields without their own `access:` (and a fieldset's `rw`
    /// fields) follow the register's.
    pub(super) fn fields_after(
        &self,
        r: &Register,
        list: Option<&Node>,
        access: RegAccess,
    ) -> Vec<Field> {
        let d = default_access(access);
        let fs = r
            .fieldset
            .as_ref()
            .and_then(|n| self.dev.fieldsets.iter().find(|x| &x.name == n));
        let mut out = r.fields.clone();
        for f in &mut out {
            if let Some(fs) = fs {
                if let Some(x) = fs.fields.iter().find(|x| x.name == f.name) {
                    f.access = in_register(x.access, access);
                }
                continue;
            }
            let explicit = list
                .and_then(|l| l.item_named(&f.name))
                .is_some_and(|(_, it)| it.get("access").is_some());
            if !explicit {
                f.access = d;
            }
        }
        out
    }

    pub(super) fn res1_bits(fields: &[WantField]) -> u64 {
        fields
            .iter()
            .filter(|f| f.access == Access::Res1)
            .fold(0, |m, f| m | (f.value_mask() << f.lsb))
    }

    /// The YAML of a new register.
    pub(super) fn register_y(&mut self, w: &WantReg) -> Y {
        let mut es = vec![
            ("name".to_string(), Y::S(w.name.clone())),
            ("offset".to_string(), hex(w.offset)),
        ];
        if w.width != Width::W32 {
            es.push(("width".into(), dec(w.width.bits())));
        }
        if w.access != RegAccess::Rw {
            es.push(("access".into(), Y::S(w.access.as_str().into())));
        }
        let derived = w.fields.as_deref().map_or(0, Self::res1_bits);
        if w.reset != derived {
            es.push(("reset".into(), hex(w.reset)));
        }
        if let Some((c, s)) = w.dim {
            es.push(("count".into(), dec(c)));
            es.push(("stride".into(), hex(s)));
        }
        if !w.description.is_empty() {
            es.push(("description".into(), Y::S(yaml::string(&w.description))));
        }
        if let Some(fields) = &w.fields {
            let owner = w.path().replace('.', "_");
            let items = fields
                .iter()
                .map(|f| self.field_y(f, default_access(w.access), None, &owner))
                .collect();
            es.push(("fields".into(), Y::L(items)));
        }
        Y::At(self.reg_origin(w), Box::new(Y::M(es)))
    }

    pub(super) fn report_new_register(&mut self, w: &WantReg) {
        let (t, line) = match w.row {
            Some(r) => (Table::Registers, r.line),
            None => (Table::Fields, 0),
        };
        let n = w.fields.as_ref().map_or(0, Vec::len);
        self.change(
            t,
            line,
            format!(
                "{}: new register at offset {:#x}, {} fields",
                w.path(),
                w.offset,
                n
            ),
        );
    }

    pub(super) fn plan_new_registers(&mut self, new: &[&WantReg<'a>]) {
        // Registers of existing containers; those of new blocks are written
        // with their block.
        let mut by_parent: BTreeMap<Vec<String>, Vec<&WantReg>> = BTreeMap::new();
        for w in new {
            by_parent.entry(w.blocks.clone()).or_default().push(w);
        }
        for (parent, mut regs) in by_parent {
            let exists = parent.is_empty() || self.block_of(&parent).is_some();
            if !exists {
                continue;
            }
            regs.sort_by_key(|w| w.offset);
            let Some(node) = self.container_node(&parent).cloned() else {
                self.internal(&format!("block {} not found in the YAML", parent.join(".")));
                continue;
            };
            let order = if parent.is_empty() {
                ROOT_ORDER
            } else {
                BLOCK_ORDER
            };
            let list = node.get("registers").cloned();
            for w in regs {
                self.report_new_register(w);
                let o = self.reg_origin(w);
                let y = self.register_y(w);
                let before = list.as_ref().and_then(|l| {
                    l.items().iter().position(|it| {
                        it.get("offset")
                            .and_then(Node::scalar)
                            .and_then(crate::tables::parse_number)
                            .is_some_and(|off| off > w.offset)
                    })
                });
                match &list {
                    Some(_) => self.list_op(
                        &node,
                        order,
                        "registers",
                        ItemOp::Insert(before, y, o.clone()),
                        &o,
                    ),
                    None => self.list_op(
                        &node,
                        order,
                        "registers",
                        ItemOp::Insert(None, y, o.clone()),
                        &o,
                    ),
                }
            }
        }
    }

    /// The YAML of a new block with its new registers and sub-blocks.
    pub(super) fn block_y(&mut self, b: &WantBlock, regs: &[WantReg<'a>]) -> Y {
        let name = b.path.last().cloned().unwrap_or_default();
        let mut es = vec![
            ("name".to_string(), Y::S(name)),
            ("offset".to_string(), hex(b.offset)),
        ];
        if let Some(c) = b.count {
            es.push(("count".into(), dec(c)));
        }
        if let Some(s) = b.stride {
            es.push(("stride".into(), hex(s)));
        }
        if !b.description.is_empty() {
            es.push(("description".into(), Y::S(yaml::string(&b.description))));
        }
        let mut mine: Vec<&WantReg> = regs
            .iter()
            .filter(|w| w.existing.is_none() && w.blocks == b.path)
            .collect();
        mine.sort_by_key(|w| w.offset);
        let mut items = Vec::new();
        for w in mine {
            self.report_new_register(w);
            items.push(self.register_y(w));
        }
        if !items.is_empty() {
            es.push(("registers".into(), Y::L(items)));
        }
        let children: Vec<WantBlock> = self
            .blocks
            .iter()
            .filter(|c| {
                !c.exists
                    && c.path.len() == b.path.len() + 1
                    && c.path[..b.path.len()] == b.path[..]
            })
            .cloned()
            .collect();
        let mut sub = Vec::new();
        for c in &children {
            self.change(
                Table::Blocks,
                c.row.line,
                format!("{}: new block", c.path.join(".")),
            );
            sub.push(self.block_y(c, regs));
        }
        if !sub.is_empty() {
            es.push(("blocks".into(), Y::L(sub)));
        }
        Y::At(self.block_origin(b.row), Box::new(Y::M(es)))
    }

    pub(super) fn plan_new_blocks(&mut self, regs: &[WantReg<'a>]) {
        let tops: Vec<WantBlock> = self
            .blocks
            .iter()
            .filter(|b| {
                !b.exists
                    && (b.path.len() == 1 || self.block_of(&b.path[..b.path.len() - 1]).is_some())
            })
            .cloned()
            .collect();
        for b in tops {
            let parent = b.path[..b.path.len() - 1].to_vec();
            let Some(node) = self.container_node(&parent).cloned() else {
                self.internal(&format!("block {} not found in the YAML", parent.join(".")));
                continue;
            };
            self.change(
                Table::Blocks,
                b.row.line,
                format!("{}: new block", b.path.join(".")),
            );
            let y = self.block_y(&b, regs);
            let o = self.block_origin(b.row);
            let order = if parent.is_empty() {
                ROOT_ORDER
            } else {
                BLOCK_ORDER
            };
            self.list_op(
                &node,
                order,
                "blocks",
                ItemOp::Insert(None, y, o.clone()),
                &o,
            );
        }
    }

    pub(super) fn plan_enums(&mut self) {
        let enums = self.enums.clone();
        for w in &enums {
            let name = w.name.clone();
            let first = w.values[0].3;
            let o = self.enum_origin(first);
            let Some(e) = self.dev.enum_by_name(&name) else {
                if self.inline_written.contains(&name) {
                    self.change(
                        Table::Enums,
                        first.line,
                        format!(
                            "enum {name}: new, {} values (inline in its field)",
                            w.values.len()
                        ),
                    );
                    continue;
                }
                self.change(
                    Table::Enums,
                    first.line,
                    format!("enum {name}: new, {} values", w.values.len()),
                );
                let y = Y::M(vec![
                    ("name".into(), Y::S(name.clone())),
                    ("values".into(), Y::L(self.enum_values_y(&name, None))),
                ]);
                let root = self.root.clone();
                self.list_op(
                    &root,
                    ROOT_ORDER,
                    "enums",
                    ItemOp::Insert(None, y, o.clone()),
                    &o,
                );
                continue;
            };
            // Report every value change.
            for (n, v, d, row) in &w.values {
                match e.values.iter().find(|x| &x.name == n) {
                    None => self.change(
                        Table::Enums,
                        row.line,
                        format!("enum {name}: new value {n} = {v:#x}"),
                    ),
                    Some(x) => {
                        if x.value != *v {
                            self.change(
                                Table::Enums,
                                row.line,
                                format!("enum {name}: {n} {:#x} -> {v:#x}", x.value),
                            );
                        }
                        if &x.description != d {
                            self.change(
                                Table::Enums,
                                row.line,
                                format!("enum {name}: {n} description changed"),
                            );
                        }
                    }
                }
            }
            for x in &e.values {
                if !w.values.iter().any(|(n, ..)| n == &x.name) {
                    self.change(
                        Table::Enums,
                        first.line,
                        format!("enum {name}: value {} removed (not in enums.csv)", x.name),
                    );
                }
            }
            if !self.enum_changed(&name) || self.inline_written.contains(&name) {
                continue;
            }
            // The list that holds the values: a shared enum's, or the field's.
            let node = if e.inline {
                self.inline_enum_field_node(&name)
            } else {
                self.root
                    .get("enums")
                    .and_then(|l| l.item_named(&name))
                    .map(|(_, n)| n.clone())
            };
            let Some(node) = node else {
                self.internal(&format!("enum {name} not found in the YAML"));
                continue;
            };
            let Some(list) = node.get("values").cloned() else {
                self.internal(&format!("enum {name} has no values list in the YAML"));
                continue;
            };
            for (k, (n, v, d, row)) in w.values.iter().enumerate() {
                let vo = self.enum_origin(row);
                // A new value goes before the next value of the table that the list has.
                let before = w.values[k + 1..]
                    .iter()
                    .find_map(|(m, ..)| list.item_named(m).map(|(i, _)| i));
                let mut es = vec![
                    ("name".to_string(), Y::S(n.clone())),
                    ("value".to_string(), if *v < 10 { dec(v) } else { hex(*v) }),
                ];
                if !d.is_empty() {
                    es.push(("description".into(), Y::S(yaml::string(d))));
                }
                let y = Y::M(es);
                match (e.values.iter().find(|x| &x.name == n), list.item_named(n)) {
                    (Some(x), Some((idx, _))) => {
                        if (x.value, &x.description) != (*v, d) {
                            self.list_op(
                                &node,
                                ENUM_ORDER,
                                "values",
                                ItemOp::Replace(idx, y, vo.clone()),
                                &vo,
                            );
                        }
                    }
                    _ => self.list_op(
                        &node,
                        ENUM_ORDER,
                        "values",
                        ItemOp::Insert(before, y, vo.clone()),
                        &vo,
                    ),
                }
            }
            for (idx, item) in list.items().iter().enumerate() {
                let n = item.get("name").and_then(Node::scalar).unwrap_or("");
                if !w.values.iter().any(|(x, ..)| x == n) {
                    self.list_op(
                        &node,
                        ENUM_ORDER,
                        "values",
                        ItemOp::Remove(idx, o.clone()),
                        &o,
                    );
                }
            }
        }
    }

    /// The field item whose inline `values:` define enum `name`.
    pub(super) fn inline_enum_field_node(&self, name: &str) -> Option<Node> {
        for r in self
            .dev
            .registers
            .iter()
            .filter(|r| r.alias.is_none() && r.fieldset.is_none())
        {
            if let Some(f) = r
                .fields
                .iter()
                .find(|f| f.enum_name.as_deref() == Some(name))
            {
                let node = self.register_node(&r.blocks, &r.name)?;
                return node
                    .get("fields")?
                    .item_named(&f.name)
                    .map(|(_, n)| n.clone());
            }
        }
        for fs in &self.dev.fieldsets {
            if let Some(f) = fs
                .fields
                .iter()
                .find(|f| f.enum_name.as_deref() == Some(name))
            {
                let node = self.root.get("fieldsets")?.item_named(&fs.name)?.1;
                return node
                    .get("fields")?
                    .item_named(&f.name)
                    .map(|(_, n)| n.clone());
            }
        }
        None
    }
}
