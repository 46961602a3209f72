//! A cross-tenant probe generated from the OpenAPI document: organization A holds one of
//! every resource (provider, agent, run, thread, approval, preflight, knowledge base and
//! document, policy, MCP server, API key); organization B's owner key then calls **every
//! operation of the document that takes an id in its path** — reads, writes, deletes,
//! decisions, uploads, searches, the SSE stream — with A's ids and bodies that would be
//! valid in B. Every answer must be 404 `not_found`, list filters with A's ids must come back
//! empty, and A's resources must read the same afterwards. A new operation with an id is
//! probed without touching this file (an id parameter this file cannot fill fails it).
//!
//! Runs on SQLite and, with `AUTONOMA_TEST_BACKEND=postgres`, on PostgreSQL with row-level
//! security (scripts/test.sh).

mod common;

use std::collections::BTreeMap;

use autonoma_testkit::mcp_servers::everything_command;
use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// A's ids by resource: the path segment before `{id}` (`agents`, `runs`, …) or the
/// parameter name (`doc_id`).
type Ids = BTreeMap<&'static str, String>;

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

async fn created(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Organization A with one of everything; returns its ids.
async fn populate(a: &User, llm: &ScriptedLlm) -> Ids {
    let mut ids = Ids::new();
    let provider = a.scripted_provider(&llm.base_url()).await;
    ids.insert("providers", provider.clone());
    let everything = everything_command();
    let mcp = created(
        a.post("/api/v1/mcp-servers")
            .json(&json!({"name": "everything", "transport": "stdio",
                          "command": everything.command, "args": everything.args}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    ids.insert("mcp-servers", id_of(&mcp));
    let kb = created(
        a.post("/api/v1/knowledge-bases")
            .json(&json!({"name": "A's notes"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    ids.insert("knowledge-bases", id_of(&kb));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"A's secret plans.".to_vec())
            .file_name("plans.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let doc = created(
        a.post(&format!("/api/v1/knowledge-bases/{}/documents", id_of(&kb)))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    ids.insert("doc_id", id_of(&doc));
    let policy = created(
        a.post("/api/v1/policies")
            .json(&json!({"tool": "http_fetch", "action": "deny"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    ids.insert("policies", id_of(&policy));
    let agent = created(
        a.post("/api/v1/agents")
            .json(&json!({
                "name": "A's agent", "provider_id": provider, "model": "scripted",
                "tools": ["calculator"],
                "tool_policies": [{"tool": "calculator", "action": "require_approval"}],
                "limits": {"max_steps": 4, "max_output_tokens": 64, "timeout_secs": 60}
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    ids.insert("agents", id_of(&agent));
    // A run that parks for approval: a run, its thread, and an approval.
    let run = a.start_run(&id_of(&agent), "what is 6*7?", None).await;
    let run = wait_run_status(a, run["id"].as_str().unwrap(), "waiting_approval").await;
    ids.insert("runs", id_of(&run));
    ids.insert("threads", run["thread_id"].as_str().unwrap().to_string());
    let approvals = get_json(a, "/api/v1/approvals?status=pending").await;
    ids.insert("approvals", id_of(&approvals["items"][0]));
    let preflight = created(
        a.post(&format!(
            "/api/v1/agents/{}/preflight?wait=30",
            id_of(&agent)
        ))
        .json(&json!({"input": "what is 6*7?"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    ids.insert("preflights", id_of(&preflight));
    let keys = get_json(a, "/api/v1/api-keys").await;
    ids.insert("api-keys", id_of(&keys[0]));
    ids
}

/// `path` with its parameters filled from `ids`; panics on a parameter it cannot fill.
fn fill(path: &str, ids: &Ids) -> String {
    let mut out = String::new();
    let mut previous = "";
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some("id") => out.push_str(
                ids.get(previous)
                    .unwrap_or_else(|| panic!("{path}: no id of A's '{previous}' to probe with")),
            ),
            Some(name) => out.push_str(
                ids.get(name)
                    .unwrap_or_else(|| panic!("{path}: no value for parameter '{name}'")),
            ),
            None => {
                out.push_str(segment);
                previous = segment;
            }
        }
    }
    out
}

/// A body B could send to its own resource of the same kind (so that only tenancy can refuse
/// it), by the operation's request schema.
fn body_for(schema: &str, b_provider: &str) -> Value {
    match schema {
        "AgentSpec" => json!({"name": "B's agent", "provider_id": b_provider, "model": "scripted"}),
        "PolicyInput" => json!({"tool": "calculator", "action": "allow"}),
        "RunInput" | "PreflightInput" => json!({"input": "hello"}),
        "SearchRequest" => json!({"query": "secret plans", "k": 3}),
        "ApprovalInput" => json!({"comment": "approved by B"}),
        "DenialInput" => json!({"comment": "denied by B"}),
        other => panic!("no probe body for request schema {other}: add one"),
    }
}

/// A's view of its resources, with the fields that change by A's own reading left out.
async fn snapshot(a: &User, ids: &Ids) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/agents/{}", ids["agents"]),
        format!("/api/v1/agents/{}/versions", ids["agents"]),
        format!("/api/v1/runs/{}", ids["runs"]),
        format!("/api/v1/threads/{}", ids["threads"]),
        format!("/api/v1/approvals/{}", ids["approvals"]),
        format!("/api/v1/preflights/{}", ids["preflights"]),
        format!("/api/v1/knowledge-bases/{}", ids["knowledge-bases"]),
        format!(
            "/api/v1/knowledge-bases/{}/documents",
            ids["knowledge-bases"]
        ),
        format!("/api/v1/policies/{}", ids["policies"]),
        format!("/api/v1/mcp-servers/{}", ids["mcp-servers"]),
        "/api/v1/providers".to_string(),
        "/api/v1/members".to_string(),
    ] {
        let mut v = get_json(a, &path).await;
        strip(&mut v, &["status", "updated_at", "chunk_count"]);
        out.push((path, v));
    }
    let mut keys = get_json(a, "/api/v1/api-keys").await;
    strip(&mut keys, &["last_used_at"]);
    out.push(("/api/v1/api-keys".into(), keys));
    out
}

/// Removes `fields` wherever they appear (a document's ingestion may move on meanwhile).
fn strip(v: &mut Value, fields: &[&str]) {
    match v {
        Value::Object(o) => {
            for f in fields {
                o.remove(*f);
            }
            o.values_mut().for_each(|v| strip(v, fields));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| strip(v, fields)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organization_gets_404_for_every_operation_on_our_ids_and_changes_nothing() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("6*7").reply_tool_call("calculator", r#"{"expression":"6*7"}"#),
        Rule::after_tool_result("42").reply_text("42"),
        Rule::always().reply_text("hello"),
    ]);
    let server = Server::start_with(&[
        ("AUTONOMA_GPU_WORKER", "false"),
        ("AUTONOMA_MCP_ALLOW_STDIO", "true"),
    ]);
    let a = User::sign_up(&server, "a@example.com").await;
    let b = User::sign_up(&server, "b@example.com").await;
    let ids = populate(&a, &llm).await;
    let b_provider = b.scripted_provider(&llm.base_url()).await;
    let before = snapshot(&a, &ids).await;

    let doc: Value = reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut probed = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let url = format!("{}{}", server.base, fill(path, &ids));
            let mut req = b
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .bearer_auth(&b.api_key);
            let content = &op["requestBody"]["content"];
            if let Some(schema) = content["application/json"]["schema"]["$ref"].as_str() {
                let name = schema.rsplit('/').next().unwrap();
                req = req.json(&body_for(name, &b_provider));
            } else if content.get("multipart/form-data").is_some() {
                req = req.multipart(
                    reqwest::multipart::Form::new().part(
                        "file",
                        reqwest::multipart::Part::bytes(b"B's upload".to_vec())
                            .file_name("b.txt")
                            .mime_str("text/plain")
                            .unwrap(),
                    ),
                );
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            assert_eq!(
                status,
                404,
                "{} {path} with A's ids as B: {status} {body}",
                method.to_uppercase()
            );
            let problem: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["code"], "not_found", "{method} {path}: {problem}");
            probed.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    // The SSE form of the events stream, too.
    let res = b
        .get(&format!("/api/v1/runs/{}/events", ids["runs"]))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // List filters with A's ids find nothing of A's.
    for path in [
        format!("/api/v1/runs?agent_id={}", ids["agents"]),
        "/api/v1/approvals?status=pending".to_string(),
        "/api/v1/runs".to_string(),
        "/api/v1/agents".to_string(),
        "/api/v1/knowledge-bases".to_string(),
    ] {
        let page = get_json(&b, &path).await;
        let items = page["items"].as_array().unwrap();
        assert!(
            items
                .iter()
                .all(|i| i["org_id"].as_str() != Some(a.org_id.as_str())),
            "{path} as B shows A's: {page}"
        );
    }
    let audit = get_json(&b, "/api/v1/audit").await;
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["org_id"] != json!(a.org_id)));
    for (path, list) in [
        ("/api/v1/policies", "policies"),
        ("/api/v1/mcp-servers", "mcp-servers"),
    ] {
        let v = get_json(&b, path).await;
        assert!(
            v.as_array()
                .unwrap()
                .iter()
                .all(|x| x["id"] != json!(ids[list])),
            "{path} as B shows A's: {v}"
        );
    }

    // A's resources are as they were.
    let after = snapshot(&a, &ids).await;
    for ((path, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(was, is, "{path} changed after B's probes");
    }
    eprintln!(
        "probed {} operations with A's ids as B: {probed:?}",
        probed.len()
    );
    assert!(
        probed.len() >= 25,
        "only {} operations probed",
        probed.len()
    );
}
