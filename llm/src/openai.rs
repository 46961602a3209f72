//! The OpenAI Chat Completions provider (streaming, with tool calls).
//!
//! Wire format: <https://platform.openai.com/docs/api-reference/chat/create> and
//! <https://platform.openai.com/docs/api-reference/chat-streaming>.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::llm::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, FinishReason, LlmError, LlmProvider, ToolCall,
};
use autonoma_core::model::Usage;
use backon::{ExponentialBuilder, Retryable};
use eventsource_stream::{EventStreamError, Eventsource};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

/// How [`OpenAiCompatible`] retries a request that failed before any byte of the reply
/// stream arrived: connection failures and timeouts, HTTP 429 and HTTP 5xx. Delays grow
/// exponentially (factor 2, with jitter) from `min_delay` to at most `max_delay`; a
/// `Retry-After` header in seconds replaces the computed delay (capped at `max_delay`).
/// Once streaming has started nothing is retried (text was already forwarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: usize,
    /// Delay before the first retry.
    pub min_delay: Duration,
    /// Upper bound of any delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries, 500 ms then doubling, at most 8 s.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// A provider for any OpenAI-compatible Chat Completions endpoint.
///
/// Each [`LlmProvider::chat`] call is one `POST {base_url}/chat/completions` with
/// `stream: true` and `stream_options.include_usage: true`; text fragments are forwarded to
/// `deltas` as they arrive, tool calls are assembled from their streamed fragments, and the
/// usage comes from the final chunk (zero when the server sends none).
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    base_url: String,
    api_key: Option<String>,
    http: reqwest::Client,
    retry: RetryPolicy,
}

/// The HTTP client used when none is given: rustls, 10 s connect timeout, 5 min without
/// any byte read ends a request.
pub(crate) fn default_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(300))
        .user_agent(concat!("autonoma/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the default reqwest client configuration is valid")
}

impl OpenAiCompatible {
    /// A provider for `base_url` (e.g. `https://api.openai.com/v1`; a trailing `/` is
    /// ignored), sending `api_key` as a bearer token when given, with its own HTTP client.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        Self::with_client(base_url, api_key, default_client())
    }

    /// As [`OpenAiCompatible::new`] but sharing an existing client (and its connection pool).
    pub fn with_client(
        base_url: impl Into<String>,
        api_key: Option<String>,
        http: reqwest::Client,
    ) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        let api_key = api_key.filter(|k| !k.is_empty());
        OpenAiCompatible {
            base_url,
            api_key,
            http,
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy (default: [`RetryPolicy::default`]).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// One attempt: sends the request and returns the response if its status is 2xx.
    async fn open(&self, url: &str, body: &Value) -> Result<reqwest::Response, Attempt> {
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| Attempt {
            retryable: e.is_connect() || e.is_timeout(),
            retry_after: None,
            error: LlmError::Transport(format!("POST {url}: {}", error_chain(&e))),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        Err(Attempt {
            retryable: status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
            retry_after,
            error: LlmError::Transport(format!(
                "POST {url}: HTTP {status}: {}",
                excerpt(&text, 500)
            )),
        })
    }
}

/// A failed attempt and whether it may be retried.
struct Attempt {
    retryable: bool,
    retry_after: Option<Duration>,
    error: LlmError,
}

/// `e` and its sources, joined by `: ` (reqwest's Display alone hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// The first `max` characters of `s`, with `…` when cut.
fn excerpt(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The request message in OpenAI's shape.
fn wire_message(m: &ChatMessage) -> Value {
    match m.role {
        ChatRole::System => json!({"role": "system", "content": m.content}),
        ChatRole::User => json!({"role": "user", "content": m.content}),
        ChatRole::Assistant if m.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": m.content})
        }
        ChatRole::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    // Arguments travel as a JSON string; an unparsable original stays verbatim.
                    let arguments = match &c.arguments {
                        Value::String(raw) => raw.clone(),
                        other => other.to_string(),
                    };
                    json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": arguments}})
                })
                .collect();
            let content = if m.content.is_empty() {
                Value::Null
            } else {
                Value::String(m.content.clone())
            };
            json!({"role": "assistant", "content": content, "tool_calls": calls})
        }
        ChatRole::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.content,
        }),
    }
}

/// The JSON body of a streaming Chat Completions request.
fn request_body(request: &ChatRequest) -> Value {
    let mut body = json!({
        "model": request.model,
        "messages": request.messages.iter().map(wire_message).collect::<Vec<_>>(),
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": request.max_tokens,
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
    }
    body
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Accumulates the streamed chunks of one reply.
#[derive(Default)]
struct Accumulator {
    content: String,
    calls: BTreeMap<usize, PartialCall>,
    usage: Usage,
    finish: Option<String>,
}

impl Accumulator {
    /// Applies one chunk; returns the text fragment to forward, if any.
    fn apply(&mut self, chunk: Chunk) -> Option<String> {
        if let Some(u) = chunk.usage {
            self.usage = Usage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
            };
        }
        let mut text = None;
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(reason);
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(content) = delta.content.filter(|c| !c.is_empty()) {
                self.content.push_str(&content);
                text = Some(content);
            }
            for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                let slot = self
                    .calls
                    .entry(call.index.unwrap_or(position))
                    .or_default();
                if let Some(id) = call.id.filter(|id| !id.is_empty()) {
                    slot.id = id;
                }
                if let Some(f) = call.function {
                    if let Some(name) = f.name {
                        slot.name.push_str(&name);
                    }
                    if let Some(args) = f.arguments {
                        slot.arguments.push_str(&args);
                    }
                }
            }
        }
        text
    }

    fn finish(self) -> ChatResponse {
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_iter()
            .map(|(index, c)| ToolCall {
                id: if c.id.is_empty() {
                    format!("call_{index}")
                } else {
                    c.id
                },
                name: c.name,
                arguments: parse_arguments(&c.arguments),
            })
            .collect();
        let finish_reason = match self.finish.as_deref() {
            Some("length") => FinishReason::Length,
            _ if !tool_calls.is_empty() => FinishReason::ToolCalls,
            Some("tool_calls") | Some("function_call") => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        };
        ChatResponse {
            content: self.content,
            tool_calls,
            usage: self.usage,
            finish_reason,
        }
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<CompletionChoice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: CompletionMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct CompletionMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CompletionToolCall>,
}

#[derive(Deserialize)]
struct CompletionToolCall {
    #[serde(default)]
    id: Option<String>,
    function: FunctionDelta,
}

/// A non-streaming `chat.completion` body, folded through the same accumulator.
fn parse_completion(text: &str) -> Result<ChatResponse, serde_json::Error> {
    let completion: Completion = serde_json::from_str(text)?;
    let mut acc = Accumulator::default();
    if let Some(u) = completion.usage {
        acc.usage = Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        };
    }
    if let Some(choice) = completion.choices.into_iter().next() {
        acc.finish = choice.finish_reason;
        acc.content = choice.message.content.unwrap_or_default();
        for (i, call) in choice.message.tool_calls.into_iter().enumerate() {
            acc.calls.insert(
                i,
                PartialCall {
                    id: call.id.unwrap_or_default(),
                    name: call.function.name.unwrap_or_default(),
                    arguments: call.function.arguments.unwrap_or_default(),
                },
            );
        }
    }
    Ok(acc.finish())
}

/// Tool-call arguments: empty → `{}`, valid JSON → that value, otherwise the raw string.
fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

#[async_trait]
impl LlmProvider for OpenAiCompatible {
    /// # Errors
    /// - [`LlmError::Transport`]: connection failure, timeout or non-2xx status (after the
    ///   retries of the [`RetryPolicy`]; the message has the status and up to 500
    ///   characters of the body), or the stream broke off before `finish_reason`/`[DONE]`.
    /// - [`LlmError::Protocol`]: a chunk that is not the expected JSON, or an `error`
    ///   object inside the stream.
    async fn chat(
        &self,
        request: ChatRequest,
        deltas: UnboundedSender<String>,
    ) -> Result<ChatResponse, LlmError> {
        let url = format!("{}/chat/completions", self.base_url);
        let body = request_body(&request);
        let policy = self.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_retries)
            .with_jitter();
        let response = (|| self.open(&url, &body))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|a: &Attempt| a.retryable)
            .adjust(|a: &Attempt, delay| {
                delay.map(|d| a.retry_after.map_or(d, |r| r.min(policy.max_delay)))
            })
            .notify(|a: &Attempt, delay| {
                tracing::warn!(error = %a.error, retry_in = ?delay, "LLM request failed, retrying");
            })
            .await
            .map_err(|a| a.error)?;

        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            // A server that ignores `stream: true` and answers with one `chat.completion`.
            let text = response.text().await.map_err(|e| {
                LlmError::Transport(format!("reading the reply from {url}: {}", error_chain(&e)))
            })?;
            let resp = parse_completion(&text).map_err(|e| {
                LlmError::Protocol(format!(
                    "unexpected reply from {url} ({e}): {}",
                    excerpt(&text, 300)
                ))
            })?;
            if !resp.content.is_empty() {
                let _ = deltas.send(resp.content.clone());
            }
            return Ok(resp);
        }
        let mut events = response.bytes_stream().eventsource();
        let mut acc = Accumulator::default();
        let mut done = false;
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| match e {
                EventStreamError::Transport(e) => LlmError::Transport(format!(
                    "reading the stream from {url}: {}",
                    error_chain(&e)
                )),
                other => LlmError::Protocol(format!("invalid event stream from {url}: {other}")),
            })?;
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                done = true;
                break;
            }
            let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
                LlmError::Protocol(format!(
                    "unexpected chunk from {url} ({e}): {}",
                    excerpt(data, 300)
                ))
            })?;
            if let Some(error) = &chunk.error {
                return Err(LlmError::Protocol(format!(
                    "error inside the stream from {url}: {}",
                    excerpt(&error.to_string(), 500)
                )));
            }
            if let Some(text) = acc.apply(chunk) {
                // A dropped receiver must not fail the call.
                let _ = deltas.send(text);
            }
        }
        if !done && acc.finish.is_none() {
            return Err(LlmError::Transport(format!(
                "the stream from {url} ended before the reply was complete"
            )));
        }
        Ok(acc.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autonoma_core::llm::ToolDefinition;

    #[test]
    fn body_has_tools_and_tool_messages_in_openai_shape() {
        let request = ChatRequest {
            model: "gpt-x".into(),
            messages: vec![
                ChatMessage::text(ChatRole::System, "sys"),
                ChatMessage::text(ChatRole::User, "17*23?"),
                ChatMessage {
                    role: ChatRole::Assistant,
                    content: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "calculator".into(),
                        arguments: json!({"expression": "17*23"}),
                    }],
                    tool_call_id: None,
                },
                ChatMessage {
                    role: ChatRole::Tool,
                    content: "391".into(),
                    tool_calls: vec![],
                    tool_call_id: Some("c1".into()),
                },
            ],
            tools: vec![ToolDefinition {
                name: "calculator".into(),
                description: "math".into(),
                parameters: json!({"type": "object"}),
            }],
            max_tokens: 64,
        };
        let body = request_body(&request);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "calculator");
        let assistant = &body["messages"][2];
        assert_eq!(assistant["content"], Value::Null);
        assert_eq!(
            assistant["tool_calls"][0]["function"]["arguments"],
            r#"{"expression":"17*23"}"#
        );
        assert_eq!(
            body["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "391"})
        );
    }

    #[test]
    fn non_streaming_completions_are_understood() {
        let body = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"call_9","type":"function","function":{"name":"calculator","arguments":"{\"expression\":\"2+2\"}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#;
        let resp = parse_completion(body).unwrap();
        assert_eq!(resp.finish_reason, FinishReason::ToolCalls);
        assert_eq!(resp.tool_calls[0].id, "call_9");
        assert_eq!(resp.tool_calls[0].arguments, json!({"expression": "2+2"}));
        assert_eq!(
            resp.usage,
            Usage {
                input_tokens: 11,
                output_tokens: 7
            }
        );
    }

    #[test]
    fn arguments_parse_leniently() {
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(parse_arguments(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(parse_arguments("{oops"), json!("{oops"));
    }

    #[test]
    fn excerpt_cuts_on_char_boundaries() {
        assert_eq!(excerpt("ééé", 2), "éé…");
        assert_eq!(excerpt(" ab ", 5), "ab");
    }
}
