//! Log records inside spans become span events (bounded, counted), and records forwarded to
//! the application's logger carry the current span's ids.

use std::sync::{Arc, Mutex};

use reqtrace_core::{Limits, RequestTracer, Value};
use reqtrace_log::ReqtraceLogger;

/// What the forwarded-to logger saw: (level, message, key-values).
type Seen = Arc<Mutex<Vec<(log::Level, String, Vec<(String, String)>)>>>;

struct Capture(Seen);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        struct Kv(Vec<(String, String)>);
        impl<'kvs> log::kv::VisitSource<'kvs> for Kv {
            fn visit_pair(
                &mut self,
                k: log::kv::Key<'kvs>,
                v: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                self.0.push((k.to_string(), v.to_string()));
                Ok(())
            }
        }
        let mut kv = Kv(Vec::new());
        record.key_values().visit(&mut kv).unwrap();
        self.0
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string(), kv.0));
    }
    fn flush(&self) {}
}

fn key<'a>(kv: &'a [(String, String)], k: &str) -> Option<&'a str> {
    kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

/// The whole path through the `log` macros: installed once for this test binary.
#[test]
fn records_in_spans_are_events_and_forwarded_lines_carry_the_ids() {
    let seen: Seen = Arc::default();
    let tracer = RequestTracer::builder("api")
        .limits(Limits::default().max_events_per_span(3))
        .build();
    ReqtraceLogger::new(tracer.clone())
        .forward_to(Capture(Arc::clone(&seen)))
        .install(log::LevelFilter::Trace)
        .unwrap();

    log::info!("before any trace");
    tracer.start_trace();
    let ctx;
    {
        let span = tracer.start_span("checkout");
        ctx = span.context().unwrap();
        log::info!(user_id = 42, vip = true, ratio = 0.5, plan = "pro"; "loaded user");
        log::debug!("cache details"); // forwarded, not a span event (below Info)
        log::warn!("slow upstream");
        log::error!("payment declined");
        log::error!("over the limit"); // a 4th event: dropped and counted
    }
    let trace = tracer.end_trace().unwrap();
    log::info!("after the trace");

    let span = &trace.spans[0];
    let names: Vec<&str> = span.events.iter().map(|e| &*e.name).collect();
    assert_eq!(names, ["loaded user", "slow upstream", "payment declined"]);
    assert_eq!(span.dropped_events_count, 1);
    assert_eq!(tracer.stats().events_dropped, 1);
    let first = &span.events[0];
    let attr = |k: &str| {
        first
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(attr("level"), Some(Value::from("INFO")));
    assert_eq!(attr("user_id"), Some(Value::I64(42)));
    assert_eq!(attr("vip"), Some(Value::Bool(true)));
    assert_eq!(attr("ratio"), Some(Value::F64(0.5)));
    assert_eq!(attr("plan"), Some(Value::from("pro")));
    assert_eq!(attr("log.target"), Some(Value::from(module_path!())));
    assert!(attr("code.lineno").is_some());

    let seen = seen.lock().unwrap();
    let lines: Vec<&str> = seen.iter().map(|(_, m, _)| m.as_str()).collect();
    assert_eq!(
        lines,
        [
            "before any trace",
            "loaded user",
            "cache details",
            "slow upstream",
            "payment declined",
            "over the limit",
            "after the trace"
        ],
        "every record is forwarded, whatever the span's limits"
    );
    let (trace_id, span_id) = (ctx.trace_id.to_string(), ctx.span_id.to_string());
    for (_, msg, kv) in &seen[1..6] {
        assert_eq!(key(kv, "trace_id"), Some(trace_id.as_str()), "{msg}");
        assert_eq!(key(kv, "span_id"), Some(span_id.as_str()), "{msg}");
    }
    assert_eq!(
        key(&seen[1].2, "user_id"),
        Some("42"),
        "the record's own pairs stay"
    );
    for i in [0, 6] {
        assert_eq!(
            key(&seen[i].2, "trace_id"),
            None,
            "outside a span: unchanged"
        );
    }
}
