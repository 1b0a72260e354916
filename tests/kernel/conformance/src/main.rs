//! Real-kernel conformance program (project issue 10).
//!
//! Built as a static x86-64 binary and booted as `/init` of a small Linux
//! with the iommufd selftest mock (see `tests/kernel/run` and
//! `tests/kernel/README.md`). Every case in [`cases`] runs three times on
//! fresh contexts ([`ctx::Ctx`]) over `vdev::backend::Selftest`: the raw
//! uAPI ([`raw`], the one adapter and the reference), the project's real
//! backend `vdev::backend::real::IommufdBackend` with the selftest object
//! types, and `vdev::backend::sim::SimBackend` configured as the mock;
//! [`facts`] checks what only the raw uAPI can express. It prints one line
//! per case on the console and reboots (which ends QEMU); the runner parses
//! the lines and holds their number to `tests/kernel/expected-counts`.

mod cases;
mod ctx;
mod facts;
mod handles_case;
mod raw;
mod smoke;

use std::ffi::CStr;
use std::io::Write;
use std::sync::Arc;
use vdev::backend::real::IommufdBackend;
use vdev::backend::sim::{SimBackend, SimConfig, SimGuestRam};
use vdev::backend::{ObjectTypes, Selftest};

/// Mounts one pseudo file system, tolerating an already mounted one.
fn mount(source: &CStr, target: &CStr, fstype: &CStr) -> Result<(), String> {
    // SAFETY: plain C strings that outlive the call; no data argument.
    unsafe {
        libc::mkdir(target.as_ptr(), 0o755);
        if libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EBUSY) {
                return Err(format!("mount {fstype:?} on {target:?}: {err}"));
            }
        }
    }
    Ok(())
}

/// PID 1 setup: the initramfs has empty /dev, /proc and /sys.
fn init_setup() -> Result<(), String> {
    mount(c"devtmpfs", c"/dev", c"devtmpfs")?;
    mount(c"proc", c"/proc", c"proc")?;
    mount(c"sysfs", c"/sys", c"sysfs")?;
    Ok(())
}

/// Differential cases outside the table: `handles_lifecycle`.
const HANDLE_CASES: usize = 1;

/// A way to get a fresh, empty backend.
type Factory<'a> = &'a dyn Fn() -> Result<Box<dyn Selftest>, String>;

/// Runs one case on a fresh context of a backend.
fn run_on(case: &cases::Case, factory: Factory<'_>) -> cases::Outcome {
    match factory() {
        // A panic in a backend is that backend's answer for this case, not
        // the end of the run (PID 1 must keep going).
        Ok(b) => {
            let mut ctx = ctx::Ctx::new(b);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case.outcome(&mut ctx)))
                .unwrap_or(Err(cases::Fail::Panicked))
        }
        Err(e) => {
            println!("conformance: cannot open backend: {e}");
            Err(cases::Fail::Unsupported("backend"))
        }
    }
}

/// Runs every case on the raw uAPI, the project's real backend (both on
/// the booted kernel) and the simulator, and prints one line per case:
/// `kernel=` is the real backend, `sim=` the simulator; `raw=` is added
/// when the real backend disagrees with the raw uAPI. Returns the number
/// of cases that are not OK.
fn run_cases(raw: Factory<'_>, kernel: Factory<'_>, sim: Factory<'_>) -> usize {
    let all = cases::all();
    let mut bad = 0;
    let mut diff = 0;
    for case in &all {
        let r = run_on(case, raw);
        let k = run_on(case, kernel);
        let s = run_on(case, sim);
        let status = if k != s {
            diff += 1;
            "DIFF"
        } else if r != k {
            "BACKEND-DIFF"
        } else if !case.expect.matches(&k) {
            "UNEXPECTED"
        } else {
            "OK"
        };
        if status != "OK" {
            bad += 1;
        }
        let mut extra = String::new();
        if r != k {
            extra.push_str(&format!(" raw={}", cases::show(&r)));
        }
        if !case.expect.matches(&k) {
            extra.push_str(&format!(" expected={}", case.expect));
        }
        println!(
            "case {}: kernel={} sim={} {status}{extra}",
            case.name,
            cases::show(&k),
            cases::show(&s)
        );
    }
    // The RAII-handle lifecycle: real backend against the simulator (the
    // raw uAPI has no handles).
    let k = run_handles(real_backend);
    let sm = run_handles(sim_backend);
    let ok_status = k == sm && cases::Expect::Ok.matches(&k);
    if !ok_status {
        bad += 1;
        if k != sm {
            diff += 1;
        }
    }
    println!(
        "case handles_lifecycle: kernel={} sim={} {}",
        cases::show(&k),
        cases::show(&sm),
        if k != sm {
            "DIFF"
        } else if ok_status {
            "OK"
        } else {
            "UNEXPECTED"
        }
    );
    let total = all.len() + HANDLE_CASES;
    println!(
        "conformance: done cases={total} ok={} diff={diff}",
        total - bad
    );
    bad
}

/// On a host without the booted kernel: the simulator's answers only, for
/// quick iteration on the simulator (`cargo run -p kernel-conformance --
/// --sim-only`). Compare with the expectations printed next to them.
fn run_sim_only(sim: Factory<'_>) -> i32 {
    let mut bad = 0;
    for case in &cases::all() {
        let s = run_on(case, sim);
        let ok = case.expect.matches(&s);
        if !ok {
            bad += 1;
        }
        println!(
            "sim {}: {} expected={} {}",
            case.name,
            cases::show(&s),
            case.expect,
            if ok { "OK" } else { "UNEXPECTED" }
        );
    }
    i32::from(bad != 0)
}

/// The raw uAPI on the booted kernel.
fn raw_backend() -> Result<Box<dyn Selftest>, String> {
    raw::RawKernel::open()
        .map(|k| Box::new(k) as Box<dyn Selftest>)
        .map_err(|e| format!("/dev/iommu: {e}"))
}

/// Runs the handle lifecycle on a fresh backend, a panic being an answer.
fn run_handles(make: fn() -> Result<Box<dyn Selftest>, String>) -> cases::Outcome {
    match make() {
        Ok(b) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handles_case::lifecycle(Arc::from(b))
        }))
        .unwrap_or(Err(cases::Fail::Panicked)),
        Err(e) => {
            println!("conformance: cannot open backend: {e}");
            Err(cases::Fail::Unsupported("backend"))
        }
    }
}

/// The real backend on the booted kernel, asking for the selftest types.
fn real_backend() -> Result<Box<dyn Selftest>, String> {
    IommufdBackend::open(ObjectTypes::SELFTEST)
        .map(|b| Box::new(b) as Box<dyn Selftest>)
        .map_err(|e| e.to_string())
}

/// The simulator configured as the selftest mock, with guest RAM where the
/// cases map IOVAs (IOVA = GPA in the simulator): the first MiB of the
/// mock's aperture, in 4 KiB host pages.
fn sim_backend() -> Result<Box<dyn Selftest>, String> {
    let ram = SimGuestRam::new().with_region(cases::MOCK_APERTURE_START, 1 << 20, cases::PAGE);
    Ok(Box::new(SimBackend::new(
        SimConfig::selftest(),
        Arc::new(ram),
    )))
}

fn run() -> i32 {
    if std::env::args().any(|a| a == "--sim-only") {
        return run_sim_only(&sim_backend);
    }
    match smoke::run() {
        Ok(lines) => {
            for line in lines {
                println!("smoke {line}");
            }
        }
        Err(e) => {
            println!("smoke FAILED: {e}");
            println!("conformance: aborted (smoke check failed)");
            return 1;
        }
    }
    let bad = run_cases(&raw_backend, &real_backend, &sim_backend);
    let bad_facts = facts::run_all();
    println!("conformance: facts done bad={bad_facts}");
    i32::from(bad + bad_facts != 0)
}

fn main() {
    // SAFETY: getpid has no preconditions.
    let is_init = unsafe { libc::getpid() } == 1;
    if is_init {
        if let Err(e) = init_setup() {
            println!("conformance: init setup failed: {e}");
        }
    }
    let status = run();
    let _ = std::io::stdout().flush();
    if is_init {
        // PID 1 must never exit (the kernel would panic); reboot instead so
        // QEMU, started with -no-reboot, terminates.
        // SAFETY: no memory is shared with the call; the process ends here.
        unsafe {
            libc::sync();
            libc::reboot(libc::RB_AUTOBOOT);
        }
    }
    std::process::exit(status);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number `tests/kernel/run` holds the console to.
    fn pinned(key: &str) -> usize {
        include_str!("../../expected-counts")
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("expected-counts has no {key}= line"))
    }

    #[test]
    fn the_lists_are_as_long_as_expected_counts_says() {
        assert_eq!(cases::all().len() + HANDLE_CASES, pinned("cases"));
        assert_eq!(facts::all().len(), pinned("facts"));
    }
}
