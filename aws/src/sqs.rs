//! [`SqsQueue`]: the [`JobQueue`] contract on Amazon SQS (standard queues).
//!
//! ## Shape
//!
//! * Each job queue name (`runs`, `gpu`, …) is one SQS queue named
//!   `<queue_prefix><name>`, with a dead-letter queue `<queue_prefix><name><dlq_suffix>`
//!   attached through the queue's `RedrivePolicy` (`maxReceiveCount` = the queue's
//!   maximum number of attempts). Production queues come from Terraform (`infra/`);
//!   [`SqsQueue::ensure_queues`] creates the same shape for tests and local setups.
//! * A message body is the JSON [`Envelope`]: `{"id", "queue", "payload", "max_attempts",
//!   "attempt", "last_error"?}`. The job's attempt number on delivery is SQS's
//!   `ApproximateReceiveCount` (1 on the first delivery).
//! * A lease is an SQS receive: `ReceiveMessage` with `VisibilityTimeout` = the lease. The
//!   job's `lease_token` is a fresh UUID that this `SqsQueue` maps to the message's receipt
//!   handle (SQS receipt handles are opaque strings, the trait's token is a UUID).
//!
//! ## Deviations from the SQLite queue (documented on each method too)
//!
//! * **Same instance.** `heartbeat`, `complete` and `fail` must be called on the
//!   `SqsQueue` (process) that leased the job, since only it knows the receipt handle
//!   behind a token. The worker ([`autonoma_core::worker::consume`]) does exactly that.
//!   An unknown token behaves like a lost lease.
//! * **Order.** Standard SQS queues are not FIFO: `lease` returns *a* visible job, usually
//!   but not always the oldest.
//! * **Whole seconds.** Visibility timeouts and delays are whole seconds: a lease or a
//!   retry delay is rounded *up* to the next second. Enqueue delays are at most 15 minutes
//!   (SQS `DelaySeconds`), and visibility at most 12 hours.
//! * **Attempt limit.** The effective limit of a job is the smaller of its own
//!   `max_attempts` and the queue's `maxReceiveCount`.
//! * **Last error.** SQS messages are immutable, so the error of a failed attempt that is
//!   retried is not kept (it is logged by the worker); the error of the *final* attempt is
//!   written into the dead-lettered copy. A job whose lease expired on its last attempt is
//!   listed with the error `"lease expired"`.
//!
//! ## Delivery
//!
//! Delivery is at least once, as for every [`JobQueue`]: a consumer that stalls past its
//! lease, or a `DeleteMessage` that is lost, means the same job runs again. Handlers must
//! be idempotent (the run executor is: `Store::start_run` refuses a finished run).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use autonoma_core::model::Job;
use autonoma_core::store::JobQueue;
use autonoma_core::{Error, Result};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AwsConfig;

/// Longest enqueue delay SQS accepts (`DelaySeconds`), in seconds.
pub const MAX_DELAY_SECS: u64 = 900;
/// Longest visibility timeout SQS accepts, in seconds (12 hours).
pub const MAX_VISIBILITY_SECS: u64 = 43_200;
/// `maxReceiveCount` that [`SqsQueue::ensure_queues`] sets.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
/// Dead-letter queue message retention set by [`SqsQueue::ensure_queues`]: 14 days (the
/// SQS maximum), in seconds.
pub const DLQ_RETENTION_SECS: u64 = 14 * 24 * 3600;

/// Queue naming and polling settings.
#[derive(Debug, Clone)]
pub struct SqsConfig {
    /// Prepended to job queue names to form SQS queue names, e.g. `autonoma-prod-`.
    pub queue_prefix: String,
    /// Appended to a queue's SQS name to form its dead-letter queue's name. Default `-dlq`.
    pub dlq_suffix: String,
    /// Long-poll wait of `lease` (`WaitTimeSeconds`, whole seconds, at most 20 s): how long
    /// a `lease` on an empty queue waits for a job before answering `None`. Default 1 s;
    /// zero means short polling (which may miss jobs on a nearly empty queue, see the SQS
    /// documentation).
    pub receive_wait: Duration,
    /// Known queue URLs by job queue name (e.g. `runs` → the URL Terraform output); a queue
    /// listed here is not looked up by name. Its dead-letter queue still comes from its
    /// redrive policy.
    pub queue_urls: HashMap<String, String>,
}

impl Default for SqsConfig {
    fn default() -> Self {
        SqsConfig {
            queue_prefix: String::new(),
            dlq_suffix: "-dlq".into(),
            receive_wait: Duration::from_secs(1),
            queue_urls: HashMap::new(),
        }
    }
}

/// The JSON body of every message this queue writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The job id returned by `enqueue` (UUID v7).
    pub id: Uuid,
    /// The job queue name (without prefix), e.g. `runs`.
    pub queue: String,
    /// The job's payload, as given to `enqueue`.
    pub payload: serde_json::Value,
    /// The job's own attempt limit (at least 1).
    pub max_attempts: u32,
    /// Deliveries so far when this copy was written: 0 on enqueue, the final attempt's
    /// number in a dead-lettered copy.
    #[serde(default)]
    pub attempt: u32,
    /// The final attempt's error, in dead-lettered copies only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Resolved URLs and limits of one job queue.
#[derive(Debug)]
struct QueueInfo {
    url: String,
    dlq_url: String,
    max_receive_count: u32,
}

/// A lease this instance holds.
#[derive(Debug, Clone)]
struct Held {
    job_id: Uuid,
    info: Arc<QueueInfo>,
    receipt: String,
    attempt: u32,
    max_attempts: u32,
    envelope: Envelope,
    /// When the lease ends, measured from *before* the SQS request (so never later than
    /// SQS's own visibility deadline).
    expires: Instant,
}

/// A [`JobQueue`] on Amazon SQS. Cheap to share behind an `Arc`; see the module
/// documentation for the mapping and its deviations.
pub struct SqsQueue {
    client: Client,
    cfg: SqsConfig,
    queues: Mutex<HashMap<String, Arc<QueueInfo>>>,
    held: Mutex<HashMap<Uuid, Held>>,
}

impl std::fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsQueue")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn sqs_err<E>(op: &str, e: E) -> Error
where
    E: std::error::Error + 'static,
{
    Error::internal(format!("sqs {op}: {}", DisplayErrorContext(e)))
}

/// Whole seconds, rounded up, capped at `max`.
fn ceil_secs(d: Duration, max: u64) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.min(max) as i32
}

impl SqsQueue {
    /// A queue on an existing client.
    pub fn new(client: Client, cfg: SqsConfig) -> SqsQueue {
        SqsQueue {
            client,
            cfg,
            queues: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the client from `aws` (endpoint, region, credentials). Makes no request.
    pub async fn from_config(aws: &AwsConfig, cfg: SqsConfig) -> SqsQueue {
        let sdk = aws.load().await;
        SqsQueue::new(Client::new(&sdk), cfg)
    }

    /// The SDK client (for operations outside the [`JobQueue`] trait).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The SQS queue name of job queue `queue`.
    pub fn sqs_name(&self, queue: &str) -> String {
        format!("{}{}", self.cfg.queue_prefix, queue)
    }

    /// The SQS name of job queue `queue`'s dead-letter queue.
    pub fn dlq_name(&self, queue: &str) -> String {
        format!("{}{}{}", self.cfg.queue_prefix, queue, self.cfg.dlq_suffix)
    }

    /// Creates job queue `queue` and its dead-letter queue with a redrive policy of
    /// [`DEFAULT_MAX_RECEIVE_COUNT`] receives. Idempotent. For tests and local setups;
    /// production queues come from Terraform. Errors: [`Error::Internal`] when SQS refuses.
    pub async fn ensure_queues(&self, queue: &str) -> Result<()> {
        self.ensure_queues_with(queue, DEFAULT_MAX_RECEIVE_COUNT)
            .await
    }

    /// Like [`SqsQueue::ensure_queues`] with `max_receive_count` (at least 1) as the
    /// redrive policy's `maxReceiveCount`: a message received that many times without being
    /// deleted moves to the dead-letter queue on its next receive. An existing queue gets
    /// its redrive policy set to this value.
    pub async fn ensure_queues_with(&self, queue: &str, max_receive_count: u32) -> Result<()> {
        let dlq = self
            .client
            .create_queue()
            .queue_name(self.dlq_name(queue))
            .send()
            .await
            .map_err(|e| sqs_err("CreateQueue (dead-letter)", e))?;
        let dlq_url = dlq
            .queue_url
            .ok_or_else(|| Error::internal("sqs CreateQueue: no QueueUrl"))?;
        self.client
            .set_queue_attributes()
            .queue_url(&dlq_url)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                DLQ_RETENTION_SECS.to_string(),
            )
            .send()
            .await
            .map_err(|e| sqs_err("SetQueueAttributes (dead-letter)", e))?;
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sqs_err("GetQueueAttributes", e))?;
        let dlq_arn = attrs
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| Error::internal("sqs GetQueueAttributes: no QueueArn"))?;
        let main = self
            .client
            .create_queue()
            .queue_name(self.sqs_name(queue))
            .send()
            .await
            .map_err(|e| sqs_err("CreateQueue", e))?;
        let url = main
            .queue_url
            .ok_or_else(|| Error::internal("sqs CreateQueue: no QueueUrl"))?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receive_count.max(1).to_string(),
        });
        self.client
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .map_err(|e| sqs_err("SetQueueAttributes", e))?;
        self.queues.lock().expect("queue cache").remove(queue);
        Ok(())
    }

    /// Resolves (and caches) the URLs and `maxReceiveCount` of job queue `queue`.
    /// Errors: [`Error::Internal`] when the queue does not exist or has no redrive policy.
    async fn info(&self, queue: &str) -> Result<Arc<QueueInfo>> {
        if let Some(i) = self.queues.lock().expect("queue cache").get(queue) {
            return Ok(i.clone());
        }
        let name = self.sqs_name(queue);
        let url = match self.cfg.queue_urls.get(queue) {
            Some(url) => url.clone(),
            None => self
                .client
                .get_queue_url()
                .queue_name(&name)
                .send()
                .await
                .map_err(|e| sqs_err(&format!("GetQueueUrl {name} (create it with Terraform or SqsQueue::ensure_queues)"), e))?
                .queue_url
                .ok_or_else(|| Error::internal("sqs GetQueueUrl: no QueueUrl"))?,
        };
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| sqs_err("GetQueueAttributes", e))?;
        let policy = attrs
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::RedrivePolicy))
            .ok_or_else(|| {
                Error::internal(format!(
                    "sqs queue {name} has no RedrivePolicy (dead-letter queue)"
                ))
            })?;
        let policy: serde_json::Value = serde_json::from_str(&policy)
            .map_err(|e| Error::internal(format!("sqs RedrivePolicy of {name}: {e}")))?;
        let arn = policy["deadLetterTargetArn"].as_str().ok_or_else(|| {
            Error::internal(format!(
                "sqs RedrivePolicy of {name}: no deadLetterTargetArn"
            ))
        })?;
        let max_receive_count = match &policy["maxReceiveCount"] {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::internal(format!("sqs RedrivePolicy of {name}: bad maxReceiveCount"))
        })?
        .clamp(1, u64::from(u32::MAX)) as u32;
        let dlq_name = arn.rsplit(':').next().unwrap_or(arn);
        let dlq_url = self
            .client
            .get_queue_url()
            .queue_name(dlq_name)
            .send()
            .await
            .map_err(|e| sqs_err(&format!("GetQueueUrl {dlq_name}"), e))?
            .queue_url
            .ok_or_else(|| Error::internal("sqs GetQueueUrl: no QueueUrl"))?;
        let info = Arc::new(QueueInfo {
            url,
            dlq_url,
            max_receive_count,
        });
        self.queues
            .lock()
            .expect("queue cache")
            .insert(queue.to_string(), info.clone());
        Ok(info)
    }

    /// Writes `envelope` (with `attempt` and `last_error` set) to the dead-letter queue,
    /// then deletes the original. A crash in between leaves the job in both queues (the
    /// original is then redelivered and dead-lettered again): at least once here too.
    async fn dead_letter(
        &self,
        info: &QueueInfo,
        receipt: &str,
        mut envelope: Envelope,
        attempt: u32,
        error: &str,
    ) -> Result<()> {
        envelope.attempt = attempt;
        envelope.last_error = Some(error.to_string());
        let body = serde_json::to_string(&envelope).map_err(Error::internal)?;
        self.client
            .send_message()
            .queue_url(&info.dlq_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sqs_err("SendMessage (dead-letter)", e))?;
        match self
            .client
            .delete_message()
            .queue_url(&info.url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_receipt_handle_is_invalid()) =>
            {
                Ok(())
            }
            Err(e) => Err(sqs_err("DeleteMessage", e)),
        }
    }

    /// The lease behind `token`, if this instance holds it for `job_id`.
    fn held(&self, job_id: Uuid, token: Uuid) -> Option<Held> {
        self.held
            .lock()
            .expect("leases")
            .get(&token)
            .filter(|h| h.job_id == job_id)
            .cloned()
    }

    fn forget(&self, token: Uuid) -> Option<Held> {
        self.held.lock().expect("leases").remove(&token)
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    /// `SendMessage` of an [`Envelope`] with `DelaySeconds` = `delay` (rounded up).
    /// Errors: [`Error::Validation`] (`delay`) above [`MAX_DELAY_SECS`] (SQS cannot hold a
    /// message back longer); [`Error::Internal`] when SQS refuses or the queue is missing.
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        max_attempts: u32,
        delay: Duration,
    ) -> Result<Uuid> {
        if delay > Duration::from_secs(MAX_DELAY_SECS) {
            return Err(Error::Validation {
                field: "delay".into(),
                message: format!("SQS delays are at most {MAX_DELAY_SECS} s"),
            });
        }
        let info = self.info(queue).await?;
        let id = Uuid::now_v7();
        let envelope = Envelope {
            id,
            queue: queue.to_string(),
            payload: payload.clone(),
            max_attempts: max_attempts.max(1),
            attempt: 0,
            last_error: None,
        };
        self.client
            .send_message()
            .queue_url(&info.url)
            .message_body(serde_json::to_string(&envelope).map_err(Error::internal)?)
            .delay_seconds(ceil_secs(delay, MAX_DELAY_SECS))
            .send()
            .await
            .map_err(|e| sqs_err("SendMessage", e))?;
        Ok(id)
    }

    /// `ReceiveMessage` (one message, `VisibilityTimeout` = `lease` rounded up, long poll of
    /// [`SqsConfig::receive_wait`]). The job's attempt is the message's
    /// `ApproximateReceiveCount`; its `max_attempts` is the smaller of its own and the
    /// queue's `maxReceiveCount`.
    ///
    /// A message received past its job's own limit (its lease expired on the last attempt)
    /// is moved to the dead-letter queue with the error `"lease expired"` and the next one
    /// is tried; past the queue's `maxReceiveCount`, SQS's redrive moves it itself. An
    /// unreadable body is dead-lettered too (payload = the raw body as a string).
    /// Deviation: not strictly the oldest job (standard queues are not FIFO).
    async fn lease(&self, queue: &str, lease: Duration) -> Result<Option<Job>> {
        let info = self.info(queue).await?;
        {
            // Forget leases long gone (their consumer never acknowledged them).
            let cutoff = Instant::now().checked_sub(Duration::from_secs(600));
            if let Some(cutoff) = cutoff {
                self.held
                    .lock()
                    .expect("leases")
                    .retain(|_, h| h.expires > cutoff);
            }
        }
        let visibility = ceil_secs(lease, MAX_VISIBILITY_SECS);
        let wait = ceil_secs(self.cfg.receive_wait, 20);
        // Bounded so a queue full of expired last attempts cannot keep one call busy forever.
        for _ in 0..10 {
            let started = Instant::now();
            let out = self
                .client
                .receive_message()
                .queue_url(&info.url)
                .max_number_of_messages(1)
                .visibility_timeout(visibility)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| sqs_err("ReceiveMessage", e))?;
            let Some(msg) = out.messages.unwrap_or_default().into_iter().next() else {
                return Ok(None);
            };
            let receipt = msg
                .receipt_handle
                .clone()
                .ok_or_else(|| Error::internal("sqs ReceiveMessage: no ReceiptHandle"))?;
            let attempt = msg
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(1);
            let body = msg.body.unwrap_or_default();
            let envelope: Envelope = match serde_json::from_str(&body) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(queue, error = %e, "unreadable SQS message; dead-lettering it");
                    let raw = Envelope {
                        id: Uuid::nil(),
                        queue: queue.to_string(),
                        payload: serde_json::Value::String(body),
                        max_attempts: 1,
                        attempt: 0,
                        last_error: None,
                    };
                    self.dead_letter(
                        &info,
                        &receipt,
                        raw,
                        attempt,
                        &format!("unreadable message body: {e}"),
                    )
                    .await?;
                    continue;
                }
            };
            let max_attempts = envelope.max_attempts.max(1).min(info.max_receive_count);
            if attempt > max_attempts {
                let error = envelope
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "lease expired".to_string());
                self.dead_letter(&info, &receipt, envelope, attempt - 1, &error)
                    .await?;
                continue;
            }
            let token = Uuid::new_v4();
            let job = Job {
                id: envelope.id,
                queue: queue.to_string(),
                payload: envelope.payload.clone(),
                attempt,
                max_attempts,
                lease_token: token,
                lease_expires_at: Utc::now() + chrono::Duration::seconds(i64::from(visibility)),
            };
            let held = Held {
                job_id: envelope.id,
                info: info.clone(),
                receipt,
                attempt,
                max_attempts,
                envelope,
                expires: started + Duration::from_secs(visibility as u64),
            };
            self.held.lock().expect("leases").insert(token, held);
            return Ok(Some(job));
        }
        Ok(None)
    }

    /// `ChangeMessageVisibility` to `lease` (rounded up) from now. `false` when the lease
    /// was lost: the token is unknown to this instance, its lease already ran out (checked
    /// locally; stricter than the SQLite queue, which extends an expired lease nobody has
    /// taken over), or SQS answers `MessageNotInflight` / `ReceiptHandleIsInvalid`.
    async fn heartbeat(&self, job_id: Uuid, lease_token: Uuid, lease: Duration) -> Result<bool> {
        let Some(held) = self.held(job_id, lease_token) else {
            return Ok(false);
        };
        if Instant::now() >= held.expires {
            self.forget(lease_token);
            return Ok(false);
        }
        let visibility = ceil_secs(lease, MAX_VISIBILITY_SECS);
        let started = Instant::now();
        match self
            .client
            .change_message_visibility()
            .queue_url(&held.info.url)
            .receipt_handle(&held.receipt)
            .visibility_timeout(visibility)
            .send()
            .await
        {
            Ok(_) => {
                if let Some(h) = self.held.lock().expect("leases").get_mut(&lease_token) {
                    h.expires = started + Duration::from_secs(visibility as u64);
                }
                Ok(true)
            }
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_message_not_inflight() || se.is_receipt_handle_is_invalid()
                }) =>
            {
                self.forget(lease_token);
                Ok(false)
            }
            Err(e) => Err(sqs_err("ChangeMessageVisibility", e)),
        }
    }

    /// `DeleteMessage` with the lease's receipt handle. Idempotent: an unknown token, or a
    /// receipt handle SQS no longer knows, is a no-op success (as in the SQLite queue).
    /// Deviation: SQS may accept the delete of a message whose lease expired and which
    /// another consumer now holds.
    async fn complete(&self, job_id: Uuid, lease_token: Uuid) -> Result<()> {
        let Some(held) = self.held(job_id, lease_token) else {
            return Ok(());
        };
        match self
            .client
            .delete_message()
            .queue_url(&held.info.url)
            .receipt_handle(&held.receipt)
            .send()
            .await
        {
            Ok(_) => {
                self.forget(lease_token);
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_receipt_handle_is_invalid()) =>
            {
                self.forget(lease_token);
                Ok(())
            }
            // The lease stays known, so the caller may retry the acknowledgement.
            Err(e) => Err(sqs_err("DeleteMessage", e)),
        }
    }

    /// Before the last attempt: `ChangeMessageVisibility` to `retry_in` (rounded up, at most
    /// 12 h), so SQS redelivers the job then with the next attempt number; `error` is not
    /// kept (see the module documentation). On the last attempt: the job is copied to the
    /// dead-letter queue with `error` (`SendMessage`) and deleted (`DeleteMessage`).
    /// An unknown token or a lease SQS already released is a no-op success.
    async fn fail(
        &self,
        job_id: Uuid,
        lease_token: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<()> {
        let Some(held) = self.held(job_id, lease_token) else {
            return Ok(());
        };
        if held.attempt >= held.max_attempts {
            self.dead_letter(
                &held.info,
                &held.receipt,
                held.envelope.clone(),
                held.attempt,
                error,
            )
            .await?;
            self.forget(lease_token);
            return Ok(());
        }
        match self
            .client
            .change_message_visibility()
            .queue_url(&held.info.url)
            .receipt_handle(&held.receipt)
            .visibility_timeout(ceil_secs(retry_in, MAX_VISIBILITY_SECS))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_message_not_inflight() || se.is_receipt_handle_is_invalid()
                }) => {}
            Err(e) => return Err(sqs_err("ChangeMessageVisibility", e)),
        }
        self.forget(lease_token);
        Ok(())
    }

    /// Reads the queue's dead-letter queue: `ReceiveMessage` in batches of 10 (30 s
    /// visibility, 1 s long poll) until no new message comes, then
    /// `ChangeMessageVisibilityBatch` to 0 so the messages stay for the next reader. Sorted
    /// by job id (enqueue order). The error is the dead-lettered copy's `last_error`, or
    /// `"lease expired"` for a message SQS's redrive moved.
    ///
    /// Deviations: a listing is a read of a queue, so while it runs (about a second) a
    /// concurrent listing sees fewer entries; it stops after 1,000 messages.
    async fn dead_letters(&self, queue: &str) -> Result<Vec<(Uuid, serde_json::Value, String)>> {
        let info = self.info(queue).await?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut receipts = Vec::new();
        while seen.len() < 1000 {
            let r = self
                .client
                .receive_message()
                .queue_url(&info.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| sqs_err("ReceiveMessage (dead-letter)", e))?;
            let msgs = r.messages.unwrap_or_default();
            let mut new = 0;
            for m in msgs {
                if let Some(h) = m.receipt_handle.clone() {
                    receipts.push(h);
                }
                if !seen.insert(m.message_id.clone().unwrap_or_default()) {
                    continue;
                }
                new += 1;
                let body = m.body.unwrap_or_default();
                match serde_json::from_str::<Envelope>(&body) {
                    Ok(e) => out.push((
                        e.id,
                        e.payload,
                        e.last_error.unwrap_or_else(|| "lease expired".to_string()),
                    )),
                    Err(_) => out.push((
                        Uuid::nil(),
                        serde_json::Value::String(body),
                        "unreadable message body".to_string(),
                    )),
                }
            }
            if new == 0 {
                break;
            }
        }
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .visibility_timeout(0)
                        .build()
                        .map_err(Error::internal)
                })
                .collect::<Result<Vec<_>>>()?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&info.dlq_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sqs_err("ChangeMessageVisibilityBatch (dead-letter)", e))?;
        }
        out.sort_by_key(|(id, _, _)| *id);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_seconds_within_limits() {
        assert_eq!(ceil_secs(Duration::ZERO, MAX_VISIBILITY_SECS), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1), MAX_VISIBILITY_SECS), 1);
        assert_eq!(
            ceil_secs(Duration::from_millis(1500), MAX_VISIBILITY_SECS),
            2
        );
        assert_eq!(ceil_secs(Duration::from_secs(30), MAX_VISIBILITY_SECS), 30);
        assert_eq!(
            ceil_secs(Duration::from_secs(100_000), MAX_VISIBILITY_SECS),
            43_200
        );
    }

    #[test]
    fn envelope_json_shape() {
        let id = Uuid::now_v7();
        let e = Envelope {
            id,
            queue: "runs".into(),
            payload: serde_json::json!({"run_id": "r"}),
            max_attempts: 3,
            attempt: 0,
            last_error: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": id, "queue": "runs", "payload": {"run_id": "r"}, "max_attempts": 3, "attempt": 0})
        );
        // Older or hand-written bodies without `attempt` still parse.
        let back: Envelope = serde_json::from_value(
            serde_json::json!({"id": id, "queue": "runs", "payload": 1, "max_attempts": 2}),
        )
        .unwrap();
        assert_eq!((back.attempt, back.last_error), (0, None));
    }
}
