//! The LLM provider abstraction: one chat call with tool definitions, streamed.
//!
//! Modelled on OpenAI Chat Completions (the de-facto wire format); providers translate.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::model::Usage;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
    Tool,
}

pub use autonoma_types::llm::ToolCall;

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
    /// Set on assistant messages that call tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Set on `tool` messages: the id of the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with only text.
    pub fn text(role: ChatRole, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }
}

/// A tool the model may call: name, description and a JSON Schema for the arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    /// JSON Schema (draft 2020-12 subset accepted by OpenAI) of the arguments object.
    pub parameters: serde_json::Value,
}

/// A request for one assistant turn.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolDefinition>,
    /// Maximum tokens to generate in this turn.
    pub max_tokens: u32,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    ToolCalls,
    /// Hit `max_tokens`.
    Length,
}

/// The complete assistant turn.
#[derive(Debug, Clone)]
pub struct ChatResponse {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish_reason: FinishReason,
}

/// Failures of a provider call.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Could not reach the provider or it answered with a non-success status.
    #[error("provider request failed: {0}")]
    Transport(String),
    /// The provider answered but the reply did not follow the protocol.
    #[error("provider protocol error: {0}")]
    Protocol(String),
    /// The model is unknown or could not be loaded.
    #[error("model unavailable: {0}")]
    Model(String),
}

/// A chat model backend.
///
/// `chat` streams text as it is generated through `deltas` (each item a fragment of the
/// assistant's text, in order) and returns the full turn when the model stops. A dropped
/// receiver must not fail the call. Implementations: `autonoma_llm::OpenAiCompatible`
/// and `autonoma_llm::LocalGguf`.
#[async_trait]
pub trait LlmProvider: Send + Sync {
    async fn chat(
        &self,
        request: ChatRequest,
        deltas: UnboundedSender<String>,
    ) -> Result<ChatResponse, LlmError>;
}

/// Builds a provider for a stored connection (implemented by `autonoma_llm::Providers`).
pub trait ProviderFactory: Send + Sync {
    /// `api_key` is the decrypted key, if the connection has one.
    fn build(
        &self,
        connection: &crate::model::ProviderConnection,
        api_key: Option<String>,
    ) -> Result<std::sync::Arc<dyn LlmProvider>, LlmError>;
}
