//! One generated test per register field and per structure field.
include!(concat!(env!("OUT_DIR"), "/field_tests.rs"));
