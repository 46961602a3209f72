//! [`KnowledgeStore`] on PostgreSQL: bases, documents, chunks, and vectors as `bytea` of
//! little-endian `f32` (Debian's PostgreSQL has no pgvector; search ranks in process, as
//! with SQLite). Lists of ids are bound as one `uuid[]`. Every method runs in a
//! transaction scoped to its organization ([`PgStore::tenant_tx`]).

use async_trait::async_trait;
use autonoma_core::knowledge::index::{bytes_to_vector, vector_to_bytes, Snapshot};
use autonoma_core::knowledge::store::{ChunkWithSource, Inserted, KnowledgeStore};
use autonoma_core::knowledge::{Chunk, Document, DocumentStatus, KnowledgeBase};
use autonoma_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::{db, is_unique_violation, PgStore};

fn kb_from_row(row: &PgRow) -> Result<KnowledgeBase> {
    Ok(KnowledgeBase {
        id: row.try_get("id").map_err(db)?,
        org_id: row.try_get("org_id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        description: row.try_get("description").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn doc_from_row(row: &PgRow) -> Result<Document> {
    let status: String = row.try_get("status").map_err(db)?;
    Ok(Document {
        id: row.try_get("id").map_err(db)?,
        kb_id: row.try_get("kb_id").map_err(db)?,
        org_id: row.try_get("org_id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        media_type: row.try_get("media_type").map_err(db)?,
        size_bytes: row.try_get("size_bytes").map_err(db)?,
        sha256: row.try_get("sha256").map_err(db)?,
        status: DocumentStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("bad document status {status}")))?,
        chunks_total: row.try_get("chunks_total").map_err(db)?,
        chunks_embedded: row.try_get("chunks_embedded").map_err(db)?,
        error: row.try_get("error").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn chunk_from_row(row: &PgRow) -> Result<Chunk> {
    Ok(Chunk {
        id: row.try_get("id").map_err(db)?,
        document_id: row.try_get("document_id").map_err(db)?,
        ordinal: row.try_get("ordinal").map_err(db)?,
        text: row.try_get("text").map_err(db)?,
        heading: row.try_get("heading").map_err(db)?,
        page: row.try_get("page").map_err(db)?,
        start_char: row.try_get("start_char").map_err(db)?,
        end_char: row.try_get("end_char").map_err(db)?,
        token_count: row.try_get("token_count").map_err(db)?,
    })
}

use crate::knowledge::DOC_COLUMNS;
const CHUNK_COLUMNS: &str = "c.id, c.document_id, c.kb_id, c.ordinal, c.text, c.heading, c.page, c.start_char, c.end_char, c.token_count";

#[async_trait]
impl KnowledgeStore for PgStore {
    async fn create_knowledge_base(&self, kb: &KnowledgeBase) -> Result<()> {
        let mut tx = self.tenant_tx(kb.org_id).await?;
        sqlx::query("INSERT INTO knowledge_bases (id, org_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(kb.id)
            .bind(kb.org_id)
            .bind(&kb.name)
            .bind(&kb.description)
            .bind(kb.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<KnowledgeBase> {
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query("SELECT * FROM knowledge_bases WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("knowledge base"))?;
        tx.commit().await.map_err(db)?;
        kb_from_row(&row)
    }

    async fn list_knowledge_bases(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<KnowledgeBase>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query("SELECT * FROM knowledge_bases WHERE org_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3")
            .bind(org_id)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(kb_from_row).collect()
    }

    async fn delete_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<Vec<String>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT blob_key FROM documents WHERE org_id = $1 AND kb_id = $2")
                .bind(org_id)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        // Cascades to documents, chunks and vectors.
        let r = sqlx::query("DELETE FROM knowledge_bases WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("knowledge base"));
        }
        tx.commit().await.map_err(db)?;
        Ok(keys)
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
        let r = sqlx::query(
            "INSERT INTO documents (id, kb_id, org_id, name, media_type, size_bytes, sha256, blob_key, status, chunks_total, chunks_embedded, error, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
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
                tx.rollback().await.map_err(db)?;
                let existing = self
                    .find_document_by_sha256(doc.org_id, doc.kb_id, &doc.sha256)
                    .await?
                    .ok_or(Error::NotFound("document"))?;
                return Ok(Inserted::Existing(existing));
            }
            r => r.map_err(db)?,
        };
        for c in chunks {
            sqlx::query(
                "INSERT INTO chunks (id, document_id, kb_id, org_id, ordinal, text, heading, page, start_char, end_char, token_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
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
        tx.commit().await.map_err(db)?;
        Ok(Inserted::Created(doc.clone()))
    }

    async fn find_document_by_sha256(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        sha256: &str,
    ) -> Result<Option<Document>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = $1 AND kb_id = $2 AND sha256 = $3"
        ))
        .bind(org_id)
        .bind(kb_id)
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.as_ref().map(doc_from_row).transpose()
    }

    async fn get_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<Document> {
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = $1 AND kb_id = $2 AND id = $3"
        ))
        .bind(org_id)
        .bind(kb_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(Error::NotFound("document"))?;
        tx.commit().await.map_err(db)?;
        doc_from_row(&row)
    }

    async fn get_document_by_id(&self, org_id: Uuid, id: Uuid) -> Result<Document> {
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(Error::NotFound("document"))?;
        tx.commit().await.map_err(db)?;
        doc_from_row(&row)
    }

    async fn list_documents(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Document>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = $1 AND kb_id = $2 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(org_id)
        .bind(kb_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(doc_from_row).collect()
    }

    async fn delete_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<String> {
        let mut tx = self.tenant_tx(org_id).await?;
        let key: Option<String> = sqlx::query_scalar(
            "DELETE FROM documents WHERE org_id = $1 AND kb_id = $2 AND id = $3 RETURNING blob_key",
        )
        .bind(org_id)
        .bind(kb_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(key) = key else {
            return Err(Error::NotFound("document"));
        };
        sqlx::query(
            "UPDATE knowledge_bases SET version = version + 1 WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(kb_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(key)
    }

    async fn set_document_status(
        &self,
        org_id: Uuid,
        id: Uuid,
        status: DocumentStatus,
        error: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.tenant_tx(org_id).await?;
        let r = sqlx::query("UPDATE documents SET status = $1, error = $2 WHERE org_id = $3 AND id = $4 AND status NOT IN ('ready', 'failed') AND status <> $1")
            .bind(status.as_str())
            .bind(error)
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn chunks_without_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        chunk_ids: &[Uuid],
    ) -> Result<Vec<Chunk>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id \
             WHERE c.org_id = $1 AND c.document_id = $2 AND c.id = ANY($3) AND v.chunk_id IS NULL ORDER BY c.ordinal"
        ))
        .bind(org_id)
        .bind(document_id)
        .bind(chunk_ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(chunk_from_row).collect()
    }

    async fn store_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        model: &str,
        vectors: &[(Uuid, Vec<f32>)],
    ) -> Result<Document> {
        let mut tx = self.tenant_tx(org_id).await?;
        // Locks the document: concurrent batches of one document count their vectors in turn.
        let kb_id: Option<Uuid> = sqlx::query_scalar(
            "SELECT kb_id FROM documents WHERE org_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(org_id)
        .bind(document_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(kb_id) = kb_id else {
            return Err(Error::NotFound("document"));
        };
        for (chunk_id, v) in vectors {
            // Only chunks of this document; an existing vector is kept (idempotent redelivery).
            sqlx::query(
                "INSERT INTO chunk_vectors (chunk_id, document_id, kb_id, org_id, model, dim, vector) \
                 SELECT id, document_id, kb_id, org_id, $1, $2, $3 FROM chunks WHERE id = $4 AND document_id = $5 AND org_id = $6 \
                 ON CONFLICT (chunk_id) DO NOTHING",
            )
            .bind(model)
            .bind(v.len() as i64)
            .bind(vector_to_bytes(v))
            .bind(chunk_id)
            .bind(document_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let row = sqlx::query(&format!(
            "WITH n AS (SELECT COUNT(*) AS n FROM chunk_vectors WHERE document_id = $1) \
             UPDATE documents SET chunks_embedded = n.n, \
             status = CASE WHEN status = 'failed' THEN 'failed' WHEN n.n >= chunks_total THEN 'ready' ELSE 'embedding' END \
             FROM n WHERE id = $1 AND org_id = $2 RETURNING {}",
            DOC_COLUMNS.split(", ").map(|c| format!("documents.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(document_id)
        .bind(org_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "UPDATE knowledge_bases SET version = version + 1 WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(kb_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let doc = doc_from_row(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(doc)
    }

    async fn count_vectors(&self, org_id: Uuid, document_id: Uuid) -> Result<i64> {
        let mut tx = self.tenant_tx(org_id).await?;
        let n = sqlx::query_scalar(
            "SELECT COUNT(*) FROM chunk_vectors WHERE org_id = $1 AND document_id = $2",
        )
        .bind(org_id)
        .bind(document_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    async fn knowledge_base_version(&self, org_id: Uuid, kb_id: Uuid) -> Result<i64> {
        let mut tx = self.tenant_tx(org_id).await?;
        let v =
            sqlx::query_scalar("SELECT version FROM knowledge_bases WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(kb_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("knowledge base"))?;
        tx.commit().await.map_err(db)?;
        Ok(v)
    }

    async fn load_vectors(&self, org_id: Uuid, kb_id: Uuid) -> Result<Snapshot> {
        // One REPEATABLE READ transaction: the version and the vectors are of the same snapshot.
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("SELECT set_config('autonoma.org_id', $1, true)")
            .bind(org_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let version: i64 =
            sqlx::query_scalar("SELECT version FROM knowledge_bases WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(kb_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("knowledge base"))?;
        let rows = sqlx::query(
            "SELECT chunk_id, vector FROM chunk_vectors WHERE org_id = $1 AND kb_id = $2",
        )
        .bind(org_id)
        .bind(kb_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut matrix = Vec::new();
        let mut dim = 0;
        for r in &rows {
            let bytes: &[u8] = r.try_get("vector").map_err(db)?;
            let d = bytes.len() / 4;
            if dim == 0 {
                dim = d;
                matrix.reserve(rows.len() * d);
            }
            if d != dim {
                return Err(Error::internal(format!(
                    "knowledge base {kb_id} mixes vector widths {dim} and {d}"
                )));
            }
            bytes_to_vector(bytes, &mut matrix);
            ids.push(r.try_get("chunk_id").map_err(db)?);
        }
        Ok(Snapshot {
            kb_id,
            version,
            dim,
            ids,
            matrix,
        })
    }

    async fn get_chunks(&self, org_id: Uuid, ids: &[Uuid]) -> Result<Vec<ChunkWithSource>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {CHUNK_COLUMNS}, d.name AS document_name FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE c.org_id = $1 AND c.id = ANY($2)"
        ))
        .bind(org_id)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ChunkWithSource {
                    chunk: chunk_from_row(r)?,
                    kb_id: r.try_get("kb_id").map_err(db)?,
                    document_name: r.try_get("document_name").map_err(db)?,
                })
            })
            .collect()
    }
}
