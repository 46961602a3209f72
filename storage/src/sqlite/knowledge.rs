//! [`KnowledgeStore`] on SQLite: bases, documents, chunks, and vectors as BLOBs of
//! little-endian `f32`. Lists of ids are bound as one JSON array and expanded with
//! `json_each`, so a query has a fixed number of parameters.

use async_trait::async_trait;
use autonoma_core::knowledge::index::{vector_to_bytes, Snapshot};
use autonoma_core::knowledge::store::{ChunkWithSource, Inserted, KnowledgeStore};
use autonoma_core::knowledge::{Chunk, Document, DocumentStatus, KnowledgeBase};
use autonoma_core::{Error, Result};
use sqlx::Row;
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::{db, in_tx, is_unique_violation};
use crate::rows::{ChunkRow, ChunkWithSourceRow, DocumentRow, KnowledgeBaseRow};
use crate::sql;

fn ids_json(ids: &[Uuid]) -> String {
    serde_json::to_string(&ids.iter().map(|u| u.to_string()).collect::<Vec<_>>())
        .expect("strings serialise")
}

impl SqliteStore {
    /// At most one document by a query of `sql::*DOCUMENT*` shape whose parameters are text.
    async fn fetch_document(&self, query: &str, binds: &[&str]) -> Result<Option<Document>> {
        let mut q = sqlx::query_as::<_, DocumentRow<Id>>(query);
        for b in binds {
            q = q.bind(*b);
        }
        q.fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(DocumentRow::into_model)
            .transpose()
    }
}

#[async_trait]
impl KnowledgeStore for SqliteStore {
    async fn create_knowledge_base(&self, kb: &KnowledgeBase) -> Result<()> {
        sqlx::query(sql::INSERT_KNOWLEDGE_BASE)
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
        let row = sqlx::query_as::<_, KnowledgeBaseRow<Id>>(sql::GET_KNOWLEDGE_BASE)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("knowledge base"))?;
        Ok(row.into_model())
    }

    async fn list_knowledge_bases(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<KnowledgeBase>> {
        let rows = sqlx::query_as::<_, KnowledgeBaseRow<Id>>("SELECT * FROM knowledge_bases WHERE org_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3")
            .bind(org_id.to_string())
            .bind(after.map(|u| u.to_string()))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().map(KnowledgeBaseRow::into_model).collect())
    }

    async fn delete_knowledge_base(&self, org_id: Uuid, id: Uuid) -> Result<Vec<String>> {
        in_tx!(self.write_tx(), |c| {
            let keys: Vec<String> = sqlx::query_scalar(sql::BLOB_KEYS_OF_BASE)
                .bind(org_id.to_string())
                .bind(id.to_string())
                .fetch_all(&mut *c)
                .await
                .map_err(db)?;
            // Cascades to documents, chunks and vectors.
            let r = sqlx::query(sql::DELETE_KNOWLEDGE_BASE)
                .bind(org_id.to_string())
                .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        let r = sqlx::query(sql::INSERT_DOCUMENT)
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
                // Release the write lock before reading the existing document.
                drop(tx);
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
        self.fetch_document(
            sql::DOCUMENT_BY_SHA256,
            &[&org_id.to_string(), &kb_id.to_string(), sha256],
        )
        .await
    }

    async fn get_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<Document> {
        self.fetch_document(
            sql::GET_DOCUMENT,
            &[&org_id.to_string(), &kb_id.to_string(), &id.to_string()],
        )
        .await?
        .ok_or(Error::NotFound("document"))
    }

    async fn get_document_by_id(&self, org_id: Uuid, id: Uuid) -> Result<Document> {
        self.fetch_document(
            sql::GET_DOCUMENT_BY_ID,
            &[&org_id.to_string(), &id.to_string()],
        )
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
        let rows = sqlx::query_as::<_, DocumentRow<Id>>(concat!(
            "SELECT ",
            sql::doc_columns!(),
            " FROM documents WHERE org_id = $1 AND kb_id = $2 AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(org_id.to_string())
        .bind(kb_id.to_string())
        .bind(after.map(|u| u.to_string()))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(DocumentRow::into_model).collect()
    }

    async fn delete_document(&self, org_id: Uuid, kb_id: Uuid, id: Uuid) -> Result<String> {
        in_tx!(self.write_tx(), |c| {
            let key: Option<String> = sqlx::query_scalar(sql::DELETE_DOCUMENT)
                .bind(org_id.to_string())
                .bind(kb_id.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            let Some(key) = key else {
                return Err(Error::NotFound("document"));
            };
            sqlx::query(sql::BUMP_KNOWLEDGE_BASE_VERSION)
                .bind(org_id.to_string())
                .bind(kb_id.to_string())
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
        let r = sqlx::query(sql::SET_DOCUMENT_STATUS)
            .bind(status.as_str())
            .bind(error)
            .bind(org_id.to_string())
            .bind(id.to_string())
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
        let rows = sqlx::query_as::<_, ChunkRow<Id>>(concat!(
            "SELECT ",
            sql::chunk_columns!(),
            " FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id \
             WHERE c.org_id = $1 AND c.document_id = $2 AND c.id IN (SELECT value FROM json_each($3)) AND v.chunk_id IS NULL \
             ORDER BY c.ordinal"
        ))
        .bind(org_id.to_string())
        .bind(document_id.to_string())
        .bind(ids_json(chunk_ids))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(ChunkRow::into_model).collect())
    }

    async fn store_vectors(
        &self,
        org_id: Uuid,
        document_id: Uuid,
        model: &str,
        vectors: &[(Uuid, Vec<f32>)],
    ) -> Result<Document> {
        in_tx!(self.write_tx(), |c| {
            let kb_id: Option<String> =
                sqlx::query_scalar("SELECT kb_id FROM documents WHERE org_id = $1 AND id = $2")
                    .bind(org_id.to_string())
                    .bind(document_id.to_string())
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
                    .bind(chunk_id.to_string())
                    .bind(document_id.to_string())
                    .bind(org_id.to_string())
                    .execute(&mut *c)
                    .await
                    .map_err(db)?;
            }
            let row = sqlx::query_as::<_, DocumentRow<Id>>(concat!(
                "UPDATE documents SET chunks_embedded = (SELECT COUNT(*) FROM chunk_vectors WHERE document_id = $1), \
                 status = CASE WHEN status = 'failed' THEN 'failed' \
                               WHEN (SELECT COUNT(*) FROM chunk_vectors WHERE document_id = $1) >= chunks_total THEN 'ready' \
                               ELSE 'embedding' END \
                 WHERE id = $1 AND org_id = $2 RETURNING ",
                sql::doc_columns!()
            ))
            .bind(document_id.to_string())
            .bind(org_id.to_string())
            .fetch_one(&mut *c)
            .await
            .map_err(db)?;
            sqlx::query(sql::BUMP_KNOWLEDGE_BASE_VERSION)
                .bind(org_id.to_string())
                .bind(&kb_id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            row.into_model()
        })
    }

    async fn count_vectors(&self, org_id: Uuid, document_id: Uuid) -> Result<i64> {
        sqlx::query_scalar(sql::COUNT_VECTORS)
            .bind(org_id.to_string())
            .bind(document_id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn knowledge_base_version(&self, org_id: Uuid, kb_id: Uuid) -> Result<i64> {
        sqlx::query_scalar(sql::KNOWLEDGE_BASE_VERSION)
            .bind(org_id.to_string())
            .bind(kb_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("knowledge base"))
    }

    async fn load_vectors(&self, org_id: Uuid, kb_id: Uuid) -> Result<Snapshot> {
        // One read transaction: the version and the vectors are of the same moment.
        let (version, rows) = in_tx!(self.write_tx(), |c| {
            let version: i64 = sqlx::query_scalar(sql::KNOWLEDGE_BASE_VERSION)
                .bind(org_id.to_string())
                .bind(kb_id.to_string())
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("knowledge base"))?;
            let rows = sqlx::query(sql::LOAD_VECTORS)
                .bind(org_id.to_string())
                .bind(kb_id.to_string())
                .fetch_all(&mut *c)
                .await
                .map_err(db)?;
            Ok((version, rows))
        })?;
        // Read in place (no copy of each vector's bytes), hence no row type here.
        crate::rows::snapshot(kb_id, version, &rows, |r| {
            let id: Id = r.try_get("chunk_id").map_err(db)?;
            let bytes: &[u8] = r.try_get("vector").map_err(db)?;
            Ok((id.into_uuid(), bytes))
        })
    }

    async fn get_chunks(&self, org_id: Uuid, ids: &[Uuid]) -> Result<Vec<ChunkWithSource>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = sqlx::query_as::<_, ChunkWithSourceRow<Id>>(concat!(
            "SELECT ",
            sql::chunk_columns!(),
            ", d.name AS document_name FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE c.org_id = $1 AND c.id IN (SELECT value FROM json_each($2))"
        ))
        .bind(org_id.to_string())
        .bind(ids_json(ids))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(ChunkWithSourceRow::into_model)
            .collect())
    }
}
