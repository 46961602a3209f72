//! Runs, their executor claims (fencing epochs) and their append-only events.

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::{Run, RunEvent, RunEventKind, RunMode, RunStatus, Usage};
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// A new run to insert.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: Uuid,
    pub org_id: Uuid,
    pub agent_id: Uuid,
    pub agent_version: i64,
    pub thread_id: Uuid,
    pub input: String,
    pub created_by: Uuid,
    pub mode: RunMode,
    /// The preflight whose plan this run follows.
    pub preflight_id: Option<Uuid>,
}

/// Final or intermediate state written back by the executor.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    pub status: RunStatus,
    pub output: Option<String>,
    pub error: Option<String>,
    pub usage: Usage,
    pub steps: i64,
}

/// How long a new run's outbox row waits before a recovery sweep may enqueue the run's
/// job ([`RunStore::create_run`]): much longer than the enqueue that normally follows the
/// insert (milliseconds), so a sweep does not race the creating request.
pub const OUTBOX_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs and run events.
#[async_trait]
pub trait RunStore: Send + Sync {
    // ---- runs
    /// Inserts a queued run and, in the same transaction, its outbox row (due
    /// [`OUTBOX_GRACE`] from now): the record that its job is not known to be enqueued yet
    /// ([`RunStore::mark_run_enqueued`] deletes it, [`RunStore::claim_unqueued_runs`] finds
    /// it when a crash left it). With an idempotency key, a second call with the same
    /// `(org, key)` returns the first run and `false` instead of inserting.
    async fn create_run(&self, run: &NewRun, idempotency_key: Option<&str>) -> Result<(Run, bool)>;
    /// Deletes run `id`'s outbox row once its job is in the queue. Idempotent.
    async fn mark_run_enqueued(&self, id: Uuid) -> Result<()>;
    /// Claims up to `limit` outbox rows due at or before `now` (oldest first), moving each
    /// one's due time to `now` + `lease` so that another process's sweep skips it while
    /// this one enqueues; returns their run ids. The rows stay until
    /// [`RunStore::mark_run_enqueued`]. (`now` is the caller's clock: the current time.)
    async fn claim_unqueued_runs(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<Uuid>>;
    /// Errors: [`Error::NotFound`].
    async fn get_run(&self, org_id: Uuid, id: Uuid) -> Result<Run>;
    /// Without org scoping: for the executor, which receives ids from the queue.
    async fn get_run_unscoped(&self, id: Uuid) -> Result<Run>;
    /// Newest first, optionally one agent's.
    async fn list_runs(
        &self,
        org_id: Uuid,
        agent_id: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Run>>;
    /// Runs of a thread, oldest first.
    async fn list_thread_runs(&self, org_id: Uuid, thread_id: Uuid) -> Result<Vec<Run>>;
    /// Claims a queued, running or `waiting_approval` run for one executor: sets `running` (and `started_at`
    /// the first time) and increments the run's executor epoch. Returns the new epoch — the
    /// fencing token every later write of this executor carries — or `None` when the run is
    /// already terminal (or missing). A later claim supersedes every earlier one.
    async fn claim_run(&self, id: Uuid) -> Result<Option<i64>>;
    /// Writes the run's state. Errors: [`Error::LeaseLost`] when `epoch` is no longer the
    /// run's current epoch (another executor claimed it); nothing is written then.
    async fn update_run(&self, id: Uuid, epoch: i64, update: &RunUpdate) -> Result<()>;
    /// Writes the run's final state and appends its terminal event (`last`) in one
    /// transaction, so a crash cannot leave a terminal run without its terminal event (no
    /// executor can claim a terminal run to write it later). Errors: as
    /// [`RunStore::update_run`] and [`RunStore::append_event`]; nothing is written then.
    async fn finish_run(
        &self,
        id: Uuid,
        epoch: i64,
        update: &RunUpdate,
        last: &RunEventKind,
    ) -> Result<RunEvent>;
    /// Flags a non-terminal run for cancellation. Errors: [`Error::Conflict`] if already finished.
    async fn request_cancel(&self, org_id: Uuid, id: Uuid) -> Result<()>;
    /// Whether cancellation was requested (false for a missing run).
    async fn cancel_requested(&self, id: Uuid) -> Result<bool>;

    // ---- run events
    /// Appends with the next `seq` for the run, only while `epoch` is the run's current
    /// executor epoch ([`RunStore::claim_run`]). Errors: [`Error::LeaseLost`] otherwise
    /// (nothing is written); [`Error::NotFound`] for an unknown run.
    async fn append_event(&self, run_id: Uuid, epoch: i64, kind: &RunEventKind)
        -> Result<RunEvent>;
    /// Events with `seq > after`, in order, at most `limit`.
    async fn list_events(&self, run_id: Uuid, after: i64, limit: u32) -> Result<Vec<RunEvent>>;
}
