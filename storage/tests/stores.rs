//! The relational store and the job queue, written once and run on every backend: SQLite
//! (a temporary file) and PostgreSQL 15 (a throwaway cluster, as the application's non-owner
//! role under row-level security). Users, memberships, sessions, API keys, providers,
//! agents and their versions, runs and their events (idempotency, fencing, cancel), and
//! the queue's leases, retries, dead letters and exactly-once delivery to concurrent
//! consumers. A new storage area adds its scenarios here (or in a file like this one).

use std::time::Duration;

use autonoma_core::model::*;
use autonoma_core::store::prelude::*;
use autonoma_core::store::{NewRun, RunUpdate, Session};
use autonoma_core::Error;
use chrono::{TimeDelta, Utc};
use uuid::Uuid;

#[path = "support/backends.rs"]
#[macro_use]
mod backends;
#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{provider, spec};

on_both_backends!(
    users_memberships_sessions_and_api_keys_round_trip,
    an_organization_keeps_its_last_owner,
    providers_agents_runs_and_events_round_trip,
    queue_leases_retries_and_dead_letters,
    queue_delivers_each_job_once_to_concurrent_consumers,
);

async fn org<S: Store + ?Sized>(s: &S, email: &str) -> Uuid {
    s.create_user_with_org(email, "n", "hash", "org")
        .await
        .unwrap()
        .1
        .id
}

/// Demoting the last owner is refused and changes nothing; with a second owner it works,
/// and two owners demoting each other at once leave one of them an owner.
async fn an_organization_keeps_its_last_owner<S: Store>(s: &S) {
    let (ann, o) = s
        .create_user_with_org("ann@own.io", "Ann", "phc", "Own")
        .await
        .unwrap();
    s.create_user_with_org("bob@own.io", "Bob", "phc", "Bob's")
        .await
        .unwrap();
    assert!(matches!(
        s.upsert_member(o.id, "ann@own.io", Role::Admin).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(s.role_of(o.id, ann.id).await.unwrap(), Some(Role::Owner));
    // Owner to owner is no change at all.
    s.upsert_member(o.id, "ann@own.io", Role::Owner)
        .await
        .unwrap();
    s.upsert_member(o.id, "bob@own.io", Role::Owner)
        .await
        .unwrap();
    let (first, second) = tokio::join!(
        s.upsert_member(o.id, "ann@own.io", Role::Viewer),
        s.upsert_member(o.id, "bob@own.io", Role::Viewer),
    );
    assert!(
        first.is_ok() != second.is_ok(),
        "exactly one demotion goes through: {first:?} / {second:?}"
    );
    let owners = s
        .list_members(o.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
}

async fn users_memberships_sessions_and_api_keys_round_trip<S: Store>(s: &S) {
    let (user, o) = s
        .create_user_with_org("Ann@x.io", "Ann", "phc", "Acme")
        .await
        .unwrap();
    assert!(matches!(
        s.create_user_with_org("ann@X.io", "A", "p", "o").await,
        Err(Error::Conflict(_))
    ));
    let (found, hash) = s.find_user_by_email("ANN@x.io").await.unwrap().unwrap();
    assert_eq!((found.id, hash.as_str()), (user.id, "phc"));
    let ms = s.memberships(user.id).await.unwrap();
    assert_eq!(
        (ms.len(), ms[0].org_id, ms[0].role, ms[0].org_name.as_str()),
        (1, o.id, Role::Owner, "Acme")
    );
    assert_eq!(s.role_of(o.id, user.id).await.unwrap(), Some(Role::Owner));

    let (bob, other) = s
        .create_user_with_org("bob@x.io", "Bob", "phc", "Bobco")
        .await
        .unwrap();
    assert!(matches!(
        s.upsert_member(o.id, "nobody@x.io", Role::Member).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        s.upsert_member(o.id, "bob@x.io", Role::Viewer)
            .await
            .unwrap()
            .role,
        Role::Viewer
    );
    assert_eq!(
        s.upsert_member(o.id, "bob@x.io", Role::Admin)
            .await
            .unwrap()
            .role,
        Role::Admin
    );
    assert_eq!(s.list_members(o.id).await.unwrap().len(), 2);
    assert_eq!(s.memberships(bob.id).await.unwrap().len(), 2);
    assert_eq!(s.role_of(other.id, user.id).await.unwrap(), None);

    let session = Session {
        user_id: user.id,
        org_id: o.id,
        csrf_token: "csrf".into(),
        expires_at: Utc::now() + TimeDelta::hours(1),
    };
    s.create_session(b"tok", &session).await.unwrap();
    assert_eq!(
        s.get_session(b"tok").await.unwrap().unwrap().csrf_token,
        "csrf"
    );
    s.delete_session(b"tok").await.unwrap();
    assert!(s.get_session(b"tok").await.unwrap().is_none());
    let expired = Session {
        expires_at: Utc::now() - TimeDelta::seconds(1),
        ..session
    };
    s.create_session(b"old", &expired).await.unwrap();
    assert!(s.get_session(b"old").await.unwrap().is_none());

    let key = ApiKey {
        id: Uuid::now_v7(),
        org_id: o.id,
        user_id: user.id,
        name: "ci".into(),
        prefix: "ak_1".into(),
        role: Role::Member,
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    s.create_api_key(&key, b"keyhash").await.unwrap();
    let used = s.use_api_key(b"keyhash").await.unwrap().unwrap();
    assert!(used.last_used_at.is_some());
    assert_eq!(
        s.list_api_keys(o.id).await.unwrap()[0]
            .last_used_at
            .map(|t| t.timestamp_micros()),
        used.last_used_at.map(|t| t.timestamp_micros())
    );
    assert!(s.list_api_keys(other.id).await.unwrap().is_empty());
    assert!(matches!(
        s.revoke_api_key(other.id, key.id).await,
        Err(Error::NotFound(_))
    ));
    s.revoke_api_key(o.id, key.id).await.unwrap();
    assert!(s.use_api_key(b"keyhash").await.unwrap().is_none());
}

async fn providers_agents_runs_and_events_round_trip<S: Store>(s: &S) {
    let org_a = org(s, "a@x.io").await;
    let org_b = org(s, "b@x.io").await;
    let p = provider(s, org_a).await;
    let (got, sealed) = s.get_provider(org_a, p.id).await.unwrap();
    assert_eq!(
        (got.models, got.has_api_key, sealed),
        (vec!["m".to_string()], true, Some(b"sealed".to_vec()))
    );
    assert!(matches!(
        s.get_provider(org_b, p.id).await,
        Err(Error::NotFound(_))
    ));

    let agent_id = Uuid::now_v7();
    s.create_agent(org_a, agent_id, &spec(p.id, "one"))
        .await
        .unwrap();
    assert!(matches!(
        s.delete_provider(org_a, p.id).await,
        Err(Error::Conflict(_))
    ));
    let updated = s
        .update_agent(org_a, agent_id, &spec(p.id, "two"))
        .await
        .unwrap();
    assert_eq!((updated.version, updated.spec.name.as_str()), (2, "two"));
    assert_eq!(
        s.get_agent_version(org_a, agent_id, 1)
            .await
            .unwrap()
            .spec
            .name,
        "one"
    );
    assert_eq!(
        s.list_agent_versions(org_a, agent_id).await.unwrap().len(),
        2
    );
    assert_eq!(s.list_agents(org_a, None, 10).await.unwrap().len(), 1);
    assert!(s
        .list_agents(org_a, Some(agent_id), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.get_agent(org_b, agent_id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.update_agent(org_b, agent_id, &spec(p.id, "x")).await,
        Err(Error::NotFound(_))
    ));

    let user = s.find_user_by_email("a@x.io").await.unwrap().unwrap().0.id;
    let new_run = NewRun {
        id: Uuid::now_v7(),
        org_id: org_a,
        agent_id,
        agent_version: 2,
        thread_id: Uuid::now_v7(),
        input: "hi".into(),
        created_by: user,
        mode: autonoma_core::model::RunMode::Live,
        preflight_id: None,
    };
    let (run, created) = s.create_run(&new_run, Some("idem")).await.unwrap();
    assert!(created);
    assert_eq!(run.status, RunStatus::Queued);
    let (again, created) = s
        .create_run(
            &NewRun {
                id: Uuid::now_v7(),
                ..new_run.clone()
            },
            Some("idem"),
        )
        .await
        .unwrap();
    assert_eq!((again.id, created), (run.id, false));
    assert!(matches!(
        s.create_run(
            &NewRun {
                id: Uuid::now_v7(),
                input: "other".into(),
                ..new_run.clone()
            },
            Some("idem")
        )
        .await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        s.list_runs(org_a, Some(agent_id), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.list_thread_runs(org_a, new_run.thread_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s.list_runs(org_b, None, None, 10).await.unwrap().is_empty());
    assert!(matches!(
        s.get_run(org_b, run.id).await,
        Err(Error::NotFound(_))
    ));

    assert_eq!(s.get_run_unscoped(run.id).await.unwrap().org_id, org_a);
    assert!(matches!(
        s.get_run_unscoped(Uuid::now_v7()).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(s.claim_run(run.id).await.unwrap(), Some(1));
    assert!(s.get_run(org_a, run.id).await.unwrap().started_at.is_some());
    for i in 0..3 {
        let e = s
            .append_event(
                run.id,
                1,
                &RunEventKind::TokenDelta {
                    step: 1,
                    text: format!("t{i}"),
                },
            )
            .await
            .unwrap();
        assert_eq!(e.seq, i + 1);
    }
    // A second executor claims the run: the first one's writes are fenced off.
    assert_eq!(s.claim_run(run.id).await.unwrap(), Some(2));
    assert!(matches!(
        s.append_event(
            run.id,
            1,
            &RunEventKind::TokenDelta {
                step: 1,
                text: "stale".into()
            }
        )
        .await,
        Err(Error::LeaseLost)
    ));
    let stale = RunUpdate {
        status: RunStatus::Completed,
        output: Some("stale".into()),
        error: None,
        usage: Usage::default(),
        steps: 1,
    };
    assert!(matches!(
        s.update_run(run.id, 1, &stale).await,
        Err(Error::LeaseLost)
    ));
    assert!(matches!(
        s.append_event(
            Uuid::now_v7(),
            1,
            &RunEventKind::TokenDelta {
                step: 1,
                text: "x".into()
            }
        )
        .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        s.get_run(org_a, run.id).await.unwrap().status,
        RunStatus::Running
    );
    let events = s.list_events(run.id, 1, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert!(matches!(&events[0].kind, RunEventKind::TokenDelta { text, .. } if text == "t1"));
    assert!(matches!(
        s.request_cancel(org_b, run.id).await,
        Err(Error::NotFound(_))
    ));
    s.request_cancel(org_a, run.id).await.unwrap();
    assert!(s.cancel_requested(run.id).await.unwrap());
    let cancelled = RunUpdate {
        status: RunStatus::Cancelled,
        output: None,
        error: None,
        usage: Usage {
            input_tokens: 5,
            output_tokens: 7,
        },
        steps: 1,
    };
    let last = RunEventKind::Cancelled {
        reason: "asked".into(),
    };
    assert!(matches!(
        s.finish_run(run.id, 1, &cancelled, &last).await,
        Err(Error::LeaseLost)
    ));
    assert_eq!(
        s.list_events(run.id, 0, 10).await.unwrap().len(),
        3,
        "a refused finish writes nothing"
    );
    assert_eq!(
        s.finish_run(run.id, 2, &cancelled, &last)
            .await
            .unwrap()
            .seq,
        4
    );
    let done = s.get_run(org_a, run.id).await.unwrap();
    assert_eq!(
        (
            done.status,
            done.usage.output_tokens,
            done.finished_at.is_some()
        ),
        (RunStatus::Cancelled, 7, true)
    );
    assert_eq!(s.claim_run(run.id).await.unwrap(), None);
    assert!(matches!(
        s.request_cancel(org_a, run.id).await,
        Err(Error::Conflict(_))
    ));

    s.delete_agent(org_a, agent_id).await.unwrap();
    assert!(matches!(
        s.delete_agent(org_a, agent_id).await,
        Err(Error::NotFound(_))
    ));
    s.delete_provider(org_a, p.id).await.unwrap();
    assert!(s.list_providers(org_a).await.unwrap().is_empty());
}

async fn queue_leases_retries_and_dead_letters<S: JobQueue>(s: &S) {
    let a = s
        .enqueue("q", &serde_json::json!({"n": 1}), 2, Duration::ZERO)
        .await
        .unwrap();
    let b = s
        .enqueue("q", &serde_json::json!({"n": 2}), 1, Duration::ZERO)
        .await
        .unwrap();
    s.enqueue(
        "q",
        &serde_json::json!({"n": 3}),
        1,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert!(s
        .lease("other", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());

    // Two consumers get two different jobs; the delayed one is not visible.
    let j1 = s
        .lease("q", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let j2 = s
        .lease("q", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j1.id, j1.attempt, j1.max_attempts), (a, 1, 2));
    assert_eq!(j1.payload, serde_json::json!({"n": 1}));
    assert_eq!(j2.id, b);
    assert!(s
        .lease("q", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    assert!(j1.lease_expires_at > Utc::now());
    assert!(s
        .heartbeat(j1.id, j1.lease_token, Duration::from_secs(60))
        .await
        .unwrap());
    assert!(!s
        .heartbeat(j1.id, Uuid::new_v4(), Duration::from_secs(60))
        .await
        .unwrap());

    // A failure with attempts left comes back (attempt 2); on its last attempt it is dead.
    s.fail(j1.id, j1.lease_token, "boom", Duration::ZERO)
        .await
        .unwrap();
    let again = s
        .lease("q", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempt), (a, 2));
    assert!(
        !s.heartbeat(a, j1.lease_token, Duration::from_secs(1))
            .await
            .unwrap(),
        "old lease is lost"
    );
    s.fail(again.id, again.lease_token, "boom twice", Duration::ZERO)
        .await
        .unwrap();

    // A lease that expires is delivered again; expired on the last attempt, dead-lettered.
    let c = s
        .enqueue("r", &serde_json::json!("c"), 2, Duration::ZERO)
        .await
        .unwrap();
    let l1 = s.lease("r", Duration::ZERO).await.unwrap().unwrap();
    let l2 = s.lease("r", Duration::ZERO).await.unwrap().unwrap();
    assert_eq!((l1.id, l2.id, l2.attempt), (c, c, 2));
    assert!(!s
        .heartbeat(c, l1.lease_token, Duration::from_secs(1))
        .await
        .unwrap());
    assert!(s
        .lease("r", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    let dead_r = s.dead_letters("r").await.unwrap();
    assert_eq!((dead_r.len(), dead_r[0].2.as_str()), (1, "lease expired"));

    // Completing removes the job; a stale token does nothing.
    s.complete(j2.id, Uuid::new_v4()).await.unwrap();
    s.complete(j2.id, j2.lease_token).await.unwrap();
    let dead = s.dead_letters("q").await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].0, dead[0].2.as_str()), (a, "boom twice"));
}

async fn queue_delivers_each_job_once_to_concurrent_consumers<S: JobQueue + Clone + 'static>(
    s: &S,
) {
    let s = s.clone();
    for n in 0..20 {
        s.enqueue("c", &serde_json::json!(n), 1, Duration::ZERO)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = s.lease("c", Duration::from_secs(60)).await.unwrap() {
                got.push(j.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (20, 20));
}
