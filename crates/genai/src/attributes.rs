//! Attribute names and well-known values: the OpenTelemetry GenAI semantic conventions
//! (`gen_ai.*`), `error.type`, and the OpenInference names Arize Phoenix displays
//! (`openinference.span.kind`, `llm.*`, `session.id`).
//!
//! Well-known values are in submodules: [`operation`] (values of
//! [`GEN_AI_OPERATION_NAME`]), [`provider`] (values of [`GEN_AI_PROVIDER_NAME`]) and
//! [`openinference_kind`] (values of [`OPENINFERENCE_SPAN_KIND`]).
//!
//! ```
//! use reqtrace_genai::attributes::{self, operation};
//!
//! assert_eq!(attributes::GEN_AI_USAGE_INPUT_TOKENS, "gen_ai.usage.input_tokens");
//! assert_eq!(operation::CHAT, "chat");
//! ```

// ---- OpenTelemetry GenAI semantic conventions -------------------------------------------

/// `gen_ai.operation.name` (string): what the call does, e.g. [`operation::CHAT`]. A span
/// with this attribute counts as a call in [`crate::TokenUsage`].
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.provider.name` (string): the provider, e.g. [`provider::OPENAI`].
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// `gen_ai.system` (string): the older name of [`GEN_AI_PROVIDER_NAME`], which backends
/// built on earlier versions of the conventions read. [`crate::LlmCall`] records both.
pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
/// `gen_ai.request.model` (string): the model asked for.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// `gen_ai.request.max_tokens` (int): the most tokens the model may generate.
pub const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// `gen_ai.request.temperature` (double): the sampling temperature.
pub const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// `gen_ai.request.top_p` (double): the nucleus-sampling probability mass.
pub const GEN_AI_REQUEST_TOP_P: &str = "gen_ai.request.top_p";
/// `gen_ai.response.model` (string): the model that answered (may be more specific than the
/// one asked for, e.g. a dated version).
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// `gen_ai.response.id` (string): the provider's id for the completion.
pub const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
/// `gen_ai.response.finish_reasons` (string array): why the model stopped, one reason per
/// choice it returned, e.g. `["stop"]`.
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// `gen_ai.usage.input_tokens` (int): tokens in the prompt.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens` (int): tokens in the response.
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.conversation.id` (string): the conversation (session, thread) the call belongs to.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// `gen_ai.agent.name` (string): the agent's human-readable name.
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
/// `gen_ai.tool.name` (string): the tool's name.
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// `error.type` (string): the class of error a failed operation ended with (an exception
/// type, an HTTP status code, `"timeout"`, …), from the general semantic conventions.
pub const ERROR_TYPE: &str = "error.type";

// ---- OpenInference (Arize Phoenix) -------------------------------------------------------

/// `openinference.span.kind` (string): how Phoenix shows the span, e.g.
/// [`openinference_kind::LLM`].
pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
/// `llm.model_name` (string): the model, as Phoenix reads it.
pub const LLM_MODEL_NAME: &str = "llm.model_name";
/// `llm.provider` (string): the provider, as Phoenix reads it.
pub const LLM_PROVIDER: &str = "llm.provider";
/// `llm.token_count.prompt` (int): prompt tokens, as Phoenix reads them.
pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
/// `llm.token_count.completion` (int): completion tokens, as Phoenix reads them.
pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
/// `llm.token_count.total` (int): prompt plus completion tokens, as Phoenix reads them.
pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
/// `session.id` (string): OpenInference's name for the conversation, by which Phoenix groups
/// spans into sessions (mirrors [`GEN_AI_CONVERSATION_ID`]).
pub const SESSION_ID: &str = "session.id";

/// Well-known values of [`GEN_AI_OPERATION_NAME`].
pub mod operation {
    /// A chat completion (OpenAI's Chat Completions, Anthropic's Messages, …).
    pub const CHAT: &str = "chat";
    /// A plain text completion (legacy completions APIs).
    pub const TEXT_COMPLETION: &str = "text_completion";
    /// A multimodal content-generation call (Gemini's `generateContent`).
    pub const GENERATE_CONTENT: &str = "generate_content";
    /// An embeddings call.
    pub const EMBEDDINGS: &str = "embeddings";
    /// The execution of a tool the model asked for.
    pub const EXECUTE_TOOL: &str = "execute_tool";
    /// The creation of an agent.
    pub const CREATE_AGENT: &str = "create_agent";
    /// The invocation of an agent.
    pub const INVOKE_AGENT: &str = "invoke_agent";
}

/// Well-known values of [`GEN_AI_PROVIDER_NAME`] (any string
/// is accepted; these are the conventions' names for common providers).
pub mod provider {
    /// OpenAI.
    pub const OPENAI: &str = "openai";
    /// Anthropic.
    pub const ANTHROPIC: &str = "anthropic";
    /// AWS Bedrock.
    pub const AWS_BEDROCK: &str = "aws.bedrock";
    /// Azure OpenAI.
    pub const AZURE_AI_OPENAI: &str = "azure.ai.openai";
    /// Google Gemini (AI Studio API).
    pub const GCP_GEMINI: &str = "gcp.gemini";
    /// Google Vertex AI.
    pub const GCP_VERTEX_AI: &str = "gcp.vertex_ai";
    /// Mistral AI.
    pub const MISTRAL_AI: &str = "mistral_ai";
    /// Cohere.
    pub const COHERE: &str = "cohere";
    /// Groq.
    pub const GROQ: &str = "groq";
    /// DeepSeek.
    pub const DEEPSEEK: &str = "deepseek";
    /// xAI.
    pub const X_AI: &str = "x_ai";
}

/// Values of [`OPENINFERENCE_SPAN_KIND`] that
/// [`crate::LlmCall`] writes.
pub mod openinference_kind {
    /// A call to a language model (chat, completion, content generation).
    pub const LLM: &str = "LLM";
    /// An embeddings call.
    pub const EMBEDDING: &str = "EMBEDDING";
    /// A tool execution.
    pub const TOOL: &str = "TOOL";
    /// An agent invocation.
    pub const AGENT: &str = "AGENT";

    /// The kind Phoenix should show for a span of operation `operation`
    /// ([`super::operation`]): [`EMBEDDING`] for embeddings, [`TOOL`] for a tool
    /// execution, [`AGENT`] for agents, [`LLM`] for everything else.
    ///
    /// ```
    /// use reqtrace_genai::attributes::{openinference_kind, operation};
    /// assert_eq!(openinference_kind::for_operation(operation::CHAT), "LLM");
    /// assert_eq!(openinference_kind::for_operation(operation::EMBEDDINGS), "EMBEDDING");
    /// ```
    pub fn for_operation(operation: &str) -> &'static str {
        match operation {
            super::operation::EMBEDDINGS => EMBEDDING,
            super::operation::EXECUTE_TOOL => TOOL,
            super::operation::INVOKE_AGENT | super::operation::CREATE_AGENT => AGENT,
            _ => LLM,
        }
    }
}
