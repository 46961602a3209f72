//! The AWS Lambda Runtime API, served on `127.0.0.1` so a function binary can be run and
//! invoked locally exactly as Lambda runs it: the binary polls
//! `GET /2018-06-01/runtime/invocation/next`, gets the event with its request id and
//! deadline headers, and posts the result to `.../invocation/{id}/response` (buffered, or
//! streamed with `Lambda-Runtime-Function-Response-Mode: streaming`) or `.../error`.
//!
//! Source of the protocol: the AWS Lambda developer guide, "Using the Lambda runtime API
//! for custom runtimes" and "Response streaming" (the HTTP integration's streamed body is a
//! JSON prelude, eight NUL bytes, then the payload).
//!
//! ```no_run
//! # async fn demo() {
//! use autonoma_testkit::lambda::RuntimeApi;
//! let api = RuntimeApi::start().await;
//! // spawn the function with AWS_LAMBDA_RUNTIME_API = api.address(), then:
//! let mut inv = api.invoke(serde_json::json!({"hello": "world"}), std::time::Duration::from_secs(30));
//! let body = inv.finish().await.unwrap();
//! # let _ = body;
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

/// The eight NUL bytes that end the JSON prelude of a streamed HTTP integration response.
pub const PRELUDE_SEPARATOR: [u8; 8] = [0; 8];

/// What the function sent back for one invocation, piece by piece.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// A chunk of the response body as it arrived (one per HTTP chunk for streamed
    /// responses, the whole body otherwise).
    Chunk(Bytes),
    /// The response is complete.
    End,
    /// The function reported an error (`/error`): its JSON body (`errorType`,
    /// `errorMessage`).
    Error(Value),
}

struct Pending {
    id: String,
    event: Value,
    deadline_ms: u128,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    ready: Notify,
    replies: Mutex<HashMap<String, mpsc::UnboundedSender<Piece>>>,
    /// Bodies posted to `/runtime/init/error`.
    init_errors: Mutex<Vec<Value>>,
    /// Times `/invocation/next` was called.
    polls: Mutex<u64>,
}

/// A local Lambda Runtime API; stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    next_id: Mutex<u64>,
}

/// One invocation in flight: read what the function sends with [`Invocation::next_piece`]
/// or wait for all of it with [`Invocation::finish`].
pub struct Invocation {
    /// The request id the function sees (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    rx: mpsc::UnboundedReceiver<Piece>,
}

impl Invocation {
    /// The next piece, or `None` when the runtime API stopped.
    pub async fn next_piece(&mut self) -> Option<Piece> {
        self.rx.recv().await
    }

    /// The whole response body, or the error the function reported.
    pub async fn finish(&mut self) -> Result<Vec<u8>, Value> {
        let mut body = Vec::new();
        while let Some(p) = self.rx.recv().await {
            match p {
                Piece::Chunk(b) => body.extend_from_slice(&b),
                Piece::End => return Ok(body),
                Piece::Error(e) => return Err(e),
            }
        }
        Err(Value::String(
            "runtime API stopped before the response ended".into(),
        ))
    }
}

impl RuntimeApi {
    /// Serves the Runtime API on a free port of 127.0.0.1.
    pub async fn start() -> RuntimeApi {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            addr,
            shared,
            server,
            next_id: Mutex::new(0),
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API` for the function process.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The environment Lambda gives a function (`AWS_LAMBDA_RUNTIME_API`, function name,
    /// memory size in MiB, version, region, log names), for a function named `name`.
    pub fn function_env(&self, name: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Queues an invocation with `event` and a deadline `timeout` from now; the function
    /// receives it on its next poll.
    pub fn invoke(&self, event: Value, timeout: Duration) -> Invocation {
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            format!("00000000-0000-4000-8000-{:012}", *n)
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.replies.lock().unwrap().insert(id.clone(), tx);
        let deadline_ms = (SystemTime::now() + timeout)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        self.shared.queue.lock().unwrap().push_back(Pending {
            id: id.clone(),
            event,
            deadline_ms,
        });
        self.shared.ready.notify_one();
        Invocation { request_id: id, rx }
    }

    /// Bodies the function posted to `/runtime/init/error` (a failed start).
    pub fn init_errors(&self) -> Vec<Value> {
        self.shared.init_errors.lock().unwrap().clone()
    }

    /// How often the function asked for its next invocation.
    pub fn polls(&self) -> u64 {
        *self.shared.polls.lock().unwrap()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    *s.polls.lock().unwrap() += 1;
    loop {
        let notified = s.ready.notified();
        if let Some(p) = s.queue.lock().unwrap().pop_front() {
            let mut res = axum::Json(p.event).into_response();
            let h = res.headers_mut();
            h.insert("lambda-runtime-aws-request-id", p.id.parse().unwrap());
            h.insert(
                "lambda-runtime-deadline-ms",
                p.deadline_ms.to_string().parse().unwrap(),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:local"
                    .parse()
                    .unwrap(),
            );
            h.insert(
                "lambda-runtime-trace-id",
                format!("Root=1-00000000-{:024}", 0).parse().unwrap(),
            );
            return res;
        }
        notified.await;
    }
}

async fn response(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    _headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(tx) = s.replies.lock().unwrap().remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                let _ = tx.send(Piece::Chunk(b));
            }
            Err(e) => {
                let _ = tx.send(Piece::Error(Value::String(format!(
                    "response stream broke: {e}"
                ))));
                return StatusCode::ACCEPTED;
            }
        }
    }
    let _ = tx.send(Piece::End);
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let Some(tx) = s.replies.lock().unwrap().remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let _ = tx.send(Piece::Error(v));
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    s.init_errors.lock().unwrap().push(v);
    StatusCode::ACCEPTED
}

/// Splits a streamed HTTP integration response into its prelude (`statusCode`, `headers`,
/// `cookies`) and body. Errors: no [`PRELUDE_SEPARATOR`] or a prelude that is not JSON.
pub fn split_http_stream(raw: &[u8]) -> Result<(Value, Vec<u8>), String> {
    let at = raw
        .windows(8)
        .position(|w| w == PRELUDE_SEPARATOR)
        .ok_or("no prelude separator")?;
    let prelude =
        serde_json::from_slice(&raw[..at]).map_err(|e| format!("prelude is not JSON: {e}"))?;
    Ok((prelude, raw[at + 8..].to_vec()))
}

/// An API Gateway HTTP API (payload format 2.0) event — the format Lambda function URLs
/// send too — for `method path?query` with `headers` and an optional UTF-8 `body`.
/// Cookies go in `cookies` as API Gateway puts them; `source_ip` in
/// `requestContext.http.sourceIp`.
pub fn http_api_v2_event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    source_ip: &str,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut hmap = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("cookie") {
            cookies.extend(v.split(';').map(|c| Value::String(c.trim().to_string())));
        } else {
            hmap.insert(k.to_ascii_lowercase(), Value::String(v.to_string()));
        }
    }
    let mut qmap = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        qmap.insert(k.to_string(), Value::String(v.to_string()));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut ev = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": hmap,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "local.lambda-url.us-east-1.on.aws",
            "domainPrefix": "local",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "autonoma-tests" },
            "requestId": format!("req-{}", now.as_nanos()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:10:00:00 +0000",
            "timeEpoch": now.as_millis() as u64
        },
        "isBase64Encoded": false
    });
    if !qmap.is_empty() {
        ev["queryStringParameters"] = Value::Object(qmap);
    }
    if !cookies.is_empty() {
        ev["cookies"] = Value::Array(cookies);
    }
    if let Some(b) = body {
        ev["body"] = Value::String(b.to_string());
    }
    ev
}

/// An SQS event (the Lambda event source mapping's batch) with one record per
/// `(message id, receipt handle, body)`, from queue `queue_arn`.
pub fn sqs_event(queue_arn: &str, messages: &[(String, String, String)]) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, receipt, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": receipt,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": now
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}
