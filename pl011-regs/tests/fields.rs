//! One generated test per register field.
#![allow(clippy::all)]
include!(concat!(env!("OUT_DIR"), "/field_tests.rs"));
