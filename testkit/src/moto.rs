//! A real moto server (the AWS wire protocol of S3, SQS, Secrets Manager…) per test.
//!
//! moto is installed on first use into a virtual environment outside the repository,
//! `$AUTONOMA_MOTO_VENV` or `~/.cache/autonoma/venv-moto`, pinned to [`MOTO_VERSION`]; a
//! marker file records a finished install, so later runs skip pip. Each [`Moto`] runs
//! `moto_server` on a free port of 127.0.0.1 and kills it on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The moto release the tests run against.
pub const MOTO_VERSION: &str = "5.1.22";

static INSTALL: Mutex<()> = Mutex::new(());

fn venv_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("AUTONOMA_MOTO_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/autonoma/venv-moto")
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// The `moto_server` executable, installing moto first if needed (idempotent; serialized
/// within the test binary).
pub fn moto_server_bin() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let venv = venv_dir();
    let bin = venv.join("bin/moto_server");
    let marker = venv.join(format!(".autonoma-moto-{MOTO_VERSION}"));
    if bin.exists() && marker.exists() {
        return bin;
    }
    let python = std::env::var("AUTONOMA_PYTHON").unwrap_or_else(|_| "python3".into());
    if !venv.join("bin/pip").exists() {
        std::fs::create_dir_all(venv.parent().expect("venv has a parent"))
            .expect("creating the cache folder");
        run(Command::new(&python).arg("-m").arg("venv").arg(&venv));
    }
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        &format!("moto[server]=={MOTO_VERSION}"),
    ]));
    std::fs::write(&marker, MOTO_VERSION).expect("writing the install marker");
    bin
}

/// A running moto server; killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto on a free port ([`crate::ports::unused_port`]) and waits until it answers
    /// HTTP (up to 60 s, for a cold start on a busy machine). A server that exits before
    /// answering (a port lost to a parallel test, say) is retried on a new port, 3 times.
    pub async fn start() -> Moto {
        let bin = moto_server_bin();
        let http = reqwest::Client::new();
        let mut exits = Vec::new();
        for _ in 0..3 {
            let port = crate::ports::unused_port();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawning moto_server");
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(status) = moto.child.try_wait().expect("polling moto_server") {
                    exits.push(format!("port {port}: {status}"));
                    break;
                }
                if http
                    .get(format!("{}/moto-api/", moto.endpoint))
                    .send()
                    .await
                    .is_ok()
                {
                    return moto;
                }
                assert!(
                    Instant::now() < deadline,
                    "moto_server did not answer on {} within 60 s",
                    moto.endpoint
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("moto_server exited early 3 times: {}", exits.join("; "));
    }

    /// Environment variables that point an AWS SDK client (the `autonoma` binary's, for
    /// instance) at this server: endpoint, region `us-east-1`, static credentials `test`.
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
