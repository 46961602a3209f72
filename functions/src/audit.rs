//! Audit handlers: the organization's audit log (`/api/v1/audit`, admin+), its export as
//! JSON lines (`/api/v1/audit/export`), a run's signed receipt
//! (`/api/v1/runs/{id}/receipt`), and the instance's public audit key
//! (`/.well-known/autonoma/audit-key`, no authentication). docs/AUDIT.md describes the
//! formats and how to verify them offline (`autonoma audit verify`).

use autonoma_core::audit::{AuditEntry, AuditKey, SignedRunReceipt};
use autonoma_core::model::Page;
use autonoma_core::service::AuditQuery;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::{ApiResult, Path, Query};
use crate::ApiState;

/// Media type of the export: one JSON entry per line.
pub const JSON_LINES: &str = "application/jsonl";

/// The audit routes.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(export_audit))
        .routes(routes!(run_receipt))
        .routes(routes!(audit_key))
}

/// Filters and page of the audit log.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// An action name (`auth.login`) or a prefix ending in `.` or `.*` (`auth.*`).
    #[param(min_length = 1, max_length = 100)]
    pub action: Option<String>,
    /// Entries of this acting user (by session or by their API keys).
    pub actor: Option<Uuid>,
    /// At or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The organization's audit log, newest first (admin+).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Page<AuditEntry>), (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn list_audit(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> ApiResult<axum::Json<Page<AuditEntry>>> {
    let q = AuditQuery {
        action: p.action,
        actor: p.actor,
        since: p.since,
        until: p.until,
        cursor: p.cursor.map(|c| c.to_string()),
        limit: p.limit,
    };
    Ok(axum::Json(
        state.service.list_audit(&caller.actor, q).await?,
    ))
}

/// The organization's whole audit chain, oldest first, as JSON lines (admin+): one entry
/// per line, verifiable offline with `autonoma audit verify FILE --public-key KEY`.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit",
    responses((status = 200, content_type = "application/jsonl", body = AuditEntry), (status = 403, body = crate::problem::Problem)))]
async fn export_audit(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    // The first batch is read before answering, so that a refusal is a problem response.
    let first = state.service.audit_export_batch(&caller.actor, 0).await?;
    let service = state.service.clone();
    let actor = caller.actor;
    let stream = async_stream::stream! {
        let mut batch = first;
        loop {
            let mut chunk = String::new();
            for e in &batch {
                match serde_json::to_string(e) {
                    Ok(line) => {
                        chunk.push_str(&line);
                        chunk.push('\n');
                    }
                    Err(e) => {
                        yield Err(std::io::Error::other(e));
                        return;
                    }
                }
            }
            let last = batch.last().map(|e| e.seq);
            let full = batch.len() >= autonoma_core::service::EXPORT_BATCH as usize;
            yield Ok::<_, std::io::Error>(chunk);
            let (Some(after), true) = (last, full) else { return };
            match service.audit_export_batch(&actor, after).await {
                Ok(next) => batch = next,
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed midway");
                    yield Err(std::io::Error::other(e.to_string()));
                    return;
                }
            }
        }
    };
    let mut res = Body::from_stream(stream).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_LINES));
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.jsonl\""),
    );
    Ok(res)
}

/// A run's signed receipt (viewer+): its tool calls with their policy decisions, approvals
/// and outcomes (arguments and outputs as SHA-256), signed with the instance key.
#[utoipa::path(get, path = "/api/v1/runs/{id}/receipt", tag = "runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = SignedRunReceipt), (status = 404, body = crate::problem::Problem)))]
async fn run_receipt(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<SignedRunReceipt>> {
    Ok(axum::Json(
        state.service.run_receipt(&caller.actor, id).await?,
    ))
}

/// The instance's Ed25519 public key that audit entries and receipts verify with (no
/// authentication).
#[utoipa::path(get, path = "/.well-known/autonoma/audit-key", tag = "audit",
    responses((status = 200, body = AuditKey)))]
async fn audit_key(State(state): State<ApiState>) -> axum::Json<AuditKey> {
    axum::Json(state.service.audit_key())
}
