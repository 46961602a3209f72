//! MCP server connections (`/api/v1/mcp-servers`): validation, sealing of their secrets,
//! tool discovery through the [`McpConnector`](crate::mcp::McpConnector) and the tool cache.
//!
//! Creating, refreshing and deleting need admin (a connection spawns processes or reaches
//! other systems with stored credentials); reading needs viewer. Everything is checked, and
//! the server's tools are listed, before anything is written: a connection that cannot be
//! reached is refused (422 on `command` or `url`) and nothing is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::Service;
use crate::guard::{check_len, require};
use crate::mcp::*;
use crate::model::{Actor, Role};
use crate::{Error, Result};

/// Most arguments of a stdio command.
pub const MAX_ARGS: usize = 64;
/// Most environment variables of a stdio command, and most extra HTTP headers.
pub const MAX_ENV: usize = 64;
/// Longest timeout of a tool call, in seconds.
pub const MAX_TIMEOUT_SECS: u32 = 600;
/// How long an OAuth authorization may take from `POST …/authorize` to the callback, in
/// seconds (10 minutes, like an authorization code's usual lifetime).
pub const OAUTH_PENDING_TTL_SECS: i64 = 600;

/// `[a-z][a-z0-9-]{0,31}`: a connection name (the prefix of its tools' names).
fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters.
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An HTTP header name (RFC 9110 token characters), at most 128 characters.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

fn no_control(s: &str) -> bool {
    !s.chars().any(|c| c.is_control())
}

impl Service {
    /// Enables MCP server connections with this connector; without one, creating a
    /// connection fails with a validation error on `transport`.
    pub fn with_mcp(mut self, connector: Arc<dyn McpConnector>) -> Self {
        self.mcp = Some(connector);
        self
    }

    fn mcp_connector(&self) -> Result<&Arc<dyn McpConnector>> {
        self.mcp.as_ref().ok_or_else(|| {
            Error::validation("transport", "MCP servers are not available on this server")
        })
    }

    /// Adds a connection (admin+): validates it, lists its tools (which connects to the
    /// server), then stores it with its secrets sealed and its tools cached.
    /// Errors: [`Error::Validation`] (`name`, `transport`, `command`, `args`, `env`, `url`,
    /// `headers`, `bearer_token`, `timeout_secs`), [`Error::Conflict`] for a name in use.
    pub async fn create_mcp_server(&self, actor: &Actor, input: NewMcpServer) -> Result<McpServer> {
        require(actor, Role::Admin, "managing MCP servers needs admin")?;
        let name = input.name.trim().to_string();
        if !is_slug(&name) {
            return Err(Error::validation(
                "name",
                "1 to 32 characters: a lowercase letter, then lowercase letters, digits or '-'",
            ));
        }
        let transport = McpTransport::parse(input.transport.trim()).ok_or_else(|| {
            Error::validation("transport", "must be 'stdio' or 'streamable_http'")
        })?;
        let timeout_secs = input.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
            return Err(Error::validation(
                "timeout_secs",
                format!("must be 1 to {MAX_TIMEOUT_SECS}"),
            ));
        }
        let mut server = McpServer {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            name,
            transport,
            command: None,
            args: vec![],
            env_names: vec![],
            url: None,
            header_names: vec![],
            has_bearer_token: false,
            oauth: None,
            status: McpServerStatus::Ready,
            timeout_secs,
            tools: vec![],
            tools_refreshed_at: Utc::now(),
            created_at: Utc::now(),
        };
        let mut secrets = McpSecrets::default();
        let oauth_wanted = match input.auth.as_deref().map(str::trim) {
            None | Some("") | Some("none") => {
                if input.oauth.is_some() {
                    return Err(Error::validation("oauth", "only with auth 'oauth'"));
                }
                false
            }
            Some("oauth") if transport == McpTransport::StreamableHttp => true,
            Some("oauth") => {
                return Err(Error::validation(
                    "auth",
                    "OAuth is for streamable_http connections",
                ))
            }
            Some(_) => return Err(Error::validation("auth", "must be 'none' or 'oauth'")),
        };
        match transport {
            McpTransport::Stdio => {
                if input.url.is_some() || !input.headers.is_empty() || input.bearer_token.is_some()
                {
                    return Err(Error::validation(
                        "url",
                        "url, headers and bearer_token are for streamable_http connections",
                    ));
                }
                let command = input.command.as_deref().map(str::trim).unwrap_or("");
                check_len("command", command, 1, 1024)?;
                if !command.starts_with('/') {
                    return Err(Error::validation(
                        "command",
                        "must be an absolute path (the environment is cleared, so PATH is not searched)",
                    ));
                }
                if input.args.len() > MAX_ARGS
                    || input
                        .args
                        .iter()
                        .any(|a| a.len() > 4096 || a.contains('\0'))
                {
                    return Err(Error::validation(
                        "args",
                        format!("at most {MAX_ARGS} arguments of up to 4096 bytes"),
                    ));
                }
                if input.env.len() > MAX_ENV
                    || input
                        .env
                        .iter()
                        .any(|(k, v)| !is_env_name(k) || v.len() > 8192 || v.contains('\0'))
                {
                    return Err(Error::validation(
                        "env",
                        format!(
                            "at most {MAX_ENV} variables named [A-Za-z_][A-Za-z0-9_]* with values of up to 8192 bytes"
                        ),
                    ));
                }
                server.command = Some(command.to_string());
                server.args = input.args;
                server.env_names = input.env.keys().cloned().collect();
                secrets.env = input.env;
            }
            McpTransport::StreamableHttp => {
                if input.command.is_some() || !input.args.is_empty() || !input.env.is_empty() {
                    return Err(Error::validation(
                        "command",
                        "command, args and env are for stdio connections",
                    ));
                }
                let url = input.url.as_deref().map(str::trim).unwrap_or("");
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.len() > 2048
                    || !no_control(url)
                {
                    return Err(Error::validation("url", "must be an http(s) URL"));
                }
                let mut headers = BTreeMap::new();
                for (k, v) in input.headers {
                    let k = k.trim().to_ascii_lowercase();
                    if !is_header_name(&k) || v.len() > 8192 || !no_control(&v) {
                        return Err(Error::validation(
                            "headers",
                            "header names are HTTP tokens; values up to 8192 bytes, no control characters",
                        ));
                    }
                    if matches!(
                        k.as_str(),
                        "host"
                            | "content-length"
                            | "content-type"
                            | "accept"
                            | "mcp-session-id"
                            | "mcp-protocol-version"
                    ) {
                        return Err(Error::validation(
                            "headers",
                            format!("header '{k}' is set by the MCP transport"),
                        ));
                    }
                    headers.insert(k, v);
                }
                if headers.len() > MAX_ENV {
                    return Err(Error::validation(
                        "headers",
                        format!("at most {MAX_ENV} headers"),
                    ));
                }
                let token = input.bearer_token.filter(|t| !t.is_empty());
                if let Some(t) = &token {
                    if t.len() > 8192 || !no_control(t) || t.contains(' ') {
                        return Err(Error::validation(
                            "bearer_token",
                            "up to 8192 bytes, no spaces or control characters, without 'Bearer '",
                        ));
                    }
                    if headers.contains_key("authorization") {
                        return Err(Error::validation(
                            "headers",
                            "give either an Authorization header or bearer_token, not both",
                        ));
                    }
                }
                if oauth_wanted {
                    if token.is_some() || headers.contains_key("authorization") {
                        return Err(Error::validation(
                            "bearer_token",
                            "an OAuth connection gets its token by authorization: give no bearer_token or Authorization header",
                        ));
                    }
                    let o = input.oauth.unwrap_or_default();
                    let client_id = o
                        .client_id
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty());
                    if let Some(c) = &client_id {
                        check_len("oauth.client_id", c, 1, 512)?;
                        if !no_control(c) {
                            return Err(Error::validation(
                                "oauth.client_id",
                                "no control characters",
                            ));
                        }
                    }
                    let client_secret = o.client_secret.filter(|c| !c.is_empty());
                    if let Some(c) = &client_secret {
                        if client_id.is_none() {
                            return Err(Error::validation(
                                "oauth.client_secret",
                                "a client secret goes with a pre-registered client_id",
                            ));
                        }
                        check_len("oauth.client_secret", c, 1, 4096)?;
                    }
                    if o.scopes.len() > 32
                        || o.scopes.iter().any(|s| {
                            s.is_empty()
                                || s.len() > 256
                                || s.chars().any(|c| {
                                    c.is_whitespace() || c.is_control() || c == '"' || c == '\\'
                                })
                        })
                    {
                        return Err(Error::validation(
                            "oauth.scopes",
                            "at most 32 scopes of up to 256 characters, without spaces, quotes or backslashes",
                        ));
                    }
                    server.oauth = Some(McpOAuth {
                        authorized: false,
                        preregistered: client_id.is_some(),
                        client_id,
                        has_client_secret: client_secret.is_some(),
                        scopes: o.scopes,
                        granted_scopes: vec![],
                        authorized_at: None,
                        reason: Some("not authorized yet".into()),
                    });
                    server.status = McpServerStatus::NeedsAuthorization;
                    secrets.oauth_client_secret = client_secret;
                }
                server.url = Some(url.to_string());
                server.header_names = headers.keys().cloned().collect();
                server.has_bearer_token = token.is_some();
                secrets.headers = headers;
                secrets.bearer_token = token;
            }
        }
        if self
            .store
            .list_mcp_servers(actor.org_id)
            .await?
            .iter()
            .any(|s| s.name == server.name)
        {
            return Err(Error::Conflict(format!(
                "an MCP server named '{}' already exists",
                server.name
            )));
        }
        let connector = self.mcp_connector()?;
        let mut endpoint = McpEndpoint { server, secrets };
        connector.check(&endpoint).await?;
        if endpoint.server.oauth.is_some() {
            // No token yet, so no tools: they are listed when the authorization completes.
            connector.discover_oauth(&endpoint).await?;
        } else {
            let listed = connector.list_tools(&endpoint).await?;
            endpoint.server.tools = qualify_tools(&endpoint.server.name, listed);
        }
        endpoint.server.tools_refreshed_at = Utc::now();
        let sealed = (!endpoint.secrets.is_empty()).then(|| endpoint.secrets.seal(&self.secrets));
        let created = self
            .store
            .create_mcp_server(&endpoint.server, sealed.as_deref())
            .await;
        if created.is_err() {
            connector.forget(endpoint.server.id).await;
        }
        created?;
        Ok(endpoint.server)
    }

    /// The organization's connections with their cached tools (viewer+).
    pub async fn list_mcp_servers(&self, actor: &Actor) -> Result<Vec<McpServer>> {
        self.store.list_mcp_servers(actor.org_id).await
    }

    /// One connection with its cached tools (viewer+). Errors: [`Error::NotFound`].
    pub async fn get_mcp_server(&self, actor: &Actor, id: Uuid) -> Result<McpServer> {
        Ok(self.store.get_mcp_server(actor.org_id, id).await?.0)
    }

    /// Lists the connection's tools again and replaces the cache (admin+).
    /// Errors: [`Error::NotFound`]; [`Error::Validation`] when the server cannot be reached
    /// (the cache is then left as it was).
    pub async fn refresh_mcp_tools(&self, actor: &Actor, id: Uuid) -> Result<McpServer> {
        require(actor, Role::Admin, "managing MCP servers needs admin")?;
        let (server, sealed) = self.store.get_mcp_server(actor.org_id, id).await?;
        let secrets = McpSecrets::open(&self.secrets, sealed.as_deref())?;
        let connector = self.mcp_connector()?;
        let mut endpoint = McpEndpoint { server, secrets };
        connector.check(&endpoint).await?;
        let listed = connector.list_tools(&endpoint).await?;
        let at = Utc::now();
        endpoint.server.tools = qualify_tools(&endpoint.server.name, listed);
        endpoint.server.tools_refreshed_at = at;
        self.store
            .set_mcp_tools(actor.org_id, id, &endpoint.server.tools, at)
            .await?;
        Ok(endpoint.server)
    }

    /// Deletes a connection (admin+) and ends its live session. Agents that name its tools
    /// keep the names; runs then go without those tools. Errors: [`Error::NotFound`].
    pub async fn delete_mcp_server(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Admin, "managing MCP servers needs admin")?;
        self.store.delete_mcp_server(actor.org_id, id).await?;
        if let Some(c) = &self.mcp {
            c.forget(id).await;
        }
        Ok(())
    }

    /// Starts connecting an `auth: oauth` connection (admin+): discovers the server's
    /// authorization server, registers a client there unless one is pre-registered, and
    /// keeps the PKCE verifier and the `state` (bound to this organization, this user and
    /// this connection) for [`OAUTH_PENDING_TTL_SECS`]. `redirect_uri` is this server's
    /// callback URL (`<base>/api/v1/mcp-servers/oauth/callback`).
    /// Errors: [`Error::NotFound`]; [`Error::Validation`] (`auth`) for a connection without
    /// OAuth or a discovery/registration failure.
    pub async fn start_mcp_authorization(
        &self,
        actor: &Actor,
        id: Uuid,
        redirect_uri: &str,
    ) -> Result<McpAuthorizationStart> {
        require(actor, Role::Admin, "managing MCP servers needs admin")?;
        let (server, sealed) = self.store.get_mcp_server(actor.org_id, id).await?;
        if server.oauth.is_none() {
            return Err(Error::validation(
                "auth",
                "this connection does not use OAuth (create it with auth 'oauth')",
            ));
        }
        let secrets = McpSecrets::open(&self.secrets, sealed.as_deref())?;
        let connector = self.mcp_connector()?;
        let endpoint = McpEndpoint { server, secrets };
        connector.check(&endpoint).await?;
        let start = connector
            .start_authorization(&endpoint, redirect_uri)
            .await?;
        let now = Utc::now();
        let pending = McpOAuthPending {
            state_hash: hex::encode(crate::secret::hash_secret(&start.state)),
            org_id: actor.org_id,
            user_id: actor.user_id,
            server_id: id,
            flow_sealed: self
                .secrets
                .seal(&serde_json::to_vec(&start.flow).map_err(Error::internal)?),
            redirect_uri: redirect_uri.to_string(),
            created_at: now,
            expires_at: now + chrono::Duration::seconds(OAUTH_PENDING_TTL_SECS),
        };
        self.store.create_mcp_oauth_pending(&pending).await?;
        Ok(McpAuthorizationStart {
            authorization_url: start.authorization_url,
            expires_at: pending.expires_at,
        })
    }

    /// Finishes an authorization at the callback: takes the pending authorization of
    /// `state` (each state works once; it must be this organization's and this user's, and
    /// unexpired), exchanges `code` with its PKCE verifier, seals the tokens with the
    /// connection's other secrets, marks it authorized, and lists its tools (a listing
    /// failure leaves the cache empty and is logged). `issuer` is the callback's RFC 9207
    /// `iss`. Errors: [`Error::Validation`] (`state`) for an unknown, used, foreign or
    /// expired state, (`code`) when the authorization server refuses the code; nothing is
    /// written to the connection then.
    pub async fn finish_mcp_authorization(
        &self,
        actor: &Actor,
        state: &str,
        code: &str,
        issuer: Option<&str>,
    ) -> Result<McpServer> {
        require(actor, Role::Admin, "managing MCP servers needs admin")?;
        check_len("state", state, 1, 512)?;
        check_len("code", code, 1, 4096)?;
        let bad_state = || {
            Error::validation(
                "state",
                "unknown, already used or expired authorization: start it again",
            )
        };
        let state_hash = hex::encode(crate::secret::hash_secret(state));
        let pending = self
            .store
            .take_mcp_oauth_pending(actor.org_id, &state_hash)
            .await?
            .ok_or_else(bad_state)?;
        if pending.user_id != actor.user_id || pending.expires_at < Utc::now() {
            return Err(bad_state());
        }
        let flow: serde_json::Value =
            serde_json::from_slice(&self.secrets.open(&pending.flow_sealed)?)
                .map_err(Error::internal)?;
        let (server, sealed) = self
            .store
            .get_mcp_server(actor.org_id, pending.server_id)
            .await?;
        let Some(mut oauth) = server.oauth.clone() else {
            return Err(bad_state());
        };
        let mut secrets = McpSecrets::open(&self.secrets, sealed.as_deref())?;
        let connector = self.mcp_connector()?;
        let mut endpoint = McpEndpoint {
            server,
            secrets: secrets.clone(),
        };
        let grant = connector
            .finish_authorization(&endpoint, &flow, code, issuer)
            .await?;
        secrets.oauth_grant = Some(grant.grant);
        oauth.authorized = true;
        oauth.client_id = Some(grant.client_id);
        oauth.has_client_secret = grant.has_client_secret;
        oauth.granted_scopes = grant.granted_scopes;
        oauth.authorized_at = Some(Utc::now());
        oauth.reason = None;
        self.store
            .set_mcp_oauth(
                actor.org_id,
                endpoint.server.id,
                &oauth,
                Some(&secrets.seal(&self.secrets)),
            )
            .await?;
        endpoint.server.oauth = Some(oauth);
        endpoint.server.status = McpServerStatus::Ready;
        endpoint.secrets = secrets;
        // A session opened before (without a token) must not be reused.
        connector.forget(endpoint.server.id).await;
        match connector.list_tools(&endpoint).await {
            Ok(listed) => {
                let at = Utc::now();
                endpoint.server.tools = qualify_tools(&endpoint.server.name, listed);
                endpoint.server.tools_refreshed_at = at;
                self.store
                    .set_mcp_tools(actor.org_id, endpoint.server.id, &endpoint.server.tools, at)
                    .await?;
            }
            Err(e) => tracing::warn!(
                server = %endpoint.server.name,
                "listing tools after the OAuth authorization failed: {e}"
            ),
        }
        Ok(endpoint.server)
    }

    /// The qualified names of every cached MCP tool of organization `org_id`, sorted.
    pub(crate) async fn mcp_tool_names(&self, org_id: Uuid) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .store
            .list_mcp_servers(org_id)
            .await?
            .into_iter()
            .flat_map(|s| s.tools.into_iter().map(|t| t.name))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(is_slug("everything"));
        assert!(is_slug("fs-2"));
        assert!(!is_slug("2fs"));
        assert!(!is_slug("Files"));
        assert!(!is_slug("a_b"));
        assert!(!is_slug(&"a".repeat(33)));
        assert!(is_env_name("API_KEY"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A=B"));
        assert!(is_header_name("x-api-key"));
        assert!(!is_header_name("x api"));
    }
}
