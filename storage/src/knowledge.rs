//! [`KnowledgeStore`] on SQLite: bases, documents, chunks, and vectors as BLOBs of
//! little-endian `f32`. Lists of ids are bound as one JSON array and expanded with
//! `json_each`, so a query has a fixed number of parameters.

use async_trait::async_trait;
use autonoma_core::knowledge::index::{bytes_to_vector, vector_to_bytes, Snapshot};
use autonoma_core::knowledge::store::{ChunkWithSource, Inserted, KnowledgeStore};
use autonoma_core::knowledge::{Chunk, Document, DocumentStatus, KnowledgeBase};
use autonoma_core::{Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use crate::{db, is_unique_violation, ts, uid, SqliteStore, WRITE_TX};

fn ids_json(ids: &[Uuid]) -> String {
    serde_json::to_string(&ids.iter().map(|u| u.to_string()).collect::<Vec<_>>())
        .expect("strings serialise")
}

fn kb_from_row(row: &SqliteRow) -> Result<KnowledgeBase> {
    Ok(KnowledgeBase {
        id: uid(row, "id")?,
        org_id: uid(row, "org_id")?,
        name: row.try_get("name").map_err(db)?,
        description: row.try_get("description").map_err(db)?,
        created_at: ts(row, "created_at")?,
    })
}

fn doc_from_row(row: &SqliteRow) -> Result<Document> {
    let status: String = row.try_get("status").map_err(db)?;
    Ok(Document {
        id: uid(row, "id")?,
        kb_id: uid(row, "kb_id")?,
        org_id: uid(row, "org_id")?,
        name: row.try_get("name").map_err(db)?,
        media_type: row.try_get("media_type").map_err(db)?,
        size_bytes: row.try_get("size_bytes").map_err(db)?,
        sha256: row.try_get("sha256").map_err(db)?,
        status: DocumentStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("bad document status {status}")))?,
        chunks_total: row.try_get("chunks_total").map_err(db)?,
        chunks_embedded: row.try_get("chunks_embedded").map_err(db)?,
        error: row.try_get("error").map_err(db)?,
        created_at: ts(row, "created_at")?,
    })
}

fn chunk_from_row(row: &SqliteRow) -> Result<Chunk> {
    Ok(Chunk {
        id: uid(row, "id")?,
        document_id: uid(row, "document_id")?,
        ordinal: row.try_get("ordinal").map_err(db)?,
        text: row.try_get("text").map_err(db)?,
        heading: row.try_get("heading").map_err(db)?,
        page: row.try_get("page").map_err(db)?,
        start_char: row.try_get("start_char").map_err(db)?,
        end_char: row.try_get("end_char").map_err(db)?,
        token_count: row.try_get("token_count").map_err(db)?,
    })
}

/// Columns of a document row (both backends).
pub(crate) const DOC_COLUMNS: &str = "id, kb_id, org_id, name, media_type, size_bytes, sha256, status, chunks_total, chunks_embedded, error, created_at";

#[async_trait]
impl KnowledgeStore for SqliteStore {
    async fn create_knowledge_base(&self, kb: &KnowledgeBase) -> Result<()> {
        sqlx::query("INSERT INTO knowledge_bases (id, org_id, name, description, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(kb.id.to_string())
            .bind(kb.org_id.to_string())
            .bind(&kb.name)
            .bind(&kb.description)
            .bind(kb.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<KnowledgeBase> {
        let row = sqlx::query("SELECT * FROM knowledge_bases WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("knowledge base"))?;
        kb_from_row(&row)
    }

    async fn list_knowledge_bases(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<KnowledgeBase>> {
        let after = after.map(|u| u.to_string());
        let rows = sqlx::query("SELECT * FROM knowledge_bases WHERE org_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?")
            .bind(org_id.to_string())
            .bind(&after)
            .bind(&after)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(kb_from_row).collect()
    }

    async fn delete_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<Vec<String>> {
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT blob_key FROM documents WHERE org_id = ? AND kb_id = ?")
                .bind(org_id.to_string())
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        // Cascades to documents, chunks and vectors.
        let r = sqlx::query("DELETE FROM knowledge_bases WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(id.to_string())
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
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        let r = sqlx::query(
            "INSERT INTO documents (id, kb_id, org_id, name, media_type, size_bytes, sha256, blob_key, status, chunks_total, chunks_embedded, error, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(doc.id.to_string())
        .bind(doc.kb_id.to_string())
        .bind(doc.org_id.to_string())
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
                drop(tx);
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
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(c.id.to_string())
            .bind(doc.id.to_string())
            .bind(doc.kb_id.to_string())
            .bind(doc.org_id.to_string())
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
        let row = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = ? AND kb_id = ? AND sha256 = ?"
        ))
        .bind(org_id.to_string())
        .bind(kb_id.to_string())
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(doc_from_row).transpose()
    }

    async fn get_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<Document> {
        let row = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = ? AND kb_id = ? AND id = ?"
        ))
        .bind(org_id.to_string())
        .bind(kb_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or(Error::NotFound("document"))?;
        doc_from_row(&row)
    }

    async fn get_document_by_id(&self, org_id: Uuid, id: Uuid) -> Result<Document> {
        let row = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = ? AND id = ?"
        ))
        .bind(org_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or(Error::NotFound("document"))?;
        doc_from_row(&row)
    }

    async fn list_documents(
        &self,
        org_id: Uuid,
        kb_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Document>> {
        let after = after.map(|u| u.to_string());
        let rows = sqlx::query(&format!(
            "SELECT {DOC_COLUMNS} FROM documents WHERE org_id = ? AND kb_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?"
        ))
        .bind(org_id.to_string())
        .bind(kb_id.to_string())
        .bind(&after)
        .bind(&after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(doc_from_row).collect()
    }

    async fn delete_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<String> {
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        let key: Option<String> = sqlx::query_scalar(
            "DELETE FROM documents WHERE org_id = ? AND kb_id = ? AND id = ? RETURNING blob_key",
        )
        .bind(org_id.to_string())
        .bind(kb_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(key) = key else {
            return Err(Error::NotFound("document"));
        };
        sqlx::query("UPDATE knowledge_bases SET version = version + 1 WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(kb_id.to_string())
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
        let r = sqlx::query("UPDATE documents SET status = ?, error = ? WHERE org_id = ? AND id = ? AND status NOT IN ('ready', 'failed') AND status != ?")
            .bind(status.as_str())
            .bind(error)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .bind(status.as_str())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn chunks_without_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        chunk_ids: &[Uuid],
    ) -> Result<Vec<Chunk>> {
        let rows = sqlx::query(
            "SELECT c.* FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id \
             WHERE c.org_id = ? AND c.document_id = ? AND c.id IN (SELECT value FROM json_each(?)) AND v.chunk_id IS NULL \
             ORDER BY c.ordinal",
        )
        .bind(org_id.to_string())
        .bind(document_id.to_string())
        .bind(ids_json(chunk_ids))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(chunk_from_row).collect()
    }

    async fn store_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        model: &str,
        vectors: &[(Uuid, Vec<f32>)],
    ) -> Result<Document> {
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        let kb_id: Option<String> =
            sqlx::query_scalar("SELECT kb_id FROM documents WHERE org_id = ? AND id = ?")
                .bind(org_id.to_string())
                .bind(document_id.to_string())
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
                 SELECT id, document_id, kb_id, org_id, ?, ?, ? FROM chunks WHERE id = ? AND document_id = ? AND org_id = ? \
                 ON CONFLICT (chunk_id) DO NOTHING",
            )
            .bind(model)
            .bind(v.len() as i64)
            .bind(vector_to_bytes(v))
            .bind(chunk_id.to_string())
            .bind(document_id.to_string())
            .bind(org_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let row = sqlx::query(&format!(
            "UPDATE documents SET chunks_embedded = (SELECT COUNT(*) FROM chunk_vectors WHERE document_id = ?1), \
             status = CASE WHEN status = 'failed' THEN 'failed' \
                           WHEN (SELECT COUNT(*) FROM chunk_vectors WHERE document_id = ?1) >= chunks_total THEN 'ready' \
                           ELSE 'embedding' END \
             WHERE id = ?1 AND org_id = ?2 RETURNING {DOC_COLUMNS}"
        ))
        .bind(document_id.to_string())
        .bind(org_id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("UPDATE knowledge_bases SET version = version + 1 WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(&kb_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let doc = doc_from_row(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(doc)
    }

    async fn count_vectors(&self, org_id: Uuid, document_id: Uuid) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM chunk_vectors WHERE org_id = ? AND document_id = ?",
        )
        .bind(org_id.to_string())
        .bind(document_id.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(db)
    }

    async fn knowledge_base_version(&self, org_id: Uuid, kb_id: Uuid) -> Result<i64> {
        sqlx::query_scalar("SELECT version FROM knowledge_bases WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(kb_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("knowledge base"))
    }

    async fn load_vectors(&self, org_id: Uuid, kb_id: Uuid) -> Result<Snapshot> {
        // One read transaction: the version and the vectors are of the same moment.
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        let version: i64 =
            sqlx::query_scalar("SELECT version FROM knowledge_bases WHERE org_id = ? AND id = ?")
                .bind(org_id.to_string())
                .bind(kb_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("knowledge base"))?;
        let rows = sqlx::query(
            "SELECT chunk_id, vector FROM chunk_vectors WHERE org_id = ? AND kb_id = ?",
        )
        .bind(org_id.to_string())
        .bind(kb_id.to_string())
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
            ids.push(uid(r, "chunk_id")?);
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
        let rows = sqlx::query(
            "SELECT c.*, d.name AS document_name FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE c.org_id = ? AND c.id IN (SELECT value FROM json_each(?))",
        )
        .bind(org_id.to_string())
        .bind(ids_json(ids))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ChunkWithSource {
                    chunk: chunk_from_row(r)?,
                    kb_id: uid(r, "kb_id")?,
                    document_name: r.try_get("document_name").map_err(db)?,
                })
            })
            .collect()
    }
}
