//! `tracestate` parsing never panics; accepted values round-trip; truncation respects the
//! limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reqtrace_propagation::TraceState;
use reqtrace_propagation::tracestate::MAX_MEMBERS;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mut ts) = TraceState::from_headers(s.split('\n')) {
        assert!(ts.len() <= MAX_MEMBERS);
        let text = ts.to_string();
        assert_eq!(text.len(), ts.header_len());
        assert_eq!(text.parse::<TraceState>().as_ref(), Ok(&ts));
        let limit = data.len() % 600;
        ts.truncate_to(limit);
        assert!(ts.header_len() <= limit);
        let first = ts.iter().next().map(|(k, v)| (k.to_owned(), v.to_owned()));
        if let Some((k, v)) = first {
            // re-inserting an existing valid entry always succeeds and keeps the size
            let len = ts.len();
            ts.insert(&k, &v).unwrap();
            assert_eq!(ts.len(), len);
        }
    }
});
