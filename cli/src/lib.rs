//! The `autonoma` binary's library: configuration, the assembly of the whole platform in
//! one process ([`serve`]), and the standalone GPU worker ([`gpu_worker`]).

pub mod config;
pub mod run_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use autonoma_aws::rds::{AuthTokenGenerator, DbLogin};
use autonoma_aws::{AwsConfig, S3BlobStore, S3Config, ServerSideEncryption, SqsConfig, SqsQueue};
use autonoma_core::embedding::{Embedder, EMBEDDING_DIM};
use autonoma_core::knowledge::blob::BlobStore;
use autonoma_core::knowledge::embed_job::{fail_dead_lettered, run_embed_job, EMBED_CHUNKS_KIND};
use autonoma_core::knowledge::store::KnowledgeStore;
use autonoma_core::knowledge::tokens::{LazyWordPieceCounter, TokenCounter};
use autonoma_core::knowledge::tool::KnowledgeSearchTool;
use autonoma_core::knowledge::{Knowledge, KnowledgeConfig, LazyEmbedder};
use autonoma_core::runtime::RunEnv;
use autonoma_core::service::{SecretBox, Service};
use autonoma_core::store::{JobQueue, Store};
use autonoma_core::worker::{run_executor, WorkerConfig};
use autonoma_functions::ApiState;
use autonoma_gpu_worker::embed::{EmbedError, EmbedOptions, GpuEmbedder, MODEL_ID};
use autonoma_gpu_worker::Handlers;
use autonoma_llm::embedding::CpuEmbedder;
use autonoma_storage::{
    LocalBlobStore, PasswordRotation, PasswordSource, PgStore, RunSignal, SqliteStore,
};
use config::{BlobBackend, EmbeddingDevice, QueueBackend};
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// Everything a database backend provides: relational storage, the job queue and the
/// knowledge tables. Implemented by [`SqliteStore`] and [`PgStore`].
pub trait Backend: Store + JobQueue + KnowledgeStore {}
impl<T: Store + JobQueue + KnowledgeStore> Backend for T {}

/// How old an IAM auth token may get before new connections use a fresh one: 5 minutes,
/// a third of the token's 15-minute lifetime ([`autonoma_aws::rds::AUTH_TOKEN_LIFETIME`]).
pub const IAM_TOKEN_MAX_AGE: Duration = Duration::from_secs(300);

/// An opened database: the backend and, with IAM authentication, the rotation of the
/// login token (already renewed in the background; call
/// [`PasswordRotation::ensure_fresh`] where the process may have been frozen).
pub struct OpenedStore {
    /// Relational data, knowledge tables and the database queue.
    pub store: Arc<dyn Backend>,
    /// `Some` when logged in with [`Config::database_iam_user`].
    pub password: Option<Arc<PasswordRotation>>,
    /// The same store when it is PostgreSQL: it announces run events and cancel requests
    /// across processes ([`PgStore::listen_runs`]).
    pub pg: Option<PgStore>,
}

/// IAM auth tokens as database passwords.
struct IamTokens(AuthTokenGenerator);

#[async_trait::async_trait]
impl PasswordSource for IamTokens {
    async fn password(&self) -> autonoma_core::Result<String> {
        self.0.token().await
    }
}

/// [`PasswordRotation::ensure_fresh`] before a unit of work in a process that may have been
/// frozen (a Lambda invocation); a failure is logged, and the work goes on with the pool's
/// current token.
async fn renew_login(rotation: Arc<PasswordRotation>) {
    if let Err(e) = rotation.ensure_fresh().await {
        tracing::warn!(error = %e, "renewing the database login token failed");
    }
}

/// Opens the configured database, applying migrations when
/// [`Config::migrate_on_start`]: see [`open_store_migrating`].
pub async fn open_store(cfg: &Config) -> anyhow::Result<OpenedStore> {
    open_store_migrating(cfg, cfg.migrate_on_start).await
}

/// Opens the configured database: SQLite for `sqlite://` URLs (the default file under
/// `data_dir`), PostgreSQL for `postgres://` / `postgresql://` URLs, or PostgreSQL with IAM
/// authentication ([`Config::iam_login`]; tokens renewed every [`IAM_TOKEN_MAX_AGE`] by a
/// spawned task). With `migrate`, applies migrations first (PostgreSQL: as
/// `database_owner_url` when set), and on PostgreSQL creates the IAM login role when
/// [`Config::database_iam_user`] is set.
///
/// Errors: the database cannot be reached or migrated; `migrate` with an IAM login (the
/// application role cannot change the schema).
pub async fn open_store_migrating(cfg: &Config, migrate: bool) -> anyhow::Result<OpenedStore> {
    if let Some(endpoint) = cfg.iam_login()? {
        if migrate {
            anyhow::bail!(
                "AUTONOMA_DATABASE_IAM_USER logs in as the application role, which cannot apply migrations: set \
                 AUTONOMA_MIGRATE_ON_START=false and run migrations with the owner's login (`autonoma migrate`, the migrate function)"
            );
        }
        let login = DbLogin {
            host: endpoint.host.clone(),
            port: endpoint.port,
            user: endpoint.user.clone(),
        };
        let tokens = Arc::new(IamTokens(
            AuthTokenGenerator::new(&AwsConfig::default(), login).await,
        ));
        let (store, rotation) = PgStore::connect_rotating(
            &endpoint,
            tokens,
            IAM_TOKEN_MAX_AGE,
            cfg.database_max_connections,
        )
        .await
        .with_context(|| {
            format!(
                "opening PostgreSQL at {}:{} as {} with IAM authentication",
                endpoint.host, endpoint.port, endpoint.user
            )
        })?;
        tokio::spawn(rotation.clone().run(Duration::from_secs(30)));
        return Ok(OpenedStore {
            store: Arc::new(store.clone()),
            password: Some(rotation),
            pg: Some(store),
        });
    }
    let url = cfg.database_url();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if migrate {
            let owner = cfg
                .database_owner_url
                .clone()
                .unwrap_or_else(|| url.clone());
            PgStore::migrate(&owner)
                .await
                .context("applying PostgreSQL migrations")?;
            if let Some(user) = &cfg.database_iam_user {
                PgStore::ensure_login_role(&owner, user)
                    .await
                    .with_context(|| format!("creating the IAM login role {user}"))?;
            }
        }
        let store = PgStore::connect_sized(&url, cfg.database_max_connections)
            .await
            .context("opening PostgreSQL")?;
        return Ok(OpenedStore {
            store: Arc::new(store.clone()),
            password: None,
            pg: Some(store),
        });
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let store = SqliteStore::connect(&url)
        .await
        .context("opening database")?;
    if migrate {
        store.migrate().await.context("applying migrations")?;
    }
    Ok(OpenedStore {
        store: Arc::new(store),
        password: None,
        pg: None,
    })
}

/// The configured job queue: the database's own ([`QueueBackend::Database`]) or SQS.
/// Makes no request (SQS queues are looked up on first use).
pub async fn open_queue(cfg: &Config, store: &Arc<dyn Backend>) -> Arc<dyn JobQueue> {
    match cfg.queue {
        QueueBackend::Database => store.clone() as Arc<dyn JobQueue>,
        QueueBackend::Sqs => {
            let mut queue_urls = std::collections::HashMap::new();
            if let Some(u) = &cfg.runs_queue_url {
                queue_urls.insert(autonoma_core::service::RUNS_QUEUE.to_string(), u.clone());
            }
            if let Some(u) = &cfg.gpu_queue_url {
                queue_urls.insert(autonoma_gpu_worker::GPU_QUEUE.to_string(), u.clone());
            }
            let sqs = SqsConfig {
                queue_prefix: cfg.sqs_queue_prefix.clone(),
                queue_urls,
                ..SqsConfig::default()
            };
            Arc::new(SqsQueue::from_config(&AwsConfig::default(), sqs).await)
        }
    }
}

/// The configured blob store: files under `<data_dir>/blobs` or an S3 bucket.
/// Errors: `blob_store = s3` without `blob_bucket`.
pub async fn open_blobs(cfg: &Config) -> anyhow::Result<Arc<dyn BlobStore>> {
    Ok(match cfg.blob_store {
        BlobBackend::Local => Arc::new(LocalBlobStore::new(cfg.blob_dir())),
        BlobBackend::S3 => {
            let bucket = cfg.blob_bucket.clone().ok_or_else(|| {
                anyhow::anyhow!("AUTONOMA_BLOB_STORE=s3 needs AUTONOMA_BLOB_BUCKET")
            })?;
            let sse = match &cfg.blob_kms_key {
                Some(k) => ServerSideEncryption::Kms {
                    key_id: Some(k.clone()),
                },
                None => ServerSideEncryption::S3,
            };
            let s3 = S3Config {
                sse,
                force_path_style: cfg.s3_path_style,
                ..S3Config::new(bucket)
            };
            Arc::new(S3BlobStore::from_config(&AwsConfig::default(), s3).await)
        }
    })
}

/// Loads all-MiniLM-L6-v2 from `model_dir` on `device` (blocking work on tokio's blocking
/// pool): the WGSL shaders on the best wgpu adapter ([`EmbeddingDevice::Gpu`]), candle on
/// the CPU ([`EmbeddingDevice::Cpu`]), or for [`EmbeddingDevice::Auto`] the shaders when
/// wgpu finds a real GPU and candle otherwise.
///
/// Errors: [`autonoma_core::Error::Internal`] when the model files are missing, or for
/// `Gpu` when there is no usable adapter.
pub async fn load_embedder(
    device: EmbeddingDevice,
    model_dir: PathBuf,
) -> autonoma_core::Result<Arc<dyn Embedder>> {
    tokio::task::spawn_blocking(move || -> autonoma_core::Result<Arc<dyn Embedder>> {
        let gpu = match device {
            EmbeddingDevice::Gpu => Some(GpuEmbedder::load(&model_dir, EmbedOptions::default())?),
            EmbeddingDevice::Cpu => None,
            EmbeddingDevice::Auto => match GpuEmbedder::load(&model_dir, EmbedOptions { gpu_only: true, ..EmbedOptions::default() }) {
                Ok(e) => Some(e),
                Err(EmbedError::NoAdapter { detail }) => {
                    tracing::info!(%detail, "no GPU (only a CPU adapter, or none): embedding on the CPU with candle, which is faster there than the shaders");
                    None
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(e) = gpu {
            tracing::info!(adapter = %e.adapter_info(), "embedding model loaded on wgpu");
            Ok(Arc::new(e))
        } else {
            let e = CpuEmbedder::load(&model_dir)?;
            tracing::info!("embedding model loaded on the CPU (candle)");
            Ok(Arc::new(e))
        }
    })
    .await
    .map_err(autonoma_core::Error::internal)?
}

/// The GPU worker's handlers: `embed_chunks` ([`run_embed_job`]) with `embedder`.
pub fn gpu_handlers(store: Arc<dyn Backend>, embedder: Arc<dyn Embedder>) -> Handlers {
    let mut handlers = Handlers::default();
    handlers.register(
        EMBED_CHUNKS_KIND,
        Arc::new(move |payload| {
            let (store, embedder) = (store.clone(), embedder.clone());
            Box::pin(
                async move { run_embed_job(store.as_ref(), embedder.as_ref(), &payload).await },
            )
        }),
    );
    handlers
}

/// How often a GPU worker looks for dead-lettered embedding jobs to fail their documents.
pub const DEAD_LETTER_SWEEP: Duration = Duration::from_secs(2);

/// Consumes the GPU queue of `queue` with [`gpu_handlers`] until `shutdown`, and marks the
/// documents of dead-lettered embedding jobs `failed` ([`fail_dead_lettered`]) every
/// [`DEAD_LETTER_SWEEP`].
pub async fn run_gpu_worker(
    store: Arc<dyn Backend>,
    queue: Arc<dyn JobQueue>,
    embedder: Arc<dyn Embedder>,
    cfg: WorkerConfig,
    shutdown: CancellationToken,
) {
    let sweeper = {
        let (store, queue, shutdown) = (store.clone(), queue.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                if let Err(e) = fail_dead_lettered(store.as_ref(), queue.as_ref()).await {
                    tracing::warn!(error = %e, "dead-letter sweep failed");
                }
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(DEAD_LETTER_SWEEP) => {} }
            }
        })
    };
    autonoma_gpu_worker::run(queue, gpu_handlers(store, embedder), cfg, shutdown).await;
    let _ = sweeper.await;
}

/// `autonoma gpu-worker`: only the GPU job consumer, against the configured database and
/// queue. Loads the embedding model on the configured device ([`load_embedder`]) at start
/// (so a missing model or GPU fails now, not on the first job), prints `gpu worker ready`
/// on stdout, and runs until `shutdown`.
pub async fn gpu_worker(mut cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    cfg.resolve_secrets().await?;
    let store = open_store(&cfg).await?.store;
    let queue = open_queue(&cfg, &store).await;
    let dir = cfg.embedding_model_dir();
    let embedder = load_embedder(cfg.embedding_device, dir.clone())
        .await
        .with_context(|| format!("loading all-MiniLM-L6-v2 from {}", dir.display()))?;
    println!("gpu worker ready");
    tracing::info!(db = %cfg.database_for_logs(), queue = ?cfg.queue, "GPU worker consuming");
    run_gpu_worker(store, queue, embedder, cfg.gpu_worker_config(), shutdown).await;
    Ok(())
}

/// The knowledge engine: the tokenizer loaded now (chunking needs no GPU), the embedder
/// ([`load_embedder`] on the configured device) loaded on first use (query embedding,
/// embed jobs). `None` (with a warning) when the model's tokenizer is missing: knowledge
/// bases are then unavailable.
fn knowledge_engine(
    cfg: &Config,
    store: &Arc<dyn Backend>,
    queue: &Arc<dyn JobQueue>,
    blobs: Arc<dyn BlobStore>,
) -> Option<(Arc<Knowledge>, Arc<dyn Embedder>)> {
    let (dir, device) = (cfg.embedding_model_dir(), cfg.embedding_device);
    // Parsed on first use: start-up (a Lambda cold start) does not pay for it.
    let tokens: Arc<dyn TokenCounter> = match LazyWordPieceCounter::from_model_dir(&dir) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::warn!(path = %dir.display(), error = %e, "embedding model missing: knowledge bases are disabled until `bash scripts/setup.sh` fetches it");
            return None;
        }
    };
    let embedder: Arc<dyn Embedder> = Arc::new(LazyEmbedder::new(
        MODEL_ID,
        EMBEDDING_DIM,
        tokens.clone(),
        move || load_embedder(device, dir.clone()),
    ));
    let knowledge = Arc::new(Knowledge::new(
        store.clone() as Arc<dyn KnowledgeStore>,
        queue.clone(),
        blobs,
        tokens,
        embedder.clone(),
        KnowledgeConfig {
            max_upload_bytes: cfg.max_upload_bytes,
            ..KnowledgeConfig::default()
        },
    ));
    Some((knowledge, embedder))
}

/// Everything one process of the platform shares: storage, queue, the domain service and
/// the run executor's environment. Built the same way for `serve` and for each Lambda
/// function, so every shape runs the same code on the configured backends.
pub struct Platform {
    /// Database (relational data, knowledge tables, and the database queue).
    pub store: Arc<dyn Backend>,
    /// The configured job queue (the database's or SQS).
    pub queue: Arc<dyn JobQueue>,
    /// The domain service.
    pub service: Arc<Service>,
    /// What the run executor needs.
    pub run_env: RunEnv,
    /// The knowledge engine's embedder, when the embedding model is installed.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// The database login token's rotation, with IAM authentication.
    pub db_password: Option<Arc<PasswordRotation>>,
}

impl Platform {
    /// Opens the configured backends (migrating when `migrate`) and assembles the service.
    /// On PostgreSQL one pooled connection `LISTEN`s, so that run events written by other
    /// processes wake this process's SSE followers and cancel requests made elsewhere wake
    /// the executor of the run.
    /// Errors: the database cannot be opened or migrated, the secret key is invalid, or the
    /// blob store is misconfigured.
    pub async fn open(cfg: &Config, migrate: bool) -> anyhow::Result<Platform> {
        let OpenedStore {
            store,
            password: db_password,
            pg,
        } = open_store_migrating(cfg, migrate).await?;
        let queue = open_queue(cfg, &store).await;
        let blobs = open_blobs(cfg).await?;
        let secrets = SecretBox::new(&cfg.secret_key()?);
        let knowledge = knowledge_engine(cfg, &store, &queue, blobs);
        let mcp = autonoma_tools::mcp::McpPool::new(
            store.clone() as Arc<dyn Store>,
            secrets.clone(),
            autonoma_tools::mcp::McpSettings {
                allow_stdio: cfg.mcp_allow_stdio,
                allow_loopback: cfg.mcp_allow_loopback,
                max_sessions: cfg.mcp_max_sessions,
                max_output_bytes: cfg.mcp_max_output_bytes,
                ..Default::default()
            },
        );
        let mut service = Service::new(store.clone() as Arc<dyn Store>, queue.clone(), secrets)
            .with_mcp(Arc::new(mcp.clone()))
            .with_audit_signer(Arc::new(cfg.audit_signer()?))
            .with_capability_key(Arc::new(cfg.capability_key()?));
        service.approval_ttl = std::time::Duration::from_secs(cfg.approval_ttl_secs.max(1));
        let mut tools = autonoma_tools::builtin_registry();
        if cfg.http_fetch_allow_loopback {
            tracing::warn!(
                "http_fetch may reach loopback hosts (AUTONOMA_HTTP_FETCH_ALLOW_LOOPBACK)"
            );
            tools.register(Arc::new(autonoma_tools::HttpFetch::new_with_policy(
                autonoma_tools::address::AddressPolicy::AllowLoopback,
            )));
        }
        if let Some((k, _)) = &knowledge {
            service = service.with_knowledge(k.clone());
            tools.register(Arc::new(KnowledgeSearchTool::new(k.clone())));
        }
        let service = Arc::new(service);
        if let Some(pg) = pg {
            // Events another process writes (an executor elsewhere) wake this process's
            // SSE followers, and cancels requested elsewhere this process's executor, at
            // once instead of at their next poll.
            let weak = Arc::downgrade(&service);
            pg.listen_runs(move |signal| {
                if let Some(service) = weak.upgrade() {
                    match signal {
                        RunSignal::Event(run_id) => service.notifier.notify(run_id),
                        RunSignal::CancelRequested(run_id) => service.cancels.notify(run_id),
                    }
                }
            })
            .await
            .context("listening for run events (PostgreSQL LISTEN)")?;
        }
        let model_path = cfg.model_path();
        if !model_path.exists() {
            tracing::warn!(path = %model_path.display(), "local model file missing: runs on the local provider will fail until `bash scripts/setup.sh` fetches it");
        }
        let run_env = RunEnv {
            service: service.clone(),
            providers: Arc::new(autonoma_llm::Providers::new(model_path)),
            tools,
            resolvers: vec![Arc::new(mcp)],
        };
        Ok(Platform {
            store,
            queue,
            service,
            run_env,
            embedder: knowledge.map(|(_, e)| e),
            db_password,
        })
    }

    /// The whole HTTP surface: API, UI (SSR, server functions, `/pkg` assets), request
    /// tracing, and — when `origin_verify` is configured — the edge's origin check.
    pub fn http_router(&self, cfg: &Config) -> axum::Router {
        let api = autonoma_functions::router(ApiState {
            service: self.service.clone(),
            secure_cookies: cfg.secure_cookies,
        });
        let ui = autonoma_app::router(self.service.clone(), cfg.site_dir.clone());
        let mut app = api.merge(ui);
        if let Some(secret) = cfg.origin_verify.clone().filter(|s| !s.is_empty()) {
            let secret: Arc<str> = secret.into();
            app = app.layer(axum::middleware::from_fn(move |req, next| {
                autonoma_functions::edge::require_origin_verify(secret.clone(), req, next)
            }));
        }
        if let Some(rotation) = self.db_password.clone() {
            // A Lambda function may have been frozen past the token's age: renew it before
            // the request can open a connection (a clock comparison when it is fresh).
            app = app.layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let rotation = rotation.clone();
                    async move {
                        renew_login(rotation).await;
                        next.run(req).await
                    }
                },
            ));
        }
        app.layer(tower_http::trace::TraceLayer::new_for_http())
    }
}

/// Runs UI + API + run executor + GPU worker until `shutdown` fires. Prints
/// `listening on http://ADDR` on stdout once the socket is bound (tests read it). With
/// `gpu_worker = false` the GPU queue is left to `autonoma gpu-worker` processes.
pub async fn serve(mut cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    cfg.resolve_secrets().await?;
    let p = Platform::open(&cfg, cfg.migrate_on_start).await?;
    let app = p.http_router(&cfg);

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, db = %cfg.database_for_logs(), queue = ?cfg.queue, blobs = ?cfg.blob_store, "Autonoma serving");

    let executor = tokio::spawn(run_executor(
        p.run_env.clone(),
        cfg.run_executor_config(),
        shutdown.clone(),
    ));
    let gpu = match (&p.embedder, cfg.gpu_worker) {
        (Some(embedder), true) => Some(tokio::spawn(run_gpu_worker(
            p.store.clone(),
            p.queue.clone(),
            embedder.clone(),
            cfg.gpu_worker_config(),
            shutdown.clone(),
        ))),
        (None, true) => Some(tokio::spawn(autonoma_gpu_worker::run(
            p.queue.clone(),
            Handlers::default(),
            cfg.gpu_worker_config(),
            shutdown.clone(),
        ))),
        (_, false) => None,
    };

    let s = shutdown.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { s.cancelled().await })
    .await?;
    shutdown.cancel();
    let _ = executor.await;
    if let Some(gpu) = gpu {
        let _ = gpu.await;
    }
    Ok(())
}

/// The Lambda function handlers one binary serves, chosen by `_HANDLER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaHandler {
    /// The HTTP surface ([`Platform::http_router`]) under `lambda_http` with streaming.
    Api,
    /// SQS batches of the `runs` queue ([`autonoma_functions::lambda::run_sqs_executor`]).
    RunExecutor,
    /// On each invocation: reads the secrets anew, applies migrations (creating the IAM
    /// login role when `AUTONOMA_DATABASE_IAM_USER` is set) and answers `{"migrated": true}`.
    Migrate,
}

impl std::str::FromStr for LambdaHandler {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        // The provided.al2023 runtime passes the handler string verbatim; accept `bootstrap.api` too.
        match s.rsplit('.').next().unwrap_or(s) {
            "api" => Ok(LambdaHandler::Api),
            "run-executor" | "run_executor" => Ok(LambdaHandler::RunExecutor),
            "migrate" => Ok(LambdaHandler::Migrate),
            other => anyhow::bail!(
                "unknown Lambda handler {other:?}: expected api, run-executor or migrate"
            ),
        }
    }
}

/// Runs this process as the Lambda function `handler` until the Lambda runtime stops it.
/// Secrets are read by ARN first (by `migrate` on each invocation, as the master secret
/// rotates); migrations run only in the `migrate` handler.
/// Errors: configuration, database or Runtime API failures.
pub async fn lambda(mut cfg: Config, handler: LambdaHandler) -> anyhow::Result<()> {
    if handler != LambdaHandler::Migrate {
        cfg.resolve_secrets().await?;
    }
    let map_err =
        |e: autonoma_functions::lambda::LambdaError| anyhow::anyhow!("lambda runtime: {e}");
    match handler {
        LambdaHandler::Api => {
            let p = Platform::open(&cfg, false).await?;
            autonoma_functions::lambda::run_http(p.http_router(&cfg))
                .await
                .map_err(map_err)
        }
        LambdaHandler::RunExecutor => {
            let p = Platform::open(&cfg, false).await?;
            let before: Option<autonoma_functions::lambda::InvocationHook> =
                p.db_password.clone().map(|rotation| {
                    Arc::new(move || {
                        Box::pin(renew_login(rotation.clone()))
                            as futures::future::BoxFuture<'static, ()>
                    }) as autonoma_functions::lambda::InvocationHook
                });
            autonoma_functions::lambda::run_sqs_executor(
                p.run_env.clone(),
                p.queue.clone(),
                cfg.lambda_reserve(),
                before,
            )
            .await
            .map_err(map_err)
        }
        LambdaHandler::Migrate => {
            let unresolved = Arc::new(cfg);
            lambda_runtime::run(lambda_runtime::service_fn(
                move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
                    let mut cfg = (*unresolved).clone();
                    async move {
                        let failed =
                            |e: anyhow::Error| lambda_runtime::Error::from(format!("{e:#}"));
                        cfg.resolve_secrets().await.map_err(failed)?;
                        open_store_migrating(&cfg, true).await.map_err(failed)?;
                        Ok::<_, lambda_runtime::Error>(serde_json::json!({ "migrated": true }))
                    }
                },
            ))
            .await
            .map_err(map_err)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_and_gpu_worker_agree_on_the_queue_name() {
        assert_eq!(
            autonoma_core::knowledge::embed_job::GPU_QUEUE,
            autonoma_gpu_worker::GPU_QUEUE
        );
    }
}
