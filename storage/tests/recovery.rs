//! Run recovery on both backends ([`Service::requeue_unqueued_runs`],
//! [`Service::fail_dead_lettered_runs`]): a run inserted without its job (the process died
//! before the enqueue) gets its job from the outbox sweep once due, exactly once; a run
//! whose job was dead-lettered ends `failed` with the job's last error, its old executor
//! fenced off, and a second sweep changes nothing.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;

use std::sync::Arc;
use std::time::Duration;

use autonoma_core::model::*;
use autonoma_core::secret::SecretBox;
use autonoma_core::service::{Service, RUNS_QUEUE};
use autonoma_core::store::{NewRun, OUTBOX_GRACE};
use autonoma_core::Error;
use uuid::Uuid;

#[path = "support/backends.rs"]
#[macro_use]
mod backends;
#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::new_run;

on_both_backends!(
    a_run_left_without_its_job_is_enqueued_by_the_sweep,
    a_run_whose_job_was_dead_lettered_ends_failed,
);

async fn setup<S: Store + JobQueue + Clone + 'static>(s: &S) -> (Service, NewRun) {
    let run = new_run(s, "r@x.io").await;
    let service = Service::new(
        Arc::new(s.clone()),
        Arc::new(s.clone()),
        SecretBox::new(&[7; 32]),
    );
    (service, run)
}

async fn a_run_left_without_its_job_is_enqueued_by_the_sweep<
    S: Store + JobQueue + Clone + 'static,
>(
    s: &S,
) {
    let (service, new) = setup(s).await;
    // The insert committed; the process died before the enqueue.
    let (run, _) = s.create_run(&new, Some("key-1")).await.unwrap();
    let now = chrono::Utc::now();
    assert_eq!(
        service.requeue_unqueued_runs(now).await.unwrap(),
        0,
        "not due yet"
    );
    assert!(s
        .lease(RUNS_QUEUE, Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());

    let due = now + OUTBOX_GRACE + Duration::from_secs(1);
    assert_eq!(service.requeue_unqueued_runs(due).await.unwrap(), 1);
    let job = s
        .lease(RUNS_QUEUE, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the sweep enqueued the run's job");
    assert_eq!(job.payload["run_id"], run.id.to_string());
    assert!(s
        .lease(RUNS_QUEUE, Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    // The outbox row is gone: later sweeps enqueue nothing more.
    let later = due + Duration::from_secs(3600);
    assert_eq!(service.requeue_unqueued_runs(later).await.unwrap(), 0);

    // A run that an executor already claimed only loses its row (no second job).
    let mut other = new.clone();
    other.id = Uuid::now_v7();
    let (claimed, _) = s.create_run(&other, None).await.unwrap();
    s.claim_run(claimed.id).await.unwrap().unwrap();
    assert_eq!(service.requeue_unqueued_runs(later).await.unwrap(), 0);
    assert!(s
        .lease(RUNS_QUEUE, Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .claim_unqueued_runs(
            later + Duration::from_secs(3600),
            Duration::from_secs(1),
            10
        )
        .await
        .unwrap()
        .is_empty());
}

async fn a_run_whose_job_was_dead_lettered_ends_failed<S: Store + JobQueue + Clone + 'static>(
    s: &S,
) {
    let (service, new) = setup(s).await;
    let (run, _) = s.create_run(&new, None).await.unwrap();
    s.mark_run_enqueued(run.id).await.unwrap();
    let epoch = s.claim_run(run.id).await.unwrap().unwrap();
    s.enqueue(
        RUNS_QUEUE,
        &serde_json::json!({ "run_id": run.id }),
        1,
        Duration::ZERO,
    )
    .await
    .unwrap();
    let job = s
        .lease(RUNS_QUEUE, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    s.fail(
        job.id,
        job.lease_token,
        "database unreachable",
        Duration::ZERO,
    )
    .await
    .unwrap();
    // A dead letter of a finished run, and one without a run id, are left alone.
    s.enqueue(
        RUNS_QUEUE,
        &serde_json::json!({ "x": 1 }),
        1,
        Duration::ZERO,
    )
    .await
    .unwrap();
    let junk = s
        .lease(RUNS_QUEUE, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    s.fail(junk.id, junk.lease_token, "bad payload", Duration::ZERO)
        .await
        .unwrap();

    assert_eq!(service.fail_dead_lettered_runs().await.unwrap(), 1);
    let failed = s.get_run(new.org_id, run.id).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let reason = failed.error.unwrap();
    assert!(
        reason.contains("dead-lettered") && reason.contains("database unreachable"),
        "{reason}"
    );
    let events = s.list_events(run.id, 0, 10).await.unwrap();
    assert!(
        matches!(&events.last().unwrap().kind, RunEventKind::Failed { code, .. } if code == "dead_lettered"),
        "{events:?}"
    );
    // The executor that held the run can write nothing after the sweep.
    assert!(matches!(
        s.append_event(
            run.id,
            epoch,
            &RunEventKind::TokenDelta {
                step: 1,
                text: "late".into()
            }
        )
        .await,
        Err(Error::LeaseLost)
    ));
    assert_eq!(
        service.fail_dead_lettered_runs().await.unwrap(),
        0,
        "idempotent"
    );
}
