//! Agents and their immutable versions.

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::{Agent, AgentSpec, AgentVersion};
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// Agents (soft-deleted) and their versions (never changed once written).
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Inserts the agent and its version 1.
    async fn create_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent>;
    /// An agent that is not deleted, at its current version. Errors: [`Error::NotFound`].
    async fn get_agent(&self, org_id: Uuid, id: Uuid) -> Result<Agent>;
    /// Newest first; `after` is the last id of the previous page.
    async fn list_agents(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Agent>>;
    /// Writes a new immutable version and makes it current.
    async fn update_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent>;
    /// Soft-deletes (versions and runs stay for history).
    async fn delete_agent(&self, org_id: Uuid, id: Uuid) -> Result<()>;
    /// One version of an agent. Errors: [`Error::NotFound`].
    async fn get_agent_version(
        &self,
        org_id: Uuid,
        agent_id: Uuid,
        version: i64,
    ) -> Result<AgentVersion>;
    /// All versions of an agent, oldest first. Errors: [`Error::NotFound`] for a missing
    /// or deleted agent.
    async fn list_agent_versions(&self, org_id: Uuid, agent_id: Uuid) -> Result<Vec<AgentVersion>>;
}
