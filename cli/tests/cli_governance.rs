//! The governance commands of the CLI against a real server: `autonoma run --preflight`
//! prints the plan (table and JSON), `autonoma run --follow-preflight` runs it and reports
//! the wait for approval, and `autonoma approvals list / approve` decide it from another
//! terminal, after which the first command prints the answer; a second decision fails with
//! the server's 409.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// Runs `autonoma` with `args` against `server` as `user`; returns its output. (On a
/// blocking thread: the scripted model answers on this test's runtime.)
async fn cli(server: &Server, user: &User, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autonoma"));
    cmd.args(args)
        .env("AUTONOMA_SERVER", &server.base)
        .env("AUTONOMA_API_KEY", &user.api_key);
    tokio::task::spawn_blocking(move || cmd.output().expect("run the autonoma binary"))
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn preflight_run_and_approve_from_the_command_line() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
        Rule::after_tool_result("simulated").reply_text("I would multiply them."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "cli@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "Gated", "provider_id": provider, "model": "scripted", "tools": ["calculator"],
            "tool_policies": [{"tool": "calculator", "action": "require_approval"}],
            "limits": {"max_steps": 4, "max_output_tokens": 128, "timeout_secs": 60}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let agent = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let out = cli(
        &server,
        &user,
        &["run", "--agent", &agent, "--preflight", "What is 17*23?"],
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("require_approval") && stdout.contains("calculator"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[simulated]") && stdout.contains("plan hash: "),
        "{stdout}"
    );
    let out = cli(
        &server,
        &user,
        &[
            "run",
            "--agent",
            &agent,
            "--preflight",
            "--json",
            "What is 17*23?",
        ],
    )
    .await;
    assert!(out.status.success());
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["approvals_needed"], 1);
    let preflight_id = plan["id"].as_str().unwrap().to_string();

    // The plan for real, in the background: it stops for approval.
    let child = Command::new(env!("CARGO_BIN_EXE_autonoma"))
        .args([
            "run",
            "--agent",
            &agent,
            "--follow-preflight",
            &preflight_id,
        ])
        .env("AUTONOMA_SERVER", &server.base)
        .env("AUTONOMA_API_KEY", &user.api_key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    let mut approval = None;
    for _ in 0..600 {
        let page = get_json(&user, "/api/v1/approvals?status=pending").await;
        if let Some(a) = page["items"].as_array().and_then(|i| i.first()) {
            approval = Some(a["id"].as_str().unwrap().to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let approval = approval.expect("the run never asked for approval");

    let out = cli(&server, &user, &["approvals", "list"]).await;
    let listed = text(&out.stdout);
    assert!(out.status.success());
    assert!(
        listed.contains(&approval) && listed.contains("calculator"),
        "{listed}"
    );
    let out = cli(
        &server,
        &user,
        &["approvals", "approve", &approval, "--comment", "go ahead"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("approved"));

    let done = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the run command did not finish")
        .unwrap()
        .unwrap();
    let (stdout, stderr) = (text(&done.stdout), text(&done.stderr));
    assert!(done.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("17 × 23 = 391"), "{stdout}");
    assert!(
        stderr.contains("[waiting for approval") && stderr.contains("[approved: go ahead]"),
        "{stderr}"
    );

    // Deciding twice is the server's 409, reported with its detail.
    let out = cli(&server, &user, &["approvals", "deny", &approval]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("409"), "{}", text(&out.stderr));
}
