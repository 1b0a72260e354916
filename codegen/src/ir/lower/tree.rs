//! The block tree (alias blocks mirror their target's nested blocks),
//! hook roles and the register storage.

use std::collections::HashMap;

use regmap::model::{self as m, Device};
use regmap::Kind as DiagKind;

use super::{find_block, index_params, Cx, Scope, REGFILE_METHODS};
use crate::doc;
use crate::ir::*;
use crate::names::{camel, ident, snake, upper};

impl Cx<'_> {
    // ----- blocks -----

    pub(super) fn blocks(&mut self, regs: &mut [Reg]) -> Vec<Block> {
        let dev = self.dev;
        let mut by_path: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
        for (k, r) in regs.iter().enumerate() {
            by_path.entry(r.blocks.clone()).or_default().push(k);
        }
        /// One block: `shape` gives its nested blocks (an alias block takes
        /// its target's, whose registers it mirrors under its own path).
        fn walk(
            dev: &Device,
            b: &m::Block,
            shape: &m::Block,
            parent_abs: u64,
            parent: &[String],
            regs: &mut [Reg],
            by_path: &HashMap<Vec<String>, Vec<usize>>,
        ) -> Block {
            let abs = parent_abs.saturating_add(b.offset);
            let mut names = parent.to_vec();
            names.push(b.name.clone());
            let own = by_path.get(&names).cloned().unwrap_or_default();
            for &k in &own {
                regs[k].rel_offset = regs[k].offset.saturating_sub(abs);
            }
            let shape = match &shape.alias {
                Some(target) => find_block(&dev.blocks, target).unwrap_or(shape),
                None => shape,
            };
            let children = shape
                .blocks
                .iter()
                .map(|c| walk(dev, c, c, abs, &names, regs, by_path))
                .collect();
            let doc = if b.description.trim().is_empty() {
                vec![format!("Block `{}`.", names.join("."))]
            } else {
                doc::lines(&b.description)
            };
            // A handle type may not take the name of the block's module
            // (one type namespace): `Q` gets `QBlock`.
            let module = ident(&b.name);
            let mut ty = camel(&names.join("_"));
            if ty == module {
                ty.push_str("Block");
            }
            Block {
                module,
                path: names.join("."),
                ty,
                method: snake(&b.name),
                rel_offset: b.offset,
                offset: abs,
                count: b.count,
                stride: b.stride,
                regs: own,
                children,
                doc,
            }
        }
        dev.blocks
            .iter()
            .map(|b| walk(dev, b, b, 0, &[], regs, &by_path))
            .collect()
    }

    // ----- hooks -----

    pub(super) fn hooks(&mut self, regs: &mut [Reg]) -> Vec<Hook> {
        let dev = self.dev;
        let mut out = Vec::new();
        for h in &dev.hooks {
            let users = |f: &dyn Fn(&m::Register) -> Option<&String>| -> Vec<usize> {
                (0..regs.len())
                    .filter(|&k| f(&dev.registers[regs[k].model]).is_some_and(|n| *n == h.name))
                    .collect()
            };
            let writers = users(&|r| r.on_write.as_ref());
            let readers = users(&|r| r.on_read.as_ref());
            let mappers: Vec<usize> = (0..regs.len())
                .filter(|&k| {
                    matches!(regs[k].kind, Kind::Mapped { .. })
                        && dev.registers[regs[k].model]
                            .alias
                            .as_ref()
                            .and_then(|a| a.index_map.as_ref())
                            == Some(&h.name)
                })
                .collect();
            let roles = usize::from(!writers.is_empty())
                + usize::from(!readers.is_empty())
                + usize::from(!mappers.is_empty());
            if roles == 0 {
                // Declared but unused: no register calls it, so no method.
                continue;
            }
            let span = writers
                .iter()
                .chain(&readers)
                .chain(&mappers)
                .map(|&k| regs[k].span)
                .min()
                .unwrap_or_default();
            self.name(&h.name, "hook", span);
            let base = snake(&h.name);
            let method = |suffix: &str| {
                if roles > 1 {
                    format!("{base}_{suffix}")
                } else {
                    base.clone()
                }
            };
            let write = match writers.first() {
                None => None,
                Some(&first) => {
                    let layout = regs[first].layout;
                    for &k in &writers[1..] {
                        if regs[k].layout != layout {
                            let msg = format!(
                                "hook `{}` is the write hook of `{}` and `{}`, whose field layouts differ, \
                                 so it cannot be given one value type: give them one fieldset or separate hooks",
                                h.name, regs[first].path, regs[k].path
                            );
                            self.err(DiagKind::UnknownReference, regs[k].span, msg);
                        }
                    }
                    Some((method("on_write"), layout))
                }
            };
            let map = match mappers.first() {
                None => None,
                Some(&first) => {
                    let t = |k: usize| match regs[k].kind {
                        Kind::Mapped { target_outer, .. } => target_outer,
                        _ => 0,
                    };
                    for &k in &mappers[1..] {
                        if t(k) != t(first) {
                            let msg = format!(
                                "index_map hook `{}` maps to targets with different numbers of indices (`{}`, `{}`)",
                                h.name, regs[first].path, regs[k].path
                            );
                            self.err(DiagKind::BadAlias, regs[k].span, msg);
                        }
                    }
                    Some((method("index_map"), t(first)))
                }
            };
            let hook = out.len();
            for &k in &writers {
                regs[k].on_write = Some(hook);
            }
            for &k in &readers {
                regs[k].on_read = Some(hook);
            }
            for &k in &mappers {
                if let Kind::Mapped { hook: slot, .. } = &mut regs[k].kind {
                    *slot = hook;
                }
            }
            out.push(Hook {
                name: h.name.clone(),
                doc: doc::lines(&h.description),
                write,
                read: (!readers.is_empty()).then(|| method("on_read")),
                map,
            });
        }
        let mut scope = Scope::new("trait `Hooks`");
        for h in &out {
            let span = regs
                .iter()
                .find(|r| r.on_write.is_some_and(|k| out[k].name == h.name))
                .map(|r| r.span)
                .unwrap_or_default();
            let methods = [
                &h.write.as_ref().map(|w| &w.0),
                &h.read.as_ref(),
                &h.map.as_ref().map(|m| &m.0),
            ];
            for m in methods.into_iter().flatten() {
                scope.claim(self, m, &format!("a method of hook `{}`", h.name), span);
            }
        }
        out
    }

    // ----- storage and decode targets -----

    pub(super) fn storage(&mut self, regs: &mut [Reg]) -> Vec<Slot> {
        let mut fields = Scope::new("the register file's storage");
        let mut methods = Scope::new("the methods of `RegFile`");
        let mut variants = Scope::new("enum `Reg`");
        for m in REGFILE_METHODS {
            methods.reserve(m);
        }
        let mut slots = Vec::new();
        for (k, r) in regs.iter().enumerate() {
            if r.kind != Kind::Plain {
                continue;
            }
            let field = snake(&r.path);
            let variant = upper(&r.path);
            let getter = if REGFILE_METHODS.contains(&field.as_str()) {
                format!("{field}_reg")
            } else {
                field.clone()
            };
            let who = format!("register `{}`", r.path);
            // One diagnostic per clash: the other names derive from this one.
            let fresh = fields.claim(self, &field, &who, r.span);
            if fresh {
                variants.claim(self, &variant, &who, r.span);
            }
            let slot = Slot {
                reg: k,
                setter: format!("set_{field}"),
                updater: format!("update_{field}"),
                params: index_params(&r.dims),
                field,
                variant,
                getter,
            };
            if fresh {
                for m in [&slot.getter, &slot.setter, &slot.updater] {
                    methods.claim(self, m, &who, r.span);
                }
            }
            slots.push(slot);
        }
        for (n, s) in slots.iter().enumerate() {
            regs[s.reg].slot = n;
        }
        for k in 0..regs.len() {
            // Aliases use their target's storage and hooks.
            if let Kind::Alias { target } | Kind::Mapped { target, .. } = regs[k].kind {
                regs[k].slot = regs[target].slot;
                regs[k].on_write = regs[target].on_write;
                regs[k].on_read = regs[target].on_read;
            }
        }
        slots
    }
}
