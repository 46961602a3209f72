//! Autonoma's edge tier: a Cloudflare Worker (workers-rs, compiled to
//! `wasm32-unknown-unknown`) in front of the `autonoma` origin.
//!
//! Every request is answered in one of two ways:
//!
//! * `GET`/`HEAD /pkg/<name>` — a static asset of the Leptos site (`site/pkg`, written by
//!   `cargo run -p xtask -- build-site`), read from the service bound as
//!   [`assets::ASSETS_BINDING`] (in workerd a `disk` service over `site/pkg`). The origin is
//!   never asked for these; see [`assets`] for cache headers, ETags and the 404 policy.
//! * everything else (SSR pages, `/api/...`, `/sfn/...` server functions, SSE streams) is
//!   forwarded to the origin at the text binding [`proxy::ORIGIN_URL_BINDING`], with the
//!   forwarding headers and the origin-verify secret added; the response streams back
//!   unbuffered and redirects are returned, not followed. See [`proxy`].
//!
//! Bindings (names as the workerd config or `wrangler.toml` declare them):
//!
//! | binding | kind | meaning |
//! |---|---|---|
//! | `ORIGIN_URL` | text | base URL of the origin, e.g. `https://abc.lambda-url.eu-west-1.on.aws` (a path prefix is kept) |
//! | `ORIGIN_VERIFY` | secret (text) | sent as `X-Origin-Verify`; the origin refuses requests without it when `AUTONOMA_TRUST_FORWARDED=origin-verify` |
//! | `ASSETS` | service (fetcher) | the `site/pkg` files, looked up by file name |
//!
//! `functions/edge/build.sh` builds the wasm, runs wasm-bindgen and writes a workerd
//! config next to it; `functions/edge/README.md` explains how to run it.

#![warn(missing_docs)]

use wasm_bindgen::JsValue;
use worker::{event, Context, Env};

pub mod assets;
pub mod proxy;

/// Path prefix of the static assets (`/pkg/<file name>`), as the SSR pages link them.
pub const ASSET_PREFIX: &str = "/pkg/";

/// The Worker's `fetch` handler: routes `/pkg/…` to [`assets::serve`] and everything else
/// to [`proxy::forward`]. Errors become a 500 from the workers-rs glue (logged with
/// `console.error`).
#[event(fetch)]
async fn main(req: web_sys::Request, env: Env, _ctx: Context) -> worker::Result<web_sys::Response> {
    let url = web_sys::Url::new(&req.url())?;
    let path = url.pathname();
    match path.strip_prefix(ASSET_PREFIX) {
        Some(name) => assets::serve(&req, &env, name).await,
        None => proxy::forward(&req, &url, &env).await,
    }
}

/// The string value of the text or secret binding `name`, or `None` when it is missing,
/// not a string, or empty.
pub fn text_binding(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
        .filter(|s| !s.is_empty())
}

/// A response with a plain-text `body`, HTTP `status` and the given extra headers
/// (`Content-Type: text/plain; charset=utf-8` is always set).
///
/// # Errors
/// Only when the JS runtime refuses to build the response (an invalid header name or value).
pub fn text_response(
    status: u16,
    body: &str,
    headers: &[(&str, &str)],
) -> worker::Result<web_sys::Response> {
    let h = web_sys::Headers::new()?;
    h.set("content-type", "text/plain; charset=utf-8")?;
    for (k, v) in headers {
        h.set(k, v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&h);
    Ok(web_sys::Response::new_with_opt_str_and_init(
        Some(body),
        &init,
    )?)
}
