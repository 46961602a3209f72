//! The MCP server at [`MCP_PATH`]: an organization's agents as MCP tools.
//!
//! * **Transport**: MCP Streamable HTTP, served by `rmcp`'s [`StreamableHttpService`] in
//!   stateless mode (`legacy_session_mode = false`): every POST is answered on its own, with
//!   no `Mcp-Session-Id` and nothing kept in memory between requests, so any process (or
//!   Lambda instance) can answer any request. That is the only mode of the 2026-07-28
//!   revision (sessionless, `server/discover`); clients of 2025-03-26 … 2025-11-25 that start
//!   with `initialize` are answered in the same stateless way (their spec makes sessions
//!   optional), and a `GET` for a server-to-client stream gets 405, which those revisions
//!   allow. Responses are `application/json`, except a call that sends progress
//!   notifications, which is answered as an SSE stream (the notifications, then the result).
//! * **Authentication**: `Authorization: Bearer ak_…` (an organization's API key) on every
//!   request ([`require_api_key`]). Without a valid key: 401 problem+json with
//!   `WWW-Authenticate: Bearer resource_metadata="<base>/.well-known/oauth-protected-resource"`,
//!   the OAuth 2.0 Protected Resource Metadata (RFC 9728) served at
//!   [`RESOURCE_METADATA_PATH`]. It names no authorization server: keys are created in the
//!   app (or `POST /api/v1/api-keys`), not through OAuth.
//! * **Tools**: one per agent of the caller's organization ([`tool_name`], [`agent_tool`]).
//!   Calling one starts a run of the agent ([`Service::start_run`]), follows its events
//!   ([`Service::follow_run_events`]) and reports each step as `notifications/progress` when
//!   the call carries a `progressToken`, then answers with the run's output (text) and
//!   `{run_id, thread_id, status, output, error, approval_id}` (structured content). A run
//!   that stops for an approval, or is still going after [`CALL_WAIT`], is answered at once
//!   with its id so the client can follow it over REST.
//!
//! `rmcp`'s `Host` allow-list (a defence against DNS rebinding of servers that trust
//! anyone who can reach them) is off: deployments answer on their own host names, and every
//! request must carry an API key in `Authorization`, which a rebinding page does not have
//! and a browser never adds by itself. No CORS headers are sent, so browser pages of other
//! origins cannot call the endpoint either.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use autonoma_core::model::{Actor, Agent, Run, RunEvent, RunEventKind, RunStatus};
use autonoma_core::service::{RunInput, Service, MAX_PAGE};
use autonoma_core::Error;
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, ProtocolVersion, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::problem::ApiError;
use crate::ApiState;

/// Path of the MCP endpoint.
pub const MCP_PATH: &str = "/mcp";
/// Path of the OAuth 2.0 Protected Resource Metadata (RFC 9728 §3) of [`MCP_PATH`]; the
/// same document is also served at the path-suffixed form RFC 9728 §3.1 derives from the
/// resource URL (`/.well-known/oauth-protected-resource/mcp`).
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
/// Path of the human-readable documentation of the endpoint (`docs/MCP.md`, as
/// `text/markdown`), named by the metadata's `resource_documentation`.
pub const DOCS_PATH: &str = "/api/docs/mcp";
/// The longest a tool call waits for its run: 240 s, below the API Lambda function's
/// default timeout (300 s). A run still going then is answered with its id and status.
pub const CALL_WAIT: Duration = Duration::from_secs(240);
/// Hex digits of the agent id at the end of a tool name: the last 12 of the UUID, which
/// are random in both UUID v4 and v7 (48 bits).
pub const SHORT_ID_LEN: usize = 12;
/// Longest tool name (the MCP 2025-11-25 tool-name rule: `^[a-zA-Z0-9_.-]{1,128}$`; 64 for
/// clients that pass names on to LLM APIs with that limit).
pub const MAX_TOOL_NAME: usize = 64;
/// Longest tool call arguments or result shown in a progress message, in characters.
const PROGRESS_SNIPPET: usize = 200;

/// The protocol revisions served: the Streamable HTTP ones with `initialize`
/// (2025-03-26, 2025-06-18, 2025-11-25) and the sessionless 2026-07-28.
pub const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// The routes: [`MCP_PATH`] (API key required), the protected resource metadata and the
/// documentation. Merged into [`crate::router`], so they run in `autonoma serve` and in the
/// Lambda API function, behind the same edge check.
pub fn routes(state: ApiState) -> Router<ApiState> {
    let service = state.service.clone();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(crate::MAX_BODY_BYTES)
        .disable_allowed_hosts();
    let mcp = StreamableHttpService::new(
        move || {
            Ok(AgentTools {
                service: service.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(MCP_PATH, mcp)
        .layer(axum::middleware::from_fn_with_state(state, require_api_key))
        .route(RESOURCE_METADATA_PATH, get(resource_metadata))
        .route(
            &format!("{RESOURCE_METADATA_PATH}{MCP_PATH}"),
            get(resource_metadata),
        )
        .route(DOCS_PATH, get(docs))
}

/// The scheme and host clients reach this server on, e.g. `https://agents.example.com`:
/// `X-Forwarded-Host` on requests the edge forwarded ([`crate::edge::EdgeVerified`]; the
/// edge sets it to the viewer's `Host`), else `Host`; `https` when the request came over
/// TLS ([`crate::auth::is_https`]). A host with characters outside `[A-Za-z0-9.:\[\]-]` is
/// replaced by `localhost`, so it cannot break the quoted `WWW-Authenticate` parameter.
pub fn public_base(parts: &Parts) -> String {
    let header_str = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded = parts
        .extensions
        .get::<crate::edge::EdgeVerified>()
        .and_then(|_| header_str("x-forwarded-host"));
    let host = forwarded
        .or_else(|| header_str(header::HOST.as_str()))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = if crate::auth::is_https(&parts.headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// Middleware of [`MCP_PATH`]: resolves `Authorization: Bearer ak_…`
/// ([`Service::actor_from_api_key`]) and hands the [`Actor`] to the MCP handler as a
/// request extension. Without a key, or with an unknown or revoked one: 401 problem+json
/// (`unauthenticated`) with `WWW-Authenticate: Bearer resource_metadata="…"` (RFC 9728 §5.1;
/// plus `error="invalid_token"` for a key that was sent, RFC 6750 §3). Other failures of the
/// lookup: their problem+json.
pub async fn require_api_key(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let secret = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let Some(secret) = secret else {
        return unauthorized(&parts, false);
    };
    match state.service.actor_from_api_key(&secret).await {
        Ok(actor) => {
            parts.extensions.insert(actor);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(Error::Unauthenticated) => unauthorized(&parts, true),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// 401 `unauthenticated` with the `WWW-Authenticate` challenge pointing at the metadata.
fn unauthorized(parts: &Parts, key_sent: bool) -> Response {
    let metadata = format!("{}{RESOURCE_METADATA_PATH}", public_base(parts));
    let challenge = if key_sent {
        format!(
            r#"Bearer error="invalid_token", error_description="unknown or revoked API key", resource_metadata="{metadata}""#
        )
    } else {
        format!(r#"Bearer resource_metadata="{metadata}""#)
    };
    let mut res = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "expected `Authorization: Bearer <API key>` (an organization's `ak_…` key)",
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// `GET /.well-known/oauth-protected-resource`: RFC 9728 metadata of `<base>/mcp` —
/// `resource`, `resource_name`, `bearer_methods_supported: ["header"]` and
/// `resource_documentation`. `authorization_servers` is left out: the bearer tokens are
/// the organization's API keys, issued by the app, not by an OAuth authorization server.
async fn resource_metadata(parts: Parts) -> Response {
    let base = public_base(&parts);
    let mut res = Json(json!({
        "resource": format!("{base}{MCP_PATH}"),
        "resource_name": "Autonoma agents (MCP)",
        "bearer_methods_supported": ["header"],
        "resource_documentation": format!("{base}{DOCS_PATH}"),
    }))
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /api/docs/mcp`: `docs/MCP.md` as `text/markdown`.
async fn docs() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown; charset=utf-8"),
        )],
        include_str!("../../docs/MCP.md"),
    )
        .into_response()
}

/// The MCP handler: one per request (stateless), acting for the request's [`Actor`].
#[derive(Clone)]
pub struct AgentTools {
    service: Arc<Service>,
}

impl AgentTools {
    /// The agent of the caller's organization whose id ends with the tool name's last
    /// [`SHORT_ID_LEN`] hex digits (the slug before them is not compared, so a tool keeps
    /// working under the name it was listed with after the agent is renamed). Pages
    /// through the organization's agents, [`MAX_PAGE`] at a time.
    async fn find_agent(&self, actor: &Actor, name: &str) -> autonoma_core::Result<Option<Agent>> {
        let Some(short) = short_id_of(name) else {
            return Ok(None);
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .service
                .list_agents(actor, cursor.as_deref(), Some(MAX_PAGE))
                .await?;
            if let Some(agent) = page.items.into_iter().find(|a| short_id(a.id) == short) {
                return Ok(Some(agent));
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(None),
            }
        }
    }
}

/// The [`Actor`] that [`require_api_key`] put on the HTTP request.
fn actor_of(context: &RequestContext<RoleServer>) -> Result<Actor, ErrorData> {
    context
        .extensions
        .get::<Parts>()
        .and_then(|p| p.extensions.get::<Actor>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("request without an authenticated caller", None))
}

/// A domain error as a JSON-RPC error: validation and not-found errors are invalid
/// params (-32602), the rest internal errors (-32603) with the error's text.
fn rpc_error(e: Error) -> ErrorData {
    match e {
        Error::Validation { .. } | Error::NotFound(_) => {
            ErrorData::invalid_params(e.to_string(), Some(json!({ "code": e.code() })))
        }
        other => {
            if let Error::Internal(msg) = &other {
                tracing::error!(error = %msg, "MCP request failed");
            }
            ErrorData::internal_error(other.to_string(), Some(json!({ "code": other.code() })))
        }
    }
}

impl ServerHandler for AgentTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("autonoma", env!("CARGO_PKG_VERSION")).with_title("Autonoma"),
            )
            .with_instructions(
                "Each tool runs one of the organization's agents on a message and returns its answer. \
                 Pass `thread_id` from an earlier result to continue that conversation.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED_VERSIONS)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let actor = actor_of(&context)?;
        let cursor = request.and_then(|r| r.cursor);
        let page = self
            .service
            .list_agents(&actor, cursor.as_deref(), Some(MAX_PAGE))
            .await
            .map_err(rpc_error)?;
        let mut result =
            ListToolsResult::with_all_items(page.items.iter().map(agent_tool).collect());
        result.next_cursor = page.next_cursor;
        // The list is the caller's organization's: fresh on every request, never shared.
        result.ttl_ms = Some(0);
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let actor = actor_of(&context)?;
        let Some(agent) = self
            .find_agent(&actor, &request.name)
            .await
            .map_err(rpc_error)?
        else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            ));
        };
        let args = match parse_args(request.arguments) {
            Ok(a) => a,
            Err(msg) => return Ok(CallToolResult::error(vec![ContentBlock::text(msg)]).into()),
        };
        let input = RunInput {
            input: args.message,
            thread_id: args.thread_id,
            preflight_id: None,
        };
        let run = match self.service.start_run(&actor, agent.id, input, None).await {
            Ok((run, _)) => run,
            Err(e) => {
                if let Error::Internal(msg) = &e {
                    tracing::error!(error = %msg, "starting a run for an MCP call failed");
                }
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "the run could not start: {e}"
                ))])
                .into());
            }
        };
        let follower = match self.service.follow_run_events(&actor, run.id, 0).await {
            Ok(f) => f,
            Err(e) => return Ok(follow_failed(&run, &e).into()),
        };
        let events =
            futures::stream::unfold(
                follower,
                |mut f| async move { f.next().await.map(|e| (e, f)) },
            );
        let mut progress = PeerProgress {
            peer: context.peer.clone(),
            token: context.meta.get_progress_token(),
        };
        let outcome = follow(Box::pin(events), CALL_WAIT, &context.ct, &mut progress).await;
        let current = match self.service.get_run(&actor, run.id).await {
            Ok(r) => r,
            Err(e) => return Ok(follow_failed(&run, &e).into()),
        };
        Ok(call_result(&current, outcome).into())
    }
}

/// The arguments of an agent tool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallArgs {
    message: String,
    #[serde(default)]
    thread_id: Option<Uuid>,
}

/// Parses the call's arguments; the error is a message for the caller (a tool error, so a
/// model can correct its call).
fn parse_args(arguments: Option<JsonObject>) -> Result<CallArgs, String> {
    let value = Value::Object(arguments.unwrap_or_default());
    serde_json::from_value::<CallArgs>(value).map_err(|e| {
        format!("invalid arguments: {e}; expected {{\"message\": string, \"thread_id\"?: uuid}}")
    })
}

/// The tool name of `agent`: a slug of its name (ASCII letters and digits kept and
/// lower-cased, every other run of characters one `-`, at most
/// `MAX_TOOL_NAME - SHORT_ID_LEN - 1` characters; `agent` when nothing is left), `-`, and
/// the last [`SHORT_ID_LEN`] hex digits of its id. Matches `^[a-z0-9-]{1,64}$`.
pub fn tool_name(agent: &Agent) -> String {
    let mut slug = String::new();
    for c in agent.spec.name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_TOOL_NAME - SHORT_ID_LEN - 1);
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "agent" } else { slug };
    format!("{slug}-{}", short_id(agent.id))
}

/// The last [`SHORT_ID_LEN`] hex digits of `id`.
fn short_id(id: Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - SHORT_ID_LEN..].to_string()
}

/// The short id at the end of a tool name, when it has one.
fn short_id_of(name: &str) -> Option<String> {
    let (_, tail) = name.rsplit_once('-')?;
    (tail.len() == SHORT_ID_LEN && tail.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| tail.to_ascii_lowercase())
}

/// The MCP tool of `agent`: [`tool_name`], the agent's name as title, its description
/// (or a sentence naming it), the input schema `{message, thread_id?}`, the output schema
/// of the structured result, and the hints: not read-only, not idempotent, open world
/// (the agent's tools may reach outside systems).
pub fn agent_tool(agent: &Agent) -> Tool {
    let description = if agent.spec.description.trim().is_empty() {
        format!(
            "Runs the agent \u{201c}{}\u{201d} on a message and returns its answer.",
            agent.spec.name
        )
    } else {
        agent.spec.description.clone()
    };
    Tool::new(tool_name(agent), description, Arc::new(input_schema()))
        .with_title(agent.spec.name.clone())
        .with_raw_output_schema(Arc::new(output_schema()))
        .with_annotations(
            ToolAnnotations::with_title(agent.spec.name.clone())
                .read_only(false)
                .idempotent(false)
                .open_world(true),
        )
}

fn as_object(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        _ => unreachable!("schemas are objects"),
    }
}

/// `{"message": string (required), "thread_id": uuid string}`.
fn input_schema() -> JsonObject {
    as_object(json!({
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "minLength": 1,
                "description": "The message for the agent (1 to 100000 bytes)."
            },
            "thread_id": {
                "type": "string",
                "format": "uuid",
                "description": "Continue this conversation: the thread_id of an earlier result of this tool."
            }
        },
        "required": ["message"],
        "additionalProperties": false
    }))
}

/// The structured result: run id, thread id, status, output, and the failure reason or
/// pending approval when there is one.
fn output_schema() -> JsonObject {
    let statuses: Vec<&str> = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::WaitingApproval,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    as_object(json!({
        "type": "object",
        "properties": {
            "run_id": { "type": "string", "format": "uuid" },
            "thread_id": { "type": "string", "format": "uuid" },
            "status": { "type": "string", "enum": statuses },
            "output": { "type": ["string", "null"], "description": "The agent's answer (completed runs)." },
            "error": { "type": ["string", "null"], "description": "Why the run failed or was cancelled." },
            "approval_id": { "type": ["string", "null"], "format": "uuid", "description": "The approval a waiting run needs." }
        },
        "required": ["run_id", "thread_id", "status", "output"]
    }))
}

/// Where following a run stopped.
#[derive(Debug)]
enum Outcome {
    /// The terminal event arrived (or the events ended).
    Finished,
    /// The run stopped for approval `approval_id` of a call of `tool`.
    WaitingApproval { approval_id: Uuid, tool: String },
    /// [`CALL_WAIT`] passed first.
    TimedOut(Duration),
    /// Reading the events failed.
    Failed(Error),
    /// The client cancelled the request or went away (the run goes on).
    Cancelled,
}

/// Receives progress messages; `progress` grows with each one (the event's `seq`).
trait ProgressSink {
    fn send(&mut self, progress: f64, message: String) -> impl Future<Output = ()> + Send;
}

/// `notifications/progress` to the calling client, when its request had a progress token.
struct PeerProgress {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
}

impl ProgressSink for PeerProgress {
    async fn send(&mut self, progress: f64, message: String) {
        let Some(token) = self.token.clone() else {
            return;
        };
        let param = ProgressNotificationParam::new(token, progress).with_message(message);
        // A client that went away only loses its notifications; the run goes on.
        let _ = self.peer.notify_progress(param).await;
    }
}

/// Follows `events` until the terminal event, an `approval_requested` event, `wait`
/// passing, `cancel` firing, or an error; each event with a [`progress_message`] is passed
/// to `progress` first.
async fn follow<S, P>(
    mut events: S,
    wait: Duration,
    cancel: &CancellationToken,
    progress: &mut P,
) -> Outcome
where
    S: Stream<Item = autonoma_core::Result<RunEvent>> + Unpin,
    P: ProgressSink,
{
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            _ = &mut deadline => return Outcome::TimedOut(wait),
            _ = cancel.cancelled() => return Outcome::Cancelled,
        };
        let event = match next {
            None => return Outcome::Finished,
            Some(Err(e)) => return Outcome::Failed(e),
            Some(Ok(event)) => event,
        };
        if let Some(message) = progress_message(&event.kind) {
            progress.send(event.seq as f64, message).await;
        }
        match event.kind {
            kind if kind.is_terminal() => return Outcome::Finished,
            RunEventKind::ApprovalRequested {
                approval_id, name, ..
            } => {
                return Outcome::WaitingApproval {
                    approval_id,
                    tool: name,
                }
            }
            _ => {}
        }
    }
}

/// The first `max` characters of `s`, with `…` when cut.
fn snippet(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The progress message of a run event: its step number and what happened (tool calls
/// with their arguments, tool results, policy decisions, approvals, the answer, the end).
/// `None` for token deltas, usage, capability tokens and assistant messages that only call tools (their
/// calls get their own messages).
fn progress_message(kind: &RunEventKind) -> Option<String> {
    Some(match kind {
        RunEventKind::RunStarted { model, .. } => format!("run started (model {model})"),
        RunEventKind::RunResumed { from_step, attempt } => {
            format!("run resumed at step {from_step} (attempt {attempt})")
        }
        RunEventKind::TokenDelta { .. }
        | RunEventKind::Usage { .. }
        | RunEventKind::CapabilityIssued { .. } => return None,
        RunEventKind::AssistantMessage {
            step, tool_calls, ..
        } => {
            if !tool_calls.is_empty() {
                return None;
            }
            format!("step {step}: the agent answered")
        }
        RunEventKind::ToolCall {
            step,
            name,
            arguments,
            ..
        } => format!(
            "step {step}: calling {name} {}",
            snippet(&arguments.to_string(), PROGRESS_SNIPPET)
        ),
        RunEventKind::ToolResult {
            step,
            name,
            output,
            is_error,
            ..
        } => {
            let verb = if *is_error { "failed" } else { "returned" };
            format!(
                "step {step}: {name} {verb} {}",
                snippet(output, PROGRESS_SNIPPET)
            )
        }
        RunEventKind::PolicyDecision {
            step,
            name,
            decision,
            rule,
            ..
        } => format!(
            "step {step}: policy {} for {name} ({rule})",
            decision.as_str()
        ),
        RunEventKind::ApprovalRequested {
            step,
            name,
            approval_id,
            ..
        } => format!("step {step}: {name} waits for approval {approval_id}"),
        RunEventKind::ApprovalDecided { step, approved, .. } => format!(
            "step {step}: approval {}",
            if *approved { "granted" } else { "denied" }
        ),
        RunEventKind::Completed { .. } => "run completed".to_string(),
        RunEventKind::Failed { reason, .. } => format!("run failed: {reason}"),
        RunEventKind::Cancelled { reason } => format!("run cancelled: {reason}"),
    })
}

/// `{run_id, thread_id, status, output, error, approval_id}`.
fn summary(run: &Run, status: RunStatus, approval_id: Option<Uuid>) -> Value {
    json!({
        "run_id": run.id,
        "thread_id": run.thread_id,
        "status": status.as_str(),
        "output": run.output,
        "error": run.error,
        "approval_id": approval_id,
    })
}

/// A result with `text` first and the structured summary (also as JSON text, for clients
/// of revisions before structured content).
fn result_with(text: String, structured: Value, is_error: bool) -> CallToolResult {
    let content = vec![
        ContentBlock::text(text),
        ContentBlock::text(structured.to_string()),
    ];
    let mut result = if is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    result.structured_content = Some(structured);
    result
}

/// The tool result for `run` (read after following it) and how following it ended.
fn call_result(run: &Run, outcome: Outcome) -> CallToolResult {
    let rest = format!(
        "GET /api/v1/runs/{} (events: /api/v1/runs/{}/events)",
        run.id, run.id
    );
    match outcome {
        Outcome::WaitingApproval { approval_id, tool } if !run.status.is_terminal() => result_with(
            format!(
                "Run {} is waiting for a person to approve its call of {tool} (approval {approval_id}); follow it with {rest}.",
                run.id
            ),
            summary(run, RunStatus::WaitingApproval, Some(approval_id)),
            false,
        ),
        Outcome::Failed(e) => follow_failed(run, &e),
        _ => match run.status {
            RunStatus::Completed => result_with(
                run.output.clone().unwrap_or_default(),
                summary(run, run.status, None),
                false,
            ),
            RunStatus::Failed => result_with(
                format!(
                    "Run {} failed: {}",
                    run.id,
                    run.error.as_deref().unwrap_or("unknown reason")
                ),
                summary(run, run.status, None),
                true,
            ),
            RunStatus::Cancelled => result_with(
                format!(
                    "Run {} was cancelled: {}",
                    run.id,
                    run.error.as_deref().unwrap_or("no reason given")
                ),
                summary(run, run.status, None),
                true,
            ),
            RunStatus::WaitingApproval => result_with(
                format!(
                    "Run {} is waiting for a person to approve a tool call; follow it with {rest}.",
                    run.id
                ),
                summary(run, run.status, None),
                false,
            ),
            RunStatus::Queued | RunStatus::Running => {
                let waited = match outcome {
                    Outcome::TimedOut(w) => format!(" after {} s", w.as_secs()),
                    _ => String::new(),
                };
                result_with(
                    format!(
                        "Run {} is still {}{waited}; follow it with {rest}.",
                        run.id,
                        run.status.as_str()
                    ),
                    summary(run, run.status, None),
                    false,
                )
            }
        },
    }
}

/// The result when a started run could not be followed: an error naming the run.
fn follow_failed(run: &Run, e: &Error) -> CallToolResult {
    if let Error::Internal(msg) = e {
        tracing::error!(error = %msg, run_id = %run.id, "following a run for an MCP call failed");
    }
    result_with(
        format!("Run {} started, but following it failed: {e}", run.id),
        summary(run, run.status, None),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use autonoma_core::model::{AgentSpec, Limits, RunMode, Usage};
    use chrono::Utc;

    fn agent(name: &str, id: &str) -> Agent {
        Agent {
            id: id.parse().unwrap(),
            org_id: Uuid::nil(),
            version: 1,
            spec: AgentSpec {
                name: name.into(),
                description: String::new(),
                provider_id: Uuid::nil(),
                model: "m".into(),
                instructions: String::new(),
                tools: vec![],
                tool_policies: vec![],
                http_allowlist: vec![],
                knowledge_base_ids: vec![],
                limits: Limits::default(),
                pricing: None,
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn run(status: RunStatus, output: Option<&str>, error: Option<&str>) -> Run {
        Run {
            id: "0190a0b0-0000-7000-8000-0000000000aa".parse().unwrap(),
            org_id: Uuid::nil(),
            agent_id: Uuid::nil(),
            agent_version: 1,
            thread_id: "0190a0b0-0000-7000-8000-0000000000bb".parse().unwrap(),
            status,
            input: "hi".into(),
            output: output.map(Into::into),
            error: error.map(Into::into),
            usage: Usage::default(),
            steps: 1,
            created_by: Uuid::nil(),
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            mode: RunMode::Live,
            preflight_id: None,
        }
    }

    fn event(seq: i64, kind: RunEventKind) -> autonoma_core::Result<RunEvent> {
        Ok(RunEvent {
            run_id: Uuid::nil(),
            seq,
            kind,
            created_at: Utc::now(),
        })
    }

    #[derive(Default)]
    struct Collect(Vec<(f64, String)>);
    impl ProgressSink for Collect {
        async fn send(&mut self, progress: f64, message: String) {
            self.0.push((progress, message));
        }
    }

    #[test]
    fn tool_names_are_slugs_with_the_ids_random_tail() {
        let re = |n: &str| {
            !n.is_empty()
                && n.len() <= MAX_TOOL_NAME
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let a = agent("Math Helper (v2)!", "0190a0b0-1234-7000-8000-abcdef012345");
        assert_eq!(tool_name(&a), "math-helper-v2-abcdef012345");
        assert_eq!(short_id_of(&tool_name(&a)).as_deref(), Some("abcdef012345"));
        let b = agent("Ассистент", "0190a0b0-1234-7000-8000-000000000001");
        assert_eq!(tool_name(&b), "agent-000000000001");
        let long = agent(
            &"Very long name ".repeat(10),
            "0190a0b0-1234-7000-8000-000000000002",
        );
        let n = tool_name(&long);
        assert!(re(&n) && n.len() <= MAX_TOOL_NAME, "{n}");
        assert!(!n.contains("--"), "{n}");
        for n in [tool_name(&a), tool_name(&b)] {
            assert!(re(&n), "{n}");
        }
        assert_eq!(short_id_of("calculator"), None);
        assert_eq!(short_id_of("x-12345"), None);
        assert_eq!(
            short_id_of("x-ABCDEF012345").as_deref(),
            Some("abcdef012345")
        );
    }

    #[test]
    fn agent_tools_declare_the_schemas_and_hints() {
        let t = agent_tool(&agent("Calc", "0190a0b0-1234-7000-8000-abcdef012345"));
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["name"], "calc-abcdef012345");
        assert_eq!(v["title"], "Calc");
        assert_eq!(v["inputSchema"]["required"], json!(["message"]));
        assert_eq!(
            v["inputSchema"]["properties"]["thread_id"]["format"],
            "uuid"
        );
        assert_eq!(v["annotations"]["readOnlyHint"], false);
        assert_eq!(v["annotations"]["openWorldHint"], true);
        assert!(v["description"].as_str().unwrap().contains("Calc"));
        assert!(v["outputSchema"]["properties"]["status"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("waiting_approval")));
    }

    #[test]
    fn arguments_need_a_message_and_accept_a_thread() {
        let ok = parse_args(Some(as_object(json!({"message": "hi"})))).unwrap();
        assert_eq!(ok.message, "hi");
        assert!(ok.thread_id.is_none());
        let t = parse_args(Some(as_object(
            json!({"message": "hi", "thread_id": "0190a0b0-0000-7000-8000-0000000000bb"}),
        )))
        .unwrap();
        assert!(t.thread_id.is_some());
        assert!(parse_args(None).unwrap_err().contains("message"));
        assert!(parse_args(Some(as_object(
            json!({"message": "hi", "thread_id": "nope"})
        )))
        .is_err());
        assert!(parse_args(Some(as_object(json!({"message": "hi", "extra": 1})))).is_err());
    }

    #[tokio::test]
    async fn following_reports_steps_and_ends_at_the_terminal_event() {
        let events = futures::stream::iter(vec![
            event(
                1,
                RunEventKind::RunStarted {
                    agent_version: 1,
                    model: "scripted".into(),
                },
            ),
            event(
                2,
                RunEventKind::AssistantMessage {
                    step: 1,
                    text: String::new(),
                    tool_calls: vec![autonoma_types::llm::ToolCall {
                        id: "c1".into(),
                        name: "calculator".into(),
                        arguments: json!({"expression": "17*23"}),
                    }],
                },
            ),
            event(
                3,
                RunEventKind::ToolCall {
                    step: 1,
                    call_id: "c1".into(),
                    name: "calculator".into(),
                    arguments: json!({"expression": "17*23"}),
                },
            ),
            event(
                4,
                RunEventKind::ToolResult {
                    step: 1,
                    call_id: "c1".into(),
                    name: "calculator".into(),
                    output: "391".into(),
                    is_error: false,
                    simulated: false,
                },
            ),
            event(
                5,
                RunEventKind::TokenDelta {
                    step: 2,
                    text: "391".into(),
                },
            ),
            event(
                6,
                RunEventKind::Completed {
                    output: "391".into(),
                },
            ),
            event(
                7,
                RunEventKind::Usage {
                    step: 2,
                    input_tokens: 1,
                    output_tokens: 1,
                },
            ),
        ]);
        let mut progress = Collect::default();
        let outcome = follow(events, CALL_WAIT, &CancellationToken::new(), &mut progress).await;
        assert!(matches!(outcome, Outcome::Finished), "{outcome:?}");
        let messages: Vec<&str> = progress.0.iter().map(|p| p.1.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "run started (model scripted)",
                r#"step 1: calling calculator {"expression":"17*23"}"#,
                "step 1: calculator returned 391",
                "run completed",
            ]
        );
        let seqs: Vec<f64> = progress.0.iter().map(|p| p.0).collect();
        assert_eq!(
            seqs,
            vec![1.0, 3.0, 4.0, 6.0],
            "progress grows with the event seq"
        );
    }

    #[tokio::test]
    async fn following_stops_at_an_approval_request() {
        let approval: Uuid = "0190a0b0-0000-7000-8000-0000000000cc".parse().unwrap();
        let events = futures::stream::iter(vec![event(
            1,
            RunEventKind::ApprovalRequested {
                step: 1,
                call_id: "c1".into(),
                approval_id: approval,
                name: "http_fetch".into(),
                arguments: json!({}),
                expires_at: Utc::now(),
            },
        )])
        .chain(futures::stream::pending());
        let mut progress = Collect::default();
        let outcome = follow(
            Box::pin(events),
            CALL_WAIT,
            &CancellationToken::new(),
            &mut progress,
        )
        .await;
        match outcome {
            Outcome::WaitingApproval { approval_id, tool } => {
                assert_eq!(approval_id, approval);
                assert_eq!(tool, "http_fetch");
            }
            other => panic!("{other:?}"),
        }
        let r = call_result(
            &run(RunStatus::WaitingApproval, None, None),
            Outcome::WaitingApproval {
                approval_id: approval,
                tool: "http_fetch".into(),
            },
        );
        assert_eq!(r.is_error, Some(false));
        let s = r.structured_content.unwrap();
        assert_eq!(s["status"], "waiting_approval");
        assert_eq!(s["approval_id"], approval.to_string());
        assert_eq!(progress.0.len(), 1);
    }

    #[tokio::test]
    async fn following_gives_up_after_the_wait_and_on_cancel() {
        let mut progress = Collect::default();
        let wait = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let outcome = follow(
            futures::stream::pending::<autonoma_core::Result<RunEvent>>(),
            wait,
            &CancellationToken::new(),
            &mut progress,
        )
        .await;
        assert!(
            matches!(outcome, Outcome::TimedOut(w) if w == wait),
            "{outcome:?}"
        );
        assert!(started.elapsed() >= wait);
        let r = call_result(&run(RunStatus::Running, None, None), outcome);
        assert_eq!(r.is_error, Some(false));
        assert_eq!(r.structured_content.as_ref().unwrap()["status"], "running");
        let text = format!("{:?}", r.content[0]);
        assert!(text.contains("is still running after 0 s"), "{text}");

        let cancel = CancellationToken::new();
        cancel.cancel();
        let outcome = follow(
            futures::stream::pending::<autonoma_core::Result<RunEvent>>(),
            wait,
            &cancel,
            &mut progress,
        )
        .await;
        assert!(matches!(outcome, Outcome::Cancelled), "{outcome:?}");
    }

    #[test]
    fn results_carry_the_answer_or_the_reason() {
        let done = call_result(
            &run(RunStatus::Completed, Some("391"), None),
            Outcome::Finished,
        );
        assert_eq!(done.is_error, Some(false));
        let s = done.structured_content.clone().unwrap();
        assert_eq!(s["output"], "391");
        assert_eq!(s["run_id"], "0190a0b0-0000-7000-8000-0000000000aa");
        assert_eq!(s["thread_id"], "0190a0b0-0000-7000-8000-0000000000bb");
        assert_eq!(s["status"], "completed");
        assert_eq!(
            serde_json::to_value(&done.content[0]).unwrap()["text"],
            "391"
        );
        let failed = call_result(
            &run(RunStatus::Failed, None, Some("provider error: boom")),
            Outcome::Finished,
        );
        assert_eq!(failed.is_error, Some(true));
        assert!(serde_json::to_value(&failed.content[0]).unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("provider error: boom"));
        let cancelled = call_result(
            &run(RunStatus::Cancelled, None, Some("asked")),
            Outcome::Finished,
        );
        assert_eq!(cancelled.is_error, Some(true));
    }

    #[test]
    fn progress_messages_are_cut_to_a_snippet() {
        let long = "x".repeat(500);
        let m = progress_message(&RunEventKind::ToolResult {
            step: 2,
            call_id: "c".into(),
            name: "http_fetch".into(),
            output: long,
            is_error: true,
            simulated: false,
        })
        .unwrap();
        assert!(m.starts_with("step 2: http_fetch failed "));
        assert!(m.chars().count() < 250 && m.ends_with('…'), "{m}");
    }
}
