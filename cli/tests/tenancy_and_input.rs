//! Tenant isolation, roles, authentication and bad input.

mod common;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

const LIMITS: &str = r#"{"max_steps": 2, "max_output_tokens": 64, "timeout_secs": 60}"#;

fn limits() -> Value {
    serde_json::from_str(LIMITS).unwrap()
}

#[tokio::test]
async fn other_organizations_resources_are_not_found_and_viewers_cannot_write() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("hello")]);
    let server = Server::start();
    let a = User::sign_up(&server, "a@example.com").await;
    let b = User::sign_up(&server, "b@example.com").await;
    let provider = a.scripted_provider(&llm.base_url()).await;
    let agent = a.agent(&provider, "scripted", &[], limits()).await;
    let agent_id = agent["id"].as_str().unwrap();
    let run = a.start_run(agent_id, "hi", None).await;
    let run_id = run["id"].as_str().unwrap();
    a.events(run_id, None).await;
    let keys: Vec<Value> = a
        .get("/api/v1/api-keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = keys[0]["id"].as_str().unwrap();

    // Every resource of org A is a 404 for B, for reads and writes alike.
    for path in [
        format!("/api/v1/agents/{agent_id}"),
        format!("/api/v1/agents/{agent_id}/versions"),
        format!("/api/v1/runs/{run_id}"),
        format!("/api/v1/runs/{run_id}/events"),
        format!("/api/v1/threads/{}", run["thread_id"].as_str().unwrap()),
    ] {
        assert_problem(b.get(&path).send().await.unwrap(), 404, "not_found").await;
    }
    // A's agent as a spec (its read-only fields left out: unknown fields are refused).
    let mut spec = agent.clone();
    for read_only in ["id", "org_id", "version", "created_at", "updated_at"] {
        spec.as_object_mut().unwrap().remove(read_only);
    }
    assert_problem(
        b.put(&format!("/api/v1/agents/{agent_id}"))
            .json(&spec)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        b.delete(&format!("/api/v1/agents/{agent_id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        b.post(&format!("/api/v1/agents/{agent_id}/runs"))
            .json(&json!({"input": "x"}))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        b.post(&format!("/api/v1/runs/{run_id}/cancel"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        b.delete(&format!("/api/v1/providers/{provider}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        b.delete(&format!("/api/v1/api-keys/{key_id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    // B cannot point an agent at A's provider either.
    let res = b
        .post("/api/v1/agents")
        .json(
            &json!({"name": "x", "provider_id": provider, "model": "scripted", "limits": limits()}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    // Lists are scoped.
    let agents: Value = b
        .get("/api/v1/agents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents["items"].as_array().unwrap().len(), 0);
    let runs: Value = b
        .get("/api/v1/runs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs["items"].as_array().unwrap().len(), 0);
    let providers: Vec<Value> = b
        .get("/api/v1/providers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        providers.iter().all(|p| p["kind"] == "local"),
        "B sees only its own local provider"
    );

    // A viewer key of org A can read but not write.
    let res = a
        .post("/api/v1/api-keys")
        .json(&json!({"name": "ro", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let viewer_key = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let viewer = reqwest::Client::new();
    let get = viewer
        .get(server.url(&format!("/api/v1/agents/{agent_id}")))
        .bearer_auth(&viewer_key)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let writes = [
        viewer.post(server.url("/api/v1/agents")).json(
            &json!({"name": "x", "provider_id": provider, "model": "scripted", "limits": limits()}),
        ),
        viewer
            .put(server.url(&format!("/api/v1/agents/{agent_id}")))
            .json(&json!({"name": "x", "provider_id": provider, "model": "scripted"})),
        viewer.delete(server.url(&format!("/api/v1/agents/{agent_id}"))),
        viewer
            .post(server.url(&format!("/api/v1/agents/{agent_id}/runs")))
            .json(&json!({"input": "x"})),
        viewer
            .post(server.url("/api/v1/providers"))
            .json(&json!({"name": "p", "kind": "local"})),
        viewer
            .post(server.url("/api/v1/api-keys"))
            .json(&json!({"name": "k"})),
    ];
    for w in writes {
        assert_problem(
            w.bearer_auth(&viewer_key).send().await.unwrap(),
            403,
            "forbidden",
        )
        .await;
    }
    // A key may not exceed its creator's role... and a member cannot manage providers.
    let res = a
        .post("/api/v1/api-keys")
        .json(&json!({"name": "m", "role": "member"}))
        .send()
        .await
        .unwrap();
    let member_key = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let res = viewer
        .post(server.url("/api/v1/providers"))
        .bearer_auth(&member_key)
        .json(&json!({"name": "p", "kind": "local"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;
    let res = viewer
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&member_key)
        .json(&json!({"name": "x", "role": "owner"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;

    // Nothing of the refused writes exists.
    let agents: Value = a
        .get("/api/v1/agents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents["items"].as_array().unwrap().len(), 1);
    let runs: Value = a
        .get("/api/v1/runs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs["items"].as_array().unwrap().len(), 1);

    // Revoked keys stop working.
    let res = a
        .delete(&format!("/api/v1/api-keys/{key_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(
        a.get("/api/v1/agents").send().await.unwrap(),
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn bad_input_gets_problem_json_and_writes_nothing() {
    let server = Server::start();
    let u = User::sign_up(&server, "bad@example.com").await;
    let providers: Vec<Value> = u
        .get("/api/v1/providers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let local = providers[0]["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();

    // Malformed JSON.
    let res = u
        .post("/api/v1/agents")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "malformed_json").await;
    // Wrong types.
    let res = u
        .post("/api/v1/agents")
        .json(&json!({"name": 5, "provider_id": local, "model": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "invalid_body").await;
    // Unknown fields (a misspelt `tool_policies`) and NUL characters, which PostgreSQL
    // cannot store, are refused by name (found by Schemathesis on PostgreSQL).
    let res = u
        .post("/api/v1/agents")
        .json(&json!({"name": "n", "provider_id": local, "model": "smollm2-135m-instruct", "tool_policy": []}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 422, "invalid_body").await;
    assert!(p["detail"].as_str().unwrap().contains("tool_policy"), "{p}");
    let res = u
        .post("/api/v1/agents")
        .json(
            &json!({"name": "a\u{0}b", "provider_id": local, "model": "smollm2-135m-instruct",
                      "limits": {"max_steps": 2, "max_output_tokens": 8, "timeout_secs": 5}}),
        )
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(p["field"], "name");
    let res = u.get("/api/v1/audit?action=a%00b").send().await.unwrap();
    assert_problem(res, 400, "invalid_query").await;
    // Missing content type.
    let res = u.post("/api/v1/agents").body("{}").send().await.unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    // Validation: unknown tool, bad limits, empty name, unknown model.
    for (body, field) in [
        (
            json!({"name": "a", "provider_id": local, "model": "smollm2-135m-instruct", "tools": ["rm_rf"]}),
            "tools",
        ),
        (
            json!({"name": "a", "provider_id": local, "model": "smollm2-135m-instruct", "limits": {"max_steps": 0, "max_output_tokens": 10, "timeout_secs": 10}}),
            "limits.max_steps",
        ),
        (
            json!({"name": "  ", "provider_id": local, "model": "smollm2-135m-instruct"}),
            "name",
        ),
        (
            json!({"name": "a", "provider_id": local, "model": "gpt-9"}),
            "model",
        ),
    ] {
        let p = assert_problem(
            u.post("/api/v1/agents").json(&body).send().await.unwrap(),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(p["field"], field);
    }
    // Oversized body (2 MiB > 1 MiB limit).
    let big = json!({"name": "a", "provider_id": local, "model": "smollm2-135m-instruct", "instructions": "x".repeat(2 * 1024 * 1024)});
    // On its own connection: the server answers 413 without reading the body and closes it.
    let res = reqwest::Client::new()
        .post(server.url("/api/v1/agents"))
        .bearer_auth(&u.api_key)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;
    // Unknown and malformed ids.
    let unknown = "0190f5f0-0000-7000-8000-000000000000";
    assert_problem(
        u.get(&format!("/api/v1/agents/{unknown}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        u.get("/api/v1/agents/not-a-uuid").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        u.get(&format!("/api/v1/runs/{unknown}/events"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        u.get("/api/v1/nope").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    // Bad cursor and query types.
    assert_problem(
        u.get("/api/v1/agents?cursor=zzz").send().await.unwrap(),
        400,
        "invalid_query",
    )
    .await;
    assert_problem(
        u.get("/api/v1/agents?limit=many").send().await.unwrap(),
        400,
        "invalid_query",
    )
    .await;
    // Bad auth.
    assert_problem(
        http.get(server.url("/api/v1/agents")).send().await.unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(
        http.get(server.url("/api/v1/agents"))
            .bearer_auth("ak_wrong")
            .send()
            .await
            .unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    assert_problem(
        http.get(server.url("/api/v1/agents"))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    // Cookie-authenticated write without the CSRF token.
    let res = u
        .cookie_http
        .post(server.url("/api/v1/api-keys"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "csrf_failed").await;
    let res = u
        .cookie_http
        .post(server.url("/api/v1/api-keys"))
        .header("x-csrf-token", "wrong")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "csrf_failed").await;
    // ...while a read with the cookie alone works.
    assert_eq!(
        u.cookie_http
            .get(server.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Run input validation.
    let agent = u
        .agent(&local, "smollm2-135m-instruct", &[], limits())
        .await;
    let res = u
        .post(&format!(
            "/api/v1/agents/{}/runs",
            agent["id"].as_str().unwrap()
        ))
        .json(&json!({"input": ""}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    let res = u
        .post(&format!(
            "/api/v1/agents/{}/runs",
            agent["id"].as_str().unwrap()
        ))
        .json(&json!({"input": "x", "thread_id": unknown}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;

    // Nothing was written by the refused requests: one agent, no runs, one API key.
    let agents: Value = u
        .get("/api/v1/agents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents["items"].as_array().unwrap().len(), 1);
    let runs: Value = u
        .get("/api/v1/runs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs["items"].as_array().unwrap().len(), 0);
    let keys: Vec<Value> = u
        .get("/api/v1/api-keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
}

#[tokio::test]
async fn accounts_sessions_and_secrets() {
    let server = Server::start();
    let u = User::sign_up(&server, "acct@example.com").await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    // Duplicate sign-up and weak password.
    let res = http
        .post(server.url("/api/v1/auth/signup"))
        .json(&json!({"email": "ACCT@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "conflict").await;
    let res = http
        .post(server.url("/api/v1/auth/signup"))
        .json(&json!({"email": "new@example.com", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
    // Wrong password, then the right one; cookie attributes.
    let res = http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "acct@example.com", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthenticated").await;
    let res = http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "acct@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    let res = http
        .post(server.url("/api/v1/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "acct@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert!(res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Secure"));
    let me: Value = res.json().await.unwrap();
    let csrf = me["csrf_token"].as_str().unwrap();
    // Log out ends the session.
    let res = http
        .post(server.url("/api/v1/auth/logout"))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(
        http.get(server.url("/api/v1/me")).send().await.unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    // Login is rate limited per e-mail.
    let mut limited = false;
    for _ in 0..8 {
        let res = http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": "acct@example.com", "password": "nope nope nope"}))
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            assert_problem(res, 429, "rate_limited").await;
            limited = true;
            break;
        }
    }
    assert!(limited, "login attempts are rate limited");

    // Provider keys are never returned and are stored encrypted.
    let res = u.post("/api/v1/providers").json(&json!({"name": "OpenAI", "kind": "openai_compatible", "base_url": "https://api.example.com/v1", "api_key": "sk-very-secret-value", "models": ["gpt-x"]})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    assert!(!text.contains("sk-very-secret-value"));
    let list = u
        .get("/api/v1/providers")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains("sk-very-secret-value") && list.contains("\"has_api_key\":true"));
    let needle = b"sk-very-secret-value";
    if let Some(pg) = &server.postgres {
        let stored = pg.psql("SELECT encode(api_key_sealed, 'hex') FROM provider_connections WHERE api_key_sealed IS NOT NULL");
        let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            !stored.trim().is_empty() && !stored.contains(&hex),
            "provider key stored in plaintext"
        );
    } else {
        let db = std::fs::read(server.data_dir.path().join("autonoma.db")).unwrap();
        let wal = std::fs::read(server.data_dir.path().join("autonoma.db-wal")).unwrap_or_default();
        assert!(
            !db.windows(needle.len()).any(|w| w == needle)
                && !wal.windows(needle.len()).any(|w| w == needle),
            "provider key stored in plaintext"
        );
    }
    let res = u.post("/api/v1/providers").json(&json!({"name": "bad", "kind": "openai_compatible", "base_url": "ftp://x", "models": ["m"]})).send().await.unwrap();
    assert_problem(res, 422, "validation_failed").await;

    // Sign-up is rate limited per IP, 10 an hour. Valid requests count, taken e-mails too
    // (the first two sign-ups above); the weak-password one did not. So 8 more succeed.
    let mut created = 0;
    let refused = loop {
        let res = http.post(server.url("/api/v1/auth/signup")).json(&json!({"email": format!("many{created}@example.com"), "password": "correct horse battery"})).send().await.unwrap();
        if res.status() == 429 {
            break res;
        }
        assert_eq!(res.status(), 201);
        created += 1;
        assert!(created <= 10, "sign-ups are rate limited");
    };
    assert_eq!(created, 8);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (300..=360).contains(&wait),
        "one interval (6 min) to wait, less the test's time so far: {wait}"
    );
    assert_problem(refused, 429, "rate_limited").await;

    // The OpenAPI document is served and is 3.1.
    let doc: Value = reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/agents/{id}/runs"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/runs/{id}/events"]["get"].is_object());
}
