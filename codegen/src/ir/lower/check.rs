//! The namespaces of the accessors: the crate root, block modules and
//! handles, and the items re-exported layouts bring into register modules.

use regmap::Kind as DiagKind;
use regmap::Span;

use super::{first_span, register_items, Cx, Scope, HANDLE_METHODS, RESERVED};
use crate::ir::*;

impl Cx<'_> {
    // ----- module namespaces -----

    /// Every module of the accessors: register and block modules, handle
    /// types and the fixed items of the root, block handles' methods.
    pub(super) fn check_modules(&mut self, ir: &Ir) {
        let mut root = Scope::new("the crate root");
        // `M` is the handles' MMIO type parameter: a root module or type of
        // that name would be shadowed by it inside their impls.
        for item in ["fieldsets", "enums", "structs", "regfile", "M"] {
            root.reserve(item);
        }
        root.claim(
            self,
            &ir.root_ty,
            "the device's handle type",
            Span::default(),
        );
        let mut root_methods = Scope::new(&format!("the methods of `{}`", ir.root_ty));
        for m in HANDLE_METHODS {
            root_methods.reserve(m);
        }
        for &k in &ir.root_regs {
            let r = &ir.regs[k];
            let who = format!("register `{}`", r.path);
            root.claim(
                self,
                r.module.last().map_or("", String::as_str),
                &who,
                r.span,
            );
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

    pub(super) fn check_block(&mut self, ir: &Ir, b: &Block, types: &mut Scope) {
        let span = first_span(ir, b);
        types.claim(
            self,
            &b.ty,
            &format!("the handle type of block `{}`", b.path),
            span,
        );
        let mut module = Scope::new(&format!("module `{}`", b.path));
        let mut methods = Scope::new(&format!("the methods of `{}`", b.ty));
        for m in HANDLE_METHODS {
            methods.reserve(m);
        }
        for &k in &b.regs {
            let r = &ir.regs[k];
            let who = format!("register `{}`", r.path);
            module.claim(
                self,
                r.module.last().map_or("", String::as_str),
                &who,
                r.span,
            );
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
