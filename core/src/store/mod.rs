//! Storage and queue traits, one per area. One implementation per real backend lives in
//! `autonoma-storage` (SQLite and PostgreSQL); the domain only sees these traits.
//!
//! | trait | area |
//! |---|---|
//! | [`AccountStore`] | users, organizations, memberships, sessions |
//! | [`ApiKeyStore`] | API keys |
//! | [`ProviderStore`] | LLM provider connections |
//! | [`AgentStore`] | agents and their immutable versions |
//! | [`RunStore`] | runs, their executor claims and their events |
//! | [`GovernanceStore`] | tool policies and approvals |
//! | [`RateLimitStore`] | shared rate-limit states (not tenant data) |
//! | [`AuditStore`] | the hash-chained audit log |
//! | [`KnowledgeStore`] | knowledge bases, documents, chunks, vectors |
//! | [`McpStore`] | MCP server connections and their cached tools |
//! | [`JobQueue`] | the durable job queue |
//!
//! [`Store`] is all the relational areas at once (every type that implements them all is a
//! `Store`), so the application holds one `Arc<dyn Store>`. Calling an area's method on a
//! `dyn Store` needs that area's trait in scope: `use autonoma_core::store::prelude::*;`.
//!
//! Every tenant-owned read or write takes the `org_id` and must filter by it: a row of
//! another organization behaves exactly like a missing row ([`crate::Error::NotFound`]).

mod accounts;
mod agents;
mod api_keys;
mod audit;
mod governance;
mod jobs;
mod mcp;
mod providers;
mod rate_limits;
mod runs;

pub use crate::knowledge::store::KnowledgeStore;
pub use accounts::{AccountStore, Session};
pub use agents::AgentStore;
pub use api_keys::ApiKeyStore;
pub use audit::{AuditFilter, AuditStore, Seal};
pub use governance::{ApprovalDecision, GovernanceStore, PolicyWrite};
pub use jobs::JobQueue;
pub use mcp::McpStore;
pub use providers::ProviderStore;
pub use rate_limits::RateLimitStore;
pub use runs::{NewRun, RunStore, RunUpdate, OUTBOX_GRACE};

/// Relational storage for all tenant data: every area trait at once. Implemented for every
/// type that implements them all (both backends of `autonoma-storage`).
pub trait Store:
    AccountStore
    + ApiKeyStore
    + ProviderStore
    + AgentStore
    + RunStore
    + GovernanceStore
    + RateLimitStore
    + KnowledgeStore
    + McpStore
    + AuditStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: AccountStore
        + ApiKeyStore
        + ProviderStore
        + AgentStore
        + RunStore
        + GovernanceStore
        + RateLimitStore
        + KnowledgeStore
        + McpStore
        + AuditStore
        + Send
        + Sync
{
}

/// Every storage trait, for calling area methods on a `dyn Store`:
/// `use autonoma_core::store::prelude::*;`.
pub mod prelude {
    pub use super::{
        AccountStore, AgentStore, ApiKeyStore, AuditStore, GovernanceStore, JobQueue,
        KnowledgeStore, McpStore, ProviderStore, RateLimitStore, RunStore, Store,
    };
}
