//! What the shared login rate limits ([`Store::rate_limit`]) add to a login, on both
//! backends, against the argon2id password check every login pays anyway (the peer,
//! measured in the same run).
//!
//! ```text
//! cargo run --release -p autonoma-storage --example rate_limit_cost
//! ```
//!
//! A throwaway PostgreSQL 15 (`autonoma_testkit::postgres::PgServer`, the application role)
//! and a SQLite file in a temporary folder. Per backend: 2,000 sequential decisions, each
//! for a new key (a login from a new address: insert), then 2,000 for one key at a 1,000,000
//! per minute quota (a returning address: row update under lock), then 8 concurrent tasks
//! × 250 decisions on that one key (contention; two pools of 8 on PostgreSQL, as two
//! processes would have). argon2id: 20 verifications with the `argon2` crate's defaults
//! (m = 19 MiB, t = 2, p = 1), which `Service::log_in` uses. Prints medians and p99 in
//! milliseconds, and decisions per second under contention.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::sync::Arc;
use std::time::Instant;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use autonoma_core::rate_limit::{key, Quota};
use autonoma_core::store::Store;
use autonoma_storage::{PgStore, SqliteStore};
use autonoma_testkit::postgres::PgServer;
use chrono::Utc;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn row(what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "| {what} | {} | {:.3} | {:.3} |",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99)
    );
}

async fn decide(store: &dyn Store, k: &[u8], quota: Quota) -> f64 {
    let t = Instant::now();
    store
        .rate_limit(k, quota, Utc::now())
        .await
        .expect("rate_limit")
        .ok();
    t.elapsed().as_secs_f64() * 1e3
}

async fn measure(name: &str, a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let login = Quota::per_minute(5);
    let mut fresh = Vec::new();
    for i in 0..2000 {
        fresh.push(
            decide(
                a.as_ref(),
                &key("bench-ip", &format!("10.0.{}.{}", i / 256, i % 256)),
                login,
            )
            .await,
        );
    }
    row(&format!("{name}: new key (insert)"), fresh);
    let roomy = Quota::per_minute(1_000_000);
    let hot = key("bench-email", "hot@example.org");
    let mut same = Vec::new();
    for _ in 0..2000 {
        same.push(decide(a.as_ref(), &hot, roomy).await);
    }
    row(&format!("{name}: one key (update)"), same);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let store = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            let mut ms = Vec::new();
            for _ in 0..250 {
                ms.push(decide(store.as_ref(), &hot, roomy).await);
            }
            ms
        });
    }
    let mut contended = Vec::new();
    while let Some(ms) = tasks.join_next().await {
        contended.extend(ms.expect("task"));
    }
    let per_sec = contended.len() as f64 / started.elapsed().as_secs_f64();
    row(&format!("{name}: one key, 8 concurrent"), contended);
    println!("{name}: {per_sec:.0} decisions/s on one key under contention");
}

#[tokio::main]
async fn main() {
    println!("| what | n | median ms | p99 ms |\n|---|---|---|---|");
    let hash = Argon2::default()
        .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
    let mut argon = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let parsed = PasswordHash::new(&hash).expect("phc");
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        argon.push(t.elapsed().as_secs_f64() * 1e3);
    }
    row("argon2id verify (peer)", argon);

    let server = PgServer::start();
    PgStore::migrate(&server.owner_url())
        .await
        .expect("migrate");
    let a = PgStore::connect(&server.app_url()).await.expect("pool a");
    let b = PgStore::connect(&server.app_url()).await.expect("pool b");
    measure("PostgreSQL", Arc::new(a), Arc::new(b)).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let s = SqliteStore::connect(&url).await.expect("sqlite");
    s.migrate().await.expect("migrate");
    let s: Arc<dyn Store> = Arc::new(s);
    measure("SQLite", s.clone(), s).await;
}
