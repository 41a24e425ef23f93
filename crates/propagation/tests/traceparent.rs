//! One test per `traceparent` rule of W3C Trace Context Level 2. Expected values are written
//! from the spec's examples and field layout, not from this crate's output.

use reqtrace_core::{IdError, SpanId, TraceFlags, TraceId};
use reqtrace_propagation::{Traceparent, TraceparentError};

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

fn tp(version: &str, flags: &str) -> String {
    format!("{version}-{TRACE}-{PARENT}-{flags}")
}

fn parse(s: &str) -> Result<Traceparent, TraceparentError> {
    s.parse()
}

#[test]
fn version_00_fields_are_read() {
    let p = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    assert_eq!(
        p.trace_id,
        TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap()
    );
    assert_eq!(p.parent_id, SpanId::from_u64(0x00f067aa0ba902b7).unwrap());
    assert_eq!(p.trace_flags, TraceFlags::SAMPLED);
}

#[test]
fn format_is_version_00_lowercase_hex() {
    let p = Traceparent::new(
        TraceId::from_u128(0xABCDEF).unwrap(),
        SpanId::from_u64(0xFEDCBA).unwrap(),
        TraceFlags::SAMPLED,
    );
    assert_eq!(
        p.to_string(),
        "00-00000000000000000000000000abcdef-0000000000fedcba-01"
    );
}

#[test]
fn uppercase_hex_is_invalid() {
    let upper_trace = format!("00-{}-{PARENT}-01", "ABCDEF78901234567890123456789012");
    assert!(matches!(
        parse(&upper_trace),
        Err(TraceparentError::TraceId(IdError::NotLowercaseHex { .. }))
    ));
    let upper_parent = format!("00-{TRACE}-ABCDEF7890123456-01");
    assert!(matches!(
        parse(&upper_parent),
        Err(TraceparentError::ParentId(IdError::NotLowercaseHex { .. }))
    ));
    assert_eq!(parse(&tp("00", "0A")), Err(TraceparentError::InvalidFlags));
    assert_eq!(
        parse(&tp("0A", "01")),
        Err(TraceparentError::InvalidVersion)
    );
}

#[test]
fn version_00_must_be_exactly_55_characters() {
    assert_eq!(tp("00", "01").len(), 55);
    assert!(parse(&tp("00", "01")).is_ok());
    // nothing may follow the flags in version 00, not even a dash
    assert_eq!(
        parse(&format!("{}.", tp("00", "01"))),
        Err(TraceparentError::TrailingData)
    );
    assert_eq!(
        parse(&format!("{}-what-the-future-will-be-like", tp("00", "01"))),
        Err(TraceparentError::TrailingData)
    );
    assert_eq!(parse(&tp("00", "001")), Err(TraceparentError::TrailingData));
    assert_eq!(
        parse(&tp("00", "1")),
        Err(TraceparentError::TooShort { len: 54 })
    );
}

#[test]
fn version_ff_is_invalid() {
    assert_eq!(
        parse(&tp("ff", "01")),
        Err(TraceparentError::ForbiddenVersion)
    );
}

#[test]
fn higher_version_is_parsed_with_version_00_fields_and_reemitted_as_00() {
    let expected = tp("00", "01");
    for input in [
        tp("cc", "01"),
        format!("{}-what-the-future-will-be-like", tp("cc", "01")),
        format!("{}-", tp("01", "01")),
    ] {
        let p = parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(p.to_string(), expected, "{input}");
    }
}

#[test]
fn higher_version_needs_a_dash_after_the_flags() {
    assert_eq!(
        parse(&format!("{}.what-the-future-will-be-like", tp("cc", "01"))),
        Err(TraceparentError::TrailingData)
    );
    assert_eq!(parse(&tp("cc", "012")), Err(TraceparentError::TrailingData));
}

#[test]
fn higher_version_shorter_than_55_is_invalid() {
    assert_eq!(
        parse(&tp("cc", "1")),
        Err(TraceparentError::TooShort { len: 54 })
    );
}

#[test]
fn version_must_be_two_hex_digits() {
    for v in [".0", "0.", "000", "0000", "0", "g0", ""] {
        assert!(parse(&tp(v, "01")).is_err(), "version {v:?} accepted");
    }
    assert_eq!(
        parse(&tp(".0", "01")),
        Err(TraceparentError::InvalidVersion)
    );
    assert_eq!(
        parse(&tp("000", "01")),
        Err(TraceparentError::InvalidVersion)
    );
}

#[test]
fn all_zero_trace_id_is_invalid() {
    let s = format!("00-{}-{PARENT}-01", "0".repeat(32));
    assert_eq!(parse(&s), Err(TraceparentError::TraceId(IdError::AllZero)));
}

#[test]
fn all_zero_parent_id_is_invalid() {
    let s = format!("00-{TRACE}-{}-01", "0".repeat(16));
    assert_eq!(parse(&s), Err(TraceparentError::ParentId(IdError::AllZero)));
}

#[test]
fn malformed_ids_are_invalid() {
    let cases = [
        format!("00-.2345678901234567890123456789012-{PARENT}-01"),
        format!("00-1234567890123456789012345678901.-{PARENT}-01"),
        format!("00-123456789012345678901234567890123-{PARENT}-01"),
        format!("00-1234567890123456789012345678901-{PARENT}-01"),
        format!("00-{TRACE}-.234567890123456-01"),
        format!("00-{TRACE}-123456789012345.-01"),
        format!("00-{TRACE}-12345678901234567-01"),
        format!("00-{TRACE}-123456789012345-01"),
    ];
    for c in &cases {
        assert!(parse(c).is_err(), "{c} accepted");
    }
}

#[test]
fn flags_must_be_two_lowercase_hex_digits() {
    assert_eq!(parse(&tp("00", ".0")), Err(TraceparentError::InvalidFlags));
    assert_eq!(parse(&tp("00", "0.")), Err(TraceparentError::InvalidFlags));
    assert_eq!(parse(&tp("00", "-1")), Err(TraceparentError::InvalidFlags));
}

#[test]
fn flags_are_a_bit_field_sampled_and_random() {
    let sampled = parse(&tp("00", "01")).unwrap().trace_flags;
    assert!(sampled.is_sampled() && !sampled.is_random());
    let random = parse(&tp("00", "02")).unwrap().trace_flags;
    assert!(!random.is_sampled() && random.is_random());
    let both = parse(&tp("00", "03")).unwrap().trace_flags;
    assert!(both.is_sampled() && both.is_random());
    let none = parse(&tp("00", "00")).unwrap().trace_flags;
    assert!(!none.is_sampled() && !none.is_random());
}

#[test]
fn unknown_flag_bits_are_not_emitted() {
    // 0x09 = sampled + an unknown bit; 0xff = everything.
    assert_eq!(parse(&tp("00", "09")).unwrap().to_string(), tp("00", "01"));
    assert_eq!(parse(&tp("00", "ff")).unwrap().to_string(), tp("00", "03"));
    assert_eq!(parse(&tp("00", "fc")).unwrap().to_string(), tp("00", "00"));
    // also when built by hand with unknown bits
    let p = Traceparent::new(
        TRACE.parse().unwrap(),
        PARENT.parse().unwrap(),
        TraceFlags::from_u8(0x85),
    );
    assert_eq!(p.to_string(), tp("00", "01"));
}

#[test]
fn spaces_and_tabs_around_the_value_are_trimmed() {
    let v = tp("00", "01");
    for s in [
        format!(" {v}"),
        format!("\t{v}"),
        format!("{v} "),
        format!("{v}\t"),
        format!("\t {v} \t"),
    ] {
        assert_eq!(parse(&s).unwrap().to_string(), v, "{s:?}");
    }
    // other whitespace is not optional whitespace
    assert!(parse(&format!("{v}\n")).is_err());
    assert!(parse(&format!("\r{v}")).is_err());
    assert_eq!(parse(" \t "), Err(TraceparentError::Empty));
}

#[test]
fn two_traceparent_headers_are_invalid() {
    let a = tp("00", "01");
    let b = format!("00-12345678901234567890123456789011-{PARENT}-01");
    assert_eq!(
        Traceparent::from_headers([a.as_str(), b.as_str()]),
        Err(TraceparentError::Duplicate)
    );
    // even two identical ones
    assert_eq!(
        Traceparent::from_headers([a.as_str(), a.as_str()]),
        Err(TraceparentError::Duplicate)
    );
    assert_eq!(Traceparent::from_headers([]), Ok(None));
    assert!(Traceparent::from_headers([a.as_str()]).unwrap().is_some());
}

#[test]
fn non_ascii_input_is_an_error_not_a_panic() {
    // 55 bytes with multi-byte characters straddling every field boundary
    let cases = [
        format!("00-{}é-{PARENT}-01", &TRACE[..30]),
        format!("00-{TRACE}-{}é-01", &PARENT[..14]),
        format!("00-{TRACE}-{PARENT}-é"),
        format!("é-{TRACE}-{PARENT}-01"),
        "€€€€€€€€€€€€€€€€€€€€".to_string(),
    ];
    for c in &cases {
        assert!(parse(c).is_err(), "{c}");
    }
}

#[test]
fn span_context_conversion_marks_remote_and_keeps_known_flags() {
    let p = parse(&tp("00", "ff")).unwrap();
    let cx = p.to_span_context();
    assert!(cx.is_remote);
    assert_eq!(cx.trace_id.to_string(), TRACE);
    assert_eq!(cx.span_id.to_string(), PARENT);
    assert_eq!(cx.trace_flags, TraceFlags::KNOWN);
    assert_eq!(Traceparent::from(&cx), p);
}

#[test]
fn errors_display_and_chain_the_id_error() {
    let e = parse(&format!("00-{}-{PARENT}-01", "0".repeat(32))).unwrap_err();
    assert!(e.to_string().contains("trace-id"));
    let src = std::error::Error::source(&e).expect("source");
    assert_eq!(src.to_string(), IdError::AllZero.to_string());
}
