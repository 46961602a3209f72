//! Server functions the pages call (mounted under [`SERVER_FN_PREFIX`]).
//!
//! Each one authenticates the caller from the session cookie and calls
//! `autonoma_core::service::Service`; the bodies exist only in the `ssr` build. Form-posted
//! functions take flat string arguments so that plain HTML forms (no JavaScript) can call
//! them; they redirect where a browser form post should land.

use leptos::prelude::*;

use crate::dto::*;
use crate::error::AppError;
use server_fn::codec::{MultipartData, MultipartFormData};

/// URL prefix of every server function (kept out of `/api`, which the REST API owns).
pub const SERVER_FN_PREFIX: &str = "/sfn";

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    //! Helpers for server-function bodies.
    use std::sync::Arc;

    use autonoma_core::model::Actor;
    use autonoma_core::service::{Service, SESSION_COOKIE};
    use axum::http::header::{HeaderValue, ACCEPT, COOKIE, SET_COOKIE};
    use axum::http::request::Parts;
    use leptos::prelude::*;
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use crate::error::AppError;

    /// Name of the short-lived cookie that carries a new API key's secret to the next page
    /// load when the form was posted without JavaScript.
    pub const NEW_KEY_COOKIE: &str = "autonoma_new_key";

    /// The flashed secret of a key created by a plain form post: `(key id, secret)`.
    #[derive(Clone, Debug)]
    pub struct NewKeyFlash(pub String, pub String);

    pub fn service() -> Result<Arc<Service>, AppError> {
        use_context::<Arc<Service>>()
            .ok_or_else(|| AppError::new("internal", "service missing from context"))
    }

    pub fn parts() -> Result<Parts, AppError> {
        use_context::<Parts>()
            .ok_or_else(|| AppError::new("internal", "request missing from context"))
    }

    /// Value of a cookie in the `Cookie` headers.
    pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.to_string())
            })
    }

    /// The session token of this request, if any.
    pub fn session_token() -> Option<String> {
        parts()
            .ok()
            .and_then(|p| cookie(&p.headers, SESSION_COOKIE))
            .filter(|t| !t.is_empty())
    }

    /// The authenticated caller. Errors with `unauthenticated` when the cookie is missing
    /// or the session ended.
    pub async fn actor() -> Result<(Arc<Service>, Actor), AppError> {
        let svc = service()?;
        let token = session_token().ok_or_else(AppError::unauthenticated)?;
        let (actor, _csrf) = svc.actor_from_session(&token).await?;
        Ok((svc, actor))
    }

    /// True when the request came from a plain HTML form (no JavaScript).
    pub fn is_plain_form_post() -> bool {
        parts()
            .ok()
            .and_then(|p| {
                p.headers
                    .get(ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.contains("text/html"))
            })
            .unwrap_or(false)
    }

    /// Whether the request reached the proxy over https.
    pub fn is_https(parts: &Parts) -> bool {
        parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.eq_ignore_ascii_case("https"))
            .unwrap_or(false)
            || parts.uri.scheme_str() == Some("https")
    }

    /// Appends a `Set-Cookie` header to the response.
    pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, same_site: &str) {
        let secure = parts().map(|p| is_https(&p)).unwrap_or(false);
        let cookie = format!(
            "{name}={value}; HttpOnly; SameSite={same_site}; Path={path}; Max-Age={max_age}{}",
            if secure { "; Secure" } else { "" }
        );
        if let (Some(res), Ok(v)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            HeaderValue::from_str(&cookie),
        ) {
            res.append_header(SET_COOKIE, v);
        }
    }

    /// Sets the session cookie (14 days).
    pub fn set_session_cookie(token: &str) {
        set_cookie(SESSION_COOKIE, token, "/", 1_209_600, "Lax");
    }

    /// Converts a core record to its UI mirror through JSON.
    pub fn mirror<T: Serialize, U: DeserializeOwned>(value: &T) -> Result<U, AppError> {
        serde_json::to_value(value)
            .and_then(serde_json::from_value)
            .map_err(|e| {
                tracing::error!(error = %e, "DTO mirror mismatch");
                AppError::new(
                    "internal",
                    "Something went wrong on the server. Please try again.",
                )
            })
    }

    /// Parses a UUID argument.
    pub fn uuid(field: &str, s: &str) -> Result<uuid::Uuid, AppError> {
        uuid::Uuid::parse_str(s.trim()).map_err(|_| AppError::field(field, "is not a valid id"))
    }

    /// A local path to go to after login (`/…` but not `//…`), else `/agents`.
    pub fn safe_next(next: Option<String>) -> String {
        match next {
            Some(n)
                if n.starts_with('/')
                    && !n.starts_with("//")
                    && !n.starts_with("/\\")
                    && !n.contains(['\r', '\n']) =>
            {
                n
            }
            _ => "/agents".into(),
        }
    }

    /// The authenticated caller, when this server has knowledge bases enabled. Errors with
    /// `unavailable` when it has none.
    pub async fn knowledge_actor() -> Result<(Arc<Service>, Actor), AppError> {
        let (svc, actor) = actor().await?;
        if svc.knowledge_engine().is_none() {
            return Err(AppError::new(
                "unavailable",
                "Knowledge bases are not enabled on this server.",
            ));
        }
        Ok((svc, actor))
    }

    /// Largest accepted upload of this server, in bytes.
    pub fn max_upload_bytes(svc: &Service) -> usize {
        svc.knowledge_engine()
            .map(|k| k.config.max_upload_bytes)
            .unwrap_or(autonoma_core::knowledge::DEFAULT_MAX_UPLOAD_BYTES)
    }

    /// The readable message of a refused upload of the file `name`: validation problems and
    /// the size limit concern the file; anything else is returned as is (`Err`).
    pub fn upload_error(name: &str, e: autonoma_core::Error) -> Result<AppError, AppError> {
        use autonoma_core::Error as E;
        match e {
            E::Validation { field, message } if field == "file" => Ok(AppError::new(
                "validation_failed",
                format!("{name} {message}"),
            )),
            E::Validation { message, .. } => Ok(AppError::new(
                "validation_failed",
                format!("{name}: {message}"),
            )),
            E::TooLarge(message) => Ok(AppError::new(
                "payload_too_large",
                format!("{name} is too large: {message}"),
            )),
            other => Err(other.into()),
        }
    }

    /// The client address: the [`autonoma_core::ClientAddr`] extension set by the entry
    /// point (Lambda, a verified edge), else the TCP peer when the server has connect info.
    pub fn client_ip() -> Option<std::net::IpAddr> {
        let parts = parts().ok()?;
        parts
            .extensions
            .get::<autonoma_core::ClientAddr>()
            .map(|c| c.0)
            .or_else(|| {
                parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip())
            })
    }
}

// ---------------------------------------------------------------------------- session

/// The signed-in user, or `None` without a valid session.
#[server(prefix = "/sfn", endpoint = "me")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    let svc = ssr::service()?;
    let Some(token) = ssr::session_token() else {
        return Ok(None);
    };
    let actor = match svc.actor_from_session(&token).await {
        Ok((actor, _)) => actor,
        Err(autonoma_core::Error::Unauthenticated) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let memberships = svc.me(&actor).await?;
    let m = memberships
        .iter()
        .find(|m| m.org_id == actor.org_id)
        .or(memberships.first());
    Ok(Some(Me {
        email: m.map(|m| m.email.clone()).unwrap_or_default(),
        org_name: m.map(|m| m.org_name.clone()).unwrap_or_default(),
        role: actor.role.as_str().to_string(),
    }))
}

/// Logs in with e-mail and password, sets the session cookie and goes to `next`.
#[server(prefix = "/sfn", endpoint = "login")]
pub async fn log_in(
    #[doc = "E-mail address."] email: String,
    #[doc = "Password."] password: String,
    #[doc = "Local path to open afterwards."] next: Option<String>,
) -> Result<(), AppError> {
    let svc = ssr::service()?;
    if email.trim().is_empty() {
        return Err(AppError::field("email", "enter your e-mail address"));
    }
    let session = svc
        .log_in(&email, &password, ssr::client_ip())
        .await
        .map_err(|e| match e {
            autonoma_core::Error::Unauthenticated => {
                AppError::new("unauthenticated", "Wrong e-mail or password.")
            }
            autonoma_core::Error::RateLimited { retry_after_secs } => {
                AppError::rate_limited("login attempts", retry_after_secs)
            }
            e => e.into(),
        })?;
    ssr::set_session_cookie(&session.token);
    leptos_axum::redirect(&ssr::safe_next(next));
    Ok(())
}

/// Creates an account with its own organization, logs in and goes to `/agents`.
#[server(prefix = "/sfn", endpoint = "signup")]
pub async fn sign_up(
    #[doc = "E-mail address."] email: String,
    #[doc = "Password, 10 to 256 characters."] password: String,
    #[doc = "Display name (defaults to the e-mail's local part)."] name: Option<String>,
    #[doc = "Organization name (defaults to \"<name>'s organization\")."] org_name: Option<String>,
) -> Result<(), AppError> {
    let svc = ssr::service()?;
    let input = autonoma_core::service::SignUp {
        email,
        password,
        name: name.unwrap_or_default(),
        org_name: org_name.filter(|o| !o.trim().is_empty()),
    };
    let session = svc
        .sign_up(input, ssr::client_ip())
        .await
        .map_err(|e| match e {
            autonoma_core::Error::RateLimited { retry_after_secs } => {
                AppError::rate_limited("sign-ups from your address", retry_after_secs)
            }
            e => e.into(),
        })?;
    ssr::set_session_cookie(&session.token);
    leptos_axum::redirect("/agents");
    Ok(())
}

/// Ends the session, clears the cookie and goes to `/login`.
#[server(prefix = "/sfn", endpoint = "logout")]
pub async fn log_out() -> Result<(), AppError> {
    let svc = ssr::service()?;
    if let Some(token) = ssr::session_token() {
        svc.log_out(&token).await?;
    }
    ssr::set_cookie(autonoma_core::service::SESSION_COOKIE, "", "/", 0, "Lax");
    leptos_axum::redirect("/login");
    Ok(())
}

// ---------------------------------------------------------------------------- agents

/// A page of agents, newest first.
#[server(prefix = "/sfn", endpoint = "agents/list")]
pub async fn list_agents(
    #[doc = "Cursor from the previous page."] cursor: Option<String>,
) -> Result<PageDto<AgentDto>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let page = svc.list_agents(&actor, cursor.as_deref(), Some(50)).await?;
    ssr::mirror(&page)
}

/// One agent.
#[server(prefix = "/sfn", endpoint = "agents/get")]
pub async fn get_agent(#[doc = "Agent id."] id: String) -> Result<AgentDto, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let agent = svc.get_agent(&actor, ssr::uuid("id", &id)?).await?;
    ssr::mirror(&agent)
}

/// Creates (`id` empty) or updates an agent from the editor form, then opens its chat.
///
/// `model_ref` is `<provider id>/<model name>`; `tool_*` are checkboxes (present when
/// ticked); `http_allowlist` is one domain per line (or comma-separated); the limits are
/// the raw text of the number inputs; `knowledge_base_ids[]` is repeated once per attached
/// knowledge base (attaching any enables the `knowledge_search` tool).
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/sfn", endpoint = "agents/save")]
pub async fn save_agent(
    #[doc = "Agent id to update; empty creates an agent."] id: Option<String>,
    #[doc = "Name."] name: String,
    #[doc = "Description."] description: Option<String>,
    #[doc = "`<provider id>/<model>`."] model_ref: Option<String>,
    #[doc = "System prompt."] instructions: Option<String>,
    #[doc = "Present when the calculator is enabled."] tool_calculator: Option<String>,
    #[doc = "Present when current_time is enabled."] tool_current_time: Option<String>,
    #[doc = "Present when http_fetch is enabled."] tool_http_fetch: Option<String>,
    #[doc = "Domains, one per line."] http_allowlist: Option<String>,
    #[doc = "Max LLM calls per run."] max_steps: Option<String>,
    #[doc = "Max output tokens per call."] max_output_tokens: Option<String>,
    #[doc = "Wall-clock limit in seconds."] timeout_secs: Option<String>,
    #[doc = "Ids of the knowledge bases to search (`knowledge_base_ids[]`, one per ticked box)."]
    knowledge_base_ids: Option<Vec<String>>,
) -> Result<AgentDto, AppError> {
    use autonoma_core::model::{AgentSpec, Limits};
    let (svc, actor) = ssr::actor().await?;
    let model_ref = model_ref.unwrap_or_default();
    let Some((provider, model)) = model_ref.split_once('/') else {
        return Err(AppError::field("model", "choose a model"));
    };
    let provider_id = ssr::uuid("model", provider)?;
    let number = |field: &str, v: Option<String>, default: u32| -> Result<u32, AppError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(s) => s
                .parse::<u32>()
                .map_err(|_| AppError::field(field, "must be a whole number")),
        }
    };
    let d = Limits::default();
    let limits = Limits {
        max_steps: number("limits.max_steps", max_steps, d.max_steps)?,
        max_output_tokens: number(
            "limits.max_output_tokens",
            max_output_tokens,
            d.max_output_tokens,
        )?,
        timeout_secs: number("limits.timeout_secs", timeout_secs, d.timeout_secs)?,
    };
    let mut tools = Vec::new();
    for (name, on) in [
        ("calculator", &tool_calculator),
        ("current_time", &tool_current_time),
        ("http_fetch", &tool_http_fetch),
    ] {
        if on.is_some() {
            tools.push(name.to_string());
        }
    }
    let http_allowlist = http_allowlist
        .unwrap_or_default()
        .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let knowledge_base_ids = knowledge_base_ids
        .unwrap_or_default()
        .iter()
        .map(|id| ssr::uuid("knowledge_base_ids", id))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = AgentSpec {
        name,
        description: description.unwrap_or_default(),
        provider_id,
        model: model.to_string(),
        instructions: instructions.unwrap_or_default(),
        tools,
        http_allowlist,
        knowledge_base_ids,
        limits,
    };
    let agent = match id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => svc.update_agent(&actor, ssr::uuid("id", id)?, spec).await?,
        None => svc.create_agent(&actor, spec).await?,
    };
    leptos_axum::redirect(&format!("/agents/{}", agent.id));
    ssr::mirror(&agent)
}

/// Deletes an agent and goes back to the list.
#[server(prefix = "/sfn", endpoint = "agents/delete")]
pub async fn delete_agent(#[doc = "Agent id."] id: String) -> Result<(), AppError> {
    let (svc, actor) = ssr::actor().await?;
    svc.delete_agent(&actor, ssr::uuid("id", &id)?).await?;
    leptos_axum::redirect("/agents");
    Ok(())
}

// ---------------------------------------------------------------------------- knowledge

/// Most documents listed on a knowledge base's page (and counted in the list of bases).
pub const DOCUMENTS_PAGE: u32 = 100;

/// A page of the organization's knowledge bases, newest first, with their document counts.
#[server(prefix = "/sfn", endpoint = "knowledge/list")]
pub async fn list_knowledge_bases(
    #[doc = "Cursor from the previous page."] cursor: Option<String>,
) -> Result<PageDto<KnowledgeBaseSummaryDto>, AppError> {
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
        items.push(KnowledgeBaseSummaryDto {
            base: ssr::mirror(kb)?,
            documents: docs.items.len() as u32,
            more: docs.next_cursor.is_some(),
        });
    }
    Ok(PageDto {
        items,
        next_cursor: page.next_cursor,
    })
}

/// The organization's knowledge bases for the agent editor (newest 100), or `None` when this
/// server has knowledge bases disabled.
#[server(prefix = "/sfn", endpoint = "knowledge/choices")]
pub async fn knowledge_base_choices() -> Result<Option<Vec<KnowledgeBaseDto>>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    if svc.knowledge_engine().is_none() {
        return Ok(None);
    }
    let page = svc.list_knowledge_bases(&actor, None, Some(100)).await?;
    ssr::mirror(&page.items).map(Some)
}

/// Creates a knowledge base, then opens it.
#[server(prefix = "/sfn", endpoint = "knowledge/create")]
pub async fn create_knowledge_base(
    #[doc = "Name, 1 to 100 characters."] name: String,
    #[doc = "Description, up to 2000 characters."] description: Option<String>,
) -> Result<KnowledgeBaseDto, AppError> {
    use autonoma_core::knowledge::NewKnowledgeBase;
    let (svc, actor) = ssr::knowledge_actor().await?;
    let description = description.unwrap_or_default().trim().to_string();
    let kb = svc
        .create_knowledge_base(&actor, NewKnowledgeBase { name, description })
        .await?;
    leptos_axum::redirect(&format!("/knowledge/{}", kb.id));
    ssr::mirror(&kb)
}

/// One knowledge base, with this server's upload limit. An id that is not a UUID is
/// reported like a missing base (`not_found`).
#[server(prefix = "/sfn", endpoint = "knowledge/get")]
pub async fn get_knowledge_base(
    #[doc = "Knowledge base id."] id: String,
) -> Result<KnowledgeBaseDto, AppError> {
    let (svc, actor) = ssr::knowledge_actor().await?;
    let id = ssr::uuid("id", &id)
        .map_err(|_| AppError::new("not_found", "Knowledge base not found."))?;
    let kb = svc.get_knowledge_base(&actor, id).await?;
    let mut dto: KnowledgeBaseDto = ssr::mirror(&kb)?;
    dto.max_upload_bytes = ssr::max_upload_bytes(&svc) as u64;
    Ok(dto)
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
) -> Result<PageDto<DocumentDto>, AppError> {
    let (svc, actor) = ssr::knowledge_actor().await?;
    let page = svc
        .list_documents(
            &actor,
            ssr::uuid("kb_id", &kb_id)?,
            None,
            Some(DOCUMENTS_PAGE),
        )
        .await?;
    ssr::mirror(&page)
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
) -> Result<Vec<UploadedDto>, AppError> {
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
    let mut outcomes: Vec<(String, Result<UploadedDto, AppError>)> = Vec::new();
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
                        Ok((doc, created)) => Ok(UploadedDto {
                            document: ssr::mirror(&doc)?,
                            created,
                        }),
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
) -> Result<Vec<SearchHitDto>, AppError> {
    use autonoma_core::knowledge::SearchRequest;
    let (svc, actor) = ssr::knowledge_actor().await?;
    let k = match k.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<u32>()
                .map_err(|_| AppError::field("k", "must be a whole number"))?,
        ),
    };
    let hits = svc
        .search_knowledge_base(
            &actor,
            ssr::uuid("kb_id", &kb_id)?,
            SearchRequest { query, k },
        )
        .await?;
    ssr::mirror(&hits)
}

// ---------------------------------------------------------------------------- providers

/// The organization's provider connections.
#[server(prefix = "/sfn", endpoint = "providers/list")]
pub async fn list_providers() -> Result<Vec<ProviderDto>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    ssr::mirror(&svc.list_providers(&actor).await?)
}

/// Adds a provider connection. `kind` is `local` or `openai_compatible`; `models` is one
/// name per line (or comma-separated); the API key is write-only.
#[server(prefix = "/sfn", endpoint = "providers/create")]
pub async fn create_provider(
    #[doc = "Display name."] name: String,
    #[doc = "`local` or `openai_compatible`."] kind: String,
    #[doc = "Endpoint of an OpenAI-compatible provider."] base_url: Option<String>,
    #[doc = "API key (write-only)."] api_key: Option<String>,
    #[doc = "Model names, one per line."] models: Option<String>,
) -> Result<ProviderDto, AppError> {
    use autonoma_core::model::ProviderKind;
    let (svc, actor) = ssr::actor().await?;
    let kind = ProviderKind::parse(kind.trim())
        .ok_or_else(|| AppError::field("kind", "choose Local or OpenAI-compatible"))?;
    let models = models
        .unwrap_or_default()
        .split(['\n', ','])
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    let conn = svc
        .create_provider(
            &actor,
            autonoma_core::service::NewProvider {
                name,
                kind,
                base_url: base_url.filter(|u| !u.trim().is_empty()),
                api_key: api_key.filter(|k| !k.is_empty()),
                models,
            },
        )
        .await?;
    ssr::mirror(&conn)
}

/// Deletes a provider connection.
#[server(prefix = "/sfn", endpoint = "providers/delete")]
pub async fn delete_provider(#[doc = "Connection id."] id: String) -> Result<(), AppError> {
    let (svc, actor) = ssr::actor().await?;
    svc.delete_provider(&actor, ssr::uuid("id", &id)?).await?;
    Ok(())
}

// ---------------------------------------------------------------------------- API keys

/// The organization's API keys (revoked ones included).
#[server(prefix = "/sfn", endpoint = "keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyDto>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    ssr::mirror(&svc.list_api_keys(&actor).await?)
}

/// Creates an API key; the secret is in the answer (and, for a form posted without
/// JavaScript, handed to the next page load through a short-lived HttpOnly cookie).
#[server(prefix = "/sfn", endpoint = "keys/create")]
pub async fn create_api_key(
    #[doc = "Label of the key."] name: String,
    #[doc = "Role it acts with (`admin`, `member`, `viewer`); empty for the caller's."]
    role: Option<String>,
) -> Result<CreatedKeyDto, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let role = match role.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(
            autonoma_core::model::Role::parse(r)
                .ok_or_else(|| AppError::field("role", "unknown role"))?,
        ),
    };
    let created = svc.create_api_key(&actor, &name, role).await?;
    if ssr::is_plain_form_post() {
        ssr::set_cookie(
            ssr::NEW_KEY_COOKIE,
            &format!("{}:{}", created.key.id, created.secret),
            "/settings/api-keys",
            300,
            "Strict",
        );
    }
    Ok(CreatedKeyDto {
        key: ssr::mirror(&created.key)?,
        secret: created.secret,
    })
}

/// The key created by the previous plain form post, if any (read once).
#[server(prefix = "/sfn", endpoint = "keys/flash")]
pub async fn take_new_key() -> Result<Option<CreatedKeyDto>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let Some(flash) = ssr::parts()?.extensions.get::<ssr::NewKeyFlash>().cloned() else {
        return Ok(None);
    };
    let keys = svc.list_api_keys(&actor).await?;
    let Some(key) = keys.iter().find(|k| k.id.to_string() == flash.0) else {
        return Ok(None);
    };
    Ok(Some(CreatedKeyDto {
        key: ssr::mirror(key)?,
        secret: flash.1,
    }))
}

/// Revokes an API key.
#[server(prefix = "/sfn", endpoint = "keys/revoke")]
pub async fn revoke_api_key(#[doc = "Key id."] id: String) -> Result<(), AppError> {
    let (svc, actor) = ssr::actor().await?;
    svc.revoke_api_key(&actor, ssr::uuid("id", &id)?).await?;
    Ok(())
}

// ---------------------------------------------------------------------------- runs

/// Sends a chat message: starts a run of the agent, continuing `thread_id` when given.
/// A plain form post is redirected to the chat page of that thread.
#[server(prefix = "/sfn", endpoint = "runs/start")]
pub async fn send_message(
    #[doc = "Agent id."] agent_id: String,
    #[doc = "The user's message."] input: String,
    #[doc = "Conversation to continue; empty starts a new one."] thread_id: Option<String>,
) -> Result<RunDto, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let agent_id = ssr::uuid("agent_id", &agent_id)?;
    let thread_id = match thread_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(t) => Some(ssr::uuid("thread_id", t)?),
        None => None,
    };
    let (run, _) = svc
        .start_run(
            &actor,
            agent_id,
            autonoma_core::service::RunInput { input, thread_id },
            None,
        )
        .await?;
    if ssr::is_plain_form_post() {
        leptos_axum::redirect(&format!(
            "/agents/{}?thread={}",
            run.agent_id, run.thread_id
        ));
    }
    ssr::mirror(&run)
}

/// Asks a run to stop.
#[server(prefix = "/sfn", endpoint = "runs/cancel")]
pub async fn cancel_run(#[doc = "Run id."] id: String) -> Result<RunDto, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let run = svc.cancel_run(&actor, ssr::uuid("id", &id)?).await?;
    ssr::mirror(&run)
}

/// A run and all its events so far.
#[server(prefix = "/sfn", endpoint = "runs/get")]
pub async fn get_run(#[doc = "Run id."] id: String) -> Result<TurnDto, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let id = ssr::uuid("id", &id)?;
    let run = svc.get_run(&actor, id).await?;
    let events = all_events(&svc, &actor, id).await?;
    Ok(TurnDto {
        run: ssr::mirror(&run)?,
        events,
    })
}

/// A page of runs of one agent, newest first.
#[server(prefix = "/sfn", endpoint = "runs/list")]
pub async fn list_runs(
    #[doc = "Agent id."] agent_id: String,
    #[doc = "Cursor from the previous page."] cursor: Option<String>,
) -> Result<PageDto<RunDto>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let page = svc
        .list_runs(
            &actor,
            Some(ssr::uuid("agent_id", &agent_id)?),
            cursor.as_deref(),
            Some(20),
        )
        .await?;
    ssr::mirror(&page)
}

/// The runs of a conversation, oldest first, each with its events.
#[server(prefix = "/sfn", endpoint = "runs/thread")]
pub async fn get_thread(
    #[doc = "Conversation id (a run's `thread_id`)."] thread_id: String,
) -> Result<Vec<TurnDto>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let runs = svc
        .thread(&actor, ssr::uuid("thread_id", &thread_id)?)
        .await?;
    let mut turns = Vec::with_capacity(runs.len());
    for run in runs {
        let events = all_events(&svc, &actor, run.id).await?;
        turns.push(TurnDto {
            run: ssr::mirror(&run)?,
            events,
        });
    }
    Ok(turns)
}

#[cfg(feature = "ssr")]
async fn all_events(
    svc: &autonoma_core::service::Service,
    actor: &autonoma_core::model::Actor,
    run_id: uuid::Uuid,
) -> Result<Vec<EventDto>, AppError> {
    let mut out: Vec<EventDto> = Vec::new();
    let mut after = 0;
    loop {
        let batch = svc.run_events(actor, run_id, after).await?;
        let n = batch.len();
        for e in &batch {
            after = after.max(e.seq);
            out.push(ssr::mirror(e)?);
        }
        if n < 500 || out.len() >= 20_000 {
            break;
        }
    }
    Ok(out)
}
