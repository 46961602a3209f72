//! all-MiniLM-L6-v2 sentence embeddings on the CPU with candle, for processes that have no
//! wgpu adapter (an AWS Lambda function embedding search queries) and as the reference the
//! GPU worker's WGSL forward pass is checked against (`gpu-worker/tests/reference.rs`).
//!
//! The model: candle-transformers' BERT (a port of Hugging Face's `modeling_bert.py`) on
//! the sentence-transformers/all-MiniLM-L6-v2 safetensors checkpoint, followed by
//! sentence-transformers' pooling (mean over the attention mask) and `Normalize` (L2,
//! eps 1e-12). Inputs are truncated to [`MAX_EMBEDDING_TOKENS`] word-piece tokens
//! (sentence-transformers `max_seq_length` = 256). Output: [`EMBEDDING_DIM`] = 384 floats
//! of unit norm per text — the same vectors as the GPU worker's up to float rounding
//! (cosine ≥ 0.999 on the fixed test set of `gpu-worker/tests/reference.rs`), so vectors
//! from either can be compared.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use autonoma_core::embedding::{Embedder, EMBEDDING_DIM, MAX_EMBEDDING_TOKENS};
use autonoma_core::knowledge::tokens::embedding_tokenizers;
use autonoma_core::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

/// Model identifier reported by [`Embedder::model_id`]; the same as the GPU worker's, as
/// the vectors are interchangeable.
pub const CPU_EMBEDDING_MODEL_ID: &str = "all-MiniLM-L6-v2";

/// Token budget of one forward pass: a batch of B sequences padded to length L is formed
/// only while B·L ≤ this (the longest inputs first). 2048 tokens keep the attention
/// scores of one batch (B·12·L² floats) under 24 MiB at L = 256.
const MAX_BATCH_TOKENS: usize = 2048;

struct Inner {
    model: BertModel,
    /// Truncates to [`MAX_EMBEDDING_TOKENS`], never pads.
    tokenizer: Tokenizer,
    /// The same without truncation, for [`Embedder::count_tokens`].
    counter: Tokenizer,
}

/// all-MiniLM-L6-v2 on the CPU (f32 weights, ≈ 91 MB resident). Cheap to clone (shared
/// state), `Send + Sync`; [`Embedder::embed`] runs on tokio's blocking pool, and candle
/// spreads each matrix product over the machine's cores.
#[derive(Clone)]
pub struct CpuEmbedder {
    inner: Arc<Inner>,
}

impl fmt::Debug for CpuEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuEmbedder")
            .field("model", &CPU_EMBEDDING_MODEL_ID)
            .finish()
    }
}

fn model_error(path: &Path, what: impl fmt::Display) -> Error {
    Error::internal(format!("embedding model at {}: {what}", path.display()))
}

impl CpuEmbedder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `model_dir` (the
    /// folder `scripts/setup.sh` unpacks, see
    /// `autonoma_core::knowledge::tokens::embedding_model_dir`).
    ///
    /// Blocking (reads ≈ 91 MB): call it from a blocking thread in async code.
    ///
    /// # Errors
    /// [`Error::Internal`] naming the file when one is missing, unreadable, or does not
    /// describe a 384-wide BERT.
    pub fn load(model_dir: &Path) -> Result<Self> {
        let config_path = model_dir.join("config.json");
        let config =
            std::fs::read_to_string(&config_path).map_err(|e| model_error(&config_path, e))?;
        let config: Config =
            serde_json::from_str(&config).map_err(|e| model_error(&config_path, e))?;
        if config.hidden_size != EMBEDDING_DIM {
            return Err(model_error(
                &config_path,
                format!("hidden size {} is not {EMBEDDING_DIM}", config.hidden_size),
            ));
        }
        let weights_path = model_dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| model_error(&weights_path, e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| model_error(&weights_path, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| model_error(&weights_path, e))?;

        let tokenizer_path = model_dir.join("tokenizer.json");
        let (tokenizer, counter) =
            embedding_tokenizers(&tokenizer_path).map_err(|e| model_error(&tokenizer_path, e))?;
        Ok(CpuEmbedder {
            inner: Arc::new(Inner {
                model,
                tokenizer,
                counter,
            }),
        })
    }

    /// Token ids of `text` as the model sees them: `[CLS] … [SEP]`, at most
    /// [`MAX_EMBEDDING_TOKENS`]. Errors: [`Error::Internal`] when tokenisation fails.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::internal(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Embeds `texts` in order, blocking: one unit-norm [`EMBEDDING_DIM`]-float vector per
    /// text. Errors: [`Error::Internal`] when tokenisation or the forward pass fails.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let ids = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>>>()?;
        self.embed_ids(&ids)
    }

    /// Embeds pre-tokenised inputs (each `[CLS] … [SEP]`, at most [`MAX_EMBEDDING_TOKENS`]
    /// ids), blocking, results in input order. Inputs are grouped longest first into
    /// forward passes of at most 2048 padded tokens; each pass pads on the right with id 0
    /// and a 0/1 attention mask, as sentence-transformers batches.
    ///
    /// Errors: [`Error::Validation`] (field `texts`) for an empty or over-long input, [`Error::Internal`]
    /// when the forward pass fails.
    pub fn embed_ids(&self, inputs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        if let Some(bad) = inputs
            .iter()
            .find(|e| e.is_empty() || e.len() > MAX_EMBEDDING_TOKENS)
        {
            return Err(Error::validation(
                "texts",
                format!(
                    "an embedding input has {} tokens; 1..={MAX_EMBEDDING_TOKENS} allowed",
                    bad.len()
                ),
            ));
        }
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].len()));
        let mut out = vec![Vec::new(); inputs.len()];
        let mut start = 0;
        while start < order.len() {
            // Sorted longest first, so the first member's length is the padded length.
            let len = inputs[order[start]].len();
            let count = (MAX_BATCH_TOKENS / len).max(1).min(order.len() - start);
            let batch: Vec<&[u32]> = order[start..start + count]
                .iter()
                .map(|&i| inputs[i].as_slice())
                .collect();
            let vectors = self
                .forward(&batch, len)
                .map_err(|e| Error::internal(format!("CPU embedding forward pass: {e}")))?;
            for (&i, v) in order[start..start + count].iter().zip(vectors) {
                out[i] = v;
            }
            start += count;
        }
        Ok(out)
    }

    /// One padded forward pass, pooled and normalised: `[b, len]` ids → `b` vectors.
    fn forward(&self, batch: &[&[u32]], len: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        let b = batch.len();
        let mut ids = vec![0u32; b * len];
        let mut mask = vec![0f32; b * len];
        for (i, e) in batch.iter().enumerate() {
            ids[i * len..i * len + e.len()].copy_from_slice(e);
            mask[i * len..i * len + e.len()].fill(1.0);
        }
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(ids, (b, len), &dev)?;
        let mask = Tensor::from_vec(mask, (b, len), &dev)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.inner.model.forward(&ids, &token_types, Some(&mask))?; // [b, len, 384]
        let m = mask.unsqueeze(2)?; // [b, len, 1]
        let summed = hidden.broadcast_mul(&m)?.sum(1)?; // [b, 384]
        let counts = m.sum(1)?.clamp(1e-9, f32::MAX)?; // [b, 1]
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
        mean.broadcast_div(&norm)?.to_vec2::<f32>()
    }
}

#[async_trait]
impl Embedder for CpuEmbedder {
    fn model_id(&self) -> &str {
        CPU_EMBEDDING_MODEL_ID
    }

    fn dim(&self) -> usize {
        EMBEDDING_DIM
    }

    fn count_tokens(&self, text: &str) -> Result<usize> {
        let enc = self
            .inner
            .counter
            .encode(text, true)
            .map_err(|e| Error::internal(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().len())
    }

    /// Runs [`CpuEmbedder::embed_blocking`] on tokio's blocking pool (requires a tokio
    /// runtime).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (this, texts) = (self.clone(), texts.to_vec());
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| Error::internal(format!("embedding task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autonoma_core::knowledge::tokens::embedding_model_dir;

    fn embedder() -> CpuEmbedder {
        CpuEmbedder::load(&embedding_model_dir(&autonoma_testkit::models_dir()))
            .expect("all-MiniLM-L6-v2 (run `bash scripts/setup.sh`)")
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn missing_model_is_a_clear_error() {
        match CpuEmbedder::load(Path::new("/nonexistent/minilm")) {
            Err(Error::Internal(m)) => {
                assert!(m.contains("/nonexistent/minilm/config.json"), "{m}")
            }
            other => panic!("expected an internal error naming the file, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn vectors_are_unit_norm_in_input_order_and_independent_of_batching() {
        let e = embedder();
        let texts: Vec<String> = [
            "",
            "How do I reset my password?",
            &"long text about agents and queues ".repeat(80),
            "日本語 🚀",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let all = e.embed(&texts).await.unwrap();
        assert_eq!(all.len(), 4);
        for (t, v) in texts.iter().zip(&all) {
            assert_eq!(v.len(), EMBEDDING_DIM);
            assert!((dot(v, v) - 1.0).abs() < 1e-4, "unit norm for {t:?}");
            // Batched with others (padding, reordering) or alone: the same vector.
            let alone = e.embed(std::slice::from_ref(t)).await.unwrap();
            assert!(dot(v, &alone[0]) > 0.9999, "batching changed {t:?}");
        }
        assert_eq!(
            e.token_ids(&texts[2]).unwrap().len(),
            MAX_EMBEDDING_TOKENS,
            "truncated at 256"
        );
        assert!(
            e.count_tokens(&texts[2]).unwrap() > MAX_EMBEDDING_TOKENS,
            "counting does not truncate"
        );
    }

    #[tokio::test]
    async fn similar_sentences_are_closer_than_unrelated_ones() {
        let e = embedder();
        let v = e
            .embed(&[
                "How do I reset my password?".into(),
                "I forgot my password, how can I change it?".into(),
                "The cat sits on the mat.".into(),
            ])
            .await
            .unwrap();
        assert!(
            dot(&v[0], &v[1]) > 0.6,
            "paraphrases: {}",
            dot(&v[0], &v[1])
        );
        assert!(dot(&v[0], &v[2]) < 0.2, "unrelated: {}", dot(&v[0], &v[2]));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let e = embedder();
        assert!(matches!(
            e.embed_ids(&[vec![]]),
            Err(Error::Validation { .. })
        ));
        assert!(matches!(
            e.embed_ids(&[vec![101; MAX_EMBEDDING_TOKENS + 1]]),
            Err(Error::Validation { .. })
        ));
    }
}
