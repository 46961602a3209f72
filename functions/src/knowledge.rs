//! Knowledge-base handlers under `/api/v1/knowledge-bases`.
//!
//! Uploads are `multipart/form-data` with a `file` part (its file name and `Content-Type`
//! are used) and optional `name` and `media_type` text parts that override them. The upload
//! route has its own body limit: the configured upload limit plus [`MULTIPART_OVERHEAD`]
//! for the form's framing; a bigger body gets 413 `payload_too_large`.

use autonoma_core::knowledge::{
    Document, KnowledgeBase, NewKnowledgeBase, SearchHit, SearchRequest, Upload,
};
use autonoma_core::model::Page;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::handlers::PageParams;
use crate::problem::{ApiError, ApiResult, Json, Path, Query};
use crate::ApiState;

/// Room for multipart boundaries, part headers and the small text parts, on top of the
/// file's own limit: 64 KiB.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// The knowledge-base routes; the upload route accepts bodies up to
/// `max_upload_bytes + MULTIPART_OVERHEAD`.
pub fn routes(max_upload_bytes: usize) -> OpenApiRouter<ApiState> {
    let upload = OpenApiRouter::new()
        .routes(routes!(list_documents, upload_document))
        .layer(DefaultBodyLimit::max(
            max_upload_bytes.saturating_add(MULTIPART_OVERHEAD),
        ));
    OpenApiRouter::new()
        .routes(routes!(list_knowledge_bases, create_knowledge_base))
        .routes(routes!(get_knowledge_base, delete_knowledge_base))
        .routes(routes!(get_document, delete_document))
        .routes(routes!(search_knowledge_base))
        .merge(upload)
}

/// Knowledge bases of the organization, newest first.
#[utoipa::path(get, path = "/api/v1/knowledge-bases", tag = "knowledge", params(PageParams), responses((status = 200, body = Page<KnowledgeBase>)))]
async fn list_knowledge_bases(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<Page<KnowledgeBase>>> {
    Ok(axum::Json(
        state
            .service
            .list_knowledge_bases(
                &caller.actor,
                p.cursor.map(|c| c.to_string()).as_deref(),
                p.limit,
            )
            .await?,
    ))
}

/// Create a knowledge base (member+).
#[utoipa::path(post, path = "/api/v1/knowledge-bases", tag = "knowledge", request_body = NewKnowledgeBase,
    responses((status = 201, body = KnowledgeBase), (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn create_knowledge_base(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewKnowledgeBase>,
) -> ApiResult<(StatusCode, axum::Json<KnowledgeBase>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(
            state
                .service
                .create_knowledge_base(&caller.actor, input)
                .await?,
        ),
    ))
}

/// One knowledge base.
#[utoipa::path(get, path = "/api/v1/knowledge-bases/{id}", tag = "knowledge", params(("id" = Uuid, Path)),
    responses((status = 200, body = KnowledgeBase), (status = 404, body = crate::problem::Problem)))]
async fn get_knowledge_base(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<KnowledgeBase>> {
    Ok(axum::Json(
        state.service.get_knowledge_base(&caller.actor, id).await?,
    ))
}

/// Delete a knowledge base with all its documents, chunks, vectors and files (member+).
#[utoipa::path(delete, path = "/api/v1/knowledge-bases/{id}", tag = "knowledge", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::problem::Problem)))]
async fn delete_knowledge_base(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state
        .service
        .delete_knowledge_base(&caller.actor, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The multipart form of an upload (for the OpenAPI document).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The document: text/plain, text/markdown, text/html or application/pdf (by the part's
    /// Content-Type, else the file name's extension).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Overrides the part's file name.
    name: Option<String>,
    /// Overrides the part's Content-Type.
    media_type: Option<String>,
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the upload exceeds the size limit",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("malformed multipart body: {}", e.body_text()),
        )
    }
}

/// Upload a document (member+): stored, text extracted and chunked now, embedded by the GPU
/// worker next (watch `status` and `chunks_embedded`). The same file (same SHA-256) already
/// in the base is returned with 200 instead of being stored twice. Bad files — empty,
/// binary declared as text, corrupt PDF, unsupported type — get 422 and nothing is stored.
#[utoipa::path(post, path = "/api/v1/knowledge-bases/{id}/documents", tag = "knowledge", params(("id" = Uuid, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Document, description = "stored; embedding queued"),
        (status = 200, body = Document, description = "the same file is already in this base"),
        (status = 404, body = crate::problem::Problem),
        (status = 413, body = crate::problem::Problem),
        (status = 415, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
async fn upload_document(
    State(state): State<ApiState>,
    caller: Caller,
    Path(kb_id): Path<Uuid>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "expected Content-Type: multipart/form-data ({})",
                e.body_text()
            ),
        )
    })?;
    let (mut file, mut name, mut media_type) = (None, None, None);
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "file" => {
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((file_name, content_type, bytes.to_vec()));
            }
            "name" => name = Some(field.text().await.map_err(multipart_error)?),
            "media_type" => media_type = Some(field.text().await.map_err(multipart_error)?),
            // Like an unknown JSON field: a misspelt part never looks like success.
            other => {
                let other: String = other
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect();
                return Err(autonoma_core::Error::validation(
                    other,
                    "unknown part; the form has `file`, `name` and `media_type`",
                )
                .into());
            }
        }
    }
    let Some((file_name, content_type, bytes)) = file else {
        return Err(autonoma_core::Error::validation("file", "the form has no `file` part").into());
    };
    for (field, text) in [
        ("name", name.as_deref().or(file_name.as_deref())),
        (
            "media_type",
            media_type.as_deref().or(content_type.as_deref()),
        ),
    ] {
        if text.is_some_and(|t| t.contains('\0')) {
            return Err(autonoma_core::Error::validation(
                field,
                "must not contain the NUL character (U+0000)",
            )
            .into());
        }
    }
    let upload = Upload {
        name: name.or(file_name).unwrap_or_default(),
        media_type: media_type.filter(|m| !m.trim().is_empty()).or(content_type),
        bytes,
    };
    let (doc, created) = state
        .service
        .upload_document(&caller.actor, kb_id, upload)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut res = (status, axum::Json(&doc)).into_response();
    let location = format!("/api/v1/knowledge-bases/{kb_id}/documents/{}", doc.id);
    res.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("ASCII"),
    );
    Ok(res)
}

/// Documents of a knowledge base, newest first, with their ingestion status.
#[utoipa::path(get, path = "/api/v1/knowledge-bases/{id}/documents", tag = "knowledge", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<Document>), (status = 404, body = crate::problem::Problem)))]
async fn list_documents(
    State(state): State<ApiState>,
    caller: Caller,
    Path(kb_id): Path<Uuid>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Document>>> {
    Ok(axum::Json(
        state
            .service
            .list_documents(
                &caller.actor,
                kb_id,
                p.cursor.map(|c| c.to_string()).as_deref(),
                p.limit,
            )
            .await?,
    ))
}

/// One document with its status and progress (`chunks_embedded` of `chunks_total`).
#[utoipa::path(get, path = "/api/v1/knowledge-bases/{id}/documents/{doc_id}", tag = "knowledge", params(("id" = Uuid, Path), ("doc_id" = Uuid, Path)),
    responses((status = 200, body = Document), (status = 404, body = crate::problem::Problem)))]
async fn get_document(
    State(state): State<ApiState>,
    caller: Caller,
    Path((kb_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Document>> {
    Ok(axum::Json(
        state.service.get_document(&caller.actor, kb_id, id).await?,
    ))
}

/// Delete a document with its chunks, vectors and file (member+).
#[utoipa::path(delete, path = "/api/v1/knowledge-bases/{id}/documents/{doc_id}", tag = "knowledge", params(("id" = Uuid, Path), ("doc_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::problem::Problem)))]
async fn delete_document(
    State(state): State<ApiState>,
    caller: Caller,
    Path((kb_id, id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    state
        .service
        .delete_document(&caller.actor, kb_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `k` passages of the base closest to `query` (cosine similarity of
/// all-MiniLM-L6-v2 embeddings), best first, each with its document, heading and offsets.
#[utoipa::path(post, path = "/api/v1/knowledge-bases/{id}/search", tag = "knowledge", params(("id" = Uuid, Path)), request_body = SearchRequest,
    responses((status = 200, body = Vec<SearchHit>), (status = 404, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn search_knowledge_base(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(req): Json<SearchRequest>,
) -> ApiResult<axum::Json<Vec<SearchHit>>> {
    Ok(axum::Json(
        state
            .service
            .search_knowledge_base(&caller.actor, id, req)
            .await?,
    ))
}
