//! Knowledge bases end to end: the real server binary, a temporary SQLite file, the real
//! all-MiniLM-L6-v2 model, and separate `autonoma gpu-worker` processes. The server embeds
//! with the default `AUTONOMA_EMBEDDING_DEVICE=auto` (candle on the CPU where the only
//! adapter is lavapipe); the separate workers are forced onto wgpu, so vectors from both
//! implementations meet in one index. Documents are kept to a few dozen chunks: embedding
//! on lavapipe takes a good fraction of a second per chunk.

mod common;

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use autonoma_testkit::{Rule, ScriptedLlm};
use common::*;
use serde_json::{json, Value};

/// Longest a document may take to become ready before the test gives up (a hang guard on
/// a slow CPU-only machine, not a performance assertion).
const READY_GUARD: Duration = Duration::from_secs(1200);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn form(name: &str, media_type: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(media_type)
        .unwrap();
    reqwest::multipart::Form::new().part("file", part)
}

async fn upload_ok(user: &User, kb: &str, name: &str, media_type: &str, bytes: Vec<u8>) -> Value {
    let res = user.upload(kb, name, media_type, bytes).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let doc: Value = res.json().await.unwrap();
    assert!(
        matches!(doc["status"].as_str().unwrap(), "queued" | "embedding"),
        "{doc}"
    );
    assert!(doc["chunks_total"].as_i64().unwrap() > 0);
    doc
}

async fn document(user: &User, kb: &str, doc: &str) -> Value {
    let res = user
        .get(&format!("/api/v1/knowledge-bases/{kb}/documents/{doc}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Polls the document until it is `ready` (panics if it fails).
async fn wait_ready(user: &User, kb: &str, doc: &str) -> Value {
    let guard = tokio::time::Instant::now() + READY_GUARD;
    loop {
        let d = document(user, kb, doc).await;
        match d["status"].as_str().unwrap() {
            "ready" => return d,
            "failed" => panic!("document failed: {d}"),
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < guard,
            "document not ready in time: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn search(user: &User, kb: &str, query: &str, k: u32) -> Vec<Value> {
    let res = user
        .post(&format!("/api/v1/knowledge-bases/{kb}/search"))
        .json(&json!({"query": query, "k": k}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// Every file under `<data_dir>/blobs`.
fn blob_files(data_dir: &Path) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(p) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = vec![];
    walk(&data_dir.join("blobs"), &mut out);
    out
}

/// Integers from a query on the server's database (SQLite file, or PostgreSQL as the
/// superuser, which row-level security does not restrict), first column of each row.
async fn scalars(server: &Server, sql: &str) -> Vec<i64> {
    if let Some(pg) = &server.postgres {
        return pg
            .psql(sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.trim().parse().unwrap())
            .collect();
    }
    let db = autonoma_storage::SqliteStore::connect(&format!(
        "sqlite://{}",
        server.data_dir.path().join("autonoma.db").display()
    ))
    .await
    .unwrap();
    sqlx::query_scalar(sql).fetch_all(db.pool()).await.unwrap()
}

/// An `autonoma gpu-worker` process on the server's database; killed (SIGKILL) on drop.
struct Worker(Child);

impl Worker {
    /// Starts a worker and waits until it has loaded the model.
    fn start(server: &Server, env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_autonoma"));
        cmd.arg("gpu-worker")
            .env("AUTONOMA_LOG", "warn")
            .env("AUTONOMA_EMBEDDING_DEVICE", "gpu")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in server.database_env() {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start autonoma gpu-worker");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read ready line");
        assert_eq!(line.trim(), "gpu worker ready", "worker did not start");
        Worker(child)
    }

    /// SIGKILL: no cleanup, no acknowledgement, the lease is simply abandoned.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const HTML: &str = "<!doctype html><html><head><title>Bakery</title><style>body{}</style></head><body>\
    <h1>Bakery handbook</h1><p>Welcome to the bakery.</p>\
    <h2>Sourdough starter</h2><p>The sourdough starter is fed every evening with equal weights of rye flour and water, \
    and kept in the blue crock on the second shelf.</p>\
    <h2>Ovens</h2><p>The stone oven is preheated for ninety minutes to 250 degrees before the first loaves go in.</p>\
    </body></html>";

#[tokio::test]
async fn documents_become_searchable_with_citations_and_agents_cite_them() {
    let llm = ScriptedLlm::start(vec![
        Rule::when_user_contains("How are jobs delivered").reply_tool_call("knowledge_search", r#"{"query": "at-least-once job delivery with leases, heartbeats and dead letters", "k": 3}"#),
        Rule::after_tool_result("[1] ARCHITECTURE.md § Architecture > Invariants").reply_text("Jobs are delivered at least once and retried with backoff [1]."),
        Rule::after_any_tool_result().reply_text("The knowledge base did not say."),
    ]);
    let server = Server::start();
    let user = User::sign_up(&server, "kb@example.com").await;
    let kb = user.knowledge_base("Docs").await;

    // Markdown (the repository's own architecture document), PDF (three pages), HTML.
    let architecture = std::fs::read(workspace().join("ARCHITECTURE.md")).unwrap();
    let md = upload_ok(
        &user,
        &kb,
        "ARCHITECTURE.md",
        "text/markdown",
        architecture.clone(),
    )
    .await;
    let pdf = upload_ok(
        &user,
        &kb,
        "greenhouse-guide.pdf",
        "application/pdf",
        std::fs::read(workspace().join("tests/fixtures/greenhouse-guide.pdf")).unwrap(),
    )
    .await;
    let html = upload_ok(
        &user,
        &kb,
        "bakery.html",
        "text/html",
        HTML.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(pdf["chunks_total"], 3, "one chunk per page: {pdf}");

    // The same bytes again: the existing document, 200, nothing new stored.
    let res = user
        .upload(&kb, "copy.md", "text/markdown", architecture)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], md["id"]);

    let md = wait_ready(&user, &kb, md["id"].as_str().unwrap()).await;
    assert_eq!(md["chunks_embedded"], md["chunks_total"]);
    wait_ready(&user, &kb, pdf["id"].as_str().unwrap()).await;
    wait_ready(&user, &kb, html["id"].as_str().unwrap()).await;
    let docs: Value = user
        .get(&format!("/api/v1/knowledge-bases/{kb}/documents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(docs["items"].as_array().unwrap().len(), 3);

    // The right chunk ranks first, with its citation data.
    let hits = search(
        &user,
        &kb,
        "Are jobs delivered at least once? What happens when a lease expires?",
        5,
    )
    .await;
    let top = &hits[0];
    assert_eq!(top["document_name"], "ARCHITECTURE.md", "{hits:#?}");
    assert_eq!(top["heading"], "Architecture > Invariants", "{top}");
    // The top chunk answers the question; where the chunk boundary falls in the live
    // ARCHITECTURE.md decides which of the two neighbouring invariants leads.
    let text = top["text"].as_str().unwrap();
    assert!(
        text.contains("at-least-once") || text.contains("lease expires"),
        "{top}"
    );
    assert!(
        hits.iter()
            .take(3)
            .any(|h| h["text"].as_str().unwrap().contains("at-least-once")),
        "{hits:#?}"
    );
    assert!(top["citation"]
        .as_str()
        .unwrap()
        .starts_with("ARCHITECTURE.md § Architecture > Invariants (chunk "));
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    // Offsets point into the extracted text (for Markdown: the file itself).
    let source: Vec<char> = std::fs::read_to_string(workspace().join("ARCHITECTURE.md"))
        .unwrap()
        .chars()
        .collect();
    let (s, e) = (
        top["start_char"].as_u64().unwrap() as usize,
        top["end_char"].as_u64().unwrap() as usize,
    );
    assert_eq!(
        source[s..e].iter().collect::<String>(),
        top["text"].as_str().unwrap()
    );

    let hits = search(&user, &kb, "how do we get rid of aphids on the plants", 3).await;
    assert_eq!(
        hits[0]["document_name"], "greenhouse-guide.pdf",
        "{hits:#?}"
    );
    assert_eq!(hits[0]["page"], 2);
    assert_eq!(hits[0]["heading"], "page 2");
    assert!(hits[0]["text"].as_str().unwrap().contains("soapy water"));

    let hits = search(&user, &kb, "what is the sourdough starter fed with", 3).await;
    assert_eq!(hits[0]["document_name"], "bakery.html", "{hits:#?}");
    assert_eq!(hits[0]["heading"], "Bakery handbook > Sourdough starter");
    assert!(
        !hits[0]["text"].as_str().unwrap().contains("<p>"),
        "HTML tags are not indexed"
    );

    // An agent with the base attached searches it and cites the passage.
    let provider = user.scripted_provider(&llm.base_url()).await;
    let res = user
        .post("/api/v1/agents")
        .json(&json!({"name": "Librarian", "provider_id": provider, "model": "scripted", "instructions": "Answer from the knowledge base and cite passages.",
                      "knowledge_base_ids": [kb], "limits": {"max_steps": 4, "max_output_tokens": 256, "timeout_secs": 120}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let agent: Value = res.json().await.unwrap();
    assert_eq!(agent["knowledge_base_ids"], json!([kb]));
    assert_eq!(
        agent["tools"],
        json!(["knowledge_search"]),
        "attaching a base enables the tool"
    );
    let run = user
        .start_run(
            agent["id"].as_str().unwrap(),
            "How are jobs delivered to workers?",
            None,
        )
        .await;
    let events = user.events(run["id"].as_str().unwrap(), None).await;
    let result = events
        .iter()
        .find(|e| e.1 == "tool_result")
        .expect("tool_result event");
    assert_eq!(result.2["name"], "knowledge_search");
    assert_eq!(result.2["is_error"], false);
    let output = result.2["output"].as_str().unwrap();
    assert!(
        output.contains("[1] ARCHITECTURE.md § Architecture > Invariants (chunk "),
        "{output}"
    );
    assert!(output.contains("at-least-once"), "{output}");
    let last = events.last().unwrap();
    assert_eq!(last.1, "completed", "{last:?}");
    assert!(last.2["output"].as_str().unwrap().contains("[1]"));
    assert_eq!(
        llm.requests()[0]["tools"][0]["function"]["name"],
        "knowledge_search"
    );

    // Deleting a document removes its chunks from search and its file from disk.
    let blobs_before = blob_files(server.data_dir.path()).len();
    assert_eq!(blobs_before, 3);
    let res = user
        .delete(&format!(
            "/api/v1/knowledge-bases/{kb}/documents/{}",
            html["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(blob_files(server.data_dir.path()).len(), 2);
    let hits = search(&user, &kb, "what is the sourdough starter fed with", 10).await;
    assert!(
        hits.iter().all(|h| h["document_name"] != "bakery.html"),
        "{hits:#?}"
    );
    assert_problem(
        user.get(&format!(
            "/api/v1/knowledge-bases/{kb}/documents/{}",
            html["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap(),
        404,
        "not_found",
    )
    .await;

    // Deleting the base removes everything; the agent's searches then find nothing.
    assert_eq!(
        user.delete(&format!("/api/v1/knowledge-bases/{kb}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(blob_files(server.data_dir.path()).is_empty());
    assert_problem(
        user.get(&format!("/api/v1/knowledge-bases/{kb}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_worker_killed_mid_job_is_replaced_without_losing_or_duplicating_vectors() {
    let lease = [("AUTONOMA_GPU_LEASE_SECS", "3")];
    let server = Server::start_with(&[("AUTONOMA_GPU_WORKER", "false"), lease[0]]);
    let user = User::sign_up(&server, "kill@example.com").await;
    let kb = user.knowledge_base("Long").await;
    let first = Worker::start(&server, &lease);

    // 40 short sections: 40 chunks, two jobs (32 + 8), embedded 8 at a time.
    let mut md = String::from("# Station log\n\n");
    for i in 0..40 {
        let event = if i == 29 {
            "found a penguin hiding behind the boiler".to_string()
        } else {
            format!("replaced filter {}", i * 3 + 1)
        };
        md.push_str(&format!("## Entry {i}\n\nOn day {i} the crew checked pump {i}, logged a pressure of {} kilopascals and {event}.\n\n", 100 + i * 7));
    }
    let doc = upload_ok(
        &user,
        &kb,
        "station-log.md",
        "text/markdown",
        md.into_bytes(),
    )
    .await;
    let doc_id = doc["id"].as_str().unwrap().to_string();
    let total = doc["chunks_total"].as_i64().unwrap();
    assert!(total > 32, "two jobs at least: {doc}");

    // Kill the first worker once it has stored some vectors, but not all.
    let guard = tokio::time::Instant::now() + READY_GUARD;
    let embedded_at_kill = loop {
        let d = document(&user, &kb, &doc_id).await;
        let n = d["chunks_embedded"].as_i64().unwrap();
        if n > 0 {
            first.kill();
            break n;
        }
        assert!(tokio::time::Instant::now() < guard, "no progress: {d}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        embedded_at_kill < total,
        "killed mid-document ({embedded_at_kill} of {total})"
    );
    let after_kill = document(&user, &kb, &doc_id).await;
    assert_eq!(after_kill["status"], "embedding");

    // A second worker picks up the rest, including the job whose lease the first abandoned.
    let _second = Worker::start(&server, &lease);
    let ready = wait_ready(&user, &kb, &doc_id).await;
    assert_eq!(ready["chunks_embedded"], total);

    let doc = uuid::Uuid::parse_str(&doc_id).unwrap();
    let vectors = scalars(
        &server,
        &format!("SELECT COUNT(*) FROM chunk_vectors WHERE document_id = '{doc}'"),
    )
    .await[0];
    let chunks = scalars(
        &server,
        &format!("SELECT COUNT(*) FROM chunks WHERE document_id = '{doc}'"),
    )
    .await[0];
    let covered =
        scalars(&server, &format!("SELECT COUNT(DISTINCT c.id) FROM chunks c JOIN chunk_vectors v ON v.chunk_id = c.id WHERE c.document_id = '{doc}'")).await[0];
    assert_eq!(
        (vectors, chunks, covered),
        (total, total, total),
        "one vector per chunk, none missing, none duplicated"
    );
    let jobs = scalars(&server, "SELECT COUNT(*) FROM jobs WHERE queue = 'gpu'").await[0];
    assert_eq!(jobs, 0, "every job acknowledged, none dead-lettered");
    let dims = scalars(&server, "SELECT DISTINCT dim FROM chunk_vectors").await;
    assert_eq!(dims, vec![384]);

    // And the result is searchable.
    let hits = search(&user, &kb, "a penguin was hiding behind the boiler", 1).await;
    assert_eq!(hits[0]["heading"], "Station log > Entry 29", "{hits:#?}");
}

#[tokio::test]
async fn bad_uploads_and_foreign_bases_get_problems_and_leave_nothing_behind() {
    // No GPU needed: nothing here gets as far as embedding.
    // 1.5 MiB: above the API's general 1 MiB body limit, which the upload route lifts.
    const LIMIT: usize = 1536 * 1024;
    let server = Server::start_with(&[
        ("AUTONOMA_GPU_WORKER", "false"),
        ("AUTONOMA_MAX_UPLOAD_BYTES", &LIMIT.to_string()),
    ]);
    let a = User::sign_up(&server, "a-kb@example.com").await;
    let b = User::sign_up(&server, "b-kb@example.com").await;
    let kb = a.knowledge_base("A's base").await;
    let docs_path = format!("/api/v1/knowledge-bases/{kb}/documents");

    // (file name, declared type, bytes, status, code, part of the detail)
    type Case = (
        &'static str,
        &'static str,
        Vec<u8>,
        u16,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "empty.txt",
            "text/plain",
            vec![],
            422,
            "validation_failed",
            "is empty",
        ),
        (
            "blank.md",
            "text/markdown",
            b"  \n\n\t ".to_vec(),
            422,
            "validation_failed",
            "no text",
        ),
        (
            "photo.txt",
            "text/plain",
            vec![
                0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0xff, 0xd8,
            ],
            422,
            "validation_failed",
            "not UTF-8 text",
        ),
        (
            "nul.md",
            "text/markdown",
            b"# Title\n\nabc\0def".to_vec(),
            422,
            "validation_failed",
            "NUL",
        ),
        (
            "broken.pdf",
            "application/pdf",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer garbage".to_vec(),
            422,
            "validation_failed",
            "not a readable PDF",
        ),
        (
            "notes.pdf",
            "application/pdf",
            b"just text pretending".to_vec(),
            422,
            "validation_failed",
            "PDF header",
        ),
        (
            "image.png",
            "image/png",
            vec![0x89, b'P', b'N', b'G'],
            422,
            "validation_failed",
            "not supported",
        ),
        // Over 1 MiB but within the upload limit: it reaches validation (and is refused there).
        (
            "large-binary.txt",
            "text/plain",
            [vec![b'a'; 1200 * 1024], vec![0]].concat(),
            422,
            "validation_failed",
            "NUL",
        ),
        // One byte over the file limit: refused by the service.
        (
            "big.txt",
            "text/plain",
            vec![b'a'; LIMIT + 1],
            413,
            "payload_too_large",
            "limit",
        ),
        // Over the route's body limit (file limit + 64 KiB of form framing): refused while reading.
        (
            "huge.txt",
            "text/plain",
            vec![b'a'; LIMIT + 300_000],
            413,
            "payload_too_large",
            "limit",
        ),
    ];
    for (name, mt, bytes, status, code, detail) in cases {
        let res = a.upload(&kb, name, mt, bytes).await;
        let p = assert_problem(res, status, code).await;
        assert!(
            p["detail"].as_str().unwrap().contains(detail),
            "{name}: {p}"
        );
    }
    // Half of a real PDF is corrupt too.
    let pdf = std::fs::read(workspace().join("tests/fixtures/greenhouse-guide.pdf")).unwrap();
    assert_problem(
        a.upload(
            &kb,
            "half.pdf",
            "application/pdf",
            pdf[..pdf.len() / 2].to_vec(),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // Not a multipart form; a form without a file.
    assert_problem(
        a.post(&docs_path)
            .json(&json!({"file": "x"}))
            .send()
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let no_file = reqwest::multipart::Form::new().text("name", "x.txt");
    let p = assert_problem(
        a.post(&docs_path).multipart(no_file).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["field"], "file");
    // Search input is validated before any embedding.
    assert_problem(
        a.post(&format!("/api/v1/knowledge-bases/{kb}/search"))
            .json(&json!({"query": "  "}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        a.post(&format!("/api/v1/knowledge-bases/{kb}/search"))
            .json(&json!({"query": "x", "k": 0}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        a.post("/api/v1/knowledge-bases")
            .json(&json!({"name": ""}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;

    // Another organization cannot see, search, fill or delete A's base.
    let some_doc = uuid_like();
    for res in [
        b.get(&format!("/api/v1/knowledge-bases/{kb}"))
            .send()
            .await
            .unwrap(),
        b.get(&docs_path).send().await.unwrap(),
        b.get(&format!("{docs_path}/{some_doc}"))
            .send()
            .await
            .unwrap(),
        b.post(&format!("/api/v1/knowledge-bases/{kb}/search"))
            .json(&json!({"query": "anything"}))
            .send()
            .await
            .unwrap(),
        b.post(&docs_path)
            .multipart(form("a.txt", "text/plain", b"hello there".to_vec()))
            .send()
            .await
            .unwrap(),
        b.delete(&format!("/api/v1/knowledge-bases/{kb}"))
            .send()
            .await
            .unwrap(),
        b.delete(&format!("{docs_path}/{some_doc}"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_problem(res, 404, "not_found").await;
    }
    let listed: Value = b
        .get("/api/v1/knowledge-bases")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    // Nor attach it to an agent.
    let providers: Vec<Value> = b
        .get("/api/v1/providers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let local = providers[0]["id"].as_str().unwrap();
    let spec = json!({"name": "x", "provider_id": local, "model": "smollm2-135m-instruct", "knowledge_base_ids": [kb]});
    let p = assert_problem(
        b.post("/api/v1/agents").json(&spec).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["field"], "knowledge_base_ids");
    let spec = json!({"name": "x", "provider_id": local, "model": "smollm2-135m-instruct", "tools": ["knowledge_search"]});
    let p = assert_problem(
        b.post("/api/v1/agents").json(&spec).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["field"], "tools");

    // A viewer reads but does not write.
    let res = a
        .post("/api/v1/api-keys")
        .json(&json!({"name": "ro", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    let viewer_key = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(server.url(&docs_path))
            .bearer_auth(&viewer_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = http
        .post(server.url(&docs_path))
        .bearer_auth(&viewer_key)
        .multipart(form("a.txt", "text/plain", b"hello there".to_vec()))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;
    let res = http
        .post(server.url("/api/v1/knowledge-bases"))
        .bearer_auth(&viewer_key)
        .json(&json!({"name": "v"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;
    assert_problem(
        http.delete(server.url(&format!("/api/v1/knowledge-bases/{kb}")))
            .bearer_auth(&viewer_key)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;

    // Nothing was written: no document, no file.
    let docs: Value = a
        .get(&docs_path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(docs["items"].as_array().unwrap().is_empty(), "{docs}");
    assert!(
        blob_files(server.data_dir.path()).is_empty(),
        "{:?}",
        blob_files(server.data_dir.path())
    );
    let bases: Value = a
        .get("/api/v1/knowledge-bases")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bases["items"].as_array().unwrap().len(), 1);

    // The routes are in the OpenAPI document.
    let doc: Value = reqwest::get(server.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/knowledge-bases",
        "/api/v1/knowledge-bases/{id}",
        "/api/v1/knowledge-bases/{id}/documents",
        "/api/v1/knowledge-bases/{id}/documents/{doc_id}",
        "/api/v1/knowledge-bases/{id}/search",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(
        doc["paths"]["/api/v1/knowledge-bases/{id}/documents"]["post"]["requestBody"]["content"]
            ["multipart/form-data"]
            .is_object()
    );
}

/// A syntactically valid id that names nothing.
fn uuid_like() -> String {
    "0190f3a0-0000-7000-8000-000000000000".to_string()
}
