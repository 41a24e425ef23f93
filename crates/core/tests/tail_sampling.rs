//! Tail sampling: each policy keeps exactly the traces it should, drops are counted per rule and
//! per span, and kept traces say why.

use std::time::Duration;

use reqtrace_core::{
    BatchConfig, ContinuedTraces, InMemoryExporter, RequestTracer, TailPolicy, TailRuleStats,
    TailSampler, Trace, Value,
};

fn tracer(policies: &[TailPolicy]) -> RequestTracer {
    let mut s = TailSampler::new();
    for p in policies {
        s = s.policy(p.clone());
    }
    RequestTracer::builder("svc").tail_sampler(s).build()
}

/// A request: a root and `children` child spans; `f` can mark the root.
fn request(t: &RequestTracer, name: &'static str, children: usize, error: bool) -> Trace {
    let mut root = t.start_root(name);
    if error {
        root.set_error("failed");
    }
    let ctx = root.handle();
    for _ in 0..children {
        drop(t.start_span_with_parent("child", &ctx));
    }
    root.finish()
}

fn rule(t: &Trace) -> Option<String> {
    let root = t.spans.iter().find(|s| s.parent_id.is_none())?;
    root.attribute("sampling.rule")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn stats_of<'a>(s: &'a [TailRuleStats], name: &str) -> &'a TailRuleStats {
    s.iter().find(|r| r.rule == name).unwrap()
}

#[test]
fn error_policy_keeps_exactly_the_failed_traces() {
    let t = tracer(&[TailPolicy::Error]);
    let mut kept = 0;
    for i in 0..100 {
        let trace = request(&t, "GET /a", 2, i % 10 == 0);
        if !trace.spans.is_empty() {
            kept += 1;
            assert_eq!(rule(&trace).as_deref(), Some("error"));
            assert_eq!(trace.spans.len(), 3);
        } else {
            // A dropped trace comes back without spans, saying how many it had.
            assert_eq!(trace.dropped_spans_count, 3);
        }
    }
    assert_eq!(kept, 10);
    let s = t.tail_sampling_stats();
    assert_eq!(stats_of(&s, "error").kept, 10);
    assert_eq!(stats_of(&s, "default").dropped, 90);
    assert_eq!(stats_of(&s, "default").dropped_spans, 270);
    let st = t.stats();
    assert_eq!(st.dropped.tail_sampled, 270);
    assert_eq!(st.spans_delivered, 30);
    assert_eq!(st.spans_finished, st.spans_delivered + st.dropped.total());
}

#[test]
fn latency_policy_keeps_the_slow_traces() {
    let t = tracer(&[TailPolicy::Latency(Duration::from_millis(50))]);
    let mut kept = Vec::new();
    for i in 0..20 {
        let mut root = t.start_root("GET /slow");
        if i % 5 == 0 {
            let _s = t.start_span_with_parent("sleep", &root.handle());
            std::thread::sleep(Duration::from_millis(60));
        }
        root.set_attribute("i", i);
        let trace = root.finish();
        if !trace.spans.is_empty() {
            assert_eq!(rule(&trace).as_deref(), Some("latency"));
            kept.push(i);
        }
    }
    assert_eq!(kept, vec![0, 5, 10, 15]);
}

#[test]
fn latency_percentile_policy_keeps_traces_slower_than_their_names_recent_ones() {
    let t = tracer(&[TailPolicy::LatencyPercentile {
        percentile: 90.0,
        window: 100,
        min_samples: 30,
    }]);
    // Until 30 durations of the name were seen, the rule keeps nothing.
    for _ in 0..30 {
        assert!(request(&t, "GET /p", 0, false).spans.is_empty());
    }
    // Three slow ones: each slower than the 90th percentile of the window.
    for _ in 0..3 {
        let root = t.start_root("GET /p");
        std::thread::sleep(Duration::from_millis(30));
        let trace = root.finish();
        assert_eq!(rule(&trace).as_deref(), Some("latency_percentile"));
    }
    // Another name has its own window: not enough samples yet, so not kept.
    let root = t.start_root("GET /other");
    std::thread::sleep(Duration::from_millis(30));
    assert!(root.finish().spans.is_empty());
    let s = t.tail_sampling_stats();
    assert_eq!(stats_of(&s, "latency_percentile").kept, 3);
    assert_eq!(stats_of(&s, "default").dropped, 31);
}

#[test]
fn attribute_policy_keeps_traces_with_a_matching_span() {
    let t = tracer(&[TailPolicy::Attribute {
        key: "tenant".into(),
        value: Value::from("vip"),
    }]);
    let mut kept = 0;
    for i in 0..30 {
        let root = t.start_root("GET /t");
        {
            let mut c = t.start_span_with_parent("auth", &root.handle());
            c.set_attribute("tenant", if i % 3 == 0 { "vip" } else { "basic" });
        }
        let trace = root.finish();
        if !trace.spans.is_empty() {
            kept += 1;
            assert_eq!(rule(&trace).as_deref(), Some("attribute:tenant"));
        }
    }
    assert_eq!(kept, 10);
}

#[test]
fn rate_limit_policy_keeps_so_many_per_second_per_root_name() {
    let t = tracer(&[TailPolicy::RateLimit { per_second: 5 }]);
    let (mut a, mut b) = (0, 0);
    for _ in 0..40 {
        a += usize::from(!request(&t, "GET /a", 1, false).spans.is_empty());
        b += usize::from(!request(&t, "GET /b", 1, false).spans.is_empty());
    }
    assert_eq!((a, b), (5, 5));
    let s = t.tail_sampling_stats();
    // The rate limit decides both ways: its drops are its own.
    assert_eq!(stats_of(&s, "rate_limit").kept, 10);
    assert_eq!(stats_of(&s, "rate_limit").dropped, 70);
    assert_eq!(stats_of(&s, "default").dropped, 0);
}

#[test]
fn probabilistic_policy_is_a_consistent_share_by_trace_id() {
    for (ratio, expect) in [(0.0, Some(0)), (1.0, Some(400)), (0.5, None)] {
        let t = tracer(&[TailPolicy::Probabilistic(ratio)]);
        // Deciding continued traces here too: safe with a rule every service decides alike.
        let other = RequestTracer::builder("downstream")
            .tail_sampler(
                TailSampler::new()
                    .policy(TailPolicy::Probabilistic(ratio))
                    .continued_traces(ContinuedTraces::Decide),
            )
            .build();
        let mut kept = 0;
        for _ in 0..400 {
            let root = t.start_root("GET /p");
            // Another service with the same ratio decides the same for the same trace.
            let remote = other
                .trace_builder()
                .parent(&root.context())
                .start_root("downstream");
            let a = !root.finish().spans.is_empty();
            let b = !remote.finish().spans.is_empty();
            assert_eq!(a, b);
            kept += usize::from(a);
        }
        match expect {
            Some(n) => assert_eq!(kept, n),
            // Binomial(400, 0.5): outside 150..=250 has probability below 1e-6.
            None => assert!((150..=250).contains(&kept), "{kept}"),
        }
    }
}

#[test]
fn policies_combine_in_order_and_the_first_decision_wins() {
    let t = tracer(&[
        TailPolicy::Error,
        TailPolicy::RateLimit { per_second: 2 },
        TailPolicy::Probabilistic(1.0),
    ]);
    let mut rules = Vec::new();
    for i in 0..10 {
        let trace = request(&t, "GET /c", 0, i % 2 == 0);
        rules.push(rule(&trace));
    }
    let errors = rules
        .iter()
        .filter(|r| r.as_deref() == Some("error"))
        .count();
    let rated = rules
        .iter()
        .filter(|r| r.as_deref() == Some("rate_limit"))
        .count();
    assert_eq!((errors, rated), (5, 2));
    // The rate limit decided the other three (dropped): the probabilistic rule never saw them.
    assert_eq!(rules.iter().filter(|r| r.is_none()).count(), 3);
    let s = t.tail_sampling_stats();
    assert_eq!(stats_of(&s, "probabilistic").kept, 0);
    assert_eq!(stats_of(&s, "rate_limit").dropped, 3);
}

#[test]
fn only_kept_traces_reach_the_exporter_and_they_say_why() {
    let sink = InMemoryExporter::new();
    let t = RequestTracer::builder("svc")
        .exporter(sink.clone(), BatchConfig::default())
        .tail_sampler(TailSampler::new().policy(TailPolicy::Error))
        .build();
    for i in 0..50 {
        // Seed style too: the decision applies to end_trace as to roots.
        t.start_trace();
        {
            let mut s = t.start_span("handler");
            if i % 5 == 0 {
                s.set_error("boom");
            }
            let _c = t.start_span("db");
        }
        let trace = t.end_trace().unwrap();
        // Without retention end_trace returns no spans; the decision still shows on the trace.
        assert!(trace.spans.is_empty());
    }
    t.force_flush(Duration::from_secs(10)).unwrap();
    let spans = sink.spans();
    assert_eq!(spans.len(), 20);
    for s in spans.iter().filter(|s| s.name == "handler") {
        assert_eq!(
            s.attribute("sampling.rule").and_then(Value::as_str),
            Some("error")
        );
    }
    assert!(
        spans
            .iter()
            .filter(|s| s.name == "db")
            .all(|s| s.attribute("sampling.rule").is_none())
    );
    let st = t.stats();
    assert_eq!(st.dropped.tail_sampled, 80);
    assert_eq!(st.export.exported, 20);
}
