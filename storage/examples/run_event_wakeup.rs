//! How soon a process following a run learns of an event another process wrote, on
//! PostgreSQL: the `LISTEN`/`NOTIFY` announcement (`PgStore::listen_runs`) against
//! the 500 ms poll SSE followers fall back to, measured in the same run.
//!
//! ```text
//! cargo run --release -p autonoma-storage --example run_event_wakeup
//! ```
//!
//! A throwaway PostgreSQL 15 (`autonoma_testkit::postgres::PgServer`); two `PgStore`s with
//! their own pools stand for two processes. The writer appends an event; the time until the
//! follower knows is taken (a) through the listener, 300 events, (b) by a follower polling
//! `list_events` every 500 ms, 40 events. Appends are spaced by a pseudo-random 0–97 ms so
//! they do not align with the poll. Prints medians and p99 in milliseconds.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::time::{Duration, Instant};

use autonoma_core::model::RunEventKind;
use autonoma_core::store::NewRun;
use autonoma_storage::PgStore;
use autonoma_testkit::postgres::PgServer;
use uuid::Uuid;

#[path = "../tests/support/fixtures.rs"]
mod fixtures;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "{} | {:.2} | {:.2} | {:.2}",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms[ms.len() - 1]
    )
}

#[tokio::main]
async fn main() {
    let server = PgServer::start();
    PgStore::migrate(&server.owner_url())
        .await
        .expect("migrate");
    let follower = PgStore::connect(&server.app_url()).await.expect("follower");
    let writer = PgStore::connect(&server.app_url()).await.expect("writer");

    let (_, org) = writer
        .create_user_with_org("bench@example.com", "Bench", "hash", "Bench")
        .await
        .expect("org");
    let provider = fixtures::provider(&writer, org.id).await;
    let agent = writer
        .create_agent(
            org.id,
            Uuid::now_v7(),
            &fixtures::spec(provider.id, "bench"),
        )
        .await
        .expect("agent");
    let user = writer
        .find_user_by_email("bench@example.com")
        .await
        .unwrap()
        .unwrap()
        .0
        .id;
    let run_id = Uuid::now_v7();
    let new_run = NewRun {
        id: run_id,
        org_id: org.id,
        agent_id: agent.id,
        agent_version: agent.version,
        thread_id: Uuid::now_v7(),
        input: "x".into(),
        created_by: user,
        mode: autonoma_core::model::RunMode::Live,
        preflight_id: None,
    };
    writer.create_run(&new_run, None).await.expect("run");
    let epoch = writer.claim_run(run_id).await.unwrap().expect("claim");
    let delta = |i: usize| RunEventKind::TokenDelta {
        step: 1,
        text: format!("t{i}"),
    };
    let gap = |i: usize| Duration::from_millis(((i * 37) % 98) as u64);

    // (a) LISTEN/NOTIFY.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _listening = follower
        .listen_runs(move |signal| {
            let _ = tx.send((signal, Instant::now()));
        })
        .await
        .expect("listen");
    let mut notify_ms = Vec::new();
    for i in 0..300 {
        tokio::time::sleep(gap(i)).await;
        let sent = Instant::now();
        writer
            .append_event(run_id, epoch, &delta(i))
            .await
            .expect("append");
        let (signal, at) = rx.recv().await.expect("announcement");
        assert_eq!(signal, autonoma_storage::RunSignal::Event(run_id));
        notify_ms.push(at.duration_since(sent).as_secs_f64() * 1e3);
    }

    // (b) A follower polling every 500 ms (the SSE handler's safety net).
    let mut last = follower
        .list_events(run_id, 0, 10_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.seq);
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let poller = {
        let follower = follower.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                for e in follower.list_events(run_id, last, 1000).await.unwrap() {
                    last = e.seq;
                    let _ = seen_tx.send(Instant::now());
                }
            }
        })
    };
    let mut poll_ms = Vec::new();
    for i in 0..40 {
        tokio::time::sleep(gap(i) * 3).await;
        let sent = Instant::now();
        writer
            .append_event(run_id, epoch, &delta(1000 + i))
            .await
            .expect("append");
        let seen = seen_rx.recv().await.expect("polled");
        poll_ms.push(seen.duration_since(sent).as_secs_f64() * 1e3);
    }
    poller.abort();

    println!(
        "| follower learns of another process's event | events | median ms | p99 ms | max ms |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!("| LISTEN/NOTIFY (listen_runs) | {} |", summary(notify_ms));
    println!("| poll every 500 ms | {} |", summary(poll_ms));
}
