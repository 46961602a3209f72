//! `S3BlobStore` against a real moto server.

mod support;

use std::time::Duration;

use autonoma_aws::{S3BlobStore, S3Config, ServerSideEncryption};
use autonoma_core::knowledge::blob::{BlobKey, BlobStore};
use autonoma_core::Error;
use support::{aws, Moto};
use uuid::Uuid;

async fn store(moto: &Moto, sse: ServerSideEncryption) -> S3BlobStore {
    let cfg = S3Config {
        bucket: "autonoma-blobs".into(),
        key_prefix: "blobs/".into(),
        sse,
        force_path_style: true,
    };
    let s = S3BlobStore::from_config(&aws(moto), cfg).await;
    s.ensure_bucket().await.unwrap();
    // Idempotent.
    s.ensure_bucket().await.unwrap();
    s
}

#[tokio::test]
async fn put_get_delete_round_trip_with_sse_s3() {
    let moto = Moto::start().await;
    let s = store(&moto, ServerSideEncryption::default()).await;
    let key = BlobKey::new(Uuid::now_v7(), "knowledge/kb-1/doc-1.bin").unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();

    s.put(&key, &bytes).await.unwrap();
    assert_eq!(s.get(&key).await.unwrap(), bytes);

    let object_key = s.object_key(&key);
    assert_eq!(object_key, format!("blobs/{key}"));
    let head = s
        .client()
        .head_object()
        .bucket("autonoma-blobs")
        .key(&object_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_length(), Some(bytes.len() as i64));

    // Replacing a blob.
    s.put(&key, b"v2").await.unwrap();
    assert_eq!(s.get(&key).await.unwrap(), b"v2");

    s.delete(&key).await.unwrap();
    assert!(matches!(s.get(&key).await, Err(Error::NotFound("blob"))));
    // Deleting a missing blob succeeds.
    s.delete(&key).await.unwrap();
}

#[tokio::test]
async fn put_with_sse_kms_records_the_key() {
    let moto = Moto::start().await;
    let kms_key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    let s = store(
        &moto,
        ServerSideEncryption::Kms {
            key_id: Some(kms_key.into()),
        },
    )
    .await;
    let key = BlobKey::new(Uuid::now_v7(), "files/a.txt").unwrap();
    s.put(&key, b"secret").await.unwrap();
    let head = s
        .client()
        .head_object()
        .bucket("autonoma-blobs")
        .key(s.object_key(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(kms_key));
    assert_eq!(s.get(&key).await.unwrap(), b"secret");
}

#[tokio::test]
async fn missing_blob_is_not_found() {
    let moto = Moto::start().await;
    let s = store(&moto, ServerSideEncryption::default()).await;
    let key = BlobKey::new(Uuid::now_v7(), "never/written").unwrap();
    let err = s.get(&key).await.unwrap_err();
    assert!(matches!(err, Error::NotFound("blob")), "{err:?}");
}

#[tokio::test]
async fn presigned_url_downloads_the_blob() {
    let moto = Moto::start().await;
    let s = store(&moto, ServerSideEncryption::default()).await;
    let key = BlobKey::new(Uuid::now_v7(), "exports/report.pdf").unwrap();
    s.put(&key, b"%PDF-1.7 hello").await.unwrap();

    let url = s
        .presigned_get(&key, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(url.starts_with(&moto.endpoint), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"%PDF-1.7 hello");

    assert!(matches!(
        s.presigned_get(&key, Duration::ZERO).await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        s.presigned_get(&key, Duration::from_secs(8 * 24 * 3600))
            .await,
        Err(Error::Validation { .. })
    ));
}
