//! The MCP client: an organization's external MCP servers as agent tools, over the
//! official Rust SDK (`rmcp`).
//!
//! [`McpPool`] is at once
//! * the [`McpConnector`] the service lists tools with (at create and on refresh), and
//! * the [`ToolResolver`] the agent loop asks for the spec's tools it does not know: a name
//!   `<connection>__<tool>` found in an organization's cached tools becomes a [`McpToolHandle`].
//!
//! It keeps one live client session per connection (keyed by connection id), opened on first
//! use: a stdio child process (cleared environment: only the configured variables) or a
//! streamable HTTP session (no redirects, every resolved address vetted, see [`connect`]).
//! At most [`McpSettings::max_sessions`] sessions are open; opening one more closes the least
//! recently used. A session whose transport fails, or whose call times out, is dropped (its
//! process ended), so the next call reconnects; the failing call itself gets an error result
//! for the model, never a failed run. A server's `notifications/tools/list_changed` makes the
//! pool list its tools again and update the store's cache.

mod connect;
mod oauth;
mod tool;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use autonoma_core::mcp::{
    qualify_tools, McpConnector, McpEndpoint, McpSecrets, McpToolAnnotations, McpTransport,
    OAuthGrant, OAuthStart, RemoteTool,
};
use autonoma_core::secret::SecretBox;
use autonoma_core::store::prelude::*;
use autonoma_core::tool::{Tool, ToolResolver};
use autonoma_core::{Error, Result};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, Peer, RoleClient, ServiceExt};
use uuid::Uuid;

pub use tool::{render_result, McpToolHandle};

/// Limits and permissions of the MCP client (from the binary's configuration).
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// Whether stdio connections (which run a program on this host) may be created and
    /// started. Default false.
    pub allow_stdio: bool,
    /// Whether streamable HTTP URLs may point at loopback (`127.0.0.0/8`, `::1`): for
    /// development setups only. Every other special-purpose address is always refused.
    pub allow_loopback: bool,
    /// Most live sessions at once in this process. Default 32.
    pub max_sessions: usize,
    /// Longest text a tool call returns to the model, in bytes; longer results are cut with
    /// a note. Default 64 KiB.
    pub max_output_bytes: usize,
    /// Longest wait for a server to start and answer `initialize` (and for `tools/list`).
    /// Default 30 s.
    pub connect_timeout: Duration,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            allow_stdio: false,
            allow_loopback: false,
            max_sessions: 32,
            max_output_bytes: 64 * 1024,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// Live MCP client sessions, shared by the service and the agent loop (cheap to clone).
#[derive(Clone)]
pub struct McpPool {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    secrets: SecretBox,
    settings: McpSettings,
    sessions: std::sync::Mutex<HashMap<Uuid, Arc<Session>>>,
    /// One lock per connection, held while its session is being opened, so concurrent
    /// first calls open one session rather than several.
    connecting: std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// One initialized client session.
struct Session {
    peer: Peer<RoleClient>,
    /// Taken out to shut the session down ([`Session::close`]).
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, Handler>>>,
    last_used: std::sync::Mutex<Instant>,
}

impl Session {
    /// Ends the session: closes the transport; a stdio child gets EOF on stdin, then
    /// SIGTERM after 3 s, then SIGKILL (rmcp's `graceful_shutdown`).
    async fn close(&self) {
        if let Some(service) = self.service.lock().await.take() {
            let _ = service.cancel().await;
        }
    }
}

/// The client side's handler: answers nothing itself, and on `tools/list_changed` lists the
/// tools again into the store.
struct Handler {
    pool: Weak<Inner>,
    org_id: Uuid,
    server_id: Uuid,
    server_name: String,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        let Some(inner) = self.pool.upgrade() else {
            return;
        };
        let (org_id, id, name) = (self.org_id, self.server_id, self.server_name.clone());
        // Not inline: the handler runs on the session's receive loop, which the listing's
        // own response has to pass through.
        tokio::spawn(async move {
            let listed = match tokio::time::timeout(
                inner.settings.connect_timeout,
                context.peer.list_all_tools(),
            )
            .await
            {
                Ok(Ok(tools)) => tools,
                Ok(Err(e)) => {
                    return tracing::warn!(server = %name, "MCP tools/list after list_changed failed: {e}")
                }
                Err(_) => {
                    return tracing::warn!(server = %name, "MCP tools/list after list_changed timed out")
                }
            };
            let tools = qualify_tools(&name, listed.into_iter().map(remote_tool).collect());
            match inner
                .store
                .set_mcp_tools(org_id, id, &tools, chrono::Utc::now())
                .await
            {
                Ok(()) => {
                    tracing::info!(server = %name, tools = tools.len(), "MCP tools refreshed (list_changed)")
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => tracing::warn!(server = %name, "storing refreshed MCP tools: {e}"),
            }
        });
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("autonoma", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// A listed rmcp tool in the domain's terms (read through its JSON form, so fields the SDK
/// adds later do not matter).
fn remote_tool(t: rmcp::model::Tool) -> RemoteTool {
    let v = serde_json::to_value(&t).unwrap_or_default();
    let annotations = v
        .get("annotations")
        .map(|a| McpToolAnnotations {
            title: a.get("title").and_then(|x| x.as_str()).map(str::to_string),
            read_only_hint: a.get("readOnlyHint").and_then(|x| x.as_bool()),
            destructive_hint: a.get("destructiveHint").and_then(|x| x.as_bool()),
            idempotent_hint: a.get("idempotentHint").and_then(|x| x.as_bool()),
            open_world_hint: a.get("openWorldHint").and_then(|x| x.as_bool()),
        })
        .unwrap_or_default();
    let description = t
        .description
        .as_deref()
        .or(t.title.as_deref())
        .unwrap_or("")
        .to_string();
    let mut input_schema = serde_json::Value::Object((*t.input_schema).clone());
    if input_schema.get("type").is_none() {
        input_schema["type"] = "object".into();
    }
    RemoteTool {
        name: t.name.to_string(),
        description,
        input_schema,
        annotations,
    }
}

impl McpPool {
    /// A pool reading connections from `store`, opening their secrets with `secrets` (the
    /// service's key).
    pub fn new(store: Arc<dyn Store>, secrets: SecretBox, settings: McpSettings) -> McpPool {
        McpPool {
            inner: Arc::new(Inner {
                store,
                secrets,
                settings,
                sessions: Default::default(),
                connecting: Default::default(),
            }),
        }
    }

    /// How many sessions are live now.
    pub fn live_sessions(&self) -> usize {
        self.inner.sessions.lock().unwrap().len()
    }

    /// Closes every session (stdio children are ended), e.g. at shutdown.
    pub async fn shutdown(&self) {
        let all: Vec<_> = self.inner.sessions.lock().unwrap().drain().collect();
        for (_, s) in all {
            s.close().await;
        }
    }
}

impl Inner {
    /// The live session of connection `endpoint.server.id`, or a new one (after the checks
    /// of [`connect::check`]). Opening it may close the least recently used session.
    async fn session(self: &Arc<Self>, endpoint: &McpEndpoint) -> Result<Arc<Session>> {
        let id = endpoint.server.id;
        if let Some(s) = self.live(id) {
            return Ok(s);
        }
        let lock = self
            .connecting
            .lock()
            .unwrap()
            .entry(id)
            .or_default()
            .clone();
        let _opening = lock.lock().await;
        if let Some(s) = self.live(id) {
            return Ok(s);
        }
        connect::check(&self.settings, endpoint).await?;
        let handler = Handler {
            pool: Arc::downgrade(self),
            org_id: endpoint.server.org_id,
            server_id: id,
            server_name: endpoint.server.name.clone(),
        };
        let (field, started) = match endpoint.server.transport {
            McpTransport::Stdio => {
                let transport = connect::stdio_transport(endpoint)?;
                (
                    "command",
                    tokio::time::timeout(self.settings.connect_timeout, handler.serve(transport))
                        .await,
                )
            }
            McpTransport::StreamableHttp if endpoint.server.oauth.is_some() => {
                let transport = oauth::transport(
                    &self.settings,
                    self.store.clone(),
                    self.secrets.clone(),
                    endpoint,
                )
                .await?;
                (
                    "url",
                    tokio::time::timeout(self.settings.connect_timeout, handler.serve(transport))
                        .await,
                )
            }
            McpTransport::StreamableHttp => {
                let transport = connect::http_transport(&self.settings, endpoint)?;
                (
                    "url",
                    tokio::time::timeout(self.settings.connect_timeout, handler.serve(transport))
                        .await,
                )
            }
        };
        let service = match started {
            Ok(Ok(service)) => service,
            Ok(Err(e)) => {
                return Err(Error::validation(
                    field,
                    format!(
                        "MCP server '{}' did not initialize: {e}",
                        endpoint.server.name
                    ),
                ))
            }
            Err(_) => {
                return Err(Error::validation(
                    field,
                    format!(
                        "MCP server '{}' did not initialize within {} s",
                        endpoint.server.name,
                        self.settings.connect_timeout.as_secs()
                    ),
                ))
            }
        };
        let session = Arc::new(Session {
            peer: service.peer().clone(),
            service: tokio::sync::Mutex::new(Some(service)),
            last_used: std::sync::Mutex::new(Instant::now()),
        });
        let (evicted, kept) = {
            let mut sessions = self.sessions.lock().unwrap();
            let mut evicted = sessions.insert(id, session.clone());
            while sessions.len() > self.settings.max_sessions.max(1) {
                let oldest = sessions
                    .iter()
                    .filter(|(k, _)| **k != id)
                    .min_by_key(|(_, s)| *s.last_used.lock().unwrap())
                    .map(|(k, _)| *k);
                match oldest.and_then(|k| sessions.remove(&k)) {
                    Some(s) => {
                        if let Some(e) = evicted.replace(s) {
                            tokio::spawn(async move { e.close().await });
                        }
                    }
                    None => break,
                }
            }
            (evicted, session)
        };
        if let Some(old) = evicted {
            tokio::spawn(async move { old.close().await });
        }
        Ok(kept)
    }

    /// The open session of connection `id`, marked used now.
    fn live(&self, id: Uuid) -> Option<Arc<Session>> {
        let s = self.sessions.lock().unwrap().get(&id).cloned()?;
        if s.peer.is_transport_closed() {
            return None;
        }
        *s.last_used.lock().unwrap() = Instant::now();
        Some(s)
    }

    /// Drops `session` of connection `id` if it is still the live one, and ends it.
    fn discard(&self, id: Uuid, session: &Arc<Session>) {
        let removed = {
            let mut sessions = self.sessions.lock().unwrap();
            match sessions.get(&id) {
                Some(s) if Arc::ptr_eq(s, session) => sessions.remove(&id),
                _ => None,
            }
        };
        if let Some(s) = removed {
            tokio::spawn(async move { s.close().await });
        }
    }

    /// The endpoint of a stored connection, secrets opened.
    async fn endpoint(&self, org_id: Uuid, id: Uuid) -> Result<McpEndpoint> {
        let (server, sealed) = self.store.get_mcp_server(org_id, id).await?;
        let secrets = McpSecrets::open(&self.secrets, sealed.as_deref())?;
        Ok(McpEndpoint { server, secrets })
    }
}

#[async_trait]
impl McpConnector for McpPool {
    async fn check(&self, endpoint: &McpEndpoint) -> Result<()> {
        connect::check(&self.inner.settings, endpoint).await
    }

    async fn list_tools(&self, endpoint: &McpEndpoint) -> Result<Vec<RemoteTool>> {
        let field = match endpoint.server.transport {
            McpTransport::Stdio => "command",
            McpTransport::StreamableHttp => "url",
        };
        let session = self.inner.session(endpoint).await?;
        match tokio::time::timeout(
            self.inner.settings.connect_timeout,
            session.peer.list_all_tools(),
        )
        .await
        {
            Ok(Ok(tools)) => Ok(tools.into_iter().map(remote_tool).collect()),
            Ok(Err(e)) => {
                self.inner.discard(endpoint.server.id, &session);
                Err(Error::validation(field, format!("tools/list failed: {e}")))
            }
            Err(_) => {
                self.inner.discard(endpoint.server.id, &session);
                Err(Error::validation(field, "tools/list timed out"))
            }
        }
    }

    async fn forget(&self, server_id: Uuid) {
        self.inner.connecting.lock().unwrap().remove(&server_id);
        let removed = self.inner.sessions.lock().unwrap().remove(&server_id);
        if let Some(s) = removed {
            s.close().await;
        }
    }

    async fn discover_oauth(&self, endpoint: &McpEndpoint) -> Result<()> {
        oauth::discover(&self.inner.settings, endpoint).await
    }

    async fn start_authorization(
        &self,
        endpoint: &McpEndpoint,
        redirect_uri: &str,
    ) -> Result<OAuthStart> {
        oauth::start(&self.inner.settings, endpoint, redirect_uri).await
    }

    async fn finish_authorization(
        &self,
        endpoint: &McpEndpoint,
        flow: &serde_json::Value,
        code: &str,
        issuer: Option<&str>,
    ) -> Result<OAuthGrant> {
        oauth::finish(&self.inner.settings, endpoint, flow, code, issuer).await
    }
}

#[async_trait]
impl ToolResolver for McpPool {
    async fn resolve(&self, org_id: Uuid, names: &[String]) -> Result<Vec<Arc<dyn Tool>>> {
        let wanted: Vec<&String> = names
            .iter()
            .filter(|n| n.contains(autonoma_core::mcp::NAME_SEPARATOR))
            .collect();
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let mut out: Vec<Arc<dyn Tool>> = vec![];
        for server in self.inner.store.list_mcp_servers(org_id).await? {
            for t in &server.tools {
                if wanted.iter().any(|w| **w == t.name) {
                    out.push(Arc::new(McpToolHandle {
                        pool: self.clone(),
                        org_id,
                        server_id: server.id,
                        server_name: server.name.clone(),
                        timeout: Duration::from_secs(u64::from(server.timeout_secs)),
                        tool: t.clone(),
                    }));
                }
            }
        }
        Ok(out)
    }
}
