//! Hostile input (issue 7, item 6): oversized headers, huge attribute counts, text that was
//! invalid UTF-8 before a lossy decode, and non-finite floats in every JSON encoding. Each
//! case has an exact expected outcome: a typed error, a bound that held with the excess
//! counted, or a specific encoding.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqtrace_core::{
    BatchConfig, KeyValue, Limits, RequestTracer, Resource, SpanData, Trace, TraceFlags, TraceId,
    Value,
};
use reqtrace_export_json::{
    JsonLinesExporter, LineFormat, Style, read_native, read_native_lines, write_chrome,
    write_native, write_otlp,
};
use reqtrace_propagation::baggage::{MAX_BYTES, MAX_MEMBERS as MAX_BAGGAGE_MEMBERS};
use reqtrace_propagation::tracestate::MAX_MEMBERS;
use reqtrace_propagation::{
    Baggage, Propagated, TraceState, TraceStateError, Traceparent, TraceparentError, TracerExt,
};
use serde_json::{Value as Json, json};

const MB: usize = 1 << 20;
const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn headers(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A 1 MB traceparent.

#[test]
fn a_one_megabyte_traceparent_is_a_typed_error_or_exactly_the_valid_part() {
    // Version 00 with 1 MB of trailing data: rejected.
    let trailing = format!("{VALID}{}", "0".repeat(MB));
    assert_eq!(
        trailing.parse::<Traceparent>(),
        Err(TraceparentError::TrailingData)
    );
    // 1 MB of hex: the version is read, then a dash is missing.
    assert_eq!(
        "a".repeat(MB).parse::<Traceparent>(),
        Err(TraceparentError::InvalidVersion)
    );
    // 1 MB of dashes and of non-ASCII.
    assert_eq!(
        "-".repeat(MB).parse::<Traceparent>(),
        Err(TraceparentError::InvalidVersion)
    );
    assert_eq!(
        "é".repeat(MB / 2).parse::<Traceparent>(),
        Err(TraceparentError::InvalidVersion)
    );
    // 1 MB of whitespace: empty.
    assert_eq!(
        " \t".repeat(MB / 2).parse::<Traceparent>(),
        Err(TraceparentError::Empty)
    );
    // Optional whitespace around a valid value is allowed, however much there is.
    let padded = format!("{}{VALID}{}", " ".repeat(MB / 2), "\t".repeat(MB / 2));
    assert_eq!(padded.parse::<Traceparent>(), VALID.parse::<Traceparent>());
    // A future version may carry more fields: parsed as version 00, re-sent as 55 bytes.
    let future = format!("01{}-{}", &VALID[2..], "x".repeat(MB));
    let tp = future
        .parse::<Traceparent>()
        .expect("future versions are read");
    assert_eq!(tp.to_string(), format!("00{}", &VALID[2..]));
}

#[test]
fn a_one_megabyte_traceparent_restarts_the_trace_and_echoes_nothing() {
    let tracer = RequestTracer::new("svc");
    let carrier = headers(&[
        ("traceparent", format!("{VALID}{}", "0".repeat(MB))),
        ("tracestate", "a=b".to_owned()),
    ]);
    let (cx, why) = Propagated::extract_verbose(&carrier);
    assert_eq!(why, Err(TraceparentError::TrailingData));
    assert_eq!(cx.span_context, None);
    assert!(cx.trace_state.is_empty(), "tracestate is ignored with it");

    let cx = tracer.start_trace_from_carrier(&carrier);
    assert!(cx.span_context.is_none(), "a new trace was started");
    let mut out: HashMap<String, String> = HashMap::new();
    {
        let _s = tracer.start_span("s");
        tracer.inject(&mut out);
    }
    let sent = &out["traceparent"];
    assert_eq!(sent.len(), 55);
    assert!(!sent.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert!(!out.contains_key("tracestate"));
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.remote_parent_id, None);
    assert_eq!(trace.trace_state, None);
}

// ---------------------------------------------------------------------------------------------
// 10,000 tracestate members.

fn members(n: usize) -> String {
    (0..n)
        .map(|i| format!("k{i}=v{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn ten_thousand_tracestate_members_are_refused_after_the_limit() {
    // Longer than any valid tracestate can be: refused without being read.
    let header = members(10_000);
    assert_eq!(
        header.parse::<TraceState>(),
        Err(TraceStateError::TooLong { len: header.len() })
    );
    let header = members(MAX_MEMBERS + 1);
    assert_eq!(
        header.parse::<TraceState>(),
        Err(TraceStateError::TooManyMembers {
            count: MAX_MEMBERS + 1
        })
    );
    // Split over 10,000 header lines: the same.
    let lines: Vec<String> = (0..10_000).map(|i| format!("k{i}=v")).collect();
    assert_eq!(
        TraceState::from_headers(lines.iter().map(String::as_str)),
        Err(TraceStateError::TooManyMembers {
            count: MAX_MEMBERS + 1
        })
    );
    // 10,000 empty members are no members.
    assert_eq!(
        ",".repeat(10_000).parse::<TraceState>(),
        Ok(TraceState::new())
    );
    // Exactly the limit is fine.
    assert_eq!(
        members(MAX_MEMBERS)
            .parse::<TraceState>()
            .map(|ts| ts.len()),
        Ok(MAX_MEMBERS)
    );
}

#[test]
fn ten_thousand_tracestate_members_are_discarded_while_the_traceparent_stands() {
    let tracer = RequestTracer::new("svc");
    let carrier = headers(&[
        ("traceparent", VALID.to_owned()),
        ("tracestate", members(10_000)),
    ]);
    let cx = tracer.start_trace_from_carrier(&carrier);
    assert_eq!(
        cx.span_context.as_ref().map(|c| c.trace_id.to_string()),
        Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
    );
    assert!(cx.trace_state.is_empty());
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.trace_state, None);
}

#[test]
fn a_one_megabyte_baggage_keeps_within_its_limits() {
    let header = (0..100_000)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(header.len() > MB / 2);
    assert!(header.parse::<Baggage>().is_err());
    let lenient = Baggage::from_header([header.as_str()]);
    assert_eq!(lenient.len(), MAX_BAGGAGE_MEMBERS);
    assert!(lenient.header_len() <= MAX_BYTES);
    assert_eq!(lenient.get("k0"), Some("v"));
    assert_eq!(lenient.get("k64"), None);
    // One member with a 1 MB value: skipped whole, and nothing past the first 8192 bytes of
    // the header is read (W3C's limit applies to the string as received; parsing stays linear
    // and bounded whatever the input's size).
    let one = format!("big={},small=1", "v".repeat(MB));
    let b = Baggage::from_header([one.as_str()]);
    assert_eq!(b.get("big"), None);
    assert_eq!(b.get("small"), None);
    let first = format!("small=1,big={}", "v".repeat(MB));
    let b = Baggage::from_header([first.as_str()]);
    assert_eq!(b.get("small"), Some("1"));
    assert_eq!(b.get("big"), None);
}

// ---------------------------------------------------------------------------------------------
// 1,000,000 attributes on one span.

const MILLION: u32 = 1_000_000;

#[test]
fn a_million_attributes_on_one_span_keep_the_limit_and_count_the_rest() {
    let tracer = RequestTracer::new("svc");
    let limit = tracer.limits().max_attributes_per_span as u32;
    tracer.start_trace();
    {
        let mut s = tracer.start_span("wide");
        for i in 0..MILLION {
            s.set_attribute("k", i);
        }
        s.add_event(
            "wide-event",
            (0..MILLION).map(|i| KeyValue::new("e", i64::from(i))),
        );
    }
    let trace = tracer.end_trace().unwrap();
    let span = &trace.spans[0];
    assert_eq!(span.attributes.len() as u32, limit);
    assert_eq!(span.dropped_attributes_count, MILLION - limit);
    assert_eq!(span.attributes[0].value, Value::I64(0));
    assert_eq!(span.events[0].attributes.len() as u32, limit);
    let stats = tracer.stats();
    assert_eq!(stats.attributes_dropped, 2 * u64::from(MILLION - limit));
}

#[test]
fn a_million_attributes_on_a_detached_span_keep_the_limit_and_count_the_rest() {
    let tracer = RequestTracer::new("svc");
    let limit = tracer.limits().max_attributes_per_span as u32;
    tracer.start_trace();
    let mut s = tracer.start_detached_span("wide");
    std::thread::spawn(move || {
        for i in 0..MILLION {
            s.set_attribute("k", i);
        }
    })
    .join()
    .unwrap();
    let trace = tracer.end_trace().unwrap();
    let span = &trace.spans[0];
    assert_eq!(span.attributes.len() as u32, limit);
    assert_eq!(span.dropped_attributes_count, MILLION - limit);
    assert_eq!(
        tracer.stats().attributes_dropped,
        u64::from(MILLION - limit)
    );
}

#[test]
fn attributes_beyond_u16_max_are_counted() {
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_attributes_per_span(MILLION as usize))
        .build();
    tracer.start_trace();
    {
        let mut s = tracer.start_span("wide");
        for i in 0..MILLION {
            s.set_attribute("k", i);
        }
    }
    let mut d = tracer.start_detached_span("wide-detached");
    for i in 0..MILLION {
        d.set_attribute("k", i);
    }
    d.end();
    let trace = tracer.end_trace().unwrap();
    for span in &trace.spans {
        assert_eq!(
            span.attributes.len() as u64 + u64::from(span.dropped_attributes_count),
            u64::from(MILLION),
            "{}: attributes lost without a count",
            span.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid UTF-8 through lossy paths.

/// Bytes a service might receive, decoded the way Rust code must: lossily.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const BAD: &[u8] = b"ok\xff\xfe\xc3(\xed\xa0\x80end\"\\\n\x00\x1f\xe2\x80\xa8";

#[test]
fn lossily_decoded_text_is_recorded_and_encoded_faithfully() {
    let text = lossy(BAD);
    assert!(text.contains('\u{FFFD}'));
    let tracer = RequestTracer::builder(lossy(b"svc\xff"))
        .resource_attribute(lossy(b"r\xfe"), lossy(BAD))
        .build();
    tracer
        .trace_builder()
        .attribute(lossy(b"t\xff"), lossy(BAD))
        .start();
    let t2 = tracer.clone();
    let ctx = {
        let mut s = tracer.start_span(lossy(b"name\xc0\xaf"));
        s.set_attribute(lossy(b"key\x80"), lossy(BAD));
        s.set_attribute("array", vec![lossy(BAD), lossy(b"\xff")]);
        s.add_event(
            lossy(b"ev\xff"),
            [KeyValue::new(lossy(b"k\xff"), lossy(BAD))],
        );
        s.set_error(lossy(BAD));
        s.handle().unwrap()
    };
    std::thread::Builder::new()
        .name(lossy(b"thread\xff"))
        .spawn(move || {
            let _s = t2.start_span_with_parent("child", &ctx);
        })
        .unwrap()
        .join()
        .unwrap();
    let trace = tracer.end_trace().unwrap();
    let span = trace
        .span(&lossy(b"name\xc0\xaf"))
        .expect("lossy name kept");
    assert_eq!(
        span.attribute(&lossy(b"key\x80")),
        Some(&Value::from(text.clone()))
    );
    assert_eq!(span.error.as_deref(), Some(text.as_str()));
    let child = trace.span("child").unwrap();
    assert_eq!(
        child.thread_name.as_deref(),
        Some(lossy(b"thread\xff").as_str())
    );

    // Native JSON: valid, and reads back equal.
    let traces = vec![trace];
    let mut native = Vec::new();
    write_native(&mut native, &traces, Style::Compact).unwrap();
    assert_eq!(read_native(&native[..]).unwrap(), traces);
    // OTLP and Chrome: valid JSON carrying the same text.
    let mut otlp = Vec::new();
    write_otlp(
        &mut otlp,
        &traces,
        &Resource::new("hostile"),
        Style::Compact,
    )
    .unwrap();
    let otlp: Json = serde_json::from_slice(&otlp).unwrap();
    let attrs = &otlp["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == lossy(b"name\xc0\xaf").as_str())
        .unwrap()["attributes"];
    assert!(
        attrs
            .as_array()
            .unwrap()
            .iter()
            .any(|kv| kv["key"] == lossy(b"key\x80").as_str()
                && kv["value"]["stringValue"] == text.as_str())
    );
    let mut chrome = Vec::new();
    write_chrome(&mut chrome, &traces, Style::Compact).unwrap();
    let chrome: Json = serde_json::from_slice(&chrome).unwrap();
    let slice = chrome["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ph"] == "X" && e["name"] == lossy(b"name\xc0\xaf").as_str())
        .unwrap();
    assert_eq!(
        slice["args"]["attributes"][lossy(b"key\x80").as_str()],
        text.as_str()
    );
}

#[test]
fn truncation_never_splits_a_replacement_character() {
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_attribute_value_len(5))
        .build();
    tracer.start_trace();
    {
        let mut s = tracer.start_span("s");
        // "ab" + U+FFFD (3 bytes) + "c": 6 bytes, cut to 5 would split U+FFFD.
        s.set_attribute("v", lossy(b"ab\xffc"));
        s.set_attribute("fits", lossy(b"ab\xff")); // exactly 5 bytes
        s.set_error(lossy(b"abcd\xff"));
    }
    let trace = tracer.end_trace().unwrap();
    let s = &trace.spans[0];
    assert_eq!(s.attribute("v"), Some(&Value::from("ab\u{FFFD}")));
    assert_eq!(s.attribute("fits"), Some(&Value::from("ab\u{FFFD}")));
    assert_eq!(s.error.as_deref(), Some("abcd"));
    // One attribute value cut; the error message is counted with the cut names and messages.
    assert_eq!(tracer.stats().values_truncated, 1);
    assert_eq!(tracer.stats().names_truncated, 1);
}

#[test]
fn baggage_with_percent_encoded_invalid_utf8_decodes_lossily_and_round_trips() {
    let b: Baggage = "k=%FF%C3%28ok,j=%E2%82".parse().unwrap();
    assert_eq!(b.get("k"), Some("\u{FFFD}\u{FFFD}(ok"));
    assert_eq!(b.get("j"), Some("\u{FFFD}"));
    let again: Baggage = b.to_string().parse().unwrap();
    assert_eq!(again, b);
    // Through the carrier and the tracer.
    let carrier = headers(&[
        ("traceparent", VALID.to_owned()),
        ("baggage", "k=%FF%C3%28ok".to_owned()),
    ]);
    let tracer = RequestTracer::new("svc");
    let cx = tracer.start_trace_from_carrier(&carrier);
    assert_eq!(cx.baggage.get("k"), Some("\u{FFFD}\u{FFFD}(ok"));
    let mut out: HashMap<String, String> = HashMap::new();
    tracer.inject_with_baggage(&cx.baggage, &mut out);
    let sent: Baggage = out["baggage"].parse().unwrap();
    assert_eq!(sent.get("k"), Some("\u{FFFD}\u{FFFD}(ok"));
    tracer.end_trace();
}

#[test]
fn headers_with_replacement_characters_are_rejected_not_misread() {
    let tp = format!(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902{}-01",
        lossy(b"\xff")
    );
    // Same byte length as 55 - 2 + 3: too long, or a bad parent id; never accepted.
    assert!(tp.parse::<Traceparent>().is_err());
    let tp = format!(
        "00-4bf92f3577b34da6a3ce929d0e0e4{}-00f067aa0ba902b7-01",
        lossy(b"\xff")
    );
    assert!(tp.parse::<Traceparent>().is_err());
    assert!(matches!(
        lossy(b"k=\xff").parse::<TraceState>(),
        Err(TraceStateError::InvalidValue { .. })
    ));
    assert!(matches!(
        lossy(b"k\xff=v").parse::<TraceState>(),
        Err(TraceStateError::InvalidKey { .. })
    ));
    // A raw U+FFFD in a baggage value is not a baggage-octet: strict parsing rejects it,
    // lenient parsing skips that member only.
    assert!(lossy(b"k=\xff").parse::<Baggage>().is_err());
    let b = Baggage::from_header([lossy(b"k=\xff,j=1").as_str()]);
    assert_eq!((b.get("k"), b.get("j")), (None, Some("1")));
}

// ---------------------------------------------------------------------------------------------
// NaN and ±inf in every JSON encoding.

/// A trace whose attributes hold NaN, +inf and -inf everywhere attributes can be.
fn non_finite_trace() -> (RequestTracer, Trace) {
    let tracer = RequestTracer::builder("svc")
        .resource_attribute("r.nan", f64::NAN)
        .build();
    tracer
        .trace_builder()
        .attribute("t.inf", f64::INFINITY)
        .start();
    {
        let mut s = tracer.start_span("s");
        s.set_attribute("nan", f64::NAN);
        s.set_attribute("inf", f64::INFINITY);
        s.set_attribute("ninf", f64::NEG_INFINITY);
        s.set_attribute("f32nan", f32::NAN);
        s.set_attribute("arr", vec![f64::NAN, 1.5, f64::NEG_INFINITY]);
        s.set_attribute("negzero", -0.0);
        s.set_attribute("max", f64::MAX);
        s.set_attribute("tiny", f64::MIN_POSITIVE / 4.0); // subnormal
        s.add_event("e", [KeyValue::new("ev.inf", f64::INFINITY)]);
    }
    let trace = tracer.end_trace().unwrap();
    (tracer, trace)
}

#[test]
fn non_finite_floats_in_native_json_and_core_serde() {
    let (_t, trace) = non_finite_trace();
    let expect_span = json!({
        "nan": "NaN", "inf": "inf", "ninf": "-inf", "f32nan": "NaN",
        "arr": ["NaN", 1.5, "-inf"], "negzero": -0.0, "max": f64::MAX,
        "tiny": f64::MIN_POSITIVE / 4.0,
        // The trace's root span carries the trace-level attribute too.
        "t.inf": "inf",
    });
    let traces = vec![trace.clone()];
    let mut native = Vec::new();
    write_native(&mut native, &traces, Style::Pretty).unwrap();
    let doc: Json = serde_json::from_slice(&native).expect("valid JSON");
    assert_eq!(doc[0]["spans"][0]["attributes"], expect_span);
    assert_eq!(doc[0]["attributes"], json!({"t.inf": "inf"}));
    assert_eq!(
        doc[0]["spans"][0]["events"][0]["attributes"],
        json!({"ev.inf": "inf"})
    );
    // Core's serde writes the same.
    let core = serde_json::to_value(&trace).unwrap();
    assert_eq!(core["spans"][0]["attributes"], expect_span);
    // Reading back: the documented loss, non-finite floats come back as those strings;
    // finite extremes come back bit-exact.
    let back = read_native(&native[..]).unwrap();
    let s = &back[0].spans[0];
    assert_eq!(s.attribute("nan"), Some(&Value::from("NaN")));
    assert_eq!(s.attribute("ninf"), Some(&Value::from("-inf")));
    let bits = |v: Option<&Value>| v.and_then(Value::as_f64).map(f64::to_bits);
    assert_eq!(bits(s.attribute("negzero")), Some((-0.0f64).to_bits()));
    assert_eq!(bits(s.attribute("max")), Some(f64::MAX.to_bits()));
    assert_eq!(
        bits(s.attribute("tiny")),
        Some((f64::MIN_POSITIVE / 4.0).to_bits())
    );
}

#[test]
fn non_finite_floats_in_otlp_json() {
    let (_t, trace) = non_finite_trace();
    let mut otlp = Vec::new();
    write_otlp(
        &mut otlp,
        &[trace],
        &Resource::new("hostile"),
        Style::Compact,
    )
    .unwrap();
    let doc: Json = serde_json::from_slice(&otlp).expect("valid JSON");
    let attrs: HashMap<String, Json> =
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| (kv["key"].as_str().unwrap().to_owned(), kv["value"].clone()))
            .collect();
    assert_eq!(attrs["nan"], json!({"doubleValue": "NaN"}));
    assert_eq!(attrs["inf"], json!({"doubleValue": "Infinity"}));
    assert_eq!(attrs["ninf"], json!({"doubleValue": "-Infinity"}));
    assert_eq!(
        attrs["arr"],
        json!({"arrayValue": {"values": [
            {"doubleValue": "NaN"}, {"doubleValue": 1.5}, {"doubleValue": "-Infinity"}]}})
    );
    let span = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(
        span["events"][0]["attributes"][0]["value"],
        json!({"doubleValue": "Infinity"})
    );
}

#[test]
fn non_finite_floats_in_chrome_trace_json() {
    let (_t, trace) = non_finite_trace();
    let mut chrome = Vec::new();
    write_chrome(&mut chrome, &[trace], Style::Compact).unwrap();
    let doc: Json = serde_json::from_slice(&chrome).expect("valid JSON");
    let events = doc["traceEvents"].as_array().unwrap();
    let slice = events.iter().find(|e| e["ph"] == "X").unwrap();
    let a = &slice["args"]["attributes"];
    assert_eq!(a["nan"], "NaN");
    assert_eq!(a["inf"], "inf");
    assert_eq!(a["ninf"], "-inf");
    assert_eq!(a["arr"], json!(["NaN", 1.5, "-inf"]));
    let instant = events.iter().find(|e| e["ph"] == "i").unwrap();
    assert_eq!(instant["args"]["attributes"]["ev.inf"], "inf", "{instant}");
}

/// A writer the exporter owns while the test keeps a handle on the bytes.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn non_finite_floats_in_both_json_lines_formats() {
    for format in [LineFormat::Native, LineFormat::Otlp] {
        let out = Shared::default();
        let tracer = RequestTracer::builder("svc")
            .resource_attribute("r.nan", f64::NAN)
            .exporter(
                JsonLinesExporter::builder()
                    .format(format)
                    .writer(out.clone()),
                BatchConfig::default().flush_interval(Duration::from_millis(10)),
            )
            .build();
        tracer.start_trace();
        {
            let mut s = tracer.start_span("s");
            s.set_attribute("nan", f64::NAN);
            s.set_attribute("ninf", f64::NEG_INFINITY);
        }
        tracer.end_trace();
        tracer.shutdown().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        let lines: Vec<Json> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("each line is valid JSON"))
            .collect();
        assert_eq!(lines.len(), 1, "{format:?}");
        match format {
            LineFormat::Native => {
                assert_eq!(lines[0]["resource"]["attributes"]["r.nan"], "NaN");
                let attrs = &lines[0]["spans"][0]["attributes"];
                assert_eq!(attrs, &json!({"nan": "NaN", "ninf": "-inf"}));
                let batches: Vec<_> = read_native_lines(&bytes[..]).collect();
                let batch = batches.into_iter().next().unwrap().unwrap();
                assert_eq!(batch.spans[0].attribute("nan"), Some(&Value::from("NaN")));
            }
            _ => {
                let rs = &lines[0]["resourceSpans"][0];
                assert_eq!(
                    rs["resource"]["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|kv| kv["key"] == "r.nan")
                        .unwrap()["value"],
                    json!({"doubleValue": "NaN"})
                );
                // (OTLP spans also carry thread.id / thread.name attributes.)
                let attrs: Vec<&Json> = rs["scopeSpans"][0]["spans"][0]["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|kv| !kv["key"].as_str().unwrap().starts_with("thread."))
                    .collect();
                assert_eq!(
                    attrs,
                    [
                        &json!({"key": "nan", "value": {"doubleValue": "NaN"}}),
                        &json!({"key": "ninf", "value": {"doubleValue": "-Infinity"}})
                    ]
                );
            }
        }
    }
}

#[test]
fn extreme_hand_built_span_data_still_encodes_as_valid_json() {
    // SpanData is public: a caller can hand the encoders anything. End before start, times at
    // the ends of u64, empty and control-character names, integer extremes.
    let trace_id = TraceId::from_u128(1).unwrap();
    let mut spans = Vec::new();
    for (i, (start, end)) in [(u64::MAX, 0), (0, u64::MAX), (u64::MAX, u64::MAX), (0, 0)]
        .into_iter()
        .enumerate()
    {
        spans.push(SpanData {
            name: if i == 0 {
                "".into()
            } else {
                "\u{0}\u{1f}\"\\\u{2028}\u{FFFD}".into()
            },
            trace_id,
            span_id: reqtrace_core::SpanId::from_u64(i as u64 + 1).unwrap(),
            trace_flags: Default::default(),
            parent_id: None,
            parent_is_remote: false,
            kind: reqtrace_core::SpanKind::Internal,
            start_unix_nanos: start,
            end_unix_nanos: end,
            attributes: vec![
                KeyValue::new("min", i64::MIN),
                KeyValue::new("max", u64::MAX),
                KeyValue::new("", ""),
                KeyValue::new(
                    "nested",
                    Value::Array(vec![Value::Array(vec![Value::F64(f64::NAN)])]),
                ),
            ],
            events: vec![],
            status: reqtrace_core::StatusCode::Unset,
            error: None,
            thread_id: u64::MAX,
            thread_name: None,
            dropped_attributes_count: u32::MAX,
            dropped_events_count: u32::MAX,
            links: Vec::new(),
            dropped_links_count: u32::MAX,
            unfinished: true,
        });
    }
    let trace = Trace {
        trace_id,
        service_name: "".into(),
        attributes: vec![],
        start_unix_nanos: u64::MAX,
        end_unix_nanos: 0,
        trace_flags: TraceFlags::SAMPLED,
        trace_state: Some("\u{0}".into()),
        remote_parent_id: None,
        spans,
        dropped_spans_count: u64::MAX,
    };
    let traces = vec![trace];
    for (name, bytes) in [
        ("native", {
            let mut v = Vec::new();
            write_native(&mut v, &traces, Style::Pretty).unwrap();
            v
        }),
        ("otlp", {
            let mut v = Vec::new();
            write_otlp(&mut v, &traces, &Resource::new("hostile"), Style::Compact).unwrap();
            v
        }),
        ("chrome", {
            let mut v = Vec::new();
            write_chrome(&mut v, &traces, Style::Compact).unwrap();
            v
        }),
    ] {
        let doc: Result<Json, _> = serde_json::from_slice(&bytes);
        assert!(doc.is_ok(), "{name}: {doc:?}");
    }
    // Native reads back what it wrote, except the documented non-finite float.
    let mut native = Vec::new();
    write_native(&mut native, &traces, Style::Compact).unwrap();
    let back = read_native(&native[..]).unwrap();
    assert_eq!(back[0].spans.len(), 4);
    assert_eq!(back[0].spans[1].name, traces[0].spans[1].name);
    assert_eq!(back[0].spans[0].end_unix_nanos, 0);
    assert_eq!(back[0].dropped_spans_count, u64::MAX);
}
