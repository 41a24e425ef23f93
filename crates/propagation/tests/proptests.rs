//! Property tests: format ∘ parse is the identity on valid values, and no parser panics on
//! arbitrary input.

use proptest::prelude::*;
use reqtrace_core::{SpanId, TraceFlags, TraceId};
use reqtrace_propagation::{
    Baggage, BaggageMember, BaggageProperty, Propagated, TraceState, Traceparent,
};

fn traceparent() -> impl Strategy<Value = Traceparent> {
    (1u128.., 1u64.., 0u8..4).prop_map(|(t, s, f)| {
        Traceparent::new(
            TraceId::from_u128(t).unwrap(),
            SpanId::from_u64(s).unwrap(),
            TraceFlags::from_u8(f),
        )
    })
}

fn ts_key() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_*/@-]{0,40}"
}

fn ts_value() -> impl Strategy<Value = String> {
    // printable ASCII minus ',' and '=', last char not a space
    "[ -+\\--<>-~]{0,30}[!-+\\--<>-~]"
}

fn trace_state() -> impl Strategy<Value = TraceState> {
    proptest::collection::vec((ts_key(), ts_value()), 0..32).prop_map(|entries| {
        let mut ts = TraceState::new();
        for (k, v) in entries.iter().rev() {
            ts.insert(k, v).unwrap();
        }
        ts
    })
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

fn baggage() -> impl Strategy<Value = Baggage> {
    let prop = (token(), proptest::option::of(any::<String>()))
        .prop_map(|(key, value)| BaggageProperty { key, value });
    let member = (any::<String>(), proptest::collection::vec(prop, 0..3))
        .prop_map(|(value, properties)| BaggageMember { value, properties });
    proptest::collection::vec((token(), member), 0..20).prop_map(|members| {
        let mut b = Baggage::new();
        for (k, m) in members {
            let _ = b.insert_member(k, m);
        }
        b
    })
}

proptest! {
    #[test]
    fn traceparent_parse_inverts_format(tp in traceparent()) {
        prop_assert_eq!(tp.to_string().parse::<Traceparent>(), Ok(tp));
    }

    #[test]
    fn traceparent_format_inverts_parse_on_canonical_text(
        s in "00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]"
    ) {
        // all-zero ids are the only canonical-looking strings that are invalid
        if let Ok(tp) = s.parse::<Traceparent>() {
            prop_assert_eq!(tp.to_string(), s);
        } else {
            prop_assert!(s[3..35].bytes().all(|c| c == b'0') || s[36..52].bytes().all(|c| c == b'0'));
        }
    }

    #[test]
    fn tracestate_parse_inverts_format(ts in trace_state()) {
        prop_assert_eq!(ts.to_string().parse::<TraceState>(), Ok(ts));
    }

    #[test]
    fn baggage_parse_inverts_format(b in baggage()) {
        let text = b.to_string();
        prop_assert!(text.len() <= reqtrace_propagation::baggage::MAX_BYTES);
        prop_assert_eq!(text.parse::<Baggage>(), Ok(b.clone()));
        prop_assert_eq!(Baggage::from_header([text.as_str()]), b);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_strings(s in any::<String>()) {
        let _ = s.parse::<Traceparent>();
        let _ = s.parse::<TraceState>();
        let _ = s.parse::<Baggage>();
        let _ = Baggage::from_header([s.as_str()]);
    }

    #[test]
    fn parsers_never_panic_on_header_shaped_strings(
        s in "[ \t]?[0-9a-fA-F]{2}-[0-9a-f.é-]{30,34}-[0-9a-f-]{14,18}-[0-9a-f€]{0,3}(-.{0,5})?[ \t]?",
        ts in "([a-z0-9@=,; \t%]{0,8}){0,40}",
    ) {
        let _ = s.parse::<Traceparent>();
        let headers = vec![
            ("traceparent".to_string(), s.clone()),
            ("tracestate".to_string(), ts.clone()),
            ("baggage".to_string(), ts.clone()),
        ];
        let _ = Propagated::extract(&headers);
    }

    #[test]
    fn trimming_ows_does_not_change_the_result(tp in traceparent(), pre in "[ \t]{0,3}", post in "[ \t]{0,3}") {
        let padded = format!("{pre}{tp}{post}");
        prop_assert_eq!(padded.parse::<Traceparent>(), Ok(tp));
    }
}
