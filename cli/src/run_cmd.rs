//! `autonoma run`: start a run through the HTTP API and stream its events to the terminal
//! (assistant text to stdout as it arrives, tool steps and the outcome to stderr); with
//! `--preflight`, plan it instead (nothing is executed that is not read-only) and print the
//! plan; with `--follow-preflight ID`, run a plan for real.

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
    /// Plan instead of run: a preflight (tools that are not read-only are simulated,
    /// nothing waits for approval); prints the plan and exits.
    #[arg(long, conflicts_with_all = ["thread", "follow_preflight"])]
    pub preflight: bool,
    /// With `--preflight`: print the plan as JSON instead of a table.
    #[arg(long, requires = "preflight")]
    pub json: bool,
    /// Run this preflight's plan for real (its message unless one is given); the run's
    /// receipt records where it deviates.
    #[arg(long, value_name = "PREFLIGHT_ID")]
    pub follow_preflight: Option<uuid::Uuid>,
    /// The message; read from stdin when absent (empty with `--follow-preflight`).
    pub input: Option<String>,
}

/// Starts the run and follows its events until it ends. Exit status is an error unless the
/// run completed.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let input = match args.input.clone() {
        Some(i) => i,
        None if args.follow_preflight.is_some() => String::new(),
        None => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
    };
    let http = reqwest::Client::new();
    let base = args.server.trim_end_matches('/');
    if args.preflight {
        return preflight(&http, base, &args, &input).await;
    }
    let res = http
        .post(format!("{base}/api/v1/agents/{}/runs", args.agent))
        .bearer_auth(&args.api_key)
        .json(&serde_json::json!({
            "input": input, "thread_id": args.thread, "preflight_id": args.follow_preflight,
        }))
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
            "approval_requested" => eprintln!(
                "[waiting for approval {}: `autonoma approvals approve {}` or `… deny {}`]",
                data["approval_id"].as_str().unwrap_or("?"),
                data["approval_id"].as_str().unwrap_or("?"),
                data["approval_id"].as_str().unwrap_or("?"),
            ),
            "approval_decided" => eprintln!(
                "[{}{}]",
                if data["approved"].as_bool() == Some(true) {
                    "approved"
                } else {
                    "declined"
                },
                data["comment"]
                    .as_str()
                    .filter(|c| !c.is_empty())
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
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

/// `--preflight`: plans the message and prints the plan (a table, or `--json`). Exit status
/// is an error unless the preflight completed.
async fn preflight(
    http: &reqwest::Client,
    base: &str,
    args: &RunArgs,
    input: &str,
) -> anyhow::Result<()> {
    let res = http
        .post(format!(
            "{base}/api/v1/agents/{}/preflight?wait=120",
            args.agent
        ))
        .bearer_auth(&args.api_key)
        .json(&serde_json::json!({ "input": input }))
        .send()
        .await
        .context("contacting the server")?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("server refused the preflight ({status}): {text}");
    }
    let plan: serde_json::Value = serde_json::from_str(&text).context("reading the plan")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan_table(&plan));
    }
    match plan["status"].as_str() {
        Some("completed") => Ok(()),
        Some(s) => bail!(
            "preflight {s}: {}",
            plan["error"]
                .as_str()
                .unwrap_or("still running; GET its Location later")
        ),
        None => bail!("no status in the plan"),
    }
}

/// A plan as text: one line per tool call (step, decision, tool, arguments, simulated),
/// then the totals and the hash.
pub fn plan_table(plan: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let calls = plan["calls"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        out,
        "preflight {} ({})",
        plan["id"].as_str().unwrap_or("?"),
        plan["status"].as_str().unwrap_or("?")
    );
    for c in &calls {
        let _ = writeln!(
            out,
            "  step {:>2}  {:<16}  {}({}){}",
            c["step"],
            c["decision"].as_str().unwrap_or("?"),
            c["tool"].as_str().unwrap_or("?"),
            c["arguments"],
            if c["simulated"].as_bool() == Some(true) {
                "  [simulated]"
            } else {
                ""
            }
        );
    }
    if calls.is_empty() {
        let _ = writeln!(out, "  (no tool calls)");
    }
    let usage = &plan["estimated_usage"];
    let cost = plan["estimated_cost_usd"]
        .as_f64()
        .map(|c| format!("${c:.6}"))
        .unwrap_or_else(|| "no pricing".into());
    let _ = writeln!(
        out,
        "needs approval: {} · denied: {} · tokens: {} in, {} out · cost: {cost}",
        plan["approvals_needed"], plan["denials"], usage["input_tokens"], usage["output_tokens"]
    );
    let _ = writeln!(
        out,
        "plan hash: {}",
        plan["plan_hash"].as_str().unwrap_or("?")
    );
    if let Some(a) = plan["answer"].as_str() {
        let _ = writeln!(out, "answer (with simulated results): {a}");
    }
    out
}
