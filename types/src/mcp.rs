//! MCP server connections: an organization's external Model Context Protocol servers whose
//! tools its agents may call (<https://modelcontextprotocol.io/specification>).
//!
//! A connection is reached either over **stdio** (the server spawns `command` with `args`,
//! in a cleared environment holding only `env`) or over **streamable HTTP** (`url`, with
//! extra `headers` and/or a bearer token). The environment values, header values and the
//! bearer token are secrets: they are sealed at rest and never returned; the records below
//! carry only their names.
//!
//! A connection's tools are discovered with `tools/list` and cached with the connection.
//! Agents name them `<connection name>__<tool name>` ([`McpTool::name`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How a connection reaches its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum McpTransport {
    /// A child process speaking JSON-RPC over its stdin/stdout.
    Stdio,
    /// The MCP streamable HTTP transport (POST + optional SSE).
    StreamableHttp,
}

impl McpTransport {
    /// `stdio` or `streamable_http`.
    pub fn as_str(self) -> &'static str {
        match self {
            McpTransport::Stdio => "stdio",
            McpTransport::StreamableHttp => "streamable_http",
        }
    }
    /// Parses [`McpTransport::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stdio" => Some(Self::Stdio),
            "streamable_http" => Some(Self::StreamableHttp),
            _ => None,
        }
    }
}

/// MCP's tool annotations (all hints, given by the server; none is trusted for security,
/// except that a tool not marked `read_only_hint: true` is treated as one that changes
/// things).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct McpToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `readOnlyHint`: the tool does not modify its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// `destructiveHint`: the tool may perform destructive updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// `idempotentHint`: calling it again with the same arguments has no further effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// `openWorldHint`: the tool reaches an open world of external entities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

/// A tool discovered on a connection (cached in the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct McpTool {
    /// The name agents use: `<connection name>__<remote name>`, with every character outside
    /// `[a-zA-Z0-9_-]` replaced by `_` and cut to 64 characters (OpenAI's tool-name rule).
    pub name: String,
    /// The tool's name on its server (what `tools/call` is sent).
    pub remote_name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments (`inputSchema`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input_schema: serde_json::Value,
    #[serde(default)]
    pub annotations: McpToolAnnotations,
}

impl McpTool {
    /// Whether the server marked the tool read-only (`readOnlyHint == true`).
    pub fn read_only(&self) -> bool {
        self.annotations.read_only_hint == Some(true)
    }
}

/// A connection as returned to clients: secret values are never included, only their names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct McpServer {
    pub id: Uuid,
    pub org_id: Uuid,
    /// A slug (`[a-z0-9-]`, 1–32 characters, starting with a letter), unique in the
    /// organization; the prefix of its tools' names.
    pub name: String,
    pub transport: McpTransport,
    /// stdio: the absolute path of the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// stdio: its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// stdio: names of the environment variables set for the process (values are sealed).
    #[serde(default)]
    pub env_names: Vec<String>,
    /// streamable HTTP: the endpoint, e.g. `https://mcp.example.com/mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// streamable HTTP: names of the extra request headers (values are sealed).
    #[serde(default)]
    pub header_names: Vec<String>,
    /// streamable HTTP: whether a bearer token is stored (sent as `Authorization: Bearer`).
    #[serde(default)]
    pub has_bearer_token: bool,
    /// streamable HTTP with `auth: oauth`: the OAuth 2.1 client state (no secret in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<McpOAuth>,
    /// `ready`, or `needs_authorization` for an OAuth connection without a usable token
    /// (never authorized, or its refresh failed): an admin must connect it again
    /// (`POST /api/v1/mcp-servers/{id}/authorize`).
    pub status: McpServerStatus,
    /// Longest a tool call may take, in seconds (1..=600).
    pub timeout_secs: u32,
    /// The cached tools, from the last discovery.
    #[serde(default)]
    pub tools: Vec<McpTool>,
    /// When the tools were last listed.
    pub tools_refreshed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Whether a connection can be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum McpServerStatus {
    /// Usable (stdio, bearer/header HTTP, or OAuth with tokens).
    Ready,
    /// An OAuth connection without a usable token: tool calls fail until an admin connects
    /// it again.
    NeedsAuthorization,
}

impl McpServerStatus {
    /// `ready` or `needs_authorization`.
    pub fn as_str(self) -> &'static str {
        match self {
            McpServerStatus::Ready => "ready",
            McpServerStatus::NeedsAuthorization => "needs_authorization",
        }
    }
}

/// The public OAuth 2.1 state of a streamable HTTP connection with `auth: oauth` (the
/// client secret, the tokens and the registration are sealed at rest and never returned).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct McpOAuth {
    /// Whether the connection holds tokens that worked last time (`false`: it needs an
    /// authorization, see [`McpServer::status`]).
    pub authorized: bool,
    /// The OAuth client id: the pre-registered one, or the one dynamic client registration
    /// (RFC 7591) returned at the last authorization; `None` before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whether `client_id` was given by the admin (pre-registered) rather than registered.
    #[serde(default)]
    pub preregistered: bool,
    /// Whether a client secret is stored (pre-registered, or returned by registration).
    #[serde(default)]
    pub has_client_secret: bool,
    /// The scopes asked for (empty: the server's advertised `scopes_supported`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The scopes granted at the last authorization.
    #[serde(default)]
    pub granted_scopes: Vec<String>,
    /// When the last authorization completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_at: Option<DateTime<Utc>>,
    /// Why the connection needs an authorization (e.g. the refresh token was refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `oauth` of [`NewMcpServer`]: a client registered with the authorization server out of
/// band, and/or the scopes to ask for. Without `client_id` the client is registered
/// dynamically (RFC 7591) at the first authorization.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMcpOAuth {
    /// Pre-registered client id (its redirect URI must be
    /// `<base>/api/v1/mcp-servers/oauth/callback`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Its secret, for a confidential client (secret: sealed at rest).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes to ask for; empty: those the server advertises.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Answer of `POST /api/v1/mcp-servers/{id}/authorize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct McpAuthorizationStart {
    /// Where to send the person's browser: the authorization server's `/authorize` with
    /// the PKCE challenge, the `state` and the redirect URI.
    pub authorization_url: String,
    /// Until when the `state` in it is accepted by the callback (single use).
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/mcp-servers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMcpServer {
    /// See [`McpServer::name`].
    pub name: String,
    /// `stdio` or `streamable_http`.
    pub transport: String,
    /// stdio: absolute path of the program (the environment is cleared, so nothing is
    /// looked up on `PATH`).
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// stdio: the whole environment of the process (secret: sealed at rest).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// streamable HTTP endpoint (`http(s)://`).
    #[serde(default)]
    pub url: Option<String>,
    /// streamable HTTP: extra headers (secret: sealed at rest).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// streamable HTTP: bearer token, without `Bearer ` (secret: sealed at rest).
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// streamable HTTP: `none` (default: headers and/or `bearer_token`) or `oauth` (OAuth
    /// 2.1 authorization code + PKCE, for servers that publish RFC 9728 protected resource
    /// metadata; the connection is stored `needs_authorization` until an admin connects it).
    #[serde(default)]
    pub auth: Option<String>,
    /// `auth: oauth`: pre-registered client and scopes (optional).
    #[serde(default)]
    pub oauth: Option<NewMcpOAuth>,
    /// Longest a tool call may take, in seconds (1..=600). Default 30.
    #[serde(default, deserialize_with = "crate::de::opt_integer")]
    pub timeout_secs: Option<u32>,
}
