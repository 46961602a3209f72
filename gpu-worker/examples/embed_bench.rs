//! Throughput of the all-MiniLM-L6-v2 embedder: the wgpu path (our WGSL kernels on the
//! best adapter: lavapipe on CPU-only machines) against the candle CPU embedder
//! (`autonoma_llm::embedding::CpuEmbedder`, its own batching: at most 2048 padded tokens per
//! forward pass), in the same run, plus the matmul kernel alone.
//!
//! ```text
//! cargo run --release -p autonoma-gpu-worker --example embed_bench [-- --quick]
//! ```
//!
//! Inputs: synthetic English sentences of exactly 128 word-piece tokens ([CLS] … [SEP]),
//! at batch sizes 1, 32 and 256 (one `embed_ids` call per batch; the embedder splits it by
//! its token budget, here 32768 so one call is one forward pass where the device allows).
//! Before that, the candle embedder's load time and single-query latency (what a cold
//! Lambda function's first search pays). One warm-up call per path first (pipeline
//! compilation, caches); then each measurement repeats until at least 2 s have elapsed (at
//! least once). Prints markdown tables.

use std::time::{Duration, Instant};

use autonoma_gpu_worker::embed::{model_path, EmbedOptions, GpuEmbedder, MatmulTiling};
use autonoma_llm::embedding::CpuEmbedder;

const SEQ: usize = 128;

fn sentences(gpu: &GpuEmbedder, n: usize) -> Vec<Vec<u32>> {
    let words = [
        "retrieval",
        "augmented",
        "agents",
        "read",
        "documents",
        "from",
        "knowledge",
        "bases",
        "and",
        "answer",
        "questions",
        "about",
        "invoices",
        "contracts",
        "meetings",
        "while",
        "the",
        "scheduler",
        "balances",
        "work",
    ];
    (0..n)
        .map(|i| {
            let text: Vec<&str> = (0..200)
                .map(|j| words[(i * 31 + j * 7 + j / 5) % words.len()])
                .collect();
            let ids = gpu.token_ids(&text.join(" ")).expect("tokenise");
            let mut ids: Vec<u32> = ids[..SEQ - 1].to_vec();
            ids.push(*gpu.token_ids("").unwrap().last().unwrap()); // [SEP]
            ids
        })
        .collect()
}

/// Mean seconds per call of `f`: repeats until 2 s have elapsed, at least once.
fn time<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let start = Instant::now();
    let mut last = f();
    let mut n = 1u32;
    while start.elapsed() < Duration::from_secs(2) {
        last = f();
        n += 1;
    }
    (start.elapsed().as_secs_f64() / n as f64, last)
}

/// Cosine similarity of two vectors.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = model_path(&autonoma_testkit::models_dir());
    let gpu = GpuEmbedder::load(
        &dir,
        EmbedOptions {
            max_batch_tokens: 256 * SEQ,
            max_batch_sequences: 256,
            ..EmbedOptions::default()
        },
    )
    .expect("GpuEmbedder::load");
    let t = Instant::now();
    let cpu = CpuEmbedder::load(&dir).expect("CpuEmbedder::load");
    let cpu_load = t.elapsed();
    // What a cold AWS Lambda function pays for its first search: the load above, then
    // one short query (the first call also warms candle's thread pool and caches).
    let query = vec!["how do I rotate the database password every few minutes?".to_string()];
    let t = Instant::now();
    cpu.embed_blocking(&query).expect("first query");
    let first_query = t.elapsed();
    let mut warm_queries: Vec<f64> = (0..if quick { 20 } else { 100 })
        .map(|_| {
            let t = Instant::now();
            cpu.embed_blocking(&query).expect("query");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    warm_queries.sort_by(f64::total_cmp);
    let pct = |p: f64| warm_queries[((warm_queries.len() - 1) as f64 * p).round() as usize];
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("adapter: {}", gpu.adapter_info());
    println!(
        "host: {cores} logical CPU cores; batch token budget {}; sequence length {SEQ} tokens",
        gpu.max_batch_tokens()
    );
    println!();
    println!(
        "| candle CPU, one search query ({} tokens) | ms |",
        cpu.token_ids(&query[0]).unwrap().len()
    );
    println!("|---|---:|");
    println!(
        "| load (config, tokenizer, 87 MB safetensors) | {:.1} |",
        cpu_load.as_secs_f64() * 1e3
    );
    println!(
        "| first query after load | {:.1} |",
        first_query.as_secs_f64() * 1e3
    );
    println!(
        "| later queries, median of {} | {:.2} |",
        warm_queries.len(),
        pct(0.5)
    );
    println!("| later queries, p99 | {:.2} |", pct(0.99));
    println!();
    println!("| path | batch | sentences/s | tokens/s | ms per batch | min cosine vs CPU |");
    println!("|---|---:|---:|---:|---:|---:|");
    let sizes: &[usize] = if quick { &[1, 32] } else { &[1, 32, 256] };
    let warm = sentences(&gpu, 2);
    gpu.embed_ids(&warm).expect("warm-up");
    cpu.embed_ids(&warm).expect("warm-up");
    for &b in sizes {
        let inputs = sentences(&gpu, b);
        let (t_gpu, v_gpu) = time(|| gpu.embed_ids(&inputs).expect("embed"));
        let (t_cpu, v_cpu) = time(|| cpu.embed_ids(&inputs).expect("embed"));
        let min_cos = v_gpu
            .iter()
            .zip(&v_cpu)
            .map(|(a, b)| cosine(a, b))
            .fold(1.0f32, f32::min);
        for (name, t) in [("wgpu (WGSL)", t_gpu), ("candle CPU", t_cpu)] {
            println!(
                "| {name} | {b} | {:.1} | {:.0} | {:.1} | {} |",
                b as f64 / t,
                (b * SEQ) as f64 / t,
                t * 1e3,
                if name.starts_with("wgpu") {
                    format!("{min_cos:.6}")
                } else {
                    "—".into()
                }
            );
        }
    }
    println!();
    println!("| matmul kernel alone (FFN up + GELU) | tile | ms | GFLOP/s |");
    println!("|---|---|---:|---:|");
    for rows in [SEQ, 32 * SEQ] {
        for (name, tiling) in [
            ("64x64, 4x4/thread", MatmulTiling::Tile64),
            ("128x128, 8x8/thread", MatmulTiling::Tile128),
        ] {
            let (secs, gflops) = gpu.profile_matmul(rows, 3, tiling).expect("profile");
            println!(
                "| [{rows}, 384] x [384, 1536] | {name} | {:.1} | {gflops:.1} |",
                secs * 1e3
            );
        }
    }
}
