//! `autonoma audit verify FILE --public-key KEY`: verifies an audit export
//! (`GET /api/v1/audit/export`, JSON lines) or a run receipt
//! (`GET /api/v1/runs/{id}/receipt`) offline, with `autonoma_core::audit`.
//!
//! `verify` detects the kind: a file that is one JSON object with a `receipt` member is a
//! receipt, anything else a chain of one entry per line (blank lines are skipped; line
//! numbers in messages are the file's). `verify-receipt` insists on a receipt. The key is
//! the base64url public key, the JSON document of `/.well-known/autonoma/audit-key`, or a
//! file holding either. Exit status 0 when everything verifies; 1 with the first broken
//! entry (its seq, id, line and why) on stderr otherwise.

use std::path::{Path, PathBuf};

use anyhow::Context;
use autonoma_core::audit::{parse_public_key, verify_chain, verify_receipt};
use serde_json::Value;

/// Arguments of `autonoma audit`.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// What `autonoma audit` does.
#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify an audit export (JSON lines) or a run receipt: the hash chain, the
    /// signatures and the numbering; names the first broken entry.
    Verify(VerifyArgs),
    /// Verify a run receipt's signature.
    VerifyReceipt(VerifyArgs),
}

/// The file and the key to verify it with.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The export (`.jsonl`) or receipt (`.json`) file; `-` for stdin.
    pub file: PathBuf,
    /// The instance's public key: base64url, the JSON of
    /// `/.well-known/autonoma/audit-key`, or a file holding either.
    #[arg(long)]
    pub public_key: String,
}

/// Runs the command; `Ok(false)` when verification failed (the reason is on stderr).
///
/// # Errors
/// When the file or the key cannot be read or the key is not an Ed25519 public key.
pub fn run(args: AuditArgs) -> anyhow::Result<bool> {
    let (v, receipt_only) = match args.command {
        AuditCommand::Verify(v) => (v, false),
        AuditCommand::VerifyReceipt(v) => (v, true),
    };
    let key_text = if Path::new(&v.public_key).is_file() {
        std::fs::read_to_string(&v.public_key)
            .with_context(|| format!("reading the key file {}", v.public_key))?
    } else {
        v.public_key.clone()
    };
    let key = parse_public_key(&key_text).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
    let text = if v.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(&v.file).with_context(|| format!("reading {}", v.file.display()))?
    };
    let whole: Option<Value> = serde_json::from_str(&text).ok();
    let receipt = whole.filter(|w| w.get("receipt").is_some());
    if let Some(doc) = receipt {
        return Ok(match verify_receipt(&doc, &key) {
            Ok(r) => {
                println!(
                    "ok: receipt of run {} ({}, {} tool calls, through event {}), signed by {}",
                    r.run_id,
                    r.status,
                    r.tool_calls.len(),
                    r.through_seq,
                    r.key_id
                );
                true
            }
            Err(e) => {
                eprintln!("receipt does not verify: {e}");
                false
            }
        });
    }
    if receipt_only {
        eprintln!("not a run receipt (expected one JSON object with a `receipt` member)");
        return Ok(false);
    }
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines.push(i + 1);
        // A line that is not JSON fails as a malformed entry at its place in the chain.
        entries.push(serde_json::from_str(line).unwrap_or(Value::Null));
    }
    Ok(match verify_chain(&entries, &key) {
        Ok(s) => {
            match (s.org_id, s.head) {
                (Some(org), Some(head)) => println!(
                    "ok: {} entries of organization {org}, chain intact from seq 1 to {} (head hash {})",
                    s.entries, head.seq, head.hash
                ),
                _ => println!("ok: empty audit log"),
            }
            true
        }
        Err(mut b) => {
            b.line = lines[b.line - 1];
            eprintln!("audit chain broken at {b}");
            false
        }
    })
}
