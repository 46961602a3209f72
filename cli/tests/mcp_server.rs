//! The MCP server at `/mcp` end to end: the real `autonoma serve`, a scripted
//! OpenAI-compatible provider, and the official MCP Python SDK as the client
//! (`tests/mcp/client.py`), in the sessionless 2026-07-28 revision (`server/discover`) and
//! in 2025-11-25 (`initialize`).
//!
//! The SDK is installed on first use into a virtual environment outside the repository,
//! `$AUTONOMA_MCP_VENV` or `~/.cache/autonoma/venv-mcp`, from `tests/mcp/requirements.txt`
//! (pinned); a marker file holding the requirements' text records a finished install.

mod common;

use std::process::Command;

use autonoma_core::model::Agent;
use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// Runs `tests/mcp/client.py` in `mode` and returns the report it prints.
fn run_client(url: &str, key: &str, mode: &str, tool: &str, foreign_tool: &str) -> Value {
    let python = sdk_python();
    let out = Command::new(python)
        .arg(workspace().join("tests/mcp/client.py"))
        .args(["--url", url, "--key", key, "--mode", mode, "--tool", tool])
        .args([
            "--message",
            "What is 17*23?",
            "--foreign-tool",
            foreign_tool,
        ])
        .output()
        .expect("running tests/mcp/client.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client.py --mode {mode} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {stdout}"))
}

/// Creates an agent named `name` with the calculator; returns it.
async fn agent(user: &User, provider: &str, name: &str, description: &str) -> Agent {
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": name, "description": description, "provider_id": provider, "model": "scripted",
            "instructions": "You are helpful.", "tools": ["calculator"],
            "limits": {"max_steps": 5, "max_output_tokens": 256, "timeout_secs": 60}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

fn assert_challenge(report: &Value, base: &str) {
    for label in ["bad_key", "no_key"] {
        let u = &report["unauthorized"][label];
        assert_eq!(u["status"], 401, "{label}: {u}");
        let challenge = u["www_authenticate"].as_str().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ")
                && challenge.contains(&format!(
                    r#"resource_metadata="{base}/.well-known/oauth-protected-resource""#
                )),
            "{label}: {challenge}"
        );
        assert_eq!(u["content_type"], "application/problem+json", "{label}");
        assert_eq!(u["body"]["code"], "unauthenticated", "{label}");
    }
    assert!(report["unauthorized"]["bad_key"]["www_authenticate"]
        .as_str()
        .unwrap()
        .contains(r#"error="invalid_token""#));
    let meta = &report["resource_metadata"];
    assert_eq!(meta["status"], 200, "{meta}");
    assert_eq!(meta["body"]["resource"], format!("{base}/mcp"));
    assert_eq!(meta["body"]["bearer_methods_supported"], json!(["header"]));
    assert!(meta["body"].get("authorization_servers").is_none());
    let docs = &report["resource_documentation"];
    assert_eq!(docs["status"], 200, "{docs}");
    assert_eq!(docs["content_type"], "text/markdown; charset=utf-8");
    assert_eq!(docs["has_server_section"], true);
}

#[tokio::test]
async fn python_sdk_lists_and_calls_agents_in_both_revisions() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
    ]);
    let server = Server::start();
    let alice = User::sign_up(&server, "mcp-alice@example.com").await;
    let provider = alice.scripted_provider(&llm.base_url()).await;
    let math = agent(
        &alice,
        &provider,
        "Math Helper",
        "Answers arithmetic questions with the calculator.",
    )
    .await;
    let tool = autonoma_functions::mcp::tool_name(&math);
    // Another organization's agent: never listed to Alice, and not callable by her.
    let bob = User::sign_up(&server, "mcp-bob@example.com").await;
    let bob_provider = bob.scripted_provider(&llm.base_url()).await;
    let secret = agent(&bob, &bob_provider, "Secret Agent", "Bob's own.").await;
    let foreign = autonoma_functions::mcp::tool_name(&secret);
    let url = server.url("/mcp");

    let mut runs = Vec::new();
    for (mode, version) in [("modern", "2026-07-28"), ("legacy", "2025-11-25")] {
        let r = tokio::task::spawn_blocking({
            let (url, key, tool, foreign) = (
                url.clone(),
                alice.api_key.clone(),
                tool.clone(),
                foreign.clone(),
            );
            move || run_client(&url, &key, mode, &tool, &foreign)
        })
        .await
        .unwrap();
        assert_eq!(r["protocol_version"], version, "{mode}: {r}");
        assert_eq!(r["server_name"], "autonoma", "{mode}");
        assert_eq!(r["has_tools_capability"], true, "{mode}");

        // tools/list: Alice's agent, as a tool with its schema and hints; not Bob's.
        let tools = r["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 1, "{mode}: {tools:?}");
        let t = &tools[0];
        assert_eq!(t["name"], tool.as_str(), "{mode}");
        assert!(tool.starts_with("math-helper-"), "{tool}");
        assert_eq!(t["title"], "Math Helper");
        assert_eq!(
            t["description"],
            "Answers arithmetic questions with the calculator."
        );
        assert_eq!(t["inputSchema"]["required"], json!(["message"]));
        assert_eq!(t["inputSchema"]["properties"]["message"]["type"], "string");
        assert_eq!(
            t["inputSchema"]["properties"]["thread_id"]["format"],
            "uuid"
        );
        assert_eq!(t["annotations"]["readOnlyHint"], false);
        assert_eq!(t["annotations"]["openWorldHint"], true);

        // tools/call: a real run, its steps as progress, the answer and the run id back.
        let call = &r["call"];
        assert_eq!(call["isError"], false, "{mode}: {call}");
        assert_eq!(call["content"][0]["type"], "text");
        assert_eq!(
            call["content"][0]["text"], "17 × 23 = 391",
            "{mode}: {call}"
        );
        let s = &call["structuredContent"];
        assert_eq!(s["status"], "completed", "{mode}: {s}");
        assert_eq!(s["output"], "17 × 23 = 391");
        let run_id = s["run_id"].as_str().unwrap().to_string();
        assert!(s["thread_id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .is_ok());
        let progress = r["progress"].as_array().unwrap();
        let messages: Vec<&str> = progress
            .iter()
            .map(|p| p["message"].as_str().unwrap())
            .collect();
        assert!(
            messages.contains(&r#"step 1: calling calculator {"expression":"17*23"}"#)
                && messages.contains(&"step 1: calculator returned 391")
                && messages.contains(&"step 2: the agent answered")
                && messages.last() == Some(&"run completed"),
            "{mode}: {messages:?}"
        );
        let values: Vec<f64> = progress
            .iter()
            .map(|p| p["progress"].as_f64().unwrap())
            .collect();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "{mode}: progress grows: {values:?}"
        );

        // Arguments that miss `message`: a tool error the model can read, no run.
        let bad = &r["bad_arguments"];
        assert_eq!(bad["isError"], true, "{mode}: {bad}");
        assert!(bad["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("message"));
        // Bob's agent: an unknown tool to Alice (invalid params), and nothing ran.
        let f = &r["foreign_call"]["error"];
        assert_eq!(f["code"], -32602, "{mode}: {}", r["foreign_call"]);
        assert!(f["message"].as_str().unwrap().contains("unknown tool"));

        // server/discover over raw HTTP: the sessionless revision and the legacy ones.
        let d = &r["discover"];
        assert_eq!(d["status"], 200, "{d}");
        let versions = d["body"]["result"]["supportedVersions"].as_array().unwrap();
        assert!(versions.contains(&json!("2026-07-28")) && versions.contains(&json!("2025-11-25")));
        assert_challenge(&r, &server.base);
        runs.push(run_id);
    }
    assert_ne!(runs[0], runs[1], "each call is a run of its own");

    // The runs are Alice's real runs of her agent, and hidden from Bob.
    for id in &runs {
        let run: Value = alice
            .get(&format!("/api/v1/runs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(run["status"], "completed");
        assert_eq!(run["agent_id"], math.id.to_string());
        assert_eq!(run["input"], "What is 17*23?");
        assert_eq!(run["output"], "17 × 23 = 391");
        let res = bob.get(&format!("/api/v1/runs/{id}")).send().await.unwrap();
        assert_eq!(res.status(), 404);
    }
    let bob_runs: Value = bob
        .get("/api/v1/runs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bob_runs["items"], json!([]), "Bob's agent never ran");
    // Two tool steps and two answers: the model was called twice per MCP call.
    assert_eq!(llm.requests().len(), 4);
}

#[tokio::test]
async fn transport_limits_and_the_edge() {
    let server = Server::start_with(&[("AUTONOMA_ORIGIN_VERIFY", "mcp-edge-secret")]);
    let http = reqwest::Client::new();
    let edge = |rb: reqwest::RequestBuilder| rb.header("x-origin-verify", "mcp-edge-secret");
    let user = {
        // Sign up through the edge (the origin refuses everything else).
        let cookie_http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = edge(cookie_http.post(server.url("/api/v1/auth/signup")))
            .json(&json!({ "email": "mcp-edge@example.com", "password": "correct horse battery", "name": "Edge" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let me: Value = res.json().await.unwrap();
        let res = edge(cookie_http.post(server.url("/api/v1/api-keys")))
            .header("x-csrf-token", me["csrf_token"].as_str().unwrap())
            .json(&json!({ "name": "mcp" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Around the edge: refused before authentication.
    let res = http
        .post(server.url("/mcp"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = http
        .get(server.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Through the edge: the challenge and the metadata name the host the viewer used.
    let res = edge(http.post(server.url("/mcp")))
        .header("x-forwarded-host", "agents.example.com")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer resource_metadata="https://agents.example.com/.well-known/oauth-protected-resource""#
    );
    let meta: Value = edge(http.get(server.url("/.well-known/oauth-protected-resource/mcp")))
        .header("x-forwarded-host", "agents.example.com")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["resource"], "https://agents.example.com/mcp");
    assert_eq!(
        meta["resource_documentation"],
        "https://agents.example.com/api/docs/mcp"
    );

    // Stateless: no server-to-client stream to open (405), and no session id is handed out.
    let res = edge(http.get(server.url("/mcp")))
        .bearer_auth(&user)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let res = edge(http.post(server.url("/mcp")))
        .bearer_auth(&user)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("mcp-session-id").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");

    // The API's 1 MiB body limit holds for /mcp too.
    let huge = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"pad": "x".repeat(1024 * 1024)}});
    let res = edge(http.post(server.url("/mcp")))
        .bearer_auth(&user)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}
