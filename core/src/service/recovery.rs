//! Run recovery: the two ways a crash could leave a run that nothing will finish, and the
//! sweeps that close them. Both are idempotent and safe to run in every process at once;
//! the run executor runs them every [`crate::worker::RECOVERY_SWEEP`].
//!
//! * **A run without a job.** Creating a run writes its row (with an outbox row, in one
//!   transaction) and then enqueues its job, in a different system in the cloud shape
//!   (SQS). A process killed between the two leaves a `queued` run with no job; the
//!   client's retry with the same `Idempotency-Key` only finds the existing run.
//!   [`Service::requeue_unqueued_runs`] enqueues the job of every outbox row left past its
//!   due time (the transactional outbox pattern).
//! * **A run whose job was dead-lettered.** After [`super::RUN_MAX_ATTEMPTS`] deliveries
//!   that each ended in an error or an expired lease (the executor crashed), the queue
//!   dead-letters the job and no executor will deliver it again.
//!   [`Service::fail_dead_lettered_runs`] ends such a run `failed` with code
//!   `dead_lettered` and the job's last error as the reason.

use std::time::Duration;

use uuid::Uuid;

use super::{Service, RUNS_QUEUE, RUN_MAX_ATTEMPTS};
use crate::model::*;
use crate::store::RunUpdate;
use crate::{Error, Result};

/// How long one sweep's claim on an outbox row lasts: another process's sweep skips the
/// row for this long while this one enqueues the job.
pub const OUTBOX_LEASE: Duration = Duration::from_secs(60);
/// Outbox rows claimed per sweep.
const OUTBOX_BATCH: u32 = 100;

impl Service {
    /// Enqueues the job of each run whose outbox row is past due (a crash came between the
    /// run's insert and its enqueue) and deletes the row. A run that is no longer `queued`
    /// (an executor claimed it, or it ended) only has its row deleted, so a slow enqueue is
    /// not repeated. Returns how many jobs were enqueued. Errors: the store's or the
    /// queue's; rows not handled stay for the next sweep.
    /// `now` is the current time (a parameter so that tests can move the clock).
    pub async fn requeue_unqueued_runs(&self, now: chrono::DateTime<chrono::Utc>) -> Result<usize> {
        let mut enqueued = 0;
        for run_id in self
            .store
            .claim_unqueued_runs(now, OUTBOX_LEASE, OUTBOX_BATCH)
            .await?
        {
            match self.store.get_run_unscoped(run_id).await {
                Ok(run) if run.status == RunStatus::Queued => {
                    self.queue
                        .enqueue(
                            RUNS_QUEUE,
                            &serde_json::json!({ "run_id": run_id }),
                            RUN_MAX_ATTEMPTS,
                            Duration::ZERO,
                        )
                        .await?;
                    tracing::warn!(run = %run_id, "run had no job (a crash between insert and enqueue); enqueued");
                    enqueued += 1;
                }
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            self.store.mark_run_enqueued(run_id).await?;
        }
        Ok(enqueued)
    }

    /// Ends `failed` (code `dead_lettered`) every unfinished run whose job the runs queue
    /// dead-lettered, with the job's last error in the reason. The run is claimed first
    /// (a new executor epoch), so an executor still holding an older claim can write
    /// nothing after it. Returns how many runs were failed.
    pub async fn fail_dead_lettered_runs(&self) -> Result<usize> {
        let mut failed = 0;
        for (_, payload, last_error) in self.queue.dead_letters(RUNS_QUEUE).await? {
            let Some(run_id) = payload
                .get("run_id")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            let run = match self.store.get_run_unscoped(run_id).await {
                Ok(run) if !run.status.is_terminal() => run,
                Ok(_) | Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let Some(epoch) = self.store.claim_run(run_id).await? else {
                continue;
            };
            let reason = format!(
                "the run's job was dead-lettered after {RUN_MAX_ATTEMPTS} deliveries; last error: {last_error}"
            );
            let update = RunUpdate {
                status: RunStatus::Failed,
                output: None,
                error: Some(reason.clone()),
                usage: run.usage,
                steps: run.steps,
            };
            let last = RunEventKind::Failed {
                reason: reason.clone(),
                code: "dead_lettered".into(),
            };
            match self.store.finish_run(run_id, epoch, &update, &last).await {
                Ok(_) => {}
                // Claimed again meanwhile (a late redelivery): that executor ends it.
                Err(Error::LeaseLost) => continue,
                Err(e) => return Err(e),
            }
            self.notifier.notify(run_id);
            self.notifier.forget(run_id);
            tracing::warn!(run = %run_id, %reason, "run failed");
            self.audit_after(
                run.org_id,
                crate::audit::AuditActor::System,
                crate::audit::actions::RUN_FINISH,
                Some(run_id.to_string()),
                serde_json::json!({
                    "status": "failed", "code": "dead_lettered", "steps": run.steps,
                    "input_tokens": run.usage.input_tokens, "output_tokens": run.usage.output_tokens,
                }),
            )
            .await;
            failed += 1;
        }
        Ok(failed)
    }
}
