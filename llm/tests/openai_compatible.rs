//! `OpenAiCompatible` against the scripted OpenAI-compatible server of `autonoma-testkit`.

use std::time::Duration;

use autonoma_core::llm::{
    ChatMessage, ChatRequest, ChatRole, FinishReason, LlmError, LlmProvider, ToolCall,
    ToolDefinition,
};
use autonoma_llm::{OpenAiCompatible, RetryPolicy};
use autonoma_testkit::{Rule, ScriptedLlm};
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

fn fast_retry(max_retries: usize) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn provider(llm: &ScriptedLlm) -> OpenAiCompatible {
    OpenAiCompatible::new(llm.base_url(), Some("sk-test".into())).with_retry(fast_retry(3))
}

fn calculator() -> ToolDefinition {
    ToolDefinition {
        name: "calculator".into(),
        description: "Evaluates an arithmetic expression.".into(),
        parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
    }
}

fn ask(text: &str, tools: Vec<ToolDefinition>) -> ChatRequest {
    ChatRequest {
        model: "gpt-test".into(),
        messages: vec![
            ChatMessage::text(ChatRole::System, "You are terse."),
            ChatMessage::text(ChatRole::User, text),
        ],
        tools,
        max_tokens: 128,
    }
}

fn drain(rx: &mut UnboundedReceiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(s) = rx.try_recv() {
        out.push(s);
    }
    out
}

#[tokio::test]
async fn streams_text_deltas_and_reads_usage() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("hello").reply_text("Hello! How can I help you today?")
    ]);
    let (tx, mut rx) = unbounded_channel();
    let resp = provider(&llm)
        .chat(ask("hello there", vec![]), tx)
        .await
        .unwrap();
    assert_eq!(resp.content, "Hello! How can I help you today?");
    assert_eq!(resp.finish_reason, FinishReason::Stop);
    assert!(resp.tool_calls.is_empty());
    let deltas = drain(&mut rx);
    assert!(deltas.len() >= 8, "streamed in fragments: {deltas:?}");
    assert_eq!(deltas.concat(), resp.content);
    // Scripted usage: ceil(chars / 4). Prompt "You are terse." + "hello there" = 25 chars; reply 32 chars.
    assert_eq!(resp.usage.input_tokens, 7);
    assert_eq!(resp.usage.output_tokens, 8);

    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0];
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_tokens"], 128);
    assert!(body.get("tools").is_none(), "no tools key without tools");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(
        llm.authorizations(),
        vec![Some("Bearer sk-test".to_owned())]
    );
}

#[tokio::test]
async fn assembles_tool_calls_from_fragmented_arguments_then_sends_the_result_back() {
    let llm = ScriptedLlm::start(vec![
        Rule::after_tool_result("391").reply_text("17 × 23 = 391"),
        Rule::when_user_contains("17*23")
            .reply_tool_call("calculator", r#"{"expression": "17*23", "precision": 2}"#)
            .chunk_chars(3),
    ]);
    let p = provider(&llm);
    let (tx, mut rx) = unbounded_channel();
    let first = p
        .chat(ask("what is 17*23?", vec![calculator()]), tx)
        .await
        .unwrap();
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(first.content, "");
    assert!(drain(&mut rx).is_empty(), "no text deltas for a tool call");
    assert_eq!(
        first.tool_calls,
        vec![ToolCall {
            id: "call_1_0".into(),
            name: "calculator".into(),
            arguments: json!({"expression": "17*23", "precision": 2})
        }]
    );
    assert!(first.usage.output_tokens > 0);
    let tools = &llm.requests()[0]["tools"];
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "calculator");
    assert_eq!(
        tools[0]["function"]["parameters"]["required"],
        json!(["expression"])
    );

    // Second turn: the assistant's call and the tool's answer go back in OpenAI's shape.
    let mut request = ask("what is 17*23?", vec![calculator()]);
    request.messages.push(ChatMessage {
        role: ChatRole::Assistant,
        content: String::new(),
        tool_calls: first.tool_calls.clone(),
        tool_call_id: None,
    });
    request.messages.push(ChatMessage {
        role: ChatRole::Tool,
        content: "391".into(),
        tool_calls: vec![],
        tool_call_id: Some("call_1_0".into()),
    });
    let (tx, mut rx) = unbounded_channel();
    let second = p.chat(request, tx).await.unwrap();
    assert_eq!(second.content, "17 × 23 = 391");
    assert_eq!(drain(&mut rx).concat(), "17 × 23 = 391");
    assert_eq!(second.finish_reason, FinishReason::Stop);
    let body = &llm.requests()[1];
    let assistant = &body["messages"][2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["content"], serde_json::Value::Null);
    assert_eq!(assistant["tool_calls"][0]["id"], "call_1_0");
    assert_eq!(assistant["tool_calls"][0]["type"], "function");
    let args = assistant["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .expect("arguments are a JSON string");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(args).unwrap(),
        json!({"expression": "17*23", "precision": 2})
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "tool_call_id": "call_1_0", "content": "391"})
    );
}

#[tokio::test]
async fn several_tool_calls_and_invalid_arguments() {
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_tool_calls([
            ("current_time", ""),
            ("calculator", r#"{"expression": "1+"#),
        ])
        .chunk_chars(2)]);
    let (tx, _rx) = unbounded_channel();
    let resp = provider(&llm)
        .chat(ask("x", vec![calculator()]), tx)
        .await
        .unwrap();
    assert_eq!(resp.tool_calls.len(), 2);
    assert_eq!(resp.tool_calls[0].name, "current_time");
    assert_eq!(
        resp.tool_calls[0].arguments,
        json!({}),
        "empty arguments become {{}}"
    );
    assert_eq!(resp.tool_calls[1].id, "call_1_1");
    assert_eq!(
        resp.tool_calls[1].arguments,
        json!(r#"{"expression": "1+"#),
        "invalid JSON stays a string"
    );
}

#[tokio::test]
async fn http_errors_are_transport_errors_with_status_and_body() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_error(
        401,
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
    )]);
    let (tx, _rx) = unbounded_channel();
    let err = provider(&llm).chat(ask("x", vec![]), tx).await.unwrap_err();
    match err {
        LlmError::Transport(msg) => {
            assert!(msg.contains("401"), "{msg}");
            assert!(msg.contains("Incorrect API key provided"), "{msg}");
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert_eq!(llm.request_count(), 1, "4xx other than 429 is not retried");
}

#[tokio::test]
async fn retries_429_and_5xx_before_the_stream_starts() {
    let llm = ScriptedLlm::start(vec![
        Rule::always().reply_error(429, "slow down").times(1),
        Rule::always().reply_error(503, "overloaded").times(1),
        Rule::always().reply_text("finally"),
    ]);
    let (tx, _rx) = unbounded_channel();
    let resp = provider(&llm).chat(ask("x", vec![]), tx).await.unwrap();
    assert_eq!(resp.content, "finally");
    assert_eq!(llm.request_count(), 3);
}

#[tokio::test]
async fn gives_up_after_the_retry_budget() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_error(500, "boom")]);
    let (tx, _rx) = unbounded_channel();
    let p = OpenAiCompatible::new(llm.base_url(), None).with_retry(fast_retry(2));
    let err = p.chat(ask("x", vec![]), tx).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Transport(m) if m.contains("500") && m.contains("boom")),
        "{err:?}"
    );
    assert_eq!(llm.request_count(), 3, "1 attempt + 2 retries");
    assert_eq!(
        llm.authorizations(),
        vec![None, None, None],
        "no key, no Authorization header"
    );
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_after_retries() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = OpenAiCompatible::new(format!("http://127.0.0.1:{port}/v1/"), None)
        .with_retry(fast_retry(1));
    let (tx, _rx) = unbounded_channel();
    let err = p.chat(ask("x", vec![]), tx).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Transport(m) if m.contains(&format!("127.0.0.1:{port}/v1/chat/completions"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_dropped_receiver_does_not_fail_the_call() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("still answered")]);
    let (tx, rx) = unbounded_channel();
    drop(rx);
    let resp = provider(&llm).chat(ask("x", vec![]), tx).await.unwrap();
    assert_eq!(resp.content, "still answered");
}

#[tokio::test]
async fn cancelling_mid_stream_stops_quickly() {
    let text = "word ".repeat(100);
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_text(text)
        .chunk_delay(Duration::from_millis(20))]);
    let p = provider(&llm);
    let (tx, mut rx) = unbounded_channel();
    let call = tokio::spawn(async move { p.chat(ask("x", vec![]), tx).await });
    // Cancel (drop the call's future) once the stream is flowing, however slow the machine.
    let first = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a first fragment within 30 s");
    assert!(first.is_some());
    call.abort();
    assert!(
        call.await.unwrap_err().is_cancelled(),
        "the 2.5 s stream cannot have finished after its first fragment"
    );
    // The sender went with the call: what is left is finite and well short of the whole.
    let mut rest = 0;
    while rx.recv().await.is_some() {
        rest += 1;
    }
    assert!(
        rest + 1 < 125,
        "the stream stopped with the call: {} fragments arrived",
        rest + 1
    );
}

#[tokio::test]
async fn zero_latency_server_answers_repeatedly() {
    let llm = ScriptedLlm::zero_latency("ok");
    let p = provider(&llm);
    for _ in 0..10 {
        let (tx, _rx) = unbounded_channel();
        assert_eq!(p.chat(ask("x", vec![]), tx).await.unwrap().content, "ok");
    }
    assert_eq!(llm.request_count(), 10);
}

#[tokio::test]
async fn a_stream_broken_midway_is_a_transport_error_and_is_not_retried() {
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_text("partial answer here")
        .disconnect_after(2)]);
    let (tx, mut rx) = unbounded_channel();
    let err = provider(&llm).chat(ask("x", vec![]), tx).await.unwrap_err();
    assert!(matches!(err, LlmError::Transport(_)), "{err:?}");
    assert_eq!(
        drain(&mut rx).concat(),
        "partial ",
        "the fragments before the break were forwarded"
    );
    assert_eq!(
        llm.request_count(),
        1,
        "no retry once the stream has started"
    );
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_is_still_understood() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("calc")
            .reply_tool_call("calculator", r#"{"expression":"2+2"}"#)
            .non_streaming(),
        Rule::always().reply_text("whole reply").non_streaming(),
    ]);
    let p = provider(&llm);
    let (tx, mut rx) = unbounded_channel();
    let resp = p.chat(ask("x", vec![]), tx).await.unwrap();
    assert_eq!(resp.content, "whole reply");
    assert_eq!(resp.finish_reason, FinishReason::Stop);
    assert!(resp.usage.output_tokens > 0);
    assert_eq!(drain(&mut rx).concat(), "whole reply");
    let (tx, _rx) = unbounded_channel();
    let resp = p.chat(ask("calc", vec![calculator()]), tx).await.unwrap();
    assert_eq!(resp.finish_reason, FinishReason::ToolCalls);
    assert_eq!(resp.tool_calls[0].arguments, json!({"expression": "2+2"}));
}
