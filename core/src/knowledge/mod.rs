//! Knowledge bases (RAG): upload documents, chunk them, embed the chunks on the GPU worker,
//! and search them with citations.
//!
//! The pipeline of one upload ([`crate::service::Service::upload_document`]):
//!
//! 1. **Validate** (nothing is written yet): size limit, supported media type
//!    ([`extract::resolve_media_type`]), SHA-256 dedupe within the base (the existing
//!    document is returned instead), text extraction ([`extract::extract`]: empty files,
//!    binary posing as text and corrupt PDFs are refused here), chunking
//!    ([`chunk::chunk`]: ~200 word pieces with 40 of overlap, counted by the model's own
//!    tokenizer through a [`tokens::TokenCounter`]).
//! 2. **Write**: the original bytes to the [`blob::BlobStore`], then the document (status
//!    `queued`) and its chunks in one transaction; on failure the blob is removed again.
//! 3. **Enqueue** one `embed_chunks` job per [`embed_job::EMBED_BATCH_CHUNKS`] chunks on the
//!    `gpu` queue. The GPU worker runs [`embed_job::run_embed_job`]: the document becomes
//!    `embedding`, `chunks_embedded` grows as vectors are stored, and it is `ready` when all
//!    chunks have one (or `failed` with the reason when a job dead-letters).
//!
//! Search ([`Knowledge::search`]) embeds the query with the same model and ranks the base's
//! chunks exactly by cosine similarity ([`index`]).

pub mod blob;
pub mod chunk;
pub mod embed_job;
pub mod extract;
pub mod index;
pub mod store;
pub mod tokens;
pub mod tool;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::embedding::Embedder;
use crate::guard::check_len;
use crate::store::JobQueue;
use crate::{Error, Result};

use blob::{BlobKey, BlobStore};
use chunk::ChunkConfig;
use embed_job::{EmbedChunksJob, EMBED_BATCH_CHUNKS, EMBED_MAX_ATTEMPTS, GPU_QUEUE};
use index::VectorCache;
use store::{Inserted, KnowledgeStore};
use tokens::TokenCounter;

/// Default largest upload: 10 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Default number of search results.
pub const DEFAULT_K: u32 = 5;
/// Largest `k` of a search.
pub const MAX_K: u32 = 50;
/// Most knowledge bases one agent may attach.
pub const MAX_AGENT_KNOWLEDGE_BASES: usize = 20;

pub use autonoma_types::knowledge::{
    Chunk, Document, DocumentStatus, KnowledgeBase, NewKnowledgeBase, SearchHit, SearchRequest,
};

/// An uploaded file, before validation.
#[derive(Debug, Clone)]
pub struct Upload {
    /// File name as sent by the client (directories are stripped).
    pub name: String,
    /// Declared media type; `None` or `application/octet-stream` infers it from the name.
    pub media_type: Option<String>,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct KnowledgeConfig {
    /// Largest accepted file in bytes (default [`DEFAULT_MAX_UPLOAD_BYTES`]).
    pub max_upload_bytes: usize,
    /// Chunk size and overlap.
    pub chunking: ChunkConfig,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            chunking: ChunkConfig::default(),
        }
    }
}

/// Everything knowledge bases need: storage, blobs, queue, tokenizer, embedder, and the
/// search cache. One per process, shared by the [`crate::service::Service`] and the `knowledge_search` tool.
pub struct Knowledge {
    /// Bases, documents, chunks, vectors.
    pub store: Arc<dyn KnowledgeStore>,
    /// Where `embed_chunks` jobs go (the `gpu` queue).
    pub queue: Arc<dyn JobQueue>,
    /// Original files.
    pub blobs: Arc<dyn BlobStore>,
    /// The embedding model's tokenizer (chunk sizing).
    pub tokens: Arc<dyn TokenCounter>,
    /// Embeds search queries.
    pub embedder: Arc<dyn Embedder>,
    /// Limits and chunking.
    pub config: KnowledgeConfig,
    cache: VectorCache,
}

fn citation(document_name: &str, heading: &str, ordinal: i64) -> String {
    if heading.is_empty() {
        format!("{document_name} (chunk {ordinal})")
    } else {
        format!("{document_name} § {heading} (chunk {ordinal})")
    }
}

/// A file name without directories or control characters. Errors: `Validation` (`name`).
fn clean_name(raw: &str) -> Result<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string();
    if name.is_empty() {
        return Err(Error::validation(
            "name",
            "the file needs a name, e.g. handbook.pdf",
        ));
    }
    check_len("name", &name, 1, 255)?;
    Ok(name)
}

impl Knowledge {
    /// Assembles the engine.
    pub fn new(
        store: Arc<dyn KnowledgeStore>,
        queue: Arc<dyn JobQueue>,
        blobs: Arc<dyn BlobStore>,
        tokens: Arc<dyn TokenCounter>,
        embedder: Arc<dyn Embedder>,
        config: KnowledgeConfig,
    ) -> Self {
        Knowledge {
            store,
            queue,
            blobs,
            tokens,
            embedder,
            config,
            cache: VectorCache::default(),
        }
    }

    /// Validates, extracts, chunks, stores and enqueues an upload into base `kb_id` (which
    /// the caller has checked exists in `org_id`). Returns the document and `true`, or the
    /// existing document with the same SHA-256 and `false`.
    ///
    /// Errors: [`Error::TooLarge`] over the size limit; [`Error::Validation`] for an empty
    /// file, an unsupported type, binary data declared as text, a corrupt PDF or a document
    /// without text — in every error case nothing is written.
    pub async fn ingest(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        upload: Upload,
    ) -> Result<(Document, bool)> {
        let name = clean_name(&upload.name)?;
        if upload.bytes.len() > self.config.max_upload_bytes {
            return Err(Error::TooLarge(format!(
                "the file is {} bytes; the limit is {} bytes",
                upload.bytes.len(),
                self.config.max_upload_bytes
            )));
        }
        if upload.bytes.is_empty() {
            return Err(Error::validation("file", "is empty"));
        }
        let media_type = extract::resolve_media_type(upload.media_type.as_deref(), &name)?;
        let sha256 = hex::encode(Sha256::digest(&upload.bytes));
        if let Some(existing) = self
            .store
            .find_document_by_sha256(org_id, kb_id, &sha256)
            .await?
        {
            if existing.status != DocumentStatus::Failed {
                return Ok((existing, false));
            }
            // A failed earlier upload of the same file is replaced by this one.
            self.delete_document(org_id, kb_id, existing.id).await?;
        }

        let bytes = Arc::new(upload.bytes);
        let (b, tokens, cfg) = (bytes.clone(), self.tokens.clone(), self.config.chunking);
        let drafts = tokio::task::spawn_blocking(move || {
            let extracted = extract::extract(media_type, &b)?;
            chunk::chunk(&extracted, tokens.as_ref(), cfg)
        })
        .await
        .map_err(Error::internal)??;
        if drafts.is_empty() {
            return Err(Error::validation("file", "contains no text"));
        }

        let doc_id = Uuid::now_v7();
        let doc = Document {
            id: doc_id,
            kb_id,
            org_id,
            name,
            media_type: media_type.to_string(),
            size_bytes: bytes.len() as i64,
            sha256,
            status: DocumentStatus::Queued,
            chunks_total: drafts.len() as i64,
            chunks_embedded: 0,
            error: None,
            created_at: Utc::now(),
        };
        let chunks: Vec<Chunk> = drafts
            .into_iter()
            .map(|d| Chunk {
                id: Uuid::now_v7(),
                document_id: doc_id,
                ordinal: d.ordinal as i64,
                text: d.text,
                heading: d.heading,
                page: d.page.map(i64::from),
                start_char: d.start_char as i64,
                end_char: d.end_char as i64,
                token_count: d.token_count as i64,
            })
            .collect();

        let key = BlobKey::new(org_id, &format!("knowledge/{kb_id}/{doc_id}"))?;
        self.blobs.put(&key, &bytes).await?;
        let doc = match self
            .store
            .insert_document(&doc, key.as_str(), &chunks)
            .await
        {
            Ok(Inserted::Created(d)) => d,
            Ok(Inserted::Existing(d)) => {
                self.blobs.delete(&key).await?;
                return Ok((d, false));
            }
            Err(e) => {
                if let Err(e2) = self.blobs.delete(&key).await {
                    tracing::error!(key = %key, error = %e2, "could not remove the blob of a failed upload");
                }
                return Err(e);
            }
        };
        for batch in chunks.chunks(EMBED_BATCH_CHUNKS) {
            let job = EmbedChunksJob::new(org_id, doc_id, batch.iter().map(|c| c.id).collect());
            let payload = serde_json::to_value(&job).map_err(Error::internal)?;
            if let Err(e) = self
                .queue
                .enqueue(
                    GPU_QUEUE,
                    &payload,
                    EMBED_MAX_ATTEMPTS,
                    std::time::Duration::ZERO,
                )
                .await
            {
                let reason = format!("could not enqueue embedding jobs: {e}");
                self.store
                    .set_document_status(org_id, doc_id, DocumentStatus::Failed, Some(&reason))
                    .await?;
                return Err(e);
            }
        }
        Ok((doc, true))
    }

    /// Deletes a document, its chunks, vectors and blob. Errors: `NotFound`.
    pub async fn delete_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<()> {
        let key = self.store.delete_document(org_id, kb_id, id).await?;
        self.delete_blob(&key).await;
        Ok(())
    }

    async fn delete_blob(&self, key: &str) {
        let r = match BlobKey::parse(key) {
            Ok(k) => self.blobs.delete(&k).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::error!(%key, error = %e, "could not delete blob (left orphaned)");
        }
    }

    /// Deletes a base with everything in it. Errors: `NotFound`.
    pub async fn delete_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let keys = self.store.delete_knowledge_base(org_id, id).await?;
        for k in keys {
            self.delete_blob(&k).await;
        }
        self.cache.forget(id);
        Ok(())
    }

    /// The `k` chunks of bases `kb_ids` (of `org_id`) closest to `query`, best first. Bases
    /// that do not exist (or belong to another organization) contribute nothing.
    /// Errors: the embedder's ([`Error::Internal`]) or storage's.
    pub async fn search(
        &self,
        org_id: Uuid,
        kb_ids: &[Uuid],
        query: &str,
        k: usize,
    ) -> Result<Vec<SearchHit>> {
        let mut v = self.embedder.embed(&[query.to_string()]).await?;
        let q = v
            .pop()
            .ok_or_else(|| Error::internal("embedder returned no vector"))?;
        self.search_vector(org_id, kb_ids, &q, k).await
    }

    /// Like [`Knowledge::search`] with an already embedded query (unit vector).
    pub async fn search_vector(
        &self,
        org_id: Uuid,
        kb_ids: &[Uuid],
        query: &[f32],
        k: usize,
    ) -> Result<Vec<SearchHit>> {
        let mut snaps = Vec::with_capacity(kb_ids.len());
        for kb in kb_ids {
            match self.cache.snapshot(self.store.as_ref(), org_id, *kb).await {
                Ok(s) => snaps.push(s),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let q = query.to_vec();
        let scored = tokio::task::spawn_blocking(move || index::top_k(&snaps, &q, k))
            .await
            .map_err(Error::internal)?;
        let ids: Vec<Uuid> = scored.iter().map(|s| s.chunk_id).collect();
        let mut rows: std::collections::HashMap<Uuid, store::ChunkWithSource> = self
            .store
            .get_chunks(org_id, &ids)
            .await?
            .into_iter()
            .map(|c| (c.chunk.id, c))
            .collect();
        Ok(scored
            .into_iter()
            .filter_map(|s| {
                let c = rows.remove(&s.chunk_id)?;
                Some(SearchHit {
                    chunk_id: c.chunk.id,
                    kb_id: c.kb_id,
                    document_id: c.chunk.document_id,
                    citation: citation(&c.document_name, &c.chunk.heading, c.chunk.ordinal),
                    document_name: c.document_name,
                    ordinal: c.chunk.ordinal,
                    heading: c.chunk.heading,
                    page: c.chunk.page,
                    start_char: c.chunk.start_char,
                    end_char: c.chunk.end_char,
                    text: c.chunk.text,
                    score: s.score,
                })
            })
            .collect())
    }
}

/// Builds an embedder (the loader of a [`LazyEmbedder`]).
type EmbedderLoader =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Arc<dyn Embedder>>> + Send>> + Send + Sync>;

/// Loads an embedder on first use, so a process that never embeds never starts the GPU,
/// and a failed load (e.g. model files missing) is retried on the next call.
pub struct LazyEmbedder {
    model_id: String,
    dim: usize,
    tokens: Arc<dyn TokenCounter>,
    load: EmbedderLoader,
    cell: tokio::sync::OnceCell<Arc<dyn Embedder>>,
}

impl LazyEmbedder {
    /// `model_id` and `dim` are what the loaded embedder will report; `tokens` answers
    /// [`Embedder::count_tokens`] without loading it; `load` builds the real embedder.
    pub fn new<F, Fut>(
        model_id: impl Into<String>,
        dim: usize,
        tokens: Arc<dyn TokenCounter>,
        load: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arc<dyn Embedder>>> + Send + 'static,
    {
        LazyEmbedder {
            model_id: model_id.into(),
            dim,
            tokens,
            load: Box::new(move || Box::pin(load())),
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The loaded embedder, loading it now if needed.
    pub async fn get(&self) -> Result<&Arc<dyn Embedder>> {
        self.cell.get_or_try_init(|| (self.load)()).await
    }
}

#[async_trait]
impl Embedder for LazyEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.tokens.count_tokens(text)
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.get().await?.embed(texts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_citations_formatted() {
        assert_eq!(clean_name("C:\\docs\\report.pdf").unwrap(), "report.pdf");
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_name(" a\u{0}b.md ").unwrap(), "ab.md");
        assert!(clean_name("dir/").is_err());
        assert_eq!(
            citation("a.md", "Guide > Install", 3),
            "a.md § Guide > Install (chunk 3)"
        );
        assert_eq!(citation("a.txt", "", 0), "a.txt (chunk 0)");
    }
}
