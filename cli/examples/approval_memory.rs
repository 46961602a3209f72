//! Memory of runs parked for approval: a real `autonoma serve` on SQLite, an agent whose
//! model (a scripted OpenAI-compatible server) calls a tool that needs a person's approval,
//! and batches of runs started until every one of them is `waiting_approval`. Reports the
//! server's resident memory (`VmRSS` of `/proc/<pid>/status`) before and after each batch,
//! the growth per parked run, the database file growth and the rows that hold the parked
//! runs; then approves every run and checks that all of them complete.
//!
//! ```sh
//! cargo build -p autonoma && cargo run -p autonoma --example approval_memory -- [runs per batch] [batches]
//! ```
//!
//! Defaults: 1,000 runs per batch, 2 batches. The server binary is `AUTONOMA_BIN`, else
//! `autonoma` next to the examples folder (the same profile). Linux only (`/proc`).

use std::io::BufRead;
use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use serde_json::{json, Value};
use sqlx::Row;

/// `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("bad VmRSS line {line:?}"))?
        .parse()?)
}

/// Bytes of the SQLite database: the main file, its WAL and shared-memory index.
fn db_bytes(dir: &std::path::Path) -> u64 {
    ["autonoma.db", "autonoma.db-wal", "autonoma.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// The database's logical size as a reader sees it (`page_count` × `page_size`, WAL frames
/// included), in bytes: unlike the files, it does not depend on when the WAL was last
/// checkpointed.
async fn logical_bytes(db: &sqlx::SqlitePool) -> anyhow::Result<i64> {
    let pages: i64 = sqlx::query("PRAGMA page_count").fetch_one(db).await?.get(0);
    let size: i64 = sqlx::query("PRAGMA page_size").fetch_one(db).await?.get(0);
    Ok(pages * size)
}

/// Row counts of the tables a parked run occupies.
async fn rows(db: &sqlx::SqlitePool) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut out = Vec::new();
    for (name, sql) in [
        (
            "runs waiting_approval",
            "SELECT count(*) FROM runs WHERE status = 'waiting_approval'",
        ),
        ("runs", "SELECT count(*) FROM runs"),
        ("run_events", "SELECT count(*) FROM run_events"),
        ("approvals", "SELECT count(*) FROM approvals"),
        ("jobs", "SELECT count(*) FROM jobs"),
        ("audit_log", "SELECT count(*) FROM audit_log"),
    ] {
        out.push((name, sqlx::query(sql).fetch_one(db).await?.get::<i64, _>(0)));
    }
    Ok(out)
}

async fn count(db: &sqlx::SqlitePool, status: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query("SELECT count(*) FROM runs WHERE status = ?1")
        .bind(status)
        .fetch_one(db)
        .await?
        .get::<i64, _>(0))
}

/// Waits until `want` runs have `status` (10 minutes at most).
async fn wait_for(db: &sqlx::SqlitePool, status: &str, want: i64) -> anyhow::Result<f64> {
    let start = std::time::Instant::now();
    loop {
        let n = count(db, status).await?;
        if n >= want {
            return Ok(start.elapsed().as_secs_f64());
        }
        if start.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("only {n} of {want} runs reached {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {body}");
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Starts `n` runs of `agent`, 32 requests in flight.
    async fn start_runs(&self, agent: &str, n: usize) -> anyhow::Result<()> {
        use futures::StreamExt;
        let path = format!("/api/v1/agents/{agent}/runs");
        let results: Vec<anyhow::Result<Value>> = futures::stream::iter(0..n)
            .map(|i| {
                let path = path.clone();
                async move {
                    self.post(&path, json!({"input": format!("What is 17*23? (#{i})")}))
                        .await
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            r?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_batch: usize = args.first().map_or(Ok(1000), |a| a.parse())?;
    let batches: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;

    let llm = ScriptedLlm::start(vec![
        Rule::after_any_tool_result().reply_text("17 × 23 = 391"),
        Rule::always().reply_tool_call("calculator", r#"{"expression":"17*23"}"#),
    ]);
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
        .env("AUTONOMA_GPU_WORKER", "false")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow::anyhow!("unexpected first line {line:?}"))?
        .to_string();

    let cookie_http = reqwest::Client::builder().cookie_store(true).build()?;
    let me: Value = cookie_http
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": "memory@example.com", "password": "benchmark password", "name": "Bench"}))
        .send()
        .await?
        .json()
        .await?;
    let key: Value = cookie_http
        .post(format!("{base}/api/v1/api-keys"))
        .header(
            "x-csrf-token",
            me["csrf_token"].as_str().unwrap_or_default(),
        )
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let api = Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        base: base.clone(),
        key: key["secret"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no API key: {key}"))?
            .to_string(),
    };
    let provider = api
        .post(
            "/api/v1/providers",
            json!({"name": "Scripted", "kind": "openai_compatible", "base_url": llm.base_url(),
                   "api_key": "sk-bench-secret", "models": ["scripted"]}),
        )
        .await?;
    let agent = api
        .post(
            "/api/v1/agents",
            json!({"name": "Gated", "provider_id": provider["id"], "model": "scripted",
                   "tools": ["calculator"],
                   "tool_policies": [{"tool": "calculator", "action": "require_approval"}],
                   "limits": {"max_steps": 5, "max_output_tokens": 64, "timeout_secs": 600}}),
        )
        .await?;
    let agent = agent["id"].as_str().unwrap_or_default().to_string();

    let db_url = format!(
        "sqlite://{}?mode=ro",
        dir.path().join("autonoma.db").display()
    );
    let db = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&db_url)
        .await?;

    // Warm-up: 50 runs parked, so the executor, pools and caches are at their working size.
    let warm = 50;
    api.start_runs(&agent, warm).await?;
    wait_for(&db, "waiting_approval", warm as i64).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "machine: {} cores; server {bin} (pid {pid}); {per_batch} runs per batch, {batches} batches",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut parked = warm as i64;
    let mut before = rss_kib(pid)?;
    let mut db_before = db_bytes(dir.path());
    let mut logical_before = logical_bytes(&db).await?;
    println!(
        "after warm-up ({warm} parked): VmRSS {before} KiB, database files {db_before} bytes, \
         logical size {logical_before} bytes"
    );
    for (name, n) in rows(&db).await? {
        println!("  rows {name}: {n}");
    }
    for batch in 1..=batches {
        api.start_runs(&agent, per_batch).await?;
        parked += per_batch as i64;
        let secs = wait_for(&db, "waiting_approval", parked).await?;
        // Let in-flight bookkeeping (audit appends, wake-ups) settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid)?;
        let db_after = db_bytes(dir.path());
        let logical_after = logical_bytes(&db).await?;
        let delta = after as i64 - before as i64;
        println!(
            "batch {batch}: {per_batch} more runs parked in {secs:.1} s ({parked} waiting in all): \
             VmRSS {before} -> {after} KiB (delta {delta} KiB, {:.2} KiB per parked run); \
             database files {db_before} -> {db_after} bytes ({:.0} bytes per parked run), \
             logical size {logical_before} -> {logical_after} bytes ({:.0} bytes per parked run)",
            delta as f64 / per_batch as f64,
            (db_after as f64 - db_before as f64) / per_batch as f64,
            (logical_after as f64 - logical_before as f64) / per_batch as f64,
        );
        for (name, n) in rows(&db).await? {
            println!("  rows {name}: {n}");
        }
        before = after;
        db_before = db_after;
        logical_before = logical_after;
    }

    // Approve them all; every run must complete.
    use futures::StreamExt;
    let start = std::time::Instant::now();
    loop {
        let page = api
            .get("/api/v1/approvals?status=pending&limit=100")
            .await?;
        let ids: Vec<String> = page["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() {
            break;
        }
        let results: Vec<anyhow::Result<Value>> = futures::stream::iter(ids)
            .map(|id| {
                let api = &api;
                async move {
                    api.post(&format!("/api/v1/approvals/{id}/approve"), json!({}))
                        .await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in results {
            r?;
        }
    }
    wait_for(&db, "completed", parked).await?;
    println!(
        "approved all {parked}: all completed ({} completed, {} failed) {:.1} s after the first approval; VmRSS {} KiB",
        count(&db, "completed").await?,
        count(&db, "failed").await?,
        start.elapsed().as_secs_f64(),
        rss_kib(pid)?
    );
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
