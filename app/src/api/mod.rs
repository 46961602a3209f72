//! Server functions the pages call (mounted under [`SERVER_FN_PREFIX`]), one module per
//! area of the UI (mirroring [`crate::pages`]); helpers of their bodies in `ssr` here.
//!
//! Each one authenticates the caller from the session cookie and calls
//! `autonoma_core::service::Service`; the bodies exist only in the `ssr` build. They return
//! the records of `autonoma-types` as they are (the browser deserialises the same types),
//! or small UI views composed of them. Form-posted functions take flat string arguments so
//! that plain HTML forms (no JavaScript) can call them; they redirect where a browser form
//! post should land.

pub mod agents;
pub mod approvals;
pub mod auth;
pub mod chat;
pub mod knowledge;
pub mod mcp;
pub mod preflight;
pub mod run;
pub mod settings;

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
