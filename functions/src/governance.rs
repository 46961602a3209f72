//! Tool policies (`/api/v1/policies`) and approvals (`/api/v1/approvals`): the
//! organization's rules, and the inbox of tool calls waiting for a person.

use autonoma_core::governance::{Approval, ApprovalInput, ApprovalStatus, Policy, PolicyInput};
use autonoma_core::model::Page;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::{ApiError, ApiResult, Json, Path, Query};
use crate::ApiState;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
        .routes(routes!(list_approvals))
        .routes(routes!(get_approval))
        .routes(routes!(approve))
        .routes(routes!(deny))
}

/// The organization's tool policy rules, in evaluation order (after each agent's own).
#[utoipa::path(get, path = "/api/v1/policies", tag = "governance", responses((status = 200, body = Vec<Policy>)))]
async fn list_policies(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Policy>>> {
    Ok(axum::Json(
        state.service.list_policies(&caller.actor).await?,
    ))
}

/// Add an organization rule (admin). `when` is CEL over `args`; unknown fields are refused.
#[utoipa::path(post, path = "/api/v1/policies", tag = "governance", request_body = PolicyInput,
    responses((status = 201, body = Policy), (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn create_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<PolicyInput>,
) -> ApiResult<(StatusCode, axum::Json<Policy>)> {
    let p = state.service.create_policy(&caller.actor, input).await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// One organization rule.
#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "governance", params(("id" = Uuid, Path)),
    responses((status = 200, body = Policy), (status = 404, body = crate::problem::Problem)))]
async fn get_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Policy>> {
    Ok(axum::Json(
        state.service.get_policy(&caller.actor, id).await?,
    ))
}

/// Replace an organization rule (admin).
#[utoipa::path(put, path = "/api/v1/policies/{id}", tag = "governance", params(("id" = Uuid, Path)), request_body = PolicyInput,
    responses((status = 200, body = Policy), (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn update_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(input): Json<PolicyInput>,
) -> ApiResult<axum::Json<Policy>> {
    Ok(axum::Json(
        state
            .service
            .update_policy(&caller.actor, id, input)
            .await?,
    ))
}

/// Remove an organization rule (admin).
#[utoipa::path(delete, path = "/api/v1/policies/{id}", tag = "governance", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem)))]
async fn delete_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.service.delete_policy(&caller.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approval list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalParams {
    /// `pending`, `approved`, `denied` or `expired`; all when absent.
    pub status: Option<ApprovalStatus>,
    pub cursor: Option<Uuid>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Approvals, newest first (the inbox: `?status=pending`).
#[utoipa::path(get, path = "/api/v1/approvals", tag = "governance", params(ApprovalParams),
    responses((status = 200, body = Page<Approval>), (status = 422, body = crate::problem::Problem)))]
async fn list_approvals(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<ApprovalParams>,
) -> ApiResult<axum::Json<Page<Approval>>> {
    Ok(axum::Json(
        state
            .service
            .list_approvals(
                &caller.actor,
                p.status,
                p.cursor.map(|c| c.to_string()).as_deref(),
                p.limit,
            )
            .await?,
    ))
}

/// One approval.
#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "governance", params(("id" = Uuid, Path)),
    responses((status = 200, body = Approval), (status = 404, body = crate::problem::Problem)))]
async fn get_approval(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Approval>> {
    Ok(axum::Json(
        state.service.get_approval(&caller.actor, id).await?,
    ))
}

/// The optional body of a decision: empty, or a JSON object of type `T`.
fn decision_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::from(autonoma_core::Error::validation(
            "body",
            format!("not a valid decision: {e}"),
        ))
    })?;
    crate::problem::refuse_nul(&value)?;
    serde_json::from_value(value).map_err(|e| {
        ApiError::from(autonoma_core::Error::validation(
            "body",
            format!("not a valid decision: {e}"),
        ))
    })
}

/// Body of `POST /api/v1/approvals/{id}/deny` (a denial cannot edit arguments).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenialInput {
    /// Up to 2,000 characters; given to the model as the tool's result.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub comment: String,
}

/// Approve a pending tool call (member), optionally with edited `arguments`; the run
/// resumes. A second decision is 409.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "governance", params(("id" = Uuid, Path)), request_body(content = ApprovalInput, description = "Optional"),
    responses((status = 200, body = Approval), (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn approve(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> ApiResult<axum::Json<Approval>> {
    let input: ApprovalInput = decision_body(&body)?;
    Ok(axum::Json(
        state.service.approve(&caller.actor, id, input).await?,
    ))
}

/// Deny a pending tool call (member); the comment goes to the model as the tool's result
/// and the run resumes. A second decision is 409.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/deny", tag = "governance", params(("id" = Uuid, Path)), request_body(content = DenialInput, description = "Optional"),
    responses((status = 200, body = Approval), (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn deny(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> ApiResult<axum::Json<Approval>> {
    let input: DenialInput = decision_body(&body)?;
    let input = ApprovalInput {
        comment: input.comment,
        arguments: None,
    };
    Ok(axum::Json(
        state.service.deny(&caller.actor, id, input).await?,
    ))
}
