//! MCP server connection handlers under `/api/v1/mcp-servers`: list, create (which lists
//! the server's tools first), get, delete, and refresh the cached tools. Secrets (stdio
//! environment values, HTTP header values, bearer tokens) are accepted on create and never
//! returned.

use autonoma_core::mcp::{McpServer, NewMcpServer};
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::{ApiResult, Json, Path};
use crate::ApiState;

/// The MCP server routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_mcp_servers, create_mcp_server))
        .routes(routes!(get_mcp_server, delete_mcp_server))
        .routes(routes!(refresh_mcp_tools))
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
