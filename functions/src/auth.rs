//! Authentication of API callers.
//!
//! Two credentials are accepted:
//! * `Authorization: Bearer ak_…` — an API key (no CSRF exposure: browsers never attach it);
//! * the session cookie — then every unsafe method (POST, PUT, PATCH, DELETE) must carry
//!   `X-CSRF-Token` equal to the session's token (returned by `GET /api/v1/me`), the
//!   synchronizer-token pattern of the OWASP CSRF cheat sheet.

use std::net::{IpAddr, SocketAddr};

use autonoma_core::model::Actor;
use autonoma_core::service::SESSION_COOKIE;
use autonoma_core::Error;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts, Method, StatusCode};
use axum_extra::extract::cookie::CookieJar;

use crate::problem::ApiError;
use crate::ApiState;

/// The authenticated caller. Rejects with 401 `unauthenticated` or 403 `csrf_failed`.
pub struct Caller {
    pub actor: Actor,
    /// The session's CSRF token when authenticated by cookie.
    pub csrf_token: Option<String>,
}

/// Header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let value = auth
                .to_str()
                .map_err(|_| ApiError::from(Error::Unauthenticated))?;
            let Some(secret) = value.strip_prefix("Bearer ").map(str::trim) else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "expected `Authorization: Bearer <API key>`",
                ));
            };
            let actor = state.service.actor_from_api_key(secret).await?;
            return Ok(Caller {
                actor,
                csrf_token: None,
            });
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_string()) else {
            return Err(Error::Unauthenticated.into());
        };
        let (actor, csrf) = state.service.actor_from_session(&token).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "missing or wrong X-CSRF-Token for a cookie-authenticated write",
                ));
            }
        }
        Ok(Caller {
            actor,
            csrf_token: Some(csrf),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client address: the [`autonoma_core::ClientAddr`] extension set by the entry point
/// (Lambda, a verified edge), else the TCP peer when the server has connect info.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext
        .get::<autonoma_core::ClientAddr>()
        .map(|c| c.0)
        .or_else(|| parts_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
}

/// `Set-Cookie` value for a new session: HttpOnly, SameSite=Lax, 14 days, `Secure` when asked.
pub fn session_cookie(token: &str, secure: bool) -> String {
    let max_age = autonoma_core::service::SESSION_TTL.num_seconds();
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` value that clears the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// True when the request arrived over https (directly or per `X-Forwarded-Proto`).
pub fn is_https(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}
