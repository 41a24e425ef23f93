//! # reqtrace-genai
//!
//! LLM calls as spans, by the OpenTelemetry GenAI semantic conventions: [`LlmCall`] starts a
//! client span named `"{operation} {model}"` with the request's `gen_ai.*` attributes, the
//! [`LlmSpan`] it returns records the response (usage, response model and id, finish reasons,
//! errors), and [`TokenUsage`] sums tokens and calls over a finished trace, in total or per
//! model. By default each span also carries the OpenInference mirror attributes
//! (`openinference.span.kind`, `llm.model_name`, `llm.token_count.*`, …) so that Arize
//! Phoenix shows model and token counts.
//!
//! ```
//! use reqtrace_core::{RequestTracer, SpanKind, Value};
//! use reqtrace_genai::{LlmCall, TokenUsage, attributes as attr};
//!
//! let tracer = RequestTracer::new("support-bot");
//! let root = tracer.start_root("POST /answer");
//!
//! let mut call = LlmCall::chat("openai", "gpt-4o")
//!     .max_tokens(512)
//!     .temperature(0.2)
//!     .conversation_id("conv-42")
//!     .start_with_parent(&tracer, &root.handle());
//! // ... send the request, read the response ...
//! call.response_model("gpt-4o-2024-08-06");
//! call.response_id("chatcmpl-123");
//! call.finish_reasons(&["stop"]);
//! call.record_usage(120, 30);
//! call.end();
//!
//! let trace = root.finish();
//! let span = trace.span("chat gpt-4o").unwrap();
//! assert_eq!(span.kind, SpanKind::Client);
//! assert_eq!(span.parent_id, Some(trace.span("POST /answer").unwrap().span_id));
//! assert_eq!(span.attribute(attr::GEN_AI_PROVIDER_NAME), Some(&Value::from("openai")));
//! assert_eq!(span.attribute(attr::GEN_AI_REQUEST_TEMPERATURE), Some(&Value::F64(0.2)));
//! assert_eq!(
//!     span.attribute(attr::GEN_AI_RESPONSE_FINISH_REASONS),
//!     Some(&Value::Array(vec![Value::from("stop")]))
//! );
//! assert_eq!(span.attribute(attr::LLM_TOKEN_COUNT_TOTAL), Some(&Value::I64(150)));
//!
//! let usage = TokenUsage::of_trace(&trace);
//! assert_eq!((usage.input_tokens, usage.output_tokens, usage.calls), (120, 30, 1));
//! assert_eq!(TokenUsage::by_model(&trace)["gpt-4o-2024-08-06"].total(), 150);
//! ```
//!
//! [`LlmCall::start`] parents the span on the current span of the thread (an attached root,
//! a guard); [`LlmCall::start_with_parent`] on a [`reqtrace_core::SpanHandle`] from another
//! thread or task, or on a remote [`reqtrace_core::SpanContext`]. The [`LlmSpan`] is `Send`:
//! hold it across the `.await` of the request. The attribute names, and well-known operation
//! and provider names, are in [`attributes`]. Every attribute is bounded by the tracer's
//! [`reqtrace_core::Limits`] like any other.

pub mod attributes;
mod call;
mod usage;

pub use call::{LlmCall, LlmSpan};
pub use usage::TokenUsage;
