//! Tool policies and approvals end to end: a run that needs a person's approval parks as
//! `waiting_approval`, the inbox lists it, a decision resumes it from its recorded steps
//! (approve, approve with edited arguments, deny with a comment, expiry), it survives a
//! `kill -9`, and bad input is refused without writing anything.

mod common;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

const LIMITS: &str = r#"{"max_steps": 5, "max_output_tokens": 256, "timeout_secs": 60}"#;

/// An agent with the calculator whose multiplications need approval.
async fn gated_agent(user: &User, provider: &str) -> String {
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "Gated", "provider_id": provider, "model": "scripted",
            "tools": ["calculator"],
            "tool_policies": [
                {"tool": "calculator", "action": "require_approval", "when": "args.expression.contains('*')"}
            ],
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

fn multiply_llm() -> ScriptedLlm {
    ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
        Rule::after_tool_result("= 4").reply_text("It is 4."),
        Rule::after_tool_result("4").reply_text("It is 4."),
        Rule::after_tool_result("use addition").reply_text("Understood, no multiplying."),
        Rule::after_tool_result("expired").reply_text("Nobody answered in time."),
    ])
}

async fn pending(user: &User) -> Vec<Value> {
    let res = user
        .get("/api/v1/approvals?status=pending")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn key_with_role(user: &User, role: &str) -> String {
    let res = user
        .post("/api/v1/api-keys")
        .json(&json!({"name": role, "role": role}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_approval_parks_the_run_and_the_decision_resumes_it_without_calling_the_model_again() {
    let llm = multiply_llm();
    let server = Server::start();
    let user = User::sign_up(&server, "approver@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = gated_agent(&user, &provider).await;
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();

    wait_run_status(&user, &run_id, "waiting_approval").await;
    let so_far = user.events_so_far(&run_id).await;
    let decision = so_far.iter().find(|e| e.1 == "policy_decision").unwrap();
    assert_eq!(decision.2["decision"], "require_approval");
    assert_eq!(decision.2["rule"], "agent:0");
    assert!(so_far.iter().any(|e| e.1 == "approval_requested"));
    assert!(!so_far.iter().any(|e| e.1 == "tool_result"), "not run yet");
    assert_eq!(llm.request_count(), 1);

    let inbox = pending(&user).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let approval = &inbox[0];
    assert_eq!(approval["tool"], "calculator");
    assert_eq!(approval["arguments"]["expression"], "17*23");
    assert_eq!(approval["run_id"], run_id.as_str());
    let id = approval["id"].as_str().unwrap().to_string();

    // A viewer may look but not decide; another organization cannot even see it.
    let viewer = key_with_role(&user, "viewer").await;
    let res = reqwest::Client::new()
        .post(server.url(&format!("/api/v1/approvals/{id}/approve")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;
    let stranger = User::sign_up(&server, "stranger@example.com").await;
    let res = stranger
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    assert!(pending(&stranger).await.is_empty());
    assert_eq!(pending(&user).await.len(), 1, "still pending");

    let res = user
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .json(&json!({"comment": "fine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let decided: Value = res.json().await.unwrap();
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["comment"], "fine");
    for verb in ["approve", "deny"] {
        let res = user
            .post(&format!("/api/v1/approvals/{id}/{verb}"))
            .send()
            .await
            .unwrap();
        assert_problem(res, 409, "conflict").await;
    }

    let events = user.events(&run_id, None).await;
    assert_eq!(events.last().unwrap().1, "completed", "{events:?}");
    assert_eq!(events.last().unwrap().2["output"], "17 × 23 = 391");
    let decided = events.iter().find(|e| e.1 == "approval_decided").unwrap();
    assert_eq!(decided.2["approved"], true);
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert_eq!(result.2["output"], "391");
    assert_eq!(
        llm.request_count(),
        2,
        "step 1 is replayed from its events, not asked again"
    );
    assert_eq!(
        events.iter().filter(|e| e.1 == "tool_call").count(),
        1,
        "the tool call is recorded once"
    );
    assert_eq!(
        get_json(&user, &format!("/api/v1/runs/{run_id}")).await["status"],
        "completed"
    );

    // The decision, the tool call and the run's end are in the signed audit log.
    let audit: Value = user
        .get("/api/v1/audit?limit=100")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in ["approval.approve", "tool.call", "run.finish", "run.start"] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
}

#[tokio::test]
async fn a_denial_reaches_the_model_and_edited_arguments_are_what_runs() {
    let llm = multiply_llm();
    let server = Server::start();
    let user = User::sign_up(&server, "editor@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = gated_agent(&user, &provider).await;

    // Denied with a comment: the model gets it as the tool's (error) result and adapts.
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_run_status(&user, &run_id, "waiting_approval").await;
    let id = pending(&user).await[0]["id"].as_str().unwrap().to_string();
    let res = user
        .post(&format!("/api/v1/approvals/{id}/deny"))
        .json(&json!({"comment": "use addition instead", "arguments": {"expression": "1+1"}}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    let res = user
        .post(&format!("/api/v1/approvals/{id}/deny"))
        .json(&json!({"comment": "use addition instead"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events = user.events(&run_id, None).await;
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert_eq!(result.2["is_error"], true);
    assert!(
        result.2["output"]
            .as_str()
            .unwrap()
            .contains("use addition instead"),
        "{result:?}"
    );
    assert_eq!(
        events.last().unwrap().2["output"],
        "Understood, no multiplying."
    );

    // Approved with edited arguments: the tool runs those, and the edit is recorded.
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_run_status(&user, &run_id, "waiting_approval").await;
    let id = pending(&user).await[0]["id"].as_str().unwrap().to_string();
    let res = user
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .json(&json!({"arguments": "not an object"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    let res = user
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .json(&json!({"arguments": {"expression": "2+2"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events = user.events(&run_id, None).await;
    let decided = events.iter().find(|e| e.1 == "approval_decided").unwrap();
    assert_eq!(decided.2["edited_arguments"]["expression"], "2+2");
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert_eq!(result.2["output"], "4");
    assert_eq!(events.last().unwrap().2["output"], "It is 4.");

    // A multiplication-free call is allowed by the second half of the rule (no rule:
    // the calculator is read-only, so the default allows it).
    let approvals: Value = user
        .get("/api/v1/approvals")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = approvals["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["approved", "denied"], "newest first");
}

#[tokio::test]
async fn an_undecided_approval_expires_as_a_denial() {
    let llm = multiply_llm();
    let server = Server::start_with(&[("AUTONOMA_APPROVAL_TTL_SECS", "1")]);
    let user = User::sign_up(&server, "expiry@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = gated_agent(&user, &provider).await;
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    let events = user.events(&run_id, None).await;
    assert_eq!(events.last().unwrap().1, "completed", "{events:?}");
    let decided = events.iter().find(|e| e.1 == "approval_decided").unwrap();
    assert_eq!(decided.2["approved"], false);
    assert!(decided.2.get("decided_by").is_none());
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert!(result.2["output"].as_str().unwrap().contains("expired"));
    let approvals: Value = user
        .get("/api/v1/approvals?status=expired")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(approvals["items"].as_array().unwrap().len(), 1);
    let id = approvals["items"][0]["id"].as_str().unwrap();
    let res = user
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "conflict").await;
}

#[tokio::test]
async fn a_pending_approval_survives_kill_9_and_the_run_completes_after_approval() {
    let llm = multiply_llm();
    let mut first = Server::start();
    let user = User::sign_up(&first, "crash@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = gated_agent(&user, &provider).await;
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_run_status(&user, &run_id, "waiting_approval").await;
    first.kill();

    let env: Vec<(String, String)> = first.database_env();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let second = Server::start_with(&env_refs);
    let user = User {
        base: second.base.clone(),
        ..user
    };
    let inbox = pending(&user).await;
    assert_eq!(inbox.len(), 1);
    let id = inbox[0]["id"].as_str().unwrap();
    let res = user
        .post(&format!("/api/v1/approvals/{id}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let events = user.events(&run_id, None).await;
    assert_eq!(
        events.last().unwrap().2["output"],
        "17 × 23 = 391",
        "{events:?}"
    );
    assert_eq!(llm.request_count(), 2);
}

#[tokio::test]
async fn cancelling_a_parked_run_ends_it() {
    let llm = multiply_llm();
    let server = Server::start();
    let user = User::sign_up(&server, "cancel@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = gated_agent(&user, &provider).await;
    let run = user.start_run(&agent, "What is 17*23?", None).await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_run_status(&user, &run_id, "waiting_approval").await;
    let res = user
        .post(&format!("/api/v1/runs/{run_id}/cancel"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let events = user.events(&run_id, None).await;
    assert_eq!(events.last().unwrap().1, "cancelled", "{events:?}");
    assert_eq!(
        get_json(&user, &format!("/api/v1/runs/{run_id}")).await["status"],
        "cancelled"
    );
    // Its approval leaves the inbox, denied by whoever cancelled.
    assert_eq!(pending(&user).await, Vec::<Value>::new());
    let all = get_json(&user, "/api/v1/approvals").await;
    let approval = &all["items"][0];
    assert_eq!(
        (approval["status"].as_str(), approval["comment"].as_str()),
        (Some("denied"), Some("the run was cancelled"))
    );
    assert!(approval["decided_by"].is_string());
}

#[tokio::test]
async fn organization_policies_deny_and_bad_rules_are_refused_without_writes() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("time").reply_tool_call("current_time", r#"{}"#),
        Rule::after_tool_result("not allowed").reply_text("I may not look at the clock."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "policies@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;

    // Bad rules: unknown field, malformed CEL, a misplaced '*', out-of-range priority.
    for (body, code) in [
        (
            json!({"tool": "x", "action": "deny", "colour": "red"}),
            "invalid_body",
        ),
        (json!({"tool": "x", "action": "sometimes"}), "invalid_body"),
        (
            json!({"tool": "x", "action": "deny", "when": "args.a >"}),
            "validation_failed",
        ),
        (
            json!({"tool": "a*b", "action": "deny"}),
            "validation_failed",
        ),
        (
            json!({"tool": "x", "action": "deny", "priority": 5000}),
            "validation_failed",
        ),
    ] {
        let res = user
            .post("/api/v1/policies")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(res, 422, code).await;
    }
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "Bad", "provider_id": provider, "model": "scripted", "tools": ["calculator"],
            "tool_policies": [{"tool": "calculator", "action": "deny", "when": "(("}]
        }))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 422, "validation_failed").await;
    assert!(p.to_string().contains("tool_policies[0].when"), "{p}");
    let agents: Value = user
        .get("/api/v1/agents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        agents["items"].as_array().map_or(0, |a| a.len()),
        0,
        "{agents}"
    );
    let policies: Value = user
        .get("/api/v1/policies")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policies, json!([]));

    // Viewers read policies but cannot write them.
    let viewer = key_with_role(&user, "viewer").await;
    let res = reqwest::Client::new()
        .post(server.url("/api/v1/policies"))
        .bearer_auth(&viewer)
        .json(&json!({"tool": "*", "action": "deny"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;

    // An organization rule denies the clock for every agent.
    let res = user
        .post("/api/v1/policies")
        .json(&json!({"tool": "current_time", "action": "deny", "description": "no clocks"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let policy: Value = res.json().await.unwrap();
    let agent = user
        .agent(
            &provider,
            "scripted",
            &["current_time"],
            serde_json::from_str(LIMITS).unwrap(),
        )
        .await;
    let run = user
        .start_run(agent["id"].as_str().unwrap(), "What time is it?", None)
        .await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    let decision = events.iter().find(|e| e.1 == "policy_decision").unwrap();
    assert_eq!(decision.2["decision"], "deny");
    assert_eq!(
        decision.2["rule"],
        format!("org:{}", policy["id"].as_str().unwrap())
    );
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert_eq!(result.2["is_error"], true);
    assert_eq!(
        events.last().unwrap().2["output"],
        "I may not look at the clock."
    );

    // Update and delete.
    let pid = policy["id"].as_str().unwrap();
    let res = user
        .put(&format!("/api/v1/policies/{pid}"))
        .json(&json!({"tool": "current_time", "action": "allow", "priority": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["action"], "allow");
    let res = user
        .delete(&format!("/api/v1/policies/{pid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = user
        .delete(&format!("/api/v1/policies/{pid}"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn viewers_see_tool_arguments_and_outputs_redacted_members_see_them_as_recorded() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("contact").reply_tool_call(
            "calculator",
            r#"{"expression":"6*7","contact":"ada@example.com","card":"4111 1111 1111 1111"}"#,
        ),
        Rule::after_any_tool_result().reply_text("Done."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "owner@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = gated_agent(&user, &provider).await;
    let run = user
        .start_run(&agent, "Multiply and contact me", None)
        .await;
    let run_id = run["id"].as_str().unwrap().to_string();
    wait_run_status(&user, &run_id, "waiting_approval").await;

    let viewer = key_with_role(&user, "viewer").await;
    let as_viewer = |path: String| {
        let req = reqwest::Client::new()
            .get(server.url(&path))
            .bearer_auth(&viewer)
            .header("accept", "application/json");
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let seen = as_viewer("/api/v1/approvals?status=pending".into()).await;
    let args = &seen["items"][0]["arguments"];
    assert_eq!(args["contact"], "[redacted:email]", "{seen}");
    assert_eq!(args["card"], "[redacted:card]");
    assert_eq!(args["expression"], "6*7", "ordinary values are kept");
    let events = as_viewer(format!("/api/v1/runs/{run_id}/events")).await;
    let text = events.to_string();
    assert!(
        !text.contains("ada@example.com") && !text.contains("4111 1111"),
        "{text}"
    );
    assert!(text.contains("[redacted:email]"));

    // A member sees what was recorded, and decides on it.
    let inbox = pending(&user).await;
    assert_eq!(inbox[0]["arguments"]["contact"], "ada@example.com");
    let member_events = user.events_so_far(&run_id).await;
    let call = member_events.iter().find(|e| e.1 == "tool_call").unwrap();
    assert_eq!(call.2["arguments"]["contact"], "ada@example.com");
}
