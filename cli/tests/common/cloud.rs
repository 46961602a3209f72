//! The cloud shape for tests and benchmarks: a throwaway PostgreSQL, moto's server with the
//! SQS queues, the S3 bucket and the app secret, and the `autonoma` binary spawned as a Lambda
//! function against a local Runtime API (`autonoma_testkit::lambda`). Shared by
//! `cli/tests/lambda.rs` and `cli/examples/lambda_cold_start.rs` (included by path there).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use autonoma_aws::{S3BlobStore, S3Config, SqsConfig, SqsQueue};
use autonoma_testkit::lambda::RuntimeApi;
use autonoma_testkit::moto::Moto;
use autonoma_testkit::postgres::PgServer;
use serde_json::json;

/// The value of `X-Origin-Verify` the functions require (from the app secret).
pub const ORIGIN_SECRET: &str = "edge-to-origin-secret";
/// SQS queue name prefix (`autonoma-test-runs`, `autonoma-test-gpu`, each with `-dlq`).
pub const PREFIX: &str = "autonoma-test-";
/// The documents bucket.
pub const BUCKET: &str = "autonoma-test-documents";

/// A function process and the Runtime API it polls; SIGKILLed on drop.
pub struct Function {
    pub child: Child,
    pub runtime: RuntimeApi,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain (non-Lambda) process of the binary; SIGKILLed on drop.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// PostgreSQL + moto, set up for the functions of `binary`.
pub struct Cloud {
    pub pg: PgServer,
    pub moto: Moto,
    pub app_secret_arn: String,
    pub data_dir: tempfile::TempDir,
    pub binary: PathBuf,
}

impl Cloud {
    /// Starts PostgreSQL (not migrated: invoke the `migrate` function) and moto with the
    /// `runs` and `gpu` queues, the bucket and the app secret.
    pub async fn start(binary: PathBuf) -> Cloud {
        let pg = PgServer::start();
        let moto = Moto::start().await;
        let aws = autonoma_aws::AwsConfig::local(moto.endpoint.clone());
        let sqs = SqsQueue::from_config(
            &aws,
            SqsConfig {
                queue_prefix: PREFIX.into(),
                ..SqsConfig::default()
            },
        )
        .await;
        sqs.ensure_queues("runs").await.unwrap();
        sqs.ensure_queues("gpu").await.unwrap();
        S3BlobStore::from_config(
            &aws,
            S3Config {
                force_path_style: true,
                ..S3Config::new(BUCKET)
            },
        )
        .await
        .ensure_bucket()
        .await
        .unwrap();
        let secrets = aws_sdk_secretsmanager::Client::new(&aws.load().await);
        let secret = json!({ "AUTONOMA_SECRET_KEY": "ab".repeat(32), "AUTONOMA_ORIGIN_VERIFY": ORIGIN_SECRET }).to_string();
        let app_secret_arn = secrets
            .create_secret()
            .name("autonoma-test/app")
            .secret_string(secret)
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        Cloud {
            pg,
            moto,
            app_secret_arn,
            data_dir: tempfile::tempdir().unwrap(),
            binary,
        }
    }

    /// The binary in a clean environment with the cloud settings (PostgreSQL, SQS, S3, the
    /// app secret), ready for arguments. `AUTONOMA_LOG` (default `warn`), `RUST_LOG` and
    /// the model folders are passed through.
    pub fn base_command(&self) -> Command {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env(
                "AUTONOMA_LOG",
                std::env::var("AUTONOMA_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("AUTONOMA_DATA_DIR", self.data_dir.path())
            .env("AUTONOMA_SITE_DIR", workspace.join("site"))
            .env("AUTONOMA_DATABASE_URL", self.pg.app_url())
            .env("AUTONOMA_DATABASE_OWNER_URL", self.pg.owner_url())
            .env("AUTONOMA_MIGRATE_ON_START", "false")
            .env("AUTONOMA_QUEUE", "sqs")
            .env("AUTONOMA_SQS_QUEUE_PREFIX", PREFIX)
            .env("AUTONOMA_BLOB_STORE", "s3")
            .env("AUTONOMA_BLOB_BUCKET", BUCKET)
            .env("AUTONOMA_S3_PATH_STYLE", "true")
            .env("AUTONOMA_APP_SECRET_ARN", &self.app_secret_arn)
            .env("AUTONOMA_GPU_WORKER", "false")
            .env("AUTONOMA_SECURE_COOKIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for var in [
            "AUTONOMA_MODEL_DIR",
            "AUTONOMA_EMBEDDING_MODEL_DIR",
            "RUST_LOG",
        ] {
            if let Ok(v) = std::env::var(var) {
                cmd.env(var, v);
            }
        }
        for (k, v) in self.moto.sdk_env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// The binary as Lambda function `handler` polling `runtime`, ready to spawn:
    /// [`Cloud::base_command`] with no subcommand (Lambda mode is detected from
    /// `AWS_LAMBDA_RUNTIME_API`, the handler read from `_HANDLER`).
    pub fn command(&self, handler: &str, runtime: &RuntimeApi) -> Command {
        let mut cmd = self.base_command();
        // As deployed (infra/modules/autonoma/lambda.tf): a small pool per instance.
        cmd.env("_HANDLER", handler)
            .env("AUTONOMA_DATABASE_MAX_CONNECTIONS", "2");
        for (k, v) in runtime.function_env(&format!("autonoma-test-{handler}")) {
            cmd.env(k, v);
        }
        cmd
    }

    /// Spawns function `handler` with `extra` variables on a fresh Runtime API; returns it
    /// and the instant just before the spawn.
    pub async fn function(&self, handler: &str, extra: &[(&str, &str)]) -> (Function, Instant) {
        self.function_without(handler, extra, &[]).await
    }

    /// [`Cloud::function`] with the variables `unset` removed from its environment.
    pub async fn function_without(
        &self,
        handler: &str,
        extra: &[(&str, &str)],
        unset: &[&str],
    ) -> (Function, Instant) {
        let runtime = RuntimeApi::start().await;
        let mut cmd = self.command(handler, &runtime);
        for k in unset {
            cmd.env_remove(k);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd.spawn().expect("start autonoma as a Lambda function");
        (Function { child, runtime }, started)
    }

    /// A client of moto's SQS.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        let aws = autonoma_aws::AwsConfig::local(self.moto.endpoint.clone());
        SqsQueue::from_config(&aws, SqsConfig::default())
            .await
            .client()
            .clone()
    }
}
