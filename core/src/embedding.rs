//! The sentence-embedding abstraction used by knowledge bases.
//!
//! Two implementations compute the same all-MiniLM-L6-v2 vectors (cosine ≥ 0.999 on the
//! fixed set of `gpu-worker/tests/reference.rs`): the GPU worker's WGSL forward pass on wgpu
//! (`autonoma_gpu_worker::embed::GpuEmbedder`), and candle on the CPU
//! (`autonoma_llm::embedding::CpuEmbedder`) — the production embedder where there is no GPU
//! (AWS Lambda, `AUTONOMA_EMBEDDING_DEVICE=cpu`, and `auto` when wgpu finds only a CPU
//! adapter such as lavapipe), and the reference the shaders are tested against.

use async_trait::async_trait;

use crate::Result;

/// Output width of all-MiniLM-L6-v2 (sentence-transformers model card: 384-dimensional).
pub const EMBEDDING_DIM: usize = 384;

/// Maximum input length of all-MiniLM-L6-v2 in word-piece tokens, `[CLS]` and `[SEP]`
/// included (sentence-transformers `max_seq_length` = 256); longer inputs are truncated.
pub const MAX_EMBEDDING_TOKENS: usize = 256;

/// Turns texts into L2-normalised sentence embeddings.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Model identifier stored beside each vector, e.g. `"all-MiniLM-L6-v2"`.
    fn model_id(&self) -> &str;

    /// Width of every returned vector ([`EMBEDDING_DIM`] for all-MiniLM-L6-v2).
    fn dim(&self) -> usize;

    /// Number of word-piece tokens `text` has after tokenisation (special tokens included,
    /// before truncation). Used by the chunker to size chunks in the model's own tokens.
    fn count_tokens(&self, text: &str) -> Result<usize>;

    /// Embeds `texts` in order: one vector of [`Embedder::dim`] floats, unit L2 norm, per
    /// text. Inputs longer than the model's limit are truncated, as the model does.
    ///
    /// Errors: [`crate::Error::Internal`] when the device or model fails.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}
