//! Scale-out on one PostgreSQL database: two `autonoma serve` processes and one
//! `autonoma gpu-worker`. 200 runs are submitted across both servers; one server is
//! SIGKILLed mid-way; every run must complete exactly once, no step may be recorded twice,
//! and nothing is lost (a restarted server sees every run). Login rate limits hold across
//! both servers. Always runs on PostgreSQL (its
//! own throwaway cluster), whatever `AUTONOMA_TEST_BACKEND` says.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use autonoma_testkit::postgres::PgServer;
use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// Runs submitted.
const RUNS: usize = 200;
/// How long all runs may take to become terminal before the test gives up (a hang guard).
const RUNS_GUARD: Duration = Duration::from_secs(180);
/// How long the two documents may take to be embedded (lavapipe on CPU-only machines is slow).
const READY_GUARD: Duration = Duration::from_secs(900);
/// Lease of a run job: a killed server's runs are redelivered after it.
const RUN_LEASE_SECS: &str = "3";
/// The instance secret key shared by every process (provider keys are sealed with it).
const SECRET_KEY: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

/// What the calculator returns for run `i`: six digits for every run, so no run's result is
/// a substring of another's (the scripted rules match on it).
fn expected_result(i: usize) -> u64 {
    100_000 + 7 * i as u64
}

fn expected_output(i: usize) -> String {
    format!("run {i}: {}", expected_result(i))
}

/// Two rules per run: its tagged question → a calculator call; its (unique) tool result →
/// the answer. Fragments are delayed so that runs are in flight when a server dies.
fn script() -> Vec<Rule> {
    let delay = Duration::from_millis(40);
    let mut rules = Vec::with_capacity(2 * RUNS);
    for i in 0..RUNS {
        rules.push(
            Rule::when_user_contains(format!("[run {i}]"))
                .reply_tool_call("calculator", format!(r#"{{"expression":"{i}*7+100000"}}"#))
                .chunk_delay(delay),
        );
        rules.push(
            Rule::after_tool_result(expected_result(i).to_string())
                .reply_text(expected_output(i))
                .chunk_delay(delay),
        );
    }
    rules
}

/// The environment every process of the deployment shares.
fn shared_env(pg: &PgServer) -> Vec<(&'static str, String)> {
    vec![
        ("AUTONOMA_DATABASE_URL", pg.app_url()),
        ("AUTONOMA_DATABASE_OWNER_URL", pg.owner_url()),
        ("AUTONOMA_SECRET_KEY", SECRET_KEY.to_string()),
        ("AUTONOMA_GPU_WORKER", "false".to_string()),
        ("AUTONOMA_RUN_LEASE_SECS", RUN_LEASE_SECS.to_string()),
        ("AUTONOMA_EXECUTOR_CONCURRENCY", "8".to_string()),
    ]
}

fn start_serve(pg: &PgServer) -> Server {
    let env = shared_env(pg);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(&env)
}

/// An `autonoma gpu-worker` process on the shared database; SIGKILLed on drop.
struct GpuWorker {
    child: Child,
    _data_dir: tempfile::TempDir,
}

impl GpuWorker {
    /// Starts the worker and waits until it has loaded the embedding model.
    fn start(pg: &PgServer) -> GpuWorker {
        let data_dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_autonoma"));
        cmd.arg("gpu-worker")
            .env("AUTONOMA_DATA_DIR", data_dir.path())
            .env("AUTONOMA_LOG", "warn")
            .env("AUTONOMA_EMBEDDING_DEVICE", "gpu")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in shared_env(pg) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start autonoma gpu-worker");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read ready line");
        assert_eq!(line.trim(), "gpu worker ready", "gpu worker did not start");
        GpuWorker {
            child,
            _data_dir: data_dir,
        }
    }
}

impl Drop for GpuWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same account (API key, cookie session) talking to another server of the deployment.
fn same_user_on(user: &User, server: &Server) -> User {
    User {
        http: reqwest::Client::new(),
        cookie_http: user.cookie_http.clone(),
        base: server.base.clone(),
        api_key: user.api_key.clone(),
        csrf: user.csrf.clone(),
        org_id: user.org_id.clone(),
    }
}

/// `psql` as the superuser, off the async runtime (the scripted provider keeps serving).
async fn psql(pg: &Arc<PgServer>, sql: &str) -> String {
    let (pg, sql) = (pg.clone(), sql.to_string());
    tokio::task::spawn_blocking(move || pg.psql(&sql))
        .await
        .unwrap()
}

async fn scalar(pg: &Arc<PgServer>, sql: &str) -> i64 {
    psql(pg, sql)
        .await
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn status_counts(pg: &Arc<PgServer>) -> BTreeMap<String, i64> {
    psql(pg, "SELECT status, count(*) FROM runs GROUP BY status")
        .await
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(s, n)| (s.to_string(), n.parse().unwrap()))
        .collect()
}

/// Starts run `i` on `user`'s server with idempotency key `scale-{i}`; `None` when the server
/// could not be reached (the caller retries elsewhere with the same key).
async fn submit(user: &User, agent_id: &str, i: usize) -> Option<Value> {
    let res = user
        .post(&format!("/api/v1/agents/{agent_id}/runs"))
        .header("idempotency-key", format!("scale-{i}"))
        .json(&json!({ "input": format!("[run {i}] What is {i}*7+100000?") }))
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    // 202: created; 200: the key was already used (an earlier attempt did get through).
    assert!(
        status == 202 || status == 200,
        "start run {i}: {status} {}",
        res.text().await.unwrap()
    );
    Some(res.json().await.unwrap())
}

async fn create_kb(user: &User) -> String {
    let res = user
        .post("/api/v1/knowledge-bases")
        .json(&json!({"name": "Scale-out", "description": "embedded by a separate gpu-worker"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn upload(user: &User, kb: &str, name: &str, text: &str) -> String {
    let part = reqwest::multipart::Part::bytes(text.as_bytes().to_vec())
        .file_name(name.to_string())
        .mime_str("text/plain")
        .unwrap();
    let res = user
        .post(&format!("/api/v1/knowledge-bases/{kb}/documents"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn wait_ready(user: &User, kb: &str, doc: &str) -> Value {
    let guard = Instant::now() + READY_GUARD;
    loop {
        let d: Value = user
            .get(&format!("/api/v1/knowledge-bases/{kb}/documents/{doc}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match d["status"].as_str().unwrap() {
            "ready" => return d,
            "failed" => panic!("document failed: {d}"),
            _ => {}
        }
        assert!(
            Instant::now() < guard,
            "document not embedded by the gpu-worker within {READY_GUARD:?}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every run of the organization through `user`'s server (following cursors).
async fn list_runs(user: &User) -> Vec<Value> {
    let mut out = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/runs?limit=100&cursor={c}"),
            None => "/api/v1/runs?limit=100".to_string(),
        };
        let page: Value = user.get(&path).send().await.unwrap().json().await.unwrap();
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_and_a_gpu_worker_share_one_postgres_and_a_killed_server_loses_nothing() {
    let t0 = Instant::now();
    let llm = ScriptedLlm::start(script());
    let pg = Arc::new(tokio::task::spawn_blocking(PgServer::start).await.unwrap());

    // Server A migrates the database; then B and the GPU worker join it.
    let mut a = Some({
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || start_serve(&pg))
            .await
            .unwrap()
    });
    let b = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || start_serve(&pg))
            .await
            .unwrap()
    };
    let worker = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || GpuWorker::start(&pg))
            .await
            .unwrap()
    };

    // One account, created on A, used on both (same database, same secret key).
    let user_a = User::sign_up(a.as_ref().unwrap(), "scale@example.com").await;
    let user_b = same_user_on(&user_a, &b);
    let provider = user_a.scripted_provider(&llm.base_url()).await;
    let agent = user_a
        .agent(
            &provider,
            "scripted",
            &["calculator"],
            json!({"max_steps": 4, "max_output_tokens": 256, "timeout_secs": 120}),
        )
        .await;
    let agent_id = agent["id"].as_str().unwrap().to_string();
    // B reads what A wrote.
    assert_eq!(
        user_b
            .get(&format!("/api/v1/agents/{agent_id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Login limits are counted in the database, not per process: 5 wrong passwords for one
    // e-mail spread over A and B are refused as wrong (401); the 6th is rate limited on
    // either server.
    let http = reqwest::Client::new();
    let try_login = |server: &Server| {
        let (http, url) = (http.clone(), server.url("/api/v1/auth/login"));
        async move {
            http.post(url)
                .json(&json!({"email": "scale@example.com", "password": "not the password"}))
                .send()
                .await
                .unwrap()
        }
    };
    for server in [a.as_ref().unwrap(), &b, &b, a.as_ref().unwrap(), &b] {
        assert_eq!(try_login(server).await.status(), 401);
    }
    for server in [a.as_ref().unwrap(), &b] {
        let res = try_login(server).await;
        assert_eq!(
            res.status(),
            429,
            "the 6th attempt is limited on every server"
        );
        assert!(res.headers().contains_key("retry-after"));
    }

    // Documents go in through B; the separate gpu-worker embeds them while the runs execute.
    let kb = create_kb(&user_b).await;
    let docs = [
        upload(&user_b, &kb, "lighthouse.txt", "The lighthouse keeper winds the clockwork lamp every evening at dusk and logs the passing ships.").await,
        upload(&user_b, &kb, "orchard.txt", "In the orchard the pear trees are pruned in late winter, and the apples are picked in October.").await,
    ];

    // Submit the runs alternately to A and B; once a third of them have started (or three
    // quarters are submitted), SIGKILL A and send the rest to B.
    let mut run_ids: Vec<String> = Vec::with_capacity(RUNS);
    let mut killed_after_submitted = None;
    let mut running_at_kill = 0;
    let mut started_at_kill = 0;
    for i in 0..RUNS {
        let target = if i % 2 == 0 && a.is_some() {
            &user_a
        } else {
            &user_b
        };
        let run = match submit(target, &agent_id, i).await {
            Some(run) => run,
            None => submit(&user_b, &agent_id, i)
                .await
                .expect("server B unreachable"),
        };
        run_ids.push(run["id"].as_str().unwrap().to_string());
        if a.is_some() && i % 4 == 3 {
            let started = scalar(
                &pg,
                "SELECT count(*) FROM runs WHERE started_at IS NOT NULL",
            )
            .await;
            if started as usize >= RUNS / 3 || i + 1 >= 3 * RUNS / 4 {
                drop(a.take()); // SIGKILL: no drain, no acknowledgements; leases are abandoned
                killed_after_submitted = Some(i + 1);
                running_at_kill =
                    scalar(&pg, "SELECT count(*) FROM runs WHERE status = 'running'").await;
                started_at_kill = scalar(
                    &pg,
                    "SELECT count(*) FROM runs WHERE started_at IS NOT NULL",
                )
                .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_after_submitted = killed_after_submitted.expect("server A was killed mid-way");
    assert!(a.is_none());
    assert_eq!(
        run_ids.iter().collect::<HashSet<_>>().len(),
        RUNS,
        "one run per idempotency key"
    );

    // Wait (bounded) until every run is terminal.
    let guard = Instant::now() + RUNS_GUARD;
    loop {
        let counts = status_counts(&pg).await;
        let terminal: i64 = ["completed", "failed", "cancelled"]
            .iter()
            .filter_map(|s| counts.get(*s))
            .sum();
        if terminal as usize == RUNS {
            break;
        }
        if Instant::now() > guard {
            let jobs = psql(&pg, "SELECT status, attempt, lease_expires_at, last_error FROM jobs WHERE queue = 'runs'").await;
            panic!("runs not all terminal within {RUNS_GUARD:?}: {counts:?}\nrun jobs:\n{jobs}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let runs_elapsed = t0.elapsed();

    // Every run, as stored.
    let mut violations: Vec<String> = vec![];
    let rows = psql(
        &pg,
        "SELECT id, status, steps, idempotency_key, coalesce(output, '') FROM runs",
    )
    .await;
    let mut by_id: HashMap<String, (String, i64, String, String)> = HashMap::new();
    for line in rows.lines() {
        let f: Vec<&str> = line.splitn(5, '|').collect();
        by_id.insert(
            f[0].to_string(),
            (
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].to_string(),
                f[4].to_string(),
            ),
        );
    }
    assert_eq!(by_id.len(), RUNS, "exactly one run row per submission");
    for (i, id) in run_ids.iter().enumerate() {
        let (status, steps, key, output) = &by_id[id];
        assert_eq!(key, &format!("scale-{i}"));
        if status != "completed" || output != &expected_output(i) || *steps != 2 {
            violations.push(format!(
                "run {i} ({id}): status {status}, steps {steps}, output {output:?}"
            ));
        }
    }

    // Every event, as stored: the invariants of exactly-once completion and no repeated step.
    let mut events: HashMap<String, Vec<(i64, Value)>> = HashMap::new();
    for line in psql(
        &pg,
        "SELECT run_id, seq, data::text FROM run_events ORDER BY run_id, seq",
    )
    .await
    .lines()
    {
        let f: Vec<&str> = line.splitn(3, '|').collect();
        events
            .entry(f[0].to_string())
            .or_default()
            .push((f[1].parse().unwrap(), serde_json::from_str(f[2]).unwrap()));
    }
    let mut resumed_runs = 0;
    let mut restarted_runs = 0;
    let mut example: Option<String> = None;
    for (i, id) in run_ids.iter().enumerate() {
        let evs = events.get(id).map(Vec::as_slice).unwrap_or(&[]);
        let kind = |e: &(i64, Value)| e.1["type"].as_str().unwrap_or("").to_string();
        let seqs: Vec<i64> = evs.iter().map(|e| e.0).collect();
        if seqs != (1..=evs.len() as i64).collect::<Vec<_>>() {
            violations.push(format!("run {i}: event seqs not 1..n: {seqs:?}"));
        }
        if evs.first().map(kind).as_deref() != Some("run_started") {
            violations.push(format!("run {i}: first event is not run_started"));
        }
        let starts = evs.iter().filter(|e| kind(e) == "run_started").count();
        let resumes = evs.iter().filter(|e| kind(e) == "run_resumed").count();
        if starts + resumes > 1 {
            resumed_runs += 1;
            if example.is_none() {
                let trace: Vec<String> = evs
                    .iter()
                    .map(kind)
                    .filter(|k| k != "token_delta")
                    .collect();
                example = Some(format!("run {i}: {}", trace.join(" ")));
            }
        }
        if starts > 1 {
            restarted_runs += 1;
        }
        let terminal: Vec<&(i64, Value)> = evs
            .iter()
            .filter(|e| matches!(kind(e).as_str(), "completed" | "failed" | "cancelled"))
            .collect();
        if terminal.len() != 1
            || kind(terminal[0]) != "completed"
            || evs.last() != Some(terminal[0])
        {
            violations.push(format!(
                "run {i}: terminal events {:?} (want exactly one `completed`, last)",
                terminal.iter().map(|e| kind(e)).collect::<Vec<_>>()
            ));
        } else if terminal[0].1["output"] != expected_output(i) {
            violations.push(format!(
                "run {i}: completed with {}",
                terminal[0].1["output"]
            ));
        }
        let mut per_step: BTreeMap<u64, usize> = BTreeMap::new();
        for e in evs.iter().filter(|e| kind(e) == "assistant_message") {
            *per_step.entry(e.1["step"].as_u64().unwrap()).or_default() += 1;
        }
        if per_step.values().any(|n| *n > 1) {
            violations.push(format!(
                "run {i}: a step recorded twice (assistant_message per step: {per_step:?})"
            ));
        }
        let mut per_call: BTreeMap<String, usize> = BTreeMap::new();
        for e in evs.iter().filter(|e| kind(e) == "tool_result") {
            *per_call
                .entry(e.1["call_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        if per_call.values().any(|n| *n > 1) {
            violations.push(format!("run {i}: a tool call answered twice: {per_call:?}"));
        }
        if per_call.len() != 1 {
            violations.push(format!(
                "run {i}: {} distinct tool calls executed (want 1)",
                per_call.len()
            ));
        }
    }

    // Model calls: 2 per run, plus at most one wasted call per run that was in flight on A
    // (a redelivered run resumes at its last recorded step).
    let llm_calls = llm.request_count() as usize;
    if llm_calls > 2 * RUNS + resumed_runs {
        violations.push(format!(
            "{llm_calls} model calls > {} (2 per run + 1 per resumed run)",
            2 * RUNS + resumed_runs
        ));
    }

    // The redelivered runs stream their whole history from B too (SSE, cross-process).
    for (i, id) in run_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| {
            events[*id]
                .iter()
                .filter(|e| matches!(e.1["type"].as_str(), Some("run_started" | "run_resumed")))
                .count()
                > 1
        })
        .take(5)
    {
        let streamed = user_b.events(id, None).await;
        if streamed.len() != events[id].len()
            || streamed.last().map(|e| e.1.as_str()) != Some("completed")
        {
            violations.push(format!(
                "run {i}: SSE on B gave {} events, stored {}",
                streamed.len(),
                events[id].len()
            ));
        }
    }

    // Every run job acknowledged (none left leased or dead-lettered); bounded, the last
    // acknowledgements follow the last `completed` events closely.
    let guard = Instant::now() + Duration::from_secs(30);
    loop {
        let left = scalar(&pg, "SELECT count(*) FROM jobs WHERE queue = 'runs'").await;
        if left == 0 {
            break;
        }
        if Instant::now() > guard {
            violations.push(format!(
                "{left} run jobs left in the queue: {}",
                psql(
                    &pg,
                    "SELECT status, attempt, last_error FROM jobs WHERE queue = 'runs'"
                )
                .await
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    eprintln!(
        "scale-out: {RUNS} runs ({} completed) in {:.1}s; A killed after {killed_after_submitted} submitted ({started_at_kill} started, {running_at_kill} running at the kill); \
         {resumed_runs} runs redelivered ({restarted_runs} with a second run_started); {llm_calls} model calls (bound {}); {} violations",
        by_id.values().filter(|r| r.0 == "completed").count(),
        runs_elapsed.as_secs_f64(),
        2 * RUNS + resumed_runs,
        violations.len(),
    );
    if let Some(example) = &example {
        eprintln!("scale-out: a redelivered run's events (token deltas left out): {example}");
    }
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The documents were embedded by the separate gpu-worker (serve runs none).
    for doc in &docs {
        let d = wait_ready(&user_b, &kb, doc).await;
        assert_eq!(d["chunks_embedded"], d["chunks_total"], "{d}");
    }
    let (chunks, vectors) = (
        scalar(&pg, &format!("SELECT count(*) FROM chunks WHERE kb_id = '{kb}'")).await,
        scalar(&pg, &format!("SELECT count(*) FROM chunk_vectors v JOIN chunks c ON c.id = v.chunk_id WHERE c.kb_id = '{kb}'")).await,
    );
    assert!(
        chunks >= 2 && vectors == chunks,
        "one vector per chunk: {chunks} chunks, {vectors} vectors"
    );
    let hits: Vec<Value> = user_b
        .post(&format!("/api/v1/knowledge-bases/{kb}/search"))
        .json(&json!({"query": "when are the pear trees pruned", "k": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hits[0]["document_name"], "orchard.txt", "{hits:?}");
    drop(worker);

    // A server started afresh on the same database sees everything: nothing was lost.
    drop(b);
    let c = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || start_serve(&pg))
            .await
            .unwrap()
    };
    let user_c = same_user_on(&user_a, &c);
    let listed = list_runs(&user_c).await;
    assert_eq!(listed.len(), RUNS, "a fresh server lists every run");
    let listed: HashMap<&str, &Value> = listed
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    for (i, id) in run_ids.iter().enumerate() {
        let r = listed
            .get(id.as_str())
            .unwrap_or_else(|| panic!("run {i} missing after restart"));
        assert_eq!(r["status"], "completed", "{r}");
        assert_eq!(r["output"], expected_output(i), "{r}");
        assert_eq!(r["steps"], 2, "{r}");
    }
    // The idempotency key still names the first run.
    let again = submit(&user_c, &agent_id, 7).await.unwrap();
    assert_eq!(again["id"], run_ids[7]);
    let d: Value = user_c
        .get(&format!(
            "/api/v1/knowledge-bases/{kb}/documents/{}",
            docs[0]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["status"], "ready");
    assert_eq!(
        llm.request_count() as usize,
        llm_calls,
        "no model calls after the runs finished"
    );
    drop(c);
    eprintln!("scale-out: done in {:.1}s", t0.elapsed().as_secs_f64());
}
