//! `cargo bench -p regmap --bench tables`: time to import each shipped map's
//! register tables (CSV parse, table checks, plan, YAML edits, load and
//! validate the result, verify), into an empty map and into the map itself,
//! the export and SVD times, and the SVD sizes. Times are the best and the
//! median of many runs (a busy machine shows in the median more than in the
//! best).

use std::path::Path;
use std::time::{Duration, Instant};

use regmap::tables::{export::export, import::import, Table, Tables};

const RUNS: usize = 30;

/// Best and median wall time of `f` over [`RUNS`] runs, and its last result.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let v = f();
        times.push(t.elapsed());
        last = Some(v);
    }
    times.sort();
    (times[0], times[RUNS / 2], last.expect("RUNS > 0"))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for map in ["smmuv3-regs/smmuv3.yaml", "cmdqv-regs/cmdqv.yaml"] {
        let path = root.join(map);
        let text = std::fs::read_to_string(&path).expect("map");
        let dev = regmap::load_str(map, &text).expect("valid map");
        let (eb, em, tables) = time(|| export(&dev));
        let csv: Vec<(Table, String, String)> = Table::ALL
            .iter()
            .map(|&t| (t, t.file_name().to_string(), tables.to_csv(t)))
            .collect();
        let bytes: usize = csv.iter().map(|(_, _, s)| s.len()).sum();
        let mut empty = format!("device:\n  name: {}\n  windows:\n", dev.name);
        for w in &dev.windows {
            empty += &format!(
                "    - {{ name: {}, offset: {:#x}, size: {:#x} }}\n",
                w.name, w.offset, w.size
            );
        }
        let (nb, nm, new) = time(|| {
            let t = Tables::parse(csv.clone()).expect("tables");
            import("empty.yaml", &empty, &t).expect("import")
        });
        let (ub, um, same) = time(|| {
            let t = Tables::parse(csv.clone()).expect("tables");
            import(map, &text, &t).expect("import")
        });
        assert!(same.changes.is_empty());
        let (cb, cm, _) = time(|| regmap::load_str("new.yaml", &new.text).expect("valid"));
        let (sb, sm, svd) = time(|| regmap::svd::to_svd(&dev, 0).expect("svd"));
        println!(
            "{map}: tables {} rows, {bytes} bytes (export best {} median {})",
            tables.blocks.len() + tables.registers.len() + tables.fields.len() + tables.enums.len(),
            ms(eb),
            ms(em)
        );
        println!(
            "  import into an empty map + check: best {} median {} ({} changes)",
            ms(nb),
            ms(nm),
            new.changes.len()
        );
        println!(
            "  import into the map itself + check: best {} median {} (0 changes)",
            ms(ub),
            ms(um)
        );
        println!(
            "  check of the imported map alone:  best {} median {}",
            ms(cb),
            ms(cm)
        );
        println!(
            "  svd: {} bytes, best {} median {}",
            svd.len(),
            ms(sb),
            ms(sm)
        );
    }
}
