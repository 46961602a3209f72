//! The `autonoma` binary's library: configuration, the assembly of the whole platform in
//! one process ([`serve`]), and the standalone GPU worker ([`gpu_worker`]).

pub mod config;
pub mod run_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use autonoma_core::embedding::{Embedder, EMBEDDING_DIM};
use autonoma_core::knowledge::embed_job::{fail_dead_lettered, run_embed_job, EMBED_CHUNKS_KIND};
use autonoma_core::knowledge::tokens::{TokenCounter, WordPieceCounter};
use autonoma_core::knowledge::tool::KnowledgeSearchTool;
use autonoma_core::knowledge::{Knowledge, KnowledgeConfig, LazyEmbedder};
use autonoma_core::runtime::RunEnv;
use autonoma_core::service::{SecretBox, Service};
use autonoma_core::worker::{run_executor, WorkerConfig};
use autonoma_functions::ApiState;
use autonoma_gpu_worker::embed::{EmbedOptions, GpuEmbedder, MODEL_ID};
use autonoma_gpu_worker::Handlers;
use autonoma_core::knowledge::store::KnowledgeStore;
use autonoma_core::store::{JobQueue, Store};
use autonoma_storage::{LocalBlobStore, PgStore, SqliteStore};
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// Everything a database backend provides: relational storage, the job queue and the
/// knowledge tables. Implemented by [`SqliteStore`] and [`PgStore`].
pub trait Backend: Store + JobQueue + KnowledgeStore {}
impl<T: Store + JobQueue + KnowledgeStore> Backend for T {}

/// Opens the configured database and applies migrations: SQLite for `sqlite://` URLs
/// (the default file under `data_dir`), PostgreSQL for `postgres://` / `postgresql://`
/// URLs — migrated as `database_owner_url` (the table owner), then used as `database_url`
/// (a non-owner role, so row-level security applies).
/// Errors: the database cannot be reached or a migration fails.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    let url = cfg.database_url();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let owner = cfg.database_owner_url.clone().unwrap_or_else(|| url.clone());
        PgStore::migrate(&owner).await.context("applying PostgreSQL migrations")?;
        let store = PgStore::connect(&url).await.context("opening PostgreSQL")?;
        return Ok(Arc::new(store));
    }
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let store = SqliteStore::connect(&url).await.context("opening database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(Arc::new(store))
}

/// Loads all-MiniLM-L6-v2 on the best wgpu adapter (blocking work on tokio's blocking pool).
/// Errors: model files missing or no usable adapter.
pub async fn load_gpu_embedder(model_dir: PathBuf) -> autonoma_core::Result<Arc<dyn Embedder>> {
    let e = tokio::task::spawn_blocking(move || GpuEmbedder::load(&model_dir, EmbedOptions::default()))
        .await
        .map_err(autonoma_core::Error::internal)??;
    tracing::info!(adapter = %e.adapter_info(), "embedding model loaded");
    Ok(Arc::new(e))
}

/// The GPU worker's handlers: `embed_chunks` ([`run_embed_job`]) with `embedder`.
pub fn gpu_handlers(store: Arc<dyn Backend>, embedder: Arc<dyn Embedder>) -> Handlers {
    let mut handlers = Handlers::default();
    handlers.register(
        EMBED_CHUNKS_KIND,
        Arc::new(move |payload| {
            let (store, embedder) = (store.clone(), embedder.clone());
            Box::pin(async move { run_embed_job(store.as_ref(), embedder.as_ref(), &payload).await })
        }),
    );
    handlers
}

/// How often a GPU worker looks for dead-lettered embedding jobs to fail their documents.
pub const DEAD_LETTER_SWEEP: Duration = Duration::from_secs(2);

/// Consumes the GPU queue with [`gpu_handlers`] until `shutdown`, and marks the documents
/// of dead-lettered embedding jobs `failed` ([`fail_dead_lettered`]) every
/// [`DEAD_LETTER_SWEEP`].
pub async fn run_gpu_worker(store: Arc<dyn Backend>, embedder: Arc<dyn Embedder>, cfg: WorkerConfig, shutdown: CancellationToken) {
    let sweeper = {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                if let Err(e) = fail_dead_lettered(store.as_ref(), store.as_ref()).await {
                    tracing::warn!(error = %e, "dead-letter sweep failed");
                }
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(DEAD_LETTER_SWEEP) => {} }
            }
        })
    };
    autonoma_gpu_worker::run(store.clone() as Arc<dyn JobQueue>, gpu_handlers(store, embedder), cfg, shutdown).await;
    let _ = sweeper.await;
}

/// `autonoma gpu-worker`: only the GPU job consumer, against the configured database. Loads
/// the embedding model at start (so a missing model or GPU fails now, not on the first
/// job), prints `gpu worker ready` on stdout, and runs until `shutdown`.
pub async fn gpu_worker(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = open_store(&cfg).await?;
    let dir = cfg.embedding_model_dir();
    let embedder = load_gpu_embedder(dir.clone()).await.with_context(|| format!("loading all-MiniLM-L6-v2 from {}", dir.display()))?;
    println!("gpu worker ready");
    tracing::info!(db = %cfg.database_url(), "GPU worker consuming");
    run_gpu_worker(store, embedder, cfg.gpu_worker_config(), shutdown).await;
    Ok(())
}

/// The knowledge engine of `autonoma serve`: the tokenizer loaded now (chunking needs no
/// GPU), the GPU embedder loaded on first use (query embedding, embed jobs). `None` (with a
/// warning) when the model's tokenizer is missing: knowledge bases are then unavailable.
fn knowledge_engine(cfg: &Config, store: &Arc<dyn Backend>) -> Option<(Arc<Knowledge>, Arc<dyn Embedder>)> {
    let dir = cfg.embedding_model_dir();
    let tokens: Arc<dyn TokenCounter> = match WordPieceCounter::from_model_dir(&dir) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::warn!(path = %dir.display(), error = %e, "embedding model missing: knowledge bases are disabled until `bash scripts/setup.sh` fetches it");
            return None;
        }
    };
    let embedder: Arc<dyn Embedder> = Arc::new(LazyEmbedder::new(MODEL_ID, EMBEDDING_DIM, tokens.clone(), move || load_gpu_embedder(dir.clone())));
    let knowledge = Arc::new(Knowledge::new(
        store.clone() as Arc<dyn KnowledgeStore>,
        store.clone() as Arc<dyn JobQueue>,
        Arc::new(LocalBlobStore::new(cfg.blob_dir())),
        tokens,
        embedder.clone(),
        KnowledgeConfig { max_upload_bytes: cfg.max_upload_bytes, ..KnowledgeConfig::default() },
    ));
    Some((knowledge, embedder))
}

/// Runs UI + API + run executor + GPU worker until `shutdown` fires. Prints
/// `listening on http://ADDR` on stdout once the socket is bound (tests read it). With
/// `gpu_worker = false` the GPU queue is left to `autonoma gpu-worker` processes.
pub async fn serve(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = open_store(&cfg).await?;
    let secrets = SecretBox::new(&cfg.secret_key()?);
    let knowledge = knowledge_engine(&cfg, &store);
    let mut service = Service::new(store.clone() as Arc<dyn Store>, store.clone() as Arc<dyn JobQueue>, secrets);
    let mut tools = autonoma_tools::builtin_registry();
    if let Some((k, _)) = &knowledge {
        service = service.with_knowledge(k.clone());
        tools.register(Arc::new(KnowledgeSearchTool::new(k.clone())));
    }
    let service = Arc::new(service);
    let model_path = cfg.model_path.clone().unwrap_or_else(autonoma_llm::local_model_path);
    if !model_path.exists() {
        tracing::warn!(path = %model_path.display(), "local model file missing: runs on the local provider will fail until `bash scripts/setup.sh` fetches it");
    }
    let env = RunEnv { service: service.clone(), providers: Arc::new(autonoma_llm::Providers::new(model_path)), tools };

    let api = autonoma_functions::router(ApiState { service: service.clone(), secure_cookies: cfg.secure_cookies });
    let ui = autonoma_app::router(service.clone(), cfg.site_dir.clone());
    let app = api.merge(ui).layer(tower_http::trace::TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, db = %cfg.database_url(), "Autonoma serving");

    let executor = tokio::spawn(run_executor(
        env,
        cfg.run_executor_config(),
        shutdown.clone(),
    ));
    let gpu = match (&knowledge, cfg.gpu_worker) {
        (Some((_, embedder)), true) => Some(tokio::spawn(run_gpu_worker(store.clone(), embedder.clone(), cfg.gpu_worker_config(), shutdown.clone()))),
        (None, true) => Some(tokio::spawn(autonoma_gpu_worker::run(store.clone() as Arc<dyn JobQueue>, Handlers::default(), cfg.gpu_worker_config(), shutdown.clone()))),
        (_, false) => None,
    };

    let s = shutdown.clone();
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { s.cancelled().await })
        .await?;
    shutdown.cancel();
    let _ = executor.await;
    if let Some(gpu) = gpu {
        let _ = gpu.await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_and_gpu_worker_agree_on_the_queue_name() {
        assert_eq!(autonoma_core::knowledge::embed_job::GPU_QUEUE, autonoma_gpu_worker::GPU_QUEUE);
    }
}
