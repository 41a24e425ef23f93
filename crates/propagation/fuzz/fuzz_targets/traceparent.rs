//! `traceparent` parsing never panics, and what it accepts formats back to a value that
//! parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reqtrace_propagation::Traceparent;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tp) = s.parse::<Traceparent>() {
        let text = tp.to_string();
        assert_eq!(text.len(), 55);
        assert!(text.starts_with("00-"));
        assert_eq!(text.parse::<Traceparent>(), Ok(tp));
    }
    let _ = Traceparent::from_headers(s.split('\n'));
});
