//! What only [`PgStore`] has, against a real PostgreSQL 15 (Debian's `postgresql` package),
//! one throwaway cluster per test: row-level security (forced on every tenant table; the
//! application role sees nothing without a tenant, and only its tenant's rows with one, even
//! through raw SQL), knowledge cascades counted through the owner's raw SQL, password
//! rotation, the IAM login role, and `LISTEN`/`NOTIFY` of run events and cancels. The
//! scenarios every backend shares run on PostgreSQL too, from `stores.rs`, `knowledge.rs`,
//! `run_claims.rs` and `rate_limits.rs`.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use autonoma_core::knowledge::store::{Inserted, KnowledgeStore};
use autonoma_core::knowledge::{Chunk, Document, DocumentStatus, KnowledgeBase};
use autonoma_core::model::*;
use autonoma_core::store::NewRun;
use autonoma_core::Error;
use autonoma_storage::{PasswordSource, PgEndpoint, PgStore, RunSignal};
use chrono::Utc;
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

use autonoma_testkit::postgres::PgServer;

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{provider, spec};

/// A running cluster with the roles `autonoma_owner` (owns the schema, runs migrations) and
/// `autonoma_web` (the application's login, a member of `autonoma_app`), the database
/// `autonoma` migrated, and a [`PgStore`] connected as `autonoma_web`.
struct Harness {
    server: PgServer,
    store: PgStore,
}

impl Harness {
    async fn new() -> Harness {
        let server = PgServer::start();
        PgStore::migrate(&server.url("autonoma_owner"))
            .await
            .unwrap();
        // Idempotent.
        PgStore::migrate(&server.url("autonoma_owner"))
            .await
            .unwrap();
        let store = PgStore::connect(&server.url("autonoma_web")).await.unwrap();
        Harness { server, store }
    }

    /// A raw connection as the application role.
    async fn app_conn(&self) -> PgConnection {
        PgConnection::connect(&self.server.url("autonoma_web"))
            .await
            .unwrap()
    }
}

async fn org(s: &PgStore, email: &str) -> Uuid {
    s.create_user_with_org(email, "n", "hash", "org")
        .await
        .unwrap()
        .1
        .id
}

fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; 4];
    v[i % 4] = 1.0;
    v
}

async fn kb(s: &PgStore, org_id: Uuid) -> KnowledgeBase {
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
            page: Some(1),
            start_char: i as i64 * 10,
            end_char: i as i64 * 10 + 7,
            token_count: 5,
        })
        .collect();
    (d, chunks)
}

#[tokio::test]
async fn knowledge_dedupes_stores_vectors_idempotently_isolates_and_cascades() {
    let h = Harness::new().await;
    let s = &h.store;
    let org_a = org(s, "a@x.io").await;
    let org_b = org(s, "b@x.io").await;
    let base = kb(s, org_a).await;
    let (d, chunks) = doc(&base, "abc", 3);
    assert!(matches!(
        s.insert_document(&d, "org/k/1", &chunks).await.unwrap(),
        Inserted::Created(_)
    ));
    let (d2, chunks2) = doc(&base, "abc", 2);
    match s.insert_document(&d2, "x", &chunks2).await.unwrap() {
        Inserted::Existing(e) => assert_eq!(e.id, d.id),
        other => panic!("{other:?}"),
    }
    // A document of org B cannot be put into org A's base.
    let (mut foreign, fchunks) = doc(&base, "zzz", 1);
    foreign.org_id = org_b;
    assert!(matches!(
        s.insert_document(&foreign, "y", &fchunks).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        s.list_documents(org_a, base.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.get_document_by_id(org_a, d.id).await.unwrap().sha256,
        "abc"
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
    assert!(s
        .set_document_status(org_a, d.id, DocumentStatus::Embedding, None)
        .await
        .unwrap());
    let after = s
        .store_vectors(org_a, d.id, "m", &[(ids[0], unit(0)), (ids[1], unit(1))])
        .await
        .unwrap();
    assert_eq!(
        (after.chunks_embedded, after.status),
        (2, DocumentStatus::Embedding)
    );
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
        .all(|c| c.document_name == "a.md" && c.kb_id == base.id && c.chunk.page == Some(1)));
    assert!(!s
        .set_document_status(org_a, d.id, DocumentStatus::Failed, Some("x"))
        .await
        .unwrap());

    // Another organization sees nothing.
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
    assert_eq!(s.count_vectors(org_b, d.id).await.unwrap(), 0);

    // Deletes cascade and bump the version.
    let v = s.knowledge_base_version(org_a, base.id).await.unwrap();
    assert_eq!(
        s.delete_document(org_a, base.id, d.id).await.unwrap(),
        "org/k/1"
    );
    assert!(s.knowledge_base_version(org_a, base.id).await.unwrap() > v);
    assert!(s.load_vectors(org_a, base.id).await.unwrap().ids.is_empty());
    assert!(s.get_chunks(org_a, &ids).await.unwrap().is_empty());
    let (d3, c3) = doc(&base, "def", 1);
    s.insert_document(&d3, "org/k/2", &c3).await.unwrap();
    assert_eq!(
        s.delete_knowledge_base(org_a, base.id).await.unwrap(),
        vec!["org/k/2".to_string()]
    );
    let mut owner = PgConnection::connect(&h.server.url("autonoma_owner"))
        .await
        .unwrap();
    // The owner is under FORCEd RLS as well: count through its tenant setting for org A.
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('autonoma.org_id', $1, true)")
        .bind(org_a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM documents) + (SELECT COUNT(*) FROM chunks) + (SELECT COUNT(*) FROM chunk_vectors)")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// Every table with an `org_id` column, from the catalog.
async fn tenant_tables(c: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attname = 'org_id' AND NOT a.attisdropped ORDER BY 1",
    )
    .fetch_all(c)
    .await
    .unwrap()
}

#[tokio::test]
async fn row_level_security_is_forced_on_every_tenant_table() {
    let h = Harness::new().await;
    let mut c = h.app_conn().await;
    let mut tables = tenant_tables(&mut c).await;
    assert!(tables.len() >= 12, "{tables:?}");
    tables.push("organizations".into());
    for t in &tables {
        let row = sqlx::query("SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = $1::regclass")
            .bind(format!("public.{t}"))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert!(row.get::<bool, _>("relrowsecurity"), "{t}: RLS not enabled");
        assert!(
            row.get::<bool, _>("relforcerowsecurity"),
            "{t}: RLS not forced"
        );
        assert_eq!(row.get::<String, _>("owner"), "autonoma_owner", "{t}");
        let policies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_policies WHERE schemaname = 'public' AND tablename = $1 AND policyname = 'tenant_isolation'")
            .bind(t)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(policies, 1, "{t}");
    }
    // The application role is neither owner nor RLS-exempt.
    let row =
        sqlx::query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert!(!row.get::<bool, _>("rolsuper") && !row.get::<bool, _>("rolbypassrls"));
    // ...and cannot switch it off.
    assert!(sqlx::query("ALTER TABLE runs DISABLE ROW LEVEL SECURITY")
        .execute(&mut c)
        .await
        .is_err());
}

#[tokio::test]
async fn the_app_role_sees_no_rows_without_a_tenant_and_only_its_tenants_with_one() {
    let h = Harness::new().await;
    let s = &h.store;
    let org_a = org(s, "a@x.io").await;
    let org_b = org(s, "b@x.io").await;
    let pa = provider(s, org_a).await;
    let pb = provider(s, org_b).await;
    s.create_agent(org_a, Uuid::now_v7(), &spec(pa.id, "a"))
        .await
        .unwrap();
    s.create_agent(org_b, Uuid::now_v7(), &spec(pb.id, "b"))
        .await
        .unwrap();
    kb(s, org_a).await;
    kb(s, org_b).await;

    let mut c = h.app_conn().await;
    let tables = tenant_tables(&mut c).await;
    // No tenant set: every tenant table reads as empty (fails closed, no error).
    for t in tables.iter().chain(["organizations".to_string()].iter()) {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 0, "{t} visible without a tenant");
    }
    // No tenant set: writes are refused.
    let e = sqlx::query(
        "INSERT INTO knowledge_bases (id, org_id, name, created_at) VALUES ($1, $2, 'x', now())",
    )
    .bind(Uuid::now_v7())
    .bind(org_a)
    .execute(&mut c)
    .await
    .unwrap_err();
    assert!(e.to_string().contains("row-level security"), "{e}");

    // With org A's setting, raw SQL sees only org A's rows, cannot touch org B's...
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SELECT set_config('autonoma.org_id', $1, true)")
        .bind(org_a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let orgs: Vec<Uuid> = sqlx::query_scalar("SELECT org_id FROM agents UNION SELECT org_id FROM provider_connections UNION SELECT org_id FROM knowledge_bases UNION SELECT id FROM organizations")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(orgs, vec![org_a]);
    let r = sqlx::query("UPDATE provider_connections SET name = 'pwned' WHERE org_id = $1")
        .bind(org_b)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(r.rows_affected(), 0);
    let r = sqlx::query("DELETE FROM agents WHERE org_id = $1")
        .bind(org_b)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(r.rows_affected(), 0);
    // ...cannot move its own rows into org B...
    let e = sqlx::query("UPDATE provider_connections SET org_id = $1")
        .bind(org_b)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("row-level security"), "{e}");
    tx.rollback().await.unwrap();
    // ...and cannot insert rows for org B.
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SELECT set_config('autonoma.org_id', $1, true)")
        .bind(org_a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let e = sqlx::query(
        "INSERT INTO knowledge_bases (id, org_id, name, created_at) VALUES ($1, $2, 'x', now())",
    )
    .bind(Uuid::now_v7())
    .bind(org_b)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(e.to_string().contains("row-level security"), "{e}");
    tx.rollback().await.unwrap();

    // The setting was transaction-local: the same connection sees nothing again.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        s.get_provider(org_b, pb.id).await.unwrap().0.name,
        "p",
        "org B's row is untouched"
    );
}

/// Passwords `pw-<n>`, `n` set by the test (an IAM token generator stands in the cloud).
struct Numbered(Arc<AtomicUsize>);

#[async_trait::async_trait]
impl PasswordSource for Numbered {
    async fn password(&self) -> autonoma_core::Result<String> {
        Ok(format!("pw-{}", self.0.load(Ordering::SeqCst)))
    }
}

#[tokio::test]
async fn a_rotating_password_reaches_new_connections_and_open_ones_survive_it() {
    let h = Harness::new().await;
    h.server
        .psql("CREATE ROLE autonoma_rotating LOGIN IN ROLE autonoma_app PASSWORD 'pw-1'");
    h.server.require_password("autonoma_rotating");
    let endpoint = PgEndpoint {
        host: "127.0.0.1".into(),
        port: h.server.port(),
        database: "autonoma".into(),
        user: "autonoma_rotating".into(),
        ssl_mode: "disable".into(),
    };
    let n = Arc::new(AtomicUsize::new(0));
    // A wrong password is refused: the server really checks it.
    assert!(PgStore::connect_rotating(
        &endpoint,
        Arc::new(Numbered(n.clone())),
        Duration::from_secs(3600),
        4
    )
    .await
    .is_err());
    n.store(1, Ordering::SeqCst);
    let (store, rotation) = PgStore::connect_rotating(
        &endpoint,
        Arc::new(Numbered(n.clone())),
        Duration::from_secs(3600),
        4,
    )
    .await
    .unwrap();
    let org_id = org(&store, "rotating@example.com").await;
    let held = store.pool().acquire().await.unwrap(); // an open connection across the rotation

    // The password changes server-side: the pool's options are stale until refreshed, and
    // ensure_fresh does nothing while the password is younger than max_age.
    h.server
        .psql("ALTER ROLE autonoma_rotating PASSWORD 'pw-2'");
    n.store(2, Ordering::SeqCst);
    rotation.ensure_fresh().await.unwrap();
    assert!(
        PgConnection::connect_with(&store.pool().connect_options())
            .await
            .is_err(),
        "still the old password"
    );
    rotation.refresh().await.unwrap();
    assert!(rotation.age() < Duration::from_secs(60));
    PgConnection::connect_with(&store.pool().connect_options())
        .await
        .expect("the new password opens connections");
    // A second pool connection is a new one (the first is held): it logs in with pw-2.
    let mut second = store.pool().acquire().await.unwrap();
    let who: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *second)
        .await
        .unwrap();
    assert_eq!(who, "autonoma_rotating");
    drop((held, second));
    let (user, _) = store
        .find_user_by_email("rotating@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.memberships(user.id).await.unwrap()[0].org_id, org_id);

    // With max_age zero, ensure_fresh always renews; a failing source leaves the last
    // password in place.
    h.server
        .psql("ALTER ROLE autonoma_rotating PASSWORD 'pw-3'");
    n.store(3, Ordering::SeqCst);
    let endpoint_bad = PgEndpoint {
        ssl_mode: "sometimes".into(),
        ..endpoint.clone()
    };
    assert!(matches!(
        PgStore::connect_rotating(
            &endpoint_bad,
            Arc::new(Numbered(n.clone())),
            Duration::ZERO,
            4
        )
        .await,
        Err(Error::Validation { .. })
    ));
    let (store3, rotation3) =
        PgStore::connect_rotating(&endpoint, Arc::new(Numbered(n.clone())), Duration::ZERO, 4)
            .await
            .unwrap();
    h.server
        .psql("ALTER ROLE autonoma_rotating PASSWORD 'pw-4'");
    n.store(4, Ordering::SeqCst);
    rotation3.ensure_fresh().await.unwrap();
    PgConnection::connect_with(&store3.pool().connect_options())
        .await
        .expect("renewed by ensure_fresh");
}

#[tokio::test]
async fn the_iam_login_role_is_created_once_with_rds_iam_where_it_exists() {
    let h = Harness::new().await;
    // RDS has a NOLOGIN role rds_iam; here we stand it up ourselves, and give the owner
    // CREATEROLE as the RDS master user has it.
    h.server
        .psql("CREATE ROLE rds_iam NOLOGIN; ALTER ROLE autonoma_owner CREATEROLE");
    let owner = h.server.url("autonoma_owner");
    PgStore::ensure_login_role(&owner, "autonoma_iam")
        .await
        .unwrap();
    PgStore::ensure_login_role(&owner, "autonoma_iam")
        .await
        .unwrap(); // idempotent
    let granted = h.server.psql("SELECT pg_has_role('autonoma_iam', 'autonoma_app', 'MEMBER'), pg_has_role('autonoma_iam', 'rds_iam', 'MEMBER'), rolcanlogin FROM pg_roles WHERE rolname = 'autonoma_iam'");
    assert_eq!(granted.trim(), "t|t|t");
    // It is a working application login: row-level security applies to it.
    let store = PgStore::connect(&h.server.url("autonoma_iam"))
        .await
        .unwrap();
    org(&store, "iam@example.com").await;
    for bad in ["Autonoma", "x; DROP TABLE runs", "1abc", "", "autonoma_app"] {
        assert!(
            matches!(
                PgStore::ensure_login_role(&owner, bad).await,
                Err(Error::Validation { .. })
            ),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn committed_run_events_and_cancel_requests_are_announced_to_other_processes() {
    let h = Harness::new().await;
    // Two stores, two pools: as two processes would have.
    let other = PgStore::connect(&h.server.url("autonoma_web"))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _listening = h
        .store
        .listen_runs(move |signal| {
            let _ = tx.send(signal);
        })
        .await
        .unwrap();

    let org_id = org(&other, "listen@example.com").await;
    let p = provider(&other, org_id).await;
    let agent = other
        .create_agent(org_id, Uuid::now_v7(), &spec(p.id, "Listen"))
        .await
        .unwrap();
    let run_id = Uuid::now_v7();
    let user = other
        .find_user_by_email("listen@example.com")
        .await
        .unwrap()
        .unwrap()
        .0
        .id;
    let new_run = NewRun {
        id: run_id,
        org_id,
        agent_id: agent.id,
        agent_version: agent.version,
        thread_id: Uuid::now_v7(),
        input: "hi".into(),
        created_by: user,
        mode: autonoma_core::model::RunMode::Live,
        preflight_id: None,
    };
    other.create_run(&new_run, None).await.unwrap();
    let epoch = other.claim_run(run_id).await.unwrap().unwrap();
    other
        .append_event(
            run_id,
            epoch,
            &RunEventKind::TokenDelta {
                step: 1,
                text: "a".into(),
            },
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("announced")
        .unwrap();
    assert_eq!(got, RunSignal::Event(run_id));
    // A refused append (stale epoch) rolls back, and announces nothing.
    assert!(matches!(
        other
            .append_event(
                run_id,
                epoch - 1,
                &RunEventKind::TokenDelta {
                    step: 1,
                    text: "b".into()
                }
            )
            .await,
        Err(Error::LeaseLost)
    ));
    other
        .append_event(
            run_id,
            epoch,
            &RunEventKind::TokenDelta {
                step: 1,
                text: "c".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        RunSignal::Event(run_id)
    );
    assert!(
        rx.try_recv().is_err(),
        "one announcement per committed event"
    );
    // A cancel request is announced on its own channel.
    other.request_cancel(org_id, run_id).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        RunSignal::CancelRequested(run_id)
    );
}
