//! A run on the real embedded model (SmolLM2-135M-Instruct GGUF on CPU), fetched by
//! `scripts/setup.sh`. No test double: this is the provider a new user gets.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn local_smollm2_run_completes_with_text_and_usage() {
    let server = Server::start();
    let user = User::sign_up(&server, "local@example.com").await;
    let providers: Vec<Value> = user
        .get("/api/v1/providers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let local = providers
        .iter()
        .find(|p| p["kind"] == "local")
        .expect("sign-up creates the local provider");
    assert_eq!(local["has_api_key"], false);
    let agent = user
        .agent(
            local["id"].as_str().unwrap(),
            "smollm2-135m-instruct",
            &[],
            json!({"max_steps": 1, "max_output_tokens": 24, "timeout_secs": 600}),
        )
        .await;
    let run = user
        .start_run(
            agent["id"].as_str().unwrap(),
            "What is the capital of France?",
            None,
        )
        .await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    let last = events.last().unwrap();
    assert_eq!(last.1, "completed", "run did not complete: {:?}", last.2);
    assert!(!last.2["output"].as_str().unwrap().trim().is_empty());
    assert!(
        events.iter().any(|e| e.1 == "token_delta"),
        "tokens are streamed"
    );
    let run: Value = user
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "completed");
    assert!(run["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let out = run["usage"]["output_tokens"].as_u64().unwrap();
    assert!(
        out > 0 && out <= 24,
        "output tokens {out} within max_output_tokens"
    );
}
