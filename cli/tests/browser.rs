//! Browser end to end: the real server, the scripted provider, and headless Chromium driven
//! by Playwright (`tests/e2e/chat.mjs`). Screenshots go to `$AUTONOMA_TEST_OUTPUT/e2e`
//! (default `<workspace>/test-output/e2e`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::Server;

/// The workspace root (the parent of `cli/`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `tests/e2e/<script>` with node against `server` (plus `env`), screenshots in
/// `$AUTONOMA_TEST_OUTPUT/<out_name>` (emptied first); asserts it succeeded and returns
/// that folder.
fn run_e2e(server: &Server, script: &str, out_name: &str, env: &[(&str, String)]) -> PathBuf {
    let workspace = workspace();
    let out = std::env::var("AUTONOMA_TEST_OUTPUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("test-output"))
        .join(out_name);
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new("node")
        .arg(script)
        .current_dir(workspace.join("tests/e2e"))
        .env("BASE_URL", &server.base)
        .env("OUT_DIR", &out)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .status()
        .expect("run node");
    assert!(
        status.success(),
        "browser test failed; screenshots in {}",
        out.display()
    );
    out
}

#[test]
fn sign_up_create_agent_chat_and_see_tool_step() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
    ]);
    let server = Server::start();
    let e2e = workspace().join("tests/e2e");
    assert!(
        e2e.join("node_modules/playwright-core").exists(),
        "run `npm ci` in tests/e2e (scripts/setup.sh does)"
    );
    let out = run_e2e(
        &server,
        "chat.mjs",
        "e2e",
        &[("SCRIPTED_URL", llm.base_url())],
    );
    assert!(out.join("05-chat-answer.png").exists());
    assert!(out.join("07-login-rate-limited.png").exists());
}

/// Knowledge bases in the browser (`tests/e2e/knowledge.mjs`): create a base, drag and drop
/// ARCHITECTURE.md, watch the progress bar until "ready" (real all-MiniLM-L6-v2 on the
/// in-process GPU job consumer; candle on the CPU in CI, where the only adapter is lavapipe), refused files, a plain-form upload, search, and
/// attaching the base to an agent. Screenshots in `$AUTONOMA_TEST_OUTPUT/e2e-knowledge`.
#[test]
fn knowledge_base_upload_progress_and_search() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let server = Server::start();
    let doc = workspace().join("ARCHITECTURE.md").display().to_string();
    let out = run_e2e(
        &server,
        "knowledge.mjs",
        "e2e-knowledge",
        &[("DOC_PATH", doc)],
    );
    assert!(out.join("06-ready.png").exists() && out.join("08-search.png").exists());
}

/// Governed tools in the browser (`tests/e2e/approvals.mjs`): an agent whose calculator
/// multiplications need approval stops at the call, a person approves it in the inbox from
/// another tab, and the answer streams into the chat. Screenshots in
/// `$AUTONOMA_TEST_OUTPUT/e2e-approvals`.
#[test]
fn a_tool_call_waits_for_approval_in_the_inbox_and_the_answer_streams() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
        Rule::after_tool_result("simulated")
            .reply_text("I would multiply 17 by 23 with the calculator."),
    ]);
    let server = Server::start();
    let out = run_e2e(
        &server,
        "approvals.mjs",
        "e2e-approvals",
        &[("SCRIPTED_URL", llm.base_url())],
    );
    assert!(out.join("06-chat-answer.png").exists());
}

/// MCP servers in the browser (`tests/e2e/mcp.mjs`): the empty state, a refused stdio
/// command with its error, server-everything over stdio with its tools, annotations and
/// input schema, and deleting it. Screenshots in `$AUTONOMA_TEST_OUTPUT/e2e-mcp`.
#[test]
fn mcp_servers_page_adds_a_stdio_server_and_shows_its_tools() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let everything = autonoma_testkit::mcp_servers::everything_command();
    let server = Server::start_with(&[("AUTONOMA_MCP_ALLOW_STDIO", "true")]);
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let out = std::env::var("AUTONOMA_TEST_OUTPUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| workspace.join("test-output"))
        .join("e2e-mcp");
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new("node")
        .arg("mcp.mjs")
        .current_dir(workspace.join("tests/e2e"))
        .env("BASE_URL", &server.base)
        .env("MCP_COMMAND", &everything.command)
        .env("MCP_ARGS", serde_json::to_string(&everything.args).unwrap())
        .env("OUT_DIR", &out)
        .status()
        .expect("run node");
    assert!(
        status.success(),
        "browser test failed; screenshots in {}",
        out.display()
    );
    assert!(out.join("03-tools.png").exists() && out.join("05-deleted.png").exists());
}
