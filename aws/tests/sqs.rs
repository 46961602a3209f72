//! `SqsQueue` against a real moto server: the `JobQueue` contract on the SQS wire protocol.

mod support;

use std::time::Duration;

use autonoma_aws::{SqsConfig, SqsQueue};
use autonoma_core::store::JobQueue;
use serde_json::json;
use support::{aws, Moto};

/// A queue on `moto` with short-polling (moto answers at once) and job queue `name`
/// created with `max_receive` as its redrive `maxReceiveCount`.
async fn queue(moto: &Moto, name: &str, max_receive: u32) -> SqsQueue {
    let cfg = SqsConfig {
        queue_prefix: "test-".into(),
        receive_wait: Duration::ZERO,
        ..SqsConfig::default()
    };
    let q = SqsQueue::from_config(&aws(moto), cfg).await;
    q.ensure_queues_with(name, max_receive).await.unwrap();
    q
}

const LEASE: Duration = Duration::from_secs(1);
/// Sleep that outlasts a one-second lease (SQS visibility is in whole seconds).
const PAST_LEASE: Duration = Duration::from_millis(1600);

#[tokio::test]
async fn enqueue_lease_complete() {
    let moto = Moto::start().await;
    let q = queue(&moto, "runs", 5).await;
    // Idempotent setup.
    q.ensure_queues_with("runs", 5).await.unwrap();
    assert!(
        q.lease("runs", LEASE).await.unwrap().is_none(),
        "empty queue"
    );

    let id = q
        .enqueue("runs", &json!({"run_id": "r1"}), 3, Duration::ZERO)
        .await
        .unwrap();
    let job = q.lease("runs", LEASE).await.unwrap().expect("a job");
    assert_eq!(job.id, id);
    assert_eq!(job.queue, "runs");
    assert_eq!(job.payload, json!({"run_id": "r1"}));
    assert_eq!(job.attempt, 1);
    assert_eq!(job.max_attempts, 3);
    // Leased: invisible to a second consumer.
    assert!(q.lease("runs", LEASE).await.unwrap().is_none());

    q.complete(job.id, job.lease_token).await.unwrap();
    // Acknowledging twice is harmless (at-least-once consumers may ack again).
    q.complete(job.id, job.lease_token).await.unwrap();
    tokio::time::sleep(PAST_LEASE).await;
    assert!(
        q.lease("runs", LEASE).await.unwrap().is_none(),
        "a completed job is gone"
    );
    assert!(q.dead_letters("runs").await.unwrap().is_empty());
}

#[tokio::test]
async fn delayed_enqueue_is_invisible_until_due() {
    let moto = Moto::start().await;
    let q = queue(&moto, "runs", 5).await;
    let id = q
        .enqueue("runs", &json!(1), 3, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        q.lease("runs", LEASE).await.unwrap().is_none(),
        "not due yet"
    );
    tokio::time::sleep(PAST_LEASE).await;
    assert_eq!(q.lease("runs", LEASE).await.unwrap().expect("due").id, id);
    assert!(
        q.enqueue("runs", &json!(1), 3, Duration::from_secs(3600))
            .await
            .is_err(),
        "SQS delays stop at 15 min"
    );
}

#[tokio::test]
async fn expired_lease_is_redelivered() {
    let moto = Moto::start().await;
    let q = queue(&moto, "runs", 5).await;
    let id = q
        .enqueue("runs", &json!({"n": 1}), 3, Duration::ZERO)
        .await
        .unwrap();
    let first = q.lease("runs", LEASE).await.unwrap().unwrap();
    assert_eq!(first.attempt, 1);

    tokio::time::sleep(PAST_LEASE).await;
    let second = q
        .lease("runs", LEASE)
        .await
        .unwrap()
        .expect("redelivered after the lease ran out");
    assert_eq!(second.id, id);
    assert_eq!(second.attempt, 2);
    assert_ne!(second.lease_token, first.lease_token);
    // The first consumer's lease is lost.
    assert!(!q
        .heartbeat(first.id, first.lease_token, LEASE)
        .await
        .unwrap());
    // The current holder can finish it.
    q.complete(second.id, second.lease_token).await.unwrap();
}

#[tokio::test]
async fn heartbeat_extends_the_lease() {
    let moto = Moto::start().await;
    let q = queue(&moto, "runs", 5).await;
    q.enqueue("runs", &json!({}), 3, Duration::ZERO)
        .await
        .unwrap();
    let job = q.lease("runs", LEASE).await.unwrap().unwrap();
    // Extend to 3 s from now, then look again after the original 1 s lease has ended.
    assert!(q
        .heartbeat(job.id, job.lease_token, Duration::from_secs(3))
        .await
        .unwrap());
    tokio::time::sleep(PAST_LEASE).await;
    assert!(
        q.lease("runs", LEASE).await.unwrap().is_none(),
        "the heartbeat kept the job invisible"
    );
    assert!(
        q.heartbeat(job.id, job.lease_token, Duration::from_secs(3))
            .await
            .unwrap(),
        "still held"
    );
    // A token of another job, or an unknown one, is a lost lease.
    assert!(!q
        .heartbeat(uuid::Uuid::now_v7(), job.lease_token, LEASE)
        .await
        .unwrap());
    assert!(!q
        .heartbeat(job.id, uuid::Uuid::new_v4(), LEASE)
        .await
        .unwrap());
    q.complete(job.id, job.lease_token).await.unwrap();
}

#[tokio::test]
async fn failure_is_retried_with_the_next_attempt() {
    let moto = Moto::start().await;
    let q = queue(&moto, "gpu", 5).await;
    let id = q
        .enqueue("gpu", &json!({"k": "v"}), 3, Duration::ZERO)
        .await
        .unwrap();
    let job = q.lease("gpu", LEASE).await.unwrap().unwrap();
    q.fail(job.id, job.lease_token, "boom", Duration::from_secs(1))
        .await
        .unwrap();
    // Backoff: not visible at once, then redelivered as attempt 2.
    assert!(
        q.lease("gpu", LEASE).await.unwrap().is_none(),
        "held back for the retry delay"
    );
    tokio::time::sleep(PAST_LEASE).await;
    let again = q.lease("gpu", LEASE).await.unwrap().expect("redelivered");
    assert_eq!((again.id, again.attempt), (id, 2));
    // A zero retry delay makes it visible at once.
    q.fail(again.id, again.lease_token, "boom", Duration::ZERO)
        .await
        .unwrap();
    let third = q
        .lease("gpu", LEASE)
        .await
        .unwrap()
        .expect("redelivered at once");
    assert_eq!(third.attempt, 3);
    // Failing with a stale token changes nothing.
    q.fail(again.id, again.lease_token, "stale", Duration::ZERO)
        .await
        .unwrap();
    assert!(q.lease("gpu", LEASE).await.unwrap().is_none());
}

#[tokio::test]
async fn last_failure_dead_letters_with_its_error() {
    let moto = Moto::start().await;
    let q = queue(&moto, "runs", 5).await;
    let id = q
        .enqueue("runs", &json!({"run_id": "x"}), 2, Duration::ZERO)
        .await
        .unwrap();
    let job = q.lease("runs", LEASE).await.unwrap().unwrap();
    q.fail(job.id, job.lease_token, "first", Duration::ZERO)
        .await
        .unwrap();
    let job = q.lease("runs", LEASE).await.unwrap().unwrap();
    assert_eq!((job.attempt, job.max_attempts), (2, 2));
    q.fail(job.id, job.lease_token, "second and last", Duration::ZERO)
        .await
        .unwrap();

    assert!(
        q.lease("runs", LEASE).await.unwrap().is_none(),
        "dead-lettered, not retried"
    );
    let dead = q.dead_letters("runs").await.unwrap();
    assert_eq!(
        dead,
        vec![(id, json!({"run_id": "x"}), "second and last".to_string())]
    );
    // Listing does not consume the dead-letter queue.
    assert_eq!(q.dead_letters("runs").await.unwrap().len(), 1);
}

#[tokio::test]
async fn queue_redrive_dead_letters_an_expired_last_attempt() {
    let moto = Moto::start().await;
    // The queue allows one receive; the job would allow five: the smaller limit wins.
    let q = queue(&moto, "runs", 1).await;
    let id = q
        .enqueue("runs", &json!({"a": 1}), 5, Duration::ZERO)
        .await
        .unwrap();
    let job = q.lease("runs", LEASE).await.unwrap().unwrap();
    assert_eq!((job.attempt, job.max_attempts), (1, 1));
    tokio::time::sleep(PAST_LEASE).await;
    // SQS's redrive moves it to the dead-letter queue on the next receive.
    assert!(q.lease("runs", LEASE).await.unwrap().is_none());
    let dead = q.dead_letters("runs").await.unwrap();
    assert_eq!(
        dead,
        vec![(id, json!({"a": 1}), "lease expired".to_string())]
    );
}

#[tokio::test]
async fn job_limit_dead_letters_an_expired_last_attempt() {
    let moto = Moto::start().await;
    // The queue allows five receives; the job only one.
    let q = queue(&moto, "runs", 5).await;
    let id = q
        .enqueue("runs", &json!({"b": 2}), 1, Duration::ZERO)
        .await
        .unwrap();
    let keep = q
        .enqueue("runs", &json!({"c": 3}), 3, Duration::from_secs(1))
        .await
        .unwrap();
    let job = q.lease("runs", LEASE).await.unwrap().unwrap();
    assert_eq!((job.id, job.max_attempts), (id, 1));
    tokio::time::sleep(PAST_LEASE).await;
    // The expired last attempt is dead-lettered by `lease` instead of being handed out;
    // only the other job is leased (SQS order is not guaranteed, hence two calls).
    let next = q
        .lease("runs", LEASE)
        .await
        .unwrap()
        .expect("the other job");
    assert_eq!(next.id, keep);
    assert!(q.lease("runs", LEASE).await.unwrap().is_none());
    let dead = q.dead_letters("runs").await.unwrap();
    assert_eq!(
        dead,
        vec![(id, json!({"b": 2}), "lease expired".to_string())]
    );
}

#[tokio::test]
async fn a_missing_queue_is_an_error() {
    let moto = Moto::start().await;
    let q = SqsQueue::from_config(
        &aws(&moto),
        SqsConfig {
            receive_wait: Duration::ZERO,
            ..SqsConfig::default()
        },
    )
    .await;
    let err = q
        .enqueue("nope", &json!({}), 1, Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "internal");
}
