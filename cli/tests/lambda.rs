//! The `autonoma` binary as AWS Lambda functions, in the cloud shape: PostgreSQL (row-level
//! security), SQS and S3 and Secrets Manager on moto's server, and a local Lambda Runtime
//! API (`autonoma_testkit::lambda`) through which the real binary polls for invocations.
//! Events are API Gateway HTTP API v2 payloads (what function URLs send) and SQS batches.
//!
//! Covered:
//! - the `migrate` function, which also creates the IAM login role;
//! - the `api` function, logged in to PostgreSQL with IAM auth tokens: streamed responses
//!   (status, headers, cookies), problem+json errors, the origin-verify check, SSE and the
//!   polling fallback; an upload landing in S3 with its embedding job on the GPU queue,
//!   embedded by an `autonoma gpu-worker` consuming SQS on wgpu, then searched through the
//!   api function, which has no GPU driver and embeds the query on the CPU;
//! - the `run-executor` function, also on IAM auth tokens, running a run in several
//!   invocations, each within its time budget, through checkpoints and continuations,
//!   without repeating a step; batch item failures;
//! - the cold start of the api function (process start to first response).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use autonoma_aws::S3Config;
use autonoma_testkit::lambda::{http_api_v2_event, split_http_stream, sqs_event};
use autonoma_testkit::{Rule, ScriptedLlm};
use common::cloud::{Cloud, Function, Process, BUCKET, ORIGIN_SECRET, PREFIX};
use serde_json::{json, Value};

/// A response of the api function, decoded from its stream (prelude + body).
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Value,
    cookies: Vec<String>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> &str {
        self.headers[name].as_str().unwrap_or("")
    }
}

/// Invokes the api function with an API Gateway v2 event and reads the streamed response.
async fn call(
    api: &Function,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    let event = http_api_v2_event(method, path, headers, body, "198.51.100.7");
    let mut inv = api.runtime.invoke(event, Duration::from_secs(60));
    let raw = tokio::time::timeout(Duration::from_secs(120), inv.finish())
        .await
        .expect("api function answered")
        .expect("api function succeeded");
    let (prelude, body) = split_http_stream(&raw).expect("a streamed HTTP integration response");
    HttpResponse {
        status: prelude["statusCode"].as_u64().unwrap() as u16,
        headers: prelude["headers"].clone(),
        cookies: prelude["cookies"]
            .as_array()
            .map(|a| a.iter().map(|c| c.as_str().unwrap().to_string()).collect())
            .unwrap_or_default(),
        body,
    }
}

/// Receives up to 10 messages of an SQS queue (as the event source mapping would, with a
/// 60 s visibility timeout): (message id, receipt handle, body).
async fn receive(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<(String, String, String)> {
    let url = sqs
        .get_queue_url()
        .queue_name(format!("{PREFIX}{queue}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let out = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .visibility_timeout(60)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    out.messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.message_id.unwrap(),
                m.receipt_handle.unwrap(),
                m.body.unwrap(),
            )
        })
        .collect()
}

/// Makes a received message visible again at once (as if its consumer had died).
async fn release(sqs: &aws_sdk_sqs::Client, queue: &str, receipt: &str) {
    let url = sqs
        .get_queue_url()
        .queue_name(format!("{PREFIX}{queue}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.change_message_visibility()
        .queue_url(url)
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
}

/// Uploads a text file to a knowledge base through the api function; returns the
/// document's id.
async fn upload(
    api: &Function,
    headers: &[(&str, &str)],
    kb_id: &str,
    name: &str,
    text: &str,
) -> String {
    let boundary = "autonomaboundary";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n"
    );
    let ctype = format!("multipart/form-data; boundary={boundary}");
    let mut headers = headers.to_vec();
    headers.push(("content-type", &ctype));
    let doc = call(
        api,
        "POST",
        &format!("/api/v1/knowledge-bases/{kb_id}/documents"),
        &headers,
        Some(&multipart),
    )
    .await;
    assert_eq!(doc.status, 201, "{}", String::from_utf8_lossy(&doc.body));
    doc.json()["id"].as_str().unwrap().to_string()
}

async fn delete(sqs: &aws_sdk_sqs::Client, queue: &str, receipt: &str) {
    let url = sqs
        .get_queue_url()
        .queue_name(format!("{PREFIX}{queue}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.delete_message()
        .queue_url(url)
        .receipt_handle(receipt)
        .send()
        .await
        .unwrap();
}

/// Invokes the run-executor with one SQS batch whose deadline is `timeout` away; returns
/// the ids in `batchItemFailures`.
async fn execute_batch(
    executor: &Function,
    messages: &[(String, String, String)],
    timeout: Duration,
) -> Vec<String> {
    let event = sqs_event(
        &format!("arn:aws:sqs:us-east-1:123456789012:{PREFIX}runs"),
        messages,
    );
    let mut inv = executor.runtime.invoke(event, timeout);
    let raw = tokio::time::timeout(Duration::from_secs(120), inv.finish())
        .await
        .expect("executor answered")
        .expect("executor succeeded");
    let res: Value = serde_json::from_slice(&raw).unwrap();
    res["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_runs_as_lambda_functions_on_postgres_sqs_and_s3() {
    let cloud = Cloud::start(env!("CARGO_BIN_EXE_autonoma").into()).await;
    let llm = ScriptedLlm::start(vec![
        // Slow enough that one step does not fit in the executor's budget below.
        Rule::when_user_contains("6*7")
            .reply_tool_call("calculator", r#"{"expression":"6*7"}"#)
            .chunk_chars(4)
            .chunk_delay(Duration::from_millis(150)),
        Rule::after_tool_result("42")
            .reply_text("The answer is 42.")
            .chunk_chars(4)
            .chunk_delay(Duration::from_millis(150)),
    ]);

    // ---- migrate, creating the IAM login role (the owner has CREATEROLE, as RDS's master
    // user has; rds_iam is RDS's role that makes a login IAM-only)
    cloud
        .pg
        .psql("ALTER ROLE autonoma_owner CREATEROLE; CREATE ROLE rds_iam NOLOGIN");
    let (migrate, _) = cloud
        .function("migrate", &[("AUTONOMA_DATABASE_IAM_USER", "autonoma_iam")])
        .await;
    let mut inv = migrate.runtime.invoke(json!({}), Duration::from_secs(120));
    let out = tokio::time::timeout(Duration::from_secs(180), inv.finish())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!({ "migrated": true })
    );
    drop(migrate);
    let roles = cloud.pg.psql("SELECT pg_has_role('autonoma_iam', 'autonoma_app', 'MEMBER'), pg_has_role('autonoma_iam', 'rds_iam', 'MEMBER')");
    assert_eq!(
        roles.trim(),
        "t|t",
        "the migrate function created the IAM login"
    );

    // ---- api: cold start, then the origin check
    // No Vulkan driver: the api function embeds search queries on the CPU (the default
    // `AUTONOMA_EMBEDDING_DEVICE=auto` finds no adapter).
    // It logs in to PostgreSQL as autonoma_iam with IAM auth tokens signed with the
    // function's AWS credentials (this PostgreSQL trusts the role: it cannot check SigV4).
    let port = cloud.pg.port().to_string();
    let api_env = [
        ("VK_ICD_FILENAMES", "/nonexistent/icd.json"),
        ("VK_DRIVER_FILES", "/nonexistent/icd.json"),
        ("AUTONOMA_DATABASE_HOST", "127.0.0.1"),
        ("AUTONOMA_DATABASE_PORT", port.as_str()),
        ("AUTONOMA_DATABASE_IAM_USER", "autonoma_iam"),
        ("AUTONOMA_DATABASE_SSL_MODE", "disable"),
    ];
    let (api, spawned) = cloud
        .function_without(
            "api",
            &api_env,
            &["AUTONOMA_DATABASE_URL", "AUTONOMA_DATABASE_OWNER_URL"],
        )
        .await;
    let verify = ("x-origin-verify", ORIGIN_SECRET);
    let first = call(&api, "GET", "/api/v1/me", &[verify], None).await;
    let cold_start = spawned.elapsed();
    eprintln!(
        "api function cold start (process start to first response, debug build): {} ms",
        cold_start.as_millis()
    );
    assert_eq!(first.status, 401);
    assert_eq!(first.header("content-type"), "application/problem+json");
    let refused = call(&api, "GET", "/api/v1/me", &[], None).await;
    assert_eq!(
        (refused.status, refused.json()["code"].as_str()),
        (403, Some("origin_verify_failed"))
    );
    let wrong = call(&api, "GET", "/", &[("x-origin-verify", "guess")], None).await;
    assert_eq!(wrong.status, 403);
    let logins = cloud.pg.psql("SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name <> 'psql' AND usename LIKE 'autonoma%'");
    assert!(
        logins.lines().any(|l| l == "autonoma_iam"),
        "the api function is connected as autonoma_iam: {logins}"
    );

    // ---- sign up (cookie session, CSRF), an API key, bad input
    let json_h = ("content-type", "application/json");
    let signup = call(
        &api,
        "POST",
        "/api/v1/auth/signup",
        &[verify, json_h],
        Some(r#"{"email":"cloud@example.com","password":"correct horse battery","name":"Cloud"}"#),
    )
    .await;
    assert_eq!(
        signup.status,
        201,
        "{}",
        String::from_utf8_lossy(&signup.body)
    );
    let session = signup
        .cookies
        .iter()
        .find(|c| c.starts_with("autonoma_session="))
        .expect("session cookie in the prelude's cookies")
        .clone();
    assert!(
        session.contains("HttpOnly")
            && session.contains("Secure")
            && session.contains("SameSite=Lax"),
        "{session}"
    );
    let cookie = session.split(';').next().unwrap().to_string();
    let csrf = signup.json()["csrf_token"].as_str().unwrap().to_string();
    let key = call(
        &api,
        "POST",
        "/api/v1/api-keys",
        &[verify, json_h, ("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(r#"{"name":"lambda"}"#),
    )
    .await;
    assert_eq!(key.status, 201);
    let bearer = format!("Bearer {}", key.json()["secret"].as_str().unwrap());
    let auth = ("authorization", bearer.as_str());
    let bad = call(
        &api,
        "POST",
        "/api/v1/agents",
        &[verify, auth, json_h],
        Some("{not json"),
    )
    .await;
    assert_eq!(
        (bad.status, bad.json()["code"].as_str()),
        (400, Some("malformed_json"))
    );

    // ---- a provider, an agent and a run: the job lands on SQS
    let provider = call(
        &api,
        "POST",
        "/api/v1/providers",
        &[verify, auth, json_h],
        Some(&json!({ "name": "Scripted", "kind": "openai_compatible", "base_url": llm.base_url(), "api_key": "sk-test", "models": ["scripted"] }).to_string()),
    )
    .await;
    assert_eq!(
        provider.status,
        201,
        "{}",
        String::from_utf8_lossy(&provider.body)
    );
    let agent = call(
        &api,
        "POST",
        "/api/v1/agents",
        &[verify, auth, json_h],
        Some(
            &json!({ "name": "Calc", "description": "", "provider_id": provider.json()["id"], "model": "scripted", "instructions": "Be brief.",
                     "tools": ["calculator"], "limits": { "max_steps": 5, "max_output_tokens": 256, "timeout_secs": 300 } })
            .to_string(),
        ),
    )
    .await;
    assert_eq!(agent.status, 201);
    let agent_id = agent.json()["id"].as_str().unwrap().to_string();
    let run = call(
        &api,
        "POST",
        &format!("/api/v1/agents/{agent_id}/runs"),
        &[verify, auth, json_h, ("idempotency-key", "lambda-1")],
        Some(r#"{"input":"What is 6*7?"}"#),
    )
    .await;
    assert_eq!(run.status, 202, "{}", String::from_utf8_lossy(&run.body));
    let run_id = run.json()["id"].as_str().unwrap().to_string();
    let sqs = cloud.sqs().await;
    let mut batch = receive(&sqs, "runs").await;
    assert_eq!(batch.len(), 1, "one run job on the runs queue");
    assert!(batch[0].2.contains(&run_id));
    let original = batch[0].clone();

    // ---- run-executor: 2 s deadlines less a 1.5 s reserve leave 0.5 s to start a step, and
    // a step takes longer, so each invocation runs at most one step, checkpoints, and
    // enqueues the continuation; the event source mapping deletes each handled message.
    let mut executor_env = api_env[2..].to_vec();
    executor_env.push(("AUTONOMA_LAMBDA_RESERVE_MS", "1500"));
    let (executor, _) = cloud
        .function_without(
            "run-executor",
            &executor_env,
            &["AUTONOMA_DATABASE_URL", "AUTONOMA_DATABASE_OWNER_URL"],
        )
        .await;
    let mut invocations = 0;
    loop {
        assert_eq!(
            batch.len(),
            1,
            "exactly one message carries the run onwards: {batch:?}"
        );
        let failures = execute_batch(&executor, &batch, Duration::from_millis(2000)).await;
        assert!(failures.is_empty(), "{failures:?}");
        delete(&sqs, "runs", &batch[0].1).await;
        invocations += 1;
        let state = call(
            &api,
            "GET",
            &format!("/api/v1/runs/{run_id}"),
            &[verify, auth],
            None,
        )
        .await
        .json();
        if state["status"] == "completed" {
            assert_eq!(state["output"], "The answer is 42.");
            assert_eq!(state["steps"], 2);
            break;
        }
        assert_eq!(state["status"], "running", "{state}");
        assert!(invocations < 10, "the run does not finish");
        batch = receive(&sqs, "runs").await;
    }
    assert!(
        invocations >= 2,
        "the run needed more than one invocation ({invocations})"
    );
    assert!(
        receive(&sqs, "runs").await.is_empty(),
        "nothing left once the run completed"
    );
    assert_eq!(
        llm.request_count(),
        2,
        "each step called the model once across invocations"
    );

    // The events through the polling fallback, and the same through the SSE stream.
    let page = call(
        &api,
        "GET",
        &format!("/api/v1/runs/{run_id}/events?after=0"),
        &[verify, auth, ("accept", "application/json")],
        None,
    )
    .await
    .json();
    assert_eq!(page["done"], true);
    let kinds: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "run_resumed").count(),
        invocations - 1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "assistant_message").count(),
        2
    );
    assert_eq!(kinds.iter().filter(|k| **k == "tool_result").count(), 1);
    assert_eq!(kinds.last(), Some(&"completed"));
    let sse = call(
        &api,
        "GET",
        &format!("/api/v1/runs/{run_id}/events"),
        &[verify, auth],
        None,
    )
    .await;
    assert_eq!(sse.header("content-type"), "text/event-stream");
    let text = String::from_utf8(sse.body).unwrap();
    assert!(
        text.contains("event: run_started") && text.contains("event: completed"),
        "{text}"
    );

    // A redelivered (duplicate) message of a finished run is a no-op; garbage is a batch
    // item failure (SQS redelivers it, then dead-letters it).
    let events_before = page["events"].as_array().unwrap().len();
    let garbage = (
        "garbage-1".to_string(),
        "r".to_string(),
        "not a job".to_string(),
    );
    let failures = execute_batch(
        &executor,
        &[original.clone(), garbage],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(failures, vec!["garbage-1".to_string()]);
    let after = call(
        &api,
        "GET",
        &format!("/api/v1/runs/{run_id}/events?after=0"),
        &[verify, auth, ("accept", "application/json")],
        None,
    )
    .await
    .json();
    assert_eq!(after["events"].as_array().unwrap().len(), events_before);
    assert!(receive(&sqs, "runs").await.is_empty());

    // ---- an upload goes to S3 and its embedding job to the GPU queue
    let kb = call(
        &api,
        "POST",
        "/api/v1/knowledge-bases",
        &[verify, auth, json_h],
        Some(r#"{"name":"Docs","description":""}"#),
    )
    .await;
    assert_eq!(kb.status, 201, "{}", String::from_utf8_lossy(&kb.body));
    let kb_id = kb.json()["id"].as_str().unwrap().to_string();
    let doc_id = upload(
        &api,
        &[verify, auth],
        &kb_id,
        "notes.txt",
        "The boiler room is warm. Penguins like it there.",
    )
    .await;
    let s3 = autonoma_aws::S3BlobStore::from_config(
        &autonoma_aws::AwsConfig::local(cloud.moto.endpoint.clone()),
        S3Config {
            force_path_style: true,
            ..S3Config::new(BUCKET)
        },
    )
    .await;
    let listed = s3
        .client()
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let head = s3
        .client()
        .head_object()
        .bucket(BUCKET)
        .key(&keys[0])
        .send()
        .await
        .unwrap();
    assert!(head.server_side_encryption().is_some(), "stored encrypted");
    let gpu = receive(&sqs, "gpu").await;
    assert!(
        !gpu.is_empty() && gpu.iter().all(|m| m.2.contains(&doc_id)),
        "{gpu:?}"
    );
    for m in &gpu {
        release(&sqs, "gpu", &m.1).await;
    }
    let garden = upload(
        &api,
        &[verify, auth],
        &kb_id,
        "garden.txt",
        "Aphids on the roses are washed off with soapy water every morning.",
    )
    .await;

    // ---- a GPU worker (wgpu) consumes the GPU queue, reads the files from S3 and embeds
    // them; the api function, which has no Vulkan driver (as in Lambda), embeds search
    // queries on the CPU and finds the chunks the worker embedded.
    let mut worker = cloud.base_command();
    worker
        .arg("gpu-worker")
        .env("AUTONOMA_EMBEDDING_DEVICE", "gpu")
        .stdout(Stdio::piped());
    let mut worker = Process(worker.spawn().expect("start autonoma gpu-worker"));
    let mut line = String::new();
    BufReader::new(worker.0.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the ready line");
    assert_eq!(line.trim(), "gpu worker ready");
    for doc in [&doc_id, &garden] {
        let guard = tokio::time::Instant::now() + Duration::from_secs(240);
        loop {
            let d = call(
                &api,
                "GET",
                &format!("/api/v1/knowledge-bases/{kb_id}/documents/{doc}"),
                &[verify, auth],
                None,
            )
            .await
            .json();
            match d["status"].as_str().unwrap() {
                "ready" => break,
                "failed" => panic!("document failed: {d}"),
                _ => assert!(
                    tokio::time::Instant::now() < guard,
                    "not embedded in time: {d}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    for (query, want) in [
        ("where do penguins like to stay warm?", &doc_id),
        ("how do I get rid of aphids on roses", &garden),
    ] {
        let body = json!({ "query": query, "k": 2 }).to_string();
        let res = call(
            &api,
            "POST",
            &format!("/api/v1/knowledge-bases/{kb_id}/search"),
            &[verify, auth, json_h],
            Some(&body),
        )
        .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let hits = res.json();
        assert_eq!(hits.as_array().unwrap().len(), 2, "{hits}");
        assert_eq!(
            hits[0]["document_id"].as_str(),
            Some(want.as_str()),
            "{query}: {hits}"
        );
        let (best, other) = (
            hits[0]["score"].as_f64().unwrap(),
            hits[1]["score"].as_f64().unwrap(),
        );
        assert!(
            best > 0.4 && best > other + 0.2,
            "{query}: a clear match ({best} vs {other})"
        );
    }

    assert!(api.runtime.init_errors().is_empty() && executor.runtime.init_errors().is_empty());
    drop((api, executor, worker));
    drop(cloud);
}
