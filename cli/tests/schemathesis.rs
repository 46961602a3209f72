//! The whole REST API against its own OpenAPI document, by Schemathesis (PyPI
//! `schemathesis`, pinned in `tests/schemathesis/requirements.txt`; settings in
//! `tests/schemathesis/schemathesis.toml`): property-based requests for every operation
//! with `--checks all` — no 5xx, every status code, content type and body as documented,
//! schema-valid requests accepted and schema-violating ones refused, auth not ignored — run
//! against a real `autonoma serve` twice: with an owner API key, and with a cookie session
//! (and its CSRF token).
//!
//! A fixed seed and a bounded number of examples per operation keep it deterministic and
//! short enough for CI (`AUTONOMA_SCHEMATHESIS_EXAMPLES`, default 15;
//! `AUTONOMA_SCHEMATHESIS_SEED`, default 7). docs/RELIABILITY.md has the longer command.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

/// Runs `st run` against `server` with the settings of `tests/schemathesis/schemathesis.toml`
/// plus `extra_config` (TOML), `headers`, and without the `exclude` operations (by name,
/// `"METHOD /path"`); panics with Schemathesis' report unless it passed.
fn schemathesis(
    server: &Server,
    label: &str,
    extra_config: &str,
    headers: &[(&str, String)],
    exclude: &[&str],
) {
    let python = venv_python(
        "AUTONOMA_SCHEMATHESIS_VENV",
        "venv-schemathesis",
        "tests/schemathesis/requirements.txt",
    );
    let st = python.with_file_name("st");
    let examples = std::env::var("AUTONOMA_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let seed = std::env::var("AUTONOMA_SCHEMATHESIS_SEED").unwrap_or_else(|_| "7".into());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    let base = std::fs::read_to_string(workspace().join("tests/schemathesis/schemathesis.toml"))
        .expect("reading tests/schemathesis/schemathesis.toml");
    std::fs::write(&config, format!("{base}\n{extra_config}\n")).unwrap();
    let mut cmd = Command::new(st);
    cmd.arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args([
            "--checks",
            "all",
            "--seed",
            &seed,
            "--max-examples",
            &examples,
        ])
        // One worker: Hypothesis' lambda-source cache is not thread-safe under Python 3.11
        // ("AST constructor recursion depth mismatch" with two).
        .args(["--no-color", "--workers", "1"]);
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    for op in exclude {
        cmd.arg("--exclude-name").arg(op);
    }
    let out = cmd.output().expect("running schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: String = report
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("schemathesis ({label}):\n{summary}");
    assert!(
        out.status.success(),
        "schemathesis ({label}) failed:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_conforms_to_its_openapi_document() {
    let server = Server::start_with(&[("AUTONOMA_GPU_WORKER", "false")]);
    let owner = User::sign_up(&server, "owner@example.com").await;

    // Something to find: a provider, an agent, a knowledge base and a policy, so that the
    // stateful phase has real ids to follow besides the ones it creates.
    let provider = owner.scripted_provider("http://127.0.0.1:9/v1").await;
    owner
        .agent(
            &provider,
            "scripted",
            &["calculator"],
            json!({"max_steps": 4, "max_output_tokens": 64, "timeout_secs": 30}),
        )
        .await;
    let res = owner
        .post("/api/v1/policies")
        .json(&json!({"tool": "http_fetch", "action": "require_approval"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // A cookie session of the same owner, for the second pass.
    let http = reqwest::Client::new();
    let res = http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "owner@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let session = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.split_once('=').map(|(_, token)| token.to_string()))
        .expect("a session cookie");
    let me: serde_json::Value = res.json().await.unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_string();

    let key = owner.api_key.clone();
    tokio::task::spawn_blocking(move || {
        // The API key pass leaves out revoking API keys (it could revoke its own).
        schemathesis(
            &server,
            "API key",
            "",
            &[("Authorization", format!("Bearer {key}"))],
            &["DELETE /api/v1/api-keys/{id}"],
        );
        // The cookie pass goes through the document's `session` scheme (the cookie) and
        // leaves out signing up, logging in and out: their answers set or clear the session
        // cookie, which would replace the one under test.
        schemathesis(
            &server,
            "cookie session",
            &format!("[auth.openapi.session]\napi_key = \"{session}\""),
            &[("X-CSRF-Token", csrf)],
            &[
                "POST /api/v1/auth/logout",
                "POST /api/v1/auth/login",
                "POST /api/v1/auth/signup",
            ],
        );
    })
    .await
    .unwrap();
}
