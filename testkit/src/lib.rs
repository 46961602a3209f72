//! Test doubles and test servers for Autonoma.
//!
//! [`ScriptedLlm`] is a real HTTP server on `127.0.0.1` that speaks the OpenAI Chat
//! Completions wire protocol (`POST /v1/chat/completions`, streaming and non-streaming,
//! and `GET /v1/models`). What it answers is scripted with [`Rule`]s: the first rule whose
//! matcher accepts the request decides the reply. Because it is a real server, the code
//! under test runs its real HTTP client, SSE parser, retry and error handling.
//!
//! ```no_run
//! # async fn demo() {
//! use autonoma_testkit::{Rule, ScriptedLlm};
//!
//! let llm = ScriptedLlm::start(vec![
//!     Rule::when_user_contains("17*23").reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
//!     Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
//! ]);
//! let base_url = llm.base_url(); // "http://127.0.0.1:PORT/v1"
//! # let _ = base_url;
//! // ... point an OpenAI-compatible client at base_url, then:
//! assert!(llm.requests().len() <= 2);
//! # }
//! ```
//!
//! # Wire format
//!
//! Streaming replies (`"stream": true`) are Server-Sent Events, one `data: {json}\n\n`
//! frame per `chat.completion.chunk`, exactly as OpenAI sends them:
//!
//! 1. a first chunk with `delta: {"role": "assistant", "content": ""}` (`content: null`
//!    for tool-call replies);
//! 2. text replies: one chunk per [`Rule::chunk_chars`] characters with `delta.content`;
//!    tool-call replies: for each call a chunk carrying `index`, `id`, `type: "function"`,
//!    `function.name` and empty `function.arguments`, then the arguments string in
//!    fragments of [`Rule::chunk_chars`] characters (`index` and `function.arguments` only);
//! 3. a chunk with an empty delta and `finish_reason` (`stop` or `tool_calls`);
//! 4. when the request had `stream_options.include_usage = true`: a chunk with
//!    `choices: []` and `usage` (every earlier chunk then carries `usage: null`);
//! 5. `data: [DONE]`.
//!
//! With [`Rule::disconnect_after`] the body fails after that many fragments instead
//! (no finish chunk, usage or `[DONE]`), as a dropped connection would.
//!
//! Non-streaming replies are one `chat.completion` object.
//!
//! # Usage figures
//!
//! Token counts are estimated from characters, 4 characters a token rounded up, at
//! least 1: `prompt_tokens` from the sum of every message's `content` (and, for
//! assistant messages, each tool call's name and arguments); `completion_tokens` from
//! the reply text, or the sum of the tool calls' names and argument strings.

#![warn(missing_docs)]

/// The AWS Lambda Runtime API, served locally for tests ([`lambda::RuntimeApi`]).
pub mod lambda;
/// The MCP project's reference servers from npm, for MCP client tests ([`mcp_servers::everything_command`]).
pub mod mcp_servers;
/// A moto server (AWS wire protocol) for tests ([`moto::Moto`]).
pub mod moto;
/// Free ports for servers that take a port number ([`ports::unused_port`]).
pub mod ports;
/// A throwaway PostgreSQL 15 cluster for tests ([`postgres::PgServer`]).
pub mod postgres;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};

/// The models folder the way `scripts/setup.sh` fills it and the binary's configuration
/// resolves it (`autonoma::config::models_dir_from_env`): `$AUTONOMA_MODEL_DIR` when set
/// and not empty, else `$HOME/.cache/autonoma/models`. For tests and examples, which pass
/// it to the model loaders explicitly.
pub fn models_dir() -> std::path::PathBuf {
    match std::env::var_os("AUTONOMA_MODEL_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/autonoma/models"),
    }
}

/// The model name [`ScriptedLlm`] reports in `GET /v1/models` and in replies when the
/// request names none.
pub const SCRIPTED_MODEL: &str = "scripted";

/// Decides whether a [`Rule`] applies to a request (a Chat Completions JSON body).
#[derive(Clone)]
pub enum When {
    /// Every request.
    Always,
    /// The last message of the conversation has role `user` and its content contains this
    /// text. (Once a tool result follows, the rule no longer matches, so a rule that calls a
    /// tool does not fire again on the follow-up request.)
    LastUserContains(String),
    /// The last message has role `tool`, and its content contains the text when one is given.
    LastMessageIsToolResult {
        /// Required substring of the tool message's content; `None` accepts any.
        contains: Option<String>,
    },
    /// The content of the first `system` message contains this text.
    SystemContains(String),
    /// The request offers at least one tool.
    HasTools,
    /// Any predicate over the JSON request body.
    Custom(Arc<dyn Fn(&Value) -> bool + Send + Sync>),
}

impl fmt::Debug for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::Always => write!(f, "Always"),
            When::LastUserContains(s) => f.debug_tuple("LastUserContains").field(s).finish(),
            When::LastMessageIsToolResult { contains } => f
                .debug_struct("LastMessageIsToolResult")
                .field("contains", contains)
                .finish(),
            When::SystemContains(s) => f.debug_tuple("SystemContains").field(s).finish(),
            When::HasTools => write!(f, "HasTools"),
            When::Custom(_) => write!(f, "Custom(..)"),
        }
    }
}

fn messages(body: &Value) -> &[Value] {
    body.get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        // Content parts: [{"type":"text","text":"..."}].
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn role(message: &Value) -> &str {
    message.get("role").and_then(Value::as_str).unwrap_or("")
}

impl When {
    /// Whether this matcher accepts the request body.
    pub fn matches(&self, body: &Value) -> bool {
        let msgs = messages(body);
        match self {
            When::Always => true,
            When::LastUserContains(needle) => msgs
                .last()
                .is_some_and(|m| role(m) == "user" && content_text(m).contains(needle.as_str())),
            When::LastMessageIsToolResult { contains } => msgs.last().is_some_and(|m| {
                role(m) == "tool"
                    && contains
                        .as_deref()
                        .is_none_or(|needle| content_text(m).contains(needle))
            }),
            When::SystemContains(needle) => msgs
                .iter()
                .find(|m| role(m) == "system")
                .is_some_and(|m| content_text(m).contains(needle.as_str())),
            When::HasTools => body
                .get("tools")
                .and_then(Value::as_array)
                .is_some_and(|tools| !tools.is_empty()),
            When::Custom(predicate) => predicate(body),
        }
    }
}

/// What a matching [`Rule`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Assistant text, streamed in fragments; `finish_reason: "stop"`.
    Text(String),
    /// Tool calls as `(function name, arguments JSON string)`, streamed with fragmented
    /// arguments; `finish_reason: "tool_calls"`. Call ids are `call_{request}_{index}`
    /// (request numbers start at 1).
    ToolCalls(Vec<(String, String)>),
    /// An HTTP error: status code and body (sent as `application/json` when it parses as
    /// JSON, `text/plain` otherwise).
    Error(u16, String),
}

/// Default number of characters per streamed fragment.
pub const DEFAULT_CHUNK_CHARS: usize = 4;

/// One scripted behaviour: a matcher, a reply and streaming options.
///
/// Build with [`Rule::new`] or the `Rule::when_*` / [`Rule::always`] /
/// [`Rule::after_tool_result`] starters followed by a `reply_*` method, then tune with
/// [`Rule::chunk_delay`], [`Rule::chunk_chars`] and [`Rule::times`].
#[derive(Debug, Clone)]
pub struct Rule {
    when: When,
    reply: Reply,
    chunk_delay: Duration,
    chunk_chars: usize,
    times: Option<usize>,
    disconnect_after: Option<usize>,
    non_streaming: bool,
}

/// A rule whose matcher is chosen but whose reply is not yet: finish it with one of the
/// `reply_*` methods.
#[derive(Debug, Clone)]
#[must_use = "a rule needs a reply: call reply_text, reply_tool_call(s) or reply_error"]
pub struct RuleBuilder {
    when: When,
}

impl RuleBuilder {
    /// Answer with streamed text.
    pub fn reply_text(self, text: impl Into<String>) -> Rule {
        Rule::new(self.when, Reply::Text(text.into()))
    }
    /// Answer with one tool call; `arguments` is the JSON string the model "wrote".
    pub fn reply_tool_call(self, name: impl Into<String>, arguments: impl Into<String>) -> Rule {
        Rule::new(
            self.when,
            Reply::ToolCalls(vec![(name.into(), arguments.into())]),
        )
    }
    /// Answer with several tool calls at once (`(name, arguments JSON string)` each).
    pub fn reply_tool_calls<N: Into<String>, A: Into<String>>(
        self,
        calls: impl IntoIterator<Item = (N, A)>,
    ) -> Rule {
        let calls = calls
            .into_iter()
            .map(|(n, a)| (n.into(), a.into()))
            .collect();
        Rule::new(self.when, Reply::ToolCalls(calls))
    }
    /// Answer with an HTTP error status and body.
    pub fn reply_error(self, status: u16, body: impl Into<String>) -> Rule {
        Rule::new(self.when, Reply::Error(status, body.into()))
    }
}

impl Rule {
    /// A rule from a matcher and a reply, with no delay, [`DEFAULT_CHUNK_CHARS`] characters a
    /// fragment and no limit on how often it applies.
    pub fn new(when: When, reply: Reply) -> Rule {
        Rule {
            when,
            reply,
            chunk_delay: Duration::ZERO,
            chunk_chars: DEFAULT_CHUNK_CHARS,
            times: None,
            disconnect_after: None,
            non_streaming: false,
        }
    }
    /// Starts a rule with any matcher.
    pub fn when(when: When) -> RuleBuilder {
        RuleBuilder { when }
    }
    /// Starts a rule that matches every request.
    pub fn always() -> RuleBuilder {
        Rule::when(When::Always)
    }
    /// Starts a rule that matches when the last message is a user message containing `text`.
    pub fn when_user_contains(text: impl Into<String>) -> RuleBuilder {
        Rule::when(When::LastUserContains(text.into()))
    }
    /// Starts a rule that matches when the last message is a tool result containing `text`.
    pub fn after_tool_result(text: impl Into<String>) -> RuleBuilder {
        Rule::when(When::LastMessageIsToolResult {
            contains: Some(text.into()),
        })
    }
    /// Starts a rule that matches when the last message is any tool result.
    pub fn after_any_tool_result() -> RuleBuilder {
        Rule::when(When::LastMessageIsToolResult { contains: None })
    }
    /// Starts a rule that matches when the system prompt contains `text`.
    pub fn when_system_contains(text: impl Into<String>) -> RuleBuilder {
        Rule::when(When::SystemContains(text.into()))
    }
    /// Starts a rule with a custom predicate over the JSON request body.
    pub fn when_fn(predicate: impl Fn(&Value) -> bool + Send + Sync + 'static) -> RuleBuilder {
        Rule::when(When::Custom(Arc::new(predicate)))
    }
    /// Waits this long before each content or tool-call fragment (not before the first
    /// role chunk, nor the finish/usage chunks), so a test can cancel mid-stream.
    pub fn chunk_delay(mut self, delay: Duration) -> Rule {
        self.chunk_delay = delay;
        self
    }
    /// Characters per text or arguments fragment (at least 1).
    pub fn chunk_chars(mut self, chars: usize) -> Rule {
        self.chunk_chars = chars.max(1);
        self
    }
    /// The rule applies to at most `n` requests, then is skipped (e.g. one 503, then text).
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }
    /// Breaks the connection after `n` content or tool-call fragments (streaming only): the
    /// response body errors out, so the client sees a transport failure with no
    /// `finish_reason`, usage chunk or `[DONE]`.
    pub fn disconnect_after(mut self, n: usize) -> Rule {
        self.disconnect_after = Some(n);
        self
    }
    /// Answers with one `chat.completion` JSON object even when the request asked to
    /// stream, as some servers and proxies do.
    pub fn non_streaming(mut self) -> Rule {
        self.non_streaming = true;
        self
    }
    /// The matcher.
    pub fn matcher(&self) -> &When {
        &self.when
    }
    /// The reply.
    pub fn reply(&self) -> &Reply {
        &self.reply
    }
}

struct RuleSlot {
    rule: Rule,
    used: usize,
}

struct Inner {
    rules: Mutex<Vec<RuleSlot>>,
    record: bool,
    requests: Mutex<Vec<Value>>,
    authorizations: Mutex<Vec<Option<String>>>,
    counter: AtomicU64,
}

/// A scripted OpenAI-compatible server on `127.0.0.1` (a random free port), running on a
/// Tokio task until dropped.
pub struct ScriptedLlm {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for ScriptedLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedLlm")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ScriptedLlm {
    /// Binds `127.0.0.1:0` and serves the rules (first match wins; a request no rule
    /// matches gets HTTP 400 with an OpenAI-style error body). Records every request body.
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when no local port can be bound.
    pub fn start(rules: Vec<Rule>) -> ScriptedLlm {
        Self::start_with(rules, true)
    }

    /// A zero-latency server for benchmarks: every request gets `reply` as text, with no
    /// delay, and requests are not recorded (memory stays flat over many calls).
    ///
    /// # Panics
    /// As [`ScriptedLlm::start`].
    pub fn zero_latency(reply: impl Into<String>) -> ScriptedLlm {
        Self::start_with(vec![Rule::always().reply_text(reply)], false)
    }

    fn start_with(rules: Vec<Rule>, record: bool) -> ScriptedLlm {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("set_nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let listener = tokio::net::TcpListener::from_std(listener)
            .expect("ScriptedLlm::start must be called inside a Tokio runtime");
        let inner = Arc::new(Inner {
            rules: Mutex::new(
                rules
                    .into_iter()
                    .map(|rule| RuleSlot { rule, used: 0 })
                    .collect(),
            ),
            record,
            requests: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "scripted LLM server stopped");
            }
        });
        ScriptedLlm { addr, inner, task }
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL to give an OpenAI-compatible client.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JSON bodies of the chat completion requests received so far, in arrival order
    /// (empty in [`ScriptedLlm::zero_latency`] mode).
    pub fn requests(&self) -> Vec<Value> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// The `Authorization` header of each recorded request, in the same order as
    /// [`ScriptedLlm::requests`].
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.inner.authorizations.lock().unwrap().clone()
    }

    /// Number of chat completion requests answered so far (counted in every mode).
    pub fn request_count(&self) -> u64 {
        self.inner.counter.load(Ordering::SeqCst)
    }

    /// Replaces the script (use counts start again from zero).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.inner.rules.lock().unwrap() = rules
            .into_iter()
            .map(|rule| RuleSlot { rule, used: 0 })
            .collect();
    }
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Estimated tokens: 4 characters a token, rounded up, at least 1.
fn estimate_tokens(chars: usize) -> u64 {
    (chars.div_ceil(4)).max(1) as u64
}

fn prompt_chars(body: &Value) -> usize {
    messages(body)
        .iter()
        .map(|m| {
            let calls = m
                .get("tool_calls")
                .and_then(Value::as_array)
                .map(|calls| {
                    calls
                        .iter()
                        .map(|c| {
                            let f = &c["function"];
                            f["name"].as_str().unwrap_or("").chars().count()
                                + f["arguments"].as_str().unwrap_or("").chars().count()
                        })
                        .sum::<usize>()
                })
                .unwrap_or(0);
            content_text(m).chars().count() + calls
        })
        .sum()
}

fn split_chars(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

fn openai_error(status: StatusCode, message: &str, kind: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

async fn models() -> axum::Json<Value> {
    axum::Json(json!({
        "object": "list",
        "data": [{"id": SCRIPTED_MODEL, "object": "model", "created": 0, "owned_by": "autonoma-testkit"}]
    }))
}

async fn chat_completions(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                &format!("request body is not JSON: {e}"),
                "invalid_request_error",
            )
        }
    };
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    if inner.record {
        inner.requests.lock().unwrap().push(body.clone());
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        inner.authorizations.lock().unwrap().push(auth);
    }
    let rule = {
        let mut rules = inner.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|slot| {
                slot.rule.times.is_none_or(|t| slot.used < t) && slot.rule.when.matches(&body)
            })
            .map(|slot| {
                slot.used += 1;
                slot.rule.clone()
            })
    };
    let Some(rule) = rule else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "no scripted rule matched this request",
            "invalid_request_error",
        );
    };
    if let Reply::Error(status, text) = &rule.reply {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = if serde_json::from_str::<Value>(text).is_ok() {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        return (status, [(header::CONTENT_TYPE, content_type)], text.clone()).into_response();
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(SCRIPTED_MODEL)
        .to_owned();
    let id = format!("chatcmpl-scripted-{n}");
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let completion_chars = match &rule.reply {
        Reply::Text(t) => t.chars().count(),
        Reply::ToolCalls(calls) => calls
            .iter()
            .map(|(n, a)| n.chars().count() + a.chars().count())
            .sum(),
        Reply::Error(..) => 0,
    };
    let prompt_tokens = estimate_tokens(prompt_chars(&body));
    let completion_tokens = estimate_tokens(completion_chars);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    let call_id = |i: usize| format!("call_{n}_{i}");

    if rule.non_streaming || !body.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        let (message, finish) = match &rule.reply {
            Reply::Text(t) => (
                json!({"role": "assistant", "content": t, "refusal": null}),
                "stop",
            ),
            Reply::ToolCalls(calls) => {
                let calls: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, (name, args))| {
                        json!({"id": call_id(i), "type": "function", "function": {"name": name, "arguments": args}})
                    })
                    .collect();
                (
                    json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null}),
                    "tool_calls",
                )
            }
            Reply::Error(..) => unreachable!("handled above"),
        };
        return axum::Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage,
        }))
        .into_response();
    }

    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    // (delay before this frame?, frame JSON)
    let mut frames: Vec<(bool, Value)> = Vec::new();
    let finish = match &rule.reply {
        Reply::Text(text) => {
            frames.push((
                false,
                chunk(json!({"role": "assistant", "content": ""}), None),
            ));
            for piece in split_chars(text, rule.chunk_chars) {
                frames.push((true, chunk(json!({"content": piece}), None)));
            }
            "stop"
        }
        Reply::ToolCalls(calls) => {
            frames.push((
                false,
                chunk(json!({"role": "assistant", "content": null}), None),
            ));
            for (i, (name, args)) in calls.iter().enumerate() {
                frames.push((
                    true,
                    chunk(
                        json!({"tool_calls": [{"index": i, "id": call_id(i), "type": "function",
                               "function": {"name": name, "arguments": ""}}]}),
                        None,
                    ),
                ));
                for piece in split_chars(args, rule.chunk_chars) {
                    frames.push((
                        true,
                        chunk(
                            json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                            None,
                        ),
                    ));
                }
            }
            "tool_calls"
        }
        Reply::Error(..) => unreachable!("handled above"),
    };
    frames.push((false, chunk(json!({}), Some(finish))));
    if include_usage {
        frames.push((
            false,
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_scripted",
                "choices": [],
                "usage": usage,
            }),
        ));
    }
    let delay = rule.chunk_delay;
    let mut lines: Vec<(bool, String)> = frames
        .into_iter()
        .map(|(d, v)| (d, format!("data: {v}\n\n")))
        .collect();
    lines.push((false, "data: [DONE]\n\n".to_owned()));
    let mut items: Vec<(bool, Result<String, std::io::Error>)> =
        lines.into_iter().map(|(d, l)| (d, Ok(l))).collect();
    if let Some(n) = rule.disconnect_after {
        // Keep the role chunk and `n` fragments, then fail the body.
        items.truncate(1 + n);
        items.push((
            false,
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "scripted disconnect",
            )),
        ));
    }
    let stream = futures::stream::iter(items).then(move |(wait, item)| async move {
        if item.is_err() {
            // Let the server flush what it wrote before the connection is torn down.
            tokio::time::sleep(delay.max(Duration::from_millis(20))).await;
        } else if wait && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        item
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .expect("valid response")
}
