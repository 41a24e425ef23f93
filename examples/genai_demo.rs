//! The GenAI demo: requests that call language models, traced with `reqtrace-genai`.
//!
//! Each request is a trace whose root span, `POST /answer` (a server span), makes one to three
//! chat calls ([`reqtrace_genai::LlmCall::chat`]) to one of three models. Token counts are
//! derived from the request and call numbers, so every run records the same usage. The second
//! call of a request runs on another thread, its span parented through the root's handle; the
//! others run on the request's thread under the attached root. Every third call's response
//! names a dated model (as providers answer), every fourth call writes only the `gen_ai.*`
//! attributes (`.openinference(false)`: no OpenInference mirror), and the first call of every
//! fifth request times out (an error with no usage; the request fails when it was its only
//! call).
//!
//! ```text
//! cargo run --release --example genai_demo -- [--requests N] [--otlp URL]
//! ```
//!
//! With `--otlp URL` (a collector's base URL, e.g. `http://127.0.0.1:4318`; the
//! `OTEL_EXPORTER_OTLP_*` variables add headers, gzip, timeout) spans are also streamed to
//! `URL/v1/traces` over OTLP/HTTP, and an `otlp: exported=N ...` line reports the delivery.
//! The resource carries `openinference.project.name` = `genai-demo`: Arize Phoenix files the
//! spans under that project (it keeps no `service.name`).
//!
//! Prints one trace as a tree, then the roll-up of [`reqtrace_genai::TokenUsage`] over the
//! finished traces as machine-readable lines (what CI compares with Phoenix):
//!
//! ```text
//! genai: traces=T calls=C input_tokens=I output_tokens=O errors=E openinference_off=K
//! genai: model=NAME input_tokens=I output_tokens=O calls=C      (one per model)
//! ```

mod common;

use std::collections::BTreeMap;
use std::thread;

use reqtrace_core::{RequestTracer, SpanKind, Trace};
use reqtrace_genai::{LlmCall, TokenUsage};

/// The service name, and the Phoenix project the spans are filed under.
const SERVICE: &str = "genai-demo";

/// The models asked for, and the model each answers as (a dated version for some).
const MODELS: [(&str, &str); 3] = [
    ("gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("o3-mini", "o3-mini-2025-01-31"),
];

struct Options {
    requests: usize,
    otlp: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        requests: 20,
        otlp: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--requests" => {
                o.requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?
            }
            "--otlp" => o.otlp = Some(value()?),
            "-h" | "--help" => {
                return Err("usage: genai_demo [--requests N] [--otlp URL]".to_owned());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// One model call of a request: everything about it follows from the request number and the
/// call's index in the request.
#[derive(Clone, Copy)]
struct Call {
    request: usize,
    index: usize,
    /// The global number of the call (over all requests), for the every-Nth rules.
    number: usize,
}

impl Call {
    fn model(&self) -> (&'static str, &'static str) {
        MODELS[(self.request + self.index) % MODELS.len()]
    }

    /// Prompt and completion tokens.
    fn usage(&self) -> (u64, u64) {
        let (r, i) = (self.request as u64, self.index as u64);
        (120 + (r * 37 + i * 53) % 900, 15 + (r * 11 + i * 29) % 300)
    }

    /// The first call of every fifth request times out.
    fn fails(&self) -> bool {
        self.request % 5 == 3 && self.index == 0
    }

    /// Every fourth call writes only the `gen_ai.*` attributes.
    fn openinference(&self) -> bool {
        self.number % 4 != 3
    }

    /// Every third call answers as the dated model.
    fn dated_response(&self) -> bool {
        self.number.is_multiple_of(3)
    }

    fn finish_reason(&self) -> &'static str {
        match (self.request + self.index) % 7 {
            5 => "length",
            6 => "tool_calls",
            _ => "stop",
        }
    }

    /// Makes the call under `parent`, as a client would around the provider's response.
    fn run(&self, tracer: &RequestTracer, parent: Option<&reqtrace_core::SpanHandle>) {
        let (model, response_model) = self.model();
        let request = LlmCall::chat("openai", model)
            .max_tokens(512)
            .temperature(0.2)
            .conversation_id(format!("conv-{}", self.request % 4))
            .openinference(self.openinference());
        // On this thread the root is attached: `start` parents on it. Elsewhere, the handle.
        let mut call = match parent {
            Some(handle) => request.start_with_parent(tracer, handle),
            None => request.start(tracer),
        };
        if self.fails() {
            // No response, so no usage; dropping the span ends it.
            call.set_error("timeout", "no answer in 30 s");
            return;
        }
        let (input, output) = self.usage();
        call.response_model(if self.dated_response() {
            response_model
        } else {
            model
        });
        call.response_id(format!("chatcmpl-{}-{}", self.request, self.index));
        call.finish_reasons(&[self.finish_reason()]);
        call.record_usage(input, output);
        call.end();
    }
}

/// Serves request `request`; `next_call` numbers its calls globally.
fn handle_request(tracer: &RequestTracer, request: usize, next_call: &mut usize) -> Trace {
    let mut root = tracer.start_root("POST /answer");
    root.set_kind(SpanKind::Server);
    root.set_attribute("http.request.method", "POST");
    root.set_attribute("http.route", "/answer");
    root.set_attribute("request.id", request);
    let calls: Vec<Call> = (0..1 + request % 3)
        .map(|index| {
            *next_call += 1;
            Call {
                request,
                index,
                number: *next_call - 1,
            }
        })
        .collect();
    for call in &calls {
        if call.index == 1 {
            // The second call on another thread: its span joins the trace through the handle.
            let handle = root.handle();
            let t = tracer.clone();
            let call = *call;
            thread::Builder::new()
                .name(format!("llm-{request}"))
                .spawn(move || call.run(&t, Some(&handle)))
                .expect("spawn call thread")
                .join()
                .expect("call thread");
        } else {
            let _attached = root.attach();
            call.run(tracer, None);
        }
    }
    let answered = calls.iter().any(|c| !c.fails());
    root.set_attribute(
        "http.response.status_code",
        if answered { 200 } else { 504 },
    );
    if !answered {
        root.set_error("every model call failed");
    }
    root.finish()
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let builder = RequestTracer::builder(SERVICE)
        .resource_attribute("service.version", env!("CARGO_PKG_VERSION"))
        .resource_attribute("openinference.project.name", SERVICE);
    // --otlp: stream spans to a collector too, and keep traces for the roll-up.
    let (builder, otlp_stats) = common::with_otlp(builder, opts.otlp.as_deref());
    let tracer = builder.build();

    let mut next_call = 0;
    let traces: Vec<Trace> = (0..opts.requests)
        .map(|r| handle_request(&tracer, r, &mut next_call))
        .collect();

    // A request with a failed call and three calls shows every path; else the first.
    let shown = traces
        .iter()
        .find(|t| t.spans.len() == 4 && t.spans.iter().any(|s| s.error.is_some()))
        .or(traces.first());
    if let Some(t) = shown {
        common::print_tree(t);
    }

    if let Some(otlp) = &otlp_stats {
        common::report_otlp(&tracer, otlp);
    }

    // The roll-up, from the finished traces alone.
    let total: TokenUsage = traces.iter().map(TokenUsage::of_trace).sum();
    let mut by_model: BTreeMap<String, TokenUsage> = BTreeMap::new();
    for t in &traces {
        for (model, usage) in TokenUsage::by_model(t) {
            *by_model.entry(model).or_default() += usage;
        }
    }
    let calls = traces.iter().flat_map(|t| &t.spans).filter(|s| {
        s.attribute(reqtrace_genai::attributes::GEN_AI_OPERATION_NAME)
            .is_some()
    });
    let (errors, openinference_off) = calls.fold((0, 0), |(e, off), s| {
        let mirrored = s
            .attribute(reqtrace_genai::attributes::OPENINFERENCE_SPAN_KIND)
            .is_some();
        (
            e + usize::from(s.error.is_some()),
            off + usize::from(!mirrored),
        )
    });
    println!(
        "genai: traces={} calls={} input_tokens={} output_tokens={} errors={errors} openinference_off={openinference_off}",
        traces.len(),
        total.calls,
        total.input_tokens,
        total.output_tokens
    );
    for (model, u) in &by_model {
        println!(
            "genai: model={model} input_tokens={} output_tokens={} calls={}",
            u.input_tokens, u.output_tokens, u.calls
        );
    }
}
