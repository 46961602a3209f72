//! Preflights ("ghost runs"): `POST /api/v1/agents/{id}/preflight` runs an agent with every
//! non-read-only tool simulated and answers with the plan; `GET /api/v1/preflights/{id}`
//! reads a plan again. A live run follows a plan with `preflight_id` in
//! `POST /api/v1/agents/{id}/runs`.

use std::time::Duration;

use autonoma_core::plan::{Plan, PreflightInput};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::{ApiError, ApiResult, Json, Path, Query};
use crate::ApiState;

/// Longest `wait` a preflight request may ask for: 120 s, below the API Lambda function's
/// timeout, so the response always comes from this handler.
pub const MAX_WAIT_SECS: u64 = 120;
/// `wait` when the request names none: 30 s.
pub const DEFAULT_WAIT_SECS: u64 = 30;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(start_preflight))
        .routes(routes!(get_preflight))
}

/// Query of `POST /api/v1/agents/{id}/preflight`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    /// Seconds to wait for the preflight to finish, 0..=120 (default 30).
    #[param(minimum = 0, maximum = 120)]
    wait: Option<u64>,
}

/// Run a preflight (member+): the agent runs on `input` with read-only tools the policy
/// allows executed and every other tool call simulated (never executed; its result is
/// synthesized and marked `simulated`), and nothing waits for approval. Answers 200 with
/// the plan once the preflight ended, or 202 with the plan so far (and `Location`) if it
/// is still running after `wait` seconds.
#[utoipa::path(post, path = "/api/v1/agents/{id}/preflight", tag = "runs", params(("id" = Uuid, Path), WaitQuery),
    request_body = PreflightInput,
    responses((status = 200, body = Plan, description = "the preflight ended"),
              (status = 202, body = Plan, description = "still running: poll `Location`"),
              (status = 404, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn start_preflight(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(q): Query<WaitQuery>,
    Json(input): Json<PreflightInput>,
) -> ApiResult<Response> {
    let wait = q.wait.unwrap_or(DEFAULT_WAIT_SECS);
    if wait > MAX_WAIT_SECS {
        return Err(autonoma_core::Error::validation(
            "wait",
            format!("at most {MAX_WAIT_SECS} seconds"),
        )
        .into());
    }
    let run = state
        .service
        .start_preflight(&caller.actor, id, input)
        .await?;
    let plan = state
        .service
        .await_preflight(&caller.actor, run.id, Duration::from_secs(wait))
        .await?;
    let status = if plan.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let location = HeaderValue::from_str(&format!("/api/v1/preflights/{}", plan.id))
        .map_err(|e| ApiError::from(autonoma_core::Error::internal(e.to_string())))?;
    Ok((status, [(header::LOCATION, location)], axum::Json(plan)).into_response())
}

/// A preflight's plan (viewer+): complete once `status` is terminal.
#[utoipa::path(get, path = "/api/v1/preflights/{id}", tag = "runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = Plan), (status = 404, body = crate::problem::Problem)))]
async fn get_preflight(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Plan>> {
    Ok(axum::Json(
        state.service.preflight_plan(&caller.actor, id).await?,
    ))
}
