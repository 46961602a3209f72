//! The audit log through the real server: security-relevant actions (sign-up, failed and
//! successful logins, API keys, agents, runs) appear in `/api/v1/audit` (admin+ only, each
//! organization seeing only its own), the export verifies offline with
//! `autonoma audit verify`, which names the first broken entry of a tampered file, and a
//! run's receipt verifies with the key of `/.well-known/autonoma/audit-key`.

mod common;

use std::process::Command;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// Runs `autonoma audit <args>`; (success, stdout, stderr).
fn audit_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_autonoma"))
        .arg("audit")
        .args(args)
        .output()
        .expect("run autonoma audit");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_audit_log_records_actions_exports_and_verifies_offline() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("hello")]);
    let server = Server::start();
    let a = User::sign_up(&server, "a@example.com").await;
    let b = User::sign_up(&server, "b@example.com").await;
    let http = reqwest::Client::new();
    let login = |password: &'static str| {
        http.post(server.url("/api/v1/auth/login"))
            .json(&json!({ "email": "a@example.com", "password": password }))
            .send()
    };
    assert_eq!(login("wrong password!").await.unwrap().status(), 401);
    assert_eq!(login("correct horse battery").await.unwrap().status(), 200);
    let provider = a.scripted_provider(&llm.base_url()).await;
    let agent = a
        .agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60}),
        )
        .await;
    let run = a.start_run(agent["id"].as_str().unwrap(), "hi", None).await;
    let run_id = run["id"].as_str().unwrap();
    a.events(run_id, None).await;

    // The log, newest first, with the actions in the order they happened. `run.finish` is
    // appended just after the run's terminal event, so wait for it.
    let mut page: Value = Value::Null;
    for _ in 0..100 {
        page = a
            .get("/api/v1/audit?limit=100")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["items"][0]["action"] == "run.finish" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let actions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "auth.sign_up",
            "api_key.create",
            "auth.login_failed",
            "auth.login",
            "agent.create",
            "run.start",
            "capability.issue",
            "run.finish"
        ]
    );
    let items = page["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["org_id"] == a.org_id.as_str()));
    let key_entry = &items[6];
    assert_eq!(key_entry["details"]["role"], "owner");
    assert!(
        !key_entry.to_string().contains(&a.api_key),
        "no secret in the log"
    );
    assert_eq!(items[2]["actor"]["kind"], "api_key");
    assert_eq!(items[2]["target"], run_id);
    // The run's capability token, by its identity only, signed by the executor (system).
    assert_eq!(items[1]["actor"]["kind"], "system");
    assert_eq!(items[1]["target"], run_id);
    assert_eq!(items[1]["details"]["tools"], json!([]));
    assert!(items[1]["details"]["token_id"].as_str().unwrap().len() >= 64);
    assert_eq!(items[0]["actor"]["kind"], "system");
    assert_eq!(items[0]["details"]["status"], "completed");
    // Filters: an action prefix, and pages.
    let auth: Value = a
        .get("/api/v1/audit?action=auth.*")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(auth["items"].as_array().unwrap().len(), 3);
    let first: Value = a
        .get("/api/v1/audit?limit=5")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest: Value = a
        .get(&format!("/api/v1/audit?limit=5&cursor={cursor}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert!(rest["next_cursor"].is_null());
    assert_problem(
        a.get("/api/v1/audit?cursor=nope").send().await.unwrap(),
        400,
        "invalid_query",
    )
    .await;

    // Another organization sees only its own entries.
    let other: Value = b
        .get("/api/v1/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = other["items"].as_array().unwrap();
    assert_eq!(other.len(), 2);
    assert!(other.iter().all(|e| e["org_id"] == b.org_id.as_str()));

    // Members and viewers may not read or export it.
    for role in ["member", "viewer"] {
        let res = a
            .post("/api/v1/api-keys")
            .json(&json!({ "name": role, "role": role }))
            .send()
            .await
            .unwrap();
        let secret = res.json::<Value>().await.unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_string();
        for path in ["/api/v1/audit", "/api/v1/audit/export"] {
            let res = http
                .get(server.url(path))
                .bearer_auth(&secret)
                .send()
                .await
                .unwrap();
            assert_problem(res, 403, "forbidden").await;
        }
    }

    // The export verifies offline with the served public key.
    let key: Value = http
        .get(server.url("/.well-known/autonoma/audit-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["algorithm"], "Ed25519");
    let public_key = key["public_key"].as_str().unwrap();
    let res = a.get("/api/v1/audit/export").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/jsonl");
    let export = res.text().await.unwrap();
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(
        lines.len(),
        10,
        "eight actions and the two keys just created"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let good = file("audit.jsonl", &export);
    let (ok, out, err) = audit_cli(&["verify", &good, "--public-key", public_key]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("10 entries") && out.contains(&a.org_id),
        "{out}"
    );
    // The key document itself (as a file) works as --public-key too.
    let key_file = file("key.json", &key.to_string());
    assert!(audit_cli(&["verify", &good, "--public-key", &key_file]).0);

    // Tampered copies: the first broken entry is named.
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited[2] = edited[2].replace("wrong_password", "other_reason");
    let (ok, _, err) = audit_cli(&[
        "verify",
        &file("edited.jsonl", &edited.join("\n")),
        "--public-key",
        public_key,
    ]);
    assert!(!ok);
    assert!(
        err.contains("entry seq 3") && err.contains("hash mismatch"),
        "{err}"
    );
    let mut dropped = lines.clone();
    dropped.remove(3);
    let (ok, _, err) = audit_cli(&[
        "verify",
        &file("dropped.jsonl", &dropped.join("\n")),
        "--public-key",
        public_key,
    ]);
    assert!(!ok);
    assert!(
        err.contains("entry seq 5") && err.contains("entry 4 is missing"),
        "{err}"
    );
    let mut reordered = lines.clone();
    reordered.swap(1, 2);
    let (ok, _, err) = audit_cli(&[
        "verify",
        &file("reordered.jsonl", &reordered.join("\n")),
        "--public-key",
        public_key,
    ]);
    assert!(!ok);
    assert!(
        err.contains("entry seq 3") && err.contains("reordered"),
        "{err}"
    );

    // The run's receipt verifies with the same key; viewers of another org get 404.
    let res = a
        .get(&format!("/api/v1/runs/{run_id}/receipt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let receipt: Value = res.json().await.unwrap();
    assert_eq!(receipt["receipt"]["run_id"], run_id);
    assert_eq!(receipt["receipt"]["end"]["event"], "completed");
    assert_eq!(receipt["receipt"]["key_id"], key["key_id"]);
    let receipt_file = file("receipt.json", &receipt.to_string());
    let (ok, out, err) = audit_cli(&["verify", &receipt_file, "--public-key", public_key]);
    assert!(ok && out.contains("receipt of run"), "{out}{err}");
    assert!(audit_cli(&["verify-receipt", &receipt_file, "--public-key", public_key]).0);
    let mut forged = receipt.clone();
    forged["receipt"]["status"] = json!("failed");
    let (ok, _, err) = audit_cli(&[
        "verify",
        &file("forged.json", &forged.to_string()),
        "--public-key",
        public_key,
    ]);
    assert!(!ok && err.contains("bad signature"), "{err}");
    assert!(!audit_cli(&["verify-receipt", &good, "--public-key", public_key]).0);
    assert_problem(
        b.get(&format!("/api/v1/runs/{run_id}/receipt"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}
