//! [`RateLimitStore`] on SQLite: every decision holds the write lock (`BEGIN IMMEDIATE`).

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::rate_limit::{gcra, Quota};
use autonoma_core::store::RateLimitStore;
use autonoma_core::Result;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::error::{db, in_tx};

#[async_trait]
impl RateLimitStore for SqliteStore {
    async fn rate_limit(
        &self,
        key: &[u8],
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Duration>> {
        // BEGIN IMMEDIATE: the write lock serializes every decision, for all keys.
        in_tx!(self.write_tx(), |c| {
            sqlx::query("DELETE FROM rate_limits WHERE tat < $1")
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            let tat: Option<DateTime<Utc>> =
                sqlx::query_scalar("SELECT tat FROM rate_limits WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *c)
                    .await
                    .map_err(db)?
                    .flatten();
            let decision = gcra(tat, now, quota);
            if let Ok(next) = decision {
                sqlx::query(crate::sql::UPSERT_RATE_LIMIT)
                    .bind(key)
                    .bind(next)
                    .execute(&mut *c)
                    .await
                    .map_err(db)?;
            }
            Ok(decision.map(|_| ()))
        })
    }
}
