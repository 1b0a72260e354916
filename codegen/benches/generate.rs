//! `cargo bench -p codegen --bench generate`: time to load, validate and
//! generate every file for each shipped map (target: both maps under 50 ms),
//! and the size of the generated code (target: under 15,000 lines of
//! library code per -regs crate; generated tests are counted apart).

use std::path::Path;
use std::time::{Duration, Instant};

fn lines(s: &str) -> usize {
    s.lines().count()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let maps = [
        ("smmuv3_regs", "smmuv3-regs/smmuv3.yaml"),
        ("cmdqv_regs", "cmdqv-regs/cmdqv.yaml"),
    ];
    const RUNS: u32 = 20;
    let mut both = Duration::ZERO;
    for (krate, map) in maps {
        let path = root.join(map);
        let mut best = Duration::MAX;
        let mut gen = None;
        for _ in 0..RUNS {
            let t = Instant::now();
            let dev = regmap::load_file(&path).unwrap_or_else(|d| panic!("{}", d.render()));
            let g = codegen::generate(&dev, krate).expect("generate");
            best = best.min(t.elapsed());
            gen = Some(g);
        }
        let g = gen.expect("ran");
        both += best;
        let lib = lines(&g.accessors) + lines(&g.regfile);
        println!(
            "generate: {map}: {:.1} ms (best of {RUNS}); library lines {lib} (accessors {}, regfile {}); test lines {} + {}",
            best.as_secs_f64() * 1e3,
            lines(&g.accessors),
            lines(&g.regfile),
            lines(&g.field_tests),
            lines(&g.regfile_tests)
        );
    }
    println!("generate: both maps {:.1} ms", both.as_secs_f64() * 1e3);
}
