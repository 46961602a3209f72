//! `autonoma` — one binary for the whole platform. See `autonoma --help`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

mod approvals_cmd;
mod audit_cmd;
mod embed_cmd;

#[derive(Parser)]
#[command(
    name = "autonoma",
    about = "Autonoma: a self-hostable AI agent platform",
    version
)]
struct Cli {
    /// Configuration file (TOML). Default `autonoma.toml` if it exists.
    #[arg(long, env = "AUTONOMA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Without a subcommand inside AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set), the binary
    /// runs as the function named by `_HANDLER`.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the UI and API, execute runs and GPU jobs, all in this process.
    Serve,
    /// Consume only the GPU job queue (document embeddings) against the configured
    /// database; run several on one database to share the work.
    GpuWorker,
    /// Apply database migrations and exit.
    Migrate,
    /// Run an agent through a server's API and stream its answer to stdout.
    Run(autonoma::run_cmd::RunArgs),
    /// Embed stdin lines with all-MiniLM-L6-v2 on the GPU (wgpu): one JSON array of 384
    /// floats per line on stdout.
    Embed(embed_cmd::EmbedArgs),
    /// Run as an AWS Lambda function (`api`, `run-executor` or `migrate`) against the
    /// Runtime API at `AWS_LAMBDA_RUNTIME_API`. Default handler: `_HANDLER`.
    Lambda {
        /// api, run-executor or migrate.
        #[arg(env = "_HANDLER")]
        handler: String,
    },
    /// The approvals inbox through a server's API: `list`, `approve ID`, `deny ID`.
    Approvals(approvals_cmd::ApprovalsArgs),
    /// Verify audit exports and run receipts offline (`autonoma audit verify FILE
    /// --public-key KEY`).
    Audit(audit_cmd::AuditArgs),
    /// Print the version.
    Version,
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// JSON logs without ANSI colours or timestamps (CloudWatch adds its own).
fn init_lambda_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .without_time()
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
}

/// A token cancelled on Ctrl-C or SIGTERM (graceful shutdown).
fn shutdown_on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        s.cancel();
    });
    shutdown
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(c) => c,
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => Command::Lambda {
            handler: std::env::var("_HANDLER")
                .map_err(|_| anyhow::anyhow!("_HANDLER is not set"))?,
        },
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            std::process::exit(2);
        }
    };
    match command {
        Command::Version => {
            println!("autonoma {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Migrate => {
            let cfg = autonoma::Config::load(cli.config)?;
            init_tracing(&cfg.log);
            let mut cfg = cfg;
            cfg.resolve_secrets().await?;
            autonoma::open_store_migrating(&cfg, true).await?;
            println!("migrations applied to {}", cfg.database_for_logs());
            Ok(())
        }
        Command::Serve => {
            let cfg = autonoma::Config::load(cli.config)?;
            init_tracing(&cfg.log);
            autonoma::serve(cfg, shutdown_on_signal()).await
        }
        Command::GpuWorker => {
            let cfg = autonoma::Config::load(cli.config)?;
            init_tracing(&cfg.log);
            autonoma::gpu_worker(cfg, shutdown_on_signal()).await
        }
        Command::Lambda { handler } => {
            let cfg = autonoma::Config::load(cli.config)?;
            init_lambda_tracing(&cfg.log);
            autonoma::lambda(cfg, handler.parse()?).await
        }
        Command::Run(args) => {
            init_tracing("warn");
            autonoma::run_cmd::run(args).await
        }
        Command::Approvals(args) => {
            init_tracing("warn");
            approvals_cmd::run(args).await
        }
        Command::Audit(args) => {
            if !audit_cmd::run(args)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Embed(args) => {
            init_tracing("warn");
            embed_cmd::run(args).await
        }
    }
}
