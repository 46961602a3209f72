//! The `http_fetch` tool: GET a text resource from an allowlisted host, guarded against SSRF.
//!
//! Each request (the first and every redirect hop) goes through the same checks, in order:
//!
//! 1. the scheme is `http` or `https`, and the URL carries no user name or password;
//! 2. the host is on the agent's allowlist ([`ToolContext::http_allowlist`]): equal to an entry or
//!    a subdomain of one (`api.example.com` matches `example.com`; IP-address entries match only
//!    themselves). An empty allowlist allows nothing;
//! 3. the host is resolved here, and **every** resolved address must pass the
//!    [`AddressPolicy`] (see [`crate::address`] for the refused ranges);
//! 4. the connection is made only to those vetted addresses: the client gets a DNS resolver that
//!    answers with them for that host and refuses any other name, and no proxy is used, so a DNS
//!    answer that changes between the check and the connection (DNS rebinding) cannot redirect it.
//!
//! Redirects (301, 302, 303, 307, 308) are not followed by the HTTP client; up to
//! [`MAX_REDIRECTS`] are followed here, each re-checked from step 1. The whole fetch, DNS and
//! redirects included, must finish within [`TIMEOUT`]; at most [`MAX_BODY_BYTES`] of the body are
//! read and the rest is dropped with a note; only textual content types (see [`is_textual`]) are
//! returned.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::llm::ToolDefinition;
use autonoma_core::tool::{Tool, ToolContext, ToolError};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use url::{Host, Url};

use crate::address::AddressPolicy;

/// Most bytes of a response body that are read and returned (1 MiB); the rest is dropped and the
/// output says `truncated`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;

/// Time allowed for a whole fetch: DNS, connecting, every redirect hop and reading the body.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Longest accepted URL, in bytes.
pub const MAX_URL_LEN: usize = 8 * 1024;

const USER_AGENT: &str = concat!("autonoma-http-fetch/", env!("CARGO_PKG_VERSION"));

/// The `http_fetch` tool.
///
/// Arguments: `{"url": string}`, an absolute `http://` or `https://` URL.
///
/// Result, for any HTTP status (a 404 is a result, not an error):
///
/// ```text
/// HTTP 200 OK
/// content-type: text/html; charset=utf-8
///
/// <body, decoded as UTF-8 with invalid bytes replaced>
/// ```
///
/// followed by a line `[truncated: ...]` when the body was longer than [`MAX_BODY_BYTES`].
///
/// Errors (a [`ToolError`] starting `http_fetch:`): missing or non-string `url`, an unparsable or
/// non-http(s) URL, a host not on the allowlist (or an empty allowlist), a host that resolves to
/// a refused address, DNS or connection failures, more than [`MAX_REDIRECTS`] redirects, a
/// redirect that fails any check, a non-text content type, and running past the timeout.
#[derive(Debug, Clone)]
pub struct HttpFetch {
    policy: AddressPolicy,
    timeout: Duration,
}

impl Default for HttpFetch {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpFetch {
    /// The production tool: [`AddressPolicy::Strict`] and a [`TIMEOUT`] of 10 s.
    pub fn new() -> Self {
        Self::new_with_policy(AddressPolicy::Strict)
    }

    /// A tool with the given address policy; tests use
    /// `AddressPolicy::AllowLoopback` to reach a local server.
    pub fn new_with_policy(policy: AddressPolicy) -> Self {
        HttpFetch {
            policy,
            timeout: TIMEOUT,
        }
    }

    /// Replaces the whole-fetch time limit (default [`TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The address policy in force.
    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// Fetches `url` if it and every redirect pass the checks described in the
    /// [module docs](self), with `allowlist` as the agent's allowed hosts. Returns the tool's
    /// output text (see [`HttpFetch`]).
    pub async fn fetch(&self, url: &str, allowlist: &[String]) -> Result<String, ToolError> {
        let result =
            match tokio::time::timeout(self.timeout, self.fetch_inner(url, allowlist)).await {
                Ok(result) => result,
                Err(_) => Err(format!("timed out after {:?} fetching {url}", self.timeout)),
            };
        result.map_err(|message| ToolError(format!("http_fetch: {message}")))
    }

    async fn fetch_inner(&self, url: &str, allowlist: &[String]) -> Result<String, String> {
        let allowed: Vec<AllowedHost> = allowlist
            .iter()
            .filter_map(|e| AllowedHost::parse(e))
            .collect();
        if allowed.is_empty() {
            return Err(
                "this agent's HTTP allowlist is empty, so no host may be fetched; the domain must \
                 be added to the agent's http_allowlist first"
                    .into(),
            );
        }
        if url.len() > MAX_URL_LEN {
            return Err(format!(
                "URL is {} bytes long; the limit is {MAX_URL_LEN}",
                url.len()
            ));
        }
        let mut url = Url::parse(url.trim()).map_err(|e| format!("invalid URL '{url}': {e}"))?;
        let mut redirects = 0;
        loop {
            let target = vet(&url, &allowed, self.policy).await.map_err(|reason| {
                if redirects == 0 {
                    reason
                } else {
                    format!("redirect {redirects} to {url} refused: {reason}")
                }
            })?;
            let response = self.send(&url, target).await?;
            let status = response.status();
            let location = response.headers().get(LOCATION).cloned();
            match (is_redirect(status), location) {
                (true, Some(location)) => {
                    let next = redirect_target(&url, &location)?;
                    if redirects == MAX_REDIRECTS {
                        return Err(format!(
                            "too many redirects: gave up after {MAX_REDIRECTS} (the next one, from \
                             {url}, pointed to {next})"
                        ));
                    }
                    redirects += 1;
                    url = next;
                }
                _ => return read_response(response).await,
            }
        }
    }

    async fn send(&self, url: &Url, target: Target) -> Result<reqwest::Response, String> {
        let resolver = PinnedResolver {
            host: target.domain.unwrap_or_default(),
            addrs: target.addrs,
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| format!("could not set up the HTTP client: {}", error_chain(&e)))?;
        client
            .get(url.clone())
            .header(
                ACCEPT,
                HeaderValue::from_static(
                    "text/*, application/json, application/xml;q=0.9, */*;q=0.1",
                ),
            )
            .send()
            .await
            .map_err(|e| format!("request to {url} failed: {}", error_chain(&e.without_url())))
    }
}

#[async_trait]
impl Tool for HttpFetch {
    fn read_only(&self) -> bool {
        true
    }
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: "http_fetch".into(),
            description: "Fetches a URL with HTTP GET and returns the status, content type and body \
                (text, JSON, XML and similar only; at most 1 MiB, longer bodies are truncated). Only \
                hosts on this agent's allowlist can be fetched; internal and private addresses \
                never can. Redirects are followed up to 5 times; the limit is 10 seconds."
                .into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {
                    "url": {
                        "type": "string",
                        "description": "Absolute http:// or https:// URL, e.g. \"https://example.com/page\".",
                        "maxLength": MAX_URL_LEN
                    }
                },
                "required": ["url"],
                "additionalProperties": false
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        ctx: &ToolContext,
    ) -> Result<String, ToolError> {
        let url = crate::required_string_arg("http_fetch", &arguments, "url")?;
        self.fetch(url, &ctx.http_allowlist).await
    }
}

/// Whether a `Content-Type` value names a textual format that `http_fetch` returns: `text/*`,
/// JSON and XML (including `+json` / `+xml` suffixes such as `application/ld+json` and
/// `application/rss+xml`), JavaScript, YAML, TOML, CSV, NDJSON, form data, GraphQL and SQL.
/// Parameters such as `charset` are ignored, and so is case.
pub fn is_textual(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if subtype.is_empty() {
        return false;
    }
    match kind {
        "text" => true,
        "application" => {
            subtype.ends_with("+json")
                || subtype.ends_with("+xml")
                || matches!(
                    subtype,
                    "json"
                        | "xml"
                        | "javascript"
                        | "x-javascript"
                        | "ecmascript"
                        | "yaml"
                        | "x-yaml"
                        | "toml"
                        | "csv"
                        | "x-ndjson"
                        | "ndjson"
                        | "jsonl"
                        | "x-www-form-urlencoded"
                        | "graphql"
                        | "sql"
                )
        }
        "image" => subtype == "svg+xml",
        _ => false,
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn redirect_target(from: &Url, location: &HeaderValue) -> Result<Url, String> {
    let location = location
        .to_str()
        .map_err(|_| format!("the redirect from {from} has a Location header that is not text"))?;
    from.join(location)
        .map_err(|e| format!("the redirect from {from} points to an invalid URL '{location}': {e}"))
}

async fn read_response(mut response: reqwest::Response) -> Result<String, String> {
    let status = response.status();
    let url = response.url().clone();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned());
    let content_type = match content_type {
        Some(content_type) if is_textual(&content_type) => content_type,
        Some(content_type) => {
            return Err(format!(
                "{url} answered HTTP {} with content type '{content_type}', which is not text; \
                 http_fetch only returns text/*, JSON, XML and similar textual formats",
                status.as_u16()
            ))
        }
        None if response.content_length() == Some(0)
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED =>
        {
            "(none)".to_owned()
        }
        None => {
            return Err(format!(
                "{url} answered HTTP {} without a content type, so it is not known to be text",
                status.as_u16()
            ))
        }
    };

    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        format!(
            "reading the response from {url} failed: {}",
            error_chain(&e.without_url())
        )
    })? {
        let room = MAX_BODY_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    drop(response);

    let status_line = match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    let mut out = format!(
        "HTTP {status_line}\ncontent-type: {content_type}\n\n{}",
        String::from_utf8_lossy(&body)
    );
    if truncated {
        out.push_str(&format!(
            "\n\n[truncated: the body is longer than {MAX_BODY_BYTES} bytes; only the first \
             {MAX_BODY_BYTES} bytes are shown]"
        ));
    }
    Ok(out)
}

/// A host as written in a URL or an allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedHost {
    /// Lowercase, punycode, no trailing dot.
    Domain(String),
    Ip(IpAddr),
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedHost::Domain(domain) => f.write_str(domain),
            AllowedHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            AllowedHost::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl AllowedHost {
    /// Parses an allowlist entry: `example.com`, `*.example.com` or `.example.com` (same meaning:
    /// the domain and its subdomains), an IP address (`127.0.0.1`, `::1`, `[::1]`) or a URL whose
    /// host is taken (`https://example.com/docs`). Blank or unparsable entries are skipped.
    fn parse(entry: &str) -> Option<AllowedHost> {
        let entry = entry.trim();
        if entry.contains("://") {
            return Url::parse(entry)
                .ok()
                .as_ref()
                .and_then(AllowedHost::of_url);
        }
        let entry = entry.trim_start_matches("*.").trim_start_matches('.');
        if entry.is_empty() {
            return None;
        }
        let unbracketed = entry
            .strip_prefix('[')
            .and_then(|e| e.strip_suffix(']'))
            .unwrap_or(entry);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Some(AllowedHost::Ip(ip));
        }
        // Normalise like a URL host: lowercase, IDNA, numeric IPv4 forms.
        Url::parse(&format!("http://{entry}/"))
            .ok()
            .as_ref()
            .and_then(AllowedHost::of_url)
    }

    fn of_url(url: &Url) -> Option<AllowedHost> {
        match url.host()? {
            Host::Domain(domain) => {
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                (!domain.is_empty()).then_some(AllowedHost::Domain(domain))
            }
            Host::Ipv4(ip) => Some(AllowedHost::Ip(IpAddr::V4(ip))),
            Host::Ipv6(ip) => Some(AllowedHost::Ip(IpAddr::V6(ip))),
        }
    }

    /// Whether this (URL) host is allowed by the `entry`: the same host, or a subdomain of a
    /// domain entry.
    fn matches(&self, entry: &AllowedHost) -> bool {
        match (self, entry) {
            (AllowedHost::Domain(host), AllowedHost::Domain(allowed)) => {
                host == allowed
                    || (host.len() > allowed.len()
                        && host.ends_with(allowed.as_str())
                        && host.as_bytes()[host.len() - allowed.len() - 1] == b'.')
            }
            (AllowedHost::Ip(host), AllowedHost::Ip(allowed)) => host == allowed,
            _ => false,
        }
    }
}

/// A vetted destination: the domain (None for an IP-literal host) and the addresses that passed
/// the policy.
struct Target {
    domain: Option<String>,
    addrs: Vec<SocketAddr>,
}

/// Steps 1–3 of the module docs for one request.
async fn vet(url: &Url, allowed: &[AllowedHost], policy: AddressPolicy) -> Result<Target, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "only http:// and https:// URLs can be fetched, not {}: URLs",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs with a user name or password are not allowed".into());
    }
    let host = AllowedHost::of_url(url).ok_or_else(|| format!("URL {url} has no host"))?;
    if !allowed.iter().any(|entry| host.matches(entry)) {
        let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        return Err(format!(
            "host {host} is not on this agent's HTTP allowlist (allowed: {}; subdomains of a \
             listed domain are allowed too)",
            list.join(", ")
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("URL {url} has no port"))?;
    let (domain, addrs) = match &host {
        AllowedHost::Ip(ip) => (None, vec![SocketAddr::new(*ip, port)]),
        AllowedHost::Domain(domain) => {
            let resolved: BTreeSet<SocketAddr> = tokio::net::lookup_host((domain.as_str(), port))
                .await
                .map_err(|e| format!("could not resolve {domain}: {e}"))?
                .collect();
            if resolved.is_empty() {
                return Err(format!("{domain} did not resolve to any address"));
            }
            (Some(domain.clone()), resolved.into_iter().collect())
        }
    };
    for addr in &addrs {
        policy.check(addr.ip()).map_err(|refusal| {
            format!(
                "refusing to connect to {host}: {refusal}; internal, private and other \
                 special-purpose addresses are never fetched"
            )
        })?;
    }
    Ok(Target { domain, addrs })
}

/// Answers DNS queries for the one vetted host with its vetted addresses and refuses every other
/// name, so the HTTP client cannot connect anywhere that was not checked.
struct PinnedResolver {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl reqwest::dns::Resolve for PinnedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().trim_end_matches('.');
        let result: Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> =
            if !self.host.is_empty() && name.eq_ignore_ascii_case(&self.host) {
                Ok(Box::new(self.addrs.clone().into_iter()))
            } else {
                Err(format!("{name} was not vetted by http_fetch").into())
            };
        Box::pin(std::future::ready(result))
    }
}

/// An error and its sources, joined with ": " (reqwest's top-level message alone is vague).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(url: &str) -> AllowedHost {
        AllowedHost::of_url(&Url::parse(url).unwrap()).unwrap()
    }

    fn allows(entry: &str, url: &str) -> bool {
        host(url).matches(&AllowedHost::parse(entry).unwrap())
    }

    #[test]
    fn allowlist_matching() {
        assert!(allows("example.com", "https://example.com/"));
        assert!(allows("example.com", "https://api.example.com/x"));
        assert!(allows("example.com", "https://a.b.example.com/x"));
        assert!(allows("Example.COM.", "https://EXAMPLE.com./"));
        assert!(allows("*.example.com", "https://api.example.com/"));
        assert!(allows(".example.com", "https://example.com/"));
        assert!(allows(
            "https://example.com/docs",
            "http://example.com:8080/"
        ));
        assert!(allows("127.0.0.1", "http://127.0.0.1:8080/"));
        assert!(allows("::1", "http://[::1]/"));
        assert!(allows("[::1]", "http://[::1]/"));
        assert!(allows("bücher.de", "https://xn--bcher-kva.de/"));

        assert!(!allows("example.com", "https://evil-example.com/"));
        assert!(!allows("example.com", "https://example.com.evil.net/"));
        assert!(!allows("example.com", "https://example.org/"));
        assert!(!allows("api.example.com", "https://example.com/"));
        assert!(!allows("127.0.0.1", "http://127.0.0.2/"));
        assert!(!allows("1.0.0.127", "http://x.1.0.0.127.example/"));

        for blank in ["", "  ", "*.", "."] {
            assert_eq!(AllowedHost::parse(blank), None, "{blank:?}");
        }
        // Numeric IPv4 spellings are normalised the way URLs are.
        assert_eq!(
            host("http://0x7f.1/"),
            AllowedHost::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            host("http://2130706433/"),
            AllowedHost::Ip("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn textual_content_types() {
        for textual in [
            "text/plain",
            "text/html; charset=utf-8",
            "TEXT/CSV",
            "application/json",
            "application/problem+json",
            "application/ld+json; charset=utf-8",
            "application/xml",
            "application/rss+xml",
            "application/atom+xml",
            "application/xhtml+xml",
            "application/javascript",
            "application/yaml",
            "image/svg+xml",
        ] {
            assert!(is_textual(textual), "{textual}");
        }
        for binary in [
            "image/png",
            "application/octet-stream",
            "application/pdf",
            "application/zip",
            "video/mp4",
            "text",
            "text/",
            "",
            "application/jsonx",
        ] {
            assert!(!is_textual(binary), "{binary}");
        }
    }

    #[tokio::test]
    async fn pinned_resolver_only_answers_for_the_vetted_host() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let addr: SocketAddr = "93.184.215.14:443".parse().unwrap();
        let resolver = PinnedResolver {
            host: "example.com".into(),
            addrs: vec![addr],
        };
        let name = reqwest::dns::Name::from_str("EXAMPLE.com").unwrap();
        let addrs: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
        assert_eq!(addrs, vec![addr]);
        let other = reqwest::dns::Name::from_str("attacker.example").unwrap();
        assert!(resolver.resolve(other).await.is_err());
    }
}
