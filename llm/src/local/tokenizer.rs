//! The tokenizer of a GGUF file, rebuilt from its metadata with the `tokenizers` crate.
//!
//! Only GPT-2 style byte-level BPE (`tokenizer.ggml.model = "gpt2"`) is supported. The
//! pre-tokenizer follows llama.cpp's choice for `tokenizer.ggml.pre` (`llama-vocab.cpp`):
//! the StarCoder family (`smollm`, `starcoder`, `refact`, `command-r`, `codeshell`,
//! `exaone`, `minerva`) first isolates every digit (`\p{N}`), then applies the GPT-2 regex;
//! everything else uses the GPT-2 regex alone (tokenizers' `ByteLevel` with `use_regex`).

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

/// A tokenizer with the ids and strings the generator needs.
pub(crate) struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    /// `tokenizer.ggml.bos_token_id`, when present.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`, when present.
    pub eos_id: Option<u32>,
    /// Whether the model expects BOS before the prompt (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// The token strings (id → string).
    pub tokens: Vec<String>,
}

impl GgufTokenizer {
    /// The string of token `id` (empty when out of range).
    pub fn token_str(&self, id: Option<u32>) -> String {
        id.and_then(|id| self.tokens.get(id as usize))
            .cloned()
            .unwrap_or_default()
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t == token)
            .map(|i| i as u32)
    }
}

fn get<'a>(ct: &'a Content, key: &str) -> Result<&'a Value, String> {
    ct.metadata
        .get(key)
        .ok_or_else(|| format!("GGUF metadata has no `{key}`"))
}

fn to_u32(v: &Value) -> Option<u32> {
    match v {
        Value::U8(x) => Some(u32::from(*x)),
        Value::U16(x) => Some(u32::from(*x)),
        Value::U32(x) => Some(*x),
        Value::U64(x) => u32::try_from(*x).ok(),
        Value::I8(x) => u32::try_from(*x).ok(),
        Value::I16(x) => u32::try_from(*x).ok(),
        Value::I32(x) => u32::try_from(*x).ok(),
        Value::I64(x) => u32::try_from(*x).ok(),
        _ => None,
    }
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    let items = v.to_vec().map_err(|_| format!("`{key}` is not an array"))?;
    items
        .iter()
        .map(|s| {
            s.to_string()
                .cloned()
                .map_err(|_| format!("`{key}` holds a non-string"))
        })
        .collect()
}

/// Pre-tokenizers of the StarCoder family that split digits individually (llama.cpp).
const DIGIT_SPLITTING_PRE: &[&str] = &[
    "smollm",
    "starcoder",
    "refact",
    "command-r",
    "codeshell",
    "exaone",
    "minerva",
];

/// Builds the tokenizer from `tokenizer.ggml.{model,tokens,merges,token_type,pre,
/// bos_token_id,eos_token_id,add_bos_token,add_space_prefix}`. Tokens of GGUF type
/// control (3), user-defined (4) or unused (5) become special added tokens, so they are
/// matched whole in prompts and dropped by `decode(.., skip_special_tokens = true)`.
///
/// # Errors
/// A message when the metadata is missing or not a GPT-2 style BPE.
pub(crate) fn from_gguf(ct: &Content) -> Result<GgufTokenizer, String> {
    let model = get(ct, "tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| e.to_string())?;
    if model != "gpt2" {
        return Err(format!(
            "unsupported tokenizer model `{model}` (only GPT-2 style BPE)"
        ));
    }
    let tokens = strings(get(ct, "tokenizer.ggml.tokens")?, "tokenizer.ggml.tokens")?;
    let merges = strings(get(ct, "tokenizer.ggml.merges")?, "tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| format!("invalid merge `{m}`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| e.to_string())?;

    let add_prefix_space = ct
        .metadata
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(false);
    let pre = ct
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    let byte_level = ByteLevel::new(add_prefix_space, true, true);
    let pre_tokenizer: PreTokenizerWrapper = if DIGIT_SPLITTING_PRE.contains(&pre.as_str()) {
        Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into()
    } else {
        byte_level.into()
    };

    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));

    if let Some(types) = ct
        .metadata
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
    {
        let specials: Vec<AddedToken> = types
            .iter()
            .zip(&tokens)
            .filter(|(ty, _)| matches!(to_u32(ty), Some(3..=5)))
            .map(|(_, tok)| AddedToken::from(tok.clone(), true))
            .collect();
        tokenizer
            .add_special_tokens(specials)
            .map_err(|e| e.to_string())?;
    }
    let id = |key: &str| ct.metadata.get(key).and_then(to_u32);
    let bos_id = id("tokenizer.ggml.bos_token_id");
    let eos_id = id("tokenizer.ggml.eos_token_id");
    // BOS/EOS are special even when their type says otherwise.
    let extra: Vec<AddedToken> = [bos_id, eos_id]
        .into_iter()
        .flatten()
        .filter_map(|id| tokens.get(id as usize))
        .map(|t| AddedToken::from(t.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(extra)
        .map_err(|e| e.to_string())?;
    let add_bos = ct
        .metadata
        .get("tokenizer.ggml.add_bos_token")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(false);
    Ok(GgufTokenizer {
        tokenizer,
        bos_id,
        eos_id,
        add_bos,
        tokens,
    })
}
