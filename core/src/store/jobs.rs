//! The durable job queue.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::Job;
use crate::Result;

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
