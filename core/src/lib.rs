//! # autonoma-core
//!
//! The domain of Autonoma, free of HTTP and of any storage engine:
//!
//! * [`model`] — tenants, users, agents (versioned), runs and run events: the wire records
//!   of `autonoma-types`, re-exported, plus the domain-only [`model::Actor`] and [`model::Job`];
//! * [`embedding`] — the [`embedding::Embedder`] trait knowledge bases embed chunks with;
//! * [`knowledge`] — knowledge bases: extraction, chunking, the embed job, search, the
//!   `knowledge_search` tool, and the [`knowledge::blob::BlobStore`] trait;
//! * [`llm`] — the [`llm::LlmProvider`] trait every model backend implements;
//! * [`governance`] / [`policy`] — tool policy rules, approvals, and the evaluation that
//!   decides each tool call (CEL conditions);
//! * [`tool`] — the [`tool::Tool`] trait and the registry the agent loop calls;
//! * [`mcp`] — external MCP servers: endpoints, tool naming, the [`mcp::McpConnector`] trait;
//! * [`rate_limit`] — GCRA rate limits (login attempts) whose state lives in the store, so
//!   every process shares it;
//! * [`store`] — one storage trait per area ([`store::AccountStore`], [`store::ApiKeyStore`],
//!   [`store::ProviderStore`], [`store::AgentStore`], [`store::RunStore`],
//!   [`store::RateLimitStore`], with [`knowledge::store::KnowledgeStore`]), [`store::Store`]
//!   (all of them, by a blanket impl) and [`store::JobQueue`], which storage backends implement;
//! * [`runtime`] — the agent loop (LLM → tool calls → results → … → answer) with limits and cancel;
//! * [`service`] — the operations a caller may perform, with authorization and validation,
//!   shared by the REST handlers and the web UI's server functions, one file per area
//!   (accounts, members, API keys, providers, agents, runs, knowledge bases);
//! * [`guard`] — the checks those operations share: roles, lengths, pagination, cursors;
//! * [`secret`] — [`secret::SecretBox`] (provider keys at rest) and bearer-secret hashing;
//! * [`notify`] — [`notify::RunNotifier`], in-process wake-ups of a run's followers and executor;
//! * [`audit`] — audit entries and run receipts: RFC 8785 canonical JSON, SHA-256 hash
//!   chains, Ed25519 signatures, offline verification;
//! * [`capability`] — capability tokens per run (Biscuit): minted at each claim, checked
//!   before every tool call, attenuated for sub-runs;
//! * [`redact`] — PII and secret redaction (`redact_text`, `redact_json`);
//! * [`error`] — [`error::Error`], whose stable codes surface as RFC 9457 problem types.

pub mod audit;
pub mod capability;
pub mod embedding;
pub mod error;
pub mod guard;
pub mod knowledge;
pub mod llm;
pub mod mcp;
pub mod model;
pub mod notify;
pub mod policy;
pub mod preflight;
pub mod rate_limit;
pub mod redact;
pub mod runtime;
pub mod secret;
pub mod service;
pub mod store;
pub mod tool;
pub mod worker;

pub use autonoma_types::governance;
/// Re-exported: preflight plans and deviations.
pub use autonoma_types::preflight as plan;
pub use error::{Error, Result};

/// The client's IP address as the entry point established it (the TCP peer, the Lambda
/// event's `sourceIp`, or the first `X-Forwarded-For` hop from a verified edge), stored as
/// a request extension; used for rate limiting sign-in attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);
