//! [`TokenUsage`]: tokens and calls summed over a trace's spans.

use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};

use reqtrace_core::{SpanData, Trace, Value};

use crate::attributes as attr;

/// Tokens and model calls, summed over spans.
///
/// Read from the attributes a span ended with (the last value of a key, as on export):
/// - `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens` are added from every span
///   that has them, when they are non-negative integers; any other value (a string, a
///   float, a negative number) is skipped, as is a missing one;
/// - a span counts as a call when it has `gen_ai.operation.name` as a string.
///
/// Sums saturate at `u64::MAX`. Usage is summed over every span, so record it on the calls,
/// not again on a span around them (an agent's span), or it counts twice.
///
/// ```
/// use reqtrace_core::RequestTracer;
/// use reqtrace_genai::{LlmCall, TokenUsage};
///
/// let tracer = RequestTracer::new("agent");
/// let root = tracer.start_root("request");
/// for (input, output) in [(120, 30), (80, 20)] {
///     let mut call = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &root.handle());
///     call.record_usage(input, output);
/// }
/// let trace = root.finish();
/// let usage = TokenUsage::of_trace(&trace);
/// assert_eq!((usage.input_tokens, usage.output_tokens, usage.calls), (200, 50, 2));
/// assert_eq!(usage.total(), 250);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenUsage {
    /// Prompt tokens (`gen_ai.usage.input_tokens`).
    pub input_tokens: u64,
    /// Response tokens (`gen_ai.usage.output_tokens`).
    pub output_tokens: u64,
    /// Spans with `gen_ai.operation.name`.
    pub calls: u64,
}

impl TokenUsage {
    /// Input plus output tokens (saturating).
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// What one span contributes: its usage, and one call if it is one.
    pub fn of_span(span: &SpanData) -> TokenUsage {
        TokenUsage {
            input_tokens: tokens(span, attr::GEN_AI_USAGE_INPUT_TOKENS),
            output_tokens: tokens(span, attr::GEN_AI_USAGE_OUTPUT_TOKENS),
            calls: u64::from(string(span, attr::GEN_AI_OPERATION_NAME).is_some()),
        }
    }

    /// The sum over `spans` (a trace's, or those an exporter received).
    pub fn of_spans<'a>(spans: impl IntoIterator<Item = &'a SpanData>) -> TokenUsage {
        spans.into_iter().map(TokenUsage::of_span).sum()
    }

    /// The sum over the trace's spans.
    pub fn of_trace(trace: &Trace) -> TokenUsage {
        TokenUsage::of_spans(&trace.spans)
    }

    /// The sums per model: keyed by `gen_ai.response.model`, or `gen_ai.request.model` when
    /// the response model is missing (or not a string). Spans with neither, and spans that
    /// are not calls and record no usage, are left out.
    ///
    /// ```
    /// use reqtrace_core::RequestTracer;
    /// use reqtrace_genai::{LlmCall, TokenUsage};
    ///
    /// let tracer = RequestTracer::new("agent");
    /// let root = tracer.start_root("request");
    /// let mut a = LlmCall::chat("openai", "gpt-4o").start_with_parent(&tracer, &root.handle());
    /// a.response_model("gpt-4o-2024-08-06");
    /// a.record_usage(10, 5);
    /// a.end();
    /// let mut b = LlmCall::chat("openai", "gpt-4o-mini").start_with_parent(&tracer, &root.handle());
    /// b.record_usage(3, 1);
    /// b.end();
    /// let by_model = TokenUsage::by_model(&root.finish());
    /// assert_eq!(by_model.keys().collect::<Vec<_>>(), ["gpt-4o-2024-08-06", "gpt-4o-mini"]);
    /// assert_eq!(by_model["gpt-4o-mini"].total(), 4);
    /// ```
    pub fn by_model(trace: &Trace) -> BTreeMap<String, TokenUsage> {
        let mut out: BTreeMap<String, TokenUsage> = BTreeMap::new();
        for span in &trace.spans {
            let usage = TokenUsage::of_span(span);
            if usage == TokenUsage::default() {
                continue;
            }
            let model = string(span, attr::GEN_AI_RESPONSE_MODEL)
                .or_else(|| string(span, attr::GEN_AI_REQUEST_MODEL));
            let Some(model) = model else { continue };
            match out.get_mut(model) {
                Some(sum) => *sum += usage,
                None => {
                    out.insert(model.to_owned(), usage);
                }
            }
        }
        out
    }
}

impl Add for TokenUsage {
    type Output = TokenUsage;

    /// Field by field, saturating.
    fn add(self, o: TokenUsage) -> TokenUsage {
        TokenUsage {
            input_tokens: self.input_tokens.saturating_add(o.input_tokens),
            output_tokens: self.output_tokens.saturating_add(o.output_tokens),
            calls: self.calls.saturating_add(o.calls),
        }
    }
}

impl AddAssign for TokenUsage {
    fn add_assign(&mut self, o: TokenUsage) {
        *self = *self + o;
    }
}

impl std::iter::Sum for TokenUsage {
    fn sum<I: Iterator<Item = TokenUsage>>(iter: I) -> TokenUsage {
        iter.fold(TokenUsage::default(), Add::add)
    }
}

/// The span's last `key` as a token count: a non-negative integer, else 0.
fn tokens(span: &SpanData, key: &str) -> u64 {
    span.attribute(key)
        .and_then(Value::as_i64)
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0)
}

/// The span's last `key`, if it is a string.
fn string<'a>(span: &'a SpanData, key: &str) -> Option<&'a str> {
    span.attribute(key).and_then(Value::as_str)
}
