//! A throwaway PostgreSQL 15 cluster for tests (Debian's `postgresql` package): `initdb` in
//! a temporary folder, `pg_ctl start` on a free loopback port, stopped (`-m immediate`)
//! and deleted on drop. The server refuses to run as root, so when the tests run as root
//! every PostgreSQL binary runs as the `postgres` OS user (`runuser`). The package's own
//! default cluster and service are never used.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian installs PostgreSQL 15's binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running cluster with the database `autonoma`, owned by the login role
/// `autonoma_owner` (runs migrations), and the login role `autonoma_web`, a member of the
/// no-login role `autonoma_app` that the migrations grant table access to — the
/// application's non-owner role, so row-level security applies to it.
pub struct PgServer {
    dir: PathBuf,
    port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A PostgreSQL binary, run as the `postgres` user when we are root.
fn pg_command(bin: &str) -> Command {
    let path = Path::new(PG_BIN).join(bin);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn check(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How many ports `pg_ctl start` is tried on before giving up.
const START_ATTEMPTS: usize = 5;

/// Starts the cluster in `data` on a port from [`crate::ports::unused_port`] and returns the
/// port. A port taken between the pick and PostgreSQL's bind ("Address already in use") or
/// any other failed start is retried on a new port; after [`START_ATTEMPTS`] failures it
/// panics with `pg_ctl`'s output and the server log of every attempt.
fn start_on_a_free_port(data: &Path, dir: &Path) -> u16 {
    let mut failures = String::new();
    for attempt in 1..=START_ATTEMPTS {
        let port = crate::ports::unused_port();
        let log = dir.join(format!("log.{attempt}"));
        let opts = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", dir.display());
        let mut c = pg_command("pg_ctl");
        c.arg("-D")
            .arg(data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-o", &opts, "start"]);
        let out = c
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("pg_ctl start: {e}"));
        if out.status.success() {
            return port;
        }
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        failures += &format!(
            "attempt {attempt}, port {port}:\n{}{}\nserver log:\n{server_log}\n",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    panic!("pg_ctl start failed {START_ATTEMPTS} times:\n{failures}");
}

impl PgServer {
    /// Installs Debian's `postgresql` when its binaries are missing, then creates, starts and
    /// prepares a cluster (roles and database as described on [`PgServer`]).
    ///
    /// Panics (it is test support) when any step fails, with the tool's output.
    pub fn start() -> PgServer {
        if !Path::new(PG_BIN).join("initdb").exists() {
            let mut c = Command::new("apt-get");
            c.args(["install", "-y", "-qq", "postgresql"])
                .env("DEBIAN_FRONTEND", "noninteractive");
            check(c, "apt-get install postgresql (or run scripts/setup.sh)");
        }
        let dir = std::env::temp_dir().join(format!(
            "autonoma-pg-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let mut c = Command::new("chown");
            c.args(["-R", "postgres:postgres"]).arg(&dir);
            check(c, "chown");
        }
        let data = dir.join("data");
        let mut c = pg_command("initdb");
        c.arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        check(c, "initdb");
        let port = start_on_a_free_port(&data, &dir);
        let server = PgServer { dir, port };
        for sql in [
            "CREATE ROLE autonoma_owner LOGIN",
            "CREATE ROLE autonoma_app NOLOGIN",
            "CREATE ROLE autonoma_web LOGIN IN ROLE autonoma_app",
            "CREATE DATABASE autonoma OWNER autonoma_owner",
        ] {
            let mut c = pg_command("psql");
            c.args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ]);
            check(c, sql);
        }
        server
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://<user>@127.0.0.1:<port>/autonoma` (trust authentication).
    pub fn url(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/autonoma", self.port)
    }

    /// Runs `sql` with `psql` as the superuser in the `autonoma` database (bypassing
    /// row-level security: for tests that inspect what is stored) and returns the rows
    /// unaligned, one per line, fields separated by `|`. Panics when psql fails.
    pub fn psql(&self, sql: &str) -> String {
        let mut c = pg_command("psql");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "autonoma",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-c",
            sql,
        ]);
        let out = c.stdin(Stdio::null()).output().expect("psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Makes `role` log in with a password (SCRAM-SHA-256) over TCP instead of trust: a
    /// `pg_hba.conf` line for it goes first, and the configuration is reloaded. The role's
    /// password is set with [`PgServer::psql`] (`ALTER ROLE … PASSWORD …`).
    pub fn require_password(&self, role: &str) {
        let hba = self.dir.join("data/pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        std::fs::write(
            &hba,
            format!("host all {role} 127.0.0.1/32 scram-sha-256\n{rest}"),
        )
        .expect("write pg_hba.conf");
        self.psql("SELECT pg_reload_conf()");
    }

    /// The URL of the table owner (for migrations).
    pub fn owner_url(&self) -> String {
        self.url("autonoma_owner")
    }

    /// The URL of the application's non-owner role.
    pub fn app_url(&self) -> String {
        self.url("autonoma_web")
    }
}

pub(crate) fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
