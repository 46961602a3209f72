//! Static assets of the Leptos site, served by the edge from its own copy of `site/pkg`.
//!
//! `cargo run -p xtask -- build-site` writes into `site/pkg`:
//! content-hashed copies `<stem>.<16 hex>.<ext>` of the JS, wasm and CSS (the hash is of the
//! bytes, so a name never changes meaning), the unhashed originals, `manifest.json`, and a
//! gzip-compressed `<file>.gz` next to each JS/wasm/CSS file.
//!
//! The files come from the service bound as [`ASSETS_BINDING`] — in workerd a `disk`
//! service over `site/pkg` (it answers `GET`/`HEAD /<file>` with the bytes, `Content-Length`
//! and `Last-Modified`, 404 for a missing file). The origin is never asked for `/pkg/…`.
//!
//! Response policy:
//!
//! | request | answer |
//! |---|---|
//! | hashed name | 200, `Cache-Control: `[`IMMUTABLE`], strong `ETag: "<hash>"` (`"<hash>-gz"` for the gzip body) |
//! | unhashed name (`autonoma.css`, `manifest.json`, …) | 200, `Cache-Control: `[`REVALIDATE`] (the browser revalidates every use), weak `ETag` from size and modification time, `Last-Modified` |
//! | `If-None-Match` matching, or (unhashed, without `If-None-Match`) `If-Modified-Since` not older than the file | 304 |
//! | `Accept-Encoding` allows gzip and `<file>.gz` exists | that body with `Content-Encoding: gzip` (every answer carries `Vary: Accept-Encoding`) |
//! | missing file, unsafe name (dot segment, empty segment, characters outside `[A-Za-z0-9._-/]`), or a `.gz` name | 404, `Cache-Control: `[`MISSING`] — not forwarded: the origin of a deployment has no copy of the assets, and a miss must not be cached while a deploy rolls out |
//! | any method but `GET`/`HEAD` | 405, `Allow: GET, HEAD` |
//!
//! `Content-Type` comes from the extension ([`content_type`]); `X-Content-Type-Options:
//! nosniff` is always set.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

use crate::text_response;

/// Name of the service binding that serves the files of `site/pkg` by file name
/// (`GET http://assets/<name>`).
pub const ASSETS_BINDING: &str = "ASSETS";

/// `Cache-Control` of content-hashed assets: one year, never revalidated.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of unhashed assets: cacheable, but revalidated (ETag / Last-Modified)
/// on every use, so a new build is seen at once.
pub const REVALIDATE: &str = "no-cache";

/// `Cache-Control` of a 404 under `/pkg/`: not stored anywhere (a file missing during a
/// deploy may appear a moment later).
pub const MISSING: &str = "no-store";

/// Length of the hex content hash in hashed names (64-bit FNV-1a, as xtask writes it).
pub const HASH_LEN: usize = 16;

/// Answers `GET`/`HEAD /pkg/<name>` from the [`ASSETS_BINDING`] service, following the
/// policy in the module documentation. `name` is the path after `/pkg/`, still
/// percent-encoded as in the URL.
///
/// # Errors
/// When the binding is missing or not a fetcher, or the JS runtime fails a call (these
/// become a 500); a failing asset service answer (other than 404) is reported as 502.
pub async fn serve(
    req: &web_sys::Request,
    env: &Env,
    name: &str,
) -> worker::Result<web_sys::Response> {
    let method = req.method();
    if method != "GET" && method != "HEAD" {
        return text_response(
            405,
            "method not allowed\n",
            &[("allow", "GET, HEAD"), ("cache-control", MISSING)],
        );
    }
    if !is_safe_name(name) || name.ends_with(".gz") {
        return not_found();
    }
    let headers = req.headers();
    let if_none_match = headers.get("if-none-match")?;
    let hash = content_hash(name);

    // A hashed name identifies its bytes: answer conditionals without touching the files.
    if let (Some(hash), Some(inm)) = (hash, if_none_match.as_deref()) {
        for tag in [format!("\"{hash}\""), format!("\"{hash}-gz\"")] {
            if etag_matches(inm, &tag) {
                return not_modified(&tag, IMMUTABLE, None);
            }
        }
    }

    let fetcher: worker::worker_sys::Fetcher =
        js_sys::Reflect::get(env, &JsValue::from_str(ASSETS_BINDING))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
            .ok_or_else(|| {
                worker::Error::RustError(format!("the {ASSETS_BINDING} binding is missing"))
            })?
            .unchecked_into();

    let mut gzip = false;
    let mut file = None;
    if accepts_gzip(headers.get("accept-encoding")?.as_deref()) {
        let res = fetch_file(&fetcher, &format!("{name}.gz"), &method).await?;
        if res.status() == 200 {
            gzip = true;
            file = Some(res);
        } else {
            discard(&res);
        }
    }
    let file = match file {
        Some(f) => f,
        None => fetch_file(&fetcher, name, &method).await?,
    };
    match file.status() {
        200 => {}
        404 => return not_found(),
        status => {
            discard(&file);
            return text_response(
                502,
                &format!("asset store answered {status}\n"),
                &[("cache-control", MISSING)],
            );
        }
    }

    let file_headers = file.headers();
    let last_modified = file_headers.get("last-modified")?;
    let length = file_headers.get("content-length")?;
    let (etag, cache_control) = match hash {
        Some(hash) => (
            format!("\"{hash}{}\"", if gzip { "-gz" } else { "" }),
            IMMUTABLE,
        ),
        None => {
            let basis = format!(
                "{}|{}|{gzip}",
                length.as_deref().unwrap_or(""),
                last_modified.as_deref().unwrap_or("")
            );
            (format!("W/\"{}\"", fnv1a_hex(basis.as_bytes())), REVALIDATE)
        }
    };
    let fresh = match (&if_none_match, hash) {
        (Some(inm), _) => etag_matches(inm, &etag),
        (None, None) => match (headers.get("if-modified-since")?, &last_modified) {
            (Some(since), Some(modified)) => not_modified_since(&since, modified),
            _ => false,
        },
        (None, Some(_)) => false,
    };
    if fresh {
        discard(&file);
        return not_modified(&etag, cache_control, last_modified.as_deref());
    }

    let out = web_sys::Headers::new()?;
    out.set("content-type", content_type(name))?;
    out.set("cache-control", cache_control)?;
    out.set("etag", &etag)?;
    out.set("vary", "Accept-Encoding")?;
    out.set("x-content-type-options", "nosniff")?;
    if let Some(lm) = &last_modified {
        out.set("last-modified", lm)?;
    }
    if let Some(len) = &length {
        out.set("content-length", len)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(200);
    init.set_headers(&out);
    if gzip {
        out.set("content-encoding", "gzip")?;
        // The body is already gzip: the runtime must send it as is, not compress it again.
        js_sys::Reflect::set(
            &init,
            &JsValue::from_str("encodeBody"),
            &JsValue::from_str("manual"),
        )?;
    }
    let body = if method == "HEAD" { None } else { file.body() };
    Ok(web_sys::Response::new_with_opt_readable_stream_and_init(
        body.as_ref(),
        &init,
    )?)
}

/// `GET`/`HEAD http://assets/<name>` on the asset service.
async fn fetch_file(
    fetcher: &worker::worker_sys::Fetcher,
    name: &str,
    method: &str,
) -> worker::Result<web_sys::Response> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let promise = fetcher.fetch_with_str_and_init(&format!("http://assets/{name}"), &init)?;
    Ok(JsFuture::from(promise).await?.dyn_into()?)
}

/// Cancels an unread body so the runtime can release it.
fn discard(res: &web_sys::Response) {
    if let Some(body) = res.body() {
        let _ = body.cancel();
    }
}

fn not_found() -> worker::Result<web_sys::Response> {
    text_response(404, "not found\n", &[("cache-control", MISSING)])
}

fn not_modified(
    etag: &str,
    cache_control: &str,
    last_modified: Option<&str>,
) -> worker::Result<web_sys::Response> {
    let h = web_sys::Headers::new()?;
    h.set("etag", etag)?;
    h.set("cache-control", cache_control)?;
    h.set("vary", "Accept-Encoding")?;
    if let Some(lm) = last_modified {
        h.set("last-modified", lm)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(304);
    init.set_headers(&h);
    Ok(web_sys::Response::new_with_opt_str_and_init(None, &init)?)
}

/// The content hash of a name as xtask writes it — `<stem>.<16 lowercase hex>.<ext>`,
/// the last path segment having exactly three dot-separated parts — or `None` for any
/// other name. `"autonoma.0a3ca690286ea143.js"` → `Some("0a3ca690286ea143")`.
pub fn content_hash(name: &str) -> Option<&str> {
    let file = name.rsplit('/').next().unwrap_or(name);
    let mut parts = file.split('.');
    let (Some(stem), Some(hash), Some(ext), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let is_hex = hash.len() == HASH_LEN
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (!stem.is_empty() && !ext.is_empty() && is_hex).then_some(hash)
}

/// True for a relative file path made of non-empty segments of `[A-Za-z0-9._-]` that do
/// not start with a dot (so no `..`, no hidden files, no directory listing, no
/// percent-encoded tricks).
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// The `Content-Type` for a file name, by extension (`application/octet-stream` when
/// unknown). Text types carry `charset=utf-8`; `.wasm` is `application/wasm` (needed by
/// `WebAssembly.instantiateStreaming`).
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "html" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => "application/octet-stream",
    }
}

/// True when an `Accept-Encoding` value allows gzip: `gzip` (or `*` without an explicit
/// `gzip`) listed with a q-value above 0.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    let mut star = false;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .next()
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = q > 0.0,
            _ => {}
        }
    }
    star
}

/// True when an `If-None-Match` value (`*` or a comma-separated list of entity tags)
/// matches `etag` by weak comparison (the `W/` prefix is ignored on both sides).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let want = etag.trim().trim_start_matches("W/");
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == want)
}

/// True when the HTTP date `since` (`If-Modified-Since`) is not older than the HTTP date
/// `modified` (`Last-Modified`); false when either does not parse.
fn not_modified_since(since: &str, modified: &str) -> bool {
    let (s, m) = (js_sys::Date::parse(since), js_sys::Date::parse(modified));
    !s.is_nan() && !m.is_nan() && m <= s
}

/// 64-bit FNV-1a of `bytes` as 16 lowercase hex digits (the hash xtask uses for names).
fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
