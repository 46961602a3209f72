//! Tool policies and approvals: the records of governed tool calls.
//!
//! A tool policy rule says what happens when an agent calls a tool: `allow` it, `deny` it, or
//! `require_approval` from a person first, optionally only `when` a CEL expression over the
//! call's arguments holds (<https://github.com/google/cel-spec>; the arguments are bound as
//! `args`). Rules come from the agent's spec (checked first) and from the organization
//! (`/api/v1/policies`); the first matching rule decides, and without one a read-only tool
//! is allowed and any other tool needs approval.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a matching rule does with a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    Allow,
    Deny,
    RequireApproval,
}

impl PolicyAction {
    /// Snake-case name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Allow => "allow",
            PolicyAction::Deny => "deny",
            PolicyAction::RequireApproval => "require_approval",
        }
    }
    /// Parses [`PolicyAction::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            "require_approval" => Self::RequireApproval,
            _ => return None,
        })
    }
}

/// One rule: which tool (exact name, or `*` for every tool, or a prefix ending in `*` such
/// as `files__*`), what to do, and optionally when (a CEL expression over `args`, at most
/// 2,000 characters, that must evaluate to a bool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"^[^*]*\*?$")
    )]
    pub tool: String,
    pub action: PolicyAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub when: Option<String>,
}

/// An organization-wide rule (`/api/v1/policies`). Organization rules are checked after the
/// agent's own, in `priority` order (lower first, then oldest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Policy {
    pub id: Uuid,
    pub org_id: Uuid,
    #[serde(flatten)]
    pub rule: ToolRule,
    /// Lower is checked first; default 100.
    pub priority: i32,
    #[serde(default)]
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The state of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    /// Not decided before `expires_at`; treated as a denial.
    Expired,
}

impl ApprovalStatus {
    /// Snake-case name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }
    /// Parses [`ApprovalStatus::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// A tool call waiting for (or decided by) a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub id: Uuid,
    pub org_id: Uuid,
    pub run_id: Uuid,
    pub agent_id: Uuid,
    /// 1-based step of the run.
    pub step: u32,
    pub call_id: String,
    pub tool: String,
    /// The arguments the model gave (redacted for viewers).
    pub arguments: serde_json::Value,
    /// The rule that asked for approval (`agent:<index>`, `org:<policy id>`, `default`).
    pub rule: String,
    pub status: ApprovalStatus,
    #[serde(default)]
    pub comment: String,
    /// Arguments the approver substituted, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_arguments: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/policies` and `PUT /api/v1/policies/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Exact tool name, `*`, or a prefix ending in `*`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"^[^*]*\*?$")
    )]
    pub tool: String,
    pub action: PolicyAction,
    /// CEL over `args`; the rule applies only when it is true.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub when: Option<String>,
    /// Lower is checked first; default 100, range -1000..=1000.
    #[serde(default, deserialize_with = "crate::de::opt_integer")]
    #[cfg_attr(feature = "openapi", schema(minimum = -1000, maximum = 1000))]
    pub priority: Option<i32>,
    /// Up to 500 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: Option<String>,
}

/// Body of `POST /api/v1/approvals/{id}/approve` and `/deny`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalInput {
    /// Up to 2,000 characters; a denial's comment is given to the model as the tool's result.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub comment: String,
    /// Approve only: run the tool with these arguments instead of the model's (recorded as
    /// edited). Must be a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub arguments: Option<serde_json::Value>,
}
