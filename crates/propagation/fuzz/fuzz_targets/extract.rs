//! Extracting from arbitrary header lists (`name: value` lines) never panics, and what is
//! injected again extracts to the same context.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reqtrace_propagation::Propagated;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let headers: Vec<(String, String)> = s
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cx = Propagated::extract(&headers);
    let mut out: Vec<(String, String)> = Vec::new();
    cx.inject(&mut out);
    let again = Propagated::extract(&out);
    assert_eq!(again.span_context, cx.span_context);
    assert_eq!(again.baggage, cx.baggage);
    if cx.span_context.is_some() {
        assert_eq!(again.trace_state, cx.trace_state);
    }
});
