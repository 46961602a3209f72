//! `http_fetch` end to end against a local axum server on 127.0.0.1:0.
//!
//! Nothing here reaches the internet: refused URLs are refused before any connection (the
//! allowlist check needs no DNS, and IP literals and `localhost` are judged locally), and allowed
//! fetches go to the local server through the test-only loopback policy.

use std::time::Duration;

use autonoma_core::tool::{Tool, ToolContext};
use autonoma_tools::http_fetch::MAX_BODY_BYTES;
use autonoma_tools::{AddressPolicy, HttpFetch};
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Starts the test server; returns its `http://127.0.0.1:PORT` base URL.
async fn server() -> String {
    let app = Router::new()
        .route("/hello", get(|| async { "hello from the test server" }))
        .route(
            "/json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"ok":true}"#,
                )
            }),
        )
        .route("/big", get(|| async { "a".repeat(2 * MAX_BODY_BYTES) }))
        .route("/exact", get(|| async { "b".repeat(MAX_BODY_BYTES) }))
        .route(
            "/image",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    vec![0x89u8, b'P', b'N', b'G'],
                )
            }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such page") }),
        )
        .route("/redirect-local", get(|| async { Redirect::to("/hello") }))
        .route(
            "/redirect-evil",
            get(|| async { Redirect::temporary("http://evil.example/steal") }),
        )
        .route(
            "/redirect-metadata",
            get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/redirect-file",
            get(|| async { Redirect::to("file:///etc/passwd") }),
        )
        .route(
            "/redirect-loop",
            get(|| async { Redirect::to("/redirect-loop") }),
        )
        .route(
            "/chain/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    "end of chain".into_response()
                } else {
                    Redirect::to(&format!("/chain/{}", n - 1)).into_response()
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "too late"
            }),
        )
        .route(
            "/no-content-type",
            get(|| async {
                let mut response: Response = "untyped".into_response();
                response.headers_mut().remove(header::CONTENT_TYPE);
                response
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn loopback_tool() -> HttpFetch {
    HttpFetch::new_with_policy(AddressPolicy::AllowLoopback)
}

fn allow(hosts: &[&str]) -> Vec<String> {
    hosts.iter().map(|h| h.to_string()).collect()
}

async fn refused(tool: &HttpFetch, url: &str, allowlist: &[&str]) -> String {
    match tool.fetch(url, &allow(allowlist)).await {
        Ok(output) => panic!("{url} was fetched: {output}"),
        Err(err) => err.0,
    }
}

#[tokio::test]
async fn strict_policy_refuses_internal_addresses_even_when_allowlisted() {
    let tool = HttpFetch::new();
    let cases = [
        (
            "http://127.0.0.1/",
            "127.0.0.1",
            "127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122)",
        ),
        ("http://127.0.0.1:8080/admin", "127.0.0.1", "loopback"),
        ("http://localhost/", "localhost", "loopback"),
        ("http://LOCALHOST:9000/", "localhost", "loopback"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
            "cloud metadata",
        ),
        ("http://10.0.0.1/", "10.0.0.1", "private network, RFC 1918"),
        ("http://192.168.1.1/", "192.168.1.1", "RFC 1918"),
        ("http://172.16.5.4/", "172.16.5.4", "RFC 1918"),
        ("http://100.64.0.1/", "100.64.0.1", "RFC 6598"),
        ("http://0.0.0.0/", "0.0.0.0", "this network"),
        (
            "http://[::1]/",
            "::1",
            "::1 is in ::1/128 (loopback, RFC 4291)",
        ),
        (
            "http://[::ffff:127.0.0.1]/",
            "::ffff:127.0.0.1",
            "IPv4-mapped 127.0.0.1",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "::ffff:169.254.169.254",
            "IPv4-mapped 169.254.169.254",
        ),
        ("http://[fe80::1]/", "fe80::1", "link-local"),
        ("http://[fd00::1]/", "fd00::1", "unique local"),
        // Other spellings of 127.0.0.1 are normalised before the check.
        ("http://0x7f.0.0.1/", "127.0.0.1", "loopback"),
        ("http://2130706433/", "127.0.0.1", "loopback"),
        ("http://127.1/", "127.0.0.1", "loopback"),
    ];
    for (url, allowed, expected) in cases {
        let message = refused(&tool, url, &[allowed]).await;
        assert!(
            message.starts_with("http_fetch: refusing to connect to "),
            "{url}: {message}"
        );
        assert!(
            message.contains(expected),
            "{url}: {message:?} lacks {expected:?}"
        );
    }
}

#[tokio::test]
async fn strict_policy_refuses_a_live_local_server() {
    let base = server().await;
    let message = refused(&HttpFetch::new(), &format!("{base}/hello"), &["127.0.0.1"]).await;
    assert!(message.contains("loopback"), "{message}");
}

#[tokio::test]
async fn allowlist_is_enforced() {
    let tool = HttpFetch::new();
    let message = refused(&tool, "https://example.com/", &["example.org"]).await;
    assert_eq!(
        message,
        "http_fetch: host example.com is not on this agent's HTTP allowlist (allowed: example.org; \
         subdomains of a listed domain are allowed too)"
    );
    let message = refused(&tool, "https://evil-example.com/", &["example.com"]).await;
    assert!(
        message.contains("not on this agent's HTTP allowlist"),
        "{message}"
    );
    let message = refused(&tool, "https://example.com.evil.net/", &["example.com"]).await;
    assert!(
        message.contains("not on this agent's HTTP allowlist"),
        "{message}"
    );

    for empty in [&[][..], &[""], &["  "]] {
        let message = refused(&tool, "https://example.com/", empty).await;
        assert!(
            message.contains("allowlist is empty, so no host may be fetched"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn only_http_and_https() {
    let tool = HttpFetch::new();
    for url in [
        "file:///etc/passwd",
        "ftp://example.com/file",
        "gopher://example.com/",
        "data:text/plain,hi",
    ] {
        let message = refused(&tool, url, &["example.com"]).await;
        assert!(
            message.contains("only http:// and https:// URLs can be fetched"),
            "{url}: {message}"
        );
    }
    let message = refused(&tool, "not a url", &["example.com"]).await;
    assert!(message.contains("invalid URL"), "{message}");
    let message = refused(&tool, "https://user:secret@example.com/", &["example.com"]).await;
    assert!(message.contains("user name or password"), "{message}");
    let long = format!("https://example.com/{}", "a".repeat(9000));
    let message = refused(&tool, &long, &["example.com"]).await;
    assert!(message.contains("the limit is 8192"), "{message}");
}

#[tokio::test]
async fn fetches_text_from_an_allowed_host() {
    let base = server().await;
    let tool = loopback_tool();
    let output = tool
        .fetch(&format!("{base}/hello"), &allow(&["127.0.0.1"]))
        .await
        .unwrap();
    assert_eq!(
        output,
        "HTTP 200 OK\ncontent-type: text/plain; charset=utf-8\n\nhello from the test server"
    );

    let output = tool
        .fetch(&format!("{base}/json"), &allow(&["127.0.0.1"]))
        .await
        .unwrap();
    assert_eq!(
        output,
        "HTTP 200 OK\ncontent-type: application/json\n\n{\"ok\":true}"
    );

    // Error statuses are results, not tool errors.
    let output = tool
        .fetch(&format!("{base}/missing"), &allow(&["127.0.0.1"]))
        .await
        .unwrap();
    assert!(output.starts_with("HTTP 404 Not Found\n"), "{output}");
    assert!(output.ends_with("\n\nno such page"), "{output}");
}

#[tokio::test]
async fn fetches_through_a_name_pinned_to_its_vetted_address() {
    let base = server().await;
    let port = base.rsplit(':').next().unwrap();
    let output = loopback_tool()
        .fetch(
            &format!("http://localhost:{port}/hello"),
            &allow(&["localhost"]),
        )
        .await
        .unwrap();
    assert!(output.ends_with("hello from the test server"), "{output}");
}

#[tokio::test]
async fn tool_call_uses_the_context_allowlist() {
    let base = server().await;
    let tool = loopback_tool();
    let ctx = ToolContext {
        http_allowlist: allow(&["127.0.0.1"]),
        ..ToolContext::default()
    };
    let output = tool
        .call(serde_json::json!({"url": format!("{base}/hello")}), &ctx)
        .await
        .unwrap();
    assert!(output.ends_with("hello from the test server"));

    let err = tool
        .call(
            serde_json::json!({"url": format!("{base}/hello")}),
            &ToolContext::default(),
        )
        .await
        .unwrap_err();
    assert!(err.0.contains("allowlist is empty"), "{err}");
    let err = tool.call(serde_json::json!({}), &ctx).await.unwrap_err();
    assert!(
        err.0.contains("missing required string argument \"url\""),
        "{err}"
    );
    let err = tool
        .call(serde_json::json!({"url": 1}), &ctx)
        .await
        .unwrap_err();
    assert!(err.0.contains("must be a string"), "{err}");
}

#[tokio::test]
async fn body_is_capped_at_one_mebibyte() {
    let base = server().await;
    let tool = loopback_tool();
    let output = tool
        .fetch(&format!("{base}/big"), &allow(&["127.0.0.1"]))
        .await
        .unwrap();
    let (head, rest) = output.split_once("\n\n").unwrap();
    assert_eq!(head, "HTTP 200 OK\ncontent-type: text/plain; charset=utf-8");
    let (body, note) = rest.split_once("\n\n").unwrap();
    assert_eq!(body.len(), MAX_BODY_BYTES);
    assert!(body.bytes().all(|b| b == b'a'));
    assert!(
        note.starts_with("[truncated: the body is longer than 1048576 bytes"),
        "{note}"
    );

    let output = tool
        .fetch(&format!("{base}/exact"), &allow(&["127.0.0.1"]))
        .await
        .unwrap();
    assert!(!output.contains("truncated"));
    assert_eq!(output.split_once("\n\n").unwrap().1.len(), MAX_BODY_BYTES);
}

#[tokio::test]
async fn refuses_non_text_content() {
    let base = server().await;
    let tool = loopback_tool();
    let message = refused(&tool, &format!("{base}/image"), &["127.0.0.1"]).await;
    assert!(
        message.contains("content type 'image/png', which is not text"),
        "{message}"
    );
    let message = refused(&tool, &format!("{base}/no-content-type"), &["127.0.0.1"]).await;
    assert!(message.contains("without a content type"), "{message}");
}

#[tokio::test]
async fn follows_allowed_redirects() {
    let base = server().await;
    let tool = loopback_tool();
    let output = tool
        .fetch(&format!("{base}/redirect-local"), &allow(&["127.0.0.1"]))
        .await
        .unwrap();
    assert!(
        output.starts_with("HTTP 200 OK\n") && output.ends_with("hello from the test server"),
        "{output}"
    );

    let output = tool
        .fetch(&format!("{base}/chain/5"), &allow(&["127.0.0.1"]))
        .await
        .unwrap();
    assert!(output.ends_with("end of chain"), "{output}");
}

#[tokio::test]
async fn refuses_too_many_redirects() {
    let base = server().await;
    let tool = loopback_tool();
    let message = refused(&tool, &format!("{base}/chain/6"), &["127.0.0.1"]).await;
    assert!(
        message.contains("too many redirects: gave up after 5"),
        "{message}"
    );
    let message = refused(&tool, &format!("{base}/redirect-loop"), &["127.0.0.1"]).await;
    assert!(message.contains("too many redirects"), "{message}");
}

#[tokio::test]
async fn rechecks_every_redirect() {
    let base = server().await;
    let tool = loopback_tool();

    let message = refused(&tool, &format!("{base}/redirect-evil"), &["127.0.0.1"]).await;
    assert_eq!(
        message,
        "http_fetch: redirect 1 to http://evil.example/steal refused: host evil.example is not on \
         this agent's HTTP allowlist (allowed: 127.0.0.1; subdomains of a listed domain are \
         allowed too)"
    );

    // Even with the metadata IP allowlisted, the address guard stops the hop.
    let message = refused(
        &tool,
        &format!("{base}/redirect-metadata"),
        &["127.0.0.1", "169.254.169.254"],
    )
    .await;
    assert!(
        message.contains("redirect 1 to http://169.254.169.254/latest/meta-data/ refused"),
        "{message}"
    );
    assert!(message.contains("link-local"), "{message}");

    let message = refused(&tool, &format!("{base}/redirect-file"), &["127.0.0.1"]).await;
    assert!(
        message.contains("only http:// and https:// URLs"),
        "{message}"
    );
}

#[tokio::test]
async fn whole_fetch_times_out() {
    let base = server().await;
    let tool = loopback_tool().with_timeout(Duration::from_millis(300));
    let message = refused(&tool, &format!("{base}/slow"), &["127.0.0.1"]).await;
    assert!(message.contains("timed out after 300ms"), "{message}");
}
