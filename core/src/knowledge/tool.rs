//! The `knowledge_search` agent tool: searches the knowledge bases attached to the agent
//! (`AgentSpec::knowledge_base_ids`, passed in [`ToolContext::knowledge_base_ids`]) and
//! returns numbered passages the model can cite.
//!
//! Arguments: `{"query": string, "k"?: integer 1..=10 (default 5)}`. Result text:
//!
//! ```text
//! 3 passages for "how are jobs retried". Cite them by number, e.g. [1].
//!
//! [1] ARCHITECTURE.md § Architecture > Invariants (chunk 4)
//! <chunk text>
//!
//! [2] …
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use super::{Knowledge, SearchHit};
use crate::llm::ToolDefinition;
use crate::tool::{Tool, ToolContext, ToolError};

/// Name of the tool.
pub const KNOWLEDGE_SEARCH: &str = "knowledge_search";
/// Most passages one call returns.
pub const MAX_TOOL_RESULTS: usize = 10;

/// The tool; holds the knowledge engine it searches with.
pub struct KnowledgeSearchTool {
    knowledge: Arc<Knowledge>,
}

impl KnowledgeSearchTool {
    /// A tool searching through `knowledge`.
    pub fn new(knowledge: Arc<Knowledge>) -> Self {
        KnowledgeSearchTool { knowledge }
    }
}

/// `[n] <document name> § <heading> (chunk <ordinal>)`, the heading part left out when empty.
pub fn citation_marker(n: usize, hit: &SearchHit) -> String {
    format!("[{n}] {}", hit.citation)
}

/// Formats hits as the tool's result text (see the module docs).
pub fn format_results(query: &str, hits: &[SearchHit]) -> String {
    if hits.is_empty() {
        return format!("No passages found for {query:?}. The attached knowledge bases may be empty or still indexing.");
    }
    let mut out = format!(
        "{} passage{} for {query:?}. Cite them by number, e.g. [1].\n",
        hits.len(),
        if hits.len() == 1 { "" } else { "s" }
    );
    for (i, h) in hits.iter().enumerate() {
        out.push('\n');
        out.push_str(&citation_marker(i + 1, h));
        out.push('\n');
        out.push_str(h.text.trim());
        out.push('\n');
    }
    out
}

#[async_trait]
impl Tool for KnowledgeSearchTool {
    fn read_only(&self) -> bool {
        true
    }
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: KNOWLEDGE_SEARCH.into(),
            description: "Searches the agent's knowledge bases (uploaded documents) and returns the most relevant passages, numbered [1], [2], … with their document and section. Cite the numbers of the passages you use.".into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for, in natural language."},
                    "k": {"type": "integer", "minimum": 1, "maximum": MAX_TOOL_RESULTS, "description": "How many passages to return (default 5)."}
                },
                "required": ["query"]
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        ctx: &ToolContext,
    ) -> Result<String, ToolError> {
        let query = arguments
            .get("query")
            .and_then(|q| q.as_str())
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .ok_or_else(|| ToolError("knowledge_search: missing required string argument \"query\", e.g. {\"query\": \"refund policy\"}".into()))?;
        if query.chars().count() > 2000 {
            return Err(ToolError(
                "knowledge_search: \"query\" must be at most 2000 characters".into(),
            ));
        }
        let k = match arguments.get("k") {
            None | Some(serde_json::Value::Null) => 5,
            Some(v) => match v.as_u64() {
                Some(k) if (1..=MAX_TOOL_RESULTS as u64).contains(&k) => k as usize,
                _ => {
                    return Err(ToolError(format!(
                        "knowledge_search: \"k\" must be an integer from 1 to {MAX_TOOL_RESULTS}"
                    )))
                }
            },
        };
        if ctx.knowledge_base_ids.is_empty() {
            return Err(ToolError(
                "knowledge_search: this agent has no knowledge bases attached".into(),
            ));
        }
        let hits = self
            .knowledge
            .search(ctx.org_id, &ctx.knowledge_base_ids, query, k)
            .await
            .map_err(|e| ToolError(format!("knowledge_search failed: {e}")))?;
        Ok(format_results(query, &hits))
    }
}
