//! MCP server connections of organizations, with their sealed secrets and cached tools.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::mcp::{McpServer, McpTool};
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// MCP server connections.
#[async_trait]
pub trait McpStore: Send + Sync {
    /// Stores a connection with its tools (`server.tools`) and its sealed secrets
    /// ([`crate::mcp::McpSecrets::seal`], `nonce || ciphertext`, never plaintext).
    /// Errors: [`Error::Conflict`] when the organization has a connection of that name.
    async fn create_mcp_server(&self, server: &McpServer, sealed: Option<&[u8]>) -> Result<()>;
    /// An organization's connections, oldest first, with their cached tools.
    async fn list_mcp_servers(&self, org_id: Uuid) -> Result<Vec<McpServer>>;
    /// One connection and its sealed secrets. Errors: [`Error::NotFound`].
    async fn get_mcp_server(&self, org_id: Uuid, id: Uuid) -> Result<(McpServer, Option<Vec<u8>>)>;
    /// Replaces the cached tools and sets `tools_refreshed_at`. Errors: [`Error::NotFound`].
    async fn set_mcp_tools(
        &self,
        org_id: Uuid,
        id: Uuid,
        tools: &[McpTool],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Errors: [`Error::NotFound`].
    async fn delete_mcp_server(&self, org_id: Uuid, id: Uuid) -> Result<()>;
}
