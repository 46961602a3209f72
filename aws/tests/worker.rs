//! The core worker (`autonoma_core::worker::consume`) on an `SqsQueue` against moto:
//! heartbeats keep a slow job leased, a failure is retried with backoff, success deletes.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use autonoma_aws::{SqsConfig, SqsQueue};
use autonoma_core::store::JobQueue;
use autonoma_core::worker::{consume, WorkerConfig};
use serde_json::json;
use support::{aws, Moto};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn consume_heartbeats_retries_and_acknowledges() {
    let moto = Moto::start().await;
    let cfg = SqsConfig {
        queue_prefix: "w-".into(),
        receive_wait: Duration::ZERO,
        ..SqsConfig::default()
    };
    let q = Arc::new(SqsQueue::from_config(&aws(&moto), cfg).await);
    q.ensure_queues_with("gpu", 5).await.unwrap();

    // "slow" outlives its 2 s lease and succeeds; "flaky" fails on its first attempt.
    q.enqueue("gpu", &json!({"name": "slow"}), 3, Duration::ZERO)
        .await
        .unwrap();
    q.enqueue("gpu", &json!({"name": "flaky"}), 3, Duration::ZERO)
        .await
        .unwrap();

    let seen: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let shutdown = CancellationToken::new();
    let worker = {
        let seen = seen.clone();
        let queue: Arc<dyn JobQueue> = q.clone();
        let wcfg = WorkerConfig {
            lease: Duration::from_secs(2),
            idle_poll: Duration::from_millis(100),
            concurrency: 2,
        };
        tokio::spawn(consume(
            queue,
            "gpu",
            wcfg,
            shutdown.clone(),
            move |job, _lost| {
                let seen = seen.clone();
                async move {
                    let name = job.payload["name"].as_str().unwrap_or_default().to_string();
                    seen.lock().unwrap().push((name.clone(), job.attempt));
                    match (name.as_str(), job.attempt) {
                        ("slow", _) => {
                            tokio::time::sleep(Duration::from_millis(3500)).await;
                            Ok(())
                        }
                        ("flaky", 1) => Err("transient".to_string()),
                        _ => Ok(()),
                    }
                }
            },
        ))
    };

    // Hang guard only: wait for both jobs to finish (the retry backoff is 1–2 s).
    let done = |s: &[(String, u32)]| {
        s.iter().any(|(n, a)| n == "flaky" && *a == 2) && s.iter().any(|(n, _)| n == "slow")
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        while !done(&seen.lock().unwrap()) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("both jobs handled");
    // Let the slow job finish and any (wrong) redelivery surface past a lease length.
    tokio::time::sleep(Duration::from_secs(5)).await;
    shutdown.cancel();
    worker.await.unwrap();

    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("flaky".to_string(), 1),
            ("flaky".to_string(), 2),
            ("slow".to_string(), 1)
        ]
    );
    assert!(
        q.lease("gpu", Duration::from_secs(1))
            .await
            .unwrap()
            .is_none(),
        "both acknowledged"
    );
    assert!(q.dead_letters("gpu").await.unwrap().is_empty());
}
