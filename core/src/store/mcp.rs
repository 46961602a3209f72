//! MCP server connections of organizations, with their sealed secrets and cached tools.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::mcp::{McpOAuth, McpOAuthPending, McpServer, McpTool};
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
    /// Sets an OAuth connection's public OAuth state and, when `sealed` is given, replaces
    /// its sealed secrets (same format as at create). Errors: [`Error::NotFound`].
    async fn set_mcp_oauth(
        &self,
        org_id: Uuid,
        id: Uuid,
        oauth: &McpOAuth,
        sealed: Option<&[u8]>,
    ) -> Result<()>;
    /// Stores an authorization in progress, and deletes the organization's expired ones.
    async fn create_mcp_oauth_pending(&self, pending: &McpOAuthPending) -> Result<()>;
    /// Deletes and returns the authorization in progress whose state hash is `state_hash`
    /// (so each `state` is accepted at most once), expired or not; `None` when there is
    /// none in organization `org_id`.
    async fn take_mcp_oauth_pending(
        &self,
        org_id: Uuid,
        state_hash: &str,
    ) -> Result<Option<McpOAuthPending>>;
}
