//! Requests that come through the edge (CloudFront or the Cloudflare Worker): the origin
//! accepts only requests carrying the shared `X-Origin-Verify` secret, and takes the client
//! address from `X-Forwarded-For` only on such requests.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::problem::ApiError;

/// The header the edge adds to every request it forwards.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

/// Request extension set by [`require_origin_verify`] on requests that carried the right
/// secret: their `X-Forwarded-Host` / `X-Forwarded-For` were set by the edge.
#[derive(Debug, Clone, Copy)]
pub struct EdgeVerified;

/// Middleware: refuses (403 problem+json, code `origin_verify_failed`) every request whose
/// `X-Origin-Verify` header is missing or differs from `secret` (compared in constant
/// time), so the origin cannot be reached around the edge and its WAF. On accepted
/// requests, the first `X-Forwarded-For` address becomes the [`autonoma_core::ClientAddr`],
/// and [`EdgeVerified`] is added to the extensions.
///
/// Use with `axum::middleware::from_fn(move |req, next| require_origin_verify(secret.clone(), req, next))`.
pub async fn require_origin_verify(secret: Arc<str>, mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(ORIGIN_VERIFY_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(secret.as_bytes())) || secret.is_empty() {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_verify_failed",
            "requests must come through the edge",
        )
        .into_response();
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|ip| ip.trim().parse::<IpAddr>().ok());
    if let Some(ip) = forwarded {
        req.extensions_mut().insert(autonoma_core::ClientAddr(ip));
    }
    req.extensions_mut().insert(EdgeVerified);
    next.run(req).await
}
