//! [`LlmCall`], the builder of a span for one model call, and [`LlmSpan`], the span it starts.

use std::borrow::Cow;

use reqtrace_core::{Parent, RequestTracer, Span, SpanKind, Value};

use crate::attributes::{self as attr, openinference_kind, operation};

/// What a model call asks for: the builder of an [`LlmSpan`].
///
/// [`LlmCall::start`] (or [`LlmCall::start_with_parent`]) starts a detached span named
/// `"{operation} {model}"` (the conventions' span name; just `"{operation}"` when the model
/// is empty), of kind [`SpanKind::Client`], with these attributes, in this order:
///
/// | attribute | when |
/// |---|---|
/// | `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.system` | always |
/// | `gen_ai.request.model` | the model is not empty |
/// | `gen_ai.request.max_tokens`, `.temperature`, `.top_p` | set here |
/// | `gen_ai.conversation.id` | set here |
/// | `openinference.span.kind`, `llm.provider` | [`LlmCall::openinference`] (default on) |
/// | `llm.model_name` | OpenInference on, the model is not empty |
/// | `session.id` | OpenInference on, a conversation id set |
///
/// Every attribute goes through the tracer's [`reqtrace_core::Limits`] like any other:
/// over `max_attributes_per_span` the later ones are dropped and counted.
///
/// ```
/// use reqtrace_core::{RequestTracer, SpanKind, Value};
/// use reqtrace_genai::LlmCall;
///
/// let tracer = RequestTracer::new("chatbot");
/// let root = tracer.start_root("request");
/// let call = LlmCall::new("text_completion", "openai", "gpt-3.5-turbo-instruct")
///     .max_tokens(64)
///     .openinference(false);
/// drop(call.start_with_parent(&tracer, &root.handle()));
/// let trace = root.finish();
/// let span = trace.span("text_completion gpt-3.5-turbo-instruct").unwrap();
/// assert_eq!(span.kind, SpanKind::Client);
/// assert_eq!(span.attribute("gen_ai.request.max_tokens"), Some(&Value::I64(64)));
/// assert!(span.attribute("llm.model_name").is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "an LlmCall does nothing until started"]
pub struct LlmCall {
    operation: Cow<'static, str>,
    provider: Cow<'static, str>,
    model: Cow<'static, str>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    conversation_id: Option<Cow<'static, str>>,
    openinference: bool,
}

impl LlmCall {
    /// A call of `operation` (see [`crate::attributes::operation`]) to `model` at
    /// `provider` (see [`crate::attributes::provider`]). OpenInference attributes are on.
    pub fn new(
        operation: impl Into<Cow<'static, str>>,
        provider: impl Into<Cow<'static, str>>,
        model: impl Into<Cow<'static, str>>,
    ) -> Self {
        LlmCall {
            operation: operation.into(),
            provider: provider.into(),
            model: model.into(),
            max_tokens: None,
            temperature: None,
            top_p: None,
            conversation_id: None,
            openinference: true,
        }
    }

    /// A chat completion ([`operation::CHAT`]) of `model` at `provider`.
    pub fn chat(
        provider: impl Into<Cow<'static, str>>,
        model: impl Into<Cow<'static, str>>,
    ) -> Self {
        LlmCall::new(operation::CHAT, provider, model)
    }

    /// A text completion ([`operation::TEXT_COMPLETION`]) of `model` at `provider`.
    pub fn text_completion(
        provider: impl Into<Cow<'static, str>>,
        model: impl Into<Cow<'static, str>>,
    ) -> Self {
        LlmCall::new(operation::TEXT_COMPLETION, provider, model)
    }

    /// An embeddings call ([`operation::EMBEDDINGS`]) of `model` at `provider`.
    pub fn embeddings(
        provider: impl Into<Cow<'static, str>>,
        model: impl Into<Cow<'static, str>>,
    ) -> Self {
        LlmCall::new(operation::EMBEDDINGS, provider, model)
    }

    /// Records `gen_ai.request.max_tokens`.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Records `gen_ai.request.temperature`.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Records `gen_ai.request.top_p`.
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Records `gen_ai.conversation.id` (and, with OpenInference on, `session.id`).
    pub fn conversation_id(mut self, id: impl Into<Cow<'static, str>>) -> Self {
        self.conversation_id = Some(id.into());
        self
    }

    /// Whether to also write the OpenInference attributes Arize Phoenix reads
    /// (`openinference.span.kind`, `llm.provider`, `llm.model_name`, `session.id`, and
    /// `llm.token_count.*` in [`LlmSpan::record_usage`]). Default `true`.
    pub fn openinference(mut self, on: bool) -> Self {
        self.openinference = on;
        self
    }

    /// The span's name: `"{operation} {model}"`, or `"{operation}"` with no model.
    pub fn span_name(&self) -> Cow<'static, str> {
        if self.model.is_empty() {
            self.operation.clone()
        } else {
            Cow::Owned(format!("{} {}", self.operation, self.model))
        }
    }

    /// Starts the call's span as a child of the current span on this thread
    /// ([`RequestTracer::start_detached_span`]). With no trace current, it records nothing.
    pub fn start(self, tracer: &RequestTracer) -> LlmSpan {
        let span = tracer.start_detached_span(self.span_name());
        self.fill(span)
    }

    /// Starts the call's span as a child of `parent`: a [`reqtrace_core::SpanHandle`]
    /// (from another thread or task: the span joins its trace) or a
    /// [`reqtrace_core::SpanContext`] (see
    /// [`RequestTracer::start_detached_span_with_parent`]).
    pub fn start_with_parent<'p>(
        self,
        tracer: &RequestTracer,
        parent: impl Into<Parent<'p>>,
    ) -> LlmSpan {
        let span = tracer.start_detached_span_with_parent(self.span_name(), parent);
        self.fill(span)
    }

    /// Writes the request attributes on a started span.
    fn fill(self, mut span: Span) -> LlmSpan {
        if span.is_recording() {
            span.set_kind(SpanKind::Client);
            let kind = openinference_kind::for_operation(&self.operation);
            span.set_attribute(attr::GEN_AI_OPERATION_NAME, self.operation);
            span.set_attribute(attr::GEN_AI_PROVIDER_NAME, self.provider.clone());
            span.set_attribute(attr::GEN_AI_SYSTEM, self.provider.clone());
            let has_model = !self.model.is_empty();
            if has_model {
                span.set_attribute(attr::GEN_AI_REQUEST_MODEL, self.model.clone());
            }
            if let Some(v) = self.max_tokens {
                span.set_attribute(attr::GEN_AI_REQUEST_MAX_TOKENS, v);
            }
            if let Some(v) = self.temperature {
                span.set_attribute(attr::GEN_AI_REQUEST_TEMPERATURE, v);
            }
            if let Some(v) = self.top_p {
                span.set_attribute(attr::GEN_AI_REQUEST_TOP_P, v);
            }
            if let Some(id) = &self.conversation_id {
                span.set_attribute(attr::GEN_AI_CONVERSATION_ID, id.clone());
            }
            if self.openinference {
                span.set_attribute(attr::OPENINFERENCE_SPAN_KIND, kind);
                span.set_attribute(attr::LLM_PROVIDER, self.provider);
                if has_model {
                    span.set_attribute(attr::LLM_MODEL_NAME, self.model);
                }
                if let Some(id) = self.conversation_id {
                    span.set_attribute(attr::SESSION_ID, id);
                }
            }
        }
        LlmSpan {
            span,
            openinference: self.openinference,
        }
    }
}

/// The span of one model call ([`LlmCall::start`]): record what the response says, then end
/// it ([`LlmSpan::end`], or drop it). `Send`, so it can be held across `.await` and ended on
/// any thread. Every method does nothing when the span is not recorded.
#[derive(Debug)]
#[must_use = "the span ends when dropped"]
pub struct LlmSpan {
    span: Span,
    openinference: bool,
}

impl LlmSpan {
    /// Records `gen_ai.usage.input_tokens` and `gen_ai.usage.output_tokens` (and, with
    /// OpenInference on, `llm.token_count.prompt`, `.completion` and `.total`). Counts above
    /// `i64::MAX` are recorded as `i64::MAX`; the total saturates.
    pub fn record_usage(&mut self, input_tokens: u64, output_tokens: u64) {
        if !self.span.is_recording() {
            return;
        }
        self.span
            .set_attribute(attr::GEN_AI_USAGE_INPUT_TOKENS, input_tokens);
        self.span
            .set_attribute(attr::GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens);
        if self.openinference {
            self.span
                .set_attribute(attr::LLM_TOKEN_COUNT_PROMPT, input_tokens);
            self.span
                .set_attribute(attr::LLM_TOKEN_COUNT_COMPLETION, output_tokens);
            self.span.set_attribute(
                attr::LLM_TOKEN_COUNT_TOTAL,
                input_tokens.saturating_add(output_tokens),
            );
        }
    }

    /// Records `gen_ai.response.model`: the model that answered (with OpenInference on, also
    /// `llm.model_name`, as OpenInference's own instrumentations do: Phoenix then shows the
    /// model that answered, as [`crate::TokenUsage::by_model`] groups).
    pub fn response_model(&mut self, model: impl Into<Cow<'static, str>>) {
        if !self.span.is_recording() {
            return;
        }
        let model = model.into();
        if self.openinference {
            self.span.set_attribute(attr::LLM_MODEL_NAME, model.clone());
        }
        self.span.set_attribute(attr::GEN_AI_RESPONSE_MODEL, model);
    }

    /// Records `gen_ai.response.id`: the provider's id for the completion.
    pub fn response_id(&mut self, id: impl Into<Cow<'static, str>>) {
        self.span.set_attribute(attr::GEN_AI_RESPONSE_ID, id.into());
    }

    /// Records `gen_ai.response.finish_reasons` as a string array, one reason per choice.
    pub fn finish_reasons(&mut self, reasons: &[&str]) {
        if !self.span.is_recording() {
            return;
        }
        let reasons: Vec<Value> = reasons
            .iter()
            .map(|r| Value::String(Cow::Owned((*r).to_owned())))
            .collect();
        self.span
            .set_attribute(attr::GEN_AI_RESPONSE_FINISH_REASONS, Value::Array(reasons));
    }

    /// Marks the call failed: status error with `message`, and `error.type` set to
    /// `error_type` (a low-cardinality class: `"timeout"`, `"rate_limited"`, an HTTP status
    /// such as `"429"`, an exception type).
    pub fn set_error(
        &mut self,
        error_type: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) {
        if !self.span.is_recording() {
            return;
        }
        self.span.set_attribute(attr::ERROR_TYPE, error_type.into());
        self.span.set_error(message);
    }

    /// Whether the span is recorded.
    pub fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    /// The underlying span (its context, its handle for child spans).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The underlying span, to record anything else (`gen_ai.tool.name`, events, links).
    pub fn span_mut(&mut self) -> &mut Span {
        &mut self.span
    }

    /// The underlying span, still open.
    pub fn into_span(self) -> Span {
        self.span
    }

    /// Ends the span now.
    pub fn end(self) {
        self.span.end();
    }
}
