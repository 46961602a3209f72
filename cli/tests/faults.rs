//! Faults injected at the boundaries of a real `autonoma serve`: the model server answering
//! 503/429/500, cutting its stream or going silent; the database dropping every
//! connection of the application while runs are in flight (PostgreSQL
//! `pg_terminate_backend`); the disk filling up under a document upload (a file-size limit
//! on the server process, so writes fail as on a full disk). Each ends in a retry or in a
//! clear failure recorded on the run or answered as a problem, never in a stuck run or a
//! partial write. (The SQS/S3 outage of the cloud shape is in `lambda.rs`.)

mod common;

use std::process::Command;
use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// An agent of `user` on the scripted model with `tools` and a wall-time limit.
async fn agent(user: &User, llm: &ScriptedLlm, tools: &[&str], timeout_secs: u64) -> String {
    let provider = user.scripted_provider(&llm.base_url()).await;
    let agent = user
        .agent(
            &provider,
            "scripted",
            tools,
            json!({"max_steps": 6, "max_output_tokens": 256, "timeout_secs": timeout_secs}),
        )
        .await;
    agent["id"].as_str().unwrap().to_string()
}

/// Runs `input` to its end; returns the run and its events.
async fn run_to_end(
    user: &User,
    agent_id: &str,
    input: &str,
) -> (Value, Vec<(i64, String, Value)>) {
    let run = user.start_run(agent_id, input, None).await;
    let id = run["id"].as_str().unwrap();
    let events = user.events(id, None).await;
    (get_json(user, &format!("/api/v1/runs/{id}")).await, events)
}

#[tokio::test]
async fn model_errors_and_rate_limits_are_retried_and_the_run_completes() {
    let llm = ScriptedLlm::start(vec![
        Rule::always()
            .reply_error(503, r#"{"error":{"message":"overloaded"}}"#)
            .times(1),
        Rule::always()
            .reply_error(429, r#"{"error":{"message":"rate limit"}}"#)
            .times(1),
        Rule::always().reply_text("Recovered after two refusals."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "retry@example.com").await;
    let agent = agent(&user, &llm, &[], 60).await;
    let (run, events) = run_to_end(&user, &agent, "hello").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], "Recovered after two refusals.");
    assert_eq!(
        llm.request_count(),
        3,
        "the 503 and the 429 were each retried once"
    );
    assert_eq!(events.iter().filter(|e| e.1 == "completed").count(), 1);
}

#[tokio::test]
async fn a_model_that_keeps_failing_fails_the_run_with_its_status() {
    let llm = ScriptedLlm::start(vec![
        Rule::always().reply_error(500, r#"{"error":{"message":"internal model failure"}}"#)
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "fail500@example.com").await;
    let agent = agent(&user, &llm, &[], 60).await;
    let (run, events) = run_to_end(&user, &agent, "hello").await;
    assert_eq!(run["status"], "failed", "{run}");
    let last = events.last().unwrap();
    assert_eq!(last.1, "failed");
    assert_eq!(last.2["code"], "provider_error");
    let reason = last.2["reason"].as_str().unwrap();
    assert!(
        reason.contains("500") && reason.contains("internal model failure"),
        "{reason}"
    );
    assert_eq!(llm.request_count(), 4, "the first attempt and 3 retries");
}

#[tokio::test]
async fn a_truncated_stream_fails_the_run_readably_without_a_retry() {
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_text("This answer is cut off by the server halfway through.")
        .chunk_chars(3)
        .disconnect_after(4)]);
    let server = Server::start();
    let user = User::sign_up(&server, "cut@example.com").await;
    let agent = agent(&user, &llm, &[], 60).await;
    let (run, events) = run_to_end(&user, &agent, "hello").await;
    assert_eq!(run["status"], "failed", "{run}");
    let last = events.last().unwrap();
    assert_eq!(last.2["code"], "provider_error", "{:?}", last);
    assert!(!last.2["reason"].as_str().unwrap().is_empty());
    assert_eq!(
        llm.request_count(),
        1,
        "text was already streamed to the client, so the call is not repeated"
    );
}

#[tokio::test]
async fn a_model_that_stops_answering_is_ended_by_the_runs_time_limit() {
    let llm = ScriptedLlm::start(vec![Rule::always()
        .reply_text("slow")
        .chunk_chars(1)
        .chunk_delay(Duration::from_secs(30))]);
    let server = Server::start();
    let user = User::sign_up(&server, "silent@example.com").await;
    let agent = agent(&user, &llm, &[], 2).await;
    let (run, events) = run_to_end(&user, &agent, "hello").await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(events.last().unwrap().2["code"], "timeout");
    assert!(run["error"].as_str().unwrap().contains("2 s"), "{run}");
}

/// Terminates every connection of the application's role (`autonoma_web`), as the
/// superuser; returns how many.
fn drop_app_connections(pg: &autonoma_testkit::postgres::PgServer) -> usize {
    pg.psql(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE usename = 'autonoma_web'",
    )
    .trim()
    .parse()
    .unwrap()
}

#[tokio::test]
async fn runs_survive_the_database_dropping_every_connection_mid_flight() {
    let llm = ScriptedLlm::start(vec![
        Rule::after_tool_result("100")
            .reply_text("The total is 100.")
            .chunk_chars(2)
            .chunk_delay(Duration::from_millis(40)),
        Rule::after_tool_result("51").reply_tool_call("calculator", r#"{"expression":"51+49"}"#),
        Rule::when_user_contains("compute")
            .reply_tool_call("calculator", r#"{"expression":"17*3"}"#),
    ]);
    let pg = autonoma_testkit::postgres::PgServer::start();
    let (app, owner) = (pg.app_url(), pg.owner_url());
    let server = Server::start_with(&[
        ("AUTONOMA_DATABASE_URL", &app),
        ("AUTONOMA_DATABASE_OWNER_URL", &owner),
        ("AUTONOMA_RUN_LEASE_SECS", "2"),
    ]);
    let user = User::sign_up(&server, "dbdrop@example.com").await;
    let agent = agent(&user, &llm, &["calculator"], 120).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let run = user
            .start_run(&agent, &format!("compute the total, please ({i})"), None)
            .await;
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    // Drop every application connection five times while the runs stream and call tools.
    let mut dropped = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        dropped += drop_app_connections(&pg);
    }
    assert!(dropped > 0, "connections were open to drop");
    // Every run ends (the API may answer 500 while connections are re-made: poll through it).
    let guard = tokio::time::Instant::now() + Duration::from_secs(120);
    for id in &ids {
        loop {
            let res = user
                .get(&format!("/api/v1/runs/{id}"))
                .send()
                .await
                .unwrap();
            if res.status() == 200 {
                let run: Value = res.json().await.unwrap();
                if run["status"] == "completed" {
                    assert_eq!(run["output"], "The total is 100.");
                    break;
                }
                assert!(
                    matches!(run["status"].as_str(), Some("queued" | "running")),
                    "a run ended other than completed: {run}"
                );
            }
            assert!(tokio::time::Instant::now() < guard, "run {id} stuck");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let events = user.events(id, None).await;
        let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
        let mut sorted = seqs.clone();
        sorted.dedup();
        assert_eq!(seqs, sorted, "no duplicated event");
        assert_eq!(events.iter().filter(|e| e.1 == "completed").count(), 1);
        // Each of the two tool calls is recorded once, whatever was redone.
        let results = events.iter().filter(|e| e.1 == "tool_result").count();
        assert_eq!(results, 2, "{events:?}");
    }
    println!("faults: {dropped} connections dropped; 8/8 runs completed");
    drop(server);
    drop(pg);
}

#[tokio::test]
async fn a_full_disk_refuses_an_upload_with_507_and_keeps_nothing() {
    // 2 MiB per file for the server process: the SQLite database stays under it, a 3 MiB
    // document's blob does not. SIGXFSZ ignored: the write fails with EFBIG, as a full disk
    // fails it with ENOSPC.
    let mut server = Server::start_after("trap '' XFSZ; ulimit -S -f 2048", &[]);
    let user = User::sign_up(&server, "disk@example.com").await;
    let kb = user.knowledge_base("handbook").await;
    let kb = kb.as_str();
    let text = "Autonoma keeps every run durable across crashes. ".repeat(64 * 1024);
    let upload = |bytes: Vec<u8>| user.upload(kb, "big.txt", "text/plain", bytes);
    let res = upload(text.clone().into_bytes()).await;
    let problem = assert_problem(res, 507, "insufficient_storage").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was saved"),
        "{problem}"
    );
    let docs = get_json(&user, &format!("/api/v1/knowledge-bases/{kb}/documents")).await;
    assert_eq!(docs["items"].as_array().unwrap().len(), 0, "{docs}");
    let blobs = server.data_dir.path().join("blobs");
    let files: Vec<_> = walk(&blobs);
    assert!(files.is_empty(), "no partial blob left: {files:?}");

    // Space comes back: the same upload succeeds.
    let ok = Command::new("prlimit")
        .arg(format!("--pid={}", server.pid()))
        .arg("--fsize=unlimited")
        .status()
        .unwrap();
    assert!(ok.success());
    let res = upload(text.into_bytes()).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    server.kill();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else {
                vec![p]
            }
        })
        .collect()
}
