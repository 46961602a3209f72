//! [`KnowledgeStore`] on PostgreSQL: bases, documents, chunks, and vectors as `bytea` of
//! little-endian `f32` (Debian's PostgreSQL has no pgvector; search ranks in process, as
//! with SQLite). Lists of ids are bound as one `uuid[]`. Every method runs in a
//! transaction scoped to its organization ([`PgStore::tenant_tx`]).

use async_trait::async_trait;
use autonoma_core::knowledge::index::{vector_to_bytes, Snapshot};
use autonoma_core::knowledge::store::{ChunkWithSource, Inserted, KnowledgeStore};
use autonoma_core::knowledge::{Chunk, Document, DocumentStatus, KnowledgeBase};
use autonoma_core::{Error, Result};
use sqlx::Row;
use uuid::Uuid;

use super::PgStore;
use crate::error::{db, in_tx, is_unique_violation};
use crate::rows::{ChunkRow, ChunkWithSourceRow, DocumentRow, KnowledgeBaseRow};
use crate::sql;

impl PgStore {
    /// At most one document of `org_id` by a `sql::*DOCUMENT*` query whose first parameter
    /// is the org and the others `ids` (then `text`, if any).
    async fn fetch_document(
        &self,
        org_id: Uuid,
        query: &'static str,
        ids: &[Uuid],
        text: Option<&str>,
    ) -> Result<Option<Document>> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            let mut q = sqlx::query_as::<_, DocumentRow<Uuid>>(query).bind(org_id);
            for id in ids {
                q = q.bind(*id);
            }
            if let Some(text) = text {
                q = q.bind(text);
            }
            q.fetch_optional(&mut *c).await.map_err(db)
        })?;
        row.map(DocumentRow::into_model).transpose()
    }
}

#[async_trait]
impl KnowledgeStore for PgStore {
    async fn create_knowledge_base(&self, kb: &KnowledgeBase) -> Result<()> {
        in_tx!(self.tenant_tx(kb.org_id), |c| {
            sqlx::query(sql::INSERT_KNOWLEDGE_BASE)
                .bind(kb.id)
                .bind(kb.org_id)
                .bind(&kb.name)
                .bind(&kb.description)
                .bind(kb.created_at)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    async fn get_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<KnowledgeBase> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, KnowledgeBaseRow<Uuid>>(sql::GET_KNOWLEDGE_BASE)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("knowledge base"))
        })?;
        Ok(row.into_model())
    }

    async fn list_knowledge_bases(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<KnowledgeBase>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, KnowledgeBaseRow<Uuid>>("SELECT * FROM knowledge_bases WHERE org_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3")
                .bind(org_id)
                .bind(after)
                .bind(limit as i64)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        Ok(rows.into_iter().map(KnowledgeBaseRow::into_model).collect())
    }

    async fn delete_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<Vec<String>> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let keys: Vec<String> = sqlx::query_scalar(sql::BLOB_KEYS_OF_BASE)
                .bind(org_id)
                .bind(id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)?;
            // Cascades to documents, chunks and vectors.
            let r = sqlx::query(sql::DELETE_KNOWLEDGE_BASE)
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("knowledge base"));
            }
            Ok(keys)
        })
    }

    async fn insert_document(
        &self,
        doc: &Document,
        blob_key: &str,
        chunks: &[Chunk],
    ) -> Result<Inserted> {
        let mut tx = self.tenant_tx(doc.org_id).await?;
        // Foreign-key checks bypass row-level security: check the base is this tenant's.
        let kb: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM knowledge_bases WHERE org_id = $1 AND id = $2")
                .bind(doc.org_id)
                .bind(doc.kb_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if kb.is_none() {
            return Err(Error::NotFound("knowledge base"));
        }
        let r = sqlx::query(sql::INSERT_DOCUMENT)
            .bind(doc.id)
            .bind(doc.kb_id)
            .bind(doc.org_id)
            .bind(&doc.name)
            .bind(&doc.media_type)
            .bind(doc.size_bytes)
            .bind(&doc.sha256)
            .bind(blob_key)
            .bind(doc.status.as_str())
            .bind(doc.chunks_total)
            .bind(doc.chunks_embedded)
            .bind(&doc.error)
            .bind(doc.created_at)
            .execute(&mut *tx)
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => {
                // The failed insert aborted this transaction: read the existing one in another.
                tx.rollback().await.map_err(db)?;
                let existing = self
                    .find_document_by_sha256(doc.org_id, doc.kb_id, &doc.sha256)
                    .await?
                    .ok_or(Error::NotFound("document"))?;
                return Ok(Inserted::Existing(existing));
            }
            r => r.map_err(db)?,
        };
        let out = crate::error::body(async {
            for c in chunks {
                sqlx::query(sql::INSERT_CHUNK)
                    .bind(c.id)
                    .bind(doc.id)
                    .bind(doc.kb_id)
                    .bind(doc.org_id)
                    .bind(c.ordinal)
                    .bind(&c.text)
                    .bind(&c.heading)
                    .bind(c.page)
                    .bind(c.start_char)
                    .bind(c.end_char)
                    .bind(c.token_count)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            Ok(Inserted::Created(doc.clone()))
        })
        .await;
        crate::error::finish(tx, out).await
    }

    async fn find_document_by_sha256(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        sha256: &str,
    ) -> Result<Option<Document>> {
        self.fetch_document(org_id, sql::DOCUMENT_BY_SHA256, &[kb_id], Some(sha256))
            .await
    }

    async fn get_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<Document> {
        self.fetch_document(org_id, sql::GET_DOCUMENT, &[kb_id, id], None)
            .await?
            .ok_or(Error::NotFound("document"))
    }

    async fn get_document_by_id(&self, org_id: Uuid, id: Uuid) -> Result<Document> {
        self.fetch_document(org_id, sql::GET_DOCUMENT_BY_ID, &[id], None)
            .await?
            .ok_or(Error::NotFound("document"))
    }

    async fn list_documents(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Document>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, DocumentRow<Uuid>>(concat!(
                "SELECT ",
                sql::doc_columns!(),
                " FROM documents WHERE org_id = $1 AND kb_id = $2 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
            ))
            .bind(org_id)
            .bind(kb_id)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(db)
        })?;
        rows.into_iter().map(DocumentRow::into_model).collect()
    }

    async fn delete_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<String> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let key: Option<String> = sqlx::query_scalar(sql::DELETE_DOCUMENT)
                .bind(org_id)
                .bind(kb_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            let Some(key) = key else {
                return Err(Error::NotFound("document"));
            };
            sqlx::query(sql::BUMP_KNOWLEDGE_BASE_VERSION)
                .bind(org_id)
                .bind(kb_id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(key)
        })
    }

    async fn set_document_status(
        &self,
        org_id: Uuid,
        id: Uuid,
        status: DocumentStatus,
        error: Option<&str>,
    ) -> Result<bool> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let r = sqlx::query(sql::SET_DOCUMENT_STATUS)
                .bind(status.as_str())
                .bind(error)
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(r.rows_affected() == 1)
        })
    }

    async fn chunks_without_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        chunk_ids: &[Uuid],
    ) -> Result<Vec<Chunk>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ChunkRow<Uuid>>(concat!(
                "SELECT ",
                sql::chunk_columns!(),
                " FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id \
                 WHERE c.org_id = $1 AND c.document_id = $2 AND c.id = ANY($3) AND v.chunk_id IS NULL ORDER BY c.ordinal"
            ))
            .bind(org_id)
            .bind(document_id)
            .bind(chunk_ids)
            .fetch_all(&mut *c)
            .await
            .map_err(db)
        })?;
        Ok(rows.into_iter().map(ChunkRow::into_model).collect())
    }

    async fn store_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        model: &str,
        vectors: &[(Uuid, Vec<f32>)],
    ) -> Result<Document> {
        in_tx!(self.tenant_tx(org_id), |c| {
            // Locks the document: concurrent batches of one document count their vectors in turn.
            let kb_id: Option<Uuid> = sqlx::query_scalar(
                "SELECT kb_id FROM documents WHERE org_id = $1 AND id = $2 FOR UPDATE",
            )
            .bind(org_id)
            .bind(document_id)
            .fetch_optional(&mut *c)
            .await
            .map_err(db)?;
            let Some(kb_id) = kb_id else {
                return Err(Error::NotFound("document"));
            };
            for (chunk_id, v) in vectors {
                sqlx::query(sql::INSERT_VECTOR)
                    .bind(model)
                    .bind(v.len() as i64)
                    .bind(vector_to_bytes(v))
                    .bind(chunk_id)
                    .bind(document_id)
                    .bind(org_id)
                    .execute(&mut *c)
                    .await
                    .map_err(db)?;
            }
            let row = sqlx::query_as::<_, DocumentRow<Uuid>>(
                "WITH n AS (SELECT COUNT(*) AS n FROM chunk_vectors WHERE document_id = $1) \
                 UPDATE documents SET chunks_embedded = n.n, \
                 status = CASE WHEN status = 'failed' THEN 'failed' WHEN n.n >= chunks_total THEN 'ready' ELSE 'embedding' END \
                 FROM n WHERE id = $1 AND org_id = $2 RETURNING documents.id, documents.kb_id, documents.org_id, documents.name, \
                 documents.media_type, documents.size_bytes, documents.sha256, documents.status, documents.chunks_total, \
                 documents.chunks_embedded, documents.error, documents.created_at",
            )
            .bind(document_id)
            .bind(org_id)
            .fetch_one(&mut *c)
            .await
            .map_err(db)?;
            sqlx::query(sql::BUMP_KNOWLEDGE_BASE_VERSION)
                .bind(org_id)
                .bind(kb_id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            row.into_model()
        })
    }

    async fn count_vectors(&self, org_id: Uuid, document_id: Uuid) -> Result<i64> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_scalar(sql::COUNT_VECTORS)
                .bind(org_id)
                .bind(document_id)
                .fetch_one(&mut *c)
                .await
                .map_err(db)
        })
    }

    async fn knowledge_base_version(&self, org_id: Uuid, kb_id: Uuid) -> Result<i64> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_scalar(sql::KNOWLEDGE_BASE_VERSION)
                .bind(org_id)
                .bind(kb_id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("knowledge base"))
        })
    }

    async fn load_vectors(&self, org_id: Uuid, kb_id: Uuid) -> Result<Snapshot> {
        // One REPEATABLE READ transaction: the version and the vectors are of the same snapshot.
        let (version, rows) = in_tx!(self.tenant_snapshot_tx(org_id), |c| {
            let version: i64 = sqlx::query_scalar(sql::KNOWLEDGE_BASE_VERSION)
                .bind(org_id)
                .bind(kb_id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("knowledge base"))?;
            let rows = sqlx::query(sql::LOAD_VECTORS)
                .bind(org_id)
                .bind(kb_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)?;
            Ok((version, rows))
        })?;
        // Read in place (no copy of each vector's bytes), hence no row type here.
        crate::rows::snapshot(kb_id, version, &rows, |r| {
            let bytes: &[u8] = r.try_get("vector").map_err(db)?;
            Ok((r.try_get("chunk_id").map_err(db)?, bytes))
        })
    }

    async fn get_chunks(&self, org_id: Uuid, ids: &[Uuid]) -> Result<Vec<ChunkWithSource>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ChunkWithSourceRow<Uuid>>(concat!(
                "SELECT ",
                sql::chunk_columns!(),
                ", d.name AS document_name FROM chunks c JOIN documents d ON d.id = c.document_id \
                 WHERE c.org_id = $1 AND c.id = ANY($2)"
            ))
            .bind(org_id)
            .bind(ids)
            .fetch_all(&mut *c)
            .await
            .map_err(db)
        })?;
        Ok(rows
            .into_iter()
            .map(ChunkWithSourceRow::into_model)
            .collect())
    }
}
