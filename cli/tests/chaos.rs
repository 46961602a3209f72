//! Chaos on one PostgreSQL database: two `autonoma serve` processes and one
//! `autonoma gpu-worker`, with a driver that SIGKILLs a random one of them at random moments
//! and restarts it, while runs are submitted to whichever server is up and documents are
//! embedded. Each run makes three model turns and two tool calls: the calculator, then
//! `post_entry` of an MCP server with a side effect (`tests/mcp/ledger_server.py`, a ledger
//! that applies each idempotency key once, like a payment API).
//!
//! Afterwards: every run terminal and completed with its own answer (0 lost), exactly one run
//! per submission, no event recorded twice, no model call repeated for a step that was
//! recorded (counted at the scripted model server), exactly one ledger entry per run, applied
//! under the idempotency key of the tool call the run recorded (0 side effects repeated),
//! every document ready with one vector per chunk, the queue empty, and a fresh server that
//! lists every run. Login limits hold across the two servers.
//!
//! Always runs on PostgreSQL (its own throwaway cluster), whatever `AUTONOMA_TEST_BACKEND`
//! says. Size: `AUTONOMA_CHAOS_RUNS` (default 120), `AUTONOMA_CHAOS_KILLS` (at least this
//! many kills while runs are in flight; default 5), `AUTONOMA_CHAOS_DOCS` (default 3),
//! `AUTONOMA_CHAOS_SEED` (default 1). The long version and its last figures are in
//! docs/RELIABILITY.md.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autonoma_testkit::postgres::PgServer;
use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// Lease of a run job: a killed server's runs are redelivered after it.
const RUN_LEASE_SECS: &str = "3";
/// The instance secret key shared by every process (provider keys are sealed with it).
const SECRET_KEY: &str = "c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a0";
/// How long the documents may take to be embedded (lavapipe on CPU-only machines is slow).
const READY_GUARD: Duration = Duration::from_secs(900);
/// The agent's name for the ledger's tool (connection `ledger`, tool `post_entry`).
const LEDGER_TOOL: &str = "ledger__post_entry";

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

/// xorshift64*: the driver's choices, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// The calculator's result for run `i`: six digits, so no run's result is a substring of
/// another's (the scripted rules match on it).
fn expected_result(i: usize) -> u64 {
    100_000 + 7 * i as u64
}

fn expected_output(i: usize) -> String {
    format!("run {i}: {} posted", expected_result(i))
}

/// Three rules per run: its tagged question → the calculator; the calculator's (unique)
/// result → `post_entry` on the ledger; the ledger's answer → the final text. The ledger's
/// answer contains the calculator's result too, so its rules come first. Fragments are
/// delayed so that runs are in flight when a process dies.
fn script(runs: usize) -> Vec<Rule> {
    let delay = Duration::from_millis(40);
    let mut rules = Vec::with_capacity(3 * runs);
    for i in 0..runs {
        rules.push(
            Rule::after_tool_result(format!("ledger ok <run-{i}>"))
                .reply_text(expected_output(i))
                .chunk_delay(delay),
        );
    }
    for i in 0..runs {
        rules.push(
            Rule::after_tool_result(expected_result(i).to_string())
                .reply_tool_call(
                    LEDGER_TOOL,
                    format!(r#"{{"account":"run-{i}","amount":{}}}"#, expected_result(i)),
                )
                .chunk_delay(delay),
        );
    }
    for i in 0..runs {
        rules.push(
            Rule::when_user_contains(format!("[run {i}]"))
                .reply_tool_call("calculator", format!(r#"{{"expression":"{i}*7+100000"}}"#))
                .chunk_delay(delay),
        );
    }
    rules
}

/// The ledger MCP server (`tests/mcp/ledger_server.py`, the MCP Python SDK); killed on drop.
/// It is the outside system, so the driver never kills it.
struct Ledger {
    child: Child,
    port: u16,
}

impl Ledger {
    async fn start() -> Ledger {
        let (child, port) =
            start_sdk_server("ledger_server.py", &[], "/test/ledger", Stdio::null()).await;
        Ledger { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn state(&self) -> Value {
        reqwest::get(self.url("/test/ledger"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Serve,
    GpuWorker,
}

/// One process of the deployment: killed with SIGKILL and started again by the driver, with
/// the same data directory and environment each time.
struct Proc {
    kind: Kind,
    env: Vec<(&'static str, String)>,
    data_dir: tempfile::TempDir,
    child: Option<Child>,
    /// `http://127.0.0.1:port` of a running server.
    base: Option<String>,
    starts: usize,
}

impl Proc {
    fn new(kind: Kind, env: Vec<(&'static str, String)>) -> Proc {
        Proc {
            kind,
            env,
            data_dir: tempfile::tempdir().unwrap(),
            child: None,
            base: None,
            starts: 0,
        }
    }

    /// Starts the process and waits for its ready line (blocking; the lock is not held while
    /// it starts, so clients keep finding the other server).
    fn start(this: &Shared) {
        let (kind, env, data_dir) = {
            let p = this.lock().unwrap();
            assert!(p.child.is_none());
            (p.kind, p.env.clone(), p.data_dir.path().to_path_buf())
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_autonoma"));
        match kind {
            Kind::Serve => cmd
                .arg("serve")
                .env("AUTONOMA_LISTEN", "127.0.0.1:0")
                .env("AUTONOMA_SITE_DIR", workspace().join("site")),
            Kind::GpuWorker => cmd
                .arg("gpu-worker")
                .env("AUTONOMA_EMBEDDING_DEVICE", "gpu"),
        };
        cmd.env("AUTONOMA_DATA_DIR", &data_dir)
            .env("AUTONOMA_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start autonoma");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the ready line");
        let base = match kind {
            Kind::Serve => Some(
                line.trim()
                    .strip_prefix("listening on ")
                    .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
                    .to_string(),
            ),
            Kind::GpuWorker => {
                assert_eq!(line.trim(), "gpu worker ready");
                None
            }
        };
        let mut p = this.lock().unwrap();
        p.base = base;
        p.child = Some(child);
        p.starts += 1;
    }

    /// SIGKILL: no drain, no acknowledgements; its leases are abandoned.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.base = None;
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

type Shared = Arc<Mutex<Proc>>;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The base URL of a running server, the `prefer`red one if it is up; waits while both are
/// down (the driver restarts one).
async fn live_base(servers: &[Shared; 2], prefer: usize) -> String {
    loop {
        for k in 0..2 {
            if let Some(base) = servers[(prefer + k) % 2].lock().unwrap().base.clone() {
                return base;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn user_at(user: &User, base: &str) -> User {
    User {
        http: user.http.clone(),
        cookie_http: user.cookie_http.clone(),
        base: base.to_string(),
        api_key: user.api_key.clone(),
        csrf: user.csrf.clone(),
        org_id: user.org_id.clone(),
    }
}

/// `psql` as the superuser, off the async runtime.
async fn psql(pg: &Arc<PgServer>, sql: &str) -> String {
    let (pg, sql) = (pg.clone(), sql.to_string());
    blocking(move || pg.psql(&sql)).await
}

async fn scalar(pg: &Arc<PgServer>, sql: &str) -> i64 {
    psql(pg, sql)
        .await
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn terminal_runs(pg: &Arc<PgServer>) -> i64 {
    scalar(
        pg,
        "SELECT count(*) FROM runs WHERE status IN ('completed', 'failed', 'cancelled')",
    )
    .await
}

/// Sends `request` to a live server until one answers (a server may die under it); the
/// same request again is safe because every write here is idempotent or keyed.
async fn until_answered(
    servers: &[Shared; 2],
    user: &User,
    prefer: usize,
    request: impl Fn(&User) -> reqwest::RequestBuilder,
) -> reqwest::Response {
    let mut tries = 0;
    loop {
        let base = live_base(servers, prefer + tries).await;
        match request(&user_at(user, &base)).send().await {
            Ok(res) if res.status().as_u16() < 500 => return res,
            Ok(res) => panic!("{}: {}", res.status(), res.text().await.unwrap()),
            Err(_) => {
                tries += 1;
                assert!(tries < 200, "no server answered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_survive_random_kill_9_of_every_process_without_loss_or_repetition() {
    let runs = knob("AUTONOMA_CHAOS_RUNS", 120);
    let kills_wanted = knob("AUTONOMA_CHAOS_KILLS", 5);
    let docs_wanted = knob("AUTONOMA_CHAOS_DOCS", 3);
    let seed = knob("AUTONOMA_CHAOS_SEED", 1) as u64;
    assert!(
        (1..=10_000).contains(&runs),
        "AUTONOMA_CHAOS_RUNS in 1..=10000"
    );
    let t0 = Instant::now();

    let llm = ScriptedLlm::start(script(runs));
    let ledger = Ledger::start().await;
    let pg = Arc::new(blocking(PgServer::start).await);
    let env = vec![
        ("AUTONOMA_DATABASE_URL", pg.app_url()),
        ("AUTONOMA_DATABASE_OWNER_URL", pg.owner_url()),
        ("AUTONOMA_SECRET_KEY", SECRET_KEY.to_string()),
        ("AUTONOMA_GPU_WORKER", "false".to_string()),
        ("AUTONOMA_RUN_LEASE_SECS", RUN_LEASE_SECS.to_string()),
        ("AUTONOMA_EXECUTOR_CONCURRENCY", "8".to_string()),
        ("AUTONOMA_MCP_ALLOW_LOOPBACK", "true".to_string()),
    ];
    // Server A migrates the database; then B and the GPU worker join it.
    let servers: [Shared; 2] = [
        Arc::new(Mutex::new(Proc::new(Kind::Serve, env.clone()))),
        Arc::new(Mutex::new(Proc::new(Kind::Serve, env.clone()))),
    ];
    let worker: Shared = Arc::new(Mutex::new(Proc::new(Kind::GpuWorker, env.clone())));
    for p in [&servers[0], &servers[1], &worker] {
        let p = p.clone();
        blocking(move || Proc::start(&p)).await;
    }

    let base_a = live_base(&servers, 0).await;
    let base_b = live_base(&servers, 1).await;
    let user = User::sign_up_at(&base_a, "chaos@example.com").await;
    let provider = user.scripted_provider(&llm.base_url()).await;
    let res = user
        .post("/api/v1/mcp-servers")
        .json(&json!({"name": "ledger", "transport": "streamable_http", "url": ledger.url("/mcp")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = user
        .post("/api/v1/agents")
        .json(&json!({
            "name": "Bookkeeper", "provider_id": provider, "model": "scripted",
            "instructions": "Compute, then post the entry.",
            "tools": ["calculator", LEDGER_TOOL],
            "tool_policies": [{"tool": LEDGER_TOOL, "action": "allow"}],
            "limits": {"max_steps": 5, "max_output_tokens": 256, "timeout_secs": 300}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let agent_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Login limits are counted in the database, not per process: 5 wrong passwords for one
    // e-mail spread over A and B are refused as wrong (401); the 6th is limited on either.
    let http = reqwest::Client::new();
    let try_login = |base: &str| {
        let (http, url) = (http.clone(), format!("{base}/api/v1/auth/login"));
        async move {
            http.post(url)
                .json(&json!({"email": "chaos@example.com", "password": "not the password"}))
                .send()
                .await
                .unwrap()
        }
    };
    for base in [&base_a, &base_b, &base_b, &base_a, &base_b] {
        assert_eq!(try_login(base).await.status(), 401);
    }
    for base in [&base_a, &base_b] {
        let res = try_login(base).await;
        assert_eq!(
            res.status(),
            429,
            "the 6th attempt is limited on every server"
        );
        assert!(res.headers().contains_key("retry-after"));
    }

    let res = user
        .post("/api/v1/knowledge-bases")
        .json(&json!({"name": "Chaos", "description": "embedded by a gpu-worker that gets killed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let kb = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The driver: while runs are in flight, SIGKILL a random process at a random moment,
    // leave it down a little, start it again. One process is down at a time.
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let kills_in_flight = Arc::new(AtomicUsize::new(0));
    let kill_log = Arc::new(Mutex::new(Vec::<String>::new()));
    let driver = {
        let (servers, worker, pg) = (servers.clone(), worker.clone(), pg.clone());
        let (done, kills, kill_log) = (done.clone(), kills.clone(), kill_log.clone());
        let kills_in_flight = kills_in_flight.clone();
        tokio::spawn(async move {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let (mut killed, mut in_flight) = ([false; 3], 0);
            loop {
                tokio::time::sleep(rng.millis(400, 2_400)).await;
                if done.load(Ordering::SeqCst) {
                    return;
                }
                let running =
                    scalar(&pg, "SELECT count(*) FROM runs WHERE status = 'running'").await;
                // Random, but every process is killed at least once: after half the wanted
                // kills, the ones not killed yet go first.
                let mut victim = rng.below(3) as usize;
                let spared: Vec<usize> = (0..3).filter(|v| !killed[*v]).collect();
                if !spared.is_empty() && 2 * in_flight >= kills_wanted {
                    victim = spared[rng.below(spared.len() as u64) as usize];
                }
                killed[victim] = true;
                let (proc, name) = match victim {
                    0 => (servers[0].clone(), "serve A"),
                    1 => (servers[1].clone(), "serve B"),
                    _ => (worker.clone(), "gpu-worker"),
                };
                {
                    let proc = proc.clone();
                    blocking(move || proc.lock().unwrap().kill()).await;
                }
                let n = kills.fetch_add(1, Ordering::SeqCst) + 1;
                if running > 0 {
                    in_flight += 1;
                    kills_in_flight.store(in_flight, Ordering::SeqCst);
                }
                kill_log.lock().unwrap().push(format!(
                    "kill {n} at {:.1}s: {name} ({running} runs running)",
                    t0.elapsed().as_secs_f64()
                ));
                tokio::time::sleep(rng.millis(100, 1_500)).await;
                blocking(move || Proc::start(&proc)).await;
            }
        })
    };

    // Submit the runs, spread over about 4 s per wanted kill, to whichever server is up; a
    // submission that dies with its server is sent again with the same idempotency key.
    let pace = Duration::from_millis((4_000 * kills_wanted as u64 / runs as u64).max(5));
    let doc_every = runs.div_ceil(docs_wanted.max(1));
    let mut run_ids: Vec<String> = Vec::with_capacity(runs);
    let mut doc_ids: Vec<String> = vec![];
    for i in 0..runs {
        let res = until_answered(&servers, &user, i % 2, |u| {
            u.post(&format!("/api/v1/agents/{agent_id}/runs"))
                .header("idempotency-key", format!("chaos-{i}"))
                .json(&json!({ "input": format!("[run {i}] What is {i}*7+100000? Then post it.") }))
        })
        .await;
        let status = res.status().as_u16();
        // 202: created; 200: an earlier attempt with this key did get through.
        assert!(status == 202 || status == 200, "start run {i}: {status}");
        run_ids.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        if docs_wanted > 0 && i % doc_every == 0 {
            let d = doc_ids.len();
            let text = format!(
                "Logbook page {d}. The keeper of station {d} winds the clockwork lamp at dusk, \
                 records {d} passing ships and the weather, and signs the page at dawn."
            );
            let res = until_answered(&servers, &user, i % 2, |u| {
                let part = reqwest::multipart::Part::bytes(text.clone().into_bytes())
                    .file_name(format!("logbook-{d}.txt"))
                    .mime_str("text/plain")
                    .unwrap();
                u.post(&format!("/api/v1/knowledge-bases/{kb}/documents"))
                    .multipart(reqwest::multipart::Form::new().part("file", part))
            })
            .await;
            assert_eq!(res.status(), 201);
            doc_ids.push(
                res.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        tokio::time::sleep(pace).await;
    }
    // An upload retried after its server died may have been stored twice under two ids;
    // every stored document must still be embedded.
    let submitted_docs = doc_ids.len();

    // Wait (bounded) until every run is terminal, the driver still killing.
    let guard = Instant::now() + Duration::from_secs(180 + runs as u64 / 2);
    loop {
        if terminal_runs(&pg).await as usize == runs {
            break;
        }
        if Instant::now() > guard {
            done.store(true, Ordering::SeqCst);
            let jobs = psql(
                &pg,
                "SELECT status, attempt, lease_expires_at, last_error FROM jobs WHERE queue = 'runs'",
            )
            .await;
            let counts = psql(&pg, "SELECT status, count(*) FROM runs GROUP BY status").await;
            panic!("runs not all terminal in time: {counts}\nrun jobs:\n{jobs}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let runs_elapsed = t0.elapsed();
    done.store(true, Ordering::SeqCst);
    driver.await.unwrap();
    let kills_landed = kills_in_flight.load(Ordering::SeqCst);
    let kills_total = kills.load(Ordering::SeqCst);
    // Everything back up for the checks.
    for p in [&servers[0], &servers[1], &worker] {
        let p = p.clone();
        blocking(move || {
            let down = p.lock().unwrap().child.is_none();
            if down {
                Proc::start(&p);
            }
        })
        .await;
    }

    let mut violations: Vec<String> = vec![];
    if kills_landed < kills_wanted {
        violations.push(format!(
            "only {kills_landed} kills landed while runs were in flight (wanted {kills_wanted})"
        ));
    }

    // Every run, as stored.
    let mut by_id: HashMap<String, (String, i64, String, String)> = HashMap::new();
    for line in psql(
        &pg,
        "SELECT id, status, steps, idempotency_key, coalesce(output, '') FROM runs",
    )
    .await
    .lines()
    {
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
    assert_eq!(by_id.len(), runs, "exactly one run row per submission");
    assert_eq!(run_ids.iter().collect::<HashSet<_>>().len(), runs);
    for (i, id) in run_ids.iter().enumerate() {
        let (status, steps, key, output) = &by_id[id];
        assert_eq!(key, &format!("chaos-{i}"));
        if status != "completed" || output != &expected_output(i) || *steps != 3 {
            violations.push(format!(
                "run {i} ({id}): status {status}, steps {steps}, output {output:?}"
            ));
        }
    }

    // Every event, as stored.
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
    let ledger_state = ledger.state().await;
    let applied: HashMap<String, String> =
        serde_json::from_value(ledger_state["applied"].clone()).unwrap();
    let calls: HashMap<String, u64> =
        serde_json::from_value(ledger_state["calls"].clone()).unwrap();
    let mut entries_per_account: HashMap<&str, Vec<&str>> = HashMap::new();
    for (key, account) in &applied {
        entries_per_account
            .entry(account.as_str())
            .or_default()
            .push(key.as_str());
    }
    if ledger_state["unkeyed"] != 0 {
        violations.push(format!(
            "{} ledger calls without an idempotency key",
            ledger_state["unkeyed"]
        ));
    }

    // Model requests per (run, step): a step is asked for again only when the run was
    // redelivered before recording it (a `run_resumed` from that step, or a second
    // `run_started` for step 1).
    let mut requests: HashMap<(usize, u64), usize> = HashMap::new();
    for body in llm.requests() {
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        let Some(i) = msgs.iter().filter(|m| m["role"] == "user").find_map(|m| {
            let text = m["content"].as_str()?;
            let rest = text.strip_prefix("[run ")?;
            rest[..rest.find(']')?].parse::<usize>().ok()
        }) else {
            continue;
        };
        let step = 1 + msgs.iter().filter(|m| m["role"] == "assistant").count() as u64;
        *requests.entry((i, step)).or_default() += 1;
    }

    let (mut redelivered, mut repeated_model_calls, mut ledger_replays) = (0, 0, 0u64);
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
        // Where each delivery after the first started: step 1 for a second `run_started`.
        let mut resumed_from: BTreeMap<u64, usize> = BTreeMap::new();
        let starts = evs.iter().filter(|e| kind(e) == "run_started").count();
        if starts > 1 {
            *resumed_from.entry(1).or_default() += starts - 1;
        }
        for e in evs.iter().filter(|e| kind(e) == "run_resumed") {
            *resumed_from
                .entry(e.1["from_step"].as_u64().unwrap_or(0))
                .or_default() += 1;
        }
        if !resumed_from.is_empty() {
            redelivered += 1;
            if example.is_none() {
                let trace: Vec<String> = evs
                    .iter()
                    .map(kind)
                    .filter(|k| k != "token_delta")
                    .collect();
                example = Some(format!("run {i}: {}", trace.join(" ")));
            }
        }
        for step in 1..=3u64 {
            let asked = requests.get(&(i, step)).copied().unwrap_or(0);
            let allowed = 1 + resumed_from.get(&step).copied().unwrap_or(0);
            if asked == 0 || asked > allowed {
                violations.push(format!(
                    "run {i}: step {step} asked of the model {asked} times (allowed {allowed}; redeliveries from {resumed_from:?})"
                ));
            }
            repeated_model_calls += asked.saturating_sub(1);
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
        }
        let mut per_step: BTreeMap<u64, usize> = BTreeMap::new();
        for e in evs.iter().filter(|e| kind(e) == "assistant_message") {
            *per_step.entry(e.1["step"].as_u64().unwrap()).or_default() += 1;
        }
        if per_step.len() != 3 || per_step.values().any(|n| *n != 1) {
            violations.push(format!("run {i}: assistant messages per step {per_step:?}"));
        }
        let results: Vec<&(i64, Value)> = evs.iter().filter(|e| kind(e) == "tool_result").collect();
        let call_ids: HashSet<&str> = results
            .iter()
            .map(|e| e.1["call_id"].as_str().unwrap())
            .collect();
        if results.len() != 2 || call_ids.len() != 2 {
            violations.push(format!(
                "run {i}: {} tool results for {} calls (want 2, 2)",
                results.len(),
                call_ids.len()
            ));
        }
        // The ledger applied exactly one entry for this run, under the key of the call the
        // run recorded: "{run_id}:{step}:{call_id}".
        let account = format!("run-{i}");
        let keys = entries_per_account
            .get(account.as_str())
            .cloned()
            .unwrap_or_default();
        let recorded = results
            .iter()
            .find(|e| e.1["name"] == LEDGER_TOOL)
            .map(|e| {
                format!(
                    "{id}:{}:{}",
                    e.1["step"].as_u64().unwrap_or(2),
                    e.1["call_id"].as_str().unwrap()
                )
            });
        if keys.len() != 1 || recorded.as_deref() != Some(keys[0]) {
            violations.push(format!(
                "run {i}: ledger entries under {keys:?}, recorded call {recorded:?}"
            ));
        }
        if let Some(k) = keys.first() {
            ledger_replays += calls.get(*k).copied().unwrap_or(1) - 1;
        }
    }
    if applied.len() != runs {
        violations.push(format!("{} ledger entries for {runs} runs", applied.len()));
    }

    // Every run job acknowledged: none left leased or dead-lettered.
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

    let starts: Vec<usize> = [&servers[0], &servers[1], &worker]
        .iter()
        .map(|p| p.lock().unwrap().starts)
        .collect();
    if starts.iter().any(|n| *n < 2) {
        violations.push(format!(
            "a process was never killed (starts A/B/worker {starts:?})"
        ));
    }
    let model_calls = llm.request_count();
    eprintln!(
        "chaos: {runs} runs ({} completed) in {:.1}s; {kills_total} kills, {kills_landed} with runs in flight (starts A/B/worker {starts:?}); \
         {redelivered} runs redelivered; {model_calls} model calls = {} + {repeated_model_calls} repeated for unrecorded steps; \
         {} ledger entries, {ledger_replays} replays deduplicated by idempotency key; {} violations",
        by_id.values().filter(|r| r.0 == "completed").count(),
        runs_elapsed.as_secs_f64(),
        3 * runs,
        applied.len(),
        violations.len(),
    );
    for line in kill_log.lock().unwrap().iter() {
        eprintln!("chaos: {line}");
    }
    if let Some(example) = &example {
        eprintln!("chaos: a redelivered run (token deltas left out): {example}");
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

    // The documents: every one stored is embedded, one vector per chunk.
    let user_b = user_at(&user, &live_base(&servers, 1).await);
    let ready_by = Instant::now() + READY_GUARD;
    let stored = loop {
        let page = get_json(&user_b, &format!("/api/v1/knowledge-bases/{kb}/documents")).await;
        let items = page["items"].as_array().unwrap().clone();
        if items.iter().all(|d| d["status"] == "ready") {
            break items;
        }
        assert!(
            !items.iter().any(|d| d["status"] == "failed"),
            "a document failed: {items:?}"
        );
        assert!(
            Instant::now() < ready_by,
            "documents not embedded in time: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(stored.len() >= submitted_docs, "{stored:?}");
    for d in &stored {
        assert_eq!(d["chunks_embedded"], d["chunks_total"], "{d}");
    }
    let (chunks, vectors) = (
        scalar(&pg, &format!("SELECT count(*) FROM chunks WHERE kb_id = '{kb}'")).await,
        scalar(&pg, &format!("SELECT count(*) FROM chunk_vectors v JOIN chunks c ON c.id = v.chunk_id WHERE c.kb_id = '{kb}'")).await,
    );
    assert!(
        chunks >= submitted_docs as i64 && vectors == chunks,
        "one vector per chunk: {chunks} chunks, {vectors} vectors"
    );
    eprintln!(
        "chaos: {} documents ready, {chunks} chunks, {vectors} vectors",
        stored.len()
    );

    // A server started afresh on the same database sees every run; a key names its run.
    let fresh: Shared = Arc::new(Mutex::new(Proc::new(Kind::Serve, env.clone())));
    {
        let fresh = fresh.clone();
        blocking(move || Proc::start(&fresh)).await;
    }
    let user_c = user_at(&user, &fresh.lock().unwrap().base.clone().unwrap());
    let mut listed = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/runs?limit=100&cursor={c}"),
            None => "/api/v1/runs?limit=100".to_string(),
        };
        let page = get_json(&user_c, &path).await;
        for r in page["items"].as_array().unwrap() {
            assert_eq!(r["status"], "completed", "{r}");
            listed += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(listed, runs, "a fresh server lists every run");
    let again = user_c
        .post(&format!("/api/v1/agents/{agent_id}/runs"))
        .header("idempotency-key", "chaos-0")
        .json(&json!({ "input": "[run 0] What is 0*7+100000? Then post it." }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], run_ids[0]);
    assert_eq!(
        llm.request_count(),
        model_calls,
        "no model calls after the runs finished"
    );
    eprintln!("chaos: done in {:.1}s", t0.elapsed().as_secs_f64());
}
