//! `autonoma run`: start a run through the HTTP API and stream its events to the terminal
//! (assistant text to stdout as it arrives, tool steps and the outcome to stderr).

use anyhow::{bail, Context};
use eventsource_stream::Eventsource;
use futures::StreamExt;

/// Arguments of `autonoma run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The agent's id.
    #[arg(long)]
    pub agent: uuid::Uuid,
    /// Continue this thread.
    #[arg(long)]
    pub thread: Option<uuid::Uuid>,
    /// Server base URL.
    #[arg(long, env = "AUTONOMA_SERVER", default_value = "http://127.0.0.1:3000")]
    pub server: String,
    /// API key (`ak_…`).
    #[arg(long, env = "AUTONOMA_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// The message; read from stdin when absent.
    pub input: Option<String>,
}

/// Starts the run and follows its events until it ends. Exit status is an error unless the
/// run completed.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let input = match args.input {
        Some(i) => i,
        None => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
    };
    let http = reqwest::Client::new();
    let base = args.server.trim_end_matches('/');
    let res = http
        .post(format!("{base}/api/v1/agents/{}/runs", args.agent))
        .bearer_auth(&args.api_key)
        .json(&serde_json::json!({ "input": input, "thread_id": args.thread }))
        .send()
        .await
        .context("contacting the server")?;
    if !res.status().is_success() {
        let status = res.status();
        bail!(
            "server refused the run ({status}): {}",
            res.text().await.unwrap_or_default()
        );
    }
    let run: serde_json::Value = res.json().await?;
    let run_id = run["id"]
        .as_str()
        .context("no run id in response")?
        .to_string();
    eprintln!(
        "run {run_id} (thread {})",
        run["thread_id"].as_str().unwrap_or("?")
    );
    let res = http
        .get(format!("{base}/api/v1/runs/{run_id}/events"))
        .bearer_auth(&args.api_key)
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("cannot follow events: {}", res.status());
    }
    let mut events = res.bytes_stream().eventsource();
    use std::io::Write;
    while let Some(ev) = events.next().await {
        let ev = ev.context("reading event stream")?;
        let data: serde_json::Value = serde_json::from_str(&ev.data).unwrap_or_default();
        match ev.event.as_str() {
            "token_delta" => {
                print!("{}", data["text"].as_str().unwrap_or(""));
                std::io::stdout().flush().ok();
            }
            "run_resumed" => eprintln!(
                "\n[resumed from step {} by another executor]",
                data["from_step"]
            ),
            "tool_call" => eprintln!(
                "\n[tool] {}({})",
                data["name"].as_str().unwrap_or("?"),
                data["arguments"]
            ),
            "tool_result" => eprintln!(
                "[tool result{}] {}",
                if data["is_error"].as_bool() == Some(true) {
                    " (error)"
                } else {
                    ""
                },
                data["output"].as_str().unwrap_or("")
            ),
            "completed" => {
                println!();
                return Ok(());
            }
            "failed" => bail!(
                "\nrun failed ({}): {}",
                data["code"].as_str().unwrap_or("?"),
                data["reason"].as_str().unwrap_or("")
            ),
            "cancelled" => bail!("\nrun cancelled: {}", data["reason"].as_str().unwrap_or("")),
            _ => {}
        }
    }
    bail!("event stream ended before the run finished")
}
