//! Lowering: the validated model to the IR, once per map. Chooses every
//! Rust name, checks that no two generated items in one namespace get the
//! same one (a located diagnostic otherwise), computes masks, layouts,
//! storage slots, hook roles and the decode tree.

use std::collections::HashMap;

use regmap::model::{self as m, Access, Device};
use regmap::{Diagnostic, Kind as DiagKind, Span};

use super::*;
use crate::doc;
use crate::names::{camel, ident, is_identifier, snake, upper};

/// Items every layout's module defines; a field with one of these names
/// would collide with it.
const LAYOUT_ITEMS: &[&str] = &["MASKS", "Register", "Fld", "Fv", "Value"];

/// Items a register module defines besides its layout's (`COUNT` and
/// `STRIDE` only for a register array); a field of that name would collide
/// with it, or, re-exported from a fieldset, be hidden by it.
fn register_items(array: bool) -> &'static [&'static str] {
    if array {
        &["OFFSET", "WIDTH", "RESET", "COUNT", "STRIDE"]
    } else {
        &["OFFSET", "WIDTH", "RESET"]
    }
}

/// Who holds a reserved name.
const RESERVED: &str = "an item the generator emits";

/// Methods of the generated `RegFile` that register accessors must not take.
const REGFILE_METHODS: &[&str] = &[
    "new",
    "reset",
    "read",
    "write",
    "read_with",
    "write_with",
    "get",
    "set",
    "read_bytes",
    "write_bytes",
];

/// Names a block handle defines besides its accessors.
const HANDLE_METHODS: &[&str] = &["new", "mmio", "window"];

/// Items of a structure's `impl` besides its field constants.
const STRUCT_ITEMS: &[&str] = &["FIELDS", "SIZE_BYTES", "new"];

/// Lowers `dev`, or returns every problem that keeps it from becoming Rust.
pub fn lower(dev: &Device) -> Result<Ir, Vec<Diagnostic>> {
    let mut cx = Cx {
        dev,
        diags: Vec::new(),
    };
    let ir = cx.run();
    if cx.diags.is_empty() {
        Ok(ir)
    } else {
        cx.diags.sort_by_key(|d| d.span);
        cx.diags.dedup();
        Err(cx.diags)
    }
}

struct Cx<'d> {
    dev: &'d Device,
    diags: Vec<Diagnostic>,
}

/// One namespace of generated items: the first claim of a name wins, a
/// second is reported where it was declared.
struct Scope {
    what: String,
    seen: HashMap<String, (String, Span)>,
}

impl Scope {
    fn new(what: &str) -> Self {
        Scope {
            what: what.to_string(),
            seen: HashMap::new(),
        }
    }

    /// Claims `name` for `who` (declared at `span`).
    fn claim(&mut self, cx: &mut Cx<'_>, name: &str, who: &str, span: Span) {
        if let Some((first, at)) = self.seen.get(name) {
            let msg = if first == RESERVED {
                format!(
                    "{who} would be generated as `{name}` in {}, where the generator already emits an item of that name: rename it",
                    self.what
                )
            } else {
                format!(
                    "{who} would be generated as `{name}` in {}, which {first} (line {}) already is: rename one",
                    self.what, at.line
                )
            };
            cx.err(DiagKind::Duplicate, span, msg);
        } else {
            self.seen.insert(name.to_string(), (who.to_string(), span));
        }
    }

    /// Reserves `name` for an item the generator always emits.
    fn reserve(&mut self, name: &str) {
        self.seen
            .insert(name.to_string(), (RESERVED.into(), Span::default()));
    }
}

impl Cx<'_> {
    fn err(&mut self, kind: DiagKind, span: Span, msg: String) {
        self.diags.push(Diagnostic::new(kind, span, msg));
    }

    /// Checks a map name the generator turns into an identifier.
    fn name(&mut self, name: &str, what: &str, span: Span) {
        if !is_identifier(name) {
            self.err(
                DiagKind::BadName,
                span,
                format!("{what} `{name}` is not an identifier: expected letters, digits and `_`"),
            );
        }
    }

    fn run(&mut self) -> Ir {
        let dev = self.dev;
        self.name(&dev.name, "the device name", Span::default());
        let enums = self.enums();
        let mut layouts = self.fieldsets(&enums);
        let mut regs = self.registers(&enums, &mut layouts);
        let blocks = self.blocks(&mut regs);
        let root_regs: Vec<usize> = (0..regs.len())
            .filter(|&i| regs[i].blocks.is_empty())
            .collect();
        let hooks = self.hooks(&mut regs);
        let slots = self.storage(&mut regs);
        let structs = self.structs();
        let mut ir = Ir {
            device: dev.name.clone(),
            root_ty: camel(&dev.name),
            doc: doc::lines(&dev.description),
            windows: dev.windows.iter().map(|w| (w.offset, w.size)).collect(),
            layouts,
            regs,
            root_regs,
            blocks,
            slots,
            decode: Node::default(),
            hooks,
            enums,
            structs,
        };
        ir.decode = super::decode::build(&ir);
        self.check_modules(&ir);
        ir
    }

    // ----- enums -----

    fn enums(&mut self) -> Vec<Enum> {
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
    fn enum_span(&self, name: &str) -> Span {
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

    fn fields(
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
                .and_then(|n| self.dev.enums.iter().position(|e| e.name == n));
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

    fn fieldsets(&mut self, enums: &[Enum]) -> Vec<Layout> {
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

    fn registers(&mut self, enums: &[Enum], layouts: &mut Vec<Layout>) -> Vec<Reg> {
        let dev = self.dev;
        let mut layout_of: Vec<Option<usize>> = vec![None; dev.registers.len()];
        // Layouts of registers with their own fields or a fieldset first;
        // aliases take their target's afterwards (a target may come later).
        for (i, r) in dev.registers.iter().enumerate() {
            if r.alias.is_some() {
                continue;
            }
            let l = match &r.fieldset {
                Some(fs) => dev.fieldsets.iter().position(|f| &f.name == fs),
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
                        format!("alias `{}` must target a register that is not an alias", r.path()),
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
            if with_access(layouts[layout].masks, r.access) != masks || layouts[layout].width != r.width {
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
        let ir_of: HashMap<usize, usize> = regs.iter().enumerate().map(|(k, r)| (r.model, k)).collect();
        for k in 0..regs.len() {
            let r = &dev.registers[regs[k].model];
            let Some(a) = &r.alias else { continue };
            let Some(&target) = ir_of.get(&a.target) else {
                continue;
            };
            regs[k].kind = match &a.index_map {
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
    fn mapped(&mut self, r: &m::Register, t: &m::Register, hook: &str) -> Option<(usize, usize)> {
        let ab = alias_block(&self.dev.blocks, &r.blocks);
        let tpath: Vec<&str> = ab
            .and_then(|b| b.alias.as_deref())
            .map(|p| p.split('.').collect())
            .unwrap_or_default();
        let Some(target_outer) = block_dims(&self.dev.blocks, &tpath) else {
            let msg = format!("cannot find the target block of alias `{}` (hook `{hook}`)", r.path());
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

    // ----- blocks -----

    fn blocks(&mut self, regs: &mut [Reg]) -> Vec<Block> {
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

    fn hooks(&mut self, regs: &mut [Reg]) -> Vec<Hook> {
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
            let methods = [&h.write.as_ref().map(|w| &w.0), &h.read.as_ref(), &h.map.as_ref().map(|m| &m.0)];
            for m in methods.into_iter().flatten() {
                scope.claim(self, m, &format!("a method of hook `{}`", h.name), span);
            }
        }
        out
    }

    // ----- storage and decode targets -----

    fn storage(&mut self, regs: &mut [Reg]) -> Vec<Slot> {
        let mut fields = Scope::new("the register file's storage");
        let mut methods = Scope::new("the methods of `RegFile`");
        let mut variants = Scope::new("enum `Reg`");
        for m in REGFILE_METHODS {
            methods.reserve(m);
        }
        let mut slots = Vec::new();
        for k in 0..regs.len() {
            if regs[k].kind != Kind::Plain {
                continue;
            }
            let r = &regs[k];
            let field = snake(&r.path);
            let variant = upper(&r.path);
            let getter = if REGFILE_METHODS.contains(&field.as_str()) {
                format!("{field}_reg")
            } else {
                field.clone()
            };
            let who = format!("register `{}`", r.path);
            fields.claim(self, &field, &who, r.span);
            variants.claim(self, &variant, &who, r.span);
            let slot = Slot {
                reg: k,
                setter: format!("set_{field}"),
                updater: format!("update_{field}"),
                params: index_params(&r.dims),
                field,
                variant,
                getter,
            };
            for m in [&slot.getter, &slot.setter, &slot.updater] {
                methods.claim(self, m, &who, r.span);
            }
            regs[k].slot = slots.len();
            slots.push(slot);
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

    // ----- structures -----

    fn structs(&mut self) -> Vec<Struct> {
        let dev = self.dev;
        let mut scope = Scope::new("module `structs`");
        scope.reserve("Words");
        let mut out = Vec::new();
        for s in &dev.structs {
            self.name(&s.name, "structure", s.span);
            let ty = camel(&s.name);
            let who = format!("structure `{}`", s.name);
            scope.claim(self, &ty, &who, s.span);
            let is_root = s.extends.is_none()
                && dev
                    .structs
                    .iter()
                    .any(|o| o.extends.as_deref() == Some(&s.name));
            if is_root {
                scope.claim(self, &format!("{ty}Batch"), &who, s.span);
            }
            let mut items = Scope::new("a structure's `impl`");
            for item in STRUCT_ITEMS {
                items.reserve(item);
            }
            let mut fields = Vec::new();
            for f in &s.fields {
                self.name(&f.name, "structure field", f.span);
                let name = ident(&f.name);
                items.claim(self, &name, &format!("field `{}.{}`", s.name, f.name), f.span);
                let text = doc::lines(&f.description).join(" ");
                let what = if text.is_empty() { f.name.clone() } else { text };
                fields.push(StructField {
                    doc: format!(
                        "{} (word {}, bits {}:{}).",
                        what.trim_end_matches('.'),
                        f.word,
                        f.msb,
                        f.lsb
                    ),
                    name,
                    spec: f.name.clone(),
                    word: f.word,
                    lsb: f.lsb,
                    msb: f.msb,
                    value_mask: f.value_mask(),
                    enum_: f
                        .enum_name
                        .as_deref()
                        .and_then(|n| dev.enums.iter().position(|e| e.name == n)),
                });
            }
            let mut fixed = vec![0u64; s.words()];
            for (name, v) in &s.fixed {
                if let Some(f) = s.fields.iter().find(|f| &f.name == name) {
                    if let Some(w) = fixed.get_mut(f.word as usize) {
                        *w |= (v & f.value_mask()) << f.lsb;
                    }
                }
            }
            let mut ancestors: Vec<String> = Vec::new();
            let mut cur = s.extends.as_deref();
            while let Some(b) = cur {
                if ancestors.iter().any(|a| *a == camel(b)) || ancestors.len() > dev.structs.len() {
                    break;
                }
                ancestors.push(camel(b));
                cur = dev.struct_by_name(b).and_then(|p| p.extends.as_deref());
            }
            let doc = if s.description.trim().is_empty() {
                vec![s.name.clone()]
            } else {
                doc::lines(&s.description)
            };
            out.push(Struct {
                ty,
                doc,
                size: s.size,
                fields,
                fixed,
                ancestors,
            });
        }
        out
    }

    // ----- module namespaces -----

    /// Every module of the accessors: register and block modules, handle
    /// types and the fixed items of the root, block handles' methods.
    fn check_modules(&mut self, ir: &Ir) {
        let mut root = Scope::new("the crate root");
        for item in ["fieldsets", "enums", "structs", "regfile"] {
            root.reserve(item);
        }
        root.claim(self, &ir.root_ty, "the device's handle type", Span::default());
        let mut root_methods = Scope::new(&format!("the methods of `{}`", ir.root_ty));
        for m in HANDLE_METHODS {
            root_methods.reserve(m);
        }
        for &k in &ir.root_regs {
            let r = &ir.regs[k];
            let who = format!("register `{}`", r.path);
            root.claim(self, r.module.last().map_or("", String::as_str), &who, r.span);
            root_methods.claim(self, &r.method, &who, r.span);
        }
        let mut types = Scope::new("the crate root's types");
        types.reserve(&ir.root_ty);
        for b in &ir.blocks {
            let span = first_span(ir, b);
            let who = format!("block `{}`", b.path);
            root.claim(self, &b.module, &who, span);
            root_methods.claim(self, &b.method, &who, span);
            self.check_block(ir, b, &mut types);
        }
        // Handle types share the root's type namespace with its modules.
        for (name, (who, span)) in types.seen {
            if who != RESERVED {
                root.claim(self, &name, &who, span);
            }
        }
        // Fields of layouts re-exported into register modules are shadowed
        // by the module's own items.
        for r in &ir.regs {
            if r.layout_use == LayoutUse::Reexport {
                for f in &ir.layouts[r.layout].fields {
                    if register_items(r.array.is_some()).contains(&f.name.as_str()) {
                        let msg = format!(
                            "field `{}` of `{}` would be hidden by the item of that name in the module of register `{}`",
                            f.spec, ir.layouts[r.layout].name, r.path
                        );
                        self.err(DiagKind::Duplicate, r.span, msg);
                    }
                }
            }
        }
    }

    fn check_block(&mut self, ir: &Ir, b: &Block, types: &mut Scope) {
        let span = first_span(ir, b);
        types.claim(self, &b.ty, &format!("the handle type of block `{}`", b.path), span);
        let mut module = Scope::new(&format!("module `{}`", b.path));
        let mut methods = Scope::new(&format!("the methods of `{}`", b.ty));
        for m in HANDLE_METHODS {
            methods.reserve(m);
        }
        for &k in &b.regs {
            let r = &ir.regs[k];
            let who = format!("register `{}`", r.path);
            module.claim(self, r.module.last().map_or("", String::as_str), &who, r.span);
            methods.claim(self, &r.method, &who, r.span);
        }
        for c in &b.children {
            let who = format!("block `{}`", c.path);
            let cspan = first_span(ir, c);
            module.claim(self, &c.module, &who, cspan);
            methods.claim(self, &c.method, &who, cspan);
            self.check_block(ir, c, types);
        }
    }
}

/// The span of the first register in `b` or its nested blocks.
fn first_span(ir: &Ir, b: &Block) -> Span {
    b.regs
        .iter()
        .map(|&k| ir.regs[k].span)
        .chain(b.children.iter().map(|c| first_span(ir, c)))
        .find(|s| *s != Span::default())
        .unwrap_or_default()
}

/// Masks of `fields` per access kind, in `Access::ALL` order.
fn masks_of(fields: &[m::Field]) -> [u64; 10] {
    let mut out = [0u64; 10];
    for (slot, a) in out.iter_mut().zip(Access::ALL) {
        *slot = fields
            .iter()
            .filter(|f| f.access == a)
            .fold(0, |m, f| m | f.mask());
    }
    out
}

/// `masks` in a register of access `a`: `rw` bits follow a read-only or
/// write-only register (FORMAT.md: fieldset fields follow the register),
/// as `regmap_rt::Masks::with_access` computes it at run time.
pub fn with_access(masks: [u64; 10], a: m::RegAccess) -> [u64; 10] {
    let pos = |k: Access| Access::ALL.iter().position(|x| *x == k).unwrap_or(0);
    let mut out = masks;
    let to = match a {
        m::RegAccess::Rw => return out,
        m::RegAccess::Ro => pos(Access::Ro),
        m::RegAccess::Wo => pos(Access::Wo),
    };
    out[to] |= out[pos(Access::Rw)];
    out[pos(Access::Rw)] = 0;
    out
}

fn module_path(r: &m::Register) -> Vec<String> {
    r.blocks
        .iter()
        .map(|b| ident(b))
        .chain(std::iter::once(ident(&r.name)))
        .collect()
}

fn reg_doc(r: &m::Register) -> Vec<String> {
    let d = doc::lines(&r.description);
    if d.is_empty() {
        vec![format!("`{}`.", r.path())]
    } else {
        d
    }
}

/// Names of the index parameters of a slot's typed accessors, from its
/// dimension names (unique, never a parameter the accessors also take).
fn index_params(dims: &[Dim]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, d) in dims.iter().enumerate() {
        let mut n = snake(&d.name);
        if ["value", "clear", "set", "self_"].contains(&n.as_str()) || out.contains(&n) {
            n = format!("{n}_{k}");
        }
        out.push(n);
    }
    out
}

/// The block at dotted `path` (`Q`, `VINTF.LVCMDQ`).
fn find_block<'a>(blocks: &'a [m::Block], path: &str) -> Option<&'a m::Block> {
    let mut level = blocks;
    let mut found = None;
    for name in path.split('.') {
        let b = level.iter().find(|b| b.name == name)?;
        level = &b.blocks;
        found = Some(b);
    }
    found
}

/// Number of array dimensions contributed by the blocks along `path`.
fn block_dims(blocks: &[m::Block], path: &[&str]) -> Option<usize> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter().find(|b| b.name == *first)?;
    let here = usize::from(b.count > 1);
    if rest.is_empty() {
        Some(here)
    } else {
        Some(here + block_dims(&b.blocks, rest)?)
    }
}

/// The alias block an index-mapped alias register was expanded from: the
/// first block along the register's path that declares an alias.
fn alias_block<'a>(blocks: &'a [m::Block], path: &[String]) -> Option<&'a m::Block> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter().find(|b| &b.name == first)?;
    if b.alias.is_some() {
        Some(b)
    } else {
        alias_block(&b.blocks, rest)
    }
}

/// Counting the block dimensions of a register, to tell its own array
/// dimension from its blocks'.
trait BlockDims {
    fn blocks_with_arrays(&self) -> usize;
}

impl BlockDims for m::Register {
    /// The number of `arrays` entries that belong to enclosing blocks: the
    /// dimensions named after one of its blocks, in order.
    fn blocks_with_arrays(&self) -> usize {
        let mut p = 0;
        let mut n = 0;
        for a in &self.arrays {
            if let Some(q) = self.blocks[p.min(self.blocks.len())..]
                .iter()
                .position(|b| *b == a.name)
            {
                p += q + 1;
                n += 1;
            } else {
                break;
            }
        }
        n
    }
}
