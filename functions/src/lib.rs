//! # autonoma-functions
//!
//! The HTTP API as an axum [`Router`]: JSON REST under `/api/v1`, run events as SSE,
//! errors as RFC 9457 `application/problem+json`, and the OpenAPI 3.1 document generated
//! from the handlers (utoipa) at `/api/openapi.json`. Handlers are thin: they authenticate
//! ([`auth::Caller`]), parse, call [`autonoma_core::service::Service`], and serialise.
//!
//! The same router runs inside `autonoma serve` and, as a Lambda function, under
//! `lambda_http` ([`lambda`]); behind the edge, [`edge`] checks the origin secret.

pub mod audit;
pub mod auth;
pub mod edge;
pub mod governance;
pub mod handlers;
pub mod knowledge;
pub mod lambda;
pub mod mcp;
pub mod mcp_servers;
pub mod openapi;
pub mod preflight;
pub mod problem;

use std::sync::Arc;

use autonoma_core::service::Service;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Largest accepted request body: 1 MiB. Bigger bodies get 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    pub service: Arc<Service>,
    /// Add `Secure` to cookies regardless of `X-Forwarded-Proto` (deployments behind TLS).
    pub secure_cookies: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Autonoma API", version = "1", description = "Agents, runs and their events, knowledge bases. Errors are RFC 9457 problem+json with a stable `code`."),
    components(schemas(problem::Problem)),
    modifiers(&SecurityAddon)
)]
struct ApiDoc;

struct SecurityAddon;
impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("API key `ak_…`"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                autonoma_core::service::SESSION_COOKIE,
            ))),
        );
    }
}

/// The routes and their OpenAPI 3.1 document (as utoipa derives it, before
/// [`openapi::complete`]); uploads accept files of up to `max_upload_bytes`.
fn split(max_upload_bytes: usize) -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(handlers::routes())
        .merge(governance::routes())
        .merge(knowledge::routes(max_upload_bytes))
        .merge(mcp_servers::routes())
        .merge(audit::routes())
        .merge(preflight::routes())
        .split_for_parts();
    (router, doc)
}

/// The OpenAPI 3.1 document of the API as served at `/api/openapi.json`: utoipa's, completed
/// by [`openapi::complete`] (problem media types, the error answers of each kind of
/// operation, security).
pub fn openapi() -> serde_json::Value {
    completed(split(autonoma_core::knowledge::DEFAULT_MAX_UPLOAD_BYTES).1)
}

fn completed(doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serializes");
    openapi::complete(&mut doc);
    doc
}

/// The API router (all paths under `/api`, plus the MCP server at `/mcp` and its
/// `/.well-known/oauth-protected-resource`: [`mcp`]), with the body limits (1 MiB; the upload
/// route: the service's upload limit) and a problem+json 404 under `/api`.
pub fn router(state: ApiState) -> Router {
    let max_upload = state
        .service
        .knowledge_engine()
        .map(|k| k.config.max_upload_bytes)
        .unwrap_or(autonoma_core::knowledge::DEFAULT_MAX_UPLOAD_BYTES);
    let (routes, doc) = split(max_upload);
    let doc = Arc::new(completed(doc));
    Router::new()
        .merge(routes)
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .merge(mcp::routes(state.clone()))
        .route("/api/{*rest}", axum::routing::any(problem::not_found))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
