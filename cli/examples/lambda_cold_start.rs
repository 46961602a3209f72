//! Cold start of the `autonoma` binary as the AWS Lambda `api` function, for
//! docs/BENCHMARKS.md. Run (build the binary once, then measure it):
//!
//! ```text
//! cargo build --release -p autonoma
//! cargo run --release -p autonoma --example lambda_cold_start [-- BINARY [N]]
//! ```
//!
//! `BINARY` defaults to `$CARGO_TARGET_DIR/release/autonoma` (else `target/release/autonoma`),
//! `N` (cold starts) to 30. The setup is `cli/tests/lambda.rs`'s: a throwaway PostgreSQL
//! (migrated once through the `migrate` function), moto with the SQS queues, the S3 bucket and
//! the app secret. Then N times: a fresh local Runtime API, the binary spawned as the `api`
//! function (`_HANDLER=api`), `GET /api/v1/me` with the origin-verify header queued at once
//! (401 problem+json: no session, but the whole stack runs: Secrets Manager read, pool
//! connect, SQS/S3 clients, router, origin check, auth), timed from just before the spawn to
//! the end of the streamed response; the process is then killed. A second (warm) request is
//! timed on the last process. Also shown: when the function first polled the Runtime API
//! (end of its init), and the bare process floor (`autonoma version`, spawn to exit).
//!
//! `AUTONOMA_LOG` (default `warn`) and `AUTONOMA_MODEL_DIR` / `AUTONOMA_EMBEDDING_MODEL_DIR`
//! are passed through to the function.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use autonoma_testkit::lambda::{http_api_v2_event, split_http_stream, Piece, RuntimeApi};
use serde_json::{json, Value};

#[path = "../tests/common/cloud.rs"]
mod cloud;
use cloud::{Cloud, Function, ORIGIN_SECRET};

/// `GET /api/v1/me` with the origin-verify header, waited for to the end of the stream.
/// Returns (status, content-type, when the Runtime API was first polled if seen).
async fn get_me(f: &Function, started: Instant) -> (u16, String, Option<Duration>) {
    let event = http_api_v2_event(
        "GET",
        "/api/v1/me",
        &[("x-origin-verify", ORIGIN_SECRET)],
        None,
        "198.51.100.7",
    );
    let polls_before = f.runtime.polls();
    let mut inv = f.runtime.invoke(event, Duration::from_secs(60));
    let mut raw = Vec::new();
    let mut first_poll = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            piece = inv.next_piece() => match piece {
                Some(Piece::Chunk(b)) => raw.extend_from_slice(&b),
                Some(Piece::End) => break,
                Some(Piece::Error(e)) => panic!("the api function reported an error: {e}"),
                None => panic!("the Runtime API stopped before the response ended"),
            },
            // Only to notice the end of init (the first poll of /invocation/next).
            _ = tokio::time::sleep(Duration::from_micros(250)), if first_poll.is_none() => {
                if f.runtime.polls() > polls_before {
                    first_poll = Some(started.elapsed());
                }
            }
            _ = tokio::time::sleep_until(deadline) => panic!("no response within 60 s; init errors: {:?}", f.runtime.init_errors()),
        }
    }
    let (prelude, _body) = split_http_stream(&raw).expect("a streamed HTTP integration response");
    let status = prelude["statusCode"].as_u64().unwrap() as u16;
    let ctype = prelude["headers"]["content-type"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (status, ctype, first_poll)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .parent()
                    .unwrap()
                    .join("target")
            });
        target.join("release/autonoma")
    });
    let n: usize = args
        .next()
        .map(|s| s.parse().expect("N: a number of cold starts"))
        .unwrap_or(30);
    assert!(
        binary.exists(),
        "{} does not exist: `cargo build --release -p autonoma` first, or pass the binary's path",
        binary.display()
    );
    assert!(n > 0);

    eprintln!("setting up PostgreSQL and moto…");
    let cloud = Cloud::start(binary.clone()).await;

    // Migrations, once, through the migrate function.
    {
        let runtime = RuntimeApi::start().await;
        let child = cloud
            .command("migrate", &runtime)
            .spawn()
            .expect("spawn the migrate function");
        let f = Function { child, runtime };
        let mut inv = f.runtime.invoke(json!({}), Duration::from_secs(120));
        let out = tokio::time::timeout(Duration::from_secs(180), inv.finish())
            .await
            .expect("migrate answered")
            .expect("migrate succeeded");
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({ "migrated": true })
        );
    }

    // The process floor: spawn to exit of `autonoma version` (exec, dynamic loading, main).
    let mut floor = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let st = Command::new(&binary)
            .arg("version")
            .stdout(Stdio::null())
            .status()
            .expect("autonoma version");
        floor.push(ms(t.elapsed()));
        assert!(st.success());
    }
    floor.sort_by(f64::total_cmp);

    eprintln!("{n} cold starts of {}…", binary.display());
    let mut cold = Vec::with_capacity(n);
    let mut init = Vec::with_capacity(n);
    let mut last = None;
    for i in 0..n {
        let runtime = RuntimeApi::start().await;
        let mut cmd = cloud.command("api", &runtime);
        let started = Instant::now();
        let child = cmd.spawn().expect("spawn the api function");
        let f = Function { child, runtime };
        let (status, ctype, first_poll) = get_me(&f, started).await;
        let took = started.elapsed();
        assert_eq!(
            (status, ctype.as_str()),
            (401, "application/problem+json"),
            "cold start {i}"
        );
        assert!(
            f.runtime.init_errors().is_empty(),
            "{:?}",
            f.runtime.init_errors()
        );
        cold.push(ms(took));
        if let Some(p) = first_poll {
            init.push(ms(p));
        }
        if i + 1 == n {
            last = Some(f);
        }
    }

    // A second request on the last (now warm) process.
    let f = last.unwrap();
    let t = Instant::now();
    let (status, _, _) = get_me(&f, t).await;
    let warm = ms(t.elapsed());
    assert_eq!(status, 401);
    drop(f);

    let raw = cold.clone();
    cold.sort_by(f64::total_cmp);
    init.sort_by(f64::total_cmp);
    let median = percentile(&cold, 0.5);
    let cpu = sh(
        "sh",
        &["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
    );
    println!();
    println!(
        "Machine: {} cores ({}), Linux {}, load average {} (1/5/15 min) at the end.",
        sh("nproc", &[]),
        cpu.trim(),
        sh("uname", &["-r"]),
        {
            let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            l.split_whitespace().take(3).collect::<Vec<_>>().join(" / ")
        }
    );
    println!(
        "Binary: {} ({:.1} MB).",
        binary.display(),
        std::fs::metadata(&binary)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    );
    println!();
    println!("| `api` function, `GET /api/v1/me` → 401 (n = {n}) | median | p90 | min | max |");
    println!("|---|---|---|---|---|");
    // One table row from sorted samples: median (bold when `bold`), p90, min, max.
    let row = |label: &str, sorted: &[f64], bold: bool| {
        let median = format!("{:.1} ms", percentile(sorted, 0.5));
        let median = if bold {
            format!("**{median}**")
        } else {
            median
        };
        println!(
            "| {label} | {median} | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(sorted, 0.9),
            sorted[0],
            sorted[sorted.len() - 1]
        );
    };
    row("cold start: spawn → end of the first response", &cold, true);
    if init.len() == n {
        row(
            "of which init: spawn → first poll of `/invocation/next`",
            &init,
            false,
        );
    }
    row(
        "process floor: `autonoma version`, spawn → exit",
        &floor,
        false,
    );
    println!("| warm: a second request on the last process | {warm:.2} ms | | | |");
    println!();
    println!(
        "Goal: cold start median < 50 ms: {}.",
        if median < 50.0 {
            "**met**"
        } else {
            "**not met**"
        }
    );
    println!(
        "All cold starts (ms, in order): {}",
        raw.iter()
            .map(|v| format!("{v:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
