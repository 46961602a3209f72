//! Agent runs end to end through the real server and a scripted OpenAI-compatible provider.

mod common;

use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

fn kinds(events: &[(i64, String, Value)]) -> Vec<String> {
    events.iter().map(|e| e.1.clone()).collect()
}

#[tokio::test]
async fn calculator_run_streams_tool_steps_and_answers_391() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "calc@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &["calculator"],
            json!({"max_steps": 5, "max_output_tokens": 256, "timeout_secs": 60}),
        )
        .await;
    let run = user
        .start_run(agent["id"].as_str().unwrap(), "What is 17*23?", None)
        .await;
    assert_eq!(run["status"], "queued");
    assert_eq!(run["agent_version"], 1);

    let events = user.events(run["id"].as_str().unwrap(), None).await;
    let k = kinds(&events);
    assert_eq!(k.first().unwrap(), "run_started");
    assert_eq!(k.last().unwrap(), "completed");
    let ids: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        ids,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "event ids are consecutive seq numbers"
    );
    let call = events
        .iter()
        .find(|e| e.1 == "tool_call")
        .expect("tool_call event");
    assert_eq!(call.2["name"], "calculator");
    assert_eq!(call.2["arguments"]["expression"], "17*23");
    let result = events
        .iter()
        .find(|e| e.1 == "tool_result")
        .expect("tool_result event");
    assert_eq!(result.2["output"], "391");
    assert_eq!(result.2["is_error"], false);
    let streamed: String = events
        .iter()
        .filter(|e| e.1 == "token_delta")
        .map(|e| e.2["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(streamed, "17 × 23 = 391");
    assert!(
        events.iter().filter(|e| e.1 == "token_delta").count() > 1,
        "answer arrives in several deltas"
    );
    assert_eq!(events.last().unwrap().2["output"], "17 × 23 = 391");

    let run: Value = user
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], "17 × 23 = 391");
    assert_eq!(run["steps"], 2);
    assert!(run["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(run["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        events.iter().filter(|e| e.1 == "usage").count(),
        2,
        "usage recorded per step"
    );

    // The provider got the tool definition, the decrypted key, and the tool result.
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["tools"][0]["function"]["name"], "calculator");
    assert_eq!(reqs[0]["messages"][0]["role"], "system");
    assert_eq!(
        reqs[1]["messages"].as_array().unwrap().last().unwrap()["role"],
        "tool"
    );
    assert!(llm
        .authorizations()
        .iter()
        .all(|a| a.as_deref() == Some("Bearer sk-test-secret")));
}

#[tokio::test]
async fn tool_error_is_returned_to_the_model() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("divide").reply_tool_call("calculator", r#"{"expression":"1/0"}"#),
        Rule::after_any_tool_result().reply_text("That cannot be computed."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "err@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &["calculator"],
            json!({"max_steps": 5, "max_output_tokens": 256, "timeout_secs": 60}),
        )
        .await;
    let run = user
        .start_run(agent["id"].as_str().unwrap(), "divide 1 by 0", None)
        .await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    let result = events.iter().find(|e| e.1 == "tool_result").unwrap();
    assert_eq!(result.2["is_error"], true);
    assert!(!result.2["output"].as_str().unwrap().is_empty());
    assert_eq!(events.last().unwrap().1, "completed");
}

#[tokio::test]
async fn step_limit_fails_the_run_with_a_reason() {
    let llm = ScriptedLlm::start(vec![
        Rule::always().reply_tool_call("calculator", r#"{"expression":"1+1"}"#)
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "limit@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &["calculator"],
            json!({"max_steps": 3, "max_output_tokens": 64, "timeout_secs": 60}),
        )
        .await;
    let run = user
        .start_run(agent["id"].as_str().unwrap(), "loop forever", None)
        .await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    let last = events.last().unwrap();
    assert_eq!(last.1, "failed");
    assert_eq!(last.2["code"], "max_steps");
    assert_eq!(events.iter().filter(|e| e.1 == "tool_call").count(), 3);
    let run: Value = user
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "failed");
    assert!(run["error"].as_str().unwrap().contains("step limit"));
}

#[tokio::test]
async fn provider_error_fails_the_run_readably() {
    let llm = ScriptedLlm::start(vec![
        Rule::always().reply_error(400, r#"{"error":{"message":"model overloaded"}}"#)
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "provfail@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60}),
        )
        .await;
    let run = user
        .start_run(agent["id"].as_str().unwrap(), "hello", None)
        .await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    let last = events.last().unwrap();
    assert_eq!(last.1, "failed");
    assert_eq!(last.2["code"], "provider_error");
    assert!(
        last.2["reason"].as_str().unwrap().contains("400"),
        "{}",
        last.2
    );
}

#[tokio::test]
async fn cancel_stops_a_streaming_run() {
    let long = "word ".repeat(400);
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_text(long)
        .chunk_delay(Duration::from_millis(50))]);
    let server = Server::start();
    let user = User::sign_up(&server, "cancel@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 4096, "timeout_secs": 120}),
        )
        .await;
    let run = user
        .start_run(agent["id"].as_str().unwrap(), "talk a lot", None)
        .await;
    let run_id = run["id"].as_str().unwrap().to_string();
    // Wait until tokens are flowing.
    loop {
        let evs: Vec<Value> = {
            let res = user
                .get(&format!("/api/v1/runs/{run_id}"))
                .send()
                .await
                .unwrap();
            let run: Value = res.json().await.unwrap();
            if run["status"] == "running" {
                vec![run]
            } else {
                vec![]
            }
        };
        if !evs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = user
        .post(&format!("/api/v1/runs/{run_id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let events = user.events(&run_id, None).await;
    assert_eq!(events.last().unwrap().1, "cancelled");
    assert!(events.iter().any(|e| e.1 == "token_delta"));
    let run: Value = user
        .get(&format!("/api/v1/runs/{run_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "cancelled");
    assert!(run["output"].is_null());
    // Cancelling a finished run is a conflict.
    let res = user
        .post(&format!("/api/v1/runs/{run_id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "conflict").await;
}

#[tokio::test]
async fn sse_resumes_after_last_event_id_and_threads_continue() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("my name").reply_text("Nice to meet you, Ada."),
        Rule::when_user_contains("who am I").reply_text("You are Ada."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "sse@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60}),
        )
        .await;
    let agent_id = agent["id"].as_str().unwrap();
    let run = user.start_run(agent_id, "my name is Ada", None).await;
    let run_id = run["id"].as_str().unwrap();
    let all = user.events(run_id, None).await;
    assert!(all.len() >= 4);
    let resumed = user.events(run_id, Some(2)).await;
    assert_eq!(resumed.len(), all.len() - 2);
    assert_eq!(resumed[0].0, 3);
    assert_eq!(
        resumed.iter().map(|e| e.2.clone()).collect::<Vec<_>>(),
        all[2..].iter().map(|e| e.2.clone()).collect::<Vec<_>>()
    );
    // ?after= works too (for clients that cannot set headers).
    let res = user
        .get(&format!(
            "/api/v1/runs/{run_id}/events?after={}",
            all.len() - 1
        ))
        .send()
        .await
        .unwrap();
    let tail = parse_sse(&res.text().await.unwrap());
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].1, "completed");

    // A second run in the same thread sees the first exchange.
    let second = user
        .start_run(agent_id, "who am I?", run["thread_id"].as_str())
        .await;
    assert_eq!(second["thread_id"], run["thread_id"]);
    let events = user.events(second["id"].as_str().unwrap(), None).await;
    assert_eq!(events.last().unwrap().2["output"], "You are Ada.");
    let last_req = llm.requests().last().unwrap().clone();
    let msgs = last_req["messages"].as_array().unwrap();
    assert!(msgs
        .iter()
        .any(|m| m["role"] == "assistant" && m["content"] == "Nice to meet you, Ada."));
    let thread: Vec<Value> = user
        .get(&format!(
            "/api/v1/threads/{}",
            run["thread_id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(thread.len(), 2);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_run() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("ok")]);
    let server = Server::start();
    let user = User::sign_up(&server, "idem@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60}),
        )
        .await;
    let path = format!("/api/v1/agents/{}/runs", agent["id"].as_str().unwrap());
    let a = user
        .post(&path)
        .header("idempotency-key", "k-1")
        .json(&json!({"input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 202);
    let a: Value = a.json().await.unwrap();
    let b = user
        .post(&path)
        .header("idempotency-key", "k-1")
        .json(&json!({"input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 200);
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    let c = user
        .post(&path)
        .header("idempotency-key", "k-1")
        .json(&json!({"input": "different"}))
        .send()
        .await
        .unwrap();
    assert_problem(c, 409, "conflict").await;
    user.events(a["id"].as_str().unwrap(), None).await;
    let runs: Value = user
        .get(&format!(
            "/api/v1/runs?agent_id={}",
            agent["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        1,
        "one run for one key"
    );
}

#[tokio::test]
async fn agent_updates_create_versions_and_runs_record_theirs() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("ok")]);
    let server = Server::start();
    let user = User::sign_up(&server, "versions@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60}),
        )
        .await;
    let id = agent["id"].as_str().unwrap();
    // The agent minus its read-only fields is its spec (unknown fields are refused).
    let mut spec = agent.clone();
    for read_only in ["id", "org_id", "version", "created_at", "updated_at"] {
        spec.as_object_mut().unwrap().remove(read_only);
    }
    spec["instructions"] = json!("Be terse.");
    spec["tools"] = json!(["current_time", "calculator"]);
    let res = user
        .put(&format!("/api/v1/agents/{id}"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["tools"], json!(["calculator", "current_time"]));
    let versions: Vec<Value> = user
        .get(&format!("/api/v1/agents/{id}/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["spec"]["instructions"], "You are helpful.");
    let run = user.start_run(id, "hi", None).await;
    assert_eq!(run["agent_version"], 2);
    user.events(run["id"].as_str().unwrap(), None).await;
    assert_eq!(llm.requests()[0]["messages"][0]["content"], "Be terse.");

    // Pagination over several agents.
    for _ in 0..4 {
        user.agent(
            &provider,
            "scripted",
            &[],
            json!({"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60}),
        )
        .await;
    }
    let p1: Value = user
        .get("/api/v1/agents?limit=3")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p1["items"].as_array().unwrap().len(), 3);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2: Value = user
        .get(&format!("/api/v1/agents?limit=3&cursor={cursor}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p2["items"].as_array().unwrap().len(), 2);
    assert!(p2["next_cursor"].is_null());

    let res = user
        .delete(&format!("/api/v1/agents/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(
        user.get(&format!("/api/v1/agents/{id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    // Runs stay readable after the agent is deleted.
    assert_eq!(
        user.get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
