//! Knowledge-base records: bases, documents and their ingestion state, chunks, search
//! requests and hits (with citations).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A collection of documents searched together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KnowledgeBase {
    /// UUIDv7.
    pub id: Uuid,
    /// The owning organization.
    pub org_id: Uuid,
    /// 1..=100 characters.
    pub name: String,
    /// Up to 2000 characters.
    pub description: String,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
}

/// Input for a new knowledge base.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewKnowledgeBase {
    /// 1..=100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: String,
    /// Up to 2000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
}

/// Where a document is in the ingestion pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// Stored and chunked; embedding jobs wait on the GPU queue.
    Queued,
    /// Text extraction in progress. `autonoma serve` extracts while handling the upload (so a
    /// bad file is refused before anything is written) and never shows this state; it is
    /// reserved for extraction as a job.
    Extracting,
    /// The GPU worker is embedding chunks; see `chunks_embedded`.
    Embedding,
    /// Every chunk has a vector: the document is searchable.
    Ready,
    /// Embedding gave up; `error` says why. Uploading the same file again replaces it.
    Failed,
}

impl DocumentStatus {
    /// Snake-case name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Extracting => "extracting",
            Self::Embedding => "embedding",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
    /// Parses [`DocumentStatus::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "extracting" => Self::Extracting,
            "embedding" => Self::Embedding,
            "ready" => Self::Ready,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// An uploaded document and its ingestion progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Document {
    /// UUIDv7.
    pub id: Uuid,
    /// The base it belongs to.
    pub kb_id: Uuid,
    /// The owning organization.
    pub org_id: Uuid,
    /// File name as uploaded (without any directory part), 1..=255 characters.
    pub name: String,
    /// One of `text/plain`, `text/markdown`, `text/html`, `application/pdf`.
    pub media_type: String,
    /// Size of the uploaded file in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the file, lowercase hex (uploads are deduplicated on it within a base).
    pub sha256: String,
    /// Where it is in the pipeline.
    pub status: DocumentStatus,
    /// Number of chunks the text was split into.
    pub chunks_total: i64,
    /// Chunks that have a vector so far (equals `chunks_total` when `ready`).
    pub chunks_embedded: i64,
    /// Why the document `failed`.
    pub error: Option<String>,
    /// When it was uploaded (UTC).
    pub created_at: DateTime<Utc>,
}

/// A passage of a document: the unit that is embedded, searched and cited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Chunk {
    /// UUIDv7.
    pub id: Uuid,
    /// The document it was cut from.
    pub document_id: Uuid,
    /// 0-based position in the document.
    pub ordinal: i64,
    /// The exact slice of the extracted text.
    pub text: String,
    /// Nearest heading path, e.g. `Guide > Install`; `page N` for PDFs; empty before the first heading.
    pub heading: String,
    /// 1-based page number (PDF only).
    pub page: Option<i64>,
    /// Offset of the first character in the document's extracted text (Unicode scalar values).
    pub start_char: i64,
    /// Offset one past the last character (Unicode scalar values).
    pub end_char: i64,
    /// Word pieces the embedding model reads for this chunk, special tokens included.
    pub token_count: i64,
}

/// A search request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Natural-language query, 1..=2000 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 2000, pattern = r"\S")
    )]
    pub query: String,
    /// Number of results, 1..=50 (default 5).
    #[serde(default, deserialize_with = "crate::de::opt_integer")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50))]
    pub k: Option<u32>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// The matching chunk.
    pub chunk_id: Uuid,
    /// Its base.
    pub kb_id: Uuid,
    /// Its document.
    pub document_id: Uuid,
    /// The document's file name.
    pub document_name: String,
    /// The chunk's 0-based position in its document.
    pub ordinal: i64,
    /// Nearest heading path (`page N` for PDFs; may be empty).
    pub heading: String,
    /// 1-based page (PDF only).
    pub page: Option<i64>,
    /// Offset of the chunk's first character in the extracted text (Unicode scalar values).
    pub start_char: i64,
    /// Offset one past its last character (Unicode scalar values).
    pub end_char: i64,
    /// The chunk's text.
    pub text: String,
    /// Cosine similarity of query and chunk, in [-1, 1] (higher is closer).
    pub score: f32,
    /// How to cite it: `<document name> § <heading> (chunk <ordinal>)`.
    pub citation: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_states_round_trip() {
        for s in [
            DocumentStatus::Queued,
            DocumentStatus::Extracting,
            DocumentStatus::Embedding,
            DocumentStatus::Ready,
            DocumentStatus::Failed,
        ] {
            assert_eq!(DocumentStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
