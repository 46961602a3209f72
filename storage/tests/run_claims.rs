//! Run claims and fencing, written once and run on both backends: each `claim_run`
//! supersedes the previous executor, whose event appends and state writes are then refused
//! with `Error::LeaseLost`; `finish_run` writes state and terminal event together.

use autonoma_core::model::*;
#[allow(unused_imports)]
use autonoma_core::store::prelude::*;
use autonoma_core::store::{NewRun, RunUpdate};
use autonoma_core::Error;
use uuid::Uuid;

#[path = "support/backends.rs"]
#[macro_use]
mod backends;
#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::new_run;

on_both_backends!(
    a_newer_claim_fences_off_the_older_executor,
    the_outbox_keeps_a_run_until_its_job_is_enqueued,
);

/// The fencing scenario against any store.
async fn a_newer_claim_fences_off_the_older_executor<S: Store>(s: &S) {
    let new = new_run(s, "a@x.io").await;
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
        s.get_run(new.org_id, run.id).await.unwrap().status,
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
        s.get_run(new.org_id, run.id).await.unwrap().status,
        RunStatus::Running
    );
    assert_eq!(s.finish_run(run.id, 2, &done, &last).await.unwrap().seq, 3);
    assert_eq!(
        s.get_run(new.org_id, run.id).await.unwrap().status,
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

/// A new run has an outbox row that no sweep takes before [`OUTBOX_GRACE`]; once due it is
/// claimed by one sweep at a time (a lease), and `mark_run_enqueued` removes it for good.
async fn the_outbox_keeps_a_run_until_its_job_is_enqueued<S: Store>(s: &S) {
    use autonoma_core::store::OUTBOX_GRACE;
    use std::time::Duration;
    let base = new_run(s, "o@x.io").await;
    let new_run = |input: &str| NewRun {
        id: Uuid::now_v7(),
        input: input.into(),
        ..base.clone()
    };
    let (a, _) = s.create_run(&new_run("a"), Some("k-a")).await.unwrap();
    let (b, _) = s.create_run(&new_run("b"), None).await.unwrap();
    // An idempotent replay adds no second row.
    let (replay, created) = s.create_run(&new_run("a"), Some("k-a")).await.unwrap();
    assert!(!created);
    assert_eq!(replay.id, a.id);

    let lease = Duration::from_secs(60);
    let now = chrono::Utc::now();
    assert!(
        s.claim_unqueued_runs(now, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due within the grace period"
    );
    s.mark_run_enqueued(b.id).await.unwrap();
    let due = now + OUTBOX_GRACE + Duration::from_secs(1);
    assert_eq!(
        s.claim_unqueued_runs(due, lease, 10).await.unwrap(),
        vec![a.id],
        "only the run whose enqueue was never confirmed"
    );
    assert!(
        s.claim_unqueued_runs(due, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed: another sweep skips it for the lease"
    );
    let after_lease = due + lease + Duration::from_secs(1);
    assert_eq!(
        s.claim_unqueued_runs(after_lease, lease, 10).await.unwrap(),
        vec![a.id],
        "a sweep that died holding it loses it when the lease ends"
    );
    s.mark_run_enqueued(a.id).await.unwrap();
    s.mark_run_enqueued(a.id).await.unwrap();
    assert!(s
        .claim_unqueued_runs(after_lease + lease * 2, lease, 10)
        .await
        .unwrap()
        .is_empty());
}
