//! The encode benches' workload, shared by `reqtrace-export-json`'s and `reqtrace-otlp`'s
//! `encode` benches (included with `#[path]`): 200 traces × 25 spans on 4 threads, six
//! attributes per span (strings, ints, a float, an array), an event on every fifth span.

use std::borrow::Cow;

use reqtrace_core::{
    Event, KeyValue, Resource, SpanData, SpanId, SpanKind, StatusCode, Trace, TraceFlags, TraceId,
    Value,
};

const T0: u64 = 1_700_000_000_000_000_000;

/// `traces` traces of `spans` spans each (see the bench's docs).
pub fn traces(traces: usize, spans: usize) -> Vec<Trace> {
    (0..traces)
        .map(|t| {
            let trace_id = TraceId::from_u128(0x4bf9_2f35_77b3_4da6_0000 + t as u128).unwrap();
            let base = T0 + t as u64 * 400_000;
            let thread = (t % 4) as u64;
            let spans = (0..spans)
                .map(|i| {
                    let start = base + i as u64 * 10_000;
                    SpanData {
                        name: Cow::Borrowed(if i == 0 { "handle request" } else { "db.query" }),
                        trace_id,
                        span_id: SpanId::from_u64(i as u64 + 1).unwrap(),
                        trace_flags: Default::default(),
                        parent_is_remote: false,
                        parent_id: if i == 0 { None } else { SpanId::from_u64(1) },
                        kind: if i == 0 {
                            SpanKind::Server
                        } else {
                            SpanKind::Client
                        },
                        start_unix_nanos: start,
                        end_unix_nanos: if i == 0 {
                            base + 300_000
                        } else {
                            start + 8_000
                        },
                        attributes: vec![
                            KeyValue::new("http.route", "/v1/chat/completions"),
                            KeyValue::new("db.statement", "SELECT * FROM t WHERE id = $1"),
                            KeyValue::new("rows", i as i64 * 17),
                            KeyValue::new("latency.ratio", 0.125 * i as f64),
                            KeyValue::new("user.id", format!("user-{t}")),
                            KeyValue::new("tags", Value::from(vec!["a", "b"])),
                        ],
                        events: if i % 5 == 0 {
                            vec![Event {
                                name: Cow::Borrowed("retry"),
                                time_unix_nanos: start + 1_000,
                                attributes: vec![KeyValue::new("attempt", 2)],
                            }]
                        } else {
                            Vec::new()
                        },
                        status: if i == 3 {
                            StatusCode::Error
                        } else {
                            StatusCode::Unset
                        },
                        error: (i == 3).then(|| "connection reset".to_owned()),
                        thread_id: thread,
                        thread_name: Some("worker".into()),
                        dropped_attributes_count: 0,
                        dropped_events_count: 0,
                        links: Vec::new(),
                        dropped_links_count: 0,
                        unfinished: false,
                    }
                })
                .collect();
            Trace {
                trace_id,
                service_name: Cow::Borrowed("api"),
                attributes: vec![KeyValue::new("request.id", format!("r-{t}"))],
                start_unix_nanos: base,
                end_unix_nanos: base + 300_000,
                trace_flags: TraceFlags::SAMPLED,
                trace_state: None,
                remote_parent_id: None,
                spans,
                dropped_spans_count: 0,
            }
        })
        .collect()
}

/// The resource the spans are exported under.
pub fn resource() -> Resource {
    let mut r = Resource::new("api");
    r.attributes.push(KeyValue::new("service.version", "1.0.0"));
    r
}
