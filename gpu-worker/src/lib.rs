//! # autonoma-gpu-worker
//!
//! Consumes the `gpu` queue through [`autonoma_core::worker::consume`] (lease, heartbeat,
//! retry with backoff, dead-letter after the last attempt) and dispatches each job on its
//! `kind` field to a registered handler.
//!
//! The binary registers one kind, `embed_chunks` (`autonoma::gpu_handlers`, running
//! `autonoma_core::knowledge::embed_job::run_embed_job` with the process's embedder). A job
//! of an unknown kind fails with a clear error and ends in the dead-letter list after its
//! attempts, so nothing is silently dropped.
//!
//! [`embed`] holds the all-MiniLM-L6-v2 forward pass in WGSL compute shaders
//! ([`embed::GpuEmbedder`], an [`autonoma_core::embedding::Embedder`]).

pub mod embed;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use autonoma_core::model::Job;
use autonoma_core::store::JobQueue;
use autonoma_core::worker::{consume, WorkerConfig};
use tokio_util::sync::CancellationToken;

/// Name of the GPU job queue.
pub const GPU_QUEUE: &str = "gpu";

/// A handler for one job kind: gets the job's payload, returns `Err(message)` to retry.
pub type Handler = Arc<
    dyn Fn(serde_json::Value) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// Handlers by job kind.
#[derive(Default, Clone)]
pub struct Handlers {
    by_kind: HashMap<String, Handler>,
}

impl Handlers {
    /// Registers `handler` for jobs whose payload has `"kind": kind`.
    pub fn register(&mut self, kind: &str, handler: Handler) {
        self.by_kind.insert(kind.to_string(), handler);
    }

    /// Registered kinds, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<_> = self.by_kind.keys().cloned().collect();
        k.sort();
        k
    }

    async fn dispatch(&self, job: Job) -> Result<(), String> {
        let kind = job
            .payload
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or("GPU job payload has no \"kind\"")?;
        let handler = self.by_kind.get(kind).ok_or_else(|| {
            format!(
                "no handler for GPU job kind '{kind}' (known: {:?})",
                self.kinds()
            )
        })?;
        handler(job.payload.clone()).await
    }
}

/// Runs the GPU worker until `shutdown` fires.
pub async fn run(
    queue: Arc<dyn JobQueue>,
    handlers: Handlers,
    cfg: WorkerConfig,
    shutdown: CancellationToken,
) {
    tracing::info!(kinds = ?handlers.kinds(), "GPU worker consuming queue '{GPU_QUEUE}'");
    let handlers = Arc::new(handlers);
    consume(queue, GPU_QUEUE, cfg, shutdown, move |job, _lost| {
        let handlers = handlers.clone();
        async move { handlers.dispatch(job).await }
    })
    .await
}
