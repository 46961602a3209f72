//! The UI router end to end over HTTP (no browser): redirects, cookies, the origin check,
//! server-function statuses, the 404 page and `/pkg` cache headers.

use std::sync::Arc;

use autonoma_core::service::{SecretBox, Service};
use autonoma_core::store::{JobQueue, Store};
use autonoma_storage::SqliteStore;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

async fn app() -> (Router, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("autonoma-app-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", dir.join("db.sqlite").display())).await.unwrap();
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let service = Arc::new(Service::new(store.clone() as Arc<dyn Store>, store as Arc<dyn JobQueue>, SecretBox::new(&[1u8; 32])));
    (autonoma_app::router(service, dir.join("site")), dir)
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().uri(path).header(header::HOST, "localhost:3000").header(header::ACCEPT, "text/html");
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
    String::from_utf8(axum::body::to_bytes(res.into_body(), 10 << 20).await.unwrap().to_vec()).unwrap()
}

fn location(res: &axum::response::Response) -> String {
    res.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn pages_sessions_and_guards() {
    let (app, dir) = app().await;

    // Unauthenticated page loads go to the login page.
    let res = app.clone().oneshot(get("/", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    let res = app.clone().oneshot(get("/agents?cursor=x", None)).await.unwrap();
    assert_eq!(location(&res), "/login?next=/agents%3Fcursor%3Dx");

    // The login page renders with a no-JS form and the hydration script.
    let res = app.clone().oneshot(get("/login", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = body(res).await;
    assert!(html.contains(r#"<form action="/sfn/login" method="post""#), "{html}");
    assert!(html.contains("/pkg/autonoma.js") && html.contains("hydrate()"), "{html}");

    // Sign-up sets the session cookie (Secure behind https).
    let res = app
        .clone()
        .oneshot(post("/sfn/signup", "email=ann%40example.com&password=long-enough-pw&name=Ann", &[("x-forwarded-proto", "https")]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", body(res).await);
    let set_cookie = res.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("autonoma_session=s_"), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly; SameSite=Lax; Path=/; Max-Age=1209600; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // Login over plain http: no Secure flag.
    let res = app.clone().oneshot(post("/sfn/login", "email=ann%40example.com&password=long-enough-pw", &[])).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("Secure"));

    // Signed in: / goes to /agents, which shows the empty state.
    let res = app.clone().oneshot(get("/", Some(&cookie))).await.unwrap();
    assert_eq!(location(&res), "/agents");
    let res = app.clone().oneshot(get("/login", Some(&cookie))).await.unwrap();
    assert_eq!(location(&res), "/agents");
    let res = app.clone().oneshot(get("/agents", Some(&cookie))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    let html = body(res).await;
    assert!(html.contains("Create your first agent"), "{html}");

    // Unknown pages: 404 with the not-found page.
    let res = app.clone().oneshot(get("/no/such/page", Some(&cookie))).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(body(res).await.contains("Page not found"));

    // CSRF: cross-origin server-function posts are refused.
    let res = app.clone().oneshot(post("/sfn/agents/list", "", &[("cookie", &cookie), ("origin", "http://evil.test")])).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.clone().oneshot(post("/sfn/agents/list", "", &[("cookie", &cookie), ("sec-fetch-site", "cross-site")])).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.clone().oneshot(post("/sfn/agents/list", "", &[("cookie", &cookie), ("origin", "http://localhost:3000")])).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, r#"{"items":[],"next_cursor":null}"#);

    // Errors carry API-like statuses and readable JSON.
    let res = app.clone().oneshot(post("/sfn/agents/list", "", &[])).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .clone()
        .oneshot(post("/sfn/agents/save", "name=A&model_ref=00000000-0000-0000-0000-000000000000%2Fm&max_steps=0", &[("cookie", &cookie)]))
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
            &[("accept", "text/html"), ("referer", "http://localhost:3000/login?next=/agents")],
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let loc = location(&res);
    assert!(loc.starts_with("http://localhost:3000/login?next=/agents&__path=%2Fsfn%2Flogin&__err="), "{loc}");

    // Log out ends the session and clears the cookie.
    let res = app.clone().oneshot(post("/sfn/logout", "", &[("cookie", &cookie)])).await.unwrap();
    assert!(res.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().starts_with("autonoma_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"));
    let res = app.clone().oneshot(get("/agents", Some(&cookie))).await.unwrap();
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

    let res = app.clone().oneshot(get("/pkg/autonoma.css", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get(header::CONTENT_TYPE).unwrap(), "text/css");
    assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-cache");
    let res = app.clone().oneshot(get("/pkg/autonoma_bg.0123456789abcdef.wasm", None)).await.unwrap();
    assert_eq!(res.headers().get(header::CONTENT_TYPE).unwrap(), "application/wasm");
    assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "public, max-age=31536000, immutable");
    let res = app.clone().oneshot(get("/pkg/missing.js", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Pages link the hashed names from the manifest.
    let html = body(app.clone().oneshot(get("/login", None)).await.unwrap()).await;
    assert!(html.contains("/pkg/autonoma.0123456789abcdef.css"), "{html}");
    assert!(html.contains("/pkg/autonoma_bg.0123456789abcdef.wasm"), "{html}");

    let _ = std::fs::remove_dir_all(dir);
}
