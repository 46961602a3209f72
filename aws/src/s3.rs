//! [`S3BlobStore`]: blobs as S3 objects, one object per [`BlobKey`] in one bucket.
//!
//! The object key is the blob key itself (`<org_id>/<segment>/…`), optionally under a
//! prefix, so an organization's blobs share a key prefix (usable in IAM policies and
//! lifecycle rules). Every object is written with server-side encryption: SSE-S3
//! (`AES256`) by default, or SSE-KMS (`aws:kms`) with a configured key.
//!
//! A `PutObject` is atomic: readers see the old object or the new one, never a partial one,
//! as the [`BlobStore`] contract requires.

use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::knowledge::blob::{BlobKey, BlobStore};
use autonoma_core::{Error, Result};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::AwsConfig;

/// How objects are encrypted at rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ServerSideEncryption {
    /// SSE-S3: S3-managed keys (`x-amz-server-side-encryption: AES256`).
    #[default]
    S3,
    /// SSE-KMS (`aws:kms`) with the given key id, ARN or alias; `None` uses the account's
    /// AWS-managed `aws/s3` key.
    Kms { key_id: Option<String> },
}

/// Bucket settings.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The bucket (must exist; see [`S3BlobStore::ensure_bucket`] for local setups).
    pub bucket: String,
    /// Prepended to every blob key, e.g. `blobs/` (empty: none). Should end with `/`.
    pub key_prefix: String,
    /// Encryption applied on every put.
    pub sse: ServerSideEncryption,
    /// Path-style addressing (`http://host/bucket/key`), needed by most emulators (moto,
    /// MinIO). `false`: virtual-hosted style, the AWS default.
    pub force_path_style: bool,
}

impl S3Config {
    /// A bucket with no key prefix, SSE-S3 and virtual-hosted addressing.
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            key_prefix: String::new(),
            sse: ServerSideEncryption::S3,
            force_path_style: false,
        }
    }
}

/// Blobs in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    cfg: S3Config,
}

fn s3_err<E>(op: &str, e: E) -> Error
where
    E: std::error::Error + 'static,
{
    Error::internal(format!("s3 {op}: {}", DisplayErrorContext(e)))
}

impl S3BlobStore {
    /// A store on an existing client.
    pub fn new(client: Client, cfg: S3Config) -> S3BlobStore {
        S3BlobStore { client, cfg }
    }

    /// Builds the client from `aws` (endpoint, region, credentials) and `cfg`
    /// (path-style addressing). Makes no request.
    pub async fn from_config(aws: &AwsConfig, cfg: S3Config) -> S3BlobStore {
        let sdk = aws.load().await;
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(cfg.force_path_style)
            .build();
        S3BlobStore::new(Client::from_conf(conf), cfg)
    }

    /// The SDK client (for operations outside the [`BlobStore`] trait).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings.
    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    /// The S3 object key of `key`: the configured prefix followed by the blob key.
    pub fn object_key(&self, key: &BlobKey) -> String {
        format!("{}{}", self.cfg.key_prefix, key.as_str())
    }

    /// Creates the bucket if it does not exist (tests and local setups; production buckets
    /// come from Terraform in `infra/`). Errors: [`Error::Internal`] when S3 refuses.
    pub async fn ensure_bucket(&self) -> Result<()> {
        match self
            .client
            .create_bucket()
            .bucket(&self.cfg.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_bucket_already_owned_by_you() => Ok(()),
                _ => Err(s3_err("CreateBucket", e)),
            },
        }
    }

    /// A presigned `GET` URL for the blob, valid for `expires` (1 s to 7 days). Anyone
    /// holding the URL can download the blob until then, so hand it only to the blob's
    /// organization. Signing is local: no request is made and the blob's existence is not
    /// checked (a missing blob answers 404 at download).
    /// Errors: [`Error::Validation`] (`expires`) outside that range.
    pub async fn presigned_get(&self, key: &BlobKey, expires: Duration) -> Result<String> {
        if expires.is_zero() || expires > Duration::from_secs(7 * 24 * 3600) {
            return Err(Error::Validation {
                field: "expires".into(),
                message: "must be between 1 second and 7 days".into(),
            });
        }
        let presign = PresigningConfig::expires_in(expires).map_err(|e| Error::Validation {
            field: "expires".into(),
            message: e.to_string(),
        })?;
        let req = self
            .client
            .get_object()
            .bucket(&self.cfg.bucket)
            .key(self.object_key(key))
            .presigned(presign)
            .await
            .map_err(|e| s3_err("presign GetObject", e))?;
        Ok(req.uri().to_string())
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    /// `PutObject` with the configured server-side encryption.
    async fn put(&self, key: &BlobKey, bytes: &[u8]) -> Result<()> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.cfg.bucket)
            .key(self.object_key(key))
            .content_type("application/octet-stream")
            .body(ByteStream::from(bytes.to_vec()));
        req = match &self.cfg.sse {
            ServerSideEncryption::S3 => {
                req.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            }
            ServerSideEncryption::Kms { key_id } => {
                let r = req.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms);
                match key_id {
                    Some(k) => r.ssekms_key_id(k),
                    None => r,
                }
            }
        };
        req.send().await.map_err(|e| s3_err("PutObject", e))?;
        Ok(())
    }

    /// `GetObject`, body read whole. Errors: [`Error::NotFound`] (`"blob"`) on `NoSuchKey`.
    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.cfg.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                if e.as_service_error().is_some_and(|se| se.is_no_such_key()) {
                    return Err(Error::NotFound("blob"));
                }
                return Err(s3_err("GetObject", e));
            }
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| s3_err("GetObject body", e))?;
        Ok(body.into_bytes().to_vec())
    }

    /// `DeleteObject`; S3 answers success for a missing key, so this is idempotent.
    async fn delete(&self, key: &BlobKey) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.cfg.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| s3_err("DeleteObject", e))?;
        Ok(())
    }
}
