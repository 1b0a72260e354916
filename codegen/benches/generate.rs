//! `cargo bench -p codegen --bench generate`: time to load, validate,
//! lower and generate every file for each shipped map (target: both maps
//! under 50 ms), where the time goes, and the size of the generated code
//! (targets: at most 8,000 lines of library code for smmuv3-regs and 3,500
//! for cmdqv-regs; generated tests are counted apart). Times are the best
//! of many runs, so a busy machine shows through less; the per-part times
//! are CPU time of one thread, which other processes do not inflate.

use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: u32 = 40;

fn lines(s: &str) -> usize {
    s.lines().count()
}

/// CPU time of the calling thread: unlike wall time, it does not grow
/// when other processes share the cores.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best wall time of `f` over [`RUNS`] runs, and its last result.
fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("RUNS > 0"))
}

/// Best CPU time of `f` (single-threaded work) over [`RUNS`] runs.
fn best_cpu<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let t = thread_cpu();
        let v = f();
        best = best.min(thread_cpu() - t);
        last = Some(v);
    }
    (best, last.expect("RUNS > 0"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let maps = [
        ("smmuv3_regs", "smmuv3-regs/smmuv3.yaml"),
        ("cmdqv_regs", "cmdqv-regs/cmdqv.yaml"),
    ];
    let mut both = Duration::ZERO;
    for (krate, map) in maps {
        let path = root.join(map);
        let load = || regmap::load_file(&path).unwrap_or_else(|d| panic!("{}", d.render()));
        let lower =
            |dev: &regmap::Device| codegen::ir::lower(dev).unwrap_or_else(|d| panic!("{d:?}"));
        let (total, g) = best(|| codegen::generate_ir(&lower(&load()), krate));
        both += total;
        // Where the time goes (each part on its own, CPU time of one thread).
        let (t_load, dev) = best_cpu(load);
        let (t_lower, ir) = best_cpu(|| lower(&dev));
        let (t_acc, _) = best_cpu(|| codegen::accessors_source(&ir));
        let (t_rf, _) = best_cpu(|| codegen::regfile_source(&ir));
        let (t_ft, _) = best_cpu(|| codegen::field_tests_source(&ir, krate));
        let (t_rft, _) = best_cpu(|| codegen::regfile_tests_source(&ir, krate));
        println!(
            "generate: {map}: {} (best of {RUNS}; CPU: load {}, lower {}, accessors {}, regfile {}, \
             field tests {}, regfile tests {}); library lines {} (accessors {}, regfile {}); \
             test lines {} + {}",
            ms(total),
            ms(t_load),
            ms(t_lower),
            ms(t_acc),
            ms(t_rf),
            ms(t_ft),
            ms(t_rft),
            lines(&g.accessors) + lines(&g.regfile),
            lines(&g.accessors),
            lines(&g.regfile),
            lines(&g.field_tests),
            lines(&g.regfile_tests)
        );
    }
    println!("generate: both maps {}", ms(both));
}
