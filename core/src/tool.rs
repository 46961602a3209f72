//! Tools an agent can call, and the registry the agent loop resolves them from.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::llm::ToolDefinition;

/// Per-call context handed to a tool.
#[derive(Debug, Clone, Default)]
pub struct ToolContext {
    /// Domains `http_fetch` may reach (from the agent spec).
    pub http_allowlist: Vec<String>,
    /// The organization the run belongs to (tools that read tenant data are scoped to it).
    pub org_id: uuid::Uuid,
    /// Knowledge bases `knowledge_search` searches (from the agent spec).
    pub knowledge_base_ids: Vec<uuid::Uuid>,
    /// The run making the call.
    pub run_id: uuid::Uuid,
    /// Stable for one tool call of one run across retries and resumes:
    /// `"{run_id}:{step}:{call_id}"` ([`idempotency_key`]). Tools that reach other systems
    /// pass it on where their protocol allows (an `Idempotency-Key` header, MCP `_meta`).
    pub idempotency_key: String,
}

/// The idempotency key of tool call `call_id` in step `step` (1-based) of run `run_id`.
pub fn idempotency_key(run_id: uuid::Uuid, step: u32, call_id: &str) -> String {
    format!("{run_id}:{step}:{call_id}")
}

/// A failed tool call; the message is returned to the model as the tool result
/// (with `is_error`), so the model can recover.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

/// A callable tool.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and JSON Schema of the arguments.
    fn definition(&self) -> ToolDefinition;
    /// Whether the tool only reads (MCP's `readOnlyHint`): it changes nothing outside the
    /// run. Tools that are not read-only default to `require_approval` when no policy rule
    /// matches. Default: `false`.
    fn read_only(&self) -> bool {
        false
    }
    /// Executes with the model's arguments; returns the text given back to the model.
    async fn call(
        &self,
        arguments: serde_json::Value,
        ctx: &ToolContext,
    ) -> Result<String, ToolError>;
}

/// Tools that exist per organization rather than per process (an organization's MCP server
/// connections): the agent loop asks the resolvers of its [`crate::runtime::RunEnv`] for the
/// names of an agent's spec that the static [`ToolRegistry`] does not have.
#[async_trait]
pub trait ToolResolver: Send + Sync {
    /// The tools among `names` that this resolver provides to organization `org_id`, in any
    /// order; names it does not know are left out. Errors: storage failures.
    async fn resolve(
        &self,
        org_id: uuid::Uuid,
        names: &[String],
    ) -> crate::Result<Vec<Arc<dyn Tool>>>;
}

/// Tools by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolRegistry {
    /// Adds (or replaces) a tool under its definition's name.
    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.definition().name, tool);
    }
    /// Looks a tool up by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.tools.get(name).cloned()
    }
    /// All registered tool names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tools.keys().cloned().collect()
    }
}
