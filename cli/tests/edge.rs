//! The edge tier (`functions/edge`, a Cloudflare Worker in Rust) running in workerd, in
//! front of a real `autonoma serve` and of a small local origin that echoes what it gets.
//!
//! `functions/edge/build.sh` builds the worker (and installs the wasm-bindgen CLI and
//! workerd when missing); the site's assets must already be built
//! (`cargo run -p xtask -- build-site`, which `scripts/test.sh` runs first).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SECRET: &str = "edge-test-origin-secret";
/// Upper bound for anything that waits on the network, so a broken edge fails instead of
/// hanging; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(120);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// What `functions/edge/build.sh` reports: the workerd config and binary.
struct EdgeBuild {
    config: PathBuf,
    workerd: PathBuf,
}

/// Runs build.sh once per test binary (it is idempotent and quick when up to date).
fn edge_build() -> &'static EdgeBuild {
    static BUILD: OnceLock<EdgeBuild> = OnceLock::new();
    BUILD.get_or_init(|| {
        let out = Command::new("bash")
            .arg(workspace().join("functions/edge/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run functions/edge/build.sh");
        assert!(
            out.status.success(),
            "functions/edge/build.sh failed ({})",
            out.status
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let get = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("build.sh printed no {key}: {stdout}"))
        };
        EdgeBuild {
            config: get("EDGE_CONFIG="),
            workerd: get("WORKERD="),
        }
    })
}

/// The site's `pkg` folder and its manifest (`{"js": name, "wasm": name, "css": name}`).
fn site_pkg() -> (PathBuf, BTreeMap<String, String>) {
    let pkg = workspace().join("site/pkg");
    let manifest = std::fs::read_to_string(pkg.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}: {e} — build the site first: cargo run -p xtask -- build-site (scripts/test.sh does)", pkg.display()));
    (pkg, serde_json::from_str(&manifest).unwrap())
}

/// A workerd process running the edge worker on a free loopback port; killed on drop.
struct Edge {
    child: Child,
    base: String,
}

impl Edge {
    /// Starts workerd with `ORIGIN_URL = origin` and `ORIGIN_VERIFY = SECRET`, and returns
    /// once its socket listens (workerd reports the port on its control descriptor).
    fn start(origin: &str) -> Edge {
        let build = edge_build();
        let mut child = Command::new(&build.workerd)
            .arg("serve")
            .arg(&build.config)
            .args(["--socket-addr", "http=127.0.0.1:0", "--control-fd", "1"])
            // This checkout's assets, whatever checkout last wrote the shared config.
            .arg("--directory-path")
            .arg(format!(
                "site-pkg={}",
                workspace().join("site/pkg").display()
            ))
            .env("ORIGIN_URL", origin)
            .env("ORIGIN_VERIFY", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start workerd");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("workerd exited before listening: {:?}", child.wait()))
                .unwrap();
            // {"event":"listen","socket":"http","port":41775}
            if let Ok(msg) = serde_json::from_str::<Value>(&line) {
                if msg["event"] == "listen" && msg["socket"] == "http" {
                    break msg["port"].as_u64().expect("port");
                }
            }
            eprintln!("workerd: {line}");
        };
        // Keep draining stdout so the worker's console output can never block it.
        std::thread::spawn(move || {
            lines
                .map_while(Result::ok)
                .for_each(|l| eprintln!("workerd: {l}"))
        });
        Edge {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `127.0.0.1:PORT`, the Host a client of the edge sends.
    fn host(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that returns redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ the echo origin

/// What the echo origin received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

#[derive(Default)]
struct EchoState {
    seen: Mutex<Vec<Seen>>,
    /// Lets `/sse` send its second event.
    release: tokio::sync::Notify,
}

/// A local origin on a free port: `/redirect` answers 302, `/status/N` answers N, `/sse`
/// sends one event, waits for `release`, sends a second and ends; every other path
/// answers 200 with the request as JSON. Every request is recorded.
struct EchoOrigin {
    base: String,
    state: Arc<EchoState>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoOrigin {
    async fn start() -> EchoOrigin {
        let state = Arc::new(EchoState::default());
        let app = axum::Router::new().fallback(echo).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        EchoOrigin { base, state, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn last(&self, path_prefix: &str) -> Seen {
        self.seen()
            .into_iter()
            .rev()
            .find(|s| s.uri.starts_with(path_prefix))
            .unwrap_or_else(|| panic!("origin never saw {path_prefix}"))
    }
}

impl Drop for EchoOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(State(state): State<Arc<EchoState>>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &parts.headers {
        headers
            .entry(k.as_str().to_string())
            .or_default()
            .push(v.to_str().unwrap_or("<binary>").to_string());
    }
    let seen = Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers,
        body,
    };
    state.seen.lock().unwrap().push(seen.clone());
    let path = parts.uri.path();
    if path == "/redirect" {
        return (StatusCode::FOUND, [("location", "/elsewhere")], "moved").into_response();
    }
    if let Some(code) = path.strip_prefix("/status/") {
        return (
            StatusCode::from_u16(code.parse().unwrap()).unwrap(),
            [("x-origin-says", "hi")],
            "as you wish",
        )
            .into_response();
    }
    if path == "/sse" {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<String, std::io::Error>>();
        tokio::spawn(async move {
            tx.unbounded_send(Ok("id: 1\nevent: one\ndata: {}\n\n".into()))
                .unwrap();
            state.release.notified().await;
            let _ = tx.unbounded_send(Ok("id: 2\nevent: two\ndata: {}\n\n".into()));
        });
        return (
            [
                ("content-type", "text/event-stream"),
                ("cache-control", "no-cache"),
            ],
            Body::from_stream(rx),
        )
            .into_response();
    }
    axum::Json(json!({
        "method": seen.method,
        "uri": seen.uri,
        "headers": seen.headers,
        "body_len": seen.body.len(),
    }))
    .into_response()
}

// ------------------------------------------------------------------------- the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_come_from_the_edge_with_cache_headers() {
    let (pkg, manifest) = site_pkg();
    let origin = EchoOrigin::start().await;
    let edge = tokio::task::block_in_place(|| Edge::start(&origin.base));
    let http = client();

    // Hashed names: immutable, typed, strong ETag from the name's hash, the file's bytes.
    for (key, content_type) in [
        ("js", "text/javascript; charset=utf-8"),
        ("wasm", "application/wasm"),
        ("css", "text/css; charset=utf-8"),
    ] {
        let name = &manifest[key];
        let hash = name.split('.').nth(1).unwrap();
        let res = http
            .get(edge.url(&format!("/pkg/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(header(&res, "cache-control"), IMMUTABLE, "{name}");
        assert_eq!(header(&res, "content-type"), content_type, "{name}");
        assert_eq!(header(&res, "etag"), format!("\"{hash}\""), "{name}");
        assert_eq!(
            header(&res, "content-encoding"),
            "",
            "identity unless gzip is accepted"
        );
        assert_eq!(
            res.bytes().await.unwrap(),
            std::fs::read(pkg.join(name)).unwrap(),
            "{name}"
        );

        let res = http
            .get(edge.url(&format!("/pkg/{name}")))
            .header("if-none-match", format!("\"{hash}\""))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304, "{name} revalidates without a body");
        assert_eq!(header(&res, "cache-control"), IMMUTABLE);
    }

    // With gzip accepted, the precompressed copy is sent as it is.
    let wasm = &manifest["wasm"];
    let res = http
        .get(edge.url(&format!("/pkg/{wasm}")))
        .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-encoding"), "gzip");
    assert_eq!(header(&res, "content-type"), "application/wasm");
    assert_eq!(header(&res, "cache-control"), IMMUTABLE);
    assert!(header(&res, "vary").eq_ignore_ascii_case("accept-encoding"));
    assert!(
        header(&res, "etag").ends_with("-gz\""),
        "{}",
        header(&res, "etag")
    );
    assert_eq!(
        res.bytes().await.unwrap(),
        std::fs::read(pkg.join(format!("{wasm}.gz"))).unwrap()
    );

    // HEAD: the headers of GET, no body.
    let res = http
        .head(edge.url(&format!("/pkg/{wasm}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/wasm");
    assert_eq!(header(&res, "cache-control"), IMMUTABLE);
    assert!(res.bytes().await.unwrap().is_empty());

    // Unhashed names: revalidated on every use, with validators that work.
    let res = http
        .get(edge.url("/pkg/autonoma.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-cache");
    assert_eq!(header(&res, "content-type"), "text/css; charset=utf-8");
    let etag = header(&res, "etag");
    assert!(etag.starts_with("W/\""), "{etag}");
    assert!(!header(&res, "last-modified").is_empty());
    assert_eq!(
        res.bytes().await.unwrap(),
        std::fs::read(pkg.join("autonoma.css")).unwrap()
    );
    let res = http
        .get(edge.url("/pkg/autonoma.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    let res = http
        .get(edge.url("/pkg/manifest.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/json");
    assert_eq!(
        res.json::<BTreeMap<String, String>>().await.unwrap(),
        manifest
    );

    // Misses and refused names are 404s from the edge, never the origin's business.
    for path in [
        "/pkg/missing.0123456789abcdef.js",
        "/pkg/",
        "/pkg/.wasm-stamp",
        "/pkg/autonoma.css.gz",
        "/pkg/..%2fmanifest.json",
        "/pkg/a//b.js",
    ] {
        let res = http.get(edge.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(header(&res, "cache-control"), "no-store", "{path}");
    }
    let res = http
        .post(edge.url(&format!("/pkg/{wasm}")))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(header(&res, "allow"), "GET, HEAD");
    assert!(
        origin.seen().is_empty(),
        "the origin was asked for assets: {:?}",
        origin.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_forwarded_with_client_ip_and_origin_verify_and_stream_back() {
    let origin = EchoOrigin::start().await;
    let edge = tokio::task::block_in_place(|| Edge::start(&origin.base));
    let http = client();

    // Method, path, query, body and headers reach the origin; the edge adds its headers
    // and replaces what a client may not set.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let res = http
        .put(edge.url("/api/v1/things/42?x=1&y=two%20words"))
        .header("cf-connecting-ip", "203.0.113.7")
        .header("x-forwarded-for", "10.6.6.6")
        .header("x-real-ip", "10.6.6.6")
        .header("x-origin-verify", "forged")
        .header("x-custom", "kept")
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/json");
    let seen = origin.last("/api/v1/things/42");
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.uri, "/api/v1/things/42?x=1&y=two%20words");
    assert_eq!(seen.body, body, "the request body arrives intact");
    let h = |name: &str| seen.headers.get(name).cloned().unwrap_or_default();
    assert_eq!(h("x-forwarded-for"), ["203.0.113.7"], "{:?}", seen.headers);
    assert_eq!(h("x-real-ip"), ["203.0.113.7"]);
    assert_eq!(h("x-origin-verify"), [SECRET]);
    assert_eq!(h("x-forwarded-proto"), ["http"]);
    assert_eq!(h("x-forwarded-host"), [edge.host()]);
    assert_eq!(h("x-custom"), ["kept"]);
    assert_eq!(h("content-type"), ["application/octet-stream"]);
    assert_eq!(h("host"), [origin.base.strip_prefix("http://").unwrap()]);

    // Without CF-Connecting-IP (another proxy in front), X-Forwarded-For is kept and its
    // first entry is the client.
    let res = http
        .post(edge.url("/sfn/something"))
        .header("x-forwarded-for", "198.51.100.4, 10.0.0.1")
        .body("a=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = origin.last("/sfn/something");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body, b"a=1");
    assert_eq!(seen.headers["x-forwarded-for"], ["198.51.100.4, 10.0.0.1"]);
    assert_eq!(seen.headers["x-real-ip"], ["198.51.100.4"]);
    assert_eq!(seen.headers["x-origin-verify"], [SECRET]);

    // Statuses and headers come back as the origin sent them; redirects are not followed.
    let res = http.get(edge.url("/status/418")).send().await.unwrap();
    assert_eq!(res.status(), 418);
    assert_eq!(header(&res, "x-origin-says"), "hi");
    assert_eq!(res.text().await.unwrap(), "as you wish");
    let res = http.get(edge.url("/redirect")).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(header(&res, "location"), "/elsewhere");
    assert!(
        !origin.seen().iter().any(|s| s.uri == "/elsewhere"),
        "the edge followed the redirect"
    );

    // Streaming: the first event arrives while the origin holds the second back.
    let res = tokio::time::timeout(DEADLINE, http.get(edge.url("/sse")).send())
        .await
        .expect("sse response")
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/event-stream");
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    while !text.contains("event: one\n") {
        let chunk = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("first event was held back")
            .expect("stream ended early")
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        !text.contains("event: two"),
        "the origin has not sent it yet"
    );
    origin.state.release.notify_one();
    while let Some(chunk) = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("stream did not end")
    {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let events: Vec<String> = parse_sse(&text).into_iter().map(|e| e.1).collect();
    assert_eq!(events, ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autonoma_works_through_the_edge() {
    let (_, manifest) = site_pkg();
    let long = "word ".repeat(2000);
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("talk a lot")
            .reply_text(long)
            .chunk_delay(Duration::from_millis(50)),
        Rule::always().reply_text("hello through the edge"),
    ]);
    // The origin accepts only requests that carry the edge's secret.
    let server = Server::start_with(&[("AUTONOMA_ORIGIN_VERIFY", SECRET)]);
    let edge = tokio::task::block_in_place(|| Edge::start(&server.base));
    let http = client();
    let direct = http.get(server.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(
        direct.status(),
        403,
        "the origin refuses requests that bypass the edge"
    );

    // SSR pages come from the origin, redirects included, and link assets the edge serves.
    let res = http.get(edge.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/login");
    let res = http.get(edge.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/html"));
    let html = res.text().await.unwrap();
    let js = format!("/pkg/{}", manifest["js"]);
    assert!(html.contains(&js), "the page links {js}: {html}");
    let res = http.get(edge.url(&js)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), IMMUTABLE);

    // Sign up and create an API key through the edge (JSON bodies, cookies, CSRF).
    let cookie_http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = cookie_http
        .post(edge.url("/api/v1/auth/signup"))
        .json(&json!({ "email": "edge@example.com", "password": "correct horse battery", "name": "Edge" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(header(&res, "set-cookie").starts_with("autonoma_session="));
    let me: Value = res.json().await.unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    let res = cookie_http
        .post(edge.url("/api/v1/api-keys"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "name": "edge" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let key: Value = res.json().await.unwrap();
    let user = User {
        http: reqwest::Client::new(),
        cookie_http,
        base: edge.base.clone(),
        api_key: key["secret"].as_str().unwrap().to_string(),
        csrf,
        org_id: me["org_id"].as_str().unwrap().to_string(),
    };

    // Create and list through the edge.
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 8192, "timeout_secs": 120}),
        )
        .await;
    let agent_id = agent["id"].as_str().unwrap();
    let agents: Value = user
        .get("/api/v1/agents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents["items"].as_array().unwrap().len(), 1);
    assert_eq!(agents["items"][0]["id"], agent["id"]);

    // A whole run's events through the edge.
    let run = user.start_run(agent_id, "say hello", None).await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    assert_eq!(events.first().unwrap().1, "run_started");
    assert_eq!(events.last().unwrap().1, "completed");
    assert_eq!(events.last().unwrap().2["output"], "hello through the edge");

    // Incremental delivery: the run is cancelled only after its first token came through the
    // edge, so a buffering edge would show a completed run instead of a cancelled one.
    let run = user.start_run(agent_id, "talk a lot", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    let res = tokio::time::timeout(
        DEADLINE,
        user.get(&format!("/api/v1/runs/{run_id}/events")).send(),
    )
    .await
    .expect("events")
    .unwrap();
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/event-stream"));
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    let mut cancelled = false;
    while let Some(chunk) = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("the event stream stalled")
    {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if !cancelled && text.contains("event: token_delta") {
            let res = user
                .post(&format!("/api/v1/runs/{run_id}/cancel"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
            cancelled = true;
        }
    }
    let events = parse_sse(&text);
    assert!(cancelled, "no token arrived: {text}");
    assert_eq!(
        events.last().unwrap().1,
        "cancelled",
        "{:?}",
        events.iter().map(|e| &e.1).collect::<Vec<_>>()
    );
    assert!(events.iter().any(|e| e.1 == "token_delta"));

    // Server functions: the origin's same-origin check passes for the edge's own origin
    // (it sees X-Forwarded-Host) and still refuses a foreign one.
    let form = "email=sfn%40example.com&password=long-enough-pw&name=Sfn";
    let res = http
        .post(edge.url("/sfn/signup"))
        .header("origin", &edge.base)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert!(header(&res, "set-cookie").starts_with("autonoma_session="));
    let res = http
        .post(edge.url("/sfn/signup"))
        .header("origin", "http://evil.test")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.replace("sfn%40", "evil%40"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
