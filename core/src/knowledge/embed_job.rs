//! The `embed_chunks` GPU job: embed a batch of a document's chunks and store the vectors.
//!
//! Payload: `{"kind": "embed_chunks", "org_id": UUID, "document_id": UUID, "chunk_ids": [UUID, …]}`
//! (at most [`EMBED_BATCH_CHUNKS`] ids), enqueued on [`GPU_QUEUE`] by the upload.
//!
//! The handler is idempotent, because the queue delivers at least once: it embeds only the
//! chunks of the batch that have no vector yet, stores vectors keyed by chunk id (a second
//! write of the same chunk is ignored), and recomputes the document's `chunks_embedded`
//! from the stored vectors. It works in steps of [`EMBED_STEP`] chunks and stores each
//! step's vectors at once, so progress is visible while it runs and a worker that dies
//! mid-job loses at most one step. When a job is dead-lettered (its attempts exhausted),
//! [`fail_dead_lettered`] marks the document `failed` with the job's last error.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chunk::embedding_input;
use super::store::KnowledgeStore;
use super::DocumentStatus;
use crate::embedding::Embedder;
use crate::store::JobQueue;
use crate::Error;

/// The queue GPU jobs travel on (the same name as `autonoma_gpu_worker::GPU_QUEUE`).
pub const GPU_QUEUE: &str = "gpu";
/// `kind` of the embedding job.
pub const EMBED_CHUNKS_KIND: &str = "embed_chunks";
/// Chunks per job.
pub const EMBED_BATCH_CHUNKS: usize = 32;
/// Chunks embedded (and stored) per step inside a job.
pub const EMBED_STEP: usize = 8;
/// Deliveries of an embedding job before it is dead-lettered.
pub const EMBED_MAX_ATTEMPTS: u32 = 5;
/// A heading path longer than this many word pieces is not prefixed to a chunk's
/// embedding input (it would crowd out the text).
pub const MAX_HEADING_TOKENS: usize = 48;

/// The payload of an `embed_chunks` job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedChunksJob {
    /// Always [`EMBED_CHUNKS_KIND`].
    pub kind: String,
    /// Owner of the document (every read and write of the job is scoped to it).
    pub org_id: Uuid,
    /// The document whose chunks are embedded.
    pub document_id: Uuid,
    /// Chunks of that document to embed (at most [`EMBED_BATCH_CHUNKS`]).
    pub chunk_ids: Vec<Uuid>,
}

impl EmbedChunksJob {
    /// A job for these chunks.
    pub fn new(org_id: Uuid, document_id: Uuid, chunk_ids: Vec<Uuid>) -> Self {
        EmbedChunksJob {
            kind: EMBED_CHUNKS_KIND.to_string(),
            org_id,
            document_id,
            chunk_ids,
        }
    }
}

/// Whether a chunk's heading path is prefixed to its embedding input: not empty and at most
/// [`MAX_HEADING_TOKENS`] word pieces (`count` includes the 2 special tokens, like
/// [`Embedder::count_tokens`]). The chunker and the embed job decide alike.
pub fn heading_fits(
    heading: &str,
    count: impl Fn(&str) -> crate::Result<usize>,
) -> crate::Result<bool> {
    if heading.is_empty() {
        return Ok(false);
    }
    let specials = count("")?;
    Ok(count(&format!("{heading}\n\n"))?.saturating_sub(specials) <= MAX_HEADING_TOKENS)
}

/// Runs one `embed_chunks` job. `Ok` acknowledges it (also when its document was deleted or
/// has failed meanwhile); `Err(message)` asks the queue to retry.
pub async fn run_embed_job(
    store: &dyn KnowledgeStore,
    embedder: &dyn Embedder,
    payload: &serde_json::Value,
) -> Result<(), String> {
    let job: EmbedChunksJob = serde_json::from_value(payload.clone())
        .map_err(|e| format!("bad embed_chunks payload: {e}"))?;
    let doc = match store.get_document_by_id(job.org_id, job.document_id).await {
        Ok(d) => d,
        Err(Error::NotFound(_)) => {
            tracing::info!(document = %job.document_id, "document deleted before embedding; job dropped");
            return Ok(());
        }
        Err(e) => return Err(e.to_string()),
    };
    if matches!(doc.status, DocumentStatus::Failed | DocumentStatus::Ready) {
        return Ok(());
    }
    store
        .set_document_status(job.org_id, doc.id, DocumentStatus::Embedding, None)
        .await
        .map_err(|e| e.to_string())?;
    let todo = store
        .chunks_without_vectors(job.org_id, doc.id, &job.chunk_ids)
        .await
        .map_err(|e| e.to_string())?;
    for step in todo.chunks(EMBED_STEP) {
        let mut inputs = Vec::with_capacity(step.len());
        for c in step {
            let with_heading = heading_fits(&c.heading, |t| embedder.count_tokens(t))
                .map_err(|e| e.to_string())?;
            inputs.push(embedding_input(&c.heading, &c.text, with_heading));
        }
        let vectors = embedder
            .embed(&inputs)
            .await
            .map_err(|e| format!("embedding failed: {e}"))?;
        if vectors.len() != step.len() || vectors.iter().any(|v| v.len() != embedder.dim()) {
            return Err(format!(
                "embedder returned {} vectors for {} inputs",
                vectors.len(),
                step.len()
            ));
        }
        let pairs: Vec<(Uuid, Vec<f32>)> = step.iter().map(|c| c.id).zip(vectors).collect();
        let updated = match store
            .store_vectors(job.org_id, doc.id, embedder.model_id(), &pairs)
            .await
        {
            Ok(d) => d,
            // Deleted while we worked: nothing left to do.
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        tracing::info!(document = %doc.id, embedded = updated.chunks_embedded, total = updated.chunks_total, "embedding progress");
    }
    Ok(())
}

/// Marks the documents of dead-lettered `embed_chunks` jobs `failed`, with the job's last
/// error as the reason. Idempotent; returns how many documents changed. The GPU worker runs
/// it periodically.
pub async fn fail_dead_lettered(
    store: &dyn KnowledgeStore,
    queue: &dyn JobQueue,
) -> crate::Result<usize> {
    let mut changed = 0;
    for (_, payload, last_error) in queue.dead_letters(GPU_QUEUE).await? {
        let Ok(job) = serde_json::from_value::<EmbedChunksJob>(payload) else {
            continue;
        };
        if job.kind != EMBED_CHUNKS_KIND {
            continue;
        }
        let reason = format!("embedding failed after {EMBED_MAX_ATTEMPTS} attempts: {last_error}");
        if store
            .set_document_status(
                job.org_id,
                job.document_id,
                DocumentStatus::Failed,
                Some(&reason),
            )
            .await?
        {
            tracing::warn!(document = %job.document_id, %reason, "document failed");
            changed += 1;
        }
    }
    Ok(changed)
}
