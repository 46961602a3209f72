//! The audit log and run receipts as they travel on the wire: hash-chained, Ed25519-signed
//! entries (`GET /api/v1/audit`, one per line in `GET /api/v1/audit/export`), the
//! instance's public key (`GET /.well-known/autonoma/audit-key`) and the signed per-run
//! receipt (`GET /api/v1/runs/{id}/receipt`).
//!
//! How the hash and the signature are computed (RFC 8785 canonical JSON, SHA-256, Ed25519)
//! is in `autonoma_core::audit` and `docs/AUDIT.md`; these are only the records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who performed an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditActor {
    /// A person, signed in with a session (or a failed login naming their e-mail).
    User { user_id: Uuid },
    /// A program holding API key `api_key_id`, created by `user_id`.
    ApiKey { user_id: Uuid, api_key_id: Uuid },
    /// The platform itself (e.g. the run executor, an approval expiring).
    System,
}

impl AuditActor {
    /// `user`, `api_key` or `system` (the `kind` tag, as stored).
    pub fn kind(&self) -> &'static str {
        match self {
            AuditActor::User { .. } => "user",
            AuditActor::ApiKey { .. } => "api_key",
            AuditActor::System => "system",
        }
    }
    /// The person behind the action, if any.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            AuditActor::User { user_id } | AuditActor::ApiKey { user_id, .. } => Some(*user_id),
            AuditActor::System => None,
        }
    }
    /// The API key used, if any.
    pub fn api_key_id(&self) -> Option<Uuid> {
        match self {
            AuditActor::ApiKey { api_key_id, .. } => Some(*api_key_id),
            _ => None,
        }
    }
}

/// One entry of an organization's audit log: a link of its hash chain, signed.
///
/// `hash` is the lowercase hex SHA-256 of the RFC 8785 canonical JSON of the entry without
/// `hash` and `signature` (so it covers `prev_hash`, `seq` and `key_id`); `signature` is the
/// Ed25519 signature of those same canonical bytes, base64url without padding. `seq` counts
/// 1, 2, … per organization without gaps; `prev_hash` is the previous entry's `hash` (64
/// zeros for `seq` 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Format version: 1.
    pub v: u32,
    pub id: Uuid,
    pub org_id: Uuid,
    pub seq: i64,
    /// When it happened (microsecond precision, UTC).
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    /// Stable action name, e.g. `auth.login`, `api_key.create` (docs/AUDIT.md lists them).
    pub action: String,
    /// What the action was on (an id or a name), when it has one.
    pub target: Option<String>,
    /// Action-specific facts, PII-redacted before they are stored.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    /// Which instance key signed it ([`AuditKey::key_id`]).
    pub key_id: String,
    pub signature: String,
}

/// An instance's audit signing key, public half (`GET /.well-known/autonoma/audit-key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditKey {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// `ed25519:` and the first 16 hex digits of the SHA-256 of the public key.
    pub key_id: String,
    /// The 32-byte public key, base64url without padding.
    pub public_key: String,
}

/// The policy decision on one tool call, as the run recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptPolicy {
    /// `allow`, `deny` or `require_approval`.
    pub decision: String,
    /// The rule that decided (`agent:<index>`, `org:<policy id>` or `default`).
    pub rule: String,
}

/// A person's (or the expiry's) decision on an approval of one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptApproval {
    pub approval_id: Uuid,
    /// `None` until decided.
    pub approved: Option<bool>,
    /// The deciding user; `None` for an expiry or while pending.
    pub decided_by: Option<Uuid>,
    /// SHA-256 (hex) of the canonical JSON of the arguments the approver substituted.
    pub edited_arguments_sha256: Option<String>,
}

/// The outcome of one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptOutcome {
    pub is_error: bool,
    /// SHA-256 (hex) of the tool's output text (UTF-8).
    pub output_sha256: String,
    /// True when the tool was not executed (a preflight) and the output was synthesized.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// How a run started from a preflight compares with that preflight's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptPlan {
    pub preflight_id: Uuid,
    /// The plan's hash (hex SHA-256 of its `(tool, arguments)` sequence).
    pub plan_hash: String,
    /// True when the run made exactly the planned calls, in order.
    pub followed: bool,
    /// Each position where the run departed from the plan.
    pub deviations: Vec<crate::preflight::Deviation>,
}

/// One tool call of a run with what governed it and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptToolCall {
    pub step: u32,
    pub call_id: String,
    pub tool: String,
    /// SHA-256 (hex) of the RFC 8785 canonical JSON of the arguments the model gave.
    pub arguments_sha256: String,
    pub policy: Option<ReceiptPolicy>,
    pub approval: Option<ReceiptApproval>,
    /// `None` when the tool never ran (denied, or the run stopped first).
    pub outcome: Option<ReceiptOutcome>,
}

/// How the run ended (its terminal event), if it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptEnd {
    /// `completed`, `failed` or `cancelled`.
    pub event: String,
    /// The terminal event's `seq`.
    pub seq: i64,
    /// SHA-256 (hex) of the final answer for `completed`, of the reason otherwise.
    pub text_sha256: String,
}

/// A capability token minted for the run (one per claim), by its identity only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptCapability {
    /// The `seq` of the run's `capability_issued` event.
    pub seq: i64,
    /// Hex revocation id of the token's authority block.
    pub token_id: String,
    /// The capability root key's id (`ed25519:<16 hex>`), not the audit key's.
    pub key_id: String,
    /// The tools it granted.
    pub tools: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// The body of a run receipt: what a run did with tools, as its events recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunReceipt {
    /// Format version: 1.
    pub v: u32,
    /// Always `autonoma.run_receipt`.
    pub kind: String,
    pub org_id: Uuid,
    pub run_id: Uuid,
    pub agent_id: Uuid,
    pub agent_version: i64,
    /// The run's status when the receipt was issued.
    pub status: String,
    pub issued_at: DateTime<Utc>,
    /// The last event `seq` the receipt covers.
    pub through_seq: i64,
    pub tool_calls: Vec<ReceiptToolCall>,
    /// The run's capability tokens, in the order they were minted (absent from receipts
    /// of runs that had none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<ReceiptCapability>,
    pub end: Option<ReceiptEnd>,
    /// Which instance key signs it ([`AuditKey::key_id`]).
    pub key_id: String,
    /// For a run started from a preflight: how it compares with the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<ReceiptPlan>,
}

/// A run receipt and its Ed25519 signature (base64url, no padding) over the RFC 8785
/// canonical JSON of `receipt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedRunReceipt {
    pub receipt: RunReceipt,
    pub signature: String,
}
