//! `baggage` parsing never panics; limits always hold; accepted values round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reqtrace_propagation::Baggage;
use reqtrace_propagation::baggage::{MAX_BYTES, MAX_MEMBERS};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let lenient = Baggage::from_header(s.split('\n'));
    let text = lenient.to_string();
    assert!(lenient.len() <= MAX_MEMBERS);
    assert!(text.len() <= MAX_BYTES);
    assert_eq!(text.len(), lenient.header_len());
    assert_eq!(text.parse::<Baggage>().as_ref(), Ok(&lenient));
    if let Ok(strict) = s.parse::<Baggage>() {
        assert_eq!(strict.to_string().parse::<Baggage>(), Ok(strict));
    }
});
