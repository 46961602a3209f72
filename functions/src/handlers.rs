//! REST handlers under `/api/v1`. Each is annotated for the OpenAPI document.

use std::convert::Infallible;
use std::time::Duration;

use autonoma_core::model::*;
use autonoma_core::service::{CreatedApiKey, NewProvider, RunInput, SignUp};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{clear_session_cookie, client_ip, is_https, session_cookie, Caller};
use crate::problem::{ApiError, ApiResult, Json, Path, Query};
use crate::ApiState;

/// All documented routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(log_in))
        .routes(routes!(log_out))
        .routes(routes!(me))
        .routes(routes!(list_members, set_member))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(delete_provider))
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(get_agent, update_agent, delete_agent))
        .routes(routes!(agent_versions))
        .routes(routes!(create_run))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(cancel_run))
        .routes(routes!(run_events))
        .routes(routes!(get_thread))
}

/// Who is logged in.
#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub role: Role,
    pub memberships: Vec<Membership>,
    /// Present for cookie sessions: send as `X-CSRF-Token` on writes.
    pub csrf_token: Option<String>,
}

/// Login form.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogIn {
    pub email: String,
    pub password: String,
}

fn session_response(
    state: &ApiState,
    headers: &HeaderMap,
    s: autonoma_core::service::NewSession,
    status: StatusCode,
) -> Response {
    let secure = state.secure_cookies || is_https(headers);
    let body = MeResponse {
        user_id: s.actor.user_id,
        org_id: s.actor.org_id,
        role: s.actor.role,
        memberships: vec![],
        csrf_token: Some(s.csrf_token),
    };
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session_cookie(&s.token, secure)).expect("cookie is ASCII"),
    );
    res
}

/// Create an account and its organization; sets the session cookie. Rate limited per IP.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignUp,
    responses((status = 201, body = MeResponse), (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem), (status = 429, body = crate::problem::Problem)))]
async fn sign_up(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Json(input): Json<SignUp>,
) -> ApiResult<Response> {
    let s = state.service.sign_up(input, client_ip(&ext)).await?;
    Ok(session_response(&state, &headers, s, StatusCode::CREATED))
}

/// Log in with e-mail and password; sets the session cookie. Rate limited per IP and e-mail.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LogIn,
    responses((status = 200, body = MeResponse), (status = 401, body = crate::problem::Problem), (status = 429, body = crate::problem::Problem)))]
async fn log_in(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Json(input): Json<LogIn>,
) -> ApiResult<Response> {
    let s = state
        .service
        .log_in(&input.email, &input.password, client_ip(&ext))
        .await?;
    Ok(session_response(&state, &headers, s, StatusCode::OK))
}

/// End the session and clear the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
async fn log_out(
    State(state): State<ApiState>,
    headers: HeaderMap,
    _caller: Caller,
) -> ApiResult<Response> {
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(&headers);
    if let Some(c) = jar.get(autonoma_core::service::SESSION_COOKIE) {
        state.service.log_out(c.value()).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear_session_cookie(
            state.secure_cookies || is_https(&headers),
        ))
        .expect("ASCII"),
    );
    Ok(res)
}

/// The caller, their organizations and (for sessions) the CSRF token.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = MeResponse), (status = 401, body = crate::problem::Problem)))]
async fn me(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<MeResponse>> {
    let memberships = state.service.me(&caller.actor).await?;
    let a = caller.actor;
    Ok(axum::Json(MeResponse {
        user_id: a.user_id,
        org_id: a.org_id,
        role: a.role,
        memberships,
        csrf_token: caller.csrf_token,
    }))
}

/// Add a member or change a role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    pub email: String,
    pub role: Role,
}

/// Members of the caller's organization.
#[utoipa::path(get, path = "/api/v1/members", tag = "organization", responses((status = 200, body = Vec<Membership>)))]
async fn list_members(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Membership>>> {
    Ok(axum::Json(state.service.list_members(&caller.actor).await?))
}

/// Add an existing user to the organization, or change their role (admin+; granting
/// `owner` or changing an owner's role needs owner). 409 `conflict` when the change would
/// leave the organization without an owner: it always keeps at least one.
#[utoipa::path(post, path = "/api/v1/members", tag = "organization", request_body = SetMember,
    responses((status = 200, body = Membership), (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
async fn set_member(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<SetMember>,
) -> ApiResult<axum::Json<Membership>> {
    Ok(axum::Json(
        state
            .service
            .set_member(&caller.actor, &input.email, input.role)
            .await?,
    ))
}

/// Request to create an API key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// Defaults to the caller's role; may not exceed it.
    pub role: Option<Role>,
}

/// API keys of the organization (secrets are never returned after creation).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api keys", responses((status = 200, body = Vec<ApiKey>)))]
async fn list_api_keys(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<ApiKey>>> {
    Ok(axum::Json(
        state.service.list_api_keys(&caller.actor).await?,
    ))
}

/// Create an API key; the `secret` is in this response only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api keys", request_body = NewApiKey, responses((status = 201, body = CreatedApiKey)))]
async fn create_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewApiKey>,
) -> ApiResult<(StatusCode, axum::Json<CreatedApiKey>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(
            state
                .service
                .create_api_key(&caller.actor, &input.name, input.role)
                .await?,
        ),
    ))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api keys", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
async fn revoke_api_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.revoke_api_key(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Provider connections (keys never included).
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers", responses((status = 200, body = Vec<ProviderConnection>)))]
async fn list_providers(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<ProviderConnection>>> {
    Ok(axum::Json(
        state.service.list_providers(&caller.actor).await?,
    ))
}

/// Connect a provider (admin+). The API key is encrypted at rest.
#[utoipa::path(post, path = "/api/v1/providers", tag = "providers", request_body = NewProvider, responses((status = 201, body = ProviderConnection)))]
async fn create_provider(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewProvider>,
) -> ApiResult<(StatusCode, axum::Json<ProviderConnection>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(state.service.create_provider(&caller.actor, input).await?),
    ))
}

/// Delete a provider connection (admin+; refused while agents use it).
#[utoipa::path(delete, path = "/api/v1/providers/{id}", tag = "providers", params(("id" = Uuid, Path)), responses((status = 204), (status = 409, body = crate::problem::Problem)))]
async fn delete_provider(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.delete_provider(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pagination parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Agents, newest first.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(PageParams), responses((status = 200, body = Page<Agent>)))]
async fn list_agents(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Agent>>> {
    Ok(axum::Json(
        state
            .service
            .list_agents(
                &caller.actor,
                p.cursor.map(|c| c.to_string()).as_deref(),
                p.limit,
            )
            .await?,
    ))
}

/// Create an agent (version 1).
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = AgentSpec,
    responses((status = 201, body = Agent), (status = 422, body = crate::problem::Problem)))]
async fn create_agent(
    State(state): State<ApiState>,
    caller: Caller,
    Json(spec): Json<AgentSpec>,
) -> ApiResult<(StatusCode, axum::Json<Agent>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(state.service.create_agent(&caller.actor, spec).await?),
    ))
}

/// One agent at its current version.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = Uuid, Path)), responses((status = 200, body = Agent), (status = 404, body = crate::problem::Problem)))]
async fn get_agent(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Agent>> {
    Ok(axum::Json(
        state.service.get_agent(&caller.actor, id).await?,
    ))
}

/// Replace the agent's spec, creating a new immutable version.
#[utoipa::path(put, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = Uuid, Path)), request_body = AgentSpec, responses((status = 200, body = Agent)))]
async fn update_agent(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(spec): Json<AgentSpec>,
) -> ApiResult<axum::Json<Agent>> {
    Ok(axum::Json(
        state.service.update_agent(&caller.actor, id, spec).await?,
    ))
}

/// Delete an agent (its runs stay readable).
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = Uuid, Path)), responses((status = 204)))]
async fn delete_agent(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.delete_agent(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version of an agent, oldest first.
#[utoipa::path(get, path = "/api/v1/agents/{id}/versions", tag = "agents", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<AgentVersion>)))]
async fn agent_versions(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Vec<AgentVersion>>> {
    Ok(axum::Json(
        state.service.agent_versions(&caller.actor, id).await?,
    ))
}

/// Start a run. With `Idempotency-Key`, a repeated request returns the first run (200).
#[utoipa::path(post, path = "/api/v1/agents/{id}/runs", tag = "runs", params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]([ -~]*[!-~])?$",
        description = "1 to 255 visible ASCII characters (spaces inside allowed); a repeat with the same key returns the first run")),
    request_body = RunInput, responses((status = 202, body = Run), (status = 200, body = Run, description = "replayed idempotent request")))]
async fn create_run(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(input): Json<RunInput>,
) -> ApiResult<Response> {
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "Idempotency-Key must be ASCII",
                )
            })
        })
        .transpose()?;
    let (run, created) = state
        .service
        .start_run(&caller.actor, id, input, key)
        .await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut res = (status, axum::Json(&run)).into_response();
    res.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/runs/{}", run.id)).expect("ASCII"),
    );
    Ok(res)
}

/// Run list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    pub agent_id: Option<Uuid>,
    pub cursor: Option<Uuid>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Runs, newest first, optionally of one agent.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunParams), responses((status = 200, body = Page<Run>)))]
async fn list_runs(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<RunParams>,
) -> ApiResult<axum::Json<Page<Run>>> {
    Ok(axum::Json(
        state
            .service
            .list_runs(
                &caller.actor,
                p.agent_id,
                p.cursor.map(|c| c.to_string()).as_deref(),
                p.limit,
            )
            .await?,
    ))
}

/// One run.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = Uuid, Path)), responses((status = 200, body = Run), (status = 404, body = crate::problem::Problem)))]
async fn get_run(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Run>> {
    Ok(axum::Json(state.service.get_run(&caller.actor, id).await?))
}

/// Ask a running run to stop.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs", params(("id" = Uuid, Path)), responses((status = 202, body = Run), (status = 409, body = crate::problem::Problem)))]
async fn cancel_run(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<(StatusCode, axum::Json<Run>)> {
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(state.service.cancel_run(&caller.actor, id).await?),
    ))
}

/// SSE resume parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Resume after this `seq` (same as the `Last-Event-ID` header, which wins).
    pub after: Option<i64>,
}

/// A page of a run's events for clients that poll instead of streaming
/// (`Accept: application/json`).
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Events with `seq` greater than the requested one, in order (at most 500).
    pub events: Vec<RunEvent>,
    /// Pass as `after` in the next poll (the last `seq` returned, or the requested one).
    pub last_seq: i64,
    /// True once the terminal event is in this page: stop polling.
    pub done: bool,
}

/// The run's events. As Server-Sent Events (default): history after `Last-Event-ID`, then
/// live until the terminal event; each event: `id: <seq>`, `event: <type>`,
/// `data: <RunEvent JSON>`. With `Accept: application/json` (and no `text/event-stream`),
/// one [`EventPage`] of the events after `after` without waiting — the polling fallback
/// for origins that cannot stream (e.g. a Lambda function without response streaming).
#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs", params(("id" = Uuid, Path), EventParams, ("Last-Event-ID" = Option<i64>, Header)),
    responses(
        (status = 200, content_type = "application/json", body = EventPage),
    ))]
async fn run_events(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(p): Query<EventParams>,
) -> ApiResult<Response> {
    let after = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "Last-Event-ID must be an integer",
                )
            })?,
        None => p.after.unwrap_or(0),
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/json") && !accept.contains("text/event-stream") {
        let events = state.service.run_events(&caller.actor, id, after).await?;
        let last_seq = events.last().map_or(after, |e| e.seq);
        let done = events.iter().any(|e| e.kind.is_terminal());
        return Ok(axum::Json(EventPage {
            events,
            last_seq,
            done,
        })
        .into_response());
    }
    // Authorizes and checks the run exists in the caller's organization (an error is the
    // HTTP answer); the follower then wakes on new events and ends at the terminal one.
    let mut follower = state
        .service
        .follow_run_events(&caller.actor, id, after)
        .await?;
    let stream = async_stream::stream! {
        while let Some(item) = follower.next().await {
            match item {
                Ok(ev) => {
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    yield Ok::<Event, Infallible>(Event::default().id(ev.seq.to_string()).event(ev.kind.name()).data(data));
                }
                Err(e) => {
                    yield Ok(Event::default().event("error").data(e.to_string()));
                    break;
                }
            }
        }
    };
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// The runs of a conversation thread, oldest first.
#[utoipa::path(get, path = "/api/v1/threads/{id}", tag = "runs", params(("id" = Uuid, Path)), responses((status = 200, body = Vec<Run>)))]
async fn get_thread(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Vec<Run>>> {
    let runs = state.service.thread(&caller.actor, id).await?;
    if runs.is_empty() {
        return Err(autonoma_core::Error::NotFound("thread").into());
    }
    Ok(axum::Json(runs))
}
