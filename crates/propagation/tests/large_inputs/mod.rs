//! Large hostile header values, shared by `tests/large_headers.rs` (which checks what each
//! parses to) and `benches/parse.rs` (which times them).
#![allow(dead_code)]

pub const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const PARENT: &str = "00f067aa0ba902b7";

/// `unit(0)`, `unit(1)`, … joined with `,` until the result is at least `n` bytes long.
pub fn list(n: usize, unit: impl Fn(usize) -> String) -> String {
    let mut s = String::with_capacity(n + 256);
    let mut i = 0;
    while s.len() < n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&unit(i));
        i += 1;
    }
    s
}

/// A higher-version `traceparent` followed by future fields, `n` bytes in all.
pub fn traceparent_future(n: usize) -> String {
    let mut s = format!("cc-{TRACE}-{PARENT}-01-");
    s.push_str(&"x".repeat(n.saturating_sub(s.len())));
    s
}

/// A valid version-00 `traceparent` with spaces and tabs on both sides, about `n` bytes.
pub fn traceparent_ows(n: usize) -> String {
    let pad = " \t".repeat(n.saturating_sub(55) / 4);
    format!("{pad}00-{TRACE}-{PARENT}-01{pad}")
}

/// 128-byte `tracestate` members (`k0001=` and 122 value bytes): 32 of them are about 4 KB.
pub fn tracestate(n: usize) -> String {
    list(n, |i| format!("k{i:04}={}", "v".repeat(122)))
}

/// 128-byte `baggage` members (`key00001=` and 119 value bytes): 63 of them fill the 8192
/// bytes.
pub fn baggage(n: usize) -> String {
    list(n, |i| format!("key{i:05}={}", "v".repeat(119)))
}
