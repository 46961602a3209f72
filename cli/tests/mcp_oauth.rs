//! OAuth 2.1 (authorization code + PKCE) for a remote MCP server, end to end, against an
//! authorization server nobody here wrote: the official MCP Python SDK's
//! (`tests/mcp/oauth_server.py`: a FastMCP server with the SDK's auth routes — protected
//! resource metadata, authorization server metadata, dynamic client registration,
//! `/authorize`, `/token` with PKCE verification and refresh — around an in-memory provider
//! that approves at once and issues access tokens that live 2 s).
//!
//! The real `autonoma serve` creates the connection, starts the authorization, a plain HTTP
//! client follows the authorization URL to its redirect, the callback exchanges the code;
//! then a scripted agent calls the server's tool, the token is refreshed, and once the
//! server forgets every token the connection reports `needs_authorization` and the tool
//! call fails (not the run) until it is connected again. Wrong, replayed and denied
//! callbacks write nothing; the tokens are not in the database in clear.

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// The SDK's OAuth MCP server (`tests/mcp/oauth_server.py`); killed on drop.
struct OAuthMcpServer {
    child: Child,
    port: u16,
    token_log: PathBuf,
    _dir: tempfile::TempDir,
}

impl OAuthMcpServer {
    async fn start() -> OAuthMcpServer {
        let dir = tempfile::tempdir().unwrap();
        let token_log = dir.path().join("tokens.jsonl");
        let (child, port) = start_sdk_server(
            "oauth_server.py",
            &[
                "--access-ttl".into(),
                "2".into(),
                "--token-log".into(),
                token_log.clone().into(),
            ],
            "/.well-known/oauth-authorization-server",
            Stdio::inherit(),
        )
        .await;
        OAuthMcpServer {
            child,
            port,
            token_log,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every token it issued: (kind, token), kind `client`, `access` or `refresh`.
    fn issued(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.token_log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["kind"].as_str().unwrap().to_string(),
                    v["token"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn count(&self, kind: &str) -> usize {
        self.issued().iter().filter(|(k, _)| k == kind).count()
    }
}

impl Drop for OAuthMcpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client like a browser that does not follow redirects, logged in with a session cookie.
async fn log_in(server: &Server, email: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login: {}", res.text().await.unwrap());
    client
}

/// Starts the authorization of connection `id` and follows the authorization URL to the
/// authorization server's redirect; returns (authorization URL, callback URL).
async fn authorize(user: &User, id: &str) -> (url::Url, url::Url) {
    let res = user
        .post(&format!("/api/v1/mcp-servers/{id}/authorize"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let start: Value = serde_json::from_str(&text).unwrap();
    let authorization_url = url::Url::parse(start["authorization_url"].as_str().unwrap()).unwrap();
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = plain.get(authorization_url.clone()).send().await.unwrap();
    assert!(
        res.status().is_redirection(),
        "{}: {}",
        res.status(),
        res.text().await.unwrap()
    );
    let location = res.headers()["location"].to_str().unwrap().to_string();
    (authorization_url, url::Url::parse(&location).unwrap())
}

fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn get_server(user: &User, id: &str) -> Value {
    user.get(&format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs the agent once; returns the `tool_result` event of its one tool call.
async fn call_echo(user: &User, agent_id: &str) -> Value {
    let run = user.start_run(agent_id, "go", None).await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    assert_eq!(events.last().unwrap().1, "completed", "{events:?}");
    events
        .iter()
        .find(|e| e.1 == "tool_result")
        .unwrap_or_else(|| panic!("no tool result: {events:?}"))
        .2
        .clone()
}

/// Every file of the server's data folder (the SQLite database and its WAL), concatenated.
fn data_bytes(server: &Server) -> Vec<u8> {
    let mut out = vec![];
    for entry in std::fs::read_dir(server.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn oauth_connection_authorizes_calls_refreshes_and_reports_needs_authorization() {
    let mcp = OAuthMcpServer::start().await;
    let llm = ScriptedLlm::start(vec![
        Rule::after_any_tool_result().reply_text("done"),
        Rule::when_user_contains("go")
            .reply_tool_calls([("secure__echo", json!({"text": "hi"}).to_string())]),
    ]);
    let server = Server::start_with(&[("AUTONOMA_MCP_ALLOW_LOOPBACK", "true")]);
    let user = User::sign_up(&server, "oauth@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;

    // A server that publishes no OAuth metadata cannot be an OAuth connection.
    let res = user
        .post("/api/v1/mcp-servers")
        .json(&json!({"name": "plain", "transport": "streamable_http",
                      "url": format!("{}/mcp", llm.base_url()), "auth": "oauth"}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["field"], "auth", "{body}");
    // OAuth and a bearer token exclude each other.
    let res = user
        .post("/api/v1/mcp-servers")
        .json(
            &json!({"name": "both", "transport": "streamable_http", "url": mcp.url("/mcp"),
                      "auth": "oauth", "bearer_token": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;

    // Created before any token: it needs an authorization and has no tools yet.
    let res = user
        .post("/api/v1/mcp-servers")
        .json(
            &json!({"name": "secure", "transport": "streamable_http", "url": mcp.url("/mcp"),
                      "auth": "oauth"}),
        )
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "needs_authorization", "{created}");
    assert_eq!(created["oauth"]["authorized"], false);
    assert_eq!(created["tools"], json!([]));

    // The authorization URL: the SDK's /authorize with PKCE S256, state, our callback.
    let (authorization_url, callback) = authorize(&user, &id).await;
    assert_eq!(authorization_url.path(), "/authorize");
    assert_eq!(
        query(&authorization_url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query(&authorization_url, "code_challenge").is_some());
    assert_eq!(
        query(&authorization_url, "redirect_uri").unwrap(),
        server.url("/api/v1/mcp-servers/oauth/callback")
    );
    assert_eq!(
        query(&authorization_url, "resource").unwrap(),
        mcp.url("/mcp")
    );
    assert_eq!(mcp.count("client"), 1, "registered dynamically");
    let state = query(&callback, "state").unwrap();
    let code = query(&callback, "code").unwrap();
    assert_eq!(
        query(&authorization_url, "state").as_deref(),
        Some(state.as_str())
    );

    let browser = log_in(&server, "oauth@example.com").await;
    let callback_url = |params: &[(&str, &str)]| {
        let mut u = url::Url::parse(&server.url("/api/v1/mcp-servers/oauth/callback")).unwrap();
        u.query_pairs_mut().extend_pairs(params);
        u
    };
    // A wrong state, and a denial, are refused and write nothing.
    let res = browser
        .get(callback_url(&[("code", &code), ("state", "not-the-state")]))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["field"], "state");
    let res = browser
        .get(callback_url(&[
            ("error", "access_denied"),
            ("error_description", "the user said no"),
            ("state", &state),
        ]))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 400, "authorization_denied").await;
    assert!(
        body["detail"].as_str().unwrap().contains("access_denied"),
        "{body}"
    );
    assert_eq!(
        get_server(&user, &id).await["status"],
        "needs_authorization"
    );
    assert_eq!(mcp.count("access"), 0);

    // Another user of another organization cannot use this state.
    let other = User::sign_up(&server, "other@example.com").await;
    let other_browser = log_in(&server, "other@example.com").await;
    let res = other_browser.get(callback.clone()).send().await.unwrap();
    assert_problem(res, 422, "validation_failed").await;
    drop(other);

    // The real callback: tokens, then tools, then the UI page of the connection.
    let res = browser.get(callback.clone()).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/mcp-servers?connected={id}")
    );
    // Replayed: the state was single-use.
    let res = browser.get(callback.clone()).send().await.unwrap();
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["field"], "state");

    let connected = get_server(&user, &id).await;
    assert_eq!(connected["status"], "ready", "{connected}");
    assert_eq!(connected["oauth"]["authorized"], true);
    let client_id = mcp
        .issued()
        .into_iter()
        .find(|(k, _)| k == "client")
        .unwrap()
        .1;
    assert_eq!(connected["oauth"]["client_id"], client_id.as_str());
    assert_eq!(connected["oauth"]["granted_scopes"], json!(["tools"]));
    let echo = connected["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "secure__echo")
        .unwrap_or_else(|| panic!("no secure__echo: {connected}"));
    assert_eq!(echo["input_schema"]["properties"]["text"]["type"], "string");
    let text = connected.to_string();
    for (kind, token) in mcp.issued() {
        if kind != "client" {
            assert!(!text.contains(&token), "{kind} token in the API answer");
        }
    }
    assert_eq!(mcp.count("access"), 1);

    // The agent calls the tool with the access token.
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "OAuth agent", "description": "d", "provider_id": provider, "model": "scripted",
            "instructions": "Use the tools.", "tools": ["secure__echo"],
            "tool_policies": [{"tool": "*", "action": "allow"}],
            "limits": {"max_steps": 3, "max_output_tokens": 64, "timeout_secs": 60}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let agent_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let result = call_echo(&user, &agent_id).await;
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["output"], "oauth echo: hi");

    // The access token lives 2 s: after that the call refreshes it (a new token pair from
    // the SDK's /token, stored again).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let result = call_echo(&user, &agent_id).await;
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["output"], "oauth echo: hi");
    assert!(mcp.count("access") >= 2, "refreshed: {:?}", mcp.issued());
    assert_eq!(get_server(&user, &id).await["status"], "ready");

    // Nothing the authorization server issued is in the database in clear.
    if !on_postgres() {
        let bytes = data_bytes(&server);
        for (kind, token) in mcp.issued() {
            if kind != "client" {
                assert!(!contains(&bytes, &token), "{kind} token stored in clear");
            }
        }
    }

    // The server forgets every token: the refresh fails, the connection reports it, and
    // the tool call fails with a clear error while the run completes.
    let res = reqwest::Client::new()
        .post(mcp.url("/test/revoke-all"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let result = call_echo(&user, &agent_id).await;
    assert_eq!(result["is_error"], true, "{result}");
    assert!(
        result["output"]
            .as_str()
            .unwrap()
            .contains("needs authorization"),
        "{result}"
    );
    let broken = get_server(&user, &id).await;
    assert_eq!(broken["status"], "needs_authorization", "{broken}");
    assert_eq!(broken["oauth"]["authorized"], false);
    assert!(
        broken["oauth"]["reason"]
            .as_str()
            .unwrap()
            .contains("refresh"),
        "{broken}"
    );
    // Still failing clearly on the next call (no network needed to know).
    let result = call_echo(&user, &agent_id).await;
    assert_eq!(result["is_error"], true, "{result}");
    assert!(
        result["output"]
            .as_str()
            .unwrap()
            .contains("needs authorization"),
        "{result}"
    );

    // Connecting again repairs it.
    let (_, callback) = authorize(&user, &id).await;
    let res = browser.get(callback).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(get_server(&user, &id).await["status"], "ready");
    let result = call_echo(&user, &agent_id).await;
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["output"], "oauth echo: hi");
}
