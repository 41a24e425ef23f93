//! LLM-call spans carry exactly the GenAI (and OpenInference) attributes, with the right
//! names, kinds, parents and types; token roll-ups are exact and skip bad values; the
//! tracer's limits still apply.

use std::collections::BTreeMap;

use reqtrace_core::{
    InMemoryExporter, Limits, RequestTracer, Sampler, SpanData, SpanKind, StatusCode, Value,
};
use reqtrace_genai::attributes::{self as attr, openinference_kind, operation, provider};
use reqtrace_genai::{LlmCall, LlmSpan, TokenUsage};

/// The span's attributes as (key, value), in the order they were set.
fn attrs(span: &SpanData) -> Vec<(&str, Value)> {
    span.attributes
        .iter()
        .map(|kv| (&*kv.key, kv.value.clone()))
        .collect()
}

fn s(v: &'static str) -> Value {
    Value::from(v)
}

fn usage(input_tokens: u64, output_tokens: u64, calls: u64) -> TokenUsage {
    TokenUsage {
        input_tokens,
        output_tokens,
        calls,
    }
}

#[test]
fn llm_call_types_are_send() {
    fn send<T: Send + 'static>() {}
    send::<LlmSpan>();
    send::<LlmCall>();
    send::<TokenUsage>();
}

#[test]
fn two_calls_one_on_another_thread_have_exactly_the_expected_attributes() {
    let tracer = RequestTracer::new("bot");
    let root = tracer.start_root("POST /answer");

    // On this thread, under the attached root: `start` parents on the current span.
    {
        let _attached = root.attach();
        let mut call = LlmCall::chat(provider::OPENAI, "gpt-4o")
            .max_tokens(256)
            .temperature(0.5)
            .top_p(0.9)
            .conversation_id("conv-1")
            .start(&tracer);
        assert!(call.is_recording());
        call.response_model("gpt-4o-2024-08-06");
        call.response_id(String::from("chatcmpl-1"));
        call.finish_reasons(&["stop", "length"]);
        call.record_usage(120, 30);
        call.end();
    }

    // On another thread, through a handle on the root.
    let handle = root.handle();
    let t = tracer.clone();
    std::thread::spawn(move || {
        let mut call = LlmCall::new(operation::TEXT_COMPLETION, provider::ANTHROPIC, "claude-3")
            .start_with_parent(&t, &handle);
        call.record_usage(80, 20);
        // dropped here: dropping ends it
    })
    .join()
    .unwrap();

    let trace = root.finish();
    assert_eq!(trace.spans.len(), 3);
    let root_span = trace.span("POST /answer").unwrap();
    assert_eq!(root_span.kind, SpanKind::Internal);
    assert!(root_span.attributes.is_empty());

    let chat = trace.span("chat gpt-4o").unwrap();
    assert_eq!(chat.kind, SpanKind::Client);
    assert_eq!(chat.parent_id, Some(root_span.span_id));
    assert_eq!(chat.status, StatusCode::Unset);
    assert!(!chat.unfinished);
    assert_eq!(
        attrs(chat),
        vec![
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.provider.name", s("openai")),
            ("gen_ai.system", s("openai")),
            ("gen_ai.request.model", s("gpt-4o")),
            ("gen_ai.request.max_tokens", Value::I64(256)),
            ("gen_ai.request.temperature", Value::F64(0.5)),
            ("gen_ai.request.top_p", Value::F64(0.9)),
            ("gen_ai.conversation.id", s("conv-1")),
            ("openinference.span.kind", s("LLM")),
            ("llm.provider", s("openai")),
            ("llm.model_name", s("gpt-4o")),
            ("session.id", s("conv-1")),
            // The response model, also as OpenInference's name (the last value wins).
            ("llm.model_name", s("gpt-4o-2024-08-06")),
            ("gen_ai.response.model", s("gpt-4o-2024-08-06")),
            ("gen_ai.response.id", s("chatcmpl-1")),
            (
                "gen_ai.response.finish_reasons",
                Value::Array(vec![s("stop"), s("length")])
            ),
            ("gen_ai.usage.input_tokens", Value::I64(120)),
            ("gen_ai.usage.output_tokens", Value::I64(30)),
            ("llm.token_count.prompt", Value::I64(120)),
            ("llm.token_count.completion", Value::I64(30)),
            ("llm.token_count.total", Value::I64(150)),
        ]
    );

    let completion = trace.span("text_completion claude-3").unwrap();
    assert_eq!(completion.kind, SpanKind::Client);
    assert_eq!(completion.parent_id, Some(root_span.span_id));
    assert_ne!(completion.thread_id, chat.thread_id);
    assert!(!completion.unfinished);
    assert_eq!(
        attrs(completion),
        vec![
            ("gen_ai.operation.name", s("text_completion")),
            ("gen_ai.provider.name", s("anthropic")),
            ("gen_ai.system", s("anthropic")),
            ("gen_ai.request.model", s("claude-3")),
            ("openinference.span.kind", s("LLM")),
            ("llm.provider", s("anthropic")),
            ("llm.model_name", s("claude-3")),
            ("gen_ai.usage.input_tokens", Value::I64(80)),
            ("gen_ai.usage.output_tokens", Value::I64(20)),
            ("llm.token_count.prompt", Value::I64(80)),
            ("llm.token_count.completion", Value::I64(20)),
            ("llm.token_count.total", Value::I64(100)),
        ]
    );

    assert_eq!(TokenUsage::of_trace(&trace), usage(200, 50, 2));
}

#[test]
fn a_span_moved_to_another_thread_ends_there() {
    let tracer = RequestTracer::new("bot");
    let root = tracer.start_root("request");
    let call = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &root.handle());
    std::thread::spawn(move || {
        let mut call = call;
        call.record_usage(7, 3);
        call.end();
    })
    .join()
    .unwrap();
    let trace = root.finish();
    let span = trace.span("chat gpt-4o").unwrap();
    assert!(!span.unfinished);
    assert_eq!(TokenUsage::of_span(span), usage(7, 3, 1));
}

#[test]
fn roll_up_totals_are_exact_and_grouped_by_model() {
    let tracer = RequestTracer::new("agent");
    let root = tracer.start_root("request");
    let h = root.handle();

    // Request model only: grouped under it.
    let mut a = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &h);
    a.record_usage(120, 30);
    a.end();
    // The response model wins over the request model.
    let mut b = LlmCall::chat("openai", "gpt-4o-latest").start_with_parent(&tracer, &h);
    b.response_model("gpt-4o");
    b.record_usage(80, 20);
    b.end();
    // A call with no tokens still counts as a call.
    let mut c =
        LlmCall::embeddings("openai", "text-embedding-3-small").start_with_parent(&tracer, &h);
    c.record_usage(0, 0);
    c.end();
    // Not a call, no usage: counts for nothing.
    let mut other = tracer.start_detached_span_with_parent("db.query", &h);
    other.set_attribute("db.system", "postgresql");
    other.end();

    let trace = root.finish();
    assert_eq!(trace.spans.len(), 5);
    let total = TokenUsage::of_trace(&trace);
    assert_eq!(total, usage(200, 50, 3));
    assert_eq!(total.total(), 250);
    assert_eq!(TokenUsage::of_spans(&trace.spans), total);

    let by_model = TokenUsage::by_model(&trace);
    let expected: BTreeMap<String, TokenUsage> = [
        ("gpt-4o".to_owned(), usage(200, 50, 2)),
        ("text-embedding-3-small".to_owned(), usage(0, 0, 1)),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_model, expected);

    let emb = trace.span("embeddings text-embedding-3-small").unwrap();
    assert_eq!(
        emb.attribute(attr::OPENINFERENCE_SPAN_KIND),
        Some(&s(openinference_kind::EMBEDDING))
    );
}

#[test]
fn bad_or_missing_values_are_skipped_not_panicked_on() {
    let tracer = RequestTracer::new("agent");
    let root = tracer.start_root("request");
    let h = root.handle();
    let bad = |name: &'static str, kvs: Vec<(&'static str, Value)>| {
        let mut span = tracer.start_detached_span_with_parent(name, &h);
        for (k, v) in kvs {
            span.set_attribute(k, v);
        }
        span.end();
    };
    // Wrong types: a string count, a float count, an integer operation name.
    bad(
        "strings",
        vec![
            (attr::GEN_AI_OPERATION_NAME, Value::I64(7)),
            (attr::GEN_AI_USAGE_INPUT_TOKENS, s("120")),
            (attr::GEN_AI_USAGE_OUTPUT_TOKENS, Value::F64(30.0)),
            (attr::GEN_AI_REQUEST_MODEL, s("m")),
        ],
    );
    // Negative counts; a non-string response model falls back to the request model.
    bad(
        "negative",
        vec![
            (attr::GEN_AI_OPERATION_NAME, s("chat")),
            (attr::GEN_AI_USAGE_INPUT_TOKENS, Value::I64(-5)),
            (attr::GEN_AI_USAGE_OUTPUT_TOKENS, Value::I64(4)),
            (attr::GEN_AI_RESPONSE_MODEL, Value::Bool(true)),
            (attr::GEN_AI_REQUEST_MODEL, s("m")),
        ],
    );
    // The last value of a key is the one read: a good one replaced by a bad one is skipped.
    bad(
        "replaced",
        vec![
            (attr::GEN_AI_USAGE_INPUT_TOKENS, Value::I64(10)),
            (
                attr::GEN_AI_USAGE_INPUT_TOKENS,
                Value::Array(vec![Value::I64(10)]),
            ),
        ],
    );
    // Usage with no model at all: in the total, not in by_model.
    bad(
        "no model",
        vec![(attr::GEN_AI_USAGE_OUTPUT_TOKENS, Value::I64(1))],
    );
    let trace = root.finish();
    assert_eq!(TokenUsage::of_trace(&trace), usage(0, 5, 1));
    let by_model = TokenUsage::by_model(&trace);
    assert_eq!(by_model.len(), 1);
    assert_eq!(by_model["m"], usage(0, 4, 1));
}

#[test]
fn sums_saturate() {
    let tracer = RequestTracer::new("agent");
    let root = tracer.start_root("request");
    for _ in 0..3 {
        let mut call = LlmCall::chat("openai", "m").start_with_parent(&tracer, &root.handle());
        call.record_usage(u64::MAX, 1);
    }
    let trace = root.finish();
    let span = trace.span("chat m").unwrap();
    assert_eq!(
        span.attribute(attr::GEN_AI_USAGE_INPUT_TOKENS),
        Some(&Value::I64(i64::MAX))
    );
    assert_eq!(
        span.attribute(attr::LLM_TOKEN_COUNT_TOTAL),
        Some(&Value::I64(i64::MAX))
    );
    let total = TokenUsage::of_trace(&trace);
    assert_eq!(total, usage(u64::MAX, 3, 3));
    assert_eq!(total.total(), u64::MAX);
}

#[test]
fn openinference_off_writes_no_mirror_attributes() {
    let tracer = RequestTracer::new("bot");
    let root = tracer.start_root("request");
    let mut call = LlmCall::chat("openai", "gpt-4o")
        .conversation_id("conv-1")
        .openinference(false)
        .start_with_parent(&tracer, &root.handle());
    call.record_usage(5, 6);
    call.end();
    let trace = root.finish();
    let span = trace.span("chat gpt-4o").unwrap();
    assert_eq!(
        attrs(span),
        vec![
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.provider.name", s("openai")),
            ("gen_ai.system", s("openai")),
            ("gen_ai.request.model", s("gpt-4o")),
            ("gen_ai.conversation.id", s("conv-1")),
            ("gen_ai.usage.input_tokens", Value::I64(5)),
            ("gen_ai.usage.output_tokens", Value::I64(6)),
        ]
    );
    assert!(
        span.attributes
            .iter()
            .all(|kv| !kv.key.starts_with("llm.") && !kv.key.starts_with("openinference."))
    );
    assert_eq!(TokenUsage::of_trace(&trace), usage(5, 6, 1));
}

#[test]
fn tracer_limits_still_apply() {
    let tracer = RequestTracer::builder("bot")
        .limits(
            Limits::default()
                .max_attributes_per_span(3)
                .max_array_len(1),
        )
        .build();
    let root = tracer.start_root("request");
    let mut call = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &root.handle());
    // Start wrote 7: operation, provider, system kept; request.model, openinference.span.kind,
    // llm.provider, llm.model_name dropped. record_usage drops 5 more.
    call.record_usage(10, 20);
    call.end();
    let trace = root.finish();
    let span = trace.span("chat gpt-4o").unwrap();
    assert_eq!(
        attrs(span),
        vec![
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.provider.name", s("openai")),
            ("gen_ai.system", s("openai")),
        ]
    );
    assert_eq!(span.dropped_attributes_count, 9);
    assert_eq!(tracer.stats().attributes_dropped, 9);
    // The dropped usage is not counted; the span is still a call.
    assert_eq!(TokenUsage::of_trace(&trace), usage(0, 0, 1));
    // No model kept: left out of by_model.
    assert!(TokenUsage::by_model(&trace).is_empty());

    // Array values are cut to max_array_len.
    let tracer = RequestTracer::builder("bot")
        .limits(Limits::default().max_array_len(1))
        .build();
    let root = tracer.start_root("request");
    let mut call = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &root.handle());
    call.finish_reasons(&["stop", "length", "tool_calls"]);
    call.end();
    let trace = root.finish();
    assert_eq!(
        trace
            .span("chat gpt-4o")
            .unwrap()
            .attribute(attr::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&Value::Array(vec![s("stop")]))
    );
    assert_eq!(tracer.stats().values_truncated, 1);
}

#[test]
fn an_errored_call_has_status_error_and_error_type() {
    let tracer = RequestTracer::new("bot");
    let root = tracer.start_root("request");
    let mut call = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &root.handle());
    call.set_error("timeout", "no answer in 30 s");
    drop(call);
    let trace = root.finish();
    let span = trace.span("chat gpt-4o").unwrap();
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.error.as_deref(), Some("no answer in 30 s"));
    assert_eq!(span.attribute(attr::ERROR_TYPE), Some(&s("timeout")));
    assert_eq!(trace.span("request").unwrap().status, StatusCode::Unset);
    // A failed call is still a call.
    assert_eq!(TokenUsage::of_trace(&trace), usage(0, 0, 1));
}

#[test]
fn an_empty_model_names_the_span_by_the_operation_alone() {
    let tracer = RequestTracer::new("bot");
    let root = tracer.start_root("request");
    let call = LlmCall::new(operation::EXECUTE_TOOL, "local", "");
    assert_eq!(call.span_name(), "execute_tool");
    let mut span = call.start_with_parent(&tracer, &root.handle());
    span.span_mut()
        .set_attribute(attr::GEN_AI_TOOL_NAME, "search");
    span.into_span().end();
    let trace = root.finish();
    let tool = trace.span("execute_tool").unwrap();
    assert_eq!(
        attrs(tool),
        vec![
            ("gen_ai.operation.name", s("execute_tool")),
            ("gen_ai.provider.name", s("local")),
            ("gen_ai.system", s("local")),
            ("openinference.span.kind", s("TOOL")),
            ("llm.provider", s("local")),
            ("gen_ai.tool.name", s("search")),
        ]
    );
}

#[test]
fn without_a_trace_or_unsampled_nothing_is_recorded() {
    let tracer = RequestTracer::new("bot");
    // No current span on this thread: `start` records nothing.
    let mut call = LlmCall::chat("openai", "gpt-4o").start(&tracer);
    assert!(!call.is_recording());
    call.record_usage(1, 2);
    call.finish_reasons(&["stop"]);
    call.set_error("timeout", "x");
    call.end();
    assert_eq!(tracer.stats().spans_without_trace, 1);

    let tracer = RequestTracer::builder("bot")
        .sampler(Sampler::AlwaysOff)
        .build();
    let root = tracer.start_root("request");
    let mut call = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &root.handle());
    assert!(!call.is_recording());
    call.record_usage(1, 2);
    drop(call);
    let trace = root.finish();
    assert!(trace.spans.is_empty());
    assert_eq!(TokenUsage::of_trace(&trace), TokenUsage::default());
}

#[test]
fn a_remote_parent_is_continued_and_exported() {
    let exporter = InMemoryExporter::default();
    let tracer = RequestTracer::builder("bot")
        .exporter(exporter.clone(), Default::default())
        .build();
    let remote = RequestTracer::new("gateway").start_root("call").context();
    let mut call = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &remote);
    call.record_usage(3, 4);
    call.end();
    tracer.shutdown().unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].trace_id, remote.trace_id);
    assert_eq!(spans[0].parent_id, Some(remote.span_id));
    assert_eq!(spans[0].kind, SpanKind::Client);
    assert_eq!(TokenUsage::of_spans(&spans), usage(3, 4, 1));
}
