//! Forwarding to the origin (`autonoma serve`, or the Lambda function URL in the cloud).
//!
//! A request `METHOD /path?query` becomes `METHOD <ORIGIN_URL>/path?query` with the same
//! body (streamed, never read into memory) and the same headers, except:
//!
//! * removed: `Host` (the subrequest gets the origin's), hop-by-hop headers
//!   ([`HOP_BY_HOP`] and any named in `Connection`), and any client-sent
//!   `X-Origin-Verify`, `X-Real-IP`, `X-Forwarded-Host`, `X-Forwarded-Proto`;
//! * `X-Forwarded-For` and `X-Real-IP`: the client address from `CF-Connecting-IP` (set by
//!   Cloudflare and not forgeable there; a client-sent `X-Forwarded-For` is then
//!   replaced). Without `CF-Connecting-IP` (plain workerd behind another proxy) the
//!   incoming `X-Forwarded-For` is kept and its first entry becomes `X-Real-IP`; with
//!   neither, both are absent. See [`client_ip`].
//! * `X-Forwarded-Proto`: the scheme the client used (`https` on Cloudflare);
//!   `X-Forwarded-Host`: the `Host` the client asked for;
//! * `X-Origin-Verify`: the secret binding `ORIGIN_VERIFY`, when it is set.
//!
//! The origin's response is returned as it is: status, headers and a body that streams
//! through chunk by chunk (SSE events arrive one by one). Redirects are not followed
//! (`redirect: "manual"`): the client gets the 3xx and its `Location`.
//!
//! Errors: no `ORIGIN_URL` binding → 502 `edge misconfigured`; the origin cannot be reached
//! (connection refused, DNS, TLS) → 502 `origin unreachable`. Both are plain text with
//! `Cache-Control: no-store`. WebSocket upgrades are not proxied (`Upgrade` is dropped as a
//! hop-by-hop header); Autonoma uses none.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::{text_binding, text_response};

/// Text binding with the origin's base URL (`scheme://host[:port][/prefix]`, no trailing
/// slash needed).
pub const ORIGIN_URL_BINDING: &str = "ORIGIN_URL";

/// Secret binding whose value is sent to the origin as [`ORIGIN_VERIFY_HEADER`].
pub const ORIGIN_VERIFY_BINDING: &str = "ORIGIN_VERIFY";

/// Header carrying the shared secret that proves a request came through the edge.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy `Keep-Alive`/`Proxy-Connection`)
/// that are never forwarded.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers only the edge may set; a client's values are removed before forwarding.
pub const EDGE_SET: &[&str] = &[
    "host",
    ORIGIN_VERIFY_HEADER,
    "x-real-ip",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// Forwards `req` (whose parsed URL is `url`) to the origin and returns the origin's
/// response unchanged and unbuffered; see the module documentation for the headers.
///
/// # Errors
/// Only when the JS runtime fails to build the request or response objects (a 500); an
/// unreachable or unconfigured origin is answered with 502 instead.
pub async fn forward(
    req: &web_sys::Request,
    url: &web_sys::Url,
    env: &Env,
) -> worker::Result<web_sys::Response> {
    let Some(origin) = text_binding(env, ORIGIN_URL_BINDING) else {
        worker::console_error!("edge: the {ORIGIN_URL_BINDING} binding is not set");
        return text_response(
            502,
            "edge misconfigured: no origin\n",
            &[("cache-control", "no-store")],
        );
    };
    let incoming = req.headers();
    let headers = web_sys::Headers::new_with_headers(&incoming)?;
    if let Some(connection) = incoming.get("connection")? {
        for name in connection
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            headers.delete(name)?;
        }
    }
    for name in HOP_BY_HOP.iter().chain(EDGE_SET) {
        headers.delete(name)?;
    }

    let cf_ip = incoming.get("cf-connecting-ip")?;
    let xff = incoming.get("x-forwarded-for")?;
    if let Some(ip) = client_ip(cf_ip.as_deref(), xff.as_deref()) {
        if cf_ip.is_some() {
            headers.set("x-forwarded-for", &ip)?;
        }
        headers.set("x-real-ip", &ip)?;
    }
    headers.set("x-forwarded-proto", url.protocol().trim_end_matches(':'))?;
    let host = incoming.get("host")?.unwrap_or_else(|| url.host());
    headers.set("x-forwarded-host", &host)?;
    if let Some(secret) = text_binding(env, ORIGIN_VERIFY_BINDING) {
        headers.set(ORIGIN_VERIFY_HEADER, &secret)?;
    }

    let init = web_sys::RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = req.body() {
        init.set_body(&body);
    }
    let target = target_url(&origin, &url.pathname(), &url.search());
    let outgoing = web_sys::Request::new_with_str_and_init(&target, &init)?;
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    match JsFuture::from(scope.fetch_with_request(&outgoing)).await {
        Ok(res) => Ok(res.dyn_into::<web_sys::Response>()?),
        Err(e) => {
            worker::console_error!("edge: origin fetch failed: {}", describe(&e));
            text_response(
                502,
                "origin unreachable\n",
                &[("cache-control", "no-store")],
            )
        }
    }
}

/// The origin URL for a request path and query: `origin` without its trailing `/`, then
/// `path` (starting with `/`), then `search` (empty or starting with `?`).
/// `("http://o:8080/", "/api/v1/me", "?a=1")` → `"http://o:8080/api/v1/me?a=1"`.
pub fn target_url(origin: &str, path: &str, search: &str) -> String {
    format!("{}{path}{search}", origin.trim_end_matches('/'))
}

/// The client's IP address: `CF-Connecting-IP` when present, else the first entry of
/// `X-Forwarded-For`, else `None`. Values are trimmed; empty ones count as absent.
pub fn client_ip(cf_connecting_ip: Option<&str>, x_forwarded_for: Option<&str>) -> Option<String> {
    cf_connecting_ip
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            x_forwarded_for
                .and_then(|x| x.split(',').next())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        })
        .map(str::to_owned)
}

/// A JS error's message (or its string form) for logs.
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
