//! Knowledge bases: the list (`/knowledge`) and one base (`/knowledge/:id`) with its upload
//! zone, documents and their ingestion progress, and search.
//!
//! Everything works without JavaScript: the create, delete and upload forms are plain form
//! posts, and search is a `GET` form (`?q=…&k=…`). Once hydrated, files can be dropped on
//! the upload zone (each is uploaded on its own, with its own outcome), and the document
//! list refreshes every second until every document is ready or failed.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};

use autonoma_types::{Document, KnowledgeBase, Page, SearchHit};

use crate::api::knowledge::{
    get_knowledge_base, list_documents, list_knowledge_bases, search_knowledge_base,
    CreateKnowledgeBase, DeleteDocument, DeleteKnowledgeBase, KnowledgeBaseInfo,
    KnowledgeBaseSummary, UploadDocuments, DOCUMENTS_PAGE,
};
use crate::components::feedback::{ErrorBox, Loading, NotFound};
use crate::components::form::{field_error, FieldHint};
use crate::components::format::{human_size, passage, short_time};
use crate::components::header::PageHeader;
use crate::error::AppError;

/// File types the upload accepts (the `accept` attribute of the file input).
pub const ACCEPTED_FILES: &str =
    ".txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf";

/// `/knowledge`: the organization's knowledge bases and a form to create one.
#[component]
pub fn KnowledgeListPage() -> impl IntoView {
    let query = use_query_map();
    let cursor = move || query.read().get("cursor").filter(|c| !c.is_empty());
    let bases = Resource::new(cursor, list_knowledge_bases);
    view! {
        <Title text="Knowledge"/>
        <PageHeader title="Knowledge bases" subtitle="Documents your agents search and cite.">
            <a class="btn btn-primary" href="#new-knowledge-base">
                "New knowledge base"
            </a>
        </PageHeader>
        <Suspense fallback=|| view! { <Loading what="knowledge bases"/> }>
            {move || Suspend::new(async move {
                match bases.await {
                    Err(e) if e.code == "unavailable" => {
                        view! {
                            <div class="alert alert-info">
                                {e.message} " Ask your administrator to configure them (they need the embedding model on the server)."
                            </div>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() && cursor().is_none() => view! { <KnowledgeEmptyState/> <CreateForm/> }.into_any(),
                    Ok(page) => view! { <KnowledgeBaseGrid page has_cursor=cursor().is_some()/> <CreateForm/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The form that creates a knowledge base (then opens it).
#[component]
fn CreateForm() -> impl IntoView {
    let create = ServerAction::<CreateKnowledgeBase>::new();
    let pending = create.pending();
    let err = move |field: &'static str| move || field_error(create.value().get(), field);
    view! {
        <div class="card form-card" id="new-knowledge-base">
            <h2>"New knowledge base"</h2>
            {move || {
                create
                    .value()
                    .get()
                    .and_then(|r| r.err())
                    .filter(|e| e.field.is_none())
                    .map(|e| {
                        view! {
                            <div class="alert alert-error" role="alert">
                                <strong>"Could not create it. "</strong>
                                {e.headline()}
                            </div>
                        }
                    })
            }}
            <ActionForm action=create>
                <div class="field-row">
                    <div class="field">
                        <label for="kb-name">"Name"</label>
                        <input id="kb-name" type="text" name="name" required maxlength="100" placeholder="Product handbook"/>
                        <FieldHint err=err("name")/>
                    </div>
                    <div class="field grow">
                        <label for="kb-description">"Description" <span class="optional">"optional"</span></label>
                        <input id="kb-description" type="text" name="description" maxlength="2000" placeholder="Policies, setup guides and FAQs"/>
                        <FieldHint err=err("description")/>
                    </div>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || pending.get()>
                        {move || if pending.get() { "Creating…" } else { "Create knowledge base" }}
                    </button>
                </div>
            </ActionForm>
        </div>
    }
}

/// What a knowledge base is, for an organization that has none.
#[component]
fn KnowledgeEmptyState() -> impl IntoView {
    view! {
        <div class="empty-state card">
            <svg class="empty-svg" viewBox="0 0 24 24" width="36" height="36" aria-hidden="true">
                <path
                    d="M5 4.5A1.5 1.5 0 0 1 6.5 3H18v15H6.5A1.5 1.5 0 0 0 5 19.5zM5 19.5A1.5 1.5 0 0 0 6.5 21H18v-3M9 7h5M9 10h5"
                    fill="none"
                    stroke="currentColor"
                    stroke-width="1.6"
                    stroke-linecap="round"
                    stroke-linejoin="round"
                ></path>
            </svg>
            <h2>"No knowledge bases yet"</h2>
            <p class="muted">
                "A knowledge base is a collection of your documents — handbooks, policies, notes. Upload text, Markdown, HTML or PDF files: they are split into passages and indexed, so you can search them here, and agents you attach the base to can look things up and cite their sources."
            </p>
            <a class="btn btn-primary" href="#new-knowledge-base">
                "Create a knowledge base"
            </a>
        </div>
    }
}

/// The bases as cards, with paging links.
#[component]
fn KnowledgeBaseGrid(page: Page<KnowledgeBaseSummary>, has_cursor: bool) -> impl IntoView {
    let next = page.next_cursor.clone();
    view! {
        <div class="card-grid kb-grid">
            {page
                .items
                .into_iter()
                .map(|s| {
                    let href = format!("/knowledge/{}", s.base.id);
                    let description = if s.base.description.trim().is_empty() { "No description.".to_string() } else { s.base.description.clone() };
                    let count = match (s.documents, s.more) {
                        (n, true) => format!("{n}+ documents"),
                        (1, false) => "1 document".to_string(),
                        (n, false) => format!("{n} documents"),
                    };
                    view! {
                        <article class="card kb-card">
                            <div class="agent-card-head">
                                <a class="agent-name" href=href.clone()>
                                    {s.base.name.clone()}
                                </a>
                                <span class="badge">{count}</span>
                            </div>
                            <p class="muted agent-desc">{description}</p>
                            <div class="agent-card-foot">
                                <span class="muted small">{format!("Created {}", short_time(s.base.created_at))}</span>
                                <a class="btn btn-secondary btn-small" href=href>
                                    "Open"
                                </a>
                            </div>
                        </article>
                    }
                })
                .collect_view()}
        </div>
        <div class="pager">
            {has_cursor.then(|| view! { <a class="btn btn-secondary btn-small" href="/knowledge">"First page"</a> })}
            {next.map(|c| view! { <a class="btn btn-secondary btn-small" href=format!("/knowledge?cursor={c}")>"Next page"</a> })}
        </div>
    }
}

/// `/knowledge/:id`: one base. Another organization's base (or a missing one) shows the
/// not-found page with status 404.
#[component]
pub fn KnowledgeBasePage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let kb = Resource::new(move || id.get(), get_knowledge_base);
    view! {
        <Suspense fallback=|| view! { <Loading what="the knowledge base"/> }>
            {move || Suspend::new(async move {
                match kb.await {
                    Err(e) if e.code == "not_found" => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    Ok(kb) => view! { <KnowledgeBaseView kb/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The page of one base: header, upload zone, documents, search.
#[component]
fn KnowledgeBaseView(kb: KnowledgeBaseInfo) -> impl IntoView {
    let KnowledgeBaseInfo {
        base: kb,
        max_upload_bytes,
    } = kb;
    let kb_id = kb.id.to_string();
    let docs_version = RwSignal::new(0u32);
    let delete_doc = ServerAction::<DeleteDocument>::new();
    let docs = Resource::new(
        {
            let kb_id = kb_id.clone();
            move || {
                (
                    kb_id.clone(),
                    docs_version.get(),
                    delete_doc.version().get(),
                )
            }
        },
        |(kb_id, _, _)| list_documents(kb_id),
    );

    // Refresh every second while a document is still being processed (browser only).
    #[cfg(feature = "hydrate")]
    {
        let scheduled = StoredValue::new(false);
        Effect::new(move |_| {
            let busy = docs
                .get()
                .and_then(|r| r.ok())
                .is_some_and(|page| page.items.iter().any(|d| !is_settled(d)));
            if busy && !scheduled.get_value() {
                scheduled.set_value(true);
                set_timeout(
                    move || {
                        scheduled.try_set_value(false);
                        docs_version.try_update(|v| *v += 1);
                    },
                    std::time::Duration::from_millis(1000),
                );
            }
        });
    }

    let on_uploaded = Callback::new(move |_: ()| docs_version.update(|v| *v += 1));
    let subtitle = if kb.description.trim().is_empty() {
        format!("Created {}", short_time(kb.created_at))
    } else {
        kb.description.clone()
    };
    let name = kb.name.clone();
    view! {
        <Title text=name.clone()/>
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/knowledge">"Knowledge bases"</a>
            <span aria-hidden="true">" / "</span>
        </nav>
        <PageHeader title=name subtitle=subtitle>
            <DeleteBase kb=kb.clone()/>
        </PageHeader>
        <div class="kb-layout">
            <div class="kb-main">
                <UploadZone kb_id=kb_id.clone() max_upload_bytes on_uploaded/>
                <section class="card" aria-labelledby="documents-heading">
                    <h2 id="documents-heading">"Documents"</h2>
                    {move || delete_doc.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
                    <Transition fallback=|| view! { <Loading what="documents"/> }>
                        {move || Suspend::new(async move {
                            match docs.await {
                                Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                                Ok(page) if page.items.is_empty() => {
                                    view! {
                                        <div class="empty-small">
                                            <p>"No documents yet."</p>
                                            <p class="muted small">"Upload a file above; it becomes searchable once its status is ready."</p>
                                        </div>
                                    }
                                        .into_any()
                                }
                                Ok(page) => view! { <DocumentTable page delete=delete_doc/> }.into_any(),
                            }
                        })}
                    </Transition>
                </section>
            </div>
            <SearchPanel kb_id=kb_id.clone() docs/>
        </div>
    }
}

/// "Delete" with a confirmation step that needs no JavaScript (a disclosure).
#[component]
fn DeleteBase(kb: KnowledgeBase) -> impl IntoView {
    let delete = ServerAction::<DeleteKnowledgeBase>::new();
    view! {
        <details class="confirm">
            <summary class="btn btn-danger">"Delete"</summary>
            <div class="confirm-pop card" role="group" aria-label="Confirm deletion">
                <p>
                    <strong>{format!("Delete “{}”?", kb.name)}</strong>
                </p>
                <p class="muted small">
                    "Its documents, passages and embeddings are removed. Agents that use it stop finding its passages. This cannot be undone."
                </p>
                {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=kb.id.to_string()/>
                    <button type="submit" class="btn btn-danger btn-block" disabled=move || delete.pending().get()>
                        {move || if delete.pending().get() { "Deleting…" } else { "Delete knowledge base" }}
                    </button>
                </ActionForm>
            </div>
        </details>
    }
}

/// Where one upload of the hydrated page stands.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadState {
    /// Waiting for the files before it.
    Waiting,
    /// Being sent and processed.
    Uploading,
    /// Stored; embedding follows (see the document list).
    Stored,
    /// The same content was already in the base, as the named document.
    Duplicate(String),
    /// Refused, with the server's reason.
    Failed(String),
}

/// One file of the hydrated upload zone.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRow {
    /// Position in this page's uploads.
    pub key: usize,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Where it stands.
    pub state: UploadState,
}

/// The upload form: a plain multipart form post without JavaScript; once hydrated, files
/// chosen or dropped are uploaded one by one, each with its own outcome.
#[component]
fn UploadZone(kb_id: String, max_upload_bytes: u64, on_uploaded: Callback<()>) -> impl IntoView {
    let rows = RwSignal::new(Vec::<UploadRow>::new());
    let drag_depth = RwSignal::new(0i32);
    let query = use_query_map();
    // A plain form post that failed comes back with the error in the URL.
    let no_js_error = move || {
        query.with(|q| {
            (q.get_str("__path") == Some(UploadDocuments::PATH))
                .then(|| {
                    q.get_str("__err")
                        .map(server_fn::error::ServerFnUrlError::<AppError>::decode_err)
                })
                .flatten()
        })
    };
    let limit = if max_upload_bytes > 0 {
        format!(" · up to {} each", human_size(max_upload_bytes))
    } else {
        String::new()
    };

    let dragging = move || drag_depth.get() > 0;
    let drag_enter = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        drag_depth.update(|d| *d += 1);
    };
    let drag_over = move |ev: leptos::ev::DragEvent| ev.prevent_default();
    let drag_leave = move |_: leptos::ev::DragEvent| drag_depth.update(|d| *d = (*d - 1).max(0));
    let drop_files = {
        let kb_id = kb_id.clone();
        move |ev: leptos::ev::DragEvent| {
            ev.prevent_default();
            drag_depth.set(0);
            #[cfg(feature = "hydrate")]
            {
                let files = ev
                    .data_transfer()
                    .and_then(|dt| dt.files())
                    .map(file_list)
                    .unwrap_or_default();
                start_uploads(files, kb_id.clone(), rows, on_uploaded);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&kb_id, on_uploaded);
        }
    };
    let picked = {
        let kb_id = kb_id.clone();
        move |ev: leptos::ev::Event| {
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast;
                if let Some(input) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                {
                    let files = input.files().map(file_list).unwrap_or_default();
                    input.set_value("");
                    start_uploads(files, kb_id.clone(), rows, on_uploaded);
                }
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&ev, &kb_id);
        }
    };

    view! {
        <section class="card upload-card" aria-labelledby="upload-heading">
            <h2 id="upload-heading">"Add documents"</h2>
            {move || {
                no_js_error()
                    .map(|e| {
                        view! {
                            <div class="alert alert-error" role="alert">
                                <strong>"Upload refused. "</strong>
                                {e.headline()}
                            </div>
                        }
                    })
            }}
            <form
                class="upload-zone"
                class:dragover=dragging
                method="post"
                enctype="multipart/form-data"
                action=UploadDocuments::PATH
                on:dragenter=drag_enter
                on:dragover=drag_over
                on:dragleave=drag_leave
                on:drop=drop_files
            >
                <input type="hidden" name="kb_id" value=kb_id.clone()/>
                <svg class="upload-icon" viewBox="0 0 24 24" width="32" height="32" aria-hidden="true">
                    <path
                        d="M12 15V4m0 0L7.5 8.5M12 4l4.5 4.5M4 15v3.5A1.5 1.5 0 0 0 5.5 20h13a1.5 1.5 0 0 0 1.5-1.5V15"
                        fill="none"
                        stroke="currentColor"
                        stroke-width="1.7"
                        stroke-linecap="round"
                        stroke-linejoin="round"
                    ></path>
                </svg>
                <p class="upload-title">
                    <label for="upload-files" class="no-js-only">
                        "Choose the files to add"
                    </label>
                    <span class="js-only">
                        "Drop files here or " <label for="upload-files" class="upload-pick">"choose files"</label>
                    </span>
                </p>
                <p class="hint">{format!("Text, Markdown, HTML or PDF{limit}")}</p>
                <input id="upload-files" class="upload-input" type="file" name="file" multiple required accept=ACCEPTED_FILES on:change=picked/>
                <button type="submit" class="btn btn-primary no-js-only">
                    "Upload"
                </button>
            </form>
            <ul class="upload-list" aria-live="polite">
                {move || rows.get().into_iter().map(|row| view! { <UploadRowView row/> }).collect_view()}
            </ul>
        </section>
    }
}

/// One line of the upload list.
#[component]
fn UploadRowView(row: UploadRow) -> impl IntoView {
    let (class, label) = match &row.state {
        UploadState::Waiting => ("waiting", "waiting"),
        UploadState::Uploading => ("uploading", "uploading…"),
        UploadState::Stored => ("stored", "uploaded"),
        UploadState::Duplicate(_) => ("duplicate", "already uploaded"),
        UploadState::Failed(_) => ("failed", "refused"),
    };
    let detail = match &row.state {
        UploadState::Stored => {
            Some("Stored; searchable once it is ready (see Documents).".to_string())
        }
        UploadState::Duplicate(existing) => Some(format!(
            "The same content is already in this base as “{existing}”."
        )),
        UploadState::Failed(message) => Some(strip_name(message, &row.name).to_string()),
        _ => None,
    };
    view! {
        <li class=format!("upload-row upload-{class}")>
            <span class="upload-name">{row.name.clone()}</span>
            <span class="muted small">{human_size(row.size)}</span>
            <span class=format!("badge upload-badge-{class}")>
                {(class == "uploading").then(|| view! { <span class="spinner spinner-small" aria-hidden="true"></span> })}
                {label}
            </span>
            {detail.map(|d| view! { <span class="upload-detail">{d}</span> })}
        </li>
    }
}

/// The server's message without the leading file name (the row already shows it).
fn strip_name<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .strip_prefix(name)
        .map(|m| m.trim_start_matches(':').trim_start())
        .filter(|m| !m.is_empty())
        .unwrap_or(message)
}

/// The files of a `FileList`.
#[cfg(feature = "hydrate")]
fn file_list(list: web_sys::FileList) -> Vec<web_sys::File> {
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Adds the files to the list and uploads them one after the other.
#[cfg(feature = "hydrate")]
fn start_uploads(
    files: Vec<web_sys::File>,
    kb_id: String,
    rows: RwSignal<Vec<UploadRow>>,
    on_uploaded: Callback<()>,
) {
    if files.is_empty() {
        return;
    }
    let first = rows.with_untracked(|r| r.iter().map(|x| x.key + 1).max().unwrap_or(0));
    let files: Vec<(usize, web_sys::File)> = files
        .into_iter()
        .enumerate()
        .map(|(i, f)| (first + i, f))
        .collect();
    rows.update(|r| {
        for (key, f) in &files {
            r.push(UploadRow {
                key: *key,
                name: f.name(),
                size: f.size() as u64,
                state: UploadState::Waiting,
            });
        }
    });
    let set = move |key: usize, state: UploadState| {
        rows.try_update(|r| {
            if let Some(row) = r.iter_mut().find(|x| x.key == key) {
                row.state = state;
            }
        });
    };
    leptos::task::spawn_local(async move {
        for (key, file) in files {
            set(key, UploadState::Uploading);
            let state = match upload_one(&kb_id, &file).await {
                Ok(done) => match done.into_iter().next() {
                    Some(u) if !u.created => UploadState::Duplicate(u.document.name),
                    _ => UploadState::Stored,
                },
                Err(e) => UploadState::Failed(e.message),
            };
            set(key, state);
            on_uploaded.run(());
        }
    });
}

/// Sends one file to [`crate::api::knowledge::upload_documents`].
#[cfg(feature = "hydrate")]
async fn upload_one(
    kb_id: &str,
    file: &web_sys::File,
) -> Result<Vec<crate::api::knowledge::Uploaded>, AppError> {
    let failed = |_| AppError::new("request", "The browser could not prepare the upload.");
    let form = web_sys::FormData::new().map_err(failed)?;
    form.append_with_str("kb_id", kb_id).map_err(failed)?;
    form.append_with_blob_and_filename("file", file, &file.name())
        .map_err(failed)?;
    crate::api::knowledge::upload_documents(form.into()).await
}

/// The documents with their status, progress and a delete button.
#[component]
fn DocumentTable(page: Page<Document>, delete: ServerAction<DeleteDocument>) -> impl IntoView {
    let more = page.next_cursor.is_some();
    view! {
        <div class="table-scroll">
        <table class="table doc-table">
            <thead>
                <tr>
                    <th>"Document"</th>
                    <th>"Status"</th>
                    <th>
                        <span class="sr-only">"Actions"</span>
                    </th>
                </tr>
            </thead>
            <tbody>
                {page
                    .items
                    .into_iter()
                    .map(|d| {
                        let kind = media_label(&d.media_type);
                        view! {
                            <tr>
                                <td>
                                    <div class="doc-name">{d.name.clone()}</div>
                                    <div class="muted small">
                                        {format!("{kind} · {}", human_size(d.size_bytes.max(0) as u64))}
                                        {match d.chunks_total {
                                            0 => String::new(),
                                            1 => " · 1 chunk".to_string(),
                                            n => format!(" · {n} chunks"),
                                        }}
                                    </div>
                                    <div class="muted small">{format!("Uploaded {}", short_time(d.created_at))}</div>
                                </td>
                                <td class="doc-status">
                                    <DocumentStatus doc=d.clone()/>
                                </td>
                                <td class="right">
                                    <ActionForm action=delete>
                                        <input type="hidden" name="kb_id" value=d.kb_id.to_string()/>
                                        <input type="hidden" name="id" value=d.id.to_string()/>
                                        <button type="submit" class="btn btn-danger btn-small" aria-label=format!("Delete {}", d.name)>
                                            "Delete"
                                        </button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        </div>
        {more.then(|| view! { <p class="muted small">{format!("Showing the newest {DOCUMENTS_PAGE} documents.")}</p> })}
    }
}

/// A status badge; a progress bar while embedding; the reason of a failure.
#[component]
fn DocumentStatus(doc: Document) -> impl IntoView {
    let status = doc.status.as_str();
    let in_progress = matches!(status, "queued" | "extracting" | "embedding");
    let total = doc.chunks_total.max(0);
    let done = doc.chunks_embedded.clamp(0, total);
    let percent = if total > 0 { done * 100 / total } else { 0 };
    view! {
        <span class=format!("status status-{status}")>{status}</span>
        {in_progress
            .then(|| {
                view! {
                    <div class="progress-row">
                        <div
                            class="progress"
                            role="progressbar"
                            aria-label=format!("Embedding {}", doc.name)
                            aria-valuemin="0"
                            aria-valuemax=total.to_string()
                            aria-valuenow=done.to_string()
                            aria-valuetext=format!("{done} of {total} chunks embedded")
                        >
                            <div class="progress-fill" style=format!("width: {percent}%")></div>
                        </div>
                        <span class="muted small progress-text">{format!("{done} / {total} chunks")}</span>
                    </div>
                }
            })}
        {(status == "failed").then(|| view! { <div class="doc-error">{doc.error.clone().unwrap_or_else(|| "No reason was recorded.".into())}</div> })}
    }
}

/// Ready or failed: nothing more will happen to the document.
#[cfg(feature = "hydrate")]
fn is_settled(doc: &Document) -> bool {
    use autonoma_types::DocumentStatus as S;
    matches!(doc.status, S::Ready | S::Failed)
}

/// "Markdown", "PDF", … for a media type.
fn media_label(media_type: &str) -> &'static str {
    match media_type {
        "text/plain" => "Text",
        "text/markdown" => "Markdown",
        "text/html" => "HTML",
        "application/pdf" => "PDF",
        _ => "File",
    }
}

/// The search form (`GET ?q=&k=`) and its results.
#[component]
fn SearchPanel(kb_id: String, docs: Resource<Result<Page<Document>, AppError>>) -> impl IntoView {
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let k = Memo::new(move |_| {
        query
            .read()
            .get("k")
            .filter(|k| !k.trim().is_empty())
            .unwrap_or_else(|| "5".into())
    });
    let results = Resource::new(
        {
            let kb_id = kb_id.clone();
            move || (kb_id.clone(), q.get(), k.get())
        },
        |(kb_id, q, k)| async move {
            if q.trim().is_empty() {
                Ok(None)
            } else {
                search_knowledge_base(kb_id, q.clone(), Some(k))
                    .await
                    .map(|hits| Some((q, hits)))
            }
        },
    );
    let action = format!("/knowledge/{kb_id}");
    view! {
        <section class="card search-card" aria-labelledby="search-heading">
            <h2 id="search-heading">"Search"</h2>
            <Form method="get" action=action noscroll=true>
                <div class="search-row">
                    <label class="sr-only" for="search-q">
                        "Query"
                    </label>
                    <input id="search-q" type="search" name="q" required maxlength="2000" placeholder="Ask your documents…" value=move || q.get()/>
                    <label class="sr-only" for="search-k">
                        "Number of results"
                    </label>
                    <select id="search-k" name="k" title="Number of results">
                        {[3, 5, 10, 20]
                            .into_iter()
                            .map(|n| {
                                let v = n.to_string();
                                let selected = move || k.get() == n.to_string();
                                view! {
                                    <option value=v.clone() selected=selected>
                                        {format!("top {n}")}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <button type="submit" class="btn btn-primary">
                        "Search"
                    </button>
                </div>
            </Form>
            <Transition fallback=|| view! { <Loading what="results"/> }>
                {move || Suspend::new(async move {
                    let empty_base = matches!(docs.await, Ok(ref page) if page.items.is_empty());
                    match results.await {
                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                        Ok(None) if empty_base => {
                            view! { <p class="muted empty-small">"This base is empty. Upload a document, then search it here."</p> }.into_any()
                        }
                        Ok(None) => {
                            view! {
                                <p class="muted empty-small">
                                    "Search by meaning, not just words: the closest passages come first, with their document and section."
                                </p>
                            }
                                .into_any()
                        }
                        Ok(Some((q, hits))) if hits.is_empty() => {
                            view! {
                                <div class="empty-small">
                                    <p>{format!("No passages found for “{q}”.")}</p>
                                    <p class="muted small">
                                        {if empty_base {
                                            "This base has no documents yet."
                                        } else {
                                            "Documents become searchable once they are ready."
                                        }}
                                    </p>
                                </div>
                            }
                                .into_any()
                        }
                        Ok(Some((_, hits))) => view! { <SearchResults hits/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Ranked passages with score and source.
#[component]
fn SearchResults(hits: Vec<SearchHit>) -> impl IntoView {
    view! {
        <ol class="search-results">
            {hits
                .into_iter()
                .enumerate()
                .map(|(i, hit)| {
                    let mut source = Vec::new();
                    if !hit.heading.is_empty() {
                        source.push(format!("§ {}", hit.heading));
                    }
                    if let Some(p) = hit.page {
                        source.push(format!("page {p}"));
                    }
                    source.push(format!("chunk {}", hit.ordinal));
                    view! {
                        <li class="hit">
                            <div class="hit-head">
                                <span class="hit-rank" aria-label=format!("Rank {}", i + 1)>
                                    {(i + 1).to_string()}
                                </span>
                                <span class="hit-score" title="Similarity of meaning between the query and the passage (cosine; 1 is identical)">
                                    {format!("{:.2}", hit.score)}
                                </span>
                                <span class="hit-where">
                                    <span class="hit-doc">{hit.document_name.clone()}</span>
                                    " "
                                    <span class="muted small hit-source">{source.join(" · ")}</span>
                                </span>
                            </div>
                            <p class="hit-text">{passage(&hit.text)}</p>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stripped_from_messages() {
        assert_eq!(strip_name("a.txt is empty", "a.txt"), "is empty");
        assert_eq!(
            strip_name("a.png: \"image/png\" is not supported", "a.png"),
            "\"image/png\" is not supported"
        );
        assert_eq!(
            strip_name("The upload is too large", "a.txt"),
            "The upload is too large"
        );
    }
}
