//! Durable resume: a server SIGKILLed while a run is in its second step is replaced by
//! another on the same database; the run is redelivered after its lease, rebuilt from its
//! events, and finishes without repeating the recorded step or tool call.

mod common;

use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_run_resumes_from_its_last_recorded_step_after_a_crash() {
    let answer = "Six times seven is forty-two, as computed.";
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("6*7").reply_tool_call("calculator", r#"{"expression":"6*7"}"#),
        // Slow enough that the kill lands while step 2 streams.
        Rule::after_tool_result("42")
            .reply_text(answer)
            .chunk_chars(2)
            .chunk_delay(Duration::from_millis(150)),
    ]);
    let lease = [("AUTONOMA_RUN_LEASE_SECS", "1")];
    let mut first = Server::start_with(&lease);
    let user = User::sign_up(&first, "resume@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            &["calculator"],
            json!({"max_steps": 5, "max_output_tokens": 256, "timeout_secs": 120}),
        )
        .await;
    let run = user
        .start_run(agent["id"].as_str().unwrap(), "What is 6*7?", None)
        .await;
    let run_id = run["id"].as_str().unwrap().to_string();

    // Wait until step 2 is streaming, then crash the server.
    let mut waited = 0;
    loop {
        let events = user.events_so_far(&run_id).await;
        if events
            .iter()
            .any(|e| e.1 == "token_delta" && e.2["step"] == 2)
        {
            break;
        }
        assert!(waited < 300, "step 2 never started streaming: {events:?}");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill();
    assert_eq!(llm.request_count(), 2, "step 1 and the interrupted step 2");

    // A successor on the same database picks the run up once the lease expires.
    let mut env: Vec<(String, String)> = first.database_env();
    env.push(("AUTONOMA_RUN_LEASE_SECS".into(), "1".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let second = Server::start_with(&env_refs);
    let user = User {
        base: second.base.clone(),
        ..user
    };
    let events = user.events(&run_id, None).await;
    let count = |kind: &str| events.iter().filter(|e| e.1 == kind).count();
    assert_eq!(events.last().unwrap().1, "completed", "{events:?}");
    assert_eq!(events.last().unwrap().2["output"], answer);
    assert_eq!(count("run_started"), 1);
    assert_eq!(count("run_resumed"), 1);
    let resumed = events.iter().find(|e| e.1 == "run_resumed").unwrap();
    assert_eq!(
        (
            resumed.2["from_step"].as_u64(),
            resumed.2["attempt"].as_u64()
        ),
        (Some(2), Some(2))
    );
    // Step 1 (the model's tool call and the calculator) ran once; step 2 finished once.
    assert_eq!(count("tool_call"), 1);
    assert_eq!(count("tool_result"), 1);
    let messages: Vec<u64> = events
        .iter()
        .filter(|e| e.1 == "assistant_message")
        .map(|e| e.2["step"].as_u64().unwrap())
        .collect();
    assert_eq!(messages, vec![1, 2]);
    assert_eq!(
        events
            .iter()
            .find(|e| e.1 == "assistant_message")
            .unwrap()
            .2["tool_calls"][0]["name"],
        "calculator"
    );
    assert_eq!(
        llm.request_count(),
        3,
        "only the interrupted step called the model again"
    );
    let resumed_request = &llm.requests()[2];
    assert_eq!(
        resumed_request["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["content"],
        "42",
        "the replayed tool result is in the context"
    );

    let run: Value = user
        .get(&format!("/api/v1/runs/{run_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (run["status"].as_str(), run["steps"].as_i64()),
        (Some("completed"), Some(2))
    );
    // Usage arrives at the end of a model call: the interrupted one never reported any.
    assert_eq!(count("usage"), 2);
}
