//! The audit log (append, list, export) and signed run receipts.
//!
//! [`Service::audit`] is the one way entries are written; the other areas call it after the
//! action succeeded (see `crate::audit::actions` for the names). Entries are sealed
//! (hash-chained and signed, [`crate::audit::seal`]) inside the store's append transaction,
//! which holds the organization's chain lock, so concurrent appends from any number of
//! processes form one chain. Details are PII-redacted ([`crate::redact::redact_json`])
//! before they are sealed: the log never holds raw secrets.
//!
//! Failed logins: an attempt naming an existing user is recorded as `auth.login_failed` in
//! each of that user's organizations; an attempt for an unknown e-mail has no organization
//! and is not recorded (it is counted by the login rate limit and logged by `tracing`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::Service;
use crate::audit::{
    build_receipt, seal, AuditActor, AuditDraft, AuditEntry, AuditHead, AuditKey, AuditSigner,
    SignedRunReceipt,
};
use crate::guard::{page_limit, require};
use crate::model::*;
use crate::redact::{redact_json, redact_text};
use crate::store::AuditFilter;
use crate::{Error, Result};

/// Entries per store read of [`Service::audit_export_batch`]: 500.
pub const EXPORT_BATCH: u32 = 500;

/// Filters and page of [`Service::list_audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// An action name, or a prefix ending in `.` or `.*` (e.g. `auth.*`).
    pub action: Option<String>,
    /// The acting user.
    pub actor: Option<Uuid>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page (a `seq`).
    pub cursor: Option<String>,
    /// Page size, 1..=100 (default 20).
    pub limit: Option<u32>,
}

/// The audit actor of a caller: its API key when it used one, else the user.
pub fn audit_actor(actor: &Actor) -> AuditActor {
    match actor.api_key_id {
        Some(api_key_id) => AuditActor::ApiKey {
            user_id: actor.user_id,
            api_key_id,
        },
        None => AuditActor::User {
            user_id: actor.user_id,
        },
    }
}

impl Service {
    /// Signs audit entries and run receipts with `signer` (the instance key). Without it
    /// the service generates an ephemeral key on first use and logs a warning: receipts
    /// signed before a restart then no longer verify with the served key.
    pub fn with_audit_signer(self, signer: Arc<AuditSigner>) -> Self {
        let _ = self.audit_signer.set(signer);
        self
    }

    /// The instance's audit signing key ([`Service::with_audit_signer`]).
    pub fn audit_signer(&self) -> &Arc<AuditSigner> {
        self.audit_signer.get_or_init(|| {
            let s = AuditSigner::generate();
            tracing::warn!(
                key_id = s.key_id(),
                "no audit signing key configured: using an ephemeral one (set AUTONOMA_AUDIT_SIGNING_KEY)"
            );
            Arc::new(s)
        })
    }

    /// The public audit key (`GET /.well-known/autonoma/audit-key`; no authentication).
    pub fn audit_key(&self) -> AuditKey {
        self.audit_signer().public_key()
    }

    /// Appends an entry to `org_id`'s audit log: `action` (a stable name of
    /// `crate::audit::actions`), what it was on (`target`, an id or name) and `details`
    /// (a JSON object of facts), both PII-redacted before sealing. No authorization: the
    /// caller has already authorized the action it records.
    /// Errors: [`Error::Internal`] when the store fails.
    pub async fn audit(
        &self,
        org_id: Uuid,
        actor: AuditActor,
        action: &str,
        target: Option<String>,
        details: Value,
    ) -> Result<AuditEntry> {
        let draft = AuditDraft::new(
            org_id,
            actor,
            action,
            target.map(|t| redact_text(&t).into_owned()),
            redact_json(&details),
        );
        let signer = self.audit_signer().clone();
        self.store
            .append_audit(org_id, &move |head: Option<&AuditHead>| {
                seal(&draft, head, &signer)
            })
            .await
    }

    /// [`Service::audit`] for hooks that run after their action succeeded: a failure is
    /// logged (at error level) instead of failing the already completed action.
    pub(crate) async fn audit_after(
        &self,
        org_id: Uuid,
        actor: AuditActor,
        action: &str,
        target: Option<String>,
        details: Value,
    ) {
        if let Err(e) = self.audit(org_id, actor, action, target, details).await {
            tracing::error!(%org_id, action, error = %e, "writing the audit entry failed");
        }
    }

    /// A page of the organization's audit log, newest first (admin+).
    /// Errors: [`Error::Forbidden`]; [`Error::Validation`] (`cursor`, `action`, `until`).
    pub async fn list_audit(&self, actor: &Actor, q: AuditQuery) -> Result<Page<AuditEntry>> {
        require(actor, Role::Admin, "reading the audit log needs admin")?;
        let before_seq = match q.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .map_err(|_| Error::validation("cursor", "malformed cursor"))?,
            ),
        };
        if let Some(a) = &q.action {
            crate::guard::check_len("action", a, 1, 100)?;
        }
        if let (Some(s), Some(u)) = (q.since, q.until) {
            if u < s {
                return Err(Error::validation("until", "is before since"));
            }
        }
        let limit = page_limit(q.limit)?;
        let filter = AuditFilter {
            action: q.action,
            actor_user_id: q.actor,
            since: q.since,
            until: q.until,
            before_seq,
        };
        let mut items = self
            .store
            .list_audit(actor.org_id, &filter, limit + 1)
            .await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Up to [`EXPORT_BATCH`] entries of the organization's chain after `after_seq`, oldest
    /// first (admin+): call again with the last `seq` until a batch comes back short.
    /// Errors: [`Error::Forbidden`].
    pub async fn audit_export_batch(
        &self,
        actor: &Actor,
        after_seq: i64,
    ) -> Result<Vec<AuditEntry>> {
        require(actor, Role::Admin, "exporting the audit log needs admin")?;
        self.store
            .audit_chain(actor.org_id, after_seq, EXPORT_BATCH)
            .await
    }

    /// The signed receipt of a run (viewer+): its tool calls with their policy decisions,
    /// approvals and outcomes, from its events so far ([`crate::audit::build_receipt`]).
    /// Errors: [`Error::NotFound`] (also for another organization's run).
    pub async fn run_receipt(&self, actor: &Actor, run_id: Uuid) -> Result<SignedRunReceipt> {
        let run = self.store.get_run(actor.org_id, run_id).await?;
        let events = self.all_events(run.id).await?;
        let planned = match run.preflight_id {
            Some(id) => {
                let plan = self.plan_of(actor.org_id, id).await?;
                Some(crate::audit::PlannedCalls {
                    preflight_id: plan.id,
                    plan_hash: plan.plan_hash,
                    calls: crate::preflight::summaries(&plan.calls)?,
                })
            }
            None => None,
        };
        build_receipt(
            &run,
            &events,
            planned.as_ref(),
            Utc::now(),
            self.audit_signer(),
        )
    }
}
