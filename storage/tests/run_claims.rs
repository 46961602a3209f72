//! Run claims and fencing, written once and run on both backends: each `claim_run`
//! supersedes the previous executor, whose event appends and state writes are then refused
//! with `Error::LeaseLost`; `finish_run` writes state and terminal event together.

use autonoma_core::model::*;
#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use autonoma_core::store::{NewRun, RunUpdate};
use autonoma_core::Error;
use autonoma_storage::{PgStore, SqliteStore};
use autonoma_testkit::postgres::PgServer;
use uuid::Uuid;

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{provider, spec};

#[tokio::test]
async fn sqlite_a_newer_claim_fences_off_the_older_executor() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    s.migrate().await.unwrap();
    a_newer_claim_fences_off_the_older_executor(&s).await;
}

#[tokio::test]
async fn postgres_a_newer_claim_fences_off_the_older_executor() {
    let server = PgServer::start();
    PgStore::migrate(&server.owner_url()).await.unwrap();
    let s = PgStore::connect(&server.app_url()).await.unwrap();
    a_newer_claim_fences_off_the_older_executor(&s).await;
}

/// The fencing scenario against any store.
async fn a_newer_claim_fences_off_the_older_executor<S: Store>(s: &S) {
    let (user, org) = s
        .create_user_with_org("a@x.io", "n", "hash", "org")
        .await
        .unwrap();
    let p = provider(s, org.id).await;
    let agent = s
        .create_agent(org.id, Uuid::now_v7(), &spec(p.id, "a"))
        .await
        .unwrap();
    let new = NewRun {
        id: Uuid::now_v7(),
        org_id: org.id,
        agent_id: agent.id,
        agent_version: 1,
        thread_id: Uuid::now_v7(),
        input: "hi".into(),
        created_by: user.id,
        mode: autonoma_core::model::RunMode::Live,
        preflight_id: None,
    };
    let (run, _) = s.create_run(&new, None).await.unwrap();

    assert_eq!(s.claim_run(run.id).await.unwrap(), Some(1));
    let first = s
        .append_event(
            run.id,
            1,
            &RunEventKind::TokenDelta {
                step: 1,
                text: "a".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
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
    let done = RunUpdate {
        status: RunStatus::Completed,
        output: Some("ok".into()),
        error: None,
        usage: Usage::default(),
        steps: 1,
    };
    assert!(matches!(
        s.update_run(run.id, 1, &done).await,
        Err(Error::LeaseLost)
    ));
    assert_eq!(
        s.get_run(org.id, run.id).await.unwrap().status,
        RunStatus::Running
    );
    assert_eq!(
        s.append_event(
            run.id,
            2,
            &RunEventKind::TokenDelta {
                step: 1,
                text: "b".into()
            }
        )
        .await
        .unwrap()
        .seq,
        2
    );
    // The final state and the terminal event are written together, or not at all.
    let last = RunEventKind::Completed {
        output: "ok".into(),
    };
    assert!(matches!(
        s.finish_run(run.id, 1, &done, &last).await,
        Err(Error::LeaseLost)
    ));
    assert_eq!(
        s.get_run(org.id, run.id).await.unwrap().status,
        RunStatus::Running
    );
    assert_eq!(s.finish_run(run.id, 2, &done, &last).await.unwrap().seq, 3);
    assert_eq!(
        s.get_run(org.id, run.id).await.unwrap().status,
        RunStatus::Completed
    );
    assert_eq!(s.claim_run(run.id).await.unwrap(), None);
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
    let texts: Vec<_> = s
        .list_events(run.id, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        texts,
        vec![
            RunEventKind::TokenDelta {
                step: 1,
                text: "a".into()
            },
            RunEventKind::TokenDelta {
                step: 1,
                text: "b".into()
            },
            last
        ]
    );
}
