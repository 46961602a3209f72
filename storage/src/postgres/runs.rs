//! [`RunStore`] on PostgreSQL: a run's organization is looked up first
//! (`autonoma_run_org`) for the executor's unscoped calls; appends lock the run row and
//! check the fencing epoch under that lock, and every appended event and cancel request is
//! announced with `NOTIFY` in its own transaction.

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::model::*;
use autonoma_core::store::{NewRun, RunStore, RunUpdate, OUTBOX_GRACE};
use autonoma_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{PgStore, RUN_CANCELS_CHANNEL, RUN_EVENTS_CHANNEL};
use crate::error::{db, in_tx, is_unique_violation};
use crate::rows::{RunEventRow, RunRow};
use crate::sql;

#[async_trait]
impl RunStore for PgStore {
    async fn create_run(&self, run: &NewRun, idempotency_key: Option<&str>) -> Result<(Run, bool)> {
        let now = Utc::now();
        let mut tx = self.tenant_tx(run.org_id).await?;
        let r = sqlx::query(sql::INSERT_RUN)
            .bind(run.id)
            .bind(run.org_id)
            .bind(run.agent_id)
            .bind(run.agent_version)
            .bind(run.thread_id)
            .bind(&run.input)
            .bind(idempotency_key)
            .bind(run.created_by)
            .bind(now)
            .bind(run.mode.as_str())
            .bind(run.preflight_id)
            .execute(&mut *tx)
            .await;
        match r {
            Ok(_) => {
                sqlx::query(sql::INSERT_RUN_OUTBOX)
                    .bind(run.id)
                    .bind(now + OUTBOX_GRACE)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                tx.commit().await.map_err(db)?;
                Ok((self.get_run(run.org_id, run.id).await?, true))
            }
            Err(e) if is_unique_violation(&e) && idempotency_key.is_some() => {
                // The failed insert aborted this transaction: read the first run in another.
                tx.rollback().await.map_err(db)?;
                let row = in_tx!(self.tenant_tx(run.org_id), |c| {
                    sqlx::query_as::<_, RunRow<Uuid>>(sql::RUN_BY_IDEMPOTENCY_KEY)
                        .bind(run.org_id)
                        .bind(idempotency_key)
                        .fetch_one(&mut *c)
                        .await
                        .map_err(db)
                })?;
                let existing = row.into_model()?;
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
            .bind(id)
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
        // SKIP LOCKED: two processes sweeping at once claim different rows.
        sqlx::query_scalar(
            "UPDATE run_outbox SET due_at = $1 WHERE run_id IN \
             (SELECT run_id FROM run_outbox WHERE due_at <= $2 ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING run_id",
        )
        .bind(now + lease)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    async fn get_run(&self, org_id: Uuid, id: Uuid) -> Result<Run> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, RunRow<Uuid>>(sql::GET_RUN)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("run"))
        })?;
        row.into_model()
    }

    async fn get_run_unscoped(&self, id: Uuid) -> Result<Run> {
        let org = self.run_org(id).await?.ok_or(Error::NotFound("run"))?;
        self.get_run(org, id).await
    }

    async fn list_runs(
        &self,
        org_id: Uuid,
        agent_id: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Run>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, RunRow<Uuid>>(
                "SELECT * FROM runs WHERE org_id = $1 AND mode = 'live' AND ($2::uuid IS NULL OR agent_id = $2) AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
            )
            .bind(org_id)
            .bind(agent_id)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(db)
        })?;
        rows.into_iter().map(RunRow::into_model).collect()
    }

    async fn list_thread_runs(&self, org_id: Uuid, thread_id: Uuid) -> Result<Vec<Run>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, RunRow<Uuid>>(sql::LIST_THREAD_RUNS)
                .bind(org_id)
                .bind(thread_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        rows.into_iter().map(RunRow::into_model).collect()
    }

    async fn claim_run(&self, id: Uuid) -> Result<Option<i64>> {
        let Some(org) = self.run_org(id).await? else {
            return Ok(None);
        };
        in_tx!(self.tenant_tx(org), |c| {
            sqlx::query_scalar(sql::CLAIM_RUN)
                .bind(Utc::now())
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)
        })
    }

    async fn update_run(&self, id: Uuid, epoch: i64, u: &RunUpdate) -> Result<()> {
        let org = self.run_org(id).await?.ok_or(Error::NotFound("run"))?;
        in_tx!(self.tenant_tx(org), |c| write_run_state(c, id, epoch, u)
            .await)
    }

    async fn finish_run(
        &self,
        id: Uuid,
        epoch: i64,
        u: &RunUpdate,
        last: &RunEventKind,
    ) -> Result<RunEvent> {
        let org = self.run_org(id).await?.ok_or(Error::NotFound("run"))?;
        in_tx!(self.tenant_tx(org), |c| {
            // Event first: it takes the run row's lock and checks the epoch under it.
            let event = insert_event(c, org, id, epoch, last).await?;
            write_run_state(c, id, epoch, u).await?;
            Ok(event)
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
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query("UPDATE runs SET cancel_requested = true WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(RUN_CANCELS_CHANNEL)
                .bind(id.to_string())
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    async fn cancel_requested(&self, id: Uuid) -> Result<bool> {
        let Some(org) = self.run_org(id).await? else {
            return Ok(false);
        };
        let v: Option<bool> = in_tx!(self.tenant_tx(org), |c| {
            sqlx::query_scalar(sql::CANCEL_REQUESTED)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)
        })?;
        Ok(v == Some(true))
    }

    async fn append_event(
        &self,
        run_id: Uuid,
        epoch: i64,
        kind: &RunEventKind,
    ) -> Result<RunEvent> {
        let org = self.run_org(run_id).await?.ok_or(Error::NotFound("run"))?;
        in_tx!(self.tenant_tx(org), |c| insert_event(
            c, org, run_id, epoch, kind
        )
        .await)
    }

    async fn list_events(&self, run_id: Uuid, after: i64, limit: u32) -> Result<Vec<RunEvent>> {
        let Some(org) = self.run_org(run_id).await? else {
            return Ok(vec![]);
        };
        let rows = in_tx!(self.tenant_tx(org), |c| {
            sqlx::query_as::<_, RunEventRow>(sql::LIST_EVENTS)
                .bind(run_id)
                .bind(after)
                .bind(limit as i64)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        Ok(rows.into_iter().map(|r| r.into_model(run_id)).collect())
    }
}

/// Writes a run's state under the fencing `epoch` (inside a tenant transaction). Errors:
/// [`Error::LeaseLost`] when another executor claimed the run since.
async fn write_run_state(
    conn: &mut PgConnection,
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
        .bind(id)
        .bind(epoch)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    if r.rows_affected() == 0 {
        return Err(Error::LeaseLost);
    }
    Ok(())
}

/// Appends a run event with the next `seq` under the fencing `epoch` (inside a tenant
/// transaction of `org`). Errors: [`Error::LeaseLost`]; [`Error::NotFound`].
async fn insert_event(
    conn: &mut PgConnection,
    org: Uuid,
    run_id: Uuid,
    epoch: i64,
    kind: &RunEventKind,
) -> Result<RunEvent> {
    let now = Utc::now();
    let data = serde_json::to_value(kind).map_err(Error::internal)?;
    // Serializes appends to one run (SQLite has a single writer; here the run row's lock)
    // and checks the fencing epoch under that lock.
    let current: Option<i64> =
        sqlx::query_scalar("SELECT executor_epoch FROM runs WHERE id = $1 FOR UPDATE")
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    match current {
        None => return Err(Error::NotFound("run")),
        Some(e) if e != epoch => return Err(Error::LeaseLost),
        Some(_) => {}
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO run_events (run_id, seq, org_id, data, created_at) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM run_events WHERE run_id = $1 RETURNING seq",
    )
    .bind(run_id)
    .bind(org)
    .bind(&data)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    // Delivered to every listening process when the transaction commits (and never if it
    // rolls back): see PgStore::listen_runs.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(RUN_EVENTS_CHANNEL)
        .bind(run_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(RunEvent {
        run_id,
        seq,
        kind: kind.clone(),
        created_at: now,
    })
}
