//! The reference MCP servers of the Model Context Protocol project, from npm, for tests of
//! the MCP client: `@modelcontextprotocol/server-everything` (every protocol feature; `stdio`
//! or `streamableHttp` on `$PORT` at `/mcp`) and `@modelcontextprotocol/server-filesystem`
//! (stdio; file tools confined to the directories given as arguments).
//!
//! They live in `$AUTONOMA_TOOLS_DIR/mcp-servers` (default
//! `$HOME/.cache/autonoma/tools/mcp-servers`), where `scripts/setup.sh` installs them; the
//! first use installs them there with npm when missing. Both need `node` (20+) on `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pinned `@modelcontextprotocol/server-everything` version.
pub const EVERYTHING_VERSION: &str = "2026.8.31";
/// Pinned `@modelcontextprotocol/server-filesystem` version.
pub const FILESYSTEM_VERSION: &str = "2026.8.31";

/// A server to start: the absolute program and its arguments (what an MCP stdio connection
/// is configured with: the program is absolute because the client clears the environment).
#[derive(Debug, Clone)]
pub struct ServerCommand {
    /// Absolute path of `node`.
    pub command: String,
    /// The server's script and its arguments.
    pub args: Vec<String>,
}

/// `$AUTONOMA_TOOLS_DIR/mcp-servers`, or `$HOME/.cache/autonoma/tools/mcp-servers`.
pub fn install_dir() -> PathBuf {
    let tools = match std::env::var_os("AUTONOMA_TOOLS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/autonoma/tools"),
    };
    tools.join("mcp-servers")
}

fn package_dir(package: &str) -> PathBuf {
    install_dir()
        .join("node_modules/@modelcontextprotocol")
        .join(package)
}

static INSTALL: Mutex<()> = Mutex::new(());

/// Installs both packages (pinned) unless present. Panics when npm fails.
fn ensure_installed() {
    let _guard = INSTALL.lock().unwrap();
    let ok = |p: &str, v: &str| {
        std::fs::read_to_string(package_dir(p).join("package.json"))
            .is_ok_and(|s| s.contains(&format!("\"version\": \"{v}\"")))
    };
    if ok("server-everything", EVERYTHING_VERSION) && ok("server-filesystem", FILESYSTEM_VERSION) {
        return;
    }
    let dir = install_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .arg(format!(
            "@modelcontextprotocol/server-everything@{EVERYTHING_VERSION}"
        ))
        .arg(format!(
            "@modelcontextprotocol/server-filesystem@{FILESYSTEM_VERSION}"
        ))
        .status()
        .expect("run npm (install Node.js 20+ and npm)");
    assert!(
        status.success(),
        "npm install of the MCP reference servers failed: {status}"
    );
}

/// The absolute path of `node` on `PATH`.
pub fn node() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("node"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("node not found on PATH"))
        .display()
        .to_string()
}

fn script(package: &str) -> String {
    ensure_installed();
    package_dir(package)
        .join("dist/index.js")
        .display()
        .to_string()
}

/// `node …/server-everything/dist/index.js stdio`.
pub fn everything_command() -> ServerCommand {
    ServerCommand {
        command: node(),
        args: vec![script("server-everything"), "stdio".into()],
    }
}

/// `node …/server-filesystem/dist/index.js <allowed_dir>`.
pub fn filesystem_command(allowed_dir: &Path) -> ServerCommand {
    ServerCommand {
        command: node(),
        args: vec![
            script("server-filesystem"),
            allowed_dir.display().to_string(),
        ],
    }
}

/// server-everything in `streamableHttp` mode on a free loopback port; killed on drop.
pub struct EverythingHttp {
    child: Child,
    /// `http://127.0.0.1:<port>/mcp`.
    pub url: String,
}

impl EverythingHttp {
    /// Starts it and waits (up to 30 s) until its port accepts connections.
    pub fn start() -> EverythingHttp {
        let script = script("server-everything");
        let port = crate::ports::unused_port();
        let child = Command::new(node())
            .arg(script)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server-everything");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "server-everything did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        EverythingHttp {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }
}

impl Drop for EverythingHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
