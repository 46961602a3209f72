//! Exercises `ScriptedLlm` with a plain HTTP client, checking the OpenAI wire format.

use std::time::{Duration, Instant};

use autonoma_testkit::{Rule, ScriptedLlm};
use serde_json::{json, Value};

/// Splits an SSE body into its `data:` payloads.
fn sse_data(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n"),
        "frames end with a blank line: {body:?}"
    );
    body.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            f.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("frame {f:?}"))
                .to_owned()
        })
        .collect()
}

async fn post(llm: &ScriptedLlm, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", llm.base_url()))
        .bearer_auth("sk-test")
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn user(text: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-test",
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
    })
}

#[tokio::test]
async fn streams_text_in_openai_chunks_with_usage_and_done() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("hello").reply_text("Hi there, friend!")
    ]);
    assert!(llm.base_url().starts_with("http://127.0.0.1:"));
    assert!(llm.base_url().ends_with("/v1"));
    let resp = post(&llm, user("hello", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "gpt-test");
        assert_eq!(c["id"], chunks[0]["id"]);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"].get(0)?["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Hi there, friend!");
    // "Hi there, friend!" is 17 chars: 5 fragments of 4 chars (last has 1).
    let fragments = chunks.iter().filter(|c| {
        c["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    });
    assert_eq!(fragments.count(), 5);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["usage"], Value::Null);
    let usage = &chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    // prompt: "be brief" + "hello" = 13 chars -> 4 tokens; completion: 17 chars -> 5 tokens.
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9})
    );
    assert_eq!(llm.requests(), vec![user("hello", true)]);
    assert_eq!(
        llm.authorizations(),
        vec![Some("Bearer sk-test".to_owned())]
    );
}

#[tokio::test]
async fn streams_tool_calls_with_fragmented_arguments() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
    ]);
    let resp = post(&llm, user("what is 17*23?", true)).await;
    let data = sse_data(&resp.text().await.unwrap());
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"].get("tool_calls"))
        .map(|tc| &tc[0])
        .collect();
    assert_eq!(calls[0]["id"], "call_1_0");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "calculator");
    assert!(calls.len() > 3, "arguments arrive in several fragments");
    assert!(calls[1..]
        .iter()
        .all(|c| c.get("id").is_none() && c["index"] == 0));
    let args: String = calls
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(args, r#"{"expression":"17*23"}"#);
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // Second turn: the tool result.
    let mut body = user("what is 17*23?", false);
    body["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1_0", "type": "function",
               "function": {"name": "calculator", "arguments": "{\"expression\":\"17*23\"}"}}]}),
        json!({"role": "tool", "tool_call_id": "call_1_0", "content": "391"}),
    ]);
    let resp: Value = post(&llm, body).await.json().await.unwrap();
    assert_eq!(resp["object"], "chat.completion");
    assert_eq!(resp["choices"][0]["message"]["content"], "17 × 23 = 391");
    assert_eq!(resp["choices"][0]["finish_reason"], "stop");
    assert!(resp["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn non_streaming_tool_calls_and_models() {
    let llm = ScriptedLlm::start(vec![
        Rule::always().reply_tool_calls([("a", "{}"), ("b", r#"{"x":1}"#)])
    ]);
    let resp: Value = post(&llm, user("x", false)).await.json().await.unwrap();
    let calls = &resp["choices"][0]["message"]["tool_calls"];
    assert_eq!(calls[1]["id"], "call_1_1");
    assert_eq!(
        calls[1]["function"],
        json!({"name": "b", "arguments": "{\"x\":1}"})
    );
    assert_eq!(resp["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(resp["choices"][0]["finish_reason"], "tool_calls");

    let models: Value = reqwest::get(format!("{}/models", llm.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "scripted");
}

#[tokio::test]
async fn errors_times_and_unmatched_requests() {
    let llm = ScriptedLlm::start(vec![
        Rule::always()
            .reply_error(503, r#"{"error":{"message":"overloaded"}}"#)
            .times(1),
        Rule::when_user_contains("ok").reply_text("fine"),
    ]);
    let resp = post(&llm, user("ok", true)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.text().await.unwrap().contains("overloaded"));
    // The error rule is used up; the next request gets text.
    assert_eq!(post(&llm, user("ok", true)).await.status(), 200);
    // Nothing matches "nope".
    let resp = post(&llm, user("nope", true)).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no scripted rule"));
    assert_eq!(llm.request_count(), 3);

    // No usage chunk when the client does not ask for one.
    let mut body = user("ok", true);
    body.as_object_mut().unwrap().remove("stream_options");
    let text = post(&llm, body).await.text().await.unwrap();
    assert!(!text.contains("usage"));
}

#[tokio::test]
async fn chunk_delay_paces_the_stream() {
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_text("abcdefgh")
        .chunk_chars(2)
        .chunk_delay(Duration::from_millis(50))]);
    let start = Instant::now();
    let mut resp = post(&llm, user("x", true)).await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"role\":\"assistant\""));
    while resp.chunk().await.unwrap().is_some() {}
    // 4 fragments, each preceded by 50 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn zero_latency_mode_answers_fast_without_recording() {
    let llm = ScriptedLlm::zero_latency("ok");
    for _ in 0..20 {
        let text = post(&llm, user("anything", true))
            .await
            .text()
            .await
            .unwrap();
        assert!(text.contains("\"content\":\"ok\""));
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
    assert!(llm.requests().is_empty());
    assert_eq!(llm.request_count(), 20);
}

#[tokio::test]
async fn set_rules_replaces_the_script_and_custom_matchers_work() {
    let llm = ScriptedLlm::start(vec![]);
    assert_eq!(post(&llm, user("x", false)).await.status(), 400);
    llm.set_rules(vec![
        Rule::when_fn(|body| body["max_tokens"] == 7).reply_text("seven"),
        Rule::when_system_contains("brief").reply_text("brief"),
    ]);
    let mut body = user("x", false);
    body["max_tokens"] = json!(7);
    let resp: Value = post(&llm, body).await.json().await.unwrap();
    assert_eq!(resp["choices"][0]["message"]["content"], "seven");
    let resp: Value = post(&llm, user("x", false)).await.json().await.unwrap();
    assert_eq!(resp["choices"][0]["message"]["content"], "brief");
}

#[tokio::test]
async fn disconnect_after_breaks_the_stream() {
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_text("abcdefghijkl")
        .disconnect_after(2)]);
    let mut resp = post(&llm, user("x", true)).await;
    assert_eq!(resp.status(), 200);
    let mut received = String::new();
    let outcome = loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => received.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(outcome.is_err(), "the body fails instead of ending cleanly");
    assert!(received.contains("\"content\":\"abcd\"") && received.contains("\"content\":\"efgh\""));
    assert!(!received.contains("ijkl") && !received.contains("[DONE]"));
}

#[tokio::test]
async fn non_streaming_rules_ignore_stream_true() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("one piece").non_streaming()]);
    let resp = post(&llm, user("x", true)).await;
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "one piece");
}
