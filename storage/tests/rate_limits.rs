//! The shared login rate limits ([`Store::rate_limit`], GCRA) on both backends, with two
//! stores on one database standing in for two processes: concurrent attempts from both
//! are allowed exactly up to the burst, the refill is shared, keys are independent, and
//! spent states are swept.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use autonoma_core::rate_limit::{key, Quota};
use autonoma_core::store::Store;
use autonoma_storage::{PgStore, SqliteStore};
use autonoma_testkit::postgres::PgServer;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use tokio::task::JoinSet;

/// 24 attempts at the same instant, alternating between the two stores, for a 5-per-minute
/// quota; then the refill and an unrelated key. Returns the instant used.
async fn shared_by_two_stores(a: Arc<dyn Store>, b: Arc<dyn Store>) -> DateTime<Utc> {
    let quota = Quota::per_minute(5);
    let ann = key("login-email", "ann@example.org");
    // Microseconds: PostgreSQL's timestamp precision, so stored states compare exactly.
    let now = Utc::now().trunc_subsecs(6);
    let mut attempts = JoinSet::new();
    for i in 0..24 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        attempts.spawn(async move { store.rate_limit(&ann, quota, now).await.unwrap() });
    }
    let mut allowed = 0;
    while let Some(decision) = attempts.join_next().await {
        match decision.unwrap() {
            Ok(()) => allowed += 1,
            Err(wait) => assert_eq!(
                wait,
                Duration::from_secs(12),
                "denied at the same instant: one interval to wait"
            ),
        }
    }
    assert_eq!(allowed, 5, "exactly the burst, across both stores");

    // One interval later exactly one more, whichever store asks.
    let later = now + TimeDelta::seconds(12);
    assert_eq!(b.rate_limit(&ann, quota, later).await.unwrap(), Ok(()));
    assert_eq!(
        a.rate_limit(&ann, quota, later).await.unwrap(),
        Err(Duration::from_secs(12))
    );

    // Another key (here: the same address under another scope) has its own budget.
    assert_eq!(
        a.rate_limit(&key("login-ip", "ann@example.org"), quota, now)
            .await
            .unwrap(),
        Ok(())
    );
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_stores_on_one_file_share_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let a = SqliteStore::connect(&url).await.unwrap();
    a.migrate().await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    let now = shared_by_two_stores(Arc::new(a), Arc::new(b)).await;

    // An hour on, the spent states are gone and the key starts afresh.
    let c = SqliteStore::connect(&url).await.unwrap();
    let ann = key("login-email", "ann@example.org");
    assert_eq!(
        c.rate_limit(&ann, Quota::per_minute(5), now + TimeDelta::hours(1))
            .await
            .unwrap(),
        Ok(())
    );
    let conn = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rate_limits")
        .fetch_one(&conn)
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the fresh state is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_pools_share_the_limit_as_the_application_role() {
    let server = PgServer::start();
    PgStore::migrate(&server.owner_url()).await.unwrap();
    let a = PgStore::connect(&server.app_url()).await.unwrap();
    let b = PgStore::connect(&server.app_url()).await.unwrap();
    let now = shared_by_two_stores(Arc::new(a), Arc::new(b.clone())).await;

    // No address is stored in clear: only 32-byte hashes.
    assert_eq!(
        server
            .psql("SELECT DISTINCT length(key) FROM rate_limits")
            .trim(),
        "32"
    );
    // An hour on, the spent states are swept and the key starts afresh.
    let ann = key("login-email", "ann@example.org");
    assert_eq!(
        b.rate_limit(&ann, Quota::per_minute(5), now + TimeDelta::hours(1))
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(server.psql("SELECT COUNT(*) FROM rate_limits").trim(), "1");
}
