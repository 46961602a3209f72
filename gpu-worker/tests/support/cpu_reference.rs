#![allow(dead_code)] // each user (test, bench) needs a different subset

//! Independent CPU reference of all-MiniLM-L6-v2 sentence embeddings, for tests and
//! benchmarks only: candle-transformers' BERT (a port of Hugging Face's `modeling_bert.py`)
//! on the same safetensors checkpoint, followed by sentence-transformers' pooling
//! (mean over the attention mask) and `Normalize` (L2, eps 1e-12). The tokenizer is
//! configured here on its own (truncation at 256, no padding) rather than borrowed from
//! the GPU embedder.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// The reference model and its tokenizer.
pub struct CpuReference {
    model: BertModel,
    tokenizer: Tokenizer,
}

impl CpuReference {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> Self {
        let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config.json")).expect("config");
        let weights = std::fs::read(dir.join("model.safetensors")).expect("model.safetensors");
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu).expect("safetensors");
        let model = BertModel::load(vb, &config).expect("BertModel::load");
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json");
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: 256,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .expect("truncation");
        CpuReference { model, tokenizer }
    }

    /// Token ids of `text` (`[CLS] … [SEP]`, at most 256).
    pub fn ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, true).expect("encode").get_ids().to_vec()
    }

    /// Embeds `texts` as one padded batch (right padding with id 0 and a 0/1 attention
    /// mask, exactly as sentence-transformers batches), returning unit-norm 384-d vectors.
    pub fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let encoded: Vec<Vec<u32>> = texts.iter().map(|t| self.ids(t)).collect();
        self.embed_ids(&encoded)
    }

    /// Same as [`CpuReference::embed`] for pre-tokenised inputs.
    pub fn embed_ids(&self, encoded: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let b = encoded.len();
        let l = encoded.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; b * l];
        let mut mask = vec![0f32; b * l];
        for (i, e) in encoded.iter().enumerate() {
            ids[i * l..i * l + e.len()].copy_from_slice(e);
            mask[i * l..i * l + e.len()].iter_mut().for_each(|m| *m = 1.0);
        }
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(ids, (b, l), &dev).unwrap();
        let mask = Tensor::from_vec(mask, (b, l), &dev).unwrap();
        let token_types = ids.zeros_like().unwrap();
        let hidden = self.model.forward(&ids, &token_types, Some(&mask)).unwrap(); // [b, l, 384]
        let m = mask.unsqueeze(2).unwrap(); // [b, l, 1]
        let summed = hidden.broadcast_mul(&m).unwrap().sum(1).unwrap(); // [b, 384]
        let counts = m.sum(1).unwrap().clamp(1e-9, f32::MAX).unwrap(); // [b, 1]
        let mean = summed.broadcast_div(&counts).unwrap();
        let norm = mean.sqr().unwrap().sum_keepdim(1).unwrap().sqrt().unwrap().clamp(1e-12, f32::MAX).unwrap();
        mean.broadcast_div(&norm).unwrap().to_vec2::<f32>().unwrap()
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
