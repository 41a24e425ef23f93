//! Hand-built traces covering the hard cases, and helpers to run the official validators.
#![allow(dead_code)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqtrace_core::{
    Event, KeyValue, Link, SpanContext, SpanData, SpanId, SpanKind, StatusCode, Trace, TraceFlags,
    TraceId, Value,
};

/// 2023-11-14T22:13:20Z in Unix nanoseconds: realistic magnitudes for every time.
pub const T0: u64 = 1_700_000_000_000_000_000;

/// Microseconds after [`T0`], in nanoseconds.
pub fn us(n: u64) -> u64 {
    T0 + n * 1_000
}

pub fn tid(n: u128) -> TraceId {
    TraceId::from_u128(n).unwrap()
}

pub fn sid(n: u64) -> SpanId {
    SpanId::from_u64(n).unwrap()
}

/// A span with the given identity, parent, thread and times; everything else default.
pub fn span(
    trace: TraceId,
    id: u64,
    parent: Option<u64>,
    name: &str,
    thread: u64,
    start: u64,
    end: u64,
) -> SpanData {
    SpanData {
        name: Cow::Owned(name.to_owned()),
        trace_id: trace,
        span_id: sid(id),
        trace_flags: Default::default(),
        parent_is_remote: false,
        parent_id: parent.map(sid),
        kind: SpanKind::Internal,
        start_unix_nanos: start,
        end_unix_nanos: end,
        attributes: Vec::new(),
        events: Vec::new(),
        status: StatusCode::Unset,
        error: None,
        thread_id: thread,
        thread_name: None,
        dropped_attributes_count: 0,
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        unfinished: false,
    }
}

pub fn trace(id: TraceId, service: &str, spans: Vec<SpanData>) -> Trace {
    let start = spans.iter().map(|s| s.start_unix_nanos).min().unwrap_or(T0);
    let end = spans.iter().map(|s| s.end_unix_nanos).max().unwrap_or(T0);
    Trace {
        trace_id: id,
        service_name: Cow::Owned(service.to_owned()),
        attributes: Vec::new(),
        start_unix_nanos: start,
        end_unix_nanos: end,
        trace_flags: TraceFlags::SAMPLED,
        trace_state: None,
        remote_parent_id: None,
        spans,
        dropped_spans_count: 0,
    }
}

/// A string with every kind of character that needs care in JSON.
pub const NASTY: &str = "q\"uote\\ back/slash \n\r\t\u{0}\u{1f}\u{7f} é 漢字 🦀 \u{2028}";

/// Three traces in two services, exercising: nesting (also with equal bounds), spans on
/// another thread than their parent, two spans of one trace overlapping on one thread without
/// nesting (async), a concurrent trace on the same thread, events, errors, unfinished spans,
/// every value type, NaN/±inf, large ints, arrays, control characters and unicode, a remote
/// parent with trace state, and the 0.1 + 0.2 float trap (a child ending exactly with its
/// parent at 100 ns / 300 ns).
///
/// All floats are finite and no key repeats, so native JSON must round-trip it exactly;
/// [`with_non_finite`] adds the rest.
pub fn fixture() -> Vec<Trace> {
    let a = tid(0x4bf92f3577b34da6a3ce929d0e0e4736);
    let main: Option<std::borrow::Cow<'static, str>> = Some("main".into());

    // Trace A on service "api": thread 1 (named), thread 2 (unnamed).
    let mut root = span(a, 1, None, "handle /chat", 1, us(0), us(1000));
    root.kind = SpanKind::Server;
    root.thread_name = main.clone();
    root.status = StatusCode::Ok;
    root.attributes = vec![
        KeyValue::new("http.route", "/chat"),
        KeyValue::new("http.status_code", 200),
        KeyValue::new("big", i64::MAX),
        KeyValue::new("small", i64::MIN),
        KeyValue::new("ratio", 0.1),
        KeyValue::new("whole", 2.0),
        KeyValue::new("tiny", 5e-324),
        KeyValue::new("flag", true),
        KeyValue::new("tags", vec!["a", "b"]),
        KeyValue::new(
            "mixed",
            Value::Array(vec![
                Value::I64(1),
                Value::String("two".into()),
                Value::Bool(false),
                Value::F64(-0.5),
            ]),
        ),
        KeyValue::new(
            "nested",
            Value::Array(vec![
                Value::Array(vec![Value::I64(1)]),
                Value::Array(vec![]),
            ]),
        ),
        KeyValue::new(NASTY, NASTY.to_string()),
    ];
    let mut db = span(a, 2, Some(1), "db.query", 1, us(100), us(300));
    db.kind = SpanKind::Client;
    db.thread_name = main.clone();
    db.status = StatusCode::Error;
    db.error = Some(format!("timeout: {NASTY}"));
    db.events = vec![Event {
        name: "retry".into(),
        time_unix_nanos: us(150),
        attributes: vec![KeyValue::new("attempt", 2)],
    }];
    // Same bounds as its parent: must still nest.
    let mut db_inner = span(a, 3, Some(2), "db.send", 1, us(100), us(300));
    db_inner.thread_name = main.clone();
    // Cross-thread child, with a nested grandchild there.
    let mut llm = span(a, 4, Some(1), "llm.call", 2, us(200), us(900));
    llm.kind = SpanKind::Client;
    llm.events = vec![
        Event {
            name: "first token".into(),
            time_unix_nanos: us(400),
            attributes: vec![
                KeyValue::new("tokens", 1),
                KeyValue::new("msg", NASTY.to_string()),
            ],
        },
        Event {
            name: "done".into(),
            time_unix_nanos: us(900),
            attributes: vec![],
        },
    ];
    llm.dropped_attributes_count = 3;
    llm.dropped_events_count = 1;
    let parse = span(a, 5, Some(4), "parse", 2, us(800), us(900));
    // Async siblings on thread 1: overlap without nesting.
    let mut poll_a = span(a, 6, Some(1), "poll a", 1, us(400), us(700));
    poll_a.thread_name = main.clone();
    let mut poll_b = span(a, 7, Some(1), "poll b", 1, us(500), us(800));
    poll_b.thread_name = main.clone();
    let mut poll_b_child = span(a, 8, Some(7), "poll b.step", 1, us(550), us(600));
    poll_b_child.thread_name = main.clone();
    // The float trap: parent [0, 0.3] µs, child [0.1, 0.3] µs after the base.
    let mut trap = span(a, 9, Some(1), "trap", 3, us(0), us(0) + 300);
    trap.kind = SpanKind::Producer;
    let trap_child = span(a, 10, Some(9), "trap child", 3, us(0) + 100, us(0) + 300);
    let mut unfinished = span(a, 11, Some(1), "still open", 3, us(950), us(1000));
    unfinished.unfinished = true;
    let mut trace_a = trace(
        a,
        "api",
        vec![
            root,
            db,
            db_inner,
            llm,
            parse,
            poll_a,
            poll_b,
            poll_b_child,
            trap,
            trap_child,
            unfinished,
        ],
    );
    trace_a.attributes = vec![
        KeyValue::new("request.id", "r-1"),
        KeyValue::new("user", 42),
    ];

    // Trace B on "api": concurrent with A on thread 1; overlaps "poll a" without nesting, and
    // lies inside A's root, which is not its ancestor.
    let b = tid(0x0af7651916cd43dd8448eb211c80319c);
    let mut other = span(b, 1, None, "other request", 1, us(350), us(450));
    other.kind = SpanKind::Consumer;
    other.thread_name = main.clone();
    let mut other_child = span(b, 2, Some(1), "other child", 1, us(360), us(440));
    other_child.thread_name = main;
    let trace_b = trace(b, "api", vec![other, other_child]);

    // Trace C on "worker": continued from a remote parent, with trace state.
    let c = tid(0x1234);
    let remote = sid(0xdeadbeef);
    let mut job = span(c, 0x11, Some(0xdeadbeef), "job", 7, us(2000), us(2600));
    job.kind = SpanKind::Server;
    job.attributes = vec![KeyValue::new("user", "span wins")];
    // Links: to a span in this file (trace A's root) and to one that is not.
    job.links = vec![
        Link::new(
            SpanContext::new(a, sid(1), TraceFlags::SAMPLED, false),
            [KeyValue::new("link.reason", NASTY.to_string())],
        ),
        Link {
            context: SpanContext::new(tid(0x77), sid(0x78), TraceFlags::default(), true),
            attributes: Vec::new(),
            dropped_attributes_count: 2,
        },
    ];
    job.dropped_links_count = 3;
    let step = span(c, 0x12, Some(0x11), "step", 7, us(2100), us(2200));
    let mut trace_c = trace(c, "worker ✓", vec![job, step]);
    trace_c.remote_parent_id = Some(remote);
    trace_c.trace_state = Some("vendor=a,other=b".to_owned());
    trace_c.trace_flags = TraceFlags::SAMPLED | TraceFlags::RANDOM;
    trace_c.attributes = vec![
        KeyValue::new("user", "trace loses"),
        KeyValue::new("tenant", "t1"),
    ];
    trace_c.dropped_spans_count = 5;

    vec![trace_a, trace_b, trace_c]
}

/// [`fixture`] plus NaN and ±inf attribute values (on a span, in an array, on an event) and a
/// key set twice.
pub fn with_non_finite() -> Vec<Trace> {
    let mut traces = fixture();
    let root = &mut traces[0].spans[0];
    root.attributes.push(KeyValue::new("nan", f64::NAN));
    root.attributes.push(KeyValue::new("inf", f64::INFINITY));
    root.attributes
        .push(KeyValue::new("ninf", f64::NEG_INFINITY));
    root.attributes
        .push(KeyValue::new("floats", vec![1.5, f64::NAN, f64::INFINITY]));
    root.attributes
        .push(KeyValue::new("http.route", "/chat/v2"));
    traces[0].spans[1].events[0]
        .attributes
        .push(KeyValue::new("jitter", f64::NEG_INFINITY));
    traces
}

/// A large synthetic workload: `n` traces of `spans` spans each, nested two deep, on a few
/// threads (for property checks and benches).
pub fn many(n: usize, spans: usize) -> Vec<Trace> {
    (0..n)
        .map(|t| {
            let id = tid(t as u128 + 1);
            let base = T0 + t as u64 * 50_000;
            let thread = (t % 3) as u64;
            let mut v = vec![span(id, 1, None, "root", thread, base, base + 100_000)];
            for i in 0..spans.saturating_sub(1) {
                let start = base + 1_000 + i as u64 * 7_919 % 90_000;
                let mut s = span(
                    id,
                    i as u64 + 2,
                    Some(1),
                    "child",
                    thread,
                    start,
                    start + 3_333,
                );
                s.attributes = vec![KeyValue::new("i", i as i64), KeyValue::new("name", "x")];
                v.push(s);
            }
            trace(id, if t % 2 == 0 { "a" } else { "b" }, v)
        })
        .collect()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("reqtrace-export-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The repository's root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `shared/tools`, beside the repository (as CI lays it out).
pub fn tools_dir() -> PathBuf {
    repo_root().join("../shared/tools")
}

fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether a missing validator fails the test instead of skipping it: when `REQTRACE_CI` or
/// `CI` is set (to anything but empty, `0` or `false`). `.ci/run` sets `REQTRACE_CI=1` after
/// installing the validators' packages, so in CI a check can never pass by not running.
pub fn validators_required() -> bool {
    ["REQTRACE_CI", "CI"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"))
}

/// A validator check cannot run because `what` is missing: panics when
/// [`validators_required`], otherwise prints a note and the caller skips the check.
pub fn unavailable(what: &str) {
    assert!(
        !validators_required(),
        "{what}: the check cannot run, and REQTRACE_CI or CI is set (CI must run every \
         validator; outside CI unset both to skip it)"
    );
    println!("note: {what}; check skipped (it fails instead when REQTRACE_CI or CI is set)");
}

/// Runs `validator` (a file in shared/tools) on `file`. `None` when the validator, python3 or
/// the modules it needs are not available (see [`unavailable`]: in CI that panics instead);
/// otherwise its verdict and output.
pub fn validate(
    validator: &str,
    args: &[&str],
    file: &Path,
    needs: &str,
) -> Option<(bool, String)> {
    let script = tools_dir().join(validator);
    if !script.exists() {
        unavailable(&format!("{} not found", script.display()));
        return None;
    }
    if !python_has(needs) {
        unavailable(&format!(
            "python3 with `{needs}` not available for {validator}"
        ));
        return None;
    }
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .arg(file)
        .output()
        .expect("python3 ran a moment ago");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

/// Asserts that the OTLP validator accepts `file` with `--strict` (see [`validate`] for when
/// it is unavailable).
pub fn assert_otlp_valid(file: &Path) {
    if let Some((ok, out)) = validate(
        "otlp_json_validate.py",
        &["--strict"],
        file,
        "google.protobuf, opentelemetry.proto",
    ) {
        assert!(ok, "OTLP validator rejected {}:\n{out}", file.display());
        assert!(!out.contains("WARNING"), "validator warnings:\n{out}");
    }
}

/// Asserts that the Chrome trace validator accepts `file` (see [`validate`] for when it is
/// unavailable).
pub fn assert_chrome_valid(file: &Path) {
    if let Some((ok, out)) = validate("chrome_trace_validate.py", &[], file, "json") {
        assert!(ok, "Chrome validator rejected {}:\n{out}", file.display());
    }
}
