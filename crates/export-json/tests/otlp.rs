//! OTLP/JSON: the official validator, and the structure decoded back in Rust against the data.

mod common;

use std::collections::HashMap;

use common::*;
use reqtrace_core::{KeyValue, Resource, SpanData, SpanKind, StatusCode, Trace, Value};
use reqtrace_export_json::{SCOPE_NAME, Style, write_otlp, write_otlp_batch};
use serde_json::Value as Json;

fn encode(traces: &[Trace], style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    write_otlp(&mut out, traces, &Resource::new("api"), style).unwrap();
    out
}

/// Decodes an OTLP `AnyValue` into reqtrace's `Value`, by the protocol's rules.
fn any_value(v: &Json) -> Value {
    let obj = v.as_object().expect("AnyValue is an object");
    assert_eq!(obj.len(), 1, "exactly one of the oneof: {v}");
    let (k, x) = obj.iter().next().unwrap();
    match k.as_str() {
        "stringValue" => Value::String(x.as_str().unwrap().to_owned().into()),
        "boolValue" => Value::Bool(x.as_bool().unwrap()),
        "intValue" => Value::I64(x.as_str().expect("intValue is a string").parse().unwrap()),
        "doubleValue" => match x {
            Json::String(s) if s == "NaN" => Value::F64(f64::NAN),
            Json::String(s) if s == "Infinity" => Value::F64(f64::INFINITY),
            Json::String(s) if s == "-Infinity" => Value::F64(f64::NEG_INFINITY),
            Json::Number(n) => Value::F64(n.as_f64().unwrap()),
            other => panic!("bad doubleValue {other}"),
        },
        "arrayValue" => Value::Array(
            x["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(any_value)
                .collect(),
        ),
        other => panic!("unexpected AnyValue field {other}"),
    }
}

/// OTLP attributes as (key, value) pairs, in order; each key must appear once.
fn attributes(v: &Json) -> Vec<(String, Value)> {
    let list: Vec<(String, Value)> = v
        .as_array()
        .expect("attributes is an array")
        .iter()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().to_owned(),
                any_value(&kv["value"]),
            )
        })
        .collect();
    let mut keys: Vec<&str> = list.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), list.len(), "duplicate attribute key in {v}");
    list
}

fn get<'a>(attrs: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Float-aware equality (NaN equals NaN), for comparing decoded values with the data.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

fn last_value<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .rev()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// Checks one decoded span against the data it came from.
fn check_span(json: &Json, s: &SpanData, t: Option<&Trace>) {
    assert_eq!(json["traceId"], s.trace_id.to_string());
    assert_eq!(json["spanId"], s.span_id.to_string());
    assert_eq!(json["name"], &*s.name);
    match s.parent_id {
        Some(p) => assert_eq!(json["parentSpanId"], p.to_string()),
        None => assert!(json.get("parentSpanId").is_none()),
    }
    let kind = match s.kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    assert_eq!(json["kind"], kind, "{}", s.name);
    assert_eq!(json["startTimeUnixNano"], s.start_unix_nanos.to_string());
    assert_eq!(json["endTimeUnixNano"], s.end_unix_nanos.to_string());
    let code = match s.status {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    };
    assert_eq!(json["status"]["code"], code);
    assert_eq!(json["status"]["message"].as_str(), s.error.as_deref());
    assert_eq!(json["droppedAttributesCount"], s.dropped_attributes_count);
    assert_eq!(json["droppedEventsCount"], s.dropped_events_count);
    assert_eq!(json["droppedLinksCount"], s.dropped_links_count);
    let links = json["links"].as_array().unwrap();
    assert_eq!(links.len(), s.links.len());
    for (l, d) in links.iter().zip(&s.links) {
        assert_eq!(l["traceId"], d.context.trace_id.to_string());
        assert_eq!(l["spanId"], d.context.span_id.to_string());
        assert_eq!(l["droppedAttributesCount"], d.dropped_attributes_count);
        let remote = if d.context.is_remote { 0x200 } else { 0 };
        assert_eq!(
            l["flags"],
            u32::from(d.context.trace_flags.to_u8()) | 0x100 | remote
        );
        let attrs = attributes(&l["attributes"]);
        assert_eq!(attrs.len(), d.attributes.len());
        for kv in &d.attributes {
            assert!(same(get(&attrs, &kv.key).unwrap(), &kv.value));
        }
    }

    let attrs = attributes(&json["attributes"]);
    for kv in &s.attributes {
        let want = last_value(&s.attributes, &kv.key).unwrap();
        let got = get(&attrs, &kv.key).unwrap_or_else(|| panic!("missing {}", kv.key));
        assert!(same(got, want), "{}: {got:?} vs {want:?}", kv.key);
    }
    assert_eq!(
        get(&attrs, "thread.id"),
        Some(&Value::I64(s.thread_id as i64))
    );
    assert_eq!(
        get(&attrs, "thread.name").and_then(Value::as_str),
        s.thread_name.as_deref()
    );
    assert_eq!(
        get(&attrs, "reqtrace.unfinished"),
        s.unfinished.then_some(&Value::Bool(true))
    );

    let events = json["events"].as_array().unwrap();
    assert_eq!(events.len(), s.events.len());
    for (j, e) in events.iter().zip(&s.events) {
        assert_eq!(j["name"], &*e.name);
        assert_eq!(j["timeUnixNano"], e.time_unix_nanos.to_string());
        let ea = attributes(&j["attributes"]);
        assert_eq!(ea.len(), e.attributes.len());
        for kv in &e.attributes {
            assert!(same(get(&ea, &kv.key).unwrap(), &kv.value));
        }
    }

    if let Some(t) = t {
        let remote_child = s.parent_id.is_some() && s.parent_id == t.remote_parent_id;
        let flags = u64::from(t.trace_flags.to_u8()) | 0x100 | if remote_child { 0x200 } else { 0 };
        assert_eq!(json["flags"], flags, "{}", s.name);
        assert_eq!(json["traceState"].as_str(), t.trace_state.as_deref());
        // Trace attributes go on root spans; the span's own value wins.
        if s.parent_id.is_none() || remote_child {
            for kv in &t.attributes {
                let want = last_value(&s.attributes, &kv.key).unwrap_or(&kv.value);
                assert!(same(get(&attrs, &kv.key).unwrap(), want), "{}", kv.key);
            }
        } else {
            for kv in &t.attributes {
                if last_value(&s.attributes, &kv.key).is_none() {
                    assert!(get(&attrs, &kv.key).is_none(), "{} on a non-root", kv.key);
                }
            }
        }
    } else {
        // A streamed batch: flags come from the span itself; no trace state.
        let remote = if s.parent_is_remote { 0x200 } else { 0 };
        let flags = u64::from(s.trace_flags.known().to_u8()) | 0x100 | remote;
        assert_eq!(json["flags"], flags, "{}", s.name);
        assert!(json.get("traceState").is_none());
    }
}

#[test]
fn request_structure_matches_the_data() {
    let traces = with_non_finite();
    let doc: Json = serde_json::from_slice(&encode(&traces, Style::Compact)).unwrap();
    let rs = doc["resourceSpans"].as_array().unwrap();
    // One resourceSpans per service, in order of first appearance.
    assert_eq!(rs.len(), 2);
    let mut seen = HashMap::new();
    for (r, service) in rs.iter().zip(["api", "worker ✓"]) {
        let res = attributes(&r["resource"]["attributes"]);
        assert_eq!(
            get(&res, "service.name").and_then(Value::as_str),
            Some(service)
        );
        assert_eq!(
            get(&res, "telemetry.sdk.language").and_then(Value::as_str),
            Some("rust")
        );
        let scopes = r["scopeSpans"].as_array().unwrap();
        assert_eq!(scopes.len(), 1);
        assert_eq!(scopes[0]["scope"]["name"], SCOPE_NAME);
        assert_eq!(scopes[0]["scope"]["version"], env!("CARGO_PKG_VERSION"));
        for span in scopes[0]["spans"].as_array().unwrap() {
            let key = (
                span["traceId"].as_str().unwrap().to_owned(),
                span["spanId"].as_str().unwrap().to_owned(),
            );
            assert!(
                seen.insert(key, (service, span.clone())).is_none(),
                "span written twice"
            );
        }
    }
    let total: usize = traces.iter().map(|t| t.spans.len()).sum();
    assert_eq!(seen.len(), total, "every span written once");
    for t in &traces {
        for s in &t.spans {
            let (service, json) = &seen[&(s.trace_id.to_string(), s.span_id.to_string())];
            assert_eq!(*service, &*t.service_name);
            check_span(json, s, Some(t));
        }
    }
}

#[test]
fn non_finite_doubles_use_proto3_names_and_ints_are_strings() {
    let traces = with_non_finite();
    let text = String::from_utf8(encode(&traces, Style::Compact)).unwrap();
    assert!(text.contains(r#"{"doubleValue":"NaN"}"#));
    assert!(text.contains(r#"{"doubleValue":"Infinity"}"#));
    assert!(text.contains(r#"{"doubleValue":"-Infinity"}"#));
    assert!(text.contains(&format!(r#"{{"intValue":"{}"}}"#, i64::MIN)));
    // Strict JSON parses, so no bare NaN/Infinity token was written.
    serde_json::from_str::<Json>(&text).unwrap();
}

#[test]
fn passes_the_official_validator_strict() {
    let dir = temp_dir("otlp");
    for (name, traces) in [
        ("fixture", with_non_finite()),
        ("many", many(40, 25)),
        ("empty", vec![]),
    ] {
        for style in [Style::Compact, Style::Pretty] {
            let path = dir.join(format!("{name}-{style:?}.otlp.json"));
            std::fs::write(&path, encode(&traces, style)).unwrap();
            assert_otlp_valid(&path);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn batch_uses_the_resource_and_the_spans_own_flags() {
    let traces = with_non_finite();
    let spans: Vec<SpanData> = traces.iter().flat_map(|t| t.spans.clone()).collect();
    let mut resource = Resource::new("batch-svc");
    resource.attributes = vec![
        KeyValue::new("service.version", "1.2.3"),
        KeyValue::new("service.name", "ignored: the resource's service_name wins"),
        KeyValue::new("telemetry.sdk.name", "custom"),
    ];
    let mut out = Vec::new();
    write_otlp_batch(&mut out, &spans, &resource).unwrap();
    assert!(!out.contains(&b'\n'), "one line");
    let doc: Json = serde_json::from_slice(&out).unwrap();
    let res = attributes(&doc["resourceSpans"][0]["resource"]["attributes"]);
    assert_eq!(
        get(&res, "service.name").and_then(Value::as_str),
        Some("batch-svc")
    );
    assert_eq!(
        get(&res, "service.version").and_then(Value::as_str),
        Some("1.2.3")
    );
    assert_eq!(
        get(&res, "telemetry.sdk.name").and_then(Value::as_str),
        Some("custom")
    );
    let json_spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(json_spans.len(), spans.len());
    for (j, s) in json_spans.iter().zip(&spans) {
        check_span(j, s, None);
    }
    let path = temp_dir("otlp-batch").join("batch.json");
    std::fs::write(&path, &out).unwrap();
    assert_otlp_valid(&path);
}

/// The file and a streamed batch of the same spans under the same resource carry the same
/// resource (the resource's own attributes on its service only) and the same scope.
#[test]
fn file_and_batch_carry_the_same_resource() {
    let traces = with_non_finite();
    let mut resource = Resource::new("api");
    resource.attributes = vec![
        KeyValue::new("service.version", "1.2.3"),
        KeyValue::new("deployment.environment.name", "test"),
    ];
    let mut file = Vec::new();
    write_otlp(&mut file, &traces, &resource, Style::Compact).unwrap();
    let file: Json = serde_json::from_slice(&file).unwrap();
    let api_spans: Vec<SpanData> = traces
        .iter()
        .filter(|t| t.service_name == "api")
        .flat_map(|t| t.spans.clone())
        .collect();
    let mut batch = Vec::new();
    write_otlp_batch(&mut batch, &api_spans, &resource).unwrap();
    let batch: Json = serde_json::from_slice(&batch).unwrap();

    let file_rs = file["resourceSpans"].as_array().unwrap();
    assert_eq!(file_rs.len(), 2);
    assert_eq!(
        file_rs[0]["resource"], batch["resourceSpans"][0]["resource"],
        "the resource of the tracer's service"
    );
    assert_eq!(
        file_rs[0]["scopeSpans"][0]["scope"],
        batch["resourceSpans"][0]["scopeSpans"][0]["scope"]
    );
    let api = attributes(&file_rs[0]["resource"]["attributes"]);
    assert_eq!(
        get(&api, "service.version").and_then(Value::as_str),
        Some("1.2.3")
    );
    // Another service's traces get only their own name and the SDK's attributes.
    let other = attributes(&file_rs[1]["resource"]["attributes"]);
    assert_eq!(
        get(&other, "service.name").and_then(Value::as_str),
        Some("worker ✓")
    );
    assert_eq!(get(&other, "service.version"), None);
    assert_eq!(other.len(), 4);
}

#[test]
fn end_before_start_is_clamped_so_the_request_stays_valid() {
    let mut t = trace(
        tid(9),
        "svc",
        vec![span(tid(9), 1, None, "backwards", 1, us(10), us(5))],
    );
    t.spans[0].thread_name = None;
    let doc: Json = serde_json::from_slice(&encode(&[t], Style::Compact)).unwrap();
    let s = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(s["endTimeUnixNano"], s["startTimeUnixNano"]);
}
