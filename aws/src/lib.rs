//! # autonoma-aws
//!
//! AWS backends for the cloud shape of Autonoma:
//!
//! * [`SqsQueue`] — [`autonoma_core::store::JobQueue`] on Amazon SQS (one SQS queue per
//!   job queue name, each with a dead-letter queue attached through its `RedrivePolicy`);
//! * [`S3BlobStore`] — [`autonoma_core::knowledge::blob::BlobStore`] on Amazon S3, with
//!   server-side encryption and presigned downloads;
//! * [`secrets`] — JSON secrets from Secrets Manager, read by ARN;
//! * [`rds`] — IAM auth tokens for logging in to RDS / Aurora PostgreSQL.
//!
//! Both are built from an [`AwsConfig`] (region, optional endpoint override for local
//! emulators such as moto or LocalStack, optional static credentials) with
//! [`AwsConfig::load`], or from an SDK client the caller already has.
//!
//! The HTTPS client is hyper 1 + rustls with the `ring` crypto provider (the SDKs' default
//! features, which pull in `aws-lc`, are turned off).

pub mod config;
pub mod rds;
pub mod s3;
pub mod secrets;
pub mod sqs;

pub use config::{AwsConfig, StaticCredentials};
pub use s3::{S3BlobStore, S3Config, ServerSideEncryption};
pub use sqs::{SqsConfig, SqsQueue};
