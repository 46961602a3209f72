//! The audit log: append-only, one hash chain per organization.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::{AuditEntry, AuditHead};
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// Which entries [`AuditStore::list_audit`] returns; every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this action (e.g. `auth.login`), or every action under a prefix when it
    /// ends in `.` or `.*` (e.g. `auth.` or `auth.*`).
    pub action: Option<String>,
    /// Entries whose actor is this user (by session or by one of their API keys).
    pub actor_user_id: Option<Uuid>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only entries with a smaller `seq` (the cursor of the previous page).
    pub before_seq: Option<i64>,
}

impl AuditFilter {
    /// [`AuditFilter::action`] as `(exact, prefix)`: `auth.*` and `auth.` give the prefix
    /// `auth.`, anything else an exact name.
    pub fn action_match(&self) -> (Option<&str>, Option<&str>) {
        match self.action.as_deref() {
            None => (None, None),
            Some(a) if a.ends_with(".*") => (None, Some(&a[..a.len() - 1])),
            Some(a) if a.ends_with('.') => (None, Some(a)),
            Some(a) => (Some(a), None),
        }
    }
}

/// Sealing function of [`AuditStore::append_audit`]: gets the chain's head (`None` for an
/// empty chain) and returns the signed entry to insert after it.
pub type Seal<'a> = dyn Fn(Option<&AuditHead>) -> Result<AuditEntry> + Send + Sync + 'a;

/// Audit entries of organizations. There is no update and no delete.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one entry to `org_id`'s chain, race-free across processes: in one
    /// transaction it takes the organization's chain lock (PostgreSQL: a transaction-scoped
    /// advisory lock on the organization; SQLite: the database write lock of
    /// `BEGIN IMMEDIATE`), reads the head, calls `seal` with it and inserts what it returns
    /// (whose `seq` must be the head's + 1; `UNIQUE (org_id, seq)` backs this up).
    /// Errors: `seal`'s error; [`Error::Internal`].
    async fn append_audit(&self, org_id: Uuid, seal: &Seal<'_>) -> Result<AuditEntry>;
    /// Up to `limit` entries matching `filter`, newest (highest `seq`) first.
    async fn list_audit(
        &self,
        org_id: Uuid,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;
    /// Up to `limit` entries with `seq > after_seq`, oldest first (the chain, for exports).
    async fn audit_chain(
        &self,
        org_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;
}
