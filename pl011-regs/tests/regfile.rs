//! Generated tests of the register file and trap dispatcher.
#![allow(clippy::all)]
include!(concat!(env!("OUT_DIR"), "/regfile_tests.rs"));
