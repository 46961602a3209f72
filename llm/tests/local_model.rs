//! Loads the real SmolLM2-135M-Instruct GGUF and generates a short answer.
//!
//! Needs the model file at `autonoma_llm::local_model_path(&autonoma_testkit::models_dir())` (`bash scripts/setup.sh`
//! fetches it); without it the test prints why and passes. In the dev profile the
//! workspace compiles dependencies (candle) with opt-level 2, so this runs in seconds.

use std::time::Instant;

use autonoma_core::llm::LlmProvider;
use autonoma_core::llm::{
    ChatMessage, ChatRequest, ChatRole, FinishReason, ProviderFactory, ToolDefinition,
};
use autonoma_core::model::{ProviderConnection, ProviderKind};
use autonoma_llm::{local_model_path, LocalGguf, Providers, LOCAL_MODEL_NAME};
use serde_json::json;
use tokio::sync::mpsc::unbounded_channel;

fn local_connection() -> ProviderConnection {
    ProviderConnection {
        id: uuid::Uuid::nil(),
        org_id: uuid::Uuid::nil(),
        name: "local".into(),
        kind: ProviderKind::Local,
        base_url: None,
        models: vec![LOCAL_MODEL_NAME.into()],
        has_api_key: false,
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generates_a_short_answer_with_the_real_model() {
    let path = local_model_path(&autonoma_testkit::models_dir());
    assert!(
        path.exists(),
        "{} is missing; run `bash scripts/setup.sh`",
        path.display()
    );
    let providers = Providers::new(path);
    let provider = providers.build(&local_connection(), None).unwrap();
    // One instance per factory: both builds share the loaded model.
    assert!(std::sync::Arc::ptr_eq(
        &providers.local(),
        &providers.local()
    ));

    let request = ChatRequest {
        model: LOCAL_MODEL_NAME.into(),
        messages: vec![
            ChatMessage::text(
                ChatRole::System,
                "You are a helpful assistant. Answer in one short sentence.",
            ),
            ChatMessage::text(ChatRole::User, "What is the capital of France?"),
        ],
        tools: vec![],
        max_tokens: 48,
    };

    let rss_before = rss_mib();
    let load_started = Instant::now();
    providers.local().load().await.unwrap();
    let load_time = load_started.elapsed();
    let rss_after = rss_mib();

    let (tx, mut rx) = unbounded_channel::<String>();
    let started = Instant::now();
    let collector = tokio::spawn(async move {
        let mut stamps = Vec::new();
        while let Some(fragment) = rx.recv().await {
            stamps.push((started.elapsed(), fragment));
        }
        stamps
    });
    let resp = provider.chat(request.clone(), tx).await.unwrap();
    let total = started.elapsed();
    let stamps = collector.await.unwrap();

    assert!(!resp.content.trim().is_empty(), "non-empty answer");
    assert!(
        resp.usage.input_tokens > 10,
        "prompt tokens counted: {:?}",
        resp.usage
    );
    assert!(
        resp.usage.output_tokens >= 1 && resp.usage.output_tokens <= 48,
        "{:?}",
        resp.usage
    );
    assert!(matches!(
        resp.finish_reason,
        FinishReason::Stop | FinishReason::Length
    ));
    assert!(resp.tool_calls.is_empty());
    let streamed: String = stamps.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(streamed, resp.content, "the deltas add up to the content");

    let ttft = stamps.first().map(|(t, _)| *t).unwrap_or(total);
    let decode = total.saturating_sub(ttft).as_secs_f64();
    let tps = if decode > 0.0 {
        (resp.usage.output_tokens.saturating_sub(1)) as f64 / decode
    } else {
        f64::NAN
    };
    eprintln!("resident memory: {rss_before:.0} MiB before loading, {rss_after:.0} MiB after");
    eprintln!(
        "local model (f32 weights): load {:.2?}, prompt {} tokens, output {} tokens, time to first token {:.2?}, \
         {:.1} tokens/s after it, total {:.2?}, finish {:?}\nanswer: {:?}",
        load_time, resp.usage.input_tokens, resp.usage.output_tokens, ttft, tps, total, resp.finish_reason, resp.content
    );

    // Deterministic: the same request gives the same answer.
    let (tx, _rx) = unbounded_channel();
    let again = provider.chat(request, tx).await.unwrap();
    assert_eq!(again.content, resp.content);

    // With tools offered the prompt grows (tool definitions in the system prompt) and the
    // call still completes; whether the 135M model emits a <tool_call> block is not asserted.
    let (tx, _rx) = unbounded_channel();
    let with_tools = provider
        .chat(
            ChatRequest {
                model: LOCAL_MODEL_NAME.into(),
                messages: vec![ChatMessage::text(ChatRole::User, "What is 17*23? Use the calculator.")],
                tools: vec![ToolDefinition {
                    name: "calculator".into(),
                    description: "Evaluates an arithmetic expression.".into(),
                    parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
                }],
                max_tokens: 40,
            },
            tx,
        )
        .await
        .unwrap();
    assert!(with_tools.usage.input_tokens > resp.usage.input_tokens);
    eprintln!(
        "with tools: {:?} calls={:?} finish={:?}",
        with_tools.content, with_tools.tool_calls, with_tools.finish_reason
    );

    // The Q4_1 weights as stored (slower, smaller) give a sensible answer too.
    let quantized =
        LocalGguf::new(local_model_path(&autonoma_testkit::models_dir())).keep_quantized(true);
    let (tx, mut rx) = unbounded_channel::<String>();
    let started = Instant::now();
    let first = tokio::spawn(async move { rx.recv().await.map(|_| started.elapsed()) });
    let q = quantized.chat(request_q(), tx).await.unwrap();
    let total = started.elapsed();
    let ttft = first.await.unwrap().unwrap_or(total);
    assert!(!q.content.trim().is_empty());
    let decode = total.saturating_sub(ttft).as_secs_f64();
    eprintln!(
        "local model (Q4_1 weights): prompt {} tokens, output {} tokens, time to first token {:.2?}, {:.1} tokens/s after it\nanswer: {:?}",
        q.usage.input_tokens,
        q.usage.output_tokens,
        ttft,
        q.usage.output_tokens.saturating_sub(1) as f64 / decode,
        q.content
    );
}

fn request_q() -> ChatRequest {
    ChatRequest {
        model: LOCAL_MODEL_NAME.into(),
        messages: vec![
            ChatMessage::text(
                ChatRole::System,
                "You are a helpful assistant. Answer in one short sentence.",
            ),
            ChatMessage::text(ChatRole::User, "What is the capital of France?"),
        ],
        tools: vec![],
        max_tokens: 16,
    }
}

/// Resident set size of this process in MiB (Linux), NaN elsewhere.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
