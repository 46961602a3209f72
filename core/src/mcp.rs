//! MCP client domain: what the service needs to know about an organization's external MCP
//! servers without speaking the protocol. The protocol client itself (rmcp) lives in
//! `autonoma-tools` and implements [`McpConnector`].
//!
//! * [`McpEndpoint`]: everything needed to reach one server, secrets in clear (only ever in
//!   memory; at rest they are one sealed JSON blob, [`McpSecrets`]);
//! * [`qualified_name`]: the name agents give a server's tool, `<connection>__<tool>`;
//! * [`McpConnector`]: lists a server's tools (at create and on refresh).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use autonoma_types::mcp::{
    McpAuthorizationStart, McpOAuth, McpServer, McpServerStatus, McpTool, McpToolAnnotations,
    McpTransport, NewMcpOAuth, NewMcpServer,
};

use crate::secret::SecretBox;
use crate::{Error, Result};

/// Separator between the connection name and the tool name in a qualified tool name.
pub const NAME_SEPARATOR: &str = "__";
/// Longest tool name OpenAI's Chat Completions accepts (`^[a-zA-Z0-9_-]{1,64}$`).
pub const MAX_TOOL_NAME: usize = 64;
/// Default longest tool call, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u32 = 30;
/// Most tools kept from one server's `tools/list`.
pub const MAX_TOOLS_PER_SERVER: usize = 200;

/// The secret parts of a connection, sealed together at rest as JSON with
/// [`SecretBox`]: the stdio environment, the HTTP headers, the bearer token and, for OAuth
/// connections, the pre-registered client secret and the connector's grant (client
/// registration, access and refresh tokens).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct McpSecrets {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// `auth: oauth` with a pre-registered confidential client: its secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_client_secret: Option<String>,
    /// `auth: oauth`, after an authorization: the connector's grant ([`OAuthGrant::grant`]),
    /// opaque to the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_grant: Option<serde_json::Value>,
}

impl McpSecrets {
    /// Whether there is nothing to seal.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.headers.is_empty()
            && self.bearer_token.is_none()
            && self.oauth_client_secret.is_none()
            && self.oauth_grant.is_none()
    }
    /// Seals the JSON form (`nonce || ciphertext`).
    pub fn seal(&self, secrets: &SecretBox) -> Vec<u8> {
        secrets.seal(&serde_json::to_vec(self).expect("secrets serialize"))
    }
    /// Opens what [`McpSecrets::seal`] wrote; `None` gives the empty set.
    /// Errors: [`Error::Internal`] when it does not decrypt (wrong key) or parse.
    pub fn open(secrets: &SecretBox, sealed: Option<&[u8]>) -> Result<Self> {
        match sealed {
            None => Ok(Self::default()),
            Some(s) => serde_json::from_slice(&secrets.open(s)?).map_err(Error::internal),
        }
    }
}

/// Everything needed to reach one server.
#[derive(Debug, Clone)]
pub struct McpEndpoint {
    /// The connection it belongs to.
    pub server: McpServer,
    /// Its secrets, opened.
    pub secrets: McpSecrets,
}

/// The name agents give tool `tool` of connection `connection`: `connection__tool`, with
/// every character outside `[a-zA-Z0-9_-]` replaced by `_`, cut to [`MAX_TOOL_NAME`]
/// characters (connection names are slugs, so only the tool part changes).
pub fn qualified_name(connection: &str, tool: &str) -> String {
    let mut name: String = format!("{connection}{NAME_SEPARATOR}{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(MAX_TOOL_NAME);
    name
}

/// A tool as a server lists it (before it is named for agents).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTool {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
    pub annotations: McpToolAnnotations,
}

/// The cached form of a server's listed tools: qualified names ([`qualified_name`]),
/// sorted; of tools whose qualified names collide (after replacement or truncation) only
/// the first listed is kept, and at most [`MAX_TOOLS_PER_SERVER`].
pub fn qualify_tools(connection: &str, listed: Vec<RemoteTool>) -> Vec<McpTool> {
    let mut seen = std::collections::BTreeSet::new();
    let mut tools: Vec<McpTool> = listed
        .into_iter()
        .filter_map(|t| {
            let name = qualified_name(connection, &t.name);
            seen.insert(name.clone()).then_some(McpTool {
                name,
                remote_name: t.name,
                description: t.description,
                input_schema: t.input_schema,
                annotations: t.annotations,
            })
        })
        .take(MAX_TOOLS_PER_SERVER)
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// The first half of an OAuth authorization ([`McpConnector::start_authorization`]).
#[derive(Debug, Clone)]
pub struct OAuthStart {
    /// The authorization server's `/authorize` URL with the PKCE challenge and `state`.
    pub authorization_url: String,
    /// The `state` parameter in it (a random CSRF token; the store keeps only its hash).
    pub state: String,
    /// What the connector needs back to finish (client registration, PKCE verifier, …):
    /// opaque to the domain, sealed at rest.
    pub flow: serde_json::Value,
}

/// A finished OAuth authorization ([`McpConnector::finish_authorization`]).
#[derive(Debug, Clone)]
pub struct OAuthGrant {
    /// The client id the tokens were issued to.
    pub client_id: String,
    /// Whether the client has a secret (kept inside `grant`).
    pub has_client_secret: bool,
    /// The scopes granted.
    pub granted_scopes: Vec<String>,
    /// The client registration and the tokens: opaque to the domain, sealed at rest as
    /// [`McpSecrets::oauth_grant`].
    pub grant: serde_json::Value,
}

/// An authorization in progress: created by `POST …/authorize`, taken (once) by the
/// callback. Keyed by the SHA-256 of its `state`.
#[derive(Debug, Clone, PartialEq)]
pub struct McpOAuthPending {
    /// Hex SHA-256 of the `state` parameter.
    pub state_hash: String,
    pub org_id: uuid::Uuid,
    /// Who started it: only that user's callback is accepted.
    pub user_id: uuid::Uuid,
    pub server_id: uuid::Uuid,
    /// [`OAuthStart::flow`] sealed with [`SecretBox`] (it holds the PKCE verifier).
    pub flow_sealed: Vec<u8>,
    /// The redirect URI sent to the authorization server.
    pub redirect_uri: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// After this the callback refuses it.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Speaks MCP to a server: implemented by `autonoma-tools` (rmcp).
#[async_trait]
pub trait McpConnector: Send + Sync {
    /// Checks that the endpoint may be reached from this process at all: stdio enabled
    /// here, an HTTP URL whose host resolves only to public addresses (loopback too where
    /// the operator allowed it). Errors: [`Error::Validation`] (`transport` or `url`).
    async fn check(&self, endpoint: &McpEndpoint) -> Result<()>;
    /// Connects (or reuses a live session), initializes, and lists every tool
    /// (`tools/list`, all pages). Errors: [`Error::Validation`] (`url`/`command`) when the
    /// server cannot be reached or fails to initialize, with the reason.
    async fn list_tools(&self, endpoint: &McpEndpoint) -> Result<Vec<RemoteTool>>;
    /// Drops any live session of connection `server_id` (it was deleted), ending its
    /// process for stdio.
    async fn forget(&self, server_id: uuid::Uuid);
    /// For an `auth: oauth` connection: checks that the server asks for OAuth through its
    /// protected resource metadata (RFC 9728) and that its authorization server's metadata
    /// (RFC 8414) can be read. Errors: [`Error::Validation`] (`auth` or `url`).
    async fn discover_oauth(&self, endpoint: &McpEndpoint) -> Result<()>;
    /// Starts an authorization code + PKCE flow: discovers the metadata, registers a client
    /// (RFC 7591) unless one is pre-registered, and builds the authorization URL with
    /// `redirect_uri`. Errors: [`Error::Validation`] (`auth`) with the reason.
    async fn start_authorization(
        &self,
        endpoint: &McpEndpoint,
        redirect_uri: &str,
    ) -> Result<OAuthStart>;
    /// Exchanges `code` (with the PKCE verifier in `flow`) for tokens. `issuer` is the
    /// callback's RFC 9207 `iss`, when given. Errors: [`Error::Validation`] (`code`) when
    /// the authorization server refuses.
    async fn finish_authorization(
        &self,
        endpoint: &McpEndpoint,
        flow: &serde_json::Value,
        code: &str,
        issuer: Option<&str>,
    ) -> Result<OAuthGrant>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_follow_the_openai_rule() {
        assert_eq!(qualified_name("files", "read_file"), "files__read_file");
        assert_eq!(qualified_name("e", "get-sum"), "e__get-sum");
        assert_eq!(qualified_name("e", "a.b/c d"), "e__a_b_c_d");
        let long = qualified_name("conn", &"x".repeat(100));
        assert_eq!(long.len(), MAX_TOOL_NAME);
    }

    #[test]
    fn colliding_names_keep_the_first_tool() {
        let t = |n: &str, d: &str| RemoteTool {
            name: n.into(),
            description: d.into(),
            input_schema: serde_json::json!({"type": "object"}),
            annotations: Default::default(),
        };
        let tools = qualify_tools("s", vec![t("b.c", "first"), t("b_c", "second"), t("a", "")]);
        assert_eq!(
            tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["s__a", "s__b_c"]
        );
        assert_eq!(tools[1].description, "first");
        assert_eq!(tools[1].remote_name, "b.c");
    }

    #[test]
    fn secrets_round_trip_sealed() {
        let sb = SecretBox::new(&[7; 32]);
        let s = McpSecrets {
            bearer_token: Some("t0k".into()),
            ..Default::default()
        };
        let sealed = s.seal(&sb);
        assert!(!sealed.windows(3).any(|w| w == b"t0k"));
        assert_eq!(McpSecrets::open(&sb, Some(&sealed)).unwrap(), s);
        assert_eq!(McpSecrets::open(&sb, None).unwrap(), McpSecrets::default());
    }
}
