//! Preflight ("ghost run") end to end: an agent with the MCP reference filesystem server
//! plans a write without writing (the file never appears), reads for real, is refused what
//! its policy denies; the plan lists each call with its decision, tokens, cost and hash; a
//! live run started from it waits for approval, writes, and its signed receipt says it
//! followed the plan — and where a second run departed from it. Bad requests get
//! problem+json and start nothing.

mod common;

use autonoma_testkit::mcp_servers::filesystem_command;
use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

const MCP_ENV: [(&str, &str); 2] = [
    ("AUTONOMA_MCP_ALLOW_STDIO", "true"),
    ("AUTONOMA_MCP_ALLOW_LOOPBACK", "true"),
];

/// The scripted model: for "file the report", read the notes, write `content` to
/// `report`, try to create a directory; after the tool results, answer.
fn rules(notes: &str, report: &str, mkdir: &str, content: &str) -> Vec<Rule> {
    vec![
        Rule::after_any_tool_result().reply_text("The report is filed."),
        Rule::when_user_contains("file the report").reply_tool_calls([
            (
                "files__read_text_file",
                json!({ "path": notes }).to_string(),
            ),
            (
                "files__write_file",
                json!({ "path": report, "content": content }).to_string(),
            ),
            (
                "files__create_directory",
                json!({ "path": mkdir }).to_string(),
            ),
        ]),
    ]
}

async fn preflight(user: &User, agent: &str, body: Value) -> reqwest::Response {
    user.post(&format!("/api/v1/agents/{agent}/preflight"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn call<'a>(plan: &'a Value, tool: &str) -> &'a Value {
    plan["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tool"] == tool)
        .unwrap_or_else(|| panic!("no call of {tool} in {plan}"))
}

/// Approves every pending approval of `run_id`, waiting for the run to park first.
async fn approve_all(user: &User, run_id: &str) {
    wait_run_status(user, run_id, "waiting_approval").await;
    let inbox = get_json(user, "/api/v1/approvals?status=pending").await;
    for a in inbox["items"].as_array().unwrap() {
        assert_eq!(a["run_id"], run_id);
        let res = user
            .post(&format!(
                "/api/v1/approvals/{}/approve",
                a["id"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_preflight_plans_without_acting_and_the_receipt_compares_the_live_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let notes = root.join("notes.txt");
    std::fs::write(&notes, "quarterly numbers: 42").unwrap();
    let report = root.join("report.txt");
    let mkdir = root.join("archive");
    let (notes_s, report_s, mkdir_s) = (
        notes.display().to_string(),
        report.display().to_string(),
        mkdir.display().to_string(),
    );
    let llm = ScriptedLlm::start(rules(&notes_s, &report_s, &mkdir_s, "Q3: 42"));
    let server = Server::start_with(&MCP_ENV);
    let user = User::sign_up(&server, "planner@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let fs = filesystem_command(&root);
    let res = user
        .post("/api/v1/mcp-servers")
        .json(
            &json!({"name": "files", "transport": "stdio", "command": fs.command, "args": fs.args}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "Reporter", "provider_id": provider, "model": "scripted",
            "tools": ["files__read_text_file", "files__write_file", "files__create_directory"],
            "tool_policies": [{"tool": "files__create_directory", "action": "deny"}],
            "pricing": {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0},
            "limits": {"max_steps": 4, "max_output_tokens": 256, "timeout_secs": 120}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let agent: Value = res.json().await.unwrap();
    let agent_id = agent["id"].as_str().unwrap().to_string();

    // The preflight: planned, not done.
    let res = preflight(
        &user,
        &agent_id,
        json!({"input": "Please file the report."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let plan: Value = res.json().await.unwrap();
    assert_eq!(plan["status"], "completed", "{plan}");
    assert_eq!(
        location,
        format!("/api/v1/preflights/{}", plan["id"].as_str().unwrap())
    );
    assert_eq!(plan["calls"].as_array().unwrap().len(), 3, "{plan}");
    assert!(!report.exists(), "a preflight never executes a write");
    assert!(!mkdir.exists());

    let read = call(&plan, "files__read_text_file");
    assert_eq!(
        (read["decision"].as_str(), read["simulated"].as_bool()),
        (Some("allow"), Some(false))
    );
    assert!(
        read["output"]
            .as_str()
            .unwrap()
            .contains("quarterly numbers: 42"),
        "read for real: {read}"
    );
    let write = call(&plan, "files__write_file");
    assert_eq!(write["decision"], "require_approval");
    assert_eq!(write["rule"], "default");
    assert_eq!(write["simulated"], true);
    assert_eq!(write["arguments"]["content"], "Q3: 42");
    assert!(write["output"]
        .as_str()
        .unwrap()
        .contains("\"simulated\":true"));
    let denied = call(&plan, "files__create_directory");
    assert_eq!(
        (denied["decision"].as_str(), denied["rule"].as_str()),
        (Some("deny"), Some("agent:0"))
    );
    assert_eq!(denied["is_error"], true);
    assert_eq!(
        (plan["approvals_needed"].as_u64(), plan["denials"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(plan["answer"], "The report is filed.");
    let usage = &plan["estimated_usage"];
    let (input_tokens, output_tokens) = (
        usage["input_tokens"].as_f64().unwrap(),
        usage["output_tokens"].as_f64().unwrap(),
    );
    assert!(input_tokens > 0.0 && output_tokens > 0.0, "{usage}");
    let cost = plan["estimated_cost_usd"].as_f64().unwrap();
    let expected = (input_tokens * 3.0 + output_tokens * 15.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    let hash = plan["plan_hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);

    // Nothing waits, nothing shows as a run, and the plan reads back the same.
    let inbox = get_json(&user, "/api/v1/approvals?status=pending").await;
    assert_eq!(inbox["items"], json!([]));
    let runs = get_json(&user, &format!("/api/v1/runs?agent_id={agent_id}")).await;
    assert_eq!(
        runs["items"],
        json!([]),
        "preflights are not listed as runs"
    );
    assert_eq!(get_json(&user, &location).await, plan);
    let preflight_id = plan["id"].as_str().unwrap().to_string();
    let events = user.events_so_far(&preflight_id).await;
    assert!(events
        .iter()
        .any(|e| e.1 == "tool_result" && e.2["simulated"] == true));

    // A live run from the plan (its input): waits for approval, writes, follows the plan.
    let res = user
        .post(&format!("/api/v1/agents/{agent_id}/runs"))
        .json(&json!({"input": "", "preflight_id": preflight_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let run: Value = res.json().await.unwrap();
    assert_eq!(
        (run["mode"].as_str(), run["preflight_id"].as_str()),
        (Some("live"), Some(preflight_id.as_str()))
    );
    assert_eq!(run["input"], "Please file the report.");
    let run_id = run["id"].as_str().unwrap().to_string();
    approve_all(&user, &run_id).await;
    wait_run_status(&user, &run_id, "completed").await;
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "Q3: 42");
    let receipt = get_json(&user, &format!("/api/v1/runs/{run_id}/receipt")).await;
    let p = &receipt["receipt"]["plan"];
    assert_eq!(p["preflight_id"], preflight_id.as_str());
    assert_eq!(p["plan_hash"], hash.as_str());
    assert_eq!(
        (p["followed"].as_bool(), p["deviations"].clone()),
        (Some(true), json!([])),
        "{receipt}"
    );

    // A second run from the same plan writes something else: the receipt names where.
    llm.set_rules(rules(&notes_s, &report_s, &mkdir_s, "Q3: 43 (revised)"));
    let res = user
        .post(&format!("/api/v1/agents/{agent_id}/runs"))
        .json(&json!({"input": "", "preflight_id": preflight_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let second = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    approve_all(&user, &second).await;
    wait_run_status(&user, &second, "completed").await;
    let receipt = get_json(&user, &format!("/api/v1/runs/{second}/receipt")).await;
    let p = &receipt["receipt"]["plan"];
    assert_eq!(p["followed"], false);
    let deviations = p["deviations"].as_array().unwrap();
    assert_eq!(deviations.len(), 1, "{p}");
    assert_eq!(deviations[0]["index"], 1);
    assert_eq!(deviations[0]["planned"]["tool"], "files__write_file");
    assert_eq!(deviations[0]["actual"]["tool"], "files__write_file");
    assert_ne!(
        deviations[0]["planned"]["arguments_sha256"],
        deviations[0]["actual"]["arguments_sha256"]
    );
    // A run without a plan has no plan section.
    let plain = user.start_run(&agent_id, "hello", None).await;
    let plain_id = plain["id"].as_str().unwrap();
    let receipt = get_json(&user, &format!("/api/v1/runs/{plain_id}/receipt")).await;
    assert!(receipt["receipt"].get("plan").is_none(), "{receipt}");
}

#[tokio::test]
async fn bad_preflight_requests_get_problems_and_start_nothing() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("hi")]);
    let server = Server::start();
    let user = User::sign_up(&server, "strict@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let limits = json!({"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60});
    let agent = user.agent(&provider, "scripted", &[], limits.clone()).await;
    let agent_id = agent["id"].as_str().unwrap().to_string();
    let other = user.agent(&provider, "scripted", &[], limits).await;
    let other_id = other["id"].as_str().unwrap().to_string();

    let res = preflight(&user, &agent_id, json!({"input": "x", "tools": ["all"]})).await;
    assert_problem(res, 422, "invalid_body").await;
    let res = preflight(&user, &agent_id, json!({"input": "   "})).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = user
        .post(&format!("/api/v1/agents/{agent_id}/preflight?wait=500"))
        .json(&json!({"input": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    let res = preflight(
        &user,
        "00000000-0000-7000-8000-000000000000",
        json!({"input": "x"}),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let res = user
        .post("/api/v1/agents")
        .json(
            &json!({"name": "p", "provider_id": provider, "model": "scripted",
                      "pricing": {"input_usd_per_mtok": -1.0, "output_usd_per_mtok": 1.0}}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;

    // A live run, a preflight of another agent, another organization's preflight.
    let plan: Value = preflight(&user, &other_id, json!({"input": "hello"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plan["status"], "completed", "{plan}");
    let live = user.start_run(&agent_id, "hello", None).await;
    wait_run_status(&user, live["id"].as_str().unwrap(), "completed").await;
    for (id, why) in [
        (live["id"].clone(), "no such preflight"),
        (plan["id"].clone(), "another agent"),
    ] {
        let res = user
            .post(&format!("/api/v1/agents/{agent_id}/runs"))
            .json(&json!({"input": "", "preflight_id": id}))
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, 422, "validation_failed").await;
        assert!(body["detail"].as_str().unwrap().contains(why), "{body}");
    }
    // A live run is no preflight; another organization's preflight is nobody's business.
    let stranger = User::sign_up(&server, "stranger@example.com").await;
    for (who, id) in [(&user, &live["id"]), (&stranger, &plan["id"])] {
        let path = format!("/api/v1/preflights/{}", id.as_str().unwrap());
        let res = who.get(&path).send().await.unwrap();
        assert_problem(res, 404, "not_found").await;
    }
    let res = stranger
        .post(&format!("/api/v1/agents/{other_id}/runs"))
        .json(&json!({"input": "x", "preflight_id": plan["id"]}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;

    // A viewer may read plans but not start preflights.
    let res = user
        .post("/api/v1/api-keys")
        .json(&json!({"name": "viewer", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    let viewer = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let res = reqwest::Client::new()
        .post(server.url(&format!("/api/v1/agents/{agent_id}/preflight")))
        .bearer_auth(&viewer)
        .json(&json!({"input": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;
    let res = reqwest::Client::new()
        .get(server.url(&format!(
            "/api/v1/preflights/{}",
            plan["id"].as_str().unwrap()
        )))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Nothing else was started: the one live run (and the preflight, which is not listed).
    let runs = get_json(&user, "/api/v1/runs").await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 1, "{runs}");
}
