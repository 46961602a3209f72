//! `autonoma approvals`: the approvals inbox from a terminal, through the HTTP API — list
//! pending tool calls, approve (optionally with edited arguments) or deny them with a
//! comment.

use anyhow::{bail, Context};

/// Arguments of `autonoma approvals`.
#[derive(clap::Args, Debug)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    pub command: ApprovalsCommand,
    /// Server base URL.
    #[arg(
        long,
        global = true,
        env = "AUTONOMA_SERVER",
        default_value = "http://127.0.0.1:3000"
    )]
    pub server: String,
    /// API key (`ak_…`); deciding needs member or above.
    #[arg(long, global = true, env = "AUTONOMA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// What to do with the inbox.
#[derive(clap::Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// List approvals (pending ones unless `--status` says otherwise), one per line.
    List {
        /// `pending`, `approved`, `denied`, `expired` or `all`.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Approve a pending tool call; the run resumes.
    Approve {
        id: uuid::Uuid,
        #[arg(long, default_value = "")]
        comment: String,
        /// Run the tool with these arguments instead (a JSON object).
        #[arg(long)]
        arguments: Option<String>,
    },
    /// Deny a pending tool call; the comment is what the agent is told.
    Deny {
        id: uuid::Uuid,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// Runs the subcommand; API errors (problem+json) are reported with their detail.
pub async fn run(args: ApprovalsArgs) -> anyhow::Result<()> {
    let key = args
        .api_key
        .context("an API key is needed: --api-key or AUTONOMA_API_KEY")?;
    let http = reqwest::Client::new();
    let base = args.server.trim_end_matches('/');
    match args.command {
        ApprovalsCommand::List { status } => {
            let query = if status == "all" {
                String::new()
            } else {
                format!("?status={status}")
            };
            let page = send(
                http.get(format!("{base}/api/v1/approvals{query}"))
                    .bearer_auth(&key),
            )
            .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                eprintln!("no {status} approvals");
            }
            for a in items {
                println!(
                    "{}  {:<8}  {}({})  run {} step {}  rule {}  expires {}",
                    a["id"].as_str().unwrap_or("?"),
                    a["status"].as_str().unwrap_or("?"),
                    a["tool"].as_str().unwrap_or("?"),
                    a["arguments"],
                    a["run_id"].as_str().unwrap_or("?"),
                    a["step"],
                    a["rule"].as_str().unwrap_or("?"),
                    a["expires_at"].as_str().unwrap_or("?"),
                );
            }
        }
        ApprovalsCommand::Approve {
            id,
            comment,
            arguments,
        } => {
            let arguments = arguments
                .map(|a| serde_json::from_str::<serde_json::Value>(&a))
                .transpose()
                .context("--arguments is not JSON")?;
            let a = send(
                http.post(format!("{base}/api/v1/approvals/{id}/approve"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({ "comment": comment, "arguments": arguments })),
            )
            .await?;
            println!(
                "approved {} ({}); run {} resumes",
                id,
                a["tool"].as_str().unwrap_or("?"),
                a["run_id"].as_str().unwrap_or("?")
            );
        }
        ApprovalsCommand::Deny { id, comment } => {
            let a = send(
                http.post(format!("{base}/api/v1/approvals/{id}/deny"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({ "comment": comment })),
            )
            .await?;
            println!(
                "denied {} ({}); run {} resumes",
                id,
                a["tool"].as_str().unwrap_or("?"),
                a["run_id"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

/// Sends `req`; a non-2xx answer becomes an error naming its status and problem detail.
async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<serde_json::Value> {
    let res = req.send().await.context("contacting the server")?;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "{status}: {}",
            body["detail"]
                .as_str()
                .unwrap_or("the server refused the request")
        );
    }
    Ok(body)
}
