//! One MCP tool of one connection as an agent [`Tool`].

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::llm::ToolDefinition;
use autonoma_core::mcp::McpTool;
use autonoma_core::tool::{Tool, ToolContext, ToolError};
use rmcp::model::{CallToolRequestParams, CallToolResult, RequestMetaObject};
use rmcp::ServiceError;
use serde_json::Value;
use uuid::Uuid;

use super::McpPool;

/// `_meta` key carrying the tool call's idempotency key
/// ([`ToolContext::idempotency_key`]), stable across retries and resumes of the run.
pub const IDEMPOTENCY_META_KEY: &str = "io.autonoma/idempotency-key";
/// `_meta` key carrying the id of the run making the call.
pub const RUN_META_KEY: &str = "io.autonoma/run-id";

/// A cached tool of a connection; calling it reaches the server through the pool's session.
pub struct McpToolHandle {
    pub(super) pool: McpPool,
    pub(super) org_id: Uuid,
    pub(super) server_id: Uuid,
    pub(super) server_name: String,
    pub(super) timeout: Duration,
    pub(super) tool: McpTool,
}

/// The text given back to the model for a `tools/call` result: the text blocks joined by
/// blank lines; other blocks as a bracketed line (`[image: image/png, 1234 bytes base64]`,
/// `[resource: uri]` or the embedded resource's text, `[resource link: uri]`); with no
/// content, the `structuredContent` JSON. Cut to `max_bytes` (at a character boundary) with a
/// note saying how much was left out. `Err` when the result has `isError: true`.
pub fn render_result(result: &CallToolResult, max_bytes: usize) -> Result<String, String> {
    let v = serde_json::to_value(result).unwrap_or_default();
    let mut parts: Vec<String> = vec![];
    for block in v["content"].as_array().into_iter().flatten() {
        let part = match block["type"].as_str().unwrap_or("") {
            "text" => block["text"].as_str().unwrap_or("").to_string(),
            kind @ ("image" | "audio") => format!(
                "[{kind}: {}, {} bytes base64]",
                block["mimeType"].as_str().unwrap_or("?"),
                block["data"].as_str().map_or(0, str::len)
            ),
            "resource" => match block["resource"]["text"].as_str() {
                Some(t) => t.to_string(),
                None => format!(
                    "[resource: {}]",
                    block["resource"]["uri"].as_str().unwrap_or("?")
                ),
            },
            "resource_link" => format!("[resource link: {}]", block["uri"].as_str().unwrap_or("?")),
            other => format!("[{other} content]"),
        };
        parts.push(part);
    }
    if parts.is_empty() {
        if let Some(s) = v.get("structuredContent") {
            parts.push(s.to_string());
        }
    }
    let mut text = parts.join("\n\n");
    if text.len() > max_bytes {
        let total = text.len();
        let mut cut = max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(&format!(
            "\n[output truncated: {cut} of {total} bytes shown]"
        ));
    }
    if result.is_error == Some(true) {
        Err(text)
    } else {
        Ok(text)
    }
}

#[async_trait]
impl Tool for McpToolHandle {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.tool.name.clone(),
            description: self.tool.description.clone(),
            parameters: self.tool.input_schema.clone(),
        }
    }

    fn read_only(&self) -> bool {
        self.tool.read_only()
    }

    async fn call(&self, arguments: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let name = &self.tool.name;
        let arguments = match arguments {
            Value::Object(m) => m,
            Value::Null => Default::default(),
            _ => {
                return Err(ToolError(format!(
                    "{name}: arguments must be a JSON object"
                )))
            }
        };
        let inner = &self.pool.inner;
        let endpoint = inner
            .endpoint(self.org_id, self.server_id)
            .await
            .map_err(|e| {
                ToolError(format!(
                    "{name}: MCP server '{}' is gone: {e}",
                    self.server_name
                ))
            })?;
        let session = inner.session(&endpoint).await.map_err(|e| {
            ToolError(format!(
                "{name}: MCP server '{}' is unavailable: {}",
                self.server_name,
                match e {
                    autonoma_core::Error::Validation { message, .. } => message,
                    e => e.to_string(),
                }
            ))
        })?;
        let mut meta = serde_json::Map::new();
        meta.insert(
            IDEMPOTENCY_META_KEY.into(),
            ctx.idempotency_key.clone().into(),
        );
        meta.insert(RUN_META_KEY.into(), ctx.run_id.to_string().into());
        let mut params =
            CallToolRequestParams::new(self.tool.remote_name.clone()).with_arguments(arguments);
        params.meta = Some(RequestMetaObject::from(meta));
        match tokio::time::timeout(self.timeout, session.peer.call_tool(params)).await {
            Err(_) => {
                // A hung server: end this session; the next call starts a fresh one.
                inner.discard(self.server_id, &session);
                Err(ToolError(format!(
                    "{name}: MCP server '{}' did not answer within {} s",
                    self.server_name,
                    self.timeout.as_secs()
                )))
            }
            Ok(Err(ServiceError::McpError(e))) => Err(ToolError(format!(
                "{name}: MCP server '{}' refused the call: {}",
                self.server_name, e.message
            ))),
            Ok(Err(e)) => {
                inner.discard(self.server_id, &session);
                // An OAuth connection whose token could not be refreshed mid-session has
                // been marked; say so rather than the transport's words.
                if endpoint.server.oauth.is_some() {
                    if let Ok((now, _)) = inner
                        .store
                        .get_mcp_server(self.org_id, self.server_id)
                        .await
                    {
                        if now.status == autonoma_core::mcp::McpServerStatus::NeedsAuthorization {
                            return Err(ToolError(format!(
                                "{name}: MCP server '{}' needs authorization: an admin must connect it again ({e})",
                                self.server_name
                            )));
                        }
                    }
                }
                Err(ToolError(format!(
                    "{name}: MCP server '{}' failed during the call: {e}",
                    self.server_name
                )))
            }
            Ok(Ok(result)) => {
                render_result(&result, inner.settings.max_output_bytes).map_err(ToolError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(v: Value) -> CallToolResult {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn results_become_text_and_errors() {
        let r = result(serde_json::json!({"content": [
            {"type": "text", "text": "one"},
            {"type": "image", "mimeType": "image/png", "data": "AAAA"},
        ]}));
        assert_eq!(
            render_result(&r, 1000).unwrap(),
            "one\n\n[image: image/png, 4 bytes base64]"
        );
        let r = result(
            serde_json::json!({"content": [{"type": "text", "text": "no such file"}], "isError": true}),
        );
        assert_eq!(render_result(&r, 1000).unwrap_err(), "no such file");
        let r = result(serde_json::json!({"content": [], "structuredContent": {"sum": 3}}));
        assert_eq!(render_result(&r, 1000).unwrap(), r#"{"sum":3}"#);
    }

    #[test]
    fn long_results_are_cut_with_a_note() {
        let r = result(serde_json::json!({"content": [{"type": "text", "text": "é".repeat(100)}]}));
        let text = render_result(&r, 11).unwrap();
        assert!(text.starts_with(&"é".repeat(5)), "{text}");
        assert!(
            text.ends_with("[output truncated: 10 of 200 bytes shown]"),
            "{text}"
        );
    }
}
