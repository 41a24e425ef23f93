//! Tail sampling across two services never stores half of a kept trace. The scenario that lost
//! halves (issue 19): a gateway keeps its slow requests; the LLM service behind it keeps only
//! its own slow calls; many slow gateway requests had a fast LLM call, whose half the LLM
//! service dropped. With the default (`ContinuedTraces::Keep`: the entry service decides) no
//! kept trace misses its downstream half; deciding downstream too reproduces the loss.
//!
//! The services talk through the W3C `traceparent` header, as over HTTP; "slow" is an
//! attribute here (`TailPolicy::Attribute`) so the test needs no sleeping.

use std::collections::HashSet;

use reqtrace_core::{ContinuedTraces, RequestTracer, TailPolicy, TailSampler, TraceId, Value};
use reqtrace_propagation::{Traceparent, TracerExt};

fn service(name: &'static str, continued: ContinuedTraces) -> RequestTracer {
    RequestTracer::builder(name)
        .tail_sampler(
            TailSampler::new()
                .policy(TailPolicy::Attribute {
                    key: "slow".into(),
                    value: Value::Bool(true),
                })
                .continued_traces(continued),
        )
        .build()
}

/// Runs `n` requests through gateway → llm; returns (kept by the gateway, kept by the llm
/// service) trace ids.
fn run(n: u64, continued: ContinuedTraces) -> (HashSet<TraceId>, HashSet<TraceId>) {
    let gateway = service("gateway", ContinuedTraces::Keep);
    let llm = service("llm", continued);
    let (mut kept_gw, mut kept_llm) = (HashSet::new(), HashSet::new());
    for i in 0..n {
        // A fixed pattern: a third of the gateway requests are slow, a fifth of the LLM calls.
        let gateway_slow = i % 3 == 0;
        let llm_slow = i % 5 == 0;
        let mut root = gateway.start_root("POST /chat");
        root.set_attribute("slow", gateway_slow);
        let header = {
            let _scope = root.attach();
            gateway.trace_header().expect("a sampled trace is current")
        };
        // The LLM service receives the header.
        let parent = Traceparent::parse(&header).expect("a valid traceparent");
        let mut call = llm
            .trace_builder()
            .parent(&parent.to_span_context())
            .start_root("llm.chat");
        call.set_attribute("slow", llm_slow);
        let llm_trace = call.finish();
        if !llm_trace.spans.is_empty() {
            kept_llm.insert(llm_trace.trace_id);
        }
        let gw_trace = root.finish();
        if !gw_trace.spans.is_empty() {
            kept_gw.insert(gw_trace.trace_id);
        }
    }
    (kept_gw, kept_llm)
}

#[test]
fn the_entry_decides_and_no_kept_trace_loses_its_downstream_half() {
    let (gw, llm) = run(369, ContinuedTraces::Keep);
    assert_eq!(gw.len(), 123, "the gateway kept its slow requests");
    let half = gw.difference(&llm).count();
    assert_eq!(half, 0, "kept traces missing their LLM half");
    // The cost, documented: the LLM service keeps every continued trace.
    assert_eq!(llm.len(), 369);
}

#[test]
fn deciding_downstream_too_loses_halves_of_kept_traces() {
    let (gw, llm) = run(369, ContinuedTraces::Decide);
    assert_eq!(gw.len(), 123);
    // Slow at the gateway (i % 3 == 0) but fast in the LLM service (i % 5 != 0): 123 - 25.
    let half = gw.difference(&llm).count();
    assert_eq!(half, 123 - 25);
}
