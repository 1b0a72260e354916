//! Enums, field layouts (fieldsets and the layouts registers declare) and
//! the registers themselves, with their alias kinds.

use std::collections::HashMap;

use regmap::model as m;
use regmap::Kind as DiagKind;
use regmap::Span;

use super::{alias_block, block_dims, LAYOUT_ITEMS};
use super::{masks_of, module_path, reg_doc, register_items, with_access, BlockDims, Cx, Scope};
use crate::doc;
use crate::ir::*;
use crate::names::{camel, ident, snake};

impl Cx<'_> {
    // ----- enums -----

    pub(super) fn enums(&mut self) -> Vec<Enum> {
        let mut scope = Scope::new("module `enums`");
        let mut out = Vec::new();
        for e in &self.dev.enums {
            let span = self.enum_span(&e.name);
            self.name(&e.name, "enum", span);
            let ty = camel(&e.name);
            scope.claim(self, &ty, &format!("enum `{}`", e.name), span);
            let mut values = Vec::new();
            for v in &e.values {
                self.name(&v.name, "enum value", span);
                let doc = if v.description.trim().is_empty() {
                    vec![format!("`{}`.", v.name)]
                } else {
                    doc::lines(&v.description)
                };
                values.push(EnumValue {
                    name: ident(&v.name),
                    value: v.value,
                    doc,
                });
            }
            let doc = if e.description.trim().is_empty() {
                vec![format!("Values of `{}`.", e.name)]
            } else {
                doc::lines(&e.description)
            };
            out.push(Enum {
                ty,
                spec: e.name.clone(),
                doc,
                values,
            });
        }
        out
    }

    /// Where an enum is used first (enums carry no span of their own).
    pub(super) fn enum_span(&self, name: &str) -> Span {
        let dev = self.dev;
        let reg_fields = dev.registers.iter().flat_map(|r| &r.fields);
        let fs_fields = dev.fieldsets.iter().flat_map(|f| &f.fields);
        reg_fields
            .chain(fs_fields)
            .find(|f| f.enum_name.as_deref() == Some(name))
            .map(|f| f.span)
            .or_else(|| {
                dev.structs
                    .iter()
                    .flat_map(|s| &s.fields)
                    .find(|f| f.enum_name.as_deref() == Some(name))
                    .map(|f| f.span)
            })
            .unwrap_or_default()
    }

    // ----- layouts -----

    pub(super) fn fields(
        &mut self,
        fields: &[m::Field],
        enums: &[Enum],
        owner: &str,
        reserved: &[&str],
    ) -> Vec<Field> {
        let mut consts = Scope::new(owner);
        for item in LAYOUT_ITEMS.iter().chain(reserved) {
            consts.reserve(item);
        }
        let mut out = Vec::new();
        for f in fields {
            self.name(&f.name, "field", f.span);
            let name = ident(&f.name);
            consts.claim(self, &name, &format!("field `{}`", f.name), f.span);
            let enum_ = f
                .enum_name
                .as_deref()
                .and_then(|n| self.enum_at.get(n).copied());
            let names_set_clear = enum_.is_some_and(|e| {
                enums[e]
                    .values
                    .iter()
                    .any(|v| v.name == "SET" || v.name == "CLEAR")
            });
            out.push(Field {
                name,
                spec: f.name.clone(),
                lsb: f.lsb,
                msb: f.msb,
                value_mask: f.value_mask(),
                access: f.access,
                reset: f.reset,
                enum_,
                doc: doc::lines(&f.description),
                set_clear: f.value_mask() == 1 && !names_set_clear,
            });
        }
        out
    }

    pub(super) fn fieldsets(&mut self, enums: &[Enum]) -> Vec<Layout> {
        let mut scope = Scope::new("module `fieldsets`");
        let mut out = Vec::new();
        for fs in &self.dev.fieldsets {
            let span = fs.fields.first().map(|f| f.span).unwrap_or_default();
            self.name(&fs.name, "fieldset", span);
            let module = ident(&fs.name);
            scope.claim(self, &module, &format!("fieldset `{}`", fs.name), span);
            let owner = format!("fieldset `{}`", fs.name);
            let fields = self.fields(&fs.fields, enums, &owner, &[]);
            out.push(Layout {
                name: fs.name.clone(),
                home: vec!["fieldsets".into(), module],
                width: fs.width,
                masks: masks_of(&fs.fields),
                fields,
                doc: doc::lines(&fs.description),
            });
        }
        out
    }

    // ----- registers -----

    pub(super) fn registers(&mut self, enums: &[Enum], layouts: &mut Vec<Layout>) -> Vec<Reg> {
        let dev = self.dev;
        let mut layout_of: Vec<Option<usize>> = vec![None; dev.registers.len()];
        // Layouts of registers with their own fields or a fieldset first;
        // aliases take their target's afterwards (a target may come later).
        for (i, r) in dev.registers.iter().enumerate() {
            if r.alias.is_some() {
                continue;
            }
            let l = match &r.fieldset {
                Some(fs) => self.fieldset_at.get(fs.as_str()).copied(),
                None => {
                    let owner = format!("the module of register `{}`", r.path());
                    let array = r.arrays.len() > r.blocks_with_arrays();
                    let reserved = register_items(array);
                    let fields = self.fields(&r.fields, enums, &owner, reserved);
                    layouts.push(Layout {
                        name: r.path(),
                        home: module_path(r),
                        width: r.width,
                        masks: masks_of(&r.fields),
                        fields,
                        doc: Vec::new(),
                    });
                    Some(layouts.len() - 1)
                }
            };
            layout_of[i] = l;
        }
        let mut regs = Vec::new();
        for (i, r) in dev.registers.iter().enumerate() {
            self.name(&r.name, "register", r.span);
            for b in &r.blocks {
                self.name(b, "block", r.span);
            }
            let target = r.alias.as_ref().map(|a| a.target);
            let l = match target {
                Some(t) if dev.registers.get(t).is_some_and(|t| t.alias.is_none()) => layout_of[t],
                Some(_) => {
                    self.err(
                        DiagKind::BadAlias,
                        r.span,
                        format!(
                            "alias `{}` must target a register that is not an alias",
                            r.path()
                        ),
                    );
                    None
                }
                None => layout_of[i],
            };
            let Some(layout) = l else {
                if target.is_none() {
                    self.err(
                        DiagKind::UnknownReference,
                        r.span,
                        format!("register `{}` has no field layout", r.path()),
                    );
                }
                continue;
            };
            let masks = masks_of(&r.fields);
            if with_access(layouts[layout].masks, r.access) != masks
                || layouts[layout].width != r.width
            {
                self.err(
                    DiagKind::BadAlias,
                    r.span,
                    format!(
                        "register `{}` does not have the fields of its layout `{}`",
                        r.path(),
                        layouts[layout].name
                    ),
                );
            }
            let own = target.is_none() && r.fieldset.is_none();
            regs.push(Reg {
                model: i,
                path: r.path(),
                blocks: r.blocks.clone(),
                module: module_path(r),
                method: snake(&r.name),
                offset: r.offset,
                rel_offset: r.offset,
                width: r.width,
                access: r.access,
                reset: r.reset & r.width.mask(),
                layout,
                masks,
                layout_use: if own {
                    LayoutUse::Own
                } else {
                    LayoutUse::Reexport
                },
                array: r
                    .arrays
                    .last()
                    .filter(|d| d.name == r.name && r.arrays.len() > r.blocks_with_arrays())
                    .map(|d| (d.count, d.stride)),
                dims: r
                    .arrays
                    .iter()
                    .map(|a| Dim {
                        name: a.name.clone(),
                        count: a.count,
                        stride: a.stride,
                    })
                    .collect(),
                kind: Kind::Plain,
                slot: usize::MAX,
                on_write: None,
                on_read: None,
                doc: reg_doc(r),
                alias_doc: r.alias.as_ref().map(|a| {
                    let hook = a
                        .index_map
                        .as_ref()
                        .map(|h| format!(" (element chosen by hook `{h}`)"))
                        .unwrap_or_default();
                    format!("Alias of `{}`{hook}.", a.target_path)
                }),
                span: r.span,
            });
        }
        // Alias kinds, now that every register has its IR index.
        let ir_of: HashMap<usize, usize> =
            regs.iter().enumerate().map(|(k, r)| (r.model, k)).collect();
        for reg in regs.iter_mut() {
            let r = &dev.registers[reg.model];
            let Some(a) = &r.alias else { continue };
            let Some(&target) = ir_of.get(&a.target) else {
                continue;
            };
            reg.kind = match &a.index_map {
                None => Kind::Alias { target },
                Some(h) => match self.mapped(r, &dev.registers[a.target], h) {
                    Some((outer, target_outer)) => Kind::Mapped {
                        target,
                        hook: usize::MAX, // set once hooks are numbered
                        outer,
                        target_outer,
                    },
                    None => continue,
                },
            };
        }
        regs
    }

    /// (outer, target_outer) of an index-mapped alias register `r` of `t`.
    pub(super) fn mapped(
        &mut self,
        r: &m::Register,
        t: &m::Register,
        hook: &str,
    ) -> Option<(usize, usize)> {
        let ab = alias_block(&self.dev.blocks, &r.blocks);
        let tpath: Vec<&str> = ab
            .and_then(|b| b.alias.as_deref())
            .map(|p| p.split('.').collect())
            .unwrap_or_default();
        let Some(target_outer) = block_dims(&self.dev.blocks, &tpath) else {
            let msg = format!(
                "cannot find the target block of alias `{}` (hook `{hook}`)",
                r.path()
            );
            self.err(DiagKind::BadAlias, r.span, msg);
            return None;
        };
        let inner = t.arrays.len().saturating_sub(target_outer);
        let Some(outer) = r.arrays.len().checked_sub(inner) else {
            let msg = format!("alias `{}` has fewer indices than its target", r.path());
            self.err(DiagKind::BadAlias, r.span, msg);
            return None;
        };
        Some((outer, target_outer))
    }
}
