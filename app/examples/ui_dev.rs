//! A development server for the web UI, standing in for `autonoma serve`:
//! `autonoma_app::router` on a SQLite store, the real agent loop with a *scripted* model
//! (no LLM needed), a minimal `GET /api/v1/runs/{id}/events` SSE endpoint, an in-process
//! run worker, and knowledge bases: uploads are embedded by an in-process GPU worker with
//! the real all-MiniLM-L6-v2 on wgpu (lavapipe on CPU-only machines) when the model is in
//! `~/.cache/autonoma/models` (else, or with `--hash-embedder`, by a word-hashing stand-in).
//!
//! ```text
//! cargo run -p xtask -- build-site          # the wasm + CSS under site/pkg
//! cargo run -p autonoma-app --features ssr --example ui_dev -- --seed
//! # http://127.0.0.1:3000 — with --seed: demo@example.com / demo-password-1
//! ```
//!
//! Options: `--addr HOST:PORT` (127.0.0.1:3000), `--db PATH` (a fresh temp file),
//! `--site DIR` (`<workspace>/site`), `--seed` (demo user, a Local provider, two agents,
//! one of them with no runs, and a knowledge base "Autonoma docs" holding the repository's
//! ARCHITECTURE.md, attached to a third agent, "Docs expert"), `--hash-embedder`.
//!
//! The scripted model: a message with arithmetic (`what is 12*7?`) makes it call the
//! `calculator` tool; `fail` makes the provider fail; `slow` streams slowly (to try
//! Cancel); a question (ending in `?`) to an agent with knowledge bases makes it call
//! `knowledge_search` and quote the best passage; anything else is echoed back word by word.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::embedding::{Embedder, EMBEDDING_DIM};
use autonoma_core::knowledge::blob::BlobStore;
use autonoma_core::knowledge::embed_job::{fail_dead_lettered, run_embed_job, EMBED_CHUNKS_KIND};
use autonoma_core::knowledge::tokens::{embedding_model_dir, TokenCounter, WordPieceCounter};
use autonoma_core::knowledge::tool::KnowledgeSearchTool;
use autonoma_core::knowledge::{
    Knowledge, KnowledgeConfig, LazyEmbedder, NewKnowledgeBase, Upload,
};
use autonoma_core::llm::{
    ChatRequest, ChatResponse, ChatRole, FinishReason, LlmError, LlmProvider, ProviderFactory,
    ToolCall, ToolDefinition,
};
use autonoma_core::model::{
    Actor, AgentSpec, Limits, ProviderConnection, ProviderKind, RunEvent, Usage,
};
use autonoma_core::runtime::RunEnv;
use autonoma_core::service::{NewProvider, SecretBox, Service, SignUp, RUNS_QUEUE, SESSION_COOKIE};
use autonoma_core::store::{JobQueue, Store};
use autonoma_core::tool::{Tool, ToolContext, ToolError, ToolRegistry};
use autonoma_core::worker::WorkerConfig;
use autonoma_storage::{LocalBlobStore, SqliteStore};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::main]
async fn main() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let mut addr: SocketAddr = "127.0.0.1:3000".parse().unwrap();
    let mut db: Option<PathBuf> = None;
    let mut site = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../site");
    let mut seed = false;
    let mut hash_embedder = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hash-embedder" => hash_embedder = true,
            "--addr" => {
                addr = args
                    .next()
                    .expect("--addr HOST:PORT")
                    .parse()
                    .expect("bad --addr")
            }
            "--db" => db = Some(args.next().expect("--db PATH").into()),
            "--site" => site = args.next().expect("--site DIR").into(),
            "--seed" => seed = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let db = db.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("autonoma-ui-dev-{}.db", Uuid::new_v4()))
    });
    let store = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let store = Arc::new(store);
    let knowledge = knowledge_engine(store.clone(), &db, hash_embedder);
    let service = Arc::new(
        Service::new(
            store.clone() as Arc<dyn Store>,
            store.clone() as Arc<dyn JobQueue>,
            SecretBox::new(&[7u8; 32]),
        )
        .with_knowledge(knowledge.clone()),
    );

    if seed {
        seed_demo(&service).await?;
    }

    // The GPU worker: embeds uploaded documents, marks dead-lettered ones failed.
    let mut handlers = autonoma_gpu_worker::Handlers::default();
    {
        let knowledge = knowledge.clone();
        handlers.register(
            EMBED_CHUNKS_KIND,
            Arc::new(move |payload| {
                let knowledge = knowledge.clone();
                Box::pin(async move {
                    run_embed_job(
                        knowledge.store.as_ref(),
                        knowledge.embedder.as_ref(),
                        &payload,
                    )
                    .await
                })
            }),
        );
    }
    tokio::spawn(autonoma_gpu_worker::run(
        store.clone(),
        handlers,
        WorkerConfig::default(),
        CancellationToken::new(),
    ));
    {
        let (knowledge, store) = (knowledge.clone(), store.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Err(e) = fail_dead_lettered(knowledge.store.as_ref(), store.as_ref()).await {
                    tracing::error!(error = %e, "could not check dead-lettered embedding jobs");
                }
            }
        });
    }

    let mut tools = ToolRegistry::default();
    tools.register(Arc::new(Calculator));
    tools.register(Arc::new(KnowledgeSearchTool::new(knowledge.clone())));
    let env = RunEnv {
        service: service.clone(),
        providers: Arc::new(Scripted),
        tools,
        resolvers: vec![],
    };
    tokio::spawn(worker(env, store.clone()));

    let api = Router::new()
        .route("/api/v1/runs/{id}/events", get(run_events))
        .with_state(service.clone());
    let app = autonoma_app::router(service, site.clone()).merge(api);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(%addr, db = %db.display(), site = %site.display(), "UI dev server listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// The knowledge engine: blobs beside the database; the real tokenizer and embedder when
/// the model files exist (loaded on first use), else word-hashing stand-ins.
fn knowledge_engine(
    store: Arc<SqliteStore>,
    db: &std::path::Path,
    hash_embedder: bool,
) -> Arc<Knowledge> {
    // The models folder as scripts/setup.sh fills it (an example may read the environment).
    let models = match std::env::var_os("AUTONOMA_MODEL_DIR") {
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/autonoma/models"),
    };
    let model_dir = embedding_model_dir(&models);
    let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::new(db.with_extension("blobs")));
    let real = !hash_embedder && model_dir.join("model.safetensors").is_file();
    let (tokens, embedder): (Arc<dyn TokenCounter>, Arc<dyn Embedder>) = match (
        real,
        WordPieceCounter::from_model_dir(&model_dir),
    ) {
        (true, Ok(counter)) => {
            let tokens: Arc<dyn TokenCounter> = Arc::new(counter);
            let dir = model_dir.clone();
            let embedder = LazyEmbedder::new(
                autonoma_gpu_worker::embed::MODEL_ID,
                EMBEDDING_DIM,
                tokens.clone(),
                move || {
                    let dir = dir.clone();
                    async move {
                        let loaded = tokio::task::spawn_blocking(move || {
                            autonoma_gpu_worker::embed::GpuEmbedder::load(&dir, Default::default())
                        })
                        .await
                        .map_err(|e| {
                            autonoma_core::Error::internal(format!("loading the embedder: {e}"))
                        })??;
                        tracing::info!(adapter = %loaded.adapter_info(), "embedding model loaded");
                        Ok(Arc::new(loaded) as Arc<dyn Embedder>)
                    }
                },
            );
            tracing::info!(model = %model_dir.display(), "knowledge bases embed with all-MiniLM-L6-v2 (wgpu)");
            (tokens, Arc::new(embedder))
        }
        _ => {
            tracing::warn!(model = %model_dir.display(), "knowledge bases embed with a word-hashing stand-in (no model, or --hash-embedder)");
            (Arc::new(HashEmbedder), Arc::new(HashEmbedder))
        }
    };
    Arc::new(Knowledge::new(
        store.clone(),
        store,
        blobs,
        tokens,
        embedder,
        KnowledgeConfig::default(),
    ))
}

/// Lower-cased words hashed into 384 dimensions, L2-normalised (texts sharing words are
/// close); word pieces are approximated by words.
struct HashEmbedder;

impl TokenCounter for HashEmbedder {
    fn count_tokens(&self, text: &str) -> autonoma_core::Result<usize> {
        Ok(text.split_whitespace().count() + 2)
    }
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "word-hash"
    }
    fn dim(&self) -> usize {
        EMBEDDING_DIM
    }
    fn count_tokens(&self, text: &str) -> autonoma_core::Result<usize> {
        TokenCounter::count_tokens(self, text)
    }
    async fn embed(&self, texts: &[String]) -> autonoma_core::Result<Vec<Vec<f32>>> {
        // Slow enough to watch the progress bar move.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; EMBEDDING_DIM];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 2)
                {
                    let h = w
                        .to_lowercase()
                        .bytes()
                        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
                    v[h as usize % EMBEDDING_DIM] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

async fn seed_demo(service: &Service) -> Result<(), String> {
    let session = match service
        .sign_up(
            SignUp {
                email: "demo@example.com".into(),
                password: "demo-password-1".into(),
                name: "Demo".into(),
                org_name: Some("Acme Robotics".into()),
            },
            None,
        )
        .await
    {
        Ok(s) => s,
        Err(_) => service
            .log_in("demo@example.com", "demo-password-1", None)
            .await
            .map_err(|e| e.to_string())?,
    };
    let actor: Actor = session.actor;
    if !service
        .list_agents(&actor, None, None)
        .await
        .map_err(|e| e.to_string())?
        .items
        .is_empty()
    {
        return Ok(());
    }
    // New organizations may already have the Local provider (the store can create it).
    let providers = service
        .list_providers(&actor)
        .await
        .map_err(|e| e.to_string())?;
    let local = match providers
        .into_iter()
        .find(|p| p.kind == ProviderKind::Local)
    {
        Some(p) => p,
        None => service
            .create_provider(
                &actor,
                NewProvider {
                    name: "Local model".into(),
                    kind: ProviderKind::Local,
                    base_url: None,
                    api_key: None,
                    models: vec![],
                },
            )
            .await
            .map_err(|e| e.to_string())?,
    };
    for (name, description, tools) in [
        (
            "Research assistant",
            "Answers questions and does the math with the calculator.",
            vec!["calculator".to_string(), "current_time".to_string()],
        ),
        (
            "Echo",
            "Repeats what you say. Handy for trying the UI.",
            vec![],
        ),
    ] {
        service
            .create_agent(
                &actor,
                AgentSpec {
                    name: name.into(),
                    description: description.into(),
                    provider_id: local.id,
                    model: local.models[0].clone(),
                    instructions: "You are a helpful assistant.".into(),
                    tools,
                    http_allowlist: vec![],
                    knowledge_base_ids: vec![],
                    tool_policies: vec![],
                    limits: Limits::default(),
                    pricing: None,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    // A knowledge base with the repository's architecture notes, and an agent that uses it.
    let kb = service
        .create_knowledge_base(
            &actor,
            NewKnowledgeBase {
                name: "Autonoma docs".into(),
                description: "How the platform is built: crates, invariants, limits.".into(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let architecture =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
            .map_err(|e| e.to_string())?;
    service
        .upload_document(
            &actor,
            kb.id,
            Upload {
                name: "ARCHITECTURE.md".into(),
                media_type: Some("text/markdown".into()),
                bytes: architecture,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    service
        .create_agent(
            &actor,
            AgentSpec {
                name: "Docs expert".into(),
                description:
                    "Answers questions about Autonoma from its architecture notes, with citations."
                        .into(),
                provider_id: local.id,
                model: local.models[0].clone(),
                instructions: "Answer from the knowledge base and cite passages by number.".into(),
                tools: vec![],
                http_allowlist: vec![],
                knowledge_base_ids: vec![kb.id],
                tool_policies: vec![],
                limits: Limits::default(),
                pricing: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    println!("seeded: log in as demo@example.com / demo-password-1");
    Ok(())
}

/// Leases run jobs and executes them with the real agent loop.
async fn worker(env: RunEnv, queue: Arc<SqliteStore>) {
    loop {
        match queue.lease(RUNS_QUEUE, Duration::from_secs(120)).await {
            Ok(Some(job)) => {
                let env = env.clone();
                let queue = queue.clone();
                tokio::spawn(async move {
                    let run_id = job
                        .payload
                        .get("run_id")
                        .and_then(|v| v.as_str())
                        .and_then(|s| Uuid::parse_str(s).ok());
                    if let Some(run_id) = run_id {
                        if let Err(e) = env.execute(run_id, CancellationToken::new()).await {
                            tracing::error!(%run_id, error = %e, "run failed to execute");
                        }
                    }
                    let _ = queue.complete(job.id, job.lease_token).await;
                });
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(150)).await,
            Err(e) => {
                tracing::error!(error = %e, "lease failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Minimal stand-in for the REST API's SSE endpoint (cookie auth, `Last-Event-ID`).
async fn run_events(
    State(service): State<Arc<Service>>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(&format!("{SESSION_COOKIE}="))
                .map(str::to_string)
        });
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok((actor, _)) = service.actor_from_session(&token).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if service.get_run(&actor, id).await.is_err() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);

    struct St {
        service: Arc<Service>,
        actor: Actor,
        run_id: Uuid,
        after: i64,
        buf: VecDeque<RunEvent>,
        done: bool,
    }
    let st = St {
        service,
        actor,
        run_id: id,
        after,
        buf: VecDeque::new(),
        done: false,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(e) = st.buf.pop_front() {
                st.after = e.seq;
                st.done = e.kind.is_terminal();
                let ev = Event::default()
                    .id(e.seq.to_string())
                    .event(e.kind.name())
                    .data(serde_json::to_string(&e).unwrap());
                return Some((Ok::<_, Infallible>(ev), st));
            }
            if st.done {
                return None;
            }
            let notify = st.service.notifier.for_run(st.run_id);
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match st.service.run_events(&st.actor, st.run_id, st.after).await {
                Ok(events) if !events.is_empty() => st.buf.extend(events),
                Ok(_) => {
                    if st
                        .service
                        .get_run(&st.actor, st.run_id)
                        .await
                        .map(|r| r.status.is_terminal())
                        .unwrap_or(true)
                    {
                        // Terminal without a terminal event still to send.
                        let again = st
                            .service
                            .run_events(&st.actor, st.run_id, st.after)
                            .await
                            .unwrap_or_default();
                        if again.is_empty() {
                            return None;
                        }
                        st.buf.extend(again);
                        continue;
                    }
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                Err(_) => return None,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A scripted model: tool calls for arithmetic, errors on "fail", echo otherwise.
struct Scripted;

impl ProviderFactory for Scripted {
    fn build(
        &self,
        _connection: &ProviderConnection,
        _api_key: Option<String>,
    ) -> Result<Arc<dyn LlmProvider>, LlmError> {
        Ok(Arc::new(Scripted))
    }
}

fn find_expression(text: &str) -> Option<String> {
    let expr: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || "+-*/(). ".contains(*c))
        .collect();
    let expr = expr.trim().trim_end_matches(['.', ' ']).trim().to_string();
    (expr.chars().any(|c| c.is_ascii_digit()) && expr.chars().any(|c| "+-*/".contains(c)))
        .then_some(expr)
}

#[async_trait]
impl LlmProvider for Scripted {
    async fn chat(
        &self,
        request: ChatRequest,
        deltas: UnboundedSender<String>,
    ) -> Result<ChatResponse, LlmError> {
        let last = request.messages.last().cloned();
        let user = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == ChatRole::User)
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let input_tokens = request
            .messages
            .iter()
            .map(|m| m.content.len() as u64 / 4 + 1)
            .sum();
        let lower = user.to_lowercase();
        if lower.contains("fail") {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return Err(LlmError::Transport(
                "simulated provider outage (you asked for it: the message contains \"fail\")"
                    .into(),
            ));
        }
        let delay = if lower.contains("slow") {
            Duration::from_millis(450)
        } else {
            Duration::from_millis(70)
        };
        let stream = |text: String| {
            let deltas = deltas.clone();
            async move {
                let mut n = 0;
                for word in text.split_inclusive(' ') {
                    tokio::time::sleep(delay).await;
                    let _ = deltas.send(word.to_string());
                    n += 1;
                }
                (text, n)
            }
        };
        let has_calc = request.tools.iter().any(|t| t.name == "calculator");
        let has_knowledge = request.tools.iter().any(|t| t.name == "knowledge_search");
        // Which tool answered, from the assistant message that called it.
        let answered = last
            .as_ref()
            .and_then(|m| m.tool_call_id.clone())
            .and_then(|id| {
                request
                    .messages
                    .iter()
                    .flat_map(|m| m.tool_calls.iter())
                    .find(|c| c.id == id)
                    .map(|c| c.name.clone())
            });
        match last {
            Some(m)
                if m.role == ChatRole::Tool && answered.as_deref() == Some("knowledge_search") =>
            {
                // Quote the first whole sentence of the best passage, citing it as [1].
                let best: String = m
                    .content
                    .lines()
                    .skip_while(|l| !l.starts_with("[1] "))
                    .skip(1)
                    .take_while(|l| !l.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let best = best.split_whitespace().collect::<Vec<_>>().join(" ");
                let sentence = best
                    .split_inclusive(". ")
                    .map(str::trim)
                    .find(|s| {
                        s.chars()
                            .next()
                            .is_some_and(|c| c.is_uppercase() || c == '*')
                            && s.split_whitespace().count() >= 5
                    })
                    .unwrap_or(best.as_str());
                let text = if sentence.is_empty() {
                    "I searched the knowledge base but found nothing relevant.".to_string()
                } else {
                    format!("According to the knowledge base: “{sentence}” [1]")
                };
                let (text, n) = stream(text).await;
                Ok(ChatResponse {
                    content: text,
                    tool_calls: vec![],
                    usage: Usage {
                        input_tokens,
                        output_tokens: n,
                    },
                    finish_reason: FinishReason::Stop,
                })
            }
            _ if has_knowledge
                && user.trim_end().ends_with('?')
                && find_expression(&user).is_none() =>
            {
                let (text, n) =
                    stream("Let me look that up in the knowledge base.".to_string()).await;
                Ok(ChatResponse {
                    content: text,
                    tool_calls: vec![ToolCall {
                        id: format!("call_{}", Uuid::new_v4().simple()),
                        name: "knowledge_search".into(),
                        arguments: serde_json::json!({ "query": user.trim(), "k": 3 }),
                    }],
                    usage: Usage {
                        input_tokens,
                        output_tokens: n,
                    },
                    finish_reason: FinishReason::ToolCalls,
                })
            }
            Some(m) if m.role == ChatRole::Tool => {
                let (text, n) = stream(format!(
                    "The calculator says {}. Anything else I can work out for you?",
                    m.content.trim()
                ))
                .await;
                Ok(ChatResponse {
                    content: text,
                    tool_calls: vec![],
                    usage: Usage {
                        input_tokens,
                        output_tokens: n,
                    },
                    finish_reason: FinishReason::Stop,
                })
            }
            _ if has_calc && find_expression(&user).is_some() => {
                let expr = find_expression(&user).unwrap();
                let (text, n) =
                    stream("Let me work that out with the calculator.".to_string()).await;
                Ok(ChatResponse {
                    content: text,
                    tool_calls: vec![ToolCall {
                        id: format!("call_{}", Uuid::new_v4().simple()),
                        name: "calculator".into(),
                        arguments: serde_json::json!({ "expression": expr }),
                    }],
                    usage: Usage {
                        input_tokens,
                        output_tokens: n,
                    },
                    finish_reason: FinishReason::ToolCalls,
                })
            }
            _ => {
                let (text, n) = stream(format!(
                    "You said: “{}”. I am the scripted development model, so I can only echo — but I stream it word by word, just like a real one.",
                    user.trim()
                ))
                .await;
                Ok(ChatResponse {
                    content: text,
                    tool_calls: vec![],
                    usage: Usage {
                        input_tokens,
                        output_tokens: n,
                    },
                    finish_reason: FinishReason::Stop,
                })
            }
        }
    }
}

/// `a op b` arithmetic, enough for the demo.
struct Calculator;

#[async_trait]
impl Tool for Calculator {
    fn read_only(&self) -> bool {
        true
    }
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: "calculator".into(),
            description: "Evaluates an arithmetic expression like `12 * 7`.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _ctx: &ToolContext,
    ) -> Result<String, ToolError> {
        let expr = arguments
            .get("expression")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ToolError("missing 'expression'".into()))?;
        let e: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
        let pos = e
            .char_indices()
            .skip(1)
            .find(|(_, c)| "+-*/".contains(*c))
            .map(|(i, _)| i)
            .ok_or_else(|| ToolError(format!("cannot evaluate '{expr}'")))?;
        let (a, rest) = e.split_at(pos);
        let (op, b) = rest.split_at(1);
        let a: f64 = a
            .parse()
            .map_err(|_| ToolError(format!("cannot evaluate '{expr}'")))?;
        let b: f64 = b
            .parse()
            .map_err(|_| ToolError(format!("cannot evaluate '{expr}'")))?;
        let v = match op {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" if b == 0.0 => return Err(ToolError("division by zero".into())),
            _ => a / b,
        };
        Ok(if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        })
    }
}
