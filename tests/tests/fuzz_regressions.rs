//! Fuzz inputs as regression tests: every file in `crates/export-json/fuzz/seeds/native_json/`
//! (the committed seed corpus, and where a crash input goes once its bug is fixed) is run
//! through the same properties as the `native_json` fuzz target, in the default test run.
//!
//! The properties: the native readers return `Ok` or a typed error, never panic; what they
//! accept, every encoder writes as valid JSON, and native output reads back to traces that
//! write the same bytes again.

use std::path::PathBuf;

use reqtrace_core::Resource;
use reqtrace_export_json::{
    Style, read_native, read_native_lines, read_native_trace, write_chrome, write_native,
    write_native_batch, write_otlp, write_otlp_batch,
};

fn valid_json(bytes: &[u8], what: &str) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(bytes) {
        panic!("{what} wrote invalid JSON ({e})");
    }
}

/// The `native_json` fuzz target's checks on one input; returns how many traces and batches
/// were accepted.
fn check(data: &[u8]) -> usize {
    let mut accepted = 0;
    if let Ok(traces) = read_native(data) {
        accepted += traces.len().max(1);
        let mut native = Vec::new();
        write_native(&mut native, &traces, Style::Compact).unwrap();
        valid_json(&native, "write_native");
        let again = read_native(&native[..]).expect("native output reads back");
        let mut native2 = Vec::new();
        write_native(&mut native2, &again, Style::Compact).unwrap();
        assert_eq!(native, native2, "native output is not stable");
        let mut otlp = Vec::new();
        write_otlp(&mut otlp, &traces, &Resource::new("fuzz"), Style::Compact).unwrap();
        valid_json(&otlp, "write_otlp");
        let mut chrome = Vec::new();
        write_chrome(&mut chrome, &traces, Style::Compact).unwrap();
        valid_json(&chrome, "write_chrome");
    }
    let _ = read_native_trace(data);
    for batch in read_native_lines(data).flatten() {
        accepted += 1;
        let mut line = Vec::new();
        write_native_batch(&mut line, &batch.spans, &batch.resource).unwrap();
        valid_json(&line, "write_native_batch");
        let mut otlp = Vec::new();
        write_otlp_batch(&mut otlp, &batch.spans, &batch.resource).unwrap();
        valid_json(&otlp, "write_otlp_batch");
    }
    accepted
}

#[test]
fn native_json_fuzz_seeds_and_past_crashes_pass_the_fuzz_properties() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/export-json/fuzz/seeds/native_json");
    let mut files = 0;
    let mut accepted = 0;
    for entry in std::fs::read_dir(&dir).expect("the seed corpus is committed") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        accepted += check(&data);
        files += 1;
    }
    assert!(files >= 3, "seed files found: {files}");
    assert!(
        accepted >= 3,
        "the seeds are valid inputs: {accepted} accepted"
    );
}
