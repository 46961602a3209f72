//! Knowledge bases as operations: bases, document uploads, search — authorized here, run by
//! the [`Knowledge`] engine of [`crate::knowledge`].

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::Service;
use crate::guard::{check_len, into_page, page_limit, parse_cursor, require};
use crate::knowledge::{
    Document, Knowledge, KnowledgeBase, NewKnowledgeBase, SearchHit, SearchRequest, Upload,
    DEFAULT_K, MAX_K,
};
use crate::model::{Actor, Page, Role};
use crate::{Error, Result};

impl Service {
    /// The knowledge engine. Errors: [`Error::Internal`] when this process was built without
    /// one ([`Service::with_knowledge`]).
    pub fn knowledge(&self) -> Result<&Arc<Knowledge>> {
        self.knowledge_engine()
            .ok_or_else(|| Error::internal("knowledge bases are not configured in this process"))
    }

    /// Creates a knowledge base (member+).
    /// Errors: `Forbidden`; `Validation` (`name` 1..=100, `description` ≤ 2000 characters).
    pub async fn create_knowledge_base(
        &self,
        actor: &Actor,
        input: NewKnowledgeBase,
    ) -> Result<KnowledgeBase> {
        require(actor, Role::Member, "creating knowledge bases needs member")?;
        let k = self.knowledge()?;
        let name = input.name.trim().to_string();
        check_len("name", &name, 1, 100)?;
        check_len("description", &input.description, 0, 2000)?;
        let kb = KnowledgeBase {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            name,
            description: input.description,
            created_at: Utc::now(),
        };
        k.store.create_knowledge_base(&kb).await?;
        Ok(kb)
    }

    /// A page of knowledge bases, newest first (viewer+).
    pub async fn list_knowledge_bases(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<KnowledgeBase>> {
        let k = self.knowledge()?;
        let limit = page_limit(limit)?;
        let items = k
            .store
            .list_knowledge_bases(actor.org_id, parse_cursor(cursor)?, limit + 1)
            .await?;
        Ok(into_page(items, limit, |b| b.id))
    }

    /// One knowledge base (viewer+). Errors: `NotFound`.
    pub async fn get_knowledge_base(&self, actor: &Actor, id: Uuid) -> Result<KnowledgeBase> {
        self.knowledge()?
            .store
            .get_knowledge_base(actor.org_id, id)
            .await
    }

    /// Deletes a knowledge base with its documents, chunks, vectors and blobs (member+).
    /// Agents that attached it simply stop finding its passages.
    pub async fn delete_knowledge_base(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Member, "deleting knowledge bases needs member")?;
        self.knowledge()?
            .delete_knowledge_base(actor.org_id, id)
            .await
    }

    /// Uploads a document into a base (member+): see [`Knowledge::ingest`]. Returns the
    /// document and whether it was created (`false`: same SHA-256 already in the base).
    /// Errors: `Forbidden`, `NotFound` (base), `TooLarge`, `Validation`.
    pub async fn upload_document(
        &self,
        actor: &Actor,
        kb_id: Uuid,
        upload: Upload,
    ) -> Result<(Document, bool)> {
        require(actor, Role::Member, "uploading documents needs member")?;
        let k = self.knowledge()?;
        k.store.get_knowledge_base(actor.org_id, kb_id).await?;
        k.ingest(actor.org_id, kb_id, upload).await
    }

    /// A page of a base's documents, newest first (viewer+). Errors: `NotFound` (base).
    pub async fn list_documents(
        &self,
        actor: &Actor,
        kb_id: Uuid,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Document>> {
        let k = self.knowledge()?;
        k.store.get_knowledge_base(actor.org_id, kb_id).await?;
        let limit = page_limit(limit)?;
        let items = k
            .store
            .list_documents(actor.org_id, kb_id, parse_cursor(cursor)?, limit + 1)
            .await?;
        Ok(into_page(items, limit, |d| d.id))
    }

    /// One document with its progress (viewer+). Errors: `NotFound`.
    pub async fn get_document(&self, actor: &Actor, kb_id: Uuid, id: Uuid) -> Result<Document> {
        self.knowledge()?
            .store
            .get_document(actor.org_id, kb_id, id)
            .await
    }

    /// Deletes a document with its chunks, vectors and blob (member+). Errors: `NotFound`.
    pub async fn delete_document(&self, actor: &Actor, kb_id: Uuid, id: Uuid) -> Result<()> {
        require(actor, Role::Member, "deleting documents needs member")?;
        self.knowledge()?
            .delete_document(actor.org_id, kb_id, id)
            .await
    }

    /// The top-k chunks of a base for a query (viewer+), best first.
    /// Errors: `NotFound` (base); `Validation` (`query` 1..=2000 characters, `k` 1..=50).
    pub async fn search_knowledge_base(
        &self,
        actor: &Actor,
        kb_id: Uuid,
        req: SearchRequest,
    ) -> Result<Vec<SearchHit>> {
        let k = self.knowledge()?;
        let query = req.query.trim();
        check_len("query", query, 1, 2000)?;
        let n = req.k.unwrap_or(DEFAULT_K);
        if !(1..=MAX_K).contains(&n) {
            return Err(Error::validation("k", format!("must be 1 to {MAX_K}")));
        }
        k.store.get_knowledge_base(actor.org_id, kb_id).await?;
        k.search(actor.org_id, &[kb_id], query, n as usize).await
    }
}
