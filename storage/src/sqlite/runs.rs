//! [`RunStore`] on SQLite: the single writer serializes claims and appends, so the fencing
//! epoch is checked inside the writing statement itself.

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::model::*;
use autonoma_core::store::{NewRun, RunStore, RunUpdate, OUTBOX_GRACE};
use autonoma_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::{db, in_tx, is_unique_violation};
use crate::rows::{RunEventRow, RunRow};
use crate::sql;

impl SqliteStore {
    /// One run by a query whose parameters are the `binds`, as text.
    async fn fetch_run(&self, query: &str, binds: &[Option<String>]) -> Result<Option<Run>> {
        let mut q = sqlx::query_as::<_, RunRow<Id>>(query);
        for b in binds {
            q = q.bind(b.clone());
        }
        q.fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(RunRow::into_model)
            .transpose()
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, run: &NewRun, idempotency_key: Option<&str>) -> Result<(Run, bool)> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let r = sqlx::query(sql::INSERT_RUN)
            .bind(run.id.to_string())
            .bind(run.org_id.to_string())
            .bind(run.agent_id.to_string())
            .bind(run.agent_version)
            .bind(run.thread_id.to_string())
            .bind(&run.input)
            .bind(idempotency_key)
            .bind(run.created_by.to_string())
            .bind(now)
            .bind(run.mode.as_str())
            .bind(run.preflight_id.map(|u| u.to_string()))
            .execute(&mut *tx)
            .await;
        match r {
            Ok(_) => {
                sqlx::query(sql::INSERT_RUN_OUTBOX)
                    .bind(run.id.to_string())
                    .bind((now + OUTBOX_GRACE).timestamp_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                tx.commit().await.map_err(db)?;
                Ok((self.get_run(run.org_id, run.id).await?, true))
            }
            Err(e) if is_unique_violation(&e) && idempotency_key.is_some() => {
                tx.rollback().await.map_err(db)?;
                let existing = self
                    .fetch_run(
                        sql::RUN_BY_IDEMPOTENCY_KEY,
                        &[
                            Some(run.org_id.to_string()),
                            idempotency_key.map(String::from),
                        ],
                    )
                    .await?
                    .ok_or_else(|| db(sqlx::Error::RowNotFound))?;
                if existing.agent_id != run.agent_id || existing.input != run.input {
                    return Err(Error::Conflict(
                        "Idempotency-Key was already used with a different request".into(),
                    ));
                }
                Ok((existing, false))
            }
            Err(e) => Err(db(e)),
        }
    }

    async fn mark_run_enqueued(&self, id: Uuid) -> Result<()> {
        sqlx::query(sql::DELETE_RUN_OUTBOX)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn claim_unqueued_runs(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Uuid>> {
        // One statement: SQLite runs it under its single writer lock, so two sweeps never
        // claim one row.
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE run_outbox SET due_at = $1 WHERE run_id IN \
             (SELECT run_id FROM run_outbox WHERE due_at <= $2 ORDER BY due_at LIMIT $3) \
             RETURNING run_id",
        )
        .bind((now + lease).timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        ids.iter()
            .map(|s| Uuid::parse_str(s).map_err(Error::internal))
            .collect()
    }

    async fn get_run(&self, org_id: Uuid, id: Uuid) -> Result<Run> {
        self.fetch_run(
            sql::GET_RUN,
            &[Some(org_id.to_string()), Some(id.to_string())],
        )
        .await?
        .ok_or(Error::NotFound("run"))
    }

    async fn get_run_unscoped(&self, id: Uuid) -> Result<Run> {
        self.fetch_run("SELECT * FROM runs WHERE id = $1", &[Some(id.to_string())])
            .await?
            .ok_or(Error::NotFound("run"))
    }

    async fn list_runs(
        &self,
        org_id: Uuid,
        agent_id: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Run>> {
        let rows = sqlx::query_as::<_, RunRow<Id>>(
            "SELECT * FROM runs WHERE org_id = $1 AND mode = 'live' AND ($2 IS NULL OR agent_id = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(org_id.to_string())
        .bind(agent_id.map(|u| u.to_string()))
        .bind(after.map(|u| u.to_string()))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(RunRow::into_model).collect()
    }

    async fn list_thread_runs(&self, org_id: Uuid, thread_id: Uuid) -> Result<Vec<Run>> {
        let rows = sqlx::query_as::<_, RunRow<Id>>(sql::LIST_THREAD_RUNS)
            .bind(org_id.to_string())
            .bind(thread_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.into_iter().map(RunRow::into_model).collect()
    }

    async fn claim_run(&self, id: Uuid) -> Result<Option<i64>> {
        sqlx::query_scalar(sql::CLAIM_RUN)
            .bind(Utc::now())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn update_run(&self, id: Uuid, epoch: i64, u: &RunUpdate) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        write_run_state(&mut conn, id, epoch, u).await
    }

    async fn finish_run(
        &self,
        id: Uuid,
        epoch: i64,
        u: &RunUpdate,
        last: &RunEventKind,
    ) -> Result<RunEvent> {
        in_tx!(self.write_tx(), |c| {
            write_run_state(c, id, epoch, u).await?;
            insert_event(c, id, epoch, last).await
        })
    }

    async fn request_cancel(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let run = self.get_run(org_id, id).await?;
        if run.status.is_terminal() {
            return Err(Error::Conflict(format!(
                "run already {}",
                run.status.as_str()
            )));
        }
        sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE org_id = $1 AND id = $2")
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn cancel_requested(&self, id: Uuid) -> Result<bool> {
        let v: Option<i64> = sqlx::query_scalar(sql::CANCEL_REQUESTED)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(v == Some(1))
    }

    async fn append_event(
        &self,
        run_id: Uuid,
        epoch: i64,
        kind: &RunEventKind,
    ) -> Result<RunEvent> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_event(&mut conn, run_id, epoch, kind).await
    }

    async fn list_events(&self, run_id: Uuid, after: i64, limit: u32) -> Result<Vec<RunEvent>> {
        let rows = sqlx::query_as::<_, RunEventRow>(sql::LIST_EVENTS)
            .bind(run_id.to_string())
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().map(|r| r.into_model(run_id)).collect())
    }
}

/// Writes a run's state under the fencing `epoch`. Errors: [`Error::LeaseLost`] when another
/// executor claimed the run since.
async fn write_run_state(
    conn: &mut SqliteConnection,
    id: Uuid,
    epoch: i64,
    u: &RunUpdate,
) -> Result<()> {
    let finished = u.status.is_terminal().then(Utc::now);
    let r = sqlx::query(sql::WRITE_RUN_STATE)
        .bind(u.status.as_str())
        .bind(&u.output)
        .bind(&u.error)
        .bind(u.usage.input_tokens as i64)
        .bind(u.usage.output_tokens as i64)
        .bind(u.steps)
        .bind(finished)
        .bind(id.to_string())
        .bind(epoch)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if r.rows_affected() == 0 {
        return Err(Error::LeaseLost);
    }
    Ok(())
}

/// Appends a run event with the next `seq` under the fencing `epoch`. Errors:
/// [`Error::LeaseLost`] when another executor claimed the run since; [`Error::NotFound`].
async fn insert_event(
    conn: &mut SqliteConnection,
    run_id: Uuid,
    epoch: i64,
    kind: &RunEventKind,
) -> Result<RunEvent> {
    let now = Utc::now();
    let data = serde_json::to_string(kind).map_err(Error::internal)?;
    // One statement: the epoch check and the insert are atomic under SQLite's single writer.
    let seq: Option<i64> = sqlx::query_scalar(
        "INSERT INTO run_events (run_id, seq, data, created_at) \
         SELECT $1, COALESCE((SELECT MAX(seq) FROM run_events WHERE run_id = $1), 0) + 1, $2, $3 \
         WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1 AND executor_epoch = $4) RETURNING seq",
    )
    .bind(run_id.to_string())
    .bind(&data)
    .bind(now)
    .bind(epoch)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    match seq {
        Some(seq) => Ok(RunEvent {
            run_id,
            seq,
            kind: kind.clone(),
            created_at: now,
        }),
        None => {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM runs WHERE id = $1")
                .bind(run_id.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
            Err(if exists.is_some() {
                Error::LeaseLost
            } else {
                Error::NotFound("run")
            })
        }
    }
}
