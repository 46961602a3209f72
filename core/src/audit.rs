//! The audit log as verifiable receipts: pure functions that build, chain, sign and verify
//! audit entries and run receipts. They need no store and no network, so the CLI verifies
//! an export offline with the same code (`autonoma audit verify`).
//!
//! **Canonical form.** An entry's signed bytes are the RFC 8785 (JSON Canonicalization
//! Scheme) serialization, by the `serde_jcs` crate, of the entry as JSON without its `hash`
//! and `signature` members. `hash` is the lowercase hex SHA-256 of those bytes; `signature`
//! is the Ed25519 signature (RFC 8032, `ed25519-dalek`) of the same bytes, base64url
//! without padding. The bytes include `prev_hash` (the previous entry's `hash`, or
//! [`GENESIS_HASH`] for `seq` 1), `seq` and `key_id`, so editing, dropping, inserting or
//! reordering an entry breaks the chain, and recomputing hashes needs the signing key.
//!
//! **Receipts.** [`build_receipt`] turns a run's events into a [`RunReceipt`] (tool calls
//! with their policy decisions, approvals and outcomes; arguments and outputs only as
//! SHA-256) signed the same way over the canonical JSON of the receipt.
//!
//! Verification ([`verify_chain`], [`verify_receipt`]) works on `serde_json::Value`s, i.e.
//! on exactly what was exported, and names the first broken entry ([`ChainBreak`]).

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::{Run, RunEvent, RunEventKind};
use crate::plan::CallSummary;
use crate::{Error, Result};

pub use autonoma_types::audit::*;

/// Format version of entries and receipts ([`AuditEntry::v`], [`RunReceipt::v`]).
pub const FORMAT_VERSION: u32 = 1;
/// `prev_hash` of the first entry of a chain: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// [`RunReceipt::kind`].
pub const RECEIPT_KIND: &str = "autonoma.run_receipt";

/// The stable action names ([`AuditEntry::action`]). docs/AUDIT.md lists what each one's
/// `target` and `details` hold.
pub mod actions {
    /// A successful login (in the organization the session opened in).
    pub const LOGIN: &str = "auth.login";
    /// A wrong password for an existing user (in each of the user's organizations).
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    /// A sign-up (the first entry of the new organization).
    pub const SIGN_UP: &str = "auth.sign_up";
    /// An API key was created.
    pub const API_KEY_CREATE: &str = "api_key.create";
    /// An API key was revoked.
    pub const API_KEY_REVOKE: &str = "api_key.revoke";
    /// A user was added to the organization.
    pub const MEMBER_ADD: &str = "member.add";
    /// A member's role changed.
    pub const MEMBER_ROLE_CHANGE: &str = "member.role_change";
    /// An agent was created.
    pub const AGENT_CREATE: &str = "agent.create";
    /// An agent got a new version.
    pub const AGENT_UPDATE: &str = "agent.update";
    /// An agent was deleted.
    pub const AGENT_DELETE: &str = "agent.delete";
    /// An organization tool policy was created.
    pub const POLICY_CREATE: &str = "policy.create";
    /// An organization tool policy was changed.
    pub const POLICY_UPDATE: &str = "policy.update";
    /// An organization tool policy was deleted.
    pub const POLICY_DELETE: &str = "policy.delete";
    /// A person approved a tool call.
    pub const APPROVAL_APPROVE: &str = "approval.approve";
    /// A person denied a tool call.
    pub const APPROVAL_DENY: &str = "approval.deny";
    /// An approval expired undecided.
    pub const APPROVAL_EXPIRE: &str = "approval.expire";
    /// A run called a tool (name, arguments hash, decision, outcome).
    pub const TOOL_CALL: &str = "tool.call";
    /// A run was started (queued).
    pub const RUN_START: &str = "run.start";
    /// A run reached its terminal state.
    pub const RUN_FINISH: &str = "run.finish";
    /// A run's capability token was minted (token id, key id, tools, expiry).
    pub const CAPABILITY_ISSUE: &str = "capability.issue";
}

/// RFC 8785 canonical JSON of `value` (`serde_jcs`). Errors: [`Error::Internal`] when the
/// value cannot be serialized (e.g. a non-finite float).
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_jcs::to_vec(value).map_err(|e| Error::internal(format!("canonical JSON: {e}")))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of `value` (how tool arguments
/// are hashed in receipts and `tool.call` entries).
pub fn json_sha256(value: &Value) -> Result<String> {
    Ok(sha256_hex(&canonical_json(value)?))
}

/// The key id of a public key: `ed25519:` and the first 16 hex digits of its SHA-256.
pub fn key_id_of(key: &VerifyingKey) -> String {
    format!("ed25519:{}", &sha256_hex(key.as_bytes())[..16])
}

/// The instance's Ed25519 audit signing key. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct AuditSigner {
    key: SigningKey,
    key_id: String,
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// The key with this 32-byte seed (RFC 8032 secret key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id_of(&key.verifying_key());
        AuditSigner { key, key_id }
    }

    /// The key from its seed in base64 (standard or URL-safe alphabet, padded or not), as
    /// `AUTONOMA_AUDIT_SIGNING_KEY` and the key file hold it.
    /// Errors: [`Error::Validation`] (`audit_signing_key`) unless it decodes to 32 bytes.
    pub fn from_base64(seed: &str) -> Result<Self> {
        let bytes = decode_base64(seed.trim()).ok_or_else(|| {
            Error::validation("audit_signing_key", "is not base64 (a 32-byte seed)")
        })?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::validation("audit_signing_key", "must decode to exactly 32 bytes")
        })?;
        Ok(Self::from_seed(seed))
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self::from_seed(seed)
    }

    /// The seed, base64url without padding (what [`AuditSigner::from_base64`] reads).
    pub fn seed_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.to_bytes())
    }

    /// [`key_id_of`] the public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, as served at `/.well-known/autonoma/audit-key`.
    pub fn public_key(&self) -> AuditKey {
        AuditKey {
            algorithm: "Ed25519".into(),
            key_id: self.key_id.clone(),
            public_key: URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
        }
    }

    /// The verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Ed25519 signature of `message`, base64url without padding.
    pub fn sign(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(message).to_bytes())
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

/// A public key given by hand: its base64url (or base64) form, or the JSON document of
/// `/.well-known/autonoma/audit-key` ([`AuditKey`]).
/// Errors: a message saying what is wrong.
pub fn parse_public_key(text: &str) -> std::result::Result<VerifyingKey, String> {
    let text = text.trim();
    let b64 = if text.starts_with('{') {
        let key: AuditKey =
            serde_json::from_str(text).map_err(|e| format!("not an audit key document: {e}"))?;
        if key.algorithm != "Ed25519" {
            return Err(format!("unsupported algorithm {:?}", key.algorithm));
        }
        key.public_key
    } else {
        text.to_string()
    };
    let bytes = decode_base64(&b64).ok_or("public key is not base64")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "public key must be 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// What an entry records, before it is placed in the chain ([`seal`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    pub id: Uuid,
    pub org_id: Uuid,
    /// Truncated to microseconds by [`AuditDraft::new`] (what both databases keep).
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub action: String,
    pub target: Option<String>,
    pub details: Value,
}

impl AuditDraft {
    /// A draft with a new UUIDv7 and the current time (microseconds).
    pub fn new(
        org_id: Uuid,
        actor: AuditActor,
        action: &str,
        target: Option<String>,
        details: Value,
    ) -> Self {
        AuditDraft {
            id: Uuid::now_v7(),
            org_id,
            at: Utc::now().trunc_subsecs(6),
            actor,
            action: action.to_string(),
            target,
            details,
        }
    }
}

/// The last entry of a chain: what the next one links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// The bytes an entry's hash and signature cover: the canonical JSON of `entry` without
/// `hash` and `signature`. Errors: a message when `entry` is not an object.
fn signed_bytes(entry: &Value) -> std::result::Result<Vec<u8>, String> {
    let mut body = entry
        .as_object()
        .ok_or("entry is not a JSON object")?
        .clone();
    body.remove("hash");
    body.remove("signature");
    serde_jcs::to_vec(&body).map_err(|e| format!("cannot canonicalize: {e}"))
}

/// Places `draft` after `head` (or first, with [`GENESIS_HASH`]) and signs it: `seq` is
/// `head.seq + 1` (or 1), `hash` and `signature` as the module docs say.
/// Errors: [`Error::Internal`] when the details cannot be canonicalized.
pub fn seal(
    draft: &AuditDraft,
    head: Option<&AuditHead>,
    signer: &AuditSigner,
) -> Result<AuditEntry> {
    let mut entry = AuditEntry {
        v: FORMAT_VERSION,
        id: draft.id,
        org_id: draft.org_id,
        seq: head.map_or(1, |h| h.seq + 1),
        at: draft.at,
        actor: draft.actor,
        action: draft.action.clone(),
        target: draft.target.clone(),
        details: draft.details.clone(),
        prev_hash: head.map_or_else(|| GENESIS_HASH.to_string(), |h| h.hash.clone()),
        hash: String::new(),
        key_id: signer.key_id().to_string(),
        signature: String::new(),
    };
    let value = serde_json::to_value(&entry).map_err(Error::internal)?;
    let bytes = signed_bytes(&value).map_err(Error::internal)?;
    entry.hash = sha256_hex(&bytes);
    entry.signature = signer.sign(&bytes);
    Ok(entry)
}

/// Why an entry breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// Not an entry (bad JSON, a missing or mistyped member, an unknown version).
    Malformed(String),
    /// The entry belongs to another organization than the chain's first entry.
    OtherOrganization { expected: Uuid },
    /// The stored `hash` is not the SHA-256 of the entry's canonical form: it was edited.
    HashMismatch { stored: String, computed: String },
    /// The signature does not verify with the given key (or another key signed it).
    BadSignature(String),
    /// Entry `expected` is missing: this entry has a later `seq` and `expected` appears
    /// nowhere after it.
    Missing { expected: i64 },
    /// Entries are out of order: `expected` should come here (it appears later, or this
    /// `seq` appeared before).
    Reordered { expected: i64 },
    /// `prev_hash` is not the previous entry's `hash`.
    BrokenLink { expected: String, found: String },
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::Malformed(m) => write!(f, "malformed entry: {m}"),
            BreakReason::OtherOrganization { expected } => {
                write!(
                    f,
                    "entry of another organization (the chain is {expected}'s)"
                )
            }
            BreakReason::HashMismatch { stored, computed } => write!(
                f,
                "hash mismatch: stored {stored}, computed {computed} (the entry was edited)"
            ),
            BreakReason::BadSignature(m) => write!(f, "bad signature: {m}"),
            BreakReason::Missing { expected } => {
                write!(f, "gap in seq: entry {expected} is missing")
            }
            BreakReason::Reordered { expected } => {
                write!(f, "reordered: entry {expected} should come here")
            }
            BreakReason::BrokenLink { expected, found } => write!(
                f,
                "broken link: prev_hash {found} is not the previous entry's hash {expected}"
            ),
        }
    }
}

/// The first entry that breaks a chain: its position (1-based line of an export), `seq`
/// and `id` as far as they could be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub line: usize,
    pub seq: Option<i64>,
    pub id: Option<String>,
    pub reason: BreakReason,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry ")?;
        match self.seq {
            Some(seq) => write!(f, "seq {seq}")?,
            None => write!(f, "seq ?")?,
        }
        if let Some(id) = &self.id {
            write!(f, " (id {id})")?;
        }
        write!(f, " on line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ChainBreak {}

/// What a verified chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// `None` for an empty chain.
    pub org_id: Option<Uuid>,
    pub entries: usize,
    /// `seq` and `hash` of the last entry (`None` for an empty chain).
    pub head: Option<AuditHead>,
}

fn verify_signature(
    entry: &Value,
    bytes: &[u8],
    key: &VerifyingKey,
) -> std::result::Result<(), String> {
    let key_id = entry.get("key_id").and_then(Value::as_str).unwrap_or("");
    let expected = key_id_of(key);
    if key_id != expected {
        return Err(format!(
            "signed by key {key_id:?}, the given key is {expected}"
        ));
    }
    let sig = entry
        .get("signature")
        .and_then(Value::as_str)
        .and_then(decode_base64)
        .ok_or("signature is not base64")?;
    let sig: [u8; 64] = sig
        .try_into()
        .map_err(|_| "signature must be 64 bytes".to_string())?;
    key.verify_strict(bytes, &Signature::from_bytes(&sig))
        .map_err(|_| "does not verify with the given key".to_string())
}

/// Verifies a whole chain in order (an export: one entry per element, `seq` 1 first):
/// for each entry its form, organization, hash, signature, `seq` (1, 2, … without gaps)
/// and link to the previous entry, in that order. Returns the first [`ChainBreak`].
///
/// Limit: entries cut off after the last one cannot be noticed from the chain alone;
/// compare the head's `seq` and `hash` with a copy kept elsewhere.
pub fn verify_chain(
    entries: &[Value],
    key: &VerifyingKey,
) -> std::result::Result<ChainSummary, ChainBreak> {
    let seqs: Vec<Option<i64>> = entries
        .iter()
        .map(|e| e.get("seq").and_then(Value::as_i64))
        .collect();
    let mut org: Option<Uuid> = None;
    let mut prev: Option<AuditHead> = None;
    for (i, entry) in entries.iter().enumerate() {
        let seq = seqs[i];
        let id = entry.get("id").and_then(Value::as_str).map(str::to_string);
        let fail = |reason| ChainBreak {
            line: i + 1,
            seq,
            id: id.clone(),
            reason,
        };
        let typed: AuditEntry = serde_json::from_value(entry.clone())
            .map_err(|e| fail(BreakReason::Malformed(e.to_string())))?;
        if typed.v != FORMAT_VERSION {
            return Err(fail(BreakReason::Malformed(format!(
                "unknown version {}",
                typed.v
            ))));
        }
        match org {
            Some(expected) if expected != typed.org_id => {
                return Err(fail(BreakReason::OtherOrganization { expected }))
            }
            _ => org = Some(typed.org_id),
        }
        let bytes = signed_bytes(entry).map_err(|m| fail(BreakReason::Malformed(m)))?;
        let computed = sha256_hex(&bytes);
        if computed != typed.hash {
            return Err(fail(BreakReason::HashMismatch {
                stored: typed.hash,
                computed,
            }));
        }
        verify_signature(entry, &bytes, key).map_err(|m| fail(BreakReason::BadSignature(m)))?;
        let expected = prev.as_ref().map_or(1, |p| p.seq + 1);
        if typed.seq != expected {
            let later = seqs[i + 1..].contains(&Some(expected));
            return Err(fail(if typed.seq > expected && !later {
                BreakReason::Missing { expected }
            } else {
                BreakReason::Reordered { expected }
            }));
        }
        let expected_prev = prev
            .as_ref()
            .map_or(GENESIS_HASH.to_string(), |p| p.hash.clone());
        if typed.prev_hash != expected_prev {
            return Err(fail(BreakReason::BrokenLink {
                expected: expected_prev,
                found: typed.prev_hash,
            }));
        }
        prev = Some(AuditHead {
            seq: typed.seq,
            hash: typed.hash,
        });
    }
    Ok(ChainSummary {
        org_id: org,
        entries: entries.len(),
        head: prev,
    })
}

/// [`verify_chain`] over typed entries (as a store returns them, oldest first).
/// Errors: the first [`ChainBreak`].
pub fn verify_entries(
    entries: &[AuditEntry],
    key: &VerifyingKey,
) -> std::result::Result<ChainSummary, ChainBreak> {
    let values: Vec<Value> = entries
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    verify_chain(&values, key)
}

/// The plan a receipt compares a run with: a preflight's id, hash and call summaries.
#[derive(Debug, Clone)]
pub struct PlannedCalls {
    pub preflight_id: Uuid,
    /// [`crate::preflight::plan_hash`].
    pub plan_hash: String,
    pub calls: Vec<CallSummary>,
}

/// The receipt of `run` from its events (in `seq` order), signed by `signer`.
///
/// Every tool call is keyed by `(step, call_id)`; `tool_call`, `policy_decision`,
/// `approval_requested`, `approval_decided` and `tool_result` events fill in its name,
/// arguments hash (from `tool_call`, else the approval's arguments, else the assistant
/// message's requested call), policy, approval and outcome, the last recorded event of each
/// kind winning (a resumed run may record a step again). The terminal event gives `end`.
/// With `planned` (the run follows a preflight), `plan` compares the run's tool calls with
/// the plan's ([`crate::preflight::deviations`]).
/// Errors: [`Error::Internal`] when something cannot be canonicalized.
pub fn build_receipt(
    run: &Run,
    events: &[RunEvent],
    planned: Option<&PlannedCalls>,
    issued_at: DateTime<Utc>,
    signer: &AuditSigner,
) -> Result<SignedRunReceipt> {
    let mut calls: Vec<ReceiptToolCall> = Vec::new();
    fn slot<'a>(
        calls: &'a mut Vec<ReceiptToolCall>,
        step: u32,
        call_id: &str,
        name: &str,
    ) -> &'a mut ReceiptToolCall {
        let i = match calls
            .iter()
            .position(|c| c.step == step && c.call_id == call_id)
        {
            Some(i) => i,
            None => {
                calls.push(ReceiptToolCall {
                    step,
                    call_id: call_id.to_string(),
                    tool: name.to_string(),
                    arguments_sha256: String::new(),
                    policy: None,
                    approval: None,
                    outcome: None,
                });
                calls.len() - 1
            }
        };
        let c = &mut calls[i];
        if c.tool.is_empty() {
            c.tool = name.to_string();
        }
        c
    }
    let mut end = None;
    let mut capabilities = Vec::new();
    for e in events {
        match &e.kind {
            RunEventKind::CapabilityIssued {
                token_id,
                key_id,
                tools,
                expires_at,
            } => capabilities.push(ReceiptCapability {
                seq: e.seq,
                token_id: token_id.clone(),
                key_id: key_id.clone(),
                tools: tools.clone(),
                expires_at: *expires_at,
            }),
            RunEventKind::AssistantMessage {
                step, tool_calls, ..
            } => {
                for tc in tool_calls {
                    let c = slot(&mut calls, *step, &tc.id, &tc.name);
                    if c.arguments_sha256.is_empty() {
                        c.arguments_sha256 = json_sha256(&tc.arguments)?;
                    }
                }
            }
            RunEventKind::ToolCall {
                step,
                call_id,
                name,
                arguments,
            } => {
                slot(&mut calls, *step, call_id, name).arguments_sha256 = json_sha256(arguments)?;
            }
            RunEventKind::PolicyDecision {
                step,
                call_id,
                name,
                decision,
                rule,
            } => {
                slot(&mut calls, *step, call_id, name).policy = Some(ReceiptPolicy {
                    decision: decision.as_str().to_string(),
                    rule: rule.clone(),
                });
            }
            RunEventKind::ApprovalRequested {
                step,
                call_id,
                approval_id,
                name,
                arguments,
                ..
            } => {
                let c = slot(&mut calls, *step, call_id, name);
                if c.arguments_sha256.is_empty() {
                    c.arguments_sha256 = json_sha256(arguments)?;
                }
                c.approval = Some(ReceiptApproval {
                    approval_id: *approval_id,
                    approved: None,
                    decided_by: None,
                    edited_arguments_sha256: None,
                });
            }
            RunEventKind::ApprovalDecided {
                step,
                call_id,
                approval_id,
                approved,
                edited_arguments,
                decided_by,
                ..
            } => {
                let edited = edited_arguments.as_ref().map(json_sha256).transpose()?;
                slot(&mut calls, *step, call_id, "").approval = Some(ReceiptApproval {
                    approval_id: *approval_id,
                    approved: Some(*approved),
                    decided_by: *decided_by,
                    edited_arguments_sha256: edited,
                });
            }
            RunEventKind::ToolResult {
                step,
                call_id,
                name,
                output,
                is_error,
                simulated,
            } => {
                slot(&mut calls, *step, call_id, name).outcome = Some(ReceiptOutcome {
                    is_error: *is_error,
                    output_sha256: sha256_hex(output.as_bytes()),
                    simulated: *simulated,
                });
            }
            RunEventKind::Completed { output } => {
                end = Some(("completed", e.seq, sha256_hex(output.as_bytes())));
            }
            RunEventKind::Failed { reason, .. } => {
                end = Some(("failed", e.seq, sha256_hex(reason.as_bytes())));
            }
            RunEventKind::Cancelled { reason } => {
                end = Some(("cancelled", e.seq, sha256_hex(reason.as_bytes())));
            }
            _ => {}
        }
    }
    let plan = planned.map(|p| {
        let actual: Vec<CallSummary> = calls
            .iter()
            .map(|c| CallSummary {
                tool: c.tool.clone(),
                arguments_sha256: c.arguments_sha256.clone(),
            })
            .collect();
        let deviations = crate::preflight::deviations(&p.calls, &actual);
        ReceiptPlan {
            preflight_id: p.preflight_id,
            plan_hash: p.plan_hash.clone(),
            followed: deviations.is_empty(),
            deviations,
        }
    });
    let receipt = RunReceipt {
        v: FORMAT_VERSION,
        kind: RECEIPT_KIND.to_string(),
        org_id: run.org_id,
        run_id: run.id,
        agent_id: run.agent_id,
        agent_version: run.agent_version,
        status: run.status.as_str().to_string(),
        issued_at: issued_at.trunc_subsecs(6),
        through_seq: events.last().map_or(0, |e| e.seq),
        tool_calls: calls,
        capabilities,
        end: end.map(|(event, seq, text_sha256)| ReceiptEnd {
            event: event.to_string(),
            seq,
            text_sha256,
        }),
        key_id: signer.key_id().to_string(),
        plan,
    };
    let signature = signer.sign(&canonical_json(&receipt)?);
    Ok(SignedRunReceipt { receipt, signature })
}

/// Verifies a signed run receipt document (`{"receipt": …, "signature": …}`): the receipt's
/// kind and key id, and the signature over its canonical JSON. Returns the receipt.
/// Errors: a message saying what is wrong.
pub fn verify_receipt(doc: &Value, key: &VerifyingKey) -> std::result::Result<RunReceipt, String> {
    let body = doc
        .get("receipt")
        .ok_or("not a receipt: no `receipt` member")?;
    let receipt: RunReceipt =
        serde_json::from_value(body.clone()).map_err(|e| format!("malformed receipt: {e}"))?;
    if receipt.kind != RECEIPT_KIND || receipt.v != FORMAT_VERSION {
        return Err(format!(
            "not a version {FORMAT_VERSION} run receipt (kind {:?}, v {})",
            receipt.kind, receipt.v
        ));
    }
    let bytes = serde_jcs::to_vec(body).map_err(|e| format!("cannot canonicalize: {e}"))?;
    let mut with_key = body.clone();
    if let Some(sig) = doc.get("signature") {
        with_key["signature"] = sig.clone();
    }
    verify_signature(&with_key, &bytes, key).map_err(|m| format!("bad signature: {m}"))?;
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signer() -> AuditSigner {
        AuditSigner::from_seed([7u8; 32])
    }

    fn chain(n: usize, signer: &AuditSigner) -> Vec<Value> {
        let org = Uuid::now_v7();
        let user = Uuid::now_v7();
        let mut head: Option<AuditHead> = None;
        let mut out = vec![];
        for i in 0..n {
            let draft = AuditDraft::new(
                org,
                AuditActor::User { user_id: user },
                actions::AGENT_UPDATE,
                Some(format!("agent-{i}")),
                json!({"version": i, "name": "é \u{2028} x", "ratio": 0.5}),
            );
            let e = seal(&draft, head.as_ref(), signer).unwrap();
            head = Some(AuditHead {
                seq: e.seq,
                hash: e.hash.clone(),
            });
            out.push(serde_json::to_value(&e).unwrap());
        }
        out
    }

    #[test]
    fn canonical_json_follows_rfc_8785() {
        // RFC 8785 §3.2.2/§3.2.3: members sorted by UTF-16 code units, no whitespace,
        // ES6 number form, minimal string escapes.
        let v = json!({"b": [1.0, 1e21, -0.0], "a": "\u{20ac}\n", "\u{10000}": 1, "\u{e000}": 2});
        assert_eq!(
            String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
            "{\"a\":\"\u{20ac}\\n\",\"b\":[1,1e+21,0],\"\u{10000}\":1,\"\u{e000}\":2}"
        );
        // Key order and whitespace of the input do not change the hash.
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": {"b": 2, "a": 1}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":{"a":1,"b":2},"x":1}"#).unwrap();
        assert_eq!(json_sha256(&a).unwrap(), json_sha256(&b).unwrap());
    }

    #[test]
    fn a_sealed_chain_verifies_and_round_trips_through_text() {
        let s = signer();
        let entries = chain(4, &s);
        assert_eq!(entries[0]["prev_hash"], GENESIS_HASH);
        assert_eq!(entries[1]["prev_hash"], entries[0]["hash"]);
        // Through JSON lines and back, as `autonoma audit verify` reads an export.
        let lines: Vec<Value> = entries
            .iter()
            .map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap())
            .collect();
        let summary = verify_chain(&lines, &s.verifying_key()).unwrap();
        assert_eq!(summary.entries, 4);
        assert_eq!(summary.head.unwrap().seq, 4);
        let typed: Vec<AuditEntry> = entries
            .iter()
            .map(|e| serde_json::from_value(e.clone()).unwrap())
            .collect();
        assert!(verify_entries(&typed, &s.verifying_key()).is_ok());
        assert!(verify_chain(&[], &s.verifying_key())
            .unwrap()
            .head
            .is_none());
    }

    #[test]
    fn tampering_names_the_first_broken_entry() {
        let s = signer();
        let key = s.verifying_key();
        let entries = chain(5, &s);

        let mut edited = entries.clone();
        edited[2]["details"]["version"] = json!(99);
        let b = verify_chain(&edited, &key).unwrap_err();
        assert_eq!((b.line, b.seq), (3, Some(3)));
        assert!(matches!(b.reason, BreakReason::HashMismatch { .. }), "{b}");

        // Edited and re-hashed without the key: the signature fails.
        let mut rehashed = edited.clone();
        rehashed[2]["hash"] = json!(sha256_hex(&signed_bytes(&rehashed[2]).unwrap()));
        let b = verify_chain(&rehashed, &key).unwrap_err();
        assert!(matches!(b.reason, BreakReason::BadSignature(_)), "{b}");

        let mut deleted = entries.clone();
        deleted.remove(2);
        let b = verify_chain(&deleted, &key).unwrap_err();
        assert_eq!(b.seq, Some(4));
        assert_eq!(b.reason, BreakReason::Missing { expected: 3 });
        assert!(
            b.to_string().contains("gap in seq: entry 3 is missing"),
            "{b}"
        );

        let mut swapped = entries.clone();
        swapped.swap(1, 3);
        let b = verify_chain(&swapped, &key).unwrap_err();
        assert_eq!((b.line, b.seq), (2, Some(4)));
        assert_eq!(b.reason, BreakReason::Reordered { expected: 2 });

        let mut first_gone = entries.clone();
        first_gone.remove(0);
        let b = verify_chain(&first_gone, &key).unwrap_err();
        assert_eq!(b.reason, BreakReason::Missing { expected: 1 });

        // Changing `seq` in place is an edit of signed content.
        let mut renumbered = entries.clone();
        renumbered[1]["seq"] = json!(4);
        renumbered[3]["seq"] = json!(2);
        let b = verify_chain(&renumbered, &key).unwrap_err();
        assert_eq!(b.seq, Some(4));
        assert!(matches!(b.reason, BreakReason::HashMismatch { .. }));

        // Another instance's key.
        let other = AuditSigner::from_seed([8u8; 32]);
        let b = verify_chain(&entries, &other.verifying_key()).unwrap_err();
        assert_eq!(b.seq, Some(1));
        assert!(matches!(b.reason, BreakReason::BadSignature(_)));

        // A validly signed entry spliced in from another chain of the same organization.
        let mut spliced = entries.clone();
        let mut fork = entries[1].clone();
        fork["prev_hash"] = json!(GENESIS_HASH);
        let bytes = signed_bytes(&fork).unwrap();
        fork["hash"] = json!(sha256_hex(&bytes));
        fork["signature"] = json!(s.sign(&bytes));
        spliced[1] = fork;
        let b = verify_chain(&spliced, &key).unwrap_err();
        assert!(matches!(b.reason, BreakReason::BrokenLink { .. }), "{b}");

        let mut junk = entries.clone();
        junk[0] = json!({"seq": 1});
        assert!(matches!(
            verify_chain(&junk, &key).unwrap_err().reason,
            BreakReason::Malformed(_)
        ));
    }

    #[test]
    fn keys_parse_in_every_offered_form() {
        let s = signer();
        let doc = serde_json::to_string(&s.public_key()).unwrap();
        let pk = s.public_key().public_key;
        for text in [doc.as_str(), pk.as_str()] {
            assert_eq!(parse_public_key(text).unwrap(), s.verifying_key());
        }
        assert!(parse_public_key("nope!").is_err());
        let again = AuditSigner::from_base64(&s.seed_base64()).unwrap();
        assert_eq!(again.key_id(), s.key_id());
        assert!(AuditSigner::from_base64("AAAA").is_err());
        assert!(s.key_id().starts_with("ed25519:") && s.key_id().len() == 24);
        assert!(!format!("{s:?}").contains(&s.seed_base64()));
    }

    #[test]
    fn receipts_list_tool_calls_with_decisions_and_verify() {
        use crate::model::{RunStatus, Usage};
        use autonoma_types::governance::PolicyAction;
        let s = signer();
        let run_id = Uuid::now_v7();
        let approval_id = Uuid::now_v7();
        let approver = Uuid::now_v7();
        let run = Run {
            id: run_id,
            org_id: Uuid::now_v7(),
            agent_id: Uuid::now_v7(),
            agent_version: 2,
            thread_id: Uuid::now_v7(),
            status: RunStatus::Completed,
            input: "x".into(),
            output: Some("42".into()),
            error: None,
            usage: Usage::default(),
            steps: 2,
            created_by: approver,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            mode: crate::model::RunMode::Live,
            preflight_id: None,
        };
        let args = json!({"expression": "6*7"});
        let kinds = vec![
            RunEventKind::PolicyDecision {
                step: 1,
                call_id: "c1".into(),
                name: "calculator".into(),
                decision: PolicyAction::RequireApproval,
                rule: "default".into(),
            },
            RunEventKind::ApprovalRequested {
                step: 1,
                call_id: "c1".into(),
                approval_id,
                name: "calculator".into(),
                arguments: args.clone(),
                expires_at: Utc::now(),
            },
            RunEventKind::ApprovalDecided {
                step: 1,
                call_id: "c1".into(),
                approval_id,
                approved: true,
                comment: String::new(),
                edited_arguments: None,
                decided_by: Some(approver),
            },
            RunEventKind::ToolCall {
                step: 1,
                call_id: "c1".into(),
                name: "calculator".into(),
                arguments: args.clone(),
            },
            RunEventKind::ToolResult {
                step: 1,
                call_id: "c1".into(),
                name: "calculator".into(),
                output: "42".into(),
                is_error: false,
                simulated: false,
            },
            RunEventKind::PolicyDecision {
                step: 1,
                call_id: "c2".into(),
                name: "http_fetch".into(),
                decision: PolicyAction::Deny,
                rule: "org:p1".into(),
            },
            RunEventKind::Completed {
                output: "42".into(),
            },
        ];
        let events: Vec<RunEvent> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| RunEvent {
                run_id,
                seq: i as i64 + 1,
                kind,
                created_at: Utc::now(),
            })
            .collect();
        let signed = build_receipt(&run, &events, None, Utc::now(), &s).unwrap();
        let r = &signed.receipt;
        assert_eq!(r.tool_calls.len(), 2);
        let c1 = &r.tool_calls[0];
        assert_eq!(c1.arguments_sha256, json_sha256(&args).unwrap());
        assert_eq!(c1.policy.as_ref().unwrap().decision, "require_approval");
        assert_eq!(c1.approval.as_ref().unwrap().approved, Some(true));
        assert_eq!(c1.approval.as_ref().unwrap().decided_by, Some(approver));
        assert_eq!(
            c1.outcome.as_ref().unwrap().output_sha256,
            sha256_hex(b"42")
        );
        let c2 = &r.tool_calls[1];
        assert_eq!(c2.policy.as_ref().unwrap().decision, "deny");
        assert!(c2.outcome.is_none());
        assert_eq!(r.end.as_ref().unwrap().seq, 7);
        assert_eq!(r.through_seq, 7);

        let doc: Value =
            serde_json::from_str(&serde_json::to_string_pretty(&signed).unwrap()).unwrap();
        assert_eq!(verify_receipt(&doc, &s.verifying_key()).unwrap(), *r);
        let mut forged = doc.clone();
        forged["receipt"]["tool_calls"][1]["policy"]["decision"] = json!("allow");
        assert!(verify_receipt(&forged, &s.verifying_key())
            .unwrap_err()
            .contains("bad signature"));
        let other = AuditSigner::from_seed([9u8; 32]);
        assert!(verify_receipt(&doc, &other.verifying_key()).is_err());
    }
}
