//! Knowledge-base server functions: bases, documents (upload, list, delete) and search.

use autonoma_types::{Document, KnowledgeBase, Page, SearchHit};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::{MultipartData, MultipartFormData};

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// A knowledge base in the list, with how many documents it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeBaseSummary {
    /// The base.
    pub base: KnowledgeBase,
    /// Documents counted (at most one page of them).
    pub documents: u32,
    /// True when there are more documents than `documents`.
    pub more: bool,
}

/// One knowledge base with this server's upload limit (for the base's page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeBaseInfo {
    /// The base.
    pub base: KnowledgeBase,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
}

/// The outcome of one uploaded file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The new document, or the existing one with the same content.
    pub document: Document,
    /// False when the same file was already in the base (nothing new was stored).
    pub created: bool,
}

/// Most documents listed on a knowledge base's page (and counted in the list of bases).
pub const DOCUMENTS_PAGE: u32 = 100;

/// A page of the organization's knowledge bases, newest first, with their document counts.
#[server(prefix = "/sfn", endpoint = "knowledge/list")]
pub async fn list_knowledge_bases(
    #[doc = "Cursor from the previous page."] cursor: Option<String>,
) -> Result<Page<KnowledgeBaseSummary>, AppError> {
    let (svc, actor) = ssr::knowledge_actor().await?;
    let page = svc
        .list_knowledge_bases(
            &actor,
            cursor.as_deref().filter(|c| !c.is_empty()),
            Some(50),
        )
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for kb in &page.items {
        let docs = svc
            .list_documents(&actor, kb.id, None, Some(DOCUMENTS_PAGE))
            .await?;
        items.push(KnowledgeBaseSummary {
            base: kb.clone(),
            documents: docs.items.len() as u32,
            more: docs.next_cursor.is_some(),
        });
    }
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// The organization's knowledge bases for the agent editor (newest 100), or `None` when this
/// server has knowledge bases disabled.
#[server(prefix = "/sfn", endpoint = "knowledge/choices")]
pub async fn knowledge_base_choices() -> Result<Option<Vec<KnowledgeBase>>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    if svc.knowledge_engine().is_none() {
        return Ok(None);
    }
    let page = svc.list_knowledge_bases(&actor, None, Some(100)).await?;
    Ok(Some(page.items))
}

/// Creates a knowledge base, then opens it.
#[server(prefix = "/sfn", endpoint = "knowledge/create")]
pub async fn create_knowledge_base(
    #[doc = "Name, 1 to 100 characters."] name: String,
    #[doc = "Description, up to 2000 characters."] description: Option<String>,
) -> Result<KnowledgeBase, AppError> {
    use autonoma_types::NewKnowledgeBase;
    let (svc, actor) = ssr::knowledge_actor().await?;
    let description = description.unwrap_or_default().trim().to_string();
    let kb = svc
        .create_knowledge_base(&actor, NewKnowledgeBase { name, description })
        .await?;
    leptos_axum::redirect(&format!("/knowledge/{}", kb.id));
    Ok(kb)
}

/// One knowledge base, with this server's upload limit. An id that is not a UUID is
/// reported like a missing base (`not_found`).
#[server(prefix = "/sfn", endpoint = "knowledge/get")]
pub async fn get_knowledge_base(
    #[doc = "Knowledge base id."] id: String,
) -> Result<KnowledgeBaseInfo, AppError> {
    let (svc, actor) = ssr::knowledge_actor().await?;
    let id = ssr::uuid("id", &id)
        .map_err(|_| AppError::new("not_found", "Knowledge base not found."))?;
    let base = svc.get_knowledge_base(&actor, id).await?;
    Ok(KnowledgeBaseInfo {
        base,
        max_upload_bytes: ssr::max_upload_bytes(&svc) as u64,
    })
}

/// Deletes a knowledge base with all its documents and goes back to the list.
#[server(prefix = "/sfn", endpoint = "knowledge/delete")]
pub async fn delete_knowledge_base(
    #[doc = "Knowledge base id."] id: String,
) -> Result<(), AppError> {
    let (svc, actor) = ssr::knowledge_actor().await?;
    svc.delete_knowledge_base(&actor, ssr::uuid("id", &id)?)
        .await?;
    leptos_axum::redirect("/knowledge");
    Ok(())
}

/// The newest [`DOCUMENTS_PAGE`] documents of a base with their ingestion progress.
#[server(prefix = "/sfn", endpoint = "knowledge/documents")]
pub async fn list_documents(
    #[doc = "Knowledge base id."] kb_id: String,
) -> Result<Page<Document>, AppError> {
    let (svc, actor) = ssr::knowledge_actor().await?;
    Ok(svc
        .list_documents(
            &actor,
            ssr::uuid("kb_id", &kb_id)?,
            None,
            Some(DOCUMENTS_PAGE),
        )
        .await?)
}

/// Deletes one document (its chunks and vectors go with it).
#[server(prefix = "/sfn", endpoint = "knowledge/documents/delete")]
pub async fn delete_document(
    #[doc = "Knowledge base id."] kb_id: String,
    #[doc = "Document id."] id: String,
) -> Result<(), AppError> {
    let (svc, actor) = ssr::knowledge_actor().await?;
    svc.delete_document(&actor, ssr::uuid("kb_id", &kb_id)?, ssr::uuid("id", &id)?)
        .await?;
    Ok(())
}

/// Uploads files into a knowledge base: a `multipart/form-data` post with a `kb_id` field
/// followed by one or more `file` fields (the upload form works without JavaScript; the
/// hydrated page sends one file per call to report on each).
///
/// Every file is validated, chunked and queued for embedding by the core service. A file
/// the server refuses (empty, binary posing as text, corrupt PDF, unsupported type, over the
/// size limit) does not stop the others; the call then fails with one readable line per
/// refused file (`validation_failed`, or `payload_too_large` when size was the only
/// problem). A file already in the base is not stored again: the answer has
/// `created: false`, and a plain form post reports it as "already uploaded".
#[server(prefix = "/sfn", endpoint = "knowledge/upload", input = MultipartFormData)]
pub async fn upload_documents(
    #[doc = "The multipart form: `kb_id`, then `file` parts."] data: MultipartData,
) -> Result<Vec<Uploaded>, AppError> {
    use crate::components::format::human_size;
    use autonoma_core::knowledge::Upload;
    let (svc, actor) = ssr::knowledge_actor().await?;
    let max = ssr::max_upload_bytes(&svc);
    // What one request may carry in all (files over the limit are read to the end so that
    // the browser gets the answer, up to this much).
    let cap = max.saturating_mul(4).saturating_add(1 << 20);
    let plain = ssr::is_plain_form_post();
    let mut form = data
        .into_inner()
        .ok_or_else(|| AppError::new("request", "Expected a multipart form."))?;
    let read_error = |e: &dyn std::fmt::Display| {
        AppError::new(
            "request",
            format!("The upload was interrupted or malformed ({e}). Please try again."),
        )
    };
    let too_much = || {
        AppError::new(
            "payload_too_large",
            format!(
                "The upload is too large: at most {} per request, {} per file.",
                human_size(cap as u64),
                human_size(max as u64)
            ),
        )
    };

    let mut kb_id = None;
    let mut total = 0usize;
    let mut outcomes: Vec<(String, Result<Uploaded, AppError>)> = Vec::new();
    while let Some(mut field) = form.next_field().await.map_err(|e| read_error(&e))? {
        match field.name().unwrap_or_default() {
            "kb_id" => {
                let text = field.text().await.map_err(|e| read_error(&e))?;
                kb_id = Some(ssr::uuid("kb_id", &text)?);
            }
            "file" => {
                let name = field.file_name().unwrap_or_default().to_string();
                let media_type = field.content_type().map(|m| m.to_string());
                let kb = kb_id.ok_or_else(|| {
                    AppError::field("kb_id", "must come before the files in the form")
                })?;
                let mut bytes = Vec::new();
                let mut size = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(|e| read_error(&e))? {
                    size += chunk.len();
                    total += chunk.len();
                    if total > cap {
                        return Err(too_much());
                    }
                    if size <= max {
                        bytes.extend_from_slice(&chunk);
                    }
                }
                if name.is_empty() && size == 0 {
                    // A file input left empty still sends an unnamed, empty part.
                    continue;
                }
                let outcome = if size > max {
                    Err(AppError::new(
                        "payload_too_large",
                        format!(
                            "{} is too large: {} — the limit is {} per file",
                            if name.is_empty() { "The file" } else { &name },
                            human_size(size as u64),
                            human_size(max as u64)
                        ),
                    ))
                } else {
                    match svc
                        .upload_document(
                            &actor,
                            kb,
                            Upload {
                                name: name.clone(),
                                media_type,
                                bytes,
                            },
                        )
                        .await
                    {
                        Ok((document, created)) => Ok(Uploaded { document, created }),
                        Err(e) => Err(ssr::upload_error(&name, e)?),
                    }
                };
                outcomes.push((name, outcome));
            }
            _ => {}
        }
    }
    if outcomes.is_empty() {
        return Err(AppError::field(
            "file",
            "choose at least one file to upload",
        ));
    }

    // One line per refused file (and, for a plain form post, per file already there).
    let mut problems: Vec<(&str, String)> = Vec::new();
    for (name, outcome) in &outcomes {
        match outcome {
            Err(e) => problems.push((
                if e.code == "payload_too_large" {
                    "payload_too_large"
                } else {
                    "validation_failed"
                },
                e.message.clone(),
            )),
            Ok(u) if !u.created && plain => problems.push((
                "conflict",
                format!(
                    "{name}: already uploaded (same content as “{}”)",
                    u.document.name
                ),
            )),
            Ok(_) => {}
        }
    }
    if let Some((first, _)) = problems.first() {
        let code = if problems.iter().all(|(c, _)| c == first) {
            *first
        } else {
            "validation_failed"
        };
        let lines: Vec<String> = problems.iter().map(|(_, m)| m.clone()).collect();
        let stored = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Ok(u) if u.created))
            .count();
        let message = if stored > 0 {
            format!(
                "Uploaded {stored} of {} files. {}",
                outcomes.len(),
                lines.join(" · ")
            )
        } else {
            lines.join(" · ")
        };
        return Err(AppError::new(code, message));
    }
    Ok(outcomes.into_iter().filter_map(|(_, o)| o.ok()).collect())
}

/// The `k` passages of a base closest to `query`, best first.
#[server(prefix = "/sfn", endpoint = "knowledge/search")]
pub async fn search_knowledge_base(
    #[doc = "Knowledge base id."] kb_id: String,
    #[doc = "What to look for."] query: String,
    #[doc = "Number of results, 1 to 50 (default 5)."] k: Option<String>,
) -> Result<Vec<SearchHit>, AppError> {
    use autonoma_types::SearchRequest;
    let (svc, actor) = ssr::knowledge_actor().await?;
    let k = match k.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<u32>()
                .map_err(|_| AppError::field("k", "must be a whole number"))?,
        ),
    };
    Ok(svc
        .search_knowledge_base(
            &actor,
            ssr::uuid("kb_id", &kb_id)?,
            SearchRequest { query, k },
        )
        .await?)
}
