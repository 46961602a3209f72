//! The `autonoma` binary's library: configuration and the assembly of the whole platform
//! in one process ([`serve`]).

pub mod config;
pub mod run_cmd;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use autonoma_core::runtime::RunEnv;
use autonoma_core::service::{SecretBox, Service};
use autonoma_core::worker::{run_executor, WorkerConfig};
use autonoma_functions::ApiState;
use autonoma_storage::SqliteStore;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// Opens the database and applies migrations.
pub async fn open_store(cfg: &Config) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let store = SqliteStore::connect(&cfg.database_url()).await.context("opening database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Runs UI + API + run executor + GPU worker until `shutdown` fires. Prints
/// `listening on http://ADDR` on stdout once the socket is bound (tests read it).
pub async fn serve(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = Arc::new(open_store(&cfg).await?);
    let secrets = SecretBox::new(&cfg.secret_key()?);
    let service = Arc::new(Service::new(store.clone(), store.clone(), secrets));
    let model_path = cfg.model_path.clone().unwrap_or_else(autonoma_llm::local_model_path);
    if !model_path.exists() {
        tracing::warn!(path = %model_path.display(), "local model file missing: runs on the local provider will fail until `bash scripts/setup.sh` fetches it");
    }
    let env = RunEnv {
        service: service.clone(),
        providers: Arc::new(autonoma_llm::Providers::new(model_path)),
        tools: autonoma_tools::builtin_registry(),
    };

    let api = autonoma_functions::router(ApiState { service: service.clone(), secure_cookies: cfg.secure_cookies });
    let ui = autonoma_app::router(service.clone(), cfg.site_dir.clone());
    let app = api.merge(ui).layer(tower_http::trace::TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, db = %cfg.database_url(), "Autonoma serving");

    let executor = tokio::spawn(run_executor(
        env,
        WorkerConfig { concurrency: cfg.executor_concurrency, ..WorkerConfig::default() },
        shutdown.clone(),
    ));
    let gpu = tokio::spawn(autonoma_gpu_worker::run(store.clone(), autonoma_gpu_worker::Handlers::default(), WorkerConfig::default(), shutdown.clone()));

    let s = shutdown.clone();
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { s.cancelled().await })
        .await?;
    shutdown.cancel();
    let _ = executor.await;
    let _ = gpu.await;
    Ok(())
}
