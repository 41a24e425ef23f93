//! Native JSON: round trips, agreement with core's serde, durations, lossy cases, errors.

mod common;

use common::*;
use reqtrace_core::{KeyValue, Trace, Value};
use reqtrace_export_json::{
    Style, read_native, read_native_trace, write_native, write_native_trace,
};
use serde_json::Value as Json;

fn encode(traces: &[Trace], style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    write_native(&mut out, traces, style).unwrap();
    out
}

#[test]
fn round_trips_to_equal_traces_compact_and_pretty() {
    let traces = fixture();
    for style in [Style::Compact, Style::Pretty] {
        let bytes = encode(&traces, style);
        let back = read_native(&bytes[..]).unwrap();
        assert_eq!(back, traces, "{style:?}");
    }
    let compact = encode(&traces, Style::Compact);
    let pretty = encode(&traces, Style::Pretty);
    assert!(!compact.contains(&b'\n'), "compact output is one line");
    assert!(pretty.iter().filter(|&&b| b == b'\n').count() > 50);
}

#[test]
fn single_trace_round_trips() {
    let traces = fixture();
    for t in &traces {
        let mut out = Vec::new();
        write_native_trace(&mut out, t, Style::Pretty).unwrap();
        assert_eq!(&read_native_trace(&out[..]).unwrap(), t);
    }
}

/// Native JSON is read back by core's serde derives, so the writer must write exactly their
/// fields, plus the two durations: compare the parsed documents (serde_json over the derives as
/// an independent reference, not our own output).
#[test]
fn matches_core_serde_plus_durations() {
    let traces = fixture();
    let ours: Json = serde_json::from_slice(&encode(&traces, Style::Compact)).unwrap();
    let reference = serde_json::to_value(&traces).unwrap();
    let ours_traces = ours.as_array().unwrap();
    assert_eq!(ours_traces.len(), traces.len());
    let mut stripped = ours.clone();
    for (t, (json, data)) in stripped
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(&traces)
        .enumerate()
    {
        let obj = json.as_object_mut().unwrap();
        let secs = obj
            .remove("duration_seconds")
            .expect("duration_seconds")
            .as_f64()
            .unwrap();
        let want = (data.end_unix_nanos - data.start_unix_nanos) as f64 / 1e9;
        assert!((secs - want).abs() < 1e-12, "trace {t}: {secs} vs {want}");
        for (span_json, span) in obj["spans"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(&data.spans)
        {
            let ms = span_json
                .as_object_mut()
                .unwrap()
                .remove("duration_ms")
                .expect("duration_ms")
                .as_f64()
                .unwrap();
            let want = (span.end_unix_nanos - span.start_unix_nanos) as f64 / 1e6;
            assert!((ms - want).abs() < 1e-9, "{}: {ms} vs {want}", span.name);
        }
    }
    assert_eq!(stripped, reference);
    // Attribute order is kept, as in the data: the keys appear in the text in that order.
    let text = String::from_utf8(encode(&traces[..1], Style::Compact)).unwrap();
    let mut last = 0;
    for kv in traces[0].spans[0]
        .attributes
        .iter()
        .filter(|kv| kv.key != NASTY)
    {
        let at = text[last..]
            .find(&format!("\"{}\":", kv.key))
            .unwrap_or_else(|| panic!("{} after byte {last}", kv.key));
        last += at + 1;
    }
    assert_eq!(ours_traces.len(), 3);
}

#[test]
fn non_finite_floats_become_strings_and_repeated_keys_keep_the_last_value() {
    let traces = with_non_finite();
    let bytes = encode(&traces, Style::Pretty);
    // Strict JSON: serde_json rejects NaN/Infinity literals, so parsing at all proves validity.
    let doc: Json = serde_json::from_slice(&bytes).unwrap();
    let attrs = &doc[0]["spans"][0]["attributes"];
    assert_eq!(attrs["nan"], "NaN");
    assert_eq!(attrs["inf"], "inf");
    assert_eq!(attrs["ninf"], "-inf");
    assert_eq!(attrs["floats"], serde_json::json!([1.5, "NaN", "inf"]));
    assert_eq!(
        attrs["http.route"], "/chat/v2",
        "the last value of a repeated key wins"
    );
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(
        text.matches("\"http.route\"").count(),
        1,
        "a repeated key is written once"
    );
    assert_eq!(
        doc[0]["spans"][1]["events"][0]["attributes"]["jitter"],
        "-inf"
    );

    // Reading back gives the strings (JSON has no other form), everything else unchanged.
    let back = read_native(&bytes[..]).unwrap();
    let root = &back[0].spans[0];
    assert_eq!(root.attribute("nan"), Some(&Value::String("NaN".into())));
    assert_eq!(
        root.attribute("http.route").and_then(Value::as_str),
        Some("/chat/v2")
    );
    assert_eq!(back[1], traces[1]);
    assert_eq!(back[2], traces[2]);
}

#[test]
fn strings_are_escaped_and_come_back_exactly() {
    let traces = fixture();
    let bytes = encode(&traces, Style::Compact);
    assert!(
        bytes.iter().all(|&b| b >= 0x20),
        "no raw control character in the output"
    );
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains("漢字 🦀"), "non-ASCII is written as UTF-8");
    let back = read_native(&bytes[..]).unwrap();
    let root = &back[0].spans[0];
    assert_eq!(root.attribute(NASTY).and_then(Value::as_str), Some(NASTY));
    assert_eq!(
        back[0].spans[1].error.as_deref(),
        Some(&*format!("timeout: {NASTY}"))
    );
}

#[test]
fn large_integers_and_floats_are_exact() {
    let traces = fixture();
    let back = read_native(&encode(&traces, Style::Compact)[..]).unwrap();
    let root = &back[0].spans[0];
    assert_eq!(root.attribute("big"), Some(&Value::I64(i64::MAX)));
    assert_eq!(root.attribute("small"), Some(&Value::I64(i64::MIN)));
    // A whole float stays a float (not the integer 2).
    assert_eq!(root.attribute("whole"), Some(&Value::F64(2.0)));
    assert_eq!(root.attribute("tiny"), Some(&Value::F64(5e-324)));
    assert_eq!(back[0].start_unix_nanos, traces[0].start_unix_nanos);
}

#[test]
fn empty_input_and_empty_collections() {
    let bytes = encode(&[], Style::Pretty);
    assert_eq!(read_native(&bytes[..]).unwrap(), Vec::<Trace>::new());
    let mut t = fixture().remove(1);
    t.spans.clear();
    t.attributes = vec![KeyValue::new("", "")];
    let back = read_native(&encode(std::slice::from_ref(&t), Style::Compact)[..]).unwrap();
    assert_eq!(back, vec![t]);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    for bad in [
        &b""[..],
        b"{",
        b"[{\"trace_id\": 5}]",
        b"[1, 2]",
        b"\xff\xfe",
        b"[{\"trace_id\":\"00000000000000000000000000000000\"}]",
    ] {
        let err = read_native(bad).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert!(std::error::Error::source(&err).is_some());
    }
    let err = read_native(&b"[\n\n  {\"x\": }]"[..]).unwrap_err();
    assert_eq!(err.line(), Some(3));
}

/// A writer that fails after `left` bytes.
struct Failing {
    left: usize,
}

impl std::io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_are_returned() {
    let traces = many(50, 20);
    let err = write_native(Failing { left: 1000 }, &traces, Style::Compact).unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}
