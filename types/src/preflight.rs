//! Preflight ("ghost run") plans: what an agent would do for an input, found by running it
//! with every non-read-only tool simulated, and how a real run deviated from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::governance::PolicyAction;
use crate::model::{RunStatus, Usage};

/// Body of `POST /api/v1/agents/{id}/preflight`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreflightInput {
    /// The user's message, 1..=100 000 bytes (as for a run).
    pub input: String,
}

/// One tool call of a plan, in the order the agent made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedCall {
    /// The agent-loop step (1-based) that made the call.
    pub step: u32,
    /// The model's id for the call.
    pub call_id: String,
    pub tool: String,
    pub arguments: serde_json::Value,
    /// The tool policy's decision: what a live run would do with this call.
    pub decision: PolicyAction,
    /// The rule that decided (`agent:<i>`, `org:<id>` or `default`).
    pub rule: String,
    /// True when the call was not executed and its result was synthesized (every call
    /// that is not both read-only and allowed).
    pub simulated: bool,
    /// The result the model saw (synthesized when `simulated`).
    pub output: Option<String>,
    pub is_error: bool,
}

/// The plan a preflight found. `plan_hash` identifies the sequence of tool calls (tool and
/// arguments, in order): two preflights that would do the same things have the same hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// The preflight's id (it is a run of mode `preflight`; its events are readable too).
    pub id: Uuid,
    pub agent_id: Uuid,
    pub agent_version: i64,
    pub input: String,
    /// The preflight run's status; the plan is complete once it is terminal.
    pub status: RunStatus,
    pub calls: Vec<PlannedCall>,
    /// The final answer the agent gave with simulated results, if it finished.
    pub answer: Option<String>,
    /// Why the preflight failed, if it did.
    pub error: Option<String>,
    /// Tokens the preflight used: the estimate for a live run of the same plan.
    pub estimated_usage: Usage,
    /// `estimated_usage` priced with the agent's `pricing`; absent without pricing.
    pub estimated_cost_usd: Option<f64>,
    /// Calls a live run would stop at to wait for a person.
    pub approvals_needed: u32,
    /// Calls the policy would deny.
    pub denials: u32,
    /// `sha256:<hex>` of the RFC 8785 canonical JSON of `[{"tool", "arguments"}, …]`.
    pub plan_hash: String,
    pub created_at: DateTime<Utc>,
}

/// Where a live run started from a preflight departed from the plan, call by call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deviation {
    /// Position (0-based) in the sequence of tool calls.
    pub index: usize,
    /// What the plan had at this position (`None`: the run made an extra call).
    pub planned: Option<CallSummary>,
    /// What the run did (`None`: the run skipped a planned call).
    pub actual: Option<CallSummary>,
}

/// A tool call reduced to what plans compare: the tool and a hash of its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallSummary {
    pub tool: String,
    /// `sha256:<hex>` of the arguments' RFC 8785 canonical JSON.
    pub arguments_sha256: String,
}
