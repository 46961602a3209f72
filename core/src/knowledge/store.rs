//! The storage trait of knowledge bases (one of the area traits of [`crate::store`]),
//! implemented by `autonoma_storage::SqliteStore` and `autonoma_storage::PgStore`.
//!
//! Every method takes the `org_id` and filters by it: another organization's base,
//! document or chunk behaves exactly like a missing one ([`crate::Error::NotFound`]).

use async_trait::async_trait;
use uuid::Uuid;

use super::index::Snapshot;
use super::{Chunk, Document, DocumentStatus, KnowledgeBase};
use crate::Result;

/// Outcome of [`KnowledgeStore::insert_document`].
#[derive(Debug, Clone)]
pub enum Inserted {
    /// The document and its chunks were written.
    Created(Document),
    /// A document with the same SHA-256 already exists in the base; nothing was written.
    Existing(Document),
}

/// A chunk with the names a search result needs.
#[derive(Debug, Clone)]
pub struct ChunkWithSource {
    /// The chunk.
    pub chunk: Chunk,
    /// The base its document is in.
    pub kb_id: Uuid,
    /// Its document's file name.
    pub document_name: String,
}

/// Relational storage of bases, documents, chunks and vectors.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Inserts a base (version 0).
    async fn create_knowledge_base(&self, kb: &KnowledgeBase) -> Result<()>;
    /// Errors: [`crate::Error::NotFound`] (`"knowledge base"`).
    async fn get_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<KnowledgeBase>;
    /// Newest first; `after` is the last id of the previous page.
    async fn list_knowledge_bases(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<KnowledgeBase>>;
    /// Deletes the base with its documents, chunks and vectors, atomically, and returns the
    /// blob keys of its documents (for the caller to delete). Errors: `NotFound`.
    async fn delete_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<Vec<String>>;

    /// Inserts a document (its `blob_key` already written) and all its chunks in one
    /// transaction. If the base already holds a document with the same `sha256`, nothing is
    /// written and that document is returned as [`Inserted::Existing`].
    async fn insert_document(
        &self,
        doc: &Document,
        blob_key: &str,
        chunks: &[Chunk],
    ) -> Result<Inserted>;
    /// The document of the base with this SHA-256 (hex), if any.
    async fn find_document_by_sha256(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        sha256: &str,
    ) -> Result<Option<Document>>;
    /// Errors: `NotFound` (`"document"`), also when it belongs to another base.
    async fn get_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<Document>;
    /// By id only (the embed job knows the org and document, not the base).
    async fn get_document_by_id(&self, org_id: Uuid, id: Uuid) -> Result<Document>;
    /// Newest first; `after` is the last id of the previous page.
    async fn list_documents(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Document>>;
    /// Deletes the document with its chunks and vectors (bumping the base's version) and
    /// returns its blob key. Errors: `NotFound`.
    async fn delete_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<String>;
    /// Sets `status` (and `error`) unless the document is already `ready` or `failed`;
    /// returns whether it changed. A missing document is not an error (false).
    async fn set_document_status(
        &self,
        org_id: Uuid,
        id: Uuid,
        status: DocumentStatus,
        error: Option<&str>,
    ) -> Result<bool>;

    /// Of `chunk_ids`, the chunks of the document that have no vector yet, by ordinal.
    async fn chunks_without_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        chunk_ids: &[Uuid],
    ) -> Result<Vec<Chunk>>;
    /// Stores vectors (`(chunk id, unit vector)`) idempotently — a chunk that already has
    /// one keeps it — then, in the same transaction, sets the document's `chunks_embedded`
    /// to its number of stored vectors, marks it `ready` when that reaches `chunks_total`
    /// (`embedding` before; a `failed` document stays failed) and bumps the base's version.
    /// Returns the updated document.
    async fn store_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        model: &str,
        vectors: &[(Uuid, Vec<f32>)],
    ) -> Result<Document>;
    /// Number of stored vectors of a document.
    async fn count_vectors(&self, org_id: Uuid, document_id: Uuid) -> Result<i64>;
    /// The base's version counter (bumped whenever its vectors change). Errors: `NotFound`.
    async fn knowledge_base_version(&self, org_id: Uuid, kb_id: Uuid) -> Result<i64>;
    /// All vectors of a base and the version they are at, read in one transaction.
    async fn load_vectors(&self, org_id: Uuid, kb_id: Uuid) -> Result<Snapshot>;
    /// Chunks by id with their document names (ids of other organizations are skipped).
    async fn get_chunks(&self, org_id: Uuid, ids: &[Uuid]) -> Result<Vec<ChunkWithSource>>;
}
