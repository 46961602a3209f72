//! The audit store on SQLite and on PostgreSQL (a throwaway cluster, the application role
//! under row-level security): concurrent appends form one gapless chain per organization,
//! listing filters and pages, organizations see only their own entries, the application
//! role cannot change entries, and tampering with the rows directly in the database (an
//! edited detail, a deleted middle row, two rows' `seq` swapped) makes verification name
//! the first broken entry. The scenario is written once; the raw SQL it tampers with runs
//! through the pool on SQLite (after dropping the append-only triggers, as someone holding
//! the file could) and as the superuser on PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use autonoma_core::audit::{
    seal, verify_entries, AuditActor, AuditDraft, AuditEntry, AuditHead, AuditSigner, BreakReason,
};
#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use autonoma_core::store::AuditFilter;
use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

/// Runs SQL with the rights of someone who bypasses the application.
#[async_trait]
trait Raw: Send + Sync {
    async fn sql(&self, sql: &str);
    /// The error the application's own connection gets when it edits an entry.
    async fn app_edit_error(&self) -> String;
}

struct SqliteRaw(sqlx::SqlitePool);

#[async_trait]
impl Raw for SqliteRaw {
    async fn sql(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(&self.0).await.unwrap();
    }
    async fn app_edit_error(&self) -> String {
        let e = sqlx::query("UPDATE audit_log SET action = 'x'")
            .execute(&self.0)
            .await;
        let d = sqlx::query("DELETE FROM audit_log").execute(&self.0).await;
        assert!(d.is_err());
        e.unwrap_err().to_string()
    }
}

struct PgRaw(autonoma_testkit::postgres::PgServer, sqlx::PgPool);

#[async_trait]
impl Raw for PgRaw {
    async fn sql(&self, sql: &str) {
        self.0.psql(sql);
    }
    async fn app_edit_error(&self) -> String {
        let e = sqlx::query("UPDATE audit_log SET action = 'x'")
            .execute(&self.1)
            .await;
        let d = sqlx::query("DELETE FROM audit_log").execute(&self.1).await;
        assert!(d.is_err());
        e.unwrap_err().to_string()
    }
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s =
        autonoma_storage::SqliteStore::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
    s.migrate().await.unwrap();
    let raw = SqliteRaw(s.pool().clone());
    scenario(
        &s,
        &raw,
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
    )
    .await;
}

#[tokio::test]
async fn postgres() {
    let server = autonoma_testkit::postgres::PgServer::start();
    autonoma_storage::PgStore::migrate(&server.owner_url())
        .await
        .unwrap();
    let s = autonoma_storage::PgStore::connect(&server.app_url())
        .await
        .unwrap();
    let pool = s.pool().clone();
    scenario(&s, &PgRaw(server, pool), "SELECT 1").await;
}

fn signer() -> Arc<AuditSigner> {
    Arc::new(AuditSigner::from_seed([3u8; 32]))
}

async fn append<S: Store + ?Sized>(
    s: &S,
    signer: &AuditSigner,
    org: Uuid,
    actor: AuditActor,
    action: &str,
    n: i64,
) -> AuditEntry {
    let draft = AuditDraft::new(org, actor, action, Some(format!("t{n}")), json!({ "n": n }));
    s.append_audit(org, &|head: Option<&AuditHead>| seal(&draft, head, signer))
        .await
        .unwrap()
}

async fn org<S: Store + ?Sized>(s: &S, email: &str) -> (Uuid, Uuid) {
    let (u, o) = s
        .create_user_with_org(email, "n", "hash", "org")
        .await
        .unwrap();
    (o.id, u.id)
}

async fn chain<S: Store + ?Sized>(s: &S, org: Uuid) -> Vec<AuditEntry> {
    s.audit_chain(org, 0, 1000).await.unwrap()
}

async fn scenario<S: Store + Clone + 'static>(s: &S, raw: &dyn Raw, unlock: &str) {
    let signer = signer();
    let key = signer.verifying_key();
    let (a, alice) = org(s, "a@example.com").await;
    let (b, bob) = org(s, "b@example.com").await;

    // 24 appends at once, spread over two organizations: each gets one gapless chain.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24i64 {
        let (s, signer) = (s.clone(), signer.clone());
        let (o, user) = if i % 3 == 0 { (b, bob) } else { (a, alice) };
        let action = if i % 2 == 0 {
            "auth.login"
        } else {
            "agent.create"
        };
        tasks.spawn(async move {
            append(
                &s,
                &signer,
                o,
                AuditActor::User { user_id: user },
                action,
                i,
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let entries_a = chain(s, a).await;
    let entries_b = chain(s, b).await;
    assert_eq!((entries_a.len(), entries_b.len()), (16, 8));
    assert_eq!(
        verify_entries(&entries_a, &key).unwrap().head.unwrap().seq,
        16
    );
    assert_eq!(
        verify_entries(&entries_b, &key).unwrap().head.unwrap().seq,
        8
    );
    assert!(entries_b.iter().all(|e| e.org_id == b));

    // Filters: exact action, prefix, actor, time range, pages by seq.
    let key_id = Uuid::now_v7();
    let by_key = append(
        s,
        &signer,
        a,
        AuditActor::ApiKey {
            user_id: bob,
            api_key_id: key_id,
        },
        "api_key.revoke",
        100,
    )
    .await;
    let list = |f: AuditFilter, limit| async move { s.list_audit(a, &f, limit).await.unwrap() };
    let all = list(AuditFilter::default(), 100).await;
    assert_eq!(all.len(), 17);
    assert_eq!(all[0], by_key, "newest first, read back exactly as sealed");
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq));
    let f = |action: &str| AuditFilter {
        action: Some(action.into()),
        ..AuditFilter::default()
    };
    assert_eq!(list(f("auth.login"), 100).await.len(), 8);
    assert_eq!(list(f("auth."), 100).await.len(), 8);
    assert_eq!(list(f("api_key.*"), 100).await, vec![by_key.clone()]);
    assert!(list(f("auth"), 100).await.is_empty());
    let by_bob = AuditFilter {
        actor_user_id: Some(bob),
        ..AuditFilter::default()
    };
    assert_eq!(list(by_bob, 100).await, vec![by_key.clone()]);
    let later = AuditFilter {
        since: Some(by_key.at),
        ..AuditFilter::default()
    };
    assert_eq!(list(later, 100).await, vec![by_key.clone()]);
    let earlier = AuditFilter {
        until: Some(by_key.at),
        since: Some(Utc::now() - Duration::hours(1)),
        ..AuditFilter::default()
    };
    assert_eq!(list(earlier, 100).await.len(), 16);
    let page1 = list(AuditFilter::default(), 5).await;
    let page2 = list(
        AuditFilter {
            before_seq: Some(page1[4].seq),
            ..AuditFilter::default()
        },
        5,
    )
    .await;
    assert_eq!(page2[0].seq, page1[4].seq - 1);
    // Another organization's entries are invisible.
    assert!(s
        .list_audit(b, &f("api_key.revoke"), 100)
        .await
        .unwrap()
        .is_empty());

    // The application cannot change entries: SQLite's triggers refuse, and PostgreSQL's
    // application role has no UPDATE or DELETE privilege on audit_log.
    let refused = raw.app_edit_error().await;
    assert!(
        refused.contains("append-only") || refused.contains("permission denied"),
        "{refused}"
    );

    // Tampering, each on a chain of its own: 5 entries, then one change in the database.
    raw.sql(unlock).await;
    let fresh = |email: &'static str| {
        let signer = signer.clone();
        async move {
            let (o, u) = org(s, email).await;
            for n in 1..=5 {
                append(
                    s,
                    &signer,
                    o,
                    AuditActor::User { user_id: u },
                    "agent.update",
                    n,
                )
                .await;
            }
            assert!(verify_entries(&chain(s, o).await, &signer.verifying_key()).is_ok());
            o
        }
    };

    let edited = fresh("edit@example.com").await;
    raw.sql(&format!(
        "UPDATE audit_log SET details = '{{\"n\":99}}' WHERE org_id = '{edited}' AND seq = 3"
    ))
    .await;
    let entries = chain(s, edited).await;
    let broken = verify_entries(&entries, &key).unwrap_err();
    assert_eq!(broken.seq, Some(3));
    assert_eq!(broken.id, Some(entries[2].id.to_string()));
    assert!(
        matches!(broken.reason, BreakReason::HashMismatch { .. }),
        "{broken}"
    );

    let deleted = fresh("delete@example.com").await;
    raw.sql(&format!(
        "DELETE FROM audit_log WHERE org_id = '{deleted}' AND seq = 3"
    ))
    .await;
    let broken = verify_entries(&chain(s, deleted).await, &key).unwrap_err();
    assert_eq!(broken.seq, Some(4));
    assert_eq!(broken.reason, BreakReason::Missing { expected: 3 });

    let swapped = fresh("swap@example.com").await;
    let before = chain(s, swapped).await;
    raw.sql(&format!(
        "UPDATE audit_log SET seq = -2 WHERE org_id = '{swapped}' AND seq = 2; \
         UPDATE audit_log SET seq = 2 WHERE org_id = '{swapped}' AND seq = 4; \
         UPDATE audit_log SET seq = 4 WHERE org_id = '{swapped}' AND seq = -2;"
    ))
    .await;
    let after = chain(s, swapped).await;
    assert_eq!(after[1].id, before[3].id, "the rows did swap places");
    let broken = verify_entries(&after, &key).unwrap_err();
    assert_eq!(broken.seq, Some(2));
    assert_eq!(broken.id, Some(before[3].id.to_string()));
    assert!(
        matches!(broken.reason, BreakReason::HashMismatch { .. }),
        "{broken}"
    );

    // The untouched chains still verify.
    assert!(verify_entries(&chain(s, a).await, &key).is_ok());
}
