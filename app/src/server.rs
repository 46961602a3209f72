//! The axum side: pages (SSR + hydration), server functions, static assets, and the
//! guards in front of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use autonoma_core::service::{Service, SESSION_COOKIE};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::services::ServeDir;

use crate::api::ssr::{cookie, NewKeyFlash, NEW_KEY_COOKIE};
use crate::api::SERVER_FN_PREFIX;
use crate::app::{shell, App, Assets};

/// Router state (Leptos needs its options reachable from the state).
#[derive(Clone)]
struct AppState {
    leptos_options: LeptosOptions,
    service: Arc<Service>,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> LeptosOptions {
        s.leptos_options.clone()
    }
}

/// Every page of the web UI, its server functions (under `/sfn`), and the built assets
/// under `/pkg` (from `site_dir/pkg`, as written by `cargo run -p xtask -- build-site`).
///
/// - Pages are rendered on the server and hydrated by `/pkg/autonoma*.js`; a page load
///   without a valid session cookie is redirected to `/login?next=…`, and `/` goes to
///   `/agents` or `/login`.
/// - Server-function POSTs pass an origin check: 403 when `Origin` names another host
///   than `Host` (or `X-Forwarded-Host`), or when `Sec-Fetch-Site: cross-site`.
/// - Server-function bodies are limited to [`MAX_SERVER_FN_BODY_BYTES`] (413 above it);
///   the document upload (`/sfn/knowledge/upload`, `multipart/form-data` only, else 415)
///   to 4 × the knowledge engine's per-file limit + 1 MiB (41 MiB by default), and it enforces the knowledge engine's per-file limit
///   itself while it streams the parts.
/// - `/pkg/*` files named with a content hash are `immutable` for a year; the others
///   (`autonoma.css`, …) are revalidated (`no-cache`).
/// - Unknown paths render the "not found" page with status 404 (this router has a
///   fallback, so merge it with routers that have none).
///
/// Nothing here lives under `/api`, which belongs to the REST API.
pub fn router(service: Arc<Service>, site_dir: PathBuf) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("autonoma")
        .site_root(site_dir.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .build();
    let state = AppState {
        leptos_options,
        service: service.clone(),
    };
    let routes = route_list();

    let context = {
        let service = service.clone();
        let site_dir = site_dir.clone();
        move || {
            provide_context(service.clone());
            provide_context(load_assets(&site_dir));
        }
    };
    let pkg = ServeDir::new(site_dir.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    let not_found = {
        let context = context.clone();
        let options = state.leptos_options.clone();
        leptos_axum::render_app_to_stream_with_context(context, move || shell(options.clone()))
    };

    Router::new()
        .leptos_routes_with_context(&state, routes, context, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .nest_service("/pkg", pkg)
        .fallback(move |req: Request| {
            let rendering = not_found(req);
            async move {
                let mut res = rendering.await;
                if res.status() == StatusCode::OK {
                    *res.status_mut() = StatusCode::NOT_FOUND;
                }
                res
            }
        })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The app's route list, generated once per process. `generate_route_list` runs the app
/// with leptos_server's process-global `SuppressResourceLoad` flag set, and a `Resource`
/// whose future is first polled on another thread during that window waits forever
/// (leptos_server 0.8.8, `resource.rs`; leptos-rs/leptos#4773). Built once, and before any
/// router built here can serve (a second caller waits on the `OnceLock`), the window never
/// overlaps a render. Two routers in one process used to hang 1 test run in 7 this way.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Reads `site_dir/pkg/manifest.json` (hashed names); falls back to the plain names.
fn load_assets(site_dir: &Path) -> Assets {
    let Ok(text) = std::fs::read_to_string(site_dir.join("pkg/manifest.json")) else {
        return Assets::default();
    };
    let Ok(map) = serde_json::from_str::<std::collections::HashMap<String, String>>(&text) else {
        return Assets::default();
    };
    let d = Assets::default();
    Assets {
        js: map.get("js").cloned().unwrap_or(d.js),
        wasm: map.get("wasm").cloned().unwrap_or(d.wasm),
        css: map.get("css").cloned().unwrap_or(d.css),
    }
}

/// Largest body of a server-function call other than the upload: 1 MiB, the REST API's
/// limit too (forms and JSON arguments are far smaller).
pub const MAX_SERVER_FN_BODY_BYTES: usize = 1 << 20;

/// Paths a visitor without a session may load.
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/signup" | "/favicon.ico")
        || path.starts_with("/pkg/")
        || path.starts_with(&format!("{SERVER_FN_PREFIX}/"))
}

/// Origin check for server functions, login redirects for pages, cache headers for assets.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();

    if path.starts_with(&format!("{SERVER_FN_PREFIX}/")) {
        if method != Method::GET && method != Method::HEAD {
            if let Err(why) = check_origin(&req) {
                tracing::warn!(%path, why, "rejected cross-origin server function call");
                return (StatusCode::FORBIDDEN, format!("Forbidden: {why}")).into_response();
            }
        }
        if method == Method::POST
            && path == crate::api::knowledge::UploadDocuments::PATH
            && !is_multipart(&req)
        {
            // The multipart decoder needs a boundary; refuse anything else readably.
            let err = crate::AppError::new("request", "Uploads must be sent as multipart/form-data (a form with enctype=\"multipart/form-data\").");
            let body = serde_json::to_string(&err).unwrap_or_default();
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        let limit = if path == crate::api::knowledge::UploadDocuments::PATH {
            crate::api::ssr::max_upload_bytes(&state.service)
                .saturating_mul(4)
                .saturating_add(1 << 20)
        } else {
            MAX_SERVER_FN_BODY_BYTES
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            let err = crate::AppError::new(
                "payload_too_large",
                format!(
                    "The request is larger than the {} MiB this form accepts.",
                    limit >> 20
                ),
            );
            let body = serde_json::to_string(&err).unwrap_or_default();
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
        // Bodies without a Content-Length (chunked) are cut off at the same limit.
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts, Body::new(http_body_util::Limited::new(body, limit)));
        return with_error_status(next.run(req).await).await;
    }

    if path.starts_with("/pkg/") {
        let hashed = is_hashed_asset(&path);
        let mut res = next.run(req).await;
        if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
            let value = if hashed {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
        }
        return res;
    }

    // A page whose subject does not exist in the caller's organization is answered 404 (the
    // page itself renders "not found"; in-order streaming cannot change the status itself).
    let mut missing_page = false;
    if method == Method::GET || method == Method::HEAD {
        let session = cookie_of(&req, SESSION_COOKIE);
        let actor = match session {
            Some(token) if !token.is_empty() => state
                .service
                .actor_from_session(&token)
                .await
                .ok()
                .map(|(actor, _)| actor),
            _ => None,
        };
        let signed_in = actor.is_some();
        if let (Some(rest), Some(actor)) = (path.strip_prefix("/knowledge/"), &actor) {
            if !rest.is_empty() && !rest.contains('/') {
                missing_page = match uuid::Uuid::parse_str(rest) {
                    Ok(id) => matches!(
                        state.service.get_knowledge_base(actor, id).await,
                        Err(autonoma_core::Error::NotFound(_))
                    ),
                    Err(_) => true,
                };
            }
        }
        if path == "/" {
            return Redirect::to(if signed_in { "/agents" } else { "/login" }).into_response();
        }
        if (path == "/login" || path == "/signup") && signed_in {
            return Redirect::to("/agents").into_response();
        }
        if !is_public(&path) && !signed_in {
            let next = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/agents");
            return Redirect::to(&format!("/login?next={}", encode_query_value(next)))
                .into_response();
        }
        // Hand a freshly created key's secret (plain form post) to this page load, once.
        if path == "/settings/api-keys" {
            if let Some(flash) = cookie_of(&req, NEW_KEY_COOKIE) {
                let mut req = req;
                if let Some((id, secret)) = flash.split_once(':') {
                    req.extensions_mut()
                        .insert(NewKeyFlash(id.to_string(), secret.to_string()));
                }
                let mut res = next.run(req).await;
                let clear = format!("{NEW_KEY_COOKIE}=; HttpOnly; SameSite=Strict; Path=/settings/api-keys; Max-Age=0");
                if let Ok(v) = HeaderValue::from_str(&clear) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
                return res;
            }
        }
    }
    let mut res = next.run(req).await;
    if missing_page && res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::NOT_FOUND;
    }
    if res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
    {
        // Pages carry per-user data.
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        res.headers_mut()
            .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        res.headers_mut().insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    res
}

/// Server functions answer every error with 500; give API-style statuses instead
/// (400 validation, 401, 403, 404, 409, 413, 429, 502, 503), read from the [`crate::AppError`] JSON.
async fn with_error_status(res: Response) -> Response {
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error body too large").into_response();
    };
    if let Ok(err) = serde_json::from_slice::<crate::AppError>(&bytes) {
        parts.status = match err.code.as_str() {
            "validation_failed" | "request" => StatusCode::BAD_REQUEST,
            "unauthenticated" => StatusCode::UNAUTHORIZED,
            "forbidden" => StatusCode::FORBIDDEN,
            "not_found" => StatusCode::NOT_FOUND,
            "conflict" => StatusCode::CONFLICT,
            "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
            "provider_error" => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A `multipart/form-data` body with a boundary.
fn is_multipart(req: &Request<Body>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase().starts_with("multipart/form-data") && v.contains("boundary=")
        })
}

fn cookie_of(req: &Request<Body>, name: &str) -> Option<String> {
    cookie(req.headers(), name)
}

/// `autonoma.<16 hex>.js` and the like.
fn is_hashed_asset(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3 && parts[1].len() == 16 && parts[1].chars().all(|c| c.is_ascii_hexdigit())
}

/// Percent-encodes a value for a query string.
fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// CSRF defence for server functions (on top of the SameSite=Lax session cookie).
fn check_origin(req: &Request<Body>) -> Result<(), &'static str> {
    let h = req.headers();
    if h.get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err("cross-site request");
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| "malformed Origin")?;
    let (scheme, authority) = origin.split_once("://").ok_or("opaque Origin")?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return Err("unexpected Origin scheme"),
    };
    let origin_hp = host_port(authority.trim_end_matches('/'), default_port);
    let hosts = [h.get(header::HOST), h.get("x-forwarded-host")];
    let same = hosts
        .iter()
        .flatten()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim())
        .any(|host| host_port(host, default_port) == origin_hp);
    if same {
        Ok(())
    } else {
        Err("Origin does not match Host")
    }
}

/// `host[:port]` lower-cased with the scheme's default port made explicit.
fn host_port(authority: &str, default_port: &str) -> String {
    let a = authority.to_ascii_lowercase();
    // IPv6 literals: "[::1]:8080"
    let has_port = match a.rfind(']') {
        Some(i) => a[i..].contains(':'),
        None => a.contains(':'),
    };
    if has_port {
        a
    } else {
        format!("{a}:{default_port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method("POST").uri("/sfn/login");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn origin_check() {
        assert!(check_origin(&req(&[("host", "localhost:3000")])).is_ok());
        assert!(check_origin(&req(&[
            ("host", "localhost:3000"),
            ("origin", "http://localhost:3000")
        ]))
        .is_ok());
        assert!(check_origin(&req(&[
            ("host", "example.com"),
            ("origin", "https://example.com")
        ]))
        .is_ok());
        assert!(check_origin(&req(&[
            ("host", "example.com:443"),
            ("origin", "https://example.com")
        ]))
        .is_ok());
        assert!(check_origin(&req(&[
            ("host", "localhost:3000"),
            ("origin", "http://evil.test")
        ]))
        .is_err());
        assert!(check_origin(&req(&[
            ("host", "localhost:3000"),
            ("origin", "http://localhost:3001")
        ]))
        .is_err());
        assert!(check_origin(&req(&[("host", "localhost:3000"), ("origin", "null")])).is_err());
        assert!(check_origin(&req(&[
            ("host", "localhost:3000"),
            ("sec-fetch-site", "cross-site")
        ]))
        .is_err());
        assert!(check_origin(&req(&[
            ("host", "internal:8080"),
            ("x-forwarded-host", "app.example.com"),
            ("origin", "https://app.example.com")
        ]))
        .is_ok());
    }

    #[test]
    fn helpers() {
        assert!(is_hashed_asset("/pkg/autonoma.0123456789abcdef.js"));
        assert!(is_hashed_asset("/pkg/autonoma_bg.0123456789abcdef.wasm"));
        assert!(!is_hashed_asset("/pkg/autonoma.css"));
        assert_eq!(
            encode_query_value("/agents/x?thread=a&b"),
            "/agents/x%3Fthread%3Da%26b"
        );
        assert!(is_public("/sfn/login") && is_public("/login") && !is_public("/agents"));
    }
}
