//! Benchmarks for docs/BENCHMARKS.md. Run:
//!
//! ```text
//! cargo run --release -p autonoma --example bench -- steps   # agent-loop overhead per step
//! cargo run --release -p autonoma --example bench -- api     # GET /api/v1/agents at 1000 req/s
//! cargo run --release -p autonoma --example bench -- local   # SmolLM2 TTFT and tokens/s
//! ```
//!
//! `steps`: an in-process zero-latency provider (replies instantly: a `calculator` tool call
//! for 9 steps, then an answer) drives runs of 10 steps through the real runtime and the
//! real SQLite store (every event persisted). Per-step time = run wall time / steps.
//! `api`: an open-loop client sends requests on a fixed 1 ms schedule to a real
//! `autonoma serve` (this machine, loopback) and records each latency.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use autonoma_core::llm::*;
use autonoma_core::model::*;
use autonoma_core::runtime::RunEnv;
use autonoma_core::service::{NewProvider, RunInput, SecretBox, Service, SignUp};
use autonoma_core::store::JobQueue;
use tokio_util::sync::CancellationToken;

struct InstantLlm;

#[async_trait]
impl LlmProvider for InstantLlm {
    async fn chat(
        &self,
        req: ChatRequest,
        deltas: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<ChatResponse, LlmError> {
        let tool_turns = req
            .messages
            .iter()
            .filter(|m| m.role == ChatRole::Tool)
            .count();
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
        };
        if tool_turns < 9 {
            Ok(ChatResponse {
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: format!("call_{tool_turns}"),
                    name: "calculator".into(),
                    arguments: serde_json::json!({"expression": "2+2"}),
                }],
                usage,
                finish_reason: FinishReason::ToolCalls,
            })
        } else {
            for w in ["The ", "answer ", "is ", "4."] {
                let _ = deltas.send(w.to_string());
            }
            Ok(ChatResponse {
                content: "The answer is 4.".into(),
                tool_calls: vec![],
                usage,
                finish_reason: FinishReason::Stop,
            })
        }
    }
}

struct InstantFactory;
impl ProviderFactory for InstantFactory {
    fn build(
        &self,
        _: &ProviderConnection,
        _: Option<String>,
    ) -> Result<Arc<dyn LlmProvider>, LlmError> {
        Ok(Arc::new(InstantLlm))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn bench_steps() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(
        autonoma_storage::SqliteStore::connect(&format!(
            "sqlite://{}/bench.db",
            dir.path().display()
        ))
        .await?,
    );
    store.migrate().await?;
    let service = Arc::new(Service::new(
        store.clone(),
        store.clone(),
        SecretBox::new(&[7; 32]),
    ));
    let s = service
        .sign_up(
            SignUp {
                email: "bench@example.com".into(),
                password: "benchmark password".into(),
                name: "b".into(),
                org_name: None,
            },
            None,
        )
        .await?;
    let actor = s.actor;
    let provider = service
        .create_provider(
            &actor,
            NewProvider {
                name: "instant".into(),
                kind: ProviderKind::OpenaiCompatible,
                base_url: Some("http://127.0.0.1:9/v1".into()),
                api_key: None,
                models: vec!["instant".into()],
            },
        )
        .await?;
    let agent = service
        .create_agent(
            &actor,
            AgentSpec {
                name: "bench".into(),
                description: String::new(),
                provider_id: provider.id,
                model: "instant".into(),
                instructions: "bench".into(),
                tools: vec!["calculator".into()],
                http_allowlist: vec![],
                knowledge_base_ids: vec![],
                tool_policies: vec![],
                limits: Limits {
                    max_steps: 10,
                    max_output_tokens: 64,
                    timeout_secs: 60,
                },
                pricing: None,
            },
        )
        .await?;
    let env = RunEnv {
        service: service.clone(),
        providers: Arc::new(InstantFactory),
        tools: autonoma_tools::builtin_registry(),
        resolvers: vec![],
    };
    let runs = 300;
    let mut per_step_us = Vec::with_capacity(runs);
    let mut events_per_run = 0;
    for i in 0..runs {
        let (run, _) = service
            .start_run(
                &actor,
                agent.id,
                RunInput {
                    input: format!("what is 2+2? #{i}"),
                    thread_id: None,
                    preflight_id: None,
                },
                None,
            )
            .await?;
        // Take the job off the queue as the executor would, then time the run itself.
        let job = store
            .lease("runs", Duration::from_secs(30))
            .await?
            .expect("job");
        let t = Instant::now();
        let status = env.execute(run.id, CancellationToken::new()).await?;
        let elapsed = t.elapsed();
        store.complete(job.id, job.lease_token).await?;
        assert_eq!(status, RunStatus::Completed);
        let done = service.get_run(&actor, run.id).await?;
        events_per_run = service.run_events(&actor, run.id, 0).await?.len();
        per_step_us.push(elapsed.as_secs_f64() * 1e6 / done.steps as f64);
    }
    per_step_us.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "steps: {runs} runs x 10 steps (9 tool calls + answer), {events_per_run} events persisted per run; per step: median {:.0} us, p99 {:.0} us, min {:.0} us",
        percentile(&per_step_us, 0.5),
        percentile(&per_step_us, 0.99),
        per_step_us[0]
    );
    Ok(())
}

async fn bench_api() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = std::env::var("AUTONOMA_BIN").unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("autonoma")
            .display()
            .to_string()
    });
    let mut child = std::process::Command::new(&bin)
        .arg("serve")
        .env("AUTONOMA_LISTEN", "127.0.0.1:0")
        .env("AUTONOMA_DATA_DIR", dir.path())
        .env("AUTONOMA_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )?;
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let me: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&serde_json::json!({"email": "api@example.com", "password": "benchmark password"}))
        .send()
        .await?
        .json()
        .await?;
    let _ = me;
    let cookie_http = reqwest::Client::builder().cookie_store(true).build()?;
    let me: serde_json::Value = cookie_http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "api@example.com", "password": "benchmark password"}))
        .send()
        .await?
        .json()
        .await?;
    let key: serde_json::Value = cookie_http
        .post(format!("{base}/api/v1/api-keys"))
        .header("x-csrf-token", me["csrf_token"].as_str().unwrap())
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let key = key["secret"].as_str().unwrap().to_string();
    let providers: serde_json::Value = http
        .get(format!("{base}/api/v1/providers"))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    let pid = providers[0]["id"].as_str().unwrap().to_string();
    for i in 0..20 {
        http.post(format!("{base}/api/v1/agents"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"name": format!("agent {i}"), "provider_id": pid, "model": "smollm2-135m-instruct", "instructions": "x".repeat(500)}))
            .send()
            .await?;
    }
    let rate = 1000u64;
    let secs = 20u64;
    let url = format!("{base}/api/v1/agents");
    // Warm-up.
    for _ in 0..200 {
        http.get(&url)
            .bearer_auth(&key)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let start = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity((rate * secs) as usize);
    for i in 0..rate * secs {
        tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / rate)).await;
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let res = http.get(&url).bearer_auth(&key).send().await.ok()?;
            let ok = res.status().is_success();
            res.bytes().await.ok()?;
            ok.then(|| t.elapsed().as_secs_f64() * 1e3)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for h in handles {
        match h.await? {
            Some(l) => lat.push(l),
            None => errors += 1,
        }
    }
    let wall = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "api: GET /api/v1/agents (20 agents, page of 20) at {rate} req/s for {secs} s: achieved {:.0} req/s, errors {errors}, latency median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len() as f64 / wall,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().unwrap()
    );
    let _ = child.kill();
    Ok(())
}

async fn bench_local() -> anyhow::Result<()> {
    let model = autonoma_llm::LocalGguf::new(autonoma_llm::local_model_path(
        &autonoma_testkit::models_dir(),
    ));
    let t = Instant::now();
    model.load().await?;
    println!("local: model load {:.2} s", t.elapsed().as_secs_f64());
    let prompts = [
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "Explain what a CPU does in two sentences.",
        "List three fruits.",
        "Say hello to a new user of an AI agent platform.",
    ];
    let mut ttft = vec![];
    let mut tps = vec![];
    for round in 0..2 {
        for p in prompts {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let req = ChatRequest {
                model: "smollm2-135m-instruct".into(),
                messages: vec![ChatMessage::text(ChatRole::User, p)],
                tools: vec![],
                max_tokens: 128,
            };
            let t = Instant::now();
            let call = model.chat(req, tx);
            tokio::pin!(call);
            let mut first: Option<Duration> = None;
            let resp = loop {
                tokio::select! {
                    Some(_) = rx.recv(), if first.is_none() => first = Some(t.elapsed()),
                    r = &mut call => break r?,
                }
            };
            let total = t.elapsed();
            let first = first.unwrap_or(total);
            if round == 1 {
                ttft.push(first.as_secs_f64() * 1e3);
                let gen_secs = (total - first).as_secs_f64();
                if resp.usage.output_tokens > 1 && gen_secs > 0.0 {
                    tps.push((resp.usage.output_tokens - 1) as f64 / gen_secs);
                }
            }
        }
    }
    ttft.sort_by(|a, b| a.partial_cmp(b).unwrap());
    tps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "local: SmolLM2-135M-Instruct (Q4_1 GGUF, weights dequantized to f32 at load) on CPU, {} prompts (after one warm-up round), max 128 tokens: time to first token median {:.0} ms (max {:.0} ms); decode {:.1} tokens/s median (min {:.1})",
        ttft.len(),
        percentile(&ttft, 0.5),
        ttft.last().unwrap(),
        percentile(&tps, 0.5),
        tps[0]
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("steps") => bench_steps().await,
        Some("api") => bench_api().await,
        Some("local") => bench_local().await,
        _ => {
            eprintln!("usage: bench steps|api|local");
            std::process::exit(2)
        }
    }
}
