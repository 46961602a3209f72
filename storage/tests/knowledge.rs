//! The knowledge store and the local blob store against real files. The scenarios that need
//! no raw SQL are written once, generic over the store, and run on SQLite and on PostgreSQL
//! (a throwaway cluster each); the cascade check counts rows with SQLite's own SQL.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::time::Duration;

use autonoma_core::knowledge::blob::{BlobKey, BlobStore};
use autonoma_core::knowledge::embed_job::{fail_dead_lettered, EmbedChunksJob, GPU_QUEUE};
use autonoma_core::knowledge::store::{Inserted, KnowledgeStore};
use autonoma_core::knowledge::{Chunk, Document, DocumentStatus, KnowledgeBase};
use autonoma_core::store::JobQueue;
use autonoma_core::Error;
use autonoma_storage::{LocalBlobStore, SqliteStore};
use chrono::Utc;
use uuid::Uuid;

async fn store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::connect(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    s.migrate().await.unwrap();
    (s, dir)
}

#[path = "support/backends.rs"]
#[macro_use]
mod backends;

on_both_backends!(
    documents_dedupe_vectors_are_idempotent_and_progress_is_exact,
    other_organizations_see_nothing,
    dead_lettered_embed_jobs_fail_their_document_with_the_reason,
);

async fn org<S: Store + ?Sized>(s: &S, email: &str) -> Uuid {
    s.create_user_with_org(email, "n", "hash", "org")
        .await
        .unwrap()
        .1
        .id
}

async fn kb<S: Store + ?Sized>(s: &S, org_id: Uuid) -> KnowledgeBase {
    let kb = KnowledgeBase {
        id: Uuid::now_v7(),
        org_id,
        name: "kb".into(),
        description: String::new(),
        created_at: Utc::now(),
    };
    s.create_knowledge_base(&kb).await.unwrap();
    kb
}

fn doc(kb: &KnowledgeBase, sha: &str, n: usize) -> (Document, Vec<Chunk>) {
    let id = Uuid::now_v7();
    let d = Document {
        id,
        kb_id: kb.id,
        org_id: kb.org_id,
        name: "a.md".into(),
        media_type: "text/markdown".into(),
        size_bytes: 10,
        sha256: sha.into(),
        status: DocumentStatus::Queued,
        chunks_total: n as i64,
        chunks_embedded: 0,
        error: None,
        created_at: Utc::now(),
    };
    let chunks = (0..n)
        .map(|i| Chunk {
            id: Uuid::now_v7(),
            document_id: id,
            ordinal: i as i64,
            text: format!("chunk {i}"),
            heading: "H".into(),
            page: None,
            start_char: i as i64 * 10,
            end_char: i as i64 * 10 + 7,
            token_count: 5,
        })
        .collect();
    (d, chunks)
}

fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; 4];
    v[i % 4] = 1.0;
    v
}

async fn documents_dedupe_vectors_are_idempotent_and_progress_is_exact<S: Store + JobQueue>(s: &S) {
    let org_a = org(s, "a@x.io").await;
    let base = kb(s, org_a).await;
    let (d, chunks) = doc(&base, "abc", 3);
    assert!(matches!(
        s.insert_document(&d, &format!("{org_a}/k/1"), &chunks)
            .await
            .unwrap(),
        Inserted::Created(_)
    ));
    // Same SHA-256 in the same base: the first document, nothing written.
    let (d2, chunks2) = doc(&base, "abc", 2);
    match s.insert_document(&d2, "x", &chunks2).await.unwrap() {
        Inserted::Existing(e) => assert_eq!(e.id, d.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.list_documents(org_a, base.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let v0 = s.knowledge_base_version(org_a, base.id).await.unwrap();

    let ids: Vec<Uuid> = chunks.iter().map(|c| c.id).collect();
    assert_eq!(
        s.chunks_without_vectors(org_a, d.id, &ids)
            .await
            .unwrap()
            .len(),
        3
    );
    let after = s
        .store_vectors(org_a, d.id, "m", &[(ids[0], unit(0)), (ids[1], unit(1))])
        .await
        .unwrap();
    assert_eq!(
        (after.chunks_embedded, after.status),
        (2, DocumentStatus::Embedding)
    );
    // A redelivered batch writes nothing new.
    let again = s
        .store_vectors(org_a, d.id, "m", &[(ids[0], unit(3)), (ids[1], unit(3))])
        .await
        .unwrap();
    assert_eq!(again.chunks_embedded, 2);
    assert_eq!(s.count_vectors(org_a, d.id).await.unwrap(), 2);
    let todo = s.chunks_without_vectors(org_a, d.id, &ids).await.unwrap();
    assert_eq!(todo.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[2]]);
    let done = s
        .store_vectors(org_a, d.id, "m", &[(ids[2], unit(2))])
        .await
        .unwrap();
    assert_eq!(
        (done.chunks_embedded, done.status),
        (3, DocumentStatus::Ready)
    );
    assert!(s.knowledge_base_version(org_a, base.id).await.unwrap() > v0);

    let snap = s.load_vectors(org_a, base.id).await.unwrap();
    assert_eq!((snap.ids.len(), snap.dim, snap.matrix.len()), (3, 4, 12));
    let i = snap.ids.iter().position(|x| *x == ids[0]).unwrap();
    assert_eq!(
        &snap.matrix[i * 4..i * 4 + 4],
        &unit(0)[..],
        "the first vector stored wins"
    );
    let got = s.get_chunks(org_a, &ids).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|c| c.document_name == "a.md" && c.kb_id == base.id));

    // A ready document does not go back to failed.
    assert!(!s
        .set_document_status(org_a, d.id, DocumentStatus::Failed, Some("x"))
        .await
        .unwrap());
}

async fn other_organizations_see_nothing<S: Store + JobQueue>(s: &S) {
    let org_a = org(s, "a@x.io").await;
    let org_b = org(s, "b@x.io").await;
    let base = kb(s, org_a).await;
    let (d, chunks) = doc(&base, "abc", 2);
    s.insert_document(&d, "k", &chunks).await.unwrap();
    let ids: Vec<Uuid> = chunks.iter().map(|c| c.id).collect();
    assert!(matches!(
        s.get_knowledge_base(org_b, base.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.get_document(org_b, base.id, d.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.delete_document(org_b, base.id, d.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.delete_knowledge_base(org_b, base.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.load_vectors(org_b, base.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.store_vectors(org_b, d.id, "m", &[(ids[0], unit(0))])
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(s.get_chunks(org_b, &ids).await.unwrap().is_empty());
    assert!(s
        .list_knowledge_bases(org_b, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.count_vectors(org_a, d.id).await.unwrap(), 0);
}

#[tokio::test]
async fn deletes_cascade_and_bump_the_version() {
    let (s, _dir) = store().await;
    let org_a = org(&s, "a@x.io").await;
    let base = kb(&s, org_a).await;
    let (d, chunks) = doc(&base, "abc", 2);
    s.insert_document(&d, &format!("{org_a}/k/1"), &chunks)
        .await
        .unwrap();
    s.store_vectors(org_a, d.id, "m", &[(chunks[0].id, unit(0))])
        .await
        .unwrap();
    let v = s.knowledge_base_version(org_a, base.id).await.unwrap();
    assert_eq!(
        s.delete_document(org_a, base.id, d.id).await.unwrap(),
        format!("{org_a}/k/1")
    );
    assert!(s.knowledge_base_version(org_a, base.id).await.unwrap() > v);
    assert!(s.load_vectors(org_a, base.id).await.unwrap().ids.is_empty());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);

    let (d, chunks) = doc(&base, "def", 1);
    s.insert_document(&d, &format!("{org_a}/k/2"), &chunks)
        .await
        .unwrap();
    assert_eq!(
        s.delete_knowledge_base(org_a, base.id).await.unwrap(),
        vec![format!("{org_a}/k/2")]
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
}

async fn dead_lettered_embed_jobs_fail_their_document_with_the_reason<S: Store + JobQueue>(s: &S) {
    let org_a = org(s, "a@x.io").await;
    let base = kb(s, org_a).await;
    let (d, chunks) = doc(&base, "abc", 1);
    s.insert_document(&d, "k", &chunks).await.unwrap();
    let job = EmbedChunksJob::new(org_a, d.id, vec![chunks[0].id]);
    s.enqueue(
        GPU_QUEUE,
        &serde_json::to_value(&job).unwrap(),
        1,
        Duration::ZERO,
    )
    .await
    .unwrap();
    let leased = s
        .lease(GPU_QUEUE, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    s.fail(
        leased.id,
        leased.lease_token,
        "GPU: device lost",
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(fail_dead_lettered(s, s).await.unwrap(), 1);
    let got = s.get_document(org_a, base.id, d.id).await.unwrap();
    assert_eq!(got.status, DocumentStatus::Failed);
    assert!(got.error.unwrap().contains("GPU: device lost"));
    assert_eq!(fail_dead_lettered(s, s).await.unwrap(), 0, "idempotent");
}

#[tokio::test]
async fn local_blobs_are_written_atomically_and_deleted_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalBlobStore::new(dir.path().join("blobs"));
    let key = BlobKey::new(Uuid::now_v7(), "knowledge/kb/doc").unwrap();
    assert!(matches!(blobs.get(&key).await, Err(Error::NotFound(_))));
    blobs.put(&key, b"first").await.unwrap();
    blobs.put(&key, b"second").await.unwrap();
    assert_eq!(blobs.get(&key).await.unwrap(), b"second");
    let path = blobs.path_of(&key);
    assert!(path.starts_with(dir.path().join("blobs").join(key.org_id().to_string())));
    let siblings: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(siblings.len(), 1, "no temporary files left");
    blobs.delete(&key).await.unwrap();
    blobs.delete(&key).await.unwrap();
    assert!(!path.exists());
}
