//! The fast printer ([`codegen::format::format_tokens`]) against
//! prettyplease on every file generated from every shipped map: the output
//! must parse, and prettyplease must render it exactly as it renders the
//! original tokens (so no token was joined, split or lost).

use std::path::Path;

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

/// Splits every multi-line `#[doc = ".."]` into one attribute per line, the
/// way the printer writes it as `///` lines (same documentation; prettyplease
/// would otherwise print the original as a `/** */` block).
fn split_docs(ts: TokenStream) -> TokenStream {
    let toks: Vec<TokenTree> = ts.into_iter().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) = (&toks[i], toks.get(i + 1)) {
            if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket {
                if let Ok(syn::Meta::NameValue(nv)) = syn::parse2::<syn::Meta>(g.stream()) {
                    if let syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) = &nv.value
                    {
                        if nv.path.is_ident("doc") && s.value().contains('\n') {
                            for line in s.value().split('\n') {
                                out.extend(quote::quote!(#[doc = #line]));
                            }
                            i += 2;
                            continue;
                        }
                    }
                }
            }
        }
        out.push(match &toks[i] {
            TokenTree::Group(g) => {
                let mut n = Group::new(g.delimiter(), split_docs(g.stream()));
                n.set_span(g.span());
                TokenTree::Group(n)
            }
            t => t.clone(),
        });
        i += 1;
    }
    out.into_iter().collect()
}

fn check(map: &str, krate: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(map);
    let dev = regmap::load_file(&path).unwrap_or_else(|d| panic!("{}", d.render()));
    let low = codegen::lower::lower(&dev);
    let regs = codegen::emit_regs::emit(&low, &dev);
    let enums = codegen::emit_regs::enums(&dev);
    let structs = codegen::emit_structs::emit(&dev);
    let files = [
        ("accessors", quote::quote!(#regs #enums #structs)),
        ("regfile", codegen::dispatch::emit_regfile(&dev)),
    ];
    for (name, tokens) in files {
        let ours = codegen::format::format_tokens(tokens.clone());
        syn::parse_file(&ours).unwrap_or_else(|e| {
            let dump = std::env::temp_dir().join(format!("{krate}-{name}.rs"));
            let _ = std::fs::write(&dump, &ours);
            panic!(
                "{map} {name}: printed code does not parse: {e} (written to {})",
                dump.display()
            )
        });
        let printed: TokenStream = ours.parse().expect("printed code lexes");
        if let Err(at) = same_tokens(&printed, &split_docs(tokens), &mut 0) {
            panic!("{map} {name}: printing changed token {at}")
        }
        // Readable: nothing absurdly long, everything indented by blocks.
        let longest = ours.lines().map(str::len).max().unwrap_or(0);
        assert!(longest < 400, "{map} {name}: a {longest}-column line");
    }
    // The test files are printed as text directly; they must still parse.
    for (name, text) in [
        ("field_tests", codegen::emit_tests::emit(&low, &dev, krate)),
        ("regfile_tests", codegen::dispatch::emit_regfile_tests(&dev)),
    ] {
        if let Err(e) = syn::parse_file(&text) {
            panic!("{map}: generated {name} do not parse: {e}");
        }
    }
}

/// Whether two streams hold the same tokens (spacing and spans aside;
/// string literals by value, since `///` lexes as a raw string).
fn same_tokens(a: &TokenStream, b: &TokenStream, n: &mut usize) -> Result<(), String> {
    let (a, b): (Vec<TokenTree>, Vec<TokenTree>) = (
        a.clone().into_iter().collect(),
        b.clone().into_iter().collect(),
    );
    for (x, y) in a.iter().zip(&b) {
        *n += 1;
        let same = match (x, y) {
            (TokenTree::Ident(x), TokenTree::Ident(y)) => x == y,
            (TokenTree::Punct(x), TokenTree::Punct(y)) => x.as_char() == y.as_char(),
            (TokenTree::Literal(x), TokenTree::Literal(y)) => {
                let value = |l: &proc_macro2::Literal| {
                    syn::parse_str::<syn::LitStr>(&l.to_string())
                        .map(|s| s.value())
                        .unwrap_or_else(|_| l.to_string())
                };
                // The printer drops trailing blanks of `///` lines.
                value(x).trim_end() == value(y).trim_end()
            }
            (TokenTree::Group(x), TokenTree::Group(y)) => {
                x.delimiter() == y.delimiter() && same_tokens(&x.stream(), &y.stream(), n).is_ok()
            }
            _ => false,
        };
        if !same {
            return Err(format!("#{n}: printed `{x}`, generated `{y}`"));
        }
    }
    if a.len() != b.len() {
        return Err(format!(
            "#{n}: {} tokens printed, {} generated",
            a.len(),
            b.len()
        ));
    }
    Ok(())
}

#[test]
fn smmuv3_map() {
    check("smmuv3-regs/smmuv3.yaml", "smmuv3_regs");
}

#[test]
fn cmdqv_map() {
    check("cmdqv-regs/cmdqv.yaml", "cmdqv_regs");
}

#[test]
fn example_and_coverage_maps() {
    check("codegen/tests/example.yaml", "example_regs");
    check("codegen/tests/features.yaml", "features_regs");
}
