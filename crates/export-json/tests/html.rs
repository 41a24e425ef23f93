//! The HTML viewer's file: the page is self-contained, the embedded data decodes (by the format
//! documented in `src/html.rs`, read independently here) back to the traces it was written
//! from, and no string from the data can leave the data's `<script>` element.
//! The page's behaviour in a browser is checked by `.ci/viewer-check.sh`.

mod common;

use std::borrow::Cow;
use std::io;

use common::*;
use reqtrace_core::{Event, KeyValue, SpanKind, StatusCode, Trace, Value};
use reqtrace_export_json::write_html;
use serde_json::Value as Json;

const OPEN: &str = r#"<script type="application/json" id="reqtrace-data">"#;

fn page(traces: &[Trace]) -> String {
    let mut out = Vec::new();
    write_html(&mut out, traces).unwrap();
    String::from_utf8(out).expect("the page is UTF-8")
}

/// The page split around the data: (before, data, after).
fn split(page: &str) -> (&str, &str, &str) {
    let (before, rest) = page.split_once(OPEN).expect("a data element");
    let (data, after) = rest
        .split_once("</script>")
        .expect("the data element closes");
    (before, data, after)
}

fn data(page: &str) -> Json {
    serde_json::from_str(split(page).1).expect("the data is strict JSON")
}

/// The last value of each key, in the order of the last setting (what every encoder writes).
fn last_wins(attrs: &[KeyValue]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for kv in attrs {
        out.retain(|(k, _)| *k != *kv.key);
        out.push((kv.key.to_string(), kv.value.clone()));
    }
    out
}

/// One decoded `type, value` pair, as the attribute `Value` it stands for.
fn decode_value(s: &[Json], ty: &Json, v: &Json) -> Value {
    match ty.as_u64().expect("type code") {
        0 => Value::String(Cow::Owned(
            s[v.as_u64().unwrap() as usize].as_str().unwrap().to_owned(),
        )),
        1 => Value::I64(match v {
            Json::String(d) => d.parse().unwrap(),
            n => n.as_i64().expect("an int"),
        }),
        2 => Value::F64(match v {
            Json::String(n) if n == "NaN" => f64::NAN,
            Json::String(n) if n == "inf" => f64::INFINITY,
            Json::String(n) if n == "-inf" => f64::NEG_INFINITY,
            n => n.as_f64().expect("a float"),
        }),
        3 => Value::Bool(match v.as_u64().unwrap() {
            0 => false,
            1 => true,
            other => panic!("bool {other}"),
        }),
        4 => {
            let items = v.as_array().unwrap();
            assert_eq!(items.len() % 2, 0, "arrays are type, value pairs");
            Value::Array(
                items
                    .chunks(2)
                    .map(|p| decode_value(s, &p[0], &p[1]))
                    .collect(),
            )
        }
        other => panic!("unknown type {other}"),
    }
}

fn decode_attrs(s: &[Json], flat: Option<&Json>) -> Vec<(String, Value)> {
    let Some(flat) = flat else { return Vec::new() };
    let flat = flat.as_array().unwrap();
    assert_eq!(flat.len() % 3, 0, "attributes are key, type, value triples");
    flat.chunks(3)
        .map(|t| {
            let key = s[t[0].as_u64().unwrap() as usize].as_str().unwrap();
            (key.to_owned(), decode_value(s, &t[1], &t[2]))
        })
        .collect()
}

/// Values compare with NaN equal to NaN (bit patterns of floats), so expectations can hold NaN.
fn same(a: &[(String, Value)], b: &[(String, Value)]) -> bool {
    fn eq(x: &Value, y: &Value) -> bool {
        match (x, y) {
            (Value::F64(p), Value::F64(q)) => {
                p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
            }
            (Value::Array(p), Value::Array(q)) => {
                p.len() == q.len() && p.iter().zip(q).all(|(x, y)| eq(x, y))
            }
            _ => x == y,
        }
    }
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && eq(va, vb))
}

/// Checks that the document describes `traces` exactly, field by field.
fn assert_describes(doc: &Json, traces: &[Trace]) {
    assert_eq!(doc["v"], 1);
    let s = doc["s"].as_array().unwrap();
    let th = doc["th"].as_array().unwrap();
    let string = |v: &Json| {
        s[v.as_u64().expect("a string index") as usize]
            .as_str()
            .unwrap()
    };
    let t_out = doc["t"].as_array().unwrap();
    assert_eq!(t_out.len(), traces.len());
    for (t, r) in traces.iter().zip(t_out) {
        let origin = t
            .spans
            .iter()
            .map(|s| s.start_unix_nanos)
            .chain([t.start_unix_nanos])
            .min()
            .unwrap();
        assert_eq!(r[0].as_str().unwrap(), t.trace_id.to_string());
        assert_eq!(string(&r[1]), t.service_name);
        assert_eq!(r[2].as_u64().unwrap(), t.start_unix_nanos / 1_000_000);
        assert_eq!(
            r[3].as_u64().unwrap(),
            t.end_unix_nanos - t.start_unix_nanos
        );
        assert_eq!(r[4].as_u64().unwrap(), t.start_unix_nanos - origin);
        assert!(same(
            &decode_attrs(s, Some(&r[6])),
            &last_wins(&t.attributes)
        ));
        let extra = r[7].as_object().unwrap();
        assert_eq!(
            extra.get("d").and_then(Json::as_u64).unwrap_or(0),
            t.dropped_spans_count
        );
        assert_eq!(
            extra.get("p").and_then(Json::as_str).map(str::to_owned),
            t.remote_parent_id.map(|p| p.to_string())
        );
        assert_eq!(extra.get("ts").map(&string), t.trace_state.as_deref());

        let spans = r[5].as_array().unwrap();
        assert_eq!(spans.len(), t.spans.len());
        for (sp, o) in t.spans.iter().zip(spans) {
            let o = o.as_array().unwrap();
            assert!(
                (7..=10).contains(&o.len()),
                "span arrays have 7 to 10 fields"
            );
            assert_eq!(o[0].as_str().unwrap(), sp.span_id.to_string());
            assert_eq!(string(&o[1]), sp.name);
            match (&o[2], sp.parent_id) {
                (Json::Null, None) => {}
                (Json::Number(i), Some(p)) => {
                    let parent = &t.spans[i.as_u64().unwrap() as usize];
                    assert_eq!(parent.span_id, p);
                    assert_ne!(parent.span_id, sp.span_id);
                }
                (Json::String(hex), Some(p)) => {
                    assert_eq!(*hex, p.to_string());
                    assert!(
                        Some(p) == t.remote_parent_id
                            || p == sp.span_id
                            || !t.spans.iter().any(|x| x.span_id == p),
                        "a parent in the trace is written as its index"
                    );
                }
                (other, p) => panic!("parent {other} for {p:?}"),
            }
            let thread = th[o[3].as_u64().unwrap() as usize].as_array().unwrap();
            assert_eq!(thread[0].as_u64().unwrap(), sp.thread_id);
            assert_eq!(
                thread[1].as_u64().map(|i| s[i as usize].as_str().unwrap()),
                sp.thread_name.as_deref()
            );
            assert_eq!(o[4].as_u64().unwrap(), sp.start_unix_nanos - origin);
            assert_eq!(
                o[5].as_u64().unwrap(),
                sp.end_unix_nanos - sp.start_unix_nanos
            );
            let status = match sp.status {
                StatusCode::Unset => 0,
                StatusCode::Ok => 1,
                StatusCode::Error => 2,
            };
            assert_eq!(o[6].as_u64().unwrap(), status);
            assert!(same(&decode_attrs(s, o.get(7)), &last_wins(&sp.attributes)));
            let events = o
                .get(8)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            assert_eq!(events.len(), sp.events.len());
            for (e, eo) in sp.events.iter().zip(&events) {
                assert_eq!(string(&eo[0]), e.name);
                assert_eq!(eo[1].as_u64().unwrap(), e.time_unix_nanos - origin);
                assert!(same(&decode_attrs(s, eo.get(2)), &last_wins(&e.attributes)));
            }
            let x = o
                .get(9)
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default();
            assert_eq!(x.get("e").map(&string), sp.error.as_deref());
            let kind = match sp.kind {
                SpanKind::Internal => None,
                SpanKind::Server => Some("server"),
                SpanKind::Client => Some("client"),
                SpanKind::Producer => Some("producer"),
                SpanKind::Consumer => Some("consumer"),
            };
            assert_eq!(x.get("k").and_then(Json::as_str), kind);
            assert_eq!(x.contains_key("u"), sp.unfinished);
            assert_eq!(x.contains_key("r"), sp.parent_is_remote);
            assert_eq!(
                x.get("da").and_then(Json::as_u64).unwrap_or(0),
                u64::from(sp.dropped_attributes_count)
            );
            assert_eq!(
                x.get("de").and_then(Json::as_u64).unwrap_or(0),
                u64::from(sp.dropped_events_count)
            );
            assert_eq!(
                x.get("dl").and_then(Json::as_u64).unwrap_or(0),
                u64::from(sp.dropped_links_count)
            );
            let links = x
                .get("l")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            assert_eq!(links.len(), sp.links.len());
            for (l, lo) in sp.links.iter().zip(&links) {
                assert_eq!(lo[0].as_str().unwrap(), l.context.trace_id.to_string());
                assert_eq!(lo[1].as_str().unwrap(), l.context.span_id.to_string());
                assert!(same(&decode_attrs(s, lo.get(2)), &last_wins(&l.attributes)));
            }
        }
    }
}

#[test]
fn the_data_describes_every_field_of_the_traces() {
    let traces = with_non_finite();
    assert_describes(&data(&page(&traces)), &traces);
}

#[test]
fn each_string_is_written_once_in_the_string_table() {
    let traces = many(20, 30);
    let doc = data(&page(&traces));
    let s: Vec<&str> = doc["s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut seen = std::collections::HashSet::new();
    assert!(s.iter().all(|x| seen.insert(*x)), "no string twice: {s:?}");
    // Names, services, keys and values: root child a b i name x.
    assert_eq!(seen.len(), 7, "{s:?}");
    assert_describes(&doc, &traces);
}

#[test]
fn the_page_is_self_contained() {
    let page = page(&fixture());
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.trim_end().ends_with("</html>"));
    let lower = page.to_ascii_lowercase();
    for needle in [
        "http:",
        "https:",
        "src=",
        "href=",
        "url(",
        "@import",
        "fetch(",
        "xmlhttprequest",
        "innerhtml",
        "outerhtml",
        "insertadjacenthtml",
        "document.write",
        "eval(",
    ] {
        assert!(!lower.contains(needle), "the page contains {needle:?}");
    }
    assert!(lower.contains("content-security-policy"));
    assert!(lower.contains("default-src 'none'"));
    // One style element, one data element, one script: nothing else is loaded.
    assert_eq!(lower.matches("<script").count(), 2);
    assert_eq!(lower.matches("<style").count(), 1);
}

#[test]
fn an_empty_input_writes_a_page_with_no_traces() {
    let doc = data(&page(&[]));
    assert_eq!(doc["t"], Json::Array(vec![]));
    assert_eq!(doc["th"], Json::Array(vec![]));
    assert_eq!(doc["s"], Json::Array(vec![]));
    let no_spans = trace(tid(7), "svc", vec![]);
    let doc = data(&page(std::slice::from_ref(&no_spans)));
    assert_eq!(doc["t"][0][5], Json::Array(vec![]));
    assert_describes(&doc, &[no_spans]);
}

/// Markup in every place a string from the data can go.
fn hostile() -> Vec<Trace> {
    const MARKUP: [&str; 6] = [
        "</script><script>alert(1)</script>",
        "</SCRIPT >",
        "<img src=x onerror=alert(1)>",
        "<!-- <script>",
        "]]></style><b>",
        "\u{2028}\u{2029}</script\u{0}",
    ];
    let id = tid(0xabc);
    let mut spans = Vec::new();
    for (i, m) in MARKUP.iter().enumerate() {
        let mut s = span(
            id,
            i as u64 + 1,
            (i > 0).then_some(1),
            m,
            i as u64,
            us(i as u64),
            us(10),
        );
        s.thread_name = Some(Cow::Owned((*m).to_owned()));
        s.attributes = vec![
            KeyValue::new(*m, *m),
            KeyValue::new("list", vec![m.to_string(), m.to_string()]),
        ];
        s.events = vec![Event {
            name: Cow::Owned((*m).to_owned()),
            time_unix_nanos: us(5),
            attributes: vec![KeyValue::new(*m, m.to_string())],
        }];
        s.status = StatusCode::Error;
        s.error = Some((*m).to_owned());
        spans.push(s);
    }
    let mut t = trace(id, MARKUP[0], spans);
    t.trace_state = Some(MARKUP[3].to_owned());
    t.attributes = vec![KeyValue::new(MARKUP[2], MARKUP[1])];
    vec![t]
}

#[test]
fn no_string_from_the_data_can_close_its_script_element() {
    let traces = hostile();
    let page = page(&traces);
    let (_, data_text, after) = split(&page);
    assert!(!data_text.contains('<'), "every < in the data is escaped");
    assert!(data_text.contains(r"\u003c/script>"));
    // The page's own tags are the only ones: the data element ends where the template's
    // `</script>` is, and exactly two script elements close.
    let lower = page.to_ascii_lowercase();
    assert_eq!(lower.matches("</script").count(), 2);
    assert_eq!(lower.matches("<script").count(), 2);
    assert_eq!(lower.matches("<img").count(), 0);
    assert!(after.starts_with("\n<script>"));
    // And the strings are all still there, exactly.
    assert_describes(&data(&page), &traces);
}

#[test]
fn unicode_and_control_characters_survive() {
    let id = tid(0x1);
    let mut s = span(id, 1, None, "漢字 🦀 é", 1, us(0), us(3));
    s.thread_name = Some("ワーカー-1".into());
    s.attributes = vec![
        KeyValue::new("ключ", "значение \u{0}\u{1f}\u{7f} \u{2028}"),
        KeyValue::new("emoji", "👩‍👩‍👧 ❤️"),
        KeyValue::new(NASTY, NASTY),
    ];
    let traces = vec![trace(id, "サービス", vec![s])];
    let page = page(&traces);
    assert!(page.contains("漢字 🦀 é"), "non-ASCII is written as UTF-8");
    assert_describes(&data(&page), &traces);
}

#[test]
fn error_spans_events_and_odd_parents_are_kept() {
    let id = tid(0x99);
    let mut root = span(id, 1, Some(0x77), "root", 1, us(10), us(100));
    root.parent_is_remote = true;
    let mut failing = span(id, 2, Some(1), "call", 2, us(20), us(60));
    failing.status = StatusCode::Error;
    failing.error = Some("upstream timeout".into());
    failing.kind = SpanKind::Client;
    failing.events = vec![
        Event {
            name: "retry".into(),
            time_unix_nanos: us(30),
            attributes: vec![KeyValue::new("attempt", 1), KeyValue::new("attempt", 2)],
        },
        Event {
            name: "gave up".into(),
            time_unix_nanos: us(60),
            attributes: vec![],
        },
    ];
    // A parent that is not in the trace (dropped), and a span naming itself as parent.
    let orphan = span(id, 3, Some(0x55), "orphan", 1, us(5), us(8));
    let selfish = span(id, 4, Some(4), "selfish", 1, us(40), us(50));
    let mut t = trace(id, "svc", vec![root, failing, orphan, selfish]);
    t.remote_parent_id = Some(sid(0x77));
    t.start_unix_nanos = us(10);
    let doc = data(&page(std::slice::from_ref(&t)));
    assert_describes(&doc, std::slice::from_ref(&t));

    let spans = doc["t"][0][5].as_array().unwrap();
    // The origin is the orphan's start, before the trace's own start.
    assert_eq!(doc["t"][0][4], 5_000);
    assert_eq!(spans[0][2], "0000000000000077");
    assert_eq!(spans[0][9]["r"], 1);
    assert_eq!(spans[1][2], 0);
    assert_eq!(spans[1][6], 2);
    assert_eq!(spans[1][9]["k"], "client");
    assert_eq!(spans[1][8].as_array().unwrap().len(), 2);
    // "attempt" set twice: once, with the last value.
    assert_eq!(spans[1][8][0][2].as_array().unwrap().len(), 3);
    assert_eq!(spans[2][2], "0000000000000055");
    assert_eq!(spans[3][2], "0000000000000004");
    // Spans with nothing optional stop after the status.
    assert_eq!(spans[2].as_array().unwrap().len(), 7);
}

#[test]
fn numbers_javascript_cannot_hold_exactly_are_strings() {
    let id = tid(0x5);
    let mut s = span(id, 1, None, "n", 1, us(0), us(1));
    s.attributes = vec![
        KeyValue::new("safe", (1i64 << 53) - 1),
        KeyValue::new("unsafe", 1i64 << 53),
        KeyValue::new("min", i64::MIN),
        KeyValue::new("whole float", 3.0),
    ];
    let doc = data(&page(&[trace(id, "s", vec![s])]));
    let a = &doc["t"][0][5][0][7];
    assert_eq!(a[2], 9_007_199_254_740_991i64);
    assert_eq!(a[5], "9007199254740992");
    assert_eq!(a[8], "-9223372036854775808");
    // Type 2 keeps a whole float a float.
    assert_eq!(a[10], 2);
    assert_eq!(a[11].as_f64(), Some(3.0));
}

#[test]
fn durations_beyond_104_days_are_clamped_not_wrapped() {
    let id = tid(0x6);
    let s = span(id, 1, None, "long", 1, us(0), u64::MAX);
    let mut t = trace(id, "s", vec![s]);
    t.end_unix_nanos = u64::MAX;
    let doc = data(&page(&[t]));
    let max_safe = (1u64 << 53) - 1;
    assert_eq!(doc["t"][0][3].as_u64(), Some(max_safe));
    assert_eq!(doc["t"][0][5][0][5].as_u64(), Some(max_safe));
}

#[test]
fn the_output_is_the_same_for_the_same_input() {
    let traces = fixture();
    assert_eq!(page(&traces), page(&traces));
}

#[test]
fn write_errors_are_returned() {
    struct Failing(usize);
    impl io::Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk full"));
            }
            self.0 -= 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    // About 600 KB: more than six writes of the 64 KiB buffer.
    let traces = many(100, 100);
    for budget in [0, 1, 2, 5] {
        let err = write_html(Failing(budget), &traces).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }
}

#[test]
fn bytes_per_span_stay_small() {
    // Demo-like spans: a short name, two or three attributes, ten spans a trace.
    let traces = many(100, 10);
    let mut out = Vec::new();
    write_html(&mut out, &traces).unwrap();
    let mut empty = Vec::new();
    write_html(&mut empty, &[]).unwrap();
    let per_span = (out.len() - empty.len()) as f64 / 1000.0;
    // Span id (18) + indices, times and status (~25) + two attributes (~15) + trace share.
    assert!(per_span < 90.0, "{per_span:.1} bytes/span");
}
