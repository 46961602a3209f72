//! Test harness: starts the real `autonoma serve` binary on a random port with a temporary
//! SQLite file — or, with `AUTONOMA_TEST_BACKEND=postgres`, a throwaway PostgreSQL 15
//! cluster (migrated as the owner role, used as a non-owner role under row-level security)
//! — and a small API client.
#![allow(dead_code)]

pub mod cloud;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// A running `autonoma serve` process; killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: tempfile::TempDir,
    /// The PostgreSQL cluster when the suite runs on Postgres (dropped after the server).
    pub postgres: Option<autonoma_testkit::postgres::PgServer>,
}

/// True when `AUTONOMA_TEST_BACKEND=postgres`: servers then use a fresh PostgreSQL cluster.
pub fn on_postgres() -> bool {
    std::env::var("AUTONOMA_TEST_BACKEND").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

impl Server {
    /// Starts the server with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_autonoma"));
        cmd.arg("serve");
        Server::start_command(cmd, env)
    }

    /// Starts the server under a `bash` prelude run first in the same process, e.g.
    /// `trap '' XFSZ; ulimit -f 4096` (limits and signal dispositions survive the `exec`).
    pub fn start_after(prelude: &str, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("{prelude}; exec \"$0\" serve"))
            .arg(env!("CARGO_BIN_EXE_autonoma"));
        Server::start_command(cmd, env)
    }

    /// The process id (for `prlimit`, signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn start_command(mut cmd: Command, env: &[(&str, &str)]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        cmd.env("AUTONOMA_LISTEN", "127.0.0.1:0")
            .env("AUTONOMA_DATA_DIR", data_dir.path())
            .env("AUTONOMA_SITE_DIR", workspace.join("site"))
            .env("AUTONOMA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let postgres = (on_postgres() && !env.iter().any(|(k, _)| *k == "AUTONOMA_DATABASE_URL"))
            .then(autonoma_testkit::postgres::PgServer::start);
        if let Some(pg) = &postgres {
            cmd.env("AUTONOMA_DATABASE_URL", pg.app_url())
                .env("AUTONOMA_DATABASE_OWNER_URL", pg.owner_url());
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start autonoma serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Server {
            child,
            base,
            data_dir,
            postgres,
        }
    }

    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGKILLs the process now (a crash); the data dir and database stay for a successor.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The `AUTONOMA_*` variables that point another process at this server's database.
    pub fn database_env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "AUTONOMA_DATA_DIR".to_string(),
            self.data_dir.path().display().to_string(),
        )];
        if let Some(pg) = &self.postgres {
            env.push(("AUTONOMA_DATABASE_URL".into(), pg.app_url()));
            env.push(("AUTONOMA_DATABASE_OWNER_URL".into(), pg.owner_url()));
        }
        env
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed-up user with a cookie session and an owner API key.
pub struct User {
    pub http: reqwest::Client,
    pub cookie_http: reqwest::Client,
    pub base: String,
    pub api_key: String,
    pub csrf: String,
    pub org_id: String,
}

impl User {
    /// Signs up `email` and creates an API key through the cookie session.
    pub async fn sign_up(server: &Server, email: &str) -> User {
        User::sign_up_at(&server.base, email).await
    }

    /// [`User::sign_up`] on the server listening at `base` (`http://host:port`).
    pub async fn sign_up_at(base: &str, email: &str) -> User {
        let url = |path: &str| format!("{base}{path}");
        let cookie_http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = cookie_http
            .post(url("/api/v1/auth/signup"))
            .json(&json!({ "email": email, "password": "correct horse battery", "name": "Test" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "signup: {}", res.text().await.unwrap());
        let me: Value = res.json().await.unwrap();
        let csrf = me["csrf_token"].as_str().unwrap().to_string();
        let res = cookie_http
            .post(url("/api/v1/api-keys"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "tests" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let key: Value = res.json().await.unwrap();
        User {
            http: reqwest::Client::new(),
            cookie_http,
            base: base.to_string(),
            api_key: key["secret"].as_str().unwrap().to_string(),
            csrf,
            org_id: me["org_id"].as_str().unwrap().to_string(),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{}", self.base, path))
            .bearer_auth(&self.api_key)
    }
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.api_key)
    }
    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .put(format!("{}{}", self.base, path))
            .bearer_auth(&self.api_key)
    }
    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(format!("{}{}", self.base, path))
            .bearer_auth(&self.api_key)
    }

    /// Creates a knowledge base; returns its id.
    pub async fn knowledge_base(&self, name: &str) -> String {
        let res = self
            .post("/api/v1/knowledge-bases")
            .json(&json!({"name": name, "description": "test base"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Uploads `bytes` as the document `name` of type `media_type` to knowledge base `kb`.
    pub async fn upload(
        &self,
        kb: &str,
        name: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(media_type)
            .unwrap();
        self.post(&format!("/api/v1/knowledge-bases/{kb}/documents"))
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap()
    }

    /// Connects an OpenAI-compatible provider at `base_url` offering model `scripted`.
    pub async fn scripted_provider(&self, base_url: &str) -> String {
        let res = self
            .post("/api/v1/providers")
            .json(&json!({ "name": "Scripted", "kind": "openai_compatible", "base_url": base_url, "api_key": "sk-test-secret", "models": ["scripted"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates an agent and returns its JSON.
    pub async fn agent(
        &self,
        provider_id: &str,
        model: &str,
        tools: &[&str],
        limits: Value,
    ) -> Value {
        let res = self
            .post("/api/v1/agents")
            .json(&json!({
                "name": "Test agent", "description": "d", "provider_id": provider_id, "model": model,
                "instructions": "You are helpful.", "tools": tools, "limits": limits
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json().await.unwrap()
    }

    /// Starts a run; returns its JSON.
    pub async fn start_run(&self, agent_id: &str, input: &str, thread: Option<&str>) -> Value {
        let res = self
            .post(&format!("/api/v1/agents/{agent_id}/runs"))
            .json(&json!({ "input": input, "thread_id": thread }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
        res.json().await.unwrap()
    }

    /// The run's events recorded so far, through the polling form of the events endpoint
    /// (`Accept: application/json`); (seq, type, event JSON) triples.
    pub async fn events_so_far(&self, run_id: &str) -> Vec<(i64, String, Value)> {
        let res = self
            .get(&format!("/api/v1/runs/{run_id}/events"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["seq"].as_i64().unwrap(),
                    e["type"].as_str().unwrap().to_string(),
                    e.clone(),
                )
            })
            .collect()
    }

    /// Reads the SSE stream of a run (from `last_event_id`, if given) until it ends;
    /// returns (id, event, data JSON) triples.
    pub async fn events(
        &self,
        run_id: &str,
        last_event_id: Option<i64>,
    ) -> Vec<(i64, String, Value)> {
        let mut req = self.get(&format!("/api/v1/runs/{run_id}/events"));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let res = tokio::time::timeout(Duration::from_secs(120), req.send())
            .await
            .expect("events timeout")
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let body = tokio::time::timeout(Duration::from_secs(180), res.text())
            .await
            .expect("stream did not end")
            .unwrap();
        parse_sse(&body)
    }
}

/// Parses an SSE body into (id, event, data) triples, skipping comments.
pub fn parse_sse(body: &str) -> Vec<(i64, String, Value)> {
    let mut out = vec![];
    for block in body.split("\n\n") {
        let (mut id, mut event, mut data) = (0i64, String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !event.is_empty() {
            out.push((
                id,
                event,
                serde_json::from_str(&data).unwrap_or(Value::Null),
            ));
        }
    }
    out
}

/// The workspace root.
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The python of a virtual environment with the MCP Python SDK pinned in
/// `tests/mcp/requirements.txt` (`$AUTONOMA_MCP_VENV` or `~/.cache/autonoma/venv-mcp`).
pub fn sdk_python() -> std::path::PathBuf {
    venv_python(
        "AUTONOMA_MCP_VENV",
        "venv-mcp",
        "tests/mcp/requirements.txt",
    )
}

/// Starts `tests/mcp/<script>` with the MCP SDK's python ([`sdk_python`]) on an unused port,
/// as `script --port P <args>`, and waits (up to 30 s) until `GET ready_path` answers 2xx.
/// Returns the child and its port; panics when it does not come up.
pub async fn start_sdk_server(
    script: &str,
    args: &[std::ffi::OsString],
    ready_path: &str,
    stderr: Stdio,
) -> (Child, u16) {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let port = autonoma_testkit::ports::unused_port();
    let mut child = Command::new(python)
        .arg(workspace().join("tests/mcp").join(script))
        .args(["--port", &port.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("starting tests/mcp/{script}: {e}"));
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("http://127.0.0.1:{port}{ready_path}"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tests/mcp/{script} did not start on port {port}");
}

/// The python of a virtual environment holding the packages pinned in `requirements`
/// (relative to the workspace): `$<env_var>` or `~/.cache/autonoma/<default_dir>`,
/// installed first if needed (a marker file holding the requirements' text records a
/// finished install).
pub fn venv_python(env_var: &str, default_dir: &str, requirements: &str) -> std::path::PathBuf {
    use std::path::PathBuf;
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let venv = std::env::var(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").expect("HOME is set"))
                .join(".cache/autonoma")
                .join(default_dir)
        });
    let requirements = workspace().join(requirements);
    let wanted = std::fs::read_to_string(&requirements)
        .unwrap_or_else(|e| panic!("reading {}: {e}", requirements.display()));
    let marker = venv.join(".autonoma-requirements");
    let python = venv.join("bin/python");
    if python.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return python;
    }
    let run = |cmd: &mut Command| {
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        assert!(status.success(), "{cmd:?} failed: {status}");
    };
    if !venv.join("bin/pip").exists() {
        std::fs::create_dir_all(venv.parent().unwrap()).expect("creating the cache folder");
        let host = std::env::var("AUTONOMA_PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(host).arg("-m").arg("venv").arg(&venv));
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "-r"])
        .arg(&requirements));
    std::fs::write(&marker, &wanted).expect("writing the install marker");
    python
}

/// Asserts a problem+json response with the given status and code.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status);
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().ends_with(code));
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// GET `path` with the user's API key; asserts 200 and returns the JSON body.
pub async fn get_json(user: &User, path: &str) -> Value {
    let res = user.get(path).send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Polls run `run_id` until its status is `want` (30 s at most); returns the run.
pub async fn wait_run_status(user: &User, run_id: &str, want: &str) -> Value {
    let path = format!("/api/v1/runs/{run_id}");
    for _ in 0..600 {
        let run = get_json(user, &path).await;
        if run["status"] == want {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run never reached {want}: {}", get_json(user, &path).await);
}
