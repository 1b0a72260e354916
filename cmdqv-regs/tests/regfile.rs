//! Generated tests of the register file and trap dispatcher.
#![allow(clippy::all)]
use cmdqv_regs::regfile;
include!(concat!(env!("OUT_DIR"), "/regfile_tests.rs"));
