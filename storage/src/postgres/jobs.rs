//! [`JobQueue`] on PostgreSQL: leases with `FOR UPDATE SKIP LOCKED`, so concurrent consumers
//! never receive the same delivery; times are the database server's clock.

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::model::Job;
use autonoma_core::store::JobQueue;
use autonoma_core::Result;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PgStore;
use crate::error::db;
use crate::rows::{DeadJobRow, LeasedJobRow};
use crate::sql;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A leased job with the expiry the server computed.
#[derive(sqlx::FromRow)]
struct LeasedRow {
    #[sqlx(flatten)]
    job: LeasedJobRow<Uuid>,
    lease_expires_at: DateTime<Utc>,
}

#[async_trait]
impl JobQueue for PgStore {
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        max_attempts: u32,
        delay: Duration,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO jobs (id, queue, payload, status, max_attempts, available_at, created_at) \
             VALUES ($1, $2, $3, 'ready', $4, now() + make_interval(secs => $5), now())",
        )
        .bind(id)
        .bind(queue)
        .bind(payload)
        .bind(max_attempts.max(1) as i64)
        .bind(secs(delay))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(id)
    }

    async fn lease(&self, queue: &str, lease: Duration) -> Result<Option<Job>> {
        // A lease that expired on the last attempt means the consumer died every time: dead-letter.
        sqlx::query(
            "UPDATE jobs SET status = 'dead', last_error = COALESCE(last_error, 'lease expired') \
             WHERE queue = $1 AND status = 'leased' AND lease_expires_at <= now() AND attempt >= max_attempts",
        )
        .bind(queue)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let token = Uuid::new_v4();
        let row = sqlx::query_as::<_, LeasedRow>(
            "UPDATE jobs SET status = 'leased', attempt = attempt + 1, lease_token = $1, lease_expires_at = now() + make_interval(secs => $2) \
             WHERE id = (SELECT id FROM jobs WHERE queue = $3 AND \
                ((status = 'ready' AND available_at <= now()) OR (status = 'leased' AND lease_expires_at <= now() AND attempt < max_attempts)) \
                ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, queue, payload, attempt, max_attempts, lease_expires_at",
        )
        .bind(token)
        .bind(secs(lease))
        .bind(queue)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.map(|r| r.job.into_model(token, r.lease_expires_at)))
    }

    async fn heartbeat(&self, job_id: Uuid, lease_token: Uuid, lease: Duration) -> Result<bool> {
        let r = sqlx::query("UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $1) WHERE id = $2 AND lease_token = $3 AND status = 'leased'")
            .bind(secs(lease))
            .bind(job_id)
            .bind(lease_token)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn complete(&self, job_id: Uuid, lease_token: Uuid) -> Result<()> {
        sqlx::query(sql::COMPLETE_JOB)
            .bind(job_id)
            .bind(lease_token)
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
             available_at = now() + make_interval(secs => $1), last_error = $2, lease_token = NULL, lease_expires_at = NULL \
             WHERE id = $3 AND lease_token = $4",
        )
        .bind(secs(retry_in))
        .bind(error)
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<(Uuid, serde_json::Value, String)>> {
        let rows = sqlx::query_as::<_, DeadJobRow<Uuid>>(sql::DEAD_LETTERS)
            .bind(queue)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().map(DeadJobRow::into_model).collect())
    }
}
