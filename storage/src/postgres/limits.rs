//! [`RateLimitStore`] on PostgreSQL: each decision locks its key's row, so callers for one
//! key queue up in whatever process they run; `rate_limits` is cross-tenant (no RLS).

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::rate_limit::{gcra, Quota};
use autonoma_core::store::RateLimitStore;
use autonoma_core::Result;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::error::db;

#[async_trait]
impl RateLimitStore for PgStore {
    async fn rate_limit(
        &self,
        key: &[u8],
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Duration>> {
        // No tenant: `rate_limits` is a cross-tenant table (migrations/postgres/0004). Not
        // `in_tx!`: a denial is `Ok` yet must roll back.
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Make sure the row exists, then lock it: callers for one key queue up here, in
        // whatever process they run. (ON CONFLICT DO NOTHING waits for a concurrent first
        // insert of the same key to commit or roll back.)
        sqlx::query(
            "INSERT INTO rate_limits (key, tat) VALUES ($1, NULL) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let tat: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT tat FROM rate_limits WHERE key = $1 FOR UPDATE")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .flatten();
        let decision = gcra(tat, now, quota);
        match decision {
            Ok(next) => {
                // An upsert: a sweep in another transaction may have deleted the row between
                // our insert and our lock.
                sqlx::query(crate::sql::UPSERT_RATE_LIMIT)
                    .bind(key)
                    .bind(next)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                // Rows whose time has passed carry no information; sweep some in the same
                // round of work (no extra transaction). SKIP LOCKED: never wait for a row
                // another decision holds.
                sqlx::query("DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE tat < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                tx.commit().await.map_err(db)?;
            }
            // Nothing to store (and a NULL row of ours goes away with the rollback).
            Err(_) => tx.rollback().await.map_err(db)?,
        }
        Ok(decision.map(|_| ()))
    }
}
