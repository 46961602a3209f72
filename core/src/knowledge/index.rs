//! Exact nearest-neighbour search over a knowledge base's chunk vectors.
//!
//! Vectors are L2-normalised by the embedder, so cosine similarity is the dot product.
//! A query scores every vector of the searched bases and keeps the best `k` in a min-heap.
//!
//! **Scaling.** A query costs O(n·d) multiply-adds for n vectors of d = 384 dimensions plus
//! O(n log k) for the heap: ~38 M multiply-adds at 100 000 chunks, a few milliseconds on one
//! core (measured by `cli/examples/knowledge_bench.rs`). Memory is n·d·4
//! bytes per cached base (1.5 KiB per chunk: 154 MB at 100 000 chunks) plus 16 bytes of id
//! per chunk. A base's matrix is loaded from the store on its first search and kept, keyed
//! on the base's version counter (bumped in the same transaction as every vector insert or
//! delete), so a stale matrix is never used; at most [`MAX_CACHED_BASES`] bases stay cached
//! (least recently used evicted). Past a few hundred thousand chunks per base an
//! approximate index (HNSW, IVF) becomes the better trade; the interface here would not
//! change.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use uuid::Uuid;

use super::store::KnowledgeStore;
use crate::Result;

/// How many bases' matrices stay in memory at once.
pub const MAX_CACHED_BASES: usize = 16;

/// One base's vectors at one version: `ids[i]` owns `matrix[i*dim..(i+1)*dim]`.
pub struct Snapshot {
    /// The base these vectors belong to.
    pub kb_id: Uuid,
    /// The base's version counter when the vectors were read.
    pub version: i64,
    /// Width of each vector (0 when the base has none).
    pub dim: usize,
    /// Chunk id of each row.
    pub ids: Vec<Uuid>,
    /// Row-major `ids.len() × dim` unit vectors.
    pub matrix: Vec<f32>,
}

/// The stored form of a vector: little-endian `f32`s.
pub fn vector_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Inverse of [`vector_to_bytes`]; appends to `out`. Returns the dimension.
pub fn bytes_to_vector(b: &[u8], out: &mut Vec<f32>) -> usize {
    out.extend(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
    b.len() / 4
}

/// Dot product with eight independent accumulators (lets the compiler vectorise).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// A scored chunk id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The chunk.
    pub chunk_id: Uuid,
    /// Its base.
    pub kb_id: Uuid,
    /// Cosine similarity in [-1, 1].
    pub score: f32,
}

struct MinScore(Scored);
impl PartialEq for MinScore {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for MinScore {}
impl PartialOrd for MinScore {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for MinScore {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap's top is the worst kept score.
        o.0.score
            .total_cmp(&self.0.score)
            .then_with(|| self.0.chunk_id.cmp(&o.0.chunk_id))
    }
}

/// The best `k` of `snapshots` for `query`, best first (ties: lower chunk id first).
pub fn top_k(snapshots: &[Arc<Snapshot>], query: &[f32], k: usize) -> Vec<Scored> {
    let mut heap: BinaryHeap<MinScore> = BinaryHeap::with_capacity(k + 1);
    for s in snapshots {
        if s.dim != query.len() {
            continue;
        }
        for (i, row) in s.matrix.chunks_exact(s.dim).enumerate() {
            let score = dot(row, query);
            if heap.len() < k {
                heap.push(MinScore(Scored {
                    chunk_id: s.ids[i],
                    kb_id: s.kb_id,
                    score,
                }));
            } else if heap.peek().is_some_and(|w| score > w.0.score) {
                heap.pop();
                heap.push(MinScore(Scored {
                    chunk_id: s.ids[i],
                    kb_id: s.kb_id,
                    score,
                }));
            }
        }
    }
    let mut v: Vec<Scored> = heap.into_iter().map(|m| m.0).collect();
    v.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
    v
}

/// Per-base matrices cached by version (see the module docs).
#[derive(Default)]
pub struct VectorCache {
    inner: Mutex<HashMap<Uuid, (Arc<Snapshot>, Instant)>>,
    loading: tokio::sync::Mutex<()>,
}

impl VectorCache {
    /// The current snapshot of `kb_id`: cached if its version is current, else loaded.
    pub async fn snapshot(
        &self,
        store: &dyn KnowledgeStore,
        org_id: Uuid,
        kb_id: Uuid,
    ) -> Result<Arc<Snapshot>> {
        let version = store.knowledge_base_version(org_id, kb_id).await?;
        if let Some(s) = self.cached(kb_id, version) {
            return Ok(s);
        }
        // One load at a time: concurrent first searches of a base wait for one load.
        let _guard = self.loading.lock().await;
        if let Some(s) = self.cached(kb_id, version) {
            return Ok(s);
        }
        let snap = Arc::new(store.load_vectors(org_id, kb_id).await?);
        let mut m = self.inner.lock().unwrap();
        if m.len() >= MAX_CACHED_BASES && !m.contains_key(&kb_id) {
            if let Some(oldest) = m.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k) {
                m.remove(&oldest);
            }
        }
        m.insert(kb_id, (snap.clone(), Instant::now()));
        Ok(snap)
    }

    fn cached(&self, kb_id: Uuid, version: i64) -> Option<Arc<Snapshot>> {
        let mut m = self.inner.lock().unwrap();
        let entry = m.get_mut(&kb_id)?;
        if entry.0.version != version {
            return None;
        }
        entry.1 = Instant::now();
        Some(entry.0.clone())
    }

    /// Drops a base's matrix (after the base is deleted).
    pub fn forget(&self, kb_id: Uuid) {
        self.inner.lock().unwrap().remove(&kb_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_exact_and_ordered() {
        let dim = 4;
        let ids: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
        let rows = [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.6, 0.8, 0.0, 0.0],
            [0.8, 0.6, 0.0, 0.0],
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ];
        let matrix: Vec<f32> = rows.iter().flatten().copied().collect();
        let kb = Uuid::now_v7();
        let s = Arc::new(Snapshot {
            kb_id: kb,
            version: 1,
            dim,
            ids: ids.clone(),
            matrix,
        });
        let hits = top_k(&[s], &[1.0, 0.0, 0.0, 0.0], 3);
        assert_eq!(
            hits.iter().map(|h| h.chunk_id).collect::<Vec<_>>(),
            vec![ids[0], ids[3], ids[2]]
        );
        assert!((hits[1].score - 0.8).abs() < 1e-6);
        assert_eq!(hits[0].kb_id, kb);
    }

    #[test]
    fn dot_matches_naive_and_bytes_round_trip() {
        let a: Vec<f32> = (0..385).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..385).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
        let mut back = vec![];
        assert_eq!(bytes_to_vector(&vector_to_bytes(&a), &mut back), 385);
        assert_eq!(back, a);
    }
}
