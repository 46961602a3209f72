//! Tool policies (organization-wide rules) and approvals (tool calls waiting for a person).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::governance::{Approval, ApprovalStatus, Policy, ToolRule};
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// A new organization rule, or the new content of one.
#[derive(Debug, Clone)]
pub struct PolicyWrite {
    pub rule: ToolRule,
    pub priority: i32,
    pub description: String,
}

/// A person's (or the expiry's) decision on a pending approval.
#[derive(Debug, Clone)]
pub struct ApprovalDecision {
    /// `Approved`, `Denied` or `Expired`.
    pub status: ApprovalStatus,
    pub comment: String,
    pub edited_arguments: Option<serde_json::Value>,
    /// `None` for an expiry.
    pub decided_by: Option<Uuid>,
    pub decided_at: DateTime<Utc>,
}

/// Policies and approvals.
#[async_trait]
pub trait GovernanceStore: Send + Sync {
    // ---- policies
    /// Inserts organization rule `id`.
    async fn create_policy(&self, org_id: Uuid, id: Uuid, p: &PolicyWrite) -> Result<Policy>;
    /// The organization's rules in evaluation order: `priority` ascending, then oldest first.
    async fn list_policies(&self, org_id: Uuid) -> Result<Vec<Policy>>;
    /// Errors: [`Error::NotFound`].
    async fn get_policy(&self, org_id: Uuid, id: Uuid) -> Result<Policy>;
    /// Replaces a rule's content. Errors: [`Error::NotFound`].
    async fn update_policy(&self, org_id: Uuid, id: Uuid, p: &PolicyWrite) -> Result<Policy>;
    /// Errors: [`Error::NotFound`].
    async fn delete_policy(&self, org_id: Uuid, id: Uuid) -> Result<()>;

    // ---- approvals
    /// Inserts a pending approval, or returns the one already recorded for the same
    /// `(run_id, call_id)` (a resumed executor asking again), unchanged.
    async fn create_approval(&self, a: &Approval) -> Result<Approval>;
    /// Errors: [`Error::NotFound`].
    async fn get_approval(&self, org_id: Uuid, id: Uuid) -> Result<Approval>;
    /// The approval of tool call `call_id` of run `run_id`, if one was requested.
    async fn approval_for_call(
        &self,
        org_id: Uuid,
        run_id: Uuid,
        call_id: &str,
    ) -> Result<Option<Approval>>;
    /// Newest first, optionally only those in `status`, ids below `before` (cursor).
    async fn list_approvals(
        &self,
        org_id: Uuid,
        status: Option<ApprovalStatus>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Approval>>;
    /// Decides a pending approval and, in the same transaction, moves its run from
    /// `waiting_approval` back to `queued` (a run still `running` — its executor has not
    /// finished parking it — is left as it is: that executor re-reads the approval after
    /// parking). An `Expired` decision applies only once `expires_at` has passed.
    /// Errors: [`Error::NotFound`] (also for another organization's approval);
    /// [`Error::Conflict`] when it is no longer pending (or, for `Expired`, not yet due);
    /// nothing is written then.
    async fn decide_approval(
        &self,
        org_id: Uuid,
        id: Uuid,
        d: &ApprovalDecision,
    ) -> Result<Approval>;
}
