//! `secret_json` against a real moto server.

mod support;

use autonoma_aws::secrets::secret_json;
use support::{aws, Moto};

#[tokio::test]
async fn reads_a_json_secret_by_arn_and_refuses_other_shapes() {
    let moto = Moto::start().await;
    let cfg = aws(&moto);
    let client = aws_sdk_secretsmanager::Client::new(&cfg.load().await);
    let arn = client
        .create_secret()
        .name("autonoma/app")
        .secret_string(r#"{"AUTONOMA_SECRET_KEY":"00ff","AUTONOMA_ORIGIN_VERIFY":"edge-secret"}"#)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let map = secret_json(&cfg, &arn).await.unwrap();
    assert_eq!(map["AUTONOMA_ORIGIN_VERIFY"], "edge-secret");
    assert_eq!(map["AUTONOMA_SECRET_KEY"], "00ff");

    let plain = client
        .create_secret()
        .name("plain")
        .secret_string("not json")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let e = secret_json(&cfg, &plain).await.unwrap_err();
    assert!(e.to_string().contains("internal"), "{e}");
    assert!(secret_json(
        &cfg,
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:missing"
    )
    .await
    .is_err());
}
