//! Knowledge-base search latency at 10 000 and 100 000 chunks. Run:
//!
//! ```text
//! cargo run --release -p autonoma --example knowledge_bench            # 10k and 100k
//! cargo run --release -p autonoma --example knowledge_bench -- 50000   # other sizes
//! ```
//!
//! For each size: a fresh SQLite file gets one document with that many chunks and a random
//! unit vector (384-d, like all-MiniLM-L6-v2's) per chunk, written through the real
//! `SqliteStore` (`insert_document`, `store_vectors`). Then `Knowledge::search_vector`
//! (the path of every search after the query is embedded: version check, cached matrix,
//! exact top-k by dot product on a blocking thread, chunk rows fetched for the hits) runs
//! for random unit queries, k = 5. Reported: the cold first search (loads the matrix from
//! SQLite) and p50/p99 of 300 warm searches. Query embedding is not included (it is one
//! forward pass of the model, on the GPU worker's device).

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::sync::Arc;
use std::time::Instant;

use autonoma_core::embedding::EMBEDDING_DIM;
use autonoma_core::knowledge::store::KnowledgeStore;
use autonoma_core::knowledge::tokens::WordPieceCounter;
use autonoma_core::knowledge::{
    Chunk, Document, DocumentStatus, Knowledge, KnowledgeBase, KnowledgeConfig, LazyEmbedder,
};
use autonoma_storage::{LocalBlobStore, SqliteStore};
use chrono::Utc;
use rand::Rng;
use uuid::Uuid;

fn random_unit(rng: &mut impl Rng) -> Vec<f32> {
    // Gaussian-ish components (sum of uniforms), normalised.
    let mut v: Vec<f32> = (0..EMBEDDING_DIM)
        .map(|_| (0..4).map(|_| rng.gen::<f32>() - 0.5).sum())
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn bench(n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(
        SqliteStore::connect(&format!("sqlite://{}/bench.db", dir.path().display())).await?,
    );
    store.migrate().await?;
    let (_, org) = store
        .create_user_with_org("bench@example.com", "b", "x", "bench")
        .await?;
    let kb = KnowledgeBase {
        id: Uuid::now_v7(),
        org_id: org.id,
        name: "bench".into(),
        description: String::new(),
        created_at: Utc::now(),
    };
    store.create_knowledge_base(&kb).await?;
    let doc_id = Uuid::now_v7();
    let doc = Document {
        id: doc_id,
        kb_id: kb.id,
        org_id: org.id,
        name: "bench.txt".into(),
        media_type: "text/plain".into(),
        size_bytes: 0,
        sha256: "0".repeat(64),
        status: DocumentStatus::Queued,
        chunks_total: n as i64,
        chunks_embedded: 0,
        error: None,
        created_at: Utc::now(),
    };
    let chunks: Vec<Chunk> = (0..n)
        .map(|i| Chunk {
            id: Uuid::now_v7(),
            document_id: doc_id,
            ordinal: i as i64,
            text: format!(
                "chunk number {i} of the benchmark document, about as long as a short sentence."
            ),
            heading: "Bench".into(),
            page: None,
            start_char: 0,
            end_char: 0,
            token_count: 20,
        })
        .collect();
    let t = Instant::now();
    store
        .insert_document(&doc, &format!("{}/bench", org.id), &chunks)
        .await?;
    let mut rng = rand::thread_rng();
    for batch in chunks.chunks(2000) {
        let vectors: Vec<(Uuid, Vec<f32>)> = batch
            .iter()
            .map(|c| (c.id, random_unit(&mut rng)))
            .collect();
        store
            .store_vectors(org.id, doc_id, "random", &vectors)
            .await?;
    }
    let insert_s = t.elapsed().as_secs_f64();

    let model_dir = autonoma_gpu_worker::embed::model_path(&autonoma_testkit::models_dir());
    let tokens = Arc::new(WordPieceCounter::from_model_dir(&model_dir)?);
    // Searches below pass vectors; the embedder is only for `Knowledge::search` and never loads here.
    let embedder = Arc::new(LazyEmbedder::new(
        "all-MiniLM-L6-v2",
        EMBEDDING_DIM,
        tokens.clone(),
        move || autonoma::load_embedder(autonoma::config::EmbeddingDevice::Auto, model_dir.clone()),
    ));
    let k = Knowledge::new(
        store.clone(),
        store.clone(),
        Arc::new(LocalBlobStore::new(dir.path().join("blobs"))),
        tokens,
        embedder,
        KnowledgeConfig::default(),
    );

    let q = random_unit(&mut rng);
    let t = Instant::now();
    let hits = k.search_vector(org.id, &[kb.id], &q, 5).await?;
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(hits.len(), 5);

    let mut lat = Vec::with_capacity(300);
    for _ in 0..300 {
        let q = random_unit(&mut rng);
        let t = Instant::now();
        let hits = k.search_vector(org.id, &[kb.id], &q, 5).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(hits.len(), 5);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "{n:>7} chunks: insert {insert_s:.1} s | cold first search {cold_ms:.1} ms | warm search p50 {:.2} ms, p99 {:.2} ms (k=5, {} queries) | matrix {:.0} MB",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.len(),
        (n * EMBEDDING_DIM * 4) as f64 / 1e6
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    println!(
        "knowledge search benchmark ({} logical CPUs)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for n in sizes {
        bench(n).await?;
    }
    Ok(())
}
