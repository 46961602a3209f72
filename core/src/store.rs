//! Storage and queue traits. One implementation per real backend lives in
//! `autonoma-storage` (SQLite today); the domain only sees these traits.
//!
//! Every tenant-owned read or write takes the `org_id` and must filter by it: a row of
//! another organization behaves exactly like a missing row ([`Error::NotFound`]).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::*;
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// A login session (cookie). The token itself is never stored, only its SHA-256.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub org_id: Uuid,
    /// Token the browser must echo in `X-CSRF-Token` on cookie-authenticated API writes.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

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

/// Relational storage for all tenant data.
#[async_trait]
pub trait Store: Send + Sync {
    // ---- users, organizations, memberships
    /// Creates a user, an organization named `org_name`, and an `owner` membership, atomically.
    /// Errors: [`Error::Conflict`] if the e-mail is taken.
    async fn create_user_with_org(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        org_name: &str,
    ) -> Result<(User, Organization)>;
    /// The user and their argon2 PHC hash, by e-mail (case-insensitive).
    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;
    /// All organizations the user belongs to.
    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Membership>>;
    /// The user's role in `org_id`, if a member.
    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<Role>>;
    /// Adds or changes a membership. Errors: [`Error::NotFound`] if no user has that e-mail.
    async fn upsert_member(&self, org_id: Uuid, email: &str, role: Role) -> Result<Membership>;
    /// Members of an organization.
    async fn list_members(&self, org_id: Uuid) -> Result<Vec<Membership>>;

    // ---- sessions
    async fn create_session(&self, token_hash: &[u8], session: &Session) -> Result<()>;
    /// A session that has not expired.
    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<Session>>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()>;

    // ---- rate limits (not tenant data: they guard logins, before any tenant is known)
    /// Applies one GCRA decision ([`crate::rate_limit::gcra`] with `quota` at `now`) to the
    /// stored state of `key` (a [`crate::rate_limit::key`], 32 bytes), atomically for every
    /// process on this database: concurrent calls for one key are serialized (a row lock on
    /// PostgreSQL, the write lock on SQLite), so `burst` concurrent requests from any mix of
    /// processes are allowed and the next is not. An allowed request stores the new state;
    /// a denied one stores nothing. States that have run out (older than `now`) are deleted
    /// along the way. Returns `Ok(Err(wait))` when denied.
    async fn rate_limit(
        &self,
        key: &[u8],
        quota: crate::rate_limit::Quota,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Duration>>;

    // ---- API keys
    async fn create_api_key(&self, key: &ApiKey, key_hash: &[u8]) -> Result<()>;
    async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>>;
    /// Sets `revoked_at`. Errors: [`Error::NotFound`].
    async fn revoke_api_key(&self, org_id: Uuid, id: Uuid) -> Result<()>;
    /// An unrevoked key by hash; records `last_used_at` (implementations may skip the write
    /// when the recorded time is under a minute old, so reads stay reads).
    async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>>;

    // ---- provider connections
    /// `encrypted_api_key` is the sealed secret (nonce || ciphertext), never plaintext.
    async fn create_provider(
        &self,
        conn: &ProviderConnection,
        encrypted_api_key: Option<&[u8]>,
    ) -> Result<()>;
    async fn list_providers(&self, org_id: Uuid) -> Result<Vec<ProviderConnection>>;
    /// The connection and its sealed key. Errors: [`Error::NotFound`].
    async fn get_provider(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<Vec<u8>>)>;
    /// Errors: [`Error::NotFound`]; [`Error::Conflict`] if an agent still uses it.
    async fn delete_provider(&self, org_id: Uuid, id: Uuid) -> Result<()>;

    // ---- agents
    /// Inserts the agent and its version 1.
    async fn create_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent>;
    async fn get_agent(&self, org_id: Uuid, id: Uuid) -> Result<Agent>;
    /// Newest first; `after` is the last id of the previous page.
    async fn list_agents(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Agent>>;
    /// Writes a new immutable version and makes it current.
    async fn update_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent>;
    /// Soft-deletes (versions and runs stay for history).
    async fn delete_agent(&self, org_id: Uuid, id: Uuid) -> Result<()>;
    async fn get_agent_version(
        &self,
        org_id: Uuid,
        agent_id: Uuid,
        version: i64,
    ) -> Result<AgentVersion>;
    async fn list_agent_versions(&self, org_id: Uuid, agent_id: Uuid) -> Result<Vec<AgentVersion>>;

    // ---- runs
    /// Inserts a queued run. With an idempotency key, a second call with the same
    /// `(org, key)` returns the first run and `false` instead of inserting.
    async fn create_run(&self, run: &NewRun, idempotency_key: Option<&str>) -> Result<(Run, bool)>;
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
    /// Claims a queued or running run for one executor: sets `running` (and `started_at`
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
    /// [`Store::update_run`] and [`Store::append_event`]; nothing is written then.
    async fn finish_run(
        &self,
        id: Uuid,
        epoch: i64,
        update: &RunUpdate,
        last: &RunEventKind,
    ) -> Result<RunEvent>;
    /// Flags a non-terminal run for cancellation. Errors: [`Error::Conflict`] if already finished.
    async fn request_cancel(&self, org_id: Uuid, id: Uuid) -> Result<()>;
    async fn cancel_requested(&self, id: Uuid) -> Result<bool>;

    // ---- run events
    /// Appends with the next `seq` for the run, only while `epoch` is the run's current
    /// executor epoch ([`Store::claim_run`]). Errors: [`Error::LeaseLost`] otherwise (nothing
    /// is written); [`Error::NotFound`] for an unknown run.
    async fn append_event(&self, run_id: Uuid, epoch: i64, kind: &RunEventKind)
        -> Result<RunEvent>;
    /// Events with `seq > after`, in order, at most `limit`.
    async fn list_events(&self, run_id: Uuid, after: i64, limit: u32) -> Result<Vec<RunEvent>>;
}

/// A durable job queue with leases (at-least-once delivery).
///
/// A leased job is invisible to other consumers until its lease expires; a consumer that
/// dies loses its lease and the job is delivered again (attempt + 1). After
/// `max_attempts` failed deliveries the job is dead-lettered.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Adds a job, visible after `delay`.
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        max_attempts: u32,
        delay: Duration,
    ) -> Result<Uuid>;
    /// Leases the oldest visible job for `lease`, or `None` when the queue is empty.
    /// A job whose lease expired on its last attempt is dead-lettered instead.
    async fn lease(&self, queue: &str, lease: Duration) -> Result<Option<Job>>;
    /// Extends a held lease to now + `lease`; false if the lease was lost.
    async fn heartbeat(&self, job_id: Uuid, lease_token: Uuid, lease: Duration) -> Result<bool>;
    /// Acknowledges (deletes) a finished job.
    async fn complete(&self, job_id: Uuid, lease_token: Uuid) -> Result<()>;
    /// Records a failure: the job becomes visible again after `retry_in`, or is
    /// dead-lettered when this was its last attempt.
    async fn fail(
        &self,
        job_id: Uuid,
        lease_token: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<()>;
    /// Dead-lettered jobs of a queue: (id, payload, last error).
    async fn dead_letters(&self, queue: &str) -> Result<Vec<(Uuid, serde_json::Value, String)>>;
}
