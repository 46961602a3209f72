//! The UI router end to end over HTTP (no browser): redirects, cookies, the origin check,
//! server-function statuses, the 404 page, `/pkg` cache headers, and the knowledge-base
//! pages (plain form posts, multipart uploads, search, tenant isolation).

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::sync::Arc;

use autonoma_core::embedding::Embedder;
use autonoma_core::knowledge::embed_job::{run_embed_job, GPU_QUEUE};
use autonoma_core::knowledge::tokens::TokenCounter;
use autonoma_core::knowledge::{Knowledge, KnowledgeConfig};
use autonoma_core::service::{SecretBox, Service};
use autonoma_core::store::{JobQueue, Store};
use autonoma_storage::{LocalBlobStore, SqliteStore};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

async fn app() -> (Router, std::path::PathBuf) {
    let (app, dir, _) = app_with_store(true).await;
    (app, dir)
}

/// The router on a fresh SQLite store; with `knowledge`, knowledge bases are enabled (a
/// small upload limit, a word-count tokenizer and a hashing embedder stand in for the model).
async fn app_with_store(knowledge: bool) -> (Router, std::path::PathBuf, Arc<SqliteStore>) {
    let dir = std::env::temp_dir().join(format!("autonoma-app-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    let store = SqliteStore::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("db.sqlite").display()
    ))
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let engine = Arc::new(Knowledge::new(
        store.clone(),
        store.clone(),
        Arc::new(LocalBlobStore::new(dir.join("blobs"))),
        Arc::new(Words),
        Arc::new(HashEmbedder),
        KnowledgeConfig {
            max_upload_bytes: MAX_UPLOAD,
            ..KnowledgeConfig::default()
        },
    ));
    let service = Service::new(
        store.clone() as Arc<dyn Store>,
        store.clone() as Arc<dyn JobQueue>,
        SecretBox::new(&[1u8; 32]),
    );
    let service = Arc::new(if knowledge {
        service.with_knowledge(engine)
    } else {
        service
    });
    (autonoma_app::router(service, dir.join("site")), dir, store)
}

/// Upload limit of the test server.
const MAX_UPLOAD: usize = 64 * 1024;

/// Word pieces ≈ words, plus `[CLS]` and `[SEP]`.
struct Words;

impl TokenCounter for Words {
    fn count_tokens(&self, text: &str) -> autonoma_core::Result<usize> {
        Ok(text.split_whitespace().count() + 2)
    }
}

/// Bag of lower-cased words hashed into 384 dimensions, L2-normalised: texts sharing words
/// are close, which is all these tests need from search.
struct HashEmbedder;

#[async_trait::async_trait]
impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "test-hash"
    }
    fn dim(&self) -> usize {
        384
    }
    fn count_tokens(&self, text: &str) -> autonoma_core::Result<usize> {
        Words.count_tokens(text)
    }
    async fn embed(&self, texts: &[String]) -> autonoma_core::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 384];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let h = w
                        .to_lowercase()
                        .bytes()
                        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
                    v[h as usize % 384] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

/// Runs every queued embedding job, as the GPU worker would.
async fn embed_all(store: &Arc<SqliteStore>) {
    while let Some(job) = store
        .lease(GPU_QUEUE, std::time::Duration::from_secs(60))
        .await
        .unwrap()
    {
        run_embed_job(store.as_ref(), &HashEmbedder, &job.payload)
            .await
            .unwrap();
        store.complete(job.id, job.lease_token).await.unwrap();
    }
}

/// A `multipart/form-data` body: text fields, then files `(name, content type, bytes)`.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----autonoma-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (name, ty, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ty}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn upload(cookie: &str, content_type: &str, body: Vec<u8>, accept_html: bool) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri("/sfn/knowledge/upload")
        .header(header::HOST, "localhost:3000")
        .header(header::ORIGIN, "http://localhost:3000")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, content_type);
    b = if accept_html {
        b.header(header::ACCEPT, "text/html")
            .header(header::REFERER, "http://localhost:3000/knowledge/KB")
    } else {
        b.header(header::ACCEPT, "application/json")
    };
    b.body(Body::from(body)).unwrap()
}

async fn sign_up(app: &Router, email: &str) -> String {
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/signup",
            &format!("email={email}&password=long-enough-pw"),
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", body(res).await);
    res.headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .uri(path)
        .header(header::HOST, "localhost:3000")
        .header(header::ACCEPT, "text/html");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

fn post(path: &str, form: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, "localhost:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("accept")) {
        b = b.header(header::ACCEPT, "application/json");
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(Body::from(form.to_string())).unwrap()
}

async fn body(res: axum::response::Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(res.into_body(), 10 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn location(res: &axum::response::Response) -> String {
    res.headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn pages_sessions_and_guards() {
    let (app, dir) = app().await;

    // Unauthenticated page loads go to the login page.
    let res = app.clone().oneshot(get("/", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    let res = app
        .clone()
        .oneshot(get("/agents?cursor=x", None))
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?next=/agents%3Fcursor%3Dx");

    // The login page renders with a no-JS form and the hydration script.
    let res = app.clone().oneshot(get("/login", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = body(res).await;
    assert!(
        html.contains(r#"<form action="/sfn/login" method="post""#),
        "{html}"
    );
    assert!(
        html.contains("/pkg/autonoma.js") && html.contains("hydrate()"),
        "{html}"
    );

    // Sign-up sets the session cookie (Secure behind https).
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/signup",
            "email=ann%40example.com&password=long-enough-pw&name=Ann",
            &[("x-forwarded-proto", "https")],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", body(res).await);
    let set_cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.starts_with("autonoma_session=s_"),
        "{set_cookie}"
    );
    assert!(
        set_cookie.contains("HttpOnly; SameSite=Lax; Path=/; Max-Age=1209600; Secure"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // Login over plain http: no Secure flag.
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/login",
            "email=ann%40example.com&password=long-enough-pw",
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Secure"));

    // Signed in: / goes to /agents, which shows the empty state.
    let res = app.clone().oneshot(get("/", Some(&cookie))).await.unwrap();
    assert_eq!(location(&res), "/agents");
    let res = app
        .clone()
        .oneshot(get("/login", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(location(&res), "/agents");
    let res = app
        .clone()
        .oneshot(get("/agents", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    let html = body(res).await;
    assert!(html.contains("Create your first agent"), "{html}");

    // Unknown pages: 404 with the not-found page.
    let res = app
        .clone()
        .oneshot(get("/no/such/page", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(body(res).await.contains("Page not found"));

    // CSRF: cross-origin server-function posts are refused.
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/agents/list",
            "",
            &[("cookie", &cookie), ("origin", "http://evil.test")],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/agents/list",
            "",
            &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/agents/list",
            "",
            &[("cookie", &cookie), ("origin", "http://localhost:3000")],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, r#"{"items":[],"next_cursor":null}"#);

    // Errors carry API-like statuses and readable JSON.
    let res = app
        .clone()
        .oneshot(post("/sfn/agents/list", "", &[]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/agents/save",
            "name=A&model_ref=00000000-0000-0000-0000-000000000000%2Fm&max_steps=0",
            &[("cookie", &cookie)],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let err: autonoma_app::AppError = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(err.code, "validation_failed");

    // A plain form post that fails goes back to the form with the error in the URL.
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/login",
            "email=ann%40example.com&password=wrong-password",
            &[
                ("accept", "text/html"),
                ("referer", "http://localhost:3000/login?next=/agents"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let loc = location(&res);
    assert!(
        loc.starts_with("http://localhost:3000/login?next=/agents&__path=%2Fsfn%2Flogin&__err="),
        "{loc}"
    );

    // Log out ends the session and clears the cookie.
    let res = app
        .clone()
        .oneshot(post("/sfn/logout", "", &[("cookie", &cookie)]))
        .await
        .unwrap();
    assert!(res
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("autonoma_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"));
    let res = app
        .clone()
        .oneshot(get("/agents", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn pkg_assets_and_manifest() {
    let (app, dir) = app().await;
    let pkg = dir.join("site/pkg");
    std::fs::write(pkg.join("autonoma.css"), "body{}").unwrap();
    std::fs::write(pkg.join("autonoma.0123456789abcdef.css"), "body{}").unwrap();
    std::fs::write(pkg.join("autonoma_bg.0123456789abcdef.wasm"), b"\0asm").unwrap();
    std::fs::write(
        pkg.join("manifest.json"),
        r#"{"css":"autonoma.0123456789abcdef.css","js":"autonoma.0123456789abcdef.js","wasm":"autonoma_bg.0123456789abcdef.wasm"}"#,
    )
    .unwrap();

    let res = app
        .clone()
        .oneshot(get("/pkg/autonoma.css", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get(header::CONTENT_TYPE).unwrap(), "text/css");
    assert_eq!(
        res.headers().get(header::CACHE_CONTROL).unwrap(),
        "no-cache"
    );
    let res = app
        .clone()
        .oneshot(get("/pkg/autonoma_bg.0123456789abcdef.wasm", None))
        .await
        .unwrap();
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/wasm"
    );
    assert_eq!(
        res.headers().get(header::CACHE_CONTROL).unwrap(),
        "public, max-age=31536000, immutable"
    );
    let res = app
        .clone()
        .oneshot(get("/pkg/missing.js", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Pages link the hashed names from the manifest.
    let html = body(app.clone().oneshot(get("/login", None)).await.unwrap()).await;
    assert!(
        html.contains("/pkg/autonoma.0123456789abcdef.css"),
        "{html}"
    );
    assert!(
        html.contains("/pkg/autonoma_bg.0123456789abcdef.wasm"),
        "{html}"
    );

    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn knowledge_bases_without_javascript() {
    let (app, dir, store) = app_with_store(true).await;
    let cookie = sign_up(&app, "kim%40example.com").await;
    let html_post = |path: &str, form: &str| {
        post(
            path,
            form,
            &[
                ("cookie", cookie.as_str()),
                ("accept", "text/html"),
                ("referer", "http://localhost:3000/knowledge"),
            ],
        )
    };

    // The nav links the page; an organization without bases sees what they are for.
    let res = app
        .clone()
        .oneshot(get("/knowledge", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = body(res).await;
    assert!(
        html.contains(r#"href="/knowledge""#) && html.contains("No knowledge bases yet"),
        "{html}"
    );
    assert!(
        html.contains("A knowledge base is a collection of your documents"),
        "{html}"
    );
    assert!(
        html.contains(r#"<form action="/sfn/knowledge/create" method="post""#),
        "{html}"
    );

    // Validation errors come back to the form; a valid post creates the base and opens it.
    let res = app
        .clone()
        .oneshot(html_post("/sfn/knowledge/create", "name=&description="))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(location(&res).contains("__err="), "{}", location(&res));
    let res = app
        .clone()
        .oneshot(html_post(
            "/sfn/knowledge/create",
            "name=Handbook&description=Policies+and+FAQs",
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let loc = location(&res);
    let kb_id = loc
        .strip_prefix("/knowledge/")
        .unwrap_or_else(|| panic!("{loc}"))
        .to_string();
    assert!(uuid::Uuid::parse_str(&kb_id).is_ok(), "{loc}");

    let html = body(
        app.clone()
            .oneshot(get("/knowledge", Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains("Handbook")
            && html.contains("Policies and FAQs")
            && html.contains("0 documents"),
        "{html}"
    );

    // The base's page: a multipart upload form that works without JavaScript, empty states.
    let page = format!("/knowledge/{kb_id}");
    let res = app
        .clone()
        .oneshot(get(&page, Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = body(res).await;
    assert!(
        html.contains(
            r#"method="post" enctype="multipart/form-data" action="/sfn/knowledge/upload""#
        ),
        "{html}"
    );
    assert!(
        html.contains(r#"type="file" name="file" multiple"#)
            && html.contains(&format!(r#"name="kb_id" value="{kb_id}""#)),
        "{html}"
    );
    assert!(
        html.contains("No documents yet") && html.contains("This base is empty"),
        "{html}"
    );
    assert!(html.contains("up to 64.0 KiB each"), "{html}");

    // A plain multipart post: one good file, one empty, one binary posing as text. The good
    // one is stored; the page comes back with one readable line per refused file.
    let doc = format!(
        "# Refunds\n\n{}\n\n# Shipping\n\nParcels ship from Lyon every weekday. <script>alert('x')</script>\n",
        "Customers can ask for a refund within thirty days of purchase. ".repeat(40)
    );
    let (ct, bytes) = multipart(
        &[("kb_id", &kb_id)],
        &[
            ("policies.md", "text/markdown", doc.as_bytes()),
            ("empty.txt", "text/plain", b""),
            ("image.txt", "text/plain", b"\x89PNG\x00\x01\xff"),
        ],
    );
    let res = app
        .clone()
        .oneshot(upload(&cookie, &ct, bytes, true))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = location(&res);
    assert!(
        back.starts_with(
            "http://localhost:3000/knowledge/KB?__path=%2Fsfn%2Fknowledge%2Fupload&__err="
        ),
        "{back}"
    );
    let back = back.replace("http://localhost:3000/knowledge/KB", &page);
    let html = body(
        app.clone()
            .oneshot(get(&back, Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(html.contains("Upload refused"), "{html}");
    assert!(html.contains("Uploaded 1 of 3 files. empty.txt is empty · image.txt is declared as text/plain but is not UTF-8 text"), "{html}");
    assert!(
        html.contains("policies.md") && html.contains("status-queued"),
        "{html}"
    );
    assert!(
        html.contains(r#"role="progressbar""#) && html.contains(r#"aria-valuenow="0""#),
        "{html}"
    );
    assert!(
        html.contains(r#"aria-valuemax="4""#) && html.contains("0 / 4 chunks"),
        "{html}"
    );

    // The hydrated page sends one file per call and reads JSON: a duplicate is not an error
    // there, an oversized file is (413), and a post that is not multipart is refused (415).
    let (ct, bytes) = multipart(
        &[("kb_id", &kb_id)],
        &[("copy.md", "text/markdown", doc.as_bytes())],
    );
    let res = app
        .clone()
        .oneshot(upload(&cookie, &ct, bytes, false))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let uploaded: Vec<autonoma_app::api::knowledge::Uploaded> =
        serde_json::from_str(&body(res).await).unwrap();
    assert!(
        !uploaded[0].created && uploaded[0].document.name == "policies.md",
        "{uploaded:?}"
    );
    let big = vec![b'a'; MAX_UPLOAD + 1];
    let (ct, bytes) = multipart(&[("kb_id", &kb_id)], &[("big.txt", "text/plain", &big)]);
    let res = app
        .clone()
        .oneshot(upload(&cookie, &ct, bytes, false))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let err: autonoma_app::AppError = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(
        err.message,
        "big.txt is too large: 64.0 KiB — the limit is 64.0 KiB per file"
    );
    let res = app
        .clone()
        .oneshot(upload(
            &cookie,
            "application/x-www-form-urlencoded",
            b"kb_id=x".to_vec(),
            false,
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A plain post of a duplicate says so.
    let (ct, bytes) = multipart(
        &[("kb_id", &kb_id)],
        &[("again.md", "text/markdown", doc.as_bytes())],
    );
    let res = app
        .clone()
        .oneshot(upload(&cookie, &ct, bytes, true))
        .await
        .unwrap();
    let html = body(
        app.clone()
            .oneshot(get(
                &location(&res).replace("http://localhost:3000/knowledge/KB", &page),
                Some(&cookie),
            ))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains("again.md: already uploaded (same content as “policies.md”)"),
        "{html}"
    );

    // Once embedded, the document is ready and search (a GET form) shows ranked passages
    // with score and source; document text is escaped, never injected.
    let html = body(
        app.clone()
            .oneshot(get(&format!("{page}?q=refund+policy"), Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains("No passages found for “refund policy”")
            && html.contains("Documents become searchable once they are ready."),
        "{html}"
    );
    embed_all(&store).await;
    let html = body(
        app.clone()
            .oneshot(get(&page, Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains("status-ready") && !html.contains(r#"role="progressbar""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<form method="get" action="/knowledge/"#),
        "{html}"
    );
    let html = body(
        app.clone()
            .oneshot(get(
                &format!("{page}?q=when+do+parcels+ship&k=3"),
                Some(&cookie),
            ))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains(r#"class="hit""#) && html.contains("hit-score"),
        "{html}"
    );
    let first = html
        .split(r#"<li class="hit">"#)
        .nth(1)
        .unwrap_or_else(|| panic!("{html}"));
    assert!(
        first.contains(">1</span>")
            && first.contains(r#"<span class="hit-doc">policies.md</span>"#),
        "{first}"
    );
    assert!(
        first.contains("§ Shipping · chunk 3") && first.contains(r#"class="hit-score">0."#),
        "{first}"
    );
    assert!(
        first.contains(
            "Parcels ship from Lyon every weekday. &lt;script&gt;alert('x')&lt;/script&gt;"
        ),
        "{first}"
    );
    assert_eq!(html.matches(r#"<li class="hit">"#).count(), 3);
    assert!(!html.contains("<script>alert("), "{html}");

    // Agents attach bases with repeated `knowledge_base_ids[]` checkboxes.
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/providers/create",
            "name=Local&kind=local",
            &[("cookie", &cookie)],
        ))
        .await
        .unwrap();
    let provider: autonoma_types::ProviderConnection =
        serde_json::from_str(&body(res).await).unwrap();
    let html = body(
        app.clone()
            .oneshot(get("/agents/new", Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains(&format!(r#"name="knowledge_base_ids[]" value="{kb_id}""#)),
        "{html}"
    );
    let form = format!(
        "name=Helper&model_ref={}%2F{}&tool_calculator=on&knowledge_base_ids%5B%5D={kb_id}",
        provider.id, provider.models[0]
    );
    let res = app
        .clone()
        .oneshot(post("/sfn/agents/save", &form, &[("cookie", &cookie)]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let agent: autonoma_types::Agent = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(
        agent.spec.knowledge_base_ids,
        vec![kb_id.parse::<uuid::Uuid>().unwrap()]
    );
    assert!(
        agent.spec.tools.contains(&"knowledge_search".to_string())
            && agent.spec.tools.contains(&"calculator".to_string()),
        "{:?}",
        agent.spec.tools
    );
    let html = body(
        app.clone()
            .oneshot(get(&format!("/agents/{}/edit", agent.id), Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains(&format!(
            r#"name="knowledge_base_ids[]" value="{kb_id}" checked"#
        )),
        "{html}"
    );
    // Unticking every box detaches them (and knowledge_search goes with them).
    let form = format!(
        "id={}&name=Helper&model_ref={}%2F{}",
        agent.id, provider.id, provider.models[0]
    );
    let res = app
        .clone()
        .oneshot(post("/sfn/agents/save", &form, &[("cookie", &cookie)]))
        .await
        .unwrap();
    let agent: autonoma_types::Agent = serde_json::from_str(&body(res).await).unwrap();
    assert!(
        agent.spec.knowledge_base_ids.is_empty() && agent.spec.tools.is_empty(),
        "{agent:?}"
    );

    // Another organization's base is a missing page; so is an id that is not one.
    let other = sign_up(&app, "olaf%40example.com").await;
    let res = app.clone().oneshot(get(&page, Some(&other))).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = body(res).await;
    assert!(
        html.contains("Page not found") && !html.contains("Handbook"),
        "{html}"
    );
    let res = app
        .clone()
        .oneshot(get("/knowledge/not-an-id", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (ct, bytes) = multipart(
        &[("kb_id", &kb_id)],
        &[("x.md", "text/markdown", b"# Hi\n\nthere")],
    );
    let res = app
        .clone()
        .oneshot(upload(&other, &ct, bytes, false))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Deleting a document, then the base (plain form posts).
    let docs = body(
        app.clone()
            .oneshot(post(
                "/sfn/knowledge/documents",
                &format!("kb_id={kb_id}"),
                &[("cookie", &cookie)],
            ))
            .await
            .unwrap(),
    )
    .await;
    let docs: autonoma_types::Page<autonoma_types::Document> = serde_json::from_str(&docs).unwrap();
    assert_eq!(docs.items.len(), 1);
    let res = app
        .clone()
        .oneshot(html_post(
            "/sfn/knowledge/documents/delete",
            &format!("kb_id={kb_id}&id={}", docs.items[0].id),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let html = body(
        app.clone()
            .oneshot(get(&page, Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(html.contains("No documents yet"), "{html}");
    let res = app
        .clone()
        .oneshot(html_post("/sfn/knowledge/delete", &format!("id={kb_id}")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/knowledge");
    let html = body(
        app.clone()
            .oneshot(get("/knowledge", Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(html.contains("No knowledge bases yet"), "{html}");
    let res = app
        .clone()
        .oneshot(get(&page, Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn knowledge_bases_disabled() {
    let (app, dir, _) = app_with_store(false).await;
    let cookie = sign_up(&app, "nia%40example.com").await;
    let res = app
        .clone()
        .oneshot(get("/knowledge", Some(&cookie)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = body(res).await;
    assert!(
        html.contains("Knowledge bases are not enabled on this server.")
            && !html.contains("/sfn/knowledge/create"),
        "{html}"
    );
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/knowledge/create",
            "name=X",
            &[("cookie", &cookie)],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = body(
        app.clone()
            .oneshot(get("/agents/new", Some(&cookie)))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        html.contains("Create agent") && !html.contains("knowledge_base_ids"),
        "{html}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn server_function_bodies_are_limited() {
    let (app, dir) = app().await;
    // Declared too large: refused before the body is read.
    let big = format!("email=a%40example.com&password={}", "x".repeat(2 << 20));
    let len = big.len().to_string();
    let res = app
        .clone()
        .oneshot(post(
            "/sfn/login",
            &big,
            &[
                ("origin", "http://localhost:3000"),
                ("content-length", &len),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = body(res).await;
    assert!(
        text.contains("payload_too_large") && text.contains("1 MiB"),
        "{text}"
    );

    // Chunked (no Content-Length): cut off at the limit, so the call fails without a session.
    let chunks = futures::stream::iter(
        (0..40).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 64 << 10]))),
    );
    let req = Request::builder()
        .method("POST")
        .uri("/sfn/login")
        .header(header::HOST, "localhost:3000")
        .header(header::ORIGIN, "http://localhost:3000")
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from_stream(chunks))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert!(
        res.status().is_client_error() || res.status().is_server_error(),
        "{}",
        res.status()
    );
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    let _ = std::fs::remove_dir_all(dir);
}
