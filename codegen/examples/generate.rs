//! Writes the generated files of a map into a directory, to read them:
//! `cargo run -p codegen --example generate -- MAP.yaml OUT_DIR [CRATE]`.

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [map, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: generate MAP.yaml OUT_DIR [CRATE_NAME]");
        std::process::exit(2);
    };
    let ir = match codegen::load(Path::new(map)) {
        Ok(ir) => ir,
        Err(d) => {
            eprintln!("{}", d.render());
            std::process::exit(1);
        }
    };
    let krate = rest.first().map_or("regs", String::as_str);
    let gen = codegen::generate_ir(&ir, krate);
    let out = Path::new(out);
    let files = [
        ("accessors.rs", &gen.accessors),
        ("regfile.rs", &gen.regfile),
        ("field_tests.rs", &gen.field_tests),
        ("regfile_tests.rs", &gen.regfile_tests),
    ];
    for (name, text) in files {
        if let Err(e) =
            std::fs::create_dir_all(out).and_then(|_| std::fs::write(out.join(name), text))
        {
            eprintln!("error: writing {}: {e}", out.join(name).display());
            std::process::exit(1);
        }
    }
}
