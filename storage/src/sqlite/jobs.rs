//! [`JobQueue`] on SQLite: times are this process's clock in milliseconds
//! (`available_at_ms`, `lease_expires_ms`); the single writer serializes leases.

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::model::Job;
use autonoma_core::store::JobQueue;
use autonoma_core::Result;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::db;
use crate::rows::{DeadJobRow, LeasedJobRow};

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        max_attempts: u32,
        delay: Duration,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO jobs (id, queue, payload, status, max_attempts, available_at_ms, created_at) VALUES ($1, $2, $3, 'ready', $4, $5, $6)")
            .bind(id.to_string())
            .bind(queue)
            .bind(payload.to_string())
            .bind(max_attempts.max(1) as i64)
            .bind(now_ms() + delay.as_millis() as i64)
            .bind(Utc::now())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(id)
    }

    async fn lease(&self, queue: &str, lease: Duration) -> Result<Option<Job>> {
        let now = now_ms();
        // A lease that expired on the last attempt means the consumer died every time: dead-letter.
        sqlx::query(
            "UPDATE jobs SET status = 'dead', last_error = COALESCE(last_error, 'lease expired') \
             WHERE queue = $1 AND status = 'leased' AND lease_expires_ms <= $2 AND attempt >= max_attempts",
        )
        .bind(queue)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let token = Uuid::new_v4();
        let expires = now + lease.as_millis() as i64;
        let row = sqlx::query_as::<_, LeasedJobRow<Id>>(
            "UPDATE jobs SET status = 'leased', attempt = attempt + 1, lease_token = $1, lease_expires_ms = $2 \
             WHERE id = (SELECT id FROM jobs WHERE queue = $3 AND \
                ((status = 'ready' AND available_at_ms <= $4) OR (status = 'leased' AND lease_expires_ms <= $4)) \
                ORDER BY available_at_ms, id LIMIT 1) \
             RETURNING id, queue, payload, attempt, max_attempts",
        )
        .bind(token.to_string())
        .bind(expires)
        .bind(queue)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let expires_at = DateTime::from_timestamp_millis(expires).unwrap_or_else(Utc::now);
        Ok(row.map(|r| r.into_model(token, expires_at)))
    }

    async fn heartbeat(&self, job_id: Uuid, lease_token: Uuid, lease: Duration) -> Result<bool> {
        let r = sqlx::query("UPDATE jobs SET lease_expires_ms = $1 WHERE id = $2 AND lease_token = $3 AND status = 'leased'")
            .bind(now_ms() + lease.as_millis() as i64)
            .bind(job_id.to_string())
            .bind(lease_token.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn complete(&self, job_id: Uuid, lease_token: Uuid) -> Result<()> {
        sqlx::query(crate::sql::COMPLETE_JOB)
            .bind(job_id.to_string())
            .bind(lease_token.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn fail(
        &self,
        job_id: Uuid,
        lease_token: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET status = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'ready' END, \
             available_at_ms = $1, last_error = $2, lease_token = NULL, lease_expires_ms = NULL \
             WHERE id = $3 AND lease_token = $4",
        )
        .bind(now_ms() + retry_in.as_millis() as i64)
        .bind(error)
        .bind(job_id.to_string())
        .bind(lease_token.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<(Uuid, serde_json::Value, String)>> {
        let rows = sqlx::query_as::<_, DeadJobRow<Id>>(crate::sql::DEAD_LETTERS)
            .bind(queue)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().map(DeadJobRow::into_model).collect())
    }
}
