//! Capability tokens through the real server: every claim of a run mints a token whose
//! identity (never the token) is in the run's events, its signed receipt and the audit log,
//! signed with the configured capability key (not the audit key); and the token checks the
//! arguments a call actually runs with, so an approver's edit that a signed rule denies is
//! refused even though the policy gate (which decides on the model's arguments) let the
//! call through.

mod common;

use std::time::Duration;

use autonoma_core::capability::CapabilityKey;
use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

const LIMITS: &str = r#"{"max_steps": 5, "max_output_tokens": 256, "timeout_secs": 60}"#;

async fn create_agent(user: &User, provider: &str, policies: Value) -> String {
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "Calc", "provider_id": provider, "model": "scripted",
            "tools": ["calculator", "current_time"],
            "tool_policies": policies,
            "limits": serde_json::from_str::<Value>(LIMITS).unwrap()
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn get_json(user: &User, path: &str) -> Value {
    let res = user.get(path).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// Polls the run until it has status `want` (30 s at most).
async fn wait_status(user: &User, run_id: &str, want: &str) {
    for _ in 0..600 {
        if get_json(user, &format!("/api/v1/runs/{run_id}")).await["status"] == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id} never reached {want}");
}

/// The audit entries of `action`, newest first, once `run.finish` of the newest run is in.
async fn audit_entries(user: &User, action: &str) -> Vec<Value> {
    for _ in 0..100 {
        let page = get_json(user, "/api/v1/audit?limit=100").await;
        if page["items"][0]["action"] == "run.finish" {
            return page["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == action)
                .cloned()
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run.finish never reached the audit log");
}

#[tokio::test]
async fn each_run_gets_a_token_named_in_its_events_receipt_and_audit_log() {
    let key = CapabilityKey::from_seed([42u8; 32]);
    let seed_b64 = key.seed_base64();
    let key_id = key.key_id().to_string();
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
    ]);
    let server = Server::start_with(&[("AUTONOMA_CAPABILITY_KEY", &seed_b64)]);
    let user = User::sign_up(&server, "tokens@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    // The organization forbids current_time outright: it is left out of the token.
    let res = user
        .post("/api/v1/policies")
        .json(&json!({"tool": "current_time", "action": "deny"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let agent = create_agent(&user, &provider, json!([])).await;
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    let events = user.events(&run_id, None).await;
    assert_eq!(events.last().unwrap().2["output"], "17 × 23 = 391");

    let issued: Vec<&Value> = events
        .iter()
        .filter(|e| e.1 == "capability_issued")
        .map(|e| &e.2)
        .collect();
    assert_eq!(issued.len(), 1, "one claim, one token: {events:?}");
    let token_id = issued[0]["token_id"].as_str().unwrap().to_string();
    assert_eq!(token_id.len(), 128, "hex of an Ed25519 signature");
    assert_eq!(issued[0]["key_id"], key_id.as_str());
    assert_eq!(issued[0]["tools"], json!(["calculator"]));
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(issued[0]["expires_at"].clone()).unwrap();
    assert!(
        expires <= chrono::Utc::now() + chrono::Duration::seconds(60 + 60 + 1),
        "wall time (60 s) + slack (60 s) at most"
    );
    // The token itself is nowhere in what clients can read.
    let all_events =
        serde_json::to_string(&events.iter().map(|e| &e.2).collect::<Vec<_>>()).unwrap();
    assert!(
        !all_events.contains("\"token\""),
        "no token member in events"
    );

    // The signed receipt names the token, with the capability key's id (not the audit key's).
    let receipt = get_json(&user, &format!("/api/v1/runs/{run_id}/receipt")).await;
    let caps = receipt["receipt"]["capabilities"].as_array().unwrap();
    assert_eq!(caps.len(), 1);
    assert_eq!(caps[0]["token_id"], token_id.as_str());
    assert_eq!(caps[0]["key_id"], key_id.as_str());
    let audit_key = reqwest::get(server.url("/.well-known/autonoma/audit-key"))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_ne!(audit_key["key_id"], key_id.as_str(), "separate keys");
    assert_eq!(receipt["receipt"]["key_id"], audit_key["key_id"]);

    // The audit log has the mint, by the system, naming the run and the token.
    let minted = audit_entries(&user, "capability.issue").await;
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0]["target"], run_id.as_str());
    assert_eq!(minted[0]["actor"]["kind"], "system");
    assert_eq!(minted[0]["details"]["token_id"], token_id.as_str());
    assert_eq!(minted[0]["details"]["tools"], json!(["calculator"]));
}

#[tokio::test]
async fn the_token_refuses_an_approved_edit_that_a_signed_rule_denies() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("capability token").reply_text("The call was refused."),
        Rule::after_any_tool_result().reply_text("The tool ran."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "edits@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    // Divisions are denied; every other calculator call needs a person's approval.
    let agent = create_agent(
        &user,
        &provider,
        json!([
            {"tool": "calculator", "action": "deny", "when": "args.expression.contains('/')"},
            {"tool": "calculator", "action": "require_approval"}
        ]),
    )
    .await;
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_status(&user, &run_id, "waiting_approval").await;
    let inbox = get_json(&user, "/api/v1/approvals?status=pending").await;
    let id = inbox["items"][0]["id"].as_str().unwrap().to_string();
    // The approver substitutes a division: the gate decided on the model's arguments and
    // runs the approved edit, but the token's signed rule agent:0 denies it.
    let res = user
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .json(&json!({"arguments": {"expression": "1/0"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let events = user.events(&run_id, None).await;

    let decision = events.iter().find(|e| e.1 == "policy_decision").unwrap();
    assert_eq!(decision.2["decision"], "require_approval");
    assert_eq!(decision.2["rule"], "agent:1");
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert_eq!(result.2["is_error"], true);
    assert_eq!(
        result.2["output"],
        "the call to 'calculator' was refused: the capability token's rule agent:0 denies this call"
    );
    assert_eq!(events.last().unwrap().1, "completed");
    assert_eq!(events.last().unwrap().2["output"], "The call was refused.");

    // Claimed twice (start, resume after the decision): two tokens, two identities.
    let issued: Vec<&str> = events
        .iter()
        .filter(|e| e.1 == "capability_issued")
        .map(|e| e.2["token_id"].as_str().unwrap())
        .collect();
    assert_eq!(issued.len(), 2, "{events:?}");
    assert_ne!(issued[0], issued[1]);
    let receipt = get_json(&user, &format!("/api/v1/runs/{run_id}/receipt")).await;
    let caps: Vec<&str> = receipt["receipt"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["token_id"].as_str().unwrap())
        .collect();
    assert_eq!(caps, issued);
    let call = &receipt["receipt"]["tool_calls"][0];
    assert_eq!(call["approval"]["approved"], true);
    assert_eq!(call["outcome"]["is_error"], true);

    // The refusal is in the audit log as a refused tool call.
    let calls = audit_entries(&user, "tool.call").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["details"]["outcome"], "refused");
    assert_eq!(calls[0]["target"], run_id.as_str());
}

#[tokio::test]
async fn a_rule_added_while_the_run_is_parked_is_in_the_token_minted_at_its_resume() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("capability token").reply_text("The call was refused."),
        Rule::after_any_tool_result().reply_text("The tool ran."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "tighten@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let policy = |body: Value| {
        let req = user.post("/api/v1/policies").json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let ask =
        policy(json!({"tool": "calculator", "action": "require_approval", "priority": 100})).await;
    let agent = create_agent(&user, &provider, json!([])).await;
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_status(&user, &run_id, "waiting_approval").await;
    // While it waits, the organization forbids multiplications, ahead of the rule that
    // asked for the approval.
    let deny = policy(json!({
        "tool": "calculator", "action": "deny", "when": "args.expression.contains('*')",
        "priority": 10
    }))
    .await;
    let inbox = get_json(&user, "/api/v1/approvals?status=pending").await;
    let id = inbox["items"][0]["id"].as_str().unwrap().to_string();
    let res = user
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let events = user.events(&run_id, None).await;

    // The gate's recorded decision (the old rule) stands; the resume's token carries the
    // new rule and refuses the approved call.
    let decision = events.iter().find(|e| e.1 == "policy_decision").unwrap();
    assert_eq!(decision.2["rule"], format!("org:{ask}"));
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert_eq!(result.2["is_error"], true);
    assert_eq!(
        result.2["output"],
        format!(
            "the call to 'calculator' was refused: the capability token's rule org:{deny} denies this call"
        )
    );
    assert_eq!(events.last().unwrap().2["output"], "The call was refused.");
    assert_eq!(
        events.iter().filter(|e| e.1 == "capability_issued").count(),
        2
    );
}
