//! Small serde types the UI exchanges with its server functions.
//!
//! They mirror the JSON shapes of `autonoma_core::model` (same field names and tags), so
//! the server converts a core record by serializing it and reading it back as the DTO,
//! and the browser build never links `autonoma-core`. Unknown fields are ignored.

use serde::{Deserialize, Serialize};

/// The signed-in user and the organization of their session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// The user's e-mail address.
    pub email: String,
    /// Name of the session's organization.
    pub org_name: String,
    /// Role in that organization: `owner`, `admin`, `member` or `viewer`.
    pub role: String,
}

/// Per-agent limits (mirror of `autonoma_core::model::Limits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsDto {
    /// Maximum LLM calls in one run.
    pub max_steps: u32,
    /// Maximum output tokens per LLM call.
    pub max_output_tokens: u32,
    /// Wall-clock limit of a run, in seconds.
    pub timeout_secs: u32,
}

impl Default for LimitsDto {
    fn default() -> Self {
        LimitsDto {
            max_steps: 8,
            max_output_tokens: 512,
            timeout_secs: 120,
        }
    }
}

/// An agent with its current spec (mirror of `autonoma_core::model::Agent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDto {
    /// Agent id (UUID).
    pub id: String,
    /// Current version, starting at 1.
    pub version: i64,
    /// Display name.
    pub name: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Provider connection id (UUID).
    pub provider_id: String,
    /// Model name at that provider.
    pub model: String,
    /// System prompt.
    #[serde(default)]
    pub instructions: String,
    /// Enabled built-in tools.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Domains `http_fetch` may reach.
    #[serde(default)]
    pub http_allowlist: Vec<String>,
    /// Knowledge bases (UUIDs) the agent searches with `knowledge_search`.
    #[serde(default)]
    pub knowledge_base_ids: Vec<String>,
    /// Run limits.
    #[serde(default)]
    pub limits: LimitsDto,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A provider connection without its key (mirror of `ProviderConnection`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderDto {
    /// Connection id (UUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `local` or `openai_compatible`.
    pub kind: String,
    /// Base URL of an OpenAI-compatible endpoint.
    pub base_url: Option<String>,
    /// Models offered in the agent editor.
    #[serde(default)]
    pub models: Vec<String>,
    /// Whether an API key is stored (it is never returned).
    #[serde(default)]
    pub has_api_key: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// An API key's public record (mirror of `ApiKey`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyDto {
    /// Key id (UUID).
    pub id: String,
    /// Label given at creation.
    pub name: String,
    /// First characters of the secret, to recognise it.
    pub prefix: String,
    /// Role the key acts with.
    pub role: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last use (RFC 3339), if ever used.
    pub last_used_at: Option<String>,
    /// Revocation time (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
}

/// A key just created: its record and the secret, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedKeyDto {
    /// The key's record.
    pub key: ApiKeyDto,
    /// The secret (`ak_…`).
    pub secret: String,
}

/// Token counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageDto {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

/// One execution of an agent (mirror of `autonoma_core::model::Run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDto {
    /// Run id (UUID).
    pub id: String,
    /// The agent it ran.
    pub agent_id: String,
    /// The agent version it ran.
    pub agent_version: i64,
    /// Conversation it belongs to.
    pub thread_id: String,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// The user's message.
    pub input: String,
    /// Final answer, when completed.
    pub output: Option<String>,
    /// Reason for failed / cancelled.
    pub error: Option<String>,
    /// Tokens used.
    #[serde(default)]
    pub usage: UsageDto,
    /// LLM calls made.
    #[serde(default)]
    pub steps: i64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
}

impl RunDto {
    /// Completed, failed or cancelled.
    pub fn is_terminal(&self) -> bool {
        is_terminal_status(&self.status)
    }
}

/// Whether a run status string is final.
pub fn is_terminal_status(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

/// A page of items and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageDto<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A run with its events so far, as one turn of a chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnDto {
    /// The run.
    pub run: RunDto,
    /// Its events, in order.
    pub events: Vec<EventDto>,
}

/// A persisted run event (mirror of `autonoma_core::model::RunEvent`: the SSE `data:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDto {
    /// The run.
    pub run_id: String,
    /// Position in the run, from 1 (the SSE event id).
    pub seq: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// When (RFC 3339).
    #[serde(default)]
    pub created_at: String,
}

/// What happened at one point of a run (mirror of `RunEventKind`, tagged by `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The executor picked the run up.
    RunStarted {
        /// Agent version executed.
        agent_version: i64,
        /// Model called.
        model: String,
    },
    /// Another executor took the run over (crash, lost lease, time budget); deltas of an
    /// unfinished `from_step` (and later) are superseded by what follows.
    RunResumed {
        /// First step not fully recorded before the takeover.
        from_step: u32,
        /// Executor epoch (1 for the first executor).
        attempt: i64,
    },
    /// A piece of assistant text while the model streams.
    TokenDelta {
        /// LLM call number, from 1.
        step: u32,
        /// The new text.
        text: String,
    },
    /// The assistant's complete message for a step.
    AssistantMessage {
        /// LLM call number.
        step: u32,
        /// The whole text (may be empty when it only calls tools).
        text: String,
    },
    /// The model asked for a tool.
    ToolCall {
        /// LLM call number.
        step: u32,
        /// Pairs the call with its result.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments as given by the model.
        arguments: serde_json::Value,
    },
    /// A tool's answer.
    ToolResult {
        /// LLM call number.
        step: u32,
        /// The call answered.
        call_id: String,
        /// Tool name.
        name: String,
        /// Output text.
        output: String,
        /// Whether the tool failed.
        is_error: bool,
    },
    /// Tokens of one LLM call.
    Usage {
        /// LLM call number.
        step: u32,
        /// Prompt tokens.
        input_tokens: u64,
        /// Generated tokens.
        output_tokens: u64,
    },
    /// The run finished with an answer.
    Completed {
        /// The final answer.
        output: String,
    },
    /// The run failed.
    Failed {
        /// Human-readable reason.
        reason: String,
        /// Machine code.
        code: String,
    },
    /// The run was cancelled.
    Cancelled {
        /// Why.
        reason: String,
    },
    /// An event type this UI does not know yet.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// True for completed, failed and cancelled.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EventKind::Completed { .. } | EventKind::Failed { .. } | EventKind::Cancelled { .. }
        )
    }
}

/// A knowledge base (mirror of `autonoma_core::knowledge::KnowledgeBase`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeBaseDto {
    /// Base id (UUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Largest accepted upload in bytes (set by the server for the base's page; 0 when
    /// unknown).
    #[serde(default)]
    pub max_upload_bytes: u64,
}

/// A knowledge base in the list, with how many documents it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeBaseSummaryDto {
    /// The base.
    pub base: KnowledgeBaseDto,
    /// Documents counted (at most one page of them).
    pub documents: u32,
    /// True when there are more documents than `documents`.
    pub more: bool,
}

/// An uploaded document and its ingestion progress (mirror of
/// `autonoma_core::knowledge::Document`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentDto {
    /// Document id (UUID).
    pub id: String,
    /// The base it belongs to.
    pub kb_id: String,
    /// File name as uploaded.
    pub name: String,
    /// `text/plain`, `text/markdown`, `text/html` or `application/pdf`.
    pub media_type: String,
    /// Size of the file in bytes.
    pub size_bytes: i64,
    /// `queued`, `extracting`, `embedding`, `ready` or `failed`.
    pub status: String,
    /// Chunks the text was split into.
    #[serde(default)]
    pub chunks_total: i64,
    /// Chunks embedded so far.
    #[serde(default)]
    pub chunks_embedded: i64,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Upload time (RFC 3339).
    pub created_at: String,
}

impl DocumentDto {
    /// Ready or failed: nothing more will happen to it.
    pub fn is_settled(&self) -> bool {
        matches!(self.status.as_str(), "ready" | "failed")
    }
}

/// The outcome of one uploaded file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadedDto {
    /// The new document, or the existing one with the same content.
    pub document: DocumentDto,
    /// False when the same file was already in the base (nothing new was stored).
    pub created: bool,
}

/// One search result (mirror of `autonoma_core::knowledge::SearchHit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHitDto {
    /// Chunk id (UUID).
    pub chunk_id: String,
    /// Document id (UUID).
    pub document_id: String,
    /// Name of the document.
    pub document_name: String,
    /// Chunk number within the document, from 0.
    pub ordinal: i64,
    /// Heading path of the chunk, e.g. `Guide > Install` (may be empty).
    #[serde(default)]
    pub heading: String,
    /// Page number (PDF only).
    #[serde(default)]
    pub page: Option<i64>,
    /// The passage.
    pub text: String,
    /// Cosine similarity with the query (higher is closer).
    pub score: f32,
    /// `<document> § <heading> (chunk n)`.
    #[serde(default)]
    pub citation: String,
}

/// A byte count for people: `812 B`, `14.2 KiB`, `3.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

/// Formats an RFC 3339 timestamp as `YYYY-MM-DD HH:MM UTC` (the same on server and
/// browser, so hydration sees identical text).
pub fn short_time(ts: &str) -> String {
    if ts.len() >= 16 && ts.is_char_boundary(16) {
        format!("{} UTC", ts[..16].replace('T', " "))
    } else {
        ts.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_like_the_sse_data() {
        let e: EventDto = serde_json::from_str(
            r#"{"run_id":"r","seq":3,"type":"tool_call","step":1,"call_id":"c1","name":"calculator","arguments":{"expression":"1+1"},"created_at":"2026-01-02T03:04:05Z"}"#,
        )
        .unwrap();
        assert_eq!(e.seq, 3);
        assert!(matches!(e.kind, EventKind::ToolCall { ref name, .. } if name == "calculator"));
        let u: EventDto = serde_json::from_str(
            r#"{"run_id":"r","seq":4,"type":"approval_requested","created_at":"x"}"#,
        )
        .unwrap();
        assert_eq!(u.kind, EventKind::Unknown);
        assert_eq!(
            short_time("2026-01-02T03:04:05.123Z"),
            "2026-01-02 03:04 UTC"
        );
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(14_540), "14.2 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MiB");
    }
}
