//! The native JSON readers never panic on any input, and whatever they accept every encoder
//! writes as valid JSON that reads back stably:
//! - `read_native`, `read_native_trace` and `read_native_lines` return `Ok` or a typed error;
//! - traces read from the input are written by `write_native`, `write_otlp` and `write_chrome`
//!   without error, each output is valid JSON, and the native output reads back to traces
//!   that write to the same bytes again (one normalisation: a key set twice is written once,
//!   a non-finite float becomes a string);
//! - batches from JSON lines go through `write_native_batch` / `write_otlp_batch` the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reqtrace_core::Resource;
use reqtrace_export_json::{
    Style, read_native, read_native_lines, read_native_trace, write_chrome, write_native,
    write_native_batch, write_native_trace, write_otlp, write_otlp_batch,
};

fn valid_json(bytes: &[u8], what: &str) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(bytes) {
        panic!(
            "{what} wrote invalid JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(traces) = read_native(data) {
        let mut native = Vec::new();
        write_native(&mut native, &traces, Style::Compact).expect("write_native");
        valid_json(&native, "write_native");
        let again = read_native(&native[..]).expect("native output reads back");
        assert_eq!(again.len(), traces.len());
        let mut native2 = Vec::new();
        write_native(&mut native2, &again, Style::Compact).expect("write_native");
        assert_eq!(native, native2, "native output is not stable");
        let mut pretty = Vec::new();
        write_native(&mut pretty, &traces, Style::Pretty).expect("write_native pretty");
        assert_eq!(read_native(&pretty[..]).expect("pretty reads back"), again);

        let mut otlp = Vec::new();
        write_otlp(&mut otlp, &traces, &Resource::new("fuzz"), Style::Compact).expect("write_otlp");
        valid_json(&otlp, "write_otlp");
        let mut chrome = Vec::new();
        write_chrome(&mut chrome, &traces, Style::Compact).expect("write_chrome");
        valid_json(&chrome, "write_chrome");
    }
    if let Ok(trace) = read_native_trace(data) {
        let mut one = Vec::new();
        write_native_trace(&mut one, &trace, Style::Compact).expect("write_native_trace");
        valid_json(&one, "write_native_trace");
        read_native_trace(&one[..]).expect("native trace output reads back");
    }
    for batch in read_native_lines(data).take(64) {
        let Ok(batch) = batch else { continue };
        let mut line = Vec::new();
        write_native_batch(&mut line, &batch.spans, &batch.resource).expect("write_native_batch");
        valid_json(&line, "write_native_batch");
        let back: Vec<_> = read_native_lines(&line[..]).collect();
        assert_eq!(back.len(), 1);
        let back = back
            .into_iter()
            .next()
            .unwrap()
            .expect("batch line reads back");
        assert_eq!(back.spans.len(), batch.spans.len());
        let mut otlp = Vec::new();
        write_otlp_batch(&mut otlp, &batch.spans, &batch.resource).expect("write_otlp_batch");
        valid_json(&otlp, "write_otlp_batch");
    }
});
