//! `scenario-diff QEMU_LOG [--known FILE] [--model-out FILE]`: runs the
//! scenarios in-process against vdev's vSMMUv3, compares every value and
//! verdict with the `OBS`/`PASS`/`FAIL` lines of a QEMU run, and exits 1
//! when a difference is not in the known list, a listed one is no longer
//! seen, or a run does not report the declared scenarios (2: bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use firmware_tests::compare::compare;
use firmware_tests::known::{Known, DEFAULT_PATH};
use firmware_tests::observe::Observations;

fn usage() -> ExitCode {
    eprintln!("usage: scenario-diff QEMU_LOG [--known FILE] [--model-out FILE]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut qemu, mut known, mut model_out) = (None, PathBuf::from(DEFAULT_PATH), None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--known" => match args.next() {
                Some(p) => known = p.into(),
                None => return usage(),
            },
            "--model-out" => match args.next() {
                Some(p) => model_out = Some(PathBuf::from(p)),
                None => return usage(),
            },
            _ if qemu.is_none() && !a.starts_with('-') => qemu = Some(PathBuf::from(a)),
            _ => return usage(),
        }
    }
    let Some(qemu) = qemu else { return usage() };
    let known = match Known::load(&known) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("scenario-diff: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(&qemu) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("scenario-diff: {}: {e}", qemu.display());
            return ExitCode::from(2);
        }
    };
    let qemu_obs = match Observations::parse(&text) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("scenario-diff: {}: {e}", qemu.display());
            return ExitCode::from(2);
        }
    };
    let model = firmware_tests::run_in_process();
    if let Some(p) = model_out {
        if let Err(e) = std::fs::write(&p, model.to_text()) {
            eprintln!("scenario-diff: {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    let report = compare(&qemu_obs, &model, &known);
    print!("{}", report.render());
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
