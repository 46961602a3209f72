//! MCP server connection handlers under `/api/v1/mcp-servers`: list, create (which lists
//! the server's tools first), get, delete, refresh the cached tools, and the OAuth 2.1
//! authorization of `auth: oauth` connections (`POST …/{id}/authorize` and the browser's
//! `GET …/oauth/callback`). Secrets (stdio environment values, HTTP header values, bearer
//! tokens, client secrets, OAuth tokens) are accepted or obtained and never returned.

use autonoma_core::mcp::{McpAuthorizationStart, McpServer, NewMcpServer};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::{ApiError, ApiResult, Json, Path, Query};
use crate::ApiState;

/// The MCP server routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_mcp_servers, create_mcp_server))
        .routes(routes!(get_mcp_server, delete_mcp_server))
        .routes(routes!(refresh_mcp_tools))
        .routes(routes!(authorize_mcp_server))
        .routes(routes!(mcp_oauth_callback))
}

/// Path of the OAuth redirect URI (the callback), under the public base URL.
pub const OAUTH_CALLBACK_PATH: &str = "/api/v1/mcp-servers/oauth/callback";

/// Start connecting an `auth: oauth` connection (admin+): discovers the server's
/// authorization server, registers a client there unless one is pre-registered, keeps a
/// PKCE verifier and a single-use `state` (10 minutes), and answers the authorization URL
/// to send the browser to. Its redirect URI is `<base>/api/v1/mcp-servers/oauth/callback`.
#[utoipa::path(post, path = "/api/v1/mcp-servers/{id}/authorize", tag = "mcp", params(("id" = Uuid, Path)),
    responses((status = 200, body = McpAuthorizationStart), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn authorize_mcp_server(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    parts: Parts,
) -> ApiResult<axum::Json<McpAuthorizationStart>> {
    let redirect_uri = format!("{}{OAUTH_CALLBACK_PATH}", crate::mcp::public_base(&parts));
    Ok(axum::Json(
        state
            .service
            .start_mcp_authorization(&caller.actor, id, &redirect_uri)
            .await?,
    ))
}

/// Query of the OAuth callback (RFC 6749 §4.1.2: `code` and `state`, or `error` with
/// `error_description`; RFC 9207 `iss`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// Where the authorization server sends the browser back (session cookie; the single-use
/// `state` is the CSRF defence): exchanges the code for tokens, seals them, lists the
/// connection's tools, and redirects (303) to the connection in the UI
/// (`/mcp-servers?connected={id}`). An `error` from the authorization server (e.g.
/// `access_denied`) is 400 `authorization_denied`; an unknown, used, expired or foreign
/// `state` 422 `validation_failed` (`state`); a refused code 422 (`code`). Nothing is
/// written to the connection in those cases.
#[utoipa::path(get, path = "/api/v1/mcp-servers/oauth/callback", tag = "mcp", params(CallbackQuery),
    responses((status = 303), (status = 400, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn mcp_oauth_callback(
    State(state): State<ApiState>,
    caller: Caller,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<Response> {
    if let Some(error) = q.error {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let description: String = q
            .error_description
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(500)
            .collect();
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "authorization_denied",
            format!(
                "the authorization server answered '{error}'{}{description}; the connection was not changed — start again with Connect",
                if description.is_empty() { "" } else { ": " }
            ),
        ));
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the callback needs code and state (or error)",
        ));
    };
    let server = state
        .service
        .finish_mcp_authorization(&caller.actor, &st, &code, q.iss.as_deref())
        .await?;
    Ok((
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            format!("/mcp-servers?connected={}", server.id),
        )],
    )
        .into_response())
}

/// The organization's MCP server connections with their cached tools (viewer+).
#[utoipa::path(get, path = "/api/v1/mcp-servers", tag = "mcp", responses((status = 200, body = Vec<McpServer>)))]
async fn list_mcp_servers(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<McpServer>>> {
    Ok(axum::Json(
        state.service.list_mcp_servers(&caller.actor).await?,
    ))
}

/// Connect an MCP server (admin+): it is started or reached and its tools listed before
/// anything is stored; 422 when it cannot be reached or the input is invalid, 409 when the
/// name is taken.
#[utoipa::path(post, path = "/api/v1/mcp-servers", tag = "mcp", request_body = NewMcpServer,
    responses((status = 201, body = McpServer), (status = 403, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn create_mcp_server(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<NewMcpServer>,
) -> ApiResult<(StatusCode, axum::Json<McpServer>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(
            state
                .service
                .create_mcp_server(&caller.actor, input)
                .await?,
        ),
    ))
}

/// One connection with its cached tools (viewer+).
#[utoipa::path(get, path = "/api/v1/mcp-servers/{id}", tag = "mcp", params(("id" = Uuid, Path)),
    responses((status = 200, body = McpServer), (status = 404, body = crate::problem::Problem)))]
async fn get_mcp_server(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<McpServer>> {
    Ok(axum::Json(
        state.service.get_mcp_server(&caller.actor, id).await?,
    ))
}

/// Delete a connection (admin+); its live session ends.
#[utoipa::path(delete, path = "/api/v1/mcp-servers/{id}", tag = "mcp", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem)))]
async fn delete_mcp_server(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.delete_mcp_server(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List the server's tools again and replace the cache (admin+).
#[utoipa::path(post, path = "/api/v1/mcp-servers/{id}/tools/refresh", tag = "mcp", params(("id" = Uuid, Path)),
    responses((status = 200, body = McpServer), (status = 404, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn refresh_mcp_tools(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<McpServer>> {
    Ok(axum::Json(
        state.service.refresh_mcp_tools(&caller.actor, id).await?,
    ))
}
