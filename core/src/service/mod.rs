//! Operations callers perform, with authentication, authorization and validation.
//!
//! Both the REST handlers (`autonoma-functions`) and the web UI's server functions
//! (`autonoma-app`) call these; neither talks to the [`Store`] directly for writes.
//!
//! [`Service`] is one type whose operations are split by area, one `impl Service` block per
//! file: `auth` (sign-up, login, sessions, API-key callers), `members`, `keys` (API keys),
//! `providers`, `agents`, `runs` (with [`RunFollower`]), `governance` (tool policies and
//! approvals), `knowledge` (knowledge bases), `mcp` (MCP server connections) and `audit`
//! (the audit log, run receipts).
//! The checks they share (roles, lengths, pagination, cursors) are in [`crate::guard`].

mod agents;
mod audit;
mod auth;
mod governance;
mod keys;
mod knowledge;
mod mcp;
mod members;
mod preflight;
mod providers;
mod recovery;
mod runs;

use std::sync::Arc;

use crate::store::{JobQueue, Store};

pub use crate::guard::MAX_PAGE;
pub use crate::notify::RunNotifier;
pub use crate::secret::{hash_secret, SecretBox};
pub use agents::BUILTIN_TOOLS;
pub use audit::{AuditQuery, EXPORT_BATCH};
pub use auth::{
    NewSession, SignUp, LOGIN_PER_EMAIL, LOGIN_PER_IP, SESSION_COOKIE, SESSION_TTL, SIGN_UP_PER_IP,
};
pub use governance::{DEFAULT_APPROVAL_TTL, MAX_ORG_POLICIES};
pub use keys::CreatedApiKey;
pub use providers::{NewProvider, LOCAL_MODEL};
pub use recovery::OUTBOX_LEASE;
pub use runs::{RunFollower, RunInput, FOLLOW_POLL_INTERVAL, RUNS_QUEUE, RUN_MAX_ATTEMPTS};

/// The application service.
pub struct Service {
    /// Tenants, users, agents, runs and their events.
    pub store: Arc<dyn Store>,
    /// Where run jobs go ([`RUNS_QUEUE`]).
    pub queue: Arc<dyn JobQueue>,
    /// Seals provider API keys at rest.
    pub secrets: SecretBox,
    /// Wakes a run's followers ([`RunFollower`]) when it gets new events: by this process's
    /// executor, and on PostgreSQL for events written by other processes (the binary
    /// forwards the store's `LISTEN` notifications here).
    pub notifier: RunNotifier,
    /// Wakes a run's executor when a cancel is requested: by [`Service::cancel_run`] in
    /// this process, and on PostgreSQL for requests made in other processes (the binary
    /// forwards the store's `LISTEN` notifications here).
    pub cancels: RunNotifier,
    /// How long an approval waits for a decision before it expires (a denial); default
    /// [`DEFAULT_APPROVAL_TTL`].
    pub approval_ttl: std::time::Duration,
    knowledge: Option<Arc<crate::knowledge::Knowledge>>,
    mcp: Option<Arc<dyn crate::mcp::McpConnector>>,
    audit_signer: std::sync::OnceLock<Arc<crate::audit::AuditSigner>>,
    capability_key: std::sync::OnceLock<Arc<crate::capability::CapabilityKey>>,
}

impl Service {
    /// Builds the service. Login is limited to [`LOGIN_PER_IP`] attempts per client IP and
    /// [`LOGIN_PER_EMAIL`] per e-mail, counted in the store so that every process sharing
    /// it counts together ([`crate::rate_limit`]).
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn JobQueue>, secrets: SecretBox) -> Self {
        Service {
            store,
            queue,
            secrets,
            notifier: RunNotifier::default(),
            cancels: RunNotifier::default(),
            approval_ttl: DEFAULT_APPROVAL_TTL,
            knowledge: None,
            mcp: None,
            audit_signer: std::sync::OnceLock::new(),
            capability_key: std::sync::OnceLock::new(),
        }
    }

    /// Enables knowledge bases (documents, search, agents' `knowledge_base_ids`) with this
    /// engine; without it those operations fail with [`crate::Error::Internal`].
    pub fn with_knowledge(mut self, knowledge: Arc<crate::knowledge::Knowledge>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    /// Mints and verifies runs' capability tokens with `key` (the instance's capability
    /// root key, kept apart from the audit key). Without it the service generates an
    /// ephemeral key on first use and logs a warning: fine for one process, but every
    /// process of a deployment must share the key (a run resumed elsewhere mints its token
    /// anew, so nothing breaks; an operator just cannot check tokens offline).
    pub fn with_capability_key(self, key: Arc<crate::capability::CapabilityKey>) -> Self {
        let _ = self.capability_key.set(key);
        self
    }

    /// The instance's capability root key ([`Service::with_capability_key`]).
    pub fn capability_key(&self) -> &Arc<crate::capability::CapabilityKey> {
        self.capability_key.get_or_init(|| {
            let k = crate::capability::CapabilityKey::generate();
            tracing::warn!(
                key_id = k.key_id(),
                "no capability key configured: using an ephemeral one (set AUTONOMA_CAPABILITY_KEY)"
            );
            Arc::new(k)
        })
    }

    /// The knowledge engine, if enabled.
    pub fn knowledge_engine(&self) -> Option<&Arc<crate::knowledge::Knowledge>> {
        self.knowledge.as_ref()
    }
}
