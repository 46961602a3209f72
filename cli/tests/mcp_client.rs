//! The MCP client end to end: `autonoma serve` connects to the MCP project's reference
//! servers (`server-everything` over stdio and over streamable HTTP, `server-filesystem`
//! over stdio on a temporary folder; installed from npm by `autonoma_testkit::mcp_servers`),
//! and a scripted agent lists, calls and gets results and errors from their tools; a server
//! that hangs or dies mid-call fails only that tool call.

mod common;

use std::time::{Duration, Instant};

use autonoma_testkit::mcp_servers::{everything_command, filesystem_command, EverythingHttp};
use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

const MCP_ENV: [(&str, &str); 2] = [
    ("AUTONOMA_MCP_ALLOW_STDIO", "true"),
    ("AUTONOMA_MCP_ALLOW_LOOPBACK", "true"),
];

async fn create_server(user: &User, body: Value) -> Value {
    let res = user
        .post("/api/v1/mcp-servers")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn tool<'a>(server: &'a Value, name: &str) -> &'a Value {
    server["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name} in {server}"))
}

/// An agent with these tools, every call allowed (explicit policy, so the test does not
/// depend on the default for tools that are not read-only).
async fn agent(user: &User, provider: &str, tools: &[&str], max_steps: u32) -> String {
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "MCP agent", "description": "d", "provider_id": provider, "model": "scripted",
            "instructions": "Use the tools.", "tools": tools,
            "tool_policies": [{"tool": "*", "action": "allow"}],
            "limits": {"max_steps": max_steps, "max_output_tokens": 256, "timeout_secs": 120}
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The `tool_result` event of the call of `name` whose arguments' JSON contains `args`.
fn result_of<'a>(events: &'a [(i64, String, Value)], name: &str, args: &str) -> &'a Value {
    let call = events
        .iter()
        .find(|e| {
            e.1 == "tool_call" && e.2["name"] == name && e.2["arguments"].to_string().contains(args)
        })
        .unwrap_or_else(|| panic!("no call of {name} with {args}: {events:?}"));
    &events
        .iter()
        .find(|e| e.1 == "tool_result" && e.2["call_id"] == call.2["call_id"])
        .unwrap_or_else(|| panic!("no result of {name}"))
        .2
}

#[tokio::test]
async fn agents_call_tools_of_stdio_and_http_servers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello from the filesystem").unwrap();
    let allowed = dir.path().canonicalize().unwrap();
    let hello = allowed.join("hello.txt").display().to_string();
    let http = EverythingHttp::start();

    let calls = [
        (
            "everything__echo",
            json!({"message": "hi there"}).to_string(),
        ),
        ("everything__get-env", "{}".to_string()),
        ("web__get-sum", json!({"a": 2, "b": 40}).to_string()),
        ("files__read_text_file", json!({"path": hello}).to_string()),
        (
            "files__list_directory",
            json!({"path": allowed.display().to_string()}).to_string(),
        ),
        (
            "files__read_text_file",
            json!({"path": "/etc/passwd"}).to_string(),
        ),
    ];
    let llm = ScriptedLlm::start(vec![
        Rule::after_any_tool_result().reply_text("all done"),
        Rule::when_user_contains("go").reply_tool_calls(calls.clone()),
    ]);
    let server = Server::start_with(&MCP_ENV);
    let user = User::sign_up(&server, "mcp@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;

    let everything = everything_command();
    let stdio = create_server(
        &user,
        json!({"name": "everything", "transport": "stdio", "command": everything.command,
               "args": everything.args, "env": {"MCP_TEST_MARKER": "only-this"}}),
    )
    .await;
    assert_eq!(stdio["transport"], "stdio");
    assert_eq!(stdio["env_names"], json!(["MCP_TEST_MARKER"]));
    assert!(
        stdio.get("env").is_none(),
        "env values are never returned: {stdio}"
    );
    let echo = tool(&stdio, "everything__echo");
    assert_eq!(echo["remote_name"], "echo");
    assert_eq!(echo["annotations"]["read_only_hint"], true);
    assert_eq!(
        echo["input_schema"]["properties"]["message"]["type"],
        "string"
    );

    let web = create_server(
        &user,
        json!({"name": "web", "transport": "streamable_http", "url": http.url,
               "bearer_token": "tok-secret-123", "headers": {"X-Extra": "hdr-secret-456"}}),
    )
    .await;
    assert_eq!(web["has_bearer_token"], true);
    assert_eq!(web["header_names"], json!(["x-extra"]));
    assert!(
        !web.to_string().contains("secret-"),
        "secrets are never returned: {web}"
    );
    assert_eq!(
        tool(&web, "web__get-sum")["annotations"]["read_only_hint"],
        true
    );

    let fs = filesystem_command(&allowed);
    let files = create_server(
        &user,
        json!({"name": "files", "transport": "stdio", "command": fs.command, "args": fs.args}),
    )
    .await;
    assert!(tool(&files, "files__write_file")["annotations"]["read_only_hint"] != true);
    tool(&files, "files__list_directory");

    // A second connection of the same name is refused; nothing is added.
    let res = user
        .post("/api/v1/mcp-servers")
        .json(&json!({"name": "web", "transport": "streamable_http", "url": http.url}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "conflict").await;
    let listed: Value = user
        .get("/api/v1/mcp-servers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);

    // Refreshing lists the same tools again.
    let id = web["id"].as_str().unwrap();
    let res = user
        .post(&format!("/api/v1/mcp-servers/{id}/tools/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(refreshed["tools"], web["tools"]);

    // Agents may name MCP tools, but only ones the organization has.
    let res = user
        .post("/api/v1/agents")
        .json(
            &json!({"name": "a", "provider_id": provider, "model": "scripted",
                      "tools": ["everything__no-such-tool"],
                      "limits": {"max_steps": 2, "max_output_tokens": 16, "timeout_secs": 10}}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    let names: Vec<&str> = calls.iter().map(|c| c.0).collect();
    let agent_id = agent(&user, &provider, &names, 4).await;

    let run = user.start_run(&agent_id, "go", None).await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    assert_eq!(events.last().unwrap().1, "completed", "{events:?}");

    let r = result_of(&events, "everything__echo", "hi there");
    assert_eq!(r["output"], "Echo: hi there");
    assert_eq!(r["is_error"], false);
    // The child's environment is exactly what was configured.
    let env = result_of(&events, "everything__get-env", "{}")["output"]
        .as_str()
        .unwrap();
    assert!(
        env.contains("MCP_TEST_MARKER") && env.contains("only-this"),
        "{env}"
    );
    assert!(
        !env.contains("AUTONOMA_") && !env.contains("\"PATH\"") && !env.contains("HOME"),
        "{env}"
    );
    let r = result_of(&events, "web__get-sum", "40");
    assert!(r["output"].as_str().unwrap().contains("42"), "{r}");
    assert_eq!(r["is_error"], false);
    let r = result_of(&events, "files__read_text_file", "hello.txt");
    assert_eq!(r["output"], "hello from the filesystem");
    let r = result_of(
        &events,
        "files__list_directory",
        &allowed.display().to_string(),
    );
    assert!(
        r["output"].as_str().unwrap().contains("[FILE] hello.txt"),
        "{r}"
    );
    let r = result_of(&events, "files__read_text_file", "/etc/passwd");
    assert_eq!(r["is_error"], true, "{r}");
    assert!(
        r["output"]
            .as_str()
            .unwrap()
            .contains("outside allowed directories"),
        "{r}"
    );
    assert!(!r["output"].as_str().unwrap().contains("root:"), "{r}");

    // Other organizations see none of it.
    let other = User::sign_up(&server, "other@example.com").await;
    let res = other
        .get(&format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let theirs: Value = other
        .get("/api/v1/mcp-servers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]));
    let res = other
        .delete(&format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;

    let res = user
        .delete(&format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = user
        .get(&format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
}

/// The pid of the process whose environment holds `marker` (the stdio child configured
/// with it).
fn pid_with_env(marker: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let environ = std::fs::read(e.path().join("environ")).ok()?;
        environ
            .split(|b| *b == 0)
            .any(|kv| kv == marker.as_bytes())
            .then_some(pid)
    })
}

#[tokio::test]
async fn a_hung_or_dead_server_fails_only_that_tool_call() {
    let marker = format!("MCP_TEST_DYING={}", std::process::id());
    let llm = ScriptedLlm::start(vec![
        Rule::after_tool_result("Echo: again").reply_text("recovered twice"),
        Rule::after_tool_result("failed during the call")
            .reply_tool_call("dying__echo", r#"{"message":"again"}"#),
        Rule::after_tool_result("Echo: after").reply_tool_call(
            "dying__trigger-long-running-operation",
            r#"{"duration":25,"steps":25}"#,
        ),
        Rule::after_tool_result("did not answer within 2 s")
            .reply_tool_call("slow__echo", r#"{"message":"after"}"#),
        Rule::when_user_contains("go").reply_tool_call(
            "slow__trigger-long-running-operation",
            r#"{"duration":20,"steps":2}"#,
        ),
    ]);
    let server = Server::start_with(&MCP_ENV);
    let user = User::sign_up(&server, "hang@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let everything = everything_command();
    create_server(
        &user,
        json!({"name": "slow", "transport": "stdio", "command": everything.command,
               "args": everything.args, "timeout_secs": 2}),
    )
    .await;
    let (name, value) = marker.split_once('=').unwrap();
    create_server(
        &user,
        json!({"name": "dying", "transport": "stdio", "command": everything.command,
               "args": everything.args, "timeout_secs": 60, "env": {name: value}}),
    )
    .await;
    let agent_id = agent(
        &user,
        &provider,
        &[
            "slow__trigger-long-running-operation",
            "slow__echo",
            "dying__trigger-long-running-operation",
            "dying__echo",
        ],
        6,
    )
    .await;
    let run = user.start_run(&agent_id, "go", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();

    // Kill the `dying` server once its long call is under way.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = user.events_so_far(&run_id).await;
        if events
            .iter()
            .any(|e| e.1 == "tool_call" && e.2["name"] == "dying__trigger-long-running-operation")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the long call never started: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = pid_with_env(&marker).expect("the dying server's process");
    let killed = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let events = user.events(&run_id, None).await;
    assert_eq!(events.last().unwrap().1, "completed", "{events:?}");
    assert_eq!(events.last().unwrap().2["output"], "recovered twice");

    let hung = result_of(&events, "slow__trigger-long-running-operation", "20");
    assert_eq!(hung["is_error"], true);
    assert!(
        hung["output"]
            .as_str()
            .unwrap()
            .contains("did not answer within 2 s"),
        "{hung}"
    );
    // The next call to the same connection starts a fresh session.
    let r = result_of(&events, "slow__echo", "after");
    assert_eq!(
        (r["output"].as_str(), r["is_error"].as_bool()),
        (Some("Echo: after"), Some(false))
    );

    let dead = result_of(&events, "dying__trigger-long-running-operation", "25");
    assert_eq!(dead["is_error"], true);
    assert!(
        dead["output"]
            .as_str()
            .unwrap()
            .contains("failed during the call"),
        "{dead}"
    );
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "the dead server's call failed at once"
    );
    let r = result_of(&events, "dying__echo", "again");
    assert_eq!(
        (r["output"].as_str(), r["is_error"].as_bool()),
        (Some("Echo: again"), Some(false))
    );
}

#[tokio::test]
async fn bad_connections_are_refused_and_nothing_is_written() {
    // Default settings: no stdio, no loopback.
    let server = Server::start();
    let user = User::sign_up(&server, "bad@example.com").await;
    let everything = everything_command();
    let cases = [
        (
            json!({"name": "x", "transport": "sse", "url": "https://example.com/mcp"}),
            "transport",
        ),
        (json!({"name": "x", "transport": "stdio"}), "command"),
        (
            json!({"name": "x", "transport": "stdio", "command": "node"}),
            "command",
        ),
        (json!({"name": "x", "transport": "streamable_http"}), "url"),
        (
            json!({"name": "x", "transport": "streamable_http", "url": "ftp://example.com"}),
            "url",
        ),
        (
            json!({"name": "Not A Slug", "transport": "streamable_http", "url": "https://example.com/mcp"}),
            "name",
        ),
        (
            json!({"name": "x", "transport": "stdio", "command": everything.command, "args": everything.args}),
            "transport",
        ),
        (
            json!({"name": "x", "transport": "streamable_http", "url": "http://169.254.169.254/latest/meta-data/"}),
            "url",
        ),
        (
            json!({"name": "x", "transport": "streamable_http", "url": "http://10.1.2.3:8080/mcp"}),
            "url",
        ),
        (
            json!({"name": "x", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"}),
            "url",
        ),
        (
            json!({"name": "x", "transport": "streamable_http", "url": "http://[::1]:9/mcp"}),
            "url",
        ),
        (
            json!({"name": "x", "transport": "streamable_http", "url": "https://example.com/mcp", "timeout_secs": 0}),
            "timeout_secs",
        ),
        (
            json!({"name": "x", "transport": "streamable_http", "url": "https://example.com/mcp", "command": "/bin/sh"}),
            "command",
        ),
    ];
    for (body, field) in cases {
        let res = user
            .post("/api/v1/mcp-servers")
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(problem["field"], field, "{body} → {problem}");
    }
    // A body that is not a connection at all.
    let res = user
        .post("/api/v1/mcp-servers")
        .json(&json!({"name": "x", "transport": "stdio", "shell": "rm -rf /"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let listed: Value = user
        .get("/api/v1/mcp-servers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]), "nothing was written");

    let doc: Value = reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/mcp-servers"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/mcp-servers/{id}/tools/refresh"]["post"].is_object());
    assert!(doc["components"]["schemas"]["McpServer"].is_object());
}
