//! AWS Lambda entry points: the same router and the same run executor as `autonoma serve`,
//! driven by Lambda events instead of a socket and a polling loop.
//!
//! * [`run_http`]: API Gateway HTTP API v2 / function URL events → the axum router, with
//!   **response streaming** (the function URL's `RESPONSE_STREAM` invoke mode), so SSE
//!   arrives event by event. Where streaming is unavailable (API Gateway, buffered function
//!   URLs) clients poll `GET /api/v1/runs/{id}/events?after=N` with
//!   `Accept: application/json` instead.
//! * [`run_sqs_executor`]: SQS events of the `runs` queue → [`RunEnv::execute_until`] with
//!   the invocation's time budget. A run that does not finish in time is checkpointed (its
//!   events) and its continuation is enqueued before the deadline, so a run longer than a
//!   Lambda's 15-minute limit still completes. Failures are reported per message
//!   (`batchItemFailures`), so SQS redelivers only those and dead-letters them after the
//!   queue's `maxReceiveCount`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use autonoma_core::runtime::{Attempt, Outcome, RunEnv};
use autonoma_core::service::{RUNS_QUEUE, RUN_MAX_ATTEMPTS};
use autonoma_core::store::JobQueue;
use autonoma_core::worker::recover_runs;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use axum::Router;
use lambda_runtime::{service_fn, LambdaEvent};
use uuid::Uuid;

/// Error type of the Lambda runtime loops.
pub type LambdaError = lambda_runtime::Error;

/// Serves `router` under the Lambda runtime with streamed responses until the runtime
/// shuts the process down. The Lambda event's `sourceIp` becomes the request's
/// [`autonoma_core::ClientAddr`]. Errors: the Runtime API is unreachable or the Lambda
/// environment variables are missing.
pub async fn run_http(router: Router) -> Result<(), LambdaError> {
    let app = router.layer(axum::middleware::from_fn(source_ip));
    lambda_http::run_with_streaming_response(app).await
}

async fn source_ip(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    if req
        .extensions()
        .get::<autonoma_core::ClientAddr>()
        .is_none()
    {
        let ip = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(c)) => {
                c.http.source_ip.as_deref().and_then(|s| s.parse().ok())
            }
            _ => None,
        };
        if let Some(ip) = ip {
            req.extensions_mut().insert(autonoma_core::ClientAddr(ip));
        }
    }
    next.run(req).await
}

/// The run id in an SQS message body: the `autonoma-aws` envelope
/// (`{"id", "queue", "payload": {"run_id"}, ...}`) or a bare `{"run_id"}`.
pub fn run_id_of(body: &str) -> Option<Uuid> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let id = v
        .get("payload")
        .and_then(|p| p.get("run_id"))
        .or_else(|| v.get("run_id"))?;
    id.as_str().and_then(|s| Uuid::parse_str(s).ok())
}

/// Executes the runs of one SQS batch, concurrently, within `deadline` less `reserve`:
/// no step starts after that instant. A run that finished, was already finished, or was
/// taken over by another executor counts as done; a suspended run gets its continuation
/// enqueued on `queue` (then counts as done); anything else — a body without a run id, a
/// storage error, a failed enqueue — is reported in `batchItemFailures`.
pub async fn handle_run_batch(
    env: &RunEnv,
    queue: &dyn JobQueue,
    records: Vec<SqsMessage>,
    deadline: SystemTime,
    reserve: Duration,
) -> SqsBatchResponse {
    let budget_left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(reserve);
    let budget = tokio::time::Instant::now() + budget_left;
    let results = futures::future::join_all(records.into_iter().map(|record| async move {
        let message_id = record.message_id.clone().unwrap_or_default();
        let ok = match record.body.as_deref().and_then(run_id_of) {
            None => {
                tracing::error!(message = %message_id, "SQS message without a run id");
                false
            }
            Some(run_id) => execute_record(env, queue, run_id, budget).await,
        };
        (message_id, ok)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (id, ok) in results {
        if !ok {
            response.add_failure(id);
        }
    }
    response
}

async fn execute_record(
    env: &RunEnv,
    queue: &dyn JobQueue,
    run_id: Uuid,
    budget: tokio::time::Instant,
) -> bool {
    let attempt = Attempt {
        budget: Some(budget),
        abandon: Default::default(),
    };
    match env.execute_until(run_id, &attempt).await {
        Ok(Outcome::Finished(status)) => {
            tracing::info!(run = %run_id, status = status.as_str(), "run finished");
            true
        }
        Ok(Outcome::Abandoned) => true,
        Ok(Outcome::WaitingApproval) => {
            tracing::info!(run = %run_id, "run parked for an approval");
            true
        }
        Ok(Outcome::Suspended { next_step }) => {
            match queue
                .enqueue(
                    RUNS_QUEUE,
                    &serde_json::json!({ "run_id": run_id }),
                    RUN_MAX_ATTEMPTS,
                    Duration::ZERO,
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(run = %run_id, next_step, "time budget spent; continuation enqueued");
                    true
                }
                Err(e) => {
                    // The message is redelivered after its visibility timeout and resumes.
                    tracing::error!(run = %run_id, error = %e, "could not enqueue the continuation");
                    false
                }
            }
        }
        Err(e) => {
            tracing::warn!(run = %run_id, error = %e, "run attempt failed; SQS will redeliver");
            false
        }
    }
}

/// Work done at the start of each invocation, before the event is handled (e.g. renewing a
/// database login token that may have expired while the function was frozen).
pub type InvocationHook = Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// How often a warm run-executor function runs the recovery sweep
/// ([`autonoma_core::worker::recover_runs`]) beside a batch. The sweep rides on
/// invocations, so with no run traffic at all a run left without a job waits for the next
/// batch.
pub const LAMBDA_RECOVERY_SWEEP: Duration = Duration::from_secs(60);

/// Serves SQS batches of the `runs` queue under the Lambda runtime ([`handle_run_batch`]
/// with each invocation's deadline), running `before` first in each invocation. `reserve`
/// is kept back from the deadline for the last step's writes and the continuation's
/// enqueue; it should exceed the longest step (model call plus tools). Errors: as
/// [`run_http`].
pub async fn run_sqs_executor(
    env: RunEnv,
    queue: Arc<dyn JobQueue>,
    reserve: Duration,
    before: Option<InvocationHook>,
) -> Result<(), LambdaError> {
    let last_sweep = Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (env, queue, before) = (env.clone(), queue.clone(), before.clone());
        let last_sweep = last_sweep.clone();
        async move {
            if let Some(before) = before {
                before().await;
            }
            let deadline = event.context.deadline();
            let sweep = {
                let mut last = last_sweep.lock().expect("not poisoned");
                let due = last.is_none_or(|t| t.elapsed() >= LAMBDA_RECOVERY_SWEEP);
                if due {
                    *last = Some(std::time::Instant::now());
                }
                due
            };
            let (response, _) = tokio::join!(
                handle_run_batch(
                    &env,
                    queue.as_ref(),
                    event.payload.records,
                    deadline,
                    reserve,
                ),
                async {
                    if sweep {
                        recover_runs(&env.service).await;
                    }
                }
            );
            Ok::<_, LambdaError>(response)
        }
    }))
    .await
}
