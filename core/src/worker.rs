//! Queue consumers: lease a job, heartbeat the lease while the handler works, then
//! acknowledge, retry with exponential backoff, or let the queue dead-letter it.
//!
//! Used by the run executor ([`run_executor`]) and by the GPU worker.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::model::Job;
use crate::runtime::{Attempt, RunEnv};
use crate::service::{Service, RUNS_QUEUE};
use crate::store::JobQueue;

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Lease length; the heartbeat renews it every third of this. Default 30 s.
    pub lease: Duration,
    /// Sleep when the queue is empty. Default 100 ms.
    pub idle_poll: Duration,
    /// Jobs handled at once. Default 4.
    pub concurrency: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(100),
            concurrency: 4,
        }
    }
}

/// Delay before retry number `attempt` (1-based): exponential from 1 s, factor 2, capped at
/// 5 min, with jitter (the `backon` crate's `ExponentialBuilder`).
pub fn retry_delay(attempt: u32) -> Duration {
    let mut b = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(300))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    b.nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(Duration::from_secs(300))
}

/// Consumes `queue` until `shutdown` fires. `handle` gets the job and a token cancelled
/// when the lease is lost; `Ok` acknowledges, `Err(msg)` schedules a retry (or dead-letter
/// on the last attempt).
pub async fn consume<F, Fut>(
    queue: Arc<dyn JobQueue>,
    name: &'static str,
    cfg: WorkerConfig,
    shutdown: CancellationToken,
    handle: F,
) where
    F: Fn(Job, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let handle = Arc::new(handle);
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1)));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => p.expect("semaphore open"),
        };
        let job = match queue.lease(name, cfg.lease).await {
            Ok(Some(job)) => job,
            Ok(None) => {
                drop(permit);
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(cfg.idle_poll) => continue }
            }
            Err(e) => {
                tracing::warn!(queue = name, error = %e, "lease failed");
                drop(permit);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let queue = queue.clone();
        let handle = handle.clone();
        let lease = cfg.lease;
        tokio::spawn(async move {
            let _permit = permit;
            let (id, token, attempt) = (job.id, job.lease_token, job.attempt);
            let lost = CancellationToken::new();
            let hb = heartbeat(queue.clone(), id, token, lease, lost.clone());
            let result = handle(job, lost.clone()).await;
            hb.abort();
            if lost.is_cancelled() {
                tracing::warn!(queue = name, job = %id, "lease lost; job left for redelivery");
                return;
            }
            let r = match result {
                Ok(()) => queue.complete(id, token).await,
                Err(msg) => {
                    tracing::warn!(queue = name, job = %id, attempt, error = %msg, "job failed");
                    queue.fail(id, token, &msg, retry_delay(attempt)).await
                }
            };
            if let Err(e) = r {
                tracing::error!(queue = name, job = %id, error = %e, "could not ack job");
            }
        });
    }
}

fn heartbeat(
    queue: Arc<dyn JobQueue>,
    id: Uuid,
    token: Uuid,
    lease: Duration,
    lost: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(lease / 3).await;
            match queue.heartbeat(id, token, lease).await {
                Ok(true) => {}
                Ok(false) => {
                    lost.cancel();
                    break;
                }
                Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
            }
        }
    })
}

/// The run executor: consumes [`RUNS_QUEUE`] and executes each run with
/// [`RunEnv::execute_until`]; a lost lease abandons the attempt (the run is resumed by
/// whoever gets the redelivered job).
///
/// Beside it, every [`RECOVERY_SWEEP`], [`recover_runs`] finds the runs a crash left
/// without a job or with a dead-lettered job.
pub async fn run_executor(env: RunEnv, cfg: WorkerConfig, shutdown: CancellationToken) {
    let sweeper = {
        let (service, shutdown) = (env.service.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(RECOVERY_SWEEP) => {} }
                recover_runs(&service).await;
            }
        })
    };
    run_consumer(env, cfg, shutdown).await;
    let _ = sweeper.await;
}

/// How often [`run_executor`] runs [`recover_runs`].
pub const RECOVERY_SWEEP: Duration = Duration::from_secs(5);

/// One recovery sweep: [`Service::requeue_unqueued_runs`] then
/// [`Service::fail_dead_lettered_runs`]; errors are logged (the next sweep tries again).
/// Returns (jobs enqueued, runs failed).
pub async fn recover_runs(service: &Service) -> (usize, usize) {
    let requeued = service
        .requeue_unqueued_runs(chrono::Utc::now())
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "outbox sweep failed");
            0
        });
    let failed = service.fail_dead_lettered_runs().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "dead-letter sweep of runs failed");
        0
    });
    (requeued, failed)
}

async fn run_consumer(env: RunEnv, cfg: WorkerConfig, shutdown: CancellationToken) {
    let queue = env.service.queue.clone();
    consume(queue, RUNS_QUEUE, cfg, shutdown, move |job, lost| {
        let env = env.clone();
        async move {
            let run_id = job
                .payload
                .get("run_id")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| "payload has no run_id".to_string())?;
            // A lost lease abandons this attempt (the redelivered job resumes the run from its
            // events); it never cancels the run: that is the user's decision, in the store.
            let attempt = Attempt {
                budget: None,
                abandon: lost,
            };
            match env.execute_until(run_id, &attempt).await {
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await
}
