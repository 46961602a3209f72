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
    /// Executes with the model's arguments; returns the text given back to the model.
    async fn call(
        &self,
        arguments: serde_json::Value,
        ctx: &ToolContext,
    ) -> Result<String, ToolError>;
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
