//! Domain records. Identifiers are UUIDv7 (time-ordered), timestamps are UTC.
//!
//! The wire and persisted records live in `autonoma-types` and are re-exported here under
//! their historical paths; [`Actor`] and [`Job`] are core's own.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use autonoma_types::model::{
    Agent, AgentSpec, AgentVersion, ApiKey, Limits, Membership, Organization, Page, Pricing,
    ProviderConnection, ProviderKind, Role, Run, RunEvent, RunEventKind, RunMode, RunStatus, Usage,
    User,
};

/// Who is calling: resolved from a session cookie or an API key. Every service call takes one,
/// and every query it makes is scoped to `org_id`.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub role: Role,
    /// `Some` when the caller authenticated with an API key.
    pub api_key_id: Option<Uuid>,
}

/// A job on the durable queue.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: Uuid,
    /// Queue name: `runs` for agent runs, `gpu` for GPU work.
    pub queue: String,
    pub payload: serde_json::Value,
    /// 1 on the first delivery.
    pub attempt: u32,
    pub max_attempts: u32,
    /// Identifies this lease; heartbeats and acks must present it.
    pub lease_token: Uuid,
    pub lease_expires_at: DateTime<Utc>,
}
