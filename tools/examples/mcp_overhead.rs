//! MCP tool-call overhead of our client path over a plain rmcp client, for
//! docs/BENCHMARKS.md. Run:
//!
//! ```text
//! cargo run --release -p autonoma-tools --example mcp_overhead -- [N]   # default N = 1000
//! ```
//!
//! Against `@modelcontextprotocol/server-everything` (installed by
//! `autonoma_testkit::mcp_servers`, needs `node`), over stdio and over streamable HTTP, it
//! calls the `echo` tool N times (after 100 warm-up calls) two ways in the same run:
//!
//! * **ours** — the `Tool` the agent loop calls: `McpPool` resolves `everything__echo` from
//!   the connection cached in a real SQLite store, and each call reads the connection (and
//!   opens its sealed secrets), takes the live session, sends `tools/call` with the `_meta`
//!   idempotency key and run id, and renders the result to text;
//! * **raw** — a plain rmcp client session to a second instance of the same server,
//!   `peer.call_tool` with the same arguments.
//!
//! The two are interleaved call by call (so load on the machine hits both alike) and each
//! latency is recorded; it prints the median, p99, the ratio of medians and the median
//! difference in µs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use autonoma_core::mcp::{qualify_tools, McpEndpoint, McpSecrets, McpServer, McpTransport};
use autonoma_core::secret::SecretBox;
use autonoma_core::store::prelude::*;
use autonoma_core::tool::{ToolContext, ToolResolver};
use autonoma_testkit::mcp_servers::{everything_command, EverythingHttp};
use autonoma_tools::mcp::{McpPool, McpSettings};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use uuid::Uuid;

const WARMUP: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn bench(
    label: &str,
    n: usize,
    tool: &Arc<dyn autonoma_core::tool::Tool>,
    raw: &rmcp::Peer<rmcp::RoleClient>,
    org_id: Uuid,
) {
    let args = serde_json::json!({"message": "hello"});
    let raw_params =
        || CallToolRequestParams::new("echo").with_arguments(args.as_object().unwrap().clone());
    let ctx = |i: usize| ToolContext {
        http_allowlist: vec![],
        org_id,
        knowledge_base_ids: vec![],
        run_id: Uuid::nil(),
        idempotency_key: format!("bench:{i}:1"),
    };
    for i in 0..WARMUP {
        tool.call(args.clone(), &ctx(i)).await.expect("ours");
        raw.call_tool(raw_params()).await.expect("raw");
    }
    let (mut ours, mut plain) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let t = Instant::now();
        let out = tool.call(args.clone(), &ctx(i)).await.expect("ours");
        ours.push(t.elapsed());
        assert_eq!(out, "Echo: hello");
        let t = Instant::now();
        raw.call_tool(raw_params()).await.expect("raw");
        plain.push(t.elapsed());
    }
    ours.sort();
    plain.sort();
    let (om, pm) = (percentile(&ours, 0.5), percentile(&plain, 0.5));
    println!(
        "{label:<16} ours   median {:>8.1} µs  p99 {:>8.1} µs",
        us(om),
        us(percentile(&ours, 0.99))
    );
    println!(
        "{label:<16} raw    median {:>8.1} µs  p99 {:>8.1} µs",
        us(pm),
        us(percentile(&plain, 0.99))
    );
    println!(
        "{label:<16} ratio of medians {:.3}×, overhead {:+.1} µs per call (N = {n})",
        us(om) / us(pm),
        us(om) - us(pm)
    );
}

/// Stores connection `server` (its tools listed through the pool) and resolves its echo tool.
async fn our_tool(
    store: &Arc<dyn Store>,
    pool: &McpPool,
    mut server: McpServer,
) -> Arc<dyn autonoma_core::tool::Tool> {
    use autonoma_core::mcp::McpConnector;
    let endpoint = McpEndpoint {
        server: server.clone(),
        secrets: McpSecrets::default(),
    };
    let listed = pool.list_tools(&endpoint).await.expect("tools/list");
    server.tools = qualify_tools(&server.name, listed);
    store.create_mcp_server(&server, None).await.unwrap();
    let name = format!("{}__echo", server.name);
    pool.resolve(server.org_id, &[name])
        .await
        .unwrap()
        .pop()
        .expect("echo tool")
}

fn connection(org_id: Uuid, name: &str, transport: McpTransport) -> McpServer {
    McpServer {
        id: Uuid::now_v7(),
        org_id,
        name: name.into(),
        transport,
        command: None,
        args: vec![],
        env_names: vec![],
        url: None,
        header_names: vec![],
        has_bearer_token: false,
        oauth: None,
        status: autonoma_core::mcp::McpServerStatus::Ready,
        timeout_secs: 30,
        tools: vec![],
        tools_refreshed_at: chrono::Utc::now(),
        created_at: chrono::Utc::now(),
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N"))
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("mcp-overhead-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = autonoma_storage::sqlite::SqliteStore::connect(&format!(
        "sqlite://{}",
        dir.join("bench.db").display()
    ))
    .await
    .unwrap();
    sqlite.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let (_, org) = store
        .create_user_with_org("bench@example.com", "b", "hash", "bench")
        .await
        .unwrap();
    let pool = McpPool::new(
        store.clone(),
        SecretBox::new(&[7; 32]),
        McpSettings {
            allow_stdio: true,
            allow_loopback: true,
            ..McpSettings::default()
        },
    );

    // stdio: two children of the same server.
    let cmd = everything_command();
    let mut stdio = connection(org.id, "everything", McpTransport::Stdio);
    stdio.command = Some(cmd.command.clone());
    stdio.args = cmd.args.clone();
    let ours = our_tool(&store, &pool, stdio).await;
    let mut child = tokio::process::Command::new(&cmd.command);
    child.args(&cmd.args).stderr(std::process::Stdio::null());
    let raw = ().serve(TokioChildProcess::new(child).unwrap()).await.unwrap();
    bench("stdio", n, &ours, raw.peer(), org.id).await;
    raw.cancel().await.unwrap();

    // streamable HTTP: two servers, one for each client.
    let (a, b) = (EverythingHttp::start(), EverythingHttp::start());
    let mut http = connection(org.id, "web", McpTransport::StreamableHttp);
    http.url = Some(a.url.clone());
    let ours = our_tool(&store, &pool, http).await;
    let raw = ()
        .serve(StreamableHttpClientTransport::with_client(
            reqwest013::Client::new(),
            StreamableHttpClientTransportConfig::with_uri(b.url.clone()),
        ))
        .await
        .unwrap();
    bench("streamable HTTP", n, &ours, raw.peer(), org.id).await;
    raw.cancel().await.unwrap();
    pool.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
